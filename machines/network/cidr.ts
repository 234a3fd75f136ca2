/**
 * IPv4 addresses and networks as numbers: parsing with Go's words (Docker's errors quote
 * net.ParseIP and net.ParseCIDR), containment, overlap, and the canonical network of an address.
 */

/** An IPv4 network: its first address, its prefix length. */
export interface Net4 {
  base: number;
  bits: number;
}

/** Dotted quad → 32-bit unsigned number; null when it is not an IPv4 address. */
export function parseIp(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    const v = Number(part);
    // Go rejects leading zeros ("010.1.1.1") as an ambiguous octal form.
    if (v > 255 || (part.length > 1 && part.startsWith('0'))) return null;
    n = n * 256 + v;
  }
  return n;
}

export function formatIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** `a.b.c.d/n` → the address and its network; null when Go's net.ParseCIDR would refuse it. */
export function parseCidr(text: string): { ip: number; net: Net4 } | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m) return null;
  const ip = parseIp(m[1] as string);
  const bits = Number(m[2]);
  if (ip === null || bits > 32 || ((m[2] as string).length > 1 && (m[2] as string).startsWith('0')))
    return null;
  return { ip, net: { base: (ip & maskOf(bits)) >>> 0, bits } };
}

/** Go's net.ParseCIDR error text. */
export function cidrError(text: string): string {
  return `invalid CIDR address: ${text}`;
}

export function formatNet(n: Net4): string {
  return `${formatIp(n.base)}/${n.bits}`;
}

export function size(n: Net4): number {
  return 2 ** (32 - n.bits);
}

export function last(n: Net4): number {
  return n.base + size(n) - 1;
}

export function contains(n: Net4, ip: number): boolean {
  return (ip & maskOf(n.bits)) >>> 0 === n.base;
}

export function overlaps(a: Net4, b: Net4): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** The network a CIDR string names (its address's canonical network). */
export function netOf(text: string): Net4 | null {
  return parseCidr(text)?.net ?? null;
}

/** Splits `base` into networks of `bits` (Docker's default address pools). */
export function split(base: Net4, bits: number): Net4[] {
  if (bits < base.bits) return [];
  const step = 2 ** (32 - bits);
  const out: Net4[] = [];
  for (let a = base.base; a <= last(base); a += step) out.push({ base: a, bits });
  return out;
}

/** Whether a host part is all zeros or all ones (not an address to give out). */
export function isNetworkOrBroadcast(n: Net4, ip: number): boolean {
  return n.bits < 31 && (ip === n.base || ip === last(n));
}

/** The host part of the address is a global unicast address (Docker presets a gateway only then). */
export function hostPartIsUsable(ip: number, n: Net4): boolean {
  const host = ip & ~maskOf(n.bits);
  return host !== 0 && ip !== last(n);
}

/** Docker's MAC for an IPv4 address: 02:42 and the address's four bytes. */
export function macOf(ip: number): string {
  const hex = (v: number): string => v.toString(16).padStart(2, '0');
  return [
    '02',
    '42',
    hex(ip >>> 24),
    hex((ip >>> 16) & 255),
    hex((ip >>> 8) & 255),
    hex(ip & 255),
  ].join(':');
}

export function isLoopback(ip: number): boolean {
  return ip >>> 24 === 127;
}

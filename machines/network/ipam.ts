import {
  contains,
  formatIp,
  formatNet,
  isNetworkOrBroadcast,
  last,
  overlaps,
  parseCidr,
  parseIp,
  split,
  type Net4,
} from './cidr.ts';

/**
 * Docker's default IPAM (libnetwork ipam and ipamutils, network-facts.md §2.2–2.4): the local
 * default pools, next-fit pool choice skipping pools that overlap another network, a host
 * nameserver or a link route, and sequential addresses inside a pool.
 */

/** `--default-address-pool base=<cidr>,size=<n>`. */
export interface AddressPool {
  base: string;
  size: number;
}

/** The 31 local-scope default pools in dockerd's order (made once: every start-up plans with them). */
const localPools: readonly Net4[] = (() => {
  const out: Net4[] = [];
  for (const b of ['172.17.0.0/16', '172.18.0.0/16', '172.19.0.0/16']) out.push(parseCidr(b)!.net);
  for (const b of ['172.20.0.0/14', '172.24.0.0/14', '172.28.0.0/14'])
    out.push(...split(parseCidr(b)!.net, 16));
  out.push(...split(parseCidr('192.168.0.0/16')!.net, 20));
  return Object.freeze(out.map((n) => Object.freeze(n)));
})();

export function defaultLocalPools(): readonly Net4[] {
  return localPools;
}

const localPoolTexts: readonly string[] = Object.freeze(localPools.map(formatNet));

/** Pools as CIDRs (the default pools' are written once). */
export function poolTexts(pools: readonly Net4[]): string[] {
  return pools === localPools ? localPoolTexts.slice() : pools.map(formatNet);
}

/** The configured pools split into networks, or Docker's error. */
export function configuredPools(
  pools: readonly AddressPool[],
): readonly Net4[] | { error: string } {
  if (pools.length === 0) return localPools;
  const out: Net4[] = [];
  for (const p of pools) {
    const base = parseCidr(p.base);
    if (!base) return { error: `invalid base pool "${p.base}": invalid CIDR address: ${p.base}` };
    if (p.size <= 0 || p.size < base.net.bits || p.size > 32)
      return { error: `invalid pools size: ${p.size}` };
    out.push(...split(base.net, p.size));
  }
  return out;
}

/**
 * Next-fit over the pools: start at `startIndex`, skip any that overlaps what is `taken`, return
 * the pool and the index after it (the allocator's rotation; back at 0 after a restart).
 */
export function pickPool(
  pools: readonly Net4[],
  startIndex: number,
  taken: readonly Net4[],
): { pool: Net4; next: number } | null {
  const n = pools.length;
  for (let k = 0; k < n; k++) {
    const i = (startIndex + k) % n;
    const p = pools[i] as Net4;
    if (taken.some((t) => overlaps(t, p))) continue;
    return { pool: p, next: (i + 1) % n };
  }
  return null;
}

export const noPoolError =
  'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network';

/**
 * The next address to give out in `net` (from `range` when set): the first free one after the
 * last given (sequential, wrapping once), skipping the network and broadcast addresses.
 */
export function nextAddress(
  net: Net4,
  range: Net4 | null,
  used: ReadonlySet<number>,
  previous: number | null,
): number | null {
  const r = range ?? net;
  const first = r.base;
  const end = last(r);
  const span = end - first + 1;
  const start = previous !== null && previous >= first && previous < end ? previous + 1 - first : 0;
  for (let k = 0; k < span; k++) {
    const ip = first + ((start + k) % span);
    if (isNetworkOrBroadcast(net, ip) || used.has(ip)) continue;
    return ip;
  }
  return null;
}

/** Parses a user's subnet the way `docker network create` reports it. */
export function parseSubnet(text: string): Net4 | { error: string } {
  const c = parseCidr(text);
  if (!c) return { error: `Invalid subnet ${text} : invalid CIDR address: ${text}` };
  return c.net;
}

/** A gateway given by the client: inside the subnet, else dockerd's out-of-range error. */
export function checkGateway(net: Net4, gateway: string): string | null {
  const ip = parseIp(gateway);
  if (ip === null || !contains(net, ip))
    return `failed to allocate gateway (${gateway}): Requested address is out of range`;
  return null;
}

export { formatIp, formatNet };

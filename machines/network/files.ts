import { isLoopback, parseIp } from './cidr.ts';

/**
 * The container's /etc/hosts, /etc/hostname and /etc/resolv.conf as dockerd writes them
 * (libnetwork etchosts, resolvconf and sandbox_dns_unix; network-facts.md §2.7).
 */

const defaultHosts: readonly [string, string][] = [
  ['127.0.0.1', 'localhost'],
  ['::1', 'localhost ip6-localhost ip6-loopback'],
  ['fe00::0', 'ip6-localnet'],
  ['ff00::0', 'ip6-mcastprefix'],
  ['ff02::1', 'ip6-allnodes'],
  ['ff02::2', 'ip6-allrouters'],
];

/** `--add-host name:ip` entries, then one line per endpoint address (tab-separated, as etchosts). */
export function hostsFile(
  extraHosts: readonly { name: string; ip: string }[],
  own: readonly string[],
  hostname: string,
  domainname: string,
): string {
  const names = domainname === '' ? hostname : `${hostname}.${domainname} ${hostname}`;
  const lines = [
    ...defaultHosts.map(([ip, n]) => `${ip}\t${n}`),
    ...extraHosts.map((h) => `${h.ip}\t${h.name}`),
    ...own.map((ip) => `${ip}\t${names}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}

/** The parts of a resolv.conf that matter here. */
export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    // The last search line wins, as in resolvconf.GetSearchDomains.
    if (key === 'search' || key === 'domain') out.search = rest;
    if (key === 'options') out.options.push(...rest);
  }
  return out;
}

/** IPv4 nameservers that are not loopback (what a container on a bridge can reach). */
export function reachableNameservers(rc: ResolvConf): string[] {
  return rc.nameservers.filter((ns) => {
    const ip = parseIp(ns);
    return ip !== null && !isLoopback(ip);
  });
}

/**
 * FilterResolvDNS: the host's file without its localhost nameservers (and, as dockerd passes
 * IPv6 as enabled here, keeping IPv6 ones); Google's two servers when none is left.
 */
export function filteredHostResolvConf(host: string): string {
  let text = host
    .replace(/^nameserver\s+127\.\d+\.\d+\.\d+\s*\n*/gm, '')
    .replace(/^nameserver\s+::1\s*\n*/gm, '');
  const rc = parseResolvConf(text);
  if (rc.nameservers.length === 0) text += '\nnameserver 8.8.8.8\nnameserver 8.8.4.4';
  return text;
}

/** resolvconf.Build: search, nameservers, options. */
export function buildResolvConf(
  nameservers: readonly string[],
  search: readonly string[],
  options: readonly string[],
): string {
  let out = '';
  if (search.length > 0 && search.join(' ').trim() !== '.') out += `search ${search.join(' ')}\n`;
  for (const ns of nameservers) out += `nameserver ${ns}\n`;
  if (options.length > 0 && options.join(' ').trim() !== '')
    out += `options ${options.join(' ')}\n`;
  return out;
}

/** An ndots option the user set that the resolver cannot read: dockerd's words. */
export function ndotsError(options: readonly string[]): string | null {
  for (const o of options) {
    if (!o.includes('ndots')) continue;
    const parts = o.split(':');
    if (parts.length !== 2) return `invalid ndots option ${o}`;
    if (!/^-?\d+$/.test(parts[1] as string))
      return `invalid number for ndots option: ${parts[1] as string}`;
    if (Number(parts[1]) < 0) return `invalid number for ndots option: ${Number(parts[1])}`;
  }
  return null;
}

export interface DnsSettings {
  dns: readonly string[];
  dnsSearch: readonly string[];
  dnsOptions: readonly string[];
}

/**
 * The container's resolv.conf. `resolver`: the network's own DNS server (user-defined
 * networks), which then forwards to the upstreams; null on the default bridge.
 */
export function containerResolvConf(host: string, s: DnsSettings, resolver: string | null): string {
  const rc = parseResolvConf(host);
  const custom = s.dns.length > 0 || s.dnsSearch.length > 0 || s.dnsOptions.length > 0;
  const search = s.dnsSearch.length > 0 ? [...s.dnsSearch] : rc.search;
  const options = s.dnsOptions.length > 0 ? [...s.dnsOptions] : rc.options;
  if (resolver === null)
    return custom
      ? buildResolvConf(s.dns.length > 0 ? s.dns : rc.nameservers, search, options)
      : filteredHostResolvConf(host);
  // The embedded resolver's: itself, the IPv6 upstreams, and ndots:0 unless the user set ndots.
  const v6 = (s.dns.length > 0 ? s.dns : rc.nameservers).filter((n) => n.includes(':'));
  const ndots = options.some((o) => o.includes('ndots'));
  return buildResolvConf([resolver, ...v6], search, ndots ? options : [...options, 'ndots:0']);
}

/** The upstreams a network's resolver forwards to: `--dns`, else the host's IPv4 servers, at most 3. */
export function upstreamsOf(host: string, dns: readonly string[]): string[] {
  const list = dns.length > 0 ? [...dns] : parseResolvConf(host).nameservers;
  return list.filter((n) => parseIp(n) !== null).slice(0, 3);
}

import type { NetResults, ProxySpec, ResolverSpec } from '../../effects/net/requests.ts';
import type { RestoredContainer } from '../daemon-startup/types.ts';
import {
  contains,
  formatIp,
  formatNet,
  hostPartIsUsable,
  parseCidr,
  parseIp,
  type Net4,
} from './cidr.ts';
import { parseResolvConf, upstreamsOf } from './files.ts';
import { configuredPools, noPoolError, pickPool, poolTexts, type AddressPool } from './ipam.ts';
import type { AttachmentRecord, EndpointRecord, NetworkRecord, SandboxRecord } from './model.ts';
import { bridgeMac, proxiesOf } from './plan.ts';
import { isoFromMs } from './time.ts';
import { chainNames, chainTag, fullRuleset, jumps, ownedChains, type Rule } from './rules.ts';

/**
 * The network controller's part of start-up (dockerd's initNetworkController inside restore,
 * network-facts.md §1, §7), decided from the network database, the host's links and routes and
 * what restore found: which sandboxes live-restore keeps and which are stale, the predefined
 * networks (the default `bridge` gets a new ID each start), the default bridge's address and
 * pool, and the whole ruleset of the daemon's chains.
 */

/** The daemon's networking settings (its flags and daemon.json keys). */
export interface NetworkConfig {
  /** `-b`: null → docker0; `none` disables the default bridge. */
  bridge: string | null;
  bip: string | null;
  fixedCidr: string | null;
  defaultGateway: string | null;
  /** `--mtu` (0: the default route's, from setDefaultMtu). */
  mtu: number;
  iptables: boolean;
  ipForward: boolean;
  ipMasq: boolean;
  icc: boolean;
  userlandProxy: boolean;
  /** `--ip`: the default host address of published ports. */
  ip: string;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  defaultAddressPools: AddressPool[];
}

export const defaultBridgeName = 'docker0';

/** What start-up hands the network controller (facts.network). */
export interface NetworkFacts {
  dbDir: string;
  execRoot: string;
  /** The daemon's chain tag; null with `--iptables=false`. */
  tag: string | null;
  userlandProxy: boolean;
  config: NetworkConfig;
  networks: NetworkRecord[];
  sandboxes: SandboxRecord[];
  endpoints: EndpointRecord[];
  attachments: AttachmentRecord[];
  /** The pools networks without a subnet come from, as CIDRs. */
  pools: string[];
  /** What a new pool must not overlap besides the networks: nameservers and link routes. */
  hostReserved: string[];
  hostResolvConf: string;
  hostname: string;
  portRange: [number, number];
  ipv6: boolean;
  /** Where `host-gateway` points (the default bridge's gateway). */
  hostGatewayIp: string | null;
  /** Networks whose DNS server runs. */
  resolvers: string[];
}

export interface NetworkStartInput {
  config: NetworkConfig;
  dataRoot: string;
  execRoot: string;
  liveRestore: boolean;
  /** The MTU start-up settled on (setDefaultMtu). */
  mtu: number;
  db: NetResults['net.dbLoad'];
  host: NetResults['net.hostFacts'];
  hostResolvConf: string;
  containers: readonly RestoredContainer[];
  /** Milliseconds since the epoch, and the daemon's pid: what makes the default bridge's new ID. */
  nowMs: number;
  pid: number;
}

export interface NetworkStartPlan {
  facts: NetworkFacts;
  /** Stale state to clean: host links (veths), namespace files, database records. */
  stale: {
    links: string[];
    netns: string[];
    keys: { kind: 'network' | 'sandbox' | 'endpoint' | 'attachment'; id: string }[];
  };
  /** Records to write (new predefined networks, the new default bridge). */
  put: NetworkRecord[];
  /** The default bridge to create (docker0 only), and the address to add to it. */
  createBridge: { name: string; mtu: number; mac: string; network: string } | null;
  addAddress: { dev: string; cidr: string; network: string } | null;
  /** User networks' bridges missing (after a reboot), with their address. */
  userBridges: {
    name: string;
    mtu: number;
    mac: string;
    network: string;
    cidr: string | null;
    create: boolean;
  }[];
  /** Set `route_localnet` on these bridges (no userland proxy). */
  routeLocalnet: string[];
  chains: { table: Rule['table']; chain: string }[] | null;
  rules: Rule[];
  ensure: { table: Rule['table']; chain: string }[];
  ensureRules: Rule[];
  jumps: Rule[];
  resolvers: ResolverSpec[];
  proxies: ProxySpec[];
}

/** '0'–'9', 'a'–'f' as character codes. */
const hexDigits = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/** 64 hex digits from a seed string (FNV-1a rounds): machines make no random numbers. */
export function idFrom(seed: string): string {
  // Each round hashes `${round}:${seed}` one code point at a time, by its first UTF-16 unit.
  const units: number[] = [58]; // ':'
  for (let k = 0; k < seed.length; k++) {
    const u = seed.charCodeAt(k);
    units.push(u);
    if (u >= 0xd800 && u <= 0xdbff && k + 1 < seed.length) {
      const low = seed.charCodeAt(k + 1);
      if (low >= 0xdc00 && low <= 0xdfff) k++;
    }
  }
  // Eight rounds of 8 hex digits (the round's number is one digit). The digits are made
  // by hand: Number#toString(16) of a 32-bit value above 2^31 took most of the time.
  const digits: number[] = new Array<number>(64);
  let h = 0x811c9dc5 | 0;
  for (let round = 0; round < 8; round++) {
    h = Math.imul(h ^ (48 + round), 0x01000193);
    for (let k = 0; k < units.length; k++) h = Math.imul(h ^ (units[k] as number), 0x01000193);
    for (let d = 0; d < 8; d++)
      digits[round * 8 + d] = hexDigits[(h >>> (28 - 4 * d)) & 15] as number;
  }
  return String.fromCharCode(...digits);
}

const wrap = (m: string): string => `Error initializing network controller: ${m}`;
const bridgeWrap = (m: string): string => wrap(`Error creating default "bridge" network: ${m}`);

function predefined(name: 'none' | 'host', nowIso: string, seed: string): NetworkRecord {
  return {
    id: idFrom(`${seed}:${name}`),
    name,
    driver: name === 'none' ? 'null' : 'host',
    created: nowIso,
    internal: false,
    labels: {},
    options: {},
    ipamOptions: null,
    ipam: null,
    userSubnet: false,
    bridge: null,
    ownsBridge: false,
    ownsAddress: false,
    mtu: 0,
    icc: true,
    masquerade: false,
    hostBindingIp: '0.0.0.0',
    defaultBridge: false,
  };
}

function linkNamed(links: NetworkStartInput['host']['links'], name: string) {
  return links.find((l) => l.name === name) ?? null;
}

export function planNetworkStart(i: NetworkStartInput): NetworkStartPlan | { error: string } {
  const c = i.config;
  const nowIso = isoFromMs(i.nowMs);
  const seed = `${i.dataRoot}:${i.pid}:${i.nowMs}`;
  const pools = configuredPools(c.defaultAddressPools);
  if ('error' in pools)
    return { error: wrap(`error obtaining controller instance: ${pools.error}`) };
  const mtu = c.mtu !== 0 ? c.mtu : i.mtu;
  if (mtu < 0) return { error: bridgeWrap(`invalid MTU number: ${mtu}`) };
  const masq = c.iptables && c.ipMasq;
  // Sandboxes of containers still running are kept under live-restore (dockerd's activeSandboxes).
  const alive = new Set(
    i.liveRestore
      ? i.containers.filter((x) => x.task === 'running' || x.task === 'paused').map((x) => x.id)
      : [],
  );
  const stored = new Set(i.containers.map((x) => x.id));
  const keptSandboxes = i.db.sandboxes.filter((s) => alive.has(s.container));
  const keptIds = new Set(keptSandboxes.map((s) => s.id));
  const keptEndpoints = i.db.endpoints.filter(
    (e) => keptIds.has(e.sandbox) && alive.has(e.container),
  );
  const keptHostIfs = new Set(keptEndpoints.map((e) => e.hostIf));
  const stale: NetworkStartPlan['stale'] = { links: [], netns: [], keys: [] };
  for (const s of i.db.sandboxes)
    if (!keptIds.has(s.id)) {
      stale.netns.push(s.netns);
      stale.keys.push({ kind: 'sandbox', id: s.id });
    }
  for (const e of i.db.endpoints)
    if (!keptEndpoints.includes(e)) {
      stale.links.push(e.hostIf);
      stale.keys.push({ kind: 'endpoint', id: e.id });
    }
  for (const a of i.db.attachments)
    if (!stored.has(a.id)) stale.keys.push({ kind: 'attachment', id: a.id });
  const activeSandboxes = keptSandboxes.length > 0;

  const put: NetworkRecord[] = [];
  let networks = i.db.networks.filter((n) => !(n.defaultBridge && !activeSandboxes));
  // The stale default bridge is deleted and made again (a new ID each start), unless live-restore keeps containers on it.
  for (const n of i.db.networks)
    if (n.defaultBridge && !activeSandboxes) stale.keys.push({ kind: 'network', id: n.id });
  if (!activeSandboxes)
    for (const name of ['none', 'host'] as const)
      if (!networks.some((n) => n.name === name)) {
        const rec = predefined(name, nowIso, seed);
        networks.push(rec);
        put.push(rec);
      }
  // Veths in our bridges that no kept endpoint owns (a crash between a link and its record cannot
  // leave one, the record comes first; this catches a database restored from elsewhere).
  const ourBridges = new Set(networks.flatMap((n) => (n.bridge ? [n.bridge] : [])));
  for (const l of i.host.links)
    if (
      l.kind === 'veth' &&
      l.master !== null &&
      ourBridges.has(l.master) &&
      !keptHostIfs.has(l.name) &&
      !stale.links.includes(l.name)
    )
      stale.links.push(l.name);

  let createBridge: NetworkStartPlan['createBridge'] = null;
  let addAddress: NetworkStartPlan['addAddress'] = null;
  let defaultBridge: NetworkRecord | null = networks.find((n) => n.defaultBridge) ?? null;
  const nameservers = parseResolvConf(i.hostResolvConf).nameservers.flatMap((n) =>
    parseIp(n) === null ? [] : [`${n}/32`],
  );
  const linkRoutes = i.host.routes
    .filter((r) => r.scope === 'link' && r.dst.includes('/') && !ourBridges.has(r.dev))
    .map((r) => r.dst);
  const hostReserved = [...nameservers, ...linkRoutes];
  const disabled = c.bridge === 'none';
  if (!disabled && defaultBridge === null) {
    const name = c.bridge ?? defaultBridgeName;
    const link = linkNamed(i.host.links, name);
    if (link === null && name !== defaultBridgeName)
      return {
        error: bridgeWrap(`bridge device with non default name ${name} must be created manually`),
      };
    let net: Net4;
    let gateway: number | null = null;
    if (c.bip) {
      const b = parseCidr(c.bip);
      if (!b) return { error: wrap(`invalid CIDR address: ${c.bip}`) };
      net = b.net;
      gateway = b.ip;
    } else if (link && link.addresses.length > 0) {
      const fixed = c.fixedCidr ? parseCidr(c.fixedCidr) : null;
      const chosen =
        (fixed
          ? link.addresses.find((a) => contains(fixed.net, parseCidr(a)?.ip ?? -1))
          : undefined) ??
        link.addresses[0] ??
        '';
      const a = parseCidr(chosen) as { ip: number; net: Net4 };
      net = a.net;
      if (hostPartIsUsable(a.ip, a.net)) gateway = a.ip;
    } else {
      const taken = [
        ...networks.flatMap((n) => (n.ipam ? [parseCidr(n.ipam.subnet)!.net] : [])),
        ...hostReserved.map((r) => parseCidr(r)!.net),
      ];
      const p = pickPool(pools, 0, taken);
      if (!p) return { error: bridgeWrap(noPoolError) };
      net = p.pool;
    }
    if (gateway === null) gateway = net.base + 1;
    let ipRange: string | null = null;
    if (c.fixedCidr) {
      const f = parseCidr(c.fixedCidr);
      if (!f) return { error: wrap(`invalid CIDR address: ${c.fixedCidr}`) };
      if (!contains(net, f.net.base))
        return {
          error: bridgeWrap(
            `setup FixedCIDRv4 failed for subnet ${formatNet(f.net)} in ${formatNet(net)}: no overlap`,
          ),
        };
      ipRange = formatNet(f.net);
    }
    if (c.defaultGateway) {
      const g = parseIp(c.defaultGateway);
      if (g === null || !contains(net, g))
        return { error: bridgeWrap('default gateway ip must be part of the network') };
    }
    const id = idFrom(`${seed}:bridge:${i.db.networks.find((n) => n.defaultBridge)?.id ?? ''}`);
    const cidr = `${formatIp(gateway)}/${net.bits}`;
    const hasAddress = link !== null && link.addresses.includes(cidr);
    defaultBridge = {
      id,
      name: 'bridge',
      driver: 'bridge',
      created: nowIso,
      internal: false,
      labels: {},
      options: {
        'com.docker.network.bridge.default_bridge': 'true',
        'com.docker.network.bridge.enable_icc': String(c.icc),
        'com.docker.network.bridge.enable_ip_masquerade': String(masq),
        'com.docker.network.bridge.host_binding_ipv4': c.ip,
        'com.docker.network.bridge.name': name,
        'com.docker.network.driver.mtu': String(mtu),
      },
      ipamOptions: null,
      ipam: {
        subnet: formatNet(net),
        gateway: formatIp(gateway),
        ipRange,
        defaultGateway: c.defaultGateway,
      },
      userSubnet: false,
      bridge: name,
      ownsBridge: link === null,
      ownsAddress: !hasAddress,
      mtu,
      icc: c.icc,
      masquerade: masq,
      hostBindingIp: c.ip,
      defaultBridge: true,
    };
    networks.push(defaultBridge);
    put.push(defaultBridge);
    if (link === null) createBridge = { name, mtu, mac: bridgeMac(id), network: id };
    if (!hasAddress) addAddress = { dev: name, cidr, network: id };
  }
  // User networks whose bridge is gone (the host rebooted): made again, with their address.
  const userBridges: NetworkStartPlan['userBridges'] = [];
  for (const n of networks) {
    if (n.defaultBridge || n.driver !== 'bridge' || !n.bridge || !n.ipam) continue;
    const link = linkNamed(i.host.links, n.bridge);
    const cidr = `${n.ipam.gateway}/${n.ipam.subnet.split('/')[1] as string}`;
    if (link !== null && link.addresses.includes(cidr)) continue;
    userBridges.push({
      name: n.bridge,
      mtu: n.mtu,
      mac: bridgeMac(n.id),
      network: n.id,
      cidr,
      create: link === null,
    });
  }
  const tag = c.iptables ? chainTag(i.dataRoot) : null;
  const fw = { userlandProxy: c.userlandProxy };
  const names = tag ? chainNames(tag) : null;
  const bridges = new Map(networks.map((n) => [n.id, n]));
  const published = keptEndpoints.flatMap((e) => {
    const n = bridges.get(e.network);
    return n?.bridge && e.ports.length > 0 && !n.internal
      ? [{ bridge: n.bridge, ip: e.ip, ports: e.ports }]
      : [];
  });
  const upstreams = upstreamsOf(i.hostResolvConf, c.dns);
  const resolvers: ResolverSpec[] = networks
    .filter((n) => n.driver === 'bridge' && !n.defaultBridge && n.ipam)
    .map((n) => ({
      network: n.id,
      address: n.ipam!.gateway,
      upstreams,
      records: keptEndpoints
        .filter((e) => e.network === n.id)
        .map((e) => ({ endpoint: e.id, names: e.dnsNames, ip: e.ip })),
    }));
  networks = [...networks];
  return {
    facts: {
      dbDir: `${i.dataRoot}/network/files`,
      execRoot: i.execRoot,
      tag,
      userlandProxy: c.userlandProxy,
      config: c,
      networks,
      sandboxes: keptSandboxes,
      endpoints: keptEndpoints,
      attachments: i.db.attachments.filter((a) => stored.has(a.id)),
      pools: poolTexts(pools),
      hostReserved,
      hostResolvConf: i.hostResolvConf,
      hostname: i.host.hostname,
      portRange: i.host.portRange,
      ipv6: i.host.ipv6,
      hostGatewayIp: defaultBridge?.ipam?.gateway ?? null,
      resolvers: resolvers.map((r) => r.network),
    },
    stale,
    put,
    createBridge,
    addAddress,
    userBridges,
    routeLocalnet: c.userlandProxy ? [] : networks.flatMap((n) => (n.bridge ? [n.bridge] : [])),
    chains: names ? ownedChains(names) : null,
    rules: names ? fullRuleset(names, networks, published, fw) : [],
    ensure: names ? [{ table: 'filter', chain: names.user }] : [],
    ensureRules: names ? [{ table: 'filter', chain: names.user, args: '-j RETURN' }] : [],
    jumps: names ? jumps(names, fw) : [],
    resolvers,
    proxies: c.userlandProxy ? keptEndpoints.flatMap((e) => proxiesOf(e)) : [],
  };
}

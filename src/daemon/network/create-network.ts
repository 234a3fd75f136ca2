import {
  formatIp,
  overlaps,
  parseCidr,
  parseIp,
  type Net4,
} from '../../../machines/network/cidr.ts';
import {
  checkGateway,
  noPoolError,
  parseSubnet,
  pickPool,
} from '../../../machines/network/ipam.ts';
import type { NetworkRecord } from '../../../machines/network/model.ts';
import type { NetworkFacts } from '../../../machines/network/start.ts';
import { ApiError } from '../../api/server.ts';

/**
 * `POST /networks/create` read (network-facts.md §6): the body checked with Docker's words and
 * status codes (a client's mistake is a 400 where dockerd 20.10 answered 500, as later dockerd
 * releases answer it), the pool chosen (the client's subnet, or next-fit over the default pools), and
 * the network's record. What statedock does not do is refused by name. No I/O.
 */

/** The Engine API's create body for a network. */
export interface NetworkCreateBody {
  Name?: unknown;
  CheckDuplicate?: unknown;
  Driver?: unknown;
  Scope?: unknown;
  EnableIPv6?: unknown;
  IPAM?: { Driver?: unknown; Config?: unknown; Options?: unknown } | null;
  Internal?: unknown;
  Attachable?: unknown;
  Ingress?: unknown;
  ConfigOnly?: unknown;
  ConfigFrom?: unknown;
  Options?: unknown;
  Labels?: unknown;
}

const bridgeOptions = new Set([
  'com.docker.network.bridge.name',
  'com.docker.network.bridge.enable_icc',
  'com.docker.network.bridge.enable_ip_masquerade',
  'com.docker.network.bridge.host_binding_ipv4',
  'com.docker.network.driver.mtu',
]);

const refuse = (what: string): ApiError => new ApiError(400, `statedock does not support ${what}`);

export interface NetworkRequestContext {
  networks: readonly NetworkRecord[];
  facts: NetworkFacts;
  /** Where next-fit starts in the pools. */
  poolIndex: number;
  newId: () => string;
  nowIso: string;
}

/** The new network's record, where the next pool search starts, and Docker's duplicate-name warning. */
export function networkFromRequest(
  body: NetworkCreateBody,
  c: NetworkRequestContext,
): { record: NetworkRecord; poolIndex: number; warning: string } {
  const { networks, facts, newId, nowIso } = c;
  let next = c.poolIndex;
  const name = typeof body.Name === 'string' ? body.Name : '';
  if (name === '') throw new ApiError(400, 'invalid name: ');
  const driver = typeof body.Driver === 'string' && body.Driver !== '' ? body.Driver : 'bridge';
  if (name === 'bridge' || name === 'host' || name === 'none')
    throw new ApiError(403, `operation is not permitted on predefined ${name} network `);
  if (driver === 'host' || driver === 'null')
    throw new ApiError(403, `only one instance of "${driver}" network is allowed`);
  if (driver !== 'bridge') throw new ApiError(404, `plugin "${driver}" not found`);
  const same = networks.find((n) => n.name === name);
  if (same && body.CheckDuplicate === true)
    throw new ApiError(409, `network with name ${name} already exists`);
  if (body.EnableIPv6 === true) throw refuse('IPv6 networks (EnableIPv6)');
  // Attachable only matters to swarm-scope networks (dockerd keeps it and shows it): recorded.
  for (const k of ['Ingress', 'ConfigOnly'] as const)
    if (body[k] === true) throw refuse(`${k} networks`);
  const from = body.ConfigFrom as { Network?: unknown } | null | undefined;
  if (from && typeof from.Network === 'string' && from.Network !== '') throw refuse('ConfigFrom');
  if (typeof body.Scope === 'string' && body.Scope !== '' && body.Scope !== 'local')
    throw refuse(`the ${body.Scope} scope`);
  const ipam = body.IPAM ?? {};
  if (typeof ipam.Driver === 'string' && ipam.Driver !== '' && ipam.Driver !== 'default')
    throw new ApiError(404, `plugin "${ipam.Driver}" not found`);
  const ipamOptions = (ipam.Options ?? null) as Record<string, string> | null;
  if (ipamOptions && Object.keys(ipamOptions).length > 0) throw refuse('IPAM options');
  const configs = (Array.isArray(ipam.Config) ? ipam.Config : []) as {
    Subnet?: string;
    IPRange?: string;
    Gateway?: string;
    AuxiliaryAddresses?: Record<string, string> | null;
  }[];
  if (configs.length > 1) throw refuse('more than one IPAM config per network');
  const options = (body.Options ?? {}) as Record<string, string>;
  for (const k of Object.keys(options))
    if (!bridgeOptions.has(k)) throw refuse(`the network option ${k}`);
  const labels = (body.Labels ?? {}) as Record<string, string>;
  const cfg = configs[0] ?? {};
  if (cfg.AuxiliaryAddresses && Object.keys(cfg.AuxiliaryAddresses).length > 0)
    throw refuse('AuxiliaryAddresses');
  const taken = networks.flatMap((n) => (n.ipam ? [parseCidr(n.ipam.subnet)!.net] : []));
  let subnet: Net4;
  let userSubnet = false;
  if (cfg.Subnet) {
    const s = parseSubnet(cfg.Subnet);
    if ('error' in s) throw new ApiError(400, s.error);
    if (taken.some((t) => overlaps(t, s)))
      throw new ApiError(403, 'Pool overlaps with other one on this address space');
    subnet = s;
    userSubnet = true;
  } else {
    const reserved = facts.hostReserved.map((r) => parseCidr(r)!.net);
    const pools = facts.pools.map((p) => parseCidr(p)!.net);
    const p = pickPool(pools, c.poolIndex, [...taken, ...reserved]);
    if (!p) throw new ApiError(500, noPoolError);
    next = p.next;
    subnet = p.pool;
  }
  let gateway = subnet.base + 1;
  if (cfg.Gateway) {
    const bad = checkGateway(subnet, cfg.Gateway);
    if (bad) throw new ApiError(400, bad);
    gateway = parseIp(cfg.Gateway) as number;
  }
  let ipRange: string | null = null;
  if (cfg.IPRange) {
    const r = parseCidr(cfg.IPRange);
    if (!r)
      throw new ApiError(
        400,
        `Invalid range ${cfg.IPRange} : invalid CIDR address: ${cfg.IPRange}`,
      );
    ipRange = `${formatIp(r.net.base)}/${r.net.bits}`;
  }
  const mtu = options['com.docker.network.driver.mtu']
    ? Number(options['com.docker.network.driver.mtu'])
    : 1500;
  if (!Number.isInteger(mtu) || mtu < 0)
    throw new ApiError(
      400,
      `invalid MTU number: ${options['com.docker.network.driver.mtu'] ?? ''}`,
    );
  const id = newId();
  const bridge = options['com.docker.network.bridge.name'] ?? `br-${id.slice(0, 12)}`;
  if (bridge.length > 15)
    throw new ApiError(400, `invalid bridge name ${bridge}: longer than 15 characters`);
  if (networks.some((n) => n.bridge === bridge))
    throw new ApiError(
      403,
      `cannot create network ${id} (${bridge}): conflicts with network ${networks.find((n) => n.bridge === bridge)?.id ?? ''} (${bridge})`,
    );
  const flag = (k: string, dflt: boolean): boolean =>
    options[k] === undefined ? dflt : options[k] === 'true';
  const n: NetworkRecord = {
    id,
    name,
    driver: 'bridge',
    created: nowIso,
    internal: body.Internal === true,
    attachable: body.Attachable === true,
    labels,
    options,
    ipamOptions,
    ipam: {
      subnet: `${formatIp(subnet.base)}/${subnet.bits}`,
      gateway: formatIp(gateway),
      ipRange,
      defaultGateway: null,
    },
    userSubnet,
    bridge,
    ownsBridge: true,
    ownsAddress: true,
    mtu,
    icc: flag('com.docker.network.bridge.enable_icc', true),
    masquerade:
      facts.config.iptables && flag('com.docker.network.bridge.enable_ip_masquerade', true),
    hostBindingIp: options['com.docker.network.bridge.host_binding_ipv4'] ?? facts.config.ip,
    defaultBridge: false,
  };
  return {
    record: n,
    poolIndex: next,
    warning: same ? `Network with name ${name} (id : ${same.id}) already exists` : '',
  };
}

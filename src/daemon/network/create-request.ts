import { parseIp } from '../../../machines/network/cidr.ts';
import type { ContainerNetConfig, EndpointWish } from '../../../machines/network/model.ts';
import { bindingWishes, parsePortKey, portKeyText } from '../../../machines/network/ports.ts';
import { ApiError } from '../../api/server.ts';

/**
 * The networking fields of `POST /containers/create` (Config.Hostname, Domainname,
 * ExposedPorts, MacAddress; HostConfig.NetworkMode, PortBindings, PublishAllPorts, Dns*,
 * ExtraHosts, Links; NetworkingConfig), checked with Docker's words (runconfig's
 * validateNetContainerMode, verifyNetworkingConfig), turned into the container's
 * ContainerNetConfig. What statedock does not do is refused by name.
 */

const refuse = (what: string): ApiError => new ApiError(400, `statedock does not support ${what}`);

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

export interface NetRequestContext {
  /** A container's full ID from its name or ID (`--network container:<name|id>`), or null. */
  resolveContainer(ref: string): string | null;
  /** The host's hostname (`--network host` containers take it). */
  hostHostname: string;
  /** The image's EXPOSE ports. */
  imageExposed: string[];
}

export function containerNetConfig(
  body: Record<string, unknown>,
  host: Record<string, unknown>,
  id: string,
  c: NetRequestContext,
): { net: ContainerNetConfig; networkMode: string; warnings: string[] } {
  const warnings: string[] = [];
  let mode =
    typeof host['NetworkMode'] === 'string' && host['NetworkMode'] !== ''
      ? host['NetworkMode']
      : 'default';
  const hostname = typeof body['Hostname'] === 'string' ? body['Hostname'] : '';
  const domainname = typeof body['Domainname'] === 'string' ? body['Domainname'] : '';
  const exposedReq = Object.keys(body['ExposedPorts'] ?? {});
  const bindings = (host['PortBindings'] ?? {}) as Record<
    string,
    { HostIp?: string; HostPort?: string }[] | null
  >;
  const publishAll = host['PublishAllPorts'] === true;
  const dns = strings(host['Dns']);
  const dnsSearch = strings(host['DnsSearch']);
  const dnsOptions = strings(host['DnsOptions']);
  const extraHosts = strings(host['ExtraHosts']);
  const links = strings(host['Links']);
  const mac = typeof body['MacAddress'] === 'string' ? body['MacAddress'] : '';

  if (mode.startsWith('container')) {
    const parts = mode.split(':');
    if (parts[0] === 'container' && (parts.length < 2 || parts[1] === ''))
      throw new ApiError(400, 'Invalid network mode: invalid container format container:<name|id>');
  }
  const isContainer = mode.startsWith('container:');
  if (isContainer && hostname !== '')
    throw new ApiError(400, 'conflicting options: hostname and the network mode');
  if (isContainer && links.length > 0)
    throw new ApiError(
      400,
      "conflicting options: container type network can't be used with links. This would result in undefined behavior",
    );
  if (isContainer && dns.length > 0)
    throw new ApiError(400, 'conflicting options: dns and the network mode');
  if (isContainer && extraHosts.length > 0)
    throw new ApiError(400, 'conflicting options: custom host-to-IP mapping and the network mode');
  if ((isContainer || mode === 'host') && mac !== '')
    throw new ApiError(400, 'conflicting options: mac-address and the network mode');
  if (isContainer && (Object.keys(bindings).length > 0 || publishAll))
    throw new ApiError(
      400,
      'conflicting options: port publishing and the container type network mode',
    );
  if (isContainer && exposedReq.length > 0)
    throw new ApiError(
      400,
      'conflicting options: port exposing and the container type network mode',
    );
  if (links.length > 0) throw refuse('HostConfig.Links (--link): use a user-defined network');
  if (mac !== '') throw refuse('Config.MacAddress (--mac-address)');
  if (isContainer) {
    const ref = mode.slice('container:'.length);
    const target = c.resolveContainer(ref);
    if (target === null) throw new ApiError(404, `No such container: ${ref}`);
    if (target === id) throw new ApiError(400, 'cannot join own network');
    mode = `container:${target}`;
  }
  for (const d of dns)
    if (parseIp(d) === null && !d.includes(':'))
      throw new ApiError(400, `${d} is not an ip address`);
  for (const h of extraHosts) {
    const at = h.indexOf(':');
    const ip = at < 0 ? '' : h.slice(at + 1);
    if (at <= 0 || (ip !== 'host-gateway' && parseIp(ip) === null && !ip.includes(':')))
      throw new ApiError(400, `invalid IP address in add-host: "${ip}"`);
  }
  const portBindings: ContainerNetConfig['portBindings'] = {};
  for (const [key, list] of Object.entries(bindings)) {
    const k = parsePortKey(key);
    if (!k) throw new ApiError(400, `invalid port specification: "${key}"`);
    const given = (list ?? []).map((b) => ({ hostIp: b.HostIp ?? '', hostPort: b.HostPort ?? '' }));
    if (k.proto === 'sctp' && given.length > 0)
      throw refuse('HostConfig.PortBindings of SCTP ports (-p …/sctp)');
    portBindings[portKeyText(k)] = given;
  }
  const exposed = new Set<string>();
  for (const key of [...c.imageExposed, ...exposedReq, ...Object.keys(portBindings)]) {
    const k = parsePortKey(key);
    if (!k) throw new ApiError(400, `invalid port specification: "${key}"`);
    exposed.add(portKeyText(k));
  }
  // Checked now (host ports, IPs), though given at start, as dockerd validates the bindings at create.
  const check = bindingWishes(portBindings, [], false, '0.0.0.0');
  if ('error' in check) throw new ApiError(400, check.error);
  for (const list of Object.values(portBindings))
    for (const b of list)
      if (b.hostIp !== '' && parseIp(b.hostIp) === null && !b.hostIp.includes(':'))
        throw new ApiError(400, `invalid IP address: ${b.hostIp}`);
  if (mode === 'host' && (Object.keys(portBindings).length > 0 || publishAll)) {
    warnings.push('Published ports are discarded when using host network mode');
  }

  const endpoints: EndpointWish[] = [];
  const nc = body['NetworkingConfig'] as
    { EndpointsConfig?: Record<string, unknown> | null } | null | undefined;
  const configs = Object.entries(nc?.EndpointsConfig ?? {});
  if (configs.length > 1)
    throw new ApiError(
      400,
      `Container cannot be connected to network endpoints: ${configs.map(([k]) => k).join(', ')}`,
    );
  for (const [network, raw] of configs) {
    const e = (raw ?? {}) as {
      IPAMConfig?: {
        IPv4Address?: string;
        IPv6Address?: string;
        LinkLocalIPs?: string[] | null;
      } | null;
      Aliases?: string[] | null;
      Links?: string[] | null;
      DriverOpts?: Record<string, string> | null;
      MacAddress?: string;
    };
    const field = `NetworkingConfig.EndpointsConfig.${network}`;
    if ((e.Links ?? []).length > 0)
      throw refuse(`${field}.Links (--link): use a user-defined network`);
    if (Object.keys(e.DriverOpts ?? {}).length > 0)
      throw refuse(`${field}.DriverOpts (endpoint driver options)`);
    if (e.MacAddress) throw refuse(`${field}.MacAddress (--mac-address)`);
    if (e.IPAMConfig?.IPv6Address) throw refuse(`${field}.IPAMConfig.IPv6Address (--ip6)`);
    if ((e.IPAMConfig?.LinkLocalIPs ?? []).length > 0)
      throw refuse(`${field}.IPAMConfig.LinkLocalIPs (--link-local-ip)`);
    const ipv4 = e.IPAMConfig?.IPv4Address ? e.IPAMConfig.IPv4Address : null;
    const aliases = e.Aliases ?? [];
    const onDefault =
      network === 'bridge' || ((mode === 'default' || mode === 'bridge') && network === mode);
    if (ipv4 !== null && (onDefault || mode === 'default' || mode === 'bridge'))
      throw new ApiError(
        400,
        'user specified IP address is supported on user defined networks only',
      );
    if (aliases.length > 0 && (onDefault || mode === 'default' || mode === 'bridge'))
      throw new ApiError(
        400,
        'network-scoped alias is supported only for containers in user defined networks',
      );
    if (ipv4 !== null && parseIp(ipv4) === null)
      throw new ApiError(400, `invalid IPv4 address: ${ipv4}`);
    endpoints.push({ network, aliases, ipv4 });
  }
  if (['host', 'none'].includes(mode) || isContainer) {
    if (endpoints.some((e) => e.network !== mode && !(mode === 'none' && e.network === 'none')))
      throw new ApiError(
        400,
        mode === 'none'
          ? 'container cannot be connected to multiple networks with one of the networks in private (none) mode'
          : 'container sharing network namespace with another container or host cannot be connected to any other network',
      );
  }
  const net: ContainerNetConfig = {
    mode,
    hostname: hostname !== '' ? hostname : mode === 'host' ? c.hostHostname : id.slice(0, 12),
    domainname,
    portBindings,
    publishAll,
    exposed: [...exposed],
    dns,
    dnsSearch,
    dnsOptions,
    extraHosts,
    endpoints,
    ...(body['NetworkDisabled'] === true ? { disabled: true } : {}),
  };
  return { net, networkMode: mode, warnings };
}

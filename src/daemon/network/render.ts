import type { ContainerContext } from '../../../machines/container/types.ts';
import type { EndpointRecord, NetworkRecord } from '../../../machines/network/model.ts';
import { parsePortKey } from '../../../machines/network/ports.ts';
import { netConfigOf } from './container-info.ts';
import type { NetworkController } from './controller.ts';

/** Docker's JSON shapes of networks and of a container's networking (network-facts.md §6). */

/** `GET /networks/{id}` (with its containers) and `GET /networks` (without: always `{}`, as 20.10). */
export function networkJson(
  ctl: NetworkController,
  n: NetworkRecord,
  withContainers: boolean,
): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  if (withContainers)
    for (const e of ctl.activeEndpoints(n.id))
      containers[e.container] = {
        Name: e.name,
        EndpointID: e.id,
        MacAddress: e.mac,
        IPv4Address: `${e.ip}/${e.prefixLen}`,
        IPv6Address: '',
      };
  const config = n.ipam
    ? [
        {
          Subnet: n.ipam.subnet,
          ...(n.ipam.ipRange ? { IPRange: n.ipam.ipRange } : {}),
          Gateway: n.ipam.gateway,
          ...(n.ipam.defaultGateway
            ? { AuxiliaryAddresses: { DefaultGatewayIPv4: n.ipam.defaultGateway } }
            : {}),
        },
      ]
    : [];
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: n.ipamOptions, Config: config },
    Internal: n.internal,
    Attachable: n.attachable === true,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.options,
    Labels: n.labels,
  };
}

function endpointSettings(
  e: EndpointRecord | null,
  n: NetworkRecord | null,
  wish: { aliases: string[]; ipv4: string | null } | null,
): Record<string, unknown> {
  return {
    IPAMConfig: (e?.staticIp ?? wish?.ipv4) ? { IPv4Address: e?.staticIp ?? wish?.ipv4 } : null,
    Links: null,
    Aliases: e ? e.aliases : wish && wish.aliases.length > 0 ? wish.aliases : null,
    NetworkID: e ? e.network : (n?.id ?? ''),
    EndpointID: e?.id ?? '',
    Gateway: e ? (n?.ipam?.defaultGateway ?? n?.ipam?.gateway ?? '') : '',
    IPAddress: e?.ip ?? '',
    IPPrefixLen: e?.prefixLen ?? 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: e?.mac ?? '',
    DriverOpts: null,
  };
}

/** A container's networking, as inspect and ps show it. */
export interface ContainerNetView {
  networkSettings: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
  config: Record<string, unknown>;
  paths: { ResolvConfPath: string; HostnamePath: string; HostsPath: string };
  /** ps's Ports and NetworkSettings.Networks. */
  summaryPorts: Record<string, unknown>[];
  summaryNetworks: Record<string, unknown>;
}

export function containerNetView(
  ctl: NetworkController,
  c: ContainerContext,
  dirOf: (id: string) => string,
): ContainerNetView {
  const net = netConfigOf(c);
  const id = c.record.id;
  const sb = ctl.ready ? ctl.sandboxOf(id) : null;
  const eps = ctl.ready ? ctl.endpointsOf(id) : [];
  const networks: Record<string, unknown> = {};
  const nameOf = (networkId: string): string => ctl.networks.get(networkId)?.name ?? networkId;
  if (ctl.ready) {
    const mode = net.mode === 'default' ? 'bridge' : net.mode;
    if (mode === 'host' || mode === 'none') {
      const n = [...ctl.networks.values()].find((x) => x.name === mode) ?? null;
      networks[mode] = endpointSettings(null, n, null);
    } else if (!mode.startsWith('container:')) {
      for (const w of ctl.wishesOf(id, net)) {
        let n: NetworkRecord | null = null;
        try {
          n = ctl.findNetwork(w.network);
        } catch {
          n = null;
        }
        const e = n ? (eps.find((x) => x.network === n.id) ?? null) : null;
        networks[n?.name ?? w.network] = endpointSettings(e, n, w);
      }
      for (const e of eps)
        if (!(nameOf(e.network) in networks))
          networks[nameOf(e.network)] = endpointSettings(
            e,
            ctl.networks.get(e.network) ?? null,
            null,
          );
    }
  }
  const gw = eps.find((e) => e.ports.length > 0) ?? eps.find((e) => e.gateway !== null) ?? null;
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  if (sb) {
    for (const key of net.exposed) ports[key] = null;
    for (const p of gw?.ports ?? []) {
      const key = `${p.containerPort}/${p.proto}`;
      ports[key] = [...(ports[key] ?? []), { HostIp: p.hostIp, HostPort: String(p.hostPort) }];
    }
  }
  const bridgeEp = eps.find((e) => ctl.networks.get(e.network)?.defaultBridge) ?? null;
  const bridgeNet = bridgeEp ? (ctl.networks.get(bridgeEp.network) ?? null) : null;
  const started = c.record.hasBeenStartedBefore || sb !== null;
  const target = net.mode.startsWith('container:') ? net.mode.slice('container:'.length) : null;
  const dir = dirOf(target ?? id);
  const summaryPorts: Record<string, unknown>[] = [];
  for (const p of gw?.ports ?? [])
    summaryPorts.push({
      IP: p.hostIp,
      PrivatePort: p.containerPort,
      PublicPort: p.hostPort,
      Type: p.proto,
    });
  for (const key of net.exposed) {
    const k = parsePortKey(key);
    if (k && !(gw?.ports ?? []).some((p) => p.containerPort === k.port && p.proto === k.proto))
      summaryPorts.push({ PrivatePort: k.port, Type: k.proto });
  }
  return {
    networkSettings: {
      Bridge: '',
      SandboxID: sb?.id ?? '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: ports,
      SandboxKey:
        sb?.netns ??
        (net.mode === 'host' && started
          ? `${ctl.ready ? ctl.facts.execRoot : ''}/netns/default`
          : ''),
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: bridgeEp?.id ?? '',
      Gateway: bridgeEp ? (bridgeNet?.ipam?.defaultGateway ?? bridgeNet?.ipam?.gateway ?? '') : '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: bridgeEp?.ip ?? '',
      IPPrefixLen: bridgeEp?.prefixLen ?? 0,
      IPv6Gateway: '',
      MacAddress: bridgeEp?.mac ?? '',
      Networks: networks,
    },
    hostConfig: {
      PortBindings: Object.fromEntries(
        Object.entries(net.portBindings).map(([k, list]) => [
          k,
          list.map((b) => ({ HostIp: b.hostIp, HostPort: b.hostPort })),
        ]),
      ),
      PublishAllPorts: net.publishAll,
      Dns: net.dns,
      DnsOptions: net.dnsOptions,
      DnsSearch: net.dnsSearch,
      ExtraHosts: net.extraHosts.length > 0 ? net.extraHosts : null,
      Links: null,
    },
    config: {
      Domainname: net.domainname,
      ...(net.disabled === true ? { NetworkDisabled: true } : {}),
      ...(net.exposed.length > 0
        ? { ExposedPorts: Object.fromEntries(net.exposed.map((k) => [k, {}])) }
        : {}),
    },
    paths: started
      ? {
          ResolvConfPath: `${dir}/resolv.conf`,
          HostnamePath: `${dir}/hostname`,
          HostsPath: `${dir}/hosts`,
        }
      : { ResolvConfPath: '', HostnamePath: '', HostsPath: '' },
    summaryPorts,
    summaryNetworks: networks,
  };
}

import type { EffectRequest } from '../../effects/requests.ts';
import type { PositionedRule, ProxySpec, ResolverSpec } from '../../effects/net/requests.ts';
import type { NetStep } from './machine.ts';
import type { EndpointRecord, NetworkRecord, PortMapping, SandboxRecord } from './model.ts';
import {
  endpointRules,
  networkRules,
  type ChainNames,
  type FirewallOptions,
  type PlacedRule,
  type Rule,
} from './rules.ts';

/**
 * The network controller's planners: given what it decided (names, addresses, ports), the
 * steps of each operation, in the order that keeps every ordering of constraints.ts:
 * - a record is written before the kernel object it names exists, and deleted after it is gone
 *   (a crash anywhere leaves the restore a record of everything to clean);
 * - an endpoint's rules are in place before its interface is, and removed only after it
 *   (a container is never on a link its rules do not cover);
 * - a network's bridge and rules go only after its last endpoint.
 * Undo on failure runs newest first, so it mirrors the set-up exactly.
 */

export interface PlanContext {
  /** `<data-root>/network/files` */
  dbDir: string;
  /** The daemon's chains; null with `--iptables=false`. */
  chains: ChainNames | null;
  fw: FirewallOptions;
}

/** Where a rule goes in a running daemon's chain (below the fixed head of the forward chain). */
export function positioned(c: ChainNames, rules: readonly PlacedRule[]): PositionedRule[] {
  return rules.map((r) => ({
    table: r.table,
    chain: r.chain,
    args: r.args,
    position: r.at === 'end' ? null : r.chain === c.forward ? 3 : 1,
  }));
}

const plain = (rules: readonly PlacedRule[]): Rule[] =>
  rules.map((r) => ({ table: r.table, chain: r.chain, args: r.args }));

export function proxiesOf(e: Pick<EndpointRecord, 'ip' | 'ports'>): ProxySpec[] {
  return e.ports
    .filter((p) => p.proto !== 'sctp')
    .map((p: PortMapping) => ({
      proto: p.proto,
      hostIp: p.hostIp,
      hostPort: p.hostPort,
      containerIp: e.ip,
      containerPort: p.containerPort,
    }));
}

/** A user-defined bridge network: record, bridge, address, up, rules, and its DNS server. */
export function planNetworkCreate(
  ctx: PlanContext,
  n: NetworkRecord,
  resolver: ResolverSpec | null,
): NetStep[] {
  const steps: NetStep[] = [
    {
      what: `record network ${n.name}`,
      request: { effect: 'net.dbPut', dir: ctx.dbDir, records: [{ kind: 'network', record: n }] },
      undo: [{ effect: 'net.dbDelete', dir: ctx.dbDir, keys: [{ kind: 'network', id: n.id }] }],
    },
  ];
  if (n.driver !== 'bridge' || !n.bridge || !n.ipam) return steps;
  const br = n.bridge;
  const prefix = n.ipam.subnet.split('/')[1] as string;
  if (n.ownsBridge)
    steps.push({
      what: `create bridge ${br}`,
      request: {
        effect: 'net.createBridge',
        name: br,
        mtu: n.mtu,
        mac: bridgeMac(n.id),
        network: n.id,
      },
      undo: [{ effect: 'net.deleteLinks', names: [br], network: n.id }],
    });
  if (n.ownsAddress)
    steps.push({
      what: `address ${n.ipam.gateway}/${prefix} on ${br}`,
      request: {
        effect: 'net.addAddress',
        dev: br,
        cidr: `${n.ipam.gateway}/${prefix}`,
        network: n.id,
      },
      undo: [
        { effect: 'net.delAddress', dev: br, cidr: `${n.ipam.gateway}/${prefix}`, network: n.id },
      ],
    });
  if (!ctx.fw.userlandProxy)
    steps.push({
      what: `route_localnet on ${br}`,
      request: {
        effect: 'kernel.writeSysctl',
        key: `net/ipv4/conf/${br}/route_localnet`,
        value: '1',
      },
      failure: 'Unable to enable local routing for hairpin mode: %s',
    });
  steps.push({ what: `${br} up`, request: { effect: 'net.setLinkUp', name: br, network: n.id } });
  if (ctx.chains) {
    const rules = networkRules(ctx.chains, n, ctx.fw);
    steps.push({
      what: `rules of ${br}`,
      request: { effect: 'net.addRules', rules: positioned(ctx.chains, rules), network: n.id },
      undo: [{ effect: 'net.deleteRules', rules: plain(rules), network: n.id }],
      failure: 'Failed to Setup IP tables: %s',
    });
  }
  if (resolver)
    steps.push({
      what: `DNS server of ${n.name} on ${resolver.address}`,
      request: { effect: 'net.startResolvers', resolvers: [resolver] },
      undo: [{ effect: 'net.stopResolvers', networks: [n.id] }],
    });
  return steps;
}

/** `docker network rm`: the reverse, every step best-effort (Docker's removal logs and goes on). */
export function planNetworkRemove(
  ctx: PlanContext,
  n: NetworkRecord,
  hasResolver: boolean,
): NetStep[] {
  const steps: NetStep[] = [];
  const best = (what: string, request: EffectRequest): void =>
    void steps.push({ what, request, bestEffort: true });
  if (n.driver === 'bridge' && n.bridge && n.ipam) {
    const br = n.bridge;
    if (hasResolver)
      best(`stop the DNS server of ${n.name}`, { effect: 'net.stopResolvers', networks: [n.id] });
    if (ctx.chains)
      best(`rules of ${br}`, {
        effect: 'net.deleteRules',
        rules: plain(networkRules(ctx.chains, n, ctx.fw)),
        network: n.id,
      });
    const prefix = n.ipam.subnet.split('/')[1] as string;
    if (n.ownsAddress && !n.ownsBridge)
      best(`address of ${br}`, {
        effect: 'net.delAddress',
        dev: br,
        cidr: `${n.ipam.gateway}/${prefix}`,
        network: n.id,
      });
    if (n.ownsBridge)
      best(`delete bridge ${br}`, { effect: 'net.deleteLinks', names: [br], network: n.id });
  }
  best(`forget network ${n.name}`, {
    effect: 'net.dbDelete',
    dir: ctx.dbDir,
    keys: [{ kind: 'network', id: n.id }],
  });
  return steps;
}

/** What joining one network makes: the record, the proxies, the rules, the veth, the names. */
export function endpointSteps(
  ctx: PlanContext,
  e: EndpointRecord,
  n: NetworkRecord,
  resolverNames: boolean,
): NetStep[] {
  const steps: NetStep[] = [
    {
      what: `record endpoint ${e.name} on ${n.name}`,
      request: { effect: 'net.dbPut', dir: ctx.dbDir, records: [{ kind: 'endpoint', record: e }] },
      undo: [{ effect: 'net.dbDelete', dir: ctx.dbDir, keys: [{ kind: 'endpoint', id: e.id }] }],
    },
  ];
  const external = `driver failed programming external connectivity on endpoint ${e.name} (${e.id}): %s`;
  const proxies = ctx.fw.userlandProxy ? proxiesOf(e) : [];
  if (proxies.length > 0)
    steps.push({
      what: `proxies of ${e.name}`,
      request: { effect: 'net.startProxies', proxies, endpoint: e.id },
      undo: [{ effect: 'net.stopProxies', proxies, endpoint: e.id }],
      failure: external,
    });
  if (ctx.chains && e.ports.length > 0 && n.bridge) {
    const rules = endpointRules(ctx.chains, n.bridge, e, ctx.fw);
    steps.push({
      what: `port rules of ${e.name}`,
      request: { effect: 'net.addRules', rules: positioned(ctx.chains, rules), endpoint: e.id },
      undo: [{ effect: 'net.deleteRules', rules: plain(rules), endpoint: e.id }],
      failure: external,
    });
  }
  steps.push({
    what: `veth ${e.hostIf} (${e.ifName} ${e.ip})`,
    request: {
      effect: 'net.createEndpoint',
      endpoint: e.id,
      network: n.id,
      container: e.container,
      bridge: n.bridge as string,
      hostIf: e.hostIf,
      netns: e.netns,
      ifName: e.ifName,
      cidr: `${e.ip}/${e.prefixLen}`,
      mac: e.mac,
      mtu: n.mtu,
      gateway: e.gateway,
      hairpin: !ctx.fw.userlandProxy,
    },
    undo: [{ effect: 'net.deleteLinks', names: [e.hostIf], endpoints: [e.id] }],
    failure: `failed to create endpoint ${e.name} on network ${n.name}: %s`,
  });
  if (resolverNames)
    steps.push({
      what: `names of ${e.name} on ${n.name}`,
      request: {
        effect: 'net.registerNames',
        network: n.id,
        endpoint: e.id,
        names: e.dnsNames,
        ip: e.ip,
      },
      undo: [{ effect: 'net.unregisterNames', network: n.id, endpoint: e.id }],
    });
  return steps;
}

/** Leaving a network: the undo of `endpointSteps`, newest first, best-effort. */
export function endpointReleaseSteps(
  ctx: PlanContext,
  e: EndpointRecord,
  n: NetworkRecord | null,
  resolverNames: boolean,
): NetStep[] {
  const made = n ? endpointSteps(ctx, e, n, resolverNames) : [];
  const steps: NetStep[] = [];
  for (const s of [...made].reverse())
    for (const request of s.undo ?? [])
      steps.push({ what: `release: ${s.what}`, request, bestEffort: true });
  if (!n) {
    // Its network is gone from the database: the link and the record still go.
    steps.push({
      what: `release: veth ${e.hostIf}`,
      request: { effect: 'net.deleteLinks', names: [e.hostIf], endpoints: [e.id] },
      bestEffort: true,
    });
    steps.push({
      what: `release: endpoint ${e.name}`,
      request: { effect: 'net.dbDelete', dir: ctx.dbDir, keys: [{ kind: 'endpoint', id: e.id }] },
      bestEffort: true,
    });
  }
  return steps;
}

/** The sandbox's namespace: recorded, then made. */
export function sandboxSteps(ctx: PlanContext, s: SandboxRecord): NetStep[] {
  return [
    {
      what: `record sandbox ${s.id.slice(0, 12)}`,
      request: { effect: 'net.dbPut', dir: ctx.dbDir, records: [{ kind: 'sandbox', record: s }] },
      undo: [{ effect: 'net.dbDelete', dir: ctx.dbDir, keys: [{ kind: 'sandbox', id: s.id }] }],
    },
    {
      what: `network namespace ${s.netns}`,
      request: { effect: 'net.createNetns', path: s.netns, sandbox: s.id, container: s.container },
      undo: [{ effect: 'net.deleteNetns', paths: [s.netns], sandboxes: [s.id] }],
    },
  ];
}

export function sandboxReleaseSteps(ctx: PlanContext, s: SandboxRecord): NetStep[] {
  return [...sandboxSteps(ctx, s)].reverse().flatMap((st) =>
    (st.undo ?? []).map((request) => ({
      what: `release: ${st.what}`,
      request,
      bestEffort: true,
    })),
  );
}

/**
 * The files bind-mounted over the container's /etc (rewritten at each start). Its hosts and
 * hostname are not fsynced (dockerd writes them with a plain write; a crash loses nothing the
 * next start does not write again); its resolv.conf is, as dockerd's atomic writer does.
 */
export function fileSteps(files: readonly { path: string; content: string }[]): NetStep[] {
  return files.map((f) => {
    const name = f.path.slice(f.path.lastIndexOf('/') + 1);
    const sync = name === 'hosts' || name === 'hostname' ? { sync: false as const } : {};
    return {
      what: `write ${name}`,
      request: {
        effect: 'fs.writeFileAtomic',
        path: f.path,
        content: f.content,
        mode: 0o644,
        ...sync,
      },
    };
  });
}

/** A bridge's MAC: 02:42 and four bytes of its network's ID (dockerd's are random 02:42 ones). */
export function bridgeMac(networkId: string): string {
  const b = (networkId + '00000000').slice(0, 8);
  return `02:42:${b.slice(0, 2)}:${b.slice(2, 4)}:${b.slice(4, 6)}:${b.slice(6, 8)}`;
}

export type { ResolverSpec };

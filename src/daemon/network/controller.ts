import type { EffectError, EffectErrorCode } from '../../../effects/errors.ts';
import type { SandboxSpec } from '../../../effects/net/requests.ts';
import type { Session } from '../../../effects/runner.ts';
import type { RecordBody } from '../../../effects/trace.ts';
import { contains, formatIp, macOf, parseCidr, parseIp } from '../../../machines/network/cidr.ts';
import {
  containerResolvConf,
  hostnameFile,
  hostsFile,
  ndotsError,
  upstreamsOf,
} from '../../../machines/network/files.ts';
import { nextAddress } from '../../../machines/network/ipam.ts';
import type { NetOpInput, NetOpOutput, NetStep } from '../../../machines/network/machine.ts';
import type {
  AttachmentRecord,
  ContainerNetConfig,
  EndpointRecord,
  EndpointWish,
  NetworkRecord,
  SandboxRecord,
} from '../../../machines/network/model.ts';
import {
  endpointReleaseSteps,
  endpointSteps,
  fileSteps,
  planNetworkCreate,
  planNetworkRemove,
  sandboxReleaseSteps,
  sandboxSteps,
  type PlanContext,
} from '../../../machines/network/plan.ts';
import {
  allocatePorts,
  bindingWishes,
  emptyPortTable,
  releasePort,
  reservePort,
  type PortTable,
} from '../../../machines/network/ports.ts';
import { chainNames } from '../../../machines/network/rules.ts';
import type { NetworkFacts } from '../../../machines/network/start.ts';
import { ApiError } from '../../api/server.ts';
import { networkFromRequest, type NetworkCreateBody } from './create-network.ts';

export type { NetworkCreateBody };

/** What the controller needs to know of a container. */
export interface ContainerNetInfo {
  id: string;
  /** Without the leading slash. */
  name: string;
  net: ContainerNetConfig;
  running: boolean;
  /** `<data-root>/containers/<id>`: where its hosts, hostname and resolv.conf go. */
  dir: string;
}

/** The daemon (or the simulated one) around the controller. */
export interface ControllerHost {
  session: Session;
  /** A new random ID: 64 hex digits (the simulator's are seeded). */
  newId(): string;
  /** `n` random hex digits (veth names). */
  newHex(n: number): string;
  /** A container by ID, name or unique ID prefix. */
  container(ref: string): ContainerNetInfo | null;
}

export type Done<T> = (
  r: { ok: true; value: T } | { ok: false; error: ApiError | EffectError },
) => void;

function fail(code: EffectErrorCode, message: string): EffectError {
  return { code, message };
}

/**
 * dockerd's rule for an address the user chose: only on a user-defined network (not the
 * default bridge) whose subnet the user configured, else 400 with dockerd's words.
 */
function refuseUserIpUnlessConfigured(n: NetworkRecord): void {
  if (n.defaultBridge)
    throw new ApiError(400, 'user specified IP address is supported on user defined networks only');
  if (!n.userSubnet)
    throw new ApiError(
      400,
      'user specified IP address is supported only when connecting to networks with user configured subnets',
    );
}

/**
 * The network controller (libnetwork's, for the bridge driver): the networks, sandboxes and
 * endpoints, with IPAM and the port allocator in memory (rebuilt from the database at start-up).
 * Each operation is decided here — addresses, names, ports — at once, so concurrent operations
 * never get the same one; then its steps run as a `netOp` actor, and the model follows its
 * outcome. The same controller runs in the daemon and in the simulator (callbacks, no promises:
 * the simulator's world is synchronous).
 */
export class NetworkController {
  private readonly host: ControllerHost;
  private f: NetworkFacts | null = null;
  readonly networks = new Map<string, NetworkRecord>();
  /** By container ID. */
  readonly sandboxes = new Map<string, SandboxRecord>();
  readonly endpoints = new Map<string, EndpointRecord>();
  readonly attachments = new Map<string, AttachmentRecord>();
  /** Endpoints being made or released, by network (they count as active). */
  private readonly busy = new Map<string, number>();
  /** Addresses given out, by network (IPv4 numbers). */
  private readonly used = new Map<string, Set<number>>();
  private ports: PortTable = emptyPortTable();
  private poolIndex = 0;
  private readonly resolvers = new Set<string>();
  /** Networks being removed: nothing joins them. */
  private readonly removing = new Set<string>();
  private opSeq = 0;
  private readonly waiting = new Map<string, (o: NetOpOutput) => void>();
  /** Per container, its operations in order (a connect and a start never interleave). */
  private readonly queues = new Map<string, (() => void)[]>();

  constructor(host: ControllerHost) {
    this.host = host;
    host.session.onRecord((actor: string, r: RecordBody) => {
      if (r.kind !== 'actor.stop' || !actor.startsWith('net:')) return;
      const w = this.waiting.get(actor);
      this.waiting.delete(actor);
      w?.((r as unknown as { output: NetOpOutput }).output);
    });
  }

  get ready(): boolean {
    return this.f !== null;
  }

  get facts(): NetworkFacts {
    if (!this.f) throw new ApiError(500, 'the network controller has not started');
    return this.f;
  }

  /** From start-up's facts: the networks, and what live-restore kept. */
  init(facts: NetworkFacts): void {
    this.f = facts;
    for (const n of facts.networks) this.addNetwork(n);
    for (const s of facts.sandboxes) this.sandboxes.set(s.container, s);
    for (const e of facts.endpoints) this.addEndpoint(e);
    for (const a of facts.attachments) this.attachments.set(a.id, a);
    for (const r of facts.resolvers) this.resolvers.add(r);
  }

  private ctx(): PlanContext {
    const f = this.facts;
    return {
      dbDir: f.dbDir,
      chains: f.tag === null ? null : chainNames(f.tag),
      fw: { userlandProxy: f.userlandProxy },
    };
  }

  private addNetwork(n: NetworkRecord): void {
    this.networks.set(n.id, n);
    const used = new Set<number>();
    if (n.ipam) used.add(parseIp(n.ipam.gateway) as number);
    if (n.ipam?.defaultGateway) used.add(parseIp(n.ipam.defaultGateway) as number);
    this.used.set(n.id, used);
  }

  private addEndpoint(e: EndpointRecord): void {
    this.endpoints.set(e.id, e);
    this.used.get(e.network)?.add(parseIp(e.ip) as number);
    for (const p of e.ports) reservePort(this.ports, p);
  }

  private dropEndpoint(e: EndpointRecord): void {
    this.endpoints.delete(e.id);
    this.used.get(e.network)?.delete(parseIp(e.ip) as number);
    for (const p of e.ports) releasePort(this.ports, p);
  }

  /** Runs an operation's steps as a netOp actor; `done` hears its outcome. */
  private run(op: string, steps: NetStep[], done: (o: NetOpOutput) => void): void {
    const actorId = `net:${++this.opSeq}`;
    this.waiting.set(actorId, done);
    const input: NetOpInput = { actorId, op, steps };
    this.host.session.spawn('netOp', actorId, input, { forgetWhenDone: true });
  }

  /** Runs `fn` once every earlier operation on this container has finished. */
  private serial(container: string, fn: (next: () => void) => void): void {
    const q = this.queues.get(container) ?? [];
    const go = (): void =>
      fn(() => {
        const rest = this.queues.get(container) ?? [];
        rest.shift();
        if (rest.length === 0) this.queues.delete(container);
        else (rest[0] as () => void)();
      });
    q.push(go);
    this.queues.set(container, q);
    if (q.length === 1) go();
  }

  private markBusy(network: string, by: number): void {
    const n = (this.busy.get(network) ?? 0) + by;
    if (n === 0) this.busy.delete(network);
    else this.busy.set(network, n);
  }

  // ---- lookups -------------------------------------------------------------------------------

  /** A network by full ID, name, or unique ID prefix (dockerd's FindNetwork); 404 otherwise. */
  findNetwork(ref: string, matchWord: 'name' | 'on name' = 'name'): NetworkRecord {
    const all = [...this.networks.values()];
    const byId = all.find((n) => n.id === ref);
    if (byId) return byId;
    const byName = all.filter((n) => n.name === ref);
    if (byName.length === 1) return byName[0] as NetworkRecord;
    if (byName.length > 1)
      throw new ApiError(
        400,
        `network ${ref} is ambiguous (${byName.length} matches found ${matchWord === 'name' ? 'based on name' : 'on name'})`,
      );
    const byPrefix = all.filter((n) => n.id.startsWith(ref));
    if (byPrefix.length === 1) return byPrefix[0] as NetworkRecord;
    if (byPrefix.length > 1)
      throw new ApiError(
        400,
        `network ${ref} is ambiguous (${byPrefix.length} matches found based on ID prefix)`,
      );
    throw new ApiError(404, `network ${ref} not found`);
  }

  /** The endpoints of a network, made or being made. */
  activeEndpoints(networkId: string): EndpointRecord[] {
    return [...this.endpoints.values()].filter((e) => e.network === networkId);
  }

  sandboxOf(container: string): SandboxRecord | null {
    return this.sandboxes.get(container) ?? null;
  }

  endpointsOf(container: string): EndpointRecord[] {
    return [...this.endpoints.values()]
      .filter((e) => e.container === container)
      .sort((a, b) => (a.ifName < b.ifName ? -1 : 1));
  }

  /** The networks a container joins at its start (its create request's, or what connect/disconnect made of it). */
  wishesOf(id: string, net: ContainerNetConfig): EndpointWish[] {
    if (net.disabled === true) return [];
    const a = this.attachments.get(id);
    if (a) return a.endpoints;
    const mode = net.mode === 'default' || net.mode === '' ? 'bridge' : net.mode;
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) return [];
    if (mode === 'bridge' && this.facts.config.bridge === 'none') return [];
    const first = net.endpoints.find((w) => w.network === mode) ?? net.endpoints[0];
    return [{ network: mode, aliases: first?.aliases ?? [], ipv4: first?.ipv4 ?? null }];
  }

  // ---- networks ------------------------------------------------------------------------------

  /** `POST /networks/create`: validated with Docker's words (create-network.ts), then made. */
  createNetwork(
    body: NetworkCreateBody,
    nowIso: string,
    done: Done<{ id: string; warning: string }>,
  ): void {
    const {
      record: n,
      poolIndex,
      warning,
    } = networkFromRequest(body, {
      networks: [...this.networks.values()],
      facts: this.facts,
      poolIndex: this.poolIndex,
      newId: () => this.host.newId(),
      nowIso,
    });
    this.poolIndex = poolIndex;
    const id = n.id;
    const resolver = {
      network: id,
      address: n.ipam!.gateway,
      upstreams: upstreamsOf(this.facts.hostResolvConf, this.facts.config.dns),
      records: [],
    };
    // Reserved now: a concurrent create cannot take the same pool.
    this.addNetwork(n);
    this.removing.add(id);
    this.run(`networkCreate ${n.name}`, planNetworkCreate(this.ctx(), n, resolver), (o) => {
      this.removing.delete(id);
      if (!o.ok) {
        this.networks.delete(id);
        this.used.delete(id);
        done({ ok: false, error: { code: o.error.code, message: o.message } });
        return;
      }
      this.resolvers.add(id);
      done({
        ok: true,
        value: { id, warning },
      });
    });
  }

  /** `DELETE /networks/{id}`. */
  removeNetwork(ref: string, done: Done<null>): void {
    const n = this.findNetwork(ref);
    if (n.name === 'bridge' || n.name === 'host' || n.name === 'none')
      throw new ApiError(403, `${n.name} is a pre-defined network and cannot be removed`);
    if (this.activeEndpoints(n.id).length > 0 || this.busy.has(n.id) || this.removing.has(n.id))
      throw new ApiError(
        403,
        `error while removing network: network ${n.name} id ${n.id} has active endpoints`,
      );
    this.removing.add(n.id);
    this.run(
      `networkRemove ${n.name}`,
      planNetworkRemove(this.ctx(), n, this.resolvers.has(n.id)),
      () => {
        this.removing.delete(n.id);
        this.resolvers.delete(n.id);
        this.networks.delete(n.id);
        this.used.delete(n.id);
        done({ ok: true, value: null });
      },
    );
  }

  /** `POST /networks/prune`: user networks without endpoints. */
  prune(keep: (n: NetworkRecord) => boolean, done: Done<string[]>): void {
    const victims = [...this.networks.values()].filter(
      (n) =>
        !['bridge', 'host', 'none'].includes(n.name) &&
        !keep(n) &&
        this.activeEndpoints(n.id).length === 0 &&
        !this.busy.has(n.id) &&
        !this.removing.has(n.id),
    );
    const removed: string[] = [];
    let left = victims.length;
    if (left === 0) return done({ ok: true, value: [] });
    for (const n of victims)
      this.removeNetwork(n.id, (r) => {
        if (r.ok) removed.push(n.name);
        if (--left === 0) done({ ok: true, value: removed });
      });
  }

  // ---- sandboxes -----------------------------------------------------------------------------

  /** `net.sandboxUp`: the container's namespace, endpoints and files, before its task is made. */
  sandboxUp(containerId: string, done: Done<SandboxSpec>): void {
    this.serial(containerId, (next) => {
      const finish: Done<SandboxSpec> = (r) => {
        next();
        done(r);
      };
      try {
        this.sandboxUpNow(containerId, finish);
      } catch (err) {
        finish({
          ok: false,
          error:
            err instanceof ApiError
              ? fail(err.status === 404 ? 'ENOENT' : 'EINVAL', err.message)
              : fail('EIO', (err as Error).message),
        });
      }
    });
  }

  private sandboxUpNow(containerId: string, done: Done<SandboxSpec>): void {
    const info = this.host.container(containerId);
    if (!info)
      return done({ ok: false, error: fail('ENOENT', `No such container: ${containerId}`) });
    const net = info.net;
    const f = this.facts;
    const files = {
      hosts: `${info.dir}/hosts`,
      hostname: `${info.dir}/hostname`,
      resolv: `${info.dir}/resolv.conf`,
    };
    const spec = (netns: string | null, hostNetwork = false): SandboxSpec => ({
      netns,
      hostNetwork,
      hostsPath: files.hosts,
      hostnamePath: files.hostname,
      resolvConfPath: files.resolv,
      hostname: net.hostname,
    });
    const dns = {
      dns: net.dns.length > 0 ? net.dns : f.config.dns,
      dnsSearch: net.dnsSearch.length > 0 ? net.dnsSearch : f.config.dnsSearch,
      dnsOptions: net.dnsOptions.length > 0 ? net.dnsOptions : f.config.dnsOptions,
    };
    const extra = net.extraHosts.map((h) => {
      const at = h.indexOf(':');
      const ip = h.slice(at + 1);
      return { name: h.slice(0, at), ip: ip === 'host-gateway' ? (f.hostGatewayIp ?? '') : ip };
    });
    if (net.mode.startsWith('container:')) {
      const targetId = net.mode.slice('container:'.length);
      const target = this.host.container(targetId);
      if (!target || !target.running)
        return done({
          ok: false,
          error: fail('EBUSY', `cannot join network of a non running container: ${targetId}`),
        });
      const sb = this.sandboxes.get(target.id);
      const hostNet = target.net.mode === 'host';
      return done({
        ok: true,
        value: {
          // Its namespace file; or (a target with none: runc made its namespace) the target's
          // process's, which the task's creation puts in (spec/namespaces.ts resolveJoins).
          netns: sb?.netns ?? `container:${target.id}`,
          hostNetwork: hostNet,
          hostsPath: `${target.dir}/hosts`,
          hostnamePath: `${target.dir}/hostname`,
          resolvConfPath: `${target.dir}/resolv.conf`,
          hostname: target.net.hostname,
        },
      });
    }
    // The host's files are read at each start, as dockerd reads them for each sandbox.
    const reads: NetStep[] = [
      {
        what: 'read the host resolv.conf',
        request: { effect: 'fs.readFile', path: '/etc/resolv.conf', optional: true },
      },
      ...(net.mode === 'host'
        ? [
            {
              what: 'read the host hosts',
              request: { effect: 'fs.readFile' as const, path: '/etc/hosts', optional: true },
            },
          ]
        : []),
    ];
    this.run(`readHostFiles ${info.name}`, reads, (o) => {
      if (!o.ok) return done({ ok: false, error: o.error });
      const hostResolv = (o.results[0] as { content: string | null }).content ?? f.hostResolvConf;
      if (net.mode === 'host') {
        const hostHosts = (o.results[1] as { content: string | null }).content ?? '';
        const custom = dns.dns.length + dns.dnsSearch.length + dns.dnsOptions.length > 0;
        const steps = fileSteps([
          {
            path: files.hosts,
            content:
              extra.length > 0
                ? `${hostHosts}${extra.map((h) => `${h.ip}\t${h.name}`).join('\n')}\n`
                : hostHosts,
          },
          { path: files.hostname, content: hostnameFile(net.hostname) },
          {
            path: files.resolv,
            content: custom ? containerResolvConf(hostResolv, dns, null) : hostResolv,
          },
        ]);
        return this.run(`sandboxUp ${info.name} (host)`, steps, (r) =>
          done(
            r.ok
              ? { ok: true, value: spec(null, true) }
              : { ok: false, error: { code: r.error.code, message: r.message } },
          ),
        );
      }
      const wishes = this.wishesOf(info.id, net);
      if (wishes.length === 0) {
        // none, or the default bridge disabled (dockerd's NetworkDisabled): runc's own empty namespace.
        const steps = fileSteps([
          { path: files.hosts, content: hostsFile(extra, [], net.hostname, net.domainname) },
          { path: files.hostname, content: hostnameFile(net.hostname) },
          { path: files.resolv, content: containerResolvConf(hostResolv, dns, null) },
        ]);
        return this.run(`sandboxUp ${info.name} (none)`, steps, (r) =>
          done(
            r.ok
              ? { ok: true, value: spec(null) }
              : { ok: false, error: { code: r.error.code, message: r.message } },
          ),
        );
      }
      const ndots = ndotsError(dns.dnsOptions);
      if (ndots) return done({ ok: false, error: fail('EINVAL', ndots) });
      let plan: ReturnType<NetworkController['planEndpoints']>;
      try {
        plan = this.planEndpoints(info, wishes, null, 0);
      } catch (err) {
        const e = err as ApiError;
        return done({
          ok: false,
          error: fail(
            e.status === 404 ? 'ENOENT' : e.status === 403 ? 'EEXIST' : 'EINVAL',
            e.message,
          ),
        });
      }
      const sandboxId = this.host.newId();
      const sb: SandboxRecord = {
        id: sandboxId,
        container: info.id,
        netns: `${f.execRoot}/netns/${sandboxId.slice(0, 12)}`,
      };
      for (const e of plan.endpoints) {
        e.sandbox = sb.id;
        e.netns = sb.netns;
      }
      const resolver = plan.endpoints
        .map((e) => this.networks.get(e.network) as NetworkRecord)
        .find((n) => !n.defaultBridge);
      const steps: NetStep[] = [
        ...sandboxSteps(this.ctx(), sb),
        ...plan.endpoints.flatMap((e) =>
          endpointSteps(
            this.ctx(),
            e,
            this.networks.get(e.network) as NetworkRecord,
            this.resolvers.has(e.network),
          ),
        ),
        ...fileSteps([
          {
            path: files.hosts,
            content: hostsFile(
              extra,
              plan.endpoints.map((e) => e.ip),
              net.hostname,
              net.domainname,
            ),
          },
          { path: files.hostname, content: hostnameFile(net.hostname) },
          {
            path: files.resolv,
            content: containerResolvConf(hostResolv, dns, resolver?.ipam?.gateway ?? null),
          },
        ]),
      ];
      this.sandboxes.set(info.id, sb);
      this.run(`sandboxUp ${info.name}`, steps, (r) => {
        for (const e of plan.endpoints) this.markBusy(e.network, -1);
        if (!r.ok) {
          this.sandboxes.delete(info.id);
          for (const e of plan.endpoints) this.dropEndpoint(e);
          return done({ ok: false, error: { code: r.error.code, message: r.message } });
        }
        done({ ok: true, value: spec(sb.netns) });
      });
    });
  }

  /**
   * Endpoints for `wishes` (decided and reserved at once: addresses, ports, names). `first`: the
   * container's first interface index; the default route and the published ports go to the
   * first endpoint with external connectivity, unless the sandbox has one (`hasGateway`).
   */
  private planEndpoints(
    info: ContainerNetInfo,
    wishes: readonly EndpointWish[],
    hasGateway: string | null,
    first: number,
  ): { endpoints: EndpointRecord[] } {
    const f = this.facts;
    const out: EndpointRecord[] = [];
    let gatewayTaken = hasGateway !== null;
    try {
      for (const [i, w] of wishes.entries()) {
        const n = this.findNetwork(w.network);
        if (this.removing.has(n.id)) throw new ApiError(404, `network ${w.network} not found`);
        if (n.driver !== 'bridge' || !n.ipam)
          throw new ApiError(
            400,
            'container cannot be connected to multiple networks with one of the networks in private (none) mode',
          );
        const subnet = parseCidr(n.ipam.subnet)!.net;
        const used = this.used.get(n.id) as Set<number>;
        let ip: number;
        if (w.ipv4) {
          refuseUserIpUnlessConfigured(n);
          const want = parseIp(w.ipv4);
          if (want === null || !contains(subnet, want) || used.has(want))
            throw new ApiError(403, 'Address already in use');
          ip = want;
        } else {
          const range = n.ipam.ipRange ? parseCidr(n.ipam.ipRange)!.net : null;
          const got = nextAddress(subnet, range, used, null);
          if (got === null)
            throw new ApiError(
              500,
              `no available IPv4 addresses on this network's address pools: ${n.name} (${n.id})`,
            );
          ip = got;
        }
        const id = this.host.newId();
        const takesGateway = !gatewayTaken && !n.internal;
        if (takesGateway) gatewayTaken = true;
        let ports: EndpointRecord['ports'] = [];
        if (takesGateway) {
          const wishesP = bindingWishes(
            info.net.portBindings,
            info.net.exposed,
            info.net.publishAll,
            n.hostBindingIp,
          );
          if ('error' in wishesP) throw new ApiError(400, wishesP.error);
          const given = allocatePorts(this.ports, wishesP, f.portRange, f.ipv6);
          if ('error' in given)
            throw new ApiError(
              500,
              `driver failed programming external connectivity on endpoint ${info.name} (${id}): ${given.error}`,
            );
          // Taken back below with the endpoint (addEndpoint reserves them again).
          for (const p of given) releasePort(this.ports, p);
          ports = given;
        }
        const short = info.id.slice(0, 12);
        const user = !n.defaultBridge;
        const aliases = user
          ? [
              ...w.aliases,
              short,
              ...(info.net.hostname !== info.name && info.net.hostname !== short
                ? [info.net.hostname]
                : []),
            ]
          : null;
        const names = user ? [...new Set([info.name, ...w.aliases, short, info.net.hostname])] : [];
        const e: EndpointRecord = {
          id,
          network: n.id,
          container: info.id,
          name: info.name,
          sandbox: '',
          netns: '',
          hostIf: `veth${this.host.newHex(7)}`,
          ifName: `eth${first + i}`,
          ip: formatIp(ip),
          prefixLen: subnet.bits,
          mac: macOf(ip),
          gateway: takesGateway ? (n.ipam.defaultGateway ?? n.ipam.gateway) : null,
          aliases: w.aliases.length > 0 || user ? aliases : null,
          dnsNames: names.flatMap((x) => [
            x.toLowerCase(),
            `${x.toLowerCase()}.${n.name.toLowerCase()}`,
          ]),
          staticIp: w.ipv4,
          ports,
        };
        this.addEndpoint(e);
        this.markBusy(n.id, 1);
        out.push(e);
      }
    } catch (err) {
      for (const e of out) {
        this.dropEndpoint(e);
        this.markBusy(e.network, -1);
      }
      throw err;
    }
    return { endpoints: out };
  }

  /** `net.sandboxDown`: endpoints then namespace released (at the container's exit or removal). */
  sandboxDown(containerId: string, done: Done<null>): void {
    this.serial(containerId, (next) => {
      const sb = this.sandboxes.get(containerId);
      if (!sb) {
        next();
        return done({ ok: true, value: null });
      }
      const eps = this.endpointsOf(containerId).reverse();
      const steps = [
        ...eps.flatMap((e) =>
          endpointReleaseSteps(
            this.ctx(),
            e,
            this.networks.get(e.network) ?? null,
            this.resolvers.has(e.network),
          ),
        ),
        ...sandboxReleaseSteps(this.ctx(), sb),
      ];
      for (const e of eps) this.markBusy(e.network, 1);
      this.run(`sandboxDown ${eps[0]?.name ?? containerId.slice(0, 12)}`, steps, () => {
        for (const e of eps) {
          this.markBusy(e.network, -1);
          this.dropEndpoint(e);
        }
        this.sandboxes.delete(containerId);
        next();
        done({ ok: true, value: null });
      });
    });
  }

  // ---- connect and disconnect ----------------------------------------------------------------

  private containerOr404(ref: string): ContainerNetInfo {
    const c = this.host.container(ref);
    if (!c) throw new ApiError(404, `No such container: ${ref}`);
    return c;
  }

  private hostsSteps(info: ContainerNetInfo, ips: string[]): NetStep[] {
    const extra = info.net.extraHosts.map((h) => ({
      name: h.slice(0, h.indexOf(':')),
      ip: h.slice(h.indexOf(':') + 1),
    }));
    return fileSteps([
      {
        path: `${info.dir}/hosts`,
        content: hostsFile(extra, ips, info.net.hostname, info.net.domainname),
      },
    ]);
  }

  private attachmentStep(id: string, endpoints: EndpointWish[]): NetStep {
    return {
      what: `networks of ${id.slice(0, 12)}`,
      request: {
        effect: 'net.dbPut',
        dir: this.facts.dbDir,
        records: [{ kind: 'attachment', record: { id, endpoints } }],
      },
    };
  }

  /** `POST /networks/{id}/connect`. */
  connect(
    netRef: string,
    containerRef: string,
    cfg: { aliases: string[]; ipv4: string | null },
    done: Done<null>,
  ): void {
    const n = this.findNetwork(netRef, 'on name');
    const info = this.containerOr404(containerRef);
    const mode = info.net.mode;
    if (mode === 'host' || n.driver === 'host')
      throw new ApiError(
        400,
        'container cannot be disconnected from host network or connected to host network',
      );
    if (mode.startsWith('container:'))
      throw new ApiError(
        400,
        'Container sharing network namespace with another container or host cannot be connected to any other network',
      );
    const wishes = this.wishesOf(info.id, info.net);
    if (mode === 'none' || n.driver === 'null')
      throw new ApiError(
        400,
        'container cannot be connected to multiple networks with one of the networks in private (none) mode',
      );
    if (cfg.ipv4 !== null) refuseUserIpUnlessConfigured(n);
    const joined = (w: EndpointWish): boolean => {
      try {
        return this.findNetwork(w.network).id === n.id;
      } catch {
        return false;
      }
    };
    if (wishes.some(joined) || this.endpointsOf(info.id).some((e) => e.network === n.id))
      throw new ApiError(
        403,
        `endpoint with name ${info.name} already exists in network ${n.name}`,
      );
    const wish: EndpointWish = { network: n.name, aliases: cfg.aliases, ipv4: cfg.ipv4 };
    const next = [...wishes, wish];
    this.serial(info.id, (release) => {
      const finish: Done<null> = (r) => {
        release();
        done(r);
      };
      const sb = this.sandboxes.get(info.id);
      if (!info.running || !sb) {
        this.attachments.set(info.id, { id: info.id, endpoints: next });
        return this.run(
          `connect ${info.name} ${n.name}`,
          [this.attachmentStep(info.id, next)],
          (o) =>
            finish(
              o.ok
                ? { ok: true, value: null }
                : { ok: false, error: { code: o.error.code, message: o.message } },
            ),
        );
      }
      let plan: { endpoints: EndpointRecord[] };
      try {
        const current = this.endpointsOf(info.id);
        plan = this.planEndpoints(
          info,
          [wish],
          current.find((e) => e.gateway !== null)?.id ?? null,
          current.length,
        );
      } catch (err) {
        release();
        throw err;
      }
      const e = plan.endpoints[0] as EndpointRecord;
      e.sandbox = sb.id;
      e.netns = sb.netns;
      const ips = [...this.endpointsOf(info.id).map((x) => x.ip)];
      const steps = [
        this.attachmentStep(info.id, next),
        ...endpointSteps(this.ctx(), e, n, this.resolvers.has(n.id)),
        ...this.hostsSteps(info, ips),
      ];
      this.run(`connect ${info.name} ${n.name}`, steps, (o) => {
        this.markBusy(n.id, -1);
        if (!o.ok) {
          this.dropEndpoint(e);
          return finish({ ok: false, error: { code: o.error.code, message: o.message } });
        }
        this.attachments.set(info.id, { id: info.id, endpoints: next });
        finish({ ok: true, value: null });
      });
    });
  }

  /** `POST /networks/{id}/disconnect`. */
  disconnect(netRef: string, containerRef: string, done: Done<null>): void {
    const n = this.findNetwork(netRef, 'on name');
    const info = this.containerOr404(containerRef);
    if (info.net.mode === 'host' || n.driver === 'host')
      throw new ApiError(
        400,
        'container cannot be disconnected from host network or connected to host network',
      );
    const wishes = this.wishesOf(info.id, info.net);
    const keep = wishes.filter((w) => {
      try {
        return this.findNetwork(w.network).id !== n.id;
      } catch {
        return true;
      }
    });
    const ep = this.endpointsOf(info.id).find((e) => e.network === n.id);
    // dockerd answers this with 500 (an unclassified error, in every release), and clients
    // are written against that status: statedock gives the same status and words.
    if (keep.length === wishes.length && !ep)
      throw new ApiError(500, `container ${info.id} is not connected to network ${n.name}`);
    this.serial(info.id, (release) => {
      const finish: Done<null> = (r) => {
        release();
        done(r);
      };
      const steps: NetStep[] = [this.attachmentStep(info.id, keep)];
      if (ep) {
        steps.push(...endpointReleaseSteps(this.ctx(), ep, n, this.resolvers.has(n.id)));
        steps.push(
          ...this.hostsSteps(
            info,
            this.endpointsOf(info.id)
              .filter((x) => x.id !== ep.id)
              .map((x) => x.ip),
          ),
        );
        this.markBusy(n.id, 1);
      }
      this.attachments.set(info.id, { id: info.id, endpoints: keep });
      this.run(`disconnect ${info.name} ${n.name}`, steps, () => {
        if (ep) {
          this.markBusy(n.id, -1);
          this.dropEndpoint(ep);
        }
        finish({ ok: true, value: null });
      });
    });
  }

  /** The container's attachments go with it (its removal). */
  forgetContainer(id: string, done: Done<null>): void {
    if (!this.attachments.has(id)) return done({ ok: true, value: null });
    this.attachments.delete(id);
    this.run(
      `forget ${id.slice(0, 12)}`,
      [
        {
          what: 'forget its networks',
          request: {
            effect: 'net.dbDelete',
            dir: this.facts.dbDir,
            keys: [{ kind: 'attachment', id }],
          },
          bestEffort: true,
        },
      ],
      () => done({ ok: true, value: null }),
    );
  }

  /** Ports given out now (for tests and the invariants). */
  portTable(): PortTable {
    return this.ports;
  }
}

import { assertNever } from '../errors.ts';
import { SimFailure } from '../sim/failure.ts';
import { copyPlain } from '../sim/plain-copy.ts';
import type {
  AttachmentRecord,
  EndpointRecord,
  NetworkRecord,
  SandboxRecord,
} from '../../machines/network/model.ts';
import type { HostLink, NetRecordKind, NetRequest, NetResults, ProxySpec } from './requests.ts';
import type { NetworkView } from '../../machines/container/invariants.ts';
import { ruleAddressesOf } from './rule-addresses.ts';

interface SimLink {
  kind: 'bridge' | 'veth' | 'other';
  master: string | null;
  addresses: string[];
  up: boolean;
}

/** The host's networking as the simulator sees it: what a restart, a crash or a reboot leaves. */
export interface SimNetOptions {
  /** Links the host already has (e.g. a bridge made for `-b`), with their addresses. */
  links?: Record<string, { kind?: 'bridge' | 'other'; addresses?: string[] }>;
  /** `proto ip port` held by host processes: a proxy binding them fails as a listen would. */
  busyPorts?: string[];
  hostname?: string;
}

/**
 * Container networking on the simulated host: links and addresses, namespace files, the
 * iptables chains and rules (as iptables-save lines), the FORWARD policy, the userland proxies
 * and resolvers (which die with the daemon process), and the network database (on disk: it
 * survives everything). Same outcomes, and same error codes, as the real handler.
 */
export class SimNet {
  readonly links = new Map<string, SimLink>();
  readonly netns = new Set<string>();
  /** `table chain` → rules (args), in order; the built-in chains always exist. */
  readonly chains = new Map<string, string[]>();
  forwardPolicy: 'ACCEPT' | 'DROP' = 'ACCEPT';
  readonly proxies = new Set<string>();
  readonly resolvers = new Map<string, { address: string; names: Map<string, string[]> }>();
  readonly db = new Map<
    string,
    Map<string, NetworkRecord | SandboxRecord | EndpointRecord | AttachmentRecord>
  >();
  private readonly busyPorts: Set<string>;
  private readonly hostname: string;

  constructor(o: SimNetOptions = {}) {
    this.links.set('lo', { kind: 'other', master: null, addresses: ['127.0.0.1/8'], up: true });
    this.links.set('eth0', { kind: 'other', master: null, addresses: ['192.0.2.2/24'], up: true });
    for (const [name, l] of Object.entries(o.links ?? {}))
      this.links.set(name, {
        kind: l.kind ?? 'bridge',
        master: null,
        addresses: [...(l.addresses ?? [])],
        up: true,
      });
    for (const c of [
      'filter INPUT',
      'filter FORWARD',
      'filter OUTPUT',
      'nat PREROUTING',
      'nat INPUT',
      'nat OUTPUT',
      'nat POSTROUTING',
    ])
      this.chains.set(c, []);
    this.busyPorts = new Set(o.busyPorts ?? []);
    this.hostname = o.hostname ?? 'sim';
  }

  /** The daemon process died: what lived in it (proxies, resolvers) is gone. */
  processDied(): void {
    this.proxies.clear();
    this.resolvers.clear();
  }

  /** The host went down: the kernel's state is gone; the database on disk stays. */
  rebooted(): void {
    this.processDied();
    for (const [name, l] of [...this.links])
      if (l.kind === 'veth' || (l.kind === 'bridge' && !this.preexisting.has(name)))
        this.links.delete(name);
    this.netns.clear();
    for (const k of [...this.chains.keys()]) {
      if (/ (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING)$/.test(k)) this.chains.set(k, []);
      else this.chains.delete(k);
    }
    this.forwardPolicy = 'ACCEPT';
  }

  private readonly preexisting = new Set<string>();

  /** Marks the current links as the host's own (a reboot brings them back). */
  markPreexisting(): void {
    for (const n of this.links.keys()) this.preexisting.add(n);
  }

  /**
   * The daemon's networking as the restore invariants read it (what `net.observe` reports);
   * without `req`, everything the host has (a simulated host runs one daemon).
   */
  view(req?: { dir: string; execRoot: string; tag: string | null }): NetworkView {
    const records =
      req === undefined ? [...this.db.values()].flatMap((m) => [...m]) : [...this.records(req.dir)];
    const ofKind = <T>(kind: string): T[] =>
      records.filter(([k]) => k.startsWith(`${kind}/`)).map(([, r]) => r as T);
    const bridges = new Set(
      ofKind<NetworkRecord>('network').flatMap((n) => (n.bridge ? [n.bridge] : [])),
    );
    const chainPrefix = req === undefined ? 'SD-' : req.tag === null ? null : `SD-${req.tag}`;
    const rules: string[] = [];
    if (chainPrefix !== null)
      for (const [k, rs] of this.chains)
        if (k.split(' ')[1]?.startsWith(chainPrefix) === true) rules.push(...rs);
    const nsDir = req === undefined ? '' : `${req.execRoot}/netns/`;
    return {
      endpoints: ofKind<EndpointRecord>('endpoint').map((e) => ({
        container: e.container,
        hostIf: e.hostIf,
        ip: e.ip,
      })),
      sandboxes: ofKind<SandboxRecord>('sandbox').map((x) => ({
        container: x.container,
        netns: x.netns,
      })),
      veths: [...this.links]
        .filter(
          ([, l]) =>
            l.kind === 'veth' && l.master !== null && (req === undefined || bridges.has(l.master)),
        )
        .map(([n]) => n),
      netns: [...this.netns].filter((p) => p.startsWith(nsDir)),
      ruleAddresses: ruleAddressesOf(rules),
    };
  }

  private records(
    dir: string,
  ): Map<string, NetworkRecord | SandboxRecord | EndpointRecord | AttachmentRecord> {
    let m = this.db.get(dir);
    if (!m)
      this.db.set(
        dir,
        (m = new Map<string, NetworkRecord | SandboxRecord | EndpointRecord | AttachmentRecord>()),
      );
    return m;
  }

  private chain(table: string, name: string): string[] {
    const c = this.chains.get(`${table} ${name}`);
    if (!c)
      throw new SimFailure(
        'ENOENT',
        `iptables-restore: line 2 failed: Couldn't load target \`${name}':No such file or directory`,
      );
    return c;
  }

  private proxyKey(p: ProxySpec): string {
    return `${p.proto} ${p.hostIp} ${p.hostPort}`;
  }

  run(req: NetRequest): unknown {
    switch (req.effect) {
      case 'net.hostFacts':
        return {
          routes: [...this.links].flatMap(([dev, l]) =>
            l.up ? l.addresses.map((a) => ({ dst: a, scope: 'link', dev })) : [],
          ),
          links: [...this.links].map(([name, l]): HostLink => ({
            name,
            kind: l.kind === 'other' ? null : l.kind,
            master: l.master,
            addresses: [...l.addresses],
          })),
          portRange: [32768, 60999],
          ipv6: true,
          hostname: this.hostname,
        } satisfies NetResults['net.hostFacts'];
      case 'net.createBridge':
        if (this.links.has(req.name))
          throw new SimFailure('EEXIST', 'ip link: RTNETLINK answers: File exists');
        this.links.set(req.name, { kind: 'bridge', master: null, addresses: [], up: false });
        return {};
      case 'net.deleteLinks': {
        const deleted = req.names.filter((n) => this.links.delete(n));
        for (const l of this.links.values())
          if (l.master !== null && req.names.includes(l.master)) l.master = null;
        return { deleted };
      }
      case 'net.addAddress': {
        const l = this.links.get(req.dev);
        if (!l) throw new SimFailure('ENOENT', `ip addr: Cannot find device "${req.dev}"`);
        if (l.addresses.includes(req.cidr))
          throw new SimFailure('EEXIST', 'ip addr: RTNETLINK answers: File exists');
        l.addresses.push(req.cidr);
        return {};
      }
      case 'net.delAddress': {
        const l = this.links.get(req.dev);
        if (l) l.addresses = l.addresses.filter((a) => a !== req.cidr);
        return {};
      }
      case 'net.setLinkUp': {
        const l = this.links.get(req.name);
        if (!l) throw new SimFailure('ENOENT', `ip link: Cannot find device "${req.name}"`);
        l.up = true;
        return {};
      }
      case 'net.setForwardPolicy': {
        const previous = this.forwardPolicy;
        this.forwardPolicy = req.policy;
        return { previous };
      }
      case 'net.syncChains': {
        for (const c of req.ensure)
          if (!this.chains.has(`${c.table} ${c.chain}`))
            this.chains.set(`${c.table} ${c.chain}`, []);
        for (const c of req.chains) this.chains.set(`${c.table} ${c.chain}`, []);
        for (const r of req.ensureRules) {
          const c = this.chain(r.table, r.chain);
          if (!c.includes(r.args)) c.push(r.args);
        }
        for (const r of req.rules) this.chain(r.table, r.chain).push(r.args);
        for (const j of req.jumps) {
          const c = this.chain(j.table, j.chain);
          if (!c.includes(j.args)) c.unshift(j.args);
        }
        return {};
      }
      case 'net.removeChains':
        for (const j of req.jumps) {
          const c = this.chains.get(`${j.table} ${j.chain}`);
          if (c && c.includes(j.args)) c.splice(c.indexOf(j.args), 1);
        }
        for (const c of req.chains) this.chains.delete(`${c.table} ${c.chain}`);
        return {};
      case 'net.addRules': {
        for (const r of req.rules) this.chain(r.table, r.chain);
        for (const r of req.rules) {
          const c = this.chain(r.table, r.chain);
          if (r.position === null) c.push(r.args);
          else c.splice(Math.min(r.position - 1, c.length), 0, r.args);
        }
        return {};
      }
      case 'net.deleteRules':
        for (const r of req.rules) {
          const c = this.chains.get(`${r.table} ${r.chain}`);
          if (c && c.includes(r.args)) c.splice(c.indexOf(r.args), 1);
        }
        return {};
      case 'net.createNetns':
        if (this.netns.has(req.path))
          throw new SimFailure('EBUSY', `unshare: mount ${req.path} failed: Resource busy`);
        this.netns.add(req.path);
        return {};
      case 'net.deleteNetns':
        return { deleted: req.paths.filter((p) => this.netns.delete(p)) };
      case 'net.createEndpoint': {
        if (this.links.has(req.hostIf))
          throw new SimFailure('EEXIST', 'ip -batch: RTNETLINK answers: File exists');
        if (!this.netns.has(req.netns))
          throw new SimFailure('ENOENT', `ip -batch: Invalid "netns" value "${req.netns}"`);
        if (this.links.get(req.bridge)?.kind !== 'bridge')
          throw new SimFailure('ENOENT', `ip -batch: Cannot find device "${req.bridge}"`);
        this.links.set(req.hostIf, { kind: 'veth', master: req.bridge, addresses: [], up: true });
        return {};
      }
      case 'net.startProxies': {
        // All or nothing, as the real handler: a refused binding leaves none of the request's.
        for (const p of req.proxies) {
          const any = (ip: string): boolean => ip === '0.0.0.0' || ip === '::';
          const held = [...this.busyPorts].some((b) => {
            const [proto, ip, port] = b.split(' ');
            return (
              proto === p.proto &&
              Number(port) === p.hostPort &&
              (ip === p.hostIp || any(ip ?? '') || any(p.hostIp))
            );
          });
          if (held) {
            const six = p.hostIp.includes(':');
            const where = six ? `[${p.hostIp}]:${p.hostPort}` : `${p.hostIp}:${p.hostPort}`;
            throw new SimFailure(
              'EBUSY',
              `Error starting userland proxy: listen ${p.proto}${six ? '6' : '4'} ${where}: bind: address already in use`,
            );
          }
        }
        for (const p of req.proxies) this.proxies.add(this.proxyKey(p));
        return {};
      }
      case 'net.stopProxies':
        for (const p of req.proxies) this.proxies.delete(this.proxyKey(p));
        return {};
      case 'net.startResolvers':
        for (const r of req.resolvers)
          this.resolvers.set(r.network, {
            address: r.address,
            names: new Map(r.records.map((x) => [x.endpoint, x.names])),
          });
        return {};
      case 'net.stopResolvers':
        for (const n of req.networks) this.resolvers.delete(n);
        return {};
      case 'net.ensureBridges': {
        const created: string[] = [];
        const addressed: NetResults['net.ensureBridges']['addressed'] = [];
        for (const b of req.bridges) {
          let l = this.links.get(b.name);
          if (!l) {
            l = { kind: 'bridge', master: null, addresses: [], up: false };
            this.links.set(b.name, l);
            created.push(b.name);
          }
          if (b.cidr !== null && !l.addresses.includes(b.cidr)) {
            l.addresses.push(b.cidr);
            addressed.push({ dev: b.name, cidr: b.cidr, network: b.network });
          }
          l.up = true;
        }
        return { created, addressed };
      }
      case 'net.registerNames':
        this.resolvers.get(req.network)?.names.set(req.endpoint, req.names);
        return {};
      case 'net.unregisterNames':
        this.resolvers.get(req.network)?.names.delete(req.endpoint);
        return {};
      case 'net.dbLoad': {
        const out: NetResults['net.dbLoad'] = {
          networks: [],
          sandboxes: [],
          endpoints: [],
          attachments: [],
        };
        const sorted = [...this.records(req.dir)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        for (const [key, rec] of sorted) {
          const kind = key.slice(0, key.indexOf('/')) as NetRecordKind;
          if (kind === 'network') out.networks.push(copyPlain(rec as NetworkRecord));
          else if (kind === 'sandbox') out.sandboxes.push(copyPlain(rec as SandboxRecord));
          else if (kind === 'attachment') out.attachments.push(copyPlain(rec as AttachmentRecord));
          else out.endpoints.push(copyPlain(rec as EndpointRecord));
        }
        return out;
      }
      case 'net.dbPut':
        for (const { kind, record } of req.records)
          this.records(req.dir).set(`${kind}/${record.id}`, copyPlain(record));
        return {};
      case 'net.dbDelete':
        for (const k of req.keys) this.records(req.dir).delete(`${k.kind}/${k.id}`);
        return {};
      // The simulated daemon's network controller answers these (src/sim/daemon.ts); a container
      // machine simulated alone (src/sim/containers.ts) has none, and runs as `--network none`.
      case 'net.sandboxUp':
        return {
          netns: null,
          hostNetwork: false,
          hostsPath: null,
          hostnamePath: null,
          resolvConfPath: null,
          hostname: req.container.slice(0, 12),
        };
      case 'net.sandboxDown':
        return {};
      case 'net.observe':
        return this.view(req);
      default:
        return assertNever(req, 'net request');
    }
  }
}

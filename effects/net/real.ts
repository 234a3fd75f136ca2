import { execFile } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { assertNever, type EffectErrorCode } from '../errors.ts';
import { EffectFailure, type Handler } from '../handler.ts';
import { listenErrorText, startTcpProxy, startUdpProxy, type RunningProxy } from './proxy.ts';
import { NetworkResolver } from './resolver.ts';
import type { HostLink, NetRequest, NetResults, PositionedRule, ProxySpec } from './requests.ts';
import type { Rule } from '../../machines/network/rules.ts';
import type { NetworkView } from '../../machines/container/invariants.ts';
import { ruleAddressesOf } from './rule-addresses.ts';

/**
 * Container networking on the real host: iproute2 (`ip -batch`, `nsenter` into a sandbox),
 * iptables-restore (Debian's iptables, nf_tables backend) in one atomic batch per request,
 * util-linux `unshare` for namespaces bind-mounted where dockerd keeps them, and the userland
 * proxies and resolvers in the daemon's own process. Errors map once, here, to the closed set.
 */

function exec(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const text = (stderr || err.message).trim().split('\n').slice(-3).join('; ');
        reject(
          new EffectFailure(
            codeOf(text, err as NodeJS.ErrnoException),
            `${cmd} ${args[0] ?? ''}: ${text}`,
          ),
        );
      },
    );
    child.stdin?.on('error', () => undefined);
    if (input !== undefined) child.stdin?.end(input);
  });
}

function codeOf(text: string, err: NodeJS.ErrnoException): EffectErrorCode {
  if (err.code === 'ENOENT') return 'ENOENT';
  if (/File exists/.test(text)) return 'EEXIST';
  if (/Cannot find device|does not exist|No such file|No chain\/target\/match/.test(text))
    return 'ENOENT';
  if (/Operation not permitted|Permission denied/.test(text)) return 'EPERM';
  if (/Invalid argument|invalid/i.test(text)) return 'EINVAL';
  if (/Resource busy|in use/i.test(text)) return 'EBUSY';
  return 'EIO';
}

/** An iptables-restore script for the rules of one request, grouped by table. */
function restoreScript(lines: { table: Rule['table']; line: string }[]): string {
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const ls = lines.filter((l) => l.table === table);
    if (ls.length === 0) continue;
    out.push(`*${table}`, ...ls.map((l) => l.line), 'COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/** The rules the host has, per table: `-A CHAIN args` lines and the chains that exist. */
async function saved(): Promise<{ rules: Set<string>; chains: Set<string> }> {
  const text = await exec('iptables-save', []);
  const rules = new Set<string>();
  const chains = new Set<string>();
  let table = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(':')) chains.add(`${table} ${line.slice(1).split(' ')[0] as string}`);
    else if (line.startsWith('-A ')) rules.add(`${table} ${line.slice(3)}`);
  }
  return { rules, chains };
}

const ruleKey = (r: Rule): string => `${r.table} ${r.chain} ${r.args}`;

function addLine(r: PositionedRule): string {
  return r.position === null ? `-A ${r.chain} ${r.args}` : `-I ${r.chain} ${r.position} ${r.args}`;
}

/** A link as `ip -j -d addr show` prints it (the fields read here). */
interface IpAddrLink {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

function hostLink(l: IpAddrLink): HostLink {
  return {
    name: l.ifname,
    kind: l.linkinfo?.info_kind ?? null,
    master: l.master ?? null,
    addresses: (l.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => `${a.local}/${a.prefixlen}`),
  };
}

/** The host's links with their IPv4 addresses (`ip -j -d addr`). */
async function links(): Promise<HostLink[]> {
  return (JSON.parse(await exec('ip', ['-j', '-d', 'addr', 'show'])) as IpAddrLink[]).map(hostLink);
}

/**
 * The main routing table and the links, from one `ip -batch` (one process to fork, not two:
 * the network controller asks at every start-up). `ip -j -batch` prints one JSON array per
 * command, a line each.
 */
async function routesAndLinks(): Promise<{
  routes: { dst: string; scope?: string; dev: string }[];
  links: HostLink[];
}> {
  const out = await exec('ip', ['-j', '-d', '-batch', '-'], 'route show table main\naddr show\n');
  const [routes, addrs] = out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown[]);
  if (routes === undefined || addrs === undefined)
    throw new EffectFailure('EIO', `ip -batch: expected two answers, got: ${out.slice(0, 200)}`);
  return {
    routes: routes as { dst: string; scope?: string; dev: string }[],
    links: (addrs as IpAddrLink[]).map(hostLink),
  };
}

/**
 * The veths enslaved to `bridge`, from sysfs (its `brif` directory lists its ports): no fork
 * of ip(8). A port whose `iflink` is not its own index has a peer, as a veth does; a bridge
 * that is gone has none.
 */
function vethsOn(bridge: string): string[] {
  let ports: string[];
  try {
    ports = readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return [];
  }
  return ports.filter((port) => {
    try {
      const at = (f: string): string => readFileSync(`/sys/class/net/${port}/${f}`, 'utf8').trim();
      return at('iflink') !== at('ifindex');
    } catch {
      return false;
    }
  });
}

type RecordKind = 'network' | 'sandbox' | 'endpoint' | 'attachment';
const plural = {
  network: 'networks',
  sandbox: 'sandboxes',
  endpoint: 'endpoints',
  attachment: 'attachments',
} as const;

export class RealNet implements Handler<NetRequest> {
  private readonly proxies = new Map<string, RunningProxy>();
  private readonly resolvers = new Map<string, NetworkResolver>();

  private proxyKey(p: ProxySpec): string {
    return `${p.proto} ${p.hostIp} ${p.hostPort}`;
  }

  /** Closes what lives in this process (proxies, resolvers): the daemon is exiting. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    await Promise.all([...this.resolvers.values()].map((r) => r.close()));
    this.proxies.clear();
    this.resolvers.clear();
  }

  /** What `net.observe` reports: the database, links, namespace files and rules, read as they are. */
  private async observe(req: Extract<NetRequest, { effect: 'net.observe' }>): Promise<NetworkView> {
    const db = (await this.run({ effect: 'net.dbLoad', dir: req.dir })) as NetResults['net.dbLoad'];
    const bridges = db.networks.flatMap((n) => (n.bridge ? [n.bridge] : []));
    const rules: string[] = [];
    if (req.tag !== null) {
      const chain = `-A SD-${req.tag}`;
      for (const line of (await exec('iptables-save', [])).split('\n'))
        if (line.startsWith(chain)) rules.push(line);
    }
    const nsDir = `${req.execRoot}/netns`;
    let netns: string[] = [];
    try {
      netns = readdirSync(nsDir).map((n) => `${nsDir}/${n}`);
    } catch {
      // no namespace was ever made
    }
    return {
      endpoints: db.endpoints.map((e) => ({ container: e.container, hostIf: e.hostIf, ip: e.ip })),
      sandboxes: db.sandboxes.map((x) => ({ container: x.container, netns: x.netns })),
      veths: bridges.flatMap(vethsOn),
      netns,
      ruleAddresses: ruleAddressesOf(rules),
    };
  }

  async run(req: NetRequest): Promise<unknown> {
    switch (req.effect) {
      case 'net.hostFacts': {
        const { routes, links: ls } = await routesAndLinks();
        const range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
          .trim()
          .split(/\s+/)
          .map(Number);
        return {
          routes: routes.map((r) => ({ dst: r.dst, scope: r.scope ?? 'global', dev: r.dev })),
          links: ls,
          portRange: [range[0] ?? 49153, range[1] ?? 65535],
          ipv6:
            ls.some((l) => l.name === 'lo') &&
            readFileSync('/proc/net/if_inet6', 'utf8').includes(' lo'),
          hostname: hostname(),
        } satisfies NetResults['net.hostFacts'];
      }
      case 'net.createBridge':
        await exec('ip', [
          'link',
          'add',
          req.name,
          'address',
          req.mac,
          'mtu',
          String(req.mtu),
          'type',
          'bridge',
        ]);
        return {};
      case 'net.deleteLinks': {
        // A link that is gone (its namespace took its veth along, or it was never made) is fine.
        const names = req.names.filter((n) => existsSync(`/sys/class/net/${n}`));
        if (names.length === 1)
          await exec('ip', ['link', 'del', names[0] as string]).catch((err: unknown) => {
            if (!(err instanceof EffectFailure && err.code === 'ENOENT')) throw err;
          });
        if (names.length > 1) {
          // The kernel deletes a whole link group in one unregister (one RCU grace period, not one
          // per link): 100 stale veths go in ~0.1 s instead of ~2 s. The group number is drawn at
          // random from 2^20..2^31, so no other link on the host is in it.
          const group = 0x100000 + randomInt(0x7fefffff);
          await exec(
            'ip',
            ['-force', '-batch', '-'],
            names.map((n) => `link set ${n} group ${group}`).join('\n'),
          );
          await exec('ip', ['link', 'del', 'group', String(group)]);
        }
        return { deleted: names };
      }
      case 'net.addAddress':
        await exec('ip', ['addr', 'add', req.cidr, 'dev', req.dev]);
        return {};
      case 'net.delAddress':
        await exec('ip', ['addr', 'del', req.cidr, 'dev', req.dev]).catch((err: unknown) => {
          // Gone with its link, or removed by hand: nothing left to release.
          if (!(
            err instanceof EffectFailure &&
            (err.code === 'ENOENT' || /Cannot assign/.test(err.message))
          ))
            throw err;
        });
        return {};
      case 'net.setLinkUp':
        await exec('ip', ['link', 'set', req.name, 'up']);
        return {};
      case 'net.setForwardPolicy': {
        const text = await exec('iptables', ['-S', 'FORWARD']);
        const previous = /^-P FORWARD DROP/m.test(text) ? 'DROP' : 'ACCEPT';
        if (previous !== req.policy) await exec('iptables', ['-P', 'FORWARD', req.policy]);
        return { previous };
      }
      case 'net.syncChains': {
        const have = await saved();
        const lines: { table: Rule['table']; line: string }[] = [];
        for (const c of req.ensure)
          if (!have.chains.has(`${c.table} ${c.chain}`))
            lines.push({ table: c.table, line: `:${c.chain} - [0:0]` });
        for (const c of req.chains) lines.push({ table: c.table, line: `:${c.chain} - [0:0]` });
        for (const r of req.ensureRules)
          if (!have.rules.has(ruleKey(r)))
            lines.push({ table: r.table, line: `-A ${r.chain} ${r.args}` });
        for (const r of req.rules) lines.push({ table: r.table, line: `-A ${r.chain} ${r.args}` });
        for (const j of req.jumps)
          if (!have.rules.has(ruleKey(j)))
            lines.push({ table: j.table, line: `-I ${j.chain} 1 ${j.args}` });
        await exec('iptables-restore', ['--noflush'], restoreScript(lines));
        return {};
      }
      case 'net.removeChains': {
        const have = await saved();
        const lines: { table: Rule['table']; line: string }[] = [];
        for (const j of req.jumps)
          if (have.rules.has(ruleKey(j)))
            lines.push({ table: j.table, line: `-D ${j.chain} ${j.args}` });
        const present = req.chains.filter((c) => have.chains.has(`${c.table} ${c.chain}`));
        for (const c of present) lines.push({ table: c.table, line: `-F ${c.chain}` });
        for (const c of present) lines.push({ table: c.table, line: `-X ${c.chain}` });
        if (lines.length > 0) await exec('iptables-restore', ['--noflush'], restoreScript(lines));
        return {};
      }
      case 'net.addRules':
        if (req.rules.length > 0)
          await exec(
            'iptables-restore',
            ['--noflush'],
            restoreScript(req.rules.map((r) => ({ table: r.table, line: addLine(r) }))),
          );
        return {};
      case 'net.deleteRules': {
        if (req.rules.length === 0) return {};
        const script = (rs: Rule[]): string =>
          restoreScript(rs.map((r) => ({ table: r.table, line: `-D ${r.chain} ${r.args}` })));
        // One batch; if a rule is already gone the batch fails whole, and only those present go.
        await exec('iptables-restore', ['--noflush'], script(req.rules)).catch(async () => {
          const have = await saved();
          const present = req.rules.filter((r) => have.rules.has(ruleKey(r)));
          if (present.length > 0) await exec('iptables-restore', ['--noflush'], script(present));
        });
        return {};
      }
      case 'net.createNetns': {
        mkdirSync(dirname(req.path), { recursive: true, mode: 0o700 });
        closeSync(openSync(req.path, 'a', 0o444));
        try {
          await exec('unshare', [`--net=${req.path}`, 'ip', 'link', 'set', 'lo', 'up']);
        } catch (err) {
          rmSync(req.path, { force: true });
          throw err;
        }
        return {};
      }
      case 'net.deleteNetns': {
        const mounted = new Set(
          readFileSync('/proc/self/mountinfo', 'utf8')
            .split('\n')
            .map((l) => l.split(' ')[4] ?? ''),
        );
        const busy = req.paths.filter((p) => mounted.has(p));
        if (busy.length > 0)
          await exec('umount', busy).catch(() => exec('umount', ['-l', ...busy]));
        const deleted: string[] = [];
        for (const p of req.paths) {
          try {
            rmSync(p);
            deleted.push(p);
          } catch {
            // not there
          }
        }
        return { deleted };
      }
      case 'net.createEndpoint': {
        const mtu = String(req.mtu);
        await exec(
          'ip',
          ['-batch', '-'],
          [
            `link add ${req.hostIf} mtu ${mtu} type veth peer name ${req.ifName} mtu ${mtu} address ${req.mac} netns ${req.netns}`,
            `link set ${req.hostIf} master ${req.bridge}`,
            ...(req.hairpin ? [`link set ${req.hostIf} type bridge_slave hairpin on`] : []),
            `link set ${req.hostIf} up`,
          ].join('\n'),
        );
        try {
          await exec(
            'nsenter',
            [`--net=${req.netns}`, 'ip', '-batch', '-'],
            [
              `addr add ${req.cidr} dev ${req.ifName}`,
              `link set ${req.ifName} up`,
              ...(req.gateway ? [`route add default via ${req.gateway} dev ${req.ifName}`] : []),
            ].join('\n'),
          );
        } catch (err) {
          await exec('ip', ['link', 'del', req.hostIf]).catch(() => undefined);
          throw err;
        }
        return {};
      }
      case 'net.startProxies': {
        const started: ProxySpec[] = [];
        for (const p of req.proxies) {
          if (this.proxies.has(this.proxyKey(p))) continue;
          try {
            const running = p.proto === 'udp' ? await startUdpProxy(p) : await startTcpProxy(p);
            this.proxies.set(this.proxyKey(p), running);
            started.push(p);
          } catch (err) {
            // All or nothing: the ones this request started are stopped again.
            for (const s of started) await this.proxies.get(this.proxyKey(s))?.close();
            for (const s of started) this.proxies.delete(this.proxyKey(s));
            const e = err as NodeJS.ErrnoException;
            throw new EffectFailure(
              e.code === 'EADDRINUSE' ? 'EBUSY' : e.code === 'EACCES' ? 'EACCES' : 'EINVAL',
              `Error starting userland proxy: ${listenErrorText(p, e)}`,
            );
          }
        }
        return {};
      }
      case 'net.stopProxies':
        for (const p of req.proxies) {
          const running = this.proxies.get(this.proxyKey(p));
          this.proxies.delete(this.proxyKey(p));
          await running?.close();
        }
        return {};
      case 'net.startResolvers': {
        const started: string[] = [];
        for (const spec of req.resolvers) {
          const old = this.resolvers.get(spec.network);
          this.resolvers.delete(spec.network);
          await old?.close();
          const r = new NetworkResolver(spec);
          try {
            await r.listen();
          } catch (err) {
            for (const n of started) await this.resolvers.get(n)?.close();
            for (const n of started) this.resolvers.delete(n);
            const e = err as NodeJS.ErrnoException;
            throw new EffectFailure(
              e.code === 'EADDRINUSE' ? 'EBUSY' : 'EINVAL',
              `could not start the DNS server of network ${spec.network} on ${spec.address}:53: ${e.message}`,
            );
          }
          this.resolvers.set(spec.network, r);
          started.push(spec.network);
        }
        return {};
      }
      case 'net.stopResolvers':
        for (const n of req.networks) {
          const r = this.resolvers.get(n);
          this.resolvers.delete(n);
          await r?.close();
        }
        return {};
      case 'net.ensureBridges': {
        const have = new Map((await links()).map((l) => [l.name, l]));
        const created: string[] = [];
        const addressed: NetResults['net.ensureBridges']['addressed'] = [];
        try {
          for (const b of req.bridges) {
            if (!have.has(b.name)) {
              await exec('ip', [
                'link',
                'add',
                b.name,
                'address',
                b.mac,
                'mtu',
                String(b.mtu),
                'type',
                'bridge',
              ]);
              created.push(b.name);
            }
            if (b.cidr !== null && !(have.get(b.name)?.addresses ?? []).includes(b.cidr)) {
              await exec('ip', ['addr', 'add', b.cidr, 'dev', b.name]);
              addressed.push({ dev: b.name, cidr: b.cidr, network: b.network });
            }
            await exec('ip', ['link', 'set', b.name, 'up']);
          }
        } catch (err) {
          // All or nothing: what this request made is taken back.
          for (const a of addressed)
            await exec('ip', ['addr', 'del', a.cidr, 'dev', a.dev]).catch(() => undefined);
          for (const n of created) await exec('ip', ['link', 'del', n]).catch(() => undefined);
          throw err;
        }
        return { created, addressed };
      }
      case 'net.registerNames':
        this.resolvers.get(req.network)?.register(req.endpoint, req.names, req.ip);
        return {};
      case 'net.unregisterNames':
        this.resolvers.get(req.network)?.unregister(req.endpoint);
        return {};
      case 'net.dbLoad': {
        const out: NetResults['net.dbLoad'] = {
          networks: [],
          sandboxes: [],
          endpoints: [],
          attachments: [],
        };
        let names: string[] = [];
        try {
          names = readdirSync(req.dir).sort();
        } catch {
          return out;
        }
        for (const n of names) {
          const m = /^(network|sandbox|endpoint|attachment)\.([0-9a-f]+)\.json$/.exec(n);
          if (!m) continue;
          try {
            const rec = JSON.parse(readFileSync(`${req.dir}/${n}`, 'utf8')) as never;
            (out[plural[m[1] as RecordKind]] as unknown[]).push(rec);
          } catch {
            // a torn write from a crash: the record was never acknowledged (writes are atomic renames)
          }
        }
        return out;
      }
      case 'net.dbPut':
        for (const { kind, record } of req.records) {
          const path = `${req.dir}/${kind}.${record.id}.json`;
          // Written whole, then renamed: a crash leaves the old record or the new one, never half.
          writeFileSync(`${path}.tmp`, JSON.stringify(record), { mode: 0o600 });
          renameSync(`${path}.tmp`, path);
        }
        return {};
      case 'net.dbDelete':
        for (const k of req.keys) rmSync(`${req.dir}/${k.kind}.${k.id}.json`, { force: true });
        return {};
      case 'net.observe':
        return this.observe(req);
      case 'net.sandboxUp':
      case 'net.sandboxDown':
        throw new EffectFailure(
          'ENOTSUP',
          `${req.effect}: the network controller answers it, not the host`,
        );
      default:
        return assertNever(req, 'net request');
    }
  }
}

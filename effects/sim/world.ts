import type { ContainerdTaskFact } from '../containerd/requests.ts';
import { assertNever, type EffectError, type EffectErrorCode } from '../errors.ts';
import { SimFs, SimFsError, type SimNode } from '../fs/sim.ts';
import type { EffectCall, EffectOutcome } from '../requests.ts';
import { storedView, type HostView } from '../../machines/container/invariants.ts';
import type { ContainerRecord } from '../../machines/container/types.ts';
import { FaultInjector, type FaultRule } from './faults.ts';
import { Random } from './random.ts';
import type { SimEffects } from './scheduler.ts';
import { SimNet, SimNetError, type SimNetOptions } from '../net/sim.ts';

/** What the simulated host is like. Every field has the default of a healthy Debian 12 host. */
export interface SimHost {
  kernelRelease?: string;
  euid?: number;
  devicesCgroup?: boolean;
  cgroupVersion?: 1 | 2;
  overlay?: boolean;
  appArmor?: boolean;
  containerdBinary?: boolean;
  /** MTU of the default route's interface; null: no default route. */
  mtu?: number | null;
  /** Paths mounted read-only (writes under them fail with EROFS). */
  readOnly?: string[];
  /** Extra files (absolute path → content). */
  files?: Record<string, string>;
  /** containerd sockets of other daemons that answer `containerd.connect`. */
  externalContainerd?: string[];
  /** Tasks containerd reports to restore. */
  tasks?: ContainerdTaskFact[];
  /** A live process holds this pidfile path. */
  livePidfile?: string;
  /** API sockets held by another process. */
  busySockets?: string[];
  /** The host's networking (links it has, ports its processes hold). */
  net?: SimNetOptions;
}

export interface SimWorldOptions {
  seed: number;
  host?: SimHost;
  faults?: readonly FaultRule[];
}

/** The first daemon's pid; each later life of the daemon on the same host gets a new one. */
const firstDaemonPid = 4242;
const foreignPid = 3131;

const errnoText: Partial<Record<EffectErrorCode, string>> = {
  EIO: 'input/output error',
  ENOSPC: 'no space left on device',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  EBUSY: 'device or resource busy',
  ETIMEDOUT: 'connection timed out',
  ECONNREFUSED: 'connection refused',
  EEXIST: 'file exists',
  ENOTDIR: 'not a directory',
  EINVAL: 'invalid argument',
  EUNAVAILABLE: 'service unavailable',
  ENOTSUP: 'operation not supported',
};

function dir(mode = 0o755): SimNode {
  return { type: 'dir', mode, uid: 0, gid: 0 };
}
function file(content: string, mode = 0o644): SimNode {
  return { type: 'file', mode, uid: 0, gid: 0, content };
}

/** The host image every world starts from; copied, never changed. */
const baseImage: ReadonlyMap<string, SimNode> = new Map<string, SimNode>([
  ['/', dir()],
  ['/etc', dir()],
  [
    '/etc/passwd',
    file('root:x:0:0:root:/root:/bin/bash\ndockremap:x:999:999::/nonexistent:/bin/false\n'),
  ],
  ['/etc/group', file('root:x:0:\ndockremap:x:999:\n')],
  ['/etc/subuid', file('dockremap:100000:65536\n')],
  ['/etc/subgid', file('dockremap:100000:65536\n')],
  ['/etc/statedock', dir()],
  ['/etc/statedock/seccomp.json', file('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}')],
  ['/var', dir()],
  ['/var/lib', dir()],
  ['/var/run', dir()],
  ['/var/tmp', dir(0o1777)],
  ['/run', dir()],
  ['/tmp', dir(0o1777)],
]);

/** Latency ranges per family, virtual milliseconds. */
const latency: Record<string, [number, number]> = {
  fs: [0.02, 0.5],
  kernel: [0.01, 0.2],
  store: [0.05, 1],
  clock: [0, 0],
  api: [0.05, 0.5],
  containerd: [0.2, 2],
  net: [0.5, 5],
};

/** The latency range of an effect, by its family (looked up once per effect name). */
const latencyByEffect = new Map<string, readonly [number, number]>();
function latencyOf(effect: string): readonly [number, number] {
  let range = latencyByEffect.get(effect);
  if (range === undefined) {
    range = latency[effect.slice(0, effect.indexOf('.'))] ?? [0.01, 0.1];
    latencyByEffect.set(effect, range);
  }
  return range;
}

function failure(code: EffectErrorCode, message: string): EffectOutcome {
  return { ok: false, error: { code, message } };
}

/**
 * A simulated Linux host for the daemon: an in-memory filesystem, /proc and cgroup facts, a
 * fake containerd, a metadata store, API sockets, a virtual clock, seeded latencies, and a
 * fault plan. Deterministic: the same seed, host and plan give the same outcomes.
 * A world outlives a run: start the daemon again on it to simulate a restart.
 */
export class SimWorld implements SimEffects {
  readonly fs: SimFs;
  readonly host: Required<Omit<SimHost, 'files' | 'readOnly' | 'livePidfile' | 'net'>> & {
    livePidfile: string | null;
  };
  readonly random: Random;
  readonly env = new Map<string, string>();
  readonly sysctl = new Map<string, string>([
    ['kernel/keys/root_maxkeys', '200000'],
    ['kernel/keys/root_maxbytes', '20000000'],
    ['kernel/threads-max', '190000'],
    ['net/ipv4/ip_forward', '0'],
  ]);
  readonly processes = new Set<number>([firstDaemonPid]);
  /** The running (or last) daemon's pid. */
  daemonPid = firstDaemonPid;
  private lives = 0;
  readonly mounts: string[] = [];
  readonly stores = new Map<string, Map<string, unknown>>();
  openStore: string | null = null;
  readonly sockets = new Set<string>();
  readonly tickers = new Set<string>();
  oomScoreAdj = 0;
  dumpTrap = false;
  containerd: { pid: number; address: string } | null = null;
  /** Containers' tasks in the fake containerd, by container id. */
  readonly tasks = new Map<string, SimTask>();
  /** containerd's containers (the records a task runs from), by id: a deleted task leaves its container. */
  readonly containerdContainers = new Set<string>();
  /** How each container's process behaves once started (default: runs until signalled, honours SIGTERM). */
  readonly behaviours = new Map<string, TaskBehaviour>();
  private raised: {
    atMs: number;
    actorId: string;
    event: { type: string } & Record<string, unknown>;
  }[] = [];
  connectedTo: string | null = null;
  /** The latest virtual time the world has seen: a restarted daemon's clock goes on from here. */
  nowMs = 0;
  /** The host's networking (effects/net/sim.ts). */
  readonly net: SimNet;
  private injector: FaultInjector;
  private nextPid = 5000;

  constructor(opts: SimWorldOptions) {
    const h = opts.host ?? {};
    this.random = new Random(opts.seed);
    this.host = {
      kernelRelease: h.kernelRelease ?? '6.1.0-13-amd64',
      euid: h.euid ?? 0,
      devicesCgroup: h.devicesCgroup ?? true,
      cgroupVersion: h.cgroupVersion ?? 1,
      overlay: h.overlay ?? true,
      appArmor: h.appArmor ?? false,
      containerdBinary: h.containerdBinary ?? true,
      mtu: h.mtu === undefined ? 1500 : h.mtu,
      externalContainerd: h.externalContainerd ?? [],
      tasks: h.tasks ?? [],
      livePidfile: h.livePidfile ?? null,
      busySockets: h.busySockets ?? [],
    };
    const nodes = new Map(baseImage);
    for (const [path, content] of Object.entries(h.files ?? {})) nodes.set(path, file(content));
    this.fs = new SimFs(nodes, h.readOnly ?? []);
    if (this.host.livePidfile !== null) {
      this.processes.add(foreignPid);
      this.fs.writeFile(this.host.livePidfile, String(foreignPid), 0o644);
    }
    this.injector = new FaultInjector(opts.faults ?? []);
    this.net = new SimNet(h.net ?? {});
    this.net.markPreexisting();
  }

  /** Replaces the fault plan (a restart with other faults), counts starting afresh. */
  setFaults(faults: readonly FaultRule[]): void {
    this.injector = new FaultInjector(faults);
  }

  /**
   * The daemon process died (a crash, or a normal exit): what it held in memory is gone,
   * what is on disk stays, and containerd keeps running if it was (as a real host would).
   */
  daemonExited(): void {
    this.openStore = null;
    this.sockets.clear();
    this.tickers.clear();
    this.connectedTo = null;
    this.dumpTrap = false;
    this.processes.delete(this.daemonPid);
    this.net.processDied();
    // Exits the dead daemon's scheduler held are still to come: the next daemon hears them.
    this.raised = [];
    for (const [id, t] of this.tasks) {
      if (t.exitScheduled && t.status !== 'stopped' && t.exitedAtMs !== null) {
        this.raised.push({
          atMs: t.exitedAtMs,
          actorId: `container:${id}`,
          event: {
            type: 'containerd.taskExit',
            exitStatus: t.exitStatus,
            exitedAt: iso(t.exitedAtMs),
          },
        });
      }
    }
  }

  /**
   * The whole host lost power: the daemon, containerd, every container process and the
   * tmpfs under /run are gone; what was written to disk (files, the metadata store) stays.
   */
  hostRebooted(): void {
    this.daemonExited();
    this.raised = [];
    this.tasks.clear();
    this.containerdContainers.clear();
    this.containerd = null;
    this.processes.clear();
    this.mounts.length = 0;
    this.env.clear();
    this.net.rebooted();
    for (const tmpfs of ['/run', '/var/run'])
      for (const p of this.fs.list(tmpfs)) this.fs.removeAll(p);
  }

  /** Advances the world's clock while no daemon runs (processes go on exiting meanwhile). */
  advance(ms: number): void {
    this.nowMs += ms;
    this.settleTaskExits(this.nowMs);
  }

  /** The daemon process starts (again) on this host. */
  daemonStarted(): void {
    this.lives += 1;
    if (this.lives > 1) this.daemonPid = this.nextPid++;
    this.processes.add(this.daemonPid);
  }

  takeEvents(): {
    atMs: number;
    actorId: string;
    event: { type: string } & Record<string, unknown>;
  }[] {
    const out = this.raised;
    this.raised = [];
    return out;
  }

  /** The task's process exits at `atMs` (virtual) with `status`: containerd's /tasks/exit, to its actor. */
  private exitTask(id: string, atMs: number, status: number): void {
    const t = this.tasks.get(id);
    if (!t || t.status === 'stopped' || t.exitScheduled) return;
    t.exitScheduled = true;
    t.exitStatus = status;
    t.exitedAtMs = atMs;
    this.raised.push({
      atMs,
      actorId: `container:${id}`,
      event: { type: 'containerd.taskExit', exitStatus: status, exitedAt: iso(atMs) },
    });
  }

  /** What a time in virtual milliseconds reads like (RFC 3339, from a fixed epoch). */
  settleTaskExits(nowMs: number): void {
    for (const t of this.tasks.values())
      if (t.exitScheduled && t.status !== 'stopped' && (t.exitedAtMs ?? 0) <= nowMs)
        t.status = 'stopped';
  }

  run(call: EffectCall, nowMs: number): { outcome: EffectOutcome; latencyMs: number } {
    if (nowMs > this.nowMs) this.nowMs = nowMs;
    this.settleTaskExits(nowMs);
    const [lo, hi] = latencyOf(call.effect);
    let latencyMs = call.effect === 'clock.sleep' ? call.ms : lo + (hi - lo) * this.random.float();
    if (call.effect === 'containerd.startSupervised') latencyMs = 80 + 120 * this.random.float();
    else if (call.effect === 'containerd.createTask') latencyMs = 25 + 15 * this.random.float();
    else if (call.effect === 'containerd.deleteTask') latencyMs = 10 + 8 * this.random.float();
    else if (call.effect === 'containerd.startTask') latencyMs = 5 + 5 * this.random.float();
    const fault = this.injector.judge(call);
    latencyMs += fault.delayMs;
    if (fault.fail !== null) {
      return {
        outcome: failure(
          fault.fail,
          `${call.effect} ${describe(call)}: ${errnoText[fault.fail] ?? fault.fail} (injected)`,
        ),
        latencyMs,
      };
    }
    try {
      return { outcome: { ok: true, value: this.apply(call, nowMs) }, latencyMs };
    } catch (e) {
      if (e instanceof SimFsError || e instanceof SimEffectError || e instanceof SimNetError)
        return { outcome: failure(e.code, e.message), latencyMs };
      throw e;
    }
  }

  private apply(call: EffectCall, nowMs: number): unknown {
    switch (call.effect) {
      case 'fs.mkdirAll':
        return this.fs.mkdirAll(call.path, call.mode, call.uid ?? 0, call.gid ?? 0);
      case 'fs.chmod':
        this.fs.chmod(call.path, call.mode);
        return {};
      case 'fs.stat':
        return this.fs.stat(call.path);
      case 'fs.rename':
        this.fs.rename(call.from, call.to);
        return {};
      case 'fs.removeAll':
        this.fs.removeAll(call.path);
        return {};
      case 'fs.removeCreated':
        return this.fs.removeCreated(call.paths);
      case 'fs.realpath':
        return { path: this.fs.realpath(call.path) };
      case 'fs.readFile':
        return { content: this.fs.readFile(call.path, call.optional === true) };
      case 'fs.writeFileAtomic':
        return { created: this.fs.writeFile(call.path, call.content, call.mode) };
      case 'fs.createPidfile': {
        const content = this.fs.readFile(call.path, true);
        const pid = content === null ? NaN : Number.parseInt(content.trim(), 10);
        if (Number.isFinite(pid) && this.processes.has(pid))
          throw new SimEffectError(
            'EBUSY',
            `pid file found, ensure docker is not running or delete ${call.path}`,
          );
        this.fs.mkdirAll(call.path.slice(0, call.path.lastIndexOf('/')) || '/', 0o755);
        this.fs.writeFile(call.path, String(this.daemonPid), 0o644);
        return { pid: this.daemonPid };
      }
      case 'fs.removePidfile': {
        const content = this.fs.readFile(call.path, true);
        if (content !== String(call.pid)) return { removed: false };
        this.fs.removeCreated([call.path]);
        return { removed: true };
      }
      case 'fs.loadOrCreateTrustKey': {
        const content = this.fs.readFile(call.path, true);
        if (content !== null) {
          try {
            const kid = (JSON.parse(content) as { kid?: unknown }).kid;
            if (typeof kid === 'string') return { keyId: kid, created: false };
          } catch {
            // fall through to the error below
          }
          throw new SimEffectError(
            'EINVAL',
            `Error loading key file ${call.path}: not a valid JWK`,
          );
        }
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
        // 12 groups of 4 letters, drawn in order (the same draws as ever: the same key for a seed).
        let keyId = '';
        for (let i = 0; i < 48; i++)
          keyId += (i > 0 && i % 4 === 0 ? ':' : '') + alphabet[this.random.int(0, 31)];
        this.fs.writeFile(
          call.path,
          JSON.stringify({ kty: 'EC', crv: 'P-256', kid: keyId }),
          0o600,
        );
        return { keyId, created: true };
      }
      case 'kernel.defaultRouteMtu':
        return { mtu: this.host.mtu };
      case 'kernel.readSysctl': {
        const v = this.sysctl.get(call.key);
        if (v === undefined)
          throw new SimEffectError(
            'ENOENT',
            `open /proc/sys/${call.key}: no such file or directory`,
          );
        return { value: v };
      }
      case 'kernel.writeSysctl':
        if (this.host.euid !== 0)
          throw new SimEffectError('EACCES', `open /proc/sys/${call.key}: permission denied`);
        this.sysctl.set(call.key, call.value);
        return {};
      case 'kernel.uname':
        return {
          sysname: 'Linux',
          release: this.host.kernelRelease,
          machine: 'x86_64',
          euid: this.host.euid,
        };
      case 'kernel.setOomScoreAdj':
        if (this.host.euid !== 0 && call.score < this.oomScoreAdj)
          throw new SimEffectError(
            'EPERM',
            'write /proc/self/oom_score_adj: operation not permitted',
          );
        this.oomScoreAdj = call.score;
        return {};
      case 'kernel.setEnv': {
        const previous = this.env.get(call.name) ?? null;
        if (call.value === null) this.env.delete(call.name);
        else this.env.set(call.name, call.value);
        return { previous };
      }
      case 'kernel.cgroupInfo':
        return {
          version: this.host.cgroupVersion,
          controllers: this.host.devicesCgroup
            ? ['cpu', 'memory', 'devices', 'freezer', 'pids']
            : ['cpu', 'memory', 'freezer', 'pids'],
          devices: this.host.devicesCgroup,
        };
      case 'kernel.appArmorStatus':
        return { enabled: this.host.appArmor };
      case 'kernel.probeOverlay':
        return this.host.overlay
          ? { supported: true, reason: null }
          : {
              supported: false,
              reason: "'overlay' not found as a supported filesystem on this host",
            };
      case 'kernel.unmountUnder': {
        const under = this.mounts.filter((m) => m.startsWith(`${call.path}/`));
        for (const m of under) this.mounts.splice(this.mounts.indexOf(m), 1);
        return { unmounted: under };
      }
      case 'kernel.trapDumpSignal':
        this.dumpTrap = true;
        return {};
      case 'kernel.untrapDumpSignal':
        this.dumpTrap = false;
        return {};
      case 'kernel.systemInfo':
        return {
          ncpu: 2,
          memTotal: 24 * 1024 ** 3,
          hostname: 'sim',
          operatingSystem: 'Debian GNU/Linux 12 (bookworm)',
          runcVersion: '1.1.5',
        };
      case 'containerd.startSupervised': {
        if (!this.host.containerdBinary)
          throw new SimEffectError(
            'ENOENT',
            `exec: "${call.binary}": executable file not found in $PATH`,
          );
        if (this.containerd && this.processes.has(this.containerd.pid))
          return { ...this.containerd };
        const pid = this.nextPid++;
        this.processes.add(pid);
        this.containerd = { pid, address: `${call.execRoot}/containerd/containerd.sock` };
        return { ...this.containerd };
      }
      case 'containerd.stopSupervised':
        if (!this.processes.has(call.pid)) return { signal: 'none' };
        this.processes.delete(call.pid);
        if (this.containerd?.pid === call.pid) this.containerd = null;
        return { signal: 'SIGTERM' };
      case 'containerd.connect': {
        const ours =
          this.containerd !== null &&
          this.containerd.address === call.address &&
          this.processes.has(this.containerd.pid);
        if (!ours && !this.host.externalContainerd.includes(call.address))
          throw new SimEffectError(
            'ECONNREFUSED',
            `dial unix ${call.address}: connect: connection refused`,
          );
        this.connectedTo = call.address;
        return { version: '1.6.20~ds1', revision: '1.6.20~ds1-1+deb12u3' };
      }
      case 'containerd.close':
        this.connectedTo = null;
        return {};
      case 'containerd.listTasks':
        if (this.connectedTo === null)
          throw new SimEffectError('EUNAVAILABLE', 'containerd client is not connected');
        return {
          tasks: [
            ...this.host.tasks.map((t) => ({ ...t })),
            ...[...this.tasks]
              .filter(([id]) => !this.host.tasks.some((h) => h.id === id))
              .map(([id, t]) => ({ id, pid: t.pid, status: t.status, exitStatus: t.exitStatus })),
          ],
        };
      case 'containerd.createTask': {
        if (this.connectedTo === null)
          throw new SimEffectError('EUNAVAILABLE', 'containerd client is not connected');
        if (this.tasks.has(call.container))
          throw new SimEffectError(
            'EEXIST',
            `container "${call.container}" in namespace "statedock": already exists`,
          );
        const args = ((call.spec as { process?: { args?: string[] } }).process?.args ??
          []) as string[];
        if (args[0] === '/nonexistent')
          throw new SimEffectError(
            'EINVAL',
            `failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "${args[0]}": stat ${args[0]}: no such file or directory: unknown`,
          );
        const pid = this.nextPid++;
        this.tasks.set(call.container, {
          status: 'created',
          pid,
          exitStatus: 0,
          exitedAtMs: null,
          exitScheduled: false,
          pausedSignal: null,
        });
        this.containerdContainers.add(call.container);
        return { pid };
      }
      case 'containerd.startTask': {
        this.connected();
        const t = this.task(call.container);
        t.status = 'running';
        this.processes.add(t.pid);
        const b = this.behaviours.get(call.container);
        if (b && b.exitAfterMs !== null)
          this.exitTask(call.container, nowMs + b.exitAfterMs, b.exitCode);
        return { pid: t.pid, at: iso(nowMs) };
      }
      case 'containerd.killTask': {
        this.connected();
        const t = this.task(call.container);
        if (t.status === 'stopped' || t.exitScheduled) return {};
        if (t.status === 'paused' && call.signal !== 9) {
          t.pausedSignal = call.signal;
          return {};
        }
        const b = this.behaviours.get(call.container);
        if (call.signal === 9 || !(b?.ignoresTerm ?? false))
          this.exitTask(call.container, nowMs + 1 + this.random.float() * 5, 128 + call.signal);
        return {};
      }
      case 'containerd.pauseTask': {
        this.connected();
        const t = this.task(call.container);
        if (t.status !== 'running' || t.exitScheduled)
          throw new SimEffectError('EBUSY', `cannot pause task in state ${t.status}`);
        t.status = 'paused';
        return {};
      }
      case 'containerd.resumeTask': {
        this.connected();
        const t = this.task(call.container);
        if (t.status !== 'paused')
          throw new SimEffectError('EBUSY', `cannot resume task in state ${t.status}`);
        t.status = 'running';
        if (t.pausedSignal !== null) {
          const sig = t.pausedSignal;
          t.pausedSignal = null;
          if (!(this.behaviours.get(call.container)?.ignoresTerm ?? false))
            this.exitTask(call.container, nowMs + 1, 128 + sig);
        }
        return {};
      }
      case 'containerd.deleteTask': {
        this.connected();
        const t = this.tasks.get(call.container);
        if (!t) throw new SimEffectError('ENOENT', `task ${call.container} not found`);
        if (t.status !== 'stopped' && t.status !== 'created')
          throw new SimEffectError('EBUSY', 'cannot delete a running process');
        this.tasks.delete(call.container);
        this.processes.delete(t.pid);
        return {
          exitStatus: t.status === 'created' ? 255 : t.exitStatus,
          exitedAt: iso(t.exitedAtMs ?? nowMs),
        };
      }
      case 'containerd.deleteContainer': {
        this.connected();
        const t = this.tasks.get(call.container);
        if (t && t.status !== 'stopped' && t.status !== 'created')
          throw new SimEffectError(
            'EBUSY',
            `cannot delete container ${call.container}: its task is ${t.status}`,
          );
        this.tasks.delete(call.container);
        this.containerdContainers.delete(call.container);
        return {};
      }
      case 'containerd.spawn':
      case 'containerd.waitReady':
      case 'containerd.waitExit':
      case 'containerd.terminate':
        throw new SimEffectError(
          'ENOTSUP',
          `${call.effect}: the simulated world runs containerd as one effect (containerd.startSupervised)`,
        );
      case 'store.open': {
        if (this.openStore !== null)
          throw new SimEffectError(
            'EBUSY',
            `metadata store ${call.path} is in use by another process`,
          );
        const created = !this.stores.has(call.path);
        if (created) {
          this.fs.mkdirAll(call.path, 0o700);
          this.stores.set(call.path, new Map());
        }
        this.openStore = call.path;
        return { created };
      }
      case 'store.close':
        this.openStore = null;
        return {};
      case 'store.list': {
        const db = this.db();
        const entries = [...db.entries()]
          .filter(([k]) => k.startsWith(call.prefix))
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([key, value]) => ({ key, value }));
        return { entries };
      }
      case 'store.put':
        this.db().set(call.key, call.value);
        return {};
      case 'store.del':
        this.db().delete(call.key);
        return {};
      case 'clock.now':
        return { ms: nowMs };
      case 'clock.sleep':
        return {};
      case 'clock.startTicker':
        this.tickers.add(call.name);
        return {};
      case 'clock.stopTicker':
        this.tickers.delete(call.name);
        return {};
      case 'api.listen':
        for (const s of call.sockets) {
          if (this.host.busySockets.includes(s))
            throw new SimEffectError(
              'EBUSY',
              `address already in use: ${s}: another daemon is listening`,
            );
        }
        for (const s of call.sockets) {
          this.fs.writeFile(s, '', 0o660);
          this.sockets.add(s);
        }
        return {};
      case 'api.close': {
        const removed: string[] = [];
        for (const s of call.sockets) {
          if (this.sockets.delete(s)) {
            this.fs.removeCreated([s]);
            removed.push(s);
          }
        }
        return { removed };
      }
      case 'api.stopContainer': {
        const t = this.host.tasks.find((x) => x.id === call.container);
        if (t) t.status = 'stopped';
        return { exitCode: call.signal === 'SIGKILL' ? 137 : 143 };
      }
      case 'api.settleContainers':
        return { settled: this.host.tasks.length };
      case 'api.observeHost':
        return this.observeHost();
      case 'net.addAddress':
      case 'net.addRules':
      case 'net.createBridge':
      case 'net.createEndpoint':
      case 'net.createNetns':
      case 'net.dbDelete':
      case 'net.dbLoad':
      case 'net.dbPut':
      case 'net.delAddress':
      case 'net.deleteLinks':
      case 'net.deleteNetns':
      case 'net.deleteRules':
      case 'net.hostFacts':
      case 'net.registerNames':
      case 'net.removeChains':
      case 'net.sandboxDown':
      case 'net.sandboxUp':
      case 'net.setForwardPolicy':
      case 'net.setLinkUp':
      case 'net.startProxies':
      case 'net.startResolvers':
      case 'net.stopProxies':
      case 'net.stopResolvers':
      case 'net.ensureBridges':
      case 'net.syncChains':
      case 'net.unregisterNames':
        return this.net.run(call);
      default:
        return assertNever(call, 'effect');
    }
  }

  /** The host as the restore invariants see it (the simulator's clients keep what they were told apart). */
  observeHost(): HostView {
    this.settleTaskExits(this.nowMs);
    const db = [...this.stores.values()][0] ?? new Map<string, unknown>();
    const containers: HostView['containers'] = [];
    for (const [key, value] of db) {
      if (!key.startsWith('container/')) continue;
      containers.push(storedView(value as ContainerRecord));
    }
    return {
      containers,
      tasks: [...this.tasks].map(([id, t]) => ({ id, status: t.status })),
      containerdContainers: [...this.containerdContainers],
      acknowledged: [],
      mounted: [],
      network: this.net.view(),
    };
  }

  /** Task calls go over the client: after `containerd.close` they fail as grpc-js does on a closed channel. */
  private connected(): void {
    if (this.connectedTo === null)
      throw new SimEffectError('EUNAVAILABLE', 'grpc: the client connection is closing');
  }

  private task(id: string): SimTask {
    const t = this.tasks.get(id);
    if (!t)
      throw new SimEffectError('ENOENT', `no running task found: task ${id} not found: not found`);
    return t;
  }

  private db(): Map<string, unknown> {
    const db = this.openStore === null ? undefined : this.stores.get(this.openStore);
    if (!db) throw new SimEffectError('EUNAVAILABLE', 'metadata store is not open');
    return db;
  }
}

/** A task in the fake containerd. */
export interface SimTask {
  status: 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
  exitStatus: number;
  exitedAtMs: number | null;
  exitScheduled: boolean;
  /** A signal sent while paused, delivered on resume (as the kernel does with a frozen cgroup). */
  pausedSignal: number | null;
}

/** How a simulated container's process behaves. */
export interface TaskBehaviour {
  /** Exits on its own this long after start (null: runs until killed). */
  exitAfterMs: number | null;
  exitCode: number;
  /** PID 1 without a SIGTERM handler ignores it (containerd-facts gotcha 9). */
  ignoresTerm: boolean;
}

/** Virtual milliseconds as RFC 3339 time, from a fixed epoch (2026-01-01). */
export function iso(ms: number): string {
  return new Date(Date.UTC(2026, 0, 1) + Math.round(ms)).toISOString();
}

class SimEffectError {
  readonly code: EffectErrorCode;
  readonly message: string;
  constructor(code: EffectErrorCode, message: string) {
    this.code = code;
    this.message = message;
  }
}

function describe(call: EffectCall): string {
  const c = call as unknown as Record<string, unknown>;
  for (const k of ['path', 'from', 'address', 'key', 'name', 'prefix', 'container'])
    if (typeof c[k] === 'string') return c[k] as string;
  return '';
}

export type { EffectError };

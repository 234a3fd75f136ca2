import { SimApi } from '../api/sim.ts';
import { SimArchive } from '../archive/sim.ts';
import { SimClock } from '../clock/sim.ts';
import type { ContainerdTaskFact } from '../containerd/requests.ts';
import { SimContainerd, type RaisedEvent, type TaskBehaviour } from '../containerd/sim.ts';
import { assertNever } from '../errors.ts';
import { SimFs, SimFsEffects, type SimNode } from '../fs/sim.ts';
import { SimImages } from '../image/sim.ts';
import { SimKernel } from '../kernel/sim.ts';
import { SimNet, type SimNetOptions } from '../net/sim.ts';
import type { EffectCall, EffectOutcome, EffectFamily } from '../requests.ts';
import { familyOf, inFamily } from '../requests.ts';
import { SimRegistry } from '../registry/sim.ts';
import { SimRootfs } from '../rootfs/sim.ts';
import { SimStore } from '../store/sim.ts';
import { storedView, type HostView } from '../../machines/container/invariants.ts';
import type { ContainerRecord } from '../../machines/container/types.ts';
import { FaultInjector, type FaultRule } from './faults.ts';
import { errnoText, SimFailure } from './failure.ts';
import { SimProcesses } from './processes.ts';
import { Random } from './random.ts';
import type { Judgement, SimEffects } from './scheduler.ts';

export { iso, type SimTask, type TaskBehaviour } from '../containerd/sim.ts';

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
const latency: Record<EffectFamily, [number, number]> = {
  fs: [0.02, 0.5],
  kernel: [0.01, 0.2],
  store: [0.05, 1],
  clock: [0, 0],
  api: [0.05, 0.5],
  containerd: [0.2, 2],
  rootfs: [0.2, 3],
  registry: [1, 20],
  image: [0.5, 5],
  net: [0.5, 5],
  archive: [1, 20],
};

/** Effects slower than their family (a task's creation starts a shim and runs runc). */
const slowEffects: Partial<Record<string, [number, number]>> = {
  'containerd.startSupervised': [80, 200],
  'containerd.createTask': [25, 40],
  'containerd.deleteTask': [10, 18],
  'containerd.startTask': [5, 10],
};

/** The latency range of an effect (looked up once per effect name). */
const latencyByEffect = new Map<string, readonly [number, number]>();
function latencyOf(effect: EffectCall['effect']): readonly [number, number] {
  let range = latencyByEffect.get(effect);
  if (range === undefined) {
    range = slowEffects[effect] ?? latency[familyOf(effect)];
    latencyByEffect.set(effect, range);
  }
  return range;
}

/** An effect the dead daemon had asked for and the host was still carrying out. */
interface Orphan {
  atMs: number;
  call: EffectCall;
}

/**
 * A simulated Linux host for the daemon: one simulated handler per effect family (an
 * in-memory filesystem, the kernel's facts, containerd with its tasks, the metadata store,
 * the containers' root filesystems, the API sockets, a virtual clock), seeded latencies, and
 * a fault plan. An effect takes its latency and changes the host when it completes, as on a
 * real host. Deterministic: the same seed, host and plan give the same outcomes.
 * A world outlives a run: start the daemon again on it to simulate a restart; what the dead
 * daemon had asked and the host was still doing is finished later, or not at all.
 */
export class SimWorld implements SimEffects {
  readonly random: Random;
  readonly processes = new SimProcesses();
  readonly fs: SimFs;
  readonly fsEffects: SimFsEffects;
  readonly kernel: SimKernel;
  readonly store: SimStore;
  readonly clock = new SimClock();
  readonly api: SimApi;
  readonly rootfs: SimRootfs;
  readonly containerd: SimContainerd;
  /** The registry images are pulled from, and the image and layer store. */
  readonly registry: SimRegistry;
  readonly images: SimImages;
  /** Links, namespaces, the daemon's chains, proxies, resolvers and the network database. */
  readonly net: SimNet;
  /** The data root the image store's directories are under (the simulated daemon's). */
  dataRoot = '/var/lib/statedock';
  /** docker cp into containers, commit's layer tarballs and images. */
  readonly archive: SimArchive;
  /** The latest virtual time the world has seen: a restarted daemon's clock goes on from here. */
  nowMs = 0;
  private injector: FaultInjector;
  private orphans: Orphan[] = [];

  constructor(opts: SimWorldOptions) {
    const h = opts.host ?? {};
    this.random = new Random(opts.seed);
    const nodes = new Map(baseImage);
    for (const [path, content] of Object.entries(h.files ?? {})) nodes.set(path, file(content));
    this.fs = new SimFs(nodes, h.readOnly ?? []);
    this.fsEffects = new SimFsEffects(this.fs, this.processes, this.random);
    this.kernel = new SimKernel({
      kernelRelease: h.kernelRelease ?? '6.1.0-13-amd64',
      euid: h.euid ?? 0,
      devicesCgroup: h.devicesCgroup ?? true,
      cgroupVersion: h.cgroupVersion ?? 1,
      overlay: h.overlay ?? true,
      appArmor: h.appArmor ?? false,
      mtu: h.mtu === undefined ? 1500 : h.mtu,
    });
    this.store = new SimStore(this.fs);
    this.api = new SimApi(this.fs, h.busySockets ?? []);
    this.rootfs = new SimRootfs(this.fs);
    this.registry = new SimRegistry(this.fs);
    this.images = new SimImages(this.fs, this.store);
    this.containerd = new SimContainerd(this.processes, this.rootfs, {
      binary: h.containerdBinary ?? true,
      external: h.externalContainerd ?? [],
      tasks: h.tasks ?? [],
    });
    this.archive = new SimArchive(this.fs);
    if (h.livePidfile !== undefined) {
      this.processes.add(SimProcesses.foreignPid);
      this.fs.writeFile(h.livePidfile, String(SimProcesses.foreignPid), 0o644);
    }
    this.net = new SimNet(h.net ?? {});
    this.net.markPreexisting();
    this.injector = new FaultInjector(opts.faults ?? []);
  }

  /** Replaces the fault plan (a restart with other faults), counts starting afresh. */
  setFaults(faults: readonly FaultRule[]): void {
    this.injector = new FaultInjector(faults);
  }

  /** How each container's process behaves once started (default: runs until signalled, honours SIGTERM). */
  get behaviours(): Map<string, TaskBehaviour> {
    return this.containerd.behaviours;
  }

  /** The daemon process starts (again) on this host. */
  daemonStarted(): void {
    this.processes.daemonStarted();
    this.images.daemonStarted();
  }

  /**
   * The daemon process died (a crash, or a normal exit): what it held in memory is gone, what
   * is on disk stays, and containerd keeps running if it was (as a real host would).
   */
  daemonExited(): void {
    this.processes.daemonExited();
    this.store.daemonExited();
    this.api.daemonExited();
    this.clock.daemonExited();
    this.kernel.daemonExited();
    this.containerd.daemonExited();
    this.registry.daemonExited();
    this.images.daemonExited();
    this.net.processDied();
  }

  /**
   * The whole host lost power: the daemon, containerd, every container process and the tmpfs
   * under /run are gone; what was written to disk (files, the metadata store) stays.
   */
  hostRebooted(): void {
    this.daemonExited();
    this.orphans = this.orphans.filter((o) => !inFamily(o.call, 'containerd'));
    this.containerd.rebooted();
    this.rootfs.rebooted();
    this.kernel.rebooted();
    this.net.rebooted();
    this.processes.clear();
    for (const tmpfs of ['/run', '/var/run'])
      for (const p of this.fs.list(tmpfs)) this.fs.removeAll(p);
  }

  /** Advances the world's clock while no daemon runs (processes go on exiting, orphans finish). */
  advance(ms: number): void {
    this.nowMs += ms;
    this.finishOrphans(this.nowMs);
    this.containerd.settleExits(this.nowMs);
  }

  takeEvents(): RaisedEvent[] {
    return this.containerd.takeEvents();
  }

  /** How long a call takes and whether the fault plan fails it, judged when it is asked. */
  judge(call: EffectCall): Judgement {
    const range = latencyOf(call.effect);
    const lo = range[0];
    const hi = range[1];
    const fault = this.injector.judge(call);
    const latencyMs =
      (call.effect === 'clock.sleep' ? call.ms : lo + (hi - lo) * this.random.float()) +
      (inFamily(call, 'registry') ? this.registry.extraLatency(call) : 0) +
      fault.delayMs;
    return { latencyMs, fail: fault.fail };
  }

  /** The call completes now: the host changes, and the outcome is what the daemon hears. */
  complete(call: EffectCall, judgement: Judgement, nowMs: number): EffectOutcome {
    if (nowMs > this.nowMs) this.nowMs = nowMs;
    this.finishOrphans(nowMs);
    if (judgement.fail !== null)
      return {
        ok: false,
        error: {
          code: judgement.fail,
          message: `${call.effect} ${describe(call)}: ${errnoText[judgement.fail] ?? judgement.fail} (injected)`,
        },
      };
    try {
      return { ok: true, value: this.apply(call, nowMs) };
    } catch (e) {
      if (e instanceof SimFailure)
        return { ok: false, error: { code: e.code, message: e.message } };
      throw e;
    }
  }

  /**
   * The daemon died while the host was carrying out `call` (due at `atMs`). A request
   * containerd had received is finished, possibly much later (a busy containerd): containerd
   * is another process. A write the dead process was making (the store's records, files,
   * roots, the image store's layers and records) happened or did not, by the moment it died, never later: nobody is left to make
   * it. The rest (a lock, a socket, a timer) died with the process.
   */
  orphan(call: EffectCall, atMs: number): void {
    const coin = this.random.float();
    if (inFamily(call, 'containerd')) {
      if (call.effect === 'containerd.startSupervised' || call.effect === 'containerd.connect')
        return;
      // One in three is held up in containerd long enough for the next daemon to look first.
      const late = coin < 0.33 ? 50 + this.random.float() * 6_000 : 0;
      this.orphans.push({ atMs: atMs + late, call });
      return;
    }
    const write =
      call.effect === 'store.put' ||
      call.effect === 'store.del' ||
      call.effect === 'store.delAll' ||
      (inFamily(call, 'fs') && call.effect !== 'fs.createPidfile') ||
      inFamily(call, 'rootfs') ||
      (inFamily(call, 'image') &&
        call.effect !== 'image.lookup' &&
        call.effect !== 'image.observe');
    if (write && coin < 0.5) this.orphans.push({ atMs: Math.min(atMs, this.nowMs), call });
  }

  /** Orphans not finished yet, earliest first: the next life's scheduler finishes them on time. */
  pendingOrphans(): readonly Orphan[] {
    return [...this.orphans].sort((a, b) => a.atMs - b.atMs);
  }

  /** Finishes the orphans due by `nowMs` (their outcome reaches nobody). */
  finishOrphans(nowMs: number): void {
    if (this.orphans.length === 0) return;
    const due = this.orphans.filter((o) => o.atMs <= nowMs).sort((a, b) => a.atMs - b.atMs);
    if (due.length === 0) return;
    this.orphans = this.orphans.filter((o) => o.atMs > nowMs);
    for (const o of due) {
      try {
        this.apply(o.call, o.atMs);
      } catch (e) {
        if (!(e instanceof SimFailure)) throw e;
      }
    }
  }

  private apply(call: EffectCall, nowMs: number): unknown {
    if (inFamily(call, 'fs')) return this.fsEffects.run(call);
    if (inFamily(call, 'kernel')) return this.kernel.run(call);
    if (inFamily(call, 'containerd')) return this.containerd.run(call, nowMs);
    if (inFamily(call, 'store')) return this.store.run(call);
    if (inFamily(call, 'clock')) return this.clock.run(call, nowMs);
    if (inFamily(call, 'api')) return this.api.run(call);
    if (inFamily(call, 'rootfs')) return this.rootfs.run(call);
    if (inFamily(call, 'registry')) return this.registry.run(call);
    if (inFamily(call, 'image')) return this.images.run(call);
    if (inFamily(call, 'net')) return this.net.run(call);
    if (inFamily(call, 'archive')) return this.archive.run(call);
    return assertNever(call, 'effect family');
  }

  /** The host as the restore invariants see it (the simulator's clients keep what they were told apart). */
  observeHost(): HostView {
    this.containerd.settleExits(this.nowMs);
    const containers: HostView['containers'] = [];
    for (const [key, value] of this.store.first()) {
      if (!key.startsWith('container/')) continue;
      containers.push(storedView(value as ContainerRecord));
    }
    return {
      containers,
      tasks: [...this.containerd.tasks].map(([id, t]) => ({ id, status: t.status })),
      containerdContainers: [...this.containerd.containers],
      acknowledged: [],
      mounted: [...this.rootfs.mounted],
      shmMounted: this.kernel.shmMounted(),
      execs: this.containerd.execs.view(this.nowMs),
      images: this.images.view(this.dataRoot, `${this.dataRoot}/tmp`),
      network: this.net.view(),
    };
  }
}

function describe(call: EffectCall): string {
  for (const k of ['path', 'from', 'address', 'key', 'name', 'prefix', 'container'] as const)
    if (k in call) {
      const v = (call as Partial<Record<typeof k, unknown>>)[k];
      if (typeof v === 'string') return v;
    }
  return '';
}

import { assertNever } from '../errors.ts';
import { SimFailure } from '../sim/failure.ts';
import type { KernelRequest } from './requests.ts';
import { shmPathPattern } from './shm-path.ts';

/** What the simulated kernel is like (a healthy Debian 12 host by default). */
export interface SimKernelFacts {
  kernelRelease: string;
  euid: number;
  devicesCgroup: boolean;
  cgroupVersion: 1 | 2;
  overlay: boolean;
  appArmor: boolean;
  /** MTU of the default route's interface; null: no default route. */
  mtu: number | null;
}

/** The kernel and process effects on the simulated host: sysctls, environment, mounts, signals. */
export class SimKernel {
  readonly facts: SimKernelFacts;
  readonly sysctl = new Map<string, string>([
    ['kernel/keys/root_maxkeys', '200000'],
    ['kernel/keys/root_maxbytes', '20000000'],
    ['kernel/threads-max', '190000'],
    ['net/ipv4/ip_forward', '0'],
  ]);
  readonly env = new Map<string, string>();
  /** Layer mounts (the graph driver's), unmounted by its cleanup. */
  readonly mounts: string[] = [];
  /** Shareable /dev/shm tmpfs mounts of containers: mount point → size in bytes. */
  readonly shm = new Map<string, number>();
  oomScoreAdj = 0;
  dumpTrap = false;

  constructor(facts: SimKernelFacts) {
    this.facts = facts;
  }

  /** The daemon process died: what it held in its own memory goes with it. */
  daemonExited(): void {
    this.dumpTrap = false;
  }

  /** Containers whose shareable /dev/shm is mounted. */
  shmMounted(): string[] {
    return [...this.shm.keys()].flatMap((p) => shmPathPattern.exec(p)?.[1] ?? []).sort();
  }

  /** Power lost: the environment and every mount are gone. */
  rebooted(): void {
    this.daemonExited();
    this.mounts.length = 0;
    this.shm.clear();
    this.env.clear();
  }

  run(req: KernelRequest): unknown {
    const h = this.facts;
    switch (req.effect) {
      case 'kernel.defaultRouteMtu':
        return { mtu: h.mtu };
      case 'kernel.readSysctl': {
        const v = this.sysctl.get(req.key);
        if (v === undefined)
          throw new SimFailure('ENOENT', `open /proc/sys/${req.key}: no such file or directory`);
        return { value: v };
      }
      case 'kernel.writeSysctl':
        if (h.euid !== 0)
          throw new SimFailure('EACCES', `open /proc/sys/${req.key}: permission denied`);
        this.sysctl.set(req.key, req.value);
        return {};
      case 'kernel.uname':
        return { sysname: 'Linux', release: h.kernelRelease, machine: 'x86_64', euid: h.euid };
      case 'kernel.setOomScoreAdj':
        if (h.euid !== 0 && req.score < this.oomScoreAdj)
          throw new SimFailure('EPERM', 'write /proc/self/oom_score_adj: operation not permitted');
        this.oomScoreAdj = req.score;
        return {};
      case 'kernel.setEnv': {
        const previous = this.env.get(req.name) ?? null;
        if (req.value === null) this.env.delete(req.name);
        else this.env.set(req.name, req.value);
        return { previous };
      }
      case 'kernel.cgroupInfo':
        return {
          version: h.cgroupVersion,
          controllers: h.devicesCgroup
            ? ['cpu', 'memory', 'devices', 'freezer', 'pids']
            : ['cpu', 'memory', 'freezer', 'pids'],
          devices: h.devicesCgroup,
        };
      case 'kernel.appArmorStatus':
        return { enabled: h.appArmor };
      case 'kernel.probeOverlay':
        return h.overlay
          ? { supported: true, reason: null }
          : {
              supported: false,
              reason: "'overlay' not found as a supported filesystem on this host",
            };
      case 'kernel.unmountUnder': {
        const under = this.mounts.filter((m) => m.startsWith(`${req.path}/`));
        for (const m of under) this.mounts.splice(this.mounts.indexOf(m), 1);
        return { unmounted: under };
      }
      case 'kernel.mountShm':
        if (this.shm.has(req.path)) return { mounted: false };
        if (h.euid !== 0)
          throw new SimFailure('EPERM', 'mounting shm tmpfs: operation not permitted');
        this.shm.set(req.path, req.sizeBytes);
        return { mounted: true };
      case 'kernel.unmountShm':
        if (!this.shm.has(req.path)) return { unmounted: false };
        if (h.euid !== 0)
          throw new SimFailure('EPERM', `unmount ${req.path}: operation not permitted`);
        this.shm.delete(req.path);
        return { unmounted: true };
      case 'kernel.sweepShm': {
        const keep = new Set(req.keep);
        const unmounted: string[] = [];
        for (const path of [...this.shm.keys()]) {
          const id = shmPathPattern.exec(path)?.[1];
          if (id === undefined || keep.has(id) || path !== `${req.containersDir}/${id}/mounts/shm`)
            continue;
          if (h.euid !== 0)
            throw new SimFailure('EPERM', `unmount ${path}: operation not permitted`);
          this.shm.delete(path);
          unmounted.push(id);
        }
        return { unmounted: unmounted.sort() };
      }
      case 'kernel.listShm':
        return {
          containers: this.shmMounted().filter((id) =>
            this.shm.has(`${req.containersDir}/${id}/mounts/shm`),
          ),
        };
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
      default:
        return assertNever(req, 'kernel request');
    }
  }
}

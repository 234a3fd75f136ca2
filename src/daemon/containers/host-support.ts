import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { delimiter } from 'node:path';
import { capabilitiesOfMask } from './spec/capabilities.ts';
import type { CgroupSupport } from './spec/resources.ts';
import { seccompArchOfNode } from './spec/seccomp-profile.ts';
import { privateNetworkSysctls } from './spec/defaults.ts';

/**
 * What the host lets containers have, read once (dockerd's sysinfo): the daemon's own
 * capabilities (all a container can get), the cgroup controllers and their files, AppArmor,
 * SELinux, seccomp and cgroup namespaces, the sysctls that exist, and Docker's init binary.
 * These are reads, for deciding what a create request can be given.
 */
export interface HostSupport {
  /** libseccomp's name of the architecture (amd64 …) and the kernel release. */
  arch: string;
  kernel: string;
  capabilities: string[];
  cgroup: CgroupSupport;
  appArmor: boolean;
  selinux: boolean;
  seccomp: boolean;
  cgroupNamespaces: boolean;
  /** The default sysctls of a container with its own network that this kernel has. */
  networkSysctls: string[];
  /** docker-init (or Debian's tini-static) on the PATH, or null. */
  initBinary: string | null;
}

const readText = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

function cgroupSupport(): CgroupSupport {
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const ncpu = availableParallelism();
  if (v2) {
    const controllers = (readText('/sys/fs/cgroup/cgroup.controllers') ?? '').trim().split(/\s+/);
    const has = (c: string) => controllers.includes(c);
    return {
      version: 2,
      memoryLimit: has('memory'),
      swapLimit: has('memory') && (readText('/proc/swaps') ?? '').trim().split('\n').length > 1,
      memoryReservation: has('memory'),
      memorySwappiness: false,
      oomKillDisable: false,
      cpuShares: has('cpu'),
      cpuCfs: has('cpu'),
      cpuRealtime: false,
      cpuset: has('cpuset'),
      pids: has('pids'),
      blkioWeight: has('io') && existsSync('/sys/fs/cgroup/system.slice/io.bfq.weight'),
      blkioWeightDevice: false,
      blkioThrottle: has('io'),
      cpus: (readText('/sys/fs/cgroup/cpuset.cpus.effective') ?? `0-${ncpu - 1}`).trim(),
      mems: (readText('/sys/fs/cgroup/cpuset.mems.effective') ?? '0').trim(),
      ncpu,
    };
  }
  const at = (controller: string, file: string) =>
    existsSync(`/sys/fs/cgroup/${controller}/${file}`);
  return {
    version: 1,
    memoryLimit: at('memory', 'memory.limit_in_bytes'),
    swapLimit: at('memory', 'memory.memsw.limit_in_bytes'),
    memoryReservation: at('memory', 'memory.soft_limit_in_bytes'),
    memorySwappiness: at('memory', 'memory.swappiness'),
    oomKillDisable: at('memory', 'memory.oom_control'),
    cpuShares: at('cpu', 'cpu.shares'),
    cpuCfs: at('cpu', 'cpu.cfs_quota_us') && at('cpu', 'cpu.cfs_period_us'),
    cpuRealtime: at('cpu', 'cpu.rt_runtime_us') && at('cpu', 'cpu.rt_period_us'),
    cpuset: at('cpuset', 'cpuset.cpus'),
    pids: existsSync('/sys/fs/cgroup/pids'),
    blkioWeight: at('blkio', 'blkio.weight') || at('blkio', 'blkio.bfq.weight'),
    blkioWeightDevice: at('blkio', 'blkio.weight_device') || at('blkio', 'blkio.bfq.weight_device'),
    blkioThrottle: at('blkio', 'blkio.throttle.read_bps_device'),
    cpus: (readText('/sys/fs/cgroup/cpuset/cpuset.effective_cpus') ?? `0-${ncpu - 1}`).trim(),
    mems: (readText('/sys/fs/cgroup/cpuset/cpuset.effective_mems') ?? '0').trim(),
    ncpu,
  };
}

/** The first of `names` that is an executable file on the PATH. */
function onPath(names: readonly string[]): string | null {
  const dirs = (
    process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  ).split(delimiter);
  for (const name of names)
    for (const dir of dirs) {
      const p = `${dir}/${name}`;
      try {
        if (!statSync(p).isFile()) continue;
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
  return null;
}

let cached: HostSupport | null = null;

/** The host's support, read on first use. */
export function hostSupport(): HostSupport {
  if (cached) return cached;
  const status = readText('/proc/self/status') ?? '';
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
  cached = {
    arch: seccompArchOfNode[process.arch] ?? process.arch,
    kernel: release(),
    capabilities: capabilitiesOfMask(capEff),
    cgroup: cgroupSupport(),
    appArmor: (readText('/sys/module/apparmor/parameters/enabled') ?? '').trim() === 'Y',
    selinux: (readText('/sys/fs/selinux/enforce') ?? '').trim() !== '',
    seccomp: /^Seccomp:/m.test(status),
    cgroupNamespaces: existsSync('/proc/self/ns/cgroup'),
    networkSysctls: Object.keys(privateNetworkSysctls).filter((k) =>
      existsSync(`/proc/sys/${k.replaceAll('.', '/')}`),
    ),
    initBinary: onPath(['docker-init', 'tini-static']),
  };
  return cached;
}

/** `tini --version` of the init binary, for `docker info`'s InitCommit (`0.19.0 - git.de40ad0` → `de40ad0`). */
export function initCommit(path: string | null): string {
  if (path === null) return '';
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 2000 });
  return /git\.([0-9a-f]+)/.exec(r.stdout ?? '')?.[1] ?? 'N/A';
}

import { InvalidRequest } from './errors.ts';
import type { DeviceCgroupRule } from './defaults.ts';

/** What the host's cgroups can do (dockerd's sysinfo), for the resource options a request may ask. */
export interface CgroupSupport {
  version: 1 | 2;
  memoryLimit: boolean;
  swapLimit: boolean;
  memoryReservation: boolean;
  memorySwappiness: boolean;
  oomKillDisable: boolean;
  cpuShares: boolean;
  cpuCfs: boolean;
  cpuRealtime: boolean;
  cpuset: boolean;
  pids: boolean;
  blkioWeight: boolean;
  blkioWeightDevice: boolean;
  blkioThrottle: boolean;
  /** The CPUs and memory nodes a container may be pinned to (cpuset lists, e.g. `0-1`). */
  cpus: string;
  mems: string;
  /** CPUs the daemon may use (NanoCpus' upper bound). */
  ncpu: number;
}

/** A throttled or weighted block device, resolved to its device numbers by the caller. */
export interface BlockDevice {
  path: string;
  major: number;
  minor: number;
  /** Bytes or operations per second, or a weight. */
  rate: number;
}

/** HostConfig's resource fields as the request gave them (zero = not set). */
export interface ResourceRequest {
  memory: number;
  memorySwap: number;
  memoryReservation: number;
  /** null: the kernel's default (the CLI sends -1 for that). */
  memorySwappiness: number | null;
  oomKillDisable: boolean;
  pidsLimit: number | null;
  nanoCpus: number;
  cpuShares: number;
  cpuPeriod: number;
  cpuQuota: number;
  cpuRealtimePeriod: number;
  cpuRealtimeRuntime: number;
  cpusetCpus: string;
  cpusetMems: string;
  blkioWeight: number;
  blkioWeightDevice: BlockDevice[];
  blkioDeviceReadBps: BlockDevice[];
  blkioDeviceWriteBps: BlockDevice[];
  blkioDeviceReadIOps: BlockDevice[];
  blkioDeviceWriteIOps: BlockDevice[];
}

/** A resource setting refused: Docker's message, or statedock's when the host cannot apply it. */
export class ResourceError extends InvalidRequest {
  override name = 'ResourceError';
}

/** Docker's floor for memory limits: 6 MiB. */
const minMemory = 6 * 1024 * 1024;

/** A setting the host's cgroups cannot apply: refused, never dropped with a warning as dockerd does. */
function unsupported(field: string, why: string): ResourceError {
  return new ResourceError(`statedock does not support HostConfig.${field} on this host: ${why}`);
}

/** A cpuset list (`0-2,4`) as the set of numbers it names; null when malformed. */
export function parseCpuset(list: string): Set<number> | null {
  const out = new Set<number>();
  if (list === '') return out;
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) return null;
    for (let i = from; i <= to; i++) out.add(i);
  }
  return out;
}

/**
 * Checks the resource settings as dockerd's verifyPlatformContainerResources does, in its
 * order and with its messages. Returns Docker's warnings for settings that are applied but
 * unwise. Where dockerd would discard a setting the host's cgroups cannot apply (with a
 * warning), statedock refuses it.
 */
export function validateResources(r: ResourceRequest, cg: CgroupSupport): string[] {
  const warnings: string[] = [];
  if (r.memory !== 0 && r.memory < minMemory)
    throw new ResourceError('Minimum memory limit allowed is 6MB');
  if (r.memory > 0 && !cg.memoryLimit)
    throw unsupported(
      'Memory',
      'Your kernel does not support memory limit capabilities or the cgroup is not mounted.',
    );
  if (r.memorySwap > 0 && !cg.swapLimit)
    throw unsupported(
      'MemorySwap',
      'Your kernel does not support swap limit capabilities or the cgroup is not mounted.',
    );
  if (r.memory > 0 && r.memorySwap > 0 && r.memorySwap < r.memory)
    throw new ResourceError(
      'Minimum memoryswap limit should be larger than memory limit, see usage',
    );
  if (r.memory === 0 && r.memorySwap > 0)
    throw new ResourceError(
      'You should always set the Memory limit when using Memoryswap limit, see usage',
    );
  if (r.memorySwappiness !== null && !cg.memorySwappiness)
    throw unsupported(
      'MemorySwappiness',
      'Your kernel does not support memory swappiness capabilities or the cgroup is not mounted.',
    );
  if (r.memorySwappiness !== null && (r.memorySwappiness < 0 || r.memorySwappiness > 100))
    throw new ResourceError(
      `Invalid value: ${r.memorySwappiness}, valid memory swappiness range is 0-100`,
    );
  if (r.memoryReservation > 0 && !cg.memoryReservation)
    throw unsupported(
      'MemoryReservation',
      'Your kernel does not support memory soft limit capabilities or the cgroup is not mounted.',
    );
  if (r.memoryReservation > 0 && r.memoryReservation < minMemory)
    throw new ResourceError('Minimum memory reservation allowed is 6MB');
  if (r.memory > 0 && r.memoryReservation > 0 && r.memory < r.memoryReservation)
    throw new ResourceError(
      'Minimum memory limit can not be less than memory reservation limit, see usage',
    );
  if (r.oomKillDisable && !cg.oomKillDisable)
    throw unsupported('OomKillDisable', 'Your kernel does not support OomKillDisable.');
  if (r.oomKillDisable && r.memory === 0)
    warnings.push(
      'OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.',
    );
  if (r.pidsLimit !== null && r.pidsLimit > 0 && !cg.pids)
    throw unsupported(
      'PidsLimit',
      'Your kernel does not support PIDs limit capabilities or the cgroup is not mounted.',
    );
  if (r.nanoCpus > 0 && r.cpuPeriod > 0)
    throw new ResourceError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (r.nanoCpus > 0 && r.cpuQuota > 0)
    throw new ResourceError('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (r.nanoCpus > 0 && !cg.cpuCfs)
    throw new ResourceError(
      'NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted',
    );
  if (r.nanoCpus < 0 || r.nanoCpus > cg.ncpu * 1e9)
    throw new ResourceError(
      `Range of CPUs is from 0.01 to ${cg.ncpu}.00, as there are only ${cg.ncpu} CPUs available`,
    );
  if (r.cpuShares < 0) throw new ResourceError('shares: invalid argument');
  if (r.cpuShares > 0 && !cg.cpuShares)
    throw unsupported(
      'CpuShares',
      'Your kernel does not support CPU shares or the cgroup is not mounted.',
    );
  if ((r.cpuPeriod !== 0 || r.cpuQuota !== 0) && !cg.cpuCfs)
    throw unsupported(
      r.cpuPeriod !== 0 ? 'CpuPeriod' : 'CpuQuota',
      'Your kernel does not support CPU CFS scheduler.',
    );
  if (r.cpuPeriod !== 0 && (r.cpuPeriod < 1000 || r.cpuPeriod > 1000000))
    throw new ResourceError(
      'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)',
    );
  if (r.cpuQuota > 0 && r.cpuQuota < 1000)
    throw new ResourceError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if ((r.cpuRealtimePeriod !== 0 || r.cpuRealtimeRuntime !== 0) && !cg.cpuRealtime)
    throw new ResourceError('Your kernel does not support CPU real-time scheduler');
  if (
    r.cpuRealtimePeriod !== 0 &&
    r.cpuRealtimeRuntime !== 0 &&
    r.cpuRealtimeRuntime > r.cpuRealtimePeriod
  )
    throw new ResourceError('cpu real-time runtime cannot be higher than cpu real-time period');
  if ((r.cpusetCpus !== '' || r.cpusetMems !== '') && !cg.cpuset)
    throw unsupported(
      r.cpusetCpus !== '' ? 'CpusetCpus' : 'CpusetMems',
      'Your kernel does not support cpuset or the cgroup is not mounted.',
    );
  for (const [list, what, available, noun] of [
    [r.cpusetCpus, 'cpus', cg.cpus, 'CPUs'],
    [r.cpusetMems, 'mems', cg.mems, 'memory nodes'],
  ] as const) {
    const wanted = parseCpuset(list);
    if (wanted === null)
      throw new ResourceError(`Invalid value ${list} for cpuset ${what}: invalid format: ${list}`);
    const have = parseCpuset(available) ?? new Set<number>();
    if ([...wanted].some((n) => !have.has(n)))
      throw new ResourceError(
        `Requested ${noun} are not available - requested ${list}, available: ${available}`,
      );
  }
  if (r.blkioWeight > 0 && !cg.blkioWeight)
    throw unsupported(
      'BlkioWeight',
      'Your kernel does not support Block I/O weight or the cgroup is not mounted.',
    );
  if (r.blkioWeight > 0 && (r.blkioWeight < 10 || r.blkioWeight > 1000))
    throw new ResourceError('Range of blkio weight is from 10 to 1000');
  if (r.blkioWeightDevice.length > 0 && !cg.blkioWeightDevice)
    throw unsupported(
      'BlkioWeightDevice',
      'Your kernel does not support Block I/O weight_device or the cgroup is not mounted.',
    );
  const throttles = [
    ['BlkioDeviceReadBps', r.blkioDeviceReadBps, 'BPS Block I/O read limit'],
    ['BlkioDeviceWriteBps', r.blkioDeviceWriteBps, 'BPS Block I/O write limit'],
    ['BlkioDeviceReadIOps', r.blkioDeviceReadIOps, 'IOPS Block read limit'],
    ['BlkioDeviceWriteIOps', r.blkioDeviceWriteIOps, 'IOPS Block write limit'],
  ] as const;
  for (const [field, list, what] of throttles)
    if (list.length > 0 && !cg.blkioThrottle)
      throw unsupported(
        field,
        `Your kernel does not support ${what} or the cgroup is not mounted.`,
      );
  return warnings;
}

/** The OCI `linux.resources` of a container (runc maps the same fields onto cgroup v1 or v2). */
export function ociResources(
  r: ResourceRequest,
  devices: readonly DeviceCgroupRule[],
): Record<string, unknown> {
  const memory = {
    ...(r.memory > 0 ? { limit: r.memory } : {}),
    ...(r.memoryReservation > 0 ? { reservation: r.memoryReservation } : {}),
    ...(r.memorySwap > 0 ? { swap: r.memorySwap } : {}),
    ...(r.memorySwappiness !== null ? { swappiness: r.memorySwappiness } : {}),
    ...(r.oomKillDisable ? { disableOOMKiller: true } : {}),
  };
  // --cpus: a quota of NanoCpus over a 100 ms period (sched-bwc); CpuPeriod/CpuQuota override it.
  const period = r.nanoCpus > 0 ? 100_000 : 0;
  const cpu = {
    ...(r.cpuShares > 0 ? { shares: r.cpuShares } : {}),
    ...(r.nanoCpus > 0 ? { quota: Math.floor((r.nanoCpus * period) / 1e9), period } : {}),
    ...(r.cpuPeriod !== 0 ? { period: r.cpuPeriod } : {}),
    ...(r.cpuQuota !== 0 ? { quota: r.cpuQuota } : {}),
    ...(r.cpuRealtimePeriod !== 0 ? { realtimePeriod: r.cpuRealtimePeriod } : {}),
    ...(r.cpuRealtimeRuntime !== 0 ? { realtimeRuntime: r.cpuRealtimeRuntime } : {}),
    ...(r.cpusetCpus !== '' ? { cpus: r.cpusetCpus } : {}),
    ...(r.cpusetMems !== '' ? { mems: r.cpusetMems } : {}),
  };
  const throttle = (list: BlockDevice[]) =>
    list.map((d) => ({ major: d.major, minor: d.minor, rate: d.rate }));
  const blockIO = {
    ...(r.blkioWeight > 0 ? { weight: r.blkioWeight } : {}),
    ...(r.blkioWeightDevice.length > 0
      ? {
          weightDevice: r.blkioWeightDevice.map((d) => ({
            major: d.major,
            minor: d.minor,
            weight: d.rate,
          })),
        }
      : {}),
    ...(r.blkioDeviceReadBps.length > 0
      ? { throttleReadBpsDevice: throttle(r.blkioDeviceReadBps) }
      : {}),
    ...(r.blkioDeviceWriteBps.length > 0
      ? { throttleWriteBpsDevice: throttle(r.blkioDeviceWriteBps) }
      : {}),
    ...(r.blkioDeviceReadIOps.length > 0
      ? { throttleReadIOPSDevice: throttle(r.blkioDeviceReadIOps) }
      : {}),
    ...(r.blkioDeviceWriteIOps.length > 0
      ? { throttleWriteIOPSDevice: throttle(r.blkioDeviceWriteIOps) }
      : {}),
  };
  const nonEmpty = (o: object) => Object.keys(o).length > 0;
  return {
    devices: devices.map((d) => ({ ...d })),
    ...(nonEmpty(memory) ? { memory } : {}),
    ...(nonEmpty(cpu) ? { cpu } : {}),
    ...(r.pidsLimit !== null && r.pidsLimit > 0 ? { pids: { limit: r.pidsLimit } } : {}),
    ...(nonEmpty(blockIO) ? { blockIO } : {}),
  };
}

import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

/** USER_HZ: /proc/stat and cpuacct.stat count in hundredths of a second on Linux. */
const clockTicks = 100;

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function num(text: string | null): number {
  const n = Number((text ?? '').trim());
  return Number.isFinite(n) ? n : 0;
}

/** `key value` lines (memory.stat, cpu.stat, cpuacct.stat) as a map. */
export function keyValues(text: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** The host's CPU time in nanoseconds (/proc/stat's first line: user … steal), as dockerd reads it. */
export function systemCpuUsage(procStat = read('/proc/stat')): number {
  const line = (procStat ?? '').split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const ticks = line
    .split(/\s+/)
    .slice(1, 8)
    .reduce((n, v) => n + Number(v), 0);
  return (ticks * 1e9) / clockTicks;
}

interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/** cgroup v1's blkio files: `maj:min Op value` lines (the Total line left out, as runc does). */
function blkioV1(text: string | null): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, op, value] = line.trim().split(/\s+/);
    if (!dev || !op || value === undefined || !dev.includes(':')) continue;
    const [major, minor] = dev.split(':').map(Number) as [number, number];
    out.push({ major, minor, op, value: Number(value) });
  }
  return out;
}

/** cgroup v2's io.stat: `maj:min rbytes=… wbytes=… rios=… wios=…` → Docker's read/write entries. */
export function ioStatV2(text: string | null): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...fields] = line.trim().split(/\s+/);
    if (!dev || !dev.includes(':')) continue;
    const [major, minor] = dev.split(':').map(Number) as [number, number];
    const f = new Map(
      fields.map((x): [string, number] => {
        const [k, v] = x.split('=');
        return [k ?? '', Number(v)];
      }),
    );
    bytes.push({ major, minor, op: 'read', value: f.get('rbytes') ?? 0 });
    bytes.push({ major, minor, op: 'write', value: f.get('wbytes') ?? 0 });
    ios.push({ major, minor, op: 'read', value: f.get('rios') ?? 0 });
    ios.push({ major, minor, op: 'write', value: f.get('wios') ?? 0 });
  }
  return { bytes, ios };
}

/** A container's interfaces from its network namespace (/proc/<pid>/net/dev), loopback left out. */
export function networks(pid: number): Record<string, Record<string, number>> | null {
  const text = pid > 0 ? read(`/proc/${pid}/net/dev`) : null;
  const out: Record<string, Record<string, number>> = {};
  for (const line of (text ?? '').split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = (m[2] as string).trim().split(/\s+/).map(Number);
    out[m[1] as string] = {
      rx_bytes: f[0] ?? 0,
      rx_packets: f[1] ?? 0,
      rx_errors: f[2] ?? 0,
      rx_dropped: f[3] ?? 0,
      tx_bytes: f[8] ?? 0,
      tx_packets: f[9] ?? 0,
      tx_errors: f[10] ?? 0,
      tx_dropped: f[11] ?? 0,
    };
  }
  return Object.keys(out).length > 0 ? out : null;
}

/** One sample of a container's cgroup, in the shape of Docker's stats (without read/preread). */
export interface CgroupSample {
  cpu_stats: Record<string, unknown>;
  memory_stats: Record<string, unknown>;
  pids_stats: Record<string, number>;
  blkio_stats: Record<string, BlkioEntry[]>;
}

const emptyBlkio = (): Record<string, BlkioEntry[]> => ({
  io_service_bytes_recursive: [],
  io_serviced_recursive: [],
  io_queue_recursive: [],
  io_service_time_recursive: [],
  io_wait_time_recursive: [],
  io_merged_recursive: [],
  io_time_recursive: [],
  sectors_recursive: [],
});

/** Whether the host has the unified hierarchy (cgroup v2). */
export function cgroupV2(root = '/sys/fs/cgroup'): boolean {
  return existsSync(`${root}/cgroup.controllers`);
}

/**
 * A container's cgroup as dockerd's stats report it (runc's libcontainer cgroup stats): from
 * cgroup v1's cpuacct, cpu, memory, pids and blkio controllers, or cgroup v2's unified files.
 * `path` is the cgroup path under each hierarchy (`/statedock/<id>`).
 */
export function sampleCgroup(path: string, root = '/sys/fs/cgroup'): CgroupSample {
  const hostMem = totalmem();
  const online = cpus().length;
  if (cgroupV2(root)) {
    const dir = `${root}${path}`;
    const cpu = keyValues(read(`${dir}/cpu.stat`));
    const maxMem = (read(`${dir}/memory.max`) ?? 'max').trim();
    const io = ioStatV2(read(`${dir}/io.stat`));
    const pidsMax = (read(`${dir}/pids.max`) ?? 'max').trim();
    return {
      cpu_stats: {
        cpu_usage: {
          total_usage: (cpu['usage_usec'] ?? 0) * 1000,
          usage_in_kernelmode: (cpu['system_usec'] ?? 0) * 1000,
          usage_in_usermode: (cpu['user_usec'] ?? 0) * 1000,
        },
        system_cpu_usage: systemCpuUsage(),
        online_cpus: online,
        throttling_data: {
          periods: cpu['nr_periods'] ?? 0,
          throttled_periods: cpu['nr_throttled'] ?? 0,
          throttled_time: (cpu['throttled_usec'] ?? 0) * 1000,
        },
      },
      memory_stats: {
        usage: num(read(`${dir}/memory.current`)),
        stats: keyValues(read(`${dir}/memory.stat`)),
        limit: maxMem === 'max' ? hostMem : Math.min(Number(maxMem), hostMem),
      },
      pids_stats: {
        current: num(read(`${dir}/pids.current`)),
        ...(pidsMax === 'max' ? {} : { limit: Number(pidsMax) }),
      },
      blkio_stats: {
        ...emptyBlkio(),
        io_service_bytes_recursive: io.bytes,
        io_serviced_recursive: io.ios,
      },
    };
  }
  const at = (ctrl: string, file: string): string | null => read(`${root}/${ctrl}${path}/${file}`);
  const stat = keyValues(at('cpuacct', 'cpuacct.stat'));
  const throttling = keyValues(at('cpu', 'cpu.stat'));
  const limit = num(at('memory', 'memory.limit_in_bytes'));
  const pidsMax = (at('pids', 'pids.max') ?? 'max').trim();
  // runc reads the CFQ files first and falls back to the throttle ones when those are empty.
  const blk = (cfq: string, throttle: string): BlkioEntry[] => {
    const a = blkioV1(at('blkio', cfq));
    return a.length > 0 ? a : blkioV1(at('blkio', throttle));
  };
  return {
    cpu_stats: {
      cpu_usage: {
        total_usage: num(at('cpuacct', 'cpuacct.usage')),
        percpu_usage: (at('cpuacct', 'cpuacct.usage_percpu') ?? '')
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map(Number),
        usage_in_kernelmode: ((stat['system'] ?? 0) * 1e9) / clockTicks,
        usage_in_usermode: ((stat['user'] ?? 0) * 1e9) / clockTicks,
      },
      system_cpu_usage: systemCpuUsage(),
      online_cpus: online,
      throttling_data: {
        periods: throttling['nr_periods'] ?? 0,
        throttled_periods: throttling['nr_throttled'] ?? 0,
        throttled_time: throttling['throttled_time'] ?? 0,
      },
    },
    memory_stats: {
      usage: num(at('memory', 'memory.usage_in_bytes')),
      max_usage: num(at('memory', 'memory.max_usage_in_bytes')),
      stats: keyValues(at('memory', 'memory.stat')),
      limit: limit === 0 || limit >= hostMem ? hostMem : limit,
    },
    pids_stats: {
      current: num(at('pids', 'pids.current')),
      ...(pidsMax === 'max' || pidsMax === '' ? {} : { limit: Number(pidsMax) }),
    },
    blkio_stats: {
      ...emptyBlkio(),
      io_service_bytes_recursive: blk(
        'blkio.io_service_bytes_recursive',
        'blkio.throttle.io_service_bytes_recursive',
      ),
      io_serviced_recursive: blk(
        'blkio.io_serviced_recursive',
        'blkio.throttle.io_serviced_recursive',
      ),
    },
  };
}

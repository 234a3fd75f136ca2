/**
 * The OCI runtime spec of a container: containerd's default Linux spec (namespaces, the
 * standard mounts, masked and read-only paths, Docker's 14 default capabilities) with the
 * create request's process, root and network mode.
 */
export interface SpecInput {
  id: string;
  args: string[];
  env: string[];
  cwd: string;
  hostname: string;
  rootfs: string;
  /** `none` gets its own empty network namespace; `host` shares the daemon's. */
  networkMode: 'none' | 'host';
  cgroupParent: string;
  user?: { uid: number; gid: number };
  terminal?: boolean;
  /** A terminal's size at start (HostConfig.ConsoleSize: [height, width]). */
  consoleSize?: [number, number];
  /** Bind mounts (host paths, named volumes' data directories). */
  binds?: { source: string; destination: string; readonly: boolean }[];
  memory?: number;
  cpuShares?: number;
  pidsLimit?: number;
}

const capabilities = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export function buildSpec(s: SpecInput): Record<string, unknown> {
  const namespaces = [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
    ...(s.networkMode === 'host' ? [] : [{ type: 'network' }]),
  ];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: s.terminal ?? false,
      ...(s.terminal && s.consoleSize && s.consoleSize[0] > 0 && s.consoleSize[1] > 0
        ? { consoleSize: { height: s.consoleSize[0], width: s.consoleSize[1] } }
        : {}),
      user: s.user ?? { uid: 0, gid: 0 },
      args: s.args,
      env: s.env,
      cwd: s.cwd === '' ? '/' : s.cwd,
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities },
      noNewPrivileges: false,
    },
    root: { path: s.rootfs, readonly: false },
    hostname: s.hostname,
    mounts: [
      {
        destination: '/proc',
        type: 'proc',
        source: 'proc',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      {
        destination: '/sys',
        type: 'sysfs',
        source: 'sysfs',
        options: ['nosuid', 'noexec', 'nodev', 'ro'],
      },
      ...(s.binds ?? []).map((b) => ({
        destination: b.destination,
        type: 'bind',
        source: b.source,
        options: ['rbind', b.readonly ? 'ro' : 'rw'],
      })),
    ],
    linux: {
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        ...(s.memory ? { memory: { limit: s.memory } } : {}),
        ...(s.cpuShares ? { cpu: { shares: s.cpuShares } } : {}),
        ...(s.pidsLimit && s.pidsLimit > 0 ? { pids: { limit: s.pidsLimit } } : {}),
      },
      cgroupsPath: `${s.cgroupParent}/${s.id}`,
      namespaces,
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

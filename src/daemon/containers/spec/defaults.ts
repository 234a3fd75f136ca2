/**
 * Docker's default confinement of a container, in one place: the capabilities it keeps, the
 * kernel's capability names, the paths of /proc and /sys it masks or makes read-only, the
 * standard mounts, the device cgroup allow-list and the namespaces (moby's oci/defaults.go and
 * oci/caps). Every container's spec starts from these; options add to or take from them.
 */

/** The kernel's capabilities by number (linux/capability.h, up to CAP_CHECKPOINT_RESTORE). */
export const capabilityNames: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The 14 capabilities a container keeps by default (CapEff 00000000a80425fb). */
export const defaultCapabilities: readonly string[] = [
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

/** Paths hidden from the container (a masked file reads empty; a masked directory is an empty read-only tmpfs). */
export const defaultMaskedPaths: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];

/** Paths the container sees read-only. */
export const defaultReadonlyPaths: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** /dev/shm's size when the request gives none (64 MiB). */
export const defaultShmSize = 64 * 1024 * 1024;

/** An OCI mount. */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/**
 * The mounts every container starts with, in Docker's order. /dev/shm's size comes from
 * ShmSize; the cgroup filesystem is read-only (runc mounts the container's own cgroups there).
 */
export function defaultMounts(shmSize: number): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
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
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', 'ro'],
    },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['ro', 'nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/dev/mqueue',
      type: 'mqueue',
      source: 'mqueue',
      options: ['nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`],
    },
  ];
}

/** An OCI device cgroup rule. */
export interface DeviceCgroupRule {
  allow: boolean;
  type?: 'a' | 'b' | 'c';
  major?: number;
  minor?: number;
  access: string;
}

const charDevice = (major: number, minor: number, allow = true): DeviceCgroupRule => ({
  allow,
  type: 'c',
  major,
  minor,
  access: 'rwm',
});

/**
 * The device cgroup: everything denied, then null, zero, full, random, urandom, tty,
 * console and ptmx allowed; /dev/net/tun (10:229) stays denied (runc would allow it).
 */
export const defaultDeviceRules: readonly DeviceCgroupRule[] = [
  { allow: false, access: 'rwm' },
  charDevice(1, 5),
  charDevice(1, 3),
  charDevice(1, 9),
  charDevice(1, 8),
  charDevice(5, 0),
  charDevice(5, 1),
  charDevice(10, 229, false),
];

/** A container gets its own mount, network, UTS, PID and IPC namespaces unless an option shares one. */
export const defaultNamespaces: readonly string[] = ['mount', 'network', 'uts', 'pid', 'ipc'];

/**
 * Sysctls set in a container with its own network namespace (Docker grants what the default
 * capabilities would allow anyway): unprivileged ICMP echo sockets, and binding ports below
 * 1024 without CAP_NET_BIND_SERVICE.
 */
export const privateNetworkSysctls: Readonly<Record<string, string>> = {
  'net.ipv4.ping_group_range': '0 2147483647',
  'net.ipv4.ip_unprivileged_port_start': '0',
};

/** The cgroup every container's cgroup is made under, unless CgroupParent says otherwise. */
export const defaultCgroupParent = '/statedock';

/** Where `--init` puts Docker's init (tini) in the container. */
export const initPathInContainer = '/sbin/docker-init';

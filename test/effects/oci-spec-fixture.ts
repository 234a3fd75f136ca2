import { cpSync, mkdirSync, symlinkSync } from 'node:fs';

/**
 * A minimal OCI runtime spec for containerd tests, and the busybox root filesystem it
 * runs on. Close to `ctr oci spec` (containerd's default Unix spec) minus the network
 * namespace, plus the fields containerd-facts §1 says every task needs: PATH in the
 * environment (the default has none, gotcha 20), an absolute root.path (gotcha 15), a
 * cgroupsPath of ours (gotcha 16).
 */

/** Where test containers' cgroups go: `/sys/fs/cgroup/<controller>/statedock-test/<id>`. */
export const testCgroupParent = 'statedock-test';

const defaultCapabilities = [
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

export interface SpecOptions {
  /** The container id (also the hostname and the cgroup's last component). */
  id: string;
  /** Absolute path of the root filesystem directory. */
  rootfs: string;
  args: string[];
  env?: string[];
  terminal?: boolean;
}

/** The OCI spec of one test container. */
export function ociSpec(o: SpecOptions): Record<string, unknown> {
  if (!o.rootfs.startsWith('/'))
    throw new Error(`oci spec: root.path must be absolute, got ${o.rootfs}`);
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: o.terminal === true,
      user: { uid: 0, gid: 0 },
      args: o.args,
      env: o.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: {
        bounding: defaultCapabilities,
        effective: defaultCapabilities,
        permitted: defaultCapabilities,
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: o.rootfs, readonly: false },
    hostname: o.id,
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
      {
        destination: '/run',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      cgroupsPath: `/${testCgroupParent}/${o.id}`,
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
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

/** The OCI process of an exec (Tasks.Exec's spec). */
export function ociProcess(args: string[], terminal = false): Record<string, unknown> {
  const spec = ociSpec({ id: 'x', rootfs: '/', args, terminal });
  return spec['process'] as Record<string, unknown>;
}

/**
 * A busybox root filesystem under `dir/rootfs`: /bin/busybox (static) and one symlink per
 * applet, plus the empty directories runc mounts over. Returns its absolute path.
 */
export function busyboxRootfs(
  dir: string,
  applets: readonly string[] = ['sh', 'echo', 'sleep', 'cat', 'true'],
): string {
  const rootfs = `${dir}/rootfs`;
  mkdirSync(`${rootfs}/bin`, { recursive: true });
  cpSync('/bin/busybox', `${rootfs}/bin/busybox`);
  for (const a of applets) symlinkSync('busybox', `${rootfs}/bin/${a}`);
  for (const sub of ['proc', 'sys', 'dev', 'tmp', 'etc', 'run'])
    mkdirSync(`${rootfs}/${sub}`, { recursive: true });
  return rootfs;
}

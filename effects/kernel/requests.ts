/** Kernel and process effects: /proc, sysctls, cgroups, mounts, environment, signals. */
export type KernelRequest =
  /** MTU of the interface carrying the default route (seed 001), null when there is none. */
  | { effect: 'kernel.defaultRouteMtu' }
  /** A /proc/sys key such as `kernel/keys/root_maxkeys`. */
  | { effect: 'kernel.readSysctl'; key: string }
  | { effect: 'kernel.writeSysctl'; key: string; value: string }
  | { effect: 'kernel.uname' }
  | { effect: 'kernel.setOomScoreAdj'; score: number }
  /** Sets (or with `value: null`, unsets) a variable of the daemon's own environment. */
  | { effect: 'kernel.setEnv'; name: string; value: string | null }
  | { effect: 'kernel.cgroupInfo' }
  | { effect: 'kernel.appArmorStatus' }
  /** Whether the kernel can mount overlay with this directory as upper (overlay2's check). */
  | { effect: 'kernel.probeOverlay'; path: string }
  /** Unmounts every mount point under `path` (graph driver cleanup). */
  | { effect: 'kernel.unmountUnder'; path: string }
  /**
   * Mounts a container's shareable /dev/shm: a tmpfs of `sizeBytes` (mode 1777, no exec, suid
   * or devices) at `path`, made first (dockerd's setupIpcDirs). Nothing happens when it is
   * mounted already (a start after a crash that kept it).
   */
  | { effect: 'kernel.mountShm'; path: string; sizeBytes: number }
  /** Unmounts it (lazily, as dockerd's UnmountIpcMount); nothing happens when it is not mounted. */
  | { effect: 'kernel.unmountShm'; path: string }
  /**
   * Unmounts every `<containersDir>/<id>/mounts/shm` whose container is not in `keep`
   * (dockerd's cleanupMounts `shm` pattern): what a dead daemon left mounted.
   */
  | { effect: 'kernel.sweepShm'; containersDir: string; keep: string[] }
  /** The containers under `containersDir` whose shareable /dev/shm is mounted. */
  | { effect: 'kernel.listShm'; containersDir: string }
  /** SIGUSR1: write the actors' snapshots to a file under `dir` (dockerd's stack dump). */
  | { effect: 'kernel.trapDumpSignal'; dir: string }
  | { effect: 'kernel.untrapDumpSignal' }
  | { effect: 'kernel.systemInfo' };

export interface KernelResults {
  'kernel.defaultRouteMtu': { mtu: number | null };
  'kernel.readSysctl': { value: string };
  'kernel.writeSysctl': Record<string, never>;
  'kernel.uname': { sysname: string; release: string; machine: string; euid: number };
  'kernel.setOomScoreAdj': Record<string, never>;
  'kernel.setEnv': { previous: string | null };
  'kernel.cgroupInfo': { version: 1 | 2; controllers: string[]; devices: boolean };
  'kernel.appArmorStatus': { enabled: boolean };
  'kernel.probeOverlay': { supported: boolean; reason: string | null };
  'kernel.unmountUnder': { unmounted: string[] };
  'kernel.mountShm': { mounted: boolean };
  'kernel.unmountShm': { unmounted: boolean };
  /** The containers whose /dev/shm was unmounted. */
  'kernel.sweepShm': { unmounted: string[] };
  'kernel.listShm': { containers: string[] };
  'kernel.trapDumpSignal': Record<string, never>;
  'kernel.untrapDumpSignal': Record<string, never>;
  'kernel.systemInfo': {
    ncpu: number;
    memTotal: number;
    hostname: string;
    operatingSystem: string;
    runcVersion: string | null;
  };
}

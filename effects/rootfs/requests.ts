/**
 * Containers' root filesystems under the data root, as Docker's graph drivers keep them:
 * overlay2 (an upper and a work dir over the image's layers, mounted by containerd's shim in
 * the task's bundle) or vfs (a copy of the image's layers, no mount).
 */
export type RootfsRequest =
  /** Makes a new container's root from its image's layers (topmost first). */
  | { effect: 'rootfs.prepare'; container: string; driver: 'overlay2' | 'vfs'; layers: string[] }
  /** Removes a container's root, whichever driver made it (never through a mount). */
  | { effect: 'rootfs.remove'; container: string }
  /** Unmounts a root mounted for a start the daemon died in (no task will ever unmount it). */
  | { effect: 'rootfs.unmount'; container: string }
  /** The containers whose root is mounted now. */
  | { effect: 'rootfs.listMounted' }
  /** Removes the roots and directories of containers not in `keep` (a crash mid-create or mid-removal left them). */
  | { effect: 'rootfs.sweep'; keep: string[] };

export interface RootfsResults {
  'rootfs.prepare': Record<string, never>;
  'rootfs.remove': Record<string, never>;
  'rootfs.unmount': { unmounted: boolean };
  'rootfs.listMounted': { containers: string[] };
  'rootfs.sweep': { removed: string[] };
}

import { assertNever } from '../errors.ts';
import type { SimFs } from '../fs/sim.ts';
import { SimFailure } from '../sim/failure.ts';
import type { RootfsRequest } from './requests.ts';

const containerDir = /\/containers\/([0-9a-f]{64})$/;

/** Containers' root filesystems on the simulated host: which exist, by driver, and which are mounted. */
export class SimRootfs {
  readonly roots = new Map<string, 'overlay2' | 'vfs'>();
  /** Containers whose root is mounted (containerd's shim mounts it with the task, unmounts it at delete). */
  readonly mounted = new Set<string>();
  private readonly fs: SimFs;

  constructor(fs: SimFs) {
    this.fs = fs;
  }

  /** Power lost: no mount survives. */
  rebooted(): void {
    this.mounted.clear();
  }

  run(req: RootfsRequest): unknown {
    switch (req.effect) {
      case 'rootfs.prepare':
        this.roots.set(req.container, req.driver);
        return {};
      case 'rootfs.remove':
        // Removing through a mount would remove the running container's files: the real driver
        // never does; the machine deletes the task (which unmounts the root) first.
        if (this.mounted.has(req.container))
          throw new SimFailure(
            'EBUSY',
            `driver "${this.roots.get(req.container) ?? 'overlay2'}" failed to remove root filesystem for ${req.container}: unlinkat: device or resource busy`,
          );
        this.roots.delete(req.container);
        return {};
      case 'rootfs.unmount':
        return { unmounted: this.mounted.delete(req.container) };
      case 'rootfs.listMounted':
        return { containers: [...this.mounted].sort() };
      case 'rootfs.sweep': {
        const keep = new Set(req.keep);
        const removed = new Set<string>();
        for (const id of this.roots.keys()) {
          if (keep.has(id)) continue;
          this.roots.delete(id);
          this.mounted.delete(id);
          removed.add(id);
        }
        for (const path of [...this.fs.nodes.keys()]) {
          const id = containerDir.exec(path)?.[1];
          if (id === undefined || keep.has(id)) continue;
          this.fs.removeAll(path);
          removed.add(id);
        }
        return { removed: [...removed].sort() };
      }
      default:
        return assertNever(req, 'rootfs request');
    }
  }
}

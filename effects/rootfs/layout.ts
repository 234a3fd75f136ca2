import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';

/**
 * Where containers' root filesystems are, as Docker's graph drivers keep them under the data
 * root: overlay2's layer dir `overlay2/<id>` (diff, work, and `lower`: the image layers it
 * is made over, topmost first), or vfs's copy `vfs/dir/<id>` (with `vfs/lower/<id>`). Read
 * only: what changes them is the `rootfs.*` effects.
 */
export class RootfsLayout {
  readonly root: string;
  readonly execRoot: string;
  readonly namespace: string;

  constructor(root: string, execRoot: string, namespace: string) {
    this.root = root;
    this.execRoot = execRoot;
    this.namespace = namespace;
  }

  layerDir(id: string): string {
    return `${this.root}/overlay2/${id}`;
  }

  vfsDir(id: string): string {
    return `${this.root}/vfs/dir/${id}`;
  }

  vfsLowerFile(id: string): string {
    return `${this.root}/vfs/lower/${id}`;
  }

  /** The bundle's rootfs where the shim mounts an overlay2 container's root (inspect's MergedDir). */
  bundleRootfs(id: string): string {
    return `${this.execRoot}/containerd/daemon/io.containerd.runtime.v2.task/${this.namespace}/${id}/rootfs`;
  }

  /** Which driver holds a container's root (a daemon may have been started with the other one before), and its layers. */
  rootfsOf(id: string): Rootfs {
    const vfs = this.vfsDir(id);
    const driver = existsSync(vfs) ? 'vfs' : 'overlay2';
    let lower = '';
    try {
      lower = readFileSync(
        driver === 'vfs' ? this.vfsLowerFile(id) : `${this.layerDir(id)}/lower`,
        'utf8',
      ).trim();
    } catch {
      // no layer: the task's creation fails with containerd's words
    }
    return { driver, dir: driver === 'vfs' ? vfs : this.layerDir(id), lower };
  }

  /**
   * Bytes the container wrote (`ps --size`'s SizeRw): overlay2's upper dir; for vfs, the files
   * that differ from the image's (new, or another size or time than the topmost layer's copy),
   * as Docker's naive diff counts.
   */
  sizeRw(id: string): number {
    const fs = this.rootfsOf(id);
    return fs.driver === 'overlay2'
      ? treeSize(`${fs.dir}/diff`, null)
      : treeSize(fs.dir, fs.lower === '' ? [] : fs.lower.split(':'));
  }
}

/** Where a container's root filesystem is kept, by the driver that made it. */
export interface Rootfs {
  driver: 'overlay2' | 'vfs';
  /** overlay2's layer dir, or vfs's copy. */
  dir: string;
  /** The image layers it was made from, topmost first, `:`-separated (overlay's lowerdir). */
  lower: string;
}

/**
 * Bytes of the regular files under `dir`; with `bases` (layers, topmost first), only those not
 * the same (size and time) as the copy at the same path in the topmost base that has one.
 */
export function treeSize(dir: string, bases: readonly string[] | null = null): number {
  let total = 0;
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(`${dir}${rel}`);
    } catch {
      return;
    }
    for (const n of names) {
      const path = `${rel}/${n}`;
      let st;
      try {
        st = lstatSync(`${dir}${path}`);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(path);
      else if (st.isFile() || st.isSymbolicLink()) {
        if (bases !== null) {
          let orig = null;
          for (const base of bases) {
            try {
              orig = lstatSync(`${base}${path}`);
              break;
            } catch {
              // not in this layer
            }
          }
          if (orig && orig.size === st.size && orig.mtimeMs === st.mtimeMs) continue;
        }
        total += st.size;
      }
    }
  };
  walk('');
  return total;
}

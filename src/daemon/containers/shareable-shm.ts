import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { mountPoints } from '../../../effects/kernel/real.ts';

const run = promisify(execFile);

/**
 * The /dev/shm of containers with IpcMode shareable: a tmpfs the daemon mounts on the host
 * under the container's directory (`mounts/shm`, as dockerd's setupIpcDirs), bound into the
 * container and into those that join its IPC namespace. Mounted when its task is created,
 * unmounted when its task is deleted (and before its directory is removed).
 */
export class ShareableShm {
  private readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  pathOf(id: string): string {
    return `${this.root}/containers/${id}/mounts/shm`;
  }

  isMounted(id: string): boolean {
    return mountPoints().includes(this.pathOf(id));
  }

  /** Mounts it (mode 1777, ShmSize bytes, no exec, suid or devices) unless it is mounted already. */
  async mount(id: string, size: number): Promise<void> {
    if (this.isMounted(id)) return;
    const path = this.pathOf(id);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    await run('mount', [
      '-t',
      'tmpfs',
      '-o',
      `nosuid,nodev,noexec,mode=1777,size=${size}`,
      'shm',
      path,
    ]);
  }

  async unmount(id: string): Promise<void> {
    if (!this.isMounted(id)) return;
    const path = this.pathOf(id);
    await run('umount', [path]).catch(() => run('umount', ['-l', path]));
  }
}

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { assertNever } from '../errors.ts';
import { EffectFailure, failureFrom, type Handler } from '../handler.ts';
import { mountPoints } from '../kernel/real.ts';
import type { RootfsLayout } from './layout.ts';
import type { RootfsRequest, RootfsResults } from './requests.ts';
import { buildVfsRootfs } from './vfs.ts';

const run = promisify(execFile);

const containerId = /^[0-9a-f]{64}$/;

/** Unmounts `path` if it is mounted (lazily when busy); whether it was. */
async function unmountIfMounted(path: string, mounted: readonly string[]): Promise<boolean> {
  if (!mounted.includes(path)) return false;
  await run('umount', [path])
    .catch(() => run('umount', ['-l', path]))
    .catch(() => undefined);
  return true;
}

/** Containers' root filesystems and directories on the real host. */
export class RealRootfs implements Handler<RootfsRequest> {
  private readonly layout: RootfsLayout;

  constructor(layout: RootfsLayout) {
    this.layout = layout;
  }

  async run(req: RootfsRequest): Promise<unknown> {
    switch (req.effect) {
      case 'rootfs.prepare':
        await this.prepare(req.container, req.driver, req.layers);
        return {} satisfies RootfsResults['rootfs.prepare'];
      case 'rootfs.remove':
        await this.remove(req.container);
        return {} satisfies RootfsResults['rootfs.remove'];
      case 'rootfs.unmount':
        return {
          unmounted: await this.unmount(req.container),
        } satisfies RootfsResults['rootfs.unmount'];
      case 'rootfs.listMounted':
        return {
          containers: this.mountedContainers(),
        } satisfies RootfsResults['rootfs.listMounted'];
      case 'rootfs.sweep':
        return {
          removed: await this.sweep(new Set(req.keep)),
        } satisfies RootfsResults['rootfs.sweep'];
      default:
        return assertNever(req, 'rootfs request');
    }
  }

  private async prepare(id: string, driver: 'overlay2' | 'vfs', layers: string[]): Promise<void> {
    const l = this.layout;
    try {
      if (driver === 'vfs') {
        mkdirSync(`${l.root}/vfs/dir`, { recursive: true, mode: 0o700 });
        mkdirSync(`${l.root}/vfs/lower`, { recursive: true, mode: 0o700 });
        // The container's root is a copy of the image's layers applied in order (owners, modes,
        // links and times kept: `ps --size` counts only what differs from them).
        if (layers.length === 0) mkdirSync(l.vfsDir(id), { mode: 0o755 });
        else await buildVfsRootfs(layers, l.vfsDir(id));
        writeFileSync(l.vfsLowerFile(id), layers.join(':'));
        return;
      }
      const dir = l.layerDir(id);
      // The mounted root takes the upper dir's mode: 0755 like the image's root, so any user can traverse "/".
      mkdirSync(`${dir}/diff`, { recursive: true, mode: 0o755 });
      mkdirSync(`${dir}/work`, { recursive: true, mode: 0o700 });
      writeFileSync(`${dir}/lower`, layers.join(':'));
    } catch (err) {
      throw failureFrom(err, 'prepare root filesystem', id);
    }
  }

  private async remove(id: string): Promise<void> {
    const l = this.layout;
    // Never delete through a mount: a root statedock itself mounted is detached first.
    await unmountIfMounted(`${l.layerDir(id)}/merged`, mountPoints());
    try {
      // In the thread pool: what a container wrote to its root can be large, and a removal on
      // this thread stalls every API answer meanwhile (135 ms seen under load).
      // One driver's root exists; the others' paths are looked up at once, not in turn.
      await Promise.all([
        rm(l.layerDir(id), { recursive: true, force: true }),
        rm(l.vfsDir(id), { recursive: true, force: true }),
        rm(l.vfsLowerFile(id), { force: true }),
      ]);
    } catch (err) {
      const cause = failureFrom(err, 'unlinkat', l.layerDir(id));
      const driver = existsSync(l.vfsDir(id)) ? 'vfs' : 'overlay2';
      throw new EffectFailure(
        cause.code,
        `driver "${driver}" failed to remove root filesystem for ${id}: ${cause.message}`,
      );
    }
  }

  private async unmount(id: string): Promise<boolean> {
    const mounted = mountPoints();
    const legacy = await unmountIfMounted(`${this.layout.layerDir(id)}/merged`, mounted);
    // The shim may unmount it itself meanwhile (one being reaped exits): a root already gone is fine.
    const bundled = await unmountIfMounted(this.layout.bundleRootfs(id), mounted);
    return legacy || bundled;
  }

  /** Overlay roots mounted in the shims' bundles, or under the data root. */
  private mountedContainers(): string[] {
    const roots = [this.layout.root, this.layout.execRoot].map((p) => `${p}/`);
    const ids = mountPoints()
      .filter((m) => roots.some((r) => m.startsWith(r)))
      .flatMap((m) => /\/([0-9a-f]{64})\/(?:rootfs|merged)$/.exec(m)?.[1] ?? []);
    return [...new Set(ids)];
  }

  private async sweep(keep: ReadonlySet<string>): Promise<string[]> {
    const l = this.layout;
    const removed = new Set<string>();
    const mounted = mountPoints();
    for (const dir of ['containers', 'overlay2', 'vfs/dir']) {
      let names: string[];
      try {
        names = readdirSync(`${l.root}/${dir}`);
      } catch {
        continue;
      }
      for (const id of names) {
        if (!containerId.test(id) || keep.has(id)) continue;
        await unmountIfMounted(`${l.layerDir(id)}/merged`, mounted);
        await rm(`${l.root}/${dir}/${id}`, { recursive: true, force: true });
        if (dir === 'vfs/dir') await rm(l.vfsLowerFile(id), { force: true });
        removed.add(id);
      }
    }
    return [...removed].sort();
  }
}

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { ArchiveRequest, ArchiveResults, FsLayout } from './requests.ts';
import { assertNever } from '../errors.ts';
import { EffectFailure, failureFrom } from '../handler.ts';
import { ContainerFs, ContainerPathError } from './container-fs.ts';
import { ExtractThread } from './extract-thread.ts';
import { writeLayerTar } from './layer-tar.ts';

const run = promisify(execFile);

/**
 * The archive effects on the real host: `docker cp` into a container (a stopped overlay2
 * container's root is mounted for the unpack and unmounted after it, inside the effect), a
 * container's changes as a layer tarball, and a committed image's config.
 * Request bodies are streams, not JSON: the route registers one under a handle the effect names.
 */
export class RealArchive {
  private readonly uploads = new Map<string, Readable>();
  private readonly root: string;
  /** Where copies in are unpacked: a thread of its own, started at the first one. */
  private readonly extractThread = new ExtractThread();

  constructor(opts: { root: string }) {
    this.root = opts.root;
  }

  /** Registers an upload (a PUT's body) for one `archive.extract`; returns its handle. */
  upload(body: Readable): string {
    const handle = `upload-${randomBytes(6).toString('hex')}`;
    this.uploads.set(handle, body);
    return handle;
  }

  async run(req: ArchiveRequest): Promise<unknown> {
    switch (req.effect) {
      case 'archive.extract': {
        const input = this.uploads.get(req.upload);
        this.uploads.delete(req.upload);
        if (!input) throw new EffectFailure('ENOENT', `upload ${req.upload} is gone`);
        return this.withWritableRoot(req.layout, async (layout) => {
          const fs = new ContainerFs(layout);
          let dest: string;
          try {
            dest = fs.resolve(req.path, true);
          } catch (err) {
            if (err instanceof ContainerPathError) throw new EffectFailure('EINVAL', err.message);
            throw err;
          }
          const at = fs.locate(dest);
          if (!at) throw new EffectFailure('ENOENT', `no such directory: ${req.path}`);
          if (!at.stat.isDirectory())
            throw new EffectFailure('ENOTDIR', 'extraction point is not a directory');
          if (!at.writable) throw new EffectFailure('EROFS', 'mounted volume is marked read-only');
          try {
            const entries = await this.extractThread.extract(layout, dest, input, {
              noOverwriteDirNonDir: req.noOverwriteDirNonDir,
              owner: req.owner,
            });
            return { entries } satisfies ArchiveResults['archive.extract'];
          } catch (err) {
            throw err instanceof EffectFailure ? err : failureFrom(err, 'extract', req.path);
          }
        });
      }
      case 'archive.diffTar':
        try {
          return (await writeLayerTar(
            req.upper,
            req.lower,
            req.overlay,
            req.dest,
          )) satisfies ArchiveResults['archive.diffTar'];
        } catch (err) {
          throw failureFrom(err, 'write layer', req.dest);
        }
      case 'archive.writeConfig': {
        const json = JSON.stringify(req.config);
        try {
          writeFileSync(req.path, json, { mode: 0o600 });
        } catch (err) {
          throw failureFrom(err, 'write', req.path);
        }
        return {
          id: `sha256:${createHash('sha256').update(json).digest('hex')}`,
        } satisfies ArchiveResults['archive.writeConfig'];
      }
      default:
        return assertNever(req, 'archive request');
    }
  }

  /**
   * The container's files, writable: a running container's root or a vfs copy as they are; a
   * stopped overlay2 container's upper dir over its image's layer, mounted for the call.
   */
  private async withWritableRoot<T>(
    layout: FsLayout,
    f: (layout: FsLayout) => Promise<T>,
  ): Promise<T> {
    if (layout.layers.length === 1) return f(layout);
    const [upper, ...lower] = layout.layers as [string, ...string[]];
    const mnt = `${this.root}/tmp/cp-${randomBytes(6).toString('hex')}`;
    mkdirSync(mnt, { recursive: true, mode: 0o700 });
    try {
      await run('mount', [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${lower.join(':')},upperdir=${upper},workdir=${layout.work ?? `${upper}/../work`}`,
        mnt,
      ]).catch((err: unknown) => {
        throw new EffectFailure('EIO', `mount the container's root: ${(err as Error).message}`);
      });
      try {
        return await f({ layers: [mnt], mounts: layout.mounts });
      } finally {
        await run('umount', [mnt]).catch(() => run('umount', ['-l', mnt]));
      }
    } finally {
      // Never recursive: were the unmount to have failed, that would delete the container's files.
      rmdirSync(mnt);
    }
  }
}

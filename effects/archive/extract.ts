import {
  chmodSync,
  chownSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { extract as tarExtract, type Headers } from 'tar-stream';
import { EffectFailure } from '../handler.ts';
import { cleanPath, type ContainerFs } from './container-fs.ts';
import { FileWrites } from './file-writes.ts';

/** Who a file this daemon makes belongs to (its effective user and group). */
const daemonUid = process.geteuid?.() ?? 0;
const daemonGid = process.getegid?.() ?? 0;

/** mkdir(2); false when the name is taken (by anything: a link is not followed). */
function mkdirAt(path: string, mode: number): boolean {
  try {
    mkdirSync(path, { mode });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function lstat(path: string): ReturnType<typeof lstatSync> | null {
  try {
    // No error object for a missing name (most lookups of an extraction): it costs a stack.
    return lstatSync(path, { throwIfNoEntry: false }) ?? null;
  } catch {
    return null;
  }
}

/**
 * Unpacks a tar stream into a directory of the container (`docker cp` in, dockerd's
 * extractToDir): every entry's parent is resolved inside the container (a symlink pointing
 * at `/etc` reaches the container's /etc, never the host's), an entry climbing out with `..`
 * is refused, an existing entry is replaced (a directory only by a directory with
 * `noOverwriteDirNonDir`), and modes, owners and times come from the tar (owners from
 * `owner` with `-a`). Returns the number of entries.
 */
export async function extractInto(
  fs: ContainerFs,
  dest: string,
  input: Readable,
  opts: { noOverwriteDirNonDir: boolean; owner: { uid: number; gid: number } | null },
): Promise<number> {
  // Room for the body to come in while an entry waits for the disk.
  const ex = tarExtract({ highWaterMark: 4 << 20 });
  const dirTimes: { host: string; mtime: Date }[] = [];
  const writes = new FileWrites();
  let count = 0;
  /** The entry being unpacked: waited for before a failure is told, so its file is closed. */
  let current: Promise<void> = Promise.resolve();
  ex.on('entry', (raw: Headers, stream, next) => {
    // An entry ended by a failed body (a client gone) says so on the extractor; its own error
    // may come while nothing reads it yet (its file is being opened) and must not go unheard.
    stream.on('error', () => undefined);
    // What a header leaves out is tar's zero value.
    const h = {
      ...raw,
      mode: raw.mode ?? 0,
      uid: raw.uid ?? 0,
      gid: raw.gid ?? 0,
      mtime: raw.mtime ?? new Date(0),
      linkname: raw.linkname ?? '',
    };
    current = (async () => {
      writes.check();
      count += 1;
      const rel = h.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
      if (rel === '' || rel === '.') {
        stream.resume();
        return;
      }
      const norm = posix.normalize(rel);
      if (norm === '..' || norm.startsWith('../') || posix.isAbsolute(norm))
        throw new EffectFailure(
          'EINVAL',
          `invalid tar header: ${h.name} is a breakout of the destination`,
        );
      const target = cleanPath(`${dest}/${rel}`);
      const { path: parent, at: where } = fs.resolveAndLocate(
        target.slice(0, target.lastIndexOf('/')) || '/',
      );
      const name = target.slice(target.lastIndexOf('/') + 1);
      if (!where) {
        // A parent the tar did not list: made as tar does (0755).
        throw new EffectFailure('ENOENT', `extract ${h.name}: no such directory ${parent}`);
      }
      if (!where.stat.isDirectory())
        throw new EffectFailure('ENOTDIR', `extract ${h.name}: ${parent} is not a directory`);
      if (!where.writable) throw new EffectFailure('EROFS', 'mounted volume is marked read-only');
      const host = `${where.host}/${name}`;
      const isDir = h.type === 'directory';
      /** What is at the name already, made room for as the entry needs (the existing stat). */
      const clear = (): ReturnType<typeof lstat> => {
        const existing = lstat(host);
        if (existing) {
          if (existing.isDirectory() && !isDir) {
            if (opts.noOverwriteDirNonDir)
              throw new EffectFailure(
                'EEXIST',
                `cannot overwrite directory "${host}" with non-directory "${h.name}"`,
              );
            rmSync(host, { recursive: true, force: true });
          } else if (!existing.isDirectory() && isDir) {
            if (opts.noOverwriteDirNonDir)
              throw new EffectFailure(
                'EEXIST',
                `cannot overwrite non-directory "${host}" with directory "${h.name}"`,
              );
            unlinkSync(host);
          } else if (!isDir) unlinkSync(host);
        }
        return existing;
      };
      const uid = opts.owner?.uid ?? h.uid;
      const gid = opts.owner?.gid ?? h.gid;
      switch (h.type) {
        case 'directory': {
          // Made first; what was at the name is looked at only when there was something.
          const made = mkdirAt(host, h.mode & 0o7777);
          if (!made && !clear()?.isDirectory()) mkdirSync(host, { mode: h.mode & 0o7777 });
          chmodSync(host, h.mode & 0o7777);
          chownSync(host, uid, gid);
          dirTimes.push({ host, mtime: h.mtime });
          stream.resume();
          return;
        }
        case 'file':
        case 'contiguous-file': {
          const meta = {
            mode: h.mode & 0o7777,
            uid,
            gid,
            mtime: h.mtime,
            // A new file is its maker's, with the group of a set-group-ID directory it is in.
            madeOwned:
              uid === daemonUid &&
              gid === ((where.stat.mode & 0o2000) !== 0 ? where.stat.gid : daemonGid),
          };
          // Created exclusively (O_EXCL|O_NOFOLLOW); a name already taken is made room for and
          // created again. The bytes, owner, mode and time may land after `next`.
          if (!(await writes.write(host, stream, meta, raw.size ?? 0, false))) {
            clear();
            await writes.write(host, stream, meta, raw.size ?? 0, true);
          }
          return;
        }
        case 'symlink':
          clear();
          symlinkSync(h.linkname, host);
          lchownSync(host, uid, gid);
          lutimesSync(host, h.mtime, h.mtime);
          stream.resume();
          return;
        case 'link': {
          clear();
          const src = fs.locate(fs.resolve(cleanPath(`${dest}/${h.linkname}`), false));
          if (!src)
            throw new EffectFailure('ENOENT', `extract ${h.name}: no link target ${h.linkname}`);
          linkSync(src.host, host);
          stream.resume();
          return;
        }
        case 'fifo':
        case 'character-device':
        case 'block-device': {
          clear();
          const kind: string[] =
            h.type === 'fifo'
              ? ['p']
              : [h.type === 'character-device' ? 'c' : 'b', String(h.devmajor), String(h.devminor)];
          execFileSync('mknod', ['-m', (h.mode & 0o7777).toString(8), host, ...kind]);
          lchownSync(host, uid, gid);
          stream.resume();
          return;
        }
        default:
          clear();
          stream.resume();
      }
    })().then(
      () => next(),
      (err: unknown) => next(err as Error),
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      ex.on('error', reject);
      ex.on('finish', () => resolve());
      // A body cut short ends the entry being written too (its file is closed).
      input.on('error', (err) => ex.destroy(err));
      input.pipe(ex);
    });
  } catch (err) {
    // The files already named are closed before the failure is told.
    await current;
    await writes.settle().catch(() => undefined);
    throw err;
  }
  await writes.settle();
  // Directories' times last: writing into them changed them.
  for (const d of dirTimes.reverse()) utimesSync(d.host, d.mtime, d.mtime);
  return count;
}

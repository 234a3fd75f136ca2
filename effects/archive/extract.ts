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
import { EffectFailure } from '../handler.ts';
import { cleanPath, type ContainerFs } from './container-fs.ts';
import { createFile, FileFill } from './file-writes.ts';
import { TarReader, type TarEntrySink, type TarHeader } from './tar-reader.ts';

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

export interface ExtractOptions {
  noOverwriteDirNonDir: boolean;
  owner: { uid: number; gid: number } | null;
}

/**
 * Unpacks a tar into a directory of the container (`docker cp` in, dockerd's extractToDir),
 * as its bytes are written to it: every entry's parent is resolved inside the container (a
 * symlink pointing at `/etc` reaches the container's /etc, never the host's), an entry
 * climbing out with `..` is refused, an existing entry is replaced (a directory only by a
 * directory with `noOverwriteDirNonDir`), and modes, owners and times come from the tar (owners
 * from `owner` with `-a`). Every call is synchronous and done with its bytes when it returns
 * (see TarReader): it runs on the extraction thread (extract-worker.ts). A failure is thrown
 * by `write` or `end`, the file being written closed first; `abort` closes it too.
 */
export class Unpacker {
  private readonly fs: ContainerFs;
  private readonly dest: string;
  private readonly opts: ExtractOptions;
  private readonly reader = new TarReader((h) => this.entry(h));
  private readonly dirTimes: { host: string; mtime: Date }[] = [];
  /** The regular file being written, closed by a failure. */
  private file: FileFill | null = null;
  private count = 0;

  constructor(fs: ContainerFs, dest: string, opts: ExtractOptions) {
    this.fs = fs;
    this.dest = dest;
    this.opts = opts;
  }

  write(chunk: Buffer): void {
    try {
      this.reader.write(chunk);
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /** The tar's end: the directories' times, and the number of entries. */
  end(): number {
    try {
      this.reader.end();
    } catch (err) {
      this.abort();
      throw err;
    }
    // Directories' times last: writing into them changed them.
    for (const d of this.dirTimes.reverse()) utimesSync(d.host, d.mtime, d.mtime);
    return this.count;
  }

  /** Closes the file being written (the body failed, or the extraction did). */
  abort(): void {
    this.file?.close();
    this.file = null;
  }

  /** Makes an entry's name; its sink when its data is to be written (a regular file's). */
  private entry(raw: TarHeader): TarEntrySink | null {
    // What a header leaves out is tar's zero value.
    const h = {
      ...raw,
      mode: raw.mode ?? 0,
      uid: raw.uid ?? 0,
      gid: raw.gid ?? 0,
      mtime: raw.mtime ?? new Date(0),
      linkname: raw.linkname ?? '',
    };
    this.count += 1;
    const rel = h.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    if (rel === '' || rel === '.') {
      return null;
    }
    const norm = posix.normalize(rel);
    if (norm === '..' || norm.startsWith('../') || posix.isAbsolute(norm))
      throw new EffectFailure(
        'EINVAL',
        `invalid tar header: ${h.name} is a breakout of the destination`,
      );
    const target = cleanPath(`${this.dest}/${rel}`);
    const { path: parent, at: where } = this.fs.resolveAndLocate(
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
          if (this.opts.noOverwriteDirNonDir)
            throw new EffectFailure(
              'EEXIST',
              `cannot overwrite directory "${host}" with non-directory "${h.name}"`,
            );
          rmSync(host, { recursive: true, force: true });
        } else if (!existing.isDirectory() && isDir) {
          if (this.opts.noOverwriteDirNonDir)
            throw new EffectFailure(
              'EEXIST',
              `cannot overwrite non-directory "${host}" with directory "${h.name}"`,
            );
          unlinkSync(host);
        } else if (!isDir) unlinkSync(host);
      }
      return existing;
    };
    const uid = this.opts.owner?.uid ?? h.uid;
    const gid = this.opts.owner?.gid ?? h.gid;
    switch (h.type) {
      case 'directory': {
        // Made first; what was at the name is looked at only when there was something.
        const made = mkdirAt(host, h.mode & 0o7777);
        if (!made && !clear()?.isDirectory()) mkdirSync(host, { mode: h.mode & 0o7777 });
        chmodSync(host, h.mode & 0o7777);
        chownSync(host, uid, gid);
        this.dirTimes.push({ host, mtime: h.mtime });
        return null;
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
        // created again.
        let fd = createFile(host, meta, false);
        if (fd === null) {
          clear();
          fd = createFile(host, meta, true);
        }
        this.file = new FileFill(fd, meta);
        return this.file;
      }
      case 'symlink':
        clear();
        symlinkSync(h.linkname, host);
        lchownSync(host, uid, gid);
        lutimesSync(host, h.mtime, h.mtime);
        return null;
      case 'link': {
        clear();
        const src = this.fs.locate(this.fs.resolve(cleanPath(`${this.dest}/${h.linkname}`), false));
        if (!src)
          throw new EffectFailure('ENOENT', `extract ${h.name}: no link target ${h.linkname}`);
        linkSync(src.host, host);
        return null;
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
        return null;
      }
      default:
        clear();
        return null;
    }
  }
}

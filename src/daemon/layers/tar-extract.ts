import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  createWriteStream,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { extract, type Headers } from 'tar-stream';

const run = promisify(execFile);

/**
 * A tar entry refused because it would reach outside the directory it is unpacked into (or
 * make a device node where that is not allowed). Nothing of the entry is written.
 */
export class TarRefused extends Error {
  override name = 'TarRefused';
}

export interface ExtractOptions {
  /** Device nodes and FIFOs are made only when true (root, no user-namespace remapping). */
  allowDevices: boolean;
  /** Owners are restored only when true (root). */
  chown: boolean;
  /** Also writes the (uncompressed) tar stream to this file: the layer's source for save and push. */
  keepTar?: string;
}

/** What unpacking a layer found: its diff ID (sha256 of the tar stream), sizes, and its whiteouts. */
export interface ExtractedLayer {
  diffId: string;
  /** Bytes of the tar stream (what `docker save` writes back). */
  tarSize: number;
  /** Bytes of the regular files (the layer's size, as `docker images` counts it). */
  size: number;
  /** Paths (relative, no leading slash) a `.wh.<name>` entry deletes from the layers below. */
  whiteouts: string[];
  /** Directories (relative) whose lower content an `.wh..wh..opq` entry hides. */
  opaques: string[];
}

const whiteoutPrefix = '.wh.';
const opaqueMarker = '.wh..wh..opq';

/** `./a/b/` → `a/b`; null for the root itself. Refuses absolute names and names climbing out. */
function entryPath(name: string, dest: string): string | null {
  if (name.startsWith('/'))
    throw new TarRefused(`"${name}" is outside of "${dest}": absolute paths are refused`);
  const clean = posix.normalize(name).replace(/\/+$/, '');
  if (clean === '.' || clean === '') return null;
  if (clean === '..' || clean.startsWith('../'))
    throw new TarRefused(`"${name}" is outside of "${dest}"`);
  return clean;
}

/**
 * Unpacks a layer tar stream into `dest` (which must exist), the way Docker applies a layer
 * for overlay2: `.wh.<name>` becomes a 0/0 character device `<name>`, `.wh..wh..opq` makes
 * its directory opaque (`trusted.overlay.opaque=y`), other `.wh..wh.` names are skipped.
 *
 * Every entry must stay under `dest`: absolute names, names with `..` climbing out, a symlink
 * whose relative target climbs out, a hard link to a name outside, and any entry whose parent
 * is a symlink are refused with a {@link TarRefused} naming the entry (nothing is followed
 * out of `dest`: parents are checked with lstat, an existing entry is unlinked before it is
 * replaced). The caller removes `dest` on failure.
 */
export async function extractLayer(
  source: Readable,
  dest: string,
  opts: ExtractOptions,
): Promise<ExtractedLayer> {
  const hash = createHash('sha256');
  let tarSize = 0;
  let size = 0;
  const whiteouts: string[] = [];
  const opaques: string[] = [];
  const realDirs = new Set<string>(['']);
  /** Directories' modes and times, set last (adding children changes a directory's mtime). */
  const dirMeta: { path: string; mode: number; mtime: Date | undefined }[] = [];
  const xattrs: { path: string; name: string; value: Buffer }[] = [];
  const devices: {
    path: string;
    kind: 'c' | 'b' | 'p';
    major: number;
    minor: number;
    mode: number;
  }[] = [];

  /** Makes sure every parent of `rel` is a real directory under dest (creating missing ones). */
  const ensureParents = (rel: string, name: string): void => {
    const parts = rel.split('/');
    let cur = '';
    for (let i = 0; i < parts.length - 1; i++) {
      cur = cur === '' ? (parts[i] as string) : `${cur}/${parts[i] as string}`;
      if (realDirs.has(cur)) continue;
      let st;
      try {
        st = lstatSync(`${dest}/${cur}`);
      } catch {
        mkdirSync(`${dest}/${cur}`, { mode: 0o755 });
        realDirs.add(cur);
        continue;
      }
      if (st.isSymbolicLink())
        throw new TarRefused(
          `"${name}" is outside of "${dest}": its parent "${cur}" is a symbolic link`,
        );
      if (!st.isDirectory())
        throw new TarRefused(`"${name}": its parent "${cur}" is not a directory`);
      realDirs.add(cur);
    }
  };

  /** Removes what is at `path` unless it is a directory and a directory is wanted. */
  const clear = (path: string, keepDir: boolean): void => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    if (keepDir && st.isDirectory()) return;
    rmSync(path, { recursive: true, force: true });
  };

  const ex = extract();
  const copy = opts.keepTar === undefined ? null : createWriteStream(opts.keepTar, { mode: 0o600 });
  const copyDone =
    copy === null
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          copy.on('finish', resolve);
          copy.on('error', reject);
        });
  // Awaited on success; on failure the copy is destroyed and its error is of no interest.
  copyDone.catch(() => undefined);
  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      tarSize += chunk.length;
      if (copy !== null && !copy.write(chunk)) copy.once('drain', () => cb(null, chunk));
      else cb(null, chunk);
    },
    flush(cb) {
      copy?.end();
      cb();
    },
  });

  ex.on('entry', (header: Headers & { pax?: Record<string, string> }, stream, next) => {
    // tar-stream's entry streams are streamx streams: their end is heard from a listener
    // added now, and the next entry comes once this one is drained and handled.
    let ended = false;
    let outcome: { err: unknown } | null = null;
    let settled = false;
    const finish = (): void => {
      if (settled || outcome === null || !ended) return;
      settled = true;
      if (outcome.err) next(outcome.err);
      else next();
    };
    stream.on('end', () => {
      ended = true;
      finish();
    });
    const type0 = header.type ?? 'file';
    if (type0 !== 'file' && type0 !== 'contiguous-file') stream.resume();
    const handle = async (): Promise<void> => {
      const rel = entryPath(header.name, dest);
      const type = header.type ?? 'file';
      if (type === 'pax-global-header') return;
      if (rel === null) {
        // The root itself: only its mode and times.
        if (type === 'directory')
          dirMeta.push({ path: dest, mode: header.mode ?? 0o755, mtime: header.mtime });
        return;
      }
      const base = posix.basename(rel);
      const dir = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
      if (base.startsWith(whiteoutPrefix)) {
        ensureParents(rel, header.name);
        if (base === opaqueMarker) {
          opaques.push(dir);
          xattrs.push({
            path: dir === '' ? '.' : dir,
            name: 'trusted.overlay.opaque',
            value: Buffer.from('y'),
          });
        } else if (!base.startsWith(`${whiteoutPrefix}${whiteoutPrefix}`)) {
          const hidden = dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`;
          if (hidden.split('/').includes('..'))
            throw new TarRefused(`"${header.name}" is outside of "${dest}"`);
          whiteouts.push(hidden);
          clear(`${dest}/${hidden}`, false);
          devices.push({ path: hidden, kind: 'c', major: 0, minor: 0, mode: 0 });
        }
        return;
      }
      ensureParents(rel, header.name);
      const path = `${dest}/${rel}`;
      const mode = (header.mode ?? 0o644) & 0o7777;
      const own = (): void => {
        if (opts.chown) lchownSync(path, header.uid ?? 0, header.gid ?? 0);
      };
      for (const [k, v] of Object.entries(header.pax ?? {}))
        if (k.startsWith('SCHILY.xattr.'))
          xattrs.push({
            path: rel,
            name: k.slice('SCHILY.xattr.'.length),
            value: Buffer.from(v, 'latin1'),
          });
      switch (type) {
        case 'directory':
          clear(path, true);
          mkdirSync(path, { recursive: true, mode: 0o700 });
          realDirs.add(rel);
          own();
          dirMeta.push({ path, mode, mtime: header.mtime });
          return;
        case 'file':
        case 'contiguous-file': {
          clear(path, false);
          await new Promise<void>((resolve, reject) => {
            const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
            out.on('error', reject);
            out.on('finish', resolve);
            stream.on('error', reject);
            stream.pipe(out);
          });
          size += header.size ?? 0;
          own();
          chmodSync(path, mode);
          if (header.mtime) utimesSync(path, header.mtime, header.mtime);
          return;
        }
        case 'symlink': {
          const target = header.linkname ?? '';
          // An absolute target is resolved inside the container's root (Docker allows it); a
          // relative one must not climb out of the layer.
          if (!target.startsWith('/')) {
            const resolved = posix.normalize(posix.join(dir, target));
            if (resolved === '..' || resolved.startsWith('../'))
              throw new TarRefused(`invalid symlink "${rel}" -> "${target}"`);
          }
          clear(path, false);
          symlinkSync(target, path);
          if (opts.chown) lchownSync(path, header.uid ?? 0, header.gid ?? 0);
          if (header.mtime) lutimesSync(path, header.mtime, header.mtime);
          return;
        }
        case 'link': {
          const linkname = header.linkname ?? '';
          let target: string | null;
          try {
            target = entryPath(linkname, dest);
          } catch {
            target = null;
          }
          if (target === null) throw new TarRefused(`invalid hardlink "${rel}" -> "${linkname}"`);
          ensureParents(target, linkname);
          clear(path, false);
          linkSync(`${dest}/${target}`, path);
          return;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo': {
          if (!opts.allowDevices)
            throw new TarRefused(
              `"${header.name}": ${type === 'fifo' ? 'a FIFO' : 'a device node'} is refused: statedock makes device nodes only when it runs as root without user-namespace remapping`,
            );
          clear(path, false);
          devices.push({
            path: rel,
            kind: type === 'fifo' ? 'p' : type === 'block-device' ? 'b' : 'c',
            major: header.devmajor ?? 0,
            minor: header.devminor ?? 0,
            mode,
          });
          return;
        }
        default:
          throw new TarRefused(`unhandled tar header type ${String(type)} ("${header.name}")`);
      }
    };
    handle().then(
      () => {
        outcome = { err: null };
        stream.resume();
        finish();
      },
      (err: unknown) => {
        outcome = { err };
        stream.resume();
        finish();
      },
    );
  });

  try {
    await pipeline(source, counted, ex);
    await copyDone;
  } catch (err) {
    // The copy is closed before the caller removes the directory it is in.
    if (copy !== null && !copy.closed) {
      const closed = new Promise<void>((resolve) => copy.once('close', () => resolve()));
      copy.destroy();
      await closed;
    }
    throw err;
  }

  // Whiteouts are 0/0 character devices for overlayfs; Node has no mknod.
  for (const d of devices) {
    const args =
      d.kind === 'p'
        ? [`${dest}/${d.path}`, 'p']
        : [`${dest}/${d.path}`, d.kind, String(d.major), String(d.minor)];
    await run('mknod', ['-m', (d.mode & 0o7777).toString(8).padStart(4, '0'), ...args]);
  }
  if (xattrs.length > 0) await restoreXattrs(dest, xattrs);
  for (const d of dirMeta.reverse()) {
    chmodSync(d.path, d.mode);
    if (d.mtime) utimesSync(d.path, d.mtime, d.mtime);
  }
  return {
    diffId: `sha256:${hash.digest('hex')}`,
    tarSize,
    size,
    whiteouts,
    opaques,
  };
}

/** getfattr's dump escapes: octal for what is not printable, and the backslash itself. */
function dumpPath(path: string): string {
  let out = '';
  for (const byte of Buffer.from(path)) {
    if (byte <= 0x20 || byte >= 0x7f || byte === 0x5c)
      out += `\\${byte.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return out;
}

/** Extended attributes (and overlay's opaque marks) in one `setfattr --restore` (Node has no setxattr). */
async function restoreXattrs(
  dest: string,
  xattrs: { path: string; name: string; value: Buffer }[],
): Promise<void> {
  let dump = '';
  for (const x of xattrs)
    dump += `# file: ${dumpPath(x.path)}\n${x.name}=0s${x.value.toString('base64')}\n\n`;
  await new Promise<void>((resolve, reject) => {
    const child = execFile(
      'setfattr',
      ['-h', '--restore=-'],
      { cwd: dest },
      (err, _out, stderr) => {
        if (err) reject(new Error(`setting extended attributes: ${stderr.trim() || err.message}`));
        else resolve();
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(dump);
  });
}

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, lstatSync, readlinkSync, type Stats } from 'node:fs';
import { Transform } from 'node:stream';
import { pack as tarPack, type Headers } from 'tar-stream';
import { containerChanges, opaqueDirs } from './changes.ts';

function entryOf(name: string, st: Stats, host: string): Partial<Headers> & { name: string } {
  const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
  if (st.isDirectory()) return { ...base, name: `${name}/`, type: 'directory' };
  if (st.isSymbolicLink()) return { ...base, type: 'symlink', linkname: readlinkSync(host) };
  if (st.isFIFO()) return { ...base, type: 'fifo' };
  return { ...base, type: 'file', size: st.size };
}

/**
 * A container's changes as an image layer (`docker commit`): what its upper dir (or, for vfs,
 * its copy) holds that the image does not, in the image layer format: a deleted path is a
 * `.wh.<name>` entry, a replaced directory carries `.wh..wh..opq`. Written to `dest`; returns
 * the layer's DiffID (the sha256 of the tar) and its size.
 */
export async function writeLayerTar(
  upper: string,
  lower: readonly string[],
  overlay: boolean,
  dest: string,
): Promise<{ diffId: string; size: number }> {
  const pack = tarPack();
  const hash = createHash('sha256');
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const file = createWriteStream(dest, { mode: 0o600 });
  // tar-stream's pack is a streamx stream: piped, not given to stream.pipeline.
  const done = new Promise<void>((resolve, reject) => {
    file.on('finish', resolve).on('error', reject);
    counter.on('error', reject);
    pack.on('error', reject);
  });
  (pack as unknown as NodeJS.ReadableStream).pipe(counter).pipe(file);
  const opaque = overlay ? opaqueDirs(upper) : new Set<string>();
  const written = new Set<string>();
  // An entry without a body (a whiteout file is empty) is given an empty one, or tar-stream waits for it.
  const put = (h: Partial<Headers> & { name: string }): Promise<void> =>
    new Promise((resolve, reject) =>
      pack.entry(h, h.type === 'file' ? '' : undefined, (err) => (err ? reject(err) : resolve())),
    );
  const ensureParents = async (path: string): Promise<void> => {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      if (written.has(p)) continue;
      written.add(p);
      const host = `${upper}${p}`;
      await put(entryOf(p.slice(1), lstatSync(host), host));
    }
  };
  for (const c of containerChanges(upper, lower, overlay)) {
    const host = `${upper}${c.Path}`;
    await ensureParents(c.Path);
    const name = c.Path.slice(1);
    if (c.Kind === 2 && !(overlay && opaque.has(c.Path))) {
      const slash = name.lastIndexOf('/');
      await put({
        name: `${name.slice(0, slash + 1)}.wh.${name.slice(slash + 1)}`,
        type: 'file',
        size: 0,
        mode: 0o644,
        mtime: new Date(0),
      });
      continue;
    }
    const st = lstatSync(host);
    if (written.has(c.Path) && st.isDirectory()) continue;
    written.add(c.Path);
    const h = entryOf(name, st, host);
    if (h.type === 'file') await fileEntry(pack, h, host);
    else await put(h);
    if (overlay && opaque.has(c.Path))
      await put({
        name: `${name}/.wh..wh..opq`,
        type: 'file',
        size: 0,
        mode: 0o644,
        mtime: new Date(0),
      });
  }
  pack.finalize();
  await done;
  return { diffId: `sha256:${hash.digest('hex')}`, size };
}

/**
 * How much of a file is read at once for a tarball: a 1 MiB read is one hand-off to the thread
 * pool and one write to the client where the stream's default (64 KiB) made sixteen of each (a
 * `docker cp` out of 50 MiB spent about two thirds of its CPU on them).
 */
const READ_BYTES = 1 << 20;

/** A file's entry, its content streamed from the host (tar-stream's entries are streamx writables). */
export function fileEntry(
  pack: ReturnType<typeof tarPack>,
  h: Partial<Headers> & { name: string },
  host: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const entry = pack.entry(h, (err) => (err ? reject(err) : resolve()));
    // No more than the file's size: each read allocates a buffer of this size.
    const file = createReadStream(host, {
      highWaterMark: Math.max(1, Math.min(READ_BYTES, h.size ?? 0)),
    });
    // A pack destroyed mid-file (its client went) destroys the entry: the file goes with it.
    // pipe() leaves its source open and paused, and the descriptor (and with it a running
    // container's root, which the shim then cannot unmount) would be held for good.
    entry.on('close', () => file.destroy());
    file
      .on('error', (err) => {
        entry.destroy(err);
        reject(err);
      })
      .pipe(entry);
  });
}

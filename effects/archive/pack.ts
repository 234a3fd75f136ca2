import { readlinkSync, type Stats } from 'node:fs';
import { fileEntry } from './layer-tar.ts';
import { pack as tarPack, type Headers, type Pack } from 'tar-stream';
import type { ContainerFs } from './container-fs.ts';

/** Go's os.FileMode bits, as the X-Docker-Container-Path-Stat header carries them. */
export function goFileMode(st: Stats): number {
  let mode = st.mode & 0o777;
  if (st.mode & 0o4000) mode |= 1 << 23;
  if (st.mode & 0o2000) mode |= 1 << 22;
  if (st.mode & 0o1000) mode |= 1 << 20;
  if (st.isDirectory()) mode |= 1 << 31;
  else if (st.isSymbolicLink()) mode |= 1 << 27;
  else if (st.isFIFO()) mode |= 1 << 25;
  else if (st.isSocket()) mode |= 1 << 24;
  else if (st.isCharacterDevice()) mode |= (1 << 26) | (1 << 21);
  else if (st.isBlockDevice()) mode |= 1 << 26;
  return mode >>> 0;
}

/** `2026-12-04T18:46:14.808123456Z`: Go's RFC 3339 with nanoseconds, from the stat's time. */
export function goTime(st: Stats): string {
  const ns = BigInt(Math.round(st.mtimeMs * 1e6));
  const s = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${new Date(Number(s) * 1000).toISOString().slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

function header(
  name: string,
  st: Stats,
  linkname: string | null,
): (Partial<Headers> & { name: string }) | null {
  const base = {
    name,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: st.mtime,
  };
  if (st.isDirectory())
    return { ...base, name: name.endsWith('/') ? name : `${name}/`, type: 'directory' };
  if (st.isFile()) return { ...base, size: st.size, type: 'file' };
  if (st.isSymbolicLink()) return { ...base, type: 'symlink', linkname: linkname ?? '' };
  if (st.isFIFO()) return { ...base, type: 'fifo' };
  if (st.isCharacterDevice() || st.isBlockDevice())
    return {
      ...base,
      type: st.isCharacterDevice() ? 'character-device' : 'block-device',
      devmajor: Number(BigInt(st.rdev) >> 8n) & 0xfff,
      devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
    };
  return null; // sockets are not archived (as Go's tar does not)
}

/**
 * A tar stream of a path of the container (`docker cp` out, `docker export`): the path's own
 * entry named `rebase` (its contents only when `rebase` is '', as export has them), and for a
 * directory everything under it, read through the container's view of its files.
 */
export function packPath(fs: ContainerFs, path: string, rebase: string): Pack {
  const pack = tarPack();
  const add = async (cpath: string, name: string): Promise<void> => {
    const at = fs.locate(cpath);
    if (!at) return;
    const st = at.stat;
    if (name !== '') {
      const h = header(name, st, st.isSymbolicLink() ? readlinkSync(at.host) : null);
      if (h === null) return;
      if (h.type === 'file') {
        await fileEntry(pack, h, at.host);
      } else
        await new Promise<void>((resolve, reject) =>
          pack.entry(h, (err) => (err ? reject(err) : resolve())),
        );
    }
    if (!st.isDirectory()) return;
    for (const n of fs.readdir(cpath))
      await add(
        cpath === '/' ? `/${n}` : `${cpath}/${n}`,
        name === '' ? n : `${name.replace(/\/$/, '')}/${n}`,
      );
  };
  void add(path, rebase).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err as Error),
  );
  return pack;
}

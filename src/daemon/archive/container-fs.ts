import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import type { FsLayout } from '../../../effects/archive/requests.ts';

/** A path inside the container, split into its names. */
function names(path: string): string[] {
  return path.split('/').filter((n) => n !== '' && n !== '.');
}

/** `/a/b/../c/.` → `/a/c`; `..` stops at the root, as it does inside the container. */
export function cleanPath(path: string): string {
  const out: string[] = [];
  for (const n of names(path)) {
    if (n === '..') out.pop();
    else out.push(n);
  }
  return `/${out.join('/')}`;
}

function lstat(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/** overlay's whiteout: a character device 0/0 hides the lower file of that name. */
function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export class ContainerPathError extends Error {
  readonly code: 'ELOOP';
  constructor(message: string) {
    super(message);
    this.code = 'ELOOP';
  }
}

/**
 * A container's files as the container sees them, from the host: its volumes and bind mounts
 * over its root, the root being one directory (a running container's mounted root, a vfs copy)
 * or a stopped overlay2 container's upper dir over its image's layer (whiteouts and opaque
 * directories applied, nothing mounted). Symbolic links resolve inside the container: an
 * absolute target starts at its root and `..` stops there, so no path leaves it.
 */
export class ContainerFs {
  private readonly layout: FsLayout;
  private opaque: Set<string> | null = null;

  constructor(layout: FsLayout) {
    this.layout = layout;
  }

  private mountOf(path: string): { source: string; rest: string; rw: boolean } | null {
    let best: FsLayout['mounts'][number] | null = null;
    for (const m of this.layout.mounts) {
      const d = cleanPath(m.destination);
      if ((path === d || path.startsWith(`${d}/`)) && (!best || d.length > best.destination.length))
        best = { ...m, destination: d };
    }
    return best
      ? { source: best.source, rest: path.slice(best.destination.length), rw: best.rw }
      : null;
  }

  /** Opaque directories of an overlay upper dir (its xattr; one getfattr for the whole tree). */
  private opaqueDirs(): Set<string> {
    if (this.opaque) return this.opaque;
    const upper = this.layout.layers[0] as string;
    this.opaque = new Set<string>();
    // `getfattr -d` prints "# file: <path>" before the attribute of each path that has it.
    const dump = spawnSync(
      'getfattr',
      ['-R', '--absolute-names', '-d', '-m', 'trusted.overlay.opaque', upper],
      { encoding: 'utf8' },
    );
    let file: string | null = null;
    for (const line of (dump.stdout ?? '').split('\n')) {
      if (line.startsWith('# file: ')) file = line.slice(8);
      else if (file && /^trusted\.overlay\.opaque="y"/.test(line))
        this.opaque.add(file.slice(upper.length) || '/');
    }
    return this.opaque;
  }

  /** Where a clean container path is on the host (its last name not followed), or null. */
  locate(path: string): { host: string; stat: Stats; writable: boolean } | null {
    const m = this.mountOf(path);
    if (m) {
      const host = `${m.source}${m.rest}`;
      const stat = lstat(host);
      return stat ? { host, stat, writable: m.rw } : null;
    }
    const layers = this.layout.layers;
    if (layers.length === 1) {
      const host = `${layers[0] as string}${path === '/' ? '' : path}`;
      const stat = lstat(host);
      return stat ? { host, stat, writable: true } : null;
    }
    const [upper, lower] = layers as [string, string];
    const parts = names(path);
    let lowerHidden = false;
    for (let i = 1; i < parts.length; i++) {
      const q = `/${parts.slice(0, i).join('/')}`;
      const st = lstat(`${upper}${q}`);
      if (!st) continue;
      if (isWhiteout(st) || !st.isDirectory()) return null;
      if (this.opaqueDirs().has(q)) lowerHidden = true;
    }
    const top = `${upper}${path === '/' ? '' : path}`;
    const st = lstat(top);
    if (st) return isWhiteout(st) ? null : { host: top, stat: st, writable: true };
    if (lowerHidden) return null;
    const low = `${lower}${path === '/' ? '' : path}`;
    const ls = lstat(low);
    return ls ? { host: low, stat: ls, writable: true } : null;
  }

  /** Whether the image's layer is hidden at this path (an opaque or replaced directory, a whiteout, on the way). */
  private lowerHidden(path: string): boolean {
    const upper = this.layout.layers[0] as string;
    const parts = names(path);
    for (let i = 1; i <= parts.length; i++) {
      const q = `/${parts.slice(0, i).join('/')}`;
      const st = lstat(`${upper}${q}`);
      if (!st) continue;
      if (isWhiteout(st) || !st.isDirectory() || this.opaqueDirs().has(q)) return true;
    }
    return this.opaqueDirs().has('/');
  }

  /** The names in a directory of the container (mount points under it included). */
  readdir(path: string): string[] {
    const out = new Set<string>();
    const m = this.mountOf(path);
    const read = (dir: string): string[] => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    };
    if (m) for (const n of read(`${m.source}${m.rest}`)) out.add(n);
    else if (this.layout.layers.length === 1)
      for (const n of read(`${this.layout.layers[0] as string}${path === '/' ? '' : path}`))
        out.add(n);
    else {
      const [upper, lower] = this.layout.layers as [string, string];
      const sub = path === '/' ? '' : path;
      const hidden = new Set<string>();
      for (const n of read(`${upper}${sub}`)) {
        const st = lstat(`${upper}${sub}/${n}`);
        if (st && isWhiteout(st)) hidden.add(n);
        else out.add(n);
      }
      if (!this.lowerHidden(path))
        for (const n of read(`${lower}${sub}`)) if (!hidden.has(n)) out.add(n);
    }
    for (const mnt of this.layout.mounts) {
      const d = cleanPath(mnt.destination);
      const parent = d.slice(0, d.lastIndexOf('/')) || '/';
      if (parent === path && d !== '/') out.add(d.slice(d.lastIndexOf('/') + 1));
    }
    return [...out].sort();
  }

  /**
   * Resolves symbolic links inside the container (moby's FollowSymlinkInScope): every name
   * but the last, and the last too with `followLast`. Returns a clean container path.
   */
  resolve(path: string, followLast: boolean): string {
    const queue = names(path);
    const out: string[] = [];
    let links = 0;
    while (queue.length > 0) {
      const n = queue.shift() as string;
      if (n === '..') {
        out.pop();
        continue;
      }
      const candidate = `/${[...out, n].join('/')}`;
      if (queue.length > 0 || followLast) {
        const at = this.locate(candidate);
        if (at?.stat.isSymbolicLink()) {
          if (++links > 255) throw new ContainerPathError(`too many links while resolving ${path}`);
          const target = readlinkSync(at.host);
          if (target.startsWith('/')) out.length = 0;
          queue.unshift(...names(target));
          continue;
        }
      }
      out.push(n);
    }
    return `/${out.join('/')}`;
  }
}

import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import type { FsLayout } from './requests.ts';

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
    // No error object for a missing name (most lookups of an extraction): it costs a stack.
    return lstatSync(path, { throwIfNoEntry: false }) ?? null;
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
 * or layers merged as overlay merges them, topmost first (a stopped overlay2 container's upper
 * dir over its image's layers; or an image's layers alone): a whiteout (a 0/0 character
 * device) hides the name below it, an opaque directory or a non-directory hides what is under
 * its path below it; nothing is mounted. Symbolic links resolve inside the container: an
 * absolute target starts at its root and `..` stops there, so no path leaves it.
 */
export class ContainerFs {
  private readonly layout: FsLayout;
  private readonly opaque = new Map<number, Set<string>>();

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

  /** Opaque directories of one layer (its xattr; one getfattr for the whole tree), `/`-rooted. */
  private opaqueDirs(layer: number): Set<string> {
    const known = this.opaque.get(layer);
    if (known) return known;
    const dir = this.layout.layers[layer] as string;
    const found = new Set<string>();
    // `getfattr -d` prints "# file: <path>" before the attribute of each path that has it.
    const dump = spawnSync(
      'getfattr',
      ['-R', '--absolute-names', '-d', '-m', 'trusted.overlay.opaque', dir],
      { encoding: 'utf8' },
    );
    let file: string | null = null;
    for (const line of (dump.stdout ?? '').split('\n')) {
      if (line.startsWith('# file: ')) file = line.slice(8);
      else if (file && /^trusted\.overlay\.opaque="y"/.test(line))
        found.add(file.slice(dir.length) || '/');
    }
    this.opaque.set(layer, found);
    return found;
  }

  /**
   * What layer `i` does to the layers below it on the way to `path` (its directories above the
   * path, the root included; the path itself too with `self`): `gone` when one of them is a
   * whiteout or not a directory (nothing below shows), `opaque` when one is an opaque
   * directory (nothing below shows under it), else `open`.
   */
  private cover(i: number, path: string, self: boolean): 'gone' | 'opaque' | 'open' {
    const layer = this.layout.layers[i] as string;
    const parts = names(path);
    let opaque = this.opaqueDirs(i).has('/');
    for (let k = 1; k <= (self ? parts.length : parts.length - 1); k++) {
      const q = `/${parts.slice(0, k).join('/')}`;
      const st = lstat(`${layer}${q}`);
      if (!st) break;
      if (isWhiteout(st) || !st.isDirectory()) return 'gone';
      if (this.opaqueDirs(i).has(q)) opaque = true;
    }
    return opaque ? 'opaque' : 'open';
  }

  /** Where a clean container path is on the host (its last name not followed), or null. */
  locate(path: string): { host: string; stat: Stats; writable: boolean } | null {
    const m = this.mountOf(path);
    if (m) {
      const host = `${m.source}${m.rest}`;
      const stat = lstat(host);
      return stat ? { host, stat, writable: m.rw } : null;
    }
    const sub = path === '/' ? '' : path;
    for (let i = 0; i < this.layout.layers.length; i++) {
      const host = `${this.layout.layers[i] as string}${sub}`;
      const st = lstat(host);
      if (st) return isWhiteout(st) ? null : { host, stat: st, writable: true };
      // Below the last layer there is nothing to cover (and no tree-wide xattr scan to pay for).
      if (i === this.layout.layers.length - 1) break;
      if (this.cover(i, path, false) !== 'open') return null;
    }
    return null;
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
    else {
      const sub = path === '/' ? '' : path;
      const hidden = new Set<string>();
      for (let i = 0; i < this.layout.layers.length; i++) {
        const layer = this.layout.layers[i] as string;
        for (const n of read(`${layer}${sub}`)) {
          if (hidden.has(n)) continue;
          const st = lstat(`${layer}${sub}/${n}`);
          // A name is decided by the topmost layer that has it: a whiteout hides it below.
          if (st && isWhiteout(st)) hidden.add(n);
          else out.add(n);
          hidden.add(n);
        }
        if (i === this.layout.layers.length - 1 || this.cover(i, path, true) !== 'open') break;
      }
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
    return this.walk(path, followLast).path;
  }

  /**
   * Resolves every name of `path` (as `resolve` with `followLast`) and says where the result is
   * on the host, from the lookup the walk made of it: one lstat less than `locate` after
   * `resolve`, with the same answer (a name is looked up once, as it is followed).
   */
  resolveAndLocate(path: string): {
    path: string;
    at: { host: string; stat: Stats; writable: boolean } | null;
  } {
    const { path: resolved, last } = this.walk(path, true);
    return {
      path: resolved,
      at: last !== null && last.path === resolved ? last.at : this.locate(resolved),
    };
  }

  private walk(
    path: string,
    followLast: boolean,
  ): {
    path: string;
    /** The last name looked up, and where it was (null when it was not). */
    last: { path: string; at: { host: string; stat: Stats; writable: boolean } | null } | null;
  } {
    const queue = names(path);
    const out: string[] = [];
    let links = 0;
    let last: { path: string; at: { host: string; stat: Stats; writable: boolean } | null } | null =
      null;
    while (queue.length > 0) {
      const n = queue.shift() as string;
      if (n === '..') {
        out.pop();
        continue;
      }
      const candidate = `/${[...out, n].join('/')}`;
      if (queue.length > 0 || followLast) {
        const at = this.locate(candidate);
        last = { path: candidate, at };
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
    return { path: `/${out.join('/')}`, last };
  }
}

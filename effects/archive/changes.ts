import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { ContainerFs } from './container-fs.ts';

/** One change of a container's files, as `GET /containers/{id}/changes` lists it (Kind 0 C, 1 A, 2 D). */
export interface Change {
  Path: string;
  Kind: 0 | 1 | 2;
}

function lstat(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function sameDir(a: Stats, b: Stats): boolean {
  return a.size === b.size && a.mode === b.mode && Math.trunc(a.mtimeMs) === Math.trunc(b.mtimeMs);
}

/** overlay's opaque directories of an upper dir (paths relative to it, `/`-rooted). */
export function opaqueDirs(upper: string): Set<string> {
  const out = new Set<string>();
  const dump = spawnSync(
    'getfattr',
    ['-R', '--absolute-names', '-d', '-m', 'trusted.overlay.opaque', upper],
    {
      encoding: 'utf8',
    },
  );
  let file: string | null = null;
  for (const line of (dump.stdout ?? '').split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice(8);
    else if (file && /^trusted\.overlay\.opaque="y"/.test(line))
      out.add(file.slice(upper.length) || '/');
  }
  return out;
}

/**
 * What a container changed (moby's archive.changes): every path of its upper dir, walked in
 * name order: a whiteout (char device 0/0) or an opaque directory is D, a path the image has
 * is C (a directory only if its size, mode or time differ, or something in it changed: its
 * parent is reported C before the first A or D below it), any other is A. For vfs, where no
 * upper dir exists, the copy is compared with the image (a naive diff, as dockerd's). `lower`
 * is the image's layers, topmost first, merged as overlay merges them.
 */
export function containerChanges(
  upper: string,
  lower: readonly string[],
  overlay: boolean,
): Change[] {
  const image = new ContainerFs({ layers: [...lower], mounts: [] });
  const changes: Change[] = [];
  const changedDirs = new Set<string>();
  const opaque = overlay ? opaqueDirs(upper) : new Set<string>();
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(`${upper}${rel}`).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const path = `${rel}/${n}`;
      const f = lstat(`${upper}${path}`);
      if (!f) continue;
      let kind: Change['Kind'] | null;
      if (overlay && ((f.isCharacterDevice() && f.rdev === 0) || opaque.has(path))) kind = 2;
      else {
        const low = image.locate(path)?.stat ?? null;
        if (!low) kind = 1;
        else if (low.isDirectory() && f.isDirectory() && sameDir(f, low)) kind = null;
        else if (
          !overlay &&
          !f.isDirectory() &&
          low.size === f.size &&
          Math.trunc(low.mtimeMs) === Math.trunc(f.mtimeMs) &&
          low.mode === f.mode
        )
          kind = null;
        else kind = 0;
      }
      if (f.isDirectory()) changedDirs.add(path);
      if (kind === 1 || kind === 2) {
        const parent = rel === '' ? '/' : rel;
        if (!changedDirs.has(parent) && parent !== '/') {
          changes.push({ Path: parent, Kind: 0 });
          changedDirs.add(parent);
        }
      }
      if (kind !== null) changes.push({ Path: path, Kind: kind });
      // An opaque directory was replaced: what is in it now is new.
      if (f.isDirectory() && !(overlay && f.isCharacterDevice())) walk(path);
    }
  };
  walk('');
  if (!overlay) {
    // vfs: what the image has and the copy lost was deleted.
    const gone = (rel: string): void => {
      for (const n of image.readdir(rel === '' ? '/' : rel)) {
        const path = `${rel}/${n}`;
        const f = lstat(`${upper}${path}`);
        if (!f) changes.push({ Path: path, Kind: 2 });
        else if (f.isDirectory()) gone(path);
      }
    };
    gone('');
    changes.sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
  }
  return changes;
}

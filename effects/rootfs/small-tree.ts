import { lstatSync, readdirSync } from 'node:fs';

/**
 * Whether the tree at `path` holds at most `maxEntries` entries and `maxBytes` of regular
 * files (false as soon as it is known to hold more, or cannot be read). A missing path is
 * small. Looked at synchronously, entry by entry, so a large tree costs no more than the
 * first `maxEntries` lstat calls.
 */
export function isSmallTree(path: string, maxEntries: number, maxBytes: number): boolean {
  let entries = 0;
  let bytes = 0;
  const pending = [path];
  for (let p = pending.pop(); p !== undefined; p = pending.pop()) {
    let st;
    try {
      st = lstatSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      return false;
    }
    entries += 1;
    if (st.isFile()) bytes += st.size;
    if (entries > maxEntries || bytes > maxBytes) return false;
    if (!st.isDirectory()) continue;
    let names: string[];
    try {
      names = readdirSync(p);
    } catch {
      return false;
    }
    if (entries + names.length > maxEntries) return false;
    for (const n of names) pending.push(`${p}/${n}`);
  }
  return true;
}

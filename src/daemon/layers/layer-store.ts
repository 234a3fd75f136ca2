import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';

/** Where a layer's tar comes from when it is saved or pushed. */
export type LayerSource =
  /** The uncompressed tar as imported or loaded (its sha256 is the diff ID). */
  | { kind: 'tar'; path: string }
  /** The blob as pulled (compressed), with its registry digest and media type. */
  | { kind: 'blob'; path: string; digest: string; mediaType: string };

/** A registered layer, keyed by chain ID: stored and extracted once, whichever images share it. */
export interface LayerRecord {
  chainId: string;
  diffId: string;
  parent: string | null;
  /** Bytes of its regular files. */
  size: number;
  /** Bytes of its uncompressed tar. */
  tarSize: number;
  /** Its files, in overlay2's form (whiteouts as 0/0 character devices, opaque directories marked). */
  dir: string;
  source: LayerSource;
  /** Relative paths it deletes from the layers below, and directories it makes opaque (vfs applies them). */
  whiteouts: string[];
  opaques: string[];
}

/** Docker's chain ID: the diff ID of the base layer, then sha256("<parent chain> <diff ID>"). */
export function chainIdOf(parent: string | null, diffId: string): string {
  if (parent === null) return diffId;
  return `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`;
}

export function chainIdsOf(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let parent: string | null = null;
  for (const d of diffIds) {
    parent = chainIdOf(parent, d);
    out.push(parent);
  }
  return out;
}

/** Moves a file or directory, copying when the two paths are on different filesystems. */
export function moveInto(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    copyFileSync(from, to);
    rmSync(from, { force: true });
  }
}

/**
 * The layer directories under `<root>/layers`: `<chain hex>/diff` (the files), `layer.tar` or
 * `blob` (the source), and `staging/` where layers are unpacked before they are registered
 * (a rename, so a layer is either whole or absent).
 */
export class LayerPaths {
  readonly base: string;
  constructor(root: string) {
    this.base = `${root}/layers`;
  }
  dirOf(chainId: string): string {
    return `${this.base}/${chainId.slice(7)}`;
  }
  staging(name: string): string {
    return `${this.base}/staging/${name}`;
  }
  /** Creates an empty staging directory (removing a leftover of the same name). */
  freshStaging(name: string): string {
    const dir = this.staging(name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(`${dir}/diff`, { recursive: true, mode: 0o755 });
    return dir;
  }
  /** Staging directories left by a run that died mid-way. */
  leftoverStaging(): string[] {
    const dir = `${this.base}/staging`;
    if (!existsSync(dir)) return [];
    return readdirSync(dir).map((n) => `${dir}/${n}`);
  }
  /** Layer directories on disk (chain hex names). */
  onDisk(): string[] {
    if (!existsSync(this.base)) return [];
    return readdirSync(this.base).filter((n) => /^[a-f0-9]{64}$/.test(n));
  }
}

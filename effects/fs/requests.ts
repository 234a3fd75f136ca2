/** Filesystem effects. Paths are absolute; modes are numbers (octal in source). */
export type FsRequest =
  /** mkdir -p; returns the directories it created, outermost first, so a release can undo exactly those. */
  | { effect: 'fs.mkdirAll'; path: string; mode: number; uid?: number; gid?: number }
  | { effect: 'fs.chmod'; path: string; mode: number }
  | { effect: 'fs.stat'; path: string }
  | { effect: 'fs.rename'; from: string; to: string }
  | { effect: 'fs.removeAll'; path: string }
  /** rmdir/unlink each path, newest (last) first, only if it is an empty directory or a file; used by releases. */
  | { effect: 'fs.removeCreated'; paths: string[] }
  | { effect: 'fs.realpath'; path: string }
  /** Reads a text file; a missing file is `content: null` when `optional`, else ENOENT. */
  | { effect: 'fs.readFile'; path: string; optional?: boolean }
  /**
   * Writes a file whole through a temporary file and a rename (readers see the old or the new
   * content); fsynced before the rename unless `sync` is false (a file rewritten at each use,
   * as dockerd writes a container's hosts and hostname with no fsync).
   */
  | { effect: 'fs.writeFileAtomic'; path: string; content: string; mode: number; sync?: false }
  /** moby pkg/pidfile: refuses when the file names a live process; returns the pid written. */
  | { effect: 'fs.createPidfile'; path: string }
  | { effect: 'fs.removePidfile'; path: string; pid: number }
  /** Loads or creates the libtrust ECDSA P-256 key (JWK); returns its key ID. */
  | { effect: 'fs.loadOrCreateTrustKey'; path: string };

export interface FsResults {
  'fs.mkdirAll': { created: string[] };
  'fs.chmod': Record<string, never>;
  'fs.stat': { exists: boolean; isDirectory: boolean; mode: number; uid: number; gid: number };
  'fs.rename': Record<string, never>;
  'fs.removeAll': Record<string, never>;
  'fs.removeCreated': { removed: string[]; kept: string[] };
  'fs.realpath': { path: string };
  'fs.readFile': { content: string | null };
  'fs.writeFileAtomic': { created: boolean };
  'fs.createPidfile': { pid: number };
  'fs.removePidfile': { removed: boolean };
  'fs.loadOrCreateTrustKey': { keyId: string; created: boolean };
}

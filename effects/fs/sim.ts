import { assertNever, type EffectErrorCode } from '../errors.ts';
import { SimFailure } from '../sim/failure.ts';
import type { SimProcesses } from '../sim/processes.ts';
import type { Random } from '../sim/random.ts';
import type { FsRequest, FsResults } from './requests.ts';

/** A node of the simulated filesystem. */
export interface SimNode {
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  content?: string;
  target?: string;
}

const text: Partial<Record<EffectErrorCode, string>> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file exists',
  ENOTDIR: 'not a directory',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
};

function err(code: EffectErrorCode, op: string, path: string): SimFailure {
  return new SimFailure(code, `${op} ${path}: ${text[code] ?? code}`);
}

/**
 * `/a/b/c` → `/a`, `/a/b`, `/a/b/c`: slices of a clean absolute path (the simulator makes
 * thousands of directories a second); any other path's parts are joined again.
 */
function prefixes(path: string): string[] {
  const out: string[] = [];
  if (path.startsWith('/') && !path.endsWith('/') && !path.includes('//')) {
    for (let end = path.indexOf('/', 1); end > 0; end = path.indexOf('/', end + 1))
      out.push(path.slice(0, end));
    out.push(path);
    return out;
  }
  let cur = '';
  for (const p of path.split('/')) if (p !== '') out.push((cur += `/${p}`));
  return out;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/**
 * An in-memory filesystem with modes and owners: a flat map from absolute path to node,
 * copied from a shared base image when a world is made (cheap: the simulator makes
 * thousands of worlds a second).
 */
export class SimFs {
  readonly nodes: Map<string, SimNode>;
  /** Mount points mounted read-only: writes under them fail with EROFS. */
  readonly readOnly: string[];

  constructor(nodes: Map<string, SimNode>, readOnly: string[] = []) {
    this.nodes = nodes;
    this.readOnly = readOnly;
  }

  clone(): SimFs {
    return new SimFs(new Map(this.nodes), [...this.readOnly]);
  }

  exists(path: string): boolean {
    return this.nodes.has(path);
  }

  /** The entries directly under a directory (absolute paths, sorted). */
  list(dir: string): string[] {
    const prefix = dir === '/' ? '/' : `${dir}/`;
    return [...this.nodes.keys()]
      .filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes('/') && k !== dir)
      .sort();
  }

  private checkWritable(op: string, path: string): void {
    for (const ro of this.readOnly)
      if (path === ro || path.startsWith(`${ro}/`)) throw err('EROFS', op, path);
  }

  private hasChildren(path: string): boolean {
    const prefix = path === '/' ? '/' : `${path}/`;
    for (const k of this.nodes.keys()) if (k !== path && k.startsWith(prefix)) return true;
    return false;
  }

  mkdirAll(path: string, mode: number, uid = 0, gid = 0): FsResults['fs.mkdirAll'] {
    const created: string[] = [];
    for (const cur of prefixes(path)) {
      const n = this.nodes.get(cur);
      if (n) {
        if (n.type === 'file') throw err('ENOTDIR', 'mkdir', path);
        continue;
      }
      this.checkWritable('mkdir', cur);
      this.nodes.set(cur, { type: 'dir', mode, uid, gid });
      created.push(cur);
    }
    return { created };
  }

  chmod(path: string, mode: number): void {
    const n = this.nodes.get(path);
    if (!n) throw err('ENOENT', 'chmod', path);
    this.checkWritable('chmod', path);
    this.nodes.set(path, { ...n, mode });
  }

  stat(path: string): FsResults['fs.stat'] {
    const n = this.nodes.get(path);
    return n
      ? { exists: true, isDirectory: n.type === 'dir', mode: n.mode, uid: n.uid, gid: n.gid }
      : { exists: false, isDirectory: false, mode: 0, uid: 0, gid: 0 };
  }

  rename(from: string, to: string): void {
    if (!this.nodes.has(from)) throw err('ENOENT', 'rename', from);
    this.checkWritable('rename', from);
    this.checkWritable('rename', to);
    if (!this.nodes.has(parentOf(to))) throw err('ENOENT', 'rename', to);
    this.removeAll(to);
    const moves: [string, SimNode][] = [];
    const under = `${from}/`;
    for (const [k, n] of this.nodes) if (k === from || k.startsWith(under)) moves.push([k, n]);
    for (const [k] of moves) this.nodes.delete(k);
    for (const [k, n] of moves) this.nodes.set(to + k.slice(from.length), n);
  }

  removeAll(path: string): void {
    const doomed: string[] = [];
    const under = `${path}/`;
    for (const k of this.nodes.keys()) if (k === path || k.startsWith(under)) doomed.push(k);
    if (doomed.length > 0) this.checkWritable('remove', path);
    for (const k of doomed) this.nodes.delete(k);
  }

  removeCreated(paths: readonly string[]): FsResults['fs.removeCreated'] {
    const removed: string[] = [];
    const kept: string[] = [];
    for (let i = paths.length - 1; i >= 0; i--) {
      const p = paths[i] as string;
      const n = this.nodes.get(p);
      if (!n) continue;
      if (n.type === 'dir' && this.hasChildren(p)) {
        kept.push(p);
        continue;
      }
      this.checkWritable('remove', p);
      this.nodes.delete(p);
      removed.push(p);
    }
    return { removed, kept };
  }

  realpath(path: string): string {
    let cur = '';
    for (const p of path.split('/').filter(Boolean)) {
      cur += `/${p}`;
      const n = this.nodes.get(cur);
      if (!n) throw err('ENOENT', 'lstat', cur);
      if (n.type === 'symlink') cur = n.target ?? cur;
    }
    return cur === '' ? '/' : cur;
  }

  readFile(path: string, optional: boolean): string | null {
    const n = this.nodes.get(path);
    if (!n) {
      if (optional) return null;
      throw err('ENOENT', 'open', path);
    }
    if (n.type === 'dir') throw new SimFailure('EINVAL', `read ${path}: is a directory`);
    return n.content ?? '';
  }

  writeFile(path: string, content: string, mode: number): boolean {
    const parent = this.nodes.get(parentOf(path));
    if (!parent) throw err('ENOENT', 'open', path);
    if (parent.type !== 'dir') throw err('ENOTDIR', 'open', path);
    this.checkWritable('open', path);
    const created = !this.nodes.has(path);
    this.nodes.set(path, { type: 'file', mode, uid: 0, gid: 0, content });
    return created;
  }
}

/** The fs effects on the simulated host. */
export class SimFsEffects {
  readonly fs: SimFs;
  private readonly processes: SimProcesses;
  private readonly random: Random;

  constructor(fs: SimFs, processes: SimProcesses, random: Random) {
    this.fs = fs;
    this.processes = processes;
    this.random = random;
  }

  run(req: FsRequest): unknown {
    const fs = this.fs;
    switch (req.effect) {
      case 'fs.mkdirAll':
        return fs.mkdirAll(req.path, req.mode, req.uid ?? 0, req.gid ?? 0);
      case 'fs.chmod':
        fs.chmod(req.path, req.mode);
        return {};
      case 'fs.stat':
        return fs.stat(req.path);
      case 'fs.rename':
        fs.rename(req.from, req.to);
        return {};
      case 'fs.removeAll':
        fs.removeAll(req.path);
        return {};
      case 'fs.removeCreated':
        return fs.removeCreated(req.paths);
      case 'fs.realpath':
        return { path: fs.realpath(req.path) };
      case 'fs.readFile':
        return { content: fs.readFile(req.path, req.optional === true) };
      case 'fs.writeFileAtomic':
        return { created: fs.writeFile(req.path, req.content, req.mode) };
      case 'fs.createPidfile': {
        const content = fs.readFile(req.path, true);
        const pid = content === null ? NaN : Number.parseInt(content.trim(), 10);
        if (Number.isFinite(pid) && this.processes.isAlive(pid))
          throw new SimFailure(
            'EBUSY',
            `pid file found, ensure docker is not running or delete ${req.path}`,
          );
        fs.mkdirAll(req.path.slice(0, req.path.lastIndexOf('/')) || '/', 0o755);
        fs.writeFile(req.path, String(this.processes.daemonPid), 0o644);
        return { pid: this.processes.daemonPid };
      }
      case 'fs.removePidfile': {
        const content = fs.readFile(req.path, true);
        if (content !== String(req.pid)) return { removed: false };
        fs.removeCreated([req.path]);
        return { removed: true };
      }
      case 'fs.loadOrCreateTrustKey': {
        const content = fs.readFile(req.path, true);
        if (content !== null) {
          let kid: unknown;
          try {
            kid = (JSON.parse(content) as { kid?: unknown }).kid;
          } catch {
            // not JSON: the error below
          }
          if (typeof kid === 'string') return { keyId: kid, created: false };
          throw new SimFailure('EINVAL', `Error loading key file ${req.path}: not a valid JWK`);
        }
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
        // 12 groups of 4 letters, drawn in order (the same draws as ever: the same key for a seed).
        let keyId = '';
        for (let i = 0; i < 48; i++)
          keyId += (i > 0 && i % 4 === 0 ? ':' : '') + alphabet[this.random.int(0, 31)];
        fs.writeFile(req.path, JSON.stringify({ kty: 'EC', crv: 'P-256', kid: keyId }), 0o600);
        return { keyId, created: true };
      }
      default:
        return assertNever(req, 'fs request');
    }
  }
}

import {
  chmodSync,
  chownSync,
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { assertNever } from '../errors.ts';
import { failureFrom, type Handler } from '../handler.ts';
import { createPidfile, removePidfile } from './pidfile.ts';
import type { FsRequest, FsResults } from './requests.ts';
import { loadOrCreateTrustKey } from './trustkey.ts';

/** mkdir -p, one directory at a time so the mode (not umask'ed) and owner apply to each created one. */
function mkdirAll(
  path: string,
  mode: number,
  uid?: number,
  gid?: number,
): FsResults['fs.mkdirAll'] {
  const created: string[] = [];
  const parts = path.split('/').filter(Boolean);
  let cur = '';
  for (const p of parts) {
    cur += `/${p}`;
    let st;
    try {
      st = statSync(cur);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw failureFrom(err, 'mkdir', path);
    }
    if (st) {
      if (!st.isDirectory())
        throw failureFrom(Object.assign(new Error(), { code: 'ENOTDIR' }), 'mkdir', path);
      continue;
    }
    try {
      mkdirSync(cur, { mode });
      chmodSync(cur, mode);
      if (uid !== undefined || gid !== undefined) chownSync(cur, uid ?? 0, gid ?? 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw failureFrom(err, 'mkdir', cur);
    }
    created.push(cur);
  }
  return { created };
}

function removeCreated(paths: readonly string[]): FsResults['fs.removeCreated'] {
  const removed: string[] = [];
  const kept: string[] = [];
  for (let i = paths.length - 1; i >= 0; i--) {
    const p = paths[i] as string;
    let st;
    try {
      st = lstatSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw failureFrom(err, 'lstat', p);
    }
    try {
      if (st.isDirectory()) {
        if (readdirSync(p).length > 0) {
          kept.push(p);
          continue;
        }
        rmdirSync(p);
      } else {
        unlinkSync(p);
      }
      removed.push(p);
    } catch (err) {
      throw failureFrom(err, 'remove', p);
    }
  }
  return { removed, kept };
}

function writeFileAtomic(
  path: string,
  content: string,
  mode: number,
  sync: boolean,
): FsResults['fs.writeFileAtomic'] {
  let existed = true;
  try {
    lstatSync(path);
  } catch {
    existed = false;
  }
  const tmp = `${dirname(path)}/.${path.slice(path.lastIndexOf('/') + 1)}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      writeSync(fd, content);
      if (sync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw failureFrom(err, 'open', path);
  }
  return { created: !existed };
}

/** The filesystem, for real: node:fs, errno mapped once by failureFrom. */
export const realFs = {
  async run(req: FsRequest): Promise<unknown> {
    switch (req.effect) {
      case 'fs.mkdirAll':
        return mkdirAll(req.path, req.mode, req.uid, req.gid);
      case 'fs.chmod':
        try {
          chmodSync(req.path, req.mode);
          return {};
        } catch (err) {
          throw failureFrom(err, 'chmod', req.path);
        }
      case 'fs.stat':
        try {
          const st = statSync(req.path);
          return {
            exists: true,
            isDirectory: st.isDirectory(),
            mode: st.mode & 0o7777,
            uid: st.uid,
            gid: st.gid,
          } satisfies FsResults['fs.stat'];
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT')
            return { exists: false, isDirectory: false, mode: 0, uid: 0, gid: 0 };
          throw failureFrom(err, 'stat', req.path);
        }
      case 'fs.rename':
        try {
          renameSync(req.from, req.to);
          return {};
        } catch (err) {
          throw failureFrom(err, 'rename', req.from);
        }
      case 'fs.removeAll':
        try {
          // In the thread pool: a container's directory (its logs) can be large, and a removal
          // on this thread stalls every API answer meanwhile.
          await rm(req.path, { recursive: true, force: true });
          return {};
        } catch (err) {
          throw failureFrom(err, 'remove', req.path);
        }
      case 'fs.removeCreated':
        return removeCreated(req.paths);
      case 'fs.realpath':
        try {
          return { path: realpathSync(req.path) };
        } catch (err) {
          throw failureFrom(err, 'lstat', req.path);
        }
      case 'fs.readFile':
        try {
          return { content: readFileSync(req.path, 'utf8') };
        } catch (err) {
          if (req.optional && (err as NodeJS.ErrnoException).code === 'ENOENT')
            return { content: null };
          throw failureFrom(err, 'open', req.path);
        }
      case 'fs.writeFileAtomic':
        return writeFileAtomic(req.path, req.content, req.mode, req.sync !== false);
      case 'fs.createPidfile':
        createPidfile(req.path, process.pid);
        return { pid: process.pid } satisfies FsResults['fs.createPidfile'];
      case 'fs.removePidfile':
        return { removed: removePidfile(req.path, req.pid) };
      case 'fs.loadOrCreateTrustKey':
        return loadOrCreateTrustKey(req.path);
      default:
        return assertNever(req, 'fs request');
    }
  },
} satisfies Handler<FsRequest>;

import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  openSync,
  writeSync,
} from 'node:fs';
import type { TarEntrySink } from './tar-reader.ts';

/** What one file of an extraction gets besides its bytes: tar's mode, owner and time. */
export interface FileMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  /**
   * The file, once made, already has this owner (the daemon's user, and its group or that of
   * a set-group-ID directory): no chown is needed.
   */
  madeOwned?: boolean;
}

/**
 * Creates `host` for writing (O_EXCL|O_NOFOLLOW: nothing is written through a link); null when
 * the name is taken (by anything, a link included), unless it is the `lastTry`, which throws
 * EEXIST.
 */
export function createFile(host: string, meta: FileMeta, lastTry: true): number;
export function createFile(host: string, meta: FileMeta, lastTry: false): number | null;
export function createFile(host: string, meta: FileMeta, lastTry: boolean): number | null {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  try {
    return openSync(host, flags, meta.mode);
  } catch (err) {
    if (!lastTry && (err as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw err;
  }
}

/** Writes `chunk` whole at offset `at` of the file. */
function writeAll(fd: number, chunk: Buffer, at: number): void {
  let done = 0;
  while (done < chunk.length) {
    const written = writeSync(fd, chunk, done, chunk.length - done, at + done);
    if (written === 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    done += written;
  }
}

/** Owner, then mode (a chown clears set-id bits), then time (a write changes it): by fd. */
function finish(fd: number, meta: FileMeta): void {
  if (meta.madeOwned !== true) fchownSync(fd, meta.uid, meta.gid);
  fchmodSync(fd, meta.mode);
  futimesSync(fd, meta.mtime, meta.mtime);
}

/**
 * A file just created, filled as its entry's bytes come: each written at once, by descriptor,
 * then its owner, mode and time, then closed. Synchronous calls: the extraction runs on a
 * thread of its own (extract-worker.ts), where a hand-off of each write to libuv's pool would
 * only add the pool's work and the hops to it. `close` closes it early (a failed extraction).
 */
export class FileFill implements TarEntrySink {
  private fd: number | null;
  private readonly meta: FileMeta;
  private at = 0;

  constructor(fd: number, meta: FileMeta) {
    this.fd = fd;
    this.meta = meta;
  }

  data(bytes: Buffer): void {
    if (this.fd === null) return;
    writeAll(this.fd, bytes, this.at);
    this.at += bytes.length;
  }

  end(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      finish(fd, this.meta);
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

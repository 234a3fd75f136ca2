import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  open,
  openSync,
  writev,
  writevSync,
} from 'node:fs';
import type { Readable } from 'node:stream';

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
 * How much of a file is gathered before it is written: a file up to this size costs one
 * writev, not one write per chunk of the request body (a write per 32 KiB chunk of `docker
 * cp`'s chunked body spent more CPU in thread-pool hand-offs than in copying).
 */
const BATCH_BYTES = 4 << 20;
/** A file this small is written at once on this thread: cheaper than a hand-off to the pool. */
const INLINE_BYTES = 64 << 10;
/** Gathered bytes that may wait for the disk while the next entries are unpacked. */
const BACKLOG_BYTES = 32 << 20;

/** `chunks` without their first `n` bytes. */
function dropBytes(chunks: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < chunks.length && n >= (chunks[i] as Buffer).length)
    n -= (chunks[i++] as Buffer).length;
  const rest = chunks.slice(i);
  if (n > 0 && rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(n);
  return rest;
}

function bytesOf(chunks: Buffer[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

function shortWrite(): Error {
  return Object.assign(new Error('short write'), { code: 'EIO' });
}

/**
 * Writes `chunks` at offset `at` of the file: an offset, not the file's position, so that no
 * write depends on the order of another.
 */
async function writeAll(fd: number, chunks: Buffer[], at: number): Promise<void> {
  let rest = chunks;
  while (bytesOf(rest) > 0) {
    const written = await new Promise<number>((resolve, reject) =>
      writev(fd, rest, at, (err, n) => (err ? reject(err) : resolve(n))),
    );
    if (written === 0) throw shortWrite();
    rest = dropBytes(rest, written);
    at += written;
  }
}

function writeAllSync(fd: number, chunks: Buffer[], at: number): void {
  let rest = chunks;
  while (bytesOf(rest) > 0) {
    const written = writevSync(fd, rest, at);
    if (written === 0) throw shortWrite();
    rest = dropBytes(rest, written);
    at += written;
  }
}

/**
 * The bytes of `content`: each BATCH_BYTES handed to `flush` with their offset, the stream
 * paused meanwhile; the rest (under BATCH_BYTES) returned with theirs. Events, not an async
 * iterator: a promise per chunk is what this path spent most of its time on.
 */
function gather(
  content: Readable,
  flush: (chunks: Buffer[], at: number) => Promise<void>,
): Promise<{ rest: Buffer[]; at: number }> {
  return new Promise((resolve, reject) => {
    // Ended while its file was opened (the archive failed): no event is coming.
    if (content.destroyed) {
      reject(new Error('the entry ended before its size'));
      return;
    }
    let chunks: Buffer[] = [];
    let size = 0;
    let at = 0;
    let flushed: Promise<void> = Promise.resolve();
    content.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size < BATCH_BYTES) return;
      const full = chunks;
      const offset = at;
      at += size;
      chunks = [];
      size = 0;
      content.pause();
      flushed = flushed.then(() => flush(full, offset));
      flushed.then(
        () => content.resume(),
        (err: unknown) => {
          reject(err);
          content.destroy(err as Error);
        },
      );
    });
    let ended = false;
    // Done once what was handed to `flush` is written (or has failed).
    content.on('end', () => {
      ended = true;
      flushed.then(() => resolve({ rest: chunks, at }), reject);
    });
    content.on('error', reject);
    content.on('close', () => {
      if (!ended) reject(new Error('the entry ended before its size'));
    });
  });
}

/** Owner, then mode (a chown clears set-id bits), then time (a write changes it): by fd. */
function finish(fd: number, meta: FileMeta): void {
  if (meta.madeOwned !== true) fchownSync(fd, meta.uid, meta.gid);
  fchmodSync(fd, meta.mode);
  futimesSync(fd, meta.mtime, meta.mtime);
}

/**
 * The regular files of one extraction. Each file's name is made when its entry comes, in the
 * tar's order, by the caller's thread (O_EXCL|O_NOFOLLOW: nothing is written through a link);
 * what follows touches only the open descriptor (bytes, owner, mode, time, close), so it may
 * finish while the next entries are unpacked: no later entry's name or link can redirect it.
 * The first failure is kept and thrown by `check` and `settle`.
 */
export class FileWrites {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  private failure: { error: unknown } | null = null;

  /** Throws the first failure of a write that finished after its entry. */
  check(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every write; throws the first failure. */
  async settle(): Promise<void> {
    await this.tail;
    this.check();
  }

  /**
   * Creates `host` and writes `content` (`size` bytes, as its tar header says) into it, with
   * `meta`. When the name is taken (by anything, a link included: it is not followed), nothing
   * is read and this answers false, unless it is the `lastTry`, which throws EEXIST.
   */
  async write(
    host: string,
    content: Readable,
    meta: FileMeta,
    size: number,
    lastTry: boolean,
  ): Promise<boolean> {
    this.check();
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    // A small file is made, written and closed on this thread: a hand-off to the pool would
    // cost more than its calls, and the next entry waits for each one. A larger one is opened
    // in the pool: making an inode can take a while (ext4 looks for a free one past recently
    // deleted ones), and the body goes on coming in meanwhile. The next entry waits either way.
    let fd: number;
    try {
      fd =
        size <= INLINE_BYTES
          ? openSync(host, flags, meta.mode)
          : await new Promise<number>((resolve, reject) =>
              open(host, flags, meta.mode, (err, fd) => (err ? reject(err) : resolve(fd))),
            );
    } catch (err) {
      if (!lastTry && (err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    await this.fill(fd, content, meta);
    return true;
  }

  /** Writes the bytes, owner, mode and time of a file just made (the last ones maybe later). */
  private async fill(fd: number, content: Readable, meta: FileMeta): Promise<void> {
    let last: { rest: Buffer[]; at: number };
    try {
      last = await gather(content, (chunks, at) => writeAll(fd, chunks, at));
      if (bytesOf(last.rest) <= INLINE_BYTES) {
        writeAllSync(fd, last.rest, last.at);
        finish(fd, meta);
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    const rest = bytesOf(last.rest);
    if (rest <= INLINE_BYTES) {
      closeSync(fd);
      return;
    }
    this.queued += rest;
    this.tail = this.tail
      .then(async () => {
        try {
          await writeAll(fd, last.rest, last.at);
          finish(fd, meta);
        } finally {
          closeSync(fd);
        }
      })
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        this.queued -= rest;
      });
    if (this.queued > BACKLOG_BYTES) await this.tail;
  }
}

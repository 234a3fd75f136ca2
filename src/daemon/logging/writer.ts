import { promises as fsp } from 'node:fs';
import type { LogEntry, LogSink, LogSinkListener } from '../stdio.ts';
import { gzipAsync } from './gzip.ts';

/** An open log file: what the writer does with it. */
export interface LogFileHandle {
  /** Appends `data` (a string as UTF-8); a short write says how many bytes went in. */
  write(data: Buffer | string): Promise<{ bytesWritten: number }>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

/** The file operations a log writer uses, all asynchronous (the thread pool's, in the daemon). */
export interface LogFs {
  open(path: string, flags: 'a', mode: number): Promise<LogFileHandle>;
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; one that does not exist is no failure. */
  rm(path: string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Buffer, mode: number): Promise<void>;
  mkdir(path: string, mode: number): Promise<void>;
}

export const realLogFs: LogFs = {
  open: async (path, flags, mode) => {
    const h = await fsp.open(path, flags, mode);
    return {
      // A string goes to the thread pool as it is: no Buffer made on the heap for it to collect.
      write: (data) => (typeof data === 'string' ? h.write(data) : h.write(data, 0, data.length)),
      truncate: (length) => h.truncate(length),
      stat: () => h.stat(),
      close: () => h.close(),
    };
  },
  rename: (from, to) => fsp.rename(from, to),
  rm: (path) => fsp.rm(path, { force: true }),
  readFile: (path) => fsp.readFile(path),
  writeFile: (path, data, mode) => fsp.writeFile(path, data, { mode }),
  mkdir: async (path, mode) => {
    await fsp.mkdir(path, { mode });
  },
};

export interface LogWriterOptions {
  path: string;
  /** Rotate once the file has reached this many bytes; null: never. */
  maxSize: number | null;
  maxFile: number;
  /** Rotated files are gzipped (`name.1.gz`). */
  compress: boolean;
  /** The directory of the log, made by the writer when missing (local's `local-logs`); null: none. */
  dir: string | null;
  /** An entry as it goes into the file (json-file's a line of text, local's a framed record). */
  encode(e: LogEntry): Buffer | string;
  fs?: LogFs | undefined;
  /** The backlog (encoded bytes not yet written) beyond which the source is asked to pause. */
  highWaterBytes?: number;
}

const code = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'EIO';

/**
 * A container's log written in order, off the event loop: entries are queued as the output
 * comes and written by one asynchronous loop, a batch at a time, so a slow or stuck disk
 * delays the log, never the daemon's other work. The backlog is bounded: once it is over the
 * high-water mark `write` returns false and the source (the container's output FIFOs) is
 * paused until the backlog is down to half, so the container blocks on its writes, as it does
 * on dockerd's log copier. Rotation is done between batches, in the queue's order, as dockerd's
 * LogFile does it: once the file has reached max-size, the next entry first moves `name.(n-1)`
 * to `name.n` (the oldest dropped), `name` to `name.1` (gzipped when compressing), and starts
 * `name` empty; with one file, the file is emptied.
 *
 * A batch that cannot be written (a full disk) is cut back off the file, so no torn record is
 * left, and dropped with everything queued behind it; the listener is told once, and once more
 * when writes have gone in again (`succeeded`). A log whose directory is gone (its container removed) drops
 * what it is given.
 */
export class LogWriter implements LogSink {
  readonly path: string;
  listener: LogSinkListener = {
    written: () => undefined,
    drained: () => undefined,
    problem: () => undefined,
  };
  private readonly o: LogWriterOptions;
  private readonly fs: LogFs;
  private readonly highWater: number;
  private queue: (Buffer | string)[] = [];
  /** Each queued entry's length in bytes. */
  private lengths: number[] = [];
  private head = 0;
  /** Bytes queued and not written yet. */
  private queuedBytes = 0;
  /** Entries queued, and entries written or dropped, since the writer was made. */
  private pushed = 0;
  private done = 0;
  private flushWaiters: { upTo: number; resolve: () => void }[] = [];
  private closeWaiters: (() => void)[] = [];
  private running = false;
  private handle: LogFileHandle | null = null;
  /** The current file's size, known while it is open. */
  private size = 0;
  /** The source was told to pause. */
  private held = false;
  private releaseWhenIdle = false;
  private discarded = false;
  private failure: string | null = null;
  private writtenSinceFailure = 0;

  /** Most entries or bytes written at once. */
  static readonly batchBytes = 256 * 1024;
  static readonly highWaterBytes = 1 << 20;
  /** Bytes written after a failure before the log is said to be written again. */
  static readonly recoveredBytes = 64 * 1024;

  constructor(o: LogWriterOptions) {
    this.o = o;
    this.path = o.path;
    this.fs = o.fs ?? realLogFs;
    this.highWater = o.highWaterBytes ?? LogWriter.highWaterBytes;
  }

  /** Bytes queued and not written yet. */
  get backlogBytes(): number {
    return this.queuedBytes;
  }

  write(e: LogEntry): boolean {
    if (this.discarded) return true;
    const data = this.o.encode(e);
    const length = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.queue.push(data);
    this.lengths.push(length);
    this.queuedBytes += length;
    this.pushed += 1;
    if (!this.running) void this.pump();
    if (this.queuedBytes >= this.highWater) this.held = true;
    return !this.held;
  }

  flushed(): Promise<void> {
    if (this.done >= this.pushed) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push({ upTo: this.pushed, resolve }));
  }

  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    this.releaseWhenIdle = true;
    if (!this.running) void this.pump();
    return closed;
  }

  discard(): void {
    this.discarded = true;
    this.drop(this.queue.length - this.head, this.queuedBytes);
    this.queue = [];
    this.lengths = [];
    this.head = 0;
    void this.close();
  }

  private rotated(n: number): string {
    return `${this.path}.${n}${this.o.compress ? '.gz' : ''}`;
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      while (this.head < this.queue.length && !this.discarded) await this.writeBatch();
      if (this.releaseWhenIdle) {
        this.releaseWhenIdle = false;
        await this.closeHandle();
        for (const w of this.closeWaiters.splice(0)) w();
      }
    } finally {
      this.running = false;
    }
    // Entries queued, or a close asked for, while the file was being closed.
    if ((this.head < this.queue.length && !this.discarded) || this.releaseWhenIdle)
      void this.pump();
  }

  private async closeHandle(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close().catch(() => undefined);
  }

  private async open(): Promise<LogFileHandle> {
    let h: LogFileHandle;
    try {
      // Readable by the owner's group too, as dockerd makes log files (0640).
      h = await this.fs.open(this.path, 'a', 0o640);
    } catch (err) {
      if (this.o.dir === null || code(err) !== 'ENOENT') throw err;
      await this.fs.mkdir(this.o.dir, 0o700).catch((e: unknown) => {
        if (code(e) !== 'EEXIST') throw e;
      });
      h = await this.fs.open(this.path, 'a', 0o640);
    }
    this.size = (await h.stat()).size;
    return h;
  }

  private async rotate(h: LogFileHandle): Promise<LogFileHandle> {
    if (this.o.maxFile < 2) {
      await h.truncate(0);
      this.size = 0;
      return h;
    }
    this.handle = null;
    await h.close();
    await this.fs.rm(this.rotated(this.o.maxFile - 1));
    for (let i = this.o.maxFile - 1; i > 1; i--)
      await this.fs.rename(this.rotated(i - 1), this.rotated(i)).catch((err: unknown) => {
        if (code(err) !== 'ENOENT') throw err;
      });
    if (this.o.compress) {
      // Compressed in the thread pool, and named only once whole: a reader never finds half a gzip.
      const gz = await gzipAsync(await this.fs.readFile(this.path));
      const partial = `${this.rotated(1)}.tmp`;
      try {
        await this.fs.writeFile(partial, gz, 0o640);
        await this.fs.rename(partial, this.rotated(1));
      } catch (err) {
        await this.fs.rm(partial).catch(() => undefined);
        throw err;
      }
      await this.fs.rm(this.path);
    } else await this.fs.rename(this.path, this.rotated(1));
    const fresh = await this.open();
    this.handle = fresh;
    return fresh;
  }

  /** Writes the entries at the head of the queue that go into the current file. */
  private async writeBatch(): Promise<void> {
    const maxSize = this.o.maxSize;
    let count = 0;
    let bytes = 0;
    let start = 0;
    try {
      let h = this.handle ?? (this.handle = await this.open());
      if (maxSize !== null && this.size >= maxSize) h = await this.rotate(h);
      // Every entry of the batch starts before max-size, as each would written one by one.
      for (let i = this.head; i < this.queue.length; i++) {
        const length = this.lengths[i] as number;
        if (
          count > 0 &&
          (bytes + length > LogWriter.batchBytes ||
            (maxSize !== null && this.size + bytes >= maxSize))
        )
          break;
        count += 1;
        bytes += length;
      }
      const entries = this.queue.slice(this.head, this.head + count);
      // Text is joined (json-file's lines), records concatenated (local's).
      let data: Buffer | string =
        typeof entries[0] === 'string'
          ? entries.join('')
          : Buffer.concat(entries as Buffer[], bytes);
      start = this.size;
      for (let left = bytes; ;) {
        const { bytesWritten } = await h.write(data);
        if (bytesWritten >= left) break;
        left -= bytesWritten;
        data = (typeof data === 'string' ? Buffer.from(data) : data).subarray(bytesWritten);
      }
      this.size += bytes;
      this.drop(count, bytes);
      this.succeeded(bytes);
      this.listener.written();
    } catch (err) {
      await this.failed(err, start, count > 0);
    }
  }

  /**
   * A write went in. After a failure, the log counts as written again once a good part of a
   * file has gone in since: a full disk still takes a short write into the slack of the
   * file's last page, and saying "written again" for that would say it again at every line.
   */
  private succeeded(bytes: number): void {
    if (this.failure === null) return;
    this.writtenSinceFailure += bytes;
    if (this.writtenSinceFailure < LogWriter.recoveredBytes) return;
    this.failure = null;
    this.listener.problem(null);
  }

  /**
   * A write, an open or a rotation failed: what was queued is dropped (the disk is full; the
   * output still reaches attached clients), and the file cut back to its last whole entry.
   */
  private async failed(err: unknown, start: number, writing: boolean): Promise<void> {
    const h = this.handle;
    if (writing && h !== null) {
      try {
        await h.truncate(start);
        this.size = start;
      } catch {
        await this.closeHandle();
      }
    } else await this.closeHandle();
    this.drop(this.queue.length - this.head, this.queuedBytes);
    // The container's directory is gone (removed): nothing to keep, and nothing to tell.
    if (code(err) === 'ENOENT') return;
    this.writtenSinceFailure = 0;
    if (this.failure === code(err)) return;
    this.failure = code(err);
    this.listener.problem(err as Error);
  }

  /** `count` entries of `bytes` at the head of the queue are written or dropped. */
  private drop(count: number, bytes: number): void {
    this.head += count;
    this.queuedBytes -= bytes;
    this.done += count;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.lengths = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.lengths = this.lengths.slice(this.head);
      this.head = 0;
    }
    if (this.flushWaiters.length > 0) {
      const left: typeof this.flushWaiters = [];
      for (const w of this.flushWaiters) {
        if (w.upTo <= this.done) w.resolve();
        else left.push(w);
      }
      this.flushWaiters = left;
    }
    if (this.held && this.queuedBytes <= this.highWater / 2) {
      this.held = false;
      this.listener.drained();
    }
  }
}

/** A log that keeps nothing (`none`): every entry is dropped as it comes. */
export const discardingSink = (): LogSink => ({
  path: '',
  listener: { written: () => undefined, drained: () => undefined, problem: () => undefined },
  write: () => true,
  flushed: () => Promise.resolve(),
  close: () => Promise.resolve(),
  discard: () => undefined,
});

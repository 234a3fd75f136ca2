import { promises as fsp } from 'node:fs';
import type { LogEntry } from '../stdio.ts';
import { gunzipAsync } from './gzip.ts';

/**
 * A logging driver's files read forward a chunk at a time: a reader holds one chunk (and a
 * rotated file it must decompress), whatever the log's size, and goes at its client's pace
 * (the log is the buffer). Following, it reads on across a rotation: once the file it holds
 * is read to its end and the log's name points at another file, it opens that one.
 */
export interface LogReader {
  /** Starts at the beginning of the last `n` entries kept. */
  seekTail(n: number): Promise<void>;
  /** Starts after everything written so far. */
  seekEnd(): Promise<void>;
  /**
   * Reads no further than what is written now (a log read without following, as dockerd's
   * reader does): a container writing faster than its client reads does not keep it going.
   * Called before seeking.
   */
  bound(): Promise<void>;
  /** The next entries; none at the end of what was written so far. */
  read(): Promise<LogEntry[]>;
  close(): Promise<void>;
}

/** A file's bytes, read at positions: an open file, or a rotated file decompressed. */
interface Segment {
  size(): Promise<number>;
  readAt(buf: Buffer, length: number, position: number): Promise<number>;
  /** The inode of an open file (a rotation gives the log's name another one). */
  readonly ino: number | null;
  close(): Promise<void>;
}

async function openFile(path: string): Promise<Segment | null> {
  let file: fsp.FileHandle;
  try {
    file = await fsp.open(path, 'r');
  } catch {
    return null;
  }
  const { ino } = await file.stat();
  return {
    ino,
    size: async () => (await file.stat()).size,
    readAt: async (buf, length, position) => (await file.read(buf, 0, length, position)).bytesRead,
    close: () => file.close().catch(() => undefined),
  };
}

async function openGzip(path: string): Promise<Segment | null> {
  let bytes: Buffer;
  try {
    bytes = await gunzipAsync(await fsp.readFile(path));
  } catch {
    return null;
  }
  return {
    ino: null,
    size: () => Promise.resolve(bytes.length),
    readAt: (buf, length, position) =>
      Promise.resolve(bytes.copy(buf, 0, position, Math.min(bytes.length, position + length))),
    close: () => Promise.resolve(),
  };
}

/** How a driver's files hold entries. */
export interface LogFormat {
  /** The whole entries at the start of `bytes`, and how many bytes they took. */
  decode(bytes: Buffer): { entries: LogEntry[]; used: number };
  /**
   * Where the last `n` entries before `end` begin, looking backwards; `found` is how many
   * entries there were (fewer than `n` when the file holds fewer: the offset is then 0).
   */
  tailOffset(
    seg: { readAt(buf: Buffer, length: number, position: number): Promise<number> },
    end: number,
    n: number,
  ): Promise<{ offset: number; found: number }>;
}

/** The files of a log, oldest first: the rotated ones (`name.N` … `name.1`), then `name`. */
export interface LogFiles {
  path: string;
  maxFile: number;
  compress: boolean;
}

/** How much a reader reads at a time. */
export const chunkBytes = 64 * 1024;

/** Reads a rotating log's files forward (json-file's or local's format). */
export class RotatingLogReader implements LogReader {
  private readonly files: LogFiles;
  private readonly format: LogFormat;
  /** One read buffer for the reader's life (what is read is decoded out of it at once). */
  private readonly buf = Buffer.allocUnsafe(chunkBytes);
  /** The files still to read after the open one, oldest first (the log's name last). */
  private queue: { path: string; compressed: boolean }[] | null = null;
  private seg: Segment | null = null;
  /** Whether the open segment is the log's current file (the one still written). */
  private current = false;
  private pos = 0;
  /** The bytes of an entry not read whole yet. */
  private partial: Buffer = Buffer.alloc(0);
  /** Where a bounded read ends: the file written when it was bounded, at its size then. */
  private end: { ino: number; size: number } | null = null;

  constructor(files: LogFiles, format: LogFormat) {
    this.files = files;
    this.format = format;
  }

  private rotated(n: number): string {
    return `${this.files.path}.${n}${this.files.compress ? '.gz' : ''}`;
  }

  /** The files that exist now, oldest first, the log's current file last (it may not exist yet). */
  private async list(): Promise<{ path: string; compressed: boolean }[]> {
    const out: { path: string; compressed: boolean }[] = [];
    for (let i = this.files.maxFile - 1; i >= 1; i--) {
      const p = this.rotated(i);
      try {
        await fsp.access(p);
        out.push({ path: p, compressed: this.files.compress });
      } catch {
        // not rotated that far (yet)
      }
    }
    out.push({ path: this.files.path, compressed: false });
    return out;
  }

  /** Opens the next file of the queue at `pos`; false when the queue is empty. */
  private async next(pos: number): Promise<boolean> {
    await this.seg?.close();
    this.seg = null;
    this.partial = Buffer.alloc(0);
    this.pos = pos;
    const f = this.queue?.shift();
    if (!f) return false;
    this.current = this.queue?.length === 0;
    this.seg = f.compressed ? await openGzip(f.path) : await openFile(f.path);
    return true;
  }

  async bound(): Promise<void> {
    try {
      const { ino, size } = await fsp.stat(this.files.path);
      this.end = { ino, size };
    } catch {
      this.end = { ino: -1, size: 0 }; // nothing written yet: nothing to read
    }
  }

  /**
   * The open segment is the log's name opened after the bound's file was rotated away: that
   * file is the newest rotated one now (an uncompressed log only), read in its place.
   */
  private async pastBoundFile(seg: Segment): Promise<boolean> {
    if (this.end === null || !this.current || seg.ino === this.end.ino) return false;
    await seg.close();
    this.seg = null;
    if (this.end.ino === -1 || this.files.compress) return true;
    const previous = await openFile(`${this.files.path}.1`);
    if (previous?.ino === this.end.ino) {
      this.seg = previous;
      return false;
    }
    await previous?.close();
    return true;
  }

  async seekEnd(): Promise<void> {
    this.queue = [{ path: this.files.path, compressed: false }];
    await this.next(0);
    this.pos = this.seg ? await this.seg.size() : 0;
  }

  async seekTail(n: number): Promise<void> {
    const files = await this.list();
    let need = n;
    for (let i = files.length - 1; i >= 0; i--) {
      const f = files[i] as { path: string; compressed: boolean };
      const seg = f.compressed ? await openGzip(f.path) : await openFile(f.path);
      if (!seg) continue;
      const { offset, found } = await this.format.tailOffset(seg, await seg.size(), need);
      await seg.close();
      if (found >= need) {
        this.queue = files.slice(i);
        await this.next(offset);
        return;
      }
      need -= found;
    }
    this.queue = files;
    await this.next(0);
  }

  async read(): Promise<LogEntry[]> {
    if (this.queue === null) {
      this.queue = await this.list();
      await this.next(0);
    }
    for (;;) {
      if (this.seg === null) {
        // The log's current file does not exist yet (nothing written): it appears with the first entry.
        if (!this.current) {
          if (await this.next(0)) continue;
          return [];
        }
        this.queue = [{ path: this.files.path, compressed: false }];
        await this.next(0);
        if (this.seg === null) return [];
      }
      if (await this.pastBoundFile(this.seg)) return [];
      const seg = this.seg;
      const left = seg.ino !== null && seg.ino === this.end?.ino ? this.end.size - this.pos : null;
      if (left !== null && left <= 0) return [];
      const length = left === null ? this.buf.length : Math.min(this.buf.length, left);
      const bytesRead = await seg.readAt(this.buf, length, this.pos);
      if (bytesRead > 0) {
        this.pos += bytesRead;
        const bytes = Buffer.concat([this.partial, this.buf.subarray(0, bytesRead)]);
        const { entries, used } = this.format.decode(bytes);
        // An entry not ended yet (being appended now, or longer than a chunk) waits for more.
        this.partial = Buffer.from(bytes.subarray(used));
        if (entries.length > 0) return entries;
        continue;
      }
      if (!this.current) {
        if (await this.next(0)) continue;
        return [];
      }
      // At the end of the current file: rotated away meanwhile (the name is another file now)?
      let ino: number | null = null;
      try {
        ino = (await fsp.stat(this.files.path)).ino;
      } catch {
        // removed with its container, or between a rotation's steps
      }
      if (ino === null || ino === seg.ino || seg.ino === this.end?.ino) return [];
      this.queue = [{ path: this.files.path, compressed: false }];
      await this.next(0);
    }
  }

  async close(): Promise<void> {
    await this.seg?.close();
    this.seg = null;
    this.queue = [];
  }
}

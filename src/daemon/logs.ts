import { promises as fsp, readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { frame, type LogEntry, type StdioHub } from './stdio.ts';

/** Reads a whole json-file log (one `{"log","stream","time"}` object per line): for small logs and tests. */
export function readLog(path: string): LogEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((l) => parseEntry(l) ?? []);
}

function parseEntry(line: string): LogEntry | null {
  if (line === '') return null;
  try {
    const e = JSON.parse(line) as { log: string; stream: string; time: string };
    return { stream: e.stream === 'stderr' ? 2 : 1, log: Buffer.from(e.log), time: e.time };
  } catch {
    // a torn last line of a crash: skipped
    return null;
  }
}

/**
 * A json-file log read forward from an offset, a chunk at a time: a reader holds one chunk,
 * whatever the log's size, and goes at its client's pace (the log is the buffer).
 */
export class LogFileReader {
  private readonly file: fsp.FileHandle;
  private pos = 0;
  private partial = '';
  static readonly chunkBytes = 64 * 1024;
  /** One read buffer for the reader's life (what is read is copied out as text at once). */
  private readonly buf = Buffer.allocUnsafe(LogFileReader.chunkBytes);

  private constructor(file: fsp.FileHandle) {
    this.file = file;
  }

  /** Opens the log, or null when there is none (a container that never ran). */
  static async open(path: string): Promise<LogFileReader | null> {
    try {
      return new LogFileReader(await fsp.open(path, 'r'));
    } catch {
      return null;
    }
  }

  /** Starts at the beginning of the last `n` lines, looking backwards a chunk at a time. */
  async seekTail(n: number): Promise<void> {
    const { size } = await this.file.stat();
    let end = size;
    let newlines = 0;
    const buf = Buffer.alloc(LogFileReader.chunkBytes);
    // The last byte is the newline ending the last line: it does not start one.
    let skipLast = true;
    while (end > 0) {
      const start = Math.max(0, end - buf.length);
      const { bytesRead } = await this.file.read(buf, 0, end - start, start);
      for (let i = bytesRead - 1; i >= 0; i--) {
        if (buf[i] !== 10) continue;
        if (skipLast && start + i === size - 1) continue;
        newlines += 1;
        if (newlines === n) {
          this.pos = start + i + 1;
          return;
        }
      }
      skipLast = false;
      end = start;
    }
    this.pos = 0;
  }

  /** Starts after everything written so far. */
  async seekEnd(): Promise<void> {
    this.pos = (await this.file.stat()).size;
  }

  /** The next entries (up to a chunk's worth); none at the end of what was written so far. */
  async read(): Promise<LogEntry[]> {
    const buf = this.buf;
    const { bytesRead } = await this.file.read(buf, 0, buf.length, this.pos);
    if (bytesRead === 0) return [];
    this.pos += bytesRead;
    const text = this.partial + buf.subarray(0, bytesRead).toString('utf8');
    const lines = text.split('\n');
    // A line not ended yet (being appended now) waits for the next read.
    this.partial = lines.pop() ?? '';
    return lines.flatMap((l) => parseEntry(l) ?? []);
  }

  async close(): Promise<void> {
    await this.file.close().catch(() => undefined);
  }
}

export interface LogOptions {
  /** A TTY container's log is raw bytes, not stdcopy frames. */
  raw?: boolean;
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  timestamps: boolean;
  /** Unix seconds (fractional), 0 for all. */
  since: number;
  until: number;
  tail: number | null;
}

/** RFC 3339 with nanoseconds, as dockerd prints timestamps. */
function rfc3339Nano(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/** Resolves once `out` can take more (or is gone): the writer waits for its reader. */
function drained(out: Writable): Promise<void> {
  if (out.destroyed || !out.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.once('drain', done);
    out.once('close', done);
  });
}

/**
 * Writes a container's log to `out`: the entries kept by the options, then (following) new
 * ones as they are written, until the output ends, `until` passes, or the client goes.
 * Resolves when done; never ends `out` itself.
 */
export async function writeLogs(
  out: Writable,
  logPath: string,
  hub: StdioHub | undefined,
  o: LogOptions,
): Promise<void> {
  const keep = (e: LogEntry): boolean => {
    if (e.stream === 1 ? !o.stdout : !o.stderr) return false;
    const t = Date.parse(e.time) / 1000;
    return t >= o.since;
  };
  let file = await LogFileReader.open(logPath);
  if (file && o.tail === 0) await file.seekEnd();
  else if (file && o.tail !== null) await file.seekTail(o.tail);
  let wake: (() => void) | null = null;
  // Set by every write to the log: a write between a read finding the end and the wait is not missed.
  let dirty = false;
  let outputEnded = false;
  const stop =
    o.follow && hub
      ? hub.follow({
          written: () => {
            dirty = true;
            wake?.();
          },
          ended: () => {
            outputEnded = true;
            wake?.();
          },
        })
      : null;
  const gone = (): boolean => out.destroyed || !out.writable;
  const onClose = (): void => wake?.();
  out.once('close', onClose);
  try {
    for (;;) {
      if (gone()) return;
      dirty = false;
      // A container that had not written yet has no log file: it appears with its first line.
      file ??= stop === null ? null : await LogFileReader.open(logPath);
      const entries = file ? await file.read() : [];
      if (entries.length === 0) {
        if (dirty) continue;
        if (stop === null || outputEnded) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
        continue;
      }
      for (const e of entries) {
        if (!keep(e)) continue;
        if (o.until !== 0 && Date.parse(e.time) / 1000 > o.until) return;
        const payload = o.timestamps
          ? Buffer.concat([Buffer.from(`${rfc3339Nano(e.time)} `), e.log])
          : e.log;
        if (gone()) return;
        out.write(o.raw ? payload : frame(e.stream, payload));
      }
      await drained(out);
    }
  } finally {
    stop?.();
    out.off('close', onClose);
    await file?.close();
  }
}

/**
 * `GET /containers/{id}/logs`: 200, chunked, no Content-Type, one stdcopy frame per chunk
 * (the payload raw for TTY containers), ending with the output when following.
 */
export function streamLogs(
  res: import('node:http').ServerResponse,
  logPath: string,
  hub: StdioHub | undefined,
  o: LogOptions,
): Promise<void> {
  res.writeHead(200, { 'Transfer-Encoding': 'chunked' });
  if (o.follow) res.flushHeaders();
  return writeLogs(res, logPath, hub, o).then(
    () => {
      if (!res.destroyed) res.end();
    },
    () => {
      res.destroy();
    },
  );
}

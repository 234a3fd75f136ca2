import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { LogEntry } from '../stdio.ts';
import { decodeLocalEntries, encodeLocalEntry, localLogFormat } from './local-format.ts';
import { chunkBytes, RotatingLogReader, type LogFormat, type LogReader } from './reader.ts';

/**
 * A container's logging driver (HostConfig.LogConfig): where its output goes, and whether
 * `docker logs` can read it back. json-file (Docker's default: one JSON object per line in
 * `<id>-json.log`, rotated at max-size over max-file files), local (length-framed protobuf
 * records in `local-logs/container.log`, 20 MB × 5 files, rotated files gzipped) and none.
 */
export interface LogDriver {
  /** The file written ('' for none), for messages. */
  readonly path: string;
  /** Keeps an entry; throws when it cannot (a full disk), not when the container's directory is gone. */
  write(e: LogEntry): void;
  /** Every entry kept, oldest first; null when the driver keeps none (`none`). */
  read(): LogEntry[] | null;
  /** A reader of the entries kept, a chunk at a time; null when the driver keeps none. */
  reader(): LogReader | null;
}

/** The log settings a container was created with (machines/container/types.ts, `config.log`). */
export type LogDriverSettings =
  | { driver: 'json-file'; maxSize: number | null; maxFile: number }
  | { driver: 'local'; maxSize: number; maxFile: number; compress: boolean }
  | { driver: 'none' };

/**
 * Files rotated as dockerd's LogFile does: once the current file has reached `maxSize`, the
 * next write first moves `name.(n-1)` to `name.n` (the oldest dropped), `name` to `name.1`
 * (gzipped as `name.1.gz` when compressing), and starts `name` empty. With one file, the
 * current one is emptied.
 */
class RotatingFile {
  readonly path: string;
  private readonly maxSize: number | null;
  readonly maxFile: number;
  readonly compress: boolean;
  private size: number | null = null;

  constructor(path: string, o: { maxSize: number | null; maxFile: number; compress: boolean }) {
    this.path = path;
    this.maxSize = o.maxSize;
    this.maxFile = o.maxFile;
    this.compress = o.compress;
  }

  private rotated(n: number): string {
    return `${this.path}.${n}${this.compress ? '.gz' : ''}`;
  }

  append(data: Buffer | string): void {
    try {
      this.size ??= existsSync(this.path) ? statSync(this.path).size : 0;
      if (this.maxSize !== null && this.size >= this.maxSize) this.rotate();
      // Readable by the owner's group too, as dockerd makes log files (0640).
      appendFileSync(this.path, data, { mode: 0o640 });
      this.size += Buffer.byteLength(data);
    } catch (err) {
      this.size = null;
      // The container's directory is gone (removed): nothing to keep. Anything else (a full
      // disk) is the caller's to tell.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private rotate(): void {
    if (this.maxFile >= 2) {
      rmSync(this.rotated(this.maxFile - 1), { force: true });
      for (let i = this.maxFile - 1; i > 1; i--)
        if (existsSync(this.rotated(i - 1))) renameSync(this.rotated(i - 1), this.rotated(i));
      if (this.compress) {
        writeFileSync(this.rotated(1), gzipSync(readFileSync(this.path)), { mode: 0o640 });
        rmSync(this.path);
      } else renameSync(this.path, this.rotated(1));
    }
    writeFileSync(this.path, '', { mode: 0o640 });
    this.size = 0;
  }

  /** The files' contents, oldest first. */
  contents(): Buffer[] {
    const out: Buffer[] = [];
    for (let i = this.maxFile - 1; i >= 1; i--) {
      const p = this.rotated(i);
      if (!existsSync(p)) continue;
      try {
        const raw = readFileSync(p);
        out.push(this.compress ? gunzipSync(raw) : raw);
      } catch {
        // a file rotated away meanwhile
      }
    }
    try {
      out.push(readFileSync(this.path));
    } catch {
      // none yet
    }
    return out;
  }
}

/** Reads json-file lines (`{"log","stream","time"}`); a torn line (a crash mid-write) is skipped. */
export function parseJsonLog(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const e = JSON.parse(line) as { log: string; stream: string; time: string };
      out.push({ stream: e.stream === 'stderr' ? 2 : 1, log: Buffer.from(e.log), time: e.time });
    } catch {
      // skipped
    }
  }
  return out;
}

/** json-file's format for readers: one JSON object a line. */
export const jsonLogFormat: LogFormat = {
  decode(bytes) {
    const end = bytes.lastIndexOf(10);
    if (end < 0) return { entries: [], used: 0 };
    return { entries: parseJsonLog(bytes.subarray(0, end + 1).toString('utf8')), used: end + 1 };
  },
  async tailOffset(seg, end, n) {
    const buf = Buffer.alloc(chunkBytes);
    let at = end;
    let found = 0;
    // The last byte is the newline ending the last line: it does not start one.
    let skipLast = true;
    while (at > 0) {
      const start = Math.max(0, at - buf.length);
      const got = await seg.readAt(buf, at - start, start);
      for (let i = got - 1; i >= 0; i--) {
        if (buf[i] !== 10) continue;
        if (skipLast && start + i === end - 1) continue;
        found += 1;
        if (found === n) return { offset: start + i + 1, found };
      }
      skipLast = false;
      at = start;
    }
    // The first line has no newline before it.
    return { offset: 0, found: end > 0 ? found + 1 : 0 };
  },
};

/** The driver of a container whose files are in `dir` (its container directory). */
export function logDriverFor(
  dir: string,
  id: string,
  settings: LogDriverSettings | undefined,
): LogDriver {
  const s = settings ?? { driver: 'json-file', maxSize: null, maxFile: 1 };
  switch (s.driver) {
    case 'none':
      return { path: '', write: () => undefined, read: () => null, reader: () => null };
    case 'json-file': {
      const file = new RotatingFile(`${dir}/${id}-json.log`, { ...s, compress: false });
      return {
        path: file.path,
        write: (e) =>
          file.append(
            `${JSON.stringify({ log: e.log.toString('utf8'), stream: e.stream === 1 ? 'stdout' : 'stderr', time: e.time })}\n`,
          ),
        read: () => file.contents().flatMap((b) => parseJsonLog(b.toString('utf8'))),
        reader: () => new RotatingLogReader(file, jsonLogFormat),
      };
    }
    case 'local': {
      const file = new RotatingFile(`${dir}/local-logs/container.log`, s);
      let made = false;
      return {
        path: file.path,
        write: (e) => {
          if (!made) {
            try {
              mkdirSync(`${dir}/local-logs`, { mode: 0o700 });
              made = true;
            } catch (err) {
              const code = (err as NodeJS.ErrnoException).code;
              // There already; or the container's directory is gone (the write is dropped).
              if (code === 'EEXIST') made = true;
              else if (code !== 'ENOENT') throw err;
            }
          }
          file.append(encodeLocalEntry(e));
        },
        read: () => file.contents().flatMap((b) => decodeLocalEntries(b)),
        reader: () => new RotatingLogReader(file, localLogFormat),
      };
    }
  }
}

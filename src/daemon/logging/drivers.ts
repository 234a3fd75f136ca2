import { promises as fsp } from 'node:fs';
import type { LogEntry, LogSink } from '../stdio.ts';
import { decodeLocalEntries, encodeLocalEntry, localLogFormat } from './local-format.ts';
import {
  chunkBytes,
  RotatingLogReader,
  type LogFiles,
  type LogFormat,
  type LogReader,
} from './reader.ts';
import { discardingSink, LogWriter, type LogFs } from './writer.ts';
import { gunzipAsync } from './gzip.ts';

/**
 * A container's logging driver (HostConfig.LogConfig): where its output goes, and whether
 * `docker logs` can read it back. json-file (Docker's default: one JSON object per line in
 * `<id>-json.log`, rotated at max-size over max-file files), local (length-framed protobuf
 * records in `local-logs/container.log`, 20 MB × 5 files, rotated files gzipped) and none.
 */
export interface LogDriver {
  /** The file written ('' for none), for messages. */
  readonly path: string;
  /**
   * The container's log writer (one per stdio hub: it alone writes and rotates the files, in
   * order, off the event loop); `none`'s drops everything.
   */
  writer(fs?: LogFs): LogSink;
  /** Every entry kept, oldest first; null when the driver keeps none (`none`). */
  read(): Promise<LogEntry[] | null>;
  /** A reader of the entries kept, a chunk at a time; null when the driver keeps none. */
  reader(): LogReader | null;
}

/** The log settings a container was created with (machines/container/types.ts, `config.log`). */
export type LogDriverSettings =
  | { driver: 'json-file'; maxSize: number | null; maxFile: number }
  | { driver: 'local'; maxSize: number; maxFile: number; compress: boolean }
  | { driver: 'none' };

/** A rotating log's files' contents, oldest first (`name.N` … `name.1`, then `name`). */
async function contents(files: LogFiles): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = files.maxFile - 1; i >= 1; i--) {
    try {
      const raw = await fsp.readFile(`${files.path}.${i}${files.compress ? '.gz' : ''}`);
      out.push(files.compress ? await gunzipAsync(raw) : raw);
    } catch {
      // not rotated that far, or rotated away meanwhile
    }
  }
  try {
    out.push(await fsp.readFile(files.path));
  } catch {
    // none yet
  }
  return out;
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
      return {
        path: '',
        writer: discardingSink,
        read: () => Promise.resolve(null),
        reader: () => null,
      };
    case 'json-file': {
      const files = { path: `${dir}/${id}-json.log`, maxFile: s.maxFile, compress: false };
      return {
        path: files.path,
        writer: (fs) =>
          new LogWriter({
            ...files,
            maxSize: s.maxSize,
            dir: null,
            fs,
            encode: (e) =>
              `${JSON.stringify({ log: e.log.toString('utf8'), stream: e.stream === 1 ? 'stdout' : 'stderr', time: e.time })}\n`,
          }),
        read: async () => (await contents(files)).flatMap((b) => parseJsonLog(b.toString('utf8'))),
        reader: () => new RotatingLogReader(files, jsonLogFormat),
      };
    }
    case 'local': {
      const files = {
        path: `${dir}/local-logs/container.log`,
        maxFile: s.maxFile,
        compress: s.compress,
      };
      return {
        path: files.path,
        writer: (fs) =>
          new LogWriter({
            ...files,
            maxSize: s.maxSize,
            dir: `${dir}/local-logs`,
            fs,
            encode: encodeLocalEntry,
          }),
        read: async () => (await contents(files)).flatMap((b) => decodeLocalEntries(b)),
        reader: () => new RotatingLogReader(files, localLogFormat),
      };
    }
  }
}

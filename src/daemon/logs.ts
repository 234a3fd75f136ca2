import type { ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import type { LogReader } from './logging/reader.ts';
import { frame, type LogEntry, type StdioHub } from './stdio.ts';

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
  /** How long the read waits for the log writer's backlog to reach the files (default `logFlushWaitMs`). */
  flushWaitMs?: number;
}

/** How long a logs read waits for what the container wrote to be in its log's files. */
export const logFlushWaitMs = 2_000;

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
 * Writes a container's log to `out`: the entries kept by the options (with what `hub`'s log
 * writer still has queued), then (following, with `hub`) new ones as they are written, until
 * the output ends, `until` passes, or the client goes.
 * Resolves when done; never ends `out` itself; closes `file`.
 */
export async function writeLogs(
  out: Writable,
  file: LogReader,
  hub: StdioHub | undefined,
  o: LogOptions,
): Promise<void> {
  const keep = (e: LogEntry): boolean => {
    if (e.stream === 1 ? !o.stdout : !o.stderr) return false;
    const t = Date.parse(e.time) / 1000;
    return t >= o.since;
  };
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
    // What the container wrote before this read is read too: its writer's backlog reaches the
    // files first (a following read's tail counts from there as well). The wait is bounded: a
    // disk so slow that the backlog (up to 1 MiB) is not in by then gets the read what is on
    // disk, as dockerd's reader gets what its log copier has written (a following read sees the
    // rest as it goes in). A client that goes meanwhile ends the wait.
    if (hub && !gone()) {
      let left: () => void = () => undefined;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        hub.logFlushed(),
        new Promise<void>((r) => out.once('close', (left = r))),
        new Promise<void>((r) => (timer = setTimeout(r, o.flushWaitMs ?? logFlushWaitMs))),
      ]);
      clearTimeout(timer);
      out.off('close', left);
    }
    if (stop === null) await file.bound();
    if (o.tail === 0) await file.seekEnd();
    else if (o.tail !== null) await file.seekTail(o.tail);
    for (;;) {
      if (gone()) return;
      dirty = false;
      // A container that had not written yet has no log file: it appears with its first line.
      const entries = await file.read();
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
    await file.close();
  }
}

/**
 * `GET /containers/{id}/logs`: 200, chunked, no Content-Type, one stdcopy frame per chunk
 * (the payload raw for TTY containers), ending with the output when following.
 */
export function streamLogs(
  res: ServerResponse,
  file: LogReader,
  hub: StdioHub | undefined,
  o: LogOptions,
): Promise<void> {
  res.writeHead(200, { 'Transfer-Encoding': 'chunked' });
  if (o.follow) res.flushHeaders();
  return writeLogs(res, file, hub, o).then(
    () => {
      if (!res.destroyed) res.end();
    },
    () => {
      res.destroy();
    },
  );
}

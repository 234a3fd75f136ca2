import type { ServerResponse } from 'node:http';
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
}

/** RFC 3339 with nanoseconds, as dockerd prints timestamps. */
function rfc3339Nano(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/**
 * `GET /containers/{id}/logs`: 200, chunked, no Content-Type, one stdcopy frame per chunk
 * (the payload raw for TTY containers), ending with the output when following.
 */
export function streamLogs(
  res: ServerResponse,
  stored: LogEntry[],
  hub: StdioHub | undefined,
  o: LogOptions,
): void {
  res.writeHead(200, { 'Transfer-Encoding': 'chunked' });
  const keep = (e: LogEntry): boolean => {
    if (e.stream === 1 ? !o.stdout : !o.stderr) return false;
    const t = Date.parse(e.time) / 1000;
    return t >= o.since && (o.until === 0 || t <= o.until);
  };
  const send = (e: LogEntry): void => {
    const payload = o.timestamps
      ? Buffer.concat([Buffer.from(`${rfc3339Nano(e.time)} `), e.log])
      : e.log;
    res.write(o.raw ? payload : frame(e.stream, payload));
  };
  let entries = stored.filter(keep);
  if (o.tail !== null) entries = o.tail === 0 ? [] : entries.slice(-o.tail);
  for (const e of entries) send(e);
  if (!o.follow || !hub) {
    res.end();
    return;
  }
  const stop = hub.follow(
    (e) => {
      if (keep(e)) send(e);
    },
    () => res.end(),
  );
  if (stop === null) res.end();
  else res.on('close', stop);
}

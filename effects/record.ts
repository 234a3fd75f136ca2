import { closeSync, openSync, writeSync } from 'node:fs';
import { recordLine } from './record-json.ts';
import type { TraceSink } from './runner.ts';
import {
  traceFormat,
  traceVersion,
  type RecordBody,
  type TraceHeader,
  type TraceRecord,
} from './trace.ts';

/** Keeps a trace in memory (tests, the simulator, replay of the run just made). */
export class MemoryTrace implements TraceSink {
  readonly records: TraceRecord[] = [];
  private seq = 0;
  readonly header: TraceHeader;
  constructor(header: TraceHeader) {
    this.header = header;
  }
  write(record: RecordBody): void {
    this.seq += 1;
    this.records.push({ seq: this.seq, ...record });
  }
  toJsonLines(): string {
    return (
      [JSON.stringify(this.header), ...this.records.map((r) => JSON.stringify(r))].join('\n') + '\n'
    );
  }
}

/**
 * Appends records to a JSON-lines file as they happen, so a daemon that dies mid-start
 * still leaves its trace up to the last record (the flight recorder).
 */
export class FileTrace implements TraceSink {
  private fd: number | null;
  private seq = 0;
  private buffer: string[] = [];
  private flushQueued = false;
  readonly path: string;
  private readonly flushEvery: number;
  /** The header line's length (its JSON and the blanks kept for `rewriteHeader`), without its newline. */
  private readonly headerBytes: number;
  /**
   * `headerRoom`: blanks kept after the header's JSON (JSON allows them), so the header can be
   * rewritten in place once more is known (the daemon's start-up phases).
   */
  constructor(path: string, header: TraceHeader, flushEvery = 64, headerRoom = 0) {
    this.path = path;
    this.flushEvery = flushEvery;
    this.fd = openSync(path, 'w', 0o600);
    const line = JSON.stringify(header);
    this.headerBytes = Buffer.byteLength(line) + headerRoom;
    writeSync(this.fd, line + ' '.repeat(headerRoom) + '\n');
  }
  /**
   * Writes a new header over the first line, in the room it was given; false (and nothing
   * written) when it does not fit or the trace is closed.
   */
  rewriteHeader(header: TraceHeader): boolean {
    const line = Buffer.from(JSON.stringify(header));
    if (this.fd === null || line.length > this.headerBytes) return false;
    const padded = Buffer.alloc(this.headerBytes, ' ');
    line.copy(padded);
    writeSync(this.fd, padded, 0, padded.length, 0);
    return true;
  }
  write(record: RecordBody): void {
    this.seq += 1;
    this.buffer.push(recordLine(this.seq, record));
    if (this.buffer.length >= this.flushEvery) this.flush();
    else if (!this.flushQueued) {
      // What one turn of the event loop recorded is on disk before the next turn: a SIGKILL
      // loses at most the records of the step it interrupted.
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        this.flush();
      });
    }
  }
  flush(): void {
    if (this.fd === null || this.buffer.length === 0) return;
    writeSync(this.fd, this.buffer.join('\n') + '\n');
    this.buffer = [];
  }
  close(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export function makeHeader(
  program: TraceHeader['program'],
  meta: Record<string, unknown>,
  createdAt: string | null = null,
): TraceHeader {
  return { kind: 'header', format: traceFormat, version: traceVersion, program, createdAt, meta };
}

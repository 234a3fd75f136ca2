import { appendFileSync, openSync, constants } from 'node:fs';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Docker's stdcopy frame: stream byte, three zeros, big-endian length, payload. */
export function frame(stream: 1 | 2, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

/** One json-file log entry. */
export interface LogEntry {
  stream: 1 | 2;
  log: Buffer;
  time: string;
}

/**
 * A container's output: read from its stdio FIFOs (opened before the task exists, so the
 * shim's blocking open succeeds), written to the json-file log and to every attached client
 * in Docker's multiplexed framing; attached clients are closed when the output ends.
 */
export class StdioHub {
  private readonly clients = new Set<Duplex>();
  /** `logs -f` readers: each log entry as it is written, and the end of output. */
  private readonly followers = new Set<{ entry: (e: LogEntry) => void; end: () => void }>();
  private open = 0;
  private ended = false;
  private endWaiters: (() => void)[] = [];
  private readonly logPath: string;
  private readers: Socket[] = [];

  /** A terminal: output is raw (no stdcopy frames), stderr merged into it by the pty. */
  tty = false;
  private stdinWriter: Socket | null = null;
  private stdinPending: Buffer[] = [];
  private stdinEnded = false;

  constructor(logPath: string) {
    this.logPath = logPath;
  }

  /**
   * Opens the container's stdin FIFO for writing. O_RDWR: a write-only non-blocking open of a
   * FIFO nobody reads yet fails (ENXIO); what a client sent before start is flushed now.
   */
  openStdin(path: string): void {
    const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    const s = new Socket({ fd, readable: false, writable: true });
    s.on('error', () => undefined);
    this.stdinWriter = s;
    for (const b of this.stdinPending.splice(0)) s.write(b);
    if (this.stdinEnded) s.end();
  }

  /** Client input for the container's stdin (buffered until the task exists). */
  writeStdin(chunk: Buffer): void {
    if (this.stdinWriter) this.stdinWriter.write(chunk);
    else this.stdinPending.push(chunk);
  }

  /** Tells containerd to close the task's stdin; set by the runtime once the task has started. */
  closeStdin: (() => void) | null = null;

  /** The client's EOF: the container's stdin is closed (StdinOnce), now or as soon as the task started. */
  endStdin(): void {
    this.stdinEnded = true;
    this.stdinWriter?.end();
    this.closeStdin?.();
  }

  get stdinClosedByClient(): boolean {
    return this.stdinEnded;
  }

  /** Opens the read ends of the FIFOs (non-blocking: a blocking open would pin a libuv thread). */
  openFifos(stdout: string, stderr: string | null): void {
    this.ended = false;
    const streams = ([[stdout, 1], [stderr, 2]] as const).filter(([p]) => p !== null) as (readonly [string, 1 | 2])[];
    this.open = streams.length;
    for (const [path, stream] of streams) {
      const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      const s = new Socket({ fd, readable: true, writable: false });
      s.on('data', (chunk: Buffer) => this.write(stream, chunk));
      s.on('error', () => undefined);
      s.on('close', () => this.closeOne());
      this.readers.push(s);
    }
  }

  /** When a task could not be created its shim never opened the FIFOs: no EOF will come. */
  destroyReaders(): void {
    for (const r of this.readers) r.destroy();
    this.readers = [];
  }

  /** A line not yet ended, per stream: the json-file log keeps one entry per line, as Docker's does. */
  private partial: Record<1 | 2, Buffer> = { 1: Buffer.alloc(0), 2: Buffer.alloc(0) };

  private logLines(stream: 1 | 2, chunk: Buffer, flush: boolean): void {
    let buf = Buffer.concat([this.partial[stream], chunk]);
    const time = new Date().toISOString();
    const lines: Buffer[] = [];
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10)) {
      lines.push(buf.subarray(0, nl + 1));
      buf = buf.subarray(nl + 1);
    }
    if (flush && buf.length > 0) {
      lines.push(buf);
      buf = Buffer.alloc(0);
    }
    this.partial[stream] = buf;
    for (const line of lines) {
      for (const f of this.followers) f.entry({ stream, log: line, time });
      try {
        appendFileSync(this.logPath, `${JSON.stringify({ log: line.toString('utf8'), stream: stream === 1 ? 'stdout' : 'stderr', time })}\n`);
      } catch {
        // the container's directory is gone (removed): nothing to keep
      }
    }
  }

  private write(stream: 1 | 2, chunk: Buffer): void {
    this.logLines(stream, chunk, false);
    const f = this.tty ? chunk : frame(stream, chunk);
    for (const c of this.clients) if (!c.destroyed) c.write(f);
  }

  private closeOne(): void {
    this.open -= 1;
    if (this.open > 0) return;
    this.logLines(1, Buffer.alloc(0), true);
    this.logLines(2, Buffer.alloc(0), true);
    this.readers = [];
    this.ended = true;
    this.stdinWriter?.destroy();
    this.stdinWriter = null;
    for (const c of this.clients) c.end();
    this.clients.clear();
    for (const f of this.followers) f.end();
    this.followers.clear();
    for (const w of this.endWaiters.splice(0)) w();
  }

  attach(client: Duplex): void {
    if (this.ended && this.open === 0 && this.readers.length === 0 && this.started) {
      client.end();
      return;
    }
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
  }

  /** Follows new output until it ends; returns false (and does nothing) when the output already ended. */
  follow(entry: (e: LogEntry) => void, end: () => void): (() => void) | null {
    if (this.ended || !this.started) return null;
    const f = { entry, end };
    this.followers.add(f);
    return () => this.followers.delete(f);
  }

  /** Resolves when both streams ended (the process and everything holding its stdio exited). */
  whenEnded(): Promise<void> {
    return this.ended || !this.started ? Promise.resolve() : new Promise((r) => this.endWaiters.push(r));
  }

  private get started(): boolean {
    return this.readers.length > 0 || this.ended;
  }
}

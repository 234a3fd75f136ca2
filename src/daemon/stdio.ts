import { openSync, constants } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
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
 * shim's blocking open succeeds), written to its logging driver and to every attached client
 * in Docker's multiplexed framing; attached clients are closed when the output ends.
 */
export class StdioHub {
  private readonly clients = new Set<Duplex>();
  /** `logs -f` readers: each log entry as it is written, and the end of output. */
  private readonly followers = new Set<{ entry: (e: LogEntry) => void; end: () => void }>();
  private open = 0;
  private ended = false;
  private endWaiters: (() => void)[] = [];
  /** The container's logging driver (json-file, local or none). */
  private readonly log: { write(e: LogEntry): void };
  private readers: Socket[] = [];

  /** A terminal: output is raw (no stdcopy frames), stderr merged into it by the pty. */
  tty = false;
  /** The container's stdin (`-i`), when it has one. */
  readonly stdin = new StdinPipe();

  constructor(log: { write(e: LogEntry): void }) {
    this.log = log;
  }

  /** Opens the read ends of the FIFOs (non-blocking: a blocking open would pin a libuv thread). */
  openFifos(stdout: string, stderr: string | null): void {
    this.ended = false;
    const streams = (
      [
        [stdout, 1],
        [stderr, 2],
      ] as const
    ).filter(([p]) => p !== null) as (readonly [string, 1 | 2])[];
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

  /**
   * A start that failed before its task existed (its network could not be set up): no output
   * will come, so the clients attached for it are ended, as dockerd closes the attach streams.
   */
  startFailed(): void {
    if (this.readers.length > 0) return;
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  /** When a task could not be created its shim never opened the FIFOs: no EOF will come. */
  destroyReaders(): void {
    for (const r of this.readers) r.destroy();
    this.readers = [];
  }

  /** A line not yet ended, per stream: the log keeps one entry per line, as Docker's does. */
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
      this.log.write({ stream, log: line, time });
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
    this.stdin.taskEnded();
    for (const c of this.clients) c.end();
    this.clients.clear();
    for (const f of this.followers) f.end();
    this.followers.clear();
    for (const w of this.endWaiters.splice(0)) w();
  }

  /**
   * Streams output to a client until it ends. `nextRun`: the container is not running, so the
   * client waits for the output of its next start (`docker start -a` again), not the last one's end.
   */
  attach(client: Duplex, nextRun = false): void {
    if (!nextRun && this.ended && this.open === 0 && this.readers.length === 0 && this.started) {
      client.end();
      return;
    }
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
  }

  /** Stops streaming to one client (dockerd: its stdin ended and the container's stdin stays open). */
  detach(client: Duplex): void {
    if (this.clients.delete(client)) client.end();
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
    return this.ended || !this.started
      ? Promise.resolve()
      : new Promise((r) => this.endWaiters.push(r));
  }

  private get started(): boolean {
    return this.readers.length > 0 || this.ended;
  }
}

/**
 * A container's stdin, in the order dockerd's libcontainerd keeps:
 * 1. the client's input (raw after the attach's 101) is buffered until the task exists;
 * 2. the FIFO is opened write-only once the shim holds its read end (after Tasks.Create): a
 *    FIFO's buffer lives only while someone has it open, so input written into a FIFO that the
 *    shim has not yet opened could be dropped with it;
 * 3. at the client's EOF (StdinOnce) our writer is closed once everything queued was written;
 * 4. only then, and once the task started, containerd is told to close the process's stdin
 *    (Tasks.CloseIO): the shim holds its own writer, so the process sees EOF only this way,
 *    after it read all that was written before.
 * A run of the task is one cycle; a client attaching after the previous run ended starts a new one.
 */
export class StdinPipe {
  private writer: Socket | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** waiting: no task yet (input buffered); open: writer open; done: this run's stdin is over. */
  private phase: 'waiting' | 'open' | 'done' = 'waiting';
  private eof = false;
  private drained = false;
  private started = false;
  private closeSent = false;
  private readonly drainWaiters = new Set<() => void>();
  /** Tells containerd to close the task's stdin (Tasks.CloseIO); set by the runtime. */
  closeIO: (() => Promise<void>) | null = null;

  /** Input buffered before the task exists, beyond which the client is paused (as a pipe would). */
  static readonly pendingLimit = 1 << 20;

  /** A client attaches its stdin: after a finished run, a new cycle begins. */
  attachClient(): void {
    if (this.phase === 'done') this.reset();
  }

  /** Client input; false when the client should pause until `onDrain` calls back. */
  write(chunk: Buffer): boolean {
    if (this.eof || this.phase === 'done') return true;
    if (this.writer) return this.writer.write(chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    return this.pendingBytes < StdinPipe.pendingLimit;
  }

  /** Calls back once when buffered input was written on (a paused client may go on). */
  onDrain(cb: () => void): void {
    this.drainWaiters.add(cb);
  }

  /** The client's EOF (StdinOnce): the process's stdin closes after what was sent reached it. */
  end(): void {
    if (this.eof || this.phase === 'done') return;
    this.eof = true;
    if (this.writer) this.finishWriter(this.writer);
  }

  /**
   * Opens the write end once the shim has its read end: a non-blocking write-only open fails
   * with ENXIO until then (a blocking one would pin a libuv thread), so it is retried briefly.
   * When it cannot be opened the input is dropped and the process's stdin still closed, so it
   * never waits for input that cannot come; the error is returned for the log.
   */
  async open(path: string, timeoutMs = 5000): Promise<Error | null> {
    if (this.phase === 'done') this.reset();
    const deadline = Date.now() + timeoutMs;
    let fd: number | null = null;
    for (let wait = 1; fd === null; wait = Math.min(wait * 2, 20)) {
      try {
        fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) {
          this.phase = 'open';
          this.pending = [];
          this.pendingBytes = 0;
          this.eof = true;
          this.drained = true;
          this.wakeClients();
          this.maybeCloseIO();
          return new Error(`open stdin fifo ${path}`, { cause: err });
        }
        await sleep(wait);
      }
    }
    const w = new Socket({ fd, readable: false, writable: true });
    // EPIPE once the process is gone and the shim closed its reader: the input has nowhere to go.
    w.on('error', () => undefined);
    w.on('drain', () => this.wakeClients());
    this.writer = w;
    this.phase = 'open';
    for (const b of this.pending.splice(0)) w.write(b);
    this.pendingBytes = 0;
    this.wakeClients();
    if (this.eof) this.finishWriter(w);
    return null;
  }

  /** The task started: containerd accepts CloseIO now (dockerd waits for start too). */
  taskStarted(): void {
    this.started = true;
    this.maybeCloseIO();
  }

  /** The process's output ended (it exited): this run's stdin is over. */
  taskEnded(): void {
    this.writer?.destroy();
    this.writer = null;
    this.phase = 'done';
    this.pending = [];
    this.pendingBytes = 0;
    this.wakeClients();
  }

  private finishWriter(w: Socket): void {
    // end() flushes the queue first; 'finish' means every byte reached the FIFO.
    w.end(() => {
      w.destroy();
      if (this.writer === w) this.writer = null;
      this.drained = true;
      this.maybeCloseIO();
    });
  }

  private maybeCloseIO(): void {
    if (!this.started || !this.eof || !this.drained || this.closeSent) return;
    this.closeSent = true;
    void this.closeIO?.().catch(() => undefined);
  }

  private wakeClients(): void {
    const ws = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const w of ws) w();
  }

  private reset(): void {
    this.writer?.destroy();
    this.writer = null;
    this.pending = [];
    this.pendingBytes = 0;
    this.phase = 'waiting';
    this.eof = false;
    this.drained = false;
    this.started = false;
    this.closeSent = false;
  }
}

import { openSync, constants } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';

/** Docker's stdcopy frame: stream byte, three zeros, big-endian length, payload. */
export function frame(stream: 1 | 2, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

/** A process's output FIFOs with their stream numbers: stdout's, and stderr's unless a terminal merged it. */
export function outputFifos(stdout: string, stderr: string | null): [string, 1 | 2][] {
  return stderr === null
    ? [[stdout, 1]]
    : [
        [stdout, 1],
        [stderr, 2],
      ];
}

/**
 * A FIFO's read end, opened non-blocking (a blocking open would pin a libuv thread until the
 * shim opened the write end), as a socket whose chunks go to `data` and whose end to `closed`.
 */
export function fifoReader(
  path: string,
  data: (chunk: Buffer) => void,
  closed: () => void,
): Socket {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const s = new Socket({ fd, readable: true, writable: false });
  s.on('data', data);
  s.on('error', () => undefined);
  s.on('close', closed);
  return s;
}

/** One json-file log entry. */
export interface LogEntry {
  stream: 1 | 2;
  log: Buffer;
  time: string;
}

/** Where an attached client's output goes, and which of the container's streams it wants. */
export interface AttachedClient {
  out: Writable;
  stdout: boolean;
  stderr: boolean;
  /** The container's output ended (it exited): end this client's stream. */
  ended(): void;
}

/** What a container's log writer tells its hub. */
export interface LogSinkListener {
  /** Entries reached the file (followers may read them). */
  written(): void;
  /** The backlog is down again after `write` said to pause: the source may go on. */
  drained(): void;
  /** The log cannot be written (a full disk), or (null) it can be again. */
  problem(err: Error | null): void;
}

/**
 * Where a container's output is kept: its logging driver's writer, which writes in order and
 * off the event loop (src/daemon/logging/writer.ts). A container directory already removed is
 * no failure.
 */
export interface LogSink {
  /** The file written, for messages. */
  readonly path: string;
  listener: LogSinkListener;
  /** Queues an entry; false once the backlog is over its bound (the source should pause). */
  write(e: LogEntry): boolean;
  /** Resolves once every entry queued so far is written (or dropped, failing). */
  flushed(): Promise<void>;
  /** Resolves once every entry queued so far is written and the file closed; a later write reopens it. */
  close(): Promise<void>;
  /** Drops what is queued and closes the file: the container is removed. */
  discard(): void;
}

/** A follower of new output (`logs -f`): told that entries were written, and that output ended. */
export interface OutputFollower {
  written(): void;
  ended(): void;
}

/**
 * A container's output: read from its stdio FIFOs (opened before the task exists, so the
 * shim's blocking open succeeds), written to its logging driver and to every attached client
 * in Docker's multiplexed framing; attached clients are closed when the output ends.
 *
 * Memory stays bounded whatever the clients and the disk do: an attached client that does not
 * read holds the container's output back (the FIFO readers pause, as dockerd's attach pipes
 * block the copier) until it drains, and is dropped if it has not drained within
 * `stuckClientMs`; a log writer whose backlog is over its bound (a slow disk) holds it back too,
 * until the backlog is written;
 * `logs -f` followers read the log's files at their own pace; a line is cut into 16 KiB entries,
 * as Docker's log copier cuts them.
 */
export class StdioHub {
  private readonly clients = new Set<AttachedClient>();
  private readonly followers = new Set<OutputFollower>();
  /** Clients whose unread output is above the high-water mark, holding the readers paused. */
  private readonly stalled = new Map<AttachedClient, NodeJS.Timeout>();
  private open = 0;
  private ended = false;
  private endWaiters: (() => void)[] = [];
  /** The container's logging driver (json-file, local or none). */
  private readonly log: LogSink;
  private readers: Socket[] = [];
  /** The log writer's backlog is over its bound: the readers are paused until it drains. */
  private logHeld = false;

  /** A terminal: output is raw (no stdcopy frames), stderr merged into it by the pty. */
  tty = false;
  /** The container's stdin (`-i`), when it has one. */
  readonly stdin = new StdinPipe();
  /** Told once when the log cannot be written (a full disk), and once when it can again. */
  onLogProblem: (message: string | null) => void = () => undefined;

  /** Unread output per client beyond which the container's output is held back. */
  static readonly highWaterBytes = 256 * 1024;
  /** How long a client may hold the output back before it is dropped. */
  static stuckClientMs = 30_000;
  /** Docker's log copier cuts lines at 16 KiB (partial messages). */
  static readonly maxLineBytes = 16 * 1024;

  constructor(log: LogSink) {
    this.log = log;
    log.listener = {
      written: () => {
        for (const f of this.followers) f.written();
      },
      drained: () => {
        this.logHeld = false;
        this.flow();
      },
      // A full disk: the output still reaches attached clients; the log says so once, not once a line.
      problem: (err) =>
        this.onLogProblem(
          err === null ? null : `cannot write the container's log ${this.log.path}: ${err.message}`,
        ),
    };
  }

  /** The readers flow unless a client or the log writer holds the output back. */
  private get held(): boolean {
    return this.stalled.size > 0 || this.logHeld;
  }

  private flow(): void {
    const held = this.held;
    for (const r of this.readers) {
      if (held) r.pause();
      else r.resume();
    }
  }

  /** Resolves once everything the container wrote so far is in its log's files (or failed). */
  logFlushed(): Promise<void> {
    return this.log.flushed();
  }

  /** Writes what is queued and closes the log's file (the daemon stops). */
  closeLog(): Promise<void> {
    return this.log.close();
  }

  /** The container is removed: its log is not written any more. */
  discardLog(): void {
    this.log.discard();
  }

  /** Opens the read ends of the output FIFOs. */
  openFifos(stdout: string, stderr: string | null): void {
    this.ended = false;
    const fifos = outputFifos(stdout, stderr);
    this.open = fifos.length;
    for (const [path, stream] of fifos) {
      const s = fifoReader(
        path,
        (chunk) => this.write(stream, chunk),
        () => this.closeOne(),
      );
      if (this.held) s.pause();
      this.readers.push(s);
    }
  }

  /**
   * A start that failed before its task existed (its network could not be set up): no output
   * will come, so the clients attached for it are ended, as dockerd closes the attach streams.
   */
  startFailed(): void {
    if (this.readers.length > 0) return;
    for (const c of [...this.clients]) this.remove(c, true);
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
    for (
      let nl = buf.indexOf(10);
      nl >= 0 || buf.length >= StdioHub.maxLineBytes;
      nl = buf.indexOf(10)
    ) {
      const cut = nl >= 0 && nl < StdioHub.maxLineBytes ? nl + 1 : StdioHub.maxLineBytes;
      lines.push(buf.subarray(0, cut));
      buf = buf.subarray(cut);
    }
    if (flush && buf.length > 0) {
      lines.push(buf);
      buf = Buffer.alloc(0);
    }
    this.partial[stream] = buf;
    let full = false;
    for (const line of lines) if (!this.log.write({ stream, log: line, time })) full = true;
    if (full && !this.logHeld) {
      this.logHeld = true;
      this.flow();
    }
  }

  private write(stream: 1 | 2, chunk: Buffer): void {
    this.logLines(stream, chunk, false);
    const f = this.tty ? chunk : frame(stream, chunk);
    for (const c of this.clients) {
      if (!(this.tty || (stream === 1 ? c.stdout : c.stderr))) continue;
      if (c.out.destroyed || !c.out.writable) continue;
      c.out.write(f);
      if (c.out.writableLength > StdioHub.highWaterBytes) this.holdFor(c);
    }
  }

  /** A client that does not keep up holds the output back until it drains, or is dropped. */
  private holdFor(c: AttachedClient): void {
    if (this.stalled.has(c)) return;
    const timer = setTimeout(() => c.out.destroy(), StdioHub.stuckClientMs);
    timer.unref();
    this.stalled.set(c, timer);
    this.flow();
    c.out.once('drain', () => this.release(c));
  }

  private release(c: AttachedClient): void {
    const timer = this.stalled.get(c);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.stalled.delete(c);
    this.flow();
  }

  private closeOne(): void {
    this.open -= 1;
    if (this.open > 0) return;
    this.logLines(1, Buffer.alloc(0), true);
    this.logLines(2, Buffer.alloc(0), true);
    this.readers = [];
    this.ended = true;
    this.stdin.taskEnded();
    for (const c of [...this.clients]) this.remove(c, true);
    // Followers end once the log holds everything (they read it from the files), and the
    // file is closed until a next run.
    const followers = [...this.followers];
    this.followers.clear();
    void this.log.close().then(() => {
      for (const f of followers) f.ended();
    });
    for (const w of this.endWaiters.splice(0)) w();
  }

  private remove(c: AttachedClient, ended: boolean): void {
    if (!this.clients.delete(c)) return;
    this.release(c);
    if (ended) c.ended();
  }

  /**
   * Streams output to a client until it ends; returns how to stop. `nextRun`: the container
   * is not running, so the client waits for the output of its next start (`docker start -a`
   * again), not the last one's end.
   */
  attach(client: AttachedClient, nextRun = false): () => void {
    if (!nextRun && this.ended && this.open === 0 && this.readers.length === 0 && this.started) {
      client.ended();
      return () => undefined;
    }
    this.clients.add(client);
    client.out.once('close', () => this.remove(client, false));
    return () => this.remove(client, false);
  }

  /** Follows new output until it ends; null (and nothing done) when the output already ended. */
  follow(follower: OutputFollower): (() => void) | null {
    if (this.ended || !this.started) return null;
    this.followers.add(follower);
    return () => this.followers.delete(follower);
  }

  /** Resolves when both streams ended (the process and everything holding its stdio exited). */
  whenEnded(): Promise<void> {
    return this.ended || !this.started
      ? Promise.resolve()
      : new Promise((r) => this.endWaiters.push(r));
  }

  /** Whether the output of the current run has ended (or there never was one). */
  get finished(): boolean {
    return this.ended || !this.started;
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

import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ExecIo } from '../../../effects/containerd/exec-real.ts';
import { fifoReader, frame, outputFifos, StdinPipe } from '../stdio.ts';

/** A health probe's output kept for State.Health (dockerd's maxOutputLen). */
export const maxProbeOutput = 4096;

/**
 * One exec process's stdio: its output FIFOs read (opened before Tasks.Exec so the shim's
 * open succeeds), written to the attached client in Docker's framing (raw with a terminal),
 * kept (a health probe's first 4 KiB) or drained; its stdin FIFO written from the client.
 * The client's stream is ended by the route once the exit is recorded and the output ended,
 * not at EOF alone, so `exec inspect` already has the exit code when the CLI asks (as dockerd
 * orders it).
 */
export class ExecStdio {
  tty = false;
  mode: 'attach' | 'capture' | 'discard' = 'attach';
  readonly stdin = new StdinPipe();
  private client: Duplex | null = null;
  private readers: Socket[] = [];
  private open = 0;
  private ended = false;
  /** The output was closed before every writer had gone. */
  private cut = false;
  private opened = false;
  private endWaiters: (() => void)[] = [];
  private captured: Buffer[] = [];
  private capturedBytes = 0;

  /** The client that gets the output (set before the exec starts). */
  attach(client: Duplex): void {
    this.client = client;
    client.on('close', () => {
      if (this.client === client) this.client = null;
    });
  }

  /** Stops sending output to the client (detach keys): the process runs on. */
  detachClient(): void {
    this.client = null;
  }

  openFifos(stdout: string, stderr: string | null): void {
    this.opened = true;
    const fifos = outputFifos(stdout, stderr);
    this.open = fifos.length;
    for (const [path, stream] of fifos)
      this.readers.push(
        fifoReader(
          path,
          (chunk) => this.write(stream, chunk),
          () => this.closeOne(),
        ),
      );
  }

  private write(stream: 1 | 2, chunk: Buffer): void {
    if (this.mode === 'capture') {
      if (this.capturedBytes < maxProbeOutput) {
        const part = chunk.subarray(0, maxProbeOutput - this.capturedBytes);
        this.captured.push(part);
        this.capturedBytes += part.length;
      }
      return;
    }
    const c = this.client;
    if (this.mode !== 'attach' || c === null || c.destroyed) return;
    c.write(this.tty ? chunk : frame(stream, chunk));
  }

  private closeOne(): void {
    this.open -= 1;
    if (this.open > 0) return;
    this.readers = [];
    this.ended = true;
    this.stdin.taskEnded();
    for (const w of this.endWaiters.splice(0)) w();
  }

  /** The FIFOs could not be given to the shim, or are closed before their end: no EOF will come. */
  destroyReaders(): void {
    for (const r of this.readers) r.destroy();
    this.readers = [];
    if (!this.ended) {
      this.ended = true;
      this.cut = true;
      for (const w of this.endWaiters.splice(0)) w();
    }
  }

  /**
   * Resolves once the output ended (every writer gone, or cut by the exec's delete or its
   * stdio being forgotten); at once when it was never opened.
   */
  whenOutputEnded(): Promise<void> {
    if (!this.opened || this.ended) return Promise.resolve();
    return new Promise((resolve) => this.endWaiters.push(resolve));
  }

  /**
   * Waits until the output ended, at most `ms` (a FIFO some grandchild keeps open never ends),
   * then closes it; whether it ended (every writer gone) rather than being cut.
   */
  async drained(ms: number): Promise<boolean> {
    if (!this.opened) return false;
    if (this.ended) return !this.cut;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      new Promise<boolean>((r) => this.endWaiters.push(() => r(false))),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.cut = true;
      this.destroyReaders();
    }
    return !this.cut;
  }

  /** What a `capture` exec wrote (UTF-8, invalid sequences replaced as Go's JSON does). */
  output(): string {
    return Buffer.concat(this.captured).toString('utf8');
  }
}

/**
 * Every exec's stdio, by exec id: the routes attach clients to them, the containerd handler's
 * exec effects open and close them (effects/containerd/exec-real.ts).
 */
export class ExecStdios implements ExecIo {
  private readonly byExec = new Map<string, ExecStdio>();

  /** An exec's stdio: a client attaches to it before the exec starts. */
  of(exec: string): ExecStdio {
    let s = this.byExec.get(exec);
    if (!s) this.byExec.set(exec, (s = new ExecStdio()));
    return s;
  }

  openOutput(
    exec: string,
    o: {
      stdout: string;
      stderr: string | null;
      terminal: boolean;
      mode: 'attach' | 'capture' | 'discard';
    },
  ): void {
    const io = this.of(exec);
    io.tty = o.terminal;
    io.mode = o.mode;
    io.openFifos(o.stdout, o.stderr);
  }

  async openStdin(exec: string, path: string, closeIO: () => Promise<void>): Promise<void> {
    const io = this.of(exec);
    // Only an attached client writes to an exec's stdin.
    if (io.mode !== 'attach') return;
    io.stdin.closeIO = closeIO;
    await io.stdin.open(path);
    io.stdin.taskStarted();
  }

  async drained(exec: string, ms: number): Promise<{ output: string; ended: boolean }> {
    const io = this.byExec.get(exec);
    if (!io) return { output: '', ended: false };
    const ended = await io.drained(ms);
    return { output: io.output(), ended };
  }

  forget(exec: string): void {
    this.byExec.get(exec)?.destroyReaders();
    this.byExec.delete(exec);
  }
}

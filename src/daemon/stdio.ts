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

/**
 * A container's output: read from its stdio FIFOs (opened before the task exists, so the
 * shim's blocking open succeeds), written to the json-file log and to every attached client
 * in Docker's multiplexed framing; attached clients are closed when the output ends.
 */
export class StdioHub {
  private readonly clients = new Set<Duplex>();
  private open = 0;
  private ended = false;
  private endWaiters: (() => void)[] = [];
  private readonly logPath: string;
  private readers: Socket[] = [];

  constructor(logPath: string) {
    this.logPath = logPath;
  }

  /** Opens the read ends of the FIFOs (non-blocking: a blocking open would pin a libuv thread). */
  openFifos(stdout: string, stderr: string): void {
    this.ended = false;
    this.open = 2;
    for (const [path, stream] of [[stdout, 1], [stderr, 2]] as const) {
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

  private write(stream: 1 | 2, chunk: Buffer): void {
    const time = new Date().toISOString();
    try {
      appendFileSync(this.logPath, `${JSON.stringify({ log: chunk.toString('utf8'), stream: stream === 1 ? 'stdout' : 'stderr', time })}\n`);
    } catch {
      // the container's directory is gone (removed): nothing to keep
    }
    const f = frame(stream, chunk);
    for (const c of this.clients) if (!c.destroyed) c.write(f);
  }

  private closeOne(): void {
    this.open -= 1;
    if (this.open > 0) return;
    this.readers = [];
    this.ended = true;
    for (const c of this.clients) c.end();
    this.clients.clear();
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

  /** Resolves when both streams ended (the process and everything holding its stdio exited). */
  whenEnded(): Promise<void> {
    return this.ended || !this.started ? Promise.resolve() : new Promise((r) => this.endWaiters.push(r));
  }

  private get started(): boolean {
    return this.readers.length > 0 || this.ended;
  }
}

import type { Readable, Writable } from 'node:stream';
import type { ContainerContext } from '../../machines/container/types.ts';
import { ApiError } from '../api/server.ts';
import type { EventsService } from './events.ts';
import type { LogDriver } from './logging/drivers.ts';
import { writeLogs } from './logs.ts';
import type { StdioHub } from './stdio.ts';

/** The key names moby/term's ToBytes knows, by their code: `ctrl-@` is 0, `ctrl-_` is 31. */
const ctrlKeys = [
  'ctrl-@',
  ...'abcdefghijklmnopqrstuvwxyz'.split('').map((c) => `ctrl-${c}`),
  'ctrl-[',
  'ctrl-\\',
  'ctrl-]',
  'ctrl-^',
  'ctrl-_',
];

/** Docker's default detach sequence: ctrl-p ctrl-q. */
export const defaultDetachKeys = [16, 17];

/**
 * A detach-key spec as moby/term's ToBytes reads it: comma-separated keys, each one byte
 * (`a`, `,` cannot be one), `ctrl-<x>` or `DEL`. Throws for any other key.
 */
export function parseDetachKeys(spec: string): number[] {
  const codes: number[] = [];
  for (const key of spec.split(',')) {
    const bytes = Buffer.from(key, 'utf8');
    if (bytes.length === 1) {
      codes.push(bytes[0] as number);
      continue;
    }
    const ctrl = ctrlKeys.indexOf(key);
    if (ctrl >= 0) codes.push(ctrl);
    else if (key === 'DEL') codes.push(127);
    else throw new Error(`Unknown character: '${key}'`);
  }
  return codes;
}

/**
 * moby/term's escape proxy, for a TTY attach's stdin: bytes that may begin the detach sequence
 * are held back; the whole sequence detaches (what came before it in the same read goes on,
 * what follows is dropped); a byte that breaks the sequence releases the held bytes with it
 * and starts the match over from the next byte.
 */
export class DetachDetector {
  private readonly keys: readonly number[];
  private matched = 0;

  constructor(keys: readonly number[]) {
    this.keys = keys.length === 0 ? defaultDetachKeys : keys;
  }

  feed(chunk: Buffer): { pass: Buffer; detached: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched += 1;
        if (this.matched === this.keys.length) return { pass: Buffer.from(out), detached: true };
        continue;
      }
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i] as number);
      this.matched = 0;
      out.push(byte);
    }
    return { pass: Buffer.from(out), detached: false };
  }
}

/** One attach's connection: where output goes and stdin comes from. */
export interface AttachConnection {
  out: Writable;
  /** The client's stdin: the hijacked socket after the 101, or the request body. */
  in: Readable;
  /** Writes the response head (101 or 200); then `out` carries the raw stream. */
  begin(): void;
  /** Ends the attach (dockerd's CloseStreams): our side closed, the socket destroyed soon after. */
  finish(): void;
}

export interface AttachRequest {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  logs: boolean;
  stream: boolean;
  detachKeys: string;
}

/** dockerd's first attach check: the detach keys, before the container is looked up. */
export function checkDetachKeys(detachKeys: string): number[] {
  if (detachKeys === '') return [];
  try {
    return parseDetachKeys(detachKeys);
  } catch {
    throw new ApiError(400, `Invalid detach keys (${detachKeys}) provided`);
  }
}

/** The state checks that follow the container lookup. */
export function checkAttachable(c: ContainerContext, ref: string): void {
  if (c.record.state.status === 'paused')
    throw new ApiError(409, `container ${ref} is paused, unpause the container before attach`);
  if (c.record.state.status === 'restarting')
    throw new ApiError(409, `container ${ref} is restarting, wait until the container is running`);
}

/**
 * Serves one attach as dockerd's containerAttach: with `logs`, the log so far; the `attach`
 * event; with `stream`, live output (and stdin) until the output ends, the client goes, its
 * stdin ends (unless the container's stdin closes with it), or it detaches.
 */
export async function serveAttach(opts: {
  conn: AttachConnection;
  c: ContainerContext;
  hub: StdioHub;
  /** The container's logging driver (`logs`: what it kept so far; none keeps nothing). */
  log: LogDriver;
  request: AttachRequest;
  keys: number[];
  events: EventsService;
}): Promise<void> {
  const { conn, c, hub, request, events } = opts;
  const tty = c.record.config.tty === true;
  const event = (action: string): void =>
    events.publish('container', action, c.record.id, {
      ...c.record.config.labels,
      image: c.record.image,
      name: c.record.name.slice(1),
    });
  conn.begin();
  const kept = request.logs && (request.stdout || request.stderr) ? opts.log.reader() : null;
  if (kept)
    await writeLogs(conn.out, kept, hub, {
      raw: tty,
      stdout: request.stdout,
      stderr: request.stderr,
      follow: false,
      timestamps: false,
      since: 0,
      until: 0,
      tail: null,
    });
  event('attach');
  if (!request.stream || conn.out.destroyed) {
    conn.finish();
    return;
  }
  let over = false;
  // The hub may end a client at once (its output ended just before): finish must not need it yet.
  let stopOutput = (): void => undefined;
  const finish = (): void => {
    if (over) return;
    over = true;
    stopOutput();
    conn.in.pause();
    conn.finish();
  };
  stopOutput = hub.attach(
    { out: conn.out, stdout: request.stdout, stderr: request.stderr, ended: finish },
    !['running', 'paused', 'restarting'].includes(c.record.state.status),
  );
  if (over) return;
  // A reset or a broken pipe ends this attach (the server logs it); the container runs on.
  conn.in.on('error', finish);
  conn.out.on('error', finish);
  if (!(request.stdin && c.record.config.openStdin === true)) {
    // Without stdin the CLI half-closes at once: output goes on.
    conn.in.on('data', () => undefined);
    return;
  }
  const closesStdin = c.record.config.stdinOnce === true && !tty;
  const detector = tty ? new DetachDetector(opts.keys) : null;
  hub.stdin.attachClient();
  let inputDone = false;
  const inputEnded = (): void => {
    if (inputDone) return;
    inputDone = true;
    // StdinOnce without a TTY: the container's stdin closes with the client's. Otherwise the
    // container keeps its stdin and this attach ends (dockerd's CopyStreams).
    if (closesStdin) hub.stdin.end();
    else finish();
  };
  conn.in.on('data', (chunk: Buffer) => {
    if (inputDone || over) return;
    let data = chunk;
    if (detector) {
      const r = detector.feed(chunk);
      data = r.pass;
      if (r.detached) {
        if (data.length > 0) hub.stdin.write(data);
        inputDone = true;
        event('detach');
        finish();
        return;
      }
    }
    if (data.length === 0 || hub.stdin.write(data)) return;
    conn.in.pause();
    hub.stdin.onDrain(() => {
      if (!over) conn.in.resume();
    });
  });
  conn.in.once('end', inputEnded);
  // A reset is an end of input too (dockerd's copy returns with the error).
  conn.out.once('close', inputEnded);
}

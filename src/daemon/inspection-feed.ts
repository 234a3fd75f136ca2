import type { ServerResponse } from 'node:http';
import type { AnyStateMachine } from 'xstate';
import type { Constraint } from '../../machines/check/constraints.ts';
import { constraintsByMachine as registeredConstraints } from '../../machines/registry.ts';
import type { Session } from '../../effects/runner.ts';
import { makeHeader } from '../../effects/record.ts';
import type { RecordBody } from '../../effects/trace.ts';
import type { Route } from '../api/server.ts';
import { machineCatalog, type StepTables } from '../inspector/catalog.ts';
import { stepTables as registeredStepTables } from '../inspector/local-catalog.ts';

/**
 * The daemon's inspection feed, outside Docker's API (`/statedock/…`), for `statedock inspect`:
 *
 * - `GET /statedock/machines`: the machine catalog (each machine's chart, its ordering
 *   constraints, the start-up step table, and XState's own `toJSON()`).
 * - `GET /statedock/records?since=SEQ`: `application/x-ndjson` in the trace format: a header
 *   line (its `meta.instance` names this daemon run, so a viewer notices a restart), the
 *   buffered records after SEQ, then live ones as the session reports them (`seq` numbered
 *   like the flight recorder's when the feed is registered before the first actor is spawned).
 *
 * The daemon never waits for a viewer: records go into a ring buffer (the last `capacity`
 * records, at most `maxBytes` of them) and each reader is a cursor into it. A reader whose socket is not draining is not
 * written to; when it drains it goes on from its cursor, and if the ring has moved past the
 * cursor meanwhile it first gets `{"kind":"gap","dropped":N,"actors":{…}}` — the number of
 * records it lost and every live actor's machine and state just before the next record.
 */

/** What a route table offers (`ApiServer` in src/api/server.ts). */
export interface RouteTable {
  add(route: Route): void;
}

export interface InspectionFeedOptions {
  /** How many records the ring keeps for readers that connect late or fall behind (default 20,000). */
  capacity?: number;
  /** Records per write to a reader (default 512). */
  batch?: number;
  /** The most the ring holds, in characters of its lines (default 2 Mi): big records push old ones out sooner. */
  maxBytes?: number;
  constraintsByMachine?: Readonly<Record<string, readonly Constraint[]>>;
  stepTables?: StepTables;
}

export interface InspectionFeed {
  /** The seq of the newest record (0 before the first). */
  readonly latestSeq: number;
  /** The seq of the oldest record still buffered. */
  readonly oldestSeq: number;
  /** Readers connected now. */
  readonly readers: number;
  /** Records dropped for readers so far (summed over readers). */
  readonly dropped: number;
  /** Ends every reader's stream and stops buffering. */
  close(): void;
}

interface ActorSummary {
  machine: string;
  value: unknown;
  status: string;
}

interface Reader {
  res: ServerResponse;
  /** The seq of the next record to send. */
  next: number;
  waiting: boolean;
}

/** The part of a record the actors' summary needs once the record itself is gone. */
function foldOf(r: RecordBody): Fold | undefined {
  switch (r.kind) {
    case 'actor.start':
      return { kind: 'actor.start', actor: r.actor, machine: r.machine };
    case 'transition':
      return { kind: 'transition', actor: r.actor, to: r.to };
    case 'actor.stop':
      return { kind: 'actor.stop', actor: r.actor };
    default:
      return undefined;
  }
}

/** Parses `since`: absent means from the first buffered record. */
/** The longest record the ring keeps whole, in characters of its line. */
export const wholeRecordChars = 64 * 1024;

/**
 * A record too long to keep whole, as the ring keeps it: its kind and actor, what a viewer folds
 * (machine, states) or labels it with (event type, effect, mark), and `abridged`, the length of
 * its whole line; its payload (a create's megabytes of labels) is left out. One such record would
 * otherwise push thousands of others out at once, the ring's memory swinging by megabytes; the
 * flight recorder keeps every record whole.
 */
function abridgedLine(seq: number, r: RecordBody, chars: number): string {
  const base = { seq, t: r.t, actor: r.actor, kind: r.kind, abridged: chars };
  switch (r.kind) {
    case 'actor.start':
      return JSON.stringify({ ...base, machine: r.machine, input: null });
    case 'event':
      return JSON.stringify({ ...base, event: { type: r.event.type } });
    case 'effect.request':
      return JSON.stringify({
        ...base,
        call: {
          effect: r.call.effect,
          id: r.call.id,
          ...(r.call.step ? { step: r.call.step } : {}),
        },
      });
    case 'mark':
      return JSON.stringify({ ...base, mark: { mark: r.mark.mark } });
    case 'transition':
      return JSON.stringify({ ...base, from: r.from, to: r.to });
    case 'actor.stop':
      return JSON.stringify({ ...base, status: r.status, output: null });
  }
}

function parseSince(text: string | null): number | null {
  if (text === null || text === '') return 0;
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/** What an evicted record changes in the actors' summary (kept instead of the whole record). */
type Fold =
  | { kind: 'actor.start'; actor: string; machine: string }
  | { kind: 'transition'; actor: string; to: unknown }
  | { kind: 'actor.stop'; actor: string };

class Feed implements InspectionFeed {
  private readonly capacity: number;
  private readonly maxBytes: number;
  private readonly batch: number;
  /** Each buffered record as its feed line (`{"seq":N,…}\n`), and what it changes for the actors. */
  private readonly lines: (string | undefined)[];
  private readonly folds: (Fold | undefined)[];
  /** Seq of the newest record; records `latestSeq - size + 1 … latestSeq` are in the ring. */
  latestSeq = 0;
  private size = 0;
  /** Characters held by the buffered lines. */
  private bytes = 0;
  dropped = 0;
  private readonly readerSet = new Set<Reader>();
  /** The state of every live actor as of the record before the oldest buffered one. */
  private readonly evicted = new Map<string, ActorSummary>();
  private flushScheduled = false;
  private closed = false;
  private readonly header: string;

  constructor(capacity: number, batch: number, maxBytes: number) {
    const now = new Date();
    this.header = `${JSON.stringify(makeHeader('daemon', { pid: process.pid, instance: `${process.pid}-${now.getTime()}`, feed: true }, now.toISOString()))}\n`;
    this.capacity = capacity;
    this.maxBytes = maxBytes;
    this.batch = batch;
    this.lines = new Array<string | undefined>(capacity);
    this.folds = new Array<Fold | undefined>(capacity);
  }

  get oldestSeq(): number {
    return this.latestSeq - this.size + 1;
  }

  get readers(): number {
    return this.readerSet.size;
  }

  /**
   * Called for every record the session reports: the record is kept as its line (the ring
   * holds at most `capacity` records and `maxBytes` of them, oldest out first), so what the
   * feed keeps is bounded however large records are, and it keeps no object alive.
   */
  push(record: RecordBody): void {
    if (this.closed) return;
    const seq = this.latestSeq + 1;
    // One flat string per record (its newline added when sent): a line pieced together from
    // slices and concatenations would hold several string objects and the slices' parents.
    let line = JSON.stringify({ seq, ...record });
    if (line.length > wholeRecordChars) line = abridgedLine(seq, record, line.length);
    while (
      this.size > 0 &&
      (this.size === this.capacity || this.bytes + line.length + 1 > this.maxBytes)
    )
      this.evictOldest();
    const slot = seq % this.capacity;
    this.lines[slot] = line;
    this.folds[slot] = foldOf(record);
    this.bytes += line.length + 1;
    this.latestSeq = seq;
    this.size += 1;
    if (this.readerSet.size > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      // Records of one tick go out in one write per reader.
      setImmediate(() => {
        this.flushScheduled = false;
        for (const r of this.readerSet) this.pump(r);
      });
    }
  }

  /** The oldest record leaves the ring; its effect on the actors is kept. */
  private evictOldest(): void {
    const slot = this.oldestSeq % this.capacity;
    const f = this.folds[slot];
    if (f) this.fold(f);
    this.bytes -= (this.lines[slot]?.length ?? -1) + 1;
    this.lines[slot] = undefined;
    this.folds[slot] = undefined;
    this.size -= 1;
  }

  private fold(r: Fold): void {
    switch (r.kind) {
      case 'actor.start':
        this.evicted.set(r.actor, { machine: r.machine, value: null, status: 'active' });
        break;
      case 'transition': {
        const a = this.evicted.get(r.actor);
        if (a) a.value = r.to;
        break;
      }
      case 'actor.stop':
        this.evicted.delete(r.actor);
        break;
    }
  }

  private line(seq: number): string {
    return this.lines[seq % this.capacity] as string;
  }

  /** Writes what a reader has not had yet, until its socket stops draining. */
  pump(reader: Reader): void {
    while (!reader.waiting && !this.closed && reader.next <= this.latestSeq) {
      let text = '';
      const oldest = this.oldestSeq;
      if (reader.next < oldest) {
        const lost = oldest - reader.next;
        this.dropped += lost;
        text += `${JSON.stringify({ kind: 'gap', dropped: lost, actors: Object.fromEntries(this.evicted) })}\n`;
        reader.next = oldest;
      }
      const end = Math.min(this.latestSeq, reader.next + this.batch - 1);
      for (let s = reader.next; s <= end; s++) text += `${this.line(s)}\n`;
      reader.next = end + 1;
      if (!reader.res.write(text)) {
        reader.waiting = true;
        reader.res.once('drain', () => {
          reader.waiting = false;
          this.pump(reader);
        });
      }
    }
  }

  serve(res: ServerResponse, since: number): void {
    res.writeHead(200, {
      'Content-Type': 'application/x-ndjson',
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    res.flushHeaders();
    // A reader asking for records older than the ring starts with a gap (and the actors' states).
    const reader: Reader = { res, next: since + 1, waiting: false };
    this.readerSet.add(reader);
    res.write(this.header);
    res.on('close', () => this.readerSet.delete(reader));
    res.on('error', () => this.readerSet.delete(reader));
    this.pump(reader);
  }

  close(): void {
    this.closed = true;
    for (const r of this.readerSet) r.res.end();
    this.readerSet.clear();
  }
}

/**
 * Mounts the inspection feed on the daemon's route table and starts buffering the session's
 * records. Register it before the first actor is spawned so its `seq` numbers match the
 * flight recorder's.
 */
export function registerInspectionFeed(
  routes: RouteTable,
  session: Session,
  machinesByName: Readonly<Record<string, AnyStateMachine>>,
  options: InspectionFeedOptions = {},
): InspectionFeed {
  // A late viewer sees the last minutes of a busy daemon (the flight recorder keeps the whole
  // run); a larger ring is memory a daemon under heavy API traffic carries for no reader.
  const capacity = options.capacity ?? 20_000;
  if (!Number.isSafeInteger(capacity) || capacity < 1)
    throw new Error(`inspection feed: capacity must be a positive integer, got ${capacity}`);
  const feed = new Feed(capacity, options.batch ?? 512, options.maxBytes ?? 2 << 20);
  session.onRecord((_actor, record) => feed.push(record));
  const constraints = options.constraintsByMachine ?? registeredConstraints;
  const steps = options.stepTables ?? registeredStepTables;
  // Built once per set of registered machines (a plugin or a test may register more later):
  // the catalog is ~100 KB and takes tens of milliseconds, not worth redoing per request.
  let catalog: { key: string; body: Buffer } | null = null;
  routes.add({
    method: 'GET',
    pattern: '/statedock/machines',
    handler: (ctx) => {
      const key = Object.keys(machinesByName).join('\n');
      if (catalog?.key !== key)
        catalog = {
          key,
          body: Buffer.from(
            `${JSON.stringify(machineCatalog(machinesByName, constraints, steps, { xstateJson: true }))}\n`,
          ),
        };
      ctx.res.writeHead(200, {
        'Content-Type': 'application/json',
        'Content-Length': catalog.body.length,
      });
      ctx.res.end(catalog.body);
    },
  });
  routes.add({
    method: 'GET',
    pattern: '/statedock/records',
    handler: (ctx) => {
      const since = parseSince(ctx.query.get('since'));
      if (since === null) {
        ctx.error(
          400,
          `since must be a record number (a non-negative integer), got ${JSON.stringify(ctx.query.get('since'))}`,
        );
        return;
      }
      ctx.streaming();
      feed.serve(ctx.res, since);
    },
  });
  return feed;
}

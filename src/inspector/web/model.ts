import type { RowChunk } from '../protocol.ts';
import { RowKind, statusAfterEvent } from '../row-kinds.ts';

/**
 * The page's index of a source, built once from its compiled rows (and grown as a live
 * source sends more): columns in typed arrays, per actor the rows, effects, step marks and
 * releases, and every `interval` rows a checkpoint of all actors' states — so the state at
 * any record is a checkpoint plus at most `interval - 1` rows, never a replay from the start.
 */

/** A growable list of row (or effect) numbers, sorted when pushed in order. */
export class IntList {
  data = new Int32Array(16);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  at(i: number): number {
    return this.data[i] as number;
  }
  /** How many entries are ≤ v (the list is sorted). */
  countAtMost(v: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.data[mid] as number) <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export const Status = { unborn: 0, active: 1, stopped: 2 } as const;

export interface ActorInfo {
  index: number;
  id: string;
  machine: string | null;
  rows: IntList;
  effects: IntList;
  /** step.start/done/failed and warning marks. */
  stepRows: IntList;
  /** resource.released, release.failed, release.skipped marks. */
  releaseRows: IntList;
  /** Docker events (`event` marks) the actor emitted. */
  dockerRows: IntList;
  /** The resource each acquisition came from: resource → step. */
  acquiredBy: Map<string, string>;
  /** The first step.failed / startup.failed mark, or -1. */
  stepFailedRow: number;
  startupFailedRow: number;
  stopRow: number;
}

export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'notRun';

export interface Release {
  row: number;
  resource: string;
  step: string | null;
  outcome: 'released' | 'failed' | 'kept';
  message: string | null;
}

function grow<T extends Float64Array | Int32Array | Uint8Array>(a: T, min: number): T {
  if (a.length >= min) return a;
  let n = a.length;
  while (n < min) n *= 2;
  const next = new (a.constructor as new (n: number) => T)(n);
  next.set(a);
  return next;
}

export class TraceModel {
  readonly interval: number;
  length = 0;
  seq: Float64Array = new Float64Array(1024);
  t: Float64Array = new Float64Array(1024);
  actorOf: Int32Array = new Int32Array(1024);
  kind: Uint8Array = new Uint8Array(1024);
  ref: Int32Array = new Int32Array(1024);
  text: Int32Array = new Int32Array(1024);
  extra: Float64Array = new Float64Array(1024);
  strings: string[] = [];
  actors: ActorInfo[] = [];
  /** Per effect: the row of its request and of its result (-1 while in flight). */
  effReq: Int32Array = new Int32Array(256).fill(-1);
  effRes: Int32Array = new Int32Array(256).fill(-1);
  effActor: Int32Array = new Int32Array(256).fill(-1);
  effects = 0;
  /** Rows of failures anywhere (failed steps, start-up failures, failed effects, failed releases). */
  readonly problems = new IntList();
  private readonly seqRow = new Map<number, number>();
  private readonly gapActors = new Map<number, [number, number, number][]>();
  private curValue: Int32Array = new Int32Array(16).fill(-1);
  private curStatus: Uint8Array = new Uint8Array(16);
  private readonly cpValue: Int32Array[] = [];
  private readonly cpStatus: Uint8Array[] = [];

  constructor(interval = 512) {
    this.interval = interval;
  }

  private actor(i: number): ActorInfo {
    return this.actors[i] as ActorInfo;
  }

  str(i: number): string {
    return i < 0 ? '' : (this.strings[i] ?? '');
  }

  /** Adds a chunk of rows (the whole of a trace, or what a live daemon sent since the last). */
  append(chunk: RowChunk): void {
    for (let i = 0; i < chunk.strings.add.length; i++)
      this.strings[chunk.strings.base + i] = chunk.strings.add[i] as string;
    for (let i = 0; i < chunk.actors.add.length; i++) {
      const index = chunk.actors.base + i;
      this.actors[index] = {
        index,
        id: chunk.actors.add[i] as string,
        machine: null,
        rows: new IntList(),
        effects: new IntList(),
        stepRows: new IntList(),
        releaseRows: new IntList(),
        dockerRows: new IntList(),
        acquiredBy: new Map(),
        stepFailedRow: -1,
        startupFailedRow: -1,
        stopRow: -1,
      };
    }
    if (this.actors.length > this.curValue.length) {
      const v = new Int32Array(Math.max(this.actors.length, this.curValue.length * 2)).fill(-1);
      v.set(this.curValue);
      this.curValue = v;
      this.curStatus = grow(this.curStatus, v.length);
    }
    const n = this.length + chunk.rows.length;
    this.seq = grow(this.seq, n);
    this.t = grow(this.t, n);
    this.actorOf = grow(this.actorOf, n);
    this.kind = grow(this.kind, n);
    this.ref = grow(this.ref, n);
    this.text = grow(this.text, n);
    this.extra = grow(this.extra, n);
    for (const r of chunk.rows) this.add(r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
  }

  private effect(e: number): void {
    if (e >= this.effReq.length) {
      const size = Math.max(e + 1, this.effReq.length * 2);
      const grown = (a: Int32Array): Int32Array => {
        const b = new Int32Array(size).fill(-1);
        b.set(a);
        return b;
      };
      this.effReq = grown(this.effReq);
      this.effRes = grown(this.effRes);
      this.effActor = grown(this.effActor);
    }
    if (e >= this.effects) this.effects = e + 1;
  }

  private add(
    seq: number,
    t: number,
    actor: number,
    kind: number,
    ref: number,
    text: number,
    extra: number,
  ): void {
    const row = this.length;
    if (row % this.interval === 0) {
      this.cpValue.push(this.curValue.slice(0, this.actors.length));
      this.cpStatus.push(this.curStatus.slice(0, this.actors.length));
    }
    this.seq[row] = seq;
    this.t[row] = t ?? 0;
    this.actorOf[row] = actor;
    this.kind[row] = kind;
    this.ref[row] = ref;
    this.text[row] = text;
    this.extra[row] = extra;
    this.length = row + 1;
    if (seq >= 0) this.seqRow.set(seq, row);
    const a = this.actor(actor);
    if (kind !== RowKind.gap) a.rows.push(row);
    switch (kind) {
      case RowKind.actorStart:
        a.machine = this.str(ref);
        break;
      case RowKind.actorStop:
        a.stopRow = row;
        break;
      case RowKind.effectRequest:
        this.effect(ref);
        this.effReq[ref] = row;
        if (this.effActor[ref] === -1) {
          this.effActor[ref] = actor;
          a.effects.push(ref);
        }
        break;
      case RowKind.effectDone:
      case RowKind.effectFailed:
        this.effect(ref);
        this.effRes[ref] = row;
        if (this.effActor[ref] === -1) {
          this.effActor[ref] = actor;
          a.effects.push(ref);
        }
        if (kind === RowKind.effectFailed) this.problems.push(row);
        break;
      case RowKind.stepStart:
      case RowKind.stepDone:
      case RowKind.warning:
        a.stepRows.push(row);
        break;
      case RowKind.stepFailed:
        a.stepRows.push(row);
        if (a.stepFailedRow === -1) a.stepFailedRow = row;
        this.problems.push(row);
        break;
      case RowKind.startupFailed:
        if (a.startupFailedRow === -1) a.startupFailedRow = row;
        break;
      case RowKind.resourceAcquired:
        a.acquiredBy.set(this.str(ref), this.str(extra));
        break;
      case RowKind.resourceReleased:
      case RowKind.releaseSkipped:
        a.releaseRows.push(row);
        break;
      case RowKind.releaseFailed:
        a.releaseRows.push(row);
        this.problems.push(row);
        break;
      case RowKind.dockerEvent:
        a.dockerRows.push(row);
        break;
      case RowKind.gap:
        if (extra >= 0) {
          const seeded = Object.entries(
            JSON.parse(this.str(extra)) as Record<string, [number, number]>,
          ).map(([ai, [m, v]]): [number, number, number] => [Number(ai), m, v]);
          this.gapActors.set(row, seeded);
          for (const [ai, m] of seeded) {
            const info = this.actor(ai);
            if (info.machine === null) info.machine = this.str(m);
          }
        }
        this.problems.push(row);
        break;
      default:
        break;
    }
    this.apply(this.curValue, this.curStatus, row);
  }

  private apply(value: Int32Array, status: Uint8Array, row: number): void {
    const a = this.actorOf[row] as number;
    switch (this.kind[row]) {
      case RowKind.actorStart:
        status[a] = Status.active;
        value[a] = -1;
        break;
      case RowKind.transition:
        value[a] = this.ref[row] as number;
        if (status[a] === Status.unborn) status[a] = Status.active;
        break;
      case RowKind.actorStop:
        status[a] = Status.stopped;
        break;
      case RowKind.gap:
        for (const [ai, , v] of this.gapActors.get(row) ?? []) {
          value[ai] = v;
          status[ai] = Status.active;
        }
        break;
      default:
        break;
    }
  }

  /** Every actor's state (string index of its value's JSON, -1 none) and status after `row`. */
  stateAt(row: number): { value: Int32Array; status: Uint8Array } {
    const value = new Int32Array(this.actors.length).fill(-1);
    const status = new Uint8Array(this.actors.length);
    if (row < 0 || this.length === 0) return { value, status };
    const last = Math.min(row, this.length - 1);
    const c = Math.floor(last / this.interval);
    value.set(this.cpValue[c] as Int32Array);
    status.set(this.cpStatus[c] as Uint8Array);
    for (let r = c * this.interval; r <= last; r++) this.apply(value, status, r);
    return { value, status };
  }

  /** The state value of one actor after `row` (parsed), or null. */
  valueOf(state: { value: Int32Array }, actor: number): unknown {
    const v = state.value[actor] ?? -1;
    return v < 0 ? null : (JSON.parse(this.str(v)) as unknown);
  }

  rowOfSeq(seq: number): number {
    return this.seqRow.get(seq) ?? -1;
  }

  /** Each step's status after `row`, from the actor's step marks; steps not begun when start-up failed did not run. */
  stepsAt(
    actor: number,
    row: number,
  ): { status: Map<string, StepStatus>; warnings: Set<string>; failedAfter: boolean } {
    const status = new Map<string, StepStatus>();
    const warnings = new Set<string>();
    const a = this.actors[actor];
    if (!a) return { status, warnings, failedAfter: false };
    const n = a.stepRows.countAtMost(row);
    for (let i = 0; i < n; i++) {
      const r = a.stepRows.at(i);
      const step = this.str(this.ref[r] as number);
      switch (this.kind[r]) {
        case RowKind.stepStart:
          status.set(step, 'running');
          break;
        case RowKind.stepDone:
          status.set(step, 'done');
          break;
        case RowKind.stepFailed:
          status.set(step, 'failed');
          break;
        case RowKind.warning:
          warnings.add(step);
          break;
        default:
          break;
      }
    }
    // The failing step's mark comes a record before start-up's own: from it on, nothing else starts.
    const failedAt = a.stepFailedRow >= 0 ? a.stepFailedRow : a.startupFailedRow;
    return { status, warnings, failedAfter: failedAt >= 0 && failedAt <= row };
  }

  /** What the actor released (or failed to, or kept) up to `row`, in order. */
  releasesAt(actor: number, row: number): Release[] {
    const out: Release[] = [];
    const a = this.actors[actor];
    if (!a) return out;
    const n = a.releaseRows.countAtMost(row);
    for (let i = 0; i < n; i++) {
      const r = a.releaseRows.at(i);
      const resource = this.str(this.ref[r] as number);
      const k = this.kind[r];
      out.push({
        row: r,
        resource,
        step: a.acquiredBy.get(resource) ?? null,
        outcome:
          k === RowKind.resourceReleased
            ? 'released'
            : k === RowKind.releaseFailed
              ? 'failed'
              : 'kept',
        message: k === RowKind.resourceReleased ? null : this.str(this.extra[r] as number),
      });
    }
    return out;
  }

  /** A container's Docker status after `row`, from the Docker events it emitted (null: none yet). */
  dockerStatusAt(actor: number, row: number): string | null {
    const a = this.actors[actor];
    if (!a) return null;
    for (let i = a.dockerRows.countAtMost(row) - 1; i >= 0; i--) {
      const status = statusAfterEvent[this.str(this.ref[a.dockerRows.at(i)] as number)];
      if (status) return status;
    }
    return null;
  }

  /** The effects of an actor requested (or settled) up to `row`: how many of its list. */
  effectsUpTo(actor: number, row: number): number {
    const a = this.actors[actor];
    if (!a) return 0;
    let lo = 0;
    let hi = a.effects.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = a.effects.at(mid);
      const first = this.effReq[e] !== -1 ? (this.effReq[e] as number) : (this.effRes[e] as number);
      if (first <= row) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The previous transition of an actor before `row` (its `from`), as a state string index or -1. */
  previousValue(actor: number, row: number): number {
    const a = this.actors[actor];
    if (!a) return -1;
    const n = a.rows.countAtMost(row - 1);
    for (let i = n - 1; i >= 0; i--) {
      const r = a.rows.at(i);
      if (this.kind[r] === RowKind.transition) return this.ref[r] as number;
      if (this.kind[r] === RowKind.actorStart) return -1;
    }
    return -1;
  }
}

import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall } from '../../effects/requests.ts';
import {
  beginReleases,
  emptyReleaseState,
  releaseNext,
  releaseResult,
  type ReleaseState,
} from '../release/engine.ts';
import { type Op, type OpOutcome, type Scope, type StepDef } from './steps.ts';
import type {
  Acquisition,
  Facts,
  Mark,
  Output,
  StartupConfig,
  StartupEvent,
  StartupFailure,
} from './types.ts';

/**
 * The start-up machine's pure step function. Given the start-up's state and an event it returns
 * the machine's next context: the next state and, in order, the marks to record and the effects
 * to ask for. The machine
 * (machine.ts) only routes events here and hands the outputs to its one action; keeping
 * the scheduling here keeps one event one cheap transition (≥ 2,000 start-ups/s).
 *
 * The simulator runs this thousands of times a second, so the state is laid out for
 * copying: step statuses are sets of table indexes packed in small integers, the op an
 * effect belongs to travels with it in `inFlight`, every array or record is copied at most
 * once per engine call (on its first write, never on a read), and what never changes (step
 * indexes, needs, dependents, the step marks) is computed once per table. The outputs are
 * the same, record for record, as when every step was an object copied on each change.
 */

export type StepStatus = 'waiting' | 'running' | 'done' | 'failed' | 'abandoned';

/** What start-up has done so far: the engine's state, which the machine keeps in its context. */
export interface StartupState {
  actorId: string;
  config: StartupConfig;
  facts: Facts;
  /** Steps that have started (whatever happened since), as a set of table indexes. */
  started: StepSet;
  /** Steps that finished. */
  done: StepSet;
  /** Steps that failed. */
  failed: StepSet;
  /** Steps left unfinished because start-up failed elsewhere while their effect was in flight. */
  abandoned: StepSet;
  /** Each step's scratch space, in table order. */
  local: readonly Readonly<Record<string, unknown>>[];
  /** Effects in flight, as triples: their sequence number, the index of the step that asked, and the index of the op (arrays are copied, never changed). */
  inFlight: readonly number[];
  /** Steps waiting at an `await` or `defer` op for another step to finish, as pairs: the step's index and the op's. */
  parked: readonly number[];
  seq: number;
  acquired: Acquisition[];
  failure: StartupFailure | null;
  release: ReleaseState;
}

/**
 * The start-up machine's context: the engine's state, and what the last transition emitted
 * (marks and effect requests, in order). Two fields, not the state's own: XState copies the
 * whole context on every assign, once per event.
 */
export interface StartupContext {
  state: StartupState;
  outbox: Output[];
}

export interface StartupInput {
  actorId?: string;
  config: StartupConfig;
}

/** An effect request on its way out. (A class, not a literal: V8 never moves these to the old generation early.) */
class CallOutput {
  readonly call: EffectCall;
  constructor(call: EffectCall) {
    this.call = call;
  }
}

/** A mark on its way out. */
class MarkOutput {
  readonly mark: Mark;
  constructor(mark: Mark) {
    this.mark = mark;
  }
}

const noLocal: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * A set of step indexes: bit i % 30 of word i / 30 (30-bit words stay small integers, so a set
 * of the 43 steps is an array of two numbers — copying it is nearly free).
 */
export type StepSet = readonly number[];
const wordBits = 30;

function emptySet(n: number): StepSet {
  return Object.freeze(Array.from({ length: Math.ceil(n / wordBits) }, () => 0));
}

function setOf(n: number, members: readonly number[]): StepSet {
  const words = emptySet(n).slice();
  for (const i of members)
    words[(i / wordBits) | 0] = (words[(i / wordBits) | 0] as number) | (1 << (i % wordBits));
  return Object.freeze(words);
}

function inSet(set: StepSet, i: number): boolean {
  return (((set[(i / wordBits) | 0] as number) >> (i % wordBits)) & 1) === 1;
}

/** Whether every member of `subset` is in `set`. */
function covers(set: StepSet, subset: StepSet): boolean {
  for (let w = 0; w < subset.length; w++)
    if (((subset[w] as number) & ~(set[w] as number)) !== 0) return false;
  return true;
}

/** A step's status, from the context's sets. */
export function stepStatus(c: StartupState, i: number): StepStatus {
  if (inSet(c.failed, i)) return 'failed';
  if (inSet(c.abandoned, i)) return 'abandoned';
  if (inSet(c.done, i)) return 'done';
  return inSet(c.started, i) ? 'running' : 'waiting';
}

/** What an engine call has copied already (bits of `Draft.own`). */
const ownStarted = 1;
const ownDone = 2;
const ownFailed = 4;
const ownAbandoned = 8;
const ownLocal = 16;
const ownFacts = 32;
const ownInFlight = 64;
const ownAcquired = 128;

type SetField = 'started' | 'done' | 'failed' | 'abandoned';
const ownBit: Readonly<Record<SetField, number>> = {
  started: ownStarted,
  done: ownDone,
  failed: ownFailed,
  abandoned: ownAbandoned,
};

/**
 * A shallow copy of a state, field by field in one literal: every state then has the same
 * shape, and copying it (once per event) costs a fifth of a spread's generic copy.
 */
function copyState(c: StartupState): StartupState {
  return {
    actorId: c.actorId,
    config: c.config,
    facts: c.facts,
    started: c.started,
    done: c.done,
    failed: c.failed,
    abandoned: c.abandoned,
    local: c.local,
    inFlight: c.inFlight,
    parked: c.parked,
    seq: c.seq,
    acquired: c.acquired,
    failure: c.failure,
    release: c.release,
  };
}

/** A state being changed by one engine call: `c` is a fresh shallow copy, `own` says which of its parts are copies too. */
class Draft {
  readonly c: StartupState;
  own = 0;
  constructor(c: StartupState) {
    this.c = copyState(c);
  }

  /** Adds step i to one of the status sets. */
  mark(field: SetField, i: number): void {
    const bit = ownBit[field];
    if ((this.own & bit) === 0) {
      this.c[field] = this.c[field].slice();
      this.own |= bit;
    }
    const words = this.c[field] as number[];
    const w = (i / wordBits) | 0;
    words[w] = (words[w] as number) | (1 << (i % wordBits));
  }

  /** Adds an effect in flight (its id, step and op); the list is copied once per call. */
  addInFlight(seq: number, step: number, op: number): void {
    if ((this.own & ownInFlight) === 0) {
      this.c.inFlight = [...this.c.inFlight, seq, step, op];
      this.own |= ownInFlight;
    } else (this.c.inFlight as number[]).push(seq, step, op);
  }

  /** Replaces the effects in flight with a list this call made (so its own to add to). */
  setInFlight(list: number[]): void {
    this.c.inFlight = list;
    this.own |= ownInFlight;
  }

  /** Adds an acquisition; the list is copied once per call. */
  addAcquired(a: Acquisition): void {
    if ((this.own & ownAcquired) === 0) {
      this.c.acquired = [...this.c.acquired, a];
      this.own |= ownAcquired;
    } else this.c.acquired.push(a);
  }
}

/** What an engine step returns: the machine's next context. */
class Step implements StartupContext {
  readonly state: StartupState;
  readonly outbox: Output[];
  constructor(state: StartupState, outbox: Output[]) {
    this.state = state;
    this.outbox = outbox;
  }
}

/**
 * The sequence number of an effect id `<actorId>/<seq>`, or -1 when the id is not one of this
 * actor's (read from the characters: no strings are made for the thousands of results a second).
 */
function seqOf(actorId: string, id: string): number {
  const from = actorId.length + 1;
  if (
    id.length <= from ||
    id.length > from + 15 ||
    id.charCodeAt(from - 1) !== 47 ||
    !id.startsWith(actorId)
  )
    return -1;
  let seq = 0;
  for (let k = from; k < id.length; k++) {
    const digit = id.charCodeAt(k) - 48;
    if (digit < 0 || digit > 9 || (digit === 0 && k === from)) return -1;
    seq = seq * 10 + digit;
  }
  return seq;
}

/** The engine for one step table (tests build engines for altered tables to prove the checker catches them). */
export function startupEngine(table: readonly StepDef[]) {
  const n = table.length;
  const indexOf: ReadonlyMap<string, number> = new Map(table.map((s, i) => [s.id, i]));
  /** Each step's needs, as a set. */
  const needs: readonly StepSet[] = table.map((s) =>
    setOf(
      n,
      s.needs.map((id) => indexOf.get(id) as number),
    ),
  );
  /** Steps that name each step in their needs, in table order: only they can become ready when it finishes. */
  const dependents: readonly (readonly number[])[] = table.map((s) =>
    table.flatMap((t, j) => (t.needs.includes(s.id) ? [j] : [])),
  );
  const roots: readonly number[] = table.flatMap((s, i) => (s.needs.length === 0 ? [i] : []));
  /**
   * Each step's needs and their needs, deepest first: what a step that is awaited must have
   * done before it can start (an awaited step whose need is deferred would otherwise wait for
   * the step that awaits it).
   */
  const needsBelow: readonly (readonly number[])[] = table.map((_, i) => {
    const order: number[] = [];
    const visit = (j: number): void => {
      for (const id of (table[j] as StepDef).needs) {
        const k = indexOf.get(id) as number;
        if (order.includes(k)) continue;
        visit(k);
        order.push(k);
      }
    };
    visit(i);
    return order;
  });
  /** The step each `await` or `defer` op waits for, by step and op index (-1: neither). */
  const awaited: readonly (readonly number[])[] = table.map((s) =>
    s.ops.map((op) => {
      if (op.kind !== 'await' && op.kind !== 'defer') return -1;
      const name = op.kind === 'await' ? op.step : op.until;
      const target = indexOf.get(name);
      if (target === undefined) throw new Error(`step ${s.id} waits for unknown step ${name}`);
      return target;
    }),
  );
  const startMarks: readonly Output[] = table.map((s) =>
    Object.freeze(new MarkOutput(Object.freeze({ mark: 'step.start', step: s.id }))),
  );
  const doneMarks: readonly Output[] = table.map((s) =>
    Object.freeze(new MarkOutput(Object.freeze({ mark: 'step.done', step: s.id }))),
  );
  // Shared by every run's initial context: copied on first write like everything else.
  const none = emptySet(n);
  const initialLocal: readonly Readonly<Record<string, unknown>>[] = Object.freeze(
    table.map(() => noLocal),
  );

  function initialContext(input: StartupInput): StartupContext {
    return { state: initialState(input), outbox: [] };
  }

  function initialState(input: StartupInput): StartupState {
    return {
      actorId: input.actorId ?? 'daemon',
      config: input.config,
      facts: { rootUid: 0, rootGid: 0 },
      started: none,
      done: none,
      failed: none,
      abandoned: none,
      local: initialLocal,
      inFlight: [],
      parked: [],
      seq: 0,
      acquired: [],
      failure: null,
      release: emptyReleaseState(),
    };
  }

  /** What an op sees; one object, refilled before each op (ops read it, never keep it). */
  const opScope: { config: StartupConfig; facts: Facts; local: Readonly<Record<string, unknown>> } =
    { config: {} as StartupConfig, facts: { rootUid: 0, rootGid: 0 }, local: noLocal };
  function scope(d: Draft, i: number): Scope {
    opScope.config = d.c.config;
    opScope.facts = d.c.facts;
    opScope.local = d.c.local[i] as Readonly<Record<string, unknown>>;
    return opScope;
  }

  /** Where an engine call collects its outputs; each call hands out an exactly sized copy. */
  const scratch: Output[] = [];
  function outputs(): Output[] {
    while (scratch.length > 0) scratch.pop(); // cheaper than setting length for the few outputs of a call
    return scratch;
  }
  function stepResult(state: StartupState, out: Output[]): Step {
    return new Step(state, out.slice());
  }

  /**
   * Starts the candidates whose needs are all done (in table order); a step that finishes at
   * once makes its own dependents candidates, depth first.
   */
  function startReady(d: Draft, candidates: readonly number[], out: Output[]): void {
    for (const i of candidates) {
      if (d.c.failure !== null) return;
      if (inSet(d.c.started, i) || !covers(d.c.done, needs[i] as StepSet)) continue;
      d.mark('started', i);
      out.push(startMarks[i] as Output);
      if (runOps(d, i, 0, out)) finished(d, i, out);
    }
  }

  /** Step i is done: steps parked waiting for it go on, then its dependents may start. */
  function finished(d: Draft, i: number, out: Output[]): void {
    const parked = d.c.parked;
    if (parked.length > 0) {
      const resume: number[] = [];
      const rest: number[] = [];
      for (let k = 0; k < parked.length; k += 2) {
        const p = parked[k] as number;
        const op = parked[k + 1] as number;
        if ((awaited[p] as readonly number[])[op] === i) resume.push(p, op);
        else rest.push(p, op);
      }
      if (resume.length > 0) {
        d.c.parked = rest;
        for (let k = 0; k < resume.length; k += 2) {
          if (d.c.failure !== null) break;
          const p = resume[k] as number;
          if (runOps(d, p, (resume[k + 1] as number) + 1, out)) finished(d, p, out);
        }
      }
    }
    startReady(d, dependents[i] as readonly number[], out);
  }

  /** A step parked at an `await` of step i, or of a step not yet done that needs i; or -1. */
  function awaitedBy(d: Draft, i: number): number {
    const parked = d.c.parked;
    for (let k = 0; k < parked.length; k += 2) {
      const p = parked[k] as number;
      const op = (table[p] as StepDef).ops[parked[k + 1] as number];
      if (op?.kind !== 'await') continue;
      const target = (awaited[p] as readonly number[])[parked[k + 1] as number] as number;
      if (
        target === i ||
        (!inSet(d.c.done, target) && (needsBelow[target] as readonly number[]).includes(i))
      )
        return p;
    }
    return -1;
  }

  /**
   * Step `by` awaits step `target`: the target, and every need of it that is deferred (parked
   * at a `defer` op), go on now, the deepest first.
   */
  function demand(d: Draft, target: number, by: number, out: Output[]): void {
    for (const need of needsBelow[target] as readonly number[]) release(d, need, by, out);
    release(d, target, by, out);
  }

  /** A step parked at a `defer` op goes on, because step `by` awaits it or a step needing it. */
  function release(d: Draft, target: number, by: number, out: Output[]): void {
    const parked = d.c.parked;
    for (let k = 0; k < parked.length; k += 2) {
      if (parked[k] !== target) continue;
      const op = parked[k + 1] as number;
      if ((table[target] as StepDef).ops[op]?.kind !== 'defer') return;
      d.c.parked = [...parked.slice(0, k), ...parked.slice(k + 2)];
      out.push(
        new MarkOutput({
          mark: 'step.demanded',
          step: (table[target] as StepDef).id,
          by: (table[by] as StepDef).id,
        }),
      );
      if (runOps(d, target, op + 1, out)) finished(d, target, out);
      return;
    }
  }

  /** Runs step i's ops from op `from` until it asks for an effect, finishes or fails. Returns true when it finished. */
  function runOps(d: Draft, i: number, from: number, out: Output[]): boolean {
    const step = table[i] as StepDef;
    const ops = step.ops;
    for (let k = from; k < ops.length; k++) {
      const op = ops[k]!;
      if (op.kind === 'compute') {
        const verdict = apply(d, i, op.run(scope(d, i)), out);
        if (verdict === 'fail') return false;
        if (verdict === 'finish') break;
        continue;
      }
      if (op.kind === 'await') {
        const target = (awaited[i] as readonly number[])[k] as number;
        if (inSet(d.c.done, target) || !op.when(scope(d, i))) continue;
        // The awaits that follow this one at once are waited for as well: what each waits for
        // goes on now, alongside (restore's containerd client and layer store boot together).
        const targets = [target];
        for (let j = k + 1; j < ops.length; j++) {
          const next = ops[j] as Op;
          if (next.kind !== 'await') break;
          const t = (awaited[i] as readonly number[])[j] as number;
          if (!inSet(d.c.done, t) && next.when(scope(d, i))) targets.push(t);
        }
        d.c.parked = [...d.c.parked, i, k];
        for (const t of targets)
          out.push(
            new MarkOutput({ mark: 'step.waits', step: step.id, on: (table[t] as StepDef).id }),
          );
        for (const t of targets) demand(d, t, i, out);
        return false;
      }
      if (op.kind === 'defer') {
        const until = (awaited[i] as readonly number[])[k] as number;
        if (inSet(d.c.done, until) || awaitedBy(d, i) >= 0) continue;
        d.c.parked = [...d.c.parked, i, k];
        out.push(
          new MarkOutput({ mark: 'step.waits', step: step.id, on: (table[until] as StepDef).id }),
        );
        return false;
      }
      const body = op.ask(scope(d, i));
      if (body === null) continue;
      const seq = d.c.seq + 1;
      d.c.seq = seq;
      d.addInFlight(seq, i, k);
      // Object.assign, not a spread: one spread site for every request shape is megamorphic and
      // twice as slow; and an empty literal, which V8 never allocates in the old generation
      // early. Same fields in the same order: effect, the request's own, id, step.
      const call = {} as EffectCall;
      call.effect = op.effect;
      Object.assign(call, body);
      call.id = `${d.c.actorId}/${seq}`;
      call.step = step.id;
      out.push(new CallOutput(call));
      return false;
    }
    d.mark('done', i);
    out.push(doneMarks[i] as Output);
    return true;
  }

  /** Folds an op's outcome into the draft; returns what step i does next. */
  function apply(
    d: Draft,
    i: number,
    o: OpOutcome | undefined,
    out: Output[],
  ): 'next' | 'finish' | 'fail' {
    if (o === undefined) return 'next';
    const stepId = (table[i] as StepDef).id;
    if (o.facts) {
      if ((d.own & ownFacts) === 0) {
        d.c.facts = { ...d.c.facts, ...o.facts };
        d.own |= ownFacts;
      } else {
        Object.assign(d.c.facts, o.facts);
      }
    }
    if (o.local) {
      if ((d.own & ownLocal) === 0) {
        d.c.local = d.c.local.slice();
        d.own |= ownLocal;
      }
      (d.c.local as Readonly<Record<string, unknown>>[])[i] = Object.assign(
        {},
        d.c.local[i],
        o.local,
      );
    }
    if (o.acquire) {
      for (const a of o.acquire) {
        const acquisition = Object.assign({}, a) as Acquisition;
        acquisition.step = stepId;
        d.addAcquired(acquisition);
        out.push(
          new MarkOutput(
            a.rollbackOnly
              ? {
                  mark: 'resource.acquired',
                  resource: a.resource,
                  step: stepId,
                  rollbackOnly: true,
                }
              : { mark: 'resource.acquired', resource: a.resource, step: stepId },
          ),
        );
      }
    }
    if (o.warn !== undefined)
      out.push(new MarkOutput({ mark: 'warning', step: stepId, message: o.warn }));
    if (o.fail !== undefined) {
      fail(d, i, { step: stepId, kind: 'check', message: o.fail }, out);
      return 'fail';
    }
    return o.finish ? 'finish' : 'next';
  }

  function fail(d: Draft, i: number, failure: StartupFailure, out: Output[]): void {
    const stepId = (table[i] as StepDef).id;
    d.mark('failed', i);
    out.push(new MarkOutput({ mark: 'step.failed', step: stepId, message: failure.message }));
    if (d.c.failure === null) {
      d.c.failure = failure;
      out.push(new MarkOutput({ mark: 'startup.failed', step: stepId, message: failure.message }));
    }
  }

  /** The machine's entry into `starting`. */
  function start(c: StartupState): Step {
    const d = new Draft(c);
    const out = outputs();
    startReady(d, roots, out);
    return stepResult(d.c, out);
  }

  /** An effect's result (or failure) while starting or draining. */
  function effectSettled(c: StartupState, event: StartupEvent): Step {
    const seq = seqOf(c.actorId, event.id);
    const inFlight = c.inFlight;
    let at = -1;
    for (let k = 0; seq > 0 && k < inFlight.length; k += 3) {
      if (inFlight[k] === seq) {
        at = k;
        break;
      }
    }
    if (at < 0) return stepResult(c, outputs());
    const i = inFlight[at + 1] as number;
    const opIndex = inFlight[at + 2] as number;
    const step = table[i] as StepDef;
    const d = new Draft(c);
    const out = outputs();
    // Copy all but the settled triple (the effects this call asks for are added to the copy).
    const rest = inFlight.slice(0, inFlight.length - 3);
    for (let k = at; k < rest.length; k++) rest[k] = inFlight[k + 3] as number;
    d.setInFlight(rest);
    const op = step.ops[opIndex];
    if (op === undefined || op.kind !== 'effect')
      throw new Error(`step ${step.id} has no effect op ${opIndex}`);
    let verdict: 'next' | 'finish' | 'fail';
    if (event.type === 'effect.done') {
      verdict = apply(d, i, op.done?.(scope(d, i), event.result), out);
    } else if (op.failed) {
      verdict = apply(d, i, op.failed(scope(d, i), event.error), out);
    } else {
      fail(
        d,
        i,
        {
          step: step.id,
          kind: 'effect',
          message: event.error.message,
          error: event.error,
          effect: op.effect,
        },
        out,
      );
      verdict = 'fail';
    }
    if (verdict === 'fail') return stepResult(d.c, out);
    if (d.c.failure !== null) {
      // Start-up already failed elsewhere: what this effect acquired is recorded (and will be
      // released), but the step goes no further.
      d.mark('abandoned', i);
      return stepResult(d.c, out);
    }
    if (runOps(d, i, verdict === 'finish' ? step.ops.length : opIndex + 1, out))
      finished(d, i, out);
    return stepResult(d.c, out);
  }

  /** Entry into `releasing`: newest first. */
  function beginRelease(c: StartupState): Step {
    const d = { ...c, release: beginReleases(c.acquired).state };
    const out = outputs();
    releaseNext(d, out);
    return stepResult(d, out);
  }

  function releaseSettled(c: StartupState, id: string, error: EffectError | null): Step {
    const d = { ...c, release: { ...c.release } };
    const out = outputs();
    if (!releaseResult(d, id, error, out)) return stepResult(c, outputs());
    return stepResult(d, out);
  }

  const all = setOf(
    n,
    table.map((_, i) => i),
  );
  /** Whether every step finished. */
  function allDone(c: StartupState): boolean {
    return covers(c.done, all);
  }

  return {
    initialContext,
    start,
    effectSettled,
    beginRelease,
    releaseSettled,
    allDone,
    steps: table,
  };
}

export type StartupEngine = ReturnType<typeof startupEngine>;

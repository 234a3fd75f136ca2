import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall } from '../../effects/requests.ts';
import { beginReleases, emptyReleaseState, releaseNext, releaseResult, type ReleaseState } from '../release/engine.ts';
import { type OpOutcome, type Scope, type StepDef } from './steps.ts';
import type { Acquisition, Facts, Mark, Output, StartupConfig, StartupFailure } from './types.ts';

/**
 * The start-up machine's pure step function. Given the context and an event it returns the
 * next context and, in order, the marks to record and the effects to ask for. The machine
 * (machine.ts) only routes events here and hands the outputs to its one action; keeping
 * the scheduling here keeps one event one cheap transition (≥ 2,000 start-ups/s).
 *
 * The simulator runs this thousands of times a second, so the context is laid out for
 * copying: per-step state lives in flat arrays indexed like the step table, every array or
 * record is copied on its first write in an engine call (never on a read), and what never
 * changes (step indexes, needs, dependents, the step marks) is computed once per table.
 */

export type StepStatus = 'waiting' | 'running' | 'done' | 'failed' | 'abandoned';

export interface StartupContext {
  actorId: string;
  config: StartupConfig;
  facts: Facts;
  /** Each step's status, in table order. */
  status: readonly StepStatus[];
  /** Each step's current op (the effect it waits for while running). */
  op: readonly number[];
  /** Each step's scratch space, in table order. */
  local: readonly Readonly<Record<string, unknown>>[];
  /** Effects in flight, as pairs: their sequence number, then the index of the step that asked. */
  inFlight: readonly number[];
  inFlightCount: number;
  seq: number;
  doneCount: number;
  acquired: Acquisition[];
  failure: StartupFailure | null;
  release: ReleaseState;
  /** What the last transition emitted (marks and effect requests, in order). */
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

/** What an engine call has copied already (bits of `Draft.own`). */
const ownStatus = 1;
const ownOp = 2;
const ownLocal = 4;
const ownInFlight = 8;
const ownFacts = 16;
const ownAcquired = 32;

/** A context being changed by one engine call: `c` is a fresh shallow copy, `own` says which of its parts are copies too. */
interface Draft {
  c: StartupContext;
  own: number;
}

function draftOf(c: StartupContext): Draft {
  return { c: { ...c }, own: 0 };
}

function setStatus(d: Draft, i: number, status: StepStatus): void {
  if ((d.own & ownStatus) === 0) {
    d.c.status = d.c.status.slice();
    d.own |= ownStatus;
  }
  (d.c.status as StepStatus[])[i] = status;
}

function setOp(d: Draft, i: number, op: number): void {
  if ((d.own & ownOp) === 0) {
    d.c.op = d.c.op.slice();
    d.own |= ownOp;
  }
  (d.c.op as number[])[i] = op;
}

/** The engine for one step table (tests build engines for altered tables to prove the checker catches them). */
export function startupEngine(table: readonly StepDef[]) {
  const n = table.length;
  const indexOf: ReadonlyMap<string, number> = new Map(table.map((s, i) => [s.id, i]));
  /** Each step's needs, as indexes. */
  const needs: readonly (readonly number[])[] = table.map((s) => s.needs.map((id) => indexOf.get(id) as number));
  /** Steps that name each step in their needs, in table order: only they can become ready when it finishes. */
  const dependents: readonly (readonly number[])[] = table.map((s) =>
    table.flatMap((t, j) => (t.needs.includes(s.id) ? [j] : [])),
  );
  const roots: readonly number[] = table.flatMap((s, i) => (s.needs.length === 0 ? [i] : []));
  const startMarks: readonly Output[] = table.map((s) => Object.freeze(new MarkOutput(Object.freeze({ mark: 'step.start', step: s.id }))));
  const doneMarks: readonly Output[] = table.map((s) => Object.freeze(new MarkOutput(Object.freeze({ mark: 'step.done', step: s.id }))));
  // Shared by every run's initial context: copied on first write like everything else.
  const initialStatus: readonly StepStatus[] = Object.freeze(table.map((): StepStatus => 'waiting'));
  const initialOp: readonly number[] = Object.freeze(table.map(() => 0));
  const initialLocal: readonly Readonly<Record<string, unknown>>[] = Object.freeze(table.map(() => noLocal));

  function initialContext(input: StartupInput): StartupContext {
    return {
      actorId: input.actorId ?? 'daemon',
      config: input.config,
      facts: { rootUid: 0, rootGid: 0 },
      status: initialStatus,
      op: initialOp,
      local: initialLocal,
      inFlight: [],
      inFlightCount: 0,
      seq: 0,
      doneCount: 0,
      acquired: [],
      failure: null,
      release: emptyReleaseState(),
      outbox: [],
    };
  }

  function scope(d: Draft, i: number): Scope {
    return { config: d.c.config, facts: d.c.facts, local: d.c.local[i] as Readonly<Record<string, unknown>> };
  }

  /**
   * Starts the candidates whose needs are all done (in table order); a step that finishes at
   * once makes its own dependents candidates, depth first.
   */
  function startReady(d: Draft, candidates: readonly number[], out: Output[]): void {
    for (const i of candidates) {
      if (d.c.failure !== null) return;
      const status = d.c.status;
      if (status[i] !== 'waiting') continue;
      let ready = true;
      for (const need of needs[i] as readonly number[]) {
        if (status[need] !== 'done') {
          ready = false;
          break;
        }
      }
      if (!ready) continue;
      setStatus(d, i, 'running');
      if (d.c.op[i] !== 0) setOp(d, i, 0);
      out.push(startMarks[i] as Output);
      if (runOps(d, i, out)) startReady(d, dependents[i] as readonly number[], out);
    }
  }

  /** Runs step i's ops from its current one until it asks for an effect, finishes or fails. Returns true when it finished. */
  function runOps(d: Draft, i: number, out: Output[]): boolean {
    const step = table[i] as StepDef;
    const ops = step.ops;
    for (let k = d.c.op[i] as number; k < ops.length; k++) {
      const op = ops[k]!;
      if (op.kind === 'compute') {
        const verdict = apply(d, i, op.run(scope(d, i)), out);
        if (verdict === 'fail') return false;
        if (verdict === 'finish') break;
        continue;
      }
      const body = op.ask(scope(d, i));
      if (body === null) continue;
      const seq = d.c.seq + 1;
      d.c.seq = seq;
      if ((d.own & ownInFlight) === 0) {
        d.c.inFlight = d.c.inFlight.slice();
        d.own |= ownInFlight;
      }
      (d.c.inFlight as number[]).push(seq, i);
      d.c.inFlightCount += 1;
      if (d.c.op[i] !== k) setOp(d, i, k);
      out.push(new CallOutput({ effect: op.effect, ...body, id: `${d.c.actorId}/${seq}`, step: step.id } as EffectCall));
      return false;
    }
    setStatus(d, i, 'done');
    d.c.doneCount += 1;
    out.push(doneMarks[i] as Output);
    return true;
  }

  /** Folds an op's outcome into the draft; returns what step i does next. */
  function apply(d: Draft, i: number, o: OpOutcome | undefined, out: Output[]): 'next' | 'finish' | 'fail' {
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
      (d.c.local as Readonly<Record<string, unknown>>[])[i] = { ...d.c.local[i], ...o.local };
    }
    if (o.acquire) {
      if ((d.own & ownAcquired) === 0) {
        d.c.acquired = d.c.acquired.slice();
        d.own |= ownAcquired;
      }
      for (const a of o.acquire) {
        d.c.acquired.push({ ...a, step: stepId });
        out.push(
          new MarkOutput(
            a.rollbackOnly
              ? { mark: 'resource.acquired', resource: a.resource, step: stepId, rollbackOnly: true }
              : { mark: 'resource.acquired', resource: a.resource, step: stepId },
          ),
        );
      }
    }
    if (o.warn !== undefined) out.push(new MarkOutput({ mark: 'warning', step: stepId, message: o.warn }));
    if (o.fail !== undefined) {
      fail(d, i, { step: stepId, kind: 'check', message: o.fail }, out);
      return 'fail';
    }
    return o.finish ? 'finish' : 'next';
  }

  function fail(d: Draft, i: number, failure: StartupFailure, out: Output[]): void {
    const stepId = (table[i] as StepDef).id;
    setStatus(d, i, 'failed');
    out.push(new MarkOutput({ mark: 'step.failed', step: stepId, message: failure.message }));
    if (d.c.failure === null) {
      d.c.failure = failure;
      out.push(new MarkOutput({ mark: 'startup.failed', step: stepId, message: failure.message }));
    }
  }

  /** The machine's entry into `starting`. */
  function start(c: StartupContext): { context: StartupContext; outputs: Output[] } {
    const d = draftOf(c);
    const out: Output[] = [];
    startReady(d, roots, out);
    return { context: d.c, outputs: out };
  }

  /** An effect's result while starting or draining. */
  function effectSettled(
    c: StartupContext,
    id: string,
    result: { ok: true; value: unknown } | { ok: false; error: EffectError },
  ): { context: StartupContext; outputs: Output[] } {
    const seq = Number(id.slice(id.lastIndexOf('/') + 1));
    const inFlight = c.inFlight;
    let at = -1;
    for (let k = 0; k < inFlight.length; k += 2) {
      if (inFlight[k] === seq) {
        at = k;
        break;
      }
    }
    if (at < 0 || id !== `${c.actorId}/${seq}`) return { context: c, outputs: [] };
    const i = inFlight[at + 1] as number;
    const step = table[i] as StepDef;
    const d = draftOf(c);
    const out: Output[] = [];
    const rest = inFlight.slice();
    rest.splice(at, 2);
    d.c.inFlight = rest;
    d.own |= ownInFlight;
    d.c.inFlightCount -= 1;
    const opIndex = c.op[i] as number;
    const op = step.ops[opIndex];
    if (op === undefined || op.kind !== 'effect') throw new Error(`step ${step.id} has no effect op ${opIndex}`);
    let verdict: 'next' | 'finish' | 'fail';
    if (result.ok) {
      verdict = apply(d, i, op.done?.(scope(d, i), result.value), out);
    } else if (op.failed) {
      verdict = apply(d, i, op.failed(scope(d, i), result.error), out);
    } else {
      fail(d, i, { step: step.id, kind: 'effect', message: result.error.message, error: result.error, effect: op.effect }, out);
      verdict = 'fail';
    }
    if (verdict === 'fail') return { context: d.c, outputs: out };
    if (d.c.failure !== null) {
      // Start-up already failed elsewhere: what this effect acquired is recorded (and will be
      // released), but the step goes no further.
      setStatus(d, i, 'abandoned');
      return { context: d.c, outputs: out };
    }
    setOp(d, i, verdict === 'finish' ? step.ops.length : opIndex + 1);
    if (runOps(d, i, out)) startReady(d, dependents[i] as readonly number[], out);
    return { context: d.c, outputs: out };
  }

  /** Entry into `releasing`: newest first. */
  function beginRelease(c: StartupContext): { context: StartupContext; outputs: Output[] } {
    const d = { ...c, release: beginReleases(c.acquired).state };
    const out: Output[] = [];
    releaseNext(d, out);
    return { context: d, outputs: out };
  }

  function releaseSettled(c: StartupContext, id: string, error: EffectError | null): { context: StartupContext; outputs: Output[] } {
    const d = { ...c, release: { ...c.release } };
    const out: Output[] = [];
    if (!releaseResult(d, id, error, out)) return { context: c, outputs: [] };
    return { context: d, outputs: out };
  }

  return { initialContext, start, effectSettled, beginRelease, releaseSettled, totalSteps: n, steps: table };
}

export type StartupEngine = ReturnType<typeof startupEngine>;

import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall } from '../../effects/requests.ts';
import { beginReleases, emptyReleaseState, releaseNext, releaseResult, type ReleaseState } from '../release/engine.ts';
import { type OpOutcome, type Scope, type StepDef } from './steps.ts';
import type { Acquisition, Facts, Output, StartupConfig, StartupFailure } from './types.ts';

/**
 * The start-up machine's pure step function. Given the context and an event it returns the
 * next context and, in order, the marks to record and the effects to ask for. The machine
 * (machine.ts) only routes events here and hands the outputs to its two actions; keeping
 * the scheduling here keeps one event one cheap transition (≥ 2,000 start-ups/s).
 */

export type StepStatus = 'waiting' | 'running' | 'done' | 'failed' | 'abandoned';

export interface StepRun {
  id: string;
  status: StepStatus;
  op: number;
  local: Record<string, unknown>;
}

export interface StartupContext {
  actorId: string;
  config: StartupConfig;
  facts: Facts;
  /** One run per step, in table order (arrays: the simulator copies them on every event). */
  steps: StepRun[];
  /** Effects in flight: their sequence number and the index of the step that asked. */
  inFlight: { seq: number; step: number }[];
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

/** The engine for one step table (tests build engines for altered tables to prove the checker catches them). */
export function startupEngine(table: readonly StepDef[]) {
  const startupSteps = table;
  function initialContext(input: StartupInput): StartupContext {
    const steps: StepRun[] = startupSteps.map((s) => ({ id: s.id, status: 'waiting', op: 0, local: {} }));
    return {
      actorId: input.actorId ?? 'daemon',
      config: input.config,
      facts: { rootUid: 0, rootGid: 0 },
      steps,
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

  /** A context being changed: `steps` and `inFlight` are copied on first write only (GC is the simulator's main cost). */
  type Draft = StartupContext;

  /** The draft whose `steps` array is already its own copy (drafts live for one engine call). */
  let ownSteps: StartupContext | null = null;

  function draft(c: StartupContext): Draft {
    return { ...c };
  }

  const indexOf: ReadonlyMap<string, number> = new Map(startupSteps.map((s, i) => [s.id, i]));

  function runOf(d: StartupContext, id: string): StepRun {
    return d.steps[indexOf.get(id) as number] as StepRun;
  }

  function setRun(d: Draft, id: string, run: StepRun): void {
    if (ownSteps !== d) {
      d.steps = d.steps.slice();
      ownSteps = d;
    }
    d.steps[indexOf.get(id) as number] = run;
  }

  function finish(d: Draft): StartupContext {
    return d;
  }

  function seqOf(id: string): number {
    return Number(id.slice(id.lastIndexOf('/') + 1));
  }

  /** Steps that name each step in their needs, in table order: only they can become ready when it finishes. */
  const dependents: ReadonlyMap<string, readonly StepDef[]> = new Map(
    startupSteps.map((s) => [s.id, startupSteps.filter((t) => t.needs.includes(s.id))]),
  );
  const roots: readonly StepDef[] = startupSteps.filter((s) => s.needs.length === 0);

  function scope(d: Draft, run: StepRun): Scope {
    return { config: d.config, facts: d.facts, local: run.local };
  }

  /**
   * Starts the candidates whose needs are all done (in table order); a step that finishes at
   * once makes its own dependents candidates, depth first.
   */
  function startReady(d: Draft, candidates: readonly StepDef[], out: Output[]): void {
    for (const step of candidates) {
      if (d.failure !== null) return;
      const run = runOf(d, step.id);
      if (run.status !== 'waiting') continue;
      if (!step.needs.every((n) => runOf(d, n).status === 'done')) continue;
      setRun(d, step.id, { id: step.id, status: 'running', op: 0, local: {} });
      out.push({ mark: { mark: 'step.start', step: step.id } });
      if (runOps(d, step, out)) startReady(d, dependents.get(step.id) ?? [], out);
    }
  }

  /** Runs the step's ops from its current one until it asks for an effect, finishes or fails. Returns true when it finished. */
  function runOps(d: Draft, step: StepDef, out: Output[]): boolean {
    let run = runOf(d, step.id);
    for (let i = run.op; i < step.ops.length; i++) {
      const op = step.ops[i]!;
      if (op.kind === 'compute') {
        const verdict = apply(d, step, op.run(scope(d, run)), out);
        run = runOf(d, step.id);
        if (verdict === 'fail') return false;
        if (verdict === 'finish') break;
        continue;
      }
      const req = op.ask(scope(d, run));
      if (req === null) continue;
      d.seq += 1;
      const id = `${d.actorId}/${d.seq}`;
      d.inFlight = [...d.inFlight, { seq: d.seq, step: indexOf.get(step.id) as number }];
      d.inFlightCount += 1;
      setRun(d, step.id, { ...run, op: i });
      out.push({ call: { ...req, id, step: step.id } as EffectCall });
      return false;
    }
    setRun(d, step.id, { ...(runOf(d, step.id)), status: 'done' });
    d.doneCount += 1;
    out.push({ mark: { mark: 'step.done', step: step.id } });
    return true;
  }

  /** Folds an op's outcome into the draft; returns what the step does next. */
  function apply(d: Draft, step: StepDef, o: OpOutcome | undefined, out: Output[]): 'next' | 'finish' | 'fail' {
    if (o === undefined) return 'next';
    if (o.facts) d.facts = { ...d.facts, ...o.facts };
    if (o.local) {
      const run = runOf(d, step.id);
      setRun(d, step.id, { ...run, local: { ...run.local, ...o.local } });
    }
    if (o.acquire) {
      for (const a of o.acquire) {
        d.acquired = [...d.acquired, { ...a, step: step.id }];
        out.push({ mark: { mark: 'resource.acquired', resource: a.resource, step: step.id, ...(a.rollbackOnly ? { rollbackOnly: true } : {}) } });
      }
    }
    if (o.warn !== undefined) out.push({ mark: { mark: 'warning', step: step.id, message: o.warn } });
    if (o.fail !== undefined) {
      fail(d, step.id, { step: step.id, kind: 'check', message: o.fail }, out);
      return 'fail';
    }
    return o.finish ? 'finish' : 'next';
  }

  function fail(d: Draft, stepId: string, failure: StartupFailure, out: Output[]): void {
    setRun(d, stepId, { ...(runOf(d, stepId)), status: 'failed' });
    out.push({ mark: { mark: 'step.failed', step: stepId, message: failure.message } });
    if (d.failure === null) {
      d.failure = failure;
      out.push({ mark: { mark: 'startup.failed', step: stepId, message: failure.message } });
    }
  }

  /** The machine's entry into `starting`. */
  function start(c: StartupContext): { context: StartupContext; outputs: Output[] } {
    const d = draft(c);
    const out: Output[] = [];
    startReady(d, roots, out);
    return { context: finish(d), outputs: out };
  }

  /** An effect's result while starting or draining. */
  function effectSettled(
    c: StartupContext,
    id: string,
    result: { ok: true; value: unknown } | { ok: false; error: EffectError },
  ): { context: StartupContext; outputs: Output[] } {
    const seq = seqOf(id);
    const at = c.inFlight.findIndex((f) => f.seq === seq);
    if (at < 0 || id !== `${c.actorId}/${seq}`) return { context: c, outputs: [] };
    const step = startupSteps[(c.inFlight[at] as { step: number }).step] as StepDef;
    const stepId = step.id;
    const d = draft(c);
    const out: Output[] = [];
    d.inFlight = c.inFlight.filter((_, i) => i !== at);
    d.inFlightCount -= 1;
    const run = runOf(d, stepId);
    const op = step.ops[run.op];
    if (op === undefined || op.kind !== 'effect') throw new Error(`step ${stepId} has no effect op ${run.op}`);
    let verdict: 'next' | 'finish' | 'fail';
    if (result.ok) {
      verdict = apply(d, step, op.done?.(scope(d, run), result.value), out);
    } else if (op.failed) {
      verdict = apply(d, step, op.failed(scope(d, run), result.error), out);
    } else {
      fail(d, stepId, { step: stepId, kind: 'effect', message: result.error.message, error: result.error, effect: op.effect }, out);
      verdict = 'fail';
    }
    if (verdict === 'fail') return { context: finish(d), outputs: out };
    if (d.failure !== null) {
      // Start-up already failed elsewhere: what this effect acquired is recorded (and will be
      // released), but the step goes no further.
      setRun(d, stepId, { ...(runOf(d, stepId)), status: 'abandoned' });
      return { context: finish(d), outputs: out };
    }
    setRun(d, stepId, { ...(runOf(d, stepId)), op: verdict === 'finish' ? step.ops.length : run.op + 1 });
    if (runOps(d, step, out)) startReady(d, dependents.get(stepId) ?? [], out);
    return { context: finish(d), outputs: out };
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


  return { initialContext, start, effectSettled, beginRelease, releaseSettled, totalSteps: table.length, steps: table };
}

export type StartupEngine = ReturnType<typeof startupEngine>;

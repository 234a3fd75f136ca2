import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall } from '../../effects/requests.ts';
import { beginReleases, emptyReleaseState, releaseNext, releaseResult, type ReleaseState } from '../release/engine.ts';
import { startupSteps, stepById, type OpOutcome, type Scope, type StepDef } from './steps.ts';
import type { Acquisition, Facts, Output, StartupConfig, StartupFailure } from './types.ts';

/**
 * The start-up machine's pure step function. Given the context and an event it returns the
 * next context and, in order, the marks to record and the effects to ask for. The machine
 * (machine.ts) only routes events here and hands the outputs to its two actions; keeping
 * the scheduling here keeps one event one cheap transition (≥ 2,000 start-ups/s).
 */

export type StepStatus = 'waiting' | 'running' | 'done' | 'failed' | 'abandoned';

export interface StepRun {
  status: StepStatus;
  op: number;
  local: Record<string, unknown>;
}

export interface StartupContext {
  actorId: string;
  config: StartupConfig;
  facts: Facts;
  steps: Record<string, StepRun>;
  /** Effect id → step, for every effect in flight. */
  inFlight: Record<string, string>;
  inFlightCount: number;
  seq: number;
  doneCount: number;
  acquired: Acquisition[];
  failure: StartupFailure | null;
  release: ReleaseState;
}

export interface StartupInput {
  actorId?: string;
  config: StartupConfig;
}

export function initialContext(input: StartupInput): StartupContext {
  const steps: Record<string, StepRun> = {};
  for (const s of startupSteps) steps[s.id] = { status: 'waiting', op: 0, local: {} };
  return {
    actorId: input.actorId ?? 'daemon',
    config: input.config,
    facts: { rootUid: 0, rootGid: 0 },
    steps,
    inFlight: {},
    inFlightCount: 0,
    seq: 0,
    doneCount: 0,
    acquired: [],
    failure: null,
    release: emptyReleaseState(),
  };
}

type Draft = StartupContext;

function draft(c: StartupContext): Draft {
  return { ...c, steps: { ...c.steps }, inFlight: { ...c.inFlight } };
}

function scope(d: Draft, run: StepRun): Scope {
  return { config: d.config, facts: d.facts, local: run.local };
}

/** Starts every waiting step whose needs are done, in table order, until nothing more can start. */
function startReady(d: Draft, out: Output[]): void {
  let progressed = true;
  while (progressed && d.failure === null) {
    progressed = false;
    for (const step of startupSteps) {
      const run = d.steps[step.id] as StepRun;
      if (run.status !== 'waiting') continue;
      if (!step.needs.every((n) => d.steps[n]?.status === 'done')) continue;
      d.steps[step.id] = { status: 'running', op: 0, local: {} };
      out.push({ mark: { mark: 'step.start', step: step.id } });
      if (runOps(d, step, out)) progressed = true;
      if (d.failure !== null) return;
    }
  }
}

/** Runs the step's ops from its current one until it asks for an effect, finishes or fails. Returns true when it finished. */
function runOps(d: Draft, step: StepDef, out: Output[]): boolean {
  let run = d.steps[step.id] as StepRun;
  for (let i = run.op; i < step.ops.length; i++) {
    const op = step.ops[i]!;
    if (op.kind === 'compute') {
      const verdict = apply(d, step, op.run(scope(d, run)), out);
      run = d.steps[step.id] as StepRun;
      if (verdict === 'fail') return false;
      if (verdict === 'finish') break;
      continue;
    }
    const req = op.ask(scope(d, run));
    if (req === null) continue;
    d.seq += 1;
    const id = `${d.actorId}/${d.seq}`;
    d.inFlight[id] = step.id;
    d.inFlightCount += 1;
    d.steps[step.id] = { ...run, op: i };
    out.push({ call: { ...req, id, step: step.id } as EffectCall });
    return false;
  }
  d.steps[step.id] = { ...(d.steps[step.id] as StepRun), status: 'done' };
  d.doneCount += 1;
  out.push({ mark: { mark: 'step.done', step: step.id } });
  return true;
}

/** Folds an op's outcome into the draft; returns what the step does next. */
function apply(d: Draft, step: StepDef, o: OpOutcome | undefined, out: Output[]): 'next' | 'finish' | 'fail' {
  if (o === undefined) return 'next';
  if (o.facts) d.facts = { ...d.facts, ...o.facts };
  if (o.local) {
    const run = d.steps[step.id] as StepRun;
    d.steps[step.id] = { ...run, local: { ...run.local, ...o.local } };
  }
  if (o.acquire) {
    for (const a of o.acquire) {
      d.acquired = [...d.acquired, { ...a, step: step.id }];
      out.push({ mark: { mark: 'resource.acquired', resource: a.resource, step: step.id } });
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
  d.steps[stepId] = { ...(d.steps[stepId] as StepRun), status: 'failed' };
  out.push({ mark: { mark: 'step.failed', step: stepId, message: failure.message } });
  if (d.failure === null) {
    d.failure = failure;
    out.push({ mark: { mark: 'startup.failed', step: stepId, message: failure.message } });
  }
}

/** The machine's entry into `starting`. */
export function start(c: StartupContext): { context: StartupContext; outputs: Output[] } {
  const d = draft(c);
  const out: Output[] = [];
  startReady(d, out);
  return { context: d, outputs: out };
}

/** An effect's result while starting or draining. */
export function effectSettled(
  c: StartupContext,
  id: string,
  result: { ok: true; value: unknown } | { ok: false; error: EffectError },
): { context: StartupContext; outputs: Output[] } {
  const stepId = c.inFlight[id];
  if (stepId === undefined) return { context: c, outputs: [] };
  const d = draft(c);
  const out: Output[] = [];
  delete d.inFlight[id];
  d.inFlightCount -= 1;
  const step = stepById.get(stepId) as StepDef;
  const run = d.steps[stepId] as StepRun;
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
  if (verdict === 'fail') return { context: d, outputs: out };
  if (d.failure !== null) {
    // Start-up already failed elsewhere: what this effect acquired is recorded (and will be
    // released), but the step goes no further.
    d.steps[stepId] = { ...(d.steps[stepId] as StepRun), status: 'abandoned' };
    return { context: d, outputs: out };
  }
  if (verdict === 'finish') {
    d.steps[stepId] = { ...(d.steps[stepId] as StepRun), op: step.ops.length };
  } else {
    d.steps[stepId] = { ...(d.steps[stepId] as StepRun), op: run.op + 1 };
  }
  if (runOps(d, step, out)) startReady(d, out);
  return { context: d, outputs: out };
}

/** Entry into `releasing`: newest first. */
export function beginRelease(c: StartupContext): { context: StartupContext; outputs: Output[] } {
  const d = { ...c, release: beginReleases(c.acquired).state };
  const out: Output[] = [];
  releaseNext(d, out);
  return { context: d, outputs: out };
}

export function releaseSettled(c: StartupContext, id: string, error: EffectError | null): { context: StartupContext; outputs: Output[] } {
  const d = { ...c, release: { ...c.release } };
  const out: Output[] = [];
  if (!releaseResult(d, id, error, out)) return { context: c, outputs: [] };
  return { context: d, outputs: out };
}

export const totalSteps = startupSteps.length;

import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall, EffectRequest } from '../../effects/requests.ts';
import { commit, noOutlet, onSettled, type Output as OutletOutput } from '../outlet.ts';
import { buildOnce } from '../build-once.ts';

/**
 * One network operation (a network's creation or removal, a sandbox's set-up or release, an
 * endpoint's connection or disconnection) as a list of steps decided beforehand by the network
 * controller's planners (plan.ts), run in order. A step that makes something names its undo;
 * when a later step fails, what was made is undone newest first, each once, so nothing is left
 * half-made (a port that cannot be bound leaves no veth and no rule). Teardown steps are
 * best-effort: a failure is recorded and the rest still runs, as Docker's cleanup does.
 */

export interface NetStep {
  /** What the step does, in a few words (the trace and the inspector show it). */
  what: string;
  request: EffectRequest;
  /** The requests that undo what `request` made, in order. */
  undo?: EffectRequest[];
  /** Teardown: a failure is recorded, and the operation goes on. */
  bestEffort?: boolean;
  /** The client's message on failure; `%s` is the effect's message. */
  failure?: string;
}

export interface NetOpInput {
  actorId: string;
  /** e.g. `sandboxUp <container>`, `networkRemove <id>`. */
  op: string;
  steps: NetStep[];
}

export type NetOpOutput =
  | { ok: true; results: unknown[] }
  | { ok: false; step: string; error: EffectError; message: string };

export interface NetOpContext {
  actorId: string;
  op: string;
  steps: NetStep[];
  /** The step whose request is in flight (or next). */
  index: number;
  seq: number;
  pending: string | null;
  results: unknown[];
  /** Steps that made something, oldest first (by index). */
  made: number[];
  /** Undo requests still to run, in order, with the step each undoes. */
  undoQueue: { step: number; request: EffectRequest }[];
  /** The step whose undo is in flight. */
  undoing: number | null;
  failure: { step: string; error: EffectError; message: string } | null;
  phase: 'running' | 'releasing' | 'done' | 'failed';
}

/** The operation's own account of what it made, undid and could not do. */
export type NetOpMark =
  | { mark: 'net.acquired'; op: string; step: string }
  | { mark: 'net.released'; op: string; step: string }
  | { mark: 'net.releaseFailed'; op: string; step: string; message: string }
  | { mark: 'net.failed'; op: string; step: string; message: string }
  | { mark: 'warning'; step: string; message: string };

type Output = OutletOutput<NetOpMark>;

export type NetOpEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

function ask(c: NetOpContext, out: Output[], request: EffectRequest, step: string): void {
  c.seq += 1;
  c.pending = `${c.actorId}/${c.seq}`;
  out.push({ call: { ...request, id: c.pending, step } as EffectCall });
}

/** Asks for the next step's effect, or ends the operation. */
function next(c: NetOpContext, out: Output[]): void {
  const s = c.steps[c.index];
  if (s === undefined) {
    c.phase = 'done';
    c.pending = null;
    return;
  }
  ask(c, out, s.request, s.what);
}

/** Asks for the next undo, newest acquisition first, or ends the operation as failed. */
function nextUndo(c: NetOpContext, out: Output[]): void {
  const u = c.undoQueue.shift();
  if (u === undefined) {
    c.phase = 'failed';
    c.pending = null;
    c.undoing = null;
    return;
  }
  c.undoing = u.step;
  ask(c, out, u.request, `undo: ${c.steps[u.step]?.what ?? ''}`);
}

function settle(
  context: NetOpContext,
  event: NetOpEvent,
): { context: NetOpContext; outputs: Output[] } {
  const out: Output[] = [];
  if (event.id !== context.pending) return { context, outputs: out };
  const c: NetOpContext = {
    ...context,
    made: [...context.made],
    undoQueue: [...context.undoQueue],
    results: [...context.results],
  };
  if (c.phase === 'releasing') {
    const what = c.steps[c.undoing ?? -1]?.what ?? '';
    out.push({
      mark:
        event.type === 'effect.failed'
          ? { mark: 'net.releaseFailed', op: c.op, step: what, message: event.error.message }
          : { mark: 'net.released', op: c.op, step: what },
    });
    nextUndo(c, out);
    return { context: c, outputs: out };
  }
  const s = c.steps[c.index] as NetStep;
  if (event.type === 'effect.done') {
    c.results.push(event.result);
    if (s.undo && s.undo.length > 0) {
      c.made.push(c.index);
      out.push({ mark: { mark: 'net.acquired', op: c.op, step: s.what } });
    }
    c.index += 1;
    next(c, out);
    return { context: c, outputs: out };
  }
  if (s.bestEffort) {
    out.push({
      mark: {
        mark: 'warning',
        step: s.what,
        message: `${c.op}: ${s.what}: ${event.error.message}`,
      },
    });
    c.results.push(null);
    c.index += 1;
    next(c, out);
    return { context: c, outputs: out };
  }
  const message = s.failure ? s.failure.replace('%s', event.error.message) : event.error.message;
  c.failure = { step: s.what, error: event.error, message };
  out.push({ mark: { mark: 'net.failed', op: c.op, step: s.what, message } });
  c.phase = 'releasing';
  for (const i of [...c.made].reverse())
    for (const request of c.steps[i]?.undo ?? []) c.undoQueue.push({ step: i, request });
  nextUndo(c, out);
  return { context: c, outputs: out };
}

export const netOpMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as NetOpContext,
      events: {} as NetOpEvent,
      input: {} as NetOpInput,
      output: {} as NetOpOutput,
    },
    actions: {
      emitOutputs: noOutlet,
      begin: enqueueActions(({ context, enqueue }) => {
        const c = { ...context };
        const out: Output[] = [];
        next(c, out);
        commit(enqueue, c, out);
      }),
      fold: enqueueActions(({ context, event, enqueue }) => {
        const r = settle(context, event);
        if (r.context !== context) commit(enqueue, r.context, r.outputs);
      }),
    },
    guards: {
      finished: ({ context }) => context.phase === 'done',
      undone: ({ context }) => context.phase === 'failed',
      undoing: ({ context }) => context.phase === 'releasing',
    },
  }).createMachine({
    id: 'netOp',
    context: ({ input }) => ({
      actorId: input.actorId,
      op: input.op,
      steps: input.steps,
      index: 0,
      seq: 0,
      pending: null,
      results: [],
      made: [],
      undoQueue: [],
      undoing: null,
      failure: null,
      phase: 'running',
    }),
    initial: 'running',
    states: {
      running: {
        entry: 'begin',
        on: onSettled({ actions: 'fold' }),
        always: [
          { guard: 'finished', target: 'done' },
          { guard: 'undone', target: 'failed' },
          { guard: 'undoing', target: 'releasing' },
        ],
      },
      /** A step failed: what the earlier steps made is undone, newest first. */
      releasing: {
        on: onSettled({ actions: 'fold' }),
        always: { guard: 'undone', target: 'failed' },
      },
      done: { type: 'final' },
      failed: { type: 'final' },
    },
    output: ({ context }): NetOpOutput =>
      context.failure === null
        ? { ok: true, results: context.results }
        : { ok: false, ...context.failure },
  }),
);

import { enqueueActions, setup } from 'xstate';
import type { EffectCall } from '../../effects/requests.ts';
import { startupEngine, type StartupContext, type StartupInput } from './engine.ts';
import { startupSteps, type StepDef } from './steps.ts';
import { releasesFinished } from '../release/engine.ts';
import type { Acquisition, Facts, Mark, Output, ReleaseRecord, StartupEvent, StartupFailure } from './types.ts';

/** How start-up ended: ready with what it holds, or failed with why and what it gave back. */
export type StartupOutput =
  | { status: 'ready'; facts: Facts; acquired: Acquisition[] }
  | { status: 'failed'; failure: StartupFailure; releases: ReleaseRecord[] };

type Enqueue = {
  (action: { type: 'requestEffect'; params: EffectCall } | { type: 'record'; params: Mark }): void;
  assign: (c: Partial<StartupContext>) => void;
};

function emitAll(enqueue: Enqueue, next: { context: StartupContext; outputs: Output[] }): void {
  enqueue.assign(next.context);
  for (const o of next.outputs) {
    if ('mark' in o) enqueue({ type: 'record', params: o.mark });
    else enqueue({ type: 'requestEffect', params: o.call });
  }
}

/**
 * Docker's NewDaemon as a statechart. `starting` runs every step whose needs are met
 * (steps.ts); the first failure moves to `draining` (effects already in flight settle, no
 * new step starts), then `releasing` gives back every acquisition newest first, each once,
 * and the machine ends in `failed` with the original error — dockerd's deferred Shutdown.
 */
export function createStartupMachine(table: readonly StepDef[]) {
  const { beginRelease, effectSettled, initialContext, releaseSettled, start, totalSteps } = startupEngine(table);
  return setup({
  types: {
    context: {} as StartupContext,
    events: {} as StartupEvent,
    input: {} as StartupInput,
    output: {} as StartupOutput,
  },
  actions: {
    /** The only way out of the machine: an effect request as plain JSON. Supplied by effects/runner. */
    requestEffect: (_, _call: EffectCall) => {
      throw new Error('no effect runner: run this machine through effects/runner');
    },
    /** The machine's account of a step, acquisition or release, for the trace. Supplied by effects/runner. */
    record: (_, _mark: Mark) => {
      throw new Error('no trace recorder: run this machine through effects/runner');
    },
    startSteps: enqueueActions(({ context, enqueue }) => emitAll(enqueue as unknown as Enqueue, start(context))),
    foldResult: enqueueActions(({ context, event, enqueue }) =>
      emitAll(
        enqueue as unknown as Enqueue,
        effectSettled(context, event.id, event.type === 'effect.done' ? { ok: true, value: event.result } : { ok: false, error: event.error }),
      ),
    ),
    releaseNewestFirst: enqueueActions(({ context, enqueue }) => emitAll(enqueue as unknown as Enqueue, beginRelease(context))),
    foldRelease: enqueueActions(({ context, event, enqueue }) =>
      emitAll(enqueue as unknown as Enqueue, releaseSettled(context, event.id, event.type === 'effect.done' ? null : event.error)),
    ),
  },
  guards: {
    startupFailed: ({ context }) => context.failure !== null,
    allStepsDone: ({ context }) => context.doneCount === totalSteps,
    nothingInFlight: ({ context }) => context.inFlightCount === 0,
    everythingReleased: ({ context }) => releasesFinished(context.release),
  },
}).createMachine({
  id: 'daemonStartup',
  context: ({ input }) => initialContext(input),
  initial: 'starting',
  states: {
    starting: {
      entry: 'startSteps',
      on: { 'effect.done': { actions: 'foldResult' }, 'effect.failed': { actions: 'foldResult' } },
      always: [
        { guard: 'startupFailed', target: 'draining' },
        { guard: 'allStepsDone', target: 'ready' },
      ],
    },
    draining: {
      on: { 'effect.done': { actions: 'foldResult' }, 'effect.failed': { actions: 'foldResult' } },
      always: { guard: 'nothingInFlight', target: 'releasing' },
    },
    releasing: {
      entry: 'releaseNewestFirst',
      on: { 'effect.done': { actions: 'foldRelease' }, 'effect.failed': { actions: 'foldRelease' } },
      always: { guard: 'everythingReleased', target: 'failed' },
    },
    ready: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }): StartupOutput =>
    context.failure === null
      ? { status: 'ready', facts: context.facts, acquired: context.acquired }
      : { status: 'failed', failure: context.failure, releases: context.release.records },
});
}

export const daemonStartupMachine = createStartupMachine(startupSteps);

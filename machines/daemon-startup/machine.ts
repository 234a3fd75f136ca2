import { assign, setup } from 'xstate';
import { startupEngine, type StartupContext, type StartupInput } from './engine.ts';
import { startupSteps, type StepDef } from './steps.ts';
import { releasesFinished } from '../release/engine.ts';
import { noOutlet, onSettled } from '../outlet.ts';
import type { Acquisition, Facts, ReleaseRecord, StartupEvent, StartupFailure } from './types.ts';

/** Emits what the preceding assign put in the outbox (one action per transition keeps events cheap). */
const flush = {
  type: 'emitOutputs',
  params: ({ context }: { context: StartupContext }) => ({ outputs: context.outbox }),
} as const;

/** How start-up ended: ready with what it holds, or failed with why and what it gave back. */
export type StartupOutput =
  | { status: 'ready'; facts: Facts; acquired: Acquisition[] }
  | { status: 'failed'; failure: StartupFailure; releases: ReleaseRecord[] };

/**
 * Docker's NewDaemon as a statechart. `starting` runs every step whose needs are met
 * (steps.ts); the first failure moves to `draining` (effects already in flight settle, no
 * new step starts), then `releasing` gives back every acquisition newest first, each once,
 * and the machine ends in `failed` with the original error — dockerd's deferred Shutdown.
 */
export function createStartupMachine(table: readonly StepDef[]) {
  const { allDone, beginRelease, effectSettled, initialContext, releaseSettled, start } =
    startupEngine(table);
  return setup({
    types: {
      context: {} as StartupContext,
      events: {} as StartupEvent,
      input: {} as StartupInput,
      output: {} as StartupOutput,
    },
    actions: {
      emitOutputs: noOutlet,
      startSteps: assign(({ context }) => start(context.state)),
      foldResult: assign(({ context, event }) => effectSettled(context.state, event)),
      releaseNewestFirst: assign(({ context }) => beginRelease(context.state)),
      foldRelease: assign(({ context, event }) =>
        releaseSettled(context.state, event.id, event.type === 'effect.done' ? null : event.error),
      ),
    },
    guards: {
      startupFailed: ({ context }) => context.state.failure !== null,
      allStepsDone: ({ context }) => allDone(context.state),
      nothingInFlight: ({ context }) => context.state.inFlight.length === 0,
      everythingReleased: ({ context }) => releasesFinished(context.state.release),
    },
  }).createMachine({
    id: 'daemonStartup',
    context: ({ input }) => initialContext(input),
    initial: 'starting',
    states: {
      starting: {
        entry: ['startSteps', flush],
        on: onSettled({ actions: ['foldResult', flush] }),
        always: [
          { guard: 'startupFailed', target: 'draining' },
          { guard: 'allStepsDone', target: 'ready' },
        ],
      },
      draining: {
        on: onSettled({ actions: ['foldResult', flush] }),
        always: { guard: 'nothingInFlight', target: 'releasing' },
      },
      releasing: {
        entry: ['releaseNewestFirst', flush],
        on: onSettled({ actions: ['foldRelease', flush] }),
        always: { guard: 'everythingReleased', target: 'failed' },
      },
      ready: { type: 'final' },
      failed: { type: 'final' },
    },
    output: ({ context: { state } }): StartupOutput =>
      state.failure === null
        ? { status: 'ready', facts: state.facts, acquired: state.acquired }
        : { status: 'failed', failure: state.failure, releases: state.release.records },
  });
}

/** What start-up has learned so far, from its actor's snapshot (the API answers from it while start-up runs). */
export function startupFacts(snapshot: { context: StartupContext }): Facts {
  return snapshot.context.state.facts;
}

export const daemonStartupMachine = createStartupMachine(startupSteps);

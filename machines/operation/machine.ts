import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall, EffectRequest } from '../../effects/requests.ts';
import { commit, noOutlet } from '../outlet.ts';
import { buildOnce } from '../build-once.ts';

/**
 * A host operation the API asks for that is a fixed sequence of effects (create a volume:
 * its directory, then its record; remove it: its record, then its data): each asked in
 * order, the next once the last is done. A failure ends it, unless it is best effort (a
 * cleanup), where a failure is recorded and the rest still run. Small as it is, it is what
 * puts these changes in the trace like every other.
 */
export interface OperationInput {
  actorId: string;
  /** What the operation is, for the trace (`volume.create data`). */
  title: string;
  effects: EffectRequest[];
  bestEffort?: boolean;
}

export interface OperationContext {
  actorId: string;
  title: string;
  effects: EffectRequest[];
  bestEffort: boolean;
  next: number;
  pending: string | null;
  results: unknown[];
  failure: EffectError | null;
}

export interface OperationOutput {
  /** Each effect's result (undefined for one that failed in a best-effort run). */
  results: unknown[];
  failure: EffectError | null;
}

export type OperationEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

export const operationMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as OperationContext,
      events: {} as OperationEvent,
      input: {} as OperationInput,
      output: {} as OperationOutput,
    },
    actions: {
      emitOutputs: noOutlet,
      askNext: enqueueActions(({ context, enqueue }) => {
        const req = context.effects[context.next];
        if (req === undefined) return;
        const id = `${context.actorId}/${context.next + 1}`;
        const call: EffectCall = { ...req, id, step: context.title };
        commit(enqueue, { pending: id }, [{ call }]);
      }),
      noteDone: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'effect.done') return;
        commit(
          enqueue,
          { results: [...context.results, event.result], next: context.next + 1, pending: null },
          [],
        );
      }),
      noteFailed: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'effect.failed') return;
        commit(
          enqueue,
          {
            results: [...context.results, undefined],
            next: context.next + 1,
            pending: null,
            failure: context.failure ?? event.error,
          },
          [{ mark: { mark: 'warning', step: context.title, message: event.error.message } }],
        );
      }),
    },
    guards: {
      isPending: ({ context, event }) => event.id === context.pending,
      finished: ({ context }) => context.next >= context.effects.length,
      stopsAtFailure: ({ context }) => !context.bestEffort && context.failure !== null,
    },
  }).createMachine({
    id: 'operation',
    context: ({ input }) => ({
      actorId: input.actorId,
      title: input.title,
      effects: input.effects,
      bestEffort: input.bestEffort ?? false,
      next: 0,
      pending: null,
      results: [],
      failure: null,
    }),
    initial: 'running',
    states: {
      running: {
        entry: 'askNext',
        on: {
          'effect.done': { guard: 'isPending', target: 'deciding', actions: 'noteDone' },
          'effect.failed': { guard: 'isPending', target: 'deciding', actions: 'noteFailed' },
        },
      },
      deciding: {
        always: [
          { guard: 'stopsAtFailure', target: 'done' },
          { guard: 'finished', target: 'done' },
          { target: 'running' },
        ],
      },
      done: { type: 'final' },
    },
    output: ({ context }) => ({ results: context.results, failure: context.failure }),
  }),
);

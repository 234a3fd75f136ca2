import { enqueueActions, setup } from 'xstate';
import type { ArchiveRequest } from '../../effects/archive/requests.ts';
import type { EffectError } from '../../effects/errors.ts';
import { noOutlet } from '../outlet.ts';
import { apply } from '../exec/outputs.ts';
import { buildOnce } from '../build-once.ts';

/**
 * One `docker cp` into a container (PUT /containers/{id}/archive): the upload is unpacked by
 * an `archive.extract` effect and, as dockerd does, an `extract-to-dir` event follows. One
 * actor per request; its output is the effect's error, or null.
 */
export interface ExtractContext {
  actorId: string;
  seq: number;
  pending: string | null;
  request: Extract<ArchiveRequest, { effect: 'archive.extract' }>;
  attributes: Record<string, string>;
  error: EffectError | null;
}

export type ExtractEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

export const extractMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as ExtractContext,
      events: {} as ExtractEvent,
      input: {} as {
        actorId: string;
        request: ExtractContext['request'];
        attributes: Record<string, string>;
      },
      output: {} as { error: EffectError | null },
    },
    actions: {
      emitOutputs: noOutlet,
      extract: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = o.ask(c.request, 'archive');
        }),
      ),
      announce: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) =>
          o.event(c.request.container, 'extract-to-dir', c.attributes),
        ),
      ),
      recordError: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (_c, e, o) => {
          if (e.type === 'effect.failed') o.patch.error = e.error;
        }),
      ),
    },
    guards: {
      isPending: ({ context, event }) => 'id' in event && event.id === context.pending,
    },
  }).createMachine({
    id: 'extract',
    context: ({ input }) => ({ ...input, seq: 0, pending: null, error: null }),
    initial: 'extracting',
    states: {
      extracting: {
        entry: 'extract',
        on: {
          'effect.done': { guard: 'isPending', target: 'done', actions: 'announce' },
          'effect.failed': { guard: 'isPending', target: 'done', actions: 'recordError' },
        },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => ({ error: context.error }),
  }),
);

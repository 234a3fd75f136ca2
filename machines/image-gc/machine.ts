import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import type { ImageResults } from '../../effects/image/requests.ts';
import type { Output } from '../daemon-startup/types.ts';
import { commit, noOutlet, onSettled } from '../outlet.ts';
import { buildOnce } from '../build-once.ts';

/**
 * After restore, before the API serves: what a pull that died left is removed (its staging,
 * the layers it registered for an image it never registered). The temp dir itself was
 * emptied by start-up's tempDir step.
 */
export interface ImageGcInput {
  actorId: string;
  root: string;
  /** The daemon's temp dir (`<root>/tmp`, or DOCKER_TMPDIR). */
  tmpDir: string;
}

export type ImageGcOutput = { layers: string[]; staging: string[] } | { failed: string };

interface ImageGcContext {
  input: ImageGcInput;
  pending: string | null;
  output: ImageGcOutput | null;
}

type ImageGcEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

export const imageGcMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as ImageGcContext,
      events: {} as ImageGcEvent,
      input: {} as ImageGcInput,
      output: {} as ImageGcOutput,
    },
    actions: {
      emitOutputs: noOutlet,
      collect: enqueueActions(({ context, enqueue }) => {
        const id = `${context.input.actorId}/1`;
        const out: Output[] = [
          {
            call: {
              effect: 'image.collect',
              root: context.input.root,
              tmpDir: context.input.tmpDir,
              id,
              step: 'imageGc',
            },
          },
        ];
        commit(enqueue, { ...context, pending: id }, out);
      }),
      conclude: enqueueActions(({ context, event, enqueue }) => {
        if (event.type === 'effect.failed') {
          const m = `could not remove what an interrupted pull left: ${event.error.message}`;
          commit(enqueue, { ...context, pending: null, output: { failed: m } }, [
            { mark: { mark: 'warning', step: 'imageGc', message: m } },
          ]);
          return;
        }
        const r = event.result as ImageResults['image.collect'];
        const outputs: Output[] =
          r.layers.length + r.staging.length > 0
            ? [
                {
                  mark: {
                    mark: 'warning',
                    step: 'imageGc',
                    message: `removed what an interrupted pull left: ${r.layers.length} unused layer(s), ${r.staging.length} staging dir(s)`,
                  },
                },
              ]
            : [];
        commit(enqueue, { ...context, pending: null, output: r }, outputs);
      }),
    },
    guards: { isPending: ({ context, event }) => event.id === context.pending },
  }).createMachine({
    id: 'imageGc',
    context: ({ input }) => ({ input, pending: null, output: null }),
    initial: 'collecting',
    states: {
      collecting: {
        entry: 'collect',
        on: onSettled({ guard: 'isPending', target: 'collected', actions: 'conclude' }),
      },
      collected: { type: 'final' },
    },
    output: ({ context }) => context.output ?? { failed: 'no answer' },
  }),
);

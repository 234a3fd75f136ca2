import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import { noOutlet } from '../outlet.ts';
import { apply } from '../exec/outputs.ts';
import { buildOnce } from '../build-once.ts';

/**
 * One `POST /containers/{id}/resize` (docker run -t, attach, start -a in a terminal): the
 * task's terminal is resized through containerd (Tasks.ResizePty of the init) and, as
 * dockerd does, a `resize` event with the new size is emitted. One actor per request.
 */
export interface ResizeContext {
  actorId: string;
  seq: number;
  pending: string | null;
  container: string;
  width: number;
  height: number;
  attributes: Record<string, string>;
  error: string | null;
}

export type ResizeEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

export interface ResizeInput {
  actorId: string;
  container: string;
  width: number;
  height: number;
  attributes: Record<string, string>;
}

export const resizeMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as ResizeContext,
      events: {} as ResizeEvent,
      input: {} as ResizeInput,
      output: {} as { error: string | null },
    },
    actions: {
      emitOutputs: noOutlet,
      resize: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = o.ask(
            {
              effect: 'containerd.execResize',
              container: c.container,
              exec: null,
              width: c.width,
              height: c.height,
            },
            'resize',
          );
        }),
      ),
      announce: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) =>
          o.event(c.container, 'resize', {
            ...c.attributes,
            height: String(c.height),
            width: String(c.width),
          }),
        ),
      ),
      recordError: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (_c, e, o) => {
          if (e.type === 'effect.failed') o.patch.error = e.error.message;
        }),
      ),
    },
    guards: {
      isPending: ({ context, event }) => 'id' in event && event.id === context.pending,
    },
  }).createMachine({
    id: 'resize',
    context: ({ input }) => ({ ...input, seq: 0, pending: null, error: null }),
    initial: 'resizing',
    states: {
      resizing: {
        entry: 'resize',
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

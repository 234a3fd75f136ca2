import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import { noOutlet, onSettled } from '../outlet.ts';
import { apply } from './outputs.ts';
import { buildOnce } from '../build-once.ts';

/**
 * Restore's sweep of exec processes: dockerd forgets its exec configs when it dies, and under
 * live-restore their processes would run on in the containers it kept, unseen by anyone. Each
 * such process (containerd lists it in a running task, begun before this daemon; a client's
 * new exec is not touched) is killed, waited for and deleted (`containerd.execReap`), with a
 * warning in the trace. One actor after every restore.
 */
export interface ExecSweepContext {
  actorId: string;
  seq: number;
  containers: string[];
  /** Effects in flight: list or reap calls by id. */
  inFlight: Record<string, { container: string; exec: string | null }>;
  reaped: number;
}

export type ExecSweepEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

export const execSweepMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as ExecSweepContext,
      events: {} as ExecSweepEvent,
      input: {} as { actorId: string; containers: string[] },
      output: {} as { reaped: number },
    },
    actions: {
      emitOutputs: noOutlet,
      list: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          const inFlight: ExecSweepContext['inFlight'] = {};
          for (const container of c.containers)
            inFlight[o.ask({ effect: 'containerd.execList', container }, 'execSweep')] = {
              container,
              exec: null,
            };
          o.patch.inFlight = inFlight;
        }),
      ),
      settle: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          if (e.type !== 'effect.done' && e.type !== 'effect.failed') return;
          const call = c.inFlight[e.id];
          if (!call) return;
          const { [e.id]: _, ...rest } = c.inFlight;
          if (call.exec === null && e.type === 'effect.done') {
            for (const x of (e.result as { execs: { id: string; earlierLife: boolean }[] }).execs)
              if (x.earlierLife)
                rest[
                  o.ask(
                    { effect: 'containerd.execReap', container: call.container, exec: x.id },
                    'execSweep',
                  )
                ] = { container: call.container, exec: x.id };
          } else if (call.exec !== null) {
            if (e.type === 'effect.done') o.patch.reaped = c.reaped + 1;
            o.mark({
              mark: 'warning',
              step: 'execSweep',
              message:
                e.type === 'effect.done'
                  ? `container ${call.container}: killed exec process ${call.exec}, left by a daemon that died`
                  : `container ${call.container}: could not kill exec process ${call.exec}: ${e.error.message}`,
            });
          }
          o.patch.inFlight = rest;
        }),
      ),
    },
    guards: {
      allSettled: ({ context }) => Object.keys(context.inFlight).length === 0,
    },
  }).createMachine({
    id: 'execSweep',
    context: ({ input }) => ({ ...input, seq: 0, inFlight: {}, reaped: 0 }),
    initial: 'sweeping',
    states: {
      sweeping: {
        entry: 'list',
        always: { guard: 'allSettled', target: 'done' },
        on: onSettled({ actions: 'settle' }),
      },
      done: { type: 'final' },
    },
    output: ({ context }) => ({ reaped: context.reaped }),
  }),
);

import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import {
  checkInvariants,
  restoreInvariants,
  type HostView,
  type InvariantViolation,
} from '../container/invariants.ts';
import type { Output } from '../daemon-startup/types.ts';
import { commit, noOutlet } from '../outlet.ts';

/**
 * After every restore: once the restored containers have settled, look at the host (the
 * store's containers, containerd's tasks and containers, the root filesystem mounts) and
 * judge it by `restoreInvariants`. Each broken invariant is a mark in the trace, so the
 * flight recorder carries the proof and `statedock check` fails on it.
 */
export interface RestoreCheckContext {
  actorId: string;
  seq: number;
  pending: string | null;
  violations: InvariantViolation[];
  unchecked: string | null;
}

export interface RestoreCheckOutput {
  violations: InvariantViolation[];
  /** Why the host could not be observed (the check then proves nothing). */
  unchecked: string | null;
}

export type RestoreCheckEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

export const restoreCheckMachine = setup({
  types: {
    context: {} as RestoreCheckContext,
    events: {} as RestoreCheckEvent,
    input: {} as { actorId?: string },
    output: {} as RestoreCheckOutput,
  },
  actions: {
    emitOutputs: noOutlet,
    observeHost: enqueueActions(({ context, enqueue }) => {
      const id = `${context.actorId}/${context.seq + 1}`;
      commit(enqueue, { ...context, seq: context.seq + 1, pending: id }, [
        { call: { effect: 'api.observeHost', id, step: 'restoreCheck' } },
      ]);
    }),
    judge: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'effect.done') return;
      const violations = checkInvariants(event.result as HostView, restoreInvariants);
      const outputs: Output[] = violations.map((v) => ({
        mark: {
          mark: 'invariant.violated',
          invariant: v.invariant,
          container: v.container,
          message: v.message,
        },
      }));
      outputs.push({
        mark: {
          mark: 'invariants.checked',
          held: restoreInvariants.length - new Set(violations.map((v) => v.invariant)).size,
          broken: violations.length,
        },
      });
      commit(enqueue, { ...context, pending: null, violations }, outputs);
    }),
    recordUnchecked: enqueueActions(({ context, event, enqueue }) => {
      const message = event.type === 'effect.failed' ? event.error.message : 'no answer';
      commit(enqueue, { ...context, pending: null, unchecked: message }, [
        {
          mark: {
            mark: 'warning',
            step: 'restoreCheck',
            message: `the host could not be observed after restore: ${message}`,
          },
        },
      ]);
    }),
  },
  guards: {
    isPending: ({ context, event }) => event.id === context.pending,
  },
}).createMachine({
  id: 'restoreCheck',
  context: ({ input }) => ({
    actorId: input.actorId ?? 'restore-check',
    seq: 0,
    pending: null,
    violations: [],
    unchecked: null,
  }),
  initial: 'observing',
  states: {
    observing: {
      entry: 'observeHost',
      on: {
        'effect.done': { guard: 'isPending', target: 'judged', actions: 'judge' },
        'effect.failed': { guard: 'isPending', target: 'judged', actions: 'recordUnchecked' },
      },
    },
    judged: { type: 'final' },
  },
  output: ({ context }) => ({ violations: context.violations, unchecked: context.unchecked }),
});

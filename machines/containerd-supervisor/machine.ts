import { and, assign, enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall } from '../../effects/requests.ts';
import type { ClockRequest } from '../../effects/clock/requests.ts';
import type { ContainerdRequest } from '../../effects/containerd/requests.ts';
import { commit, noOutlet, onSettled, type Outlet } from '../outlet.ts';

export interface SupervisorInput {
  actorId?: string;
  execRoot: string;
  dataRoot: string;
  binary: string;
  /** How long a (re)started containerd may take to answer (dockerd: 15 s). */
  readyTimeoutMs: number;
}

export interface SupervisorContext extends SupervisorInput {
  actorId: string;
  seq: number;
  pending: string | null;
  pid: number | null;
  address: string | null;
  /** Whether containerd has answered once: a first start that never did fails start-up. */
  answered: boolean;
  restarts: number;
  /** Next back-off delay; doubles up to the cap, reset after a healthy run. */
  backoffMs: number;
  lastError: EffectError | null;
}

export type SupervisorEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError }
  | { type: 'supervisor.stop' };

const initialBackoffMs = 100;
const maxBackoffMs = 10_000;

function ask<R extends ContainerdRequest | ClockRequest>(
  context: SupervisorContext,
  enqueue: Outlet<SupervisorContext>,
  req: R,
): void {
  const seq = context.seq + 1;
  const id = `${context.actorId}/${seq}`;
  const call: EffectCall = { ...req, id, step: 'supervise' };
  commit(enqueue, { seq, pending: id }, [{ call }]);
}

/**
 * Supervises a private containerd, as dockerd 20.10's libcontainerd/supervisor does: start
 * it, wait until it answers, watch it, and when it dies restart it with back-off (100 ms
 * doubling to 10 s); stop it on request (SIGTERM, then SIGKILL). A containerd that never
 * answers at the first start fails the supervisor (and so the daemon's start-up).
 */
export const containerdSupervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
  },
  actions: {
    emitOutputs: noOutlet,
    spawnContainerd: enqueueActions(({ context, enqueue }) =>
      ask(context, enqueue, {
        effect: 'containerd.spawn',
        execRoot: context.execRoot,
        dataRoot: context.dataRoot,
        binary: context.binary,
      }),
    ),
    waitUntilReady: enqueueActions(({ context, enqueue }) =>
      ask(context, enqueue, {
        effect: 'containerd.waitReady',
        pid: context.pid ?? 0,
        address: context.address ?? '',
        timeoutMs: context.readyTimeoutMs,
      }),
    ),
    watchProcess: enqueueActions(({ context, enqueue }) =>
      ask(context, enqueue, { effect: 'containerd.waitExit', pid: context.pid ?? 0 }),
    ),
    sleepBackoff: enqueueActions(({ context, enqueue }) =>
      ask(context, enqueue, { effect: 'clock.sleep', ms: context.backoffMs }),
    ),
    terminateContainerd: enqueueActions(({ context, enqueue }) =>
      ask(context, enqueue, {
        effect: 'containerd.terminate',
        pid: context.pid ?? 0,
        timeoutMs: 15_000,
      }),
    ),
    recordSpawned: assign(({ event }) => {
      const r = (event as { result: { pid: number; address: string } }).result;
      return { pid: r.pid, address: r.address, pending: null };
    }),
    recordReady: assign({ answered: true, pending: null }),
    recordError: assign(({ event }) => ({
      lastError: (event as { error: EffectError }).error,
      pending: null,
    })),
    recordExit: enqueueActions(({ context, event, enqueue }) => {
      const r = (event as { result?: { code: number | null; signal: string | null } }).result;
      commit(enqueue, { pid: null, pending: null, restarts: context.restarts + 1 }, [
        {
          mark: {
            mark: 'warning',
            step: 'supervise',
            message: `containerd (pid ${context.pid ?? 0}) exited (${r?.signal ?? `code ${String(r?.code)}`}); restarting in ${context.backoffMs} ms`,
          },
        },
      ]);
    }),
    growBackoff: assign(({ context }) => ({
      backoffMs: Math.min(context.backoffMs * 2, maxBackoffMs),
      pending: null,
    })),
  },
  guards: {
    isPending: ({ context, event }) => 'id' in event && event.id === context.pending,
    hasProcess: ({ context }) => context.pid !== null,
    neverRan: ({ context }) => !context.answered,
  },
}).createMachine({
  id: 'containerdSupervisor',
  context: ({ input }) => ({
    ...input,
    actorId: input.actorId ?? 'containerd-supervisor',
    seq: 0,
    pending: null,
    pid: null,
    address: null,
    answered: false,
    restarts: 0,
    backoffMs: initialBackoffMs,
    lastError: null,
  }),
  initial: 'spawning',
  states: {
    spawning: {
      entry: 'spawnContainerd',
      on: {
        'effect.done': { guard: 'isPending', target: 'waitingReady', actions: 'recordSpawned' },
        'effect.failed': [
          { guard: and(['isPending', 'neverRan']), target: 'failed', actions: 'recordError' },
          { guard: 'isPending', target: 'backingOff', actions: 'recordError' },
        ],
        'supervisor.stop': 'stopped',
      },
    },
    waitingReady: {
      entry: 'waitUntilReady',
      on: {
        'effect.done': { guard: 'isPending', target: 'running', actions: 'recordReady' },
        'effect.failed': [
          { guard: and(['isPending', 'neverRan']), target: 'failedStart', actions: 'recordError' },
          { guard: 'isPending', target: 'restarting', actions: 'recordError' },
        ],
        'supervisor.stop': 'stopping',
      },
    },
    running: {
      entry: 'watchProcess',
      on: {
        ...onSettled({ guard: 'isPending', target: 'backingOff', actions: 'recordExit' }),
        'supervisor.stop': 'stopping',
      },
    },
    /** A restarted containerd did not answer: make sure the process is gone, then back off. */
    restarting: {
      entry: 'terminateContainerd',
      on: onSettled({ guard: 'isPending', target: 'backingOff', actions: 'recordExit' }),
    },
    backingOff: {
      entry: 'sleepBackoff',
      on: {
        'effect.done': { guard: 'isPending', target: 'spawning', actions: 'growBackoff' },
        'supervisor.stop': 'stopped',
      },
    },
    /** The first start never answered: stop what was spawned and fail. */
    failedStart: {
      entry: 'terminateContainerd',
      on: onSettled({ guard: 'isPending', target: 'failed' }),
    },
    stopping: {
      always: [{ guard: 'hasProcess', target: 'terminating' }, { target: 'stopped' }],
    },
    terminating: {
      entry: 'terminateContainerd',
      on: {
        'effect.done': { guard: 'isPending', target: 'stopped' },
        'effect.failed': { guard: 'isPending', target: 'stopped', actions: 'recordError' },
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});

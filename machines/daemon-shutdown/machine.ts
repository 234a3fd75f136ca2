import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall } from '../../effects/requests.ts';
import {
  beginReleases,
  emptyReleaseState,
  releaseNext,
  releaseResult,
  releasesFinished,
  type ReleaseState,
} from '../release/engine.ts';
import { commit, noOutlet } from '../outlet.ts';
import type { Acquisition, Output, ReleaseRecord } from '../daemon-startup/types.ts';

/** A container the daemon runs at shutdown time. */
export interface RunningContainer {
  id: string;
  stopSignal: string;
  /** Seconds; negative waits forever (dockerd's ShutdownTimeout rule). */
  stopTimeout: number;
}

export interface ShutdownInput {
  actorId?: string;
  liveRestore: boolean;
  /** `--shutdown-timeout` in seconds (15 by default). */
  shutdownTimeout: number;
  acquired: Acquisition[];
  running: RunningContainer[];
}

export interface ShutdownContext {
  actorId: string;
  seq: number;
  liveRestore: boolean;
  shutdownTimeout: number;
  acquired: Acquisition[];
  running: RunningContainer[];
  /** Effect id → container id, for stops in flight. */
  stops: Record<string, string>;
  stopsPending: number;
  timerId: string | null;
  forced: boolean;
  release: ReleaseState;
}

export type ShutdownEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

export interface ShutdownOutput {
  releases: ReleaseRecord[];
  leftRunning: string[];
  forced: boolean;
}

/** dockerd's ShutdownTimeout: max(configured, each container's stop timeout + 5 s); negative anywhere → forever (-1). */
export function shutdownTimeoutS(configured: number, running: readonly RunningContainer[]): number {
  if (configured < 0 || running.some((c) => c.stopTimeout < 0)) return -1;
  return running.reduce((t, c) => Math.max(t, c.stopTimeout + 5), configured);
}

function emitAll(enqueue: unknown, context: ShutdownContext, outputs: Output[]): void {
  commit(enqueue, context, outputs);
}

function requestStops(c: ShutdownContext): { context: ShutdownContext; outputs: Output[] } {
  const d: ShutdownContext = { ...c, stops: {} };
  const out: Output[] = [];
  for (const ct of c.running) {
    d.seq += 1;
    const id = `${d.actorId}/${d.seq}`;
    d.stops[id] = ct.id;
    out.push({
      call: {
        effect: 'api.stopContainer',
        container: ct.id,
        signal: ct.stopSignal,
        timeoutS: ct.stopTimeout,
        id,
        step: 'stopContainers',
      },
    });
  }
  d.stopsPending = c.running.length;
  const timeout = shutdownTimeoutS(c.shutdownTimeout, c.running);
  if (timeout >= 0) {
    d.seq += 1;
    d.timerId = `${d.actorId}/${d.seq}`;
    out.push({
      call: { effect: 'clock.sleep', ms: timeout * 1000, id: d.timerId, step: 'shutdownTimeout' },
    });
  }
  return { context: d, outputs: out };
}

function stopSettled(
  c: ShutdownContext,
  event: ShutdownEvent,
): { context: ShutdownContext; outputs: Output[] } {
  const out: Output[] = [];
  if (event.id === c.timerId) {
    if (c.stopsPending === 0) return { context: { ...c, timerId: null }, outputs: out };
    out.push({
      mark: { mark: 'shutdown.forced', afterS: shutdownTimeoutS(c.shutdownTimeout, c.running) },
    });
    return { context: { ...c, timerId: null, forced: true }, outputs: out };
  }
  const containerId = c.stops[event.id];
  if (containerId === undefined) return { context: c, outputs: out };
  const stops = { ...c.stops };
  delete stops[event.id];
  if (event.type === 'effect.failed')
    out.push({
      mark: { mark: 'container.stopFailed', id: containerId, message: event.error.message },
    });
  return { context: { ...c, stops, stopsPending: c.stopsPending - 1 }, outputs: out };
}

function startReleasing(c: ShutdownContext): { context: ShutdownContext; outputs: Output[] } {
  const keep = c.liveRestore && c.running.length > 0;
  // What a failed start would roll back (created directories, the key, the database) is the
  // data of a daemon that started: a normal shutdown keeps it, without a word.
  const { state, skipped } = beginReleases(
    c.acquired.filter((a) => !a.rollbackOnly),
    (a) =>
      keep && a.keptUnderLiveRestore
        ? 'live-restore keeps it for the containers left running'
        : null,
  );
  const d: ShutdownContext = { ...c, release: state };
  const out: Output[] = skipped.map((s) => ({
    mark: { mark: 'release.skipped', resource: s.resource, reason: s.reason },
  }));
  releaseNext(d, out);
  return { context: d, outputs: out };
}

/**
 * dockerd's normal shutdown: stop every running container in parallel (its stop signal,
 * then SIGKILL after its stop timeout), bounded by the shutdown timeout, or leave them
 * running under live-restore; then the same releases as a failed start-up, newest first.
 */
export const daemonShutdownMachine = setup({
  types: {
    context: {} as ShutdownContext,
    events: {} as ShutdownEvent,
    input: {} as ShutdownInput,
    output: {} as ShutdownOutput,
  },
  actions: {
    emitOutputs: noOutlet,
    recordLeftRunning: enqueueActions(({ context, enqueue }) =>
      commit(enqueue, context, [
        { mark: { mark: 'containers.leftRunning', ids: context.running.map((c) => c.id) } },
      ]),
    ),
    stopContainers: enqueueActions(({ context, enqueue }) => {
      const next = requestStops(context);
      emitAll(enqueue, next.context, next.outputs);
    }),
    foldStop: enqueueActions(({ context, event, enqueue }) => {
      const next = stopSettled(context, event);
      emitAll(enqueue, next.context, next.outputs);
    }),
    releaseNewestFirst: enqueueActions(({ context, enqueue }) => {
      const next = startReleasing(context);
      emitAll(enqueue, next.context, next.outputs);
    }),
    foldRelease: enqueueActions(({ context, event, enqueue }) => {
      const d: ShutdownContext = { ...context, release: { ...context.release } };
      const out: Output[] = [];
      const done = event.type === 'effect.done';
      if (
        releaseResult(d, event.id, done ? null : event.error, out, done ? event.result : undefined)
      )
        emitAll(enqueue, d, out);
    }),
  },
  guards: {
    keepContainersRunning: ({ context }) => context.liveRestore && context.running.length > 0,
    noRunningContainers: ({ context }) => context.running.length === 0,
    allStopped: ({ context }) => context.stopsPending === 0,
    shutdownTimedOut: ({ context }) => context.forced,
    everythingReleased: ({ context }) => releasesFinished(context.release),
  },
}).createMachine({
  id: 'daemonShutdown',
  context: ({ input }) => ({
    actorId: input.actorId ?? 'daemon-shutdown',
    seq: 0,
    liveRestore: input.liveRestore,
    shutdownTimeout: input.shutdownTimeout,
    acquired: input.acquired,
    running: input.running,
    stops: {},
    stopsPending: 0,
    timerId: null,
    forced: false,
    release: emptyReleaseState(),
  }),
  initial: 'deciding',
  states: {
    deciding: {
      always: [
        { guard: 'keepContainersRunning', target: 'releasing', actions: 'recordLeftRunning' },
        { guard: 'noRunningContainers', target: 'releasing' },
        { target: 'stoppingContainers' },
      ],
    },
    stoppingContainers: {
      entry: 'stopContainers',
      on: { 'effect.done': { actions: 'foldStop' }, 'effect.failed': { actions: 'foldStop' } },
      always: [
        { guard: 'allStopped', target: 'releasing' },
        { guard: 'shutdownTimedOut', target: 'releasing' },
      ],
    },
    releasing: {
      entry: 'releaseNewestFirst',
      on: {
        'effect.done': { actions: 'foldRelease' },
        'effect.failed': { actions: 'foldRelease' },
      },
      always: { guard: 'everythingReleased', target: 'stopped' },
    },
    stopped: { type: 'final' },
  },
  output: ({ context }) => ({
    releases: context.release.records,
    leftRunning: context.liveRestore ? context.running.map((c) => c.id) : [],
    forced: context.forced,
  }),
});

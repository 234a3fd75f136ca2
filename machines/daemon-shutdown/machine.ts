import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import {
  beginReleases,
  emptyReleaseState,
  releaseNext,
  releaseResult,
  releasesFinished,
  type ReleaseState,
} from '../release/engine.ts';
import { commit, noOutlet, onSettled } from '../outlet.ts';
import type { ContainerSettled } from '../container/types.ts';
import type { Acquisition, Output, ReleaseRecord } from '../daemon-startup/types.ts';

/** A container actor at shutdown time. */
export interface ShutdownContainer {
  id: string;
  /** Seconds; negative waits forever (dockerd's ShutdownTimeout rule). */
  stopTimeout: number;
  /** It runs (or is mid-transition): without live-restore, the shutdown stops it. */
  running: boolean;
}

export interface ShutdownInput {
  actorId?: string;
  liveRestore: boolean;
  /** `--shutdown-timeout` in seconds (15 by default). */
  shutdownTimeout: number;
  acquired: Acquisition[];
  /** Every container actor: each is told to settle, and stopped if it runs (unless live-restore keeps it). */
  containers: ShutdownContainer[];
}

export interface ShutdownContext {
  actorId: string;
  seq: number;
  liveRestore: boolean;
  shutdownTimeout: number;
  acquired: Acquisition[];
  containers: ShutdownContainer[];
  /** Containers not settled yet. */
  unsettled: string[];
  timerId: string | null;
  forced: boolean;
  release: ReleaseState;
}

export type ShutdownEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError }
  | ContainerSettled;

export interface ShutdownOutput {
  releases: ReleaseRecord[];
  leftRunning: string[];
  forced: boolean;
}

/** dockerd's ShutdownTimeout: max(configured, each container's stop timeout + 5 s); negative anywhere → forever (-1). */
export function shutdownTimeoutS(
  configured: number,
  stopped: readonly { stopTimeout: number }[],
): number {
  if (configured < 0 || stopped.some((c) => c.stopTimeout < 0)) return -1;
  return stopped.reduce((t, c) => Math.max(t, c.stopTimeout + 5), configured);
}

/** Live-restore leaves the containers running (dockerd's early return): nothing is stopped. */
function keepsRunning(c: ShutdownContext): boolean {
  return c.liveRestore && c.containers.some((x) => x.running);
}

/**
 * Tells every container actor the daemon shuts down (a message, delivered after this step):
 * each stops if it runs and the shutdown stops containers, and answers `container.settled`
 * once nothing is in flight. Stopping ones are bounded by the shutdown timeout.
 */
function tellContainers(c: ShutdownContext): { context: ShutdownContext; outputs: Output[] } {
  const stop = !keepsRunning(c);
  const d: ShutdownContext = { ...c, unsettled: c.containers.map((x) => x.id) };
  const out: Output[] = [];
  if (!stop)
    out.push({
      mark: {
        mark: 'containers.leftRunning',
        ids: c.containers.filter((x) => x.running).map((x) => x.id),
      },
    });
  for (const ct of c.containers)
    out.push({
      send: {
        to: `container:${ct.id}`,
        event: { type: 'daemon.shutdown', from: c.actorId, stop },
      },
    });
  const timeout = shutdownTimeoutS(
    c.shutdownTimeout,
    c.containers.filter((x) => x.running),
  );
  if (stop && timeout >= 0) {
    d.seq += 1;
    d.timerId = `${d.actorId}/${d.seq}`;
    out.push({
      call: { effect: 'clock.sleep', ms: timeout * 1000, id: d.timerId, step: 'shutdownTimeout' },
    });
  }
  return { context: d, outputs: out };
}

function containerSettled(
  c: ShutdownContext,
  event: ShutdownEvent,
): { context: ShutdownContext; outputs: Output[] } {
  if (event.type === 'container.settled')
    return {
      context: { ...c, unsettled: c.unsettled.filter((id) => id !== event.container) },
      outputs: [],
    };
  if (event.id !== c.timerId || c.unsettled.length === 0) return { context: c, outputs: [] };
  return {
    context: { ...c, timerId: null, forced: true },
    outputs: [
      {
        mark: {
          mark: 'shutdown.forced',
          afterS: shutdownTimeoutS(
            c.shutdownTimeout,
            c.containers.filter((x) => x.running),
          ),
        },
      },
    ],
  };
}

function startReleasing(c: ShutdownContext): { context: ShutdownContext; outputs: Output[] } {
  const keep = keepsRunning(c);
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
 * dockerd's normal shutdown: every container is told and settles (those running stop with
 * their stop signal, then SIGKILL after their stop timeout, in parallel, bounded by the
 * shutdown timeout; under live-restore they are left running), so nothing is in flight when
 * containerd's client closes (moby-51692); then the same releases as a failed start-up,
 * newest first.
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
    tellContainers: enqueueActions(({ context, enqueue }) => {
      const next = tellContainers(context);
      commit(enqueue, next.context, next.outputs);
    }),
    foldSettled: enqueueActions(({ context, event, enqueue }) => {
      const next = containerSettled(context, event);
      commit(enqueue, next.context, next.outputs);
    }),
    releaseNewestFirst: enqueueActions(({ context, enqueue }) => {
      const next = startReleasing(context);
      commit(enqueue, next.context, next.outputs);
    }),
    foldRelease: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'container.settled') return;
      const d: ShutdownContext = { ...context, release: { ...context.release } };
      const out: Output[] = [];
      const done = event.type === 'effect.done';
      if (
        releaseResult(d, event.id, done ? null : event.error, out, done ? event.result : undefined)
      )
        commit(enqueue, d, out);
    }),
  },
  guards: {
    noContainers: ({ context }) => context.containers.length === 0,
    allSettled: ({ context }) => context.unsettled.length === 0,
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
    containers: input.containers,
    unsettled: [],
    timerId: null,
    forced: false,
    release: emptyReleaseState(),
  }),
  initial: 'deciding',
  states: {
    deciding: {
      always: [{ guard: 'noContainers', target: 'releasing' }, { target: 'settlingContainers' }],
    },
    settlingContainers: {
      entry: 'tellContainers',
      on: {
        'container.settled': { actions: 'foldSettled' },
        'effect.done': { actions: 'foldSettled' },
      },
      always: [
        { guard: 'allSettled', target: 'releasing' },
        { guard: 'shutdownTimedOut', target: 'releasing' },
      ],
    },
    releasing: {
      entry: 'releaseNewestFirst',
      on: onSettled({ actions: 'foldRelease' }),
      always: { guard: 'everythingReleased', target: 'stopped' },
    },
    stopped: { type: 'final' },
  },
  output: ({ context }) => ({
    releases: context.release.records,
    leftRunning: keepsRunning(context)
      ? context.containers.filter((c) => c.running).map((c) => c.id)
      : [],
    forced: context.forced,
  }),
});

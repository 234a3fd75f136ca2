import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import type { ContainerdTaskFact } from '../../effects/containerd/requests.ts';
import type { EffectCall, EffectRequest } from '../../effects/requests.ts';
import {
  checkInvariants,
  judgedBy,
  restoreInvariants,
  storedView,
  type HostView,
  type ImagesView,
  type InvariantViolation,
  type NetworkView,
  type TaskView,
} from '../container/invariants.ts';
import type { ContainerRecord, ContainerSettled } from '../container/types.ts';
import type { Output } from '../daemon-startup/types.ts';
import { commit, noOutlet, type Outlet } from '../outlet.ts';
import { buildOnce } from '../build-once.ts';

/**
 * After every restore, once the restored containers have settled:
 * 1. a second look at containerd: a task containerd has for a container is handed to its
 *    actor (a create or start the dead daemon had sent may have finished after restore
 *    listed the tasks), which stops or deletes it if it believed it had none. The API answers
 *    meanwhile: a list taken while a container moved (`host.moved`) is stale (a task a `docker
 *    kill` has just ended, listed as running), and acting on it would undo what the user
 *    asked (restart a container killed by hand); it is taken again once every container is
 *    settled (`host.settled`), and a list that is still stale after five tries is not handed;
 * 2. the host is observed (the store's containers, containerd's tasks and containers, the
 *    mounted roots, the image store and the networking when the daemon has them, and the exec
 *    processes of each live task when asked to) and judged by `restoreInvariants`. Each broken
 *    invariant is a mark in the trace, so the flight recorder carries the proof and
 *    `statedock check` fails on it.
 * A container that moves while the host is observed (`host.moved`, from the daemon) makes
 * the look start again once every container is settled again (`host.settled`), at most four
 * more times, so the verdict is of one settled moment. A move heard before the first look
 * holds that look back the same way; once the host says every container is settled again
 * after a move, a container handed a task need not answer for itself.
 */
export interface RestoreCheckInput {
  actorId?: string;
  /** The container actors restore spawned (active when the check began). */
  containers: string[];
  /** The image store to look at (its data root and the daemon's temp dir); without it images are not judged. */
  images?: { root: string; tmpDir: string };
  /** The daemon's networking to look at (its network database, exec root, chain tag); without it networking is not judged. */
  network?: NetworkLook;
  /** Look at each live task's exec processes (noOrphanExec); without it they are not judged. */
  execs?: boolean;
  /** The containers' directory, whose shareable /dev/shm mounts to look at (noOrphanShm); without it they are not judged. */
  shm?: { containersDir: string };
  /** Containers a client's request reached since restore (more come as `host.asked`). */
  askedByClients?: string[];
}

/** Where the daemon's networking is: what `net.observe` looks at. */
export interface NetworkLook {
  dir: string;
  execRoot: string;
  tag: string | null;
}

export interface RestoreCheckContext {
  actorId: string;
  seq: number;
  containers: string[];
  images: { root: string; tmpDir: string } | null;
  network: NetworkLook | null;
  shm: { containersDir: string } | null;
  judgesExecs: boolean;
  /**
   * Containers a client's request reached since restore: what the restart policy made of them
   * at the daemon's start is no longer to be seen (a `docker stop` of an `always` container
   * keeps it stopped until the next start, as dockerd's does).
   */
  askedByClients: string[];
  /** Containers handed a task, not settled yet. */
  unsettled: string[];
  /** The observation's requests in flight, by what they look at. */
  looks: Record<string, Look>;
  seen: Partial<
    Pick<
      HostView,
      'tasks' | 'containerdContainers' | 'mounted' | 'shmMounted' | 'images' | 'network' | 'execs'
    >
  > & {
    stored?: ContainerRecord[];
  };
  attempt: number;
  /** How many times containerd's tasks were listed for the hand-off. */
  listings: number;
  moved: boolean;
  /** Every container settled again since the last move (the host says so once per move, maybe mid-look). */
  settledAgain: boolean;
  pending: string | null;
  violations: InvariantViolation[];
  unchecked: string | null;
}

/**
 * What one request of the observation looks at: the store's containers, containerd's tasks or
 * containers, the mounted roots, the image store; then the exec processes of each live task
 * (asked once the tasks are known).
 */
export type Look =
  | 'stored'
  | 'tasks'
  | 'containerdContainers'
  | 'mounted'
  | 'shmMounted'
  | 'images'
  | 'network'
  | { execsOf: string };

export interface RestoreCheckOutput {
  violations: InvariantViolation[];
  /** Why the host could not be observed (the check then proves nothing). */
  unchecked: string | null;
}

export type RestoreCheckEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError }
  | ContainerSettled
  /** From the daemon: a container moved while the host was being looked at; then that all are settled again. */
  | { type: 'host.moved' }
  | { type: 'host.settled' }
  /** From the daemon: a client's request reached this container. */
  | { type: 'host.asked'; container: string };

const maxAttempts = 5;

function call<R extends EffectRequest>(
  c: RestoreCheckContext,
  req: R,
): { id: string; call: EffectCall } {
  c.seq += 1;
  const id = `${c.actorId}/${c.seq}`;
  return { id, call: { ...req, id, step: 'restoreCheck' } };
}

/** Asks for one look of the observation, under `c`'s next id. */
function lookWith(
  c: RestoreCheckContext,
  looks: RestoreCheckContext['looks'],
  outputs: Output[],
): (req: EffectRequest, what: Look) => void {
  return (req, what) => {
    const r = call(c, req);
    looks[r.id] = what;
    outputs.push({ call: r.call });
  };
}

function taskView(t: ContainerdTaskFact): TaskView {
  return { id: t.id, status: t.status };
}

export const restoreCheckMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as RestoreCheckContext,
      events: {} as RestoreCheckEvent,
      input: {} as RestoreCheckInput,
      output: {} as RestoreCheckOutput,
    },
    actions: {
      emitOutputs: noOutlet,
      listTasks: enqueueActions(({ context, enqueue }) => {
        const c = { ...context, moved: false, settledAgain: false, listings: context.listings + 1 };
        const r = call(c, { effect: 'containerd.listTasks' });
        commit(enqueue, { ...c, pending: r.id }, [{ call: r.call }]);
      }),
      /** The list was taken while a container moved: nothing of it is handed. */
      dropListing: enqueueActions(({ enqueue }) =>
        commit(enqueue, { pending: null, unsettled: [] }, []),
      ),
      handTasksToContainers: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'effect.done') return;
        const tasks = (event.result as { tasks: ContainerdTaskFact[] }).tasks;
        const mine = new Set(context.containers);
        const found = tasks.filter((t) => mine.has(t.id));
        const outputs: Output[] = found.map((t) => ({
          send: {
            to: `container:${t.id}`,
            event: { type: 'containerd.taskFound', status: t.status, from: context.actorId },
          },
        }));
        commit(enqueue, { pending: null, unsettled: found.map((t) => t.id) }, outputs);
      }),
      noteSettled: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'container.settled') return;
        commit(
          enqueue,
          { unsettled: context.unsettled.filter((id) => id !== event.container) },
          [],
        );
      }),
      observeHost: enqueueActions(({ context, enqueue }) => {
        const c = {
          ...context,
          looks: {},
          seen: {},
          moved: false,
          settledAgain: false,
          attempt: context.attempt + 1,
        };
        const looks: RestoreCheckContext['looks'] = {};
        const outputs: Output[] = [];
        const look = lookWith(c, looks, outputs);
        look({ effect: 'store.list', prefix: 'container/' }, 'stored');
        look({ effect: 'containerd.listTasks' }, 'tasks');
        look({ effect: 'containerd.listContainers' }, 'containerdContainers');
        look({ effect: 'rootfs.listMounted' }, 'mounted');
        if (context.shm !== null) look({ effect: 'kernel.listShm', ...context.shm }, 'shmMounted');
        if (context.images !== null) look({ effect: 'image.observe', ...context.images }, 'images');
        if (context.network !== null)
          look({ effect: 'net.observe', ...context.network }, 'network');
        commit(enqueue, { ...c, looks }, outputs);
      }),
      noteSeen: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'effect.done' && event.type !== 'effect.failed') return;
        const what = context.looks[event.id];
        if (what === undefined) return;
        const c = { ...context, looks: { ...context.looks }, seen: { ...context.seen } };
        delete c.looks[event.id];
        const { looks, seen } = c;
        const outputs: Output[] = [];
        const look = lookWith(c, looks, outputs);
        // Only a task that ended between the two looks fails here (isGoneTask): it has no processes.
        if (event.type === 'effect.failed') {
          commit(enqueue, { looks }, []);
          return;
        }
        if (typeof what === 'object') {
          const found = (event.result as { execs: { id: string; earlierLife: boolean }[] }).execs;
          seen.execs = [
            ...(seen.execs ?? []),
            ...found.map((x) => ({
              container: what.execsOf,
              exec: x.id,
              earlierLife: x.earlierLife,
            })),
          ];
          commit(enqueue, { looks, seen }, []);
          return;
        }
        switch (what) {
          case 'stored':
            seen.stored = (event.result as { entries: { value: unknown }[] }).entries.map(
              (e) => e.value as ContainerRecord,
            );
            break;
          case 'tasks': {
            const tasks = (event.result as { tasks: ContainerdTaskFact[] }).tasks;
            seen.tasks = tasks.map(taskView);
            if (!context.judgesExecs) break;
            seen.execs ??= [];
            // A live task's other processes: a dead daemon's execs must not run on (noOrphanExec).
            for (const t of tasks)
              if (t.status === 'running' || t.status === 'paused')
                look({ effect: 'containerd.execList', container: t.id }, { execsOf: t.id });
            break;
          }
          case 'containerdContainers':
            seen.containerdContainers = (event.result as { containers: string[] }).containers;
            break;
          case 'mounted':
            seen.mounted = (event.result as { containers: string[] }).containers;
            break;
          case 'shmMounted':
            seen.shmMounted = (event.result as { containers: string[] }).containers;
            break;
          case 'images':
            seen.images = event.result as ImagesView;
            break;
          case 'network':
            seen.network = event.result as NetworkView;
            break;
        }
        commit(enqueue, { seq: c.seq, looks, seen }, outputs);
      }),
      noteMoved: enqueueActions(({ enqueue }) =>
        commit(enqueue, { moved: true, settledAgain: false }, []),
      ),
      noteSettledAgain: enqueueActions(({ enqueue }) =>
        commit(enqueue, { settledAgain: true }, []),
      ),
      noteAsked: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'host.asked' || context.askedByClients.includes(event.container)) return;
        commit(enqueue, { askedByClients: [...context.askedByClients, event.container] }, []);
      }),
      judge: enqueueActions(({ context, enqueue }) => judge(enqueue, context)),
      recordUnchecked: enqueueActions(({ event, enqueue }) => {
        const message = event.type === 'effect.failed' ? event.error.message : 'no answer';
        unchecked(enqueue, message);
      }),
      /** Every look saw a container move: no verdict is better than one of a host mid-move. */
      recordKeptMoving: enqueueActions(({ enqueue }) =>
        unchecked(enqueue, `a container moved during each of its ${maxAttempts} looks`),
      ),
    },
    guards: {
      isPending: ({ context, event }) => 'id' in event && event.id === context.pending,
      isLook: ({ context, event }) => 'id' in event && event.id in context.looks,
      /** A task's processes could not be listed because the task ended meanwhile. */
      isGoneTask: ({ context, event }) => {
        const look = event.type === 'effect.failed' ? context.looks[event.id] : undefined;
        return (
          event.type === 'effect.failed' &&
          event.error.code === 'ENOENT' &&
          typeof look === 'object' &&
          'execsOf' in look
        );
      },
      allSettled: ({ context }) => context.unsettled.length === 0,
      /**
       * Every container handed a task said it is settled, and the host has not moved since (or
       * has settled again); or the host said every container is settled after a move.
       */
      readyToLook: ({ context }) =>
        context.moved ? context.settledAgain : context.unsettled.length === 0,
      /** A container moved while the tasks were listed, and another list may be taken. */
      listedWhileMoving: ({ context, event }) =>
        'id' in event &&
        event.id === context.pending &&
        context.moved &&
        context.listings < maxAttempts,
      /** The list is stale after every try: the hand-off is skipped. */
      listedWhileMovingLast: ({ context, event }) =>
        'id' in event && event.id === context.pending && context.moved,
      settledAgain: ({ context }) => context.settledAgain,
      lookDone: ({ context }) => Object.keys(context.looks).length === 0,
      lookDoneMoved: ({ context }) => Object.keys(context.looks).length === 0 && context.moved,
      lookAgain: ({ context }) =>
        Object.keys(context.looks).length === 0 && context.moved && context.attempt < maxAttempts,
      lookAgainNow: ({ context }) =>
        Object.keys(context.looks).length === 0 &&
        context.moved &&
        context.settledAgain &&
        context.attempt < maxAttempts,
    },
  }).createMachine({
    id: 'restoreCheck',
    context: ({ input }) => ({
      actorId: input.actorId ?? 'restore-check',
      seq: 0,
      containers: input.containers,
      images: input.images ?? null,
      network: input.network ?? null,
      shm: input.shm ?? null,
      judgesExecs: input.execs === true,
      askedByClients: input.askedByClients ?? [],
      unsettled: [],
      looks: {},
      seen: {},
      attempt: 0,
      listings: 0,
      moved: false,
      settledAgain: false,
      pending: null,
      violations: [],
      unchecked: null,
    }),
    initial: 'listingTasks',
    on: { 'host.asked': { actions: 'noteAsked' } },
    states: {
      listingTasks: {
        entry: 'listTasks',
        on: {
          'effect.done': [
            { guard: 'listedWhileMoving', target: 'waitingToList', actions: 'dropListing' },
            {
              guard: 'listedWhileMovingLast',
              target: 'waitingForContainers',
              actions: 'dropListing',
            },
            {
              guard: 'isPending',
              target: 'waitingForContainers',
              actions: 'handTasksToContainers',
            },
          ],
          'effect.failed': { guard: 'isPending', target: 'judged', actions: 'recordUnchecked' },
          // The API answers while the check runs: a container a request moves now (a `docker
          // kill`, a `docker run`'s start) makes the list stale, and must not be looked at
          // mid-move.
          'host.moved': { actions: 'noteMoved' },
          'host.settled': { actions: 'noteSettledAgain' },
        },
      },
      /** The list was stale: the next is taken once every container is settled again. */
      waitingToList: {
        on: {
          'host.moved': { actions: 'noteMoved' },
          'host.settled': { target: 'listingTasks' },
        },
        always: { guard: 'settledAgain', target: 'listingTasks' },
      },
      waitingForContainers: {
        on: {
          'container.settled': { actions: 'noteSettled' },
          'host.moved': { actions: 'noteMoved' },
          'host.settled': { actions: 'noteSettledAgain' },
        },
        always: [
          { guard: 'readyToLook', target: 'observing' },
          { guard: 'allSettled', target: 'waitingToSettle' },
        ],
      },
      observing: {
        entry: 'observeHost',
        on: {
          'effect.done': { guard: 'isLook', actions: 'noteSeen' },
          'effect.failed': [
            { guard: 'isGoneTask', actions: 'noteSeen' },
            { guard: 'isLook', target: 'judged', actions: 'recordUnchecked' },
          ],
          'host.moved': { actions: 'noteMoved' },
          // The host tells it once per move: heard mid-look, the next look need not wait for it.
          'host.settled': { actions: 'noteSettledAgain' },
        },
        always: [
          { guard: 'lookAgainNow', target: 'observing', reenter: true },
          { guard: 'lookAgain', target: 'waitingToSettle' },
          { guard: 'lookDoneMoved', target: 'judged', actions: 'recordKeptMoving' },
          { guard: 'lookDone', target: 'judged', actions: 'judge' },
        ],
      },
      /** Something moved during the look: the next look waits until everything is settled again. */
      waitingToSettle: {
        on: { 'host.settled': { target: 'observing' }, 'host.moved': { actions: 'noteMoved' } },
      },
      judged: { type: 'final' },
    },
    output: ({ context }) => ({ violations: context.violations, unchecked: context.unchecked }),
  }),
);

/** The host could not be judged: why, as the verdict and as a warning in the trace. */
function unchecked(enqueue: Outlet<RestoreCheckContext>, message: string): void {
  commit(enqueue, { pending: null, looks: {}, unchecked: message }, [
    {
      mark: {
        mark: 'warning',
        step: 'restoreCheck',
        message: `the host could not be observed after restore: ${message}`,
      },
    },
  ]);
}

function judge(enqueue: Outlet<RestoreCheckContext>, c: RestoreCheckContext): void {
  const view: HostView = {
    containers: (c.seen.stored ?? []).map((r) => {
      const view = storedView(r);
      if (!c.askedByClients.includes(r.id)) return view;
      const { restart: _decidedAtStart, ...rest } = view;
      return rest;
    }),
    tasks: c.seen.tasks ?? [],
    containerdContainers: c.seen.containerdContainers ?? [],
    acknowledged: [],
    mounted: c.seen.mounted ?? [],
    ...(c.shm === null ? {} : { shmMounted: c.seen.shmMounted ?? [] }),
    ...(c.seen.images === undefined ? {} : { images: c.seen.images }),
    ...(c.seen.network === undefined ? {} : { network: c.seen.network }),
    ...(c.judgesExecs ? { execs: c.seen.execs ?? [] } : {}),
  };
  const judged = judgedBy(view, restoreInvariants);
  const violations = checkInvariants(view, judged);
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
      held: judged.length - new Set(violations.map((v) => v.invariant)).size,
      broken: violations.length,
    },
  });
  commit(enqueue, { violations }, outputs);
}

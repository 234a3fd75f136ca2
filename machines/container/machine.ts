import { and, enqueueActions, setup } from 'xstate';
import type { EffectCall, EffectRequest } from '../../effects/requests.ts';
import type { Output } from '../daemon-startup/types.ts';
import { commit, noOutlet } from '../outlet.ts';
import { signalNumber, startFailureExitCode } from './signals.ts';
import { initialBackoffMs, nextBackoff, restartsWithDaemon, shouldRestart } from './restart.ts';
import { withSandbox } from '../network/spec.ts';
import type { SandboxSpec } from '../../effects/net/requests.ts';
import type {
  ContainerEvent,
  ContainerInput,
  ContainerRecord,
  ContainerStatus,
  ReplyResult,
  ContainerContext,
} from './types.ts';

/**
 * One container's lifecycle, as Docker's (container/state.go, daemon/start.go, stop.go,
 * monitor.go, delete.go): the only writer of its record. Every acknowledged transition is
 * persisted (`store.put`) before the reply mark; containerd is driven through effects; timers
 * (stop timeout, restart back-off) are clock effects, so the simulator runs them instantly.
 */

type Ctx = ContainerContext;

function withStatus(
  r: ContainerRecord,
  status: ContainerStatus,
  patch: Partial<ContainerRecord['state']> = {},
): ContainerRecord {
  return { ...r, state: { ...r.state, status, ...patch } };
}

/** Builds the outputs of one transition: effect calls get ids; marks pass through. */
class Out {
  readonly outputs: Output[] = [];
  patch: Partial<Ctx> = {};
  private seq: number;
  private readonly actorId: string;
  /** The store write this event reports failed (a full or broken disk), if it is one. */
  private readonly writeError: string | null;
  constructor(c: Ctx, e?: ContainerEvent) {
    this.seq = c.seq;
    this.actorId = c.actorId;
    this.writeError = e?.type === 'effect.failed' && e.id === c.writing ? e.error.message : null;
    if (this.writeError !== null) {
      this.patch.writing = null;
      this.outputs.push({
        mark: {
          mark: 'warning',
          step: 'persist',
          message: `container ${c.record.id}: saving its state failed: ${this.writeError}`,
        },
      });
    }
  }
  ask(req: EffectRequest, step: string): string {
    this.seq += 1;
    const id = `${this.actorId}/${this.seq}`;
    this.outputs.push({ call: { ...req, id, step } as EffectCall });
    this.patch.seq = this.seq;
    return id;
  }
  event(action: string, record: ContainerRecord, extra: Record<string, string> = {}): void {
    this.outputs.push({
      mark: {
        mark: 'event',
        action,
        id: record.id,
        attributes: {
          ...record.config.labels,
          image: record.image,
          name: record.name.replace(/^\//, ''),
          ...extra,
        },
      } as never,
    });
  }
  reply(req: string | null, result: ReplyResult, message?: string): void {
    if (req === null) return;
    // What was done is done (containerd acted), but it is not durable: the client hears so.
    if (this.writeError !== null && result === 'ok') {
      result = 'failed';
      message = `saving the container's state failed: ${this.writeError}`;
    }
    this.outputs.push({
      mark: { mark: 'reply', req, result, ...(message === undefined ? {} : { message }) } as never,
    });
  }
  persist(record: ContainerRecord): void {
    this.patch.record = record;
    this.patch.pending = this.ask(
      { effect: 'store.put', key: `container/${record.id}`, value: record },
      'persist',
    );
    this.patch.writing = this.patch.pending;
  }
  done(enqueue: unknown, c: Ctx): void {
    commit(enqueue, { ...c, ...this.patch }, this.outputs);
  }
}

/** An action of this machine: a pure function of context and event to the outputs and context patch. */
function act(fn: (c: Ctx, e: ContainerEvent, o: Out) => void): never {
  return enqueueActions(
    ({ context, event, enqueue }: { context: Ctx; event: ContainerEvent; enqueue: unknown }) => {
      const o = new Out(context, event);
      fn(context, event, o);
      o.done(enqueue, context);
    },
  ) as never;
}

const short = (id: string): string => id;

export const containerMachine = setup({
  types: {
    context: {} as ContainerContext,
    events: {} as ContainerEvent,
    input: {} as ContainerInput,
  },
  actions: {
    emitOutputs: noOutlet,
    persistCreated: act((c, _e, o) => o.persist(c.record)),
    ackCreated: act((c, _e, o) => {
      o.event('create', c.record);
      o.reply(c.createReq, 'ok');
      o.patch.createReq = null;
    }),
    notModified: act((_c, e, o) => o.reply('req' in e ? e.req : null, 'notModified')),
    notRunning: act((c, e, o) =>
      o.reply(
        'req' in e ? e.req : null,
        'conflict',
        `Container ${short(c.record.id)} is not running`,
      ),
    ),
    notPaused: act((c, e, o) =>
      o.reply('req' in e ? e.req : null, 'failed', `Container ${short(c.record.id)} is not paused`),
    ),
    alreadyPaused: act((c, e, o) =>
      o.reply(
        'req' in e ? e.req : null,
        'conflict',
        `Container ${short(c.record.id)} is already paused`,
      ),
    ),
    startPaused: act((_c, e, o) =>
      o.reply(
        'req' in e ? e.req : null,
        'conflict',
        'cannot start a paused container, try unpause instead',
      ),
    ),
    removeRunning: act((c, e, o) =>
      o.reply(
        'req' in e ? e.req : null,
        'conflict',
        `You cannot remove a running container ${c.record.id}. Stop the container before attempting removal or force remove`,
      ),
    ),
    removePaused: act((c, e, o) =>
      o.reply(
        'req' in e ? e.req : null,
        'conflict',
        `You cannot remove a paused container ${c.record.id}. Unpause and then stop the container before attempting removal or force remove`,
      ),
    ),
    removalInProgress: act((c, e, o) =>
      o.reply(
        'req' in e ? e.req : null,
        'conflict',
        `removal of container ${c.record.id} is already in progress`,
      ),
    ),
    markedForRemoval: act((_c, e, o) =>
      o.reply(
        'req' in e ? e.req : null,
        'conflict',
        'container is marked for removal and cannot be started',
      ),
    ),
    rememberStart: act((_c, e, o) => {
      o.patch.startReq = e.type === 'api.start' ? e.req : null;
      o.patch.restartReq = e.type === 'api.restart' ? e.req : null;
    }),
    rememberRestart: act((c, e, o) => {
      if (e.type !== 'api.restart') return;
      o.patch.restartReq = e.req;
      o.patch.stopTimeoutS = e.timeoutS ?? c.record.config.stopTimeout;
      o.patch.stopSignal = signalNumber(c.record.config.stopSignal) ?? 15;
    }),
    rememberStop: act((c, e, o) => {
      if (e.type !== 'api.stop') return;
      o.patch.stopReq = e.req;
      o.patch.stopTimeoutS = e.timeoutS ?? c.record.config.stopTimeout;
      o.patch.stopSignal = signalNumber(c.record.config.stopSignal) ?? 15;
      if (e.shutdown === true) o.patch.shuttingDown = true;
      else o.patch.record = { ...c.record, hasBeenManuallyStopped: true };
    }),
    rememberRemove: act((_c, e, o) => {
      if (e.type === 'api.remove') o.patch.removeReq = e.req;
    }),
    // Restore without live-restore stops what still runs; like dockerd's killWithSignal it
    // marks the container stopped by hand, so `unless-stopped` stays down and `always` restarts.
    rememberRestoreStop: act((c, _e, o) => {
      o.patch.stopTimeoutS = c.record.config.stopTimeout;
      o.patch.stopSignal = signalNumber(c.record.config.stopSignal) ?? 15;
      o.patch.record = {
        ...c.record,
        hasBeenManuallyStopped: c.record.config.restartPolicy.name !== 'always',
      };
    }),
    rememberShutdown: act((c, _e, o) => {
      o.patch.shuttingDown = true;
      o.patch.stopTimeoutS = c.record.config.stopTimeout;
      o.patch.stopSignal = signalNumber(c.record.config.stopSignal) ?? 15;
    }),
    // Network hooks (machines/network): the sandbox before the task, released at exit and removal.
    requestSandbox: act((c, _e, o) => {
      o.patch.sandbox = null;
      o.patch.startError = null;
      o.patch.pending = o.ask({ effect: 'net.sandboxUp', container: c.record.id }, 'network');
    }),
    keepSandbox: act((_c, e, o) => {
      if (e.type === 'effect.done') o.patch.sandbox = e.result as SandboxSpec;
    }),
    rememberStartError: act((_c, e, o) => {
      if (e.type === 'effect.failed') o.patch.startError = e.error;
    }),
    rememberTaskDeleted: act((_c, e, o) => {
      o.patch.taskDeleted =
        e.type === 'effect.done'
          ? (e.result as { exitStatus: number; exitedAt: string })
          : { failed: true };
    }),
    releaseSandbox: act((c, _e, o) => {
      o.patch.sandbox = null;
      o.patch.pending = o.ask({ effect: 'net.sandboxDown', container: c.record.id }, 'network');
    }),
    releaseSandboxForRemoval: act((c, _e, o) => {
      o.patch.pending = o.ask(
        { effect: 'net.sandboxDown', container: c.record.id, forget: true },
        'remove',
      );
    }),
    createTask: act((c, _e, o) => {
      o.patch.earlyExit = null;
      o.patch.pending = o.ask(
        {
          effect: 'containerd.createTask',
          container: c.record.id,
          spec: withSandbox(c.spec, c.sandbox),
          stdout: c.stdout,
          stderr: c.stderr,
          ...(c.record.config.openStdin ? { stdin: true } : {}),
          ...(c.record.config.tty ? { terminal: true } : {}),
        },
        'start',
      );
    }),
    startTask: act((c, _e, o) => {
      o.patch.pending = o.ask({ effect: 'containerd.startTask', container: c.record.id }, 'start');
    }),
    persistRunning: act((c, e, o) => {
      const r =
        e.type === 'effect.done' ? (e.result as { pid: number; at: string }) : { pid: 0, at: '' };
      o.persist({
        ...withStatus(c.record, 'running', {
          pid: r.pid,
          startedAt: r.at,
          exitCode: 0,
          error: '',
          oomKilled: false,
        }),
        hasBeenStartedBefore: true,
        hasBeenManuallyStopped: false,
      });
      o.patch.task = 'running';
    }),
    ackStarted: act((c, _e, o) => {
      o.event('start', c.record);
      if (c.restartReq !== null) o.event('restart', c.record);
      o.reply(c.startReq ?? c.restartReq, 'ok');
      o.patch.startReq = null;
      o.patch.restartReq = null;
    }),
    persistStartFailure: act((c, e, o) => {
      // After the sandbox's release, the failure is the one remembered before it.
      const error = c.startError ?? (e.type === 'effect.failed' ? e.error : null);
      o.patch.startError = null;
      const message = error?.message ?? 'start failed';
      o.patch.lastError = error;
      o.persist(
        withStatus(c.record, c.record.state.startedAt === null ? 'created' : 'exited', {
          exitCode: startFailureExitCode(message),
          error: message,
          pid: 0,
        }),
      );
    }),
    ackStartFailure: act((c, _e, o) => {
      o.reply(c.startReq ?? c.restartReq, 'failed', c.record.state.error);
      o.patch.startReq = null;
      o.patch.restartReq = null;
    }),
    rememberEarlyExit: act((_c, e, o) => {
      if (e.type === 'containerd.taskExit')
        o.patch.earlyExit = { exitStatus: e.exitStatus, exitedAt: e.exitedAt };
    }),
    killWithStopSignal: act((c, _e, o) => {
      o.event('kill', c.record, { signal: String(c.stopSignal) });
      o.ask(
        { effect: 'containerd.killTask', container: c.record.id, signal: c.stopSignal, all: false },
        'stop',
      );
      if (c.task === 'paused')
        o.ask({ effect: 'containerd.resumeTask', container: c.record.id }, 'stop');
      o.patch.timer =
        c.stopTimeoutS < 0
          ? null
          : o.ask({ effect: 'clock.sleep', ms: c.stopTimeoutS * 1000 }, 'stopTimeout');
    }),
    killHard: act((c, _e, o) => {
      o.event('kill', c.record, { signal: '9' });
      o.patch.timer = null;
      o.ask(
        { effect: 'containerd.killTask', container: c.record.id, signal: 9, all: true },
        'kill',
      );
    }),
    killWithSignal: act((c, e, o) => {
      if (e.type !== 'api.kill') return;
      const sig = signalNumber(e.signal) ?? 9;
      o.event('kill', c.record, { signal: String(sig) });
      if (sig === 9 || sig === (signalNumber(c.record.config.stopSignal) ?? 15))
        o.patch.record = { ...c.record, hasBeenManuallyStopped: true };
      o.ask(
        { effect: 'containerd.killTask', container: c.record.id, signal: sig, all: sig === 9 },
        'kill',
      );
      o.reply(e.req, 'ok');
    }),
    deleteTask: act((c, e, o) => {
      o.patch.timer = null;
      o.patch.task = 'stopped';
      if (e.type === 'containerd.taskExit')
        o.patch.earlyExit = { exitStatus: e.exitStatus, exitedAt: e.exitedAt };
      o.patch.pending = o.ask({ effect: 'containerd.deleteTask', container: c.record.id }, 'exit');
    }),
    persistExit: act((c, e, o) => {
      // The exit status of the task's deletion is the one dockerd reports (255 when the task was gone).
      // The task's deletion was remembered while the sandbox was released.
      const deleted = c.taskDeleted !== null && !('failed' in c.taskDeleted) ? c.taskDeleted : null;
      o.patch.taskDeleted = null;
      const r = deleted ?? { exitStatus: 255, exitedAt: c.earlyExit?.exitedAt ?? '' };
      const exitCode = c.earlyExit && deleted === null ? c.earlyExit.exitStatus : r.exitStatus;
      const ranMs = c.record.state.startedAt
        ? Date.parse(r.exitedAt) - Date.parse(c.record.state.startedAt)
        : 0;
      const backoff = nextBackoff(c.backoffMs, Number.isFinite(ranMs) ? ranMs : 0);
      const restart =
        c.stopReq === null &&
        c.restartReq === null &&
        c.removeReq === null &&
        shouldRestart(
          c.record.config.restartPolicy,
          exitCode,
          c.record.restartCount,
          c.record.hasBeenManuallyStopped,
          c.shuttingDown,
        );
      const status: ContainerStatus = restart ? 'restarting' : 'exited';
      o.patch.backoffMs = backoff;
      // The task was deleted (or was gone): removal has nothing to delete in containerd but the container.
      o.patch.task = 'none';
      o.persist({
        ...withStatus(c.record, status, { pid: 0, exitCode, finishedAt: r.exitedAt }),
        restartCount: restart ? c.record.restartCount + 1 : c.record.restartCount,
      });
    }),
    ackExit: act((c, _e, o) => {
      o.event('die', c.record, { exitCode: String(c.record.state.exitCode) });
      if (c.stopReq !== null) {
        o.event('stop', c.record);
        o.reply(c.stopReq, 'ok');
        o.patch.stopReq = null;
      }
    }),
    sleepBackoff: act((c, _e, o) => {
      o.patch.pending = o.ask({ effect: 'clock.sleep', ms: c.backoffMs }, 'restartBackoff');
    }),
    cancelRestart: act((c, e, o) => {
      o.patch.stopReq = 'req' in e ? e.req : null;
      // A stop by hand during the back-off is a manual stop (moby 34028: unless-stopped must stay down); the daemon's shutdown is not.
      const byDaemon =
        e.type === 'daemon.shutdown' || (e.type === 'api.stop' && e.shutdown === true);
      o.persist({
        ...withStatus(c.record, 'exited'),
        hasBeenManuallyStopped: byDaemon ? c.record.hasBeenManuallyStopped : true,
      });
    }),
    ackCancelled: act((c, _e, o) => {
      o.reply(c.stopReq, 'ok');
      o.patch.stopReq = null;
    }),
    pauseTask: act((c, e, o) => {
      o.patch.startReq = 'req' in e ? e.req : null;
      o.patch.pending = o.ask({ effect: 'containerd.pauseTask', container: c.record.id }, 'pause');
    }),
    persistPaused: act((c, _e, o) => {
      o.patch.task = 'paused';
      o.persist(withStatus(c.record, 'paused'));
    }),
    ackPaused: act((c, _e, o) => {
      o.event('pause', c.record);
      o.reply(c.startReq, 'ok');
      o.patch.startReq = null;
    }),
    resumeTask: act((c, e, o) => {
      o.patch.startReq = 'req' in e ? e.req : null;
      o.patch.pending = o.ask(
        { effect: 'containerd.resumeTask', container: c.record.id },
        'unpause',
      );
    }),
    persistUnpaused: act((c, _e, o) => {
      o.patch.task = 'running';
      o.persist(withStatus(c.record, 'running'));
    }),
    ackUnpaused: act((c, _e, o) => {
      o.event('unpause', c.record);
      o.reply(c.startReq, 'ok');
      o.patch.startReq = null;
    }),
    failReply: act((c, e, o) => {
      o.reply(c.startReq, 'failed', e.type === 'effect.failed' ? e.error.message : 'failed');
      o.patch.startReq = null;
      o.patch.pending = null;
    }),
    persistRename: act((c, e, o) => {
      if (e.type !== 'api.rename') return;
      const record = { ...c.record, name: e.name.startsWith('/') ? e.name : `/${e.name}` };
      o.patch.record = record;
      o.patch.renameReq = e.req;
      o.patch.oldName = c.record.name;
      o.patch.renamePending = o.ask(
        { effect: 'store.put', key: `container/${record.id}`, value: record },
        'persist',
      );
      o.patch.writing = o.patch.renamePending;
    }),
    ackRename: act((c, _e, o) => {
      o.event('rename', c.record, { oldName: c.oldName ?? '' });
      o.reply(c.renameReq, 'ok');
      o.patch.renameReq = null;
      o.patch.renamePending = null;
      o.patch.oldName = null;
    }),
    defer: act((c, e, o) => {
      o.patch.deferred = [...c.deferred, e];
    }),
    replayDeferred: enqueueActions(
      ({
        context,
        enqueue,
      }: {
        context: Ctx;
        enqueue: { raise: (e: ContainerEvent) => void; assign: (c: Partial<Ctx>) => void };
      }) => {
        if (context.deferred.length === 0) return;
        enqueue.assign({ deferred: [] });
        for (const e of context.deferred) enqueue.raise(e);
      },
    ) as never,
    persistRemoving: act((c, _e, o) => o.persist(withStatus(c.record, 'removing'))),
    persistReattached: act((c, _e, o) =>
      o.persist(withStatus(c.record, c.task === 'paused' ? 'paused' : 'running')),
    ),
    discardTask: act((c, _e, o) => {
      o.patch.pending = o.ask(
        { effect: 'containerd.deleteTask', container: c.record.id },
        'restore',
      );
    }),
    noteTaskAlive: act((_c, _e, o) => {
      o.patch.task = 'running';
      o.patch.pending = null;
    }),
    noteTaskGone: act((_c, _e, o) => {
      o.patch.task = 'none';
      o.patch.pending = null;
    }),
    killForRemoval: act((c, _e, o) => {
      o.event('kill', c.record, { signal: '9' });
      o.ask(
        { effect: 'containerd.killTask', container: c.record.id, signal: 9, all: true },
        'remove',
      );
    }),
    // dockerd's rm -f of a running container: kill, die (with the exit status), destroy.
    dieForRemoval: act((c, e, o) => {
      if (e.type === 'containerd.taskExit')
        o.event('die', c.record, { exitCode: String(e.exitStatus) });
    }),
    deleteTaskForRemoval: act((c, _e, o) => {
      o.patch.pending = o.ask(
        { effect: 'containerd.deleteTask', container: c.record.id },
        'remove',
      );
    }),
    deleteContainer: act((c, _e, o) => {
      o.patch.pending = o.ask(
        { effect: 'containerd.deleteContainer', container: c.record.id },
        'remove',
      );
    }),
    forget: act((c, _e, o) => {
      o.patch.pending = o.ask({ effect: 'store.del', key: `container/${c.record.id}` }, 'remove');
      o.patch.writing = o.patch.pending;
    }),
    failCreated: act((c, e, o) => {
      o.reply(
        c.createReq,
        'failed',
        `saving the new container failed: ${e.type === 'effect.failed' ? e.error.message : 'no answer'}`,
      );
      o.patch.createReq = null;
      // Requests that waited for the create find no container.
      for (const d of c.deferred)
        if ('req' in d) o.reply(d.req, 'notFound', `No such container: ${c.record.id}`);
      o.patch.deferred = [];
    }),
    ackRemoved: act((c, _e, o) => {
      o.event('destroy', c.record);
      o.reply(c.stopReq, 'ok');
      o.reply(c.removeReq, 'ok');
      o.patch.stopReq = null;
      o.patch.removeReq = null;
    }),
    failRemoval: act((c, e, o) => {
      const cause = e.type === 'effect.failed' ? e.error.message : 'containerd did not delete it';
      o.patch.task = 'none';
      o.patch.pending = null;
      o.reply(c.stopReq, 'ok');
      o.reply(c.removeReq, 'failed', `Could not remove container ${c.record.id}: ${cause}`);
      o.patch.stopReq = null;
      o.patch.removeReq = null;
    }),
    answerPendingForRemoval: act((c, _e, o) => {
      // A stop in progress is answered when the removal (which kills the task) is done.
      o.reply(
        c.startReq ?? c.restartReq,
        'conflict',
        'container is marked for removal and cannot be started',
      );
      o.patch.startReq = null;
      o.patch.restartReq = null;
    }),
    noteExited: act((_c, _e, o) => {
      o.patch.task = 'stopped';
    }),
    recordOom: act((c, _e, o) => {
      o.patch.record = withStatus(c.record, c.record.state.status, { oomKilled: true });
      o.event('oom', c.record);
    }),
    recordError: act((_c, e, o) => {
      if (e.type === 'effect.failed') o.patch.lastError = e.error;
      o.patch.pending = null;
    }),
  },
  guards: {
    // Only a create makes a new container: a restored one was created in an earlier life (no second `create` event).
    isNew: ({ context }) => context.createReq !== null,
    recordedRemoving: ({ context }) =>
      context.record.state.status === 'removing' || context.record.state.status === 'dead',
    taskAlive: ({ context }) => context.task === 'running' || context.task === 'paused',
    reattachRunning: ({ context }) =>
      context.liveRestore &&
      context.task === 'running' &&
      context.record.state.status === 'running',
    reattachPaused: ({ context }) =>
      context.liveRestore && context.task === 'paused' && context.record.state.status === 'paused',
    reattachChanged: ({ context }) =>
      context.liveRestore &&
      (context.task === 'running' || context.task === 'paused') &&
      ['running', 'paused', 'restarting'].includes(context.record.state.status),
    taskLeft: ({ context }) => context.task === 'stopped',
    foundAlive: ({ event }) =>
      event.type === 'containerd.taskFound' &&
      ['running', 'paused', 'pausing'].includes(event.status),
    restartsWithDaemon: ({ context }) =>
      context.createReq === null &&
      context.task === 'none' &&
      context.record.state.status === 'exited' &&
      restartsWithDaemon(context.record),
    recordedRunning: ({ context }) =>
      ['running', 'paused', 'restarting'].includes(context.record.state.status),
    exitedWithAutoRemove: ({ context }) =>
      context.record.state.status === 'exited' && context.record.config.autoRemove,
    isPending: ({ context, event }) => 'id' in event && event.id === context.pending,
    isTimer: ({ context, event }) => 'id' in event && event.id === context.timer,
    isRenamePending: ({ context, event }) => 'id' in event && event.id === context.renamePending,
    renameInFlight: ({ context }) => context.renamePending !== null,
    forced: ({ event }) => event.type === 'api.remove' && event.force,
    restartRequested: ({ context }) => context.restartReq !== null,
    willRestart: ({ context }) => context.record.state.status === 'restarting',
    autoRemove: ({ context }) => context.record.config.autoRemove && context.removeReq === null,
    removeRequested: ({ context }) => context.removeReq !== null,
    exitedEarly: ({ context }) => context.earlyExit !== null,
    paused: ({ context }) => context.task === 'paused',
    noTask: ({ context }) => context.task === 'none',
    notFound: ({ event }) => event.type === 'effect.failed' && event.error.code === 'ENOENT',
  },
}).createMachine({
  id: 'container',
  context: ({ input }) => ({
    actorId: input.actorId ?? `container:${input.record.id}`,
    record: input.record,
    spec: input.spec,
    stdout: input.stdout,
    stderr: input.stderr,
    liveRestore: input.liveRestore ?? false,
    task: input.task ?? 'none',
    seq: 0,
    pending: null,
    writing: null,
    timer: null,
    createReq: input.origin === 'create' ? (input.req ?? '') : null,
    startReq: null,
    stopReq: null,
    restartReq: null,
    removeReq: null,
    stopSignal: 15,
    stopTimeoutS: input.record.config.stopTimeout,
    backoffMs: 0,
    earlyExit: null,
    shuttingDown: false,
    lastError: null,
    deferred: [],
    renamePending: null,
    renameReq: null,
    oldName: null,
    sandbox: null,
    startError: null,
    taskDeleted: null,
  }),
  initial: 'deciding',
  // What the current state does not take (it is mid-transition) waits until it is settled.
  on: {
    'api.*': { actions: 'defer' },
    'containerd.taskExit': { actions: 'defer' },
    'daemon.shutdown': { actions: 'defer' },
    'containerd.oom': { actions: 'recordOom' },
    ...persisted({ guard: 'isRenamePending', actions: ['ackRename', 'replayDeferred'] }),
  },
  states: {
    /** Where a new or restored container begins (restore finishes removals and reconciles with containerd). */
    deciding: {
      always: [
        { guard: 'isNew', target: 'creating' },
        { guard: 'recordedRemoving', target: 'removing' },
        { guard: 'reattachRunning', target: 'running' },
        { guard: 'reattachPaused', target: 'paused' },
        { guard: 'reattachChanged', target: 'reattaching' },
        // A live task of a container not kept (no live-restore), or whose start was never
        // acknowledged (recorded created or exited): stopped, its exit recorded.
        { guard: 'taskAlive', target: 'stopping', actions: 'rememberRestoreStop' },
        { guard: 'recordedRunning', target: 'exiting' },
        { guard: 'taskLeft', target: 'discardingTask' },
        { guard: 'exitedWithAutoRemove', target: 'removing' },
        // dockerd's restore restart list: a stopped container its policy restarts with the daemon.
        { guard: 'restartsWithDaemon', target: 'starting' },
        { target: 'idle' },
      ],
    },
    /** Live-restore keeps a task whose state the record got wrong (a crash between pause and its write): the record follows the task. */
    reattaching: {
      entry: 'persistReattached',
      on: persisted([
        { guard: and2('isPending', 'paused'), target: 'paused' },
        { guard: 'isPending', target: 'running' },
      ]),
    },
    /** A task that never ran or already ended, of a container not recorded running: deleted, then decide again. */
    discardingTask: {
      entry: 'discardTask',
      on: {
        'effect.done': { guard: 'isPending', target: 'deciding', actions: 'noteTaskGone' },
        'effect.failed': [
          { guard: and2('isPending', 'notFound'), target: 'deciding', actions: 'noteTaskGone' },
          // containerd will not delete it: it runs after all (a start the dead daemon had sent
          // finished after restore listed the task as created). Stopped, its exit recorded.
          {
            guard: 'isPending',
            target: 'stopping',
            actions: ['noteTaskAlive', 'rememberRestoreStop'],
          },
        ],
      },
    },
    creating: {
      entry: 'persistCreated',
      on: {
        'effect.done': { guard: 'isPending', target: 'idle', actions: 'ackCreated' },
        // Not saved, not created: the client is told, and nothing of it stays.
        'effect.failed': { guard: 'isPending', target: 'removed', actions: 'failCreated' },
      },
    },
    /** created or exited: no task. */
    idle: {
      entry: 'replayDeferred',
      on: {
        'api.rename': [{ guard: 'renameInFlight', actions: 'defer' }, { actions: 'persistRename' }],
        'containerd.taskExit': {},
        'daemon.shutdown': {},
        'api.start': [
          { guard: 'recordedRemoving', actions: 'markedForRemoval' },
          { target: 'starting', actions: 'rememberStart' },
        ],
        'api.restart': [
          { guard: 'recordedRemoving', actions: 'markedForRemoval' },
          { target: 'starting', actions: 'rememberStart' },
        ],
        'api.remove': { target: 'removing', actions: 'rememberRemove' },
        'api.stop': { actions: 'notModified' },
        'api.kill': { actions: 'notRunning' },
        'api.pause': { actions: 'notRunning' },
        'api.unpause': { actions: 'notPaused' },
        // A task nobody reports: stopped (its exit recorded) if it lives, else deleted.
        'containerd.taskFound': [
          {
            guard: 'foundAlive',
            target: 'stopping',
            actions: ['noteTaskAlive', 'rememberRestoreStop'],
          },
          { target: 'discardingTask' },
        ],
      },
    },
    starting: {
      initial: 'connecting',
      on: {
        'containerd.taskExit': { actions: 'rememberEarlyExit' },
        'api.start': { actions: 'notModified' },
        // rm -f waits for the start to settle (dockerd's container lock), then kills and removes.
        'api.remove': [{ guard: 'forced', actions: 'defer' }, { actions: 'removeRunning' }],
      },
      states: {
        /** Its network sandbox first (a port that cannot be bound fails here, with nothing made). */
        connecting: {
          entry: 'requestSandbox',
          on: {
            'effect.done': { guard: 'isPending', target: 'creatingTask', actions: 'keepSandbox' },
            'effect.failed': {
              guard: 'isPending',
              target: 'failing',
              actions: 'persistStartFailure',
            },
          },
        },
        creatingTask: {
          entry: 'createTask',
          on: {
            'effect.done': { guard: 'isPending', target: 'startingTask' },
            'effect.failed': {
              guard: 'isPending',
              target: 'disconnecting',
              actions: 'rememberStartError',
            },
          },
        },
        startingTask: {
          entry: 'startTask',
          on: {
            'effect.done': { guard: 'isPending', target: 'persisting', actions: 'persistRunning' },
            'effect.failed': {
              guard: 'isPending',
              target: 'disconnecting',
              actions: 'rememberStartError',
            },
          },
        },
        /** The start failed after its sandbox was made: released before the failure is recorded. */
        disconnecting: {
          entry: 'releaseSandbox',
          on: persisted({ guard: 'isPending', target: 'failing', actions: 'persistStartFailure' }),
        },
        persisting: {
          on: persisted([
            {
              guard: and2('isPending', 'exitedEarly'),
              target: '#container.exiting',
              actions: 'ackStarted',
            },
            { guard: 'isPending', target: '#container.running', actions: 'ackStarted' },
          ]),
        },
        failing: {
          on: persisted([
            {
              guard: and2('isPending', 'autoRemove'),
              target: '#container.removing',
              actions: 'ackStartFailure',
            },
            { guard: 'isPending', target: '#container.idle', actions: 'ackStartFailure' },
          ]),
        },
      },
    },
    running: {
      entry: 'replayDeferred',
      on: {
        'api.rename': [{ guard: 'renameInFlight', actions: 'defer' }, { actions: 'persistRename' }],
        'api.start': { actions: 'notModified' },
        'api.stop': { target: 'stopping', actions: 'rememberStop' },
        'api.restart': { target: 'stopping', actions: 'rememberRestart' },
        'api.kill': { actions: 'killWithSignal' },
        'api.pause': { target: 'pausing' },
        'api.unpause': { actions: 'notPaused' },
        'api.remove': [
          { guard: 'forced', target: 'removing', actions: 'rememberRemove' },
          { actions: 'removeRunning' },
        ],
        'daemon.shutdown': { target: 'stopping', actions: 'rememberShutdown' },
        'containerd.taskExit': { target: 'exiting' },
      },
    },
    stopping: {
      entry: 'killWithStopSignal',
      on: {
        'effect.done': { guard: 'isTimer', actions: 'killHard' },
        'containerd.taskExit': { target: 'exiting' },
        'api.stop': { actions: 'notModified' },
        'api.start': { actions: 'notModified' },
        'api.kill': { actions: 'killWithSignal' },
        'api.remove': [
          { guard: 'forced', target: 'removing', actions: 'rememberRemove' },
          { actions: 'removeRunning' },
        ],
      },
    },
    pausing: {
      entry: 'pauseTask',
      on: {
        'effect.done': { guard: 'isPending', target: 'persistingPause', actions: 'persistPaused' },
        'effect.failed': { guard: 'isPending', target: 'running', actions: 'failReply' },
        'containerd.taskExit': { target: 'exiting' },
      },
    },
    persistingPause: {
      on: persisted({ guard: 'isPending', target: 'paused', actions: 'ackPaused' }),
    },
    paused: {
      entry: 'replayDeferred',
      on: {
        'api.rename': [{ guard: 'renameInFlight', actions: 'defer' }, { actions: 'persistRename' }],
        'api.unpause': { target: 'unpausing' },
        'api.pause': { actions: 'alreadyPaused' },
        'api.start': { actions: 'startPaused' },
        'api.stop': { target: 'stopping', actions: 'rememberStop' },
        'api.restart': { target: 'stopping', actions: 'rememberRestart' },
        'api.kill': { actions: 'killWithSignal' },
        'api.remove': [
          { guard: 'forced', target: 'removing', actions: 'rememberRemove' },
          { actions: 'removePaused' },
        ],
        'daemon.shutdown': { target: 'stopping', actions: 'rememberShutdown' },
        'containerd.taskExit': { target: 'exiting' },
      },
    },
    unpausing: {
      entry: 'resumeTask',
      on: {
        'effect.done': {
          guard: 'isPending',
          target: 'persistingUnpause',
          actions: 'persistUnpaused',
        },
        'effect.failed': { guard: 'isPending', target: 'paused', actions: 'failReply' },
      },
    },
    persistingUnpause: {
      on: persisted({ guard: 'isPending', target: 'running', actions: 'ackUnpaused' }),
    },
    /** The task exited: delete it (its exit status), record the exit, then restart, remove or rest. */
    exiting: {
      entry: 'deleteTask',
      on: {
        ...persisted({
          guard: 'isPending',
          target: 'releasingNetwork',
          actions: 'rememberTaskDeleted',
        }),
        'api.stop': { actions: 'notModified' },
        'api.remove': { actions: 'rememberRemove' },
      },
    },
    /** The exited task's endpoints and namespace go, as dockerd's Cleanup releases the network. */
    releasingNetwork: {
      entry: 'releaseSandbox',
      on: {
        ...persisted({ guard: 'isPending', target: 'recordingExit', actions: 'persistExit' }),
        'api.stop': { actions: 'notModified' },
        'api.remove': { actions: 'rememberRemove' },
      },
    },
    recordingExit: {
      on: {
        ...persisted([
          { guard: and2('isPending', 'removeRequested'), target: 'removing', actions: 'ackExit' },
          { guard: and2('isPending', 'restartRequested'), target: 'starting', actions: 'ackExit' },
          { guard: and2('isPending', 'willRestart'), target: 'restarting', actions: 'ackExit' },
          { guard: and2('isPending', 'autoRemove'), target: 'removing', actions: 'ackExit' },
          { guard: 'isPending', target: 'idle', actions: 'ackExit' },
        ]),
        'api.remove': { actions: 'rememberRemove' },
      },
    },
    /** Waiting out the back-off before a policy restart (dockerd's `restarting`). */
    restarting: {
      entry: ['sleepBackoff', 'replayDeferred'],
      on: {
        'api.rename': [{ guard: 'renameInFlight', actions: 'defer' }, { actions: 'persistRename' }],
        'containerd.taskExit': {},
        'daemon.shutdown': { target: 'cancellingRestart', actions: 'cancelRestart' },
        'api.kill': { actions: 'notRunning' },
        'api.pause': { actions: 'notRunning' },
        'api.unpause': { actions: 'notPaused' },
        'api.restart': { actions: 'notModified' },
        'effect.done': { guard: 'isPending', target: 'starting' },
        'api.stop': { target: 'cancellingRestart', actions: 'cancelRestart' },
        'api.remove': [
          { guard: 'forced', target: 'removing', actions: 'rememberRemove' },
          { actions: 'removeRunning' },
        ],
        'api.start': { actions: 'notModified' },
      },
    },
    cancellingRestart: {
      on: persisted({ guard: 'isPending', target: 'idle', actions: 'ackCancelled' }),
    },
    /** Removal: marked (persisted) first, so a crash mid-removal is finished by the next restore. */
    removing: {
      initial: 'marking',
      // Requests that waited for the container are answered now: it is going away.
      entry: ['answerPendingForRemoval', 'replayDeferred'],
      on: {
        'api.*': { actions: 'removalInProgress' },
        'api.start': { actions: 'markedForRemoval' },
        'api.stop': { actions: 'notModified' },
        'containerd.taskExit': { actions: 'noteExited' },
        'daemon.shutdown': {},
      },
      states: {
        marking: {
          entry: 'persistRemoving',
          on: persisted([
            { guard: and2('isPending', 'taskAlive'), target: 'killing' },
            { guard: and2('isPending', 'noTask'), target: 'deletingContainer' },
            { guard: 'isPending', target: 'deletingTask' },
          ]),
        },
        killing: {
          entry: 'killForRemoval',
          on: { 'containerd.taskExit': { target: 'deletingTask', actions: 'dieForRemoval' } },
        },
        deletingTask: {
          entry: 'deleteTaskForRemoval',
          on: {
            'effect.done': { guard: 'isPending', target: 'deletingContainer' },
            'effect.failed': { guard: 'isPending', target: 'deletingContainer' },
          },
        },
        deletingContainer: {
          entry: 'deleteContainer',
          on: {
            'effect.done': { guard: 'isPending', target: 'disconnecting' },
            // containerd still has it: the record stays `removing` (restore or the next rm finishes it), never forgotten while containerd holds it.
            'effect.failed': [
              { guard: and2('isPending', 'notFound'), target: 'disconnecting' },
              { guard: 'isPending', target: '#container.idle', actions: 'failRemoval' },
            ],
          },
        },
        /** Its endpoints and namespace (if any are left) and its network attachments go before its record. */
        disconnecting: {
          entry: 'releaseSandboxForRemoval',
          on: persisted({ guard: 'isPending', target: 'forgetting' }),
        },
        forgetting: {
          entry: 'forget',
          on: persisted({
            guard: 'isPending',
            target: '#container.removed',
            actions: 'ackRemoved',
          }),
        },
      },
    },
    removed: { type: 'final' },
  },
});

/**
 * A store write's outcome, done or failed, takes the same transition: containerd has acted, so
 * the machine follows what happened; a failed write turns the reply into an error (see Out).
 */
function persisted<T>(t: T): { 'effect.done': T; 'effect.failed': T } {
  return { 'effect.done': t, 'effect.failed': t };
}

/** This state's pending effect settled, and `b` holds. */
function and2(a: 'isPending', b: string): never {
  return and([a, b as 'isPending']) as never;
}

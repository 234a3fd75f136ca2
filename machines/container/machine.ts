import { and, enqueueActions, setup } from 'xstate';
import type { Draft } from 'immer';
import { commit, noOutlet, onSettled, type Outlet } from '../outlet.ts';
import { shareableShm } from './ipc.ts';
import { nextBackoff, restartsWithDaemon, shouldRestart } from './restart.ts';
import { setStatus, transition, type Transition } from './outputs.ts';
import { signalNumber, startFailureExitCode } from './signals.ts';
import type {
  ContainerContext,
  ContainerEvent,
  ContainerInput,
  ContainerStatus,
  TaskState,
} from './types.ts';
import { withSandbox } from '../network/spec.ts';
import type { SandboxSpec } from '../../effects/net/requests.ts';
import { buildOnce } from '../build-once.ts';

/**
 * One container's lifecycle, as Docker's (container/state.go, daemon/create.go, start.go,
 * stop.go, kill.go, monitor.go, delete.go): the only writer of its record, and the only one
 * that changes its files. Every acknowledged transition is persisted (`store.put`) before the
 * reply mark; containerd is driven through effects; timers (stop timeout, restart back-off)
 * are clock effects, so the simulator runs them instantly.
 */

type Ctx = ContainerContext;

/** One action: the transition `fn` makes, committed as the next context and its outputs. */
function step(
  enqueue: Outlet<Ctx>,
  context: Ctx,
  event: ContainerEvent,
  fn: (c: Draft<Ctx>, t: Transition, was: Ctx) => void,
): void {
  const next = transition(context, event, fn);
  commit(enqueue, next.context, next.outputs);
}

const reqOf = (e: ContainerEvent): string | null => ('req' in e ? e.req : null);

/**
 * Answers the `docker kill` whose signal containerd delivered (or failed to: `failure`); the
 * shutdown that waited for the signals in flight hears that this container has settled.
 */
function answerSignal(c: Draft<Ctx>, t: Transition, kill: string, failure: string | null): void {
  const signal = c.signals.find((s) => s.kill === kill);
  if (signal === undefined) return;
  c.signals = c.signals.filter((s) => s !== signal);
  if (failure === null) t.reply(signal.req, 'ok');
  else t.reply(signal.req, 'failed', failure);
  if (c.signals.length === 0 && c.settleTo.length > 0) t.settled(c.record.state.status);
}

/** How long a SIGKILL waits for its exit before the removal goes on without it (dockerd's Kill). */
const killWaitMs = 10_000;

/**
 * The pauses before a removal tries again what containerd refused, one per try: a task's
 * deletion (the shim unmounts the task's root at delete, and that is refused, "device or
 * resource busy", while the container's last processes, killed with it, are still dying), or
 * its container's deletion under a task the container did not know of (a create the dead
 * daemon had sent, finished late: killed, then deleted). Once they are spent the removal
 * fails, and the record stays `removing` with the task known: the next removal tries again.
 */
const removalRetryMs = [100, 400, 1_500];

/**
 * First of every state's transitions on an exit: one of another life of the container is
 * dropped (containerd may report the exit restore's stop waited for again, after the restart).
 */
const ignoreExitOfAnotherTask = { guard: 'exitOfAnotherTask' } as const;

/**
 * OCI LinuxResources with an update's groups laid over them (`memory`, `cpu`, `pids`): a field
 * the update does not name keeps its value.
 */
function mergeResources(
  old: Record<string, unknown> | undefined,
  update: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...old };
  for (const [group, fields] of Object.entries(update))
    out[group] = { ...(out[group] as Record<string, unknown> | undefined), ...(fields as object) };
  return out;
}

/** The signal a stop sends: the container's stop signal (SIGTERM unless set). */
function stopSignalOf(c: Ctx): number {
  return signalNumber(c.record.config.stopSignal) ?? 15;
}

/**
 * The task a deletion (the answer `event`) leaves: none, unless containerd refused it (its root
 * still busy; not a task already gone, ENOENT). A refused deletion leaves the stopped task, and
 * the next removal deletes it before containerd's container.
 */
function taskAfterDelete(task: TaskState, event: ContainerEvent): TaskState {
  return event.type === 'effect.failed' && event.error.code !== 'ENOENT' && task !== 'none'
    ? 'stopped'
    : 'none';
}

/**
 * Where a container goes once its exit is recorded (or its recording failed): a removal or a
 * restart asked meanwhile, its restart policy, `--rm`, a restart restore decided, else idle.
 */
const afterExitRecorded = [
  {
    guard: and(['isPending', 'removeRequested']),
    target: 'removing',
    actions: 'ackExit',
  },
  {
    guard: and(['isPending', 'restartRequested']),
    target: 'starting',
    actions: 'ackExit',
  },
  { guard: and(['isPending', 'willRestart']), target: 'restarting', actions: 'ackExit' },
  { guard: and(['isPending', 'autoRemove']), target: 'removing', actions: 'ackExit' },
  // An exit restore found (the process died while the daemon was down): dockerd's
  // restore restart list, where `always` restarts even a container stopped by hand.
  {
    guard: and(['isPending', 'restoredExitRestarts']),
    target: 'starting',
    actions: 'ackExit',
  },
  { guard: 'isPending', target: 'idle', actions: 'ackExit' },
] as const;

export const containerMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as ContainerContext,
      events: {} as ContainerEvent,
      input: {} as ContainerInput,
    },
    actions: {
      emitOutputs: noOutlet,

      // — restore: what the dead daemon left is repaired before the container decides —
      unmountRoot: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'rootfs.unmount', container: c.record.id }, 'restore'),
        ),
      ),
      noteUnmounted: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.rootMounted = false;
          c.pending = null;
        }),
      ),
      attachIo: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await(
            {
              effect: 'containerd.attachIo',
              container: c.record.id,
              stdin: c.record.config.openStdin === true,
              terminal: c.record.config.tty === true,
            },
            'restore',
          ),
        ),
      ),
      noteIoAttached: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.ioAttached = true;
          c.pending = null;
        }),
      ),

      // — create: its directory, its root filesystem, its spec, then its record —
      // Its directory, its root filesystem and its spec need nothing of one another: asked at once.
      prepareAll: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t, was) => {
          c.preparing = [
            t.ask({ effect: 'fs.mkdirAll', path: c.dir, mode: 0o710 }, 'create'),
            t.ask(
              {
                effect: 'rootfs.prepare',
                container: c.record.id,
                driver: was.rootfs?.driver ?? 'overlay2',
                layers: was.rootfs?.layers ?? [],
              },
              'create',
            ),
            t.ask({ effect: 'store.put', key: `spec/${c.record.id}`, value: was.spec }, 'create'),
          ];
        }),
      ),
      notePrepared: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.preparing = c.preparing.filter((id) => !('id' in event) || id !== event.id);
          if (event.type === 'effect.failed' && c.lastError === null) c.lastError = event.error;
        }),
      ),
      persistCreated: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (_c, t) => t.persist()),
      ),
      ackCreated: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('create');
          t.reply(c.createReq, 'ok');
          c.createReq = null;
          c.pending = null;
        }),
      ),
      rememberCreateFailure: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type === 'effect.failed') c.lastError = event.error;
          c.pending = null;
        }),
      ),
      undoSpec: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'store.del', key: `spec/${c.record.id}` }, 'create'),
        ),
      ),
      undoRootfs: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'rootfs.remove', container: c.record.id }, 'create'),
        ),
      ),
      undoDirectory: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'fs.removeAll', path: c.dir }, 'create'),
        ),
      ),
      failCreated: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.reply(
            c.createReq,
            'failed',
            `creating the container failed: ${c.lastError?.message ?? 'no answer'}`,
          );
          c.createReq = null;
          // Requests that waited for the create find no container.
          for (const d of c.deferred) {
            const req = reqOf(d);
            if (req !== null) t.reply(req, 'notFound', `No such container: ${c.record.id}`);
          }
          c.deferred = [];
          t.settled('removed');
        }),
      ),

      // — replies that change nothing —
      notModified: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (_c, t) => t.reply(reqOf(event), 'notModified')),
      ),
      notRunning: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.reply(reqOf(event), 'conflict', `Container ${c.record.id} is not running`),
        ),
      ),
      // dockerd 20.10 answers this with 500; it is the client's mistake (later dockerd: 409).
      notPaused: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.reply(reqOf(event), 'conflict', `Container ${c.record.id} is not paused`),
        ),
      ),
      alreadyPaused: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.reply(reqOf(event), 'conflict', `Container ${c.record.id} is already paused`),
        ),
      ),
      startPaused: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (_c, t) =>
          t.reply(reqOf(event), 'conflict', 'cannot start a paused container, try unpause instead'),
        ),
      ),
      removeRunning: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.reply(
            reqOf(event),
            'conflict',
            `You cannot remove a running container ${c.record.id}. Stop the container before attempting removal or force remove`,
          ),
        ),
      ),
      removePaused: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.reply(
            reqOf(event),
            'conflict',
            `You cannot remove a paused container ${c.record.id}. Unpause and then stop the container before attempting removal or force remove`,
          ),
        ),
      ),
      removalInProgress: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.reply(
            reqOf(event),
            'conflict',
            `removal of container ${c.record.id} is already in progress`,
          ),
        ),
      ),
      markedForRemoval: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (_c, t) =>
          t.reply(
            reqOf(event),
            'conflict',
            'container is marked for removal and cannot be started',
          ),
        ),
      ),

      // — start —
      rememberStart: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.startReq = event.type === 'api.start' ? event.req : null;
          c.restartReq = event.type === 'api.restart' ? event.req : null;
        }),
      ),
      // Network hooks (machines/network): the sandbox before the task, released at exit and removal.
      requestSandbox: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.sandbox = null;
          c.startError = null;
          t.await({ effect: 'net.sandboxUp', container: c.record.id }, 'network');
        }),
      ),
      keepSandbox: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type === 'effect.done') c.sandbox = event.result as SandboxSpec;
        }),
      ),
      rememberStartError: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type === 'effect.failed') c.startError = event.error;
        }),
      ),
      releaseSandbox: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.sandbox = null;
          t.await({ effect: 'net.sandboxDown', container: c.record.id }, 'network');
        }),
      ),
      releaseSandboxForRemoval: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'net.sandboxDown', container: c.record.id, forget: true }, 'remove'),
        ),
      ),
      // IpcMode shareable: its /dev/shm mounted before the task, unmounted once the task is gone.
      mountShm: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (_c, t, was) => {
          const shm = shareableShm(was);
          if (shm !== null) t.await({ effect: 'kernel.mountShm', ...shm }, 'ipc');
        }),
      ),
      unmountShm: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (_c, t, was) => {
          const shm = shareableShm(was);
          if (shm !== null) t.await({ effect: 'kernel.unmountShm', path: shm.path }, 'ipc');
        }),
      ),
      warnShmLeft: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          if (event.type === 'effect.failed')
            t.warn(
              'ipc',
              `failed to cleanup IPC mounts for container ${c.record.id}: ${event.error.message}`,
            );
        }),
      ),
      createTask: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t, was) => {
          c.earlyExit = null;
          c.containerdEmpty = false;
          t.await(
            {
              effect: 'containerd.createTask',
              container: c.record.id,
              spec: withSandbox(was.spec, was.sandbox),
              ...(c.record.config.openStdin ? { stdin: true } : {}),
              ...(c.record.config.tty ? { terminal: true } : {}),
            },
            'start',
          );
        }),
      ),
      startTask: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'containerd.startTask', container: c.record.id }, 'start'),
        ),
      ),
      persistRunning: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          const r =
            event.type === 'effect.done'
              ? (event.result as { pid: number; at: string })
              : { pid: 0, at: '' };
          setStatus(c.record, 'running', {
            pid: r.pid,
            startedAt: r.at,
            exitCode: 0,
            error: '',
            oomKilled: false,
          });
          c.record.hasBeenStartedBefore = true;
          c.record.hasBeenManuallyStopped = false;
          c.task = 'running';
          t.persist();
        }),
      ),
      ackStarted: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('start');
          if (c.restartReq !== null) t.event('restart');
          t.reply(c.startReq ?? c.restartReq, 'ok');
          c.startReq = null;
          c.restartReq = null;
        }),
      ),
      persistStartFailure: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t, was) => {
          // After the sandbox's release, the failure is the one remembered before it.
          const error = was.startError ?? (event.type === 'effect.failed' ? event.error : null);
          const message = error?.message ?? 'start failed';
          c.lastError = error;
          c.startError = null;
          setStatus(c.record, c.record.state.startedAt === null ? 'created' : 'exited', {
            exitCode: startFailureExitCode(message),
            error: message,
            pid: 0,
          });
          t.persist();
        }),
      ),
      ackStartFailure: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.reply(c.startReq ?? c.restartReq, 'failed', c.record.state.error);
          c.startReq = null;
          c.restartReq = null;
        }),
      ),
      rememberEarlyExit: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type === 'containerd.taskExit')
            c.earlyExit = {
              pid: event.pid ?? 0,
              exitStatus: event.exitStatus,
              exitedAt: event.exitedAt,
            };
        }),
      ),

      // — stop and kill —
      rememberStop: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type !== 'api.stop') return;
          c.stopReq = event.req;
          c.stopTimeoutS = event.timeoutS ?? c.record.config.stopTimeout;
          c.stopSignal = stopSignalOf(c);
          c.record.hasBeenManuallyStopped = true;
        }),
      ),
      rememberRestart: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type !== 'api.restart') return;
          c.restartReq = event.req;
          c.stopTimeoutS = event.timeoutS ?? c.record.config.stopTimeout;
          c.stopSignal = stopSignalOf(c);
        }),
      ),
      // Restore without live-restore stops what still runs; like dockerd's killWithSignal it
      // marks the container stopped by hand, so `unless-stopped` stays down and `always` restarts.
      rememberRestoreStop: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.stopTimeoutS = c.record.config.stopTimeout;
          c.stopSignal = stopSignalOf(c);
          c.record.hasBeenManuallyStopped = c.record.config.restartPolicy.name !== 'always';
        }),
      ),
      rememberShutdown: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type === 'daemon.shutdown') c.settleTo.push(event.from);
          c.shuttingDown = true;
          c.stopTimeoutS = c.record.config.stopTimeout;
          c.stopSignal = stopSignalOf(c);
        }),
      ),
      /** A shutdown (or restore's second look) that finds this container mid-stop waits for it. */
      joinSettle: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type === 'daemon.shutdown') {
            c.settleTo.push(event.from);
            c.shuttingDown = true;
          }
          if (event.type === 'containerd.taskFound') c.settleTo.push(event.from);
        }),
      ),
      /** Tells the asker at once: this container is settled and stays as it is. */
      settleNow: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          if (event.type === 'daemon.shutdown' || event.type === 'containerd.taskFound')
            c.settleTo.push(event.from);
          if (event.type === 'daemon.shutdown') c.shuttingDown = true;
          // A signal still on its way to containerd settles when delivered: a shutdown that
          // closed the client under it would lose a kill the user was told about.
          if (c.signals.length === 0) t.settled(c.record.state.status);
        }),
      ),
      /**
       * Under live-restore the shutdown leaves this container running and goes on to close
       * containerd's client and the store: an exit heard after that is restore's to record at
       * the next start (containerd keeps the stopped task, as dockerd's restore finds it), never
       * half-handled here while those close under it.
       */
      leaveExitToRestore: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.warn(
            'exit',
            `container ${c.record.id} exited after the shutdown left it running: the next start's restore records its exit`,
          ),
        ),
      ),
      /** Once the daemon shuts down, nothing starts again: a start then would outlive containerd's client. */
      refuseStartAtShutdown: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (_c, t) =>
          t.reply(
            reqOf(event),
            'conflict',
            'the daemon is shutting down: the container is not started',
          ),
        ),
      ),
      notifySettled: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.restoring = false;
          if (c.settleTo.length > 0) t.settled(c.record.state.status);
        }),
      ),
      /** Restore's work for this container is over once it first settles. */
      endRestore: enqueueActions(({ context, event, enqueue }) => {
        if (context.restoring) step(enqueue, context, event, (c) => void (c.restoring = false));
      }),
      killWithStopSignal: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('kill', { signal: String(c.stopSignal) });
          t.await(
            {
              effect: 'containerd.killTask',
              container: c.record.id,
              signal: c.stopSignal,
              all: false,
            },
            'stop',
          );
          if (c.task === 'paused')
            t.ask({ effect: 'containerd.resumeTask', container: c.record.id }, 'stop');
          c.timer =
            c.stopTimeoutS < 0
              ? null
              : t.ask({ effect: 'clock.sleep', ms: c.stopTimeoutS * 1000 }, 'stopTimeout');
        }),
      ),
      killHard: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('kill', { signal: '9' });
          c.timer = null;
          t.await(
            { effect: 'containerd.killTask', container: c.record.id, signal: 9, all: true },
            'kill',
          );
        }),
      ),
      killWithSignal: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          if (event.type !== 'api.kill') return;
          const sig = signalNumber(event.signal) ?? 9;
          t.event('kill', { signal: String(sig) });
          // dockerd's killWithSignal: a manual stop, checkpointed (unless-stopped stays down after a crash).
          if ((sig === 9 || sig === stopSignalOf(c)) && !c.record.hasBeenManuallyStopped) {
            c.record.hasBeenManuallyStopped = true;
            t.record();
          }
          const kill = t.ask(
            { effect: 'containerd.killTask', container: c.record.id, signal: sig, all: sig === 9 },
            'kill',
          );
          // A frozen process takes its SIGKILL once thawed (as a stop of a paused container does).
          if (sig === 9 && c.task === 'paused')
            t.ask({ effect: 'containerd.resumeTask', container: c.record.id }, 'kill');
          // dockerd's Kill waits for a SIGKILLed container to exit before it answers; any other
          // signal is answered once containerd has delivered it.
          if (sig === 9 && c.killReq === null) {
            c.killReq = event.req;
            c.killPending = kill;
          } else c.signals.push({ req: event.req, kill });
        }),
      ),
      failKill: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          const message = event.type === 'effect.failed' ? event.error.message : 'kill failed';
          if (event.type === 'effect.failed' && event.id !== c.killPending) {
            answerSignal(c, t, event.id, message);
            return;
          }
          t.reply(c.killReq, 'failed', message);
          c.killReq = null;
          c.killPending = null;
        }),
      ),
      ackSignal: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          if (event.type === 'effect.done') answerSignal(c, t, event.id, null);
        }),
      ),

      // — the exit —
      deleteTask: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.timer = null;
          c.task = 'stopped';
          if (event.type === 'containerd.taskExit')
            c.earlyExit = {
              pid: event.pid ?? 0,
              exitStatus: event.exitStatus,
              exitedAt: event.exitedAt,
            };
          t.await({ effect: 'containerd.deleteTask', container: c.record.id }, 'exit');
        }),
      ),
      noteExitStatus: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          // The exit status of the task's deletion is the one dockerd reports (255 when the task was gone).
          c.lastExit =
            event.type === 'effect.done'
              ? (event.result as { exitStatus: number; exitedAt: string })
              : {
                  exitStatus: c.earlyExit?.exitStatus ?? 255,
                  exitedAt: c.earlyExit?.exitedAt ?? '',
                };
          c.task = taskAfterDelete(c.task, event);
          c.pending = null;
        }),
      ),
      // Like dockerd's Cleanup at exit, containerd's container goes with the task (the next
      // start makes a new one): a removal then has nothing left to ask containerd but this.
      deleteContainerRecord: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'containerd.deleteContainer', container: c.record.id }, 'exit'),
        ),
      ),
      noteContainerdEmpty: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.containerdEmpty = true;
        }),
      ),
      persistExit: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          const r = c.lastExit ?? { exitStatus: 255, exitedAt: '' };
          const exitCode = r.exitStatus;
          const ranMs = c.record.state.startedAt
            ? Date.parse(r.exitedAt) - Date.parse(c.record.state.startedAt)
            : 0;
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
          c.backoffMs = nextBackoff(c.backoffMs, Number.isFinite(ranMs) ? ranMs : 0);
          setStatus(c.record, status, { pid: 0, exitCode, finishedAt: r.exitedAt });
          if (restart) c.record.restartCount += 1;
          t.persist();
        }),
      ),
      ackExit: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('die', { exitCode: String(c.record.state.exitCode) });
          if (c.stopReq !== null) {
            t.event('stop');
            t.reply(c.stopReq, 'ok');
            c.stopReq = null;
          }
          t.reply(c.killReq, 'ok');
          c.killReq = null;
          c.killPending = null;
          c.lastExit = null;
        }),
      ),
      sleepBackoff: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'clock.sleep', ms: c.backoffMs }, 'restartBackoff'),
        ),
      ),
      cancelRestart: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.stopReq = reqOf(event);
          // A stop by hand during the back-off is a manual stop (moby 34028: unless-stopped must
          // stay down); the daemon's shutdown is not.
          if (event.type === 'daemon.shutdown') c.settleTo.push(event.from);
          else c.record.hasBeenManuallyStopped = true;
          setStatus(c.record, 'exited');
          t.persist();
        }),
      ),
      ackCancelled: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.reply(c.stopReq, 'ok');
          c.stopReq = null;
        }),
      ),

      // — pause and unpause —
      pauseTask: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.pauseReq = reqOf(event);
          t.await({ effect: 'containerd.pauseTask', container: c.record.id }, 'pause');
        }),
      ),
      persistPaused: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.task = 'paused';
          setStatus(c.record, 'paused');
          t.persist();
        }),
      ),
      ackPaused: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('pause');
          t.reply(c.pauseReq, 'ok');
          c.pauseReq = null;
        }),
      ),
      resumeTask: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.pauseReq = reqOf(event);
          t.await({ effect: 'containerd.resumeTask', container: c.record.id }, 'unpause');
        }),
      ),
      persistUnpaused: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.task = 'running';
          setStatus(c.record, 'running');
          t.persist();
        }),
      ),
      ackUnpaused: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('unpause');
          t.reply(c.pauseReq, 'ok');
          c.pauseReq = null;
        }),
      ),
      pauseMetExit: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.reply(c.pauseReq, 'conflict', `Container ${c.record.id} is not running`);
          c.pauseReq = null;
        }),
      ),
      failPause: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.reply(
            c.pauseReq,
            'failed',
            event.type === 'effect.failed' ? event.error.message : 'failed',
          );
          c.pauseReq = null;
          c.pending = null;
        }),
      ),

      // — rename —
      persistRename: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          if (event.type !== 'api.rename') return;
          c.oldName = c.record.name;
          c.record.name = event.name.startsWith('/') ? event.name : `/${event.name}`;
          c.renameReq = event.req;
          const pending = c.pending;
          t.persist();
          // The rename's write is its own: the state's pending effect stays what it was.
          c.renamePending = c.pending;
          c.pending = pending;
        }),
      ),
      ackRename: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('rename', { oldName: c.oldName ?? '' });
          t.reply(c.renameReq, 'ok');
          c.renameReq = null;
          c.renamePending = null;
          c.oldName = null;
        }),
      ),
      /** dockerd's rename puts the old name back when its checkpoint fails: nothing changed. */
      failRename: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          if (c.oldName !== null) c.record.name = c.oldName;
          const cause = event.type === 'effect.failed' ? event.error.message : 'no answer';
          t.reply(c.renameReq, 'failed', `saving the container's state failed: ${cause}`);
          c.renameReq = null;
          c.renamePending = null;
          c.oldName = null;
        }),
      ),

      // — update (`docker update`): the live task's cgroup first, then the record and the spec —
      rememberUpdate: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type !== 'api.update') return;
          c.updateReq = event.req;
          c.update = event.update;
        }),
      ),
      updateTask: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t, was) =>
          t.await(
            {
              effect: 'containerd.updateTask',
              container: c.record.id,
              resources: was.update?.resources ?? {},
            },
            'update',
          ),
        ),
      ),
      // The new limits in the spec the next start uses, then in the record (and its HostConfig,
      // as inspect shows it): both written before the client hears, the record last.
      writeUpdatedSpec: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t, was) => {
          const spec = was.spec as { linux?: { resources?: Record<string, unknown> } };
          const next = {
            ...spec,
            linux: {
              ...spec.linux,
              resources: mergeResources(spec.linux?.resources, was.update?.resources ?? {}),
            },
          };
          c.spec = next;
          t.await({ effect: 'store.put', key: `spec/${c.record.id}`, value: next }, 'update');
        }),
      ),
      persistUpdate: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t, was) => {
          const u = was.update;
          if (!u) return;
          Object.assign(c.record.config, u.config);
          if (c.record.config.hostConfig) Object.assign(c.record.config.hostConfig, u.hostConfig);
          t.persist();
        }),
      ),
      ackUpdate: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('update');
          t.reply(c.updateReq, 'ok');
          c.updateReq = null;
          c.update = null;
        }),
      ),
      failUpdate: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          const cause = event.type === 'effect.failed' ? event.error.message : 'failed';
          t.reply(c.updateReq, 'failed', `Cannot update container ${c.record.id}: ${cause}`);
          c.updateReq = null;
          c.update = null;
          c.pending = null;
        }),
      ),

      // — requests that wait for the container to be settled (dockerd's container lock) —
      defer: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.deferred.push(event);
        }),
      ),
      replayDeferred: enqueueActions(({ context, enqueue }) => {
        if (context.deferred.length === 0) return;
        enqueue.assign({ deferred: [] });
        for (const e of context.deferred) enqueue.raise(e);
      }),

      // — restore's decisions —
      persistReattached: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          setStatus(c.record, c.task === 'paused' ? 'paused' : 'running');
          t.persist();
        }),
      ),
      discardTask: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'containerd.deleteTask', container: c.record.id }, 'restore'),
        ),
      ),
      noteTaskAlive: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.task = 'running';
          c.pending = null;
          if (event.type === 'containerd.taskFound') c.settleTo.push(event.from);
        }),
      ),
      noteTaskGone: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.task = 'none';
          c.pending = null;
          if (event.type === 'containerd.taskFound') c.settleTo.push(event.from);
        }),
      ),

      // — removal —
      rememberRemove: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type === 'api.remove') c.removeReq = event.req;
        }),
      ),
      answerPendingForRemoval: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          // A stop in progress is answered when the removal (which kills the task) is done.
          t.reply(
            c.startReq ?? c.restartReq,
            'conflict',
            'container is marked for removal and cannot be started',
          );
          c.startReq = null;
          c.restartReq = null;
        }),
      ),
      persistRemoving: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          setStatus(c.record, 'removing');
          // Each removal has its own tries (an earlier one may have left a task still busy).
          c.removalRetries = 0;
          t.persist();
        }),
      ),
      killForRemoval: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('kill', { signal: '9' });
          t.await(
            { effect: 'containerd.killTask', container: c.record.id, signal: 9, all: true },
            'remove',
          );
          if (c.task === 'paused')
            t.ask({ effect: 'containerd.resumeTask', container: c.record.id }, 'remove');
          // dockerd's Kill waits 10 s for the exit, then goes on: a removal never waits forever.
          c.timer = t.ask({ effect: 'clock.sleep', ms: killWaitMs }, 'remove');
        }),
      ),
      warnNoExit: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.timer = null;
          t.warn(
            'remove',
            `container ${c.record.id}: tried to kill container, but did not receive an exit event`,
          );
        }),
      ),
      // dockerd's rm -f of a running container: kill, die (with the exit status), destroy.
      dieForRemoval: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.task = 'stopped';
          c.timer = null;
          c.pending = null;
          if (event.type === 'containerd.taskExit')
            t.event('die', { exitCode: String(event.exitStatus) });
        }),
      ),
      deleteTaskForRemoval: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'containerd.deleteTask', container: c.record.id }, 'remove'),
        ),
      ),
      pauseBeforeRetry: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          const ms = removalRetryMs[c.removalRetries] ?? 0;
          c.removalRetries += 1;
          t.await({ effect: 'clock.sleep', ms }, 'remove');
        }),
      ),
      deleteContainer: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.task = taskAfterDelete(c.task, event);
          t.await({ effect: 'containerd.deleteContainer', container: c.record.id }, 'remove');
        }),
      ),
      removeSpec: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'store.del', key: `spec/${c.record.id}` }, 'remove'),
        ),
      ),
      removeRootfs: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'rootfs.remove', container: c.record.id }, 'remove'),
        ),
      ),
      removeDirectory: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) =>
          t.await({ effect: 'fs.removeAll', path: c.dir }, 'remove'),
        ),
      ),
      forget: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.pending = t.ask({ effect: 'store.del', key: `container/${c.record.id}` }, 'remove');
          c.writing = c.pending;
        }),
      ),
      ackRemoved: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.event('destroy');
          t.reply(c.stopReq, 'ok');
          t.reply(c.removeReq, 'ok');
          t.reply(c.killReq, 'ok');
          // A signal still unanswered was sent before the removal killed what it signalled.
          for (const s of c.signals) t.reply(s.req, 'ok');
          c.stopReq = null;
          c.removeReq = null;
          c.killReq = null;
          c.signals = [];
          t.settled('removed');
        }),
      ),
      /** containerd keeps it, or its root cannot be removed: the record stays and the client hears why. */
      failRemoval: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          const cause = event.type === 'effect.failed' ? event.error.message : 'no answer';
          c.pending = null;
          t.reply(c.stopReq, 'ok');
          t.reply(c.removeReq, 'failed', `Could not remove container ${c.record.id}: ${cause}`);
          t.reply(c.killReq, 'ok');
          c.stopReq = null;
          c.removeReq = null;
          c.killReq = null;
        }),
      ),
      /** dockerd marks a container whose root filesystem it could not remove Dead. */
      persistDead: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.lastError = event.type === 'effect.failed' ? event.error : null;
          setStatus(c.record, 'dead');
          t.persist();
        }),
      ),
      failRemovalDead: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          t.reply(c.stopReq, 'ok');
          t.reply(
            c.removeReq,
            'failed',
            c.lastError?.message ?? 'removing its root filesystem failed',
          );
          t.reply(c.killReq, 'ok');
          c.stopReq = null;
          c.removeReq = null;
          c.killReq = null;
        }),
      ),
      noteUnknownTask: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.task = 'running';
          c.pending = null;
        }),
      ),
      noteExited: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          c.task = 'stopped';
        }),
      ),
      recordOom: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c, t) => {
          c.record.state.oomKilled = true;
          t.event('oom');
        }),
      ),
      recordError: enqueueActions(({ context, event, enqueue }) =>
        step(enqueue, context, event, (c) => {
          if (event.type === 'effect.failed') c.lastError = event.error;
          c.pending = null;
        }),
      ),
    },
    guards: {
      // Only a create makes a new container: a restored one was created in an earlier life (no second `create` event).
      isNew: ({ context }) => context.createReq !== null,
      rootLeftMounted: ({ context }) => context.rootMounted,
      hasShareableShm: ({ context }) => shareableShm(context) !== null,
      taskNeedsIo: ({ context }) =>
        !context.ioAttached && (context.task === 'running' || context.task === 'paused'),
      recordedRemoving: ({ context }) =>
        context.record.state.status === 'removing' || context.record.state.status === 'dead',
      taskAlive: ({ context }) => context.task === 'running' || context.task === 'paused',
      reattachRunning: ({ context }) =>
        context.liveRestore &&
        context.task === 'running' &&
        context.record.state.status === 'running',
      reattachPaused: ({ context }) =>
        context.liveRestore &&
        context.task === 'paused' &&
        context.record.state.status === 'paused',
      reattachChanged: ({ context }) =>
        context.liveRestore &&
        (context.task === 'running' || context.task === 'paused') &&
        ['running', 'paused', 'restarting'].includes(context.record.state.status),
      taskLeft: ({ context }) => context.task === 'stopped',
      foundAlive: ({ event }) =>
        event.type === 'containerd.taskFound' &&
        ['running', 'paused', 'pausing'].includes(event.status),
      foundWithoutTask: ({ context }) => context.task === 'none',
      restoredExitRestarts: ({ context }) =>
        context.restoring &&
        context.record.state.status === 'exited' &&
        restartsWithDaemon(context.record),
      // Only restore's own decision: a leftover task discarded later leaves the container as it is.
      restartsWithDaemon: ({ context }) =>
        context.restoring &&
        context.createReq === null &&
        context.task === 'none' &&
        context.record.state.status === 'exited' &&
        restartsWithDaemon(context.record),
      recordedRunning: ({ context }) =>
        ['running', 'paused', 'restarting'].includes(context.record.state.status),
      exitedWithAutoRemove: ({ context }) =>
        context.record.state.status === 'exited' && context.record.config.autoRemove,
      isPending: ({ context, event }) => 'id' in event && event.id === context.pending,
      isPreparing: ({ context, event }) => 'id' in event && context.preparing.includes(event.id),
      /** The last of the create's preparations answers. */
      lastPrepared: ({ context, event }) =>
        'id' in event && context.preparing.length === 1 && context.preparing[0] === event.id,
      preparedWell: ({ context }) => context.lastError === null,
      isTimer: ({ context, event }) => 'id' in event && event.id === context.timer,
      isKill: ({ context, event }) =>
        'id' in event &&
        (event.id === context.killPending || context.signals.some((s) => s.kill === event.id)),
      isSignal: ({ context, event }) =>
        'id' in event && context.signals.some((s) => s.kill === event.id),
      /** The kill found no process: its exit was missed, none will come (containerd: not found). */
      processGone: ({ event }) =>
        event.type === 'effect.done' && (event.result as { gone?: boolean }).gone === true,
      isRenamePending: ({ context, event }) => 'id' in event && event.id === context.renamePending,
      renameInFlight: ({ context }) => context.renamePending !== null,
      forced: ({ event }) => event.type === 'api.remove' && event.force,
      /** `docker update` of resource limits (not only of the restart policy). */
      updatesResources: ({ event }) =>
        event.type === 'api.update' && event.update.resources !== null,
      stopsForShutdown: ({ event }) => event.type === 'daemon.shutdown' && event.stop,
      restartRequested: ({ context }) => context.restartReq !== null,
      stopPending: ({ context }) => context.stopReq !== null,
      shuttingDown: ({ context }) => context.shuttingDown,
      /** Running or paused once the shutdown has begun: live-restore left it so (a shutdown that stops containers stops it first). */
      leftRunningByShutdown: ({ context }) => context.shuttingDown,
      willRestart: ({ context }) => context.record.state.status === 'restarting',
      autoRemove: ({ context }) => context.record.config.autoRemove && context.removeReq === null,
      removeRequested: ({ context }) => context.removeReq !== null,
      /** The started task's own exit came before its start was recorded (not one of a life before it). */
      exitedEarly: ({ context }) =>
        context.earlyExit !== null &&
        (context.earlyExit.pid === 0 || context.earlyExit.pid === context.record.state.pid),
      /**
       * An exit whose process is not the task the container runs now: a late copy of the exit of
       * a life already ended (restore's stop, a restart). It changes nothing.
       */
      exitOfAnotherTask: ({ context, event }) =>
        event.type === 'containerd.taskExit' &&
        (event.pid ?? 0) !== 0 &&
        context.record.state.pid !== 0 &&
        event.pid !== context.record.state.pid,
      paused: ({ context }) => context.task === 'paused',
      noTask: ({ context }) => context.task === 'none',
      containerdEmpty: ({ context }) => context.containerdEmpty,
      notFound: ({ event }) => event.type === 'effect.failed' && event.error.code === 'ENOENT',
      busy: ({ event }) => event.type === 'effect.failed' && event.error.code === 'EBUSY',
      removalRetriesLeft: ({ context }) => context.removalRetries < removalRetryMs.length,
    },
  }).createMachine({
    id: 'container',
    context: ({ input }) => ({
      actorId: input.actorId ?? `container:${input.record.id}`,
      record: input.record,
      spec: input.spec,
      dir: input.dir,
      rootfs: input.rootfs ?? null,
      liveRestore: input.liveRestore ?? false,
      task: input.task ?? 'none',
      rootMounted: input.rootMounted ?? false,
      ioAttached: false,
      seq: 0,
      pending: null,
      writing: null,
      timer: null,
      createReq: input.origin === 'create' ? (input.req ?? '') : null,
      startReq: null,
      pauseReq: null,
      stopReq: null,
      restartReq: null,
      removeReq: null,
      killReq: null,
      killPending: null,
      signals: [],
      stopSignal: 15,
      stopTimeoutS: input.record.config.stopTimeout,
      backoffMs: 0,
      earlyExit: null,
      lastExit: null,
      shuttingDown: false,
      settleTo: [],
      lastError: null,
      deferred: [],
      renamePending: null,
      renameReq: null,
      oldName: null,
      removalRetries: 0,
      preparing: [],
      containerdEmpty: input.origin === 'create',
      restoring: input.origin === 'restore',
      sandbox: null,
      startError: null,
      updateReq: null,
      update: null,
    }),
    initial: 'entering',
    // What the current state does not take (it is mid-transition) waits until it is settled.
    on: {
      'api.*': { actions: 'defer' },
      'containerd.taskExit': [ignoreExitOfAnotherTask, { actions: 'defer' }],
      'containerd.taskFound': { actions: 'defer' },
      'daemon.shutdown': { actions: 'defer' },
      'containerd.oom': { actions: 'recordOom' },
      'effect.done': [
        { guard: 'isRenamePending', actions: ['ackRename', 'replayDeferred'] },
        { guard: 'isSignal', actions: 'ackSignal' },
      ],
      'effect.failed': [
        { guard: 'isRenamePending', actions: ['failRename', 'replayDeferred'] },
        { guard: 'isKill', actions: 'failKill' },
      ],
    },
    states: {
      /** Where a new or restored container begins: restore first repairs what the dead daemon left. */
      entering: {
        always: [
          { guard: 'isNew', target: 'creating' },
          { guard: 'rootLeftMounted', target: 'unmountingRoot' },
          { guard: 'taskNeedsIo', target: 'attachingIo' },
          { target: 'deciding' },
        ],
      },
      /** A root mounted for a start the dead daemon never finished: no task will unmount it. */
      unmountingRoot: {
        entry: 'unmountRoot',
        on: onSettled({ guard: 'isPending', target: 'entering', actions: 'noteUnmounted' }),
      },
      /** A task that outlived the daemon: its output is read again, its stdin written again. */
      attachingIo: {
        entry: 'attachIo',
        on: onSettled({ guard: 'isPending', target: 'entering', actions: 'noteIoAttached' }),
      },
      /** Restore's decision, from the record and what containerd said of the task. */
      deciding: {
        always: [
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
        on: onSettled([
          { guard: and(['isPending', 'paused']), target: 'paused' },
          { guard: 'isPending', target: 'running' },
        ]),
      },
      /** A task that never ran or already ended, of a container not recorded running: deleted, then decide again. */
      discardingTask: {
        entry: 'discardTask',
        on: {
          'effect.done': { guard: 'isPending', target: 'deciding', actions: 'noteTaskGone' },
          'effect.failed': [
            { guard: and(['isPending', 'notFound']), target: 'deciding', actions: 'noteTaskGone' },
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
      /** A new container: its directory, root filesystem, spec, and then its record, in that order. */
      creating: {
        initial: 'preparing',
        states: {
          /**
           * Its directory, root filesystem and spec, made at once; once all three answered, the
           * record is written, or (one failed) all three are undone.
           */
          preparing: {
            entry: 'prepareAll',
            on: {
              'effect.done': [
                {
                  guard: and(['lastPrepared', 'preparedWell']),
                  target: 'persisting',
                  actions: 'notePrepared',
                },
                { guard: 'lastPrepared', target: 'undoing', actions: 'notePrepared' },
                { guard: 'isPreparing', actions: 'notePrepared' },
              ],
              'effect.failed': [
                { guard: 'lastPrepared', target: 'undoing', actions: 'notePrepared' },
                { guard: 'isPreparing', actions: 'notePrepared' },
              ],
            },
          },
          persisting: {
            entry: 'persistCreated',
            on: {
              'effect.done': {
                guard: 'isPending',
                target: '#container.idle',
                actions: 'ackCreated',
              },
              // Not saved, not created: the client is told, and nothing of it stays.
              'effect.failed': {
                guard: 'isPending',
                target: 'undoing',
                actions: 'rememberCreateFailure',
              },
            },
          },
          /** What a failed create made is removed again, newest first; then the client hears why. */
          undoing: {
            initial: 'removingSpec',
            states: {
              removingSpec: {
                entry: 'undoSpec',
                on: onSettled({ guard: 'isPending', target: 'removingRootfs' }),
              },
              removingRootfs: {
                entry: 'undoRootfs',
                on: onSettled({ guard: 'isPending', target: 'removingDirectory' }),
              },
              removingDirectory: {
                entry: 'undoDirectory',
                on: onSettled({
                  guard: 'isPending',
                  target: '#container.removed',
                  actions: 'failCreated',
                }),
              },
            },
          },
        },
      },
      /** created or exited: no task. */
      idle: {
        entry: ['notifySettled', 'replayDeferred'],
        on: {
          'api.rename': [
            { guard: 'renameInFlight', actions: 'defer' },
            { actions: 'persistRename' },
          ],
          'containerd.taskExit': {},
          'daemon.shutdown': { actions: 'settleNow' },
          'api.start': [
            { guard: 'recordedRemoving', actions: 'markedForRemoval' },
            { guard: 'shuttingDown', actions: 'refuseStartAtShutdown' },
            { target: 'starting', actions: 'rememberStart' },
          ],
          'api.restart': [
            { guard: 'recordedRemoving', actions: 'markedForRemoval' },
            { guard: 'shuttingDown', actions: 'refuseStartAtShutdown' },
            { target: 'starting', actions: 'rememberStart' },
          ],
          'api.remove': { target: 'removing', actions: 'rememberRemove' },
          'api.update': [
            { guard: 'updatesResources', target: 'writingUpdatedSpec', actions: 'rememberUpdate' },
            { target: 'persistingUpdate', actions: ['rememberUpdate', 'persistUpdate'] },
          ],
          'api.stop': { actions: 'notModified' },
          'api.kill': { actions: 'notRunning' },
          'api.pause': { actions: 'notRunning' },
          'api.unpause': { actions: 'notPaused' },
          // A task nobody reports: stopped (its exit recorded) if it lives, else deleted.
          'containerd.taskFound': [
            {
              guard: and(['foundWithoutTask', 'foundAlive']),
              target: 'stopping',
              actions: ['noteTaskAlive', 'rememberRestoreStop'],
            },
            { guard: 'foundWithoutTask', target: 'discardingTask', actions: 'noteTaskGone' },
            { actions: 'settleNow' },
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
              'effect.done': [
                {
                  guard: and(['isPending', 'hasShareableShm']),
                  target: 'mountingShm',
                  actions: 'keepSandbox',
                },
                { guard: 'isPending', target: 'creatingTask', actions: 'keepSandbox' },
              ],
              'effect.failed': {
                guard: 'isPending',
                target: 'failing',
                actions: 'persistStartFailure',
              },
            },
          },
          /** IpcMode shareable: its /dev/shm, which the task's spec binds (dockerd's setupIpcDirs). */
          mountingShm: {
            entry: 'mountShm',
            on: {
              'effect.done': { guard: 'isPending', target: 'creatingTask' },
              'effect.failed': {
                guard: 'isPending',
                target: 'disconnecting',
                actions: 'rememberStartError',
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
              'effect.done': {
                guard: 'isPending',
                target: 'persisting',
                actions: 'persistRunning',
              },
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
            on: onSettled([
              { guard: and(['isPending', 'hasShareableShm']), target: 'unmountingShm' },
              { guard: 'isPending', target: 'failing', actions: 'persistStartFailure' },
            ]),
          },
          /** Then its shareable /dev/shm (dockerd's Cleanup: the network, then the IPC mounts). */
          unmountingShm: {
            entry: 'unmountShm',
            on: {
              'effect.done': {
                guard: 'isPending',
                target: 'failing',
                actions: 'persistStartFailure',
              },
              'effect.failed': {
                guard: 'isPending',
                target: 'failing',
                actions: ['warnShmLeft', 'persistStartFailure'],
              },
            },
          },
          persisting: {
            on: onSettled([
              {
                guard: and(['isPending', 'exitedEarly']),
                target: '#container.exiting',
                actions: 'ackStarted',
              },
              { guard: 'isPending', target: '#container.running', actions: 'ackStarted' },
            ]),
          },
          failing: {
            on: onSettled([
              {
                guard: and(['isPending', 'autoRemove']),
                target: '#container.removing',
                actions: 'ackStartFailure',
              },
              { guard: 'isPending', target: '#container.idle', actions: 'ackStartFailure' },
            ]),
          },
        },
      },
      running: {
        entry: ['endRestore', 'replayDeferred'],
        on: {
          'api.rename': [
            { guard: 'renameInFlight', actions: 'defer' },
            { actions: 'persistRename' },
          ],
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
          'daemon.shutdown': [
            { guard: 'stopsForShutdown', target: 'stopping', actions: 'rememberShutdown' },
            { actions: 'settleNow' },
          ],
          'containerd.taskFound': { actions: 'settleNow' },
          'containerd.taskExit': [
            ignoreExitOfAnotherTask,
            { guard: 'leftRunningByShutdown', actions: 'leaveExitToRestore' },
            { target: 'exiting' },
          ],
          'api.update': [
            { guard: 'updatesResources', target: 'updating', actions: 'rememberUpdate' },
            { target: 'persistingUpdate', actions: ['rememberUpdate', 'persistUpdate'] },
          ],
          // `docker kill` found no process: its exit was missed; record it now (or restore will).
          'effect.done': [
            {
              guard: and(['isKill', 'processGone', 'leftRunningByShutdown']),
              actions: ['leaveExitToRestore', 'ackSignal'],
            },
            { guard: and(['isKill', 'processGone']), target: 'exiting', actions: 'ackSignal' },
          ],
        },
      },
      /** `docker update` of a live task: its cgroup first (containerd's Tasks.Update), then the spec and record. */
      updating: {
        entry: 'updateTask',
        on: {
          'effect.done': { guard: 'isPending', target: 'writingUpdatedSpec' },
          'effect.failed': [
            { guard: and(['isPending', 'paused']), target: 'paused', actions: 'failUpdate' },
            { guard: 'isPending', target: 'running', actions: 'failUpdate' },
          ],
        },
      },
      writingUpdatedSpec: {
        entry: 'writeUpdatedSpec',
        on: {
          'effect.done': {
            guard: 'isPending',
            target: 'persistingUpdate',
            actions: 'persistUpdate',
          },
          'effect.failed': [
            { guard: and(['isPending', 'noTask']), target: 'idle', actions: 'failUpdate' },
            { guard: and(['isPending', 'paused']), target: 'paused', actions: 'failUpdate' },
            { guard: 'isPending', target: 'running', actions: 'failUpdate' },
          ],
        },
      },
      persistingUpdate: {
        on: onSettled([
          { guard: and(['isPending', 'noTask']), target: 'idle', actions: 'ackUpdate' },
          { guard: and(['isPending', 'paused']), target: 'paused', actions: 'ackUpdate' },
          { guard: 'isPending', target: 'running', actions: 'ackUpdate' },
        ]),
      },
      stopping: {
        entry: 'killWithStopSignal',
        on: {
          'effect.done': [
            { guard: 'isTimer', actions: 'killHard' },
            // The process had ended already and its exit was missed: record it now.
            { guard: and(['isPending', 'processGone']), target: 'exiting' },
          ],
          'containerd.taskExit': [ignoreExitOfAnotherTask, { target: 'exiting' }],
          'api.stop': { actions: 'notModified' },
          'api.start': { actions: 'notModified' },
          'api.kill': { actions: 'killWithSignal' },
          'api.remove': [
            { guard: 'forced', target: 'removing', actions: 'rememberRemove' },
            { actions: 'removeRunning' },
          ],
          'daemon.shutdown': { actions: 'joinSettle' },
          'containerd.taskFound': { actions: 'joinSettle' },
        },
      },
      pausing: {
        entry: 'pauseTask',
        on: {
          'effect.done': {
            guard: 'isPending',
            target: 'persistingPause',
            actions: 'persistPaused',
          },
          'effect.failed': { guard: 'isPending', target: 'running', actions: 'failPause' },
          // The process ended before it could be frozen: the pause is answered, the exit recorded.
          'containerd.taskExit': [
            ignoreExitOfAnotherTask,
            { target: 'exiting', actions: 'pauseMetExit' },
          ],
        },
      },
      persistingPause: {
        on: onSettled({ guard: 'isPending', target: 'paused', actions: 'ackPaused' }),
      },
      paused: {
        entry: ['endRestore', 'replayDeferred'],
        on: {
          'api.rename': [
            { guard: 'renameInFlight', actions: 'defer' },
            { actions: 'persistRename' },
          ],
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
          'api.update': [
            { guard: 'updatesResources', target: 'updating', actions: 'rememberUpdate' },
            { target: 'persistingUpdate', actions: ['rememberUpdate', 'persistUpdate'] },
          ],
          'daemon.shutdown': [
            { guard: 'stopsForShutdown', target: 'stopping', actions: 'rememberShutdown' },
            { actions: 'settleNow' },
          ],
          'containerd.taskFound': { actions: 'settleNow' },
          'containerd.taskExit': [
            ignoreExitOfAnotherTask,
            { guard: 'leftRunningByShutdown', actions: 'leaveExitToRestore' },
            { target: 'exiting' },
          ],
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
          'effect.failed': { guard: 'isPending', target: 'paused', actions: 'failPause' },
        },
      },
      persistingUnpause: {
        on: onSettled({ guard: 'isPending', target: 'running', actions: 'ackUnpaused' }),
      },
      /**
       * The task exited: delete it (its exit status) and containerd's container, release its
       * network (as dockerd's Cleanup), record the exit, then restart, remove or rest.
       */
      exiting: {
        initial: 'deletingTask',
        on: {
          // dockerd's stop of a container whose exit is being handled: no restart (ExitOnNext),
          // answered once the exit is recorded.
          'api.stop': [
            { guard: 'stopPending', actions: 'notModified' },
            { actions: 'rememberStop' },
          ],
          // One removal at a time, as dockerd's RemovalInProgress flag: a second one is refused.
          'api.remove': [
            { guard: 'removeRequested', actions: 'removalInProgress' },
            { actions: 'rememberRemove' },
          ],
        },
        states: {
          deletingTask: {
            entry: 'deleteTask',
            on: onSettled({
              guard: 'isPending',
              target: 'deletingContainer',
              actions: 'noteExitStatus',
            }),
          },
          deletingContainer: {
            entry: 'deleteContainerRecord',
            on: {
              'effect.done': {
                guard: 'isPending',
                target: 'releasingNetwork',
                actions: 'noteContainerdEmpty',
              },
              'effect.failed': [
                {
                  guard: and(['isPending', 'notFound']),
                  target: 'releasingNetwork',
                  actions: 'noteContainerdEmpty',
                },
                { guard: 'isPending', target: 'releasingNetwork' },
              ],
            },
          },
          /** The exited task's endpoints and namespace go before the exit is recorded. */
          releasingNetwork: {
            entry: 'releaseSandbox',
            on: onSettled([
              { guard: and(['isPending', 'hasShareableShm']), target: 'unmountingShm' },
              { guard: 'isPending', target: '#container.recordingExit', actions: 'persistExit' },
            ]),
          },
          /** Then its shareable /dev/shm (dockerd's Cleanup, before the exit is checkpointed). */
          unmountingShm: {
            entry: 'unmountShm',
            on: {
              'effect.done': {
                guard: 'isPending',
                target: '#container.recordingExit',
                actions: 'persistExit',
              },
              'effect.failed': {
                guard: 'isPending',
                target: '#container.recordingExit',
                actions: ['warnShmLeft', 'persistExit'],
              },
            },
          },
        },
      },
      recordingExit: {
        on: {
          ...onSettled(afterExitRecorded),
          'api.remove': [
            { guard: 'removeRequested', actions: 'removalInProgress' },
            { actions: 'rememberRemove' },
          ],
        },
      },
      /** Waiting out the back-off before a policy restart (dockerd's `restarting`). */
      restarting: {
        entry: ['sleepBackoff', 'replayDeferred'],
        on: {
          'api.rename': [
            { guard: 'renameInFlight', actions: 'defer' },
            { actions: 'persistRename' },
          ],
          'containerd.taskExit': {},
          'daemon.shutdown': [
            { guard: 'stopsForShutdown', target: 'cancellingRestart', actions: 'cancelRestart' },
            { actions: 'settleNow' },
          ],
          'containerd.taskFound': { actions: 'settleNow' },
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
        on: onSettled({ guard: 'isPending', target: 'idle', actions: 'ackCancelled' }),
      },
      /**
       * Removal: marked (persisted) first, so a crash mid-removal is finished by the next
       * restore; the task and containerd's container go (unless the exit deleted that already),
       * then its network, its files, and last its record.
       */
      removing: {
        initial: 'marking',
        // Requests that waited for the container are answered now: it is going away.
        entry: ['answerPendingForRemoval', 'replayDeferred'],
        on: {
          'api.*': { actions: 'removalInProgress' },
          'api.start': { actions: 'markedForRemoval' },
          'api.stop': { actions: 'notModified' },
          'containerd.taskExit': [ignoreExitOfAnotherTask, { actions: 'noteExited' }],
          'daemon.shutdown': { actions: 'joinSettle' },
          'containerd.taskFound': { actions: 'joinSettle' },
        },
        states: {
          marking: {
            entry: 'persistRemoving',
            on: onSettled([
              { guard: and(['isPending', 'taskAlive']), target: 'killing' },
              { guard: and(['isPending', 'noTask', 'containerdEmpty']), target: 'disconnecting' },
              { guard: and(['isPending', 'noTask']), target: 'deletingContainer' },
              { guard: 'isPending', target: 'deletingTask' },
            ]),
          },
          killing: {
            entry: 'killForRemoval',
            on: {
              'containerd.taskExit': [
                ignoreExitOfAnotherTask,
                { target: 'deletingTask', actions: 'dieForRemoval' },
              ],
              'effect.done': [
                {
                  guard: and(['isPending', 'processGone']),
                  target: 'deletingTask',
                  actions: 'dieForRemoval',
                },
                {
                  guard: 'isTimer',
                  target: 'deletingTask',
                  actions: ['warnNoExit', 'dieForRemoval'],
                },
              ],
              'effect.failed': {
                guard: 'isPending',
                target: '#container.idle',
                actions: 'failRemoval',
              },
            },
          },
          deletingTask: {
            entry: 'deleteTaskForRemoval',
            on: {
              'effect.done': { guard: 'isPending', target: 'deletingContainer' },
              'effect.failed': [
                { guard: and(['isPending', 'notFound']), target: 'deletingContainer' },
                { guard: and(['isPending', 'removalRetriesLeft']), target: 'pausingBeforeRetry' },
                { guard: 'isPending', target: 'deletingContainer' },
              ],
            },
          },
          deletingContainer: {
            entry: 'deleteContainer',
            on: {
              'effect.done': { guard: 'isPending', target: 'disconnecting' },
              // containerd still has a task the container did not know of: it is killed and
              // deleted first. Else the record stays `removing` (restore or the next rm finishes
              // it), never forgotten while containerd holds it.
              'effect.failed': [
                { guard: and(['isPending', 'notFound']), target: 'disconnecting' },
                {
                  guard: and(['isPending', 'busy', 'removalRetriesLeft']),
                  target: 'pausingBeforeRetry',
                  actions: 'noteUnknownTask',
                },
                { guard: 'isPending', target: '#container.idle', actions: 'failRemoval' },
              ],
            },
          },
          /**
           * The one bounded retry of a removal (`removalRetryMs`): after a pause, a task still
           * thought alive is killed first, then the task is deleted again.
           */
          pausingBeforeRetry: {
            entry: 'pauseBeforeRetry',
            on: onSettled([
              { guard: and(['isPending', 'taskAlive']), target: 'killing' },
              { guard: 'isPending', target: 'deletingTask' },
            ]),
          },
          /** Its endpoints and namespace (if any are left) and its network attachments go before its record. */
          disconnecting: {
            entry: 'releaseSandboxForRemoval',
            on: onSettled([
              { guard: and(['isPending', 'hasShareableShm']), target: 'unmountingShm' },
              { guard: 'isPending', target: 'removingSpec' },
            ]),
          },
          /**
           * Its shareable /dev/shm, if a task's exit (or a crash) left it mounted: before its
           * directory, which holds the mount point, is removed.
           */
          unmountingShm: {
            entry: 'unmountShm',
            on: {
              'effect.done': { guard: 'isPending', target: 'removingSpec' },
              'effect.failed': {
                guard: 'isPending',
                target: 'removingSpec',
                actions: 'warnShmLeft',
              },
            },
          },
          removingSpec: {
            entry: 'removeSpec',
            on: onSettled({ guard: 'isPending', target: 'removingRootfs' }),
          },
          removingRootfs: {
            entry: 'removeRootfs',
            on: {
              'effect.done': { guard: 'isPending', target: 'removingDirectory' },
              'effect.failed': {
                guard: 'isPending',
                target: 'markingDead',
                actions: 'persistDead',
              },
            },
          },
          markingDead: {
            on: onSettled({
              guard: 'isPending',
              target: '#container.idle',
              actions: 'failRemovalDead',
            }),
          },
          removingDirectory: {
            entry: 'removeDirectory',
            on: onSettled({ guard: 'isPending', target: 'forgetting' }),
          },
          forgetting: {
            entry: 'forget',
            on: onSettled({
              guard: 'isPending',
              target: '#container.removed',
              actions: 'ackRemoved',
            }),
          },
        },
      },
      removed: { type: 'final' },
    },
  }),
);

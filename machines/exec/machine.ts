import { and, enqueueActions, setup } from 'xstate';
import { noOutlet, onSettled, type OutputParams } from '../outlet.ts';
import { startFailureExitCode } from '../container/signals.ts';
import { apply } from './outputs.ts';
import type { ExecContext, ExecEvent, ExecInput } from './types.ts';
import { buildOnce } from '../build-once.ts';

/**
 * One `docker exec`, as dockerd's ExecConfig lives (daemon/exec.go, monitor.go): created by
 * the API, started once (containerd's Tasks.Exec, then Start), running until containerd
 * reports its exit or its container's task ends, and kept, finished, for `exec inspect` until
 * the exec GC's second pass forgets it. An exit containerd reported is recorded at once with
 * its status (exec_die; the client's stream ends), then the process is deleted in containerd
 * (`releasing`), as dockerd's ProcessEvent runs before libcontainerd's Delete; an exec whose
 * container's end took it is deleted first, for the status containerd kept.
 * Every process change is a `containerd.exec*` effect; events are marks the host publishes.
 */

type Ctx = ExecContext;
type EmitOutputs = { type: 'emitOutputs'; params: OutputParams };

/** `exec_create: sh -c date` — dockerd joins the first word and the rest with a space (a trailing one when there is no rest). */
function commandOf(c: Ctx): string {
  return `${c.config.entrypoint} ${c.config.args.join(' ')}`;
}

function attrs(c: Ctx, extra: Record<string, string> = {}): Record<string, string> {
  return { ...c.attributes, execID: c.config.id, ...extra };
}

/** An action that answers the event's API request with `result` and dockerd's words, and changes nothing. */
function refuse(result: 'conflict' | 'failed', words: (c: Ctx) => string) {
  return enqueueActions<Ctx, ExecEvent, undefined, ExecEvent, never, EmitOutputs, never>(
    ({ context, event, enqueue }) =>
      apply(enqueue, context, event, (c, e, o) =>
        o.reply('req' in e ? e.req : null, result, words(c)),
      ),
  );
}

export const execMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as ExecContext,
      events: {} as ExecEvent,
      input: {} as ExecInput,
    },
    actions: {
      emitOutputs: noOutlet,
      announceCreate: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) =>
          o.event(c.config.container, `exec_create: ${commandOf(c)}`, attrs(c)),
        ),
      ),
      createProcess: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          if (e.type !== 'api.execStart') return;
          o.patch.startReq = e.req;
          o.patch.detached = e.detach;
          o.event(c.config.container, `exec_start: ${commandOf(c)}`, attrs(c));
          o.patch.pending = o.ask(
            {
              effect: 'containerd.execCreate',
              container: c.config.container,
              exec: c.config.id,
              process: c.config.process,
              stdin: c.config.attachStdin && !e.detach,
              terminal: c.config.tty,
              stdio: e.detach ? 'discard' : 'attach',
            },
            'execStart',
          );
        }),
      ),
      startProcess: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = o.ask(
            { effect: 'containerd.execStart', container: c.config.container, exec: c.config.id },
            'execStart',
          );
        }),
      ),
      ackStarted: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          const r = e.type === 'effect.done' ? (e.result as { pid: number }) : { pid: 0 };
          o.patch.pid = r.pid;
          o.patch.running = true;
          o.patch.pending = null;
          o.reply(c.startReq, 'ok');
          o.patch.startReq = null;
          if (c.size !== null && c.config.tty)
            o.ask(
              {
                effect: 'containerd.execResize',
                container: c.config.container,
                exec: c.config.id,
                ...c.size,
              },
              'execResize',
            );
        }),
      ),
      failCreate: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          const message = e.type === 'effect.failed' ? e.error.message : 'exec failed';
          o.patch.exitCode = startFailureExitCode(message);
          o.patch.startError = message;
          o.patch.pending = null;
          o.reply(c.startReq, 'failed', message);
          o.patch.startReq = null;
        }),
      ),
      // dockerd deletes an exec whose start failed (libcontainerd's Exec), then reports the error.
      deleteFailed: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          const message = e.type === 'effect.failed' ? e.error.message : 'exec failed';
          o.patch.exitCode = startFailureExitCode(message);
          o.patch.startError = message;
          o.patch.pending = o.ask(
            { effect: 'containerd.execDelete', container: c.config.container, exec: c.config.id },
            'execStart',
          );
        }),
      ),
      ackStartFailure: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = null;
          o.reply(c.startReq, 'failed', c.startError ?? 'exec failed');
          o.patch.startReq = null;
        }),
      ),
      rememberEarlyExit: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (_c, e, o) => {
          if (e.type === 'containerd.execExit')
            o.patch.earlyExit = { exitStatus: e.exitStatus, exitedAt: e.exitedAt };
        }),
      ),
      // The task's end killed the process with its PID namespace (SIGKILL): 137 unless containerd says otherwise.
      rememberContainerEnd: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          if (c.earlyExit === null) o.patch.earlyExit = { exitStatus: 137, exitedAt: '' };
        }),
      ),
      rememberSize: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (_c, e, o) => {
          if (e.type !== 'api.execResize') return;
          o.patch.size = { width: e.width, height: e.height };
          o.reply(e.req, 'ok');
        }),
      ),
      resize: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          if (e.type !== 'api.execResize') return;
          const id = o.ask(
            {
              effect: 'containerd.execResize',
              container: c.config.container,
              exec: c.config.id,
              width: e.width,
              height: e.height,
            },
            'execResize',
          );
          o.patch.resizing = { ...c.resizing, [id]: e.req };
        }),
      ),
      replyResize: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          if (e.type !== 'effect.done' && e.type !== 'effect.failed') return;
          const req = c.resizing[e.id];
          if (req === undefined) return;
          const { [e.id]: _, ...rest } = c.resizing;
          o.patch.resizing = rest;
          if (e.type === 'effect.done') o.reply(req, 'ok');
          else o.reply(req, 'failed', e.error.message);
        }),
      ),
      deleteProcess: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = o.ask(
            { effect: 'containerd.execDelete', container: c.config.container, exec: c.config.id },
            'execExit',
          );
        }),
      ),
      // The exit containerd reported (its /tasks/exit): recorded now, the process deleted next.
      recordReportedExit: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          const exitCode =
            e.type === 'containerd.execExit' ? e.exitStatus : (c.earlyExit?.exitStatus ?? 137);
          o.patch.exitCode = exitCode;
          o.patch.running = false;
          o.event(c.config.container, 'exec_die', attrs(c, { exitCode: String(exitCode) }));
          o.patch.pending = o.ask(
            { effect: 'containerd.execDelete', container: c.config.container, exec: c.config.id },
            'execRelease',
          );
        }),
      ),
      released: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (_c, _e, o) => {
          o.patch.pending = null;
        }),
      ),
      recordExit: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          // The exit status containerd kept (DeleteProcess), else the one heard, else the kill's.
          const exitCode =
            e.type === 'effect.done'
              ? (e.result as { exitStatus: number }).exitStatus
              : (c.earlyExit?.exitStatus ?? 137);
          o.patch.exitCode = exitCode;
          o.patch.running = false;
          o.patch.pending = null;
          o.event(c.config.container, 'exec_die', attrs(c, { exitCode: String(exitCode) }));
        }),
      ),
      alreadyRunning: refuse(
        'conflict',
        (c) => `Error: Exec command ${c.config.id} is already running`,
      ),
      alreadyRan: refuse('conflict', (c) => `Error: Exec command ${c.config.id} has already run`),
      notRunningResize: refuse(
        'failed',
        (c) => `process ${c.config.id} of container ${c.config.container} is not running`,
      ),
      markCanRemove: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (_c, _e, o) => {
          o.patch.canRemove = true;
        }),
      ),
    },
    guards: {
      isPending: ({ context, event }) => 'id' in event && event.id === context.pending,
      isResize: ({ context, event }) => 'id' in event && event.id in context.resizing,
      exitedEarly: ({ context }) => context.earlyExit !== null,
      canRemove: ({ context }) => context.canRemove,
    },
  }).createMachine({
    id: 'exec',
    context: ({ input }) => ({
      actorId: input.actorId ?? `exec:${input.config.id}`,
      config: input.config,
      attributes: input.attributes,
      seq: 0,
      pending: null,
      startReq: null,
      detached: false,
      pid: 0,
      running: false,
      exitCode: null,
      earlyExit: null,
      startError: null,
      resizing: {},
      canRemove: false,
      size:
        input.config.consoleSize === null
          ? null
          : { height: input.config.consoleSize[0], width: input.config.consoleSize[1] },
    }),
    initial: 'created',
    // A resize's answer, in whichever state it comes.
    on: onSettled({ guard: 'isResize', actions: 'replyResize' }),
    states: {
      created: {
        entry: 'announceCreate',
        on: {
          'api.execStart': { target: 'starting', actions: 'createProcess' },
          'api.execResize': { actions: 'rememberSize' },
          // dockerd's Cleanup unregisters an exec that never started when its container stops.
          'container.exited': { target: 'removed' },
          'execGc.tick': [{ guard: 'canRemove', target: 'removed' }, { actions: 'markCanRemove' }],
        },
      },
      starting: {
        initial: 'creatingProcess',
        on: {
          'containerd.execExit': { actions: 'rememberEarlyExit' },
          'container.exited': { actions: 'rememberContainerEnd' },
          'api.execStart': { actions: 'alreadyRunning' },
          'api.execResize': { actions: 'rememberSize' },
        },
        states: {
          creatingProcess: {
            on: {
              'effect.done': { guard: 'isPending', target: 'startingProcess' },
              'effect.failed': {
                guard: 'isPending',
                target: '#exec.exited',
                actions: 'failCreate',
              },
            },
          },
          startingProcess: {
            entry: 'startProcess',
            on: {
              'effect.done': [
                {
                  guard: and(['isPending', 'exitedEarly']),
                  target: '#exec.releasing',
                  actions: ['ackStarted', 'recordReportedExit'],
                },
                { guard: 'isPending', target: '#exec.running', actions: 'ackStarted' },
              ],
              'effect.failed': {
                guard: 'isPending',
                target: 'deletingFailed',
                actions: 'deleteFailed',
              },
            },
          },
          deletingFailed: {
            on: onSettled({
              guard: 'isPending',
              target: '#exec.exited',
              actions: 'ackStartFailure',
            }),
          },
        },
      },
      running: {
        on: {
          'containerd.execExit': {
            target: 'releasing',
            actions: ['rememberEarlyExit', 'recordReportedExit'],
          },
          'container.exited': { target: 'exiting', actions: 'rememberContainerEnd' },
          'api.execResize': { actions: 'resize' },
          'api.execStart': { actions: 'alreadyRunning' },
        },
      },
      exiting: {
        entry: 'deleteProcess',
        on: {
          // A resize answered meanwhile goes to the machine-wide `isResize` transition.
          ...onSettled({ guard: 'isPending', target: 'exited', actions: 'recordExit' }),
          'containerd.execExit': { actions: 'rememberEarlyExit' },
          'api.execStart': { actions: 'alreadyRunning' },
          'api.execResize': { actions: 'notRunningResize' },
        },
      },
      // Its exit is recorded (inspect shows it, the client's stream ended): the process is being
      // deleted in containerd. A delete that finds it gone with its task ends this as well.
      releasing: {
        on: {
          ...onSettled({ guard: 'isPending', target: 'exited', actions: 'released' }),
          'api.execStart': { actions: 'alreadyRan' },
          'api.execResize': { actions: 'notRunningResize' },
          'execGc.tick': { actions: 'markCanRemove' },
        },
      },
      exited: {
        on: {
          'api.execStart': { actions: 'alreadyRan' },
          'api.execResize': { actions: 'notRunningResize' },
          'execGc.tick': [{ guard: 'canRemove', target: 'removed' }, { actions: 'markCanRemove' }],
        },
      },
      removed: { type: 'final' },
    },
  }),
);

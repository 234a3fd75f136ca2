import { and, enqueueActions, setup } from 'xstate';
import { noOutlet, onSettled } from '../outlet.ts';
import { apply, type Outputs } from '../exec/outputs.ts';
import { healthTimes } from './config.ts';
import type { HealthContext, HealthEvent, HealthInput, HealthResult } from './types.ts';
import { buildOnce } from '../build-once.ts';

/**
 * A running container's health monitor, as dockerd's (daemon/health.go): every interval a
 * probe runs in the container as an exec (the `containerd.exec*` effects, exec events and
 * all), bounded by the timeout (then TERM, and KILL 10 s later); its result goes to the log
 * (the last 5, output cut at 4 KiB); a success makes it healthy, `retries` failures in a row
 * unhealthy, failures within the start period are not counted while it is starting; a change
 * of status is a `health_status` event. Timers are clock effects. It ends with its container.
 */

type Ctx = HealthContext;

/** Probes keep running this long after TERM before KILL (dockerd's termProcessTimeout). */
const killAfterMs = 10_000;
/** dockerd keeps the last five results (maxLogEntries). */
const maxLog = 5;

/** Where a container's State.Health is kept in the store. */
export function healthKey(container: string): string {
  return `health/${container}`;
}

function command(c: Ctx): string {
  const args = (c.process as { args?: string[] }).args ?? [];
  return `${args[0] ?? ''} ${args.slice(1).join(' ')}`;
}

/** dockerd's handleProbeResult: the log, the streak, the status, the event on a change. */
function record(c: Ctx, o: Outputs<Ctx>, r: HealthResult): void {
  const times = healthTimes(c.config);
  const h = { ...c.health, Log: [...c.health.Log, r].slice(-maxLog) };
  if (r.ExitCode === 0) {
    h.FailingStreak = 0;
    h.Status = 'healthy';
  } else {
    const sinceStart = Date.parse(r.Start) - Date.parse(c.startedAt);
    const inStartPeriod = h.Status === 'starting' && sinceStart < times.startPeriodMs;
    if (!inStartPeriod) {
      h.FailingStreak += 1;
      if (h.FailingStreak >= times.retries) h.Status = 'unhealthy';
    }
  }
  if (h.Status !== c.health.Status)
    o.event(c.container, `health_status: ${h.Status}`, c.attributes);
  o.patch.health = h;
  // dockerd writes State.Health with the container (CheckpointTo) after every probe.
  o.patch.saving = o.ask({ effect: 'store.put', key: healthKey(c.container), value: h }, 'health');
  o.patch.exec = null;
  o.patch.exit = null;
  o.patch.failure = null;
  o.patch.pending = null;
  o.patch.timer = null;
}

export const healthMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as HealthContext,
      events: {} as HealthEvent,
      input: {} as HealthInput,
    },
    actions: {
      emitOutputs: noOutlet,
      wait: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = o.ask(
            { effect: 'clock.sleep', ms: healthTimes(c.config).intervalMs },
            'healthInterval',
          );
        }),
      ),
      createProbe: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          const exec = `${c.execPrefix}-${c.probes + 1}`;
          o.patch.probes = c.probes + 1;
          o.patch.exec = exec;
          o.patch.exit = null;
          o.patch.failure = null;
          o.event(c.container, `exec_create: ${command(c)}`, { ...c.attributes, execID: exec });
          o.event(c.container, `exec_start: ${command(c)}`, { ...c.attributes, execID: exec });
          o.patch.pending = o.ask(
            {
              effect: 'containerd.execCreate',
              container: c.container,
              exec,
              process: c.process,
              stdin: false,
              terminal: false,
              stdio: 'capture',
            },
            'healthProbe',
          );
        }),
      ),
      startProbe: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = o.ask(
            { effect: 'containerd.execStart', container: c.container, exec: c.exec ?? '' },
            'healthProbe',
          );
        }),
      ),
      armTimeout: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          if (e.type === 'effect.done') o.patch.probeStart = (e.result as { at: string }).at;
          o.patch.pending = null;
          o.patch.timer = o.ask(
            { effect: 'clock.sleep', ms: healthTimes(c.config).timeoutMs },
            'healthTimeout',
          );
        }),
      ),
      noteExit: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (_c, e, o) => {
          if (e.type === 'containerd.execExit')
            o.patch.exit = { exitStatus: e.exitStatus, exitedAt: e.exitedAt };
        }),
      ),
      terminate: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.failure = `Health check exceeded timeout (${healthTimes(c.config).timeoutMs / 1000}s)`;
          o.ask(
            {
              effect: 'containerd.execKill',
              container: c.container,
              exec: c.exec ?? '',
              signal: 15,
            },
            'healthTimeout',
          );
          o.patch.timer = o.ask({ effect: 'clock.sleep', ms: killAfterMs }, 'healthTimeout');
        }),
      ),
      kill: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.timer = null;
          o.ask(
            {
              effect: 'containerd.execKill',
              container: c.container,
              exec: c.exec ?? '',
              signal: 9,
            },
            'healthTimeout',
          );
        }),
      ),
      deleteProbe: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          if (e.type === 'effect.failed' && c.failure === null) o.patch.failure = e.error.message;
          o.patch.timer = null;
          o.patch.pending = o.ask(
            { effect: 'containerd.execDelete', container: c.container, exec: c.exec ?? '' },
            'healthProbe',
          );
        }),
      ),
      recordProbe: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          const r =
            e.type === 'effect.done'
              ? (e.result as { exitStatus: number; exitedAt: string; output: string })
              : null;
          const exitedAt = r?.exitedAt ?? c.exit?.exitedAt ?? c.probeStart;
          // containerd's exit time may read a hair before the start the daemon noted after Start returned.
          const end = Date.parse(exitedAt) < Date.parse(c.probeStart) ? c.probeStart : exitedAt;
          const exitCode = r?.exitStatus ?? c.exit?.exitStatus ?? -1;
          if (c.exec !== null)
            o.event(c.container, 'exec_die', {
              ...c.attributes,
              execID: c.exec,
              exitCode: String(exitCode),
            });
          record(c, o, {
            Start: c.probeStart,
            End: end,
            ExitCode: c.failure !== null ? -1 : exitCode,
            Output: c.failure ?? r?.output ?? '',
          });
        }),
      ),
      // The probe could not be made or started: dockerd records its error as the output, exit -1.
      recordFailure: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          const message =
            e.type === 'effect.failed' ? e.error.message : (c.failure ?? 'probe failed');
          record(c, o, { Start: c.probeStart, End: c.probeStart, ExitCode: -1, Output: message });
        }),
      ),
      recordPaused: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) =>
          record(c, o, {
            Start: c.probeStart,
            End: c.probeStart,
            ExitCode: -1,
            Output: `Container ${c.container} is paused, unpause the container before exec`,
          }),
        ),
      ),
      notePaused: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (_c, e, o) => {
          o.patch.paused = e.type === 'container.paused';
        }),
      ),
      saved: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (_c, _e, o) => {
          o.patch.saving = null;
        }),
      ),
      // dockerd's CloseMonitorChannel: a stopped monitor leaves the status unhealthy (for
      // compatibility), streak and log kept, written with the container at its exit.
      closeMonitor: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          const h = { ...c.health, Status: 'unhealthy' as const };
          o.patch.health = h;
          o.patch.saving = null;
          o.patch.pending = o.ask(
            { effect: 'store.put', key: healthKey(c.container), value: h },
            'health',
          );
        }),
      ),
    },
    guards: {
      isPending: ({ context, event }) => 'id' in event && event.id === context.pending,
      isSaving: ({ context, event }) => 'id' in event && event.id === context.saving,
      writing: ({ context }) => context.saving !== null,
      isTimer: ({ context, event }) => 'id' in event && event.id === context.timer,
      paused: ({ context }) => context.paused,
      exited: ({ context }) => context.exit !== null,
      isProbe: ({ context, event }) =>
        event.type === 'containerd.execExit' && event.exec === context.exec,
    },
  }).createMachine({
    id: 'health',
    context: ({ input }) => ({
      ...input,
      actorId: input.actorId ?? `health:${input.container}:0`,
      seq: 0,
      pending: null,
      timer: null,
      // dockerd's initHealthMonitor: starting, no failing streak, the log it had kept.
      health: { Status: 'starting', FailingStreak: 0, Log: input.previous?.Log ?? [] },
      paused: false,
      probes: 0,
      exec: null,
      probeStart: input.startedAt,
      exit: null,
      failure: null,
      saving: null,
    }),
    initial: 'waiting',
    on: {
      'health.stop': '.stopping',
      ...onSettled({ guard: 'isSaving', actions: 'saved' }),
      'container.paused': { actions: 'notePaused' },
      'container.unpaused': { actions: 'notePaused' },
    },
    states: {
      waiting: {
        entry: 'wait',
        on: {
          'effect.done': [
            {
              guard: and(['isPending', 'paused']),
              target: 'waiting',
              reenter: true,
              actions: 'recordPaused',
            },
            { guard: 'isPending', target: 'probing' },
          ],
        },
      },
      probing: {
        initial: 'creating',
        on: { 'containerd.execExit': { guard: 'isProbe', actions: 'noteExit' } },
        states: {
          creating: {
            entry: 'createProbe',
            on: {
              'effect.done': { guard: 'isPending', target: 'starting' },
              'effect.failed': {
                guard: 'isPending',
                target: '#health.waiting',
                actions: 'recordFailure',
              },
            },
          },
          starting: {
            entry: 'startProbe',
            on: {
              'effect.done': [{ guard: 'isPending', target: 'running', actions: 'armTimeout' }],
              'effect.failed': { guard: 'isPending', target: 'deleting', actions: 'deleteProbe' },
            },
          },
          running: {
            always: { guard: 'exited', target: 'deleting', actions: 'deleteProbe' },
            on: {
              'containerd.execExit': {
                guard: 'isProbe',
                target: 'deleting',
                actions: ['noteExit', 'deleteProbe'],
              },
              'effect.done': { guard: 'isTimer', target: 'terminating', actions: 'terminate' },
            },
          },
          terminating: {
            always: { guard: 'exited', target: 'deleting', actions: 'deleteProbe' },
            on: {
              'containerd.execExit': {
                guard: 'isProbe',
                target: 'deleting',
                actions: ['noteExit', 'deleteProbe'],
              },
              'effect.done': { guard: 'isTimer', actions: 'kill' },
            },
          },
          deleting: {
            on: onSettled({
              guard: 'isPending',
              target: '#health.waiting',
              actions: 'recordProbe',
            }),
          },
        },
      },
      // The last probe's write lands first, then the stopped monitor's.
      stopping: {
        initial: 'settling',
        on: { 'health.stop': {} },
        states: {
          settling: {
            always: [{ guard: 'writing', target: 'awaitingProbeWrite' }, { target: 'writing' }],
          },
          awaitingProbeWrite: {
            on: onSettled({ guard: 'isSaving', target: 'writing' }),
          },
          writing: {
            entry: 'closeMonitor',
            on: onSettled({ guard: 'isPending', target: '#health.stopped' }),
          },
        },
      },
      stopped: { type: 'final' },
    },
  }),
);

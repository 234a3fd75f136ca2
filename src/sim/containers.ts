import { freezeUnderTest } from './strict.ts';
import { MemoryTrace, makeHeader } from '../../effects/record.ts';
import { Session } from '../../effects/runner.ts';
import { SimScheduler } from '../../effects/sim/scheduler.ts';
import { parseFaultRule } from '../../effects/sim/faults.ts';
import { SimWorld, type TaskBehaviour } from '../../effects/sim/world.ts';
import type { RestartPolicy } from '../../machines/container/restart.ts';
import type {
  ContainerEvent,
  ContainerInput,
  ContainerRecord,
} from '../../machines/container/types.ts';

/** A container as `docker create` would make it (64 hex digits of id; the name with its slash). */
export function newRecord(
  id: string,
  opts: {
    name?: string;
    restartPolicy?: RestartPolicy;
    autoRemove?: boolean;
    stopTimeout?: number;
    stopSignal?: string;
  } = {},
): ContainerRecord {
  return {
    id,
    name: `/${opts.name ?? `c-${id.slice(0, 6)}`}`,
    image: 'busybox',
    created: '2026-01-01T00:00:00.000Z',
    config: {
      cmd: ['sh'],
      stopSignal: opts.stopSignal ?? 'SIGTERM',
      stopTimeout: opts.stopTimeout ?? 10,
      restartPolicy: opts.restartPolicy ?? { name: 'no', maximumRetryCount: 0 },
      autoRemove: opts.autoRemove ?? false,
      labels: {},
    },
    state: {
      status: 'created',
      pid: 0,
      exitCode: 0,
      error: '',
      startedAt: null,
      finishedAt: null,
      oomKilled: false,
    },
    restartCount: 0,
    hasBeenStartedBefore: false,
    hasBeenManuallyStopped: false,
  };
}

export interface ContainerScenario {
  seed: number;
  record: ContainerRecord;
  behaviour: TaskBehaviour;
  /** API requests at virtual times (ms); each gets a request id `r<n>`. */
  steps: { atMs: number; event: { type: ContainerEvent['type'] } & Record<string, unknown> }[];
  /** The process's command (`/nonexistent` makes the simulated runc fail to start it). */
  args?: string[];
  /** Virtual time after the last step before the final stop (default 120 s). */
  horizonMs?: number;
  /** Fault rules for the world (`store.put#3=ENOSPC`: the third write finds the disk full). */
  faults?: string[];
  /** The registered container machine (a test runs an altered one to prove a guard matters). */
  machine?: string;
}

/**
 * Runs one container actor on the simulated world (fake containerd and store), with the
 * scenario's requests at their times and the process behaving as told; the world's own
 * events (task exits) arrive when they happen.
 */
export function simulateContainer(s: ContainerScenario): {
  trace: MemoryTrace;
  world: SimWorld;
  session: Session;
  actorId: string;
  requests: string[];
} {
  const world = new SimWorld({ seed: s.seed, faults: (s.faults ?? []).map(parseFaultRule) });
  world.containerd.connectedTo = '/sim/containerd.sock';
  world.store.stores.set('/sim/metadata.db', new Map());
  world.store.openStore = '/sim/metadata.db';
  world.behaviours.set(s.record.id, s.behaviour);
  const scheduler = new SimScheduler(
    world,
    (() => {
      let x = s.seed >>> 0;
      return () => (x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x9e3779b9) >>> 0);
    })(),
  );
  const trace = new MemoryTrace(makeHeader('sim', { seed: s.seed, scenario: 'container' }));
  const session = new Session({
    executor: scheduler,
    sink: trace,
    now: () => scheduler.now,
    later: (fn) => scheduler.schedule(scheduler.now, fn),
    freezeContexts: freezeUnderTest(),
  });
  scheduler.deliverExternal = (actorId, event) => session.send(actorId, event);
  const actorId = `container:${s.record.id}`;
  const input: ContainerInput = {
    actorId,
    record: s.record,
    origin: 'create',
    req: 'create',
    spec: { process: { args: s.args ?? ['sh'] } },
    dir: `/sim/containers/${s.record.id}`,
    rootfs: { driver: 'overlay2', layers: ['/sim/layers/busybox'] },
  };
  session.spawn(s.machine ?? 'container', actorId, input);
  const requests = ['create'];
  s.steps.forEach((step, i) => {
    const req = `r${i + 1}`;
    requests.push(req);
    scheduler.at(step.atMs, actorId, { ...step.event, req });
  });
  // The scenario's time is up: the user stops the container (a restart policy would otherwise
  // go on forever, as Docker's does), and everything settles.
  const horizon = Math.max(0, ...s.steps.map((x) => x.atMs)) + (s.horizonMs ?? 120_000);
  scheduler.runUntil(horizon);
  if (
    (session.actors.get(actorId)?.actor.getSnapshot() as { status: string } | undefined)?.status ===
    'active'
  ) {
    requests.push('final-stop');
    scheduler.at(horizon, actorId, { type: 'api.stop', req: 'final-stop', timeoutS: 1 });
  }
  scheduler.runUntilIdle(100_000);
  return { trace, world, session, actorId, requests };
}

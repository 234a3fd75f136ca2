import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryTrace, makeHeader } from '../../effects/record.ts';
import type { EffectCall, EffectEvent } from '../../effects/requests.ts';
import { Session } from '../../effects/runner.ts';
import type { ImagesView } from '../../machines/container/invariants.ts';
import type {
  RestoreCheckInput,
  RestoreCheckOutput,
} from '../../machines/restore-check/machine.ts';

/**
 * The restore check judges the host from what its effects show, on the real host as in the
 * simulator: here, the exec processes of the live tasks (a dead daemon's must not run on).
 * The host's answers are given: a stored running container with its task, and its processes.
 */

const id = 'a'.repeat(64);
const record = {
  id,
  name: '/web',
  image: 'busybox',
  created: '2026-01-01T00:00:00.000Z',
  config: {
    cmd: ['sleep', '1000'],
    stopSignal: 'SIGTERM',
    stopTimeout: 10,
    restartPolicy: { name: 'no', maximumRetryCount: 0 },
    autoRemove: false,
    labels: {},
  },
  state: {
    status: 'running',
    pid: 100,
    exitCode: 0,
    error: '',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: null,
    oomKilled: false,
  },
  restartCount: 0,
  hasBeenStartedBefore: true,
  hasBeenManuallyStopped: false,
};

interface Host {
  execs: { id: string; earlierLife: boolean }[] | 'gone';
  /** A container moves, and settles again, during every look at the store. */
  movesDuringLooks?: boolean;
}

/** An image store with nothing in it, nothing left over. */
const noImages: ImagesView = {
  images: [],
  refs: [],
  layers: [],
  missingLayerDirs: [],
  strayLayerDirs: [],
  tempFiles: [],
  held: [],
};

const allLooks = {
  execs: true,
  images: { root: '/var/lib/statedock', tmpDir: '/var/lib/statedock/tmp' },
};

/**
 * A check spawned against a host that answers as `host` says, each answer (and each event
 * queued with `later`) delivered by `run`, in order.
 */
function spawnCheck(host: Host, judges: Pick<RestoreCheckInput, 'execs' | 'images'>) {
  const calls: EffectCall[] = [];
  const queue: (() => void)[] = [];
  const answer = (call: EffectCall): EffectEvent => {
    const done = (result: unknown): EffectEvent => ({ type: 'effect.done', id: call.id, result });
    switch (call.effect) {
      case 'containerd.listTasks':
        return done({ tasks: [{ id, pid: 100, status: 'running', exitStatus: 0 }] });
      case 'store.list':
        return done({ entries: [{ key: `container/${id}`, value: record }] });
      case 'image.observe':
        return done(noImages);
      case 'containerd.listContainers':
        return done({ containers: [id] });
      case 'rootfs.listMounted':
        return done({ containers: [id] });
      case 'containerd.execList':
        return host.execs === 'gone'
          ? {
              type: 'effect.failed',
              id: call.id,
              error: { code: 'ENOENT', message: `task ${id} not found` },
            }
          : done({ execs: host.execs });
      default:
        throw new Error(`the check asked for ${call.effect}`);
    }
  };
  const sink = new MemoryTrace(makeHeader('sim', {}));
  const session = new Session({
    executor: {
      submit: (_actor, call, deliver) => {
        calls.push(call);
        const tell = (type: 'host.moved' | 'host.settled') => () =>
          session.send('restore-check', { type });
        if (host.movesDuringLooks && call.effect === 'store.list') queue.push(tell('host.moved'));
        queue.push(() => deliver(answer(call), 1));
        if (host.movesDuringLooks && call.effect === 'store.list') queue.push(tell('host.settled'));
      },
    },
    sink,
    now: () => 0,
    later: (fn) => queue.push(fn),
  });
  const entry = session.spawn('restoreCheck', 'restore-check', {
    actorId: 'restore-check',
    containers: [id],
    ...judges,
  });
  const run = (): void => {
    for (let i = 0; queue.length > 0 && i < 1000; i++) queue.shift()?.();
  };
  const snapshot = () =>
    entry.actor.getSnapshot() as { status: string; output?: RestoreCheckOutput };
  return { session, queue, calls, sink, run, snapshot };
}

/**
 * Runs the check against a host that answers as `host` says; its output, every call it made
 * and its tally. `judges` is what the check is told to look at (a trace of an older daemon
 * told it nothing of execs).
 */
function check(
  host: Host,
  judges: Pick<RestoreCheckInput, 'execs' | 'images'> = allLooks,
): { output: RestoreCheckOutput; calls: EffectCall[]; held: number } {
  const { session, queue, calls, sink, run, snapshot } = spawnCheck(host, judges);
  // The container hears its task was found and answers that it is settled.
  queue.push(() =>
    session.send('restore-check', {
      type: 'container.settled',
      container: id,
      status: 'running',
      exitCode: 0,
    }),
  );
  run();
  const snap = snapshot();
  assert.equal(snap.status, 'done', 'the check came to a verdict');
  const tally = sink.records.findLast(
    (r) => r.kind === 'mark' && r.mark.mark === 'invariants.checked',
  );
  const held = tally?.kind === 'mark' ? Number(tally.mark['held']) : -1;
  return { output: snap.output as RestoreCheckOutput, calls, held };
}

test('the check looks at the exec processes of every live task, and at the image store', () => {
  const { output, calls } = check({ execs: [{ id: 'new', earlierLife: false }] });
  assert.deepEqual(output, { violations: [], unchecked: null });
  assert.ok(calls.some((c) => c.effect === 'containerd.execList' && c.container === id));
  assert.ok(calls.some((c) => c.effect === 'image.observe'));
});

test('an exec process a dead daemon left running breaks noOrphanExec', () => {
  const { output } = check({
    execs: [
      { id: 'left', earlierLife: true },
      { id: 'new', earlierLife: false },
    ],
  });
  assert.deepEqual(
    output.violations.map((v) => [v.invariant, v.message]),
    [['noOrphanExec', `exec process left of a dead daemon still runs in ${id}`]],
  );
});

test('a task that ended between the two looks has no processes: the host is still judged', () => {
  const { output } = check({ execs: 'gone' });
  assert.deepEqual(output, { violations: [], unchecked: null });
});

test('a check told nothing of execs (an older trace) neither looks at nor counts them', () => {
  const images = { root: '/var/lib/statedock', tmpDir: '/var/lib/statedock/tmp' };
  const judged = check({ execs: [{ id: 'left', earlierLife: true }] }, { execs: true, images });
  const blind = check({ execs: [{ id: 'left', earlierLife: true }] }, { images });
  assert.deepEqual(
    judged.output.violations.map((v) => v.invariant),
    ['noOrphanExec'],
  );
  assert.deepEqual(blind.output, { violations: [], unchecked: null });
  assert.ok(!blind.calls.some((c) => c.effect === 'containerd.execList'));
  assert.equal(blind.held, judged.held, 'the invariant it did not judge is not counted as held');
});

test('a list of tasks taken while a container moved is not handed: it is taken again once the host is settled', () => {
  // The API answers while the check runs: a `docker kill` ends a task the list still shows
  // running; handed to its container, that list would have it act on a task long gone.
  const { session, queue, calls, run, snapshot, sink } = spawnCheck({ execs: [] }, allLooks);
  session.send('restore-check', { type: 'host.moved' });
  run();
  assert.equal(snapshot().status, 'active', 'the check judged a host that had moved');
  assert.deepEqual(
    calls.map((c) => c.effect),
    ['containerd.listTasks'],
  );
  const handed = (): number =>
    sink.records.filter(
      (r) => r.kind === 'mark' && r.mark.mark === 'message' && r.actor === 'restore-check',
    ).length;
  assert.equal(handed(), 0, 'the stale list was handed');
  session.send('restore-check', { type: 'host.settled' });
  run();
  assert.deepEqual(
    calls.map((c) => c.effect),
    ['containerd.listTasks', 'containerd.listTasks'],
  );
  assert.equal(handed(), 1, 'the second list was not handed');
  // The container handed its task answers that it is settled.
  queue.push(() =>
    session.send('restore-check', {
      type: 'container.settled',
      container: id,
      status: 'running',
      exitCode: 0,
    }),
  );
  run();
  assert.equal(snapshot().status, 'done', 'the check came to a verdict');
  assert.deepEqual(snapshot().output, { violations: [], unchecked: null });
  assert.ok(calls.some((c) => c.effect === 'store.list'));
});

test('a container handed a task that moves: the check looks once the host says all are settled again', () => {
  const { session, calls, run, snapshot } = spawnCheck({ execs: [] }, allLooks);
  run();
  assert.deepEqual(
    calls.map((c) => c.effect),
    ['containerd.listTasks'],
  );
  // The container moves (it stops the task it was handed), and never answers for itself.
  session.send('restore-check', { type: 'host.moved' });
  run();
  assert.equal(snapshot().status, 'active', 'the check looked at a container mid-move');
  session.send('restore-check', { type: 'host.settled' });
  run();
  assert.equal(snapshot().status, 'done', 'the check came to a verdict once settled again');
  assert.deepEqual(snapshot().output, { violations: [], unchecked: null });
});

test('a host that moves during every look is not judged: the verdict says it was not checked', () => {
  // A verdict of a host mid-move would report what a container holds mid-start as leaked.
  const { output, calls } = check({ execs: [], movesDuringLooks: true });
  assert.deepEqual(output, {
    violations: [],
    unchecked: 'a container moved during each of its 5 looks',
  });
  assert.equal(calls.filter((c) => c.effect === 'store.list').length, 5);
});

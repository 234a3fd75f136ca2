import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMachine } from 'xstate';
import { SimWorld } from '../../effects/sim/world.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { execConstraints } from '../../machines/exec/constraints.ts';
import type { ExecContext } from '../../machines/exec/types.ts';
import { execSweepMachine } from '../../machines/exec/sweep.ts';
import { machines, registerMachine } from '../../machines/registry.ts';
import { simConfig } from '../../src/sim/config.ts';
import { crashRun, exploreCrashPoints, type CrashScenario } from '../../src/sim/crash.ts';
import { ClientHistory, SimDaemon, containerIdOf, type TimedOp } from '../../src/sim/daemon.ts';
import { crashScenarios } from '../../src/sim/scenarios.ts';

const forever = { exitAfterMs: null, exitCode: 0, ignoresTerm: false };
const seconds = (n: number): number => n * 1e9;

/** One life of the daemon on a fresh simulated host, the operations run for `ms`. */
function live(ops: TimedOp[], ms: number, seed = 7): SimDaemon {
  const world = new SimWorld({ seed });
  const d = new SimDaemon({ world, config: simConfig(null), seed, history: new ClientHistory() });
  while (d.startup === null && !d.scheduler.idle) d.scheduler.runUntilIdle(1);
  assert.equal(d.startup?.status, 'ready');
  d.schedule(ops);
  d.runFor(ms);
  return d;
}

function actions(records: readonly TraceRecord[], prefix: string): string[] {
  return records.flatMap((r) =>
    r.kind === 'mark' && r.mark.mark === 'event' && String(r.mark['action']).startsWith(prefix)
      ? [
          `${String(r.mark['action'])}${(r.mark['attributes'] as Record<string, string>)['exitCode'] === undefined ? '' : ` ${(r.mark['attributes'] as Record<string, string>)['exitCode']}`}`,
        ]
      : [],
  );
}

test('health: healthy on a success, unhealthy after `retries` failures, a probe past its timeout fails with -1, healthy again', () => {
  const probe = (exitCode: number, latencyMs: number) => ({ exitAfterMs: latencyMs, exitCode });
  const d = live(
    [
      {
        atMs: 0,
        op: {
          op: 'run',
          name: 'api',
          behaviour: forever,
          health: {
            config: {
              Test: ['CMD', 'check'],
              Interval: seconds(1),
              Timeout: seconds(1),
              Retries: 2,
            },
            // The simulator picks each probe's outcome and latency.
            probes: [probe(0, 20), probe(1, 30), probe(0, 5_000), probe(0, 10)],
          },
        },
      },
    ],
    6_500,
  );
  const records = d.trace?.records ?? [];
  assert.deepEqual(actions(records, 'health_status'), [
    'health_status: healthy',
    'health_status: unhealthy',
    'health_status: healthy',
  ]);
  const h = d.health.state(containerIdOf('api'));
  assert.ok(h);
  const timedOut = h.Log.find((l) => l.ExitCode === -1);
  assert.equal(timedOut?.Output, 'Health check exceeded timeout (1s)');
  assert.ok(h.Log.length <= 5);
  // The slow probe was terminated (TERM) and its exec deleted: no probe process is left.
  assert.deepEqual(d.world.containerd.execs.view(d.world.nowMs), []);
  // Probes are execs, with their events, as dockerd's are.
  assert.ok(actions(records, 'exec_create: check').length >= 4);
});

test('health: failures within the start period do not count while it is starting', () => {
  const d = live(
    [
      {
        atMs: 0,
        op: {
          op: 'run',
          name: 'slow',
          behaviour: forever,
          health: {
            config: {
              Test: ['CMD-SHELL', 'check'],
              Interval: seconds(1),
              StartPeriod: seconds(10),
              Retries: 1,
            },
            probes: [{ exitAfterMs: 5, exitCode: 1 }],
          },
        },
      },
    ],
    4_500,
  );
  const h = d.health.state(containerIdOf('slow'));
  assert.equal(h?.Status, 'starting');
  assert.equal(h?.FailingStreak, 0);
  assert.ok((h?.Log.length ?? 0) >= 3);
});

test('health: the monitor stops with its container and a new one starts with it', () => {
  const d = live(
    [
      {
        atMs: 0,
        op: {
          op: 'run',
          name: 'web',
          behaviour: forever,
          health: {
            config: { Test: ['CMD', 'ok'], Interval: seconds(1) },
            probes: [{ exitAfterMs: 5, exitCode: 0 }],
          },
        },
      },
      { atMs: 1_500, op: { op: 'stop', name: 'web', timeoutS: 1 } },
      { atMs: 3_000, op: { op: 'start', name: 'web' } },
    ],
    3_100,
  );
  const monitors = (d.trace?.records ?? []).filter(
    (r) => r.kind === 'actor.start' && r.machine === 'health',
  );
  assert.equal(monitors.length, 2);
  const stopped = (d.trace?.records ?? []).filter(
    (r) => r.kind === 'actor.stop' && r.actor.startsWith('health:'),
  );
  assert.equal(stopped.length, 1);
  assert.equal(d.health.state(containerIdOf('web'))?.Status, 'starting');
});

test("health: State.Health is written after each probe and at the monitor's stop (unhealthy, log kept), read back by the next daemon, gone with its container", () => {
  const world = new SimWorld({ seed: 11 });
  const config = simConfig(null);
  world.dataRoot = config.dataRoot;
  const first = new SimDaemon({ world, config, seed: 11, history: new ClientHistory() });
  while (first.startup === null && !first.scheduler.idle) first.scheduler.runUntilIdle(1);
  const probe = { exitAfterMs: 10, exitCode: 0 };
  first.schedule([
    {
      atMs: 0,
      op: {
        op: 'run',
        name: 'hc',
        behaviour: forever,
        health: {
          config: { Test: ['CMD', 'check'], Interval: seconds(1), Retries: 1 },
          probes: [probe, probe, probe],
        },
      },
    },
    { atMs: 3_500, op: { op: 'stop', name: 'hc', timeoutS: 0 } },
  ]);
  first.runFor(6_000);
  first.runUntilSettled();
  const id = containerIdOf('hc');
  const stored = (): unknown =>
    [...world.store.stores.values()].find((db) => db.has(`health/${id}`))?.get(`health/${id}`);
  const kept = stored() as { Status: string; FailingStreak: number; Log: unknown[] } | undefined;
  // dockerd's CloseMonitorChannel: stopped, the status is unhealthy; the log is as it was.
  assert.equal(kept?.Status, 'unhealthy');
  assert.equal(kept?.Log.length, 3);
  assert.deepEqual(first.health.state(id), kept);
  const puts = (first.trace?.records ?? []).filter(
    (r) =>
      r.kind === 'effect.request' && r.call.effect === 'store.put' && r.call.key === `health/${id}`,
  );
  assert.equal(puts.length, 4, 'one write per probe, one at the stop');

  // The next daemon reads it back: inspect shows it; the container's removal takes it away.
  world.daemonExited();
  const second = new SimDaemon({ world, config, seed: 12, history: new ClientHistory() });
  while (second.startup === null && !second.scheduler.idle) second.scheduler.runUntilIdle(1);
  second.runFor(1);
  second.runUntilSettled();
  assert.deepEqual(second.health.state(id), kept);
  second.schedule([{ atMs: 0, op: { op: 'rm', name: 'hc', force: true } }]);
  second.runFor(1_000);
  second.runUntilSettled();
  assert.equal(stored(), undefined);
  assert.equal(second.health.state(id), null);
});

test('exec: exit codes are recorded, a start runc refuses is 127, processes die with their container (137)', () => {
  const d = live(
    [
      { atMs: 0, op: { op: 'run', name: 'web', behaviour: forever } },
      {
        atMs: 500,
        op: { op: 'exec', name: 'web', exec: 'three', behaviour: { exitAfterMs: 10, exitCode: 3 } },
      },
      {
        atMs: 500,
        op: {
          op: 'exec',
          name: 'web',
          exec: 'sleeper',
          behaviour: { exitAfterMs: null, exitCode: 0 },
        },
      },
      {
        atMs: 500,
        op: {
          op: 'exec',
          name: 'web',
          exec: 'missing',
          behaviour: {
            exitAfterMs: null,
            exitCode: 0,
            startError:
              'OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown',
          },
        },
      },
      { atMs: 1_000, op: { op: 'kill', name: 'web', signal: 'KILL' } },
    ],
    2_000,
  );
  const exits = new Map<string, number | null>();
  for (const [id, e] of d.session.actors)
    if (id.startsWith('exec:')) {
      const c = (e.actor.getSnapshot() as { context: ExecContext }).context;
      exits.set(c.config.id.replace(/-\d+$/, ''), c.exitCode);
    }
  assert.deepEqual(Object.fromEntries(exits), { three: 3, sleeper: 137, missing: 127 });
  assert.deepEqual(actions(d.trace?.records ?? [], 'exec_die').sort(), [
    'exec_die 137',
    'exec_die 3',
  ]);
  assert.deepEqual(d.world.containerd.execs.view(d.world.nowMs), []);
});

test("exec GC: a finished exec is marked on one pass and forgotten on the next, as dockerd's", () => {
  const d = live(
    [
      { atMs: 0, op: { op: 'run', name: 'web', behaviour: forever } },
      {
        atMs: 500,
        op: { op: 'exec', name: 'web', exec: 'done', behaviour: { exitAfterMs: 10, exitCode: 0 } },
      },
      {
        atMs: 500,
        op: {
          op: 'exec',
          name: 'web',
          exec: 'busy',
          behaviour: { exitAfterMs: null, exitCode: 0 },
        },
      },
    ],
    1_000,
  );
  const ids = () => [...d.session.actors.keys()].filter((k) => k.startsWith('exec:')).sort();
  assert.equal(ids().length, 2);
  d.execs.gc();
  assert.equal(ids().length, 2, 'the first pass only marks');
  d.execs.gc();
  d.runFor(1);
  return new Promise<void>((resolve) =>
    queueMicrotask(() => {
      assert.deepEqual(
        ids().map((i) => i.replace(/-\d+$/, '')),
        ['exec:busy'],
      );
      resolve();
    }),
  );
});

test("restore reaps a dead daemon's exec processes; without the sweep they run on (noOrphanExec)", () => {
  const s = crashScenarios.find((x) => x.name === 'exec-live-restore');
  assert.ok(s);
  assert.deepEqual(
    exploreCrashPoints(s, 1).failures.map((f) => f.problems),
    [],
  );
  registerMachine(
    'execSweep-none',
    execSweepMachine().provide({ actions: { list: () => undefined } }),
  );
  const broken = crashRun(s, null, 1, { execSweepMachine: 'execSweep-none' });
  assert.ok(
    broken.problems.some((p) => p.kind === 'noOrphanExec'),
    broken.problems.map((p) => p.message).join('\n'),
  );
});

test('a commit cut by a crash at any point leaves its image whole or absent and nothing of its layer once the image GC ran; without the GC it would', () => {
  const s = crashScenarios.find((x) => x.name === 'commit') as CrashScenario;
  const uncut = crashRun(s, null, 1);
  assert.deepEqual(uncut.problems, []);
  const commitAsked = (effect: string): number =>
    uncut.traces[0].findIndex(
      (r) =>
        r.kind === 'effect.request' && r.actor.startsWith('commit:') && r.call.effect === effect,
    );
  // The commit went the whole way: layer, image, tag.
  for (const effect of ['image.registerLayer', 'image.registerImage', 'image.setReference'])
    assert.ok(commitAsked(effect) > 0, `the commit never asked ${effect}`);
  assert.deepEqual(
    exploreCrashPoints(s, 1).failures.map((f) => f.problems),
    [],
  );
  const original = machines['imageGc'];
  try {
    registerMachine(
      'imageGc',
      createMachine({
        id: 'imageGc',
        initial: 'collected',
        states: { collected: { type: 'final' } },
      }),
    );
    // Cut once the layer is registered and before the image is: a layer no image uses is left.
    // The cut is found in a run without the GC itself: the GC's records, before the commit's,
    // move the commit's record numbers.
    const withoutGc = crashRun(s, null, 1).traces[0];
    const registered = withoutGc.findIndex(
      (r) =>
        r.kind === 'effect.request' &&
        r.actor.startsWith('commit:') &&
        r.call.effect === 'image.registerLayer',
    );
    const at = withoutGc.findIndex(
      (r, n) =>
        n > registered &&
        r.kind === 'event' &&
        r.actor.startsWith('commit:') &&
        r.event.type === 'effect.done',
    );
    assert.ok(registered > 0 && at > 0);
    const noGc = crashRun(s, (withoutGc[at] as TraceRecord).seq + 1, 1);
    assert.ok(
      noGc.problems.some((p) => p.kind === 'noOrphanedPullFiles'),
      JSON.stringify(noGc.problems),
    );
  } finally {
    registerMachine('imageGc', original as never);
  }
});

test("execEventsOrdered holds on an exec's trace (exec_die once containerd reported the exit, before the delete, as dockerd), and fails when exec_die comes before containerd told anything", () => {
  const d = live(
    [
      { atMs: 0, op: { op: 'run', name: 'web', behaviour: forever } },
      {
        atMs: 500,
        op: { op: 'exec', name: 'web', exec: 'quick', behaviour: { exitAfterMs: 10, exitCode: 2 } },
      },
    ],
    1_000,
  );
  const records = d.trace?.records ?? [];
  assert.deepEqual(violationsOf(checkTrace(records, execConstraints)), []);
  const execRecords = records.filter((r) => r.actor.startsWith('exec:'));
  const deletes = new Set(
    execRecords.flatMap((r) =>
      r.kind === 'effect.request' && r.call.effect === 'containerd.execDelete' ? [r.call.id] : [],
    ),
  );
  const seqOf = (p: (r: TraceRecord) => boolean): number => execRecords.find(p)?.seq ?? -1;
  const exitHeard = seqOf((r) => r.kind === 'event' && r.event.type === 'containerd.execExit');
  const die = seqOf((r) => r.kind === 'mark' && r.mark['action'] === 'exec_die');
  const deleted = seqOf(
    (r) =>
      r.kind === 'event' && r.event.type === 'effect.done' && deletes.has(String(r.event['id'])),
  );
  assert.ok(exitHeard > 0 && exitHeard < die && die < deleted, `${exitHeard} ${die} ${deleted}`);
  const dieRecord = execRecords.find((r) => r.seq === die);
  assert.equal(
    dieRecord?.kind === 'mark'
      ? (dieRecord.mark['attributes'] as Record<string, string>)['exitCode']
      : '',
    '2',
  );
  const tampered = records.filter(
    (r) =>
      !(r.kind === 'event' && r.event.type === 'containerd.execExit') &&
      !(r.kind === 'event' && r.event.type === 'effect.done' && deletes.has(String(r.event['id']))),
  );
  assert.match(
    violationsOf(checkTrace(tampered, execConstraints))
      .map((v) => v.message)
      .join('\n'),
    /exec_die before containerd reported the exit or deleted the process/,
  );
});

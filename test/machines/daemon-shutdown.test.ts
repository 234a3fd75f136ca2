import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import type { ShutdownInput, ShutdownOutput } from '../../machines/daemon-shutdown/machine.ts';
import { shutdownTimeoutS } from '../../machines/daemon-shutdown/machine.ts';
import { startupConstraints } from '../../machines/daemon-startup/constraints.ts';
import type { Acquisition } from '../../machines/daemon-startup/types.ts';
import { replayTrace } from '../../effects/replay.ts';
import { scriptedSession, unscripted, type Answer } from '../support/scripted.ts';
import type { EffectCall } from '../../effects/requests.ts';
import type { TraceRecord } from '../../effects/trace.ts';

const acquired: Acquisition[] = [
  {
    resource: 'dir:dataRoot',
    step: 'dataRoot',
    release: [{ effect: 'fs.removeCreated', paths: ['/r'] }],
    rollbackOnly: true,
  },
  {
    resource: 'pidfile',
    step: 'pidfile',
    release: [{ effect: 'fs.removePidfile', path: '/p', pid: 1 }],
  },
  {
    resource: 'layerStore',
    step: 'layerStore',
    release: [{ effect: 'kernel.unmountUnder', path: '/r/overlay2' }],
    keptUnderLiveRestore: true,
  },
  {
    resource: 'containerdClient',
    step: 'containerdClient',
    release: [{ effect: 'containerd.close' }],
  },
  { resource: 'api', step: 'serveApi', release: [{ effect: 'api.close', sockets: ['/s'] }] },
];

function run(
  input: Partial<ShutdownInput>,
  answer: (c: EffectCall) => Answer = () => ({ result: {} }),
  settles: (id: string) => boolean = () => true,
) {
  const { session, world, trace } = scriptedSession(answer);
  const actor = session.spawn('daemonShutdown', 'daemon-shutdown', {
    liveRestore: false,
    shutdownTimeout: 15,
    acquired,
    containers: [],
    ...input,
  });
  // Each container told answers once it is settled (here: at once, unless `settles` says no).
  for (const m of messages(trace.records))
    if (settles(m.to.slice('container:'.length)))
      session.send('daemon-shutdown', {
        type: 'container.settled',
        container: m.to.slice('container:'.length),
        status: 'exited',
        exitCode: 0,
      });
  world.flush();
  return {
    output: (actor.actor.getSnapshot() as { output?: ShutdownOutput }).output,
    world,
    trace,
  };
}

/** The messages the shutdown sent, in order. */
function messages(
  records: readonly TraceRecord[],
): { to: string; event: { type: string; stop?: boolean } }[] {
  return records.flatMap((r) =>
    r.kind === 'mark' && r.mark.mark === 'message'
      ? [{ to: String(r.mark['to']), event: r.mark['event'] as { type: string; stop?: boolean } }]
      : [],
  );
}

test('releases newest first, keeping what only a failed start would roll back', () => {
  const { output, world, trace } = run({});
  assert.deepEqual(
    world.calls.map((c) => c.effect),
    ['api.close', 'containerd.close', 'kernel.unmountUnder', 'fs.removePidfile'],
  );
  assert.deepEqual(
    output?.releases.map((r) => r.resource),
    ['api', 'containerdClient', 'layerStore', 'pidfile'],
  );
  assert.deepEqual(violationsOf(checkTrace(trace.records, startupConstraints)), []);
  replayTrace(trace.records);
});

test('tells every container to stop and waits until each has settled, bounded by the timeout, before any release', () => {
  const { world, trace } = run(
    {
      containers: [
        { id: 'a', stopTimeout: 10, running: true },
        { id: 'b', stopTimeout: 3, running: true },
        { id: 'c', stopTimeout: 10, running: false },
      ],
    },
    () => ({ result: {} }),
    (id) => id !== 'b',
  );
  assert.deepEqual(
    messages(trace.records).map((m) => [m.to, m.event.type, m.event.stop]),
    [
      ['container:a', 'daemon.shutdown', true],
      ['container:b', 'daemon.shutdown', true],
      ['container:c', 'daemon.shutdown', true],
    ],
  );
  // b has not settled: nothing is released until the shutdown timeout (15 s: max(15, 10 + 5)) ends.
  const sleep = world.calls.find((c) => c.effect === 'clock.sleep');
  assert.equal(sleep?.effect === 'clock.sleep' ? sleep.ms : 0, 15_000);
  assert.equal(world.calls.indexOf(sleep as EffectCall), 0);
  assert.ok(
    world.calls.some((c) => c.effect === 'api.close'),
    'the timer fired: releases went on',
  );
  assert.ok(
    trace.records.some((r) => r.kind === 'mark' && r.mark.mark === 'shutdown.forced'),
    'Force shutdown daemon',
  );
  replayTrace(trace.records);
});

test('releases wait for the containers to settle', () => {
  const { world } = run(
    { containers: [{ id: 'a', stopTimeout: 10, running: true }] },
    (c) => (c.effect === 'clock.sleep' ? 'pending' : { result: {} }),
    () => false,
  );
  assert.deepEqual(
    world.calls.map((c) => c.effect),
    ['clock.sleep'],
  );
});

test('under live-restore with running containers: leaves them running (they only settle) and keeps the layer mounts', () => {
  const { output, world, trace } = run({
    liveRestore: true,
    containers: [{ id: 'a', stopTimeout: 10, running: true }],
  });
  assert.deepEqual(
    messages(trace.records).map((m) => [m.to, m.event.stop]),
    [['container:a', false]],
  );
  assert.ok(!world.calls.some((c) => c.effect === 'clock.sleep'));
  assert.ok(!world.calls.some((c) => c.effect === 'kernel.unmountUnder'));
  assert.deepEqual(output?.leftRunning, ['a']);
  assert.ok(
    trace.records.some(
      (r) =>
        r.kind === 'mark' &&
        r.mark.mark === 'release.skipped' &&
        r.mark['resource'] === 'layerStore',
    ),
  );
  assert.deepEqual(violationsOf(checkTrace(trace.records, startupConstraints)), []);
});

test('a release that fails is recorded and the others still run', () => {
  const { output } = run({}, (c) =>
    c.effect === 'containerd.close'
      ? { error: 'EIO' }
      : c.effect.startsWith('api.') || c.effect.startsWith('fs.') || c.effect.startsWith('kernel.')
        ? { result: {} }
        : unscripted(c),
  );
  assert.deepEqual(
    output?.releases.map((r) => [r.resource, r.ok]),
    [
      ['api', true],
      ['containerdClient', false],
      ['layerStore', true],
      ['pidfile', true],
    ],
  );
});

test('the shutdown timeout is dockerd’s: max(configured, stop timeouts + 5), forever if any is negative', () => {
  assert.equal(shutdownTimeoutS(15, []), 15);
  assert.equal(shutdownTimeoutS(15, [{ stopTimeout: 30 }]), 35);
  assert.equal(shutdownTimeoutS(15, [{ stopTimeout: -1 }]), -1);
});

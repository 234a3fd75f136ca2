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
) {
  const { session, world, trace } = scriptedSession(answer);
  const actor = session.spawn('daemonShutdown', 'daemon-shutdown', {
    liveRestore: false,
    shutdownTimeout: 15,
    acquired,
    running: [],
    ...input,
  });
  world.flush();
  return {
    output: (actor.actor.getSnapshot() as { output?: ShutdownOutput }).output,
    world,
    trace,
  };
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

test('stops running containers in parallel with their stop signal and timeout before any release', () => {
  const { world } = run({
    running: [
      { id: 'a', stopSignal: 'SIGTERM', stopTimeout: 10 },
      { id: 'b', stopSignal: 'SIGINT', stopTimeout: 3 },
    ],
  });
  const effects = world.calls.map((c) => c.effect);
  assert.deepEqual(effects.slice(0, 3), ['api.stopContainer', 'api.stopContainer', 'clock.sleep']);
  assert.deepEqual(
    world.calls
      .slice(0, 2)
      .map((c) => [
        (c as { container: string }).container,
        (c as { signal: string }).signal,
        (c as { timeoutS: number }).timeoutS,
      ]),
    [
      ['a', 'SIGTERM', 10],
      ['b', 'SIGINT', 3],
    ],
  );
  assert.equal((world.calls[2] as { ms: number }).ms, 15_000);
  assert.equal(effects.indexOf('api.close') > 2, true);
});

test('under live-restore with running containers: leaves them running and keeps the layer mounts', () => {
  const { output, world, trace } = run({
    liveRestore: true,
    running: [{ id: 'a', stopSignal: 'SIGTERM', stopTimeout: 10 }],
  });
  assert.ok(!world.calls.some((c) => c.effect === 'api.stopContainer'));
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

test('a container that outlives the shutdown timeout: "Force shutdown daemon", releases go on', () => {
  const { output, world } = run(
    { running: [{ id: 'stuck', stopSignal: 'SIGTERM', stopTimeout: 2 }] },
    (c) => (c.effect === 'api.stopContainer' ? 'pending' : { result: {} }),
  );
  assert.equal(output?.forced, true);
  assert.ok(world.calls.some((c) => c.effect === 'fs.removePidfile'));
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
  assert.equal(shutdownTimeoutS(15, [{ id: 'a', stopSignal: 'SIGTERM', stopTimeout: 30 }]), 35);
  assert.equal(shutdownTimeoutS(15, [{ id: 'a', stopSignal: 'SIGTERM', stopTimeout: -1 }]), -1);
});

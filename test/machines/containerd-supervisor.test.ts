import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replayTrace } from '../../effects/replay.ts';
import type { EffectCall } from '../../effects/requests.ts';
import { scriptedSession, type Answer } from '../support/scripted.ts';

const input = {
  execRoot: '/run/sd',
  dataRoot: '/var/lib/sd',
  binary: 'containerd',
  readyTimeoutMs: 15_000,
};

test('starts containerd, waits until it answers, and restarts it with growing back-off when it dies', () => {
  let pid = 100;
  let exits = 0;
  const { session, world, trace } = scriptedSession((c: EffectCall): Answer => {
    switch (c.effect) {
      case 'containerd.spawn':
        return { result: { pid: ++pid, address: '/run/sd/containerd/containerd.sock' } };
      case 'containerd.waitReady':
        return { result: {} };
      case 'containerd.waitExit':
        return exits++ < 3 ? { result: { code: null, signal: 'SIGKILL' } } : 'pending';
      case 'clock.sleep':
      case 'containerd.terminate':
        return { result: {} };
      default:
        throw new Error(`unscripted ${c.effect}`);
    }
  });
  const a = session.spawn('containerdSupervisor', 'containerd-supervisor', input);
  world.flush();
  const snap = a.actor.getSnapshot() as {
    value: string;
    context: { pid: number; restarts: number };
  };
  assert.equal(snap.value, 'running');
  assert.equal(snap.context.pid, 104);
  assert.equal(snap.context.restarts, 3);
  assert.deepEqual(
    world.calls.filter((c) => c.effect === 'clock.sleep').map((c) => (c as { ms: number }).ms),
    [100, 200, 400],
  );
  session.send('containerd-supervisor', { type: 'supervisor.stop' });
  world.flush();
  assert.ok(world.calls.some((c) => c.effect === 'containerd.terminate'));
  replayTrace(trace.records);
});

test('a first start that never answers stops what it spawned and fails', () => {
  const { session, world } = scriptedSession((c: EffectCall): Answer => {
    if (c.effect === 'containerd.spawn') return { result: { pid: 7, address: '/s' } };
    if (c.effect === 'containerd.waitReady')
      return { error: 'ETIMEDOUT', message: 'timeout waiting for containerd to start' };
    if (c.effect === 'containerd.terminate') return { result: { signal: 'SIGKILL' } };
    throw new Error(`unscripted ${c.effect}`);
  });
  const a = session.spawn('containerdSupervisor', 'containerd-supervisor', input);
  world.flush();
  const snap = a.actor.getSnapshot() as {
    value: string;
    context: { lastError: { message: string } };
  };
  assert.equal(snap.value, 'failed');
  assert.match(snap.context.lastError.message, /timeout waiting for containerd to start/);
  assert.deepEqual(
    world.calls.map((c) => c.effect),
    ['containerd.spawn', 'containerd.waitReady', 'containerd.terminate'],
  );
});

test('a missing binary fails at once', () => {
  const { session, world } = scriptedSession((c: EffectCall): Answer =>
    c.effect === 'containerd.spawn'
      ? { error: 'ENOENT', message: 'exec: "containerd": executable file not found in $PATH' }
      : { result: {} },
  );
  const a = session.spawn('containerdSupervisor', 'containerd-supervisor', input);
  world.flush();
  assert.equal((a.actor.getSnapshot() as { value: string }).value, 'failed');
});

import { Session } from '../../effects/runner.ts';
import type { EffectCall } from '../../effects/requests.ts';
import type { HostView, InvariantViolation } from '../../machines/container/invariants.ts';
import { newRecord } from '../../src/sim/containers.ts';

/**
 * Violations the real crash campaign finds whose fix belongs in the container machine
 * (machines/container/machine.ts), which is being changed elsewhere. Each is excused only
 * while a pure probe of the machine shows it still has the issue: once the machine is fixed,
 * the probe says so and the campaign counts the same findings as violations again.
 */
export interface KnownIssue {
  id: string;
  /** What is wrong and what the machine should do instead. */
  summary: string;
  /** True while the container machine still behaves as described (asked of the machine itself). */
  present: () => Promise<boolean>;
  /** Whether a violation in this view is this issue. */
  matches: (v: InvariantViolation, view: HostView) => boolean;
}

/**
 * Restores one container actor on an executor that answers every effect at once with a
 * plausible success, and returns the effects it asked for (up to `limit`).
 */
async function restoredEffects(input: Record<string, unknown>, limit = 20): Promise<EffectCall[]> {
  const calls: EffectCall[] = [];
  const results: Partial<Record<EffectCall['effect'], unknown>> = {
    'containerd.deleteTask': { exitStatus: 137, exitedAt: '2026-01-01T00:00:01.000Z' },
    'containerd.createTask': { pid: 42 },
    'containerd.startTask': { pid: 42, at: '2026-01-01T00:00:00.500Z' },
  };
  let session!: Session;
  session = new Session({
    now: () => 0,
    executor: {
      submit: (_actor, call, deliver) => {
        calls.push(call);
        if (calls.length > limit || call.effect === 'clock.sleep') return;
        queueMicrotask(() => deliver({ type: 'effect.done', id: call.id, result: results[call.effect] ?? {} }, 0));
      },
    },
  });
  const id = 'c'.repeat(64);
  session.spawn('container', `container:${id}`, { actorId: `container:${id}`, record: newRecord(id), origin: 'restore', spec: {}, stdout: '/x', stderr: '/x', ...input });
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  return calls;
}

const createdWithTask: KnownIssue = {
  id: 'restored-created-with-task',
  summary:
    'a container whose start the daemon died in (task made in containerd, record still created and never started) is ' +
    'restored through `creating` (isNew wins in `deciding`): its task is left created/running/stopped and its rootfs mounted. ' +
    'The machine should, when restoring a never-started container with task !== "none", kill (if alive) and delete that task ' +
    '(an unacknowledged start rolled back: the reply comes only after persistRunning) before settling in idle, without re-emitting create',
  present: async () => {
    for (const task of ['stopped', 'running'] as const) {
      const calls = await restoredEffects({ task, liveRestore: false });
      if (!calls.some((c) => c.effect === 'containerd.deleteTask' || c.effect === 'containerd.killTask')) return true;
    }
    return false;
  },
  matches: (v, view) =>
    (v.invariant === 'stoppedHasNoLiveTask' || v.invariant === 'noOrphanMount') &&
    view.containers.some((c) => c.id === v.container && c.status === 'created') &&
    view.tasks.some((t) => t.id === v.container),
};

export const knownMachineIssues: readonly KnownIssue[] = [createdWithTask];

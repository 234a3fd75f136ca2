import type { Session } from '../../effects/runner.ts';
import type { EffectError } from '../../effects/errors.ts';

/**
 * `containerd.startSupervised` and `containerd.stopSupervised` for the real daemon: the
 * supervisor is a machine of its own (machines/containerd-supervisor), run as the actor
 * `containerd-supervisor` in the daemon's session, so its restarts are traced and
 * replayable too. Starting resolves when it first answers; stopping when it is gone.
 */
export class SupervisedContainerd {
  private readonly session: Session;
  private readonly actorId = 'containerd-supervisor';
  private readonly readyTimeoutMs: number;

  constructor(session: Session, readyTimeoutMs = 15_000) {
    this.session = session;
    this.readyTimeoutMs = readyTimeoutMs;
  }

  async start(req: {
    execRoot: string;
    dataRoot: string;
    binary: string;
  }): Promise<{ pid: number; address: string }> {
    const entry = this.session.spawn('containerdSupervisor', this.actorId, {
      actorId: this.actorId,
      execRoot: req.execRoot,
      dataRoot: req.dataRoot,
      binary: req.binary,
      readyTimeoutMs: this.readyTimeoutMs,
    });
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const snap = entry.actor.getSnapshot() as {
          value: string;
          context: { pid: number | null; address: string | null; lastError: EffectError | null };
        };
        if (snap.value === 'running') {
          sub.unsubscribe();
          resolve({ pid: snap.context.pid ?? 0, address: snap.context.address ?? '' });
          return true;
        }
        if (snap.value === 'failed' || snap.value === 'stopped') {
          sub.unsubscribe();
          const e = snap.context.lastError;
          reject(
            Object.assign(new Error(e?.message ?? 'containerd did not start'), {
              code: e?.code ?? 'EIO',
            }),
          );
          return true;
        }
        return false;
      };
      const sub = entry.actor.subscribe(() => void check());
      check();
    });
  }

  async stop(): Promise<{ signal: 'SIGTERM' | 'SIGKILL' | 'none' }> {
    const entry = this.session.actors.get(this.actorId);
    if (!entry) return { signal: 'none' };
    const snap = entry.actor.getSnapshot() as { status: string };
    if (snap.status !== 'done') this.session.send(this.actorId, { type: 'supervisor.stop' });
    await entry.done;
    return { signal: 'SIGTERM' };
  }
}

import type { EffectError } from './errors.ts';
import type { EffectCall, EffectEvent } from './requests.ts';
import type { Executor } from './runner.ts';

/** Runs one effect for real (or under a test's scheduler); rejects with an EffectError-shaped error. */
export type EffectFunction = (call: EffectCall) => Promise<unknown>;

/** Anything thrown by a handler becomes a typed error event; handlers map errno themselves. */
function asEffectError(err: unknown): EffectError {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : 'EIO';
  return {
    code: code as EffectError['code'],
    message: typeof e.message === 'string' ? e.message : String(err),
  };
}

/**
 * The executor of programs with real effects (the daemon) and of tests that explore
 * interleavings with fast-check's scheduler: each call runs as a promise and its outcome
 * is sent back to the machine when it settles, in whatever order they settle.
 */
export class AsyncExecutor implements Executor {
  inFlight = 0;
  private readonly run: EffectFunction;
  private readonly now: () => number;
  private idleWaiters: (() => void)[] = [];

  constructor(run: EffectFunction, now: () => number = () => performance.now()) {
    this.run = run;
    this.now = now;
  }

  submit(
    _actorId: string,
    call: EffectCall,
    deliver: (event: EffectEvent, durationMs: number) => void,
  ): void {
    const started = this.now();
    this.inFlight += 1;
    let p: Promise<unknown>;
    try {
      p = this.run(call);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (result) =>
        this.settle(() =>
          deliver({ type: 'effect.done', id: call.id, result: result ?? {} }, this.now() - started),
        ),
      (err: unknown) =>
        this.settle(() =>
          deliver(
            { type: 'effect.failed', id: call.id, error: asEffectError(err) },
            this.now() - started,
          ),
        ),
    );
  }

  private settle(deliver: () => void): void {
    this.inFlight -= 1;
    try {
      deliver();
    } finally {
      if (this.inFlight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** Resolves when no effect is in flight. */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

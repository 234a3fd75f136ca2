import { MemoryTrace, makeHeader } from '../../effects/record.ts';
import type { EffectCall } from '../../effects/requests.ts';
import { Session, type Executor } from '../../effects/runner.ts';
import type { EffectErrorCode } from '../../effects/errors.ts';

/** An answer for one effect call: a result, an error, or "not yet" (left pending). */
export type Answer = { result: unknown } | { error: EffectErrorCode; message?: string } | 'pending';

/**
 * A test double of the effect world: answers only what the test scripts, and fails loudly
 * for anything else. Calls are answered in order when `flush()` runs; every snapshot is
 * JSON round-tripped on the way (what a machine keeps must be plain data).
 */
export class Scripted implements Executor {
  readonly calls: EffectCall[] = [];
  private queue: { call: EffectCall; deliver: (e: never, d: number) => void }[] = [];
  private readonly answer: (call: EffectCall) => Answer;
  readonly pending: EffectCall[] = [];

  constructor(answer: (call: EffectCall) => Answer) {
    this.answer = answer;
  }

  submit(_actor: string, call: EffectCall, deliver: (e: never, d: number) => void): void {
    this.calls.push(call);
    this.queue.push({ call, deliver });
  }

  flush(limit = 10_000): void {
    let n = 0;
    while (this.queue.length > 0 && n++ < limit) {
      const { call, deliver } = this.queue.shift() as {
        call: EffectCall;
        deliver: (e: never, d: number) => void;
      };
      const a = this.answer(call);
      if (a === 'pending') {
        this.pending.push(call);
        continue;
      }
      if ('result' in a)
        deliver({ type: 'effect.done', id: call.id, result: a.result } as never, 1);
      else
        deliver(
          {
            type: 'effect.failed',
            id: call.id,
            error: { code: a.error, message: a.message ?? `${call.effect}: ${a.error}` },
          } as never,
          1,
        );
    }
  }
}

export function scriptedSession(answer: (call: EffectCall) => Answer): {
  session: Session;
  world: Scripted;
  trace: MemoryTrace;
} {
  const world = new Scripted(answer);
  const trace = new MemoryTrace(makeHeader('test', {}));
  const session = new Session({ executor: world, sink: trace, now: () => 0 });
  return { session, world, trace };
}

export function unscripted(call: EffectCall): never {
  throw new Error(`test double: no answer scripted for ${call.effect} (${JSON.stringify(call)})`);
}

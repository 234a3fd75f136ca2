import type { EffectError } from '../../effects/errors.ts';
import type { EffectName, RequestOf, ResultOf } from '../../effects/requests.ts';
import type { Op, OpOutcome, Scope } from './steps.ts';

/** The building blocks of the start-up step table's ops. */

type Body<E extends EffectName> = Omit<RequestOf<E>, 'effect'>;

export function effect<E extends EffectName>(
  name: E,
  ask: (s: Scope) => Body<E> | null,
  handlers: {
    done?: (s: Scope, result: ResultOf<E>) => OpOutcome | undefined;
    failed?: (s: Scope, error: EffectError) => OpOutcome | undefined;
  } = {},
): Op {
  const op: Op = {
    kind: 'effect',
    effect: name,
    ask: ask,
  };
  if (handlers.done) op.done = handlers.done;
  if (handlers.failed) op.failed = handlers.failed;
  return op;
}

export function compute(run: (s: Scope) => OpOutcome | undefined): Op {
  return { kind: 'compute', run };
}

/** Waits, when `when` holds, until step `step` is done. */
export function awaitStep(step: string, when: (s: Scope) => boolean): Op {
  return { kind: 'await', step, when };
}

/** Waits until step `until` is done, unless a step awaits this one first. */
export function deferUntil(until: string): Op {
  return { kind: 'defer', until };
}

/** mkdir -p whose release removes exactly the directories this run created (only if empty). */
export function mkdir(
  label: string,
  ask: (s: Scope) => { path: string; mode: number; uid?: number; gid?: number } | null,
  failWith?: (s: Scope, e: EffectError) => string,
): Op {
  return effect('fs.mkdirAll', ask, {
    done: (s, r) =>
      r.created.length === 0
        ? undefined
        : {
            acquire: [
              {
                resource: `dir:${label}`,
                release: [{ effect: 'fs.removeCreated', paths: r.created }],
                rollbackOnly: true,
              },
            ],
          },
    ...(failWith ? { failed: (s: Scope, e: EffectError) => ({ fail: failWith(s, e) }) } : {}),
  });
}

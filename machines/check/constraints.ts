/**
 * Ordering constraints as data. Each machine folder exports its list; `checkTrace`
 * evaluates any list on any trace (simulated, replayed, or the daemon's flight recorder).
 */
export type Constraint =
  /** Step `first` finished before step `then` started, whenever `then` started. */
  | { kind: 'before'; first: string; then: string; why: string }
  /** Every request of one of the `effects`, by any actor, comes after step `step` finished. */
  | { kind: 'effectsAfter'; step: string; effects: readonly string[]; why: string }
  /** Every container's reply to a request of one of the `requests` types comes after step `step` finished. */
  | { kind: 'repliesAfter'; step: string; requests: readonly string[]; why: string }
  /**
   * Step `step` asks for no effect before step `until` finished, unless another step waited
   * for it first (a `step.waits` mark on it: the step was needed sooner).
   */
  | { kind: 'deferredUntil'; step: string; until: string; why: string }
  /** Every actor of one of the `machines` started after step `step` finished. */
  | { kind: 'startsAfter'; step: string; machines: readonly string[]; why: string }
  /** Releases happen in reverse order of acquisition. */
  | { kind: 'releasedNewestFirst' }
  /** No resource is released (or attempted) twice. */
  | { kind: 'releasedOnce' }
  /** After a failed start-up, every acquired resource has been released (or its release failed and was recorded). */
  | { kind: 'everyAcquiredReleasedOnFailure' }
  /** After the first failure no step starts. */
  | { kind: 'nothingAcquiredAfterFailure' }
  /** After a normal shutdown, every acquired resource was released, or kept on purpose (live-restore); a started daemon's data (rollback-only acquisitions) stays. */
  | { kind: 'everyAcquiredReleasedAtShutdown' }
  /** A container's Docker events: `create` first, nothing after `destroy`, a `die` between two `start`s. */
  | { kind: 'containerEventsOrdered' }
  /** A container request is acknowledged only after the transition it made is in the store (kill changes nothing and is exempt). */
  | { kind: 'persistedBeforeReply' }
  /**
   * An exec's events (exec and health actors): exec_create before exec_start, exec_die at most
   * once and only after containerd reported the process's exit (its /tasks/exit, whose status
   * is the recorded one, as dockerd records it before deleting the process), or deleted it, or
   * the delete found it gone with its task (the container's exit deleted every process in it).
   */
  | { kind: 'execEventsOrdered' }
  /** After restore, the host kept every invariant of machines/container/invariants.ts (no `invariant.violated` mark). */
  | { kind: 'restoreInvariantsHeld' }
  /**
   * Every `then` mark of an actor comes after a `first` mark of the same actor whose `key`
   * equals the `then` mark's `key` (each element, when that is a list): e.g. no layer
   * registered before its blob was verified.
   */
  | {
      kind: 'markedBefore';
      first: string;
      then: string;
      key: string;
      thenKey?: string;
      why: string;
    }
  /** A namespace, veth or bridge is made only after its record is written (machines/network). */
  | { kind: 'recordedBeforeMade' }
  /** An endpoint's port rules are added before its veth exists and removed only after it is gone. */
  | { kind: 'endpointRulesAroundLink' }
  /** A network's bridge and rules are removed only when none of its endpoints remains. */
  | { kind: 'networkRemovedWhenEmpty' }
  /** A container's sandbox is released before its record is deleted (`store.del container/<id>`). */
  | { kind: 'endpointReleasedBeforeForget' }
  /**
   * Within each actor that asks for `first`: every `then` it asks for comes after its latest
   * `first` succeeded (e.g. a shareable /dev/shm mounted before the task that binds it).
   */
  | { kind: 'effectDoneBefore'; first: string; then: string; why: string }
  /**
   * Within each actor: no `then` is asked for from a success of `opens` until an answer of one
   * of `closes` (any answer, or with `failed`, its failure only).
   */
  | {
      kind: 'effectNotWhileOpen';
      then: string;
      opens: string;
      closes: { effect: string; failed?: boolean }[];
      why: string;
    };

export function before(first: string, then: string, why: string): Constraint {
  return { kind: 'before', first, then, why };
}
export const releasedNewestFirst = (): Constraint => ({ kind: 'releasedNewestFirst' });
export const releasedOnce = (): Constraint => ({ kind: 'releasedOnce' });
export const everyAcquiredReleasedOnFailure = (): Constraint => ({
  kind: 'everyAcquiredReleasedOnFailure',
});
export const nothingAcquiredAfterFailure = (): Constraint => ({
  kind: 'nothingAcquiredAfterFailure',
});
export const everyAcquiredReleasedAtShutdown = (): Constraint => ({
  kind: 'everyAcquiredReleasedAtShutdown',
});

export function effectsAfter(step: string, effects: readonly string[], why: string): Constraint {
  return { kind: 'effectsAfter', step, effects, why };
}
export function repliesAfter(step: string, requests: readonly string[], why: string): Constraint {
  return { kind: 'repliesAfter', step, requests, why };
}
export function deferredUntil(step: string, until: string, why: string): Constraint {
  return { kind: 'deferredUntil', step, until, why };
}
export function startsAfter(step: string, machines: readonly string[], why: string): Constraint {
  return { kind: 'startsAfter', step, machines, why };
}

export function constraintName(c: Constraint): string {
  switch (c.kind) {
    case 'markedBefore':
      return `markedBefore(${c.first}, ${c.then})`;
    case 'before':
      return `before(${c.first}, ${c.then})`;
    case 'effectsAfter':
    case 'repliesAfter':
      return `${c.kind}(${c.step})`;
    case 'deferredUntil':
      return `deferredUntil(${c.step}, ${c.until})`;
    case 'startsAfter':
      return `startsAfter(${c.step}, ${c.machines.join(' ')})`;
    case 'effectDoneBefore':
      return `effectDoneBefore(${c.first}, ${c.then})`;
    case 'effectNotWhileOpen':
      return `effectNotWhileOpen(${c.then}, ${c.opens})`;
    default:
      return c.kind;
  }
}

/** `first` marks (by `key`) come before the `then` marks that name them (by `thenKey`, default `key`). */
export function markedBefore(
  first: string,
  then: string,
  key: string,
  why: string,
  thenKey?: string,
): Constraint {
  return { kind: 'markedBefore', first, then, key, why, ...(thenKey ? { thenKey } : {}) };
}
export const containerEventsOrdered = (): Constraint => ({ kind: 'containerEventsOrdered' });
export const persistedBeforeReply = (): Constraint => ({ kind: 'persistedBeforeReply' });
export const restoreInvariantsHeld = (): Constraint => ({ kind: 'restoreInvariantsHeld' });
export const recordedBeforeMade = (): Constraint => ({ kind: 'recordedBeforeMade' });
export const endpointRulesAroundLink = (): Constraint => ({ kind: 'endpointRulesAroundLink' });
export const networkRemovedWhenEmpty = (): Constraint => ({ kind: 'networkRemovedWhenEmpty' });
export const endpointReleasedBeforeForget = (): Constraint => ({
  kind: 'endpointReleasedBeforeForget',
});
export const execEventsOrdered = (): Constraint => ({ kind: 'execEventsOrdered' });
export function effectDoneBefore(first: string, then: string, why: string): Constraint {
  return { kind: 'effectDoneBefore', first, then, why };
}
export function effectNotWhileOpen(
  then: string,
  opens: string,
  closes: { effect: string; failed?: boolean }[],
  why: string,
): Constraint {
  return { kind: 'effectNotWhileOpen', then, opens, closes, why };
}

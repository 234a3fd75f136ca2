import type { EffectError } from '../errors.ts';
import type { EffectCall, EffectEvent, EffectOutcome } from '../requests.ts';
import type { Executor } from '../runner.ts';

/** What the scheduler needs of a simulated world: an outcome and a latency, at once. */
export interface SimEffects {
  run(call: EffectCall, nowMs: number): { outcome: EffectOutcome; latencyMs: number };
  /** Events the world itself raises (a task exiting), each at a virtual time, for an actor. */
  takeEvents?(): {
    atMs: number;
    actorId: string;
    event: { type: string } & Record<string, unknown>;
  }[];
}

/*
 * The records below are classes, not object literals, on purpose: V8 may decide to allocate a
 * literal's objects straight in the old generation ("pretenuring") when many of them survive a
 * collection, and then everything they point to survives the young-generation collections
 * too. The simulator makes thousands of short-lived ones a second; class instances are
 * never pretenured.
 */

/** An effect's result on its way to the actor. */
class DoneEvent {
  readonly type = 'effect.done';
  readonly id: string;
  readonly result: unknown;
  constructor(id: string, result: unknown) {
    this.id = id;
    this.result = result;
  }
}

/** An effect's failure on its way to the actor. */
class FailedEvent {
  readonly type = 'effect.failed';
  readonly id: string;
  readonly error: EffectError;
  constructor(id: string, error: EffectError) {
    this.id = id;
    this.error = error;
  }
}

/** An event due at a virtual time. */
class Pending {
  readonly at: number;
  readonly priority: number;
  readonly order: number;
  readonly latency: number;
  readonly event: EffectEvent;
  readonly deliver: (event: EffectEvent, durationMs: number) => void;
  constructor(
    at: number,
    priority: number,
    order: number,
    latency: number,
    event: EffectEvent,
    deliver: (event: EffectEvent, durationMs: number) => void,
  ) {
    this.at = at;
    this.priority = priority;
    this.order = order;
    this.latency = latency;
    this.event = event;
    this.deliver = deliver;
  }
}

/**
 * A discrete-event scheduler in virtual time: every effect completes at now + its latency;
 * outcomes are delivered earliest first, and effects completing at the same instant in an
 * order given by seeded priorities (PCT-style), so a seed names one interleaving. No
 * Promises, no timers: a simulated minute of back-off costs microseconds.
 */
export class SimScheduler implements Executor {
  now = 0;
  delivered = 0;
  private pending: Pending[] = [];
  private order = 0;
  private readonly world: SimEffects;
  private readonly priority: () => number;

  /** Where the world's own events go (the session's send); without it they are dropped. */
  deliverExternal:
    ((actorId: string, event: { type: string } & Record<string, unknown>) => void) | null = null;

  /** Set by `halt()`: the process died; nothing more is delivered. */
  halted = false;
  /** Called after each delivery (the simulated daemon answers waits on its actors here). */
  afterDeliver: (() => void) | null = null;

  constructor(world: SimEffects, priority: () => number = () => 0, startMs = 0) {
    this.world = world;
    this.priority = priority;
    this.now = startMs;
  }

  /** The power is cut: what is pending is never delivered. */
  halt(): void {
    this.halted = true;
    this.pending = [];
  }

  /** Runs `fn` at a virtual time, in the same order as effect outcomes (a client's request, a timer of the host). */
  schedule(atMs: number, fn: () => void): void {
    this.pending.push(
      new Pending(atMs, this.priority(), this.order++, 0, null as never, () => fn()),
    );
  }

  /** Schedules an event for an actor at a virtual time (scenario steps, the world's own events). */
  at(atMs: number, actorId: string, event: { type: string } & Record<string, unknown>): void {
    this.pending.push(
      new Pending(atMs, this.priority(), this.order++, 0, event as never, () =>
        this.deliverExternal?.(actorId, event),
      ),
    );
  }

  private collect(): void {
    if (!this.world.takeEvents) return;
    for (const e of this.world.takeEvents()) this.at(e.atMs, e.actorId, e.event);
  }

  submit(
    _actorId: string,
    call: EffectCall,
    deliver: (event: EffectEvent, durationMs: number) => void,
  ): void {
    if (this.halted) return;
    const { outcome, latencyMs } = this.world.run(call, this.now);
    const event = (
      outcome.ok ? new DoneEvent(call.id, outcome.value) : new FailedEvent(call.id, outcome.error)
    ) as EffectEvent;
    this.pending.push(
      new Pending(this.now + latencyMs, this.priority(), this.order++, latencyMs, event, deliver),
    );
    this.collect();
  }

  /** Delivers outcomes until nothing is pending (or `maxEvents` were delivered). Returns how many. */
  runUntilIdle(maxEvents = 1_000_000): number {
    let n = 0;
    while (this.pending.length > 0 && n < maxEvents && !this.halted) {
      let best = 0;
      for (let i = 1; i < this.pending.length; i++) {
        const a = this.pending[i] as Pending;
        const b = this.pending[best] as Pending;
        if (
          a.at < b.at ||
          (a.at === b.at &&
            (a.priority > b.priority || (a.priority === b.priority && a.order < b.order)))
        )
          best = i;
      }
      const next = this.pending[best] as Pending;
      this.pending[best] = this.pending[this.pending.length - 1] as Pending;
      this.pending.pop();
      this.now = next.at;
      n += 1;
      this.delivered += 1;
      next.deliver(next.event, next.latency);
      this.afterDeliver?.();
    }
    return n;
  }

  /** Delivers what is due up to `timeMs` (virtual), then stops with the rest still pending. */
  runUntil(timeMs: number, maxEvents = 1_000_000): number {
    let n = 0;
    while (this.pending.length > 0 && n < maxEvents && !this.halted) {
      let earliest = Number.POSITIVE_INFINITY;
      for (const p of this.pending) earliest = Math.min(earliest, p.at);
      if (earliest > timeMs) break;
      n += this.runUntilIdle(1);
    }
    return n;
  }

  /** When the earliest pending delivery is due (infinity when nothing is pending). */
  nextAt(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const p of this.pending) if (p.at < earliest) earliest = p.at;
    return earliest;
  }

  get idle(): boolean {
    return this.pending.length === 0;
  }
}

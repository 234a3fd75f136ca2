import type { EffectError, EffectErrorCode } from '../errors.ts';
import type { EffectCall, EffectEvent, EffectOutcome } from '../requests.ts';
import type { Executor } from '../runner.ts';

/** How long a call takes, and whether the fault plan fails it: judged when the call is asked. */
export interface Judgement {
  latencyMs: number;
  fail: EffectErrorCode | null;
}

/**
 * What the scheduler needs of a simulated world: a call is judged when it is asked (its
 * latency, an injected fault) and completes, changing the world, when its latency is up.
 */
export interface SimEffects {
  judge(call: EffectCall): Judgement;
  complete(call: EffectCall, judgement: Judgement, nowMs: number): EffectOutcome;
  /** The process died with this call still being carried out by the host (due at `atMs`). */
  orphan?(call: EffectCall, atMs: number): void;
  /** Events the world itself raises (a task exiting), each at a virtual time, for an actor. */
  takeEvents?(): {
    atMs: number;
    actorId: string;
    event: { type: string } & Record<string, unknown>;
    due?: () => boolean;
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
  readonly type = 'effect.done' as const;
  readonly id: string;
  readonly result: unknown;
  constructor(id: string, result: unknown) {
    this.id = id;
    this.result = result;
  }
}

/** An effect's failure on its way to the actor. */
class FailedEvent {
  readonly type = 'effect.failed' as const;
  readonly id: string;
  readonly error: EffectError;
  constructor(id: string, error: EffectError) {
    this.id = id;
    this.error = error;
  }
}

/** Something due at a virtual time: an effect's completion (with `call`), or a scheduled function. */
class Pending {
  readonly at: number;
  readonly priority: number;
  readonly order: number;
  readonly latency: number;
  /** The effect that completes now, with where its outcome goes (null: `run` is due). */
  readonly call: EffectCall | null;
  readonly judgement: Judgement | null;
  readonly deliver: ((event: EffectEvent, durationMs: number) => void) | null;
  readonly run: (() => void) | null;
  constructor(
    at: number,
    priority: number,
    order: number,
    latency: number,
    effect: {
      call: EffectCall;
      judgement: Judgement;
      deliver: (event: EffectEvent, durationMs: number) => void;
    } | null,
    run: (() => void) | null,
  ) {
    this.at = at;
    this.priority = priority;
    this.order = order;
    this.latency = latency;
    this.call = effect?.call ?? null;
    this.judgement = effect?.judgement ?? null;
    this.deliver = effect?.deliver ?? null;
    this.run = run;
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

  /**
   * The process died: nothing pending is delivered. The effects it was waiting for are the
   * host's to finish or not (the world's `orphan`).
   */
  halt(): void {
    this.halted = true;
    for (const p of this.pending) if (p.call !== null) this.world.orphan?.(p.call, p.at);
    this.pending = [];
  }

  /** Runs `fn` at a virtual time, in the same order as effect outcomes (a client's request, a timer of the host). */
  schedule(atMs: number, fn: () => void): void {
    this.pending.push(new Pending(atMs, this.priority(), this.order++, 0, null, fn));
  }

  /** Schedules an event for an actor at a virtual time (scenario steps, the world's own events). */
  at(atMs: number, actorId: string, event: { type: string } & Record<string, unknown>): void {
    this.pending.push(
      new Pending(atMs, this.priority(), this.order++, 0, null, () =>
        this.deliverExternal?.(actorId, event),
      ),
    );
  }

  /** Takes the events the world raised (task exits) into the schedule. */
  collect(): void {
    if (!this.world.takeEvents) return;
    for (const e of this.world.takeEvents()) {
      const due = e.due;
      if (due === undefined) this.at(e.atMs, e.actorId, e.event);
      else
        this.schedule(e.atMs, () => {
          if (due()) this.deliverExternal?.(e.actorId, e.event);
        });
    }
  }

  submit(
    _actorId: string,
    call: EffectCall,
    deliver: (event: EffectEvent, durationMs: number) => void,
  ): void {
    if (this.halted) return;
    const judgement = this.world.judge(call);
    const latencyMs = judgement.latencyMs;
    this.pending.push(
      new Pending(
        this.now + latencyMs,
        this.priority(),
        this.order++,
        latencyMs,
        { call, judgement, deliver },
        null,
      ),
    );
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
      if (next.call !== null && next.judgement !== null && next.deliver !== null) {
        const outcome = this.world.complete(next.call, next.judgement, next.at);
        this.collect();
        next.deliver(
          outcome.ok
            ? new DoneEvent(next.call.id, outcome.value)
            : new FailedEvent(next.call.id, outcome.error),
          next.latency,
        );
      } else next.run?.();
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

import { freeze } from 'immer';
import { createActor, type AnyActor, type AnyStateMachine } from 'xstate';
import type { Message, OutputParams } from '../machines/outlet.ts';
import { machines } from '../machines/registry.ts';
import type { EffectCall, EffectEvent } from './requests.ts';
import type { RecordBody } from './trace.ts';

/**
 * Runs machines: gives them their way out (`emitOutputs`: effect requests, marks and messages
 * to other actors), hands each effect call to an executor (the simulated world, the real
 * handlers, or a test's scheduler), sends results back as events, delivers messages after the
 * sender's step, and reports every event, transition, effect request and mark to a sink (the
 * trace recorder) — the same way in every program.
 */

export type Mark = { mark: string } & Record<string, unknown>;

/** Where records go; `record.ts` writes them to a file or keeps them in memory. */
export interface TraceSink {
  write(record: RecordBody & { seq?: number }): void;
}

/** Carries out effect calls and delivers their outcome (possibly much later) to `deliver`. */
export interface Executor {
  submit(
    actorId: string,
    call: EffectCall,
    deliver: (event: EffectEvent, durationMs: number) => void,
  ): void;
}

interface Binding {
  session: Session;
  actorId: string;
  /** Sends an effect's outcome back to the actor (one function per actor, not one per call). */
  deliver: (event: EffectEvent, durationMs: number) => void;
}

/**
 * Where an actor's outputs go, kept on the actor under a private symbol. (A WeakMap from actor
 * to binding made V8's young-generation collector keep recent actors alive — the binding
 * points back at its actor through the session — so every scavenge copied finished runs.)
 */
const binding = Symbol('statedock.binding');
const runnableMachines = new WeakMap<AnyStateMachine, AnyStateMachine>();

function bindingOf(self: unknown): Binding {
  const b = (self as { [binding]?: Binding })[binding];
  if (!b) throw new Error('no effect runner: run this machine through effects/runner');
  return b;
}

/** The machine with its outlet wired to whichever session runs the actor. Built once per machine. */
export function runnable(machine: AnyStateMachine): AnyStateMachine {
  let m = runnableMachines.get(machine);
  if (!m) {
    m = machine.provide({
      actions: {
        emitOutputs: ({ self }: { self: unknown }, params: OutputParams) => {
          const b = bindingOf(self);
          for (const o of params.outputs) {
            if ('call' in o) b.session.onCall(b.actorId, o.call, b.deliver);
            else if ('mark' in o) b.session.onMark(b.actorId, o.mark);
            else b.session.onMessage(b.actorId, o.send.to, o.send.event);
          }
        },
      } as never,
    });
    runnableMachines.set(machine, m);
  }
  return m;
}

export interface ActorEntry {
  id: string;
  machine: string;
  actor: AnyActor;
  lastValue: string;
  /** Resolves with the actor's output (rejects with its error). */
  readonly done: Promise<unknown>;
}

/**
 * An actor's entry. Its `done` promise is made only when someone asks: a settled promise
 * queues a microtask that holds the output, and the simulator runs thousands of actors in
 * one synchronous loop, so eager promises kept every run's output alive until the loop ended.
 */
class Entry implements ActorEntry {
  readonly id: string;
  readonly machine: string;
  readonly actor: AnyActor;
  lastValue = 'null';
  /** Dropped from the session's table: nothing is delivered to it any more. */
  forgotten = false;
  readonly forgetWhenDone: boolean;
  private outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | null = null;
  private promise: Promise<unknown> | null = null;
  private resolve: ((v: unknown) => void) | null = null;
  private reject: ((e: unknown) => void) | null = null;

  constructor(id: string, machine: string, actor: AnyActor, forgetWhenDone: boolean) {
    this.id = id;
    this.machine = machine;
    this.actor = actor;
    this.forgetWhenDone = forgetWhenDone;
  }

  get done(): Promise<unknown> {
    if (this.promise === null) {
      const o = this.outcome;
      this.promise =
        o === null
          ? new Promise<unknown>((res, rej) => {
              this.resolve = res;
              this.reject = rej;
            })
          : o.ok
            ? Promise.resolve(o.value)
            : Promise.reject(o.error);
      this.promise.catch(() => undefined);
    }
    return this.promise;
  }

  settle(outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void {
    if (this.outcome !== null) return;
    this.outcome = outcome;
    if (outcome.ok) this.resolve?.(outcome.value);
    else this.reject?.(outcome.error);
    this.resolve = null;
    this.reject = null;
  }
}

export interface SessionOptions {
  executor: Executor;
  sink?: TraceSink;
  /** Milliseconds since the session started (virtual in the simulator). */
  now: () => number;
  /**
   * Runs a function after the current step (a microtask in the daemon, the scheduler's next
   * turn in the simulator): messages between actors go this way. Without it (replay) they
   * are recorded and not delivered: the trace holds the receivers' events.
   */
  later?: (fn: () => void) => void;
  /**
   * Deep-freezes every actor's context after each step, so a later in-place change throws
   * where it happens (the container machine's contexts come out of immer frozen anyway).
   * The daemon and the tests turn it on; it halves the simulator's speed, so the simulator
   * and replay run without it otherwise.
   */
  freezeContexts?: boolean;
}

/** How many forgotten actors' IDs a session keeps (see `Session.forgotten`). */
const forgottenKept = 4096;

export class Session {
  readonly actors = new Map<string, Entry>();
  private readonly executor: Executor;
  private readonly sink: TraceSink | undefined;
  readonly now: () => number;
  private readonly later: ((fn: () => void) => void) | undefined;
  private readonly freezeContexts: boolean;
  private listeners: ((actorId: string, record: RecordBody) => void)[] = [];

  constructor(opts: SessionOptions) {
    this.executor = opts.executor;
    this.sink = opts.sink;
    this.now = opts.now;
    this.later = opts.later;
    this.freezeContexts = opts.freezeContexts ?? false;
  }

  /** Observe records as they happen (the daemon's event stream and inspector feed). */
  onRecord(listener: (actorId: string, record: RecordBody) => void): void {
    this.listeners.push(listener);
  }

  /** Whether anyone takes records (the benchmark runs without: no record objects are built). */
  private get recording(): boolean {
    return this.sink !== undefined || this.listeners.length > 0;
  }

  private emit(record: RecordBody): void {
    this.sink?.write(record);
    for (const l of this.listeners) l(record.actor, record);
  }

  /**
   * Starts an actor of a registered machine under a stable id. Resolves `done` with its output.
   * With `forgetWhenDone`, the table drops the actor as soon as it is done (after its
   * `actor.stop` record): actors a daemon makes per request (a container, a network operation,
   * a pull) would otherwise stay in memory for the daemon's whole life.
   */
  spawn(
    machineName: string,
    actorId: string,
    input: unknown,
    opts: { forgetWhenDone?: boolean } = {},
  ): ActorEntry {
    const machine = machines[machineName];
    if (!machine) throw new Error(`no machine named ${machineName}`);
    if (this.actors.has(actorId)) throw new Error(`actor ${actorId} already exists`);
    this.forgotten.delete(actorId);
    const actor = createActor(runnable(machine), { input });
    const entry = new Entry(actorId, machineName, actor, opts.forgetWhenDone ?? false);
    // An effect's result for an actor that was forgotten meanwhile (a timer, a process watch)
    // finds nobody listening; the entry knows, however long ago that was.
    const deliver = (event: EffectEvent, durationMs: number): void => {
      if (!entry.forgotten) this.send(actorId, event, durationMs);
    };
    (actor as unknown as { [binding]: Binding })[binding] = { session: this, actorId, deliver };
    this.actors.set(actorId, entry);
    this.emit({
      t: this.now(),
      actor: actorId,
      kind: 'actor.start',
      machine: machineName,
      input,
    });
    actor.subscribe({
      error: (err) => entry.settle({ ok: false, error: err }),
    });
    actor.start();
    this.afterStep(entry);
    return entry;
  }

  /** Drops a finished actor from the table (its records stay in the trace): the exec GC forgets execs. */
  forget(actorId: string): void {
    const e = this.actors.get(actorId);
    if (e && (e.actor.getSnapshot() as { status: string }).status !== 'active') {
      e.forgotten = true;
      this.actors.delete(actorId);
      this.forgotten.add(actorId);
      // Only recent ones are kept by ID (effect results find theirs through the entry).
      if (this.forgotten.size > forgottenKept) {
        const oldest = this.forgotten.values().next();
        if (oldest.done !== true) this.forgotten.delete(oldest.value);
      }
    }
  }

  /**
   * The most recently forgotten actors' IDs (in the order they were forgotten): a message sent
   * by ID to one that ended a moment ago finds nobody listening instead of failing.
   */
  private readonly forgotten = new Set<string>();

  /** Sends an event to an actor, recording it first. */
  send(
    actorId: string,
    event: { type: string } & Record<string, unknown>,
    durationMs?: number,
  ): void {
    const entry = this.actors.get(actorId);
    if (!entry && this.forgotten.has(actorId)) return;
    if (!entry) throw new Error(`no actor ${actorId}`);
    // A long-running effect (a process watch) may settle after its actor ended: nothing listens.
    if ((entry.actor.getSnapshot() as { status: string }).status !== 'active') return;
    if (this.recording)
      this.emit({
        t: this.now(),
        actor: actorId,
        kind: 'event',
        event,
        ...(durationMs === undefined ? {} : { durationMs }),
      });
    entry.actor.send(event);
    const snap = entry.actor.getSnapshot() as { status: string; error?: unknown };
    if (snap.status === 'error') throw snap.error;
    this.afterStep(entry);
  }

  private afterStep(entry: Entry): void {
    const snap = entry.actor.getSnapshot() as {
      value: unknown;
      status: string;
      output?: unknown;
      context?: unknown;
    };
    // What a step made is never changed in place afterwards: traces and the store hold it.
    if (this.freezeContexts) freeze(snap.context, true);
    const value = typeof snap.value === 'string' ? snap.value : JSON.stringify(snap.value);
    if (value !== entry.lastValue) {
      const from: unknown =
        entry.lastValue === 'null'
          ? null
          : entry.lastValue.startsWith('{')
            ? JSON.parse(entry.lastValue)
            : entry.lastValue;
      if (this.recording)
        this.emit({
          t: this.now(),
          actor: entry.id,
          kind: 'transition',
          from,
          to: snap.value,
        });
      entry.lastValue = value;
    }
    if (snap.status === 'done') {
      this.emit({
        t: this.now(),
        actor: entry.id,
        kind: 'actor.stop',
        status: String(snap.value),
        output: snap.output,
      });
      entry.settle({ ok: true, value: snap.output });
      if (entry.forgetWhenDone) this.forget(entry.id);
    }
  }

  /** An effect request a machine emitted: recorded, then handed to the executor. */
  onCall(
    actorId: string,
    call: EffectCall,
    deliver?: (event: EffectEvent, durationMs: number) => void,
  ): void {
    if (this.recording) this.emit({ t: this.now(), actor: actorId, kind: 'effect.request', call });
    this.executor.submit(
      actorId,
      call,
      deliver ?? ((event, durationMs) => this.send(actorId, event, durationMs)),
    );
  }

  /** A mark a machine emitted. */
  onMark(actorId: string, mark: Mark): void {
    if (this.recording) this.emit({ t: this.now(), actor: actorId, kind: 'mark', mark });
  }

  /**
   * A message a machine sent another actor: recorded as the sender's `message` mark, and
   * delivered after this step (as an event of the receiver, recorded there) if the receiver
   * is still active.
   */
  onMessage(from: string, to: string, event: Message): void {
    this.onMark(from, { mark: 'message', to, event });
    const later = this.later;
    if (later === undefined) return;
    later(() => {
      const entry = this.actors.get(to);
      if (entry && (entry.actor.getSnapshot() as { status: string }).status === 'active')
        this.send(to, event);
    });
  }
}

import { Session, type Executor, type TraceSink } from './runner.ts';
import { sameJson } from './json-equal.ts';
import { isOutputRecord, type RecordBody, type TraceRecord } from './trace.ts';

/**
 * Replays a trace: recreates each actor from its recorded input, sends it the recorded
 * events (effect results included) in the recorded order, and checks that the machine
 * asks for exactly the recorded effects, marks and transitions. The first difference
 * fails loudly, naming the record — a workflow engine's replay check.
 */
export class ReplayDivergence extends Error {
  override name = 'ReplayDivergence';
  readonly seq: number;
  readonly actor: string;
  constructor(message: string, seq: number, actor: string) {
    super(message);
    this.seq = seq;
    this.actor = actor;
  }
}

export interface ReplayReport {
  actors: number;
  records: number;
  events: number;
  /**
   * With `allowCut`: the trace ends in the middle of an actor's step (the process died
   * there, as after a SIGKILL or a simulated power cut): what the machine went on to produce
   * that the trace never got. Null when the trace ends between steps.
   */
  cut: { actor: string; seq: number; missing: string[] } | null;
}

export interface ReplayOptions {
  /** Accept a trace that ends mid-step: the last event's actor may produce more than was recorded. */
  allowCut?: boolean;
}

type Produced = RecordBody;

function describe(r: Produced | undefined): string {
  if (r === undefined) return 'nothing more';
  switch (r.kind) {
    case 'effect.request': {
      const c = r.call as unknown as Record<string, unknown>;
      const arg = ['path', 'key', 'name', 'address', 'prefix', 'container']
        .map((k) => c[k])
        .find((v) => typeof v === 'string');
      return `${String(c['effect'])}${arg === undefined ? '' : ` ${String(arg)}`}${r.call.step ? ` (step ${r.call.step})` : ''}`;
    }
    case 'mark':
      return `mark ${r.mark.mark}${'step' in r.mark ? ` ${String(r.mark['step'])}` : 'resource' in r.mark ? ` ${String(r.mark['resource'])}` : ''}`;
    case 'transition':
      return `a transition to ${JSON.stringify(r.to)}`;
    case 'actor.stop':
      return `the end of the actor (${r.status})`;
    default:
      return r.kind;
  }
}

function payload(r: Produced): unknown {
  switch (r.kind) {
    case 'effect.request':
      return r.call;
    case 'mark':
      return r.mark;
    case 'transition':
      return [r.from, r.to];
    case 'actor.stop':
      return [r.status, r.output];
    default:
      return null;
  }
}

export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}

function same(a: Produced, b: Produced): boolean {
  if (a.kind !== b.kind) return false;
  const pa = payload(a);
  const pb = payload(b);
  if (sameJson(pa, pb)) return true;
  const sa = JSON.stringify(pa);
  if (sa === JSON.stringify(pb)) return true;
  return canonical(pa) === canonical(pb);
}

const nowhere: Executor = { submit: () => undefined };

export function replayTrace(
  records: readonly TraceRecord[],
  opts: ReplayOptions = {},
): ReplayReport {
  const produced = new Map<string, Produced[]>();
  const sink: TraceSink = {
    write: (r) => {
      if (r.kind === 'event' || r.kind === 'actor.start') return;
      let q = produced.get(r.actor);
      if (!q) produced.set(r.actor, (q = []));
      q.push(r);
    },
  };
  let clock = 0;
  const session = new Session({ executor: nowhere, sink, now: () => clock });
  const stateOf = (actor: string): string => {
    const e = session.actors.get(actor);
    return e ? JSON.stringify((e.actor.getSnapshot() as { value: unknown }).value) : 'not started';
  };
  let events = 0;
  const expectDrained = (actor: string, seq: number): void => {
    const q = produced.get(actor);
    if (q && q.length > 0) {
      throw new ReplayDivergence(
        `trace record ${seq} (${actor}): the trace has no more output here, the machine now also produces ${describe(q[0])} in state ${stateOf(actor)}; re-record the trace or revert the machine change`,
        seq,
        actor,
      );
    }
  };
  for (const rec of records) {
    clock = rec.t;
    if (rec.kind === 'actor.start') {
      try {
        session.spawn(rec.machine, rec.actor, rec.input);
      } catch (cause) {
        throw new ReplayDivergence(
          `trace record ${rec.seq} (${rec.actor}): cannot start machine ${rec.machine}: ${(cause as Error).message}`,
          rec.seq,
          rec.actor,
        );
      }
      continue;
    }
    if (rec.kind === 'event') {
      expectDrained(rec.actor, rec.seq);
      events += 1;
      try {
        session.send(rec.actor, rec.event, rec.durationMs);
      } catch (cause) {
        throw new ReplayDivergence(
          `trace record ${rec.seq} (${rec.actor}): the machine failed on ${rec.event.type}: ${(cause as Error).message}`,
          rec.seq,
          rec.actor,
        );
      }
      continue;
    }
    if (!isOutputRecord(rec)) continue;
    const q = produced.get(rec.actor);
    const actual = q?.shift();
    if (actual === undefined || !same(rec, actual)) {
      throw new ReplayDivergence(
        `trace record ${rec.seq} (${rec.actor}): recorded ${describe(rec)}, the machine now ${actual === undefined ? 'produces nothing' : `asks ${describe(actual)}`} in state ${stateOf(rec.actor)}; re-record the trace or revert the machine change`,
        rec.seq,
        rec.actor,
      );
    }
  }
  const lastSeq = records.length === 0 ? 0 : (records[records.length - 1] as TraceRecord).seq;
  const left = [...produced].filter(([, q]) => q.length > 0);
  // A cut trace: only the actor of the last input record has more to say, and nothing of any
  // other actor was recorded after that input (the process died while it took it).
  const lastInput = [...records]
    .reverse()
    .find((r) => r.kind === 'event' || r.kind === 'actor.start');
  const cutHere =
    opts.allowCut === true &&
    left.length === 1 &&
    lastInput !== undefined &&
    left[0]?.[0] === lastInput.actor &&
    records.every((r) => r.seq <= lastInput.seq || r.actor === lastInput.actor);
  if (cutHere) {
    const [actor, q] = left[0] as [string, Produced[]];
    return {
      actors: session.actors.size,
      records: records.length,
      events,
      cut: { actor, seq: lastSeq, missing: q.map(describe) },
    };
  }
  for (const [actor, q] of left) if (q.length > 0) expectDrained(actor, lastSeq);
  return { actors: session.actors.size, records: records.length, events, cut: null };
}

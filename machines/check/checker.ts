import type { TraceRecord } from '../../effects/trace.ts';
import { constraintName, type Constraint } from './constraints.ts';

/** A broken constraint, with the trace records that show it (the inspector links to them). */
export interface Violation {
  constraint: string;
  message: string;
  records: number[];
}

export interface ConstraintResult {
  constraint: string;
  ok: boolean;
  violations: Violation[];
}

/** The facts the constraints are about, indexed once per trace. */
interface Index {
  stepStart: Map<string, number[]>;
  stepDone: Map<string, number>;
  acquired: { resource: string; seq: number; rollbackOnly: boolean }[];
  releases: { resource: string; seq: number; kind: 'released' | 'failed' | 'skipped' }[];
  startupFailed: number | null;
  shutdownStopped: number | null;
  startupSteps: Set<string>;
}

function index(records: readonly TraceRecord[]): Index {
  const ix: Index = {
    stepStart: new Map(),
    stepDone: new Map(),
    acquired: [],
    releases: [],
    startupFailed: null,
    shutdownStopped: null,
    startupSteps: new Set(),
  };
  for (const r of records) {
    if (r.kind === 'actor.stop' && r.actor.startsWith('daemon-shutdown'))
      ix.shutdownStopped = r.seq;
    if (r.kind !== 'mark') continue;
    const mark = r.mark;
    const step = typeof mark['step'] === 'string' ? mark['step'] : '';
    const resource = typeof mark['resource'] === 'string' ? mark['resource'] : '';
    switch (mark.mark) {
      case 'step.start': {
        const list = ix.stepStart.get(step) ?? [];
        list.push(r.seq);
        ix.stepStart.set(step, list);
        ix.startupSteps.add(step);
        break;
      }
      case 'step.done':
        if (!ix.stepDone.has(step)) ix.stepDone.set(step, r.seq);
        break;
      case 'resource.acquired':
        ix.acquired.push({ resource, seq: r.seq, rollbackOnly: mark['rollbackOnly'] === true });
        break;
      case 'resource.released':
        ix.releases.push({ resource, seq: r.seq, kind: 'released' });
        break;
      case 'release.failed':
        ix.releases.push({ resource, seq: r.seq, kind: 'failed' });
        break;
      case 'release.skipped':
        ix.releases.push({ resource, seq: r.seq, kind: 'skipped' });
        break;
      case 'startup.failed':
        if (ix.startupFailed === null) ix.startupFailed = r.seq;
        break;
      default:
        break;
    }
  }
  return ix;
}

/** Per container actor: its Docker events, requests, store writes and replies, in trace order. */
function containerFacts(records: readonly TraceRecord[]) {
  const byActor = new Map<
    string,
    {
      events: { action: string; seq: number }[];
      requests: Map<string, { type: string; seq: number }>;
      storeDone: number[];
      storeCalls: Set<string>;
      replies: { req: string; result: string; seq: number }[];
    }
  >();
  const get = (a: string) => {
    let f = byActor.get(a);
    if (!f)
      byActor.set(
        a,
        (f = {
          events: [],
          requests: new Map(),
          storeDone: [],
          storeCalls: new Set(),
          replies: [],
        }),
      );
    return f;
  };
  for (const r of records) {
    if (!r.actor.startsWith('container:')) continue;
    const f = get(r.actor);
    if (r.kind === 'mark' && r.mark.mark === 'event')
      f.events.push({ action: String(r.mark['action']), seq: r.seq });
    if (r.kind === 'mark' && r.mark.mark === 'reply')
      f.replies.push({ req: String(r.mark['req']), result: String(r.mark['result']), seq: r.seq });
    if (
      r.kind === 'effect.request' &&
      (r.call.effect === 'store.put' || r.call.effect === 'store.del')
    )
      f.storeCalls.add(r.call.id);
    if (
      r.kind === 'event' &&
      r.event.type === 'effect.done' &&
      f.storeCalls.has(String(r.event['id']))
    )
      f.storeDone.push(r.seq);
    if (r.kind === 'event' && r.event.type.startsWith('api.') && typeof r.event['req'] === 'string')
      f.requests.set(r.event['req'], { type: r.event.type, seq: r.seq });
    if (r.kind === 'actor.start' && typeof (r.input as { req?: unknown }).req === 'string')
      f.requests.set((r.input as { req: string }).req, { type: 'api.create', seq: r.seq });
  }
  return byActor;
}

/** One effect request and when it was asked and (if it was) done. */
interface CallFact {
  seq: number;
  actor: string;
  call: Record<string, unknown> & { effect: string; id: string };
  done: number | null;
}

/** The network effects (and store deletions) of a trace, in order, with their completions. */
function netCalls(records: readonly TraceRecord[]): CallFact[] {
  const out: CallFact[] = [];
  const byId = new Map<string, CallFact>();
  for (const r of records) {
    if (r.kind === 'effect.request') {
      const call = r.call as unknown as CallFact['call'];
      if (!call.effect.startsWith('net.') && call.effect !== 'store.del') continue;
      const f: CallFact = { seq: r.seq, actor: r.actor, call, done: null };
      out.push(f);
      byId.set(call.id, f);
    } else if (r.kind === 'event' && r.event.type === 'effect.done') {
      const f = byId.get(String(r.event['id']));
      if (f) f.done = r.seq;
    }
  }
  return out;
}

const strs = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

function evaluateNet(c: Constraint, calls: readonly CallFact[]): Violation[] {
  const name = constraintName(c);
  const out: Violation[] = [];
  const of = (effect: string): CallFact[] => calls.filter((f) => f.call.effect === effect);
  switch (c.kind) {
    case 'recordedBeforeMade': {
      const made: [string, string, 'sandbox' | 'endpoint' | 'network'][] = [
        ['net.createNetns', 'sandbox', 'sandbox'],
        ['net.createEndpoint', 'endpoint', 'endpoint'],
        ['net.createBridge', 'network', 'network'],
      ];
      for (const [effect, field, kind] of made)
        for (const m of of(effect)) {
          if (!m.actor.startsWith('net:')) continue;
          const id = String(m.call[field]);
          const put = calls.find(
            (p) =>
              p.call.effect === 'net.dbPut' &&
              p.done !== null &&
              p.done < m.seq &&
              (p.call['records'] as { kind: string; record: { id: string } }[]).some(
                (x) => x.kind === kind && x.record.id === id,
              ),
          );
          if (!put)
            out.push({
              constraint: name,
              message: `${effect} of ${kind} ${id.slice(0, 12)} (record ${m.seq}) came before its record was written`,
              records: [m.seq],
            });
        }
      return out;
    }
    case 'endpointRulesAroundLink': {
      for (const add of of('net.addRules')) {
        const e = add.call['endpoint'];
        if (typeof e !== 'string') continue;
        const link = of('net.createEndpoint').find(
          (x) => x.call['endpoint'] === e && x.seq < add.seq,
        );
        if (link)
          out.push({
            constraint: name,
            message: `the port rules of endpoint ${e.slice(0, 12)} (record ${add.seq}) came after its veth (record ${link.seq})`,
            records: [link.seq, add.seq],
          });
      }
      for (const del of of('net.deleteRules')) {
        const e = del.call['endpoint'];
        if (typeof e !== 'string') continue;
        const made = of('net.createEndpoint').find(
          (x) => x.call['endpoint'] === e && x.done !== null && x.done < del.seq,
        );
        if (!made) continue;
        const gone = of('net.deleteLinks').some(
          (x) => strs(x.call['endpoints']).includes(e) && x.done !== null && x.done < del.seq,
        );
        if (!gone)
          out.push({
            constraint: name,
            message: `the port rules of endpoint ${e.slice(0, 12)} were removed (record ${del.seq}) while its veth (made at record ${made.done}) was still there`,
            records: [made.done as number, del.seq],
          });
      }
      return out;
    }
    case 'networkRemovedWhenEmpty': {
      const removals = calls.filter(
        (f) =>
          (f.call.effect === 'net.deleteLinks' || f.call.effect === 'net.deleteRules') &&
          typeof f.call['network'] === 'string' &&
          f.actor.startsWith('net:'),
      );
      for (const r of removals) {
        const n = String(r.call['network']);
        for (const made of of('net.createEndpoint')) {
          if (made.call['network'] !== n || made.done === null || made.done > r.seq) continue;
          const e = String(made.call['endpoint']);
          const gone = of('net.deleteLinks').some(
            (x) => strs(x.call['endpoints']).includes(e) && x.done !== null && x.done < r.seq,
          );
          if (!gone)
            out.push({
              constraint: name,
              message: `network ${n.slice(0, 12)} lost its ${r.call.effect === 'net.deleteLinks' ? 'bridge' : 'rules'} (record ${r.seq}) while endpoint ${e.slice(0, 12)} (made at record ${made.done}) remained`,
              records: [made.done, r.seq],
            });
        }
      }
      return out;
    }
    case 'endpointReleasedBeforeForget': {
      for (const del of of('store.del')) {
        const key = String(del.call['key']);
        if (!key.startsWith('container/') || del.done === null) continue;
        const id = key.slice('container/'.length);
        const ups = of('net.sandboxUp').filter(
          (u) => u.call['container'] === id && u.done !== null && u.done < del.seq,
        );
        const lastUp = ups[ups.length - 1];
        if (!lastUp) continue;
        const down = of('net.sandboxDown').some(
          (d) =>
            d.call['container'] === id &&
            d.done !== null &&
            d.seq > (lastUp.done as number) &&
            d.done < del.seq,
        );
        if (!down)
          out.push({
            constraint: name,
            message: `container ${id.slice(0, 12)} was forgotten (record ${del.seq}) without its sandbox (made at record ${lastUp.done}) being released`,
            records: [lastUp.done as number, del.seq],
          });
      }
      return out;
    }
    default:
      return out;
  }
}

function evaluate(c: Constraint, ix: Index, records: readonly TraceRecord[]): Violation[] {
  const name = constraintName(c);
  const out: Violation[] = [];
  switch (c.kind) {
    case 'before': {
      for (const started of ix.stepStart.get(c.then) ?? []) {
        const done = ix.stepDone.get(c.first);
        if (done === undefined || done > started) {
          out.push({
            constraint: name,
            message: `${c.then} started (record ${started}) before ${c.first} finished${done === undefined ? ' (it never did)' : ` (record ${done})`}: ${c.why}`,
            records: done === undefined ? [started] : [started, done],
          });
        }
      }
      return out;
    }
    case 'effectsAfter': {
      // A trace without a start-up (a machine run on its own) has no such step to wait for.
      if (ix.startupSteps.size === 0) return out;
      const done = ix.stepDone.get(c.step);
      const effects = new Set(c.effects);
      for (const r of records) {
        if (done !== undefined && r.seq > done) break;
        if (r.kind !== 'effect.request' || !effects.has(r.call.effect)) continue;
        out.push({
          constraint: name,
          message: `${r.actor} asked ${r.call.effect} (record ${r.seq}) before ${c.step} finished${done === undefined ? ' (it never did)' : ` (record ${done})`}: ${c.why}`,
          records: done === undefined ? [r.seq] : [r.seq, done],
        });
      }
      return out;
    }
    case 'repliesAfter': {
      if (ix.startupSteps.size === 0) return out;
      const done = ix.stepDone.get(c.step);
      const requests = new Set(c.requests);
      for (const [actor, f] of containerFacts(records)) {
        for (const reply of f.replies) {
          if (done !== undefined && reply.seq > done) continue;
          const req = f.requests.get(reply.req);
          if (!req || !requests.has(req.type)) continue;
          out.push({
            constraint: name,
            message: `${actor}: ${req.type} (record ${req.seq}) was answered (record ${reply.seq}) before ${c.step} finished${done === undefined ? ' (it never did)' : ` (record ${done})`}: ${c.why}`,
            records: done === undefined ? [req.seq, reply.seq] : [req.seq, reply.seq, done],
          });
        }
      }
      return out;
    }
    case 'startsAfter': {
      if (ix.startupSteps.size === 0) return out;
      const done = ix.stepDone.get(c.step);
      const machines = new Set(c.machines);
      for (const r of records) {
        if (done !== undefined && r.seq > done) break;
        if (r.kind !== 'actor.start' || !machines.has(r.machine)) continue;
        out.push({
          constraint: name,
          message: `${r.actor} (${r.machine}) started (record ${r.seq}) before ${c.step} finished${done === undefined ? ' (it never did)' : ` (record ${done})`}: ${c.why}`,
          records: done === undefined ? [r.seq] : [r.seq, done],
        });
      }
      return out;
    }
    case 'deferredUntil': {
      if (ix.startupSteps.size === 0) return out;
      const done = ix.stepDone.get(c.until);
      let waitedOn: number | null = null;
      // A step waits on it, or on a step that needs it (then the engine marks it demanded by
      // the step that waits).
      const waiting = new Set<unknown>();
      for (const r of records) {
        if (done !== undefined && r.seq > done) break;
        if (r.kind === 'mark' && r.mark.mark === 'step.waits') {
          waiting.add(r.mark.step);
          if (r.mark['on'] === c.step) waitedOn ??= r.seq;
        }
        if (
          r.kind === 'mark' &&
          r.mark.mark === 'step.demanded' &&
          r.mark.step === c.step &&
          waiting.has(r.mark['by'])
        )
          waitedOn ??= r.seq;
        if (r.kind !== 'effect.request' || r.call.step !== c.step) continue;
        if (waitedOn === null)
          out.push({
            constraint: name,
            message: `${c.step} asked ${r.call.effect} (record ${r.seq}) before ${c.until} finished${done === undefined ? ' (it never did)' : ` (record ${done})`}, and no step was waiting for it: ${c.why}`,
            records: done === undefined ? [r.seq] : [r.seq, done],
          });
        break;
      }
      return out;
    }
    case 'releasedNewestFirst': {
      const order = new Map(ix.acquired.map((a, i) => [a.resource, i]));
      let last = Number.POSITIVE_INFINITY;
      let lastRec: { resource: string; seq: number } | null = null;
      for (const r of ix.releases) {
        if (r.kind === 'skipped') continue;
        const at = order.get(r.resource);
        if (at === undefined) continue;
        if (at > last && lastRec) {
          out.push({
            constraint: name,
            message: `${r.resource} (acquired after ${lastRec.resource}) was released after it (records ${lastRec.seq}, ${r.seq}); releases go newest first`,
            records: [lastRec.seq, r.seq],
          });
        }
        last = at;
        lastRec = r;
      }
      return out;
    }
    case 'releasedOnce': {
      const seen = new Map<string, number>();
      for (const r of ix.releases) {
        const prev = seen.get(r.resource);
        if (prev !== undefined)
          out.push({
            constraint: name,
            message: `${r.resource} released twice (records ${prev}, ${r.seq})`,
            records: [prev, r.seq],
          });
        seen.set(r.resource, r.seq);
      }
      return out;
    }
    case 'everyAcquiredReleasedOnFailure': {
      if (ix.startupFailed === null) return out;
      const released = new Set(
        ix.releases.filter((r) => r.kind !== 'skipped').map((r) => r.resource),
      );
      for (const a of ix.acquired) {
        if (!released.has(a.resource))
          out.push({
            constraint: name,
            message: `${a.resource} (acquired at record ${a.seq}) was never released after start-up failed (record ${ix.startupFailed})`,
            records: [a.seq, ix.startupFailed],
          });
      }
      return out;
    }
    case 'nothingAcquiredAfterFailure': {
      if (ix.startupFailed === null) return out;
      for (const [step, starts] of ix.stepStart) {
        for (const s of starts) {
          if (s > ix.startupFailed)
            out.push({
              constraint: name,
              message: `step ${step} started (record ${s}) after start-up failed (record ${ix.startupFailed})`,
              records: [s, ix.startupFailed],
            });
        }
      }
      return out;
    }
    case 'containerEventsOrdered': {
      for (const [actor, f] of containerFacts(records)) {
        const createdAt = f.events.findIndex((e) => e.action === 'create');
        if (createdAt > 0)
          out.push({
            constraint: name,
            message: `${actor}: ${f.events[0]?.action} (record ${f.events[0]?.seq}) came before create`,
            records: [f.events[0]?.seq ?? 0, f.events[createdAt]?.seq ?? 0],
          });
        const destroyed = f.events.findIndex((e) => e.action === 'destroy');
        if (destroyed >= 0 && destroyed < f.events.length - 1) {
          const after = f.events[destroyed + 1] as { action: string; seq: number };
          out.push({
            constraint: name,
            message: `${actor}: ${after.action} (record ${after.seq}) after destroy`,
            records: [f.events[destroyed]?.seq ?? 0, after.seq],
          });
        }
        let running = false;
        for (const e of f.events) {
          if (e.action === 'start') {
            if (running)
              out.push({
                constraint: name,
                message: `${actor}: start (record ${e.seq}) without a die since the previous start`,
                records: [e.seq],
              });
            running = true;
          }
          if (e.action === 'die') running = false;
        }
      }
      return out;
    }
    case 'persistedBeforeReply': {
      for (const [actor, f] of containerFacts(records)) {
        for (const reply of f.replies) {
          if (reply.result !== 'ok') continue;
          const req = f.requests.get(reply.req);
          if (!req || req.type === 'api.kill') continue;
          if (!f.storeDone.some((s) => s > req.seq && s < reply.seq))
            out.push({
              constraint: name,
              message: `${actor}: ${req.type} (record ${req.seq}) was acknowledged (record ${reply.seq}) before anything was written to the store`,
              records: [req.seq, reply.seq],
            });
        }
      }
      return out;
    }
    case 'execEventsOrdered': {
      // Per exec (its execID), within the actor that owns it.
      const seen = new Map<string, { create?: number; start?: number; die?: number }>();
      const deleted = new Map<string, number>();
      // containerd reported the exec's exit (its /tasks/exit, with the status dockerd records).
      const exitReported = new Set<string>();
      const deleteCalls = new Map<string, string>();
      for (const r of records) {
        if (!r.actor.startsWith('exec:') && !r.actor.startsWith('health:')) continue;
        if (r.kind === 'event' && r.event.type === 'containerd.execExit')
          exitReported.add(String(r.event['exec']));
        if (r.kind === 'effect.request' && r.call.effect === 'containerd.execDelete')
          deleteCalls.set(r.call.id, r.call.exec);
        // Deleted by this call, or already gone with its task (containerd: not found).
        const gone =
          r.kind === 'event' &&
          (r.event.type === 'effect.done' ||
            (r.event.type === 'effect.failed' &&
              (r.event['error'] as { code?: string } | undefined)?.code === 'ENOENT'));
        if (gone) {
          const exec = deleteCalls.get(String(r.event['id']));
          if (exec !== undefined) deleted.set(exec, r.seq);
        }
        if (r.kind !== 'mark' || r.mark.mark !== 'event') continue;
        const action = String(r.mark['action']);
        const exec = (r.mark['attributes'] as Record<string, string> | undefined)?.['execID'] ?? '';
        const f = seen.get(exec) ?? {};
        seen.set(exec, f);
        const at = (what: string): void =>
          void out.push({
            constraint: name,
            message: `exec ${exec}: ${what} (record ${r.seq})`,
            records: [r.seq],
          });
        if (action.startsWith('exec_create')) f.create = r.seq;
        else if (action.startsWith('exec_start')) {
          if (f.create === undefined) at('exec_start before exec_create');
          f.start = r.seq;
        } else if (action === 'exec_die') {
          if (f.die !== undefined) at('a second exec_die');
          if (f.start === undefined) at('exec_die before exec_start');
          if (!deleted.has(exec) && !exitReported.has(exec))
            at('exec_die before containerd reported the exit or deleted the process');
          f.die = r.seq;
        }
      }
      return out;
    }
    case 'restoreInvariantsHeld': {
      for (const r of records) {
        if (r.kind === 'mark' && r.mark.mark === 'invariant.violated')
          out.push({
            constraint: name,
            message: `${String(r.mark['invariant'])}: ${String(r.mark['message'])}`,
            records: [r.seq],
          });
      }
      return out;
    }
    case 'markedBefore': {
      const seen = new Map<string, Map<string, number>>();
      for (const r of records) {
        if (r.kind !== 'mark') continue;
        const m = r.mark;
        if (m.mark === c.first) {
          const byActor = seen.get(r.actor) ?? new Map<string, number>();
          byActor.set(String(m[c.key]), r.seq);
          seen.set(r.actor, byActor);
        }
        if (m.mark === c.then) {
          const v = m[c.thenKey ?? c.key];
          for (const k of Array.isArray(v) ? v.map(String) : [String(v)]) {
            if (seen.get(r.actor)?.has(k)) continue;
            out.push({
              constraint: name,
              message: `${r.actor}: ${c.then} of ${k} (record ${r.seq}) without ${c.first} before it: ${c.why}`,
              records: [r.seq],
            });
          }
        }
      }
      return out;
    }
    case 'effectDoneBefore': {
      // Per actor: the latest `first` asked (null: none yet), and whether it succeeded.
      const latest = new Map<string, { id: string; seq: number; done: boolean }>();
      for (const r of records) {
        if (r.kind === 'effect.request' && r.call.effect === c.first)
          latest.set(r.actor, { id: r.call.id, seq: r.seq, done: false });
        if (r.kind === 'event' && r.event.type === 'effect.done') {
          const l = latest.get(r.actor);
          if (l && l.id === String(r.event['id'])) l.done = true;
        }
        if (r.kind === 'effect.request' && r.call.effect === c.then) {
          const l = latest.get(r.actor);
          if (l && !l.done)
            out.push({
              constraint: name,
              message: `${r.actor}: ${c.then} (record ${r.seq}) was asked for before ${c.first} (record ${l.seq}) succeeded: ${c.why}`,
              records: [l.seq, r.seq],
            });
        }
      }
      return out;
    }
    case 'effectNotWhileOpen': {
      const effectOf = new Map<string, string>();
      const openSince = new Map<string, number>();
      for (const r of records) {
        if (r.kind === 'effect.request') {
          effectOf.set(r.call.id, r.call.effect);
          const since = openSince.get(r.actor);
          if (r.call.effect === c.then && since !== undefined)
            out.push({
              constraint: name,
              message: `${r.actor}: ${c.then} (record ${r.seq}) was asked for while ${c.opens} (done at record ${since}) was not undone: ${c.why}`,
              records: [since, r.seq],
            });
        }
        if (
          r.kind !== 'event' ||
          (r.event.type !== 'effect.done' && r.event.type !== 'effect.failed')
        )
          continue;
        const effect = effectOf.get(String(r.event['id']));
        if (effect === c.opens && r.event.type === 'effect.done') openSince.set(r.actor, r.seq);
        const failed = r.event.type === 'effect.failed';
        if (c.closes.some((x) => x.effect === effect && (failed || x.failed !== true)))
          openSince.delete(r.actor);
      }
      return out;
    }
    case 'recordedBeforeMade':
    case 'endpointRulesAroundLink':
    case 'networkRemovedWhenEmpty':
    case 'endpointReleasedBeforeForget':
      return evaluateNet(c, netCalls(records));
    case 'everyAcquiredReleasedAtShutdown': {
      if (ix.shutdownStopped === null) return out;
      const handled = new Set(ix.releases.map((r) => r.resource));
      for (const a of ix.acquired) {
        if (!a.rollbackOnly && !handled.has(a.resource))
          out.push({
            constraint: name,
            message: `${a.resource} (acquired at record ${a.seq}) was neither released nor kept at shutdown`,
            records: [a.seq, ix.shutdownStopped],
          });
      }
      return out;
    }
  }
}

/** Evaluates every constraint on a trace. */
export function checkTrace(
  records: readonly TraceRecord[],
  constraints: readonly Constraint[],
): ConstraintResult[] {
  const ix = index(records);
  return constraints.map((c) => {
    const violations = evaluate(c, ix, records);
    return { constraint: constraintName(c), ok: violations.length === 0, violations };
  });
}

export function violationsOf(results: readonly ConstraintResult[]): Violation[] {
  return results.flatMap((r) => r.violations);
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseFaultPlan } from '../../effects/sim/faults.ts';
import { SimWorld } from '../../effects/sim/world.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { isSettled } from '../../machines/container/snapshot.ts';
import { isTaskRequest } from '../../machines/container/task-requests.ts';
import type { RestartPolicy } from '../../machines/container/restart.ts';
import { containerdClientCalls } from '../../machines/daemon-startup/containerd-calls.ts';
import { startupConstraints } from '../../machines/daemon-startup/constraints.ts';
import { constraintsForTrace } from '../../src/check/command.ts';
import { simConfig } from '../../src/sim/config.ts';
import type { StartupConfig } from '../../machines/daemon-startup/types.ts';
import { createStartupMachine } from '../../machines/daemon-startup/machine.ts';
import { startupSteps } from '../../machines/daemon-startup/steps.ts';
import { registerMachine } from '../../machines/registry.ts';
import {
  ClientHistory,
  containerIdOf,
  SimDaemon,
  type ClientOp,
  type TimedOp,
} from '../../src/sim/daemon.ts';

/**
 * What waits for containerd's client at start-up, and what does not, on the simulated host
 * under random latencies: containerd slow or quick to boot and to accept the client, the
 * metadata store slow or quick, and 0–3 containers left by a first life (running or not,
 * restart policies, live-restore, a clean shutdown or a killed daemon). Clients send their
 * requests from the moment the API first answers. Properties:
 * - no containerd call (`containerd.*` over the client) is asked before `containerdClient` is
 *   done, and no request that may ask containerd is answered before it;
 * - with no stored container, restore never waits for containerd, and the API answers before
 *   containerd's client connects whenever containerd is the slower; with stored containers,
 *   restore (so the API) comes after it;
 * - the first `docker run` or create of each name is acknowledged;
 * - every start-up constraint holds and the restore check comes to a verdict that finds the
 *   host sound, judging only settled moments (the host tells it `host.settled` only while no
 *   container is mid-move).
 * NUM_RUNS (default 150) sets the number of cases; FC_SEED / FC_PATH replay one.
 *
 * CI runs a fixed seed, so it passes or fails the same way every time; FC_SEED=random explores
 * others. What other seeds found is pinned below as fixed cases: a restore check that looked
 * at a container mid-move (2090620370, 656983325), or handed a container a stale task list
 * (509250650), and the simulated API gate reordering requests (424242 with NUM_RUNS=1000).
 */
const numRuns = Number(process.env['NUM_RUNS'] ?? 150);
const seed =
  process.env['FC_SEED'] === 'random' ? undefined : Number(process.env['FC_SEED'] ?? 20261204);
const path = process.env['FC_PATH'];
const params = {
  numRuns,
  ...(seed === undefined ? {} : { seed }),
  ...(path === undefined ? {} : { path }),
};

const arbPolicy: fc.Arbitrary<RestartPolicy> = fc.constantFrom(
  { name: 'no' as const, maximumRetryCount: 0 },
  { name: 'no' as const, maximumRetryCount: 0 },
  { name: 'always' as const, maximumRetryCount: 0 },
  { name: 'unless-stopped' as const, maximumRetryCount: 0 },
);

const arbBehaviour = fc.record({
  exitAfterMs: fc.option(fc.integer({ min: 1, max: 3_000 }), { nil: null, freq: 2 }),
  exitCode: fc.constantFrom(0, 1),
  ignoresTerm: fc.boolean(),
});

/** A container the first life leaves in the store: created, or run (maybe exited since). */
const arbStored = fc.record({
  run: fc.boolean(),
  restart: arbPolicy,
  behaviour: arbBehaviour,
});

const oldNames = ['s0', 's1', 's2'];
const newNames = ['n0', 'n1', 'n2'];

/** A request of the second life, on a stored container or a new one. */
const arbRequest: fc.Arbitrary<ClientOp> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('run' as const),
      name: fc.constantFrom(...newNames),
      rm: fc.boolean(),
      behaviour: arbBehaviour,
    }),
  },
  fc.record({
    op: fc.constant('create' as const),
    name: fc.constantFrom(...newNames),
    behaviour: arbBehaviour,
  }),
  ...(['start', 'pause', 'unpause'] as const).map((op) =>
    fc.record({ op: fc.constant(op), name: fc.constantFrom(...oldNames, ...newNames) }),
  ),
  fc.record({
    op: fc.constant('stop' as const),
    name: fc.constantFrom(...oldNames, ...newNames),
    timeoutS: fc.constantFrom(0, 1),
  }),
  fc.record({
    op: fc.constant('kill' as const),
    name: fc.constantFrom(...oldNames, ...newNames),
    signal: fc.constantFrom('KILL', 'TERM'),
  }),
  fc.record({
    op: fc.constant('rm' as const),
    name: fc.constantFrom(...oldNames, ...newNames),
    force: fc.boolean(),
  }),
);

/** Extra latencies: containerd's boot, the client's connect, opening the store. */
const arbCase = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 2 }),
  stored: fc.array(arbStored, { maxLength: 3 }),
  liveRestore: fc.boolean(),
  firstEnds: fc.constantFrom('shutdown' as const, 'kill' as const),
  containerdBootMs: fc.integer({ min: 0, max: 400 }),
  connectMs: fc.integer({ min: 0, max: 150 }),
  storeOpenMs: fc.integer({ min: 0, max: 400 }),
  requests: fc.array(fc.record({ atMs: fc.integer({ min: 0, max: 300 }), op: arbRequest }), {
    maxLength: 6,
  }),
});

type Case = typeof arbCase extends fc.Arbitrary<infer T> ? T : never;

/** The record number of a start-up step's `step.done` (or of the named mark), or null. */
function stepDoneAt(records: readonly TraceRecord[], step: string): number | null {
  const r = records.find(
    (x) =>
      x.actor === 'daemon' &&
      x.kind === 'mark' &&
      x.mark.mark === 'step.done' &&
      x.mark['step'] === step,
  );
  return r?.seq ?? null;
}

/**
 * Each `host.settled` the restore check heard while a container actor was mid-transition (its
 * last transition before that record, as `isSettled` reads it): the host must tell it only of
 * a settled moment, or the check looks at a container mid-move.
 */
function settledToldMidMove(records: readonly TraceRecord[]): string[] {
  const states = new Map<string, { status: string; value: unknown }>();
  const out: string[] = [];
  for (const r of records) {
    if (r.actor.startsWith('container:')) {
      if (r.kind === 'transition') states.set(r.actor, { status: 'active', value: r.to });
      else if (r.kind === 'actor.stop') states.set(r.actor, { status: 'done', value: null });
      continue;
    }
    if (!r.actor.startsWith('restore-check') || r.kind !== 'event') continue;
    if (r.event.type !== 'host.settled') continue;
    for (const [actor, s] of states)
      if (!isSettled(s)) out.push(`#${r.seq}: ${actor} is ${JSON.stringify(s.value)}`);
  }
  return out;
}

interface Outcome {
  records: TraceRecord[];
  stored: number;
  history: ClientHistory;
  requests: TimedOp[];
  daemon: SimDaemon;
}

/** The first life, which leaves the case's stored containers on the host; then the second life's latencies are set. */
function firstLife(c: Case): { world: SimWorld; config: StartupConfig; history: ClientHistory } {
  const config = { ...simConfig(null), liveRestore: c.liveRestore };
  const world = new SimWorld({ seed: c.seed });
  world.dataRoot = config.dataRoot;
  const history = new ClientHistory();
  const first = new SimDaemon({ world, config, seed: c.seed, history });
  while (!first.answering && first.startup === null && !first.scheduler.idle)
    first.scheduler.runUntilIdle(1);
  assert.ok(first.answering, 'the first life did not answer');
  first.schedule(
    c.stored.map((s, i) => ({
      atMs: i,
      op: {
        op: s.run ? ('run' as const) : ('create' as const),
        name: oldNames[i] as string,
        restart: s.restart,
        behaviour: s.behaviour,
      },
    })),
  );
  first.runFor(4_000);
  if (c.firstEnds === 'kill') {
    first.kill();
    world.daemonExited();
  } else {
    first.schedule([{ atMs: 0, op: { op: 'shutdown' } }]);
    first.runFor(60_000);
    assert.ok(first.exited, 'the first life did not shut down');
  }
  world.advance(1_000);
  world.setFaults(
    parseFaultPlan([
      `containerd.startSupervised+${c.containerdBootMs}ms`,
      `containerd.connect+${c.connectMs}ms`,
      `store.open+${c.storeOpenMs}ms`,
    ]),
  );
  return { world, config, history };
}

/** The second life on what the first left: it starts, answers the case's requests from the moment it answers, and settles. */
function runCase(c: Case): Outcome {
  const { world, config, history } = firstLife(c);
  const stored = [...world.store.first().keys()].filter((k) => k.startsWith('container/')).length;
  const second = new SimDaemon({ world, config, seed: c.seed + 1, history });
  while (!second.answering && second.startup === null && !second.scheduler.idle)
    second.scheduler.runUntilIdle(1);
  assert.ok(second.answering, `the second life did not answer: ${JSON.stringify(second.startup)}`);
  const requests = [...c.requests].sort((a, b) => a.atMs - b.atMs);
  second.schedule(requests);
  second.runFor(Math.max(0, ...requests.map((r) => r.atMs)) + 1);
  assert.ok(second.runUntilSettled(), 'the second life did not settle');
  assert.equal(second.startup?.status, 'ready');
  return { records: second.trace?.records ?? [], stored, history, requests, daemon: second };
}

function checkCase(c: Case): Outcome {
  const o = runCase(c);
  const { records } = o;
  const client = stepDoneAt(records, 'containerdClient');
  assert.ok(client !== null, 'containerdClient never finished');
  // No containerd call before the client is connected.
  const calls = new Set<string>(containerdClientCalls);
  const early = records.filter(
    (r) => r.seq < client && r.kind === 'effect.request' && calls.has(r.call.effect),
  );
  assert.deepEqual(
    early.map((r) => (r.kind === 'effect.request' ? `${r.actor}: ${r.call.effect}` : '')),
    [],
  );
  // No task request answered before it.
  const typeOf = new Map<string, string>();
  for (const r of records)
    if (r.kind === 'event' && typeof r.event['req'] === 'string')
      typeOf.set(r.event['req'], r.event.type);
  const earlyReplies = records.filter(
    (r) =>
      r.seq < client &&
      r.kind === 'mark' &&
      r.mark.mark === 'reply' &&
      isTaskRequest(typeOf.get(String(r.mark['req'])) ?? ''),
  );
  assert.deepEqual(earlyReplies, []);
  // Restore waits for containerd exactly when it has containers to reconcile.
  const restored = stepDoneAt(records, 'restore') as number;
  const waited = records.some(
    (r) => r.kind === 'mark' && r.mark.mark === 'step.waits' && r.mark['step'] === 'restore',
  );
  // The client connects once the API is served, unless restore demands it for stored containers.
  const listening = stepDoneAt(records, 'serveApi') as number;
  const demanded = records.some(
    (r) =>
      r.kind === 'mark' && r.mark.mark === 'step.demanded' && r.mark['step'] === 'containerdClient',
  );
  if (o.stored === 0) {
    assert.equal(waited, false, 'restore waited for containerd with nothing stored');
    assert.equal(demanded, false, 'the client was demanded with nothing stored');
    assert.ok(listening < client, 'the client connected before the API was served');
  } else assert.ok(restored > client, 'restore reconciled stored containers before containerd');
  // Every constraint of the trace (the two above among them), and the restore check's verdict,
  // even when a user's request reaches a stored container before the check judges (a `docker
  // kill` of an `always` container is a user's right: the check no longer judges its policy).
  assert.deepEqual(
    violationsOf(checkTrace(records, constraintsForTrace(records))).map((v) => v.message),
    [],
  );
  const verdict = o.daemon.checkRestore();
  assert.ok(verdict !== null, 'the restore check never judged');
  // The host settles between the requests of a case: the check finds a settled moment to judge.
  assert.equal(verdict.unchecked, null);
  assert.deepEqual(settledToldMidMove(records), [], 'the check heard host.settled mid-move');
  assert.deepEqual(verdict.violations, []);
  // Every `docker run` (or create) of a name no earlier request took is created. Of those sent
  // in the same instant, the scheduler picks which is served first: that one takes the name,
  // the others are refused as dockerd refuses a name in use.
  const firstTakers = new Map<string, { atMs: number; ops: string[] }>();
  for (const { atMs, op } of o.requests) {
    if (op.op !== 'run' && op.op !== 'create') continue;
    const first = firstTakers.get(op.name);
    if (first === undefined) firstTakers.set(op.name, { atMs, ops: [`${op.op} ${op.name}`] });
    else if (first.atMs === atMs) first.ops.push(`${op.op} ${op.name}`);
  }
  for (const { ops } of firstTakers.values())
    assert.ok(
      ops.some((what) => o.history.replies.includes(`${what}: ok`)),
      `${ops.join(' | ')}: ${o.history.replies.join('; ')}`,
    );
  return o;
}

/** A pinned case's daemon: no live-restore, containerd and the store at once, ended by a shutdown. */
const instantBoot = {
  liveRestore: false,
  firstEnds: 'shutdown',
  containerdBootMs: 0,
  connectMs: 0,
  storeOpenMs: 0,
} as const;

test('no containerd call and no task request answered before containerdClient; the API answers before it with nothing stored', () => {
  let answeredEarly = 0;
  let createdEarly = 0;
  fc.assert(
    fc.property(arbCase, (c) => {
      const o = checkCase(c);
      const client = stepDoneAt(o.records, 'containerdClient') as number;
      const listening = stepDoneAt(o.records, 'serveApi') as number;
      if (o.stored === 0 && listening < client) answeredEarly += 1;
      // A create acknowledged before containerd was connected (its start, if any, waited).
      if (
        o.records.some(
          (r) =>
            r.seq < client &&
            r.kind === 'mark' &&
            r.mark.mark === 'reply' &&
            r.actor.startsWith('container:'),
        )
      )
        createdEarly += 1;
    }),
    params,
  );
  // The properties are not vacuous: the API did answer while containerd booted, and creates
  // were acknowledged before containerd was connected, their starts later (one replayed case
  // need not show it; the fixed cases below always do).
  if (path !== undefined || numRuns < 50) return;
  assert.ok(answeredEarly > 0, 'the API never answered before containerd was connected');
  assert.ok(createdEarly > 0, 'no create was answered before containerd was connected');
});

test('a docker run sent the moment the API first answers succeeds, on an empty host and on stored containers', () => {
  const cases: Case['stored'][] = [
    [],
    [
      {
        run: true,
        restart: { name: 'always' as const, maximumRetryCount: 0 },
        behaviour: { exitAfterMs: null, exitCode: 0, ignoresTerm: false },
      },
    ],
  ];
  for (const stored of cases) {
    const o = checkCase({
      seed: 5,
      stored,
      liveRestore: false,
      firstEnds: 'shutdown',
      containerdBootMs: 300,
      connectMs: 50,
      storeOpenMs: 0,
      requests: [
        {
          atMs: 0,
          op: {
            op: 'run',
            name: 'n0',
            rm: true,
            behaviour: { exitAfterMs: 5, exitCode: 0, ignoresTerm: false },
          },
        },
      ],
    });
    assert.deepEqual(
      o.history.replies.filter((r) => r.includes('n0')),
      ['run n0: ok', 'start n0: ok'],
    );
    const client = stepDoneAt(o.records, 'containerdClient') as number;
    const listening = stepDoneAt(o.records, 'serveApi') as number;
    const replies = o.records.filter(
      (r) =>
        r.kind === 'mark' &&
        r.mark.mark === 'reply' &&
        r.actor === `container:${containerIdOf('n0')}`,
    );
    if (stored.length === 0) {
      // containerd boots for 300 ms: the API answers, and the create is acknowledged, before
      // its client connects; the start waits for it.
      assert.ok(listening < client, 'the API did not answer before containerd was connected');
      assert.deepEqual(
        replies.map((r) => r.seq < client),
        [true, false],
      );
    } else assert.ok(listening > client, 'the API answered before restore reconciled');
  }
});

/** A process that runs until it is stopped. */
const behaviour = { exitAfterMs: null, exitCode: 0 as const, ignoresTerm: false };

/** A `docker run n0` on a host whose first life left one created container (so restore, and the API, wait for containerd). */
function runRacingTheCheck(
  seed: number,
  firstEnds: Case['firstEnds'],
  requests: Case['requests'],
): Outcome {
  return checkCase({
    seed,
    stored: [{ run: false, restart: { name: 'no', maximumRetryCount: 0 }, behaviour }],
    ...instantBoot,
    firstEnds,
    requests,
  });
}

/**
 * Asserts the restore check raced n0's start (it was spawned before the start came, and
 * judged after) and judged from a look begun once n0 ran: its verdict is clean, and n0 runs.
 */
function assertJudgedOnceRunning(o: Outcome): void {
  const n0 = `container:${containerIdOf('n0')}`;
  const seqOf = (pred: (r: TraceRecord) => boolean): number[] =>
    o.records.filter(pred).map((r) => r.seq);
  const check = (to: string) => (r: TraceRecord) =>
    r.actor === 'restore-check' && r.kind === 'transition' && r.to === to;
  const [spawned] = seqOf((r) => r.actor === 'restore-check' && r.kind === 'actor.start');
  const looks = seqOf(check('observing'));
  const [judged] = seqOf(check('judged'));
  const [started] = seqOf(
    (r) => r.actor === n0 && r.kind === 'event' && r.event.type === 'api.start',
  );
  const [running] = seqOf((r) => r.actor === n0 && r.kind === 'transition' && r.to === 'running');
  assert.ok(
    spawned !== undefined && started !== undefined && judged !== undefined,
    'no check, start or verdict',
  );
  assert.ok(spawned < started && started < judged, 'the start did not race the check');
  assert.ok(running !== undefined && (looks.at(-1) as number) > running, 'judged n0 mid-start');
  assert.deepEqual(o.daemon.restoreVerdict?.violations, []);
  assert.deepEqual(
    o.history.replies.filter((r) => r.startsWith('run n0') || r.startsWith('start n0')),
    ['run n0: ok', 'start n0: ok'],
  );
}

// The two counterexamples FC_SEED=2090620370 found, one after the other: a restore check that
// judged the sandbox of a `docker run`'s container, up before its task, an orphan of a
// container not running. dockerd cannot race its restore with a run (it serves the API once
// restore is done); statedock's check runs while the API answers, so it must judge only a
// settled host.
test('a docker run whose start follows its create while the restore check looks again: the check waits until it runs', () => {
  // n0's create settled while the check looked; its start came in that same instant. The
  // host's "settled again" was decided when the create settled but heard after the start had
  // moved n0: the check looked again at once, at n0 mid-start.
  assertJudgedOnceRunning(
    runRacingTheCheck(903480226, 'shutdown', [
      { atMs: 2, op: { op: 'run', name: 'n0', rm: false, behaviour } },
      { atMs: 3, op: { op: 'create', name: 'n0', behaviour } },
    ]),
  );
});

test('a docker run whose start comes while the restore check lists the tasks: the check waits until it runs', () => {
  // n0 was created and started while the check listed containerd's tasks, before its first
  // look: the moves it heard then were dropped, and the look judged n0 mid-start.
  assertJudgedOnceRunning(
    runRacingTheCheck(913928416, 'kill', [
      { atMs: 0, op: { op: 'run', name: 'n0', rm: false, behaviour } },
    ]),
  );
});

test('requests held at the API’s gate while the image GC runs go on in their order of arrival: a create of n2 sent before a run of n2 takes the name', () => {
  // FC_SEED=424242 NUM_RUNS=1000 found the simulated gate releasing its requests in the order
  // the scheduler picks for callbacks due in one instant: the run, sent 1 ms after the create,
  // took the name. The daemon's gate is one promise: its waiters go on in their order.
  const o = checkCase({
    seed: 778010939,
    stored: [],
    ...instantBoot,
    requests: [
      { atMs: 0, op: { op: 'create', name: 'n2', behaviour } },
      { atMs: 1, op: { op: 'stop', name: 's0', timeoutS: 0 } },
      { atMs: 1, op: { op: 'run', name: 'n2', rm: false, behaviour } },
      { atMs: 2, op: { op: 'create', name: 'n0', behaviour } },
    ],
  });
  const tOf = (pred: (r: TraceRecord) => boolean): number | undefined => o.records.find(pred)?.t;
  const answered = tOf(
    (r) =>
      r.actor === 'daemon' &&
      r.kind === 'mark' &&
      r.mark.mark === 'step.done' &&
      r.mark['step'] === 'serveApi',
  );
  const collected = tOf((r) => r.actor === 'image-gc' && r.kind === 'actor.stop');
  assert.ok(answered !== undefined && collected !== undefined, 'no answer or no image GC');
  assert.ok(collected > answered + 2, 'the requests did not wait at the gate');
  assert.deepEqual(o.history.replies.map((r) => r.replace(/: Conflict\..*/, ': Conflict')).sort(), [
    'create n0: ok',
    'create n2: ok',
    'run n2: conflict: Conflict',
    'stop s0: notFound',
  ]);
});

test('a docker kill of an always container while the restore check lists the tasks: it stays exited, and the check judges', () => {
  // FC_SEED=509250650 found the check handing s0 the list it took as the kill ended s0's task:
  // s0, exited by then, took the stale task for one nobody reports, discarded it, and went
  // through restore's decision again, which restarted it (a SIGKILL is a stop by hand:
  // dockerd leaves it exited); and the check waited forever for s0 to say it was settled.
  const always = { name: 'always' as const, maximumRetryCount: 0 };
  const o = checkCase({
    seed: 1368063523,
    stored: [
      { run: true, restart: always, behaviour },
      { run: false, restart: { name: 'no', maximumRetryCount: 0 }, behaviour },
      { run: true, restart: always, behaviour: { ...behaviour, ignoresTerm: true } },
    ],
    ...instantBoot,
    requests: [{ atMs: 0, op: { op: 'kill', name: 's0', signal: 'KILL' } }],
  });
  const s0 = `container:${containerIdOf('s0')}`;
  const seqOf = (pred: (r: TraceRecord) => boolean): number[] =>
    o.records.filter(pred).map((r) => r.seq);
  const [spawned] = seqOf((r) => r.actor === 'restore-check' && r.kind === 'actor.start');
  const [exited] = seqOf(
    (r) => r.actor === s0 && r.kind === 'event' && r.event.type === 'containerd.taskExit',
  );
  assert.ok(
    spawned !== undefined && exited !== undefined && spawned < exited,
    'the kill did not race the check',
  );
  assert.ok(o.history.replies.includes('kill s0: ok'), o.history.replies.join('; '));
  assert.equal(o.daemon.host.byName('s0')?.record.state.status, 'exited');
  const startsAfterKill = seqOf(
    (r) =>
      r.actor === s0 &&
      r.kind === 'mark' &&
      r.mark.mark === 'event' &&
      r.mark['action'] === 'start',
  ).filter((seq) => seq > exited);
  assert.deepEqual(startsAfterKill, [], 's0 was started again after the kill');
});

test('two runs and an exit while the restore check looks: every move is told before the settle that follows it, and the check judges a settled host', () => {
  // FC_SEED=656983325 found the check judging n1 running with its task stopped: its process
  // exited during the fifth and last look. Looks had been spent on moves told after the
  // settle that followed them (the two messages raced within one instant); the last look
  // then had no more to spare, and judged a host mid-move.
  const no = { name: 'no' as const, maximumRetryCount: 0 };
  const o = checkCase({
    seed: 12028613,
    stored: [
      { run: false, restart: no, behaviour },
      { run: true, restart: no, behaviour },
    ],
    ...instantBoot,
    requests: [
      { atMs: 58, op: { op: 'run', name: 'n0', rm: false, behaviour } },
      { atMs: 0, op: { op: 'unpause', name: 'n1' } },
      {
        atMs: 3,
        op: { op: 'run', name: 'n1', rm: false, behaviour: { ...behaviour, exitAfterMs: 61 } },
      },
    ],
  });
  assert.deepEqual(o.daemon.restoreVerdict, { violations: [], unchecked: null });
});

/** The constraint names a second life on `c`, altered, breaks (it runs for 5 s of virtual time). */
function brokenBy(
  c: Case,
  altered: { startupMachine?: string; waitsForContainerd?: boolean },
): string[] {
  const { world, config, history } = firstLife(c);
  const d = new SimDaemon({ world, config, seed: c.seed + 1, history, ...altered });
  while (!d.answering && d.startup === null && !d.scheduler.idle) d.scheduler.runUntilIdle(1);
  d.schedule(c.requests);
  d.runFor(5_000);
  const records = d.trace?.records ?? [];
  // An altered machine is registered under its own name, with no constraints of its own: it is
  // held to the start-up's.
  return violationsOf(checkTrace(records, [...startupConstraints, ...constraintsForTrace(records)]))
    .map((v) => v.constraint)
    .filter((c, i, all) => all.indexOf(c) === i);
}

const slowContainerd: Case = {
  seed: 11,
  stored: [
    {
      run: true,
      restart: { name: 'always', maximumRetryCount: 0 },
      behaviour: { exitAfterMs: null, exitCode: 0, ignoresTerm: false },
    },
  ],
  liveRestore: true,
  firstEnds: 'kill',
  containerdBootMs: 300,
  connectMs: 50,
  storeOpenMs: 0,
  requests: [],
};

test('restore without its await asks containerd before the client connects: the checker says effectsAfter(containerdClient)', () => {
  registerMachine(
    'daemonStartupRestoreWithoutAwait',
    createStartupMachine(
      startupSteps.map((s) =>
        s.id === 'restore' ? { ...s, ops: s.ops.filter((op) => op.kind !== 'await') } : s,
      ),
    ),
  );
  const broken = brokenBy(slowContainerd, { startupMachine: 'daemonStartupRestoreWithoutAwait' });
  assert.ok(broken.includes('effectsAfter(containerdClient)'), broken.join(', '));
  assert.deepEqual(brokenBy(slowContainerd, {}), []);
});

test("containerd's boot not waiting for the API: on the way to its first answer, the checker says deferredUntil for the boot and the client", () => {
  const machine = 'daemonStartupContainerdNotDeferred';
  registerMachine(
    machine,
    createStartupMachine(
      startupSteps.map((s) =>
        s.id === 'startContainerd' ? { ...s, ops: s.ops.filter((op) => op.kind !== 'defer') } : s,
      ),
    ),
  );
  // containerd answers at once, the store opens late: the client would connect first.
  const slowStore: Case = {
    ...slowContainerd,
    stored: [],
    containerdBootMs: 0,
    connectMs: 0,
    storeOpenMs: 300,
  };
  const broken = brokenBy(slowStore, { startupMachine: machine });
  for (const step of ['startContainerd', 'containerdClient'])
    assert.ok(broken.includes(`deferredUntil(${step}, serveApi)`), broken.join(', '));
  assert.deepEqual(brokenBy(slowStore, {}), []);
});

test('a container host that does not hold task requests answers them before the client connects: the checker says so', () => {
  const early: Case = {
    ...slowContainerd,
    stored: [],
    requests: [
      {
        atMs: 0,
        op: {
          op: 'run',
          name: 'n0',
          behaviour: { exitAfterMs: null, exitCode: 0, ignoresTerm: false },
        },
      },
    ],
  };
  const broken = brokenBy(early, { waitsForContainerd: false });
  assert.ok(broken.includes('repliesAfter(containerdClient)'), broken.join(', '));
  assert.ok(broken.includes('effectsAfter(containerdClient)'), broken.join(', '));
  assert.deepEqual(brokenBy(early, {}), []);
});

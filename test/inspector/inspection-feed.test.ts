import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { setup } from 'xstate';
import { MemoryTrace, makeHeader } from '../../effects/record.ts';
import { Session } from '../../effects/runner.ts';
import { SimScheduler } from '../../effects/sim/scheduler.ts';
import { SimWorld } from '../../effects/sim/world.ts';
import { machines, registerMachine } from '../../machines/registry.ts';
import { ApiServer } from '../../src/api/server.ts';
import { registerInspectionFeed, type InspectionFeed } from '../../src/daemon/inspection-feed.ts';
import type { Catalog } from '../../src/inspector/protocol.ts';
import { defaultConfig } from '../support/configs.ts';
import { getText, LineReader } from './feed-client.ts';

/** A machine that only counts ticks: its records are whatever size the test makes its events. */
const tickMachine = setup({ types: { events: {} as { type: 'tick'; pad: string } } }).createMachine(
  {
    id: 'feedTick',
    initial: 'even',
    states: { even: { on: { tick: 'odd' } }, odd: { on: { tick: 'even' } } },
  },
);
registerMachine('feedTick', tickMachine);

let dir = '';
before(() => {
  dir = mkdtempSync('/tmp/sdfeed-');
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Rig {
  sock: string;
  server: ApiServer;
  feed: InspectionFeed;
  session: Session;
  trace: MemoryTrace;
  scheduler: SimScheduler;
}

let n = 0;
/** A daemon-like API server with the feed mounted, over a session on the simulated world. */
async function rig(capacity?: number): Promise<Rig> {
  const sock = `${dir}/f${n++}.sock`;
  const server = new ApiServer({ serverHeader: 'statedock-test' });
  const world = new SimWorld({
    seed: 7,
    faults: [{ effect: '*', step: 'layerStore', nth: 1, action: { fail: 'EIO' } }],
  });
  const scheduler = new SimScheduler(world);
  const trace = new MemoryTrace(makeHeader('test', {}));
  const session = new Session({ executor: scheduler, sink: trace, now: () => scheduler.now });
  const feed = registerInspectionFeed(
    server,
    session,
    machines,
    capacity === undefined ? {} : { capacity },
  );
  await server.listen([sock]);
  return { sock, server, feed, session, trace, scheduler };
}

async function stop(r: Rig): Promise<void> {
  r.feed.close();
  await r.server.close();
}

test('serves the machine catalog: charts with eventless transitions and guards, constraints, the step table', async () => {
  const r = await rig();
  try {
    const res = await getText(r.sock, '/statedock/machines');
    assert.equal(res.status, 200);
    assert.match(res.type, /application\/json/);
    const catalog = JSON.parse(res.body) as Catalog;
    const startup = catalog.machines['daemonStartup'];
    assert.ok(startup, 'daemonStartup is in the catalog');
    const starting = startup.chart.children.find((c) => c.key === 'starting');
    assert.deepEqual(
      starting?.transitions
        .filter((t) => t.targets.length > 0)
        .map((t) => [t.event, t.guard, t.targets[0]]),
      [
        ['', 'startupFailed', 'draining'],
        ['', 'allStepsDone', 'ready'],
      ],
    );
    assert.deepEqual(
      startup.chart.children.filter((c) => c.type === 'final').map((c) => c.key),
      ['ready', 'failed'],
    );
    assert.ok(startup.constraints.some((c) => c.kind === 'releasedNewestFirst'));
    assert.ok(startup.steps?.some((s) => s.id === 'pidfile' && s.needs.includes('dataRoot')));
    assert.ok(startup.xstate, "XState's own toJSON() is there too");
    assert.ok(catalog.machines['feedTick'], 'machines registered later are listed');
  } finally {
    await stop(r);
  }
});

test('streams the buffered records after since, then live ones, numbered like the flight recorder', async () => {
  const r = await rig();
  try {
    r.session.spawn('daemonStartup', 'daemon', { config: defaultConfig() });
    r.scheduler.runUntilIdle(20);
    const buffered = r.trace.records.length;
    const all = new LineReader(r.sock, '/statedock/records?since=0');
    const later = new LineReader(r.sock, '/statedock/records?since=10');
    await all.ready();
    assert.match(String(all.res.headers['content-type']), /application\/x-ndjson/);
    await all.until((l) => l.length >= buffered + 1);
    const header = all.lines.shift() as {
      kind: string;
      format: string;
      program: string;
      meta: { instance: string };
    };
    assert.equal(header.kind, 'header');
    assert.equal(header.format, 'statedock-trace');
    assert.equal(header.program, 'daemon');
    assert.match(header.meta.instance, /^\d+-\d+$/);
    // Live: the rest of the (failing) start-up.
    r.scheduler.runUntilIdle();
    const total = r.trace.records.length;
    assert.ok(total > buffered);
    await all.until((l) => l.length >= total);
    await later.until((l) => l.length >= total - 10 + 1);
    assert.equal(later.lines.shift()?.['kind'], 'header');
    assert.deepEqual(all.lines, JSON.parse(JSON.stringify(r.trace.records)));
    assert.equal(later.lines[0]?.['seq'], 11);
    assert.equal(later.lines.at(-1)?.['seq'], total);
    assert.equal(r.feed.latestSeq, total);
    all.close();
    later.close();
  } finally {
    await stop(r);
  }
});

test('answers 400 with a message for a since that is not a record number', async () => {
  const r = await rig();
  try {
    const res = await getText(r.sock, '/statedock/records?since=abc');
    assert.equal(res.status, 400);
    assert.equal(
      (JSON.parse(res.body) as { message: string }).message,
      'since must be a record number (a non-negative integer), got "abc"',
    );
  } finally {
    await stop(r);
  }
});

test("a late reader gets a gap with the records it missed and every live actor's state", async () => {
  const r = await rig(10);
  try {
    r.session.spawn('feedTick', 'tick', null);
    for (let i = 0; i < 25; i++) r.session.send('tick', { type: 'tick', pad: '' });
    const latest = r.feed.latestSeq;
    const reader = new LineReader(r.sock, '/statedock/records?since=0');
    await reader.until((l) => l.length >= 12);
    assert.equal(reader.lines.shift()?.['kind'], 'header');
    const gap = reader.lines[0] as {
      kind: string;
      dropped: number;
      actors: Record<string, { machine: string; value: unknown }>;
    };
    assert.equal(gap.kind, 'gap');
    assert.equal(gap.dropped, latest - 10);
    assert.equal(gap.actors['tick']?.machine, 'feedTick');
    assert.ok(gap.actors['tick']?.value === 'odd' || gap.actors['tick']?.value === 'even');
    assert.deepEqual(
      reader.lines.slice(1).map((l) => l['seq']),
      Array.from({ length: 10 }, (_, i) => latest - 9 + i),
    );
    reader.close();
  } finally {
    await stop(r);
  }
});

test('a reader that does not drain never slows the daemon: its records are dropped, and it gets a gap once it drains', async () => {
  const r = await rig(200);
  try {
    r.session.spawn('feedTick', 'tick', null);
    const slow = new LineReader(r.sock, '/statedock/records?since=0', { paused: true });
    const fast = new LineReader(r.sock, '/statedock/records?since=0');
    await slow.ready();
    await fast.ready();
    const pad = 'x'.repeat(2000);
    // ~8 MB of records while the slow reader reads nothing: the sends never wait for it.
    const started = performance.now();
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 100; i++) r.session.send('tick', { type: 'tick', pad });
      await new Promise((res) => setImmediate(res));
    }
    const sendMs = performance.now() - started;
    const latest = r.feed.latestSeq;
    await fast.until((l) => l.at(-1)?.['seq'] === latest, 10_000);
    assert.equal(fast.lines.shift()?.['kind'], 'header');
    assert.ok(!fast.lines.some((l) => l['kind'] === 'gap'), 'a reader that keeps up loses nothing');
    assert.equal(fast.lines.length, latest);

    slow.res.resume();
    await slow.until((l) => l.at(-1)?.['seq'] === latest, 10_000);
    assert.equal(slow.lines.shift()?.['kind'], 'header');
    const gaps = slow.lines.filter((l) => l['kind'] === 'gap') as { dropped: number }[];
    assert.ok(gaps.length >= 1, 'the slow reader was told what it missed');
    const seqs = slow.lines.filter((l) => l['kind'] !== 'gap').map((l) => l['seq'] as number);
    const dropped = gaps.reduce((s, g) => s + g.dropped, 0);
    assert.equal(
      seqs.length + dropped,
      latest,
      'every record was either received or counted as dropped',
    );
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      seqs,
      'in order, no duplicates',
    );
    assert.ok(r.feed.dropped >= dropped);
    assert.ok(sendMs < 5000, `4,000 sends took ${sendMs.toFixed(0)} ms`);
    slow.close();
    fast.close();
  } finally {
    await stop(r);
  }
});

test('a record too long to keep whole is kept abridged: a few giant ones never push the others out', async () => {
  const r = await rig();
  try {
    r.session.spawn('feedTick', 'tick', null);
    for (let i = 0; i < 20; i++) r.session.send('tick', { type: 'tick', pad: '' });
    // 20 records of 200 Ki characters each: 4 Mi, twice the ring's bound.
    const pad = 'x'.repeat(200 * 1024);
    for (let i = 0; i < 20; i++) r.session.send('tick', { type: 'tick', pad });
    const latest = r.feed.latestSeq;
    const reader = new LineReader(r.sock, '/statedock/records?since=0');
    await reader.until((l) => l.at(-1)?.['seq'] === latest, 10_000);
    assert.equal(reader.lines.shift()?.['kind'], 'header');
    assert.equal(r.feed.oldestSeq, 1, 'nothing was pushed out');
    assert.deepEqual(
      reader.lines.map((l) => l['seq']),
      Array.from({ length: latest }, (_, i) => i + 1),
    );
    const giant = reader.lines.filter((l) => l['abridged'] !== undefined);
    assert.equal(giant.length, 20);
    for (const g of giant) {
      assert.equal(g['kind'], 'event');
      assert.deepEqual(g['event'], { type: 'tick' });
      assert.ok((g['abridged'] as number) > 200 * 1024);
    }
    // The whole records are the flight recorder's.
    const whole = r.trace.records.filter(
      (x) => x.kind === 'event' && (x.event as { pad?: string }).pad === pad,
    );
    assert.equal(whole.length, 20);
    reader.close();
  } finally {
    await stop(r);
  }
});

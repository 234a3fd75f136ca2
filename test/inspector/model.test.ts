import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TraceRecord } from '../../effects/trace.ts';
import { RowCompiler } from '../../src/inspector/rows.ts';
import { activePaths, formatStateValue, RowKind } from '../../src/inspector/row-kinds.ts';
import { Status, TraceModel } from '../../src/inspector/web/model.ts';
import { reducedNeeds } from '../../src/inspector/web/dag.ts';
import { startupSteps } from '../../machines/daemon-startup/steps.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { defaultConfig } from '../support/configs.ts';

function failingRun() {
  const run = simulate({
    config: defaultConfig(),
    seed: 1,
    faults: [{ effect: '*', step: 'layerStore', nth: 1, action: { fail: 'EIO' } }],
  });
  if (!run.trace || run.startup.status !== 'failed') throw new Error('expected a failed start-up');
  return { records: run.trace.records, startup: run.startup };
}

function modelOf(records: readonly TraceRecord[], interval = 16): TraceModel {
  const c = new RowCompiler();
  for (const r of records) c.add(r);
  const m = new TraceModel(interval);
  // Two chunks, as a live source sends them.
  const half = Math.floor(c.rows.length / 2);
  const first = {
    from: 0,
    rows: c.rows.slice(0, half),
    strings: { base: 0, add: c.strings.slice() },
    actors: { base: 0, add: c.actors.slice() },
  };
  m.append(first);
  m.append({
    from: half,
    rows: c.rows.slice(half),
    strings: { base: c.strings.length, add: [] },
    actors: { base: c.actors.length, add: [] },
  });
  return m;
}

test('the state at every record, from checkpoints, equals replaying the transitions from the start', () => {
  const { records } = failingRun();
  const m = modelOf(records);
  assert.equal(m.length, records.length);
  const daemon = m.actors.findIndex((a) => a.id === 'daemon');
  let value: unknown = null;
  let status: number = Status.unborn;
  records.forEach((r, row) => {
    if (r.kind === 'actor.start') status = Status.active;
    if (r.kind === 'transition') value = r.to;
    if (r.kind === 'actor.stop') status = Status.stopped;
    const st = m.stateAt(row);
    assert.deepEqual(m.valueOf(st, daemon), value, `record ${r.seq}`);
    assert.equal(st.status[daemon], status, `record ${r.seq}`);
  });
});

test('steps turn running, done and failed from their marks; steps never begun did not run once start-up failed', () => {
  const { records } = failingRun();
  const m = modelOf(records);
  const daemon = m.actors.findIndex((a) => a.id === 'daemon');
  const failedSeq = records.find((r) => r.kind === 'mark' && r.mark.mark === 'step.failed')
    ?.seq as number;
  const before = m.stepsAt(daemon, m.rowOfSeq(failedSeq) - 1);
  assert.equal(before.status.get('layerStore'), 'running');
  assert.equal(before.failedAfter, false);
  const at = m.stepsAt(daemon, m.length - 1);
  assert.equal(at.status.get('layerStore'), 'failed');
  assert.equal(at.status.get('pidfile'), 'done');
  // The image store needs the layer store: it never began.
  assert.equal(at.status.get('imageStore'), undefined);
  assert.equal(at.failedAfter, true);
});

test('releases come in the order they happened, each with the step that acquired it', () => {
  const { records, startup } = failingRun();
  const m = modelOf(records);
  const daemon = m.actors.findIndex((a) => a.id === 'daemon');
  const releases = m.releasesAt(daemon, m.length - 1);
  assert.deepEqual(
    releases.map((r) => r.resource),
    startup.status === 'failed' ? startup.releases.map((r) => r.resource) : [],
  );
  assert.equal(releases.find((r) => r.resource === 'pidfile')?.step, 'pidfile');
  assert.ok(releases.every((r) => r.outcome === 'released'));
  const failedRow = m.actors[daemon]?.stepFailedRow as number;
  assert.deepEqual(m.releasesAt(daemon, failedRow), [], 'nothing is released before the failure');
});

test('each effect links its request and its result', () => {
  const { records } = failingRun();
  const m = modelOf(records);
  const failed = records.find(
    (r) => r.kind === 'event' && r.event.type === 'effect.failed' && String(r.event['id']) !== '',
  );
  assert.ok(failed && failed.kind === 'event');
  const row = m.rowOfSeq(failed.seq);
  assert.equal(m.kind[row], RowKind.effectFailed);
  const e = m.ref[row] as number;
  const req = m.effReq[e] as number;
  assert.equal(m.kind[req], RowKind.effectRequest);
  const request = records[req];
  assert.ok(request?.kind === 'effect.request' && request.call.id === failed.event['id']);
  assert.equal(m.extra[row], Math.round((failed.durationMs ?? 0) * 1000) / 1000);
});

test('a gap seeds the actors it names with the state before it', () => {
  const c = new RowCompiler();
  c.add({
    kind: 'gap',
    dropped: 40,
    actors: {
      'container:x': {
        machine: 'container',
        value: { starting: 'creatingTask' },
        status: 'active',
      },
    },
  });
  c.add({
    seq: 41,
    t: 5,
    actor: 'container:x',
    kind: 'transition',
    from: { starting: 'creatingTask' },
    to: 'running',
  });
  const m = new TraceModel(4);
  m.append(c.chunk(0, 0, 0));
  const x = m.actors.findIndex((a) => a.id === 'container:x');
  assert.equal(m.actors[x]?.machine, 'container');
  assert.deepEqual(m.valueOf(m.stateAt(0), x), { starting: 'creatingTask' });
  assert.equal(m.valueOf(m.stateAt(1), x), 'running');
  assert.equal(m.rowOfSeq(41), 1);
});

test('state values read as paths: nested and parallel', () => {
  assert.equal(formatStateValue({ starting: 'creatingTask' }), 'starting.creatingTask');
  assert.deepEqual(activePaths({ p: { a: 'x', b: { c: 'y' } } }), [
    'p',
    'p.a',
    'p.a.x',
    'p.b',
    'p.b.c',
    'p.b.c.y',
  ]);
  assert.deepEqual(activePaths('idle'), ['idle']);
});

test('the step DAG keeps only needs no other need implies', () => {
  const reduced = reducedNeeds(startupSteps);
  assert.deepEqual(reduced.get('pidfile'), ['dataRoot']);
  // serveApi needs every step; only the ones nothing else needs remain.
  const serve = reduced.get('serveApi') ?? [];
  assert.ok(!serve.includes('pidfile'));
  assert.ok(serve.length < startupSteps.length - 1);
});

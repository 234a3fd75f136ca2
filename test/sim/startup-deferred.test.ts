import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFaultPlan } from '../../effects/sim/faults.ts';
import { SimWorld } from '../../effects/sim/world.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { startupConstraints } from '../../machines/daemon-startup/constraints.ts';
import { createStartupMachine } from '../../machines/daemon-startup/machine.ts';
import { startupSteps } from '../../machines/daemon-startup/steps.ts';
import { registerMachine } from '../../machines/registry.ts';
import { constraintsForTrace } from '../../src/check/command.ts';
import { simConfig } from '../../src/sim/config.ts';
import { ClientHistory, SimDaemon } from '../../src/sim/daemon.ts';

/**
 * The steps deferred until the API is served (the layer and image stores, the network
 * controller, systemInfo) on the simulated host, each made slow: the API is served before they
 * are done, a `docker run` sent the moment the daemon answers waits for them and succeeds, and
 * the start-up constraints hold; a daemon that answered everything as soon as it was served, or a step
 * table that did not defer them, is caught by the constraints that say why they must wait.
 */

/** Each deferred step's slowest effect, made 300 ms slow. */
const slowDeferredSteps = [
  'kernel.probeOverlay+300ms',
  'net.hostFacts+300ms',
  'kernel.systemInfo+300ms',
  'fs.loadOrCreateTrustKey+300ms',
];

interface Life {
  records: TraceRecord[];
  replies: readonly string[];
  broken: string[];
}

/** A first life on an empty host, `faults` applied; a `docker run --rm` is sent the moment it answers. */
function life(
  faults: readonly string[],
  altered: { startupMachine?: string; answersAfter?: readonly string[] } = {},
): Life {
  const config = simConfig(null);
  const world = new SimWorld({ seed: 7 });
  world.dataRoot = config.dataRoot;
  world.setFaults(parseFaultPlan(faults));
  const history = new ClientHistory();
  const d = new SimDaemon({ world, config, seed: 7, history, ...altered });
  while (!d.answering && d.startup === null && !d.scheduler.idle) d.scheduler.runUntilIdle(1);
  assert.ok(d.answering, `the daemon did not answer: ${JSON.stringify(d.startup)}`);
  d.schedule([
    {
      atMs: 0,
      op: {
        op: 'run',
        name: 'n0',
        rm: true,
        behaviour: { exitAfterMs: 5, exitCode: 0, ignoresTerm: false },
      },
    },
  ]);
  assert.ok(d.runUntilSettled(), 'the daemon did not settle');
  const records = d.trace?.records ?? [];
  const broken = violationsOf(
    checkTrace(records, [...startupConstraints, ...constraintsForTrace(records)]),
  )
    .map((v) => v.constraint)
    .filter((c, i, all) => all.indexOf(c) === i);
  return { records, replies: history.replies, broken };
}

function stepDoneAt(records: readonly TraceRecord[], step: string): number {
  const r = records.find(
    (x) =>
      x.actor === 'daemon' &&
      x.kind === 'mark' &&
      x.mark.mark === 'step.done' &&
      x.mark['step'] === step,
  );
  assert.ok(r, `no step.done of ${step}`);
  return r.seq;
}

test('slow deferred steps: the API is served before them, a run sent at the first answer waits for them and succeeds', () => {
  const { records, replies, broken } = life(slowDeferredSteps);
  assert.deepEqual(broken, []);
  const listening = stepDoneAt(records, 'serveApi');
  for (const step of ['layerStore', 'imageStore', 'networkController', 'systemInfo', 'daemonId'])
    assert.ok(stepDoneAt(records, step) > listening, `${step} was done before the API was served`);
  const firstContainer = records.find((r) => r.kind === 'actor.start' && r.machine === 'container');
  assert.ok(firstContainer, 'no container actor');
  assert.ok(firstContainer.seq > stepDoneAt(records, 'networkController'));
  assert.deepEqual(
    replies.filter((r) => r.includes('n0')),
    ['run n0: ok', 'start n0: ok'],
  );
});

test('a daemon that answers once the API is served, before the deferred steps are done: the checker says why it must wait', () => {
  const { broken } = life(slowDeferredSteps, { answersAfter: ['serveApi'] });
  for (const c of [
    'startsAfter(networkController, container imageGc imagePull imagePush netOp exec)',
    'startsAfter(systemInfo, imageGc)',
    'startsAfter(daemonId, imageGc)',
    'startsAfter(layerStore, container imageGc imagePull imagePush netOp exec)',
    'startsAfter(imageStore, container imageGc imagePull imagePush netOp exec)',
    'effectsAfter(imageStore)',
    'effectsAfter(layerStore)',
  ])
    assert.ok(broken.includes(c), `${c} not among ${broken.join(', ')}`);
});

test('a step table that runs the deferred steps on the way to the API: the checker says deferredUntil', () => {
  const deferred = ['trustKey', 'layerStore', 'networkController', 'systemInfo'];
  registerMachine(
    'daemonStartupNothingDeferred',
    createStartupMachine(
      startupSteps.map((s) =>
        deferred.includes(s.id) ? { ...s, ops: s.ops.filter((op) => op.kind !== 'defer') } : s,
      ),
    ),
  );
  const { broken } = life([], { startupMachine: 'daemonStartupNothingDeferred' });
  for (const step of deferred) {
    const c = `deferredUntil(${step}, serveApi)`;
    assert.ok(broken.includes(c), `${c} not among ${broken.join(', ')}`);
  }
});

test('stored containers: restore waits for containerd and the layer and image stores together, before the API is served', () => {
  const config = simConfig(null);
  const world = new SimWorld({ seed: 9 });
  world.dataRoot = config.dataRoot;
  const history = new ClientHistory();
  const first = new SimDaemon({ world, config, seed: 9, history });
  while (!first.answering && first.startup === null && !first.scheduler.idle)
    first.scheduler.runUntilIdle(1);
  first.schedule([
    {
      atMs: 0,
      op: {
        op: 'create',
        name: 'kept',
        behaviour: { exitAfterMs: null, exitCode: 0, ignoresTerm: false },
      },
    },
    { atMs: 100, op: { op: 'shutdown' } },
  ]);
  first.runFor(60_000);
  assert.ok(first.exited, 'the first life did not shut down');
  world.advance(1_000);
  // containerd boots slowly: the layer store, demanded with it, is done long before.
  world.setFaults(parseFaultPlan(['containerd.startSupervised+300ms']));
  const second = new SimDaemon({ world, config, seed: 10, history });
  assert.ok(second.runUntilSettled(), 'the second life did not settle');
  const records = second.trace?.records ?? [];
  const waits = records.filter(
    (r) => r.kind === 'mark' && r.mark.mark === 'step.waits' && r.mark['step'] === 'restore',
  );
  assert.deepEqual(
    waits.slice(0, 3).map((r) => (r.kind === 'mark' ? r.mark['on'] : '')),
    ['containerdClient', 'layerStore', 'imageStore'],
  );
  // Asked together: nothing of restore's between the three marks.
  assert.equal((waits[2] as TraceRecord).seq - (waits[0] as TraceRecord).seq, 2);
  assert.ok(stepDoneAt(records, 'imageStore') < stepDoneAt(records, 'containerdClient'));
  assert.ok(stepDoneAt(records, 'containerdClient') < stepDoneAt(records, 'restore'));
  assert.ok(stepDoneAt(records, 'restore') < stepDoneAt(records, 'serveApi'));
  assert.deepEqual(
    violationsOf(checkTrace(records, [...startupConstraints, ...constraintsForTrace(records)])),
    [],
  );
});

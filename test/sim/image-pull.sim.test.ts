import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMachine } from 'xstate';
import { SimWorld } from '../../effects/sim/world.ts';
import { sha256, type SimRegistryFaults } from '../../effects/registry/sim.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { markedBefore } from '../../machines/check/constraints.ts';
import { checkInvariants, restoreInvariants } from '../../machines/container/invariants.ts';
import { pullConstraints } from '../../machines/image-pull/constraints.ts';
import { machines, registerMachine } from '../../machines/registry.ts';
import { crashRun, type CrashScenario } from '../../src/sim/crash.ts';
import { simConfig } from '../../src/sim/config.ts';
import { ClientHistory, SimDaemon } from '../../src/sim/daemon.ts';
import { crashScenarios } from '../../src/sim/scenarios.ts';

const layers = ['base layer', 'middle layer', 'top layer'];
const digests = layers.map((l) => sha256(l));

/** One daemon life on a simulated host whose registry has `registry.sim/app:1`; one pull of it. */
function pull(
  faults: SimRegistryFaults,
  maxAttempts = 5,
): { world: SimWorld; trace: TraceRecord[]; daemon: SimDaemon } {
  const world = new SimWorld({ seed: 7 });
  const config = { ...simConfig(null), maxDownloadAttempts: maxAttempts };
  world.dataRoot = config.dataRoot;
  world.registry.publish('registry.sim/app', '1', layers);
  world.registry.faults = faults;
  const daemon = new SimDaemon({ world, config, seed: 7, history: new ClientHistory() });
  while (daemon.startup === null && !daemon.scheduler.idle) daemon.scheduler.runUntilIdle(1);
  assert.equal(daemon.startup?.status, 'ready');
  daemon.schedule([{ atMs: 0, op: { op: 'pull', repository: 'app', tag: '1' } }]);
  daemon.runFor(60_000);
  return { world, trace: daemon.trace?.records ?? [], daemon };
}

function marks(trace: TraceRecord[], name: string): Record<string, unknown>[] {
  return trace.flatMap((r) =>
    r.kind === 'mark' && r.mark.mark === name ? [r.mark as Record<string, unknown>] : [],
  );
}

function progress(trace: TraceRecord[]): string[] {
  return marks(trace, 'pull.progress').map(
    (m) => `${typeof m['id'] === 'string' ? `${m['id']}: ` : ''}${String(m['status'])}`,
  );
}

function calls(trace: TraceRecord[], effect: string): Record<string, unknown>[] {
  return trace.flatMap((r) =>
    r.kind === 'effect.request' && r.call.effect === effect
      ? [r.call as unknown as Record<string, unknown>]
      : [],
  );
}

function imagesOf(world: SimWorld): { ids: string[]; refs: string[]; temp: string[] } {
  const v = world.observeHost().images;
  assert.ok(v);
  return { ids: v.images.map((i) => i.id), refs: v.refs.map((r) => r.ref), temp: v.tempFiles };
}

test('a pull registers every layer, then the image, then its references, and leaves no temp file', () => {
  const { world, trace } = pull({});
  const p = progress(trace);
  assert.equal(p[0], '1: Pulling from app');
  assert.ok(p.includes(`${digests[0]?.slice(7, 19)}: Pull complete`), p.join('\n'));
  assert.match(p.at(-1) as string, /^Status: Downloaded newer image for registry\.sim\/app:1$/);
  const img = imagesOf(world);
  assert.equal(img.ids.length, 1);
  assert.deepEqual(
    img.refs.sort(),
    [
      `registry.sim/app:1`,
      `registry.sim/app@${sha256(world.registry.repos.get('registry.sim/app')?.manifests.get('1')?.body ?? '')}`,
    ].sort(),
  );
  assert.deepEqual(img.temp, []);
  assert.deepEqual(violationsOf(checkTrace(trace, pullConstraints)), []);
  assert.deepEqual(
    checkInvariants(
      world.observeHost(),
      restoreInvariants.filter(
        (i) => i.kind === 'noPartialImage' || i.kind === 'noOrphanedPullFiles',
      ),
    ),
    [],
  );
  // At most --max-concurrent-downloads (3 by default) blobs in flight; here the three layers and the config.
  assert.equal(calls(trace, 'registry.fetchBlob').length, 4);
});

test('a blob cut midway is resumed from where the file ends (a Range request)', () => {
  const { world, trace } = pull({ resetMidBlob: [digests[1] as string] });
  const fetches = calls(trace, 'registry.fetchBlob').filter((c) => c['digest'] === digests[1]);
  assert.equal(fetches.length, 2);
  assert.equal(fetches[0]?.['offset'], 0);
  assert.ok((fetches[1]?.['offset'] as number) > 0, JSON.stringify(fetches));
  assert.equal(imagesOf(world).ids.length, 1);
  assert.equal(marks(trace, 'pull.retry').length, 1);
});

test('a 429 is waited out for its Retry-After, a 503 retried with back-off', () => {
  const { world, trace } = pull({
    throttleBlob: [{ digest: digests[2] as string, retryAfterMs: 2_500 }],
    serverErrorBlob: [digests[0] as string],
  });
  const sleeps = calls(trace, 'clock.sleep').map((c) => c['ms']);
  assert.ok(sleeps.includes(2_500), JSON.stringify(sleeps));
  assert.ok(sleeps.includes(1_000), JSON.stringify(sleeps));
  assert.ok(progress(trace).some((l) => /Retrying in 3 seconds/.test(l)));
  assert.equal(imagesOf(world).ids.length, 1);
});

test('a digest mismatch is refused: nothing is registered, nothing is left', () => {
  const { world, trace } = pull({ corruptBlob: [digests[1] as string] });
  const failed = marks(trace, 'pull.failed');
  assert.equal(failed.length, 1);
  assert.equal(
    failed[0]?.['message'],
    `filesystem layer verification failed for digest ${digests[1] as string}`,
  );
  assert.equal(marks(trace, 'pull.imageRegistered').length, 0);
  assert.ok(!marks(trace, 'pull.layerRegistered').some((m) => m['digest'] === digests[1]));
  const img = imagesOf(world);
  assert.deepEqual(img.ids, []);
  assert.deepEqual(img.temp, []);
  // The layers registered before the failure were released with the pull's holds.
  assert.deepEqual(world.observeHost().images?.layers, []);
});

test('a slow registry and a token challenge change the timing, not the outcome', () => {
  const { world, trace } = pull({ slowBlobMs: 3_000, tokenAuth: true });
  assert.equal(imagesOf(world).ids.length, 1);
  assert.ok(world.registry.log.some((l) => l.includes('/token')));
  assert.deepEqual(violationsOf(checkTrace(trace, pullConstraints)), []);
});

test('a transfer failing every attempt ends the pull with its reason after max-download-attempts', () => {
  const { world, trace } = pull({ serverErrorBlob: [digests[0] as string] }, 1);
  assert.match(String(marks(trace, 'pull.failed')[0]?.['message']), /503 Service Unavailable/);
  assert.deepEqual(imagesOf(world).ids, []);
});

test('the pull orderings are checked: a layer registered before its blob was verified is caught', () => {
  const { trace } = pull({});
  const tampered = trace.filter(
    (r) =>
      !(
        r.kind === 'mark' &&
        r.mark.mark === 'pull.blobVerified' &&
        r.mark['digest'] === digests[2]
      ),
  );
  const v = violationsOf(checkTrace(tampered, pullConstraints));
  assert.ok(
    v.some((x) => x.constraint === 'markedBefore(pull.blobVerified, pull.layerRegistered)'),
    JSON.stringify(v),
  );
  const noImage = trace.filter(
    (r) => !(r.kind === 'mark' && r.mark.mark === 'pull.imageRegistered'),
  );
  assert.ok(
    violationsOf(
      checkTrace(noImage, [markedBefore('pull.imageRegistered', 'pull.referenceSet', 'id', 'x')]),
    ).length > 0,
  );
});

test('a crash mid-pull leaves no partial image and no orphaned file once restore and the image GC ran; without the GC it would', () => {
  const s = crashScenarios.find((x) => x.name === 'pull-interrupted') as CrashScenario;
  const uncut = crashRun(s, null, 3);
  assert.deepEqual(uncut.problems, []);
  // A cut right after the first layer of the app image registered: a layer no image uses yet.
  const at = uncut.traces[0].findIndex(
    (r) =>
      r.kind === 'mark' &&
      r.mark.mark === 'pull.layerRegistered' &&
      r.mark['created'] === true &&
      r.actor === 'pull:pull-2',
  );
  assert.ok(at > 0);
  const cut = crashRun(s, (uncut.traces[0][at] as TraceRecord).seq + 1, 3);
  assert.deepEqual(cut.problems, []);
  const original = machines['imageGc'];
  try {
    // An image GC that removes nothing.
    registerMachine(
      'imageGc',
      createMachine({
        id: 'imageGc',
        initial: 'collected',
        states: { collected: { type: 'final' } },
      }),
    );
    const noGc = crashRun(s, (uncut.traces[0][at] as TraceRecord).seq + 1, 3);
    assert.ok(
      noGc.problems.some((p) => p.kind === 'noOrphanedPullFiles'),
      JSON.stringify(noGc.problems),
    );
  } finally {
    registerMachine('imageGc', original as never);
  }
});

test('a push uploads each layer once: found (HEAD) or mounted the next time, then the manifest and its digest', () => {
  const world = new SimWorld({ seed: 9 });
  const config = simConfig(null);
  world.dataRoot = config.dataRoot;
  const daemon = new SimDaemon({ world, config, seed: 9, history: new ClientHistory() });
  while (daemon.startup === null && !daemon.scheduler.idle) daemon.scheduler.runUntilIdle(1);
  world.fs.mkdirAll('/layers/a', 0o755);
  world.fs.writeFile('/layers/a/layer.tar', 'tar of a', 0o644);
  world.fs.writeFile('/layers/a/blob', 'blob of b', 0o644);
  const configJson = JSON.stringify({ rootfs: { diff_ids: ['sha256:da', 'sha256:db'] } });
  world.store.first().set(`image/${sha256(configJson)}`, {
    id: sha256(configJson),
    layers: [],
    repoTags: [],
    repoDigests: [],
  });
  let n = 0;
  const push = (
    repository: string,
    known: { digest: string; repositories: string[] }[][],
  ): TraceRecord[] => {
    const actorId = `push:p${++n}`;
    const from = daemon.trace?.records.length ?? 0;
    daemon.session.spawn('imagePush', actorId, {
      actorId,
      push: actorId,
      domain: 'registry.sim',
      repository,
      name: `registry.sim/${repository}`,
      tag: '1',
      imageId: sha256(configJson),
      configJson,
      layers: [
        {
          diffId: 'sha256:da',
          source: { kind: 'tar', path: '/layers/a/layer.tar' },
          known: known[0] ?? [],
        },
        {
          diffId: 'sha256:db',
          source: {
            kind: 'blob',
            path: '/layers/a/blob',
            digest: sha256('blob of b'),
            mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          },
          known: known[1] ?? [],
        },
      ],
      credentials: null,
      maxConcurrentUploads: 5,
    });
    daemon.runFor(10_000);
    return (daemon.trace?.records ?? []).slice(from);
  };
  const first = push('team/app', []);
  const statuses = (t: TraceRecord[]): string[] =>
    t.flatMap((r) =>
      r.kind === 'mark' && r.mark.mark === 'push.progress' ? [String(r.mark['status'])] : [],
    );
  assert.ok(statuses(first).includes('Pushed'), statuses(first).join('\n'));
  assert.match(
    statuses(first).find((x) => x.startsWith('1: digest:')) ?? '',
    /^1: digest: sha256:[a-f0-9]{64} size: \d+$/,
  );
  assert.ok(world.registry.repos.get('registry.sim/team/app')?.manifests.has('1'));
  // What the push recorded lets the next one find the layers (HEAD) or mount them from team/app.
  const known = (digest: string): { digest: string; repositories: string[] } => ({
    digest,
    repositories: ['registry.sim/team/app'],
  });
  const again = push('team/app', [[known(sha256('tar of a'))], [known(sha256('blob of b'))]]);
  assert.equal(statuses(again).filter((x) => x === 'Layer already exists').length, 2);
  const other = push('team/other', [[known(sha256('tar of a'))], [known(sha256('blob of b'))]]);
  assert.equal(
    statuses(other).filter((x) => x === 'Mounted from team/app').length,
    2,
    statuses(other).join('\n'),
  );
});

test('the restore check looks at the image store: a pull in progress is no leftover, the same files of a dead pull are', () => {
  const world = new SimWorld({ seed: 11 });
  const config = simConfig(null);
  world.dataRoot = config.dataRoot;
  world.registry.publish('registry.sim/app', '1', layers);
  world.registry.faults = { slowBlobMs: 5_000 };
  const daemon = new SimDaemon({ world, config, seed: 11, history: new ClientHistory() });
  while (daemon.startup === null && !daemon.scheduler.idle) daemon.scheduler.runUntilIdle(1);
  // Asked before the image GC is done: it waits at the gate, then starts as the check does.
  daemon.schedule([{ atMs: 0, op: { op: 'pull', repository: 'app', tag: '1' } }]);
  const verdict = daemon.checkRestore();
  assert.deepEqual(verdict, { violations: [], unchecked: null });
  const trace = daemon.trace?.records ?? [];
  const seqOf = (pred: (r: TraceRecord) => boolean): number => trace.find(pred)?.seq ?? -1;
  const observe = trace.find(
    (r) => r.kind === 'effect.request' && r.call.effect === 'image.observe',
  );
  assert.ok(observe?.kind === 'effect.request');
  const observed = trace.find(
    (r) =>
      r.kind === 'event' && r.event.type === 'effect.done' && r.event['id'] === observe.call.id,
  );
  assert.ok(observed?.kind === 'event');
  // The pull's temp dir existed while the check looked, and the check was told of it as the pull's.
  const made = seqOf(
    (r) =>
      r.kind === 'event' &&
      r.actor === 'pull:pull-1' &&
      r.event.type === 'effect.done' &&
      trace.some(
        (q) =>
          q.kind === 'effect.request' &&
          q.call.id === r.event['id'] &&
          q.call.effect === 'fs.mkdirAll',
      ),
  );
  assert.ok(made > 0 && made < observed.seq, `mkdir at ${made}, look answered at ${observed.seq}`);
  assert.equal(
    seqOf(
      (r) =>
        r.kind === 'effect.request' &&
        r.actor === 'pull:pull-1' &&
        r.call.effect === 'fs.removeAll',
    ),
    -1,
  );
  assert.deepEqual((observed.event['result'] as { tempFiles: string[] }).tempFiles, []);
  // The daemon dies mid-pull: its files are leftovers now, until the next start's GC.
  daemon.kill();
  world.daemonExited();
  const left = world.observeHost().images?.tempFiles ?? [];
  assert.deepEqual(left, [`${config.dataRoot}/tmp/pull-1`]);
  assert.ok(
    checkInvariants(world.observeHost(), restoreInvariants).some(
      (v) => v.invariant === 'noOrphanedPullFiles',
    ),
  );
});

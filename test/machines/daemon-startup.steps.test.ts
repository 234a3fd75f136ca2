import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startupOrderings } from '../../machines/daemon-startup/constraints.ts';
import { containerdClientCalls } from '../../machines/daemon-startup/containerd-calls.ts';
import { answerSteps, startupSteps, type StepDef } from '../../machines/daemon-startup/steps.ts';

/** Every step that must finish before `id` starts, following `needs` transitively. */
function ancestors(table: readonly StepDef[], id: string): Set<string> {
  const byId = new Map(table.map((s) => [s.id, s]));
  const seen = new Set<string>();
  const stack = [...(byId.get(id)?.needs ?? [])];
  while (stack.length > 0) {
    const n = stack.pop() as string;
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push(...(byId.get(n)?.needs ?? []));
  }
  return seen;
}

/** The orderings a table's `needs` do not imply. */
export function unimpliedOrderings(table: readonly StepDef[]): string[] {
  return startupOrderings.flatMap((c) =>
    c.kind === 'before' && !ancestors(table, c.then).has(c.first)
      ? [`${c.first} before ${c.then}`]
      : [],
  );
}

test('every step needs only steps of the table, and the needs have no cycle', () => {
  const ids = new Set(startupSteps.map((s) => s.id));
  for (const s of startupSteps)
    for (const n of s.needs) assert.ok(ids.has(n), `${s.id} needs unknown step ${n}`);
  for (const s of startupSteps)
    assert.ok(!ancestors(startupSteps, s.id).has(s.id), `${s.id} needs itself through a cycle`);
});

test("the steps' needs imply every declared ordering", () => {
  assert.deepEqual(unimpliedOrderings(startupSteps), []);
});

test('moving restore before the plugin manager leaves an ordering unimplied', () => {
  // Restore loses its direct need and the path through the layer store.
  const moved = startupSteps.map((s) =>
    s.id === 'restore'
      ? {
          ...s,
          needs: s.needs.filter(
            (n) => n !== 'pluginManager' && n !== 'layerStore' && n !== 'imageStore',
          ),
        }
      : s,
  );
  assert.deepEqual(unimpliedOrderings(moved), ['pluginManager before restore']);
});

test('the table holds every step of the seed NewDaemon, in the seed order', () => {
  const seedOrder = [
    'setDefaultMtu',
    'verifyDaemonSettings',
    'disableBridge',
    'platformSupported',
    'checkSystem',
    'setupRemappedRoot',
    'setupDaemonProcess',
    'tempDir',
    'setTmpdirEnv',
    'setupSeccompProfile',
    'setDefaultIsolation',
    'configureMaxThreads',
    'ensureDefaultAppArmorProfile',
    'containersDir',
    'graphDriverName',
    'pluginManager',
    'layerStore',
    'configureKernelSecuritySupport',
    'transferManagers',
    'imageStore',
    'volumes',
    'trustKey',
    'trustDir',
    'distributionMetadata',
    'eventsService',
    'referenceStore',
    'migrateV1',
    'discovery',
    'sysInfo',
    'daemonId',
    'inMemoryStores',
    'execGc',
    'containerdClient',
    'restore',
    'systemInfo',
    'setupDumpStackTrap',
  ];
  const ids = startupSteps.map((s) => s.id);
  const positions = seedOrder.map((id) => ids.indexOf(id));
  assert.ok(
    positions.every((p) => p >= 0),
    `missing: ${seedOrder.filter((_, i) => (positions[i] as number) < 0).join(', ')}`,
  );
  assert.deepEqual(
    [...positions].sort((a, b) => a - b),
    positions,
    'table order differs from the seed order',
  );
});

/**
 * The steps the API does not wait for: containerd's boot, and the steps deferred until the API
 * listens (its client's connect, the layer store and the image steps after it, the network
 * controller, systemInfo).
 */
const offTheApiPath = [
  'startContainerd',
  'containerdClient',
  'layerStore',
  'configureKernelSecuritySupport',
  'transferManagers',
  'imageStore',
  'distributionMetadata',
  'referenceStore',
  'migrateV1',
  'networkController',
  'systemInfo',
  'trustKey',
  'daemonId',
];

/** The steps with a `defer` op until `until`. */
function deferredSteps(table: readonly StepDef[], until: string): Set<string> {
  return new Set(
    table
      .filter((s) => s.ops.some((op) => op.kind === 'defer' && op.until === until))
      .map((s) => s.id),
  );
}

test("the API is served last: serveApi needs every other step but containerd's boot and the deferred ones, through its needs", () => {
  const last = startupSteps[startupSteps.length - 1] as StepDef;
  assert.equal(last.id, 'serveApi');
  assert.deepEqual(
    ancestors(startupSteps, 'serveApi'),
    new Set(
      startupSteps
        .slice(0, -1)
        .map((s) => s.id)
        .filter((id) => !offTheApiPath.includes(id)),
    ),
  );
});

test('what the API does not wait for is deferred until it, or needs a step that is', () => {
  const deferred = deferredSteps(startupSteps, 'serveApi');
  assert.deepEqual(
    deferred,
    new Set(['trustKey', 'startContainerd', 'layerStore', 'networkController', 'systemInfo']),
  );
  for (const id of offTheApiPath) {
    if (deferred.has(id)) continue;
    const behind = [...ancestors(startupSteps, id)].filter((a) => deferred.has(a));
    assert.ok(
      behind.length > 0,
      `${id} is off the API's path but neither deferred nor behind a deferred step`,
    );
  }
  // Every answer but /_ping waits for all of them but containerd's boot and client.
  assert.deepEqual(
    new Set(offTheApiPath.filter((id) => !answerSteps.includes(id))),
    new Set(['startContainerd', 'containerdClient']),
  );
});

/**
 * Every op that may ask a containerd call, with why it comes after `containerdClient`: the
 * step needs it (directly or not), or an `await` of it comes first in the step.
 */
function unguardedContainerdCalls(table: readonly StepDef[]): string[] {
  const calls = new Set<string>(containerdClientCalls);
  const out: string[] = [];
  for (const s of table) {
    if (ancestors(table, s.id).has('containerdClient')) continue;
    let awaited = false;
    for (const op of s.ops) {
      if (op.kind === 'await' && op.step === 'containerdClient') awaited = true;
      if (op.kind === 'effect' && calls.has(op.effect) && !awaited)
        out.push(`${s.id}: ${op.effect}`);
    }
  }
  return out;
}

test('every containerd call of a step comes after containerdClient: a need, or an await before it', () => {
  assert.deepEqual(unguardedContainerdCalls(startupSteps), []);
});

test("restore's containerd calls without their await are caught", () => {
  const moved = startupSteps.map((s) =>
    s.id === 'restore' ? { ...s, ops: s.ops.filter((op) => op.kind !== 'await') } : s,
  );
  assert.deepEqual(unguardedContainerdCalls(moved), [
    'restore: containerd.listTasks',
    'restore: containerd.reapOrphanShims',
  ]);
});

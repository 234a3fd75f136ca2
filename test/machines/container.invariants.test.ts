import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkInvariants,
  restoreInvariants,
  type HostView,
  type Invariant,
} from '../../machines/container/invariants.ts';

const a = 'a'.repeat(64);
const b = 'b'.repeat(64);

function view(patch: Partial<HostView>): HostView {
  return {
    containers: [],
    tasks: [],
    containerdContainers: [],
    acknowledged: [],
    mounted: [],
    ...patch,
  };
}

const healthy = view({
  containers: [
    { id: a, name: '/web', status: 'running', autoRemove: false },
    { id: b, name: '/job', status: 'exited', autoRemove: false },
  ],
  tasks: [{ id: a, status: 'running' }],
  containerdContainers: [a, b],
  acknowledged: [
    { id: a, mayBeGone: false },
    { id: b, mayBeGone: false },
  ],
  mounted: [a],
});

test('a healthy host breaks no invariant', () => {
  assert.deepEqual(checkInvariants(healthy), []);
});

const broken: [Invariant['kind'], Partial<HostView>][] = [
  [
    'noDeadOrRemoving',
    { containers: [{ id: b, name: '/job', status: 'removing', autoRemove: false }] },
  ],
  [
    'noDeadOrRemoving',
    { containers: [{ id: b, name: '/job', status: 'dead', autoRemove: false }] },
  ],
  [
    'runningHasLiveTask',
    { containers: [{ id: a, name: '/web', status: 'running', autoRemove: false }], tasks: [] },
  ],
  [
    'runningHasLiveTask',
    {
      containers: [{ id: a, name: '/web', status: 'paused', autoRemove: false }],
      tasks: [{ id: a, status: 'running' }],
    },
  ],
  [
    'stoppedHasNoLiveTask',
    {
      containers: [{ id: a, name: '/web', status: 'exited', autoRemove: false }],
      tasks: [{ id: a, status: 'running' }],
    },
  ],
  [
    'exitedAutoRemoveGone',
    { containers: [{ id: b, name: '/job', status: 'exited', autoRemove: true }] },
  ],
  ['acknowledgedCreatesPresent', { containers: [], acknowledged: [{ id: a, mayBeGone: false }] }],
  [
    'namesAndIdsUnique',
    {
      containers: [
        { id: a, name: '/x', status: 'created', autoRemove: false },
        { id: b, name: 'x', status: 'created', autoRemove: false },
      ],
    },
  ],
  ['noOrphanInContainerd', { containers: [], tasks: [{ id: a, status: 'stopped' }] }],
  ['noOrphanInContainerd', { containers: [], containerdContainers: [b] }],
  [
    'restartPolicyHonoured',
    {
      containers: [
        {
          id: b,
          name: '/job',
          status: 'exited',
          autoRemove: false,
          restart: { policy: 'always', startedBefore: true, manuallyStopped: true },
        },
      ],
    },
  ],
  [
    'restartPolicyHonoured',
    {
      containers: [
        {
          id: b,
          name: '/job',
          status: 'exited',
          autoRemove: false,
          restart: { policy: 'unless-stopped', startedBefore: true, manuallyStopped: false },
        },
      ],
    },
  ],
  [
    'noOrphanMount',
    { containers: [{ id: b, name: '/job', status: 'exited', autoRemove: false }], mounted: [b] },
  ],
];

for (const [kind, patch] of broken) {
  test(`${kind} catches ${JSON.stringify(patch).slice(0, 90)}`, () => {
    const found = checkInvariants(view(patch)).map((v) => v.invariant);
    assert.ok(found.includes(kind), `expected ${kind}, got ${JSON.stringify(found)}`);
  });
}

test('a stopped unless-stopped container, or one never started, may stay down', () => {
  const down = (restart: NonNullable<HostView['containers'][number]['restart']>): HostView =>
    view({ containers: [{ id: b, name: '/job', status: 'exited', autoRemove: false, restart }] });
  assert.deepEqual(
    checkInvariants(down({ policy: 'unless-stopped', startedBefore: true, manuallyStopped: true })),
    [],
  );
  assert.deepEqual(
    checkInvariants(down({ policy: 'always', startedBefore: false, manuallyStopped: false })),
    [],
  );
  assert.deepEqual(
    checkInvariants(down({ policy: 'on-failure', startedBefore: true, manuallyStopped: false })),
    [],
  );
});

test('a removal the user asked for, or an --rm container that was started, may be gone', () => {
  assert.deepEqual(checkInvariants(view({ acknowledged: [{ id: a, mayBeGone: true }] })), []);
});

test('every invariant says why it matters', () => {
  for (const inv of restoreInvariants) assert.ok(inv.why.length > 10, inv.kind);
  assert.equal(new Set(restoreInvariants.map((i) => i.kind)).size, restoreInvariants.length);
});

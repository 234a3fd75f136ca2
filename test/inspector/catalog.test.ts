import assert from 'node:assert/strict';
import { test } from 'node:test';
import { and, not, or, setup } from 'xstate';
import { describeMachine, guardLabel, machineCatalog } from '../../src/inspector/catalog.ts';
import { stepTables } from '../../src/inspector/local-catalog.ts';
import { constraintsByMachine, machines } from '../../machines/registry.ts';

const machine = setup({
  types: { events: {} as { type: 'go' } | { type: 'stop' } | { type: 'fail' } },
  guards: { ready: () => true, healthy: () => true, forced: () => false },
  actions: { note: () => undefined },
}).createMachine({
  id: 'sample',
  initial: 'idle',
  states: {
    idle: { on: { go: { target: 'working', guard: and(['ready', not('forced')]) } } },
    working: {
      type: 'parallel',
      states: {
        io: { initial: 'reading', states: { reading: { on: { go: 'writing' } }, writing: {} } },
        watch: {
          initial: 'ok',
          states: {
            ok: {
              on: { fail: { target: 'bad', guard: or(['forced', 'healthy']), actions: 'note' } },
            },
            bad: {},
          },
        },
      },
      on: { stop: '#sample.done' },
      always: { guard: 'forced', target: 'done' },
    },
    done: { type: 'final' },
  },
});

test('a chart keeps nesting, parallel regions, final states, eventless transitions and combined guards', () => {
  const chart = describeMachine(machine);
  assert.equal(chart.initial, 'idle');
  const [idle, working, done] = chart.children;
  assert.deepEqual(idle?.transitions, [
    {
      event: 'go',
      targets: ['working'],
      guard: 'and(ready, not(forced))',
      actions: [],
      reenter: false,
    },
  ]);
  assert.equal(working?.type, 'parallel');
  assert.equal(
    working?.initial,
    undefined,
    'a parallel state has no initial child: all its regions are active',
  );
  assert.deepEqual(
    working?.children.map((c) => [c.path, c.type, c.initial]),
    [
      ['working.io', 'compound', 'reading'],
      ['working.watch', 'compound', 'ok'],
    ],
  );
  assert.deepEqual(
    working?.transitions.map((t) => [t.event, t.guard, t.targets]),
    [
      ['stop', undefined, ['done']],
      ['', 'forced', ['done']],
    ],
  );
  const ok = working?.children[1]?.children[0];
  assert.deepEqual(ok?.transitions, [
    {
      event: 'fail',
      targets: ['working.watch.bad'],
      guard: 'or(forced, healthy)',
      actions: ['note'],
      reenter: false,
    },
  ]);
  assert.equal(done?.type, 'final');
});

test('guards read as text', () => {
  assert.equal(guardLabel('ready'), 'ready');
  assert.equal(guardLabel({ type: 'ready', params: { x: 1 } }), 'ready');
  assert.equal(guardLabel(undefined), undefined);
  assert.equal(
    guardLabel(() => true),
    'inline guard',
  );
});

test("the catalog has every registered machine, its constraints, the start-up step table and XState's JSON", () => {
  const cat = machineCatalog(machines, constraintsByMachine, stepTables, { xstateJson: true });
  for (const name of Object.keys(machines)) assert.ok(cat.machines[name]?.chart, name);
  assert.equal(cat.machines['daemonStartup']?.steps?.length, stepTables['daemonStartup']?.length);
  assert.equal(cat.machines['daemonShutdown']?.steps, undefined);
  assert.ok((cat.machines['daemonStartup']?.constraints.length ?? 0) > 10);
  assert.equal((cat.machines['daemonStartup']?.xstate as { id: string }).id, 'daemonStartup');
  // What the page draws from is JSON all the way down (it goes over the wire).
  for (const m of Object.values(cat.machines)) {
    assert.deepEqual(JSON.parse(JSON.stringify(m.chart)), m.chart, m.name);
    assert.deepEqual(JSON.parse(JSON.stringify(m.constraints)), m.constraints, m.name);
  }
  assert.doesNotThrow(() => JSON.stringify(cat));
});

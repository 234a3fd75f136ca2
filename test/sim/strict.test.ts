import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freezeUnderTest } from '../../src/sim/strict.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { defaultConfig } from '../support/configs.ts';

test('under the test runner the simulator freezes what each step made', () => {
  assert.equal(freezeUnderTest(), true);
  const r = simulate({ config: defaultConfig(), seed: 1 });
  assert.equal(r.startup.status, 'ready');
  if (r.startup.status !== 'ready') return;
  const { facts, acquired } = r.startup;
  assert.ok(Object.isFrozen(facts));
  assert.ok(Object.isFrozen(acquired));
  assert.throws(() => {
    (facts as { mtu?: number }).mtu = 1;
  }, TypeError);
});

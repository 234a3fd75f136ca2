import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { startupConstraints } from '../../machines/daemon-startup/constraints.ts';
import { createStartupMachine } from '../../machines/daemon-startup/machine.ts';
import { startupSteps } from '../../machines/daemon-startup/steps.ts';
import { registerMachine } from '../../machines/registry.ts';
import { parseFaultPlan } from '../../effects/sim/faults.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { defaultConfig } from '../support/configs.ts';

/**
 * Moving an ordering in the machine must make a test fail: here restore is moved before the
 * plugin manager (no need on it, directly or through the layer and image stores), the
 * plugin manager is slow, and the checker catches it on the simulated trace.
 */
test('restore moved before the plugin manager: the checker reports before(pluginManager, restore)', () => {
  const moved = startupSteps.map((s) =>
    s.id === 'restore'
      ? {
          ...s,
          needs: s.needs.filter((n) => !['pluginManager', 'layerStore', 'imageStore'].includes(n)),
        }
      : s,
  );
  registerMachine('daemonStartupMovedRestore', createStartupMachine(moved));
  const run = simulate({
    config: defaultConfig(),
    seed: 1,
    faults: parseFaultPlan(['fs.mkdirAll@/var/lib/statedock/plugins+5000ms']),
    machine: 'daemonStartupMovedRestore',
  });
  const broken = violationsOf(checkTrace(run.trace?.records ?? [], startupConstraints)).map(
    (v) => v.constraint,
  );
  assert.ok(broken.includes('before(pluginManager, restore)'), `violations: ${broken.join(', ')}`);
});

test('the real table under the same delay keeps the ordering', () => {
  const run = simulate({
    config: defaultConfig(),
    seed: 1,
    faults: parseFaultPlan(['fs.mkdirAll@/var/lib/statedock/plugins+5000ms']),
  });
  assert.equal(run.startup.status, 'ready');
  assert.deepEqual(violationsOf(checkTrace(run.trace?.records ?? [], startupConstraints)), []);
});

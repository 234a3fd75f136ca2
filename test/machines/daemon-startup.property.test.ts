import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AsyncExecutor } from '../../effects/async-executor.ts';
import { MemoryTrace, makeHeader } from '../../effects/record.ts';
import { replayTrace } from '../../effects/replay.ts';
import { Session } from '../../effects/runner.ts';
import { arbFaultPlan } from '../../effects/sim/faults.arbitrary.ts';
import { formatFaultRule, parseFaultRule } from '../../effects/sim/faults.ts';
import { SimWorld } from '../../effects/sim/world.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { startupConstraints } from '../../machines/daemon-startup/constraints.ts';
import type { StartupOutput } from '../../machines/daemon-startup/machine.ts';
import { startupSteps } from '../../machines/daemon-startup/steps.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { arbConfig, defaultConfig } from '../support/configs.ts';
import { arbHost } from '../support/hosts.ts';

/**
 * Properties of the start-up machine on the simulated world. Runs are large enough to
 * mean something (NUM_RUNS, default 1,000 per property); a counterexample prints its seed
 * and path, and `FC_SEED=… FC_PATH=…` replays exactly that case.
 */
const numRuns = Number(process.env['NUM_RUNS'] ?? 1000);
const seed = process.env['FC_SEED'] === undefined ? undefined : Number(process.env['FC_SEED']);
const path = process.env['FC_PATH'];
const params = {
  numRuns,
  ...(seed === undefined ? {} : { seed }),
  ...(path === undefined ? {} : { path }),
};

const effectNames = [
  'fs.mkdirAll',
  'fs.chmod',
  'fs.stat',
  'fs.rename',
  'fs.removeAll',
  'fs.removeCreated',
  'fs.realpath',
  'fs.readFile',
  'fs.writeFileAtomic',
  'fs.createPidfile',
  'fs.removePidfile',
  'fs.loadOrCreateTrustKey',
  'kernel.defaultRouteMtu',
  'kernel.readSysctl',
  'kernel.writeSysctl',
  'kernel.uname',
  'kernel.setOomScoreAdj',
  'kernel.setEnv',
  'kernel.cgroupInfo',
  'kernel.appArmorStatus',
  'kernel.probeOverlay',
  'kernel.unmountUnder',
  'kernel.trapDumpSignal',
  'kernel.untrapDumpSignal',
  'kernel.systemInfo',
  'containerd.startSupervised',
  'containerd.stopSupervised',
  'containerd.connect',
  'containerd.close',
  'containerd.listTasks',
  'store.open',
  'store.close',
  'store.list',
  'clock.startTicker',
  'clock.stopTicker',
  'api.listen',
  'api.serve',
  'api.close',
  'api.settleContainers',
];
const stepNames = startupSteps.map((s) => s.id);

function problems(records: Parameters<typeof checkTrace>[0]): string[] {
  return violationsOf(checkTrace(records, startupConstraints)).map((v) => v.message);
}

test('every constraint holds for random configs, hosts, fault plans and latencies (and the run replays exactly)', () => {
  fc.assert(
    fc.property(
      arbConfig(),
      arbHost(),
      arbFaultPlan(effectNames, stepNames),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.boolean(),
      (config, host, faults, worldSeed, shutdown) => {
        const run = simulate({ config, host, faults, seed: worldSeed, shutdown });
        const records = run.trace?.records ?? [];
        assert.deepEqual(problems(records), [], `faults: ${faults.map(formatFaultRule).join(' ')}`);
        const failedMark = records.some(
          (r) => r.kind === 'mark' && r.mark.mark === 'startup.failed',
        );
        assert.equal(run.startup.status === 'failed', failedMark);
        replayTrace(records);
      },
    ),
    params,
  );
});

test('interleavings chosen by fast-check’s scheduler keep every constraint', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.scheduler(),
      arbConfig(),
      arbFaultPlan(effectNames, stepNames),
      async (s, config, faults) => {
        const world = new SimWorld({ seed: 1, faults });
        const trace = new MemoryTrace(makeHeader('test', {}));
        const executor = new AsyncExecutor(
          async (call) => {
            await s.schedule(Promise.resolve(call.id), call.id);
            const outcome = world.complete(call, world.judge(call), 0);
            if (!outcome.ok)
              throw Object.assign(new Error(outcome.error.message), { code: outcome.error.code });
            return outcome.value;
          },
          () => 0,
        );
        const session = new Session({ executor, sink: trace, now: () => 0 });
        const daemon = session.spawn('daemonStartup', 'daemon', { config });
        await s.waitAll();
        while (executor.inFlight > 0) await s.waitAll();
        const output = (daemon.actor.getSnapshot() as { output?: StartupOutput }).output;
        assert.ok(
          output,
          `start-up did not finish; state ${JSON.stringify((daemon.actor.getSnapshot() as { value: unknown }).value)}`,
        );
        assert.deepEqual(problems(trace.records), []);
        replayTrace(trace.records);
      },
    ),
    params,
  );
});

test('failing each effect call of a successful run in turn ends in failed with everything released, or in a recorded warning', () => {
  const config = defaultConfig();
  const clean = simulate({ config, seed: 7 });
  assert.equal(clean.startup.status, 'ready');
  const calls = (clean.trace?.records ?? []).filter(
    (r) => r.kind === 'effect.request' && r.actor === 'daemon',
  );
  assert.ok(calls.length > 40, `only ${calls.length} effect calls`);
  for (let i = 1; i <= calls.length; i++) {
    const rule = parseFaultRule(`*#${i}=EIO`);
    const run = simulate({ config, seed: 7, faults: [rule] });
    const records = run.trace?.records ?? [];
    assert.deepEqual(problems(records), [], `failing call ${i}`);
    if (run.startup.status === 'failed') {
      const acquired = records.filter(
        (r) => r.kind === 'mark' && r.mark.mark === 'resource.acquired',
      ).length;
      assert.equal(
        run.startup.releases.length,
        acquired,
        `call ${i}: ${acquired} acquired, ${run.startup.releases.length} released`,
      );
    } else {
      assert.ok(
        records.some((r) => r.kind === 'mark' && r.mark.mark === 'warning'),
        `call ${i} failed but start-up neither failed nor warned`,
      );
    }
  }
});

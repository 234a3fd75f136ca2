// Benchmark: crash runs per second (a first life cut after a record, a second life that
// restores and settles, the invariants, the constraints and replay of both lives), over
// every crash point of the named scenarios. Prints figures; asserts nothing.
import { exploreCrashPoints } from '../../src/sim/crash.ts';
import { crashScenarios } from '../../src/sim/scenarios.ts';

let points = 0;
const t0 = performance.now();
for (const s of crashScenarios) {
  const started = performance.now();
  const r = exploreCrashPoints(s, 1);
  points += r.points;
  console.log(
    `${s.name.padEnd(18)} ${String(r.points).padStart(4)} crash points in ${((performance.now() - started) / 1000).toFixed(2)} s${r.failures.length > 0 ? `, ${r.failures.length} FAILING` : ''}`,
  );
}
const secs = (performance.now() - t0) / 1000;
console.log(
  `crash runs: ${Math.round(points / secs).toLocaleString('en-US')} /s (${points} crash points, two daemon lives each, in ${secs.toFixed(1)} s)`,
);

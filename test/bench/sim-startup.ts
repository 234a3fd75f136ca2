// Benchmark: full simulated NewDaemon start-ups per second on one core, and replay speed
// (trace records per second). Prints figures; asserts nothing (targets: ≥ 2,000 start-ups/s,
// ≥ 100,000 replayed records/s).
import { replayTrace } from '../../effects/replay.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { defaultConfig } from '../support/configs.ts';

const config = defaultConfig();
const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);

function rate(label: string, run: (i: number) => number, unit: string): number {
  for (let i = 0; i < 200; i++) run(i); // warm-up: JIT and the world's base image
  const t0 = performance.now();
  let n = 0;
  let units = 0;
  while (performance.now() - t0 < seconds * 1000) {
    units += run(n);
    n++;
  }
  const perSecond = units / ((performance.now() - t0) / 1000);
  console.log(`${label}: ${Math.round(perSecond).toLocaleString('en-US')} ${unit}/s (${n} runs in ${seconds} s)`);
  return perSecond;
}

rate('simulated start-ups (full NewDaemon, no trace)', (i) => {
  const r = simulate({ config, seed: i, record: false });
  if (r.startup.status !== 'ready') throw new Error(`seed ${i} did not start`);
  return 1;
}, 'start-ups');

rate('simulated start-ups with recording', (i) => {
  simulate({ config, seed: i });
  return 1;
}, 'start-ups');

const traces = Array.from({ length: 50 }, (_, i) => simulate({ config, seed: i, shutdown: true }).trace?.records ?? []);
rate('replay', (i) => {
  const records = traces[i % traces.length] ?? [];
  replayTrace(records);
  return records.length;
}, 'records');

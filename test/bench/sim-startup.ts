// Benchmark: full simulated NewDaemon start-ups per second on one core, and replay speed
// (trace records per second). Prints figures; asserts nothing (targets: ≥ 2,000 start-ups/s,
// ≥ 100,000 replayed records/s).
import { replayTrace } from '../../effects/replay.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { defaultConfig } from '../support/configs.ts';

const config = defaultConfig();
const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);

/**
 * Runs `run` for `seconds` after a warm-up and prints units per second of wall time, and per
 * second of this process's CPU time (all its threads: the collector's too) — the machine is
 * shared, and the second figure moves less when other work competes for the core.
 */
function rate(label: string, run: (i: number) => number, unit: string): number {
  for (let i = 0; i < 200; i++) run(i); // warm-up: JIT and the world's base image
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let n = 0;
  let units = 0;
  while (performance.now() - t0 < seconds * 1000) {
    units += run(n);
    n++;
  }
  const perSecond = units / ((performance.now() - t0) / 1000);
  const cpu = process.cpuUsage(cpu0);
  const perCpuSecond = units / ((cpu.user + cpu.system) / 1e6);
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  console.log(
    `${label}: ${fmt(perSecond)} ${unit}/s (${n} runs in ${seconds} s; ${fmt(perCpuSecond)} per CPU-second)`,
  );
  return perSecond;
}

rate(
  'simulated start-ups (full NewDaemon, no trace)',
  (i) => {
    const r = simulate({ config, seed: i, record: false });
    if (r.startup.status !== 'ready') throw new Error(`seed ${i} did not start`);
    return 1;
  },
  'start-ups',
);

rate(
  'simulated start-ups with recording',
  (i) => {
    simulate({ config, seed: i });
    return 1;
  },
  'start-ups',
);

const traces = Array.from(
  { length: 50 },
  (_, i) => simulate({ config, seed: i, shutdown: true }).trace?.records ?? [],
);
rate(
  'replay',
  (i) => {
    const records = traces[i % traces.length] ?? [];
    replayTrace(records);
    return records.length;
  },
  'records',
);

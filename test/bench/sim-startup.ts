// Benchmark: full simulated NewDaemon start-ups per second on one core, and replay speed
// (trace records per second). Prints figures; asserts nothing (issue 10: ≥ 2,500 start-ups/s,
// ≥ 200,000 replayed records/s).
//
// It also prints the floor of the machinery itself: the same start-up chart, engine, session,
// scheduler and simulated world running a table of as many steps as the real start-up asks for
// effects, each step one `clock.now` with nothing to compute. The real start-up cannot be faster
// than that; what it costs beyond is the step table's own work and the simulated host's.
//
// WARMUP_SECONDS (3 by default) is how long each figure runs uncounted first; the start-up
// figures also warm up all together before the first of them (see `warmUpTogether`).
// BEFORE=<checkout of an older build> measures that build too, in the same process, in
// alternating slices of 100 ms: on a shared machine the load then falls on both alike, and the
// ratio stays meaningful when the absolute figures do not.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { replayTrace } from '../../effects/replay.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { effect } from '../../machines/daemon-startup/ops.ts';
import { createStartupMachine } from '../../machines/daemon-startup/machine.ts';
import type { StepDef } from '../../machines/daemon-startup/steps.ts';
import { registerMachine } from '../../machines/registry.ts';
import { defaultConfig } from '../support/configs.ts';

const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
const warmupSeconds = Number(process.env['WARMUP_SECONDS'] ?? 3);
const before = process.env['BEFORE'];

/** What the benchmark runs of one build. */
interface Build {
  label: string;
  simulate: typeof simulate;
  replayTrace: typeof replayTrace;
  config: ReturnType<typeof defaultConfig>;
}

async function load(dir: string): Promise<Build> {
  const from = (p: string): string => pathToFileURL(resolve(dir, p)).href;
  const sim = (await import(from('src/sim/simulate.ts'))) as { simulate: typeof simulate };
  const rep = (await import(from('effects/replay.ts'))) as { replayTrace: typeof replayTrace };
  const cfg = (await import(from('test/support/configs.ts'))) as {
    defaultConfig: typeof defaultConfig;
  };
  return {
    label: dir,
    simulate: sim.simulate,
    replayTrace: rep.replayTrace,
    config: cfg.defaultConfig(),
  };
}

const builds: Build[] = [
  { label: 'this build', simulate, replayTrace, config: defaultConfig() },
  ...(before === undefined ? [] : [await load(before)]),
];

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

/**
 * Runs `run` at least 200 times and for at least `warmupSeconds`, uncounted. V8 optimises the
 * simulator's code on a background thread over several seconds: in consecutive seconds from
 * the start the rate climbed 650 → 670 → 740 → 950 → 1,170 start-ups per CPU-second on the
 * shared machine, so a figure taken after 200 runs measured mostly the warm-up (whichever
 * figure came first was a quarter lower than the same figure taken again).
 */
function warmUp(run: (i: number) => number): void {
  const t0 = performance.now();
  for (let i = 0; i < 200 || performance.now() - t0 < warmupSeconds * 1000; i++) run(i);
}

/**
 * Runs `run` for `seconds` after a warm-up and prints units per second of wall time, and per
 * second of this process's CPU time (all its threads: the collector's too) — the machine is
 * shared, and the second figure moves less when other work competes for the core.
 */
function rate(label: string, run: (i: number) => number, unit: string): number {
  warmUp(run); // the JIT and the world's base image
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
  console.log(
    `${label}: ${fmt(perSecond)} ${unit}/s (${n} runs in ${seconds} s; ${fmt(perCpuSecond)} per CPU-second)`,
  );
  return perSecond;
}

/** `rate` for two builds at once: 100 ms of each in turn for `seconds` in all, then both figures and their ratio. */
function alternate(label: string, runs: ((i: number) => number)[], unit: string): void {
  const sides = runs.map((run) => {
    warmUp(run);
    return { run, n: 0, units: 0, wallMs: 0, cpuMs: 0 };
  });
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    for (const s of sides) {
      const w0 = performance.now();
      const c0 = process.cpuUsage();
      while (performance.now() - w0 < 100) s.units += s.run(s.n++);
      const c = process.cpuUsage(c0);
      s.wallMs += performance.now() - w0;
      s.cpuMs += (c.user + c.system) / 1000;
    }
  }
  const figures = sides.map((s) => ({
    wall: s.units / (s.wallMs / 1000),
    cpu: s.units / (s.cpuMs / 1000),
  }));
  sides.forEach((s, k) => {
    const f = figures[k] as { wall: number; cpu: number };
    console.log(
      `${label} [${(builds[k] as Build).label}]: ${fmt(f.wall)} ${unit}/s (${s.n} runs; ${fmt(f.cpu)} per CPU-second)`,
    );
  });
  const [now, then] = figures as [{ wall: number; cpu: number }, { wall: number; cpu: number }];
  console.log(
    `${label}: this build / BEFORE = ${(now.wall / then.wall).toFixed(2)} of wall time, ${(now.cpu / then.cpu).toFixed(2)} of CPU time`,
  );
}

function measure(label: string, run: (b: Build) => (i: number) => number, unit: string): void {
  if (builds.length === 1) rate(label, run(builds[0] as Build), unit);
  else
    alternate(
      label,
      builds.map((b) => run(b)),
      unit,
    );
}

const startupWithoutTrace =
  (b: Build) =>
  (i: number): number => {
    const r = b.simulate({ config: b.config, seed: i, record: false });
    if (r.startup.status !== 'ready') throw new Error(`seed ${i} did not start`);
    return 1;
  };

const startupWithTrace =
  (b: Build) =>
  (i: number): number => {
    b.simulate({ config: b.config, seed: i });
    return 1;
  };

/** The effects a default start-up asks for: the floor's table has one step per effect. */
const effectsPerStartup = (
  simulate({ config: defaultConfig(), seed: 0 }).trace?.records ?? []
).filter((r) => r.kind === 'effect.request').length;
const floorTable: StepDef[] = Array.from({ length: effectsPerStartup }, (_, i) => ({
  id: `step${i}`,
  needs: i === 0 ? [] : [`step${i - 1}`],
  title: 'asks the clock, computes nothing',
  ops: [effect('clock.now', () => ({}))],
}));
registerMachine('daemonStartupFloor', createStartupMachine(floorTable));
const floorConfig = defaultConfig();
const floorStartup = (i: number): number => {
  simulate({ config: floorConfig, seed: i, record: false, machine: 'daemonStartupFloor' });
  return 1;
};

/**
 * Before any start-up figure, every start-up run of every build warms up together, in turns of
 * 100 ms, for `warmupSeconds` each. Each op of the step table runs once per start-up, so V8
 * compiles some 650 functions over the first ten seconds or so (with the compiler on the same
 * core under `taskset`); warmed one figure at a time, the figure measured first still ran on
 * half-compiled code (start-ups without a trace came out below those with one).
 */
function warmUpTogether(runs: ((i: number) => number)[]): void {
  const t0 = performance.now();
  let i = 0;
  while (performance.now() - t0 < runs.length * warmupSeconds * 1000)
    for (const run of runs) {
      const slice = performance.now();
      while (performance.now() - slice < 100) run(i++);
    }
}

warmUpTogether([...builds.map(startupWithoutTrace), ...builds.map(startupWithTrace), floorStartup]);

measure('simulated start-ups (full NewDaemon, no trace)', startupWithoutTrace, 'start-ups');

measure('simulated start-ups with recording', startupWithTrace, 'start-ups');

rate(
  `floor: the same machinery with ${effectsPerStartup} trivial steps (no trace)`,
  floorStartup,
  'start-ups',
);

measure(
  'replay',
  (b) => {
    const traces = Array.from(
      { length: 50 },
      (_, i) => b.simulate({ config: b.config, seed: i, shutdown: true }).trace?.records ?? [],
    );
    return (i) => {
      const records = traces[i % traces.length] ?? [];
      b.replayTrace(records);
      return records.length;
    };
  },
  'records',
);

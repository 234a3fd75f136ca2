import { freezeUnderTest } from './strict.ts';
import { MemoryTrace, makeHeader } from '../../effects/record.ts';
import { Session } from '../../effects/runner.ts';
import { SimScheduler } from '../../effects/sim/scheduler.ts';
import { SimWorld, type SimWorldOptions } from '../../effects/sim/world.ts';
import type { FaultRule } from '../../effects/sim/faults.ts';
import { formatFaultRule } from '../../effects/sim/faults.ts';
import { tuneForSimulation } from './v8-tuning.ts';
import type { ShutdownOutput } from '../../machines/daemon-shutdown/machine.ts';
import type { StartupOutput } from '../../machines/daemon-startup/machine.ts';
import type { StartupConfig } from '../../machines/daemon-startup/types.ts';

export interface SimulationOptions {
  config: StartupConfig;
  seed: number;
  faults?: FaultRule[];
  /** A world that persists from an earlier run (a restart on the same host), else a new one. */
  world?: SimWorld;
  host?: SimWorldOptions['host'];
  /** After a successful start-up, run the normal shutdown too. */
  shutdown?: boolean;
  /** Keep a trace (on by default; the benchmark turns it off). */
  record?: boolean;
  /** The start-up machine's registered name (tests run altered step tables). */
  machine?: string;
}

export interface SimulationResult {
  trace: MemoryTrace | null;
  startup: StartupOutput;
  shutdown: ShutdownOutput | null;
  world: SimWorld;
  /** Virtual milliseconds the run took. */
  elapsedMs: number;
}

/** Mixes the seed so nearby seeds give unrelated priority streams (splitmix32). */
export function priorities(seed: number): () => number {
  let x = (seed ^ 0x9e3779b9) >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Runs the daemon's start-up (and optionally its normal shutdown) on a simulated world:
 * seeded latencies and tie-breaks choose the interleaving, the fault plan chooses what
 * fails. Everything is recorded unless `record` is false.
 */
export function simulate(opts: SimulationOptions): SimulationResult {
  tuneForSimulation();
  const world =
    opts.world ??
    new SimWorld({
      seed: opts.seed,
      ...(opts.host ? { host: opts.host } : {}),
      faults: opts.faults ?? [],
    });
  if (opts.world && opts.faults) world.setFaults(opts.faults);
  const scheduler = new SimScheduler(world, priorities(opts.seed));
  const trace =
    opts.record === false
      ? null
      : new MemoryTrace(
          makeHeader('sim', { seed: opts.seed, faults: (opts.faults ?? []).map(formatFaultRule) }),
        );
  const session = new Session({
    executor: scheduler,
    ...(trace ? { sink: trace } : {}),
    now: () => scheduler.now,
    later: (fn) => scheduler.schedule(scheduler.now, fn),
    freezeContexts: freezeUnderTest(),
  });
  const started = scheduler.now;
  const daemon = session.spawn(opts.machine ?? 'daemonStartup', 'daemon', { config: opts.config });
  scheduler.runUntilIdle();
  const startup = (daemon.actor.getSnapshot() as { output?: StartupOutput }).output;
  if (!startup)
    throw new Error(
      `start-up did not finish: it waits in state ${JSON.stringify((daemon.actor.getSnapshot() as { value: unknown }).value)} with nothing in flight`,
    );
  let shutdown: ShutdownOutput | null = null;
  if (opts.shutdown && startup.status === 'ready') {
    // No container actors run here (src/sim/daemon.ts runs the daemon with its containers).
    const stop = session.spawn('daemonShutdown', 'daemon-shutdown', {
      liveRestore: opts.config.liveRestore,
      shutdownTimeout: opts.config.shutdownTimeout,
      acquired: startup.acquired,
      containers: [],
    });
    scheduler.runUntilIdle();
    shutdown = (stop.actor.getSnapshot() as { output?: ShutdownOutput }).output ?? null;
    if (!shutdown)
      throw new Error(
        `shutdown did not finish: it waits in state ${JSON.stringify((stop.actor.getSnapshot() as { value: unknown }).value)}`,
      );
  }
  return { trace, startup, shutdown, world, elapsedMs: scheduler.now - started };
}

import type { TraceHeader, TraceRecord } from '../../effects/trace.ts';
import { makeHeader } from '../../effects/record.ts';
import { newRecord, simulateContainer } from '../../src/sim/containers.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { defaultConfig } from '../support/configs.ts';

/**
 * A long daemon run for the inspector benchmark, from simulated runs: one start-up, then
 * containers created, started, stopped, restarted and removed every 37 ms (virtual), each
 * on its own lifecycle, interleaved by time, then the shutdown — `count` records in all.
 */
export function bigTrace(count = 100_000): { header: TraceHeader; records: TraceRecord[] } {
  const run = simulate({ config: defaultConfig(), seed: 1, shutdown: true });
  const all = run.trace?.records ?? [];
  const startup = all.filter((r) => r.actor === 'daemon');
  const shutdown = all.filter((r) => r.actor !== 'daemon');
  const begin = Math.max(...startup.map((r) => r.t));
  const containers: TraceRecord[] = [];
  for (let k = 0; containers.length < count - startup.length - shutdown.length; k++) {
    const id = (k + 1).toString(16).padStart(12, '0').repeat(6).slice(0, 64);
    const sim = simulateContainer({
      seed: k,
      record: newRecord(id, {
        name: `web-${k}`,
        ...(k % 7 === 0 ? { restartPolicy: { name: 'on-failure', maximumRetryCount: 2 } } : {}),
      }),
      behaviour: {
        exitAfterMs: k % 3 === 0 ? 1500 : null,
        exitCode: k % 5,
        ignoresTerm: k % 4 === 0,
      },
      steps: [
        { atMs: 10, event: { type: 'api.start' } },
        { atMs: 3000, event: { type: 'api.stop', timeoutS: 1 } },
        { atMs: 4000, event: { type: 'api.start' } },
        { atMs: 6000, event: { type: 'api.pause' } },
        { atMs: 6500, event: { type: 'api.unpause' } },
        { atMs: 9000, event: { type: 'api.remove', force: true } },
      ],
      horizonMs: 1000,
    });
    for (const r of sim.trace.records) containers.push({ ...r, t: r.t + begin + k * 37 });
  }
  containers.sort((a, b) => a.t - b.t);
  const body = containers.slice(0, count - startup.length - shutdown.length);
  const end = body.length > 0 ? (body[body.length - 1] as TraceRecord).t : begin;
  const records = [...startup, ...body, ...shutdown.map((r) => ({ ...r, t: r.t + end }))].map(
    (r, i) => ({ ...r, seq: i + 1 }),
  );
  return {
    header: makeHeader('sim', {
      bench: 'inspector',
      containers: new Set(body.map((r) => r.actor)).size,
    }),
    records,
  };
}

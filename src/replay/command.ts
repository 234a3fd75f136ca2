import { parseArgs } from 'node:util';
import { ReplayDivergence, replayTrace } from '../../effects/replay.ts';
import { readTraceFile } from '../../effects/trace-file.ts';
import { UsageError } from '../cli/usage.ts';

export const replayUsage = `Usage: statedock replay TRACE

Drives the machines from a recorded trace (simulated or the daemon's flight recorder),
feeding back the recorded effect results, and fails at the first record where a machine
now asks for something else. A trace that ends in the middle of a step (the daemon was
killed, or the simulator cut the power there) replays up to its end, and says so.`;

export function replayCommand(argv: string[], out: (line: string) => void): number {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    out(replayUsage);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError('replay takes exactly one trace file: statedock replay TRACE');
  const path = positionals[0] as string;
  const { records } = readTraceFile(path);
  const started = performance.now();
  try {
    const report = replayTrace(records, { allowCut: true });
    const took = performance.now() - started;
    out(
      `replayed ${report.records} records of ${report.actors} actor(s) (${report.events} events) in ${took.toFixed(1)} ms: every machine asked for exactly what ${path} recorded`,
    );
    if (report.cut) {
      out(
        `the trace ends mid-step at record ${report.cut.seq} (${report.cut.actor}): the process died before recording ${report.cut.missing.join(', ')}`,
      );
    }
    return 0;
  } catch (err) {
    if (err instanceof ReplayDivergence) {
      out(`replay of ${path} diverged: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

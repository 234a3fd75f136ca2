import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isEffectErrorCode } from '../../effects/errors.ts';
import { FaultSyntaxError, parseFaultRule, type FaultRule } from '../../effects/sim/faults.ts';
import { stepById, stepIds } from '../../machines/daemon-startup/steps.ts';
import type { StartupConfig } from '../../machines/daemon-startup/types.ts';
import { UsageError } from '../cli/usage.ts';
import { simConfig } from './config.ts';
import { simulate } from './simulate.ts';
import { renderTimeline } from './timeline.ts';

export const simUsage = `Usage: statedock sim [--config FILE] [--seed N] [--fail STEP[:ERRNO]]... [--fault RULE]... [--trace FILE] [--shutdown]

Runs the daemon's start-up (Docker's NewDaemon as a state machine) in a simulated world and
prints its timeline: step, effect, result, duration in virtual time. Exits 1 when start-up
failed (after printing what was released, newest first).

Options:
  --config FILE        daemon.json to start with (dockerd's keys), else the defaults
  --seed N             seed of latencies and interleavings (default 1)
  --fail STEP[:ERRNO]  make the first effect of STEP fail (default errno EIO); repeatable
  --fault RULE         a fault rule, e.g. fs.mkdirAll#2@/var/lib/statedock/image=ENOSPC or containerd.*+300ms
  --trace FILE         write the trace (JSON lines) to FILE
  --shutdown           after a successful start-up, run the normal shutdown too
  --quiet              print only the outcome`;

function failRule(spec: string): FaultRule {
  const [step, errno = 'EIO', extra] = spec.split(':');
  if (step === undefined || step === '' || extra !== undefined)
    throw new UsageError(`--fail takes STEP[:ERRNO], got ${JSON.stringify(spec)}`);
  if (!stepIds.includes(step))
    throw new UsageError(
      `--fail: no step named ${JSON.stringify(step)}; steps are ${stepIds.join(', ')}`,
    );
  if (!stepById.get(step)?.ops.some((op) => op.kind === 'effect'))
    throw new UsageError(
      `--fail: step ${step} asks for no effect (it is pure), so nothing of it can fail; pick a step that does I/O`,
    );
  if (!isEffectErrorCode(errno))
    throw new UsageError(
      `--fail: unknown errno ${JSON.stringify(errno)} (e.g. EIO, ENOSPC, EACCES, EROFS)`,
    );
  return { effect: '*', step, nth: 1, action: { fail: errno } };
}

export function simCommand(argv: string[], out: (line: string) => void): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      seed: { type: 'string' },
      fail: { type: 'string', multiple: true },
      fault: { type: 'string', multiple: true },
      trace: { type: 'string' },
      shutdown: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    out(simUsage);
    return 0;
  }
  if (positionals.length > 0)
    throw new UsageError(
      `unexpected argument ${JSON.stringify(positionals[0])}; see 'statedock sim --help'`,
    );
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new UsageError(`--seed takes a non-negative integer, got ${JSON.stringify(values.seed)}`);
  const faults: FaultRule[] = (values.fail ?? []).map(failRule);
  for (const text of values.fault ?? []) {
    try {
      faults.push(parseFaultRule(text));
    } catch (err) {
      if (err instanceof FaultSyntaxError) throw new UsageError(err.message);
      throw err;
    }
  }
  let config: StartupConfig;
  if (values.config === undefined) {
    config = simConfig(null);
  } else {
    let text: string;
    try {
      text = readFileSync(values.config, 'utf8');
    } catch (err) {
      throw new UsageError(
        `cannot read --config ${values.config}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
    config = simConfig({ text, path: values.config });
  }

  const run = simulate({ config, seed, faults, shutdown: values.shutdown === true });
  const records = run.trace?.records ?? [];
  if (!values.quiet) {
    out(
      `statedock sim: seed ${seed}${faults.length > 0 ? `, faults ${faults.map((f) => JSON.stringify(f)).join(' ')}` : ''}`,
    );
    for (const line of renderTimeline(records)) out(line);
  }
  if (values.trace !== undefined && run.trace) writeFileSync(values.trace, run.trace.toJsonLines());
  if (run.startup.status === 'ready') {
    out(
      `start-up reached ready in ${run.elapsedMs.toFixed(3)} ms (virtual), daemon ID ${run.startup.facts.daemonId ?? '?'}`,
    );
    if (run.shutdown) {
      out(
        `shutdown released ${run.shutdown.releases.filter((r) => r.ok && !r.skipped).length} resources newest first${run.shutdown.releases.some((r) => !r.ok) ? ' (some releases failed)' : ''}`,
      );
    }
    return 0;
  }
  const f = run.startup.failure;
  const failed = run.startup.releases.filter((r) => !r.ok);
  out(`start-up failed at step ${f.step}: ${f.message}`);
  out(
    `released ${run.startup.releases.length} resource(s), newest first: ${run.startup.releases.map((r) => (r.ok ? r.resource : `${r.resource} (failed)`)).join(', ') || 'none'}`,
  );
  if (failed.length > 0) out(`${failed.length} release(s) failed; the others still ran`);
  return 1;
}

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { MemoryTrace, makeHeader } from '../../effects/record.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { UsageError } from '../cli/usage.ts';
import {
  crashRun,
  exploreCrashPoints,
  type CrashOutcome,
  type CrashScenario,
} from '../sim/crash.ts';
import { arbCrashCase, type RandomCrashCase } from '../sim/crash.arbitrary.ts';
import { crashScenarios } from '../sim/scenarios.ts';

export const exploreUsage = `Usage: statedock explore --crash [--scenario NAME]... [--random N] [--seed N] [--at K] [--case JSON] [--trace PREFIX] [--list]

Cuts the power after every record of each crash scenario's first life (dockerd's lifecycle
bugs, named by their moby issues, and the operations around them), starts the daemon again
on what survived, lets restore run, and checks the invariants of machines/container
(nothing dead or removing, running means a live task, --rm honoured, nothing orphaned),
every ordering constraint and the replay of the second life, and that every container left
can be removed. Then N random multi-operation scenarios (fast-check; a failure is shrunk to
the smallest one and printed with its seed). Exits 1 on any failure.

Options:
  --crash            explore crash points (what explore does)
  --scenario NAME    only this scenario (repeatable); --list names them
  --random N         random scenarios after the named ones (default 1000; 0 for none)
  --seed N           seed of the interleavings and the random scenarios (default 1)
  --at K             only the crash after record K of the scenario's first life (one --scenario)
  --case JSON        run one random case as printed by a failure
  --trace PREFIX     write the two lives of the first failure (or of --at, --case) to PREFIX-1.jsonl, PREFIX-2.jsonl
  --list             list the scenarios and exit
  --quiet            print only failures and the summary`;

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new UsageError(`--${name} takes a non-negative integer, got ${JSON.stringify(text)}`);
  return n;
}

function describe(o: CrashOutcome): string[] {
  const where =
    o.crashAt === null
      ? `uncut run (${o.firstLife})`
      : `power cut after record ${o.crashAt} of ${o.firstRecords}`;
  return [
    `  ✗ ${o.scenario}, ${where}, seed ${o.seed}:`,
    ...o.problems.map((p) => `      ${p.kind}: ${p.message}`),
  ];
}

function writeLives(prefix: string, o: CrashOutcome): string[] {
  const paths: string[] = [];
  o.traces.forEach((records: TraceRecord[], i) => {
    const t = new MemoryTrace(
      makeHeader('sim', {
        seed: o.seed + i,
        scenario: o.scenario,
        life: i + 1,
        crashAt: o.crashAt,
      }),
    );
    for (const r of records) {
      const { seq: _seq, ...body } = r;
      t.write(body);
    }
    const path = `${prefix}-${i + 1}.jsonl`;
    writeFileSync(path, t.toJsonLines());
    paths.push(path);
  });
  return paths;
}

/** One random case: the uncut run, then the cut at its fraction of the first life's records. */
export function runRandomCase(c: RandomCrashCase): CrashOutcome {
  const uncut = crashRun(c.scenario, null, c.seed);
  if (uncut.problems.length > 0 || c.cutAt === null) return uncut;
  return crashRun(c.scenario, Math.max(1, Math.round(c.cutAt * uncut.firstRecords)), c.seed);
}

function parseCase(text: string): RandomCrashCase {
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch {
    throw new UsageError(
      `--case takes the JSON a failure printed, got ${JSON.stringify(text.slice(0, 60))}`,
    );
  }
  const k = c as Partial<RandomCrashCase>;
  if (
    typeof k !== 'object' ||
    k === null ||
    typeof k.seed !== 'number' ||
    typeof k.scenario !== 'object' ||
    !Array.isArray(k.scenario?.ops)
  )
    throw new UsageError(
      '--case: expected {"scenario":{…,"ops":[…]},"cutAt":…,"seed":N} as printed by a failure',
    );
  return k as RandomCrashCase;
}

export function exploreCommand(argv: string[], out: (line: string) => void): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      crash: { type: 'boolean' },
      scenario: { type: 'string', multiple: true },
      random: { type: 'string' },
      seed: { type: 'string' },
      at: { type: 'string' },
      case: { type: 'string' },
      trace: { type: 'string' },
      list: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    out(exploreUsage);
    return 0;
  }
  if (positionals.length > 0)
    throw new UsageError(
      `unexpected argument ${JSON.stringify(positionals[0])}; see 'statedock explore --help'`,
    );
  if (values.list) {
    for (const s of crashScenarios) out(`${s.name.padEnd(18)} ${s.title ?? ''}`);
    return 0;
  }
  if (!values.crash)
    throw new UsageError(
      "say what to explore: --crash (cut the power at every record, restart, check); see 'statedock explore --help'",
    );
  const seed = integer('seed', values.seed, 1);
  const randomRuns = integer('random', values.random, 1000);
  const say = values.quiet ? () => undefined : out;

  if (values.case !== undefined) {
    const o = runRandomCase(parseCase(values.case));
    if (values.trace !== undefined) for (const p of writeLives(values.trace, o)) out(`wrote ${p}`);
    if (o.problems.length === 0) {
      out(
        `✓ the case holds (${o.firstLife === 'crashed' ? `power cut after record ${o.crashAt}` : o.firstLife}): ${o.replies.join('; ')}`,
      );
      return 0;
    }
    for (const l of describe(o)) out(l);
    return 1;
  }

  const unknown = (values.scenario ?? []).filter((n) => !crashScenarios.some((s) => s.name === n));
  if (unknown.length > 0)
    throw new UsageError(
      `no scenario named ${unknown.map((n) => JSON.stringify(n)).join(', ')}; scenarios are ${crashScenarios.map((s) => s.name).join(', ')}`,
    );
  const chosen: CrashScenario[] = values.scenario
    ? crashScenarios.filter((s) => values.scenario?.includes(s.name))
    : [...crashScenarios];

  if (values.at !== undefined) {
    if (chosen.length !== 1 || values.scenario === undefined)
      throw new UsageError('--at takes exactly one --scenario');
    const s = chosen[0] as CrashScenario;
    const o = crashRun(s, integer('at', values.at, 0) || null, seed);
    if (values.trace !== undefined) for (const p of writeLives(values.trace, o)) out(`wrote ${p}`);
    if (o.problems.length === 0) {
      out(
        `✓ ${s.name}: power cut after record ${values.at}; the next life's restore left every invariant holding`,
      );
      return 0;
    }
    for (const l of describe(o)) out(l);
    return 1;
  }

  let points = 0;
  let failed = 0;
  let firstFailure: CrashOutcome | null = null;
  const t0 = performance.now();
  for (const s of chosen) {
    const started = performance.now();
    const r = exploreCrashPoints(s, seed);
    points += r.points;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    if (r.failures.length === 0) {
      say(
        `✓ ${s.name.padEnd(18)} ${String(r.points).padStart(4)} crash points  ${secs} s  ${s.title ?? ''}`,
      );
      continue;
    }
    failed += r.failures.length;
    firstFailure ??= r.failures[0] ?? null;
    out(`✗ ${s.name.padEnd(18)} ${r.failures.length} of ${r.points} crash points fail  ${secs} s`);
    for (const f of r.failures.slice(0, 3)) for (const l of describe(f)) out(l);
    if (r.failures.length > 3) out(`  … and ${r.failures.length - 3} more`);
    const at = r.failures[0]?.crashAt;
    out(
      `  again: statedock explore --crash --scenario ${s.name} --seed ${seed}${at === null || at === undefined ? '' : ` --at ${at}`} --trace /tmp/${s.name}`,
    );
  }

  let randomFailed = false;
  if (randomRuns > 0) {
    let done = 0;
    const step = Math.max(1, Math.round(randomRuns / 4));
    let shrinking = false;
    const result = fc.check(
      fc.property(arbCrashCase, (c) => {
        done += 1;
        if (done % step === 0)
          say(`  random: ${done}/${randomRuns}${shrinking ? ' (shrinking)' : ''} …`);
        const o = runRandomCase(c);
        if (o.problems.length > 0) {
          // Shrinking can take long: the first failing case is there to rerun meanwhile.
          if (!shrinking)
            say(
              `  a random case fails; shrinking it. Meanwhile: statedock explore --crash --case '${JSON.stringify(c)}'`,
            );
          shrinking = true;
          throw new Error(o.problems.map((p) => `${p.kind}: ${p.message}`).join('; '));
        }
      }),
      { numRuns: randomRuns, seed },
    );
    if (result.failed) {
      randomFailed = true;
      const c = result.counterexample?.[0];
      out(
        `✗ random scenarios: failed after ${result.numRuns} of ${randomRuns} (fast-check seed ${result.seed}, path ${result.counterexamplePath ?? '?'}), shrunk ${result.numShrinks} times:`,
      );
      const cause = 'errorInstance' in result ? result.errorInstance : null;
      out(`  ${cause instanceof Error ? cause.message : String(cause)}`);
      if (c)
        out(
          `  again: statedock explore --crash --case '${JSON.stringify(c)}' --trace /tmp/random-case`,
        );
    } else {
      say(
        `✓ random scenarios      ${String(randomRuns).padStart(4)} cases (seed ${seed}), each cut at a random record`,
      );
    }
  }
  if (firstFailure && values.trace !== undefined)
    for (const p of writeLives(values.trace, firstFailure)) out(`wrote ${p}`);
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (failed === 0 && !randomFailed) {
    out(
      `explore --crash: ${points} crash points of ${chosen.length} scenario(s) and ${randomRuns} random scenarios, no violation (${secs} s)`,
    );
    return 0;
  }
  out(
    `explore --crash: ${failed} failing crash point(s)${randomFailed ? ' and a failing random scenario' : ''} (${secs} s)`,
  );
  return 1;
}

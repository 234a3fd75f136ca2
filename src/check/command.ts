import { parseArgs } from 'node:util';
import { checkTrace, type ConstraintResult } from '../../machines/check/checker.ts';
import type { Constraint } from '../../machines/check/constraints.ts';
import { constraintName } from '../../machines/check/constraints.ts';
import { constraintsByMachine } from '../../machines/registry.ts';
import { readTraceFile } from '../../effects/trace-file.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { UsageError } from '../cli/usage.ts';

export const checkUsage = `Usage: statedock check TRACE

Checks a trace against the ordering constraints of every machine in it (declared
before/after pairs, releases newest first and once, everything released after a failure,
nothing started after a failure) and lists each constraint with its verdict.`;

/** The constraints of every machine that has an actor in the trace, each once. */
export function constraintsForTrace(records: readonly TraceRecord[]): Constraint[] {
  const names = new Set<string>();
  const out: Constraint[] = [];
  for (const r of records) {
    if (r.kind !== 'actor.start') continue;
    for (const c of constraintsByMachine[r.machine] ?? []) {
      const n = constraintName(c);
      if (!names.has(n)) {
        names.add(n);
        out.push(c);
      }
    }
  }
  return out;
}

export function formatResults(results: readonly ConstraintResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.ok ? '✓' : '✗'} ${r.constraint}`);
    for (const v of r.violations) lines.push(`    ${v.message}`);
  }
  return lines;
}

export function checkCommand(argv: string[], out: (line: string) => void): number {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    out(checkUsage);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError('check takes exactly one trace file: statedock check TRACE');
  const path = positionals[0] as string;
  const { records } = readTraceFile(path);
  const constraints = constraintsForTrace(records);
  if (constraints.length === 0)
    throw new UsageError(`${path} has no actor of a known machine; nothing to check`);
  const results = checkTrace(records, constraints);
  for (const line of formatResults(results)) out(line);
  const broken = results.filter((r) => !r.ok).length;
  out(
    broken === 0
      ? `all ${results.length} constraints hold on ${path}`
      : `${broken} of ${results.length} constraints broken on ${path}`,
  );
  return broken === 0 ? 0 : 1;
}

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { replayTrace } from '../../effects/replay.ts';
import { readTraceFile } from '../../effects/trace-file.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { constraintsForTrace } from '../../src/check/command.ts';

/**
 * Traces recorded by earlier releases (the simulator's and the daemon's flight recorder),
 * replayed forever: a machine change that would make an old trace diverge fails here.
 */
const dir = join(import.meta.dirname, '../fixtures/traces');

for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
  test(`recorded trace ${file} replays exactly and keeps every constraint`, () => {
    const { records } = readTraceFile(join(dir, file));
    const report = replayTrace(records);
    assert.equal(report.records, records.length);
    assert.deepEqual(violationsOf(checkTrace(records, constraintsForTrace(records))), []);
  });
}

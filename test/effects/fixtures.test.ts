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
 * replayed forever: a machine change that would make an old trace diverge fails here. When the
 * change is meant, `bash scripts/record-fixtures.sh` (root, after `node scripts/build.mjs`)
 * records the daemon-* and sim-shutdown-release-fails traces again the way they were made.
 */
const dir = join(import.meta.dirname, '../fixtures/traces');

/**
 * Traces of an older machine version cannot replay with these machines: reading one says so,
 * naming the version, rather than diverging somewhere in the middle.
 */
for (const file of readdirSync(join(dir, 'v1'))) {
  test(`recorded trace v1/${file} is refused with the version it needs`, () => {
    assert.throws(
      () => readTraceFile(join(dir, 'v1', file)),
      /trace version 1 is not supported \(this statedock reads version 2\)/,
    );
  });
}

for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
  test(`recorded trace ${file} replays exactly and keeps every constraint`, () => {
    const { records } = readTraceFile(join(dir, file));
    const report = replayTrace(records);
    assert.equal(report.records, records.length);
    assert.deepEqual(violationsOf(checkTrace(records, constraintsForTrace(records))), []);
  });
}

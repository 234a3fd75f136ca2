import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertAscii } from '../../scripts/ascii.mjs';
import { parseGoDuration } from '../../src/daemon/go-duration.ts';

test('the build refuses a bundle that is not ASCII (bin/statedock.js reads it as latin1), naming the line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sd-ascii-'));
  try {
    const ascii = join(dir, 'ascii.cjs');
    writeFileSync(ascii, 'var a = /ms|\\u00b5s/;\nvar b = 1;\n');
    assertAscii(ascii);
    const wide = join(dir, 'wide.cjs');
    writeFileSync(wide, 'var a = 1;\nvar b = /ms|µs/;\n');
    assert.throws(() => assertAscii(wide), /wide\.cjs:2: the bundle must be ASCII[^]*µs/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Go durations in microseconds are still read with the micro sign written as an escape', () => {
  assert.equal(parseGoDuration('1µs500ns'), 1500);
  assert.equal(parseGoDuration('1μs500ns'), 1500);
  assert.equal(parseGoDuration('2us'), 2000);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../../src/api/server.ts';
import { applyChanges } from '../../src/daemon/containers/commit-changes.ts';
import { pruneUntil } from '../../src/daemon/containers/routes.ts';
import { parseGoDuration } from '../../src/daemon/go-duration.ts';
import type { ImageRecord } from '../../src/daemon/images.ts';

// Two callers read Go durations (time.ParseDuration) and treat their sign differently, as
// dockerd does: a prune's `until` takes any duration, a negative one reaching into the future
// (GetTimestamp subtracts it from now); a HEALTHCHECK option is a period, never negative.

/** Asserts `until` is `seconds` back from now (floored to a second, read a moment ago). */
function assertBack(value: string, seconds: number): void {
  const until = pruneUntil([value]);
  assert.ok(until !== null, `${value} is an until`);
  const back = Date.now() / 1000 - until;
  assert.ok(back >= seconds && back < seconds + 5, `${value}: ${String(back)} s back`);
}

test('a prune’s until is a Go duration back from now, a negative one into the future', () => {
  assertBack('10m', 600);
  assertBack('1h30m', 5400);
  assertBack('1.5h', 5400);
  assertBack('90s', 90);
  assertBack('+90s', 90);
  assertBack('-1h', -3600);
  assertBack('2h45m30.5s', 9930.5);
});

test('a prune’s until that is no duration is a unix timestamp or a date; "0" is the epoch', () => {
  assert.equal(pruneUntil(undefined), null);
  assert.equal(pruneUntil([]), null);
  assert.equal(pruneUntil(['0']), 0);
  assert.equal(pruneUntil(['1700000000']), 1700000000);
  assert.equal(pruneUntil(['1700000000.5']), 1700000000.5);
  assert.equal(pruneUntil(['2023-11-14T22:13:20Z']), 1700000000);
  assert.throws(
    () => pruneUntil(['1h', '2h']),
    (e: unknown) => e instanceof ApiError && e.status === 400,
  );
});

const config = (): ImageRecord['config'] => ({
  Cmd: null,
  Entrypoint: null,
  Env: [],
  WorkingDir: '',
});

/** The health check a `commit --change HEALTHCHECK <options> CMD true` gives. */
function health(options: string): ImageRecord['config']['Healthcheck'] {
  return applyChanges(config(), [`HEALTHCHECK ${options} CMD true`]).Healthcheck;
}

test('HEALTHCHECK’s periods are Go durations in nanoseconds', () => {
  assert.deepEqual(health('--interval=30s --timeout=1m30s --start-period=500ms'), {
    Test: ['CMD-SHELL', 'true'],
    Interval: 30e9,
    Timeout: 90e9,
    StartPeriod: 500e6,
  });
  assert.equal(health('--interval=1.5s')?.Interval, 1.5e9);
  assert.equal(health('--interval=1h')?.Interval, 3600e9);
  assert.equal(health('--interval=1µs500ns')?.Interval, 1500);
  assert.equal(health('--interval=2us')?.Interval, 2000);
  assert.equal(health('--interval=0')?.Interval, 0);
});

test('a HEALTHCHECK period that is negative or no Go duration is refused in Go’s words', () => {
  for (const bad of ['-30s', '30', 's', '1x', '1h-5m', ''])
    assert.throws(
      () => health(`--interval=${bad} `),
      (e: unknown) =>
        e instanceof ApiError &&
        e.status === 400 &&
        e.message ===
          (bad === ''
            ? 'Unknown type "" in HEALTHCHECK (try CMD)'
            : `time: invalid duration "${bad}"`),
      bad,
    );
});

test('a Go duration is read by Go’s rules: sign, terms with units, fractions truncated to a nanosecond', () => {
  const cases: [string, number | null][] = [
    ['300ms', 300e6],
    ['-1.5h', -5400e9],
    ['+2h45m', 9900e9],
    ['1h1m1s1ms1us1ns', 3661001001001],
    ['0', 0],
    ['-0', 0],
    ['+0', 0],
    ['0s', 0],
    ['1.s', 1e9],
    ['.5s', 500e6],
    ['0.3s', 300e6],
    ['1.5ns', 1],
    ['1.0000000001s', 1e9],
    ['2562047h', 2562047 * 3600e9],
    ['-9223372036854775808ns', -9223372036854775808],
    // No duration: no term, no unit, an unknown unit, a sign inside, nothing but a point.
    ['', null],
    ['-', null],
    ['5', null],
    ['s', null],
    ['.s', null],
    ['1x', null],
    ['1h-5m', null],
    ['--1s', null],
    ['1 s', null],
    // Past int64 nanoseconds.
    ['9223372036854775808ns', null],
    ['2562048h', null],
  ];
  for (const [text, ns] of cases) assert.equal(parseGoDuration(text), ns, text);
});

test('a prune’s until of "-0" or "+0" is a duration (now), as dockerd reads it; only "0" is the epoch', () => {
  assertBack('-0', 0);
  assertBack('+0', 0);
  assert.equal(pruneUntil(['0']), 0);
});

test('a HEALTHCHECK period takes what Go takes, a plus sign or a bare fraction too', () => {
  assert.equal(health('--interval=+30s')?.Interval, 30e9);
  assert.equal(health('--interval=.5s')?.Interval, 500e6);
  assert.equal(health('--interval=2μs')?.Interval, 2000);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { traceVersion } from '../../effects/trace.ts';
import { ReplayDivergence, replayTrace } from '../../effects/replay.ts';
import { parseTrace, TraceFileError } from '../../effects/trace-file.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { defaultConfig } from '../support/configs.ts';
import { parseFaultPlan } from '../../effects/sim/faults.ts';

function run(faults: string[] = []): TraceRecord[] {
  const r = simulate({
    config: defaultConfig(),
    seed: 3,
    faults: parseFaultPlan(faults),
    shutdown: true,
  });
  return r.trace?.records ?? [];
}

test('a recorded run replays exactly, start-up and shutdown', () => {
  const records = run();
  const report = replayTrace(records);
  assert.equal(report.actors, 2);
  assert.equal(report.records, records.length);
});

test('a failed start-up with a failing release replays exactly', () => {
  const records = run(['step:layerStore=EIO', 'fs.removePidfile=EROFS']);
  assert.ok(records.some((r) => r.kind === 'mark' && r.mark.mark === 'release.failed'));
  replayTrace(records);
});

test('a tampered trace fails naming the record where the machine now asks something else', () => {
  const records = structuredClone(run());
  const target = records.find(
    (r) =>
      r.kind === 'effect.request' &&
      r.call.effect === 'fs.mkdirAll' &&
      r.call.step === 'containersDir',
  );
  assert.ok(target && target.kind === 'effect.request');
  (target.call as { path: string }).path = '/somewhere/else';
  assert.throws(
    () => replayTrace(records),
    (err: unknown) =>
      err instanceof ReplayDivergence &&
      err.seq === target.seq &&
      err.message.includes(
        `trace record ${target.seq} (daemon): recorded fs.mkdirAll /somewhere/else`,
      ) &&
      err.message.includes('the machine now asks fs.mkdirAll /var/lib/statedock/containers') &&
      err.message.includes('re-record the trace or revert the machine change'),
  );
});

test('a tampered result changes what the machine asks next, and replay says where', () => {
  const records = structuredClone(run());
  const ev = records.find(
    (r) =>
      r.kind === 'event' &&
      r.event.type === 'effect.done' &&
      (r.event['result'] as { mtu?: number }).mtu !== undefined,
  );
  assert.ok(ev && ev.kind === 'event');
  // The uname result decides platformSupported; feed a different OS.
  const uname = records.find(
    (r) =>
      r.kind === 'event' &&
      (r.event['result'] as { sysname?: string } | undefined)?.sysname === 'Linux',
  );
  assert.ok(uname && uname.kind === 'event');
  (uname.event['result'] as { sysname: string }).sysname = 'Darwin';
  assert.throws(() => replayTrace(records), ReplayDivergence);
});

test('malformed traces are refused with the line that is wrong', () => {
  assert.throws(
    () => parseTrace('', 't.jsonl'),
    (e: unknown) => e instanceof TraceFileError && /empty file/.test(e.message),
  );
  assert.throws(
    () => parseTrace('{"kind":"header","format":"other"}\n', 't.jsonl'),
    /t\.jsonl:1: not a statedock trace/,
  );
  assert.throws(
    () =>
      parseTrace(
        '{"kind":"header","format":"statedock-trace","version":99,"program":"sim","createdAt":null,"meta":{}}\n',
        't.jsonl',
      ),
    /version 99 is not supported/,
  );
  assert.throws(
    () =>
      parseTrace(
        `{"kind":"header","format":"statedock-trace","version":${traceVersion},"program":"sim","createdAt":null,"meta":{}}\n{oops\n`,
        't.jsonl',
      ),
    /t\.jsonl:2: not JSON/,
  );
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { bin } from '../support/daemon-process.ts';

const dir = mkdtempSync('/tmp/sd-cli-');
after(() => rmSync(dir, { recursive: true, force: true }));

function statedock(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('statedock sim without faults reaches ready', () => {
  const r = statedock('sim');
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /start-up reached ready in [\d.]+ ms \(virtual\), daemon ID ([A-Z2-7]{4}:){11}[A-Z2-7]{4}/,
  );
  assert.match(r.stdout, /▶ restore/);
  assert.match(r.stdout, /daemon\s+→ ready/);
});

test('statedock sim --fail layerStore releases what was acquired, newest first, and exits non-zero', () => {
  const r = statedock('sim', '--fail', 'layerStore');
  assert.equal(r.status, 1);
  assert.match(r.stdout, /✗ layerStore failed: /);
  assert.match(r.stdout, /start-up failed at step layerStore: .*input\/output error/);
  const released = /released (\d+) resource\(s\), newest first: (.*)/.exec(r.stdout);
  assert.ok(released, r.stdout);
  const order = (released[2] as string).split(', ');
  // What the pidfile step and the roots acquired comes last, in reverse acquisition order.
  assert.deepEqual(order.slice(-3), ['pidfile', 'dir:execRoot', 'dir:dataRoot']);
  const releaseLines = r.stdout.split('\n').filter((l) => l.includes('↩ '));
  assert.equal(releaseLines.length >= order.length, true);
});

test('a trace written by sim replays and checks', () => {
  const trace = `${dir}/t.jsonl`;
  assert.equal(statedock('sim', '--fail', 'restore:ENOSPC', '--trace', trace, '--quiet').status, 1);
  const replay = statedock('replay', trace);
  assert.equal(replay.status, 0, replay.stdout + replay.stderr);
  assert.match(replay.stdout, /every machine asked for exactly what/);
  const check = statedock('check', trace);
  assert.equal(check.status, 0, check.stdout);
  assert.match(check.stdout, /✓ before\(pluginManager, restore\)/);
  assert.match(check.stdout, /all \d+ constraints hold/);
});

test('a tampered trace fails replay with the record named', () => {
  const trace = `${dir}/t2.jsonl`;
  statedock('sim', '--trace', trace, '--quiet');
  const lines = readFileSync(trace, 'utf8').split('\n');
  const i = lines.findIndex(
    (l) => l.includes('"effect":"fs.mkdirAll"') && l.includes('"step":"volumes"'),
  );
  lines[i] = (lines[i] as string).replace('/volumes"', '/volumez"');
  writeFileSync(trace, lines.join('\n'));
  const r = statedock('replay', trace);
  assert.equal(r.status, 1);
  assert.match(
    r.stdout,
    /diverged: trace record \d+ \(daemon\): recorded fs\.mkdirAll \/var\/lib\/statedock\/volumez/,
  );
});

test('bad arguments and unreadable traces get one clear line and a non-zero exit', () => {
  for (const [args, pattern] of [
    [['sim', '--fail', 'nosuchstep'], /no step named "nosuchstep"/],
    [['sim', '--fail', 'layerStore:EWHAT'], /unknown errno "EWHAT"/],
    [['sim', '--seed', 'x'], /--seed takes a non-negative integer/],
    [['sim', '--fault', 'fs.mkdirAll==='], /bad fault rule/],
    [['sim', '--bogus'], /Unknown option '--bogus'/],
    [['replay'], /exactly one trace file/],
    [['replay', `${dir}/missing.jsonl`], /cannot read trace .*no such file/],
    [['check', '/etc/hostname'], /not JSON|not a statedock trace/],
    [['nosuchcommand'], /unknown command "nosuchcommand"/],
  ] as const) {
    const r = statedock(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(
      r.stderr.trim().split('\n').length,
      1,
      `${args.join(' ')} printed more than one line: ${r.stderr}`,
    );
  }
});

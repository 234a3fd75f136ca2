import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, test } from 'node:test';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import {
  daemonDirs,
  type DaemonDirs,
  docker,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
  removeDaemonDirs,
  importImage,
} from '../support/daemon-process.ts';

const unavailable = realDaemonUnavailable() ?? busyboxUnavailable();

let d: DaemonDirs;
let daemon: RunningDaemon | null = null;

after(async () => {
  if (unavailable || !d) return;
  if (daemon) {
    docker(d.sock, ['rm', '-f', 'hc', 'live'], `${d.dir}/cfg`);
    await stopDaemon(daemon);
  }
  removeDaemonDirs(d);
});

interface Health {
  Status: string;
  FailingStreak: number;
  Log: { Start: string; ExitCode: number }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test(
  'State.Health survives a daemon restart: stopped with its container (unhealthy, log kept), and under live-restore the probe carries on with its log',
  { skip: unavailable ?? false },
  async () => {
    d = daemonDirs('sdxh');
    const cfg = `${d.dir}/cfg`;
    mkdirSync(cfg);
    busyboxTarball(d.dir, ['sh', 'sleep', 'true', 'test', 'touch', 'rm']);
    const run = (...args: string[]) => docker(d.sock, args, cfg);
    const health = (name: string): Health | null =>
      JSON.parse(run('inspect', '-f', '{{json .State.Health}}', name).stdout) as Health | null;
    const until = async (name: string, status: string, entries = 1): Promise<Health> => {
      for (let i = 0; i < 100; i++) {
        const h = health(name);
        if (h?.Status === status && h.Log.length >= entries) return h;
        await sleep(100);
      }
      assert.fail(`${name} never ${status}: ${JSON.stringify(health(name))}`);
    };
    const healthcheck = [
      '--health-cmd',
      'test -e /tmp/ok',
      '--health-interval',
      '300ms',
      '--health-retries',
      '1',
    ];

    // Without live-restore the shutdown stops the container: its monitor stops with it.
    daemon = await startDaemon(d);
    importImage(d.sock, cfg, `${d.dir}/busybox.tar`, 'busybox');
    const r = run(
      'run',
      '-d',
      '--name',
      'hc',
      '--network',
      'none',
      ...healthcheck,
      'busybox',
      'sh',
      '-c',
      'touch /tmp/ok; sleep 1000',
    );
    assert.equal(r.status, 0, r.stderr);
    await until('hc', 'healthy', 2);
    assert.equal(run('exec', 'hc', 'rm', '/tmp/ok').status, 0);
    const failing = await until('hc', 'unhealthy');
    assert.equal(failing.FailingStreak >= 1, true);
    await stopDaemon(daemon);
    const down = new Date().toISOString();
    daemon = await startDaemon(d);
    // dockerd: the stopped monitor left it unhealthy; the streak and the log (probes up to the
    // shutdown's stop of the container) are as they were.
    const after1 = health('hc');
    assert.equal(run('inspect', '-f', '{{.State.Running}}', 'hc').stdout.trim(), 'false');
    assert.ok(after1 !== null, 'State.Health is kept');
    assert.equal(after1.Status, 'unhealthy');
    assert.ok(after1.FailingStreak >= failing.FailingStreak);
    // The log is the last five probes up to the shutdown: it goes on from what was seen before
    // (healthy probes may still be in it), and its newest is a failure (a probe the stop cut
    // short fails too).
    const seen = failing.Log.at(-1)?.Start ?? '';
    assert.ok(
      after1.Log.length > 0 && after1.Log.every((e) => e.Start < down),
      'probes before the shutdown',
    );
    assert.ok(
      after1.Log.some((e) => e.Start === seen) || after1.Log.every((e) => e.Start > seen),
      `the log goes on from the one seen: ${JSON.stringify(failing.Log)} then ${JSON.stringify(after1.Log)}`,
    );
    assert.notEqual(after1.Log.at(-1)?.ExitCode, 0, 'the newest probe failed');
    // Started again: starting, no streak, the log carries on (dockerd's initHealthMonitor).
    assert.equal(run('start', 'hc').status, 0);
    const restarted = await until('hc', 'healthy', Math.min(5, after1.Log.length + 1));
    assert.equal(restarted.FailingStreak, 0);
    assert.ok(
      restarted.Log.some((e) => e.Start === after1.Log.at(-1)?.Start),
      'the earlier run’s results are still in the log',
    );
    assert.equal(run('rm', '-f', 'hc').status, 0);
    await stopDaemon(daemon);

    // With live-restore the container runs on; the restarted daemon reads its health back
    // and probes again.
    daemon = await startDaemon(d, ['--live-restore']);
    assert.equal(
      run(
        'run',
        '-d',
        '--name',
        'live',
        '--network',
        'none',
        ...healthcheck,
        'busybox',
        'sh',
        '-c',
        'touch /tmp/ok; sleep 1000',
      ).status,
      0,
    );
    const before = await until('live', 'healthy', 2);
    await stopDaemon(daemon);
    daemon = await startDaemon(d, ['--live-restore']);
    const first = health('live');
    assert.ok(first !== null, 'State.Health is there as soon as the API answers');
    assert.equal(
      first.Log[0]?.Start,
      before.Log[0]?.Start,
      `the log before the restart is kept: ${JSON.stringify(first)}`,
    );
    const later = await until('live', 'healthy', before.Log.length + 1);
    assert.ok(later.Log.length > before.Log.length || later.Log.length === 5);
    assert.equal(run('rm', '-f', 'live').status, 0);
  },
);

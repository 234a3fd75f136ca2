import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
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
    docker(d.sock, ['rm', '-f', 'web'], `${d.dir}/cfg`);
    await stopDaemon(daemon);
  }
  removeDaemonDirs(d);
});

test(
  'SIGKILL with exec processes running, restart with --live-restore: the container stays, its orphaned exec processes are reaped and recorded',
  { skip: unavailable ?? false },
  async () => {
    d = daemonDirs('sdxr');
    const cfg = `${d.dir}/cfg`;
    mkdirSync(cfg);
    busyboxTarball(d.dir, ['sh', 'sleep', 'true']);
    const run = (...args: string[]) => docker(d.sock, args, cfg);
    daemon = await startDaemon(d, ['--live-restore']);
    importImage(d.sock, cfg, `${d.dir}/busybox.tar`, 'busybox');
    const id = run(
      'run',
      '-d',
      '--name',
      'web',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    ).stdout.trim();
    assert.equal(run('exec', '-d', 'web', 'sleep', '999').status, 0);
    assert.equal(run('exec', '-d', 'web', 'sleep', '998').status, 0);
    const pids = (): string[] =>
      execFileSync(
        'ctr',
        ['-a', `${d.exec}/containerd/containerd.sock`, '-n', 'statedock', 'tasks', 'ps', id],
        { encoding: 'utf8' },
      )
        .trim()
        .split('\n')
        .slice(1);
    for (let i = 0; i < 50 && pids().length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(pids().length, 3, 'the init and two exec processes');
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    daemon = await startDaemon(d, ['--live-restore']);
    const swept = (): boolean => {
      const files = readdirSync(`${d.exec}/traces`).sort();
      const text = readFileSync(`${d.exec}/traces/${files[files.length - 1] as string}`, 'utf8');
      return text.includes('"invariants.checked"');
    };
    for (let i = 0; i < 150 && !swept(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(swept(), 'the restore check ran');
    assert.deepEqual(pids().length, 1, `only the init is left: ${pids().join(' | ')}`);
    const files = readdirSync(`${d.exec}/traces`).sort();
    const text = readFileSync(`${d.exec}/traces/${files[files.length - 1] as string}`, 'utf8');
    assert.equal((text.match(/killed exec process/g) ?? []).length, 2);
    assert.match(text, /"invariants\.checked"[^\n]*"broken":0/);
    assert.equal(run('inspect', '-f', '{{.State.Running}}', 'web').stdout.trim(), 'true');
    assert.equal(run('exec', 'web', 'true').status, 0);

    // A client holding an exec stream open never keeps the daemon from shutting down.
    const held = spawn('sh', ['-c', `sleep 30 | docker -H unix://${d.sock} exec -i web cat`], {
      env: { ...process.env, DOCKER_CONFIG: cfg },
      stdio: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 1000));
    const started = Date.now();
    const stopping = daemon;
    daemon = null;
    await stopDaemon(stopping);
    assert.ok(Date.now() - started < 8_000, `shutdown took ${Date.now() - started} ms`);
    held.kill('SIGKILL');
    // Started again for the clean-up (live-restore kept the container).
    daemon = await startDaemon(d, ['--live-restore']);
  },
);

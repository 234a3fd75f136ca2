import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import { after, before, test } from 'node:test';
import { restoreInvariants } from '../../machines/container/invariants.ts';
import { mountPoints } from '../../effects/kernel/real.ts';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import {
  containerdPidsOf,
  daemonDirs,
  type DaemonDirs,
  docker,
  killContainerdOf,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
  unmountUnder,
  importImage,
} from '../support/daemon-process.ts';

const unavailable = realDaemonUnavailable() ?? busyboxUnavailable();

let d: DaemonDirs;
let cfg: string;
let daemon: RunningDaemon | null = null;
const run = (...args: string[]) => docker(d.sock, args, cfg);
const tasks = (): string[] =>
  execFileSync(
    'ctr',
    ['-a', `${d.exec}/containerd/containerd.sock`, '-n', 'statedock', 'tasks', 'ls', '-q'],
    { encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean);

before(() => {
  if (unavailable) return;
  d = daemonDirs();
  cfg = `${d.dir}/docker-config`;
  mkdirSync(cfg);
  busyboxTarball(d.dir, ['sh', 'sleep', 'true']);
});

after(async () => {
  if (unavailable) return;
  if (daemon) await stopDaemon(daemon);
  killContainerdOf(d.exec);
  spawnSync('pkill', ['-9', '-f', `containerd-shim-runc-v2 -namespace statedock .*${d.exec}`]);
  unmountUnder(d.dir);
  rmSync(d.dir, { recursive: true, force: true });
});

/** The restore check's tally in the newest flight-recorder trace, or null before it has run. */
function restoreVerdict(): { held: number; broken: number } | null {
  const files = readdirSync(`${d.exec}/traces`).sort();
  const text = readFileSync(`${d.exec}/traces/${files[files.length - 1] as string}`, 'utf8');
  for (const line of text.split('\n').reverse()) {
    if (!line.includes('"invariants.checked"')) continue;
    const m = (JSON.parse(line) as { mark: { held: number; broken: number } }).mark;
    return { held: m.held, broken: m.broken };
  }
  return null;
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end)
      throw new Error(
        `timed out waiting until ${what}: ${JSON.stringify(status())}\n${daemon?.output() ?? ''}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

const status = (): Record<string, string> =>
  Object.fromEntries(
    run('ps', '-a', '--format', '{{.Names}} {{.State}}')
      .stdout.trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );

test(
  'SIGKILL while containers run, restart without live-restore: stopped, restarted per policy, --rm removed, nothing leaked',
  { skip: unavailable ?? false },
  async () => {
    daemon = await startDaemon(d);
    importImage(d.sock, cfg, `${d.dir}/busybox.tar`, 'busybox');
    run(
      'run',
      '-d',
      '--name',
      'keep',
      '--stop-timeout',
      '1',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    );
    run(
      'run',
      '-d',
      '--name',
      'always',
      '--restart',
      'always',
      '--stop-timeout',
      '1',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    );
    run('run', '-d', '--name', 'rmme', '--rm', '--network', 'none', 'busybox', 'sleep', '1');
    run('create', '--name', 'fresh', '--network', 'none', 'busybox', 'true');
    assert.deepEqual(status(), {
      keep: 'running',
      always: 'running',
      rmme: 'running',
      fresh: 'created',
    });
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    await new Promise((r) => setTimeout(r, 2000)); // rmme exits while the daemon is down
    daemon = await startDaemon(d);
    await until('restore settled', () => {
      const s = status();
      // `always` reads running while restore still stops its old task: settled once it restarted.
      return (
        s['keep'] === 'exited' &&
        s['always'] === 'running' &&
        !('rmme' in s) &&
        run('inspect', '--format', '{{.RestartCount}}', 'always').stdout.trim() !== '0'
      );
    });
    assert.deepEqual(status(), { keep: 'exited', always: 'running', fresh: 'created' });
    assert.equal(run('inspect', '--format', '{{.State.ExitCode}}', 'keep').stdout.trim(), '137');
    const alwaysId = run('inspect', '--format', '{{.Id}}', 'always').stdout.trim();
    assert.deepEqual(
      tasks(),
      [alwaysId],
      'containerd runs exactly the containers statedock reports running',
    );
    assert.equal(
      containerdPidsOf(d.exec).length,
      1,
      'the containerd of the killed daemon was adopted, not doubled',
    );
    assert.equal(run('rm', '-f', 'always', 'keep', 'fresh').status, 0);
    assert.deepEqual(tasks(), []);
    assert.deepEqual(
      mountPoints().filter((m) => m.startsWith(`${d.root}/`) || m.startsWith(`${d.exec}/`)),
      [],
      "a rootfs mount leaked (ours or the shim's in the bundle)",
    );
  },
);

test(
  'SIGKILL, restart with --live-restore: the running container stays up, same process, and stops normally afterwards',
  { skip: unavailable ?? false },
  async () => {
    if (!daemon) daemon = await startDaemon(d);
    const id = run(
      'run',
      '-d',
      '--name',
      'live',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    ).stdout.trim();
    const pid = run('inspect', '--format', '{{.State.Pid}}', id).stdout.trim();
    run(
      'run',
      '-d',
      '-i',
      '--name',
      'listener',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'read l; echo got:$l',
    );
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    daemon = await startDaemon(d, ['--live-restore']);
    await until('restored', () => status()['live'] === 'running');
    assert.equal(run('inspect', '--format', '{{.State.Pid}}', id).stdout.trim(), pid);
    // The restored daemon writes to the stdin of a task that outlived it.
    assert.equal(status()['listener'], 'running');
    docker(d.sock, ['attach', 'listener'], cfg, 'after-restore\n');
    await until('listener exited', () => status()['listener'] === 'exited');
    assert.equal(run('logs', 'listener').stdout, 'got:after-restore\n');
    assert.equal(run('rm', 'listener').status, 0);
    assert.equal(run('stop', '-t', '1', 'live').status, 0);
    assert.equal(status()['live'], 'exited');
    assert.equal(run('rm', 'live').status, 0);
    assert.deepEqual(tasks(), []);
  },
);

test(
  'under --live-restore, SIGTERM to a container as the daemon shuts down: the next start records the exit status it exited with (issue 10)',
  { skip: unavailable ?? false },
  async () => {
    if (daemon) assert.equal(await stopDaemon(daemon), 0);
    daemon = await startDaemon(d, ['--live-restore']);
    // PID 1 ends on SIGTERM with status 7 within 50 ms: while the daemon shuts down, or
    // after it has left the container to the next start.
    const id = run(
      'run',
      '-d',
      '--name',
      'term-at-shutdown',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'trap "exit 7" TERM; echo trapping; while :; do sleep 0.05; done',
    ).stdout.trim();
    // A PID 1 without a handler ignores SIGTERM: signal only once the trap is set.
    await until('the trap set', () => run('logs', id).stdout.includes('trapping'));
    assert.equal(run('kill', '-s', 'TERM', 'term-at-shutdown').status, 0);
    assert.equal(await stopDaemon(daemon), 0);
    daemon = await startDaemon(d, ['--live-restore']);
    await until('its exit recorded', () => status()['term-at-shutdown'] === 'exited');
    assert.equal(run('inspect', '--format', '{{.State.ExitCode}}', id).stdout.trim(), '7');
    await until('the restore check recorded', () => restoreVerdict() !== null);
    assert.deepEqual(restoreVerdict(), { held: restoreInvariants.length, broken: 0 });
    assert.equal(run('rm', id).status, 0);
    assert.deepEqual(tasks(), []);
  },
);

test(
  'a normal restart (SIGTERM, start again) brings back always and unless-stopped containers, not one stopped by hand (docker/for-linux 652, moby 34028)',
  { skip: unavailable ?? false },
  async () => {
    if (!daemon) daemon = await startDaemon(d);
    run(
      'run',
      '-d',
      '--name',
      'back-always',
      '--restart',
      'always',
      '--stop-timeout',
      '1',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    );
    run(
      'run',
      '-d',
      '--name',
      'back-unless',
      '--restart',
      'unless-stopped',
      '--stop-timeout',
      '1',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    );
    run(
      'run',
      '-d',
      '--name',
      'down-unless',
      '--restart',
      'unless-stopped',
      '--stop-timeout',
      '1',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    );
    assert.equal(run('stop', 'down-unless').status, 0);
    assert.equal(await stopDaemon(daemon), 0);
    daemon = await startDaemon(d);
    await until('policies applied', () => {
      const s = status();
      return s['back-always'] === 'running' && s['back-unless'] === 'running';
    });
    assert.equal(status()['down-unless'], 'exited');
    // The daemon judged the host after its restore, in its flight recorder: every invariant held.
    await until('the restore check recorded', () => restoreVerdict() !== null);
    assert.deepEqual(restoreVerdict(), { held: restoreInvariants.length, broken: 0 });
    const removed = run('rm', '-f', 'back-always', 'back-unless', 'down-unless');
    assert.equal(removed.status, 0, removed.stderr);
    assert.deepEqual(tasks(), []);
  },
);

test(
  'a crash mid-removal: restore finishes a removal marked removing, and sweeps the files of a container whose record was already deleted',
  { skip: unavailable ?? false },
  async () => {
    if (!daemon) daemon = await startDaemon(d);
    run('run', '--name', 'half', '--network', 'none', '-v', '/anon', 'busybox', 'true');
    run('run', '--name', 'gone', '--network', 'none', 'busybox', 'true');
    const half = run('inspect', '--format', '{{.Id}}', 'half').stdout.trim();
    const gone = run('inspect', '--format', '{{.Id}}', 'gone').stdout.trim();
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    daemon = null;
    // What the removal machine leaves when the daemon dies after its first step (the mark) or its
    // last (the record deleted, the files not yet).
    const db = new ClassicLevel<string, unknown>(`${d.root}/containers/metadata.db`, {
      valueEncoding: 'json',
    });
    await db.open();
    const record = (await db.get(`container/${half}`)) as { state: { status: string } };
    await db.put(`container/${half}`, {
      ...record,
      state: { ...record.state, status: 'removing' },
    });
    await db.del(`container/${gone}`);
    await db.close();
    daemon = await startDaemon(d);
    await until('the removal finished', () => !('half' in status()));
    assert.equal('gone' in status(), false);
    for (const id of [half, gone]) {
      assert.equal(existsSync(`${d.root}/containers/${id}`), false, `${id}'s directory was left`);
      assert.equal(existsSync(`${d.root}/overlay2/${id}`), false, `${id}'s layer was left`);
    }
    assert.equal(
      run(
        'events',
        '--since',
        '30s',
        '--until',
        '0s',
        '--filter',
        `container=${half}`,
        '--format',
        '{{.Action}}',
      ).stdout.trim(),
      'destroy',
    );
    assert.equal(
      run('volume', 'ls', '-q').stdout.trim().split('\n').filter(Boolean).length,
      1,
      'a plain removal keeps the anonymous volume (no -v)',
    );
  },
);

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { replayTrace } from '../../effects/replay.ts';
import { readTraceFile } from '../../effects/trace-file.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { constraintsForTrace } from '../../src/check/command.ts';
import {
  containerdPidsOf,
  daemonDirs,
  type DaemonDirs,
  docker,
  launch,
  readText,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
  removeDaemonDirs,
} from '../support/daemon-process.ts';

const unavailable = realDaemonUnavailable();
const cleanup: (() => void)[] = [];
after(() => {
  for (const c of cleanup.reverse()) {
    try {
      c();
    } catch {
      // keep cleaning
    }
  }
});

function dirs(): DaemonDirs {
  const d = daemonDirs();
  cleanup.push(() => {
    removeDaemonDirs(d);
  });
  return d;
}

function traceOf(d: DaemonDirs): string {
  const files = readdirSync(`${d.exec}/traces`).sort();
  return `${d.exec}/traces/${files[files.length - 1] as string}`;
}

function assertTraceHolds(path: string): void {
  const { records } = readTraceFile(path);
  assert.deepEqual(violationsOf(checkTrace(records, constraintsForTrace(records))), []);
  replayTrace(records);
}

describe('statedock daemon on this machine', { skip: unavailable ?? false }, () => {
  let d: DaemonDirs;
  let daemon: RunningDaemon;
  let dockerConfig: string;
  let firstId = '';

  before(async () => {
    d = dirs();
    dockerConfig = `${d.dir}/docker-config`;
    mkdirSync(dockerConfig);
    daemon = await startDaemon(d);
  });

  test('serves the Engine API to the stock docker CLI: version and info with the real facts', async () => {
    const version = () =>
      docker(
        d.sock,
        [
          'version',
          '--format',
          '{{.Server.APIVersion}} {{range .Server.Components}}{{.Name}}={{.Version}} {{end}}',
        ],
        dockerConfig,
      );
    // The API answers while containerd boots; until its client connects, /version names no
    // containerd (as dockerd's when containerd does not answer), then it does.
    let v = version();
    for (let i = 0; i < 100 && v.status === 0 && !v.stdout.includes('containerd='); i++) {
      assert.match(v.stdout, /^1\.41 Engine=0\.1\.0 runc=\S+/);
      await new Promise((r) => setTimeout(r, 100));
      v = version();
    }
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^1\.41 Engine=0\.1\.0 containerd=1\.6\.\S+ runc=\S+/);
    const info = docker(d.sock, ['info', '--format', '{{json .}}'], dockerConfig);
    assert.equal(info.status, 0, info.stderr);
    const i = JSON.parse(info.stdout) as Record<string, unknown>;
    assert.match(String(i['ID']), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    assert.equal(i['DockerRootDir'], d.root);
    assert.equal(i['Driver'], 'overlay2');
    assert.equal(i['KernelVersion'], execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
    assert.equal(i['CgroupVersion'], '1');
    assert.match(String((i['ContainerdCommit'] as { ID: string }).ID), /1\.6/);
    assert.ok(String((i['RuncCommit'] as { ID: string }).ID).length > 0);
    firstId = String(i['ID']);
    const plain = docker(d.sock, ['info'], dockerConfig);
    assert.equal(plain.status, 0, plain.stderr);
    assert.doesNotMatch(plain.stderr, /error/i);
  });

  test('holds its socket 0660, its pidfile, and a containerd of its own under the exec root', () => {
    assert.equal(statSync(d.sock).mode & 0o777, 0o660);
    assert.equal(readText(d.pidfile), String(daemon.pid));
    assert.equal(containerdPidsOf(d.exec).length, 1);
    assert.ok(existsSync(`${d.exec}/containerd/containerd.sock`));
  });

  test('answers unknown endpoints 404 in Docker’s JSON error shape', () => {
    const out = execFileSync('curl', ['-s', '-i', '--unix-socket', d.sock, 'http://x/v1.41/nope'], {
      encoding: 'utf8',
    });
    assert.match(out, /^HTTP\/1\.1 404/);
    assert.match(out, /Content-Type: application\/json/i);
    assert.match(out, /\{"message":"page not found"\}/);
  });

  test('SIGUSR1 writes the actors’ snapshots to a file under the exec root', async () => {
    process.kill(daemon.pid, 'SIGUSR1');
    let file: string | undefined;
    for (let i = 0; i < 100 && !file; i++) {
      await new Promise((r) => setTimeout(r, 20));
      file = readdirSync(d.exec).find((f) => f.startsWith('statedock-actors-'));
    }
    assert.ok(file, 'no dump file');
    const dump = JSON.parse(readText(`${d.exec}/${file}`)) as Record<string, { value: unknown }>;
    assert.equal(dump['daemon']?.value, 'ready');
    assert.equal(dump['containerd-supervisor']?.value, 'running');
    // The log line follows the file; the pipe brings it a little later.
    const logged = new RegExp(`written to ${d.exec}/${file}`);
    for (let i = 0; i < 100 && !logged.test(daemon.output()); i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.match(daemon.output(), logged);
  });

  test('restarts its containerd when it dies', async () => {
    const [old] = containerdPidsOf(d.exec);
    assert.ok(old);
    process.kill(old, 'SIGKILL');
    let now: number[] = [];
    for (let i = 0; i < 250; i++) {
      await new Promise((r) => setTimeout(r, 40));
      now = containerdPidsOf(d.exec);
      if (now.length === 1 && now[0] !== old && existsSync(`${d.exec}/containerd/containerd.sock`))
        break;
    }
    assert.equal(now.length, 1);
    assert.notEqual(now[0], old);
    assert.equal(readText(`${d.exec}/containerd/containerd.pid`), String(now[0]));
    const v = docker(
      d.sock,
      ['version', '--format', '{{range .Server.Components}}{{.Name}}={{.Version}} {{end}}'],
      dockerConfig,
    );
    assert.equal(v.status, 0, v.stderr);
  });

  test('SIGTERM shuts down: pidfile, socket and containerd gone, exit 0, trace replays and checks', async () => {
    const code = await stopDaemon(daemon);
    assert.equal(code, 0, daemon.output());
    assert.ok(!existsSync(d.pidfile), 'pidfile left');
    assert.ok(!existsSync(d.sock), 'socket left');
    assert.deepEqual(containerdPidsOf(d.exec), []);
    assert.match(daemon.output(), /Daemon shutdown complete/);
    assertTraceHolds(traceOf(d));
  });

  test('starts again on the same roots with the same daemon ID', async () => {
    const again = await startDaemon(d);
    try {
      const info = docker(d.sock, ['info', '--format', '{{.ID}}'], dockerConfig);
      assert.equal(info.stdout.trim(), firstId);
    } finally {
      assert.equal(await stopDaemon(again), 0, again.output());
    }
  });
});

describe('statedock daemon failing for real', { skip: unavailable ?? false }, () => {
  /** What a failed start must leave: non-zero exit, the step named, nothing acquired. */
  async function expectFailure(
    d: DaemonDirs,
    extra: string[],
    step: RegExp,
    env?: NodeJS.ProcessEnv,
  ): Promise<string> {
    const r = launch(d, extra, env);
    const code = await r.exited;
    const out = r.output();
    assert.notEqual(code, 0, out);
    assert.match(out, /failed to start daemon: /);
    assert.match(out, step);
    assert.deepEqual(containerdPidsOf(d.exec), [], 'a containerd child was left');
    assert.ok(!existsSync(d.sock), 'socket left');
    return out;
  }

  test('a read-only data root: fails at the data root step and leaves nothing', async () => {
    const d = dirs();
    mkdirSync(d.root);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', d.root]);
    const out = await expectFailure(d, [], /failed step: dataRoot/);
    assert.match(out, /read-only file system/);
    assert.ok(!existsSync(d.pidfile));
  });

  test('an unwritable pidfile: fails at the pidfile step, releases the roots it made', async () => {
    const d = dirs();
    mkdirSync(`${d.dir}/ro`);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', `${d.dir}/ro`]);
    const out = await expectFailure(d, ['--pidfile', `${d.dir}/ro/d.pid`], /failed step: pidfile/);
    // The exec root holds the flight recorder's trace, so only the data root was this start's to undo.
    assert.match(out, /released, newest first: dir:dataRoot\n/);
    assert.ok(!existsSync(d.root), 'data root made by the failed start was left');
  });

  test('a live pidfile: refused with dockerd’s message, the pidfile untouched', async () => {
    const d = dirs();
    writeFileSync(d.pidfile, String(process.pid));
    await expectFailure(d, [], /pid file found, ensure docker is not running or delete/);
    assert.equal(readText(d.pidfile), String(process.pid));
  });

  test('a metadata store another process holds: fails at metadataStore, after the sockets listened, and removes them', async () => {
    const d = dirs();
    mkdirSync(`${d.root}/containers`, { recursive: true });
    const holder = new ClassicLevel(`${d.root}/containers/metadata.db`);
    await holder.open();
    try {
      const out = await expectFailure(d, [], /failed step: metadataStore/);
      assert.match(out, /metadata store .*metadata\.db is in use by another process/);
      // The API's sockets listened before the store was opened: they were released too.
      assert.match(out, /released, newest first: .*\bapi\b/);
    } finally {
      await holder.close();
    }
  });

  test('a missing containerd binary: fails at startContainerd and releases everything', async () => {
    const d = dirs();
    const pathDir = `${d.dir}/path`;
    mkdirSync(pathDir);
    for (const tool of ['mount', 'umount', 'runc', 'mkfifo']) {
      const where = execFileSync('which', [tool], { encoding: 'utf8' }).trim();
      symlinkSync(where, `${pathDir}/${tool}`);
    }
    const out = await expectFailure(d, [], /failed step: startContainerd/, {
      ...process.env,
      PATH: pathDir,
    });
    assert.match(out, /executable file not found in \$PATH/);
    assert.ok(!existsSync(d.pidfile), 'pidfile left');
    assert.ok(!existsSync(d.root), 'data root made by the failed start was left');
  });

  test('a directive given as flag and in daemon.json is refused before anything is touched', async () => {
    const d = dirs();
    writeFileSync(`${d.dir}/daemon.json`, JSON.stringify({ bip: '10.1.0.1/24' }));
    const r = launch(d, ['--config-file', `${d.dir}/daemon.json`, '--bip', '10.0.0.1/24']);
    assert.equal(await r.exited, 1);
    assert.match(
      r.output(),
      /the following directives are specified both as a flag and in the configuration file: bip: \(from flag: 10\.0\.0\.1\/24, from file: 10\.1\.0\.1\/24\)/,
    );
    assert.ok(!existsSync(d.root) && !existsSync(d.exec), 'something was created');
  });
});

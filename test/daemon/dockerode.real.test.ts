import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import Docker from 'dockerode';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import {
  daemonDirs,
  type DaemonDirs,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
  removeDaemonDirs,
} from '../support/daemon-process.ts';

const unavailable = realDaemonUnavailable() ?? busyboxUnavailable();
let d: DaemonDirs;
let daemon: RunningDaemon;
let docker: Docker;

before(async () => {
  if (unavailable) return;
  d = daemonDirs();
  busyboxTarball(d.dir, ['sh', 'echo', 'sleep']);
  daemon = await startDaemon(d);
  docker = new Docker({ socketPath: d.sock });
  const out = await docker.importImage(createReadStream(`${d.dir}/busybox.tar`), {
    repo: 'busybox',
    tag: 'latest',
  });
  await new Promise((resolve, reject) => {
    out.on('end', resolve);
    out.on('error', reject);
    out.resume();
  });
});

after(async () => {
  if (unavailable) return;
  await stopDaemon(daemon);
  removeDaemonDirs(d);
});

test(
  'dockerode: create, attach, start, wait, logs, stop, remove, and the events of it all',
  { skip: unavailable ?? false },
  async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const container = await docker.createContainer({
      name: 'dd-1',
      Image: 'busybox',
      Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 2'],
      HostConfig: { NetworkMode: 'none' },
    });
    const stream = await container.attach({
      stream: true,
      stdout: true,
      stderr: true,
      hijack: true,
    });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const chunks = { out: '', err: '' };
    stdout.on('data', (c: Buffer) => (chunks.out += c.toString()));
    stderr.on('data', (c: Buffer) => (chunks.err += c.toString()));
    docker.modem.demuxStream(stream, stdout, stderr);
    const waited = container.wait({ condition: 'next-exit' });
    await container.start();
    const result = (await waited) as { StatusCode: number };
    assert.equal(result.StatusCode, 2);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(chunks.out, 'out\n');
    assert.equal(chunks.err, 'err\n');
    const logs = await container.logs({ stdout: true, stderr: true });
    assert.match(logs.toString('latin1'), /out\n/);
    const info = await container.inspect();
    assert.equal(info.State.ExitCode, 2);
    await container.remove();
    await assert.rejects(
      container.inspect(),
      (e: { statusCode?: number; json?: { message?: string } }) =>
        e.statusCode === 404 && /No such container/.test(e.json?.message ?? ''),
    );

    const bg = await docker.createContainer({
      name: 'dd-bg',
      Image: 'busybox',
      Cmd: ['sleep', '1000'],
      StopTimeout: 1,
      HostConfig: { NetworkMode: 'none' },
    });
    await bg.start();
    assert.equal((await bg.inspect()).State.Running, true);
    await bg.stop({ t: 1 });
    assert.equal((await bg.inspect()).State.ExitCode, 137);
    await bg.remove({ force: true });

    await assert.rejects(
      docker.createContainer({
        name: 'dd-bad',
        Image: 'busybox',
        HostConfig: { RestartPolicy: { Name: 'bogus' } },
      }),
      (e: { statusCode?: number; json?: { message?: string } }) =>
        e.statusCode === 400 && e.json?.message === "invalid restart policy 'bogus'",
    );

    const events = await docker.getEvents({
      since,
      until: Math.floor(Date.now() / 1000),
      filters: { container: ['dd-1'] },
    });
    let text = '';
    for await (const c of events) text += String(c);
    const actions = text
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { Action: string }).Action);
    assert.deepEqual(actions, ['create', 'attach', 'start', 'die', 'destroy']);
  },
);

test(
  'dockerode: a hijacked attach with stdin writes to the container, and its end closes the container’s stdin',
  { skip: unavailable ?? false },
  async () => {
    const container = await docker.createContainer({
      name: 'dd-in',
      Image: 'busybox',
      Cmd: ['sh', '-c', 'cat; echo done'],
      OpenStdin: true,
      StdinOnce: true,
      HostConfig: { NetworkMode: 'none' },
    });
    const stream = (await container.attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
    })) as NodeJS.ReadWriteStream & { end(): void };
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    docker.modem.demuxStream(stream, stdout, new PassThrough());
    const waited = container.wait({ condition: 'next-exit' });
    stream.write('before start\n');
    await container.start();
    stream.write('after start\n');
    stream.end();
    assert.equal(((await waited) as { StatusCode: number }).StatusCode, 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(out, 'before start\nafter start\ndone\n');
    await container.remove();
  },
);

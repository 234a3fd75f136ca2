import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { mountPoints } from '../../effects/kernel/real.ts';
import { readTraceFile } from '../../effects/trace-file.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { constraintsForTrace } from '../../src/check/command.ts';
import { busyboxTarball } from '../support/busybox-image.ts';
import {
  daemonArgs,
  daemonDirs,
  type DaemonDirs,
  docker,
  killContainerdOf,
  realDaemonUnavailable,
  repoRoot,
  type RunningDaemon,
  stopDaemon,
} from '../support/daemon-process.ts';
import { makeTls, registryUnavailable, startRegistry } from '../support/registry.ts';

/**
 * Start-up ahead of containerd (issue 16): the API answers once restore is done, and restore
 * waits for containerd's client only when there are stored containers to reconcile; requests
 * that need a task wait for the client in the container host. containerd is made slow to boot
 * here (a `containerd` on PATH that sleeps, then runs Debian's), so the window is wide enough
 * to act in; every client request is sent the moment `/_ping` first answers.
 */
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
  const d = daemonDirs('sdsu');
  cleanup.push(() => {
    killContainerdOf(d.exec);
    for (const m of mountPoints()
      .filter((p) => p.startsWith(`${d.dir}/`))
      .reverse())
      spawnSync('umount', ['-l', m]);
    rmSync(d.dir, { recursive: true, force: true });
  });
  return d;
}

/** A PATH whose `containerd` sleeps `ms` before it runs the real one (same process, exec). */
function slowContainerdPath(d: DaemonDirs, ms: number): string {
  const dir = `${d.dir}/slow-bin`;
  mkdirSync(dir, { recursive: true });
  const real = execFileSync('which', ['containerd'], { encoding: 'utf8' }).trim();
  writeFileSync(
    `${dir}/containerd`,
    `#!/bin/sh\nsleep ${(ms / 1000).toFixed(3)}\nexec ${real} "$@"\n`,
  );
  chmodSync(`${dir}/containerd`, 0o755);
  return `${dir}:${process.env['PATH'] ?? ''}`;
}

/** `statedock daemon` through the installed command (bin/statedock), not yet answering. */
function launch(d: DaemonDirs, env: NodeJS.ProcessEnv, extra: string[] = []): RunningDaemon {
  const child = spawn(join(repoRoot, 'bin/statedock'), daemonArgs(d, extra), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  cleanup.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, pid: child.pid as number, output: () => out, exited };
}

function get(
  sock: string,
  path: string,
  timeout = 2000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ socketPath: sock, path, timeout }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Polls `/_ping` every few milliseconds; resolves at its first 200. */
async function firstPing(d: DaemonDirs, r: RunningDaemon): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (r.child.exitCode !== null) assert.fail(`the daemon exited:\n${r.output()}`);
    if (Date.now() > deadline) assert.fail(`no answer to /_ping within 30 s:\n${r.output()}`);
    if (existsSync(d.sock) && (await get(d.sock, '/_ping')).status === 200) return;
    await new Promise((res) => setTimeout(res, 3));
  }
}

function traceOf(d: DaemonDirs): { meta: Record<string, unknown>; records: TraceRecord[] } {
  const files = readdirSync(`${d.exec}/traces`).sort();
  const t = readTraceFile(`${d.exec}/traces/${files[files.length - 1] as string}`);
  return { meta: t.header.meta, records: t.records };
}

/** The start-up's `step.done` record of `step`. */
function stepDone(records: readonly TraceRecord[], step: string): TraceRecord {
  const r = records.find(
    (x) =>
      x.actor === 'daemon' &&
      x.kind === 'mark' &&
      x.mark.mark === 'step.done' &&
      x.mark['step'] === step,
  );
  assert.ok(r, `no step.done of ${step}`);
  return r;
}

/** The record number of the start-up's `step.done` of `step`. */
function doneAt(records: readonly TraceRecord[], step: string): number {
  return stepDone(records, step).seq;
}

function assertTraceHolds(records: readonly TraceRecord[]): void {
  assert.deepEqual(
    violationsOf(checkTrace(records, constraintsForTrace(records))).map((v) => v.message),
    [],
  );
}

describe('start-up ahead of containerd', { skip: unavailable ?? false }, () => {
  const d = dirs();
  const config = `${d.dir}/docker-config`;
  mkdirSync(config, { recursive: true });
  const env = { ...process.env, PATH: slowContainerdPath(d, 1500) };
  const cli = (...args: string[]): ReturnType<typeof docker> => docker(d.sock, args, config);

  test('cold root: the API answers while containerd boots; an import and a docker run sent at the first /_ping succeed', async () => {
    const r = launch(d, env);
    await firstPing(d, r);
    // Sent at once, while containerd sleeps: what needs no task is answered now.
    const version = await get(d.sock, '/version');
    const info = await get(d.sock, '/info');
    const tar = busyboxTarball(`${d.dir}/image`);
    const imported = cli('import', '--change', 'CMD ["/bin/sh"]', tar, 'bb');
    const ran = cli('run', '--rm', '--network', 'none', 'bb', 'true');
    assert.equal(imported.status, 0, imported.stderr);
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(version.status, 200);
    assert.equal(info.status, 200);
    const { records, meta } = traceOf(d);
    const listening = doneAt(records, 'serveApi');
    const connected = doneAt(records, 'containerdClient');
    assert.ok(listening < connected, 'the API did not answer before containerd was connected');
    // Nothing was stored: restore asked containerd nothing and waited for nothing (neither
    // containerd's client nor the layer and image stores, deferred until the API is served).
    assert.ok(
      !records.some(
        (x) => x.kind === 'mark' && x.mark.mark === 'step.waits' && x.mark['step'] === 'restore',
      ),
      'restore waited with no stored container',
    );
    for (const deferred of ['trustKey', 'layerStore', 'networkController', 'systemInfo'])
      assert.ok(
        doneAt(records, deferred) > listening,
        `${deferred} was done before the API was served`,
      );
    // While containerd boots, /version leaves it out and /info says N/A, as dockerd does
    // when containerd does not answer (if /version came before the connect).
    const components = (JSON.parse(version.body) as { Components: { Name: string }[] }).Components;
    const infoBody = JSON.parse(info.body) as {
      ContainerdCommit: { ID: string };
      RuncCommit: { ID: string };
      Driver: string;
    };
    // /info, sent at the first /_ping, waited for what it reports: the driver the layer store
    // chose and runc's version (both learned by steps deferred until the API is served).
    assert.ok(['overlay2', 'vfs'].includes(infoBody.Driver), `Driver ${infoBody.Driver}`);
    assert.notEqual(infoBody.RuncCommit.ID, '', 'runc version missing from /info');
    if (!components.some((c) => c.Name === 'containerd'))
      assert.equal(infoBody.ContainerdCommit.ID, 'N/A');
    // The header reports the start-up's phases, in order of the process's time.
    const phases = meta['phases'] as { phase: string; ms: number; cpuMs: number }[];
    for (const p of [
      'bootstrap',
      'bundle',
      'recorder',
      'pidfile',
      'listening',
      'answering',
      'ready',
    ])
      assert.ok(
        phases.some((x) => x.phase === p),
        `phase ${p} missing: ${JSON.stringify(phases)}`,
      );
    for (let i = 1; i < phases.length; i++)
      assert.ok((phases[i] as { ms: number }).ms >= (phases[i - 1] as { ms: number }).ms);
    assert.equal(await stopDaemon(r), 0);
    assertTraceHolds(traceOf(d).records);
  });

  test('warm root: a docker run --rm sent at the first /_ping succeeds; the API answered before containerd', async () => {
    const r = launch(d, env);
    await firstPing(d, r);
    const ran = cli('run', '--rm', '--network', 'none', 'bb', 'sh', '-c', 'echo warm');
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), 'warm');
    const { records } = traceOf(d);
    assert.ok(doneAt(records, 'serveApi') < doneAt(records, 'containerdClient'));
    assert.equal(await stopDaemon(r), 0);
    assertTraceHolds(traceOf(d).records);
  });

  test('stored containers: restore reconciles them with containerd before the API answers; a start at the first /_ping works', async () => {
    const warm = launch(d, env);
    await firstPing(d, warm);
    assert.equal(cli('create', '--name', 'kept', '--network', 'none', 'bb', 'true').status, 0);
    assert.equal(await stopDaemon(warm), 0);

    const r = launch(d, env);
    await firstPing(d, r);
    const started = cli('start', '-a', 'kept');
    assert.equal(started.status, 0, started.stderr);
    const { records } = traceOf(d);
    assert.ok(
      records.some(
        (x) =>
          x.kind === 'mark' &&
          x.mark.mark === 'step.waits' &&
          x.mark['step'] === 'restore' &&
          x.mark['on'] === 'containerdClient',
      ),
      'restore did not wait for containerd',
    );
    assert.ok(doneAt(records, 'containerdClient') < doneAt(records, 'restore'));
    assert.ok(doneAt(records, 'restore') < doneAt(records, 'serveApi'));
    assert.equal(cli('rm', 'kept').status, 0);
    assert.equal(await stopDaemon(r), 0);
    assertTraceHolds(traceOf(d).records);
  });
  test('a client that connects while restore waits for containerd is held on the socket and answered once the daemon has restored', async () => {
    const warm = launch(d, env);
    await firstPing(d, warm);
    assert.equal(cli('create', '--name', 'held', '--network', 'none', 'bb', 'true').status, 0);
    assert.equal(await stopDaemon(warm), 0);

    // With a stored container, restore waits for containerd (asleep for 1.5 s); the sockets
    // listen once the pidfile is claimed, so a client connects long before restore is done.
    const spawned = performance.now();
    const r = launch(d, env);
    while (!existsSync(d.sock)) {
      if (r.child.exitCode !== null) assert.fail(`the daemon exited:\n${r.output()}`);
      await new Promise((res) => setTimeout(res, 2));
    }
    const sent = performance.now() - spawned;
    const [ping, list] = await Promise.all([
      get(d.sock, '/_ping', 20_000).then((a) => ({ ...a, at: performance.now() - spawned })),
      get(d.sock, '/containers/json?all=1', 20_000),
    ]);
    assert.equal(ping.status, 200, `/_ping: ${ping.status} ${ping.body}`);
    assert.equal(ping.body, 'OK');
    // Answered by a daemon that has restored: the stored container is there, as it was left.
    const listed = JSON.parse(list.body) as { Names: string[]; State: string }[];
    assert.deepEqual(
      listed.map((c) => [c.Names[0], c.State]),
      [['/held', 'created']],
    );
    const { records, meta } = traceOf(d);
    // Process ms of restore's end. The client's clock started before the exec, so its times
    // are a few ms later than the process's own for the same instant.
    const restored = stepDone(records, 'restore').t + Number(meta['processMs']);
    assert.ok(
      sent < restored - 500,
      `the client connected at ${Math.round(sent)} ms, restore was done at ${Math.round(restored)} ms`,
    );
    assert.ok(
      ping.at > restored - 50,
      `/_ping was answered at ${Math.round(ping.at)} ms, before restore was done (${Math.round(restored)} ms)`,
    );
    assert.ok(doneAt(records, 'listenApi') < doneAt(records, 'restore'));
    assert.ok(doneAt(records, 'restore') < doneAt(records, 'serveApi'));
    assert.equal(cli('rm', 'held').status, 0);
    assert.equal(await stopDaemon(r), 0);
    assertTraceHolds(traceOf(d).records);
  });
});

describe('start-up ahead of containerd, vfs', { skip: unavailable ?? false }, () => {
  test('a container created before containerd is connected gets the driver start-up chose', async () => {
    const d = dirs();
    const config = `${d.dir}/docker-config`;
    mkdirSync(config, { recursive: true });
    const env = { ...process.env, PATH: slowContainerdPath(d, 1500) };
    const r = launch(d, env, ['--storage-driver', 'vfs']);
    await firstPing(d, r);
    const cli = (...args: string[]): ReturnType<typeof docker> => docker(d.sock, args, config);
    assert.equal(cli('import', busyboxTarball(`${d.dir}/image`), 'bb').status, 0);
    const created = cli(
      'create',
      '--name',
      'early',
      '--network',
      'none',
      'bb',
      'sh',
      '-c',
      'echo vfs',
    );
    assert.equal(created.status, 0, created.stderr);
    const started = cli('start', '-a', 'early');
    assert.equal(started.status, 0, started.stderr);
    assert.equal(started.stdout.trim(), 'vfs');
    const { records } = traceOf(d);
    const prepare = records.flatMap((x) =>
      x.kind === 'effect.request' && x.call.effect === 'rootfs.prepare'
        ? [{ seq: x.seq, driver: x.call.driver }]
        : [],
    )[0];
    assert.ok(prepare, 'no rootfs.prepare');
    // The root was prepared before containerd's client connected (else this tests nothing).
    assert.ok(prepare.seq < doneAt(records, 'containerdClient'));
    assert.equal(prepare.driver, 'vfs');
    assert.equal(cli('rm', 'early').status, 0);
    assert.equal(await stopDaemon(r), 0);
    assertTraceHolds(traceOf(d).records);
  });
});

const noRegistry = unavailable ?? registryUnavailable();
const host = spawnSync('hostname', ['-I'], { encoding: 'utf8' })
  .stdout.trim()
  .split(/\s+/)
  .find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a) && !a.startsWith('127.'));

describe(
  'NODE_EXTRA_CA_CERTS, read when the first TLS client is built',
  {
    skip: noRegistry ?? (host ? false : 'no non-loopback IPv4 address'),
  },
  () => {
    test('the daemon starts without it in its environment and still trusts its CAs: a push and a pull over TLS succeed', async () => {
      const d = dirs();
      const config = `${d.dir}/docker-config`;
      mkdirSync(config, { recursive: true });
      const ip = host as string;
      const tls = makeTls(`${d.dir}/tls`, ip);
      const registry = await startRegistry(`${d.dir}/registry`, { tls, host: ip });
      cleanup.push(() => void registry.stop());
      const certsD = `${d.dir}/certs.d`;
      mkdirSync(certsD);
      const r = launch(d, {
        ...process.env,
        NODE_EXTRA_CA_CERTS: tls.ca,
        // No CA of the registry in certs.d: only NODE_EXTRA_CA_CERTS names it.
        STATEDOCK_CERTS_D: certsD,
      });
      await firstPing(d, r);
      // The process was exec'd without the variable (Node did not parse the file at start).
      const environ = readFileSync(`/proc/${r.pid}/environ`, 'utf8').split('\0');
      assert.ok(!environ.some((e) => e.startsWith('NODE_EXTRA_CA_CERTS=')), environ.join(' '));
      assert.ok(environ.includes(`STATEDOCK_EXTRA_CA_CERTS=${tls.ca}`));
      const cli = (...args: string[]): ReturnType<typeof docker> => docker(d.sock, args, config);
      const tar = busyboxTarball(`${d.dir}/image`);
      const ref = `${registry.address}/ca/bb:1`;
      assert.equal(cli('import', tar, ref).status, 0);
      const pushed = cli('push', ref);
      assert.equal(pushed.status, 0, pushed.stderr);
      assert.equal(cli('rmi', ref).status, 0);
      const pulled = cli('pull', ref);
      assert.equal(pulled.status, 0, pulled.stderr);
      assert.equal(await stopDaemon(r), 0);
    });
  },
);

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  ContainerdClient,
  ContainerdError,
  isEvent,
  type ContainerdEvent,
  type Subscription,
} from '../../effects/containerd/client.ts';
import {
  containerdPaths,
  isAlive,
  isContainerd,
  spawnContainerd,
  stopContainerd,
  waitContainerdReady,
  writeContainerdConfig,
  type SpawnedContainerd,
} from '../../effects/containerd/process.ts';
import {
  cleanNamespace,
  fifoReader,
  pidsMatching,
  realContainerdUnavailable,
  removeCgroups,
  removeShimSockets,
  runcForceDelete,
  type FifoReader,
} from './containerd-fixture.ts';
import { busyboxRootfs, ociProcess, ociSpec } from './oci-spec-fixture.ts';
import { RealContainerd } from '../../effects/containerd/real.ts';

const unavailable = realContainerdUnavailable();
if (unavailable) console.log(`# containerd.real.test.ts skipped: ${unavailable}`);

/** Every id handed out, for the clean-up of cgroups. */
const ids: string[] = [];
/** A fresh id per container: containerd never reuses one cleanly (containerd-facts gotcha 15). */
function newId(prefix: string): string {
  const id = `${prefix}-${randomBytes(4).toString('hex')}`;
  ids.push(id);
  return id;
}

async function rejectsWith(
  p: Promise<unknown>,
  code: ContainerdError['code'],
  message?: RegExp,
): Promise<ContainerdError> {
  const err = await p.then(
    () => assert.fail(`expected ${code}, the call succeeded`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ContainerdError, `expected a ContainerdError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (message) assert.match(err.message, message);
  return err;
}

describe('containerd client on a private containerd', { skip: unavailable ?? false }, () => {
  const namespace = newId('sdktest');
  let dir = '';
  let rootfs = '';
  let runcRoot = '';
  let spawned: SpawnedContainerd | null = null;
  let client: ContainerdClient | null = null;
  let sub: Subscription | null = null;
  let streamEnd: Promise<string> = Promise.resolve('not subscribed');
  const events: ContainerdEvent[] = [];
  const readers: FifoReader[] = [];
  let eventWaiters: Array<() => void> = [];

  function c(): ContainerdClient {
    assert.ok(client, 'containerd client connected in before()');
    return client;
  }

  /** The first event (already received or yet to come) matching `pred`. */
  async function event(
    pred: (e: ContainerdEvent) => boolean,
    what: string,
    timeoutMs = 5000,
  ): Promise<ContainerdEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find(pred);
      if (found) return found;
      if (Date.now() > deadline)
        assert.fail(
          `no ${what} event within ${timeoutMs} ms; got ${events.map((e) => `${e.topic} ${e.event.containerId}`).join(', ')}`,
        );
      await new Promise<void>((resolve) => {
        eventWaiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async function createContainer(id: string, args: string[]): Promise<void> {
    await c().createContainer({
      id,
      spec: ociSpec({ id, rootfs, args }),
      runtime: { name: 'io.containerd.runc.v2', options: { root: runcRoot } },
      labels: { 'statedock/test': '1' },
    });
  }

  /** Makes stdout/stderr FIFOs of `id` and opens their read ends (before Tasks.Create, gotcha 2). */
  function stdio(id: string): { stdout: string; stderr: string; out: FifoReader; err: FifoReader } {
    const fifoDir = `${dir}/fifo/${id}`;
    mkdirSync(fifoDir, { recursive: true });
    const out = fifoReader(`${fifoDir}/stdout`);
    const err = fifoReader(`${fifoDir}/stderr`);
    readers.push(out, err);
    return { stdout: `${fifoDir}/stdout`, stderr: `${fifoDir}/stderr`, out, err };
  }

  before(async () => {
    dir = mkdtempSync('/tmp/sdk-');
    const configPath = writeContainerdConfig({ execRoot: `${dir}/x`, dataRoot: `${dir}/d` });
    spawned = spawnContainerd({ configPath });
    await waitContainerdReady(spawned.address, { timeoutMs: 20_000 });
    client = await ContainerdClient.connect(spawned.address, namespace);
    rootfs = busyboxRootfs(dir);
    runcRoot = `${dir}/runc`;
    await subscribe();
  });

  /**
   * Subscribes to this namespace's task events, collected into `events` until the stream
   * ends; `streamEnd` says how it ended ('ended quietly' or the error's code).
   */
  async function subscribe(): Promise<void> {
    const s = c().subscribe(['topic~="^/tasks/"']);
    sub = s;
    await s.ready();
    streamEnd = (async () => {
      for await (const e of s) {
        events.push(e);
        const w = eventWaiters;
        eventWaiters = [];
        for (const f of w) f();
      }
    })().then(
      () => 'ended quietly',
      (err: unknown) => (err instanceof ContainerdError ? err.code : String(err)),
    );
  }

  after(async () => {
    for (const r of readers) r.destroy();
    sub?.cancel();
    const problems: string[] = [];
    if (client && spawned && isContainerd(spawned.pid))
      problems.push(...(await cleanNamespace(client)));
    client?.close();
    if (spawned && isAlive(spawned.pid)) await stopContainerd(spawned.pid, { timeoutMs: 5000 });
    // Shims of our namespace were started by our containerd: ours to kill if any survived.
    for (const pid of pidsMatching(namespace)) {
      problems.push(
        `leftover process ${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ')}`,
      );
      process.kill(pid, 'SIGKILL');
    }
    if (runcRoot)
      for (const id of runcForceDelete(runcRoot, namespace)) problems.push(`runc still held ${id}`);
    removeCgroups(ids);
    if (spawned) removeShimSockets(spawned.address, namespace, ids);
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) console.log(`# clean-up found: ${problems.join('; ')}`);
  });

  it('answers Version with containerd 1.6', async () => {
    const v = await c().version();
    assert.match(v.version, /^1\.6\./);
    assert.ok(v.revision.length > 0);
  });

  it('runs sh with stdout and stderr on FIFOs; Wait and a /tasks/exit event both report exit status 3', async () => {
    const id = newId('echo');
    await createContainer(id, ['sh', '-c', 'echo hi; echo oops >&2; exit 3']);
    const record = await c().getContainer(id);
    assert.equal(record.runtime.name, 'io.containerd.runc.v2');
    assert.deepEqual(record.runtime.options, { root: runcRoot });
    assert.equal((record.spec?.['root'] as { path: string }).path, rootfs);
    assert.deepEqual(record.labels, { 'statedock/test': '1' });
    assert.ok((await c().listContainers()).some((x) => x.id === id));
    assert.deepEqual(
      (await c().listContainers(['labels."statedock/test"==1'])).map((x) => x.id),
      [id],
    );

    const io = stdio(id);
    const { pid } = await c().createTask({ containerId: id, stdout: io.stdout, stderr: io.stderr });
    assert.ok(pid > 0);
    const created = await c().getTask(id);
    assert.equal(created.status, 'created');
    assert.equal(created.exitedAt, null, "Go's zero time reads as null");
    assert.equal(created.stdout, io.stdout);

    const waited = c().waitTask(id);
    assert.equal(await c().startTask(id), pid);
    const exit = await waited;
    assert.equal(exit.exitStatus, 3);
    assert.ok(exit.exitedAt instanceof Date);
    assert.equal(await io.out.text, 'hi\n');
    assert.equal(await io.err.text, 'oops\n');

    const e = await event(
      (x) => x.topic === '/tasks/exit' && x.event.containerId === id,
      '/tasks/exit',
    );
    assert.ok(isEvent(e, '/tasks/exit'));
    assert.equal(e.namespace, namespace);
    assert.equal(e.event.exitStatus, 3);
    assert.equal(e.event.id, id, 'the init process exits with id = container id');
    assert.equal(e.event.pid, pid);
    assert.ok(e.event.exitedAt instanceof Date);
    assert.equal(e.typeUrl, 'containerd.events.TaskExit');
    assert.equal(e.event['container_id'], id, 'the wire field name still reads (deprecated)');
    const create = await event(
      (x) => x.topic === '/tasks/create' && x.event.containerId === id,
      '/tasks/create',
    );
    assert.ok(isEvent(create, '/tasks/create'));
    assert.equal(create.event.pid, pid);
    assert.equal(create.event.io?.stdout, io.stdout);
    await event((x) => x.topic === '/tasks/start' && x.event.containerId === id, '/tasks/start');

    const stopped = await c().getTask(id);
    assert.equal(stopped.status, 'stopped');
    assert.equal(stopped.exitStatus, 3);
    assert.ok(stopped.exitedAt instanceof Date);

    const deleted = await c().deleteTask(id);
    assert.equal(deleted.exitStatus, 3);
    assert.equal(deleted.pid, pid);
    assert.equal(deleted.exitedAt?.getTime(), exit.exitedAt?.getTime());
    const del = await event(
      (x) => x.topic === '/tasks/delete' && x.event.containerId === id,
      '/tasks/delete',
    );
    assert.ok(isEvent(del, '/tasks/delete'));
    assert.equal(del.event.exitStatus, 3);
    await rejectsWith(c().waitTask(id), 'NotFound');

    await c().deleteContainer(id);
    await rejectsWith(c().getContainer(id), 'NotFound');
  });

  it('the connect effect completes only once the task events are heard (hearEvents), which it asks for once the channel is up', async () => {
    const order: string[] = [];
    let heard = (): void => undefined;
    const real = new RealContainerd({
      execRoot: `${dir}/hearing`,
      // The connect and close use none of these.
      layout: {} as never,
      stdio: {} as never,
      execIo: {} as never,
      supervision: {} as never,
      log: () => undefined,
      hearEvents: () => {
        order.push('hearing');
        return new Promise((resolve) => {
          heard = () => {
            order.push('heard');
            resolve();
          };
        });
      },
    });
    const connected = real
      .run({ effect: 'containerd.connect', address: c().address, namespace, timeoutMs: 10_000 })
      .then((r) => {
        order.push('connected');
        return r as { version: string };
      });
    for (let i = 0; i < 500 && !order.includes('hearing'); i++)
      await new Promise((r) => setTimeout(r, 10));
    // Version has long been answered by now: the connect still waits for the events.
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(order, ['hearing']);
    heard();
    assert.match((await connected).version, /\d/);
    assert.deepEqual(order, ['hearing', 'heard', 'connected']);
    await real.run({ effect: 'containerd.close' });
  });

  it('pauses and resumes a sleep 1000 task, lists its pids, runs an exec in it, then kills it with SIGKILL: exit status 137', async () => {
    const id = newId('sleep');
    await createContainer(id, ['sleep', '1000']);
    const { pid } = await c().createTask({ containerId: id });
    const waited = c().waitTask(id);
    await c().startTask(id);
    assert.equal((await c().getTask(id)).status, 'running');
    assert.deepEqual((await c().listTasks()).find((t) => t.id === id)?.status, 'running');

    await c().pauseTask(id);
    assert.equal((await c().getTask(id)).status, 'paused');
    await event((x) => x.topic === '/tasks/paused' && x.event.containerId === id, '/tasks/paused');
    await c().resumeTask(id);
    assert.equal((await c().getTask(id)).status, 'running');
    await event(
      (x) => x.topic === '/tasks/resumed' && x.event.containerId === id,
      '/tasks/resumed',
    );

    const pids = await c().listPids(id);
    assert.deepEqual(pids, [{ pid, execId: '' }]);

    const io = stdio(`${id}-exec`);
    await c().execProcess({
      containerId: id,
      execId: 'e1',
      spec: ociProcess(['echo', 'from exec']),
      stdout: io.stdout,
      stderr: io.stderr,
    });
    const execWaited = c().waitTask(id, { execId: 'e1' });
    const execPid = await c().startTask(id, { execId: 'e1' });
    assert.ok(execPid > 0 && execPid !== pid);
    assert.equal((await execWaited).exitStatus, 0);
    assert.equal(await io.out.text, 'from exec\n');
    const execExit = await event(
      (x) => x.topic === '/tasks/exit' && x.event['id'] === 'e1' && x.event.containerId === id,
      '/tasks/exit of the exec',
    );
    assert.equal(execExit.event['pid'], execPid);
    assert.equal((await c().deleteProcess(id, 'e1')).exitStatus, 0);

    await rejectsWith(c().deleteContainer(id), 'FailedPrecondition', /delete the task first/);
    assert.equal((await c().getContainer(id)).id, id, 'the guard kept the container');
    await rejectsWith(c().deleteTask(id), 'Unknown', /running/);

    await c().killTask(id, 'SIGKILL', true);
    assert.equal((await waited).exitStatus, 137);
    const e = await event(
      (x) => x.topic === '/tasks/exit' && x.event.containerId === id && x.event['id'] === id,
      '/tasks/exit',
    );
    assert.equal(e.event['exitStatus'], 137);
    assert.equal((await c().deleteTask(id)).exitStatus, 137);
    await c().deleteContainer(id);
  });

  it('maps containerd failures to the closed set of codes, with the server text as the message', async () => {
    await rejectsWith(c().getTask(newId('nosuch')), 'NotFound', /not found/);
    await rejectsWith(c().createContainer({ id: 'bad id!', spec: {} }), 'InvalidArgument');
    const id = newId('dup');
    await createContainer(id, ['true']);
    await rejectsWith(createContainer(id, ['true']), 'AlreadyExists', /already exists/);
    await rejectsWith(
      c().createTask({ containerId: id, stdout: `${dir}/only-stdout` }),
      'InvalidArgument',
      /both stdout and stderr/,
    );
    await c().deleteContainer(id);
    const noNamespace = await ContainerdClient.connect(c().address, '');
    try {
      await rejectsWith(
        noNamespace.listContainers(),
        'FailedPrecondition',
        /namespace is required/,
      );
    } finally {
      noNamespace.close();
    }
  });

  it('keeps a Wait across a containerd restart (re-issued on Unavailable) while the event stream ends with Unavailable', async () => {
    assert.ok(spawned);
    const id = newId('survivor');
    await createContainer(id, ['sleep', '1000']);
    await c().createTask({ containerId: id });
    await c().startTask(id);
    const waited = c().waitTask(id);
    const aborted = new AbortController();
    const abortedWait = c().waitTask(id, { signal: aborted.signal });
    aborted.abort();
    await assert.rejects(abortedWait, { name: 'AbortError' });

    const oldStreamEnd = streamEnd;
    assert.equal(await stopContainerd(spawned.pid, { timeoutMs: 10_000 }), 'SIGTERM');
    spawned = spawnContainerd({ configPath: `${dir}/x/containerd/containerd.toml` });
    await waitContainerdReady(spawned.address, { timeoutMs: 20_000 });
    // The old client's channel reconnects on its own back-off (100 ms doubling to 1 s), which
    // may end after the new containerd first answers: until then calls fail with Unavailable.
    const reconnected = Date.now() + 3000;
    let task = await c()
      .getTask(id)
      .catch((err: unknown) => err);
    while (
      task instanceof ContainerdError &&
      task.code === 'Unavailable' &&
      Date.now() < reconnected
    ) {
      await new Promise((r) => setTimeout(r, 50));
      task = await c()
        .getTask(id)
        .catch((err: unknown) => err);
    }
    if (task instanceof Error) throw task;
    assert.equal((task as { status: string }).status, 'running', 'the task outlived containerd');
    await subscribe();

    await c().killTask(id, 'SIGKILL');
    assert.equal((await waited).exitStatus, 137);
    assert.equal(await oldStreamEnd, 'Unavailable');
    await event(
      (x) => x.topic === '/tasks/exit' && x.event.containerId === id,
      '/tasks/exit after the restart',
    );
    await c().deleteTask(id);
    await c().deleteContainer(id);
  });

  it('stops containerd by pid: the process is gone, its pid file and socket removed, no shim of the namespace left', async () => {
    assert.ok(spawned);
    const { pid, address, pidfile } = spawned;
    assert.equal(readFileSync(pidfile, 'utf8'), String(pid));
    assert.ok(isContainerd(pid));
    sub?.cancel();
    c().close();
    assert.equal(await stopContainerd(pid, { timeoutMs: 10_000 }), 'SIGTERM');
    assert.equal(isAlive(pid), false);
    assert.equal(existsSync(pidfile), false);
    assert.equal(existsSync(address), false);
    assert.deepEqual(pidsMatching(namespace), []);
  });
});

describe('containerd process management', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync('/tmp/sdk-');
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes the private layout: root under the data root, state and sockets under the exec root, CRI disabled', () => {
    const configPath = writeContainerdConfig({
      execRoot: `${dir}/layout/x`,
      dataRoot: `${dir}/layout/d`,
    });
    assert.equal(configPath, `${dir}/layout/x/containerd/containerd.toml`);
    const toml = readFileSync(configPath, 'utf8');
    assert.match(toml, /^version = 2$/m);
    assert.ok(toml.includes(`root = "${dir}/layout/d/containerd/daemon"`));
    assert.ok(toml.includes(`state = "${dir}/layout/x/containerd/daemon"`));
    assert.ok(toml.includes(`[grpc]\n  address = "${dir}/layout/x/containerd/containerd.sock"`));
    assert.ok(
      toml.includes(`[ttrpc]\n  address = "${dir}/layout/x/containerd/containerd.sock.ttrpc"`),
    );
    assert.ok(toml.includes('[debug]\n  address = ""'));
    assert.ok(toml.includes('[metrics]\n  address = ""'));
    assert.ok(toml.includes('"io.containerd.grpc.v1.cri"'));
    assert.ok(
      toml.includes(
        `[plugins."io.containerd.internal.v1.opt"]\n  path = "${dir}/layout/d/containerd/opt"`,
      ),
    );
  });

  it('refuses an exec root whose socket path would not fit a unix socket (107 bytes)', () => {
    const long = `${dir}/${'x'.repeat(100)}`;
    assert.throws(
      () => writeContainerdConfig({ execRoot: long, dataRoot: `${dir}/d` }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EINVAL');
        assert.match(
          err.message,
          /longer than the 107 a unix socket allows; use a shorter --exec-root/,
        );
        return true;
      },
    );
  });

  it('fails waitContainerdReady with ENOENT naming the binary when it does not exist', async () => {
    const configPath = writeContainerdConfig({
      execRoot: `${dir}/missing`,
      dataRoot: `${dir}/missing-d`,
    });
    const binary = `${dir}/no-such-containerd`;
    const address = containerdPaths(`${dir}/missing`).socket;
    assert.throws(() => spawnContainerd({ binary, configPath }), { code: 'ENOENT' });
    const started = Date.now();
    await assert.rejects(
      waitContainerdReady(address, { timeoutMs: 10_000 }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ENOENT');
        assert.ok(err.message.includes(binary), err.message);
        return true;
      },
    );
    assert.ok(Date.now() - started < 1000, 'fails at once, not after the timeout');
    assert.throws(() => spawnContainerd({ binary: 'no-such-containerd-binary', configPath }), {
      code: 'ENOENT',
      message: 'exec: "no-such-containerd-binary": executable file not found in $PATH',
    });
  });

  it('fails waitContainerdReady with the exit status and the last lines of the log when containerd exits early', async () => {
    const configPath = writeContainerdConfig({
      execRoot: `${dir}/early`,
      dataRoot: `${dir}/early-d`,
    });
    const binary = `${dir}/containerd-that-fails`;
    writeFileSync(
      binary,
      '#!/bin/sh\necho "starting with $*"\necho "containerd: failed to load TOML: boom" >&2\nexit 3\n',
    );
    chmodSync(binary, 0o755);
    const s = spawnContainerd({ binary, configPath });
    await assert.rejects(
      waitContainerdReady(s.address, { timeoutMs: 10_000 }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EIO');
        assert.match(
          err.message,
          new RegExp(`containerd \\(pid ${s.pid}\\) exited with status 3 before it answered`),
        );
        assert.match(err.message, /failed to load TOML: boom/);
        assert.ok(err.message.includes(`starting with --config ${configPath}`));
        return true;
      },
    );
  });

  it('stopContainerd signals nothing that is not a containerd', async () => {
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = sleeper.pid;
    assert.ok(pid);
    try {
      assert.equal(isContainerd(pid), false);
      assert.equal(await stopContainerd(pid, { timeoutMs: 100 }), 'none');
      assert.equal(isAlive(pid), true);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it(
    'stopContainerd stops a containerd it started and removes its pid file and sockets',
    { skip: unavailable ?? false },
    async () => {
      const configPath = writeContainerdConfig({
        execRoot: `${dir}/stop`,
        dataRoot: `${dir}/stop-d`,
      });
      const s = spawnContainerd({ configPath });
      try {
        await waitContainerdReady(s.address, { timeoutMs: 20_000 });
        // Ready means its services answer: the client's first call needs no retry.
        const client = await ContainerdClient.connect(s.address, 'statedock');
        try {
          assert.match((await client.version()).version, /^1\.6\./);
        } finally {
          client.close();
        }
        assert.equal(s.pidfile, `${dir}/stop/containerd/containerd.pid`);
        assert.equal(readFileSync(s.pidfile, 'utf8'), String(s.pid));
        assert.equal(await stopContainerd(s.pid), 'SIGTERM');
        assert.equal(isAlive(s.pid), false);
        assert.equal(existsSync(s.pidfile), false);
        assert.equal(existsSync(s.address), false);
        assert.equal(existsSync(`${s.address}.ttrpc`), false);
      } finally {
        if (isContainerd(s.pid)) process.kill(s.pid, 'SIGKILL');
      }
    },
  );
});

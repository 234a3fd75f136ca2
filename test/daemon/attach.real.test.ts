import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import {
  daemonDirs,
  type DaemonDirs,
  docker,
  ping,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
  removeDaemonDirs,
  importImage,
} from '../support/daemon-process.ts';
import { call, callJson, demux, readAll, sleep, upgrade } from '../support/raw-http.ts';

const unavailable = realDaemonUnavailable() ?? busyboxUnavailable();

describe(
  'attach: detach keys, logs and stream, a client that goes away',
  { skip: unavailable ?? false },
  () => {
    let d: DaemonDirs;
    let daemon: RunningDaemon;
    let cfg: string;
    const run = (...args: string[]) => docker(d.sock, args, cfg);

    /** A container as `docker run -dit` makes it (TTY, stdin open), started. */
    const interactive = async (
      cmd: string[],
      extra: Record<string, unknown> = {},
    ): Promise<string> => {
      const { Id } = await callJson<{ Id: string }>(d.sock, 'POST', '/containers/create', {
        Image: 'busybox',
        Cmd: cmd,
        Tty: true,
        OpenStdin: true,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        HostConfig: { NetworkMode: 'none' },
        ...extra,
      });
      await callJson(d.sock, 'POST', `/containers/${Id}/start`);
      return Id;
    };
    const state = async (id: string) =>
      (
        await callJson<{ State: { Running: boolean; Status: string } }>(
          d.sock,
          'GET',
          `/containers/${id}/json`,
        )
      ).State;

    before(async () => {
      d = daemonDirs();
      cfg = `${d.dir}/docker-config`;
      mkdirSync(cfg);
      busyboxTarball(d.dir);
      daemon = await startDaemon(d);
      importImage(d.sock, cfg, `${d.dir}/busybox.tar`, 'busybox:latest');
    });

    after(async () => {
      if (daemon) await stopDaemon(daemon);
      removeDaemonDirs(d);
    });

    test('issue 11: ctrl-p ctrl-q detaches, the client then closes: the daemon lives, the container runs', async () => {
      const id = await interactive(['sh']);
      const a = await upgrade(
        d.sock,
        `/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1`,
      );
      assert.match(a.head, /^HTTP\/1\.1 101 UPGRADED/);
      a.socket.write('echo one\r');
      await sleep(200);
      a.socket.write(Buffer.from([16, 17]));
      const out = await readAll(a.socket, a.rest);
      assert.equal(out.closed, true, 'the daemon ends the attach stream on ctrl-p ctrl-q');
      assert.match(out.data.toString(), /one/);
      a.socket.destroy();
      // A second client resets mid-escape: nothing to do with the daemon's life either.
      const b = await upgrade(
        d.sock,
        `/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1`,
      );
      b.socket.write(Buffer.from([16]));
      b.socket.destroy();
      await sleep(200);
      assert.equal(await ping(d.sock), true);
      assert.equal((await state(id)).Running, true, 'a detach leaves the container running');
      const events = await call(
        d.sock,
        'GET',
        `/events?since=0&until=${Math.floor(Date.now() / 1000)}&filters=${encodeURIComponent(JSON.stringify({ container: { [id]: true } }))}`,
      );
      const actions = events.text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { Action: string }).Action);
      assert.deepEqual(
        actions.filter((x) => x === 'attach' || x === 'detach'),
        ['attach', 'detach', 'attach'],
      );
      await call(d.sock, 'DELETE', `/containers/${id}?force=1`);
    });

    test('detachKeys in the query replace ctrl-p ctrl-q; what is not the sequence reaches the container', async () => {
      const id = await interactive(['sh']);
      const a = await upgrade(
        d.sock,
        `/containers/${id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x`,
      );
      // ctrl-p ctrl-q is no longer the sequence; a started sequence that breaks is passed on.
      a.socket.write(Buffer.from([16, 17]));
      a.socket.write(Buffer.from('\x01echo tw""o\r'));
      await sleep(300);
      assert.equal(a.socket.destroyed, false);
      a.socket.write(Buffer.from('\x01x'));
      const out = await readAll(a.socket, a.rest);
      assert.equal(out.closed, true);
      assert.match(out.data.toString(), /two/);
      assert.equal((await state(id)).Running, true);
      await call(d.sock, 'DELETE', `/containers/${id}?force=1`);
    });

    test("a bad detach-key spec gets Docker's 400, before the 101", async () => {
      const id = await interactive(['sh']);
      for (const spec of ['ctrl-zz', 'ab', 'ctrl-p,,ctrl-q', 'é']) {
        const a = await upgrade(
          d.sock,
          `/containers/${id}/attach?stream=1&stdin=1&detachKeys=${encodeURIComponent(spec)}`,
        );
        const out = await readAll(a.socket, a.rest);
        assert.equal(
          `${a.head}\r\n\r\n${out.data.toString()}`,
          `HTTP/1.1 400 Bad Request\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nInvalid detach keys (${spec}) provided\r\n`,
        );
      }
      const missing = await upgrade(d.sock, '/containers/nosuch/attach?stream=1');
      assert.match(missing.head, /^HTTP\/1\.1 404 Not Found/);
      assert.equal(
        (await readAll(missing.socket, missing.rest)).data.toString(),
        'No such container: nosuch\r\n',
      );
      await call(d.sock, 'DELETE', `/containers/${id}?force=1`);
    });

    // The CLI also watches for the keys itself; this checks the whole path: the daemon ends
    // the stream and keeps the container running.
    test(
      'the stock CLI: attach --detach-keys (and the config file’s detachKeys) detach; the container runs on',
      {
        skip:
          spawnSync('which', ['script']).status === 0
            ? false
            : 'needs script (bsdutils) for a terminal',
      },
      () => {
        run('run', '-dit', '--name', 'clidetach', '--network', 'none', 'busybox', 'sh');
        const viaPty = (cmd: string, keys: string, env: NodeJS.ProcessEnv) =>
          spawnSync(
            'sh',
            [
              '-c',
              `(sleep 1; printf 'echo fromcli\\r'; sleep 0.5; printf '${keys}'; sleep 1) | script -qfc "${cmd}" /dev/null`,
            ],
            {
              encoding: 'utf8',
              env,
              timeout: 20_000,
            },
          );
        const env = { ...process.env, DOCKER_CONFIG: cfg };
        const flagged = viaPty(
          `docker -H unix://${d.sock} attach --detach-keys ctrl-x,y clidetach`,
          '\\030y',
          env,
        );
        assert.match(flagged.stdout, /fromcli/);
        assert.match(flagged.stdout, /read escape sequence/);
        assert.equal(flagged.status, 0);
        const fileCfg = `${d.dir}/docker-config-keys`;
        mkdirSync(fileCfg, { recursive: true });
        writeFileSync(`${fileCfg}/config.json`, JSON.stringify({ detachKeys: 'ctrl-e,e' }));
        const fromFile = viaPty(`docker -H unix://${d.sock} attach clidetach`, '\\005e', {
          ...process.env,
          DOCKER_CONFIG: fileCfg,
        });
        assert.match(fromFile.stdout, /read escape sequence/);
        assert.equal(run('inspect', '-f', '{{.State.Running}}', 'clidetach').stdout.trim(), 'true');
        run('rm', '-f', 'clidetach');
      },
    );

    test('attach?logs=1&stream=0 on an exited container answers its log and ends', async () => {
      const r = run(
        'run',
        '--name',
        'exited',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'echo out; echo err >&2',
      );
      assert.equal(r.status, 0, r.stderr);
      const both = await upgrade(
        d.sock,
        '/containers/exited/attach?logs=1&stream=0&stdout=1&stderr=1',
      );
      const out = await readAll(both.socket, both.rest, 5_000);
      assert.equal(out.closed, true, 'the response ends (it used to wait for the next start)');
      // stdout and stderr are read apart: their order in the log is not the program's (as in Docker).
      assert.deepEqual(
        demux(out.data).sort((a, b) => a.stream - b.stream),
        [
          { stream: 1, text: 'out\n' },
          { stream: 2, text: 'err\n' },
        ],
      );
      const onlyErr = await upgrade(d.sock, '/containers/exited/attach?logs=1&stream=0&stderr=1');
      assert.deepEqual(demux((await readAll(onlyErr.socket, onlyErr.rest, 5_000)).data), [
        { stream: 2, text: 'err\n' },
      ]);
      // Neither logs nor stream: the attach event, and the end.
      const nothing = await upgrade(d.sock, '/containers/exited/attach?stdout=1');
      const none = await readAll(nothing.socket, nothing.rest, 5_000);
      assert.deepEqual([none.closed, none.data.length], [true, 0]);
      // Without Upgrade (dockerode's run): the same log in the body.
      const plain = await call(
        d.sock,
        'POST',
        '/containers/exited/attach?logs=1&stream=0&stdout=1',
        { timeoutMs: 5_000 },
      );
      assert.equal(plain.status, 200);
      assert.equal(plain.headers['content-type'], 'application/vnd.docker.raw-stream');
      assert.deepEqual(demux(plain.body), [{ stream: 1, text: 'out\n' }]);
      run('rm', 'exited');
    });

    test('attach?logs=1&stream=1 on a running container: the log so far, then live output, until exit', async () => {
      const id = run(
        'run',
        '-d',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'echo early; sleep 1; echo late; sleep 100',
      ).stdout.trim();
      await sleep(300);
      const a = await upgrade(d.sock, `/containers/${id}/attach?logs=1&stream=1&stdout=1`);
      const reading = readAll(a.socket, a.rest, 15_000);
      await sleep(1_500);
      run('kill', id);
      const out = await reading;
      assert.equal(out.closed, true);
      assert.deepEqual(
        demux(out.data).map((f) => f.text),
        ['early\n', 'late\n'],
      );
      run('rm', id);
    });

    test('a paused container refuses an attach with 409', async () => {
      const id = run('run', '-d', '--network', 'none', 'busybox', 'sleep', '100').stdout.trim();
      assert.equal(run('pause', id).status, 0);
      const a = await upgrade(d.sock, `/containers/${id}/attach?stream=1&stdout=1`);
      assert.match(a.head, /^HTTP\/1\.1 409 Conflict/);
      assert.equal(
        (await readAll(a.socket, a.rest)).data.toString(),
        `container ${id} is paused, unpause the container before attach\r\n`,
      );
      run('rm', '-f', id);
    });

    test('SIGTERM with clients attached, following logs and events, waiting, half-open: done at once; the trace says how many were cut', async () => {
      const own = daemonDirs('sdta');
      const second = await startDaemon(own);
      try {
        const imp = docker(own.sock, ['import', `${d.dir}/busybox.tar`, 'busybox:latest'], cfg);
        assert.equal(imp.status, 0, imp.stderr);
        const create = (body: Record<string, unknown>) =>
          callJson<{ Id: string }>(own.sock, 'POST', '/containers/create', {
            Image: 'busybox',
            HostConfig: { NetworkMode: 'none' },
            ...body,
          });
        const live = await create({ Cmd: ['sleep', '1000'], StopTimeout: 1 });
        await callJson(own.sock, 'POST', `/containers/${live.Id}/start`);
        const exited = await create({ Cmd: ['true'] });
        const hijacked = await upgrade(
          own.sock,
          `/containers/${live.Id}/attach?stream=1&stdout=1&stdin=1`,
        );
        // Issue 11's half-open client: attached to a container that is not running, never closing.
        const halfOpen = await upgrade(
          own.sock,
          `/containers/${exited.Id}/attach?stream=1&stdout=1`,
        );
        halfOpen.socket.end();
        const { request } = await import('node:http');
        const streams = [
          '/events',
          `/containers/${live.Id}/logs?follow=1&stdout=1`,
          '/statedock/records',
        ].map(
          (path) =>
            new Promise<void>((resolve) => {
              const q = request({ socketPath: own.sock, path, agent: false }, (res) => {
                res.resume();
                resolve();
              });
              q.on('error', () => resolve());
              q.end();
            }),
        );
        await Promise.all(streams);
        const waiting = call(
          own.sock,
          'POST',
          `/containers/${live.Id}/wait?condition=removed`,
        ).catch(() => null);
        void waiting;
        await sleep(200);
        const t0 = Date.now();
        const code = await stopDaemon(second);
        const took = Date.now() - t0;
        assert.equal(code, 0, second.output());
        // The container's stop (1 s timeout, sleep ignores TERM) is the only wait.
        assert.ok(took < 1_000 + 2_000, `shutdown took ${took} ms`);
        hijacked.socket.destroy();
        halfOpen.socket.destroy();
        const trace = readdirSync(`${own.exec}/traces`).find((f) => f.startsWith('daemon-'));
        const marks = readFileSync(`${own.exec}/traces/${trace as string}`, 'utf8')
          .split('\n')
          .filter((l) => l.includes('"api.connectionsCut"'))
          .map((l) => (JSON.parse(l) as { mark: Record<string, number> }).mark);
        assert.equal(marks.length, 1);
        const cut = marks[0] as Record<string, number>;
        assert.ok((cut['hijacked'] as number) >= 1, JSON.stringify(cut));
        assert.ok((cut['streams'] as number) >= 3, JSON.stringify(cut));
      } finally {
        if (second.child.exitCode === null) second.child.kill('SIGKILL');
        removeDaemonDirs(own);
      }
    });
  },
);

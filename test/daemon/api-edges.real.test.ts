import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { lookupGid } from '../../src/api/listeners.ts';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import {
  daemonDirs,
  type DaemonDirs,
  docker,
  launch,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
  removeDaemonDirs,
} from '../support/daemon-process.ts';
import { call, callJson } from '../support/raw-http.ts';

const unavailable = realDaemonUnavailable() ?? busyboxUnavailable();

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function cleanup(dirs: DaemonDirs): void {
  removeDaemonDirs(dirs);
}

describe(
  'the API as dockerd answers it: names with slashes, true counts, prune',
  { skip: unavailable ?? false },
  () => {
    let d: DaemonDirs;
    let daemon: RunningDaemon;
    let cfg: string;
    const run = (...args: string[]) => docker(d.sock, args, cfg);

    before(async () => {
      d = daemonDirs();
      cfg = `${d.dir}/docker-config`;
      mkdirSync(cfg);
      busyboxTarball(d.dir);
      daemon = await startDaemon(d);
      assert.equal(run('import', `${d.dir}/busybox.tar`, 'busybox:latest').status, 0);
    });

    after(async () => {
      if (daemon) await stopDaemon(daemon);
      cleanup(d);
    });

    test('issue 11: image names with a slash reach their routes (inspect, tag, rmi, a registry host with a port)', async () => {
      // Tagged through the API as given (how a reference is normalised is the image store's business).
      for (const [repo, tag] of [
        ['ns/img', '3'],
        ['127.0.0.1:5000/bar/bb', '1'],
      ] as const)
        assert.equal(
          (
            await call(
              d.sock,
              'POST',
              `/images/busybox/tag?repo=${encodeURIComponent(repo)}&tag=${tag}`,
            )
          ).status,
          201,
        );
      const inspect = run('image', 'inspect', '--format', '{{.Id}}', 'ns/img:3');
      assert.equal(inspect.status, 0, inspect.stderr);
      assert.match(inspect.stdout, /^sha256:[0-9a-f]{64}$/m);
      const withPort = run('image', 'inspect', '--format', '{{.Id}}', '127.0.0.1:5000/bar/bb:1');
      assert.equal(withPort.status, 0, withPort.stderr);
      assert.equal(withPort.stdout, inspect.stdout);
      const retag = run('tag', 'ns/img:3', 'other/x:1');
      assert.equal(retag.status, 0, retag.stderr);
      const tags = (
        await callJson<{ RepoTags: string[] }[]>(d.sock, 'GET', '/images/json')
      ).flatMap((i) => i.RepoTags);
      assert.ok(
        tags.some((t) => t.endsWith('other/x:1')),
        JSON.stringify(tags),
      );
      const rmi = run('rmi', 'ns/img:3');
      assert.equal(rmi.status, 0, rmi.stderr);
      assert.match(rmi.stdout, /Untagged: ns\/img:3/);
      const gone = run('image', 'inspect', 'ns/img:3');
      assert.notEqual(gone.status, 0);
      assert.match(gone.stderr, /No such image: ns\/img:3/);
      // %2F in the path is a slash too (Go decodes the path before routing).
      const escaped = await call(d.sock, 'GET', '/images/127.0.0.1:5000%2Fbar%2Fbb:1/json');
      assert.equal(escaped.status, 200);
      for (const t of tags.filter((x) => x !== 'busybox:latest')) run('rmi', t);
    });

    test('issue 11: /info counts images and containers by state, as dockerd does', async () => {
      const running = run(
        'run',
        '-d',
        '--network',
        'none',
        'busybox',
        'sleep',
        '100',
      ).stdout.trim();
      const paused = run('run', '-d', '--network', 'none', 'busybox', 'sleep', '100').stdout.trim();
      assert.equal(run('pause', paused).status, 0);
      const exited = run('run', '--network', 'none', 'busybox', 'true');
      assert.equal(exited.status, 0);
      const created = run('create', '--network', 'none', 'busybox', 'true').stdout.trim();
      assert.equal(run('tag', 'busybox', 'second:tag').status, 0);
      const info = await callJson<Record<string, number>>(d.sock, 'GET', '/info');
      assert.deepEqual(
        [
          info['Containers'],
          info['ContainersRunning'],
          info['ContainersPaused'],
          info['ContainersStopped'],
        ],
        [4, 1, 1, 2],
      );
      assert.equal(info['Images'], 1, 'one image, however many tags');
      assert.equal(info['NEventsListener'], 0);
      assert.ok((info['NFd'] as number) > 5, `NFd ${info['NFd']}`);
      const { request } = await import('node:http');
      const listening = await new Promise<import('node:http').ClientRequest>((resolve) => {
        const q = request({ socketPath: d.sock, path: '/events' }, () => resolve(q));
        q.end();
      });
      assert.equal(
        (await callJson<Record<string, number>>(d.sock, 'GET', '/info'))['NEventsListener'],
        1,
      );
      listening.destroy();
      const cli = run(
        'info',
        '--format',
        '{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}',
      );
      assert.equal(cli.stdout.trim(), '4 1 1 2 1');
      run('unpause', paused);
      run('rm', '-f', running, paused, created);
      run('container', 'prune', '-f');
      run('rmi', 'second:tag');
    });

    test("issue 11: container prune reports the writable layers' size it reclaimed, and honours label filters", async () => {
      const big = run(
        'run',
        '--name',
        'big',
        '--label',
        'keep=no',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'cat /bin/busybox > /big',
      );
      assert.equal(big.status, 0, big.stderr);
      const small = run(
        'run',
        '--name',
        'small',
        '--label',
        'keep=no',
        '--network',
        'none',
        'busybox',
        'true',
      );
      assert.equal(small.status, 0, small.stderr);
      const sizeRw =
        (
          await callJson<{ SizeRw: number }[]>(
            d.sock,
            'GET',
            '/containers/json?all=1&size=1&filters=' + encodeURIComponent('{"name":{"big":true}}'),
          )
        )[0]?.SizeRw ?? 0;
      assert.ok(sizeRw > 500_000, `the big container's SizeRw: ${sizeRw}`);
      const kept = run(
        'run',
        '--name',
        'kept',
        '--label',
        'keep=yes',
        '--network',
        'none',
        'busybox',
        'true',
      );
      assert.equal(kept.status, 0);
      const r = await callJson<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>(
        d.sock,
        'POST',
        `/containers/prune?filters=${encodeURIComponent(JSON.stringify({ label: { 'keep=no': true } }))}`,
      );
      assert.equal(r.ContainersDeleted?.length, 2);
      assert.equal(r.SpaceReclaimed, sizeRw, 'the writable layers of what was removed');
      assert.equal(run('inspect', 'kept').status, 0, 'label filter keeps the other');
      const bad = await call(
        d.sock,
        'POST',
        `/containers/prune?filters=${encodeURIComponent('{"nosuch":{"x":true}}')}`,
      );
      assert.equal(bad.status, 400);
      assert.equal(
        (JSON.parse(bad.text) as { message: string }).message,
        "Invalid filter 'nosuch'",
      );
      const cli = run('container', 'prune', '-f');
      assert.match(cli.stdout, /Total reclaimed space:/);
    });

    test('JSON a client gets wrong is a 400 with Go’s words, never a 500', async () => {
      for (const [body, message] of [
        ['{bad', "invalid character 'b' looking for beginning of object key string"],
        ['', 'EOF'],
        ['{"Image":', 'unexpected EOF'],
        ['null', 'Config cannot be empty in order to create a container'],
        [
          '[1]',
          'json: cannot unmarshal array into Go value of type runconfig.ContainerConfigWrapper',
        ],
      ] as const) {
        const a = await call(d.sock, 'POST', '/containers/create', {
          body,
          headers: { 'Content-Type': 'application/json' },
        });
        assert.equal(a.status, 400, body);
        assert.equal((JSON.parse(a.text) as { message: string }).message, message, body);
      }
      const filters = await call(
        d.sock,
        'GET',
        `/containers/json?filters=${encodeURIComponent('{"status":{"running":"yes"}}')}`,
      );
      assert.equal(filters.status, 400);
      assert.equal(
        (JSON.parse(filters.text) as { message: string }).message,
        'json: cannot unmarshal string into Go value of type bool',
      );
      const since = await call(d.sock, 'GET', '/events?since=abc&until=1');
      assert.equal(since.status, 400);
      assert.equal(
        (JSON.parse(since.text) as { message: string }).message,
        'strconv.ParseInt: parsing "abc": invalid syntax',
      );
    });
  },
);

describe(
  'remote access: TCP with TLS, and the unix socket’s group',
  { skip: unavailable ?? false },
  () => {
    let dir: string;
    before(() => {
      dir = daemonDirs('sdtls').dir;
      const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
      ssl(
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'ca-key.pem',
        '-out',
        'ca.pem',
        '-days',
        '2',
        '-subj',
        '/CN=statedock test CA',
      );
      writeFileSync(
        `${dir}/server.ext`,
        'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
      );
      writeFileSync(`${dir}/client.ext`, 'extendedKeyUsage=clientAuth\n');
      for (const [name, ext] of [
        ['server', 'server.ext'],
        ['client', 'client.ext'],
      ] as const) {
        ssl(
          'req',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          `${name}-key.pem`,
          '-out',
          `${name}.csr`,
          '-subj',
          `/CN=${name}`,
        );
        ssl(
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.pem',
          '-CAkey',
          'ca-key.pem',
          '-CAcreateserial',
          '-out',
          `${name}-cert.pem`,
          '-days',
          '2',
          '-extfile',
          ext,
        );
      }
      // A client certificate from a CA the daemon does not trust.
      ssl(
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'rogue-key.pem',
        '-out',
        'rogue-cert.pem',
        '-days',
        '2',
        '-subj',
        '/CN=rogue',
      );
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('-H tcp:// with --tlsverify: the stock CLI with a client certificate works; without one, or with an untrusted one, it is refused', async () => {
      const d = daemonDirs('sdtv');
      const port = await freePort();
      const daemon = await startDaemon(d, [
        '-H',
        `tcp://127.0.0.1:${port}`,
        '--tlsverify',
        '--tlscacert',
        `${dir}/ca.pem`,
        '--tlscert',
        `${dir}/server-cert.pem`,
        '--tlskey',
        `${dir}/server-key.pem`,
      ]);
      try {
        const cli = (...args: string[]) =>
          spawnSync('docker', ['-H', `tcp://127.0.0.1:${port}`, ...args], {
            encoding: 'utf8',
            env: { ...process.env, DOCKER_CONFIG: `${d.dir}/cfg` },
            timeout: 30_000,
          });
        const ok = cli(
          '--tlsverify',
          '--tlscacert',
          `${dir}/ca.pem`,
          '--tlscert',
          `${dir}/client-cert.pem`,
          '--tlskey',
          `${dir}/client-key.pem`,
          'version',
          '--format',
          '{{.Server.Platform.Name}}',
        );
        assert.equal(ok.status, 0, ok.stderr);
        assert.equal(ok.stdout.trim(), 'statedock');
        const noCert = cli('--tlsverify', '--tlscacert', `${dir}/ca.pem`, 'version');
        assert.notEqual(noCert.status, 0);
        assert.match(noCert.stderr, /certificate|tls/i);
        const rogue = cli(
          '--tlsverify',
          '--tlscacert',
          `${dir}/ca.pem`,
          '--tlscert',
          `${dir}/rogue-cert.pem`,
          '--tlskey',
          `${dir}/rogue-key.pem`,
          'version',
        );
        assert.notEqual(rogue.status, 0);
        const plain = cli('version');
        assert.notEqual(plain.status, 0, 'plain HTTP to a TLS listener is refused');
        assert.doesNotMatch(daemon.output(), /DON'T BIND|without --tlsverify is insecure/);
        assert.equal(await stopDaemon(daemon), 0);
      } finally {
        if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
        cleanup(d);
      }
    });

    test("a TCP listener without TLS prints Docker's warning; the unix socket is 0660 with the socket group", async () => {
      const d = daemonDirs('sdtp');
      const port = await freePort();
      const daemon = await startDaemon(d, ['-H', `tcp://127.0.0.1:${port}`, '--group', '4242']);
      try {
        assert.match(
          daemon.output(),
          /Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network\./,
        );
        assert.match(
          daemon.output(),
          /Binding to an IP address, even on localhost, can also give access to scripts run in a browser\. Be safe out there!/,
        );
        const st = statSync(d.sock);
        assert.equal(st.mode & 0o777, 0o660);
        assert.equal(st.gid, 4242);
        const v = spawnSync(
          'docker',
          ['-H', `tcp://127.0.0.1:${port}`, 'version', '--format', '{{.Server.Platform.Name}}'],
          {
            encoding: 'utf8',
            env: { ...process.env, DOCKER_CONFIG: `${d.dir}/cfg` },
          },
        );
        assert.equal(v.stdout.trim(), 'statedock', v.stderr);
        assert.equal(await stopDaemon(daemon), 0);
      } finally {
        if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
        cleanup(d);
      }
      // The default group, when this host has one named docker.
      const docker = lookupGid('docker');
      if (docker !== null) {
        const d2 = daemonDirs('sdtg');
        const daemon2 = await startDaemon(d2);
        try {
          assert.equal(statSync(d2.sock).gid, docker);
          await stopDaemon(daemon2);
        } finally {
          if (daemon2.child.exitCode === null) daemon2.child.kill('SIGKILL');
          cleanup(d2);
        }
      }
      // A group asked for that does not exist: the daemon does not start.
      const d3 = daemonDirs('sdtn');
      const r = launch(d3, ['--group', 'no-such-group-here']);
      const code = await r.exited;
      cleanup(d3);
      assert.equal(code, 1);
      assert.match(r.output(), /group no-such-group-here not found/);
    });
  },
);

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { realDaemonUnavailable } from '../support/daemon-process.ts';
import { daemonRules, netAvailable, networkView, portsOf } from '../support/net.ts';
import { httpGet, netDaemon, type NetDaemon } from '../support/net-daemon.ts';

/**
 * Debian's docker-compose 1.29 (a Python client of the Engine API) brings up a two-service
 * project on statedock: a web service publishing a port and keeping its page on a named
 * volume, and a client that reaches it by its service name. `ps`, `logs` and `down -v` work,
 * and `down` leaves no network, veth, rule or container.
 */

const unavailable =
  realDaemonUnavailable() ??
  netAvailable() ??
  (spawnSync('which', ['docker-compose']).status === 0
    ? null
    : 'needs docker-compose (bash scripts/setup.sh --test installs it)');

const composeFile = (port: number): string => `version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo served-from-volume > /data/index.html; trap 'exit 0' TERM; httpd -f -p 80 -h /data & wait"]
    ports:
      - "${port}:80"
    volumes:
      - webdata:/data
  client:
    image: busybox
    depends_on: [web]
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do if printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 2 web 80 | grep served; then exit 0; fi; sleep 0.5; done; exit 1"]
volumes:
  webdata:
`;

describe('docker-compose 1.29', { skip: unavailable ?? false }, () => {
  let t: NetDaemon;
  let dir: string;
  const project = `sdc${Math.random().toString(16).slice(2, 8)}`;
  const compose = (
    ...args: string[]
  ): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync('docker-compose', ['-p', project, ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        ...process.env,
        DOCKER_HOST: `unix://${t.d.sock}`,
        DOCKER_CONFIG: t.cfg,
        COMPOSE_INTERACTIVE_NO_CLI: '1',
      },
      timeout: 120_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    t = await netDaemon();
    dir = `${t.d.dir}/project`;
    mkdirSync(dir);
  });
  after(async () => {
    await t?.close();
  });

  test('up, ps, logs, then down -v leaves no network, veth, rule, volume or container', async () => {
    const port = 36000 + Math.floor(Math.random() * 4000);
    writeFileSync(`${dir}/docker-compose.yml`, composeFile(port));
    const up = compose('up', '-d');
    assert.equal(up.status, 0, up.stderr);
    assert.match(await httpGet('127.0.0.1', port), /served-from-volume/);
    // The client found web by its service name on the project's network, and exited 0.
    let ps = '';
    for (let i = 0; i < 50; i++) {
      ps = compose('ps').stdout;
      if (/client_1.*Exit 0/.test(ps)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(ps, new RegExp(`${project}_client_1 .* Exit 0`), ps);
    assert.match(ps, new RegExp(`${project}_web_1 .* Up .*0\\.0\\.0\\.0:${port}->80/tcp`), ps);
    const logs = compose('logs', 'client');
    assert.equal(logs.status, 0, logs.stderr);
    assert.match(logs.stdout, /served-from-volume/);
    assert.ok(
      t.ok('network', 'ls', '--format', '{{.Name}}').split('\n').includes(`${project}_default`),
    );
    assert.ok(
      t.ok('volume', 'ls', '--format', '{{.Name}}').split('\n').includes(`${project}_webdata`),
    );

    const down = compose('down', '-v');
    assert.equal(down.status, 0, down.stderr);
    assert.equal(t.ok('ps', '-aq'), '');
    assert.deepEqual(t.ok('network', 'ls', '--format', '{{.Name}}').split('\n').sort(), [
      'bridge',
      'host',
      'none',
    ]);
    assert.ok(
      !t.ok('volume', 'ls', '--format', '{{.Name}}').split('\n').includes(`${project}_webdata`),
    );
    assert.deepEqual(networkView(t.d), {
      endpoints: [],
      sandboxes: [],
      veths: [],
      netns: [],
      ruleAddresses: [],
    });
    assert.equal(portsOf(t.bridge).length, 0);
    // Only the default bridge's own rules are left (the project network's went with it).
    assert.ok(
      daemonRules(t.d.root).every((r) => !r.includes('br-')),
      daemonRules(t.d.root).join('\n'),
    );
  });
});

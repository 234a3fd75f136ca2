import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ConfigError,
  defaultDaemonConfig,
  loadDaemonConfig,
  parseDaemonFlags,
} from '../../src/daemon/config.ts';
import { version } from '../../src/version.ts';
import pkg from '../../package.json' with { type: 'json' };

const noFile = (): string | null => null;
const file =
  (text: string) =>
  (path: string): string | null =>
    path === '/etc/d.json' ? text : null;

test('no flags and no file give dockerd’s defaults with statedock’s paths', () => {
  const { config } = loadDaemonConfig([], {}, noFile);
  assert.deepEqual(config, defaultDaemonConfig());
  assert.equal(config.dataRoot, '/var/lib/statedock');
  assert.deepEqual(config.hosts, ['/var/run/statedock.sock']);
});

test('flags are read the way dockerd reads them', () => {
  const { config } = loadDaemonConfig(
    [
      '--data-root',
      '/d',
      '--exec-root=/e',
      '-H',
      'unix:///a.sock',
      '--host',
      'unix:///b.sock',
      '-p',
      '/p.pid',
      '--live-restore',
      '--icc=false',
      '--mtu',
      '1400',
      '-s',
      'vfs',
      '-D',
      '--oom-score-adjust',
      '-500',
    ],
    {},
    noFile,
  );
  assert.equal(config.dataRoot, '/d');
  assert.equal(config.execRoot, '/e');
  assert.deepEqual(config.hosts, ['/a.sock', '/b.sock']);
  assert.equal(config.pidfile, '/p.pid');
  assert.equal(config.liveRestore, true);
  assert.equal(config.icc, false);
  assert.equal(config.mtu, 1400);
  assert.equal(config.storageDriver, 'vfs');
  assert.equal(config.logLevel, 'debug');
  assert.equal(config.oomScoreAdjust, -500);
});

test('daemon.json values apply; DOCKER_DRIVER and DOCKER_TMPDIR come from the environment', () => {
  const { config } = loadDaemonConfig(
    ['--config-file', '/etc/d.json'],
    { DOCKER_DRIVER: 'vfs' },
    file('{"data-root":"/x","hosts":["unix:///h.sock"],"live-restore":true}'),
  );
  assert.equal(config.dataRoot, '/x');
  assert.deepEqual(config.hosts, ['/h.sock']);
  assert.equal(config.liveRestore, true);
  assert.equal(config.env.DOCKER_DRIVER, 'vfs');
});

const refusals: [string, string[], string | null, RegExp][] = [
  [
    'a directive given both ways',
    ['--config-file', '/etc/d.json', '--bip', '10.0.0.1/24'],
    '{"bip":"10.1.0.1/24"}',
    /unable to configure the Docker daemon with file \/etc\/d\.json: the following directives are specified both as a flag and in the configuration file: bip: \(from flag: 10\.0\.0\.1\/24, from file: 10\.1\.0\.1\/24\)/,
  ],
  [
    'an unknown key',
    ['--config-file', '/etc/d.json'],
    '{"nosuchkey":1}',
    /the following directives don't match any configuration option: nosuchkey/,
  ],
  [
    'a malformed file',
    ['--config-file', '/etc/d.json'],
    '{"bip": ',
    /unable to configure the Docker daemon with file \/etc\/d\.json: Unexpected end of JSON input/,
  ],
  [
    'a wrong type in the file',
    ['--config-file', '/etc/d.json'],
    '{"mtu":"big"}',
    /invalid value "big" for mtu: an integer/,
  ],
  [
    'an explicit config file that is missing',
    ['--config-file', '/nope.json'],
    null,
    /open \/nope\.json: no such file or directory/,
  ],
  [
    'a host without scheme',
    ['-H', '/x.sock'],
    null,
    /bad format \/x\.sock, expected PROTO:\/\/ADDR/,
  ],
  [
    'an fd:// host (socket activation)',
    ['-H', 'fd://'],
    null,
    /does not support fd:\/\/ listeners/,
  ],
  [
    'a tcp host with a bad port',
    ['-H', 'tcp://h:x'],
    null,
    /Invalid bind address format: tcp:\/\/h:x/,
  ],
  ['an unknown flag', ['--nosuch'], null, /unknown flag: --nosuch/],
  ['a storage driver statedock lacks', ['-s', 'btrfs'], null, /supports overlay2 and vfs/],
  ['an oom score out of range', ['--oom-score-adjust', '2000'], null, /between -1000 and 1000/],
  ['a flag without its value', ['--data-root'], null, /flag needs an argument: --data-root/],
];

for (const [what, argv, text, message] of refusals) {
  test(`refuses ${what}, with a clear message`, () => {
    assert.throws(
      () => loadDaemonConfig(argv, {}, text === null ? noFile : file(text)),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
    );
  });
}

test('-H takes tcp addresses as dockerd parses them; TLS flags imply one another as in dockerd', () => {
  const hosts = (h: string[]) =>
    loadDaemonConfig(
      h.flatMap((x) => ['-H', x]),
      {},
      noFile,
    ).config.hosts;
  assert.deepEqual(hosts(['tcp://0.0.0.0:2376', 'tcp://:2377', '127.0.0.1', 'unix:///s.sock']), [
    'tcp://0.0.0.0:2376',
    'tcp://localhost:2377',
    'tcp://127.0.0.1:2375',
    '/s.sock',
  ]);
  const cfg = (argv: string[]) => loadDaemonConfig(argv, { HOME: '/home/u' }, noFile).config;
  assert.equal(cfg([]).tls, false);
  assert.equal(cfg([]).group, 'docker');
  assert.equal(cfg(['-G', 'wheel']).group, 'wheel');
  const verify = cfg(['--tlsverify', '--tlscacert', '/c/ca.pem']);
  assert.deepEqual(
    [verify.tls, verify.tlsVerify, verify.tlsCaCert, verify.tlsCert],
    [true, true, '/c/ca.pem', '/home/u/.docker/cert.pem'],
  );
  // dockerd 20.10: --tls alone verifies clients too; --tlsverify=false serves TLS without.
  assert.equal(cfg(['--tls']).tlsVerify, true);
  const noVerify = cfg(['--tls', '--tlsverify=false']);
  assert.deepEqual([noVerify.tls, noVerify.tlsVerify], [true, false]);
});

test('--help is recognised', () => {
  assert.equal(parseDaemonFlags(['--help']).help, true);
});

test('the version the daemon reports is package.json’s', () => {
  assert.equal(version, pkg.version);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadDaemonConfig } from '../../src/daemon/config.ts';

/** dockerd's network flags and daemon.json keys, read with its words. */

const noFile = (): string | null => null;
const file =
  (text: string) =>
  (path: string): string | null =>
    path === '/etc/d.json' ? text : null;

test('the network flags are read as dockerd reads them', () => {
  const { config } = loadDaemonConfig(
    [
      '-b',
      'br0',
      '--fixed-cidr',
      '10.1.0.128/25',
      '--default-gateway',
      '10.1.0.254',
      '--mtu',
      '1400',
      '--ip-forward=false',
      '--ip-masq=false',
      '--userland-proxy=false',
      '--ip',
      '127.0.0.1',
      '--dns',
      '9.9.9.9',
      '--dns',
      '1.1.1.1',
      '--dns-search',
      'ex.com',
      '--dns-opt',
      'attempts:2',
      '--default-address-pool',
      'base=10.10.0.0/16,size=24',
      '--default-address-pool',
      'base=10.20.0.0/16,size=26',
    ],
    {},
    noFile,
  );
  assert.equal(config.bridge, 'br0');
  assert.equal(config.fixedCidr, '10.1.0.128/25');
  assert.equal(config.defaultGateway, '10.1.0.254');
  assert.equal(config.ipForward, false);
  assert.equal(config.ipMasq, false);
  assert.equal(config.userlandProxy, false);
  assert.equal(config.ip, '127.0.0.1');
  assert.deepEqual(config.dns, ['9.9.9.9', '1.1.1.1']);
  assert.deepEqual(config.dnsSearch, ['ex.com']);
  assert.deepEqual(config.dnsOptions, ['attempts:2']);
  assert.deepEqual(config.defaultAddressPools, [
    { base: '10.10.0.0/16', size: 24 },
    { base: '10.20.0.0/16', size: 26 },
  ]);
});

test('bad values are refused in cobra’s words', () => {
  const bad = (args: string[]): string => {
    try {
      loadDaemonConfig(args, {}, noFile);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message;
    }
    return 'accepted';
  };
  assert.equal(
    bad(['--dns', '1.2.3']),
    'invalid argument "1.2.3" for "--dns" flag: 1.2.3 is not an ip address',
  );
  assert.equal(
    bad(['--default-gateway', '1.2.3']),
    'invalid argument "1.2.3" for "--default-gateway" flag: 1.2.3 is not an ip address',
  );
  assert.equal(bad(['--ip', 'x']), 'invalid argument "x" for "--ip" flag: x is not an ip address');
  assert.equal(
    bad(['--dns-search', 'bad..x']),
    'invalid argument "bad..x" for "--dns-search" flag: bad..x is not a valid domain',
  );
  assert.equal(
    bad(['--default-address-pool', 'base=10.0.0.0/8,mask=8']),
    'invalid argument "base=10.0.0.0/8,mask=8" for "--default-address-pool" flag: unexpected key \'mask\' in \'mask=8\'',
  );
});

test('daemon.json takes dockerd’s keys: dns-opts and default-address-pools', () => {
  const { config } = loadDaemonConfig(
    ['--config-file', '/etc/d.json'],
    {},
    file(
      JSON.stringify({
        'dns-opts': ['ndots:2'],
        'default-address-pools': [{ base: '10.30.0.0/16', size: 24 }],
        'userland-proxy': false,
        'ip-masq': false,
      }),
    ),
  );
  assert.deepEqual(config.dnsOptions, ['ndots:2']);
  assert.deepEqual(config.defaultAddressPools, [{ base: '10.30.0.0/16', size: 24 }]);
  assert.equal(config.userlandProxy, false);
  assert.throws(
    () =>
      loadDaemonConfig(
        ['--config-file', '/etc/d.json', '--dns', '8.8.8.8'],
        {},
        file('{"dns":["1.1.1.1"]}'),
      ),
    /the following directives are specified both as a flag and in the configuration file: dns: \(from flag: 8\.8\.8\.8, from file: 1\.1\.1\.1\)/,
  );
});

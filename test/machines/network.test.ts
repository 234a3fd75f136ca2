import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EffectCall } from '../../effects/requests.ts';
import { macOf, parseCidr, parseIp } from '../../machines/network/cidr.ts';
import {
  containerResolvConf,
  filteredHostResolvConf,
  hostsFile,
  ndotsError,
} from '../../machines/network/files.ts';
import {
  configuredPools,
  defaultLocalPools,
  nextAddress,
  pickPool,
} from '../../machines/network/ipam.ts';
import type { NetOpOutput, NetStep } from '../../machines/network/machine.ts';
import type { EndpointRecord, NetworkRecord } from '../../machines/network/model.ts';
import {
  endpointReleaseSteps,
  endpointSteps,
  type PlanContext,
} from '../../machines/network/plan.ts';
import { allocatePorts, bindingWishes, emptyPortTable } from '../../machines/network/ports.ts';
import { chainNames, fullRuleset, networkRules, portRules } from '../../machines/network/rules.ts';
import { scriptedSession, type Answer } from '../support/scripted.ts';

/** The pure parts of container networking: IPAM, ports, rules, files, and the netOp machine. */

const net = (cidr: string) => parseCidr(cidr)!.net;

test('the 31 local default pools come in dockerd’s order, and a configured pool replaces them', () => {
  const pools = defaultLocalPools().map((p) => `${p.base}/${p.bits}`);
  assert.equal(pools.length, 31);
  const show = (n: { base: number; bits: number }): string =>
    `${n.base >>> 24}.${(n.base >>> 16) & 255}.${(n.base >>> 8) & 255}.${n.base & 255}/${n.bits}`;
  assert.deepEqual(defaultLocalPools().slice(0, 4).map(show), [
    '172.17.0.0/16',
    '172.18.0.0/16',
    '172.19.0.0/16',
    '172.20.0.0/16',
  ]);
  assert.equal(show(defaultLocalPools()[30] as never), '192.168.240.0/20');
  assert.deepEqual(configuredPools([{ base: '10.10.0.0/16', size: 0 }]), {
    error: 'invalid pools size: 0',
  });
  assert.deepEqual(configuredPools([{ base: '10.10.0.0/16', size: 8 }]), {
    error: 'invalid pools size: 8',
  });
  assert.equal((configuredPools([{ base: '10.10.0.0/16', size: 24 }]) as unknown[]).length, 256);
});

test('pools are chosen next-fit, skipping what overlaps a network, a nameserver or a link route', () => {
  const pools = defaultLocalPools();
  const first = pickPool(pools, 0, [net('172.17.0.0/16')]);
  assert.equal(first?.pool.base, parseIp('172.18.0.0'));
  const second = pickPool(pools, first.next, [net('172.17.0.0/16'), net('172.18.0.0/16')]);
  assert.equal(second?.pool.base, parseIp('172.19.0.0'));
  // Next-fit: 172.18 freed, the next pick still goes on from 172.20.
  const third = pickPool(pools, second.next, [net('172.19.0.0/16'), net('172.21.5.0/24')]);
  assert.equal(third?.pool.base, parseIp('172.20.0.0'));
  assert.equal(pickPool([net('10.0.0.0/24')], 0, [net('10.0.0.7/32')]), null);
});

test('addresses are given from the first free one, skipping the gateway, within the range when there is one', () => {
  const n = net('10.77.0.0/24');
  assert.equal(
    nextAddress(n, null, new Set([parseIp('10.77.0.1') as number]), null),
    parseIp('10.77.0.2'),
  );
  assert.equal(
    nextAddress(n, net('10.77.0.128/25'), new Set([parseIp('10.77.0.1') as number]), null),
    parseIp('10.77.0.128'),
  );
  const full = new Set(Array.from({ length: 254 }, (_, i) => (parseIp('10.77.0.1') as number) + i));
  assert.equal(nextAddress(n, null, full, null), null);
  assert.equal(macOf(parseIp('10.77.0.2') as number), '02:42:0a:4d:00:02');
});

test('published ports: Docker’s conflict message, the dynamic range next-fit, and the IPv6 twin of 0.0.0.0', () => {
  const t = emptyPortTable();
  const w = bindingWishes(
    { '80/tcp': [{ hostIp: '', hostPort: '8080' }] },
    ['7000/tcp'],
    true,
    '0.0.0.0',
  );
  assert.ok(Array.isArray(w));
  const got = allocatePorts(t, w, [32768, 60999], true);
  assert.deepEqual(
    (got as { hostIp: string; hostPort: number; containerPort: number }[]).map(
      (p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}`,
    ),
    ['0.0.0.0:8080->80', ':::8080->80', '0.0.0.0:32768->7000', ':::32768->7000'],
  );
  assert.deepEqual(allocatePorts(t, w as never, [32768, 60999], true), {
    error: 'Bind for 0.0.0.0:8080 failed: port is already allocated',
  });
  const more = allocatePorts(
    t,
    [{ proto: 'tcp', containerPort: 1, hostIp: '127.0.0.1', hostPorts: null }],
    [32768, 60999],
    true,
  );
  assert.equal(
    (more as { hostPort: number }[])[0]?.hostPort,
    32769,
    'next-fit from the last port given',
  );
  assert.deepEqual(bindingWishes({ abc: [] }, [], false, '0.0.0.0'), {
    error: 'invalid port specification: "abc"',
  });
});

const un1: NetworkRecord = {
  id: 'n1'.padEnd(64, '0'),
  name: 'un1',
  driver: 'bridge',
  created: '',
  internal: false,
  labels: {},
  options: {},
  ipamOptions: {},
  ipam: { subnet: '172.18.0.0/16', gateway: '172.18.0.1', ipRange: null, defaultGateway: null },
  userSubnet: false,
  bridge: 'br-19c68f9b9eff',
  ownsBridge: true,
  ownsAddress: true,
  mtu: 1500,
  icc: true,
  masquerade: true,
  hostBindingIp: '0.0.0.0',
  defaultBridge: false,
};

test('a network adds dockerd’s eight rules, a published port its three (network-facts §3.3, §3.4)', () => {
  const c = chainNames('abcd0123');
  assert.deepEqual(
    networkRules(c, un1, { userlandProxy: true })
      .map((r) => `${r.table} ${r.chain} ${r.args}`)
      .sort(),
    [
      'filter SD-abcd0123-FWD -i br-19c68f9b9eff ! -o br-19c68f9b9eff -j ACCEPT',
      'filter SD-abcd0123-FWD -i br-19c68f9b9eff -o br-19c68f9b9eff -j ACCEPT',
      'filter SD-abcd0123-FWD -o br-19c68f9b9eff -j SD-abcd0123',
      'filter SD-abcd0123-FWD -o br-19c68f9b9eff -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      'filter SD-abcd0123-ISO1 -i br-19c68f9b9eff ! -o br-19c68f9b9eff -j SD-abcd0123-ISO2',
      'filter SD-abcd0123-ISO2 -o br-19c68f9b9eff -j DROP',
      'nat SD-abcd0123 -i br-19c68f9b9eff -j RETURN',
      'nat SD-abcd0123-POST -s 172.18.0.0/16 ! -o br-19c68f9b9eff -j MASQUERADE',
    ],
  );
  assert.deepEqual(
    portRules(
      c,
      'sdfacts0',
      '10.77.0.2',
      { proto: 'udp', containerPort: 90, hostIp: '127.0.0.1', hostPort: 9090 },
      { userlandProxy: true },
    ).map((r) => r.args),
    [
      '-d 10.77.0.2/32 ! -i sdfacts0 -o sdfacts0 -p udp -m udp --dport 90 -j ACCEPT',
      '-s 10.77.0.2/32 -d 10.77.0.2/32 -p udp -m udp --dport 90 -j MASQUERADE',
      '-d 127.0.0.1/32 ! -i sdfacts0 -p udp -m udp --dport 9090 -j DNAT --to-destination 10.77.0.2:90',
    ],
  );
  const all = fullRuleset(c, [un1], [], { userlandProxy: true });
  const fwd = all.filter((r) => r.chain === c.forward).map((r) => r.args);
  assert.deepEqual(
    fwd.slice(0, 2),
    [`-j ${c.user}`, `-j ${c.iso1}`],
    'the USER and ISOLATION jumps come first',
  );
  assert.equal(
    all.filter((r) => r.chain === c.iso1).at(-1)?.args,
    '-j RETURN',
    'RETURN stays last',
  );
});

test('/etc/hosts, resolv.conf: dockerd’s layout, loopback resolvers replaced, the embedded resolver with ndots:0', () => {
  assert.equal(
    hostsFile([{ name: 'foo', ip: '1.2.3.4' }], ['10.77.0.2'], 'b3ca21541f4f', ''),
    '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n1.2.3.4\tfoo\n10.77.0.2\tb3ca21541f4f\n',
  );
  assert.equal(
    filteredHostResolvConf('nameserver 127.0.0.53\n'),
    '\nnameserver 8.8.8.8\nnameserver 8.8.4.4',
  );
  assert.equal(filteredHostResolvConf('nameserver 10.0.0.2\n'), 'nameserver 10.0.0.2\n');
  assert.equal(
    containerResolvConf(
      'nameserver 10.0.0.2\n',
      { dns: [], dnsSearch: [], dnsOptions: [] },
      '172.18.0.1',
    ),
    'nameserver 172.18.0.1\noptions ndots:0\n',
  );
  assert.equal(
    containerResolvConf(
      'nameserver 10.0.0.2\n',
      { dns: ['9.9.9.9'], dnsSearch: ['ex.com'], dnsOptions: ['attempts:2'] },
      '172.18.0.1',
    ),
    'search ex.com\nnameserver 172.18.0.1\noptions attempts:2 ndots:0\n',
  );
  assert.equal(ndotsError(['ndots:x']), 'invalid number for ndots option: x');
});

const ctx: PlanContext = {
  dbDir: '/r/network/files',
  chains: chainNames('abcd0123'),
  fw: { userlandProxy: true },
};
const ep: EndpointRecord = {
  id: 'e1'.padEnd(64, '0'),
  network: un1.id,
  container: 'c1'.padEnd(64, '0'),
  name: 'web',
  sandbox: 's1'.padEnd(64, '0'),
  netns: '/x/netns/s1',
  hostIf: 'veth1234567',
  ifName: 'eth0',
  ip: '172.18.0.2',
  prefixLen: 16,
  mac: '02:42:ac:12:00:02',
  gateway: '172.18.0.1',
  aliases: ['web'],
  dnsNames: ['web'],
  staticIp: null,
  ports: [{ proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPort: 8080 }],
};

function runOp(steps: NetStep[], answer: (c: EffectCall) => Answer) {
  const { session, world, trace } = scriptedSession(answer);
  const entry = session.spawn('netOp', 'net:1', { actorId: 'net:1', op: 'test', steps });
  world.flush();
  return {
    output: (entry.actor.getSnapshot() as { output?: NetOpOutput }).output,
    calls: world.calls.map((c) => c.effect),
    trace,
  };
}

test('an endpoint is recorded, then its proxy, rules, veth and names; its release undoes them newest first', () => {
  const steps = endpointSteps(ctx, ep, un1, true);
  assert.deepEqual(
    steps.map((s) => s.request.effect),
    ['net.dbPut', 'net.startProxies', 'net.addRules', 'net.createEndpoint', 'net.registerNames'],
  );
  assert.deepEqual(
    endpointReleaseSteps(ctx, ep, un1, true).map((s) => s.request.effect),
    [
      'net.unregisterNames',
      'net.deleteLinks',
      'net.deleteRules',
      'net.stopProxies',
      'net.dbDelete',
    ],
  );
});

test('the netOp machine undoes what it made, newest first, when a step fails; a best-effort step only warns', () => {
  const steps = endpointSteps(ctx, ep, un1, true);
  const failed = runOp(steps, (c) =>
    c.effect === 'net.createEndpoint'
      ? { error: 'EEXIST', message: 'RTNETLINK answers: File exists' }
      : { result: {} },
  );
  assert.equal(failed.output?.ok, false);
  assert.equal(
    (failed.output as { message: string }).message,
    'failed to create endpoint web on network un1: RTNETLINK answers: File exists',
  );
  assert.deepEqual(failed.calls, [
    'net.dbPut',
    'net.startProxies',
    'net.addRules',
    'net.createEndpoint',
    'net.deleteRules',
    'net.stopProxies',
    'net.dbDelete',
  ]);
  const released = runOp(endpointReleaseSteps(ctx, ep, un1, true), (c) =>
    c.effect === 'net.deleteLinks' ? { error: 'EIO' } : { result: {} },
  );
  assert.equal(released.output?.ok, true);
  assert.equal(released.calls.length, 5, 'the failed release did not stop the others');
  assert.ok(released.trace.records.some((r) => r.kind === 'mark' && r.mark.mark === 'warning'));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFaultRule } from '../../effects/sim/faults.ts';
import { SimWorld } from '../../effects/sim/world.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { networkConstraints } from '../../machines/network/constraints.ts';
import { planNetworkStart, type NetworkStartInput } from '../../machines/network/start.ts';
import { defaultDaemonConfig } from '../../src/daemon/config.ts';
import { networkConfigOf } from '../../machines/daemon-startup/network-step.ts';
import { simConfig } from '../../src/sim/config.ts';
import { newRecord } from '../../src/sim/containers.ts';
import { ClientHistory, SimDaemon } from '../../src/sim/daemon.ts';
import { simulate } from '../../src/sim/simulate.ts';

/** The network controller's start-up, decided and simulated; and its orderings, checked. */

const forever = { exitAfterMs: null, exitCode: 0, ignoresTerm: false };

function input(over: Partial<NetworkStartInput> = {}): NetworkStartInput {
  return {
    config: networkConfigOf(defaultDaemonConfig()),
    dataRoot: '/var/lib/statedock',
    execRoot: '/var/run/statedock',
    liveRestore: false,
    mtu: 1500,
    db: { networks: [], sandboxes: [], endpoints: [], attachments: [] },
    host: { routes: [], links: [], portRange: [32768, 60999], ipv6: true, hostname: 'h' },
    hostResolvConf: 'nameserver 10.0.0.2\n',
    containers: [],
    nowMs: 1_800_000_000_000,
    pid: 42,
    ...over,
  };
}

test('a first start makes docker0 on 172.17.0.0/16, skipping a pool a link route holds', () => {
  const p = planNetworkStart(input());
  assert.ok(!('error' in p));
  assert.deepEqual(p.createBridge?.name, 'docker0');
  assert.equal(p.addAddress?.cidr, '172.17.0.1/16');
  assert.deepEqual(p.facts.networks.map((n) => n.name).sort(), ['bridge', 'host', 'none']);
  const routed = planNetworkStart(
    input({
      host: {
        routes: [{ dst: '172.17.0.0/16', scope: 'link', dev: 'other0' }],
        links: [],
        portRange: [1, 2],
        ipv6: false,
        hostname: 'h',
      },
    }),
  );
  assert.ok(!('error' in routed));
  assert.equal(routed.addAddress?.cidr, '172.18.0.1/16');
});

test('-b, --bip and --mtu are read as dockerd reads them, errors in its words', () => {
  const missing = planNetworkStart(
    input({ config: { ...networkConfigOf(defaultDaemonConfig()), bridge: 'sdt-x' } }),
  );
  assert.deepEqual(missing, {
    error:
      'Error initializing network controller: Error creating default "bridge" network: bridge device with non default name sdt-x must be created manually',
  });
  const bip = planNetworkStart(
    input({ config: { ...networkConfigOf(defaultDaemonConfig()), bip: '10.213.5.1/24' } }),
  );
  assert.ok(!('error' in bip));
  assert.deepEqual(bip.facts.networks.find((n) => n.defaultBridge)?.ipam, {
    subnet: '10.213.5.0/24',
    gateway: '10.213.5.1',
    ipRange: null,
    defaultGateway: null,
  });
  assert.deepEqual(
    planNetworkStart(input({ config: { ...networkConfigOf(defaultDaemonConfig()), mtu: -5 } })),
    {
      error:
        'Error initializing network controller: Error creating default "bridge" network: invalid MTU number: -5',
    },
  );
  const existing = planNetworkStart(
    input({
      config: { ...networkConfigOf(defaultDaemonConfig()), bridge: 'sdt-y' },
      host: {
        routes: [],
        links: [{ name: 'sdt-y', kind: 'bridge', master: null, addresses: ['10.77.0.1/24'] }],
        portRange: [1, 2],
        ipv6: false,
        hostname: 'h',
      },
    }),
  );
  assert.ok(!('error' in existing));
  assert.equal(existing.createBridge, null);
  assert.equal(existing.addAddress, null, 'an existing bridge keeps its address');
});

test('without live-restore every stored sandbox is stale; with it, a running container keeps its own', () => {
  const sb = {
    id: 's'.repeat(64),
    container: 'c'.repeat(64),
    netns: '/var/run/statedock/netns/ssssssssssss',
  };
  const ep = {
    id: 'e'.repeat(64),
    network: 'n'.repeat(64),
    container: sb.container,
    name: 'c',
    sandbox: sb.id,
    netns: sb.netns,
    hostIf: 'veth0000001',
    ifName: 'eth0',
    ip: '172.17.0.2',
    prefixLen: 16,
    mac: '02:42:ac:11:00:02',
    gateway: '172.17.0.1',
    aliases: null,
    dnsNames: [],
    staticIp: null,
    ports: [],
  };
  const db = { networks: [], sandboxes: [sb], endpoints: [ep], attachments: [] };
  const containers = [
    {
      id: sb.container,
      record: newRecord(sb.container, { name: 'c' }),
      spec: {},
      task: 'running' as const,
      rootMounted: false,
    },
  ];
  const cold = planNetworkStart(input({ db, containers }));
  assert.ok(!('error' in cold));
  assert.deepEqual(cold.stale.links, ['veth0000001']);
  assert.deepEqual(cold.stale.netns, [sb.netns]);
  const live = planNetworkStart(input({ db, containers, liveRestore: true }));
  assert.ok(!('error' in live));
  assert.deepEqual(live.stale.links, []);
  assert.deepEqual(
    live.facts.endpoints.map((e) => e.id),
    [ep.id],
  );
});

test('a start-up that fails after the bridge address (simulated: the chains cannot be written) gives back everything the network controller made', () => {
  const r = simulate({
    config: simConfig(null),
    seed: 3,
    faults: [parseFaultRule('net.syncChains=EIO')],
  });
  assert.equal(r.startup.status, 'failed');
  const w = r.world;
  assert.equal(w.net.links.has('docker0'), false, 'the bridge it made is gone');
  assert.deepEqual(
    [...w.net.chains.keys()].filter((k) => k.includes('SD-')),
    [],
  );
  assert.deepEqual(
    [...w.net.db.values()].flatMap((m) => [...m.keys()]),
    [],
  );
  assert.equal(w.kernel.sysctl.get('net/ipv4/ip_forward'), '0', 'ip_forward back to what it was');
  assert.equal(w.net.forwardPolicy, 'ACCEPT');
  const made = (r.trace?.records ?? [])
    .filter((x) => x.kind === 'mark' && x.mark.mark === 'resource.acquired')
    .map((x) => (x.kind === 'mark' ? String(x.mark['resource']) : ''));
  for (const res of [
    'net:defaultBridgeLink',
    'net:defaultBridgeAddress',
    'net:ipForward',
    'net:forwardPolicy',
  ])
    assert.ok(made.includes(res), `${res} was made`);
});

test('the simulated daemon: a port taken by a host process fails the start with Docker’s words and leaves nothing', () => {
  const world = new SimWorld({ seed: 5, host: { net: { busyPorts: ['tcp 0.0.0.0 8080'] } } });
  const history = new ClientHistory();
  const d = new SimDaemon({ world, config: simConfig(null), seed: 5, history });
  while (d.startup === null && !d.scheduler.idle) d.scheduler.runUntilIdle(1);
  d.schedule([
    { atMs: 0, op: { op: 'run', name: 'web', behaviour: forever, net: { publish: ['8080:80'] } } },
  ]);
  d.runFor(2_000);
  assert.ok(
    history.replies.some((r) =>
      /^start web: failed: driver failed programming external connectivity on endpoint web \([0-9a-f]{64}\): Error starting userland proxy: listen tcp4 0\.0\.0\.0:8080: bind: address already in use$/.test(
        r,
      ),
    ),
    history.replies.join('\n'),
  );
  const v = world.net.view();
  assert.deepEqual(v, { endpoints: [], sandboxes: [], veths: [], netns: [], ruleAddresses: [] });
});

/** A trace with the effect requests (and their completions) given, in order. */
function traceOf(
  calls: { actor: string; effect: string; fields: Record<string, unknown> }[],
): TraceRecord[] {
  const out: TraceRecord[] = [];
  let seq = 0;
  calls.forEach((c, i) => {
    const id = `${c.actor}/${i + 1}`;
    out.push({
      seq: ++seq,
      t: seq,
      actor: c.actor,
      kind: 'effect.request',
      call: { effect: c.effect, id, ...c.fields },
    } as never);
    out.push({
      seq: ++seq,
      t: seq,
      actor: c.actor,
      kind: 'event',
      event: { type: 'effect.done', id, result: {} },
    } as never);
  });
  return out;
}

test('the network orderings catch a rule removed before its veth, a bridge before its endpoint, a namespace before its record, a container forgotten with its sandbox', () => {
  const E = 'e1';
  const N = 'n1';
  const bad = traceOf([
    {
      actor: 'net:1',
      effect: 'net.createNetns',
      fields: { path: '/ns', sandbox: 's1', container: 'c1' },
    },
    {
      actor: 'net:1',
      effect: 'net.createEndpoint',
      fields: { endpoint: E, network: N, container: 'c1' },
    },
    { actor: 'net:2', effect: 'net.deleteRules', fields: { rules: [], endpoint: E } },
    { actor: 'net:3', effect: 'net.deleteLinks', fields: { names: ['br'], network: N } },
    { actor: 'container:c1', effect: 'net.sandboxUp', fields: { container: 'c1' } },
    { actor: 'container:c1', effect: 'store.del', fields: { key: 'container/c1' } },
  ]);
  const v = violationsOf(checkTrace(bad, networkConstraints))
    .map((x) => x.constraint)
    .sort();
  assert.deepEqual(v, [
    'endpointReleasedBeforeForget',
    'endpointRulesAroundLink',
    'networkRemovedWhenEmpty',
    'recordedBeforeMade',
    'recordedBeforeMade',
  ]);
  const good = traceOf([
    {
      actor: 'net:1',
      effect: 'net.dbPut',
      fields: {
        records: [
          { kind: 'sandbox', record: { id: 's1' } },
          { kind: 'endpoint', record: { id: E } },
        ],
      },
    },
    {
      actor: 'net:1',
      effect: 'net.createNetns',
      fields: { path: '/ns', sandbox: 's1', container: 'c1' },
    },
    { actor: 'net:1', effect: 'net.addRules', fields: { rules: [], endpoint: E } },
    {
      actor: 'net:1',
      effect: 'net.createEndpoint',
      fields: { endpoint: E, network: N, container: 'c1' },
    },
    { actor: 'container:c1', effect: 'net.sandboxUp', fields: { container: 'c1' } },
    { actor: 'net:2', effect: 'net.deleteLinks', fields: { names: ['veth'], endpoints: [E] } },
    { actor: 'net:2', effect: 'net.deleteRules', fields: { rules: [], endpoint: E } },
    { actor: 'container:c1', effect: 'net.sandboxDown', fields: { container: 'c1' } },
    { actor: 'container:c1', effect: 'store.del', fields: { key: 'container/c1' } },
    { actor: 'net:3', effect: 'net.deleteLinks', fields: { names: ['br'], network: N } },
  ]);
  assert.deepEqual(violationsOf(checkTrace(good, networkConstraints)), []);
});

test('--fixed-cidr narrows the default bridge’s addresses, --default-gateway becomes its containers’ route, --icc=false drops bridge-to-bridge traffic', () => {
  const config = {
    ...networkConfigOf(defaultDaemonConfig()),
    bridge: 'sdt-z',
    fixedCidr: '10.77.0.128/25',
    defaultGateway: '10.77.0.254',
    icc: false,
  };
  const p = planNetworkStart(
    input({
      config,
      host: {
        routes: [],
        links: [{ name: 'sdt-z', kind: 'bridge', master: null, addresses: ['10.77.0.1/24'] }],
        portRange: [1, 2],
        ipv6: false,
        hostname: 'h',
      },
    }),
  );
  assert.ok(!('error' in p));
  const bridge = p.facts.networks.find((n) => n.defaultBridge);
  assert.deepEqual(bridge?.ipam, {
    subnet: '10.77.0.0/24',
    gateway: '10.77.0.1',
    ipRange: '10.77.0.128/25',
    defaultGateway: '10.77.0.254',
  });
  assert.ok(p.rules.some((r) => r.args === '-i sdt-z -o sdt-z -j DROP'));
  assert.ok(!p.rules.some((r) => r.args === '-i sdt-z -o sdt-z -j ACCEPT'));
  const outside = planNetworkStart(
    input({
      config: { ...config, defaultGateway: '10.9.9.9' },
      host: p.facts
        ? {
            routes: [],
            links: [{ name: 'sdt-z', kind: 'bridge', master: null, addresses: ['10.77.0.1/24'] }],
            portRange: [1, 2],
            ipv6: false,
            hostname: 'h',
          }
        : ({} as never),
    }),
  );
  assert.deepEqual(outside, {
    error:
      'Error initializing network controller: Error creating default "bridge" network: default gateway ip must be part of the network',
  });
});

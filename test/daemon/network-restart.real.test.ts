import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import {
  checkInvariants,
  restoreInvariants,
  type HostView,
} from '../../machines/container/invariants.ts';
import { busyboxUnavailable } from '../support/busybox-image.ts';
import { daemonDirs, launch, realDaemonUnavailable } from '../support/daemon-process.ts';
import { apiContainers } from '../support/host-view.ts';
import {
  addressesOf,
  cleanupNet,
  daemonRules,
  makeBridge,
  netAvailable,
  networkView,
  pickNet,
  portsOf,
} from '../support/net.ts';
import { httpGet, netDaemon, type NetDaemon } from '../support/net-daemon.ts';

/**
 * The network controller across the daemon's lives: a start-up that fails after it gives back
 * everything it made; the seed's refusals; and a SIGKILL, then a restart without and with
 * live-restore, that leaves no veth, rule, address or namespace without its container.
 */

const unavailable = realDaemonUnavailable() ?? netAvailable() ?? busyboxUnavailable();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ipForward = (): string => readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();

/** Records of the flight recorder of the daemon whose pid is `pid`. */
function traceOf(
  exec: string,
  pid: number,
): { kind: string; mark?: Record<string, unknown>; call?: Record<string, unknown>; t: number }[] {
  const dir = `${exec}/traces`;
  const f = readdirSync(dir).find((x) => x.endsWith(`-${pid}.jsonl`));
  assert.ok(f, `no trace of ${pid}`);
  return readFileSync(`${dir}/${f}`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as never)
    .slice(1);
}

describe('network controller start-up', { skip: unavailable ?? false }, () => {
  const dirs: ReturnType<typeof daemonDirs>[] = [];
  const bridges: string[] = [];
  after(() => {
    for (const d of dirs) {
      cleanupNet(d, bridges);
      rmSync(d.dir, { recursive: true, force: true });
    }
  });

  test('a start-up that fails after the network controller gives back the bridge address, the chains and the network database', async () => {
    const n = pickNet();
    bridges.push(n.bridge);
    makeBridge(n.bridge, null);
    const d = daemonDirs('sdtf');
    dirs.push(d);
    const forwardBefore = ipForward();
    // containerd named by --containerd never answers: its client's connect, the last step to
    // finish (it gives up after 10 s), fails long after the network controller's are done.
    const r = launch(d, [
      '-b',
      n.bridge,
      '--default-address-pool',
      `base=${n.subnet},size=24`,
      '--containerd',
      `${d.dir}/no-containerd.sock`,
    ]);
    const code = await r.exited;
    assert.equal(code, 1, r.output());
    assert.match(r.output(), /not ready within 10000 ms/);
    const trace = traceOf(d.exec, r.pid);
    const calls = trace.flatMap((x) =>
      x.kind === 'effect.request' ? [String(x.call?.['effect'])] : [],
    );
    // It did make them (so the test can fail)...
    for (const e of ['net.addAddress', 'net.syncChains', 'net.dbPut'])
      assert.ok(calls.includes(e), `${e} was asked`);
    const released = trace.flatMap((x) =>
      x.kind === 'mark' && x.mark?.['mark'] === 'resource.released'
        ? [String(x.mark['resource'])]
        : [],
    );
    for (const res of ['net:defaultBridgeAddress', 'net:chains', 'net:predefinedNetworks'])
      assert.ok(released.includes(res), `${res} released (${released.join(', ')})`);
    // ...and the host is as it was.
    assert.deepEqual(addressesOf(n.bridge), [], 'the address it added is gone');
    assert.deepEqual(daemonRules(d.root), [], 'no chain or jump of the daemon is left');
    assert.equal(existsSync(`${d.root}/network`), false, 'the network database is gone');
    assert.equal(ipForward(), forwardBefore);
  });

  test('a start-up that fails before the API is served never touches the network (the controller runs once it is served)', async () => {
    const n = pickNet();
    bridges.push(n.bridge);
    makeBridge(n.bridge, null);
    const d = daemonDirs('sdtg');
    dirs.push(d);
    // The API socket is held by someone else: start-up fails at serveApi.
    const holder = createServer();
    await new Promise<void>((res) => holder.listen(d.sock, () => res()));
    try {
      const r = launch(d, ['-b', n.bridge, '--default-address-pool', `base=${n.subnet},size=24`]);
      const code = await r.exited;
      assert.equal(code, 1, r.output());
      assert.match(r.output(), /address already in use/);
      const calls = traceOf(d.exec, r.pid).flatMap((x) =>
        x.kind === 'effect.request' ? [String(x.call?.['effect'])] : [],
      );
      for (const e of ['net.addAddress', 'net.syncChains', 'net.dbPut'])
        assert.ok(!calls.includes(e), `${e} was asked before the API was served`);
      assert.deepEqual(addressesOf(n.bridge), []);
      assert.deepEqual(daemonRules(d.root), []);
      assert.equal(existsSync(`${d.root}/network`), false);
    } finally {
      holder.close();
    }
  });

  test('the seed’s refusals come before anything is written, in Docker’s words', async () => {
    for (const [flags, message] of [
      [
        ['-b', 'sdt-x', '--bip', '10.213.9.1/24'],
        'You specified -b & --bip, mutually exclusive options. Please specify only one',
      ],
      [
        ['--iptables=false', '--icc=false'],
        'You specified --iptables=false with --icc=false. ICC=false uses iptables to function. Please set --icc or --iptables to true',
      ],
    ] as const) {
      const d = daemonDirs('sdtr');
      dirs.push(d);
      const r = launch(d, [...flags]);
      assert.equal(await r.exited, 1);
      assert.ok(r.output().includes(message), r.output());
      assert.equal(existsSync(d.root), false, 'the data root was never made');
      assert.deepEqual(daemonRules(d.root), []);
    }
  });

  test('-b names a bridge that does not exist: refused, in Docker’s words', async () => {
    const d = daemonDirs('sdtb');
    dirs.push(d);
    const r = launch(d, ['-b', 'sdt-nosuch']);
    assert.equal(await r.exited, 1);
    assert.match(
      r.output(),
      /Error creating default "bridge" network: bridge device with non default name sdt-nosuch must be created manually/,
    );
    assert.equal(existsSync(`${d.root}/network`), false);
    assert.deepEqual(daemonRules(d.root), []);
  });
});

describe(
  'a SIGKILL and a restart leave no stale network state',
  { skip: unavailable ?? false },
  () => {
    let t: NetDaemon;
    after(async () => {
      await t?.close();
    });

    const view = async (): Promise<HostView> => ({
      containers: await apiContainers(t.d.sock),
      tasks: [],
      containerdContainers: [],
      acknowledged: [],
      mounted: [],
      network: networkView(t.d),
    });
    const networkInvariant = restoreInvariants.filter((i) => i.kind === 'noOrphanNetwork');

    /** The restarted daemon's own restore check (its flight recorder), network invariant included. */
    async function restoreCheckHeld(): Promise<void> {
      const pid = (t.daemon as NonNullable<NetDaemon['daemon']>).pid;
      for (let i = 0; i < 150; i++) {
        const trace = traceOf(t.d.exec, pid);
        const checked = trace.find(
          (x) => x.kind === 'mark' && x.mark?.['mark'] === 'invariants.checked',
        );
        if (checked) {
          const broken = trace.filter(
            (x) => x.kind === 'mark' && x.mark?.['mark'] === 'invariant.violated',
          );
          assert.deepEqual(
            broken.map((x) => x.mark?.['message']),
            [],
          );
          return;
        }
        await sleep(100);
      }
      assert.fail('the restore check never ran');
    }

    async function killAndRestart(extra: string[]): Promise<number> {
      const pid = (t.daemon as NonNullable<NetDaemon['daemon']>).pid;
      process.kill(pid, 'SIGKILL');
      await t.daemon?.exited;
      await t.restart(extra);
      // The network controller runs once the API is served: its step may end after the first answer.
      const at = (m: string): number =>
        traceOf(t.d.exec, (t.daemon as NonNullable<NetDaemon['daemon']>).pid).find(
          (x) =>
            x.kind === 'mark' && x.mark?.['mark'] === m && x.mark['step'] === 'networkController',
        )?.t ?? NaN;
      for (let i = 0; i < 100 && Number.isNaN(at('step.done')); i++) await sleep(50);
      return at('step.done') - at('step.start');
    }

    test('without live-restore every old sandbox is cleaned; with it, the running containers keep theirs and still serve', async () => {
      t = await netDaemon();
      const port = 30000 + Math.floor(Math.random() * 5000);
      const serve = ['sh', '-c', 'trap "exit 0" TERM; httpd -f -p 80 -h /www & wait'];
      t.ok('network', 'create', 'back');
      t.ok('run', '-d', '--name', 'web', '-p', `${port}:80`, 'busybox', ...serve);
      t.ok(
        'run',
        '-d',
        '--name',
        'db',
        '--network',
        'back',
        '--network-alias',
        'data',
        'busybox',
        ...serve,
      );
      t.ok('run', '-d', '--name', 'app', 'busybox', ...serve);
      t.ok('network', 'connect', 'back', 'app');
      const before = networkView(t.d);
      assert.equal(before.endpoints.length, 4);
      assert.equal(before.netns.length, 3);
      assert.equal(before.veths.length, 4);
      assert.match(await httpGet('127.0.0.1', port), /hello-from-httpd/);

      // SIGKILL, restart without live-restore: the containers are stopped, every sandbox goes.
      const cleanMs = await killAndRestart([]);
      console.log(
        `stale network state of 3 sandboxes (4 endpoints) cleaned in ${cleanMs.toFixed(1)} ms`,
      );
      for (
        let i = 0;
        i < 100 && (await apiContainers(t.d.sock)).some((c) => c.status === 'running');
        i++
      )
        await sleep(100);
      await restoreCheckHeld();
      const after1 = await view();
      assert.deepEqual(
        after1.containers.map((c) => c.status),
        ['exited', 'exited', 'exited'],
      );
      assert.deepEqual(checkInvariants(after1, networkInvariant), []);
      assert.deepEqual(after1.network, {
        endpoints: [],
        sandboxes: [],
        veths: [],
        netns: [],
        ruleAddresses: [],
      });
      assert.equal(portsOf(t.bridge).length, 0);
      // The user network and its bridge stay; the containers start again on them.
      t.ok('start', 'web', 'db', 'app');
      assert.match(await httpGet('127.0.0.1', port), /hello-from-httpd/);
      const names = t.ok(
        'run',
        '--rm',
        '--network',
        'back',
        'busybox',
        'sh',
        '-c',
        'nslookup data; nslookup app',
      );
      assert.equal((names.match(/Address: 10\.213\./g) ?? []).length, 2, names);

      // SIGKILL, restart with live-restore: the endpoints are kept, the proxy and the names come back.
      const keptMs = await killAndRestart(['--live-restore']);
      console.log(`live-restore kept 3 sandboxes in ${keptMs.toFixed(1)} ms`);
      await restoreCheckHeld();
      const after2 = await view();
      assert.deepEqual(after2.containers.map((c) => c.status).sort(), [
        'running',
        'running',
        'running',
      ]);
      assert.deepEqual(checkInvariants(after2, networkInvariant), []);
      assert.equal(after2.network?.endpoints.length, 4);
      assert.match(await httpGet('127.0.0.1', port), /hello-from-httpd/);
      const again = t.ok('run', '--rm', '--network', 'back', 'busybox', 'nslookup', 'data');
      assert.match(again, /Address: 10\.213\./);

      // Removed, they leave nothing.
      t.ok('rm', '-f', 'web', 'db', 'app');
      assert.deepEqual(networkView(t.d), {
        endpoints: [],
        sandboxes: [],
        veths: [],
        netns: [],
        ruleAddresses: [],
      });
      t.ok('network', 'rm', 'back');
      assert.ok(!daemonRules(t.d.root).some((r) => r.includes('DNAT')));
    });
  },
);

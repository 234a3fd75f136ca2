import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { replayTrace } from '../../effects/replay.ts';
import { readTraceFile } from '../../effects/trace-file.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { constraintsForTrace } from '../../src/check/command.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { simConfig } from '../../src/sim/config.ts';
import { busyboxTarball } from '../support/busybox-image.ts';
import {
  containerTokens,
  firstDifference,
  networkCreateBody,
  pickScenarioNet,
  publishOf,
  realDaemonFlags,
  runSimulated,
  scenarios,
  type Scenario,
} from '../support/conformance.ts';
import { cleanupNet, makeBridge, netAvailable } from '../support/net.ts';
import {
  daemonDirs,
  realDaemonUnavailable,
  startDaemon,
  type DaemonDirs,
  type RunningDaemon,
  importImage,
} from '../support/daemon-process.ts';

/**
 * The simulated host is the host the daemon really sees: every conformance scenario runs on
 * the real host (containerd, runc, the daemon's API) and on the simulated one, and each
 * container's records in the two traces must agree, record by record, once normalised (see
 * test/support/conformance.ts for what is left out and which orderings are free).
 */

const unavailable = realDaemonUnavailable() ?? netAvailable();

/** The MTU of the host's default route (1500 without one, as dockerd's default). */
function defaultRouteMtu(): number {
  const r = spawnSync('ip', ['-j', 'route', 'show', 'default'], { encoding: 'utf8' });
  const dev = (JSON.parse(r.stdout || '[]') as { dev?: string }[])[0]?.dev;
  if (dev === undefined) return 1500;
  return Number(readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8').trim());
}

/** The bridge, subnets and port of the networking scenarios, on both hosts (the MTU and resolv.conf are the host's). */
const net = {
  ...pickScenarioNet(),
  ...(unavailable
    ? {}
    : { mtu: defaultRouteMtu(), resolvConf: readFileSync('/etc/resolv.conf', 'utf8') }),
};

function api(
  sock: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: sock,
        path: `/v1.41${path}`,
        method,
        headers: data === undefined ? {} : { 'Content-Type': 'application/json' },
        timeout: 30_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text === '' ? null : JSON.parse(text) }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.on('error', reject);
    req.end(data);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`never ${what}`);
    await sleep(20);
  }
}

interface Inspected {
  State: { Status: string; Running: boolean };
  RestartCount: number;
}

let base: DaemonDirs;
let tarball = '';

before(() => {
  if (unavailable) return;
  base = daemonDirs('sdcf');
  tarball = busyboxTarball(base.dir, ['sh', 'sleep', 'true']);
});

after(() => {
  if (base) rmSync(base.dir, { recursive: true, force: true });
});

/** Runs a scenario on the real host; the flight recorder of each of the daemon's lives. */
async function runReal(s: Scenario, d: DaemonDirs): Promise<TraceRecord[][]> {
  const flags = (live: boolean): string[] => realDaemonFlags(s, net, live);
  /** The newest life's restore check has judged (it looks once the restored containers settle, containerd included). */
  const restoreChecked = (lives: number): Promise<void> =>
    until('restore checked', () => {
      const files = traceFiles(d);
      return (
        files.length > lives &&
        readFileSync(files[files.length - 1] as string, 'utf8').includes(
          '"mark":"invariants.checked"',
        )
      );
    });
  let daemon: RunningDaemon = await startDaemon(d, flags(s.liveRestore ?? false));
  try {
    // As the simulated daemon's first life, the scenario begins once the check has judged.
    await restoreChecked(0);
    importImage(d.sock, `${d.dir}/docker-config`, tarball, 'busybox');
    const ok = async (method: string, path: string, body?: unknown): Promise<unknown> => {
      const r = await api(d.sock, method, path, body);
      assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    /** Exec IDs by the scenario's names for them. */
    const execs = new Map<string, string>();
    const inspect = async (name: string): Promise<Inspected | null> => {
      const r = await api(d.sock, 'GET', `/containers/${name}/json`);
      return r.status === 404 ? null : (r.body as Inspected);
    };
    for (const step of s.steps) {
      switch (step.do) {
        case 'create': {
          const ports = publishOf(step, net).map((p) => p.split(':') as [string, string]);
          await ok('POST', `/containers/create?name=${step.name}`, {
            Image: 'busybox',
            Cmd: step.cmd,
            ...(step.stopTimeout === undefined ? {} : { StopTimeout: step.stopTimeout }),
            ...(ports.length > 0
              ? { ExposedPorts: Object.fromEntries(ports.map(([, c]) => [`${c}/tcp`, {}])) }
              : {}),
            HostConfig: {
              NetworkMode: s.networking === true ? (step.network ?? 'default') : 'none',
              ...(ports.length > 0
                ? {
                    PortBindings: Object.fromEntries(
                      ports.map(([h, c]) => [`${c}/tcp`, [{ HostIp: '', HostPort: h }]]),
                    ),
                  }
                : {}),
              AutoRemove: step.rm === true,
              ...(step.ipc === undefined ? {} : { IpcMode: step.ipc }),
              ...(step.restart
                ? {
                    RestartPolicy: {
                      Name: step.restart.name,
                      MaximumRetryCount: step.restart.maximumRetryCount,
                    },
                  }
                : {}),
            },
          });
          break;
        }
        case 'networkCreate':
          await ok('POST', '/networks/create', networkCreateBody(step.network, net));
          break;
        case 'networkRm':
          await ok('DELETE', `/networks/${step.network}`);
          break;
        case 'connect':
          await ok('POST', `/networks/${step.network}/connect`, {
            Container: step.name,
            EndpointConfig: { Aliases: step.alias === undefined ? [] : [step.alias] },
          });
          break;
        case 'disconnect':
          await ok('POST', `/networks/${step.network}/disconnect`, { Container: step.name });
          break;
        case 'start':
        case 'pause':
        case 'unpause':
          await ok('POST', `/containers/${step.name}/${step.do}`);
          break;
        case 'stop':
          await ok('POST', `/containers/${step.name}/stop?t=${step.t}`);
          break;
        case 'kill':
          await ok('POST', `/containers/${step.name}/kill?signal=${step.signal}`);
          break;
        case 'rm':
          await ok('DELETE', `/containers/${step.name}?force=${step.force ? 1 : 0}`);
          break;
        case 'startThenForceRemove': {
          const start = ok('POST', `/containers/${step.name}/start`);
          await sleep(5);
          const removal = ok('DELETE', `/containers/${step.name}?force=1`);
          await Promise.all([start, removal]);
          break;
        }
        case 'waitExited':
          await until(`exited ${step.name}`, async () => {
            const c = await inspect(step.name);
            return c === null || c.State.Status === 'exited';
          });
          break;
        case 'waitRemoved':
          await until(`removed ${step.name}`, async () => (await inspect(step.name)) === null);
          break;
        case 'waitRestarted':
          await until(`restarted ${step.name}`, async () => {
            const c = await inspect(step.name);
            return c !== null && c.RestartCount >= step.count && c.State.Status === 'running';
          });
          break;
        case 'exec': {
          const created = (await ok('POST', `/containers/${step.name}/exec`, {
            Cmd: step.cmd,
            AttachStdout: false,
            AttachStderr: false,
          })) as { Id: string };
          execs.set(step.exec, created.Id);
          // Detached: answered once the process started, or with why it could not.
          await api(d.sock, 'POST', `/exec/${created.Id}/start`, { Detach: true });
          break;
        }
        case 'waitExec': {
          const id = execs.get(step.exec) ?? '';
          await until(`exec ${step.exec} exited`, async () => {
            const r = await api(d.sock, 'GET', `/exec/${id}/json`);
            const e = r.body as { Running: boolean; ExitCode: number | null };
            return !e.Running && e.ExitCode !== null;
          });
          break;
        }
        case 'update':
          await ok('POST', `/containers/${step.name}/update`, { Memory: step.memory });
          break;
        case 'crash': {
          await sleep(200);
          process.kill(daemon.pid, 'SIGKILL');
          await daemon.exited;
          const lives = traceFiles(d).length;
          daemon = await startDaemon(d, flags(step.liveRestore));
          // The restore check (its second look at containerd) runs before the next request.
          await restoreChecked(lives);
          break;
        }
      }
    }
  } finally {
    process.kill(daemon.pid, 'SIGTERM');
    await daemon.exited;
  }
  return traceFiles(d).map((f) => readTraceFile(f).records);
}

/** The flight recorders of the daemon's lives, oldest first. */
function traceFiles(d: DaemonDirs): string[] {
  const dir = `${d.exec}/traces`;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((f) => `${dir}/${f}`);
}

/** Each scenario's flight recorders on the real host, run once for every test below. */
const realRuns = new Map<string, { lives: TraceRecord[][]; root: string; exec: string }>();

before(async () => {
  if (unavailable) return;
  for (const s of scenarios) {
    const d = daemonDirs('sdcf');
    if (s.networking === true) makeBridge(net.bridge, net.cidr);
    try {
      realRuns.set(s.name, { lives: await runReal(s, d), root: d.root, exec: d.exec });
    } finally {
      if (s.networking === true) cleanupNet(d, [net.bridge]);
      rmSync(d.dir, { recursive: true, force: true });
    }
  }
});

function compare(name: string, sim: TraceRecord[][]): string | null {
  const real = realRuns.get(name);
  assert.ok(real, `no real run of ${name}`);
  assert.equal(real.lives.length, sim.length, 'as many lives of the daemon');
  const simulated = simConfig(null);
  for (let life = 0; life < sim.length; life++) {
    const difference = firstDifference(
      containerTokens(real.lives[life] as TraceRecord[], {
        root: real.root,
        execRoot: real.exec,
        bridge: net.bridge,
      }),
      containerTokens(sim[life] as TraceRecord[], {
        root: simulated.dataRoot,
        execRoot: simulated.execRoot,
        bridge: net.bridge,
      }),
    );
    if (difference !== null) return `life ${life + 1}: ${difference}`;
  }
  return null;
}

for (const s of scenarios) {
  test(
    `the simulated host behaves as the real one: ${s.name}`,
    { skip: unavailable ?? false },
    () => {
      assert.equal(
        compare(
          s.name,
          runSimulated(s, 1, () => undefined, net),
        ),
        null,
      );
    },
  );
}

test(
  'the real flight recorder of every scenario replays and keeps every constraint',
  { skip: unavailable ?? false },
  () => {
    for (const [name, run] of realRuns)
      for (const [i, records] of run.lives.entries()) {
        const report = replayTrace(records);
        assert.equal(report.records, records.length, `${name}, life ${i + 1}`);
        assert.deepEqual(
          violationsOf(checkTrace(records, constraintsForTrace(records))),
          [],
          `${name}, life ${i + 1}`,
        );
      }
  },
);

test(
  "a simulated handler that behaves otherwise is caught: deleting a task that takes containerd's container along",
  { skip: unavailable ?? false },
  () => {
    const s = scenarios.find((x) => x.name === 'create, start, stop, rm');
    assert.ok(s);
    // The old simulated host's mistake, the other way round: here the task's deletion also
    // deletes containerd's container, which the real containerd keeps until it is asked.
    const sabotaged = runSimulated(s, 1, (world) => {
      const run = world.containerd.run.bind(world.containerd);
      world.containerd.run = (req, nowMs) => {
        const result = run(req, nowMs);
        if (req.effect === 'containerd.deleteTask')
          world.containerd.containers.delete(req.container);
        return result;
      };
    });
    assert.match(
      compare(s.name, sabotaged) ?? '',
      /the real host has «done containerd.deleteContainer», the simulated host «failed containerd.deleteContainer ENOENT»/,
    );
  },
);

test(
  'a simulated network handler that behaves otherwise is caught: a veth deletion that finds the veth gone',
  { skip: unavailable ?? false },
  () => {
    const s = scenarios.find((x) => x.name.startsWith('publish'));
    assert.ok(s);
    const sabotaged = runSimulated(
      s,
      1,
      (world) => {
        const run = world.net.run.bind(world.net);
        world.net.run = (req) => {
          const result = run(req);
          return req.effect === 'net.deleteLinks' ? { deleted: [] } : result;
        };
      },
      net,
    );
    assert.match(
      compare(s.name, sabotaged) ?? '',
      /net sandboxDown web #1, record \d+: the real host has «done net.deleteLinks \{"deleted":\["<veth>"\]\}», the simulated host «done net.deleteLinks \{"deleted":\[\]\}»/,
    );
  },
);

test(
  'a simulated kernel that behaves otherwise is caught: an unmount of a shareable /dev/shm that finds none mounted',
  { skip: unavailable ?? false },
  () => {
    const s = scenarios.find((x) => x.name.startsWith('ipc shareable: '));
    assert.ok(s);
    const sabotaged = runSimulated(s, 1, (world) => {
      const run = world.kernel.run.bind(world.kernel);
      world.kernel.run = (req) => {
        if (req.effect === 'kernel.unmountShm') world.kernel.shm.delete(req.path);
        return run(req);
      };
    });
    assert.match(
      compare(s.name, sabotaged) ?? '',
      /the real host has «done kernel.unmountShm unmounted=true», the simulated host «done kernel.unmountShm unmounted=false»/,
    );
  },
);

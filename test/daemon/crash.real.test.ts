import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { after, before, test } from 'node:test';
import {
  checkInvariants,
  type AcknowledgedCreate,
  type HostView,
} from '../../machines/container/invariants.ts';
import { ApiTap } from '../support/api-tap.ts';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import {
  describePlan,
  networkScenarios,
  planPoint,
  targetCommand,
  targetFlags,
  type CrashPlan,
  type Scenario,
  type Target,
} from '../support/crash-plan.ts';
import {
  containerdPidsOf,
  daemonDirs,
  docker,
  launch,
  ping,
  realDaemonUnavailable,
  startDaemon,
  type DaemonDirs,
  type RunningDaemon,
  unmountUnder,
  importImage,
} from '../support/daemon-process.ts';
import { hostView as hostViewOf, mountedRootfs, shimsOf } from '../support/host-view.ts';
import { cleanupNet, makeBridge, networkView, pickNet } from '../support/net.ts';

/**
 * The real SIGKILL campaign (issue 6, point 4): the real daemon on its supervised containerd,
 * driven by the stock docker CLI, is killed at seeded random moments during `docker run --rm`,
 * `docker rm -f`, `docker stop` and its own shutdown; restarted on the same roots (the killed
 * daemon's containerd survives, like a real host's, and is adopted), it must leave the host
 * as the restore invariants say (machines/container/invariants.ts), read from the API,
 * containerd's own view (ctr) and /proc mounts; and every container left must be removable.
 *
 * CRASH_SEED=<n> replays a campaign's plan, CRASH_POINTS=<n> sets the number of crash points,
 * CRASH_ONLY=runRm,rmForce,stop,shutdown narrows the scenarios, CRASH_VERBOSE=1 prints every point.
 */

const unavailable =
  realDaemonUnavailable() ??
  busyboxUnavailable() ??
  (spawnSync('which', ['ctr']).status === 0 ? null : 'needs ctr (containerd)');

const seed = process.env['CRASH_SEED']
  ? Number(process.env['CRASH_SEED'])
  : Math.floor(Math.random() * 2 ** 31);
const points = process.env['CRASH_POINTS'] ? Number(process.env['CRASH_POINTS']) : 52;
/** CRASH_ONLY=runRm,stop narrows the scenarios (a different plan for the same seed). */
const only = process.env['CRASH_ONLY']
  ? (process.env['CRASH_ONLY'].split(',') as Scenario[])
  : undefined;

/** How long each scenario's operation may take from the CLI's first request (the kill lands in 0..1.15 of it). */
const windowMs = (p: CrashPlan, liveRestore: boolean): number => {
  const slow = p.targets.some((t) => !t.fastStop);
  // Under live-restore a shutdown leaves the containers running: it takes about as long as an idle one.
  const w: Record<Scenario, number> = {
    runRm: 250,
    rmForce: 80,
    stop: slow ? 1300 : 100,
    shutdown: liveRestore ? 60 : slow ? 1300 : 150,
    publish: 250,
    connect: 80,
    disconnect: 80,
    networkRm: 60,
  };
  if (p.scenario === 'runRm' && p.fromStart)
    return p.command[0] === 'sleep' ? 150 + Number(p.command[1]) * 1000 : 150;
  return p.scenario === 'runRm' && p.command[0] === 'sleep'
    ? 250 + Number(p.command[1]) * 1000
    : w[p.scenario];
};

let d: DaemonDirs;
let cfg: string;
let tap: ApiTap;
let daemon: RunningDaemon | null = null;
let lastOpMs = -1;
/** Whether the daemon now running was started with --live-restore. */
let runningLiveRestore = false;
/** The campaign's own bridge and pools (publish, connect, disconnect and network rm need a network). */
const net = pickNet();
const poolBase = `10.213.${1 + ((net.octet + 60) % 250)}.0/24`;
const flags = (liveRestore: boolean): string[] => [
  '-b',
  net.bridge,
  '--default-address-pool',
  `base=${poolBase},size=28`,
  ...(liveRestore ? ['--live-restore'] : []),
];
/** The host as the invariants see it, with the daemon's networking. */
const hostView = async (dd: DaemonDirs, acknowledged: AcknowledgedCreate[]): Promise<HostView> => ({
  ...(await hostViewOf(dd, acknowledged)),
  network: networkView(dd),
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The stock CLI through the tap, without blocking the event loop the tap runs on. */
function cli(args: string[]): {
  done: Promise<{ status: number | null; stdout: string; stderr: string }>;
  pid: number;
  running: () => boolean;
} {
  const child = spawn('docker', ['-H', `unix://${tap.path}`, ...args], {
    env: { ...process.env, DOCKER_CONFIG: cfg },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (status) => {
      exited = true;
      resolve({ status, stdout, stderr });
    }),
  );
  return { done, pid: child.pid as number, running: () => !exited };
}

async function cliOk(args: string[]): Promise<string> {
  const r = await cli(args).done;
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Waits for a CLI we started to exit, killing it (by its PID) if it hangs on a dead daemon. */
async function reap(c: ReturnType<typeof cli>, ms = 10_000): Promise<void> {
  const t = setTimeout(() => c.running() && process.kill(c.pid, 'SIGKILL'), ms);
  await c.done;
  clearTimeout(t);
}

async function killDaemon(): Promise<void> {
  if (!daemon) return;
  if (daemon.child.exitCode === null && daemon.child.signalCode === null)
    process.kill(daemon.pid, 'SIGKILL');
  await daemon.exited;
  daemon = null;
}

/**
 * Polls the host until it is quiet (nothing removing or restarting, every task running or
 * paused) and the same twice in a row, or the same for 2 s (a state stuck for good is
 * checked too, without waiting out the 10 s bound).
 */
async function settledView(
  acknowledged: AcknowledgedCreate[],
  maxMs = 15_000,
): Promise<{ view: HostView; settled: boolean }> {
  const end = Date.now() + maxMs;
  let prev = '';
  let sameSince = Date.now();
  for (;;) {
    const view = await hostView(d, acknowledged);
    const key = JSON.stringify([
      view.containers,
      view.tasks,
      view.containerdContainers,
      view.mounted,
    ]);
    // A view that breaks an invariant is judged only once it has stayed so past a stop timeout:
    // restore may be repairing it (e.g. stopping a task a crashed start left running, whose
    // record still says created; a PID 1 that ignores SIGTERM is killed after 10 s).
    const quiet =
      view.containers.every((c) => c.status !== 'removing' && c.status !== 'restarting') &&
      view.tasks.every((t) => t.status === 'running' || t.status === 'paused') &&
      checkInvariants(view).length === 0;
    if (key !== prev) sameSince = Date.now();
    // A broken view waits out a stop timeout (10 s) before it is judged; another unquiet one 2 s.
    const patience = checkInvariants(view).length > 0 ? 11_000 : 2_000;
    if (key === prev && (quiet || Date.now() - sameSince >= patience))
      return { view, settled: quiet };
    if (Date.now() > end) return { view, settled: false };
    prev = key;
    await sleep(150);
  }
}

interface Finding {
  point: string;
  invariant: string;
  container: string;
  message: string;
}

/** Creates the point's containers, runs its operation, and SIGKILLs the daemon inside it. Returns whether the operation was still running. */
async function crash(p: CrashPlan, name: (s: string) => string): Promise<boolean> {
  const networked = networkScenarios.includes(p.scenario);
  // Containers of the network scenarios join the default bridge (the others run with no network).
  const withNet = (f: string[]): string[] =>
    networked ? f.filter((x, i) => x !== 'none' && !(x === '--network' && f[i + 1] === 'none')) : f;
  const runTarget = (n: string, t: Target): Promise<string> =>
    cliOk(['run', '-d', '--name', n, ...withNet(targetFlags(t)), 'busybox', ...targetCommand(t)]);
  if (p.fresh)
    await cliOk(['create', '--name', name('fresh'), '--network', 'none', 'busybox', 'true']);
  if (p.bystander) await runTarget(name('by'), p.bystander);
  for (const [i, t] of p.targets.entries()) await runTarget(name(`t${i}`), t);
  const window = windowMs(p, runningLiveRestore);
  if (p.scenario === 'shutdown') {
    process.kill((daemon as RunningDaemon).pid, 'SIGTERM');
    await Promise.race([sleep(p.at * window), (daemon as RunningDaemon).exited]);
    const during = daemon?.child.exitCode === null && daemon.child.signalCode === null;
    await killDaemon();
    return during;
  }
  if (p.scenario === 'disconnect') await cliOk(['network', 'connect', 'cnet', name('t0')]);
  if (p.scenario === 'networkRm') await cliOk(['network', 'create', name('net')]);
  const port = 40000 + ((p.index * 7) % 5000);
  const args =
    p.scenario === 'runRm'
      ? ['run', '--rm', '--name', name('rm'), '--network', 'none', 'busybox', ...p.command]
      : p.scenario === 'rmForce'
        ? ['rm', '-f', name('t0')]
        : p.scenario === 'publish'
          ? ['run', '-d', '--name', name('pub'), '-p', `${port}:80`, 'busybox', 'sleep', '1000']
          : p.scenario === 'connect'
            ? ['network', 'connect', '--alias', name('al'), 'cnet', name('t0')]
            : p.scenario === 'disconnect'
              ? ['network', 'disconnect', 'cnet', name('t0')]
              : p.scenario === 'networkRm'
                ? ['network', 'rm', name('net')]
                : ['stop', name('t0')];
  const first = tap.nextRequest(
    5000,
    (p.scenario === 'runRm' || p.scenario === 'publish') && p.fromStart
      ? /^POST \S*\/start/
      : undefined,
  );
  const c = cli(args);
  await first;
  const t0 = Date.now();
  void c.done.then(() => (lastOpMs = Date.now() - t0));
  await sleep(p.at * window);
  const during = c.running();
  await killDaemon();
  await reap(c);
  return during;
}

before(async () => {
  if (unavailable) return;
  makeBridge(net.bridge, `${net.gateway}/24`);
  d = daemonDirs('sdcr');
  cfg = `${d.dir}/docker-config`;
  mkdirSync(cfg);
  busyboxTarball(d.dir, ['sh', 'sleep', 'true']);
  tap = new ApiTap(`${d.dir}/tap.sock`, d.sock);
  await tap.listen();
  daemon = await startDaemon(d, flags(false));
  importImage(d.sock, cfg, `${d.dir}/busybox.tar`, 'busybox');
  assert.equal(docker(d.sock, ['network', 'create', 'cnet'], cfg).status, 0);
});

after(async () => {
  if (unavailable || !d) return;
  // Whatever a failure left: containers (through the daemon when it answers), the daemon, its containerd and shims, mounts, the roots.
  if (daemon) {
    const ids = docker(d.sock, ['ps', '-aq', '--no-trunc'], cfg).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) docker(d.sock, ['rm', '-f', ...ids], cfg);
    process.kill(daemon.pid, 'SIGTERM');
    const t = setTimeout(() => daemon && process.kill(daemon.pid, 'SIGKILL'), 20_000);
    await daemon.exited;
    clearTimeout(t);
  }
  await tap?.close();
  const shims = shimsOf(d.exec);
  if (shims.length > 0)
    console.log(
      `crash campaign cleanup: ${shims.length} shims left: ${shims.map((s) => s.id.slice(0, 12)).join(' ')}`,
    );
  for (const pid of [...containerdPidsOf(d.exec), ...shims.map((s) => s.pid)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  cleanupNet(d, [net.bridge]);
  unmountUnder(d.dir);
  rmSync(d.dir, { recursive: true, force: true });
});

test(
  'a root filesystem mounted by a start the daemon died in, before containerd made the task, is unmounted by restore',
  { skip: unavailable ?? false },
  async () => {
    const id = await cliOk([
      'create',
      '--name',
      'half-started',
      '--network',
      'none',
      'busybox',
      'true',
    ]);
    const layer = `${d.root}/overlay2/${id}`;
    // What the shim's part of CreateTask does first: the overlay in the task's bundle. Then the crash, before containerd made the task.
    const lower = readFileSync(`${layer}/lower`, 'utf8').trim();
    const rootfs = `${d.exec}/containerd/daemon/io.containerd.runtime.v2.task/statedock/${id}/rootfs`;
    mkdirSync(rootfs, { recursive: true });
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${layer}/diff,workdir=${layer}/work`,
      rootfs,
    ]);
    assert.deepEqual(mountedRootfs(d), [id]);
    await killDaemon();
    daemon = await startDaemon(d, flags(false));
    const view = await hostView(d, [{ id, mayBeGone: false }]);
    assert.deepEqual(
      view.containers.map((c) => [c.id, c.status]),
      [[id, 'created']],
    );
    assert.deepEqual(checkInvariants(view), []);
    assert.deepEqual(mountedRootfs(d), []);
    assert.equal(docker(d.sock, ['rm', '-f', id], cfg).status, 0);
  },
);

test(
  'exits while the daemon starts, between restore listing the tasks and the exit stream, are not lost (live-restore)',
  { skip: unavailable ?? false },
  async () => {
    // Each container blocks reading its FIFO; writing it ends the container at a moment the test picks.
    const n = 6;
    const dir = `${d.dir}/fifos`;
    mkdirSync(dir, { recursive: true });
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      execFileSync('mkfifo', [`${dir}/f${i}`]);
      ids.push(
        await cliOk([
          'run',
          '-d',
          '--name',
          `exit-${i}`,
          '--network',
          'none',
          '-v',
          `${dir}:/h`,
          'busybox',
          'sh',
          '-c',
          `read x < /h/f${i}`,
        ]),
      );
    }
    await killDaemon();
    // Restarted with --live-restore, the containers are adopted. The moment its flight recorder
    // shows restore's listing of the tasks, the daemon is frozen (SIGSTOP, it is our child), the
    // containers end, and it goes on (SIGCONT): exits it had not subscribed to by then are lost for good.
    const starting = launch(d, flags(true));
    daemon = starting;
    const trace = `${d.exec}/traces`;
    const end = Date.now() + 30_000;
    const listed = (): boolean =>
      readdirSync(trace).some(
        (f) =>
          f.endsWith(`-${starting.pid}.jsonl`) &&
          readFileSync(`${trace}/${f}`, 'utf8').includes('"effect":"containerd.listTasks"'),
      );
    while (!listed()) {
      assert.ok(
        Date.now() < end && starting.child.exitCode === null,
        `the daemon did not list the tasks:\n${starting.output()}`,
      );
      await sleep(1);
    }
    process.kill(starting.pid, 'SIGSTOP');
    for (let i = 0; i < n; i++) {
      const fd = openSync(`${dir}/f${i}`, constants.O_WRONLY | constants.O_NONBLOCK);
      writeSync(fd, 'x\n');
      closeSync(fd);
    }
    await sleep(500);
    process.kill(starting.pid, 'SIGCONT');
    while (!(await ping(d.sock))) {
      assert.ok(
        Date.now() < end && starting.child.exitCode === null,
        `the daemon did not come up:\n${starting.output()}`,
      );
      await sleep(20);
    }
    const { view } = await settledView(ids.map((id) => ({ id, mayBeGone: false })));
    assert.deepEqual(checkInvariants(view), []);
    assert.deepEqual(
      view.containers.filter((c) => c.status !== 'exited').map((c) => `${c.name} ${c.status}`),
      [],
      'every container whose process ended is exited',
    );
    assert.equal(docker(d.sock, ['rm', ...ids], cfg).status, 0);
  },
);

test(
  'a shim containerd started for a create the crash cancelled does not outlive the restart',
  { skip: unavailable ?? false },
  async () => {
    let crashedInCreate = 0;
    // The window (the shim is up, CreateTask has not answered) is tens of milliseconds: a
    // loaded machine can miss it, so the test tries until it lands once (at most ten times).
    for (let attempt = 0; attempt < 10 && (attempt < 2 || crashedInCreate === 0); attempt++) {
      const before = new Set(shimsOf(d.exec).map((s) => s.id));
      const c = cli([
        'run',
        '-d',
        '--name',
        `cancelled-${attempt}`,
        '--network',
        'none',
        'busybox',
        'true',
      ]);
      // The moment containerd has started the new container's shim, the daemon dies inside CreateTask.
      const end = Date.now() + 10_000;
      while (!shimsOf(d.exec).some((s) => !before.has(s.id)) && c.running() && Date.now() < end)
        await sleep(1);
      if (shimsOf(d.exec).some((s) => !before.has(s.id)) && c.running()) crashedInCreate += 1;
      await killDaemon();
      await reap(c);
      daemon = await startDaemon(d, flags(false));
      const ids = (await hostView(d, [])).containers.map((x) => x.id);
      if (ids.length > 0) assert.equal(docker(d.sock, ['rm', '-f', ...ids], cfg).status, 0);
      const gone = Date.now() + 1000;
      while (shimsOf(d.exec).length > 0 && Date.now() < gone) await sleep(20);
      assert.deepEqual(shimsOf(d.exec), [], 'no shim serves a container that is gone');
    }
    assert.ok(crashedInCreate > 0, 'the daemon was killed inside a task creation at least once');
  },
);

test(
  `SIGKILL at random moments of run --rm, rm -f, stop, shutdown, run -p, network connect, disconnect and rm leaves no violation of the restore invariants (CRASH_SEED=${seed})`,
  { skip: unavailable ?? false, timeout: 9 * 60_000 },
  async () => {
    const started = Date.now();
    console.log(`crash campaign: CRASH_SEED=${seed} CRASH_POINTS=${points}`);
    const findings: Finding[] = [];
    const counts: Record<Scenario, number> = {
      runRm: 0,
      rmForce: 0,
      stop: 0,
      shutdown: 0,
      publish: 0,
      connect: 0,
      disconnect: 0,
      networkRm: 0,
    };
    let during = 0;
    let unsettled = 0;
    let left = 0;
    for (let i = 0; i < points; i++) {
      const p = planPoint(seed, i, only);
      const label = `${describePlan(p)}${runningLiveRestore ? ' (killed daemon had --live-restore)' : ''}`;
      const name = (s: string): string => `p${i}-${s}`;
      lastOpMs = -1;
      tap.log.created.clear();
      tap.log.started.clear();
      tap.log.stopped.clear();
      tap.log.removed.clear();
      if (await crash(p, name)) during += 1;
      counts[p.scenario] += 1;
      daemon = await startDaemon(d, flags(p.liveRestore));
      runningLiveRestore = p.liveRestore;
      // What the API acknowledged (a 201 seen by the CLI's connection), and whether it may be gone.
      const asked = (set: Set<string>, n: string, id: string): boolean => set.has(n) || set.has(id);
      const autoRemove = (n: string): boolean =>
        n === name('rm') ||
        [
          p.bystander && n === name('by') ? p.bystander : null,
          ...p.targets.map((t, k) => (n === name(`t${k}`) ? t : null)),
        ].some((t) => t?.autoRemove === true);
      const acknowledged: AcknowledgedCreate[] = [...tap.log.created].map(([n, id]) => ({
        id,
        mayBeGone:
          asked(tap.log.removed, n, id) || (autoRemove(n) && asked(tap.log.started, n, id)),
      }));
      const { view, settled } = await settledView(acknowledged);
      if (!settled) unsettled += 1;
      const found: Finding[] = [];
      for (const v of checkInvariants(view)) found.push({ point: label, ...v });
      const containerds = containerdPidsOf(d.exec).length;
      if (containerds !== 1)
        found.push({
          point: label,
          invariant: 'oneContainerd',
          container: '',
          message: `${containerds} containerd processes on the exec root after the restart`,
        });
      // Every container left can be removed, and then nothing of it stays in containerd or mounted.
      const ids = view.containers.map((c) => c.id);
      left += ids.length;
      if (ids.length > 0) {
        const rm = spawnSync('docker', ['-H', `unix://${d.sock}`, 'rm', '-f', ...ids], {
          encoding: 'utf8',
          env: { ...process.env, DOCKER_CONFIG: cfg },
          timeout: 20_000,
        });
        // A removal in flight (an --rm container whose process ended just now) answers "already
        // in progress", as dockerd does: it must then end by itself. One that never ends is
        // still listed below.
        const errors = rm.stderr.trim().split('\n').filter(Boolean);
        const inFlight = errors.filter((l) => / is already in progress$/.test(l));
        if (rm.status !== 0 && (inFlight.length === 0 || inFlight.length < errors.length))
          found.push({
            point: label,
            invariant: 'removable',
            container: ids.join(','),
            message: `docker rm -f: ${rm.status === null ? 'no answer within 20 s' : rm.stderr.trim()}`,
          });
        const removalEnds = Date.now() + 10_000;
        while (inFlight.length > 0 && Date.now() < removalEnds) {
          const all = await hostView(d, []);
          if (!ids.some((id) => all.containers.some((c) => c.id === id))) break;
          await sleep(100);
        }
      }
      const empty = await hostView(d, []);
      // Nothing of the removed containers' networking stays (no endpoint, sandbox, veth, namespace or port rule).
      const netLeft = empty.network;
      if (netLeft)
        for (const what of [
          ...netLeft.endpoints.map((e) => `endpoint ${e.hostIf}`),
          ...netLeft.sandboxes.map((x) => `sandbox ${x.netns}`),
          ...netLeft.veths.map((v) => `veth ${v}`),
          ...netLeft.netns.map((n) => `namespace ${n}`),
          ...netLeft.ruleAddresses.map((a) => `port rules of ${a}`),
        ])
          found.push({
            point: label,
            invariant: 'removable',
            container: '',
            message: `${what} left after docker rm -f of every container`,
          });
      // A network the point made can be removed, whatever the crash left of it.
      if (p.scenario === 'networkRm') {
        const left = docker(
          d.sock,
          ['network', 'ls', '-q', '--filter', `name=${name('net')}`],
          cfg,
        ).stdout.trim();
        if (left !== '') {
          const rm = docker(d.sock, ['network', 'rm', name('net')], cfg);
          if (rm.status !== 0)
            found.push({
              point: label,
              invariant: 'removable',
              container: '',
              message: `docker network rm ${name('net')}: ${rm.stderr.trim()}`,
            });
        }
      }
      for (const id of ids) {
        if (empty.containers.some((c) => c.id === id))
          found.push({
            point: label,
            invariant: 'removable',
            container: id,
            message: `${id} is still listed after docker rm -f`,
          });
        if (empty.tasks.some((t) => t.id === id) || empty.containerdContainers.includes(id))
          found.push({
            point: label,
            invariant: 'removable',
            container: id,
            message: `containerd still holds ${id} after docker rm -f`,
          });
        if (empty.mounted.includes(id))
          found.push({
            point: label,
            invariant: 'removable',
            container: id,
            message: `the root filesystem of ${id} is still mounted after docker rm -f`,
          });
      }
      // With every container removed, no shim may go on serving one (a shim exits shortly after its task's deletion).
      const shimsGone = Date.now() + 3000;
      while (shimsOf(d.exec).length > 0 && Date.now() < shimsGone) await sleep(50);
      for (const sh of shimsOf(d.exec))
        found.push({
          point: label,
          invariant: 'removable',
          container: sh.id,
          message: `shim ${sh.pid} still serves ${sh.id} with every container removed`,
        });
      for (const f of found) console.log(`  ✗ ${f.point}: ${f.invariant}: ${f.message}`);
      if (found.length > 0) {
        // The daemon's flight recorders of every life so far, for `statedock replay/check/inspect`.
        const keep = `/tmp/statedock-crash-${seed}-p${i}`;
        cpSync(`${d.exec}/traces`, keep, { recursive: true });
        console.log(`  the flight recorders are kept in ${keep}`);
      }
      if (process.env['CRASH_VERBOSE'])
        console.log(
          `  ${found.length === 0 ? '✓' : '✗'} ${label}${settled ? '' : ' (unsettled)'}: op ${lastOpMs} ms, ${acknowledged.length} acknowledged, ${ids.length} left ${JSON.stringify(view.containers.map((c) => `${c.name}:${c.status}`))} tasks ${view.tasks.length}`,
        );
      findings.push(...found);
    }
    const s = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `crash campaign: ${points} crash points tried (run --rm ${counts.runRm}, rm -f ${counts.rmForce}, stop ${counts.stop}, shutdown ${counts.shutdown}, ` +
        `run -p ${counts.publish}, network connect ${counts.connect}, disconnect ${counts.disconnect}, rm ${counts.networkRm}; ` +
        `${during} killed mid-operation), ${left} containers left after restarts and removed, ${unsettled} views checked unquiet (stable 2 s or after 10 s), ` +
        `${findings.length} violations, ${s} s (CRASH_SEED=${seed})`,
    );
    assert.deepEqual(
      findings,
      [],
      `violations (replay with CRASH_SEED=${seed} CRASH_POINTS=${points})`,
    );
  },
);

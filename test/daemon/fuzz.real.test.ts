import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import fc from 'fast-check';
import { after, before, describe, test } from 'node:test';
import { mountPoints } from '../../effects/kernel/real.ts';
import type { ApiServer } from '../../src/api/server.ts';
import { defaultDaemonConfig } from '../../src/daemon/config.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { createLogger } from '../../src/daemon/logger.ts';
import { busyboxTarball } from '../support/busybox-image.ts';
import {
  daemonDirs,
  type DaemonDirs,
  docker,
  killContainerdOf,
  ping,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
} from '../support/daemon-process.ts';
import {
  fuzzRequests,
  send,
  type FuzzAnswer,
  type FuzzRequest,
  type RouteSpec,
} from '../support/fuzz-requests.ts';
import { cleanupNet, linkExists, netAvailable, netnsFiles, pickNet } from '../support/net.ts';
import { call, callJson, residentKiB, rssKiB, sleep } from '../support/raw-http.ts';

/**
 * Issue 12's hostile-client campaign against the real daemon: generated requests for every
 * route it serves (wrong types, missing and unknown fields, invalid JSON, huge numbers and
 * strings, big bodies, unknown and too old/new versions, `%2F` and `..` in parameters,
 * truncated, dripping and broken-chunked requests). Afterwards: the daemon never died, no
 * answer was a 5xx, nothing is left behind once everything is removed through the API
 * (containers, mounts, containerd records, temporary files), and its memory is back within
 * 10 % of where it started.
 *
 * FUZZ_REQUESTS (default 600; the long form 10,000), FUZZ_SEED (fixed by default, so CI runs
 * the same requests), FUZZ_MAX_BODY (bytes; default 20 MiB, the long form 100 MiB),
 * FUZZ_PASSES (default 1: how many times the measured campaign is sent).
 */
const requests = Number(process.env['FUZZ_REQUESTS'] ?? 600);
const seed = Number(process.env['FUZZ_SEED'] ?? 20_261_204);
const maxBody = Number(process.env['FUZZ_MAX_BODY'] ?? 20 << 20);
const passes = Number(process.env['FUZZ_PASSES'] ?? 1);
const concurrency = 4;

const unavailable =
  realDaemonUnavailable() ??
  netAvailable() ??
  (spawnSync('test', ['-x', '/bin/busybox']).status === 0
    ? null
    : 'needs /bin/busybox (apt-get install busybox-static)');

/** Every route the daemon serves, read from its own route table (not a list kept by hand). */
function servedRoutes(dir: string): RouteSpec[] {
  const config = {
    ...defaultDaemonConfig(),
    dataRoot: `${dir}/root`,
    execRoot: `${dir}/exec`,
  };
  const daemon = new Daemon(config, createLogger('fatal'), 'fuzz');
  const routes = (daemon as unknown as { api: { server: ApiServer } }).api.server.routeTable();
  daemon.close();
  rmSync(dir, { recursive: true, force: true });
  return routes;
}

/**
 * The characters the inspection feed's ring holds (its lines, as `/statedock/records` sends
 * them from the oldest kept): read until the feed has sent its backlog and gone quiet.
 */
function ringChars(sock: string): Promise<number> {
  return new Promise((resolve) => {
    let chars = 0;
    let tail = '';
    let quiet: NodeJS.Timeout | undefined;
    const req = request({ socketPath: sock, path: '/statedock/records?since=0', agent: false });
    const done = (): void => {
      clearTimeout(quiet);
      req.destroy();
      resolve(chars);
    };
    req.on('error', done);
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const lines = (tail + text).split('\n');
        tail = lines.pop() ?? '';
        for (const l of lines) if (l.startsWith('{"seq":')) chars += l.length + 1;
        clearTimeout(quiet);
        quiet = setTimeout(done, 500);
      });
      res.on('error', done);
      quiet = setTimeout(done, 2_000);
    });
    req.end();
  });
}

/** What sits in the daemon's directories that a leak would show in. */
function listing(d: DaemonDirs): Record<string, string[]> {
  const ls = (p: string) => (existsSync(p) ? readdirSync(p).sort() : []);
  return {
    // The network database: the predefined networks only, no endpoint or sandbox records.
    network: ls(`${d.root}/network/files`),
    netns: netnsFiles(d.exec),
    containers: ls(`${d.root}/containers`),
    tmp: ls(`${d.root}/tmp`),
    volumes: ls(`${d.root}/volumes`),
    // Containers' roots (by their 64-hex IDs); image layers come and go with re-imports.
    overlay2: ls(`${d.root}/overlay2`).filter((n) => /^[0-9a-f]{64}$/.test(n)),
    vfs: ls(`${d.root}/vfs/dir`).filter((n) => /^[0-9a-f]{64}$/.test(n)),
    bundles: ls(`${d.exec}/containerd/io.containerd.runtime.v2.task/statedock`),
  };
}

describe('the API under hostile and careless clients', { skip: unavailable ?? false }, () => {
  let d: DaemonDirs;
  let daemon: RunningDaemon;
  let cfg: string;
  const run = (...args: string[]) => docker(d.sock, args, cfg);
  // User networks come from a /24 of the campaign's own (pools of /29), and the subnets its
  // bodies name are in it too: nothing it makes can take a range the host or another test uses.
  const net = pickNet();
  const block = net.subnet.replace(/\.0\/24$/, '');
  const bridgePrefix = net.bridge.replace(/^sdt-/, 'sdfz');
  const bridgeNames = [`${bridgePrefix}a`, `${bridgePrefix}b`];

  before(async () => {
    d = daemonDirs('sdfz');
    cfg = `${d.dir}/docker-config`;
    mkdirSync(cfg);
    busyboxTarball(d.dir);
    daemon = await startDaemon(d, ['--default-address-pool', `base=${net.subnet},size=29`]);
    assert.equal(run('import', `${d.dir}/busybox.tar`, 'busybox:latest').status, 0);
  });

  after(async () => {
    if (daemon && daemon.child.exitCode === null) await stopDaemon(daemon);
    killContainerdOf(d.exec);
    cleanupNet(d, bridgeNames);
    for (const m of mountPoints()
      .filter((p) => p.startsWith(`${d.dir}/`))
      .reverse())
      spawnSync('umount', ['-l', m]);
    rmSync(d.dir, { recursive: true, force: true });
  });

  /**
   * Waits for the daemon's own collection: it collects its garbage once the API has been quiet
   * for 2 s after a burst of 50 requests (src/daemon/memory.ts). Memory is read 4 s after such
   * a burst at both ends, so neither reading counts garbage the other does not (a long request,
   * an rm -f's 10 s kill wait, can let the collection run before the last few requests).
   */
  const quietCollection = async (): Promise<void> => {
    for (let i = 0; i < 60; i++) await ping(d.sock);
    await sleep(4_000);
  };

  /** What the daemon's flight recorder has written (bytes). */
  const traceBytes = (): number =>
    readdirSync(`${d.exec}/traces`).reduce((n, f) => n + statSync(`${d.exec}/traces/${f}`).size, 0);

  /** The names the campaign aims at, made again when a request removed them. */
  const ensureTargets = async (): Promise<void> => {
    const exists = async (path: string) => (await call(d.sock, 'GET', path)).status === 200;
    const named = await callJson<{ Name: string }[]>(
      d.sock,
      'GET',
      `/networks?filters=${encodeURIComponent('{"name":{"fznet":true}}')}`,
    );
    if (!named.some((n) => n.Name === 'fznet'))
      await callJson(d.sock, 'POST', '/networks/create', { Name: 'fznet', CheckDuplicate: true });
    const onNet = await call(d.sock, 'GET', '/containers/fznetrun/json');
    const running =
      onNet.status === 200 &&
      (JSON.parse(onNet.text) as { State: { Running: boolean } }).State.Running;
    // A container on the user network, for connect and disconnect; made again when it is gone
    // or cannot start (its network was removed while it was stopped).
    if (!running && (onNet.status !== 200 || run('start', 'fznetrun').status !== 0)) {
      run('rm', '-f', 'fznetrun');
      run(
        'run',
        '-d',
        '--name',
        'fznetrun',
        '--network',
        'fznet',
        'busybox',
        'sh',
        '-c',
        'trap "exit 0" TERM; while true; do sleep 1; done',
      );
    }
    if (!(await exists('/containers/fzrun/json')))
      run(
        'run',
        '-d',
        '--name',
        'fzrun',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'trap "exit 0" TERM; while true; do sleep 1; done',
      );
    else if (
      !(await callJson<{ State: { Running: boolean } }>(d.sock, 'GET', '/containers/fzrun/json'))
        .State.Running
    )
      run('start', 'fzrun');
    if (!(await exists('/containers/fzexit/json')))
      run(
        'run',
        '--name',
        'fzexit',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'echo out; echo err >&2; exit 3',
      );
    if (!(await exists('/images/busybox:latest/json')))
      assert.equal(run('import', `${d.dir}/busybox.tar`, 'busybox:latest').status, 0);
    if (!(await exists('/images/fz/img:1/json')))
      await call(d.sock, 'POST', '/images/busybox:latest/tag?repo=fz%2Fimg&tag=1');
    if (!(await exists('/volumes/fzvol')))
      await callJson(d.sock, 'POST', '/volumes/create', { Name: 'fzvol' });
  };

  test(
    `${requests} generated requests on every route: no crash, no 5xx, nothing left behind, memory back (seed ${seed})`,
    { timeout: 3_600_000 },
    async () => {
      const before = listing(d);
      const routes = servedRoutes(daemonDirs('sdfr').dir);
      assert.ok(routes.length >= 30, `the daemon serves ${routes.length} routes`);
      await ensureTargets();
      const targets = {
        containers: ['fzrun', 'fzexit', 'fznetrun'],
        images: ['busybox', 'busybox:latest', 'fz/img:1'],
        volumes: ['fzvol'],
        networks: ['fznet', 'fzn-1', 'fzn-2', 'none', 'host'],
        subnets: [`${block}.64/27`, `${block}.128/28`, `${block}.200/29`, `${block}.0/24`],
        bridgeNames,
      };
      const arb = fuzzRequests(routes, targets, maxBody);
      // The bridges of the networks the campaign made (br-<id12>; named ones are `bridgeNames`).
      const madeBridges = new Set<string>();
      const sendNoting = async (r: FuzzRequest): Promise<FuzzAnswer> => {
        const a = await send(d.sock, r);
        const made = /"Id":"([0-9a-f]{12})/.exec(a.body);
        if (r.route === 'POST /networks/create' && a.status === 201 && made)
          madeBridges.add(`br-${made[1] as string}`);
        return a;
      };
      // Warm-up: the campaign's own requests, sent once before memory is read. Lazily loaded
      // code, V8's compiled code and the native allocators' high-water (glibc keeps a freed big
      // body's size as its new mmap threshold, so the next body of that size stays in the heap)
      // reach what this exact campaign needs; the measured pass then sends the same requests
      // again, so what a request leaks counts once more, while what a first use costs does not.
      // The daemon collects its garbage once it has been quiet for 2 s after a burst
      // (src/daemon/memory.ts).
      const plan = fc.sample(arb, { numRuns: requests, seed });
      // Before the warm-up, the inspection feed's ring (the last 20,000 records, at most 2 Mi
      // characters, none longer than 64 Ki) is filled to its bound: it keeps what the machines
      // record, and
      // a whole long run records about 2 MiB, so without this the ring fills during the
      // campaign and its megabytes count as growth. Containers made with a 32 KiB label and
      // removed record their configuration several times each, until the flight recorder (the
      // same lines, whole) has grown by more than the ring holds. The ring is read only after
      // memory is, at both ends: sending it makes megabytes of garbage. It comes first so that
      // memory is read after a pass of the campaign at both ends: read right after these creates
      // and removals, it was sometimes ~11 MB lower (the allocator had given back what the next
      // pass took again: 86 → 96 MB in 3 runs of 6), and no leak at all failed the bound.
      const filler = JSON.stringify({
        Image: 'busybox',
        Cmd: ['true'],
        Labels: { 'fuzz.fill': 'f'.repeat(32 << 10) },
        HostConfig: { NetworkMode: 'none' },
      });
      const filledFrom = traceBytes();
      let fills = 0;
      for (; fills < 100 && traceBytes() - filledFrom < 2.2 * 2 ** 20; fills++) {
        const made = await call(d.sock, 'POST', '/containers/create?name=fzfill', {
          body: filler,
          headers: { 'Content-Type': 'application/json' },
        });
        assert.equal(made.status, 201, made.text);
        await call(d.sock, 'DELETE', '/containers/fzfill?force=1');
      }
      // Reported beside the measured pass's figures: how much the first pass took on.
      const rssCold = await rssKiB(daemon.pid);
      let w = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (w < plan.length) await sendNoting(plan[w++] as FuzzRequest);
        }),
      );
      await ensureTargets();
      await quietCollection();
      const rssBefore = await rssKiB(daemon.pid);
      const residentBefore = await residentKiB(daemon.pid);
      const ringBefore = await ringChars(d.sock);
      const statuses = new Map<number, number>();
      // The network routes' answers by status (how deep the campaign got into networking).
      const networkAnswers: Record<string, Record<number, number>> = {};
      const fivexx: { i: number; r: FuzzRequest; status: number; body: string }[] = [];
      const badErrors: { i: number; r: FuzzRequest; status: number; body: string }[] = [];
      let noAnswer = 0;
      const unanswered: string[] = [];
      let next = 0;
      let bytesSent = 0;
      const t0 = Date.now();
      const worker = async (): Promise<void> => {
        for (let i = next++; i < plan.length; i = next++) {
          const r = plan[i] as FuzzRequest;
          bytesSent +=
            r.body === null ? 0 : typeof r.body === 'string' ? r.body.length : r.body.filler;
          const a = await sendNoting(r);
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          if (r.route.includes(' /networks')) {
            const byStatus = (networkAnswers[r.route] ??= {});
            byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
          }
          if (a.status === 0) {
            noAnswer += 1;
            if (r.wire === 'normal')
              unanswered.push(`${r.method} ${r.path.slice(0, 100)}: ${a.body}`);
          }
          // A login the registry cannot be reached for is not the client's mistake: dockerd
          // answers it 500 too (the fuzzed daemon has no route to Docker Hub).
          const registryUnreachable =
            r.route === 'POST /auth' && /dial tcp|no such host|ECONNREFUSED/.test(a.body);
          // Disconnecting a container from a network it is not on: dockerd answers 500 with
          // these words, and statedock gives clients the same.
          const notConnected =
            r.route === 'POST /networks/{id}/disconnect' &&
            a.status === 500 &&
            /^\{"message":"container [0-9a-f]{64} is not connected to network /.test(a.body);
          if (a.status >= 500 && !registryUnreachable && !notConnected)
            fivexx.push({ i, r, status: a.status, body: a.body.slice(0, 300) });
          // A client's mistake gets Docker's shape: a JSON message (or Docker's text answers).
          if (
            a.status >= 400 &&
            a.status < 500 &&
            r.method !== 'HEAD' &&
            a.contentType.startsWith('application/json')
          ) {
            let message: unknown = null;
            try {
              message = (JSON.parse(a.body) as { message?: unknown }).message;
            } catch {
              // not JSON: reported below
            }
            if (typeof message !== 'string' || message === '')
              badErrors.push({ i, r, status: a.status, body: a.body.slice(0, 300) });
          }
          if (daemon.child.exitCode !== null)
            assert.fail(
              `the daemon died at request ${i}: ${r.method} ${r.path}\n${daemon.output().slice(-3000)}`,
            );
          if (i % 100 === 99) {
            assert.equal(await ping(d.sock), true, `/_ping after request ${i}`);
            await ensureTargets();
          }
        }
      };
      // FUZZ_PASSES > 1 sends the campaign again and reads memory after each pass: a leak grows
      // by the same amount every pass, a cache or an allocator's high-water only the first times.
      const afterPass: number[] = [];
      for (let pass = 0; pass < passes; pass++) {
        next = 0;
        await Promise.all(Array.from({ length: concurrency }, worker));
        if (pass < passes - 1) {
          await ensureTargets();
          await quietCollection();
          afterPass.push(await rssKiB(daemon.pid));
        }
      }
      const seconds = (Date.now() - t0) / 1000;
      assert.equal(await ping(d.sock), true);

      // Everything removed through the API; then nothing may remain on the host.
      for (const c of await callJson<{ Id: string }[]>(d.sock, 'GET', '/containers/json?all=1'))
        await call(d.sock, 'DELETE', `/containers/${c.Id}?force=1&v=1`);
      for (const v of (
        await callJson<{ Volumes: { Name: string }[] | null }>(d.sock, 'GET', '/volumes')
      ).Volumes ?? [])
        await call(d.sock, 'DELETE', `/volumes/${v.Name}?force=1`);
      for (const i of await callJson<{ RepoTags: string[] }[]>(d.sock, 'GET', '/images/json'))
        for (const t of i.RepoTags)
          if (t !== 'busybox:latest') await call(d.sock, 'DELETE', `/images/${t}`);
      for (const n of await callJson<{ Id: string; Name: string }[]>(d.sock, 'GET', '/networks'))
        if (n.Name !== 'none' && n.Name !== 'host')
          await call(d.sock, 'DELETE', `/networks/${n.Id}`);
      // Memory is read as it was before the campaign, after the daemon's quiet collection. Read
      // sooner, it is the campaign's garbage and V8's grown young generation that count.
      await quietCollection();
      const leftLinks = [...madeBridges, ...bridgeNames].filter(linkExists);
      const leftMounts = mountPoints().filter((p) => p.startsWith(`${d.dir}/`));
      const ctr = spawnSync(
        'ctr',
        ['-a', `${d.exec}/containerd/containerd.sock`, '-n', 'statedock', 'containers', 'ls', '-q'],
        {
          encoding: 'utf8',
        },
      );
      const after = listing(d);
      // V8's memory reducer gives back what the campaign used once the daemon is quiet (~10–20 s).
      let rssAfter = await rssKiB(daemon.pid);
      for (let i = 0; i < 45 && rssAfter > rssBefore * 1.1; i++) {
        await sleep(1_000);
        rssAfter = await rssKiB(daemon.pid);
      }
      const ringAfter = await ringChars(d.sock);
      const report = {
        seed,
        traceMiB: Math.round(traceBytes() / 2 ** 20),
        requests,
        routes: routes.length,
        seconds: Math.round(seconds),
        bodyMiB: Math.round(bytesSent / 2 ** 20),
        statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
        noAnswer,
        fivexx: fivexx.length,
        rssKiB: { cold: rssCold, before: rssBefore, afterPass, after: rssAfter },
        ringChars: { fills, before: ringBefore, after: ringAfter },
        residentKiB: { before: residentBefore, after: await residentKiB(daemon.pid) },
        networksMade: madeBridges.size,
        networkAnswers,
        leftMounts,
        leftLinks,
        leftContainerd: ctr.stdout.trim().split('\n').filter(Boolean),
      };
      process.stdout.write(`# fuzz: ${JSON.stringify(report)}\n`);
      for (const f of fivexx.slice(0, 20))
        process.stdout.write(
          `# 5xx #${f.i} ${f.status} ${f.r.method} ${f.r.path.slice(0, 200)} body=${JSON.stringify(f.r.body).slice(0, 200)} → ${f.body}\n`,
        );
      for (const u of unanswered.slice(0, 10)) process.stdout.write(`# no answer: ${u}\n`);
      for (const f of badErrors.slice(0, 10))
        process.stdout.write(
          `# not Docker's error shape #${f.i} ${f.status} ${f.r.method} ${f.r.path.slice(0, 120)} → ${f.body}\n`,
        );
      assert.equal(daemon.child.exitCode, null, 'the daemon is alive');
      assert.deepEqual(
        fivexx.map((f) => `${f.status} ${f.r.route}: ${f.body}`),
        [],
      );
      assert.deepEqual(
        badErrors.map((f) => `${f.status} ${f.r.route}: ${f.body}`),
        [],
      );
      assert.deepEqual(leftMounts, [], 'no mount left under the daemon’s roots');
      assert.deepEqual(leftLinks, [], 'no bridge of a network the campaign made is left');
      assert.deepEqual(report.leftContainerd, [], 'no containerd container left');
      assert.deepEqual(after, before, 'no container directory, temporary file or volume left');
      assert.ok(rssAfter <= rssBefore * 1.1, `RSS ${rssBefore} KiB before, ${rssAfter} KiB after`);
      assert.doesNotMatch(daemon.output(), /uncaught|Unhandled/i);
    },
  );
});

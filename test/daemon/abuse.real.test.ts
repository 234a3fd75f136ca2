import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import {
  daemonDirs,
  type DaemonDirs,
  docker,
  ping,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  removeDaemonDirs,
} from '../support/daemon-process.ts';
import { callJson, fdCount, sleep } from '../support/raw-http.ts';

/**
 * Issue 11's guard for the whole class: every streaming endpoint (hijacked attach, logs -f,
 * events, wait, the inspection feed), opened and then reset (TCP RST over a TCP listener),
 * destroyed mid-request (unix socket), half-closed or abandoned at random moments, ≥ 500
 * times. The daemon must answer /_ping throughout, log no error, get its file descriptors
 * back, and shut down within 2 s afterwards.
 *
 * ABUSE_CONNECTIONS (default 500), ABUSE_SEED (printed) replay a run.
 */
const connections = Number(process.env['ABUSE_CONNECTIONS'] ?? 500);
const seed = Number(process.env['ABUSE_SEED'] ?? Date.now() % 1_000_000);

const unavailable = realDaemonUnavailable() ?? busyboxUnavailable();

/** mulberry32: a small seeded generator, so a failing run replays from its seed. */
function random(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

type Endpoint = 'attach' | 'logs' | 'events' | 'wait' | 'feed' | 'ping';
type Action = 'reset' | 'partial' | 'halfClose' | 'abandon' | 'close';

describe('no client can hurt the daemon', { skip: unavailable ?? false }, () => {
  let d: DaemonDirs;
  let daemon: RunningDaemon;
  let port: number;
  let chatty: string;
  let quiet: string;
  const counts: Record<string, number> = {};

  before(async () => {
    d = daemonDirs('sdab');
    const cfg = `${d.dir}/docker-config`;
    mkdirSync(cfg);
    busyboxTarball(d.dir);
    port = await freePort();
    daemon = await startDaemon(d, ['-H', `tcp://127.0.0.1:${port}`]);
    assert.equal(
      docker(d.sock, ['import', `${d.dir}/busybox.tar`, 'busybox:latest'], cfg).status,
      0,
    );
    const create = async (cmd: string[], extra: Record<string, unknown> = {}) => {
      const { Id } = await callJson<{ Id: string }>(d.sock, 'POST', '/containers/create', {
        Image: 'busybox',
        Cmd: cmd,
        StopSignal: 'SIGKILL',
        HostConfig: { NetworkMode: 'none' },
        ...extra,
      });
      await callJson(d.sock, 'POST', `/containers/${Id}/start`);
      return Id;
    };
    // Output all the time, so readers that stop reading have something to fall behind on.
    chatty = await create([
      'sh',
      '-c',
      'while true; do echo tick-tick-tick-tick; usleep 2000; done',
    ]);
    quiet = await create(['cat'], { Tty: true, OpenStdin: true });
  });

  after(() => {
    if (daemon && daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
    removeDaemonDirs(d);
  });

  const requestFor = (e: Endpoint): string => {
    switch (e) {
      case 'attach':
        return `POST /containers/${quiet}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`;
      case 'logs':
        return `GET /containers/${chatty}/logs?follow=1&stdout=1&stderr=1&tail=all HTTP/1.1\r\nHost: d\r\n\r\n`;
      case 'events':
        return 'GET /events HTTP/1.1\r\nHost: d\r\n\r\n';
      case 'wait':
        return `POST /containers/${chatty}/wait?condition=next-exit HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n`;
      case 'feed':
        return 'GET /statedock/records?since=0 HTTP/1.1\r\nHost: d\r\n\r\n';
      case 'ping':
        return 'GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n';
    }
  };

  /** One client doing one thing to one endpoint, at a random moment; resolves when it is gone. */
  async function abuse(
    rnd: () => number,
    e: Endpoint,
    action: Action,
    tcp: boolean,
  ): Promise<void> {
    const s: Socket = tcp ? connect(port, '127.0.0.1') : connect(d.sock);
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      s.once('connect', () => resolve());
      s.once('close', () => resolve());
    });
    const gone = new Promise<void>((r) => s.once('close', () => r()));
    const req = requestFor(e);
    if (action === 'partial') {
      s.write(req.slice(0, 1 + Math.floor(rnd() * (req.length - 2))));
      await sleep(rnd() * 20);
      s.destroy();
      return gone;
    }
    s.write(req);
    if (e === 'attach' && rnd() < 0.5) s.write(Buffer.from([16, 0x61, 17, 16]));
    await sleep(rnd() * 60);
    switch (action) {
      case 'reset':
        if (tcp) s.resetAndDestroy();
        else s.destroy();
        break;
      case 'halfClose':
        s.resume();
        s.end();
        await sleep(rnd() * 40);
        s.destroy();
        break;
      case 'abandon':
        // Stops reading: the daemon's writes pile up on its side, then the client vanishes.
        s.pause();
        await sleep(50 + rnd() * 150);
        if (tcp && rnd() < 0.5) s.resetAndDestroy();
        else s.destroy();
        break;
      case 'close':
        s.resume();
        s.destroy();
        break;
    }
    return gone;
  }

  test(`${connections} clients reset, cut, half-close or abandon streams; the daemon stays up, clean and quick to stop (seed ${seed})`, async () => {
    const rnd = random(seed);
    const endpoints: Endpoint[] = ['attach', 'logs', 'events', 'wait', 'feed', 'ping'];
    const actions: Action[] = ['reset', 'partial', 'halfClose', 'abandon', 'close'];
    // Warm-up: every endpoint once, so lazily loaded parts are in before the count is taken.
    for (const e of endpoints) await abuse(rnd, e, 'close', false);
    await sleep(500);
    const fdsBefore = await fdCount(daemon.pid);
    let done = 0;
    const slowest: number[] = [];
    const worker = async (): Promise<void> => {
      while (done < connections) {
        done += 1;
        const e = endpoints[Math.floor(rnd() * endpoints.length)] as Endpoint;
        const a = actions[Math.floor(rnd() * actions.length)] as Action;
        const tcp = rnd() < 0.5;
        const key = `${e}/${a}/${tcp ? 'tcp' : 'unix'}`;
        counts[key] = (counts[key] ?? 0) + 1;
        await abuse(rnd, e, a, tcp);
        if (done % 50 === 0) {
          const t0 = performance.now();
          assert.equal(await ping(d.sock), true, `the daemon answers /_ping after ${done} clients`);
          slowest.push(performance.now() - t0);
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    assert.equal(await ping(d.sock), true);
    // Every connection's descriptor comes back (the daemon's own may take a moment to settle).
    let fdsAfter = await fdCount(daemon.pid);
    for (let i = 0; i < 100 && fdsAfter > fdsBefore; i++) {
      await sleep(100);
      fdsAfter = await fdCount(daemon.pid);
    }
    process.stdout.write(
      `# abuse: ${done} clients (seed ${seed}); fds ${fdsBefore} → ${fdsAfter}; /_ping max ${Math.round(Math.max(...slowest))} ms\n# ${JSON.stringify(counts)}\n`,
    );
    assert.ok(fdsAfter <= fdsBefore, `file descriptors: ${fdsBefore} before, ${fdsAfter} after`);
    const log = daemon.output();
    assert.doesNotMatch(log, /level=error|uncaught|Unhandled|ERR_/i, log);
    // Clients still attached and following at the signal: shutdown does not wait for them.
    const lingering = (['attach', 'logs', 'events', 'feed'] as Endpoint[]).map((e) => {
      const s = connect(d.sock);
      s.on('error', () => undefined);
      s.write(requestFor(e));
      s.pause();
      return s;
    });
    await sleep(200);
    const t0 = Date.now();
    daemon.child.kill('SIGTERM');
    const code = await daemon.exited;
    const took = Date.now() - t0;
    for (const s of lingering) s.destroy();
    process.stdout.write(`# SIGTERM → exit: ${took} ms\n`);
    assert.equal(code, 0, daemon.output());
    assert.ok(took < 2_000, `shutdown took ${took} ms`);
    assert.doesNotMatch(daemon.output(), /level=error|uncaught|Unhandled/i);
  });
});

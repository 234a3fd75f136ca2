// Benchmark (not a test): the load campaign's workload against statedock and against Debian's
// dockerd 20.10 in the same run: CLIENTS concurrent clients doing CYCLES create/start/stop/rm
// cycles with ps, inspect and logs between, then /_ping latency with SLOW slow `logs -f` and
// `events` readers attached. Prints cycles per second, per-operation medians and p99s, and the
// ratios statedock/dockerd. Each daemon gets its own roots and socket; dockerd runs with
// --bridge=none --iptables=false and is stopped by its PID. Root only.
//
//   node --import tsx test/bench/load-vs-dockerd.ts                 # CYCLES=200 CLIENTS=20 SLOW=100
//   CYCLES=20 CLIENTS=4 SLOW=10 node --import tsx test/bench/load-vs-dockerd.ts   # a quick check
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { busyboxTarball } from '../support/busybox-image.ts';
import { bin, ping, unmountUnder } from '../support/daemon-process.ts';
import { call, callJson, sleep } from '../support/raw-http.ts';

const cycles = Number(process.env['CYCLES'] ?? 200);
const clients = Number(process.env['CLIENTS'] ?? 20);
const slowReaders = Number(process.env['SLOW'] ?? 100);

interface Contender {
  name: string;
  dir: string;
  sock: string;
  child: ChildProcess;
}

async function launch(name: 'statedock' | 'dockerd', dir: string): Promise<Contender> {
  const sock = `${dir}/d.sock`;
  const common = [
    '--data-root',
    `${dir}/root`,
    '--exec-root',
    `${dir}/exec`,
    '-H',
    `unix://${sock}`,
    '--pidfile',
    `${dir}/d.pid`,
  ];
  const child =
    name === 'dockerd'
      ? spawn('dockerd', [...common, '--bridge=none', '--iptables=false'], { stdio: 'ignore' })
      : spawn(process.execPath, [bin, 'daemon', ...common], { stdio: 'ignore' });
  for (let i = 0; i < 600 && !(existsSync(sock) && (await ping(sock))); i++) await sleep(50);
  if (!(await ping(sock))) throw new Error(`${name} did not answer`);
  const imp = spawnSync(
    'docker',
    ['-H', `unix://${sock}`, 'import', `${dir}/../busybox.tar`, 'busybox:latest'],
    {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_CONFIG: `${dir}/cfg` },
    },
  );
  if (imp.status !== 0) throw new Error(`${name}: import failed: ${imp.stderr}`);
  return { name, dir, sock, child };
}

async function stop(c: Contender): Promise<void> {
  if (c.child.exitCode === null) {
    c.child.kill('SIGTERM');
    const timer = setTimeout(() => c.child.kill('SIGKILL'), 30_000);
    await new Promise((r) => c.child.once('exit', r));
    clearTimeout(timer);
  }
  unmountUnder(c.dir);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

async function workload(c: Contender): Promise<Record<string, number>> {
  const times: Record<string, number[]> = {};
  const timed = async <T>(op: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    (times[op] ??= []).push(performance.now() - t0);
    return r;
  };
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (started < cycles) {
        started += 1;
        const { Id } = await timed('create', () =>
          callJson<{ Id: string }>(c.sock, 'POST', '/containers/create', {
            Image: 'busybox',
            Cmd: ['sh', '-c', 'trap "exit 0" TERM; echo hello; while true; do sleep 0.2; done'],
            HostConfig: { NetworkMode: 'none' },
          }),
        );
        await timed('start', () => call(c.sock, 'POST', `/containers/${Id}/start`));
        await timed('ps', () => call(c.sock, 'GET', '/containers/json?all=1'));
        await timed('inspect', () => call(c.sock, 'GET', `/containers/${Id}/json`));
        await timed('logs', () => call(c.sock, 'GET', `/containers/${Id}/logs?stdout=1&stderr=1`));
        await timed('stop', () => call(c.sock, 'POST', `/containers/${Id}/stop?t=5`));
        await timed('rm', () => call(c.sock, 'DELETE', `/containers/${Id}`));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const out: Record<string, number> = { cyclesPerSecond: cycles / seconds };
  for (const [op, xs] of Object.entries(times)) {
    out[`${op}P50`] = pct(xs, 50);
    out[`${op}P99`] = pct(xs, 99);
  }
  // /_ping with slow readers attached to a container that writes all the time.
  const chatty = await callJson<{ Id: string }>(c.sock, 'POST', '/containers/create', {
    Image: 'busybox',
    Cmd: [
      'sh',
      '-c',
      'trap "exit 0" TERM; while true; do echo 0123456789012345678901234567890123456789; done',
    ],
    HostConfig: { NetworkMode: 'none' },
  });
  await call(c.sock, 'POST', `/containers/${chatty.Id}/start`);
  const slow: Socket[] = [];
  for (let i = 0; i < slowReaders; i++) {
    const s = connect(c.sock);
    s.on('error', () => undefined);
    s.write(
      i % 2 === 0
        ? `GET /containers/${chatty.Id}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: d\r\n\r\n`
        : 'GET /events HTTP/1.1\r\nHost: d\r\n\r\n',
    );
    s.pause();
    slow.push(s);
  }
  const pings: number[] = [];
  const end = performance.now() + 5_000;
  while (performance.now() < end) {
    const p0 = performance.now();
    await ping(c.sock);
    pings.push(performance.now() - p0);
    await sleep(20);
  }
  for (const s of slow) s.destroy();
  await call(c.sock, 'DELETE', `/containers/${chatty.Id}?force=1`);
  out['pingP50'] = pct(pings, 50);
  out['pingP99'] = pct(pings, 99);
  return out;
}

const root = mkdtempSync('/tmp/sdbl-');
busyboxTarball(root);
const results: Record<string, Record<string, number>> = {};
try {
  for (const name of ['statedock', 'dockerd'] as const) {
    const dir = `${root}/${name}`;
    mkdirSync(`${dir}/cfg`, { recursive: true });
    const c = await launch(name, dir);
    try {
      results[name] = await workload(c);
    } finally {
      await stop(c);
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
const s = results['statedock'] as Record<string, number>;
const k = results['dockerd'] as Record<string, number>;
console.log(
  `load: ${cycles} create/start/ps/inspect/logs/stop/rm cycles by ${clients} clients; then /_ping with ${slowReaders} slow readers`,
);
console.log(
  'figure'.padEnd(22),
  'statedock'.padStart(12),
  'dockerd'.padStart(12),
  'ratio'.padStart(8),
);
for (const key of Object.keys(s)) {
  const a = s[key] as number;
  const b = k[key] as number;
  console.log(
    key.padEnd(22),
    a.toFixed(key === 'cyclesPerSecond' ? 2 : 1).padStart(12),
    b.toFixed(key === 'cyclesPerSecond' ? 2 : 1).padStart(12),
    (a / b).toFixed(2).padStart(8),
  );
}

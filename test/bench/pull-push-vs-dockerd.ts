/**
 * Benchmark: docker pull and push with statedock and with Debian's dockerd 20.10, in one run,
 * against the same local docker-registry. The image is ~50 MB in 5 layers (a busybox base and
 * four layers of random bytes, so gzip cannot shrink them). Measured with the stock CLI:
 *
 *   pull_cold  every layer downloaded (nothing of the image here)
 *   pull_warm  4 of the 5 layers here already (a sibling image shares them)
 *   push       every layer uploaded (to a fresh registry each run, so nothing is there)
 *
 * Prints the median of RUNS runs (default 3) per daemon and the ratios statedock/dockerd.
 * The two daemons are measured in alternation so load on the machine falls on both alike.
 * Root only; needs dockerd (apt-get install docker.io) and docker-registry. LAYER_MB sets the
 * size of each random layer (default 12).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxLayer, imageArchive, tarOf } from '../support/layered-image.ts';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';

const runs = Number(process.env['RUNS'] ?? 3);
const layerMb = Number(process.env['LAYER_MB'] ?? 12);
const repoRoot = join(import.meta.dirname, '../..');

interface Daemon {
  name: 'statedock' | 'dockerd';
  sock: string;
  child: ChildProcess;
  dir: string;
}

function sh(sock: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync('docker', ['-H', `unix://${sock}`, ...args], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

function must(sock: string, args: string[]): void {
  const r = sh(sock, args);
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.out}`);
}

/** Wall time of one CLI command, in ms (the CLI's own start is paid by both daemons alike). */
function timed(sock: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn('docker', ['-H', `unix://${sock}`, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    c.stderr.on('data', (b: Buffer) => (err += b.toString()));
    c.on('exit', (code) =>
      code === 0
        ? resolve(performance.now() - t0)
        : reject(new Error(`docker ${args.join(' ')}: ${err}`)),
    );
  });
}

async function startDaemonProcess(name: Daemon['name']): Promise<Daemon> {
  const dir = mkdtempSync(`/tmp/bench-${name}-`);
  const sock = `${dir}/d.sock`;
  const args = [
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
      ? spawn('dockerd', [...args, '--iptables=false', '--bridge=none'], { stdio: 'ignore' })
      : spawn(process.execPath, [join(repoRoot, 'bin/statedock.js'), 'daemon', ...args], {
          stdio: 'ignore',
        });
  const deadline = Date.now() + 30_000;
  while (!(existsSync(sock) && sh(sock, ['version']).status === 0)) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode})`);
    if (Date.now() > deadline) throw new Error(`${name} did not answer`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name, sock, child, dir };
}

async function stop(d: Daemon): Promise<void> {
  if (d.child.exitCode === null) {
    const exited = new Promise((r) => d.child.once('exit', r));
    d.child.kill('SIGTERM');
    const timer = setTimeout(() => d.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
  spawnSync('sh', [
    '-c',
    `grep -F ' ${d.dir}/' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l`,
  ]);
  rmSync(d.dir, { recursive: true, force: true });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  for (const b of ['dockerd', 'docker-registry'])
    if (spawnSync('which', [b]).status !== 0)
      throw new Error(`${b} is missing (apt-get install docker.io docker-registry)`);
  const work = mkdtempSync('/tmp/bench-pullpush-');
  const registries: RunningRegistry[] = [];
  const daemons: Daemon[] = [];
  try {
    const reg = await startRegistry(`${work}/registry`);
    registries.push(reg);
    const base = await tarOf(busyboxLayer());
    const shared = await Promise.all(
      [1, 2, 3].map((i) =>
        tarOf([
          { name: `data${i}/`, dir: true },
          { name: `data${i}/blob`, content: randomBytes(layerMb * 1e6) },
        ]),
      ),
    );
    const top = await tarOf([
      { name: 'top/', dir: true },
      { name: 'top/blob', content: randomBytes(layerMb * 1e6) },
    ]);
    const sibling = await tarOf([
      { name: 'top/', dir: true },
      { name: 'top/other', content: randomBytes(1e6) },
    ]);
    const x = await imageArchive([base, ...shared, top], [`${reg.address}/bench/x:1`]);
    const y = await imageArchive([base, ...shared, sibling], [`${reg.address}/bench/y:1`]);
    writeFileSync(`${work}/x.tar`, x.archive);
    writeFileSync(`${work}/y.tar`, y.archive);
    process.stdout.write(
      `image: 5 layers, ${(x.archive.length / 1e6).toFixed(1)} MB; ${runs} run(s) per daemon\n`,
    );

    daemons.push(await startDaemonProcess('statedock'), await startDaemonProcess('dockerd'));
    const [sd, dd] = daemons as [Daemon, Daemon];
    for (const tar of ['x', 'y']) must(sd.sock, ['load', '-i', `${work}/${tar}.tar`]);
    for (const img of ['x', 'y']) must(sd.sock, ['push', `${reg.address}/bench/${img}:1`]);
    for (const d of daemons)
      for (const img of ['x', 'y']) sh(d.sock, ['rmi', '-f', `${reg.address}/bench/${img}:1`]);

    const results: Record<string, Record<Daemon['name'], number[]>> = {
      pull_cold: { statedock: [], dockerd: [] },
      pull_warm: { statedock: [], dockerd: [] },
      push: { statedock: [], dockerd: [] },
    };
    const xRef = `${reg.address}/bench/x:1`;
    const yRef = `${reg.address}/bench/y:1`;
    for (let run = 0; run < runs; run++) {
      for (const d of run % 2 === 0 ? [sd, dd] : [dd, sd]) {
        sh(d.sock, ['rmi', '-f', xRef]);
        sh(d.sock, ['rmi', '-f', yRef]);
        results['pull_cold']?.[d.name].push(await timed(d.sock, ['pull', xRef]));
        must(d.sock, ['pull', yRef]);
        sh(d.sock, ['rmi', '-f', xRef]);
        results['pull_warm']?.[d.name].push(await timed(d.sock, ['pull', xRef]));
        // A registry of its own: nothing of the image is there, nothing can be mounted.
        const fresh = await startRegistry(`${work}/push-${d.name}-${run}`);
        registries.push(fresh);
        must(d.sock, ['tag', xRef, `${fresh.address}/bench/x:1`]);
        results['push']?.[d.name].push(await timed(d.sock, ['push', `${fresh.address}/bench/x:1`]));
        sh(d.sock, ['rmi', `${fresh.address}/bench/x:1`]);
        await fresh.stop();
      }
    }
    process.stdout.write('figure       statedock     dockerd   ratio\n');
    for (const [k, v] of Object.entries(results)) {
      const s = median(v.statedock);
      const dk = median(v.dockerd);
      process.stdout.write(
        `${k.padEnd(10)} ${s.toFixed(0).padStart(9)} ms ${dk.toFixed(0).padStart(8)} ms   ${(s / dk).toFixed(2)}\n`,
      );
    }
  } finally {
    for (const d of daemons) await stop(d);
    for (const r of registries) await r.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import {
  daemonArgs,
  daemonDirs,
  docker,
  importImage,
  killContainerdOf,
  ping,
  realDaemonUnavailable,
  repoRoot,
  type RunningDaemon,
  stopDaemon,
} from '../support/daemon-process.ts';

const unavailable = realDaemonUnavailable() ?? busyboxUnavailable();

/**
 * A copy of the package's command (bin/ and the built bundles; node_modules linked) with a
 * code cache of its own: other test files start daemons from the repository's bundle
 * meanwhile, and must not write this one's cache.
 */
function packageCopy(dir: string): { bin: string; bundle: string; cache: string } {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'dist'), { recursive: true });
  for (const f of [
    'bin/statedock.js',
    'bin/package.json',
    'package.json',
    'dist/statedock.cjs',
    'dist/extract-worker.cjs',
  ])
    copyFileSync(join(repoRoot, f), join(dir, f));
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  const bundle = join(dir, 'dist/statedock.cjs');
  return { bin: join(dir, 'bin/statedock.js'), bundle, cache: `${bundle}.v8cache` };
}

/** What bin/statedock.js writes first in the cache: the bundle file (and Node) it is for. */
function keyOf(bundle: string): Buffer {
  const st = statSync(bundle, { bigint: true });
  return createHash('sha256')
    .update(`${process.version} ${st.size} ${st.mtimeNs} ${st.ino}`)
    .digest();
}

async function start(bin: string, d: ReturnType<typeof daemonDirs>): Promise<RunningDaemon> {
  const child = spawn(process.execPath, [bin, ...daemonArgs(d)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const r: RunningDaemon = {
    child,
    pid: child.pid as number,
    output: () => out,
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  const deadline = Date.now() + 30_000;
  while (!(existsSync(d.sock) && (await ping(d.sock)))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      assert.fail(`the daemon did not answer:\n${out}`);
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  return r;
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What the package copy's cache holds (0: the start-up's code, 1: a run's too), or null when it holds none for its bundle. */
function stageOf(pkg: ReturnType<typeof packageCopy>): number | null {
  const file = existsSync(pkg.cache) ? readFileSync(pkg.cache) : Buffer.alloc(0);
  return file.length > 100_000 && file.subarray(0, 32).equals(keyOf(pkg.bundle))
    ? (file[32] as number)
    : null;
}

/** `docker run --rm IMAGE true`, which must succeed. */
function runTrue(sock: string, dockerConfig: string, image: string): void {
  const run = docker(sock, ['run', '--rm', '--network', 'none', image, 'true'], dockerConfig);
  assert.equal(run.status, 0, run.stderr);
}

describe("the bundle's V8 code cache", { skip: unavailable ?? false }, () => {
  test('a daemon beside a cache that is not for its bundle starts and writes one that is; the next start takes it and writes nothing', async () => {
    const d = daemonDirs('sdcc');
    try {
      const pkg = packageCopy(join(d.dir, 'pkg'));
      const isForBundle = (): boolean => {
        const file = existsSync(pkg.cache) ? readFileSync(pkg.cache) : Buffer.alloc(0);
        return file.length > 100_000 && file.subarray(0, 32).equals(keyOf(pkg.bundle));
      };
      writeFileSync(pkg.cache, Buffer.alloc(200_000, 7));
      const first = await start(pkg.bin, d);
      await until('the daemon writes the code cache of its bundle once started', isForBundle);
      assert.equal(await stopDaemon(first), 0, first.output());

      const written = readFileSync(pkg.cache);
      const second = await start(pkg.bin, d);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await stopDaemon(second), 0, second.output());
      assert.ok(readFileSync(pkg.cache).equals(written), 'the cache was taken, not written again');

      // A new bundle (another file) does not take the old cache: it starts, and writes its own.
      rmSync(pkg.bundle);
      copyFileSync(join(repoRoot, 'dist/statedock.cjs'), pkg.bundle);
      assert.ok(!isForBundle());
      const third = await start(pkg.bin, d);
      await until('a new bundle gets its own code cache', isForBundle);
      assert.equal(await stopDaemon(third), 0, third.output());
    } finally {
      killContainerdOf(d.exec);
      rmSync(d.dir, { recursive: true, force: true });
    }
  });

  test("a container's first run after the start-up's cache adds its code to the cache, once", async () => {
    const d = daemonDirs('sdcr');
    try {
      const pkg = packageCopy(join(d.dir, 'pkg'));
      const dockerConfig = join(d.dir, 'docker-config');
      const tarball = busyboxTarball(join(d.dir, 'image'));
      const first = await start(pkg.bin, d);
      await until("the start-up's cache is written", () => stageOf(pkg) === 0);
      const startupCache = readFileSync(pkg.cache);
      importImage(d.sock, dockerConfig, tarball, 'cc:run');
      runTrue(d.sock, dockerConfig, 'cc:run');
      await until(
        "the first container's run is added to the cache",
        () => stageOf(pkg) === 1,
        15_000,
      );
      assert.ok(
        readFileSync(pkg.cache).length > startupCache.length,
        'the cache grew by what the run compiled',
      );
      assert.equal(await stopDaemon(first), 0, first.output());

      // A cache that holds a run is not written again by the next daemon's run.
      const written = readFileSync(pkg.cache);
      const second = await start(pkg.bin, d);
      runTrue(d.sock, dockerConfig, 'cc:run');
      await new Promise((r) => setTimeout(r, 4000));
      assert.equal(await stopDaemon(second), 0, second.output());
      assert.ok(readFileSync(pkg.cache).equals(written), 'the cache was taken, not written again');
    } finally {
      killContainerdOf(d.exec);
      rmSync(d.dir, { recursive: true, force: true });
    }
  });
  test("a daemon stopped before its first run's code was written writes it as it exits", async () => {
    const d = daemonDirs('sdcx');
    try {
      const pkg = packageCopy(join(d.dir, 'pkg'));
      const dockerConfig = join(d.dir, 'docker-config');
      const tarball = busyboxTarball(join(d.dir, 'image'));
      const daemon = await start(pkg.bin, d);
      await until("the start-up's cache is written", () => existsSync(pkg.cache));
      importImage(d.sock, dockerConfig, tarball, 'cc:exit');
      runTrue(d.sock, dockerConfig, 'cc:exit');
      const startupCache = readFileSync(pkg.cache);
      assert.equal(stageOf(pkg), 0, "only the start-up's code so far");
      // Stopped at once: the write a few seconds after the run has not come yet.
      assert.equal(await stopDaemon(daemon), 0, daemon.output());
      const cache = readFileSync(pkg.cache);
      assert.equal(stageOf(pkg), 1, "the cache holds the container's run");
      assert.ok(cache.length > startupCache.length, 'the cache grew by what the run compiled');
    } finally {
      killContainerdOf(d.exec);
      rmSync(d.dir, { recursive: true, force: true });
    }
  });
});

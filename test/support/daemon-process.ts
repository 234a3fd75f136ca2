import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { mountPoints } from '../../effects/kernel/mounts.ts';

export const repoRoot = join(import.meta.dirname, '../..');
export const bin = join(repoRoot, 'bin/statedock.js');

/** Why real-daemon tests cannot run here, or null when they can. */
export function realDaemonUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (containerd, mounts, cgroups)';
  for (const b of ['containerd', 'runc'])
    if (spawnSync('which', [b]).status !== 0) return `needs ${b} (apt-get install containerd runc)`;
  return null;
}

export interface DaemonDirs {
  dir: string;
  root: string;
  exec: string;
  sock: string;
  pidfile: string;
}

/** Short paths under /tmp (unix sockets are limited to 108 bytes). */
export function daemonDirs(prefix = 'sdt'): DaemonDirs {
  const dir = mkdtempSync(`/tmp/${prefix}-`);
  return {
    dir,
    root: `${dir}/root`,
    exec: `${dir}/exec`,
    sock: `${dir}/d.sock`,
    pidfile: `${dir}/d.pid`,
  };
}

/**
 * A test daemon that asks for no networking of its own leaves the host's alone: no default
 * bridge (never the host's docker0), no iptables chains, ip_forward as it is. The network tests
 * pass -b with a bridge of their own (test/support/net.ts).
 */
const networkFlags = /^--?(b|bridge|bip|iptables|ip-forward)(=|$)/;
export const noHostNetworking = ['--bridge=none', '--iptables=false', '--ip-forward=false'];

export function daemonArgs(d: DaemonDirs, extra: string[] = []): string[] {
  const own = extra.some((a) => networkFlags.test(a));
  return [
    'daemon',
    '--data-root',
    d.root,
    '--exec-root',
    d.exec,
    '-H',
    `unix://${d.sock}`,
    '--pidfile',
    d.pidfile,
    ...(own ? [] : noHostNetworking),
    ...extra,
  ];
}

export interface RunningDaemon {
  child: ChildProcess;
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts `statedock daemon` and resolves once /_ping answers (or rejects with its output if it exits). */
export async function startDaemon(
  d: DaemonDirs,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningDaemon> {
  const r = launch(d, extra, env);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (r.child.exitCode !== null || r.child.signalCode !== null)
      throw new Error(`daemon exited (${r.child.exitCode ?? r.child.signalCode}):\n${r.output()}`);
    if (existsSync(d.sock) && (await ping(d.sock))) return r;
    if (Date.now() > deadline) {
      r.child.kill('SIGKILL');
      throw new Error(`daemon did not answer within 30 s:\n${r.output()}`);
    }
    await new Promise((res) => setTimeout(res, 20));
  }
}

export function launch(
  d: DaemonDirs,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): RunningDaemon {
  const child = spawn(process.execPath, [bin, ...daemonArgs(d, extra)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return { child, pid: child.pid as number, output: () => out, exited };
}

export function ping(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { socketPath: sock, path: '/_ping', method: 'GET', timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** SIGTERM the daemon we started, and wait for it to exit (SIGKILL after 20 s). */
export async function stopDaemon(r: RunningDaemon): Promise<number | null> {
  if (r.child.exitCode !== null) return r.child.exitCode;
  r.child.kill('SIGTERM');
  const timer = setTimeout(() => r.child.kill('SIGKILL'), 20_000);
  const code = await r.exited;
  clearTimeout(timer);
  return code;
}

/** Pids of containerd processes started with this exec root's config. */
export function containerdPidsOf(exec: string): number[] {
  const out = spawnSync('pgrep', ['-f', `${exec}/containerd/containerd.toml`], {
    encoding: 'utf8',
  });
  return out.stdout.split('\n').filter(Boolean).map(Number);
}

/**
 * Pids of the containerd shims of this exec root's containerd, and of their children: a
 * containerd killed mid-create leaves its shim and a `runc init` waiting for a start that never
 * comes, which outlive the test unless killed.
 */
export function shimPidsOf(exec: string): number[] {
  const pids = (args: string[]): number[] =>
    spawnSync('pgrep', args, { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  const shims = pids(['-f', '--', `-address ${exec}/containerd/containerd.sock`]);
  return [...shims.flatMap((shim) => pids(['-P', String(shim)])), ...shims];
}

/** Kills, by PID, the containerd and the shims (with their children) a test's daemon left. */
export function killContainerdOf(exec: string): void {
  for (const pid of [...containerdPidsOf(exec), ...shimPidsOf(exec)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** Unmounts (lazily, deepest first) whatever a test left mounted below `dir`. */
export function unmountUnder(dir: string): void {
  for (const m of mountPoints()
    .filter((p) => p.startsWith(`${dir}/`))
    .reverse())
    spawnSync('umount', ['-l', m]);
}

/**
 * Removes a test daemon's directories once it stopped: the containerd and shims it left
 * killed, what is still mounted below them unmounted, then the tree.
 */
export function removeDaemonDirs(d: DaemonDirs): void {
  killContainerdOf(d.exec);
  unmountUnder(d.dir);
  rmSync(d.dir, { recursive: true, force: true });
}

/** Runs the stock docker CLI against a daemon; `input` is piped to its stdin (closed after it). */
export function docker(
  sock: string,
  args: string[],
  dockerConfig: string,
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('docker', ['-H', `unix://${sock}`, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DOCKER_CONFIG: dockerConfig },
    timeout: 60_000,
    ...(input === undefined ? {} : { input }),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `docker import` of a root filesystem tarball as `tag`, its command `/bin/sh` (an imported
 * image has none); asserts it succeeded and returns what the CLI printed (the image's ID).
 */
export function importImage(
  sock: string,
  dockerConfig: string,
  tarball: string,
  tag: string,
): string {
  const r = docker(sock, ['import', '--change', 'CMD ["/bin/sh"]', tarball, tag], dockerConfig);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

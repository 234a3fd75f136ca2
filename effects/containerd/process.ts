import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter } from 'node:path';
import { EffectFailure } from '../handler.ts';
import { ContainerdClient } from './client.ts';

/**
 * A private containerd, the way dockerd 20.10 runs its own: config, root, state, socket and
 * pid file under the daemon's roots (no clash with a system containerd), started as a child
 * in its own session, stopped with SIGTERM then SIGKILL.
 */

export interface ContainerdPaths {
  dir: string;
  config: string;
  socket: string;
  pidfile: string;
  log: string;
}

export function containerdPaths(execRoot: string): ContainerdPaths {
  const dir = `${execRoot}/containerd`;
  return { dir, config: `${dir}/containerd.toml`, socket: `${dir}/containerd.sock`, pidfile: `${dir}/containerd.pid`, log: `${dir}/containerd.log` };
}

/** Writes containerd.toml (0600): CRI and snapshotters we cannot use disabled, everything under our roots. */
export function writeContainerdConfig(opts: { execRoot: string; dataRoot: string }): string {
  const p = containerdPaths(opts.execRoot);
  if (Buffer.byteLength(p.socket) + '.ttrpc'.length > 107)
    throw new EffectFailure('EINVAL', `containerd socket path ${p.socket}.ttrpc is longer than 107 bytes; use a shorter --exec-root`);
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  const toml = [
    'version = 2',
    `root = ${JSON.stringify(`${opts.dataRoot}/containerd/daemon`)}`,
    `state = ${JSON.stringify(`${p.dir}/daemon`)}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
    '[grpc]',
    `  address = ${JSON.stringify(p.socket)}`,
    '[ttrpc]',
    `  address = ${JSON.stringify(`${p.socket}.ttrpc`)}`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${JSON.stringify(`${opts.dataRoot}/containerd/opt`)}`,
    '',
  ].join('\n');
  writeFileSync(p.config, toml, { mode: 0o600 });
  return p.config;
}

function findBinary(binary: string): string | null {
  if (binary.includes('/')) return existsSync(binary) ? binary : null;
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    try {
      accessSync(`${dir}/${binary}`, constants.X_OK);
      return `${dir}/${binary}`;
    } catch {
      // not here
    }
  }
  return null;
}

export interface SpawnedContainerd {
  pid: number;
  address: string;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** Whether `pid` is alive and is a containerd (checked before signalling it, never trusting a pid alone). */
export function isContainerd(pid: number): boolean {
  try {
    return /(^|\/)containerd\0/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
  } catch {
    return false;
  }
}

function lastLines(path: string, n = 5): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-n).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** A containerd of ours still alive from a daemon that died (dockerd adopts it: "containerd is still running"). */
export function liveContainerd(execRoot: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(containerdPaths(execRoot).pidfile, 'utf8').trim(), 10);
    return Number.isFinite(pid) && alive(pid) && isContainerd(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** Resolves when a process that is not our child exits (polled: no handle to wait on). */
function watchPid(pid: number): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (!alive(pid)) {
        clearInterval(t);
        resolve({ code: null, signal: null });
      }
    }, 200);
    t.unref();
  });
}

/** Starts containerd with our config (or adopts the live one of a daemon that died); its output goes to containerd.log. */
export function spawnContainerd(opts: { binary: string; configPath: string; execRoot: string }): SpawnedContainerd {
  const p = containerdPaths(opts.execRoot);
  const adopted = liveContainerd(opts.execRoot);
  if (adopted !== null) return { pid: adopted, address: p.socket, exited: watchPid(adopted) };
  const path = findBinary(opts.binary);
  if (path === null) throw new EffectFailure('ENOENT', `exec: "${opts.binary}": executable file not found in $PATH`);
  rmSync(p.socket, { force: true });
  rmSync(`${p.socket}.ttrpc`, { force: true });
  const log = openSync(p.log, 'a', 0o600);
  const env = { ...process.env };
  delete env['NOTIFY_SOCKET'];
  const child = spawn(path, ['--config', opts.configPath], { detached: true, stdio: ['ignore', log, log], env });
  closeSync(log);
  if (child.pid === undefined) throw new EffectFailure('EIO', `could not start ${path}`);
  child.unref();
  writeFileSync(p.pidfile, String(child.pid), { mode: 0o660 });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  return { pid: child.pid, address: p.socket, exited };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.startsWith('Z');
  } catch {
    return false;
  }
}

/**
 * Polls until containerd answers Version; fails when the process exits first or the time is
 * up. Each try is a fresh connection with a short deadline (grpc-js would otherwise back off
 * for a second after the first refused connect), so readiness is seen within milliseconds.
 */
export async function waitContainerdReady(address: string, opts: { timeoutMs: number; pid: number; log?: string }): Promise<{ version: string }> {
  const deadline = Date.now() + opts.timeoutMs;
  const logPath = opts.log ?? address.replace(/containerd\.sock$/, 'containerd.log');
  for (;;) {
    if (!alive(opts.pid)) throw new EffectFailure('EIO', `containerd (pid ${opts.pid}) exited before answering; its log: ${lastLines(logPath)}`);
    if (existsSync(address)) {
      try {
        const c = await ContainerdClient.connect(address, 'statedock', { timeoutMs: 200 });
        try {
          return { version: (await c.version()).version };
        } finally {
          c.close();
        }
      } catch {
        // listening but not serving yet
      }
    }
    if (Date.now() > deadline) throw new EffectFailure('ETIMEDOUT', `timeout waiting for containerd to start (${opts.timeoutMs} ms); its log: ${lastLines(logPath)}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** SIGTERM, poll, SIGKILL after the timeout; only if the pid is a containerd. Removes pid file and socket. */
export async function stopContainerd(pid: number, opts: { timeoutMs: number; execRoot?: string }): Promise<'SIGTERM' | 'SIGKILL' | 'none'> {
  let sent: 'SIGTERM' | 'SIGKILL' | 'none' = 'none';
  if (isContainerd(pid) && alive(pid)) {
    process.kill(pid, 'SIGTERM');
    sent = 'SIGTERM';
    const deadline = Date.now() + opts.timeoutMs;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (alive(pid)) {
      process.kill(pid, 'SIGKILL');
      sent = 'SIGKILL';
      while (alive(pid)) await new Promise((r) => setTimeout(r, 10));
    }
  }
  if (opts.execRoot) {
    const p = containerdPaths(opts.execRoot);
    rmSync(p.pidfile, { force: true });
    rmSync(p.socket, { force: true });
  }
  return sent;
}

import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, delimiter, dirname } from 'node:path';
import { EffectFailure } from '../handler.ts';
import { acceptsConnections } from './probe.ts';
import { maxSocketPathBytes } from './socket-path.ts';

/**
 * A private containerd, the way dockerd 20.10 runs its own (libcontainerd/supervisor):
 * config, root, state, socket, log and pid file under the daemon's roots, so it never
 * clashes with a system containerd; started as a child in its own session; stopped with
 * SIGTERM, then SIGKILL, only after /proc says the pid is a containerd.
 *
 * Layout under `<exec-root>/containerd/`: containerd.toml, containerd.sock (+ .ttrpc),
 * containerd.pid, containerd.log, daemon/ (containerd's state). containerd's root is
 * `<data-root>/containerd/daemon`. Outside them regardless: shim sockets in
 * /run/containerd/s (hard-coded in 1.6) and, unless runc options say otherwise, runc state
 * in /run/containerd/runc (containerd-facts §1).
 */

/** The private containerd's files (see {@link containerdPaths}). */
export interface ContainerdPaths {
  dir: string;
  config: string;
  socket: string;
  pidfile: string;
  log: string;
}

/** Where the private containerd's files go under an exec root. */
export function containerdPaths(execRoot: string): ContainerdPaths {
  const dir = `${execRoot}/containerd`;
  return {
    dir,
    config: `${dir}/containerd.toml`,
    socket: `${dir}/containerd.sock`,
    pidfile: `${dir}/containerd.pid`,
    log: `${dir}/containerd.log`,
  };
}

/** What {@link writeContainerdConfig} needs: dockerd's --exec-root and --data-root. */
export interface ContainerdConfigOptions {
  execRoot: string;
  dataRoot: string;
  /** containerd's log level (`[debug] level`); containerd's default (info) when absent. */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
}

/** Plugins a private containerd must not load: CRI (kubelet's), snapshotters this host cannot use, tracing. */
const disabledPlugins = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
];

/** A TOML basic string: JSON's escapes are a subset of TOML's. */
const tomlString = (s: string): string => JSON.stringify(s);

/**
 * Writes `<exec-root>/containerd/containerd.toml` (mode 0600) and returns its path:
 * version 2; root under the data root, state under the exec root; gRPC on
 * `<exec-root>/containerd/containerd.sock`, ttrpc beside it; debug and metrics listeners
 * off; CRI and the unusable snapshotters disabled; the `opt` plugin's directory moved
 * under the data root (its default would create /opt/containerd).
 *
 * The socket path (plus `.ttrpc`) must fit a unix socket's 107 bytes: otherwise this
 * throws `EINVAL` naming the path, before containerd could fail to listen on it.
 */
export function writeContainerdConfig(opts: ContainerdConfigOptions): string {
  const p = containerdPaths(opts.execRoot);
  const ttrpc = `${p.socket}.ttrpc`;
  if (Buffer.byteLength(ttrpc) > maxSocketPathBytes)
    throw new EffectFailure(
      'EINVAL',
      `containerd socket path ${ttrpc} is ${Buffer.byteLength(ttrpc)} bytes, longer than the ${maxSocketPathBytes} a unix socket allows; use a shorter --exec-root`,
    );
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  const lines = [
    'version = 2',
    `root = ${tomlString(`${opts.dataRoot}/containerd/daemon`)}`,
    `state = ${tomlString(`${p.dir}/daemon`)}`,
    `disabled_plugins = [${disabledPlugins.map(tomlString).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${tomlString(p.socket)}`,
    '',
    '[ttrpc]',
    `  address = ${tomlString(ttrpc)}`,
    '',
    '[debug]',
    '  address = ""',
    ...(opts.logLevel ? [`  level = ${tomlString(opts.logLevel)}`] : []),
    '',
    '[metrics]',
    '  address = ""',
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${tomlString(`${opts.dataRoot}/containerd/opt`)}`,
    '',
  ];
  writeFileSync(p.config, lines.join('\n'), { mode: 0o600 });
  return p.config;
}

/** The `[grpc] address` of a config we wrote (null when it has none). */
function grpcAddressOf(configPath: string): string | null {
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch {
    return null;
  }
  const section = /^\[grpc\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(text)?.[1] ?? '';
  const quoted = /^\s*address\s*=\s*("(?:[^"\\]|\\.)*")\s*$/m.exec(section)?.[1];
  return quoted === undefined ? null : (JSON.parse(quoted) as string);
}

function findBinary(binary: string): string | null {
  const executable = (p: string): boolean => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (binary.includes('/')) return executable(binary) ? binary : null;
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter))
    if (dir && executable(`${dir}/${binary}`)) return `${dir}/${binary}`;
  return null;
}

/** Whether `pid` is a live process (a zombie is not: it has exited and only waits to be reaped). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !/^\s*[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 1));
  } catch {
    return false;
  }
}

function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1')
      .split('\0')
      .filter((a, i, all) => a !== '' || i < all.length - 1);
  } catch {
    return [];
  }
}

/** Binaries this module started (a containerd need not be called `containerd`), by pid. */
const startedBinaries = new Map<number, string>();

/**
 * Whether `pid` is alive and is a containerd: its /proc/<pid>/cmdline's argv[0] is a file
 * named `containerd` (or the binary this module started as that pid). Checked before
 * signalling: a pid file can outlive its process and the pid be reused.
 */
export function isContainerd(pid: number): boolean {
  if (!isAlive(pid)) return false;
  const argv0 = argvOf(pid)[0] ?? '';
  return basename(argv0) === 'containerd' || (argv0 !== '' && startedBinaries.get(pid) === argv0);
}

/** The pid in a pid file, or null when it is missing or not a number. */
function readPidFile(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** A containerd of ours still alive from a daemon that died (dockerd adopts it: "containerd is still running"). */
export function liveContainerd(execRoot: string): number | null {
  const pid = readPidFile(containerdPaths(execRoot).pidfile);
  return pid !== null && isContainerd(pid) ? pid : null;
}

function lastLines(path: string, n = 10): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    return lines.slice(-n).join('\n') || '(empty)';
  } catch {
    return '(no log)';
  }
}

/** How containerd ended: code and signal are null when it was not our child (adopted). */
export interface ContainerdExit {
  code: number | null;
  signal: string | null;
}

/** A containerd started (or adopted) by {@link spawnContainerd}. */
export interface SpawnedContainerd {
  pid: number;
  /** The gRPC socket path (from the config's `[grpc] address`). */
  address: string;
  pidfile: string;
  log: string;
  /** True when a live containerd of ours was found (from the pid file) and adopted instead of starting one. */
  adopted: boolean;
  /** Resolves when the process exits (code and signal known only for a child of this process). */
  exited: Promise<ContainerdExit>;
}

/** What waitContainerdReady and stopContainerd know about each start, by socket address. */
interface Start {
  binary: string;
  pid: number | null;
  /** Whether the pid is our child (its exit status will be known). */
  child: boolean;
  log: string;
  pidfile: string;
  exit: ContainerdExit | null;
  failure: EffectFailure | null;
}
const starts = new Map<string, Start>();

/** Resolves when a process that is not our child exits (polled: there is no handle to wait on). */
function watchPid(pid: number): Promise<ContainerdExit> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (!isAlive(pid)) {
        clearInterval(t);
        resolve({ code: null, signal: null });
      }
    }, 200);
    t.unref();
  });
}

/** Options of {@link spawnContainerd}. */
export interface SpawnContainerdOptions {
  /** A name looked up in $PATH, or a path (default `containerd`). */
  binary?: string;
  configPath: string;
  /** Default: containerd.log beside the config. */
  logPath?: string;
  /** Where the config, pid file and log live (default: the config's directory, i.e. `<exec-root>/containerd`). */
  execRoot?: string;
  /** Adopt a live containerd named by the pid file instead of starting a second one (default true, as dockerd does). */
  adopt?: boolean;
}

/**
 * Starts containerd with `--config configPath` as a child in its own session (it outlives
 * a crash of ours, as dockerd's does), stdout and stderr appended to its log, and writes
 * its pid to `containerd.pid` beside the config. Does not wait: see
 * {@link waitContainerdReady}. Throws `ENOENT`, in exec's words naming the binary, when
 * the binary is not found (waitContainerdReady on the address then reports the same).
 */
export function spawnContainerd(opts: SpawnContainerdOptions): SpawnedContainerd {
  const binary = opts.binary ?? 'containerd';
  const dir =
    opts.execRoot !== undefined ? containerdPaths(opts.execRoot).dir : dirname(opts.configPath);
  const pidfile = `${dir}/containerd.pid`;
  const log = opts.logPath ?? `${dir}/containerd.log`;
  const address = grpcAddressOf(opts.configPath) ?? `${dir}/containerd.sock`;
  const start: Start = { binary, pid: null, child: false, log, pidfile, exit: null, failure: null };
  starts.set(address, start);

  const adopted = opts.adopt === false ? null : readPidFile(pidfile);
  if (adopted !== null && isContainerd(adopted)) {
    start.pid = adopted;
    return { pid: adopted, address, pidfile, log, adopted: true, exited: watchPid(adopted) };
  }

  const path = findBinary(binary);
  if (path === null) {
    // dockerd's words: `failed to start containerd: exec: "containerd": executable file not found in $PATH`.
    start.failure = new EffectFailure(
      'ENOENT',
      binary.includes('/')
        ? `exec: "${binary}": stat ${binary}: no such file or directory`
        : `exec: "${binary}": executable file not found in $PATH`,
    );
    throw start.failure;
  }
  // A socket left by a containerd that died would make the readiness probe talk to nothing.
  rmSync(address, { force: true });
  rmSync(`${address}.ttrpc`, { force: true });
  mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
  const fd = openSync(log, 'a', 0o600);
  const env = { ...process.env };
  // Our own systemd notification socket is not containerd's to use.
  delete env['NOTIFY_SOCKET'];
  let child: ChildProcess;
  try {
    child = spawn(path, ['--config', opts.configPath], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env,
    });
  } finally {
    closeSync(fd);
  }
  // An 'error' event without a listener would crash the process; exec failures surface here.
  child.on(
    'error',
    (err) => (start.failure = new EffectFailure('EIO', `start ${path}: ${err.message}`)),
  );
  if (child.pid === undefined) {
    start.failure = new EffectFailure('EIO', `start ${path}: the process did not start`);
    throw start.failure;
  }
  const pid = child.pid;
  child.unref();
  start.pid = pid;
  start.child = true;
  startedBinaries.set(pid, path);
  writeFileSync(pidfile, `${pid}`, { mode: 0o644 });
  const exited = new Promise<ContainerdExit>((resolve) => {
    child.once('exit', (code, signal) => {
      start.exit = { code, signal };
      startedBinaries.delete(pid);
      resolve(start.exit);
    });
  });
  return { pid, address, pidfile, log, adopted: false, exited };
}

function exitText(e: ContainerdExit | null): string {
  if (e === null) return 'exited';
  return e.signal !== null ? `was killed by ${e.signal}` : `exited with status ${e.code}`;
}

/**
 * Waits until containerd serves on `address`: its gRPC socket accepts a connection
 * ({@link acceptsConnections}). Polled every 2 ms with a fresh connection, so readiness is
 * seen within milliseconds, without loading a client while containerd boots. Fails:
 * - `ENOENT` naming the binary, when spawnContainerd could not find it;
 * - `EIO` with the exit status and the last lines of containerd's log, when the process
 *   exits before answering;
 * - `ETIMEDOUT` with the last lines of the log, after `timeoutMs`.
 * The process is the one spawnContainerd started on this address, else `opts.pid`, else
 * the one in the pid file beside the socket.
 */
export async function waitContainerdReady(
  address: string,
  opts: { timeoutMs: number; pid?: number; log?: string },
): Promise<void> {
  const start = starts.get(address);
  if (start?.failure) throw start.failure;
  const log = opts.log ?? start?.log ?? `${dirname(address)}/containerd.log`;
  const pid = opts.pid ?? start?.pid ?? readPidFile(`${dirname(address)}/containerd.pid`);
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (start?.exit || (pid !== null && !isAlive(pid))) {
      // The exit event may trail the process's death by a moment: wait for its status.
      for (let i = 0; i < 50 && start?.child && start.pid === pid && !start.exit; i++)
        await new Promise((r) => setTimeout(r, 2));
      throw new EffectFailure(
        'EIO',
        `containerd (pid ${pid ?? '?'}) ${exitText(start?.exit ?? null)} before it answered on ${address}; the last lines of ${log}:\n${lastLines(log)}`,
      );
    }
    if (existsSync(address)) {
      try {
        return await acceptsConnections(address, 1000);
      } catch {
        // not listening yet, or a socket a dead containerd left
      }
    }
    if (Date.now() > deadline)
      throw new EffectFailure(
        'ETIMEDOUT',
        `timeout waiting for containerd to start: no answer on ${address} within ${opts.timeoutMs} ms; the last lines of ${log}:\n${lastLines(log)}`,
      );
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * The pid file and sockets of the containerd `pid`: from its start, the exec root, or (when
 * `readCmdline`, i.e. the pid is a containerd) the --config in its cmdline.
 */
function filesOf(
  pid: number,
  execRoot: string | undefined,
  readCmdline: boolean,
): { pidfile: string; address: string } | null {
  for (const [address, s] of starts) if (s.pid === pid) return { pidfile: s.pidfile, address };
  if (execRoot !== undefined) {
    const p = containerdPaths(execRoot);
    return { pidfile: p.pidfile, address: p.socket };
  }
  if (!readCmdline) return null;
  const argv = argvOf(pid);
  const i = argv.indexOf('--config');
  const config = i >= 0 ? argv[i + 1] : undefined;
  if (config === undefined) return null;
  return {
    pidfile: `${dirname(config)}/containerd.pid`,
    address: grpcAddressOf(config) ?? `${dirname(config)}/containerd.sock`,
  };
}

/**
 * Stops the containerd `pid`: SIGTERM, poll, SIGKILL after `timeoutMs` (default 15 s),
 * then removes its pid file (if it still names this pid) and sockets. Signals nothing
 * unless /proc/<pid>/cmdline names a containerd (a stale pid may have been reused):
 * returns which signal ended it, or 'none'. Shims and their tasks live on, as when
 * dockerd stops its containerd (they are the tasks' parents, not containerd's children).
 */
export async function stopContainerd(
  pid: number,
  opts: { timeoutMs?: number; execRoot?: string } = {},
): Promise<'SIGTERM' | 'SIGKILL' | 'none'> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const ours = isContainerd(pid);
  // Read before signalling: the cmdline is gone with the process.
  const files = filesOf(pid, opts.execRoot, ours);
  let sent: 'SIGTERM' | 'SIGKILL' | 'none' = 'none';
  const gone = async (ms: number): Promise<boolean> => {
    const until = Date.now() + ms;
    while (isAlive(pid)) {
      if (Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  };
  if (ours) {
    process.kill(pid, 'SIGTERM');
    sent = 'SIGTERM';
    if (!(await gone(timeoutMs))) {
      process.kill(pid, 'SIGKILL');
      sent = 'SIGKILL';
      if (!(await gone(5000)))
        throw new EffectFailure(
          'EBUSY',
          `containerd (pid ${pid}) is still alive 5 s after SIGKILL (uninterruptible sleep?); stop it by hand`,
        );
    }
  }
  if (files !== null) {
    // Only files of this pid: a pid file naming another pid is another containerd's.
    const named = readPidFile(files.pidfile) === pid;
    if (named) rmSync(files.pidfile, { force: true });
    if (named || ours || !existsSync(files.pidfile)) {
      rmSync(files.address, { force: true });
      rmSync(`${files.address}.ttrpc`, { force: true });
    }
    const s = starts.get(files.address);
    if (s?.pid === pid) starts.delete(files.address);
  }
  startedBinaries.delete(pid);
  return sent;
}

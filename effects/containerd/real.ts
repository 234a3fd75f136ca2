import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { ContainerdClient } from './client.ts';
import { ContainerdError } from './error.ts';
import { FifoPool } from './fifo-pool.ts';
import {
  spawnContainerd,
  stopContainerd,
  waitContainerdReady,
  writeContainerdConfig,
} from './process.ts';
import { assertNever, type EffectErrorCode } from '../errors.ts';
import { EffectFailure, nextTurn, type Handler } from '../handler.ts';
import type { RootfsLayout } from '../rootfs/layout.ts';
import { RealExecs, type ExecIo } from './exec-real.ts';
import type { ContainerdRequest, ContainerdResults } from './requests.ts';

/** containerd's error classes mapped once, here, to the effect error codes. */
function codeOf(err: unknown): EffectErrorCode {
  if (err instanceof ContainerdError) {
    switch (err.code) {
      case 'NotFound':
        return 'ENOENT';
      case 'AlreadyExists':
        return 'EEXIST';
      case 'FailedPrecondition':
        return 'EBUSY';
      case 'InvalidArgument':
        return 'EINVAL';
      case 'Unavailable':
        return 'EUNAVAILABLE';
      case 'DeadlineExceeded':
        return 'ETIMEDOUT';
      default:
        return 'EIO';
    }
  }
  if (err instanceof EffectFailure) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? (code as EffectErrorCode) : 'EIO';
}

/** Any failure of a containerd effect, as the family's one error: containerd's own words, its code mapped. */
function failure(err: unknown): EffectFailure {
  if (err instanceof EffectFailure) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new EffectFailure(codeOf(err), message);
}

function isNotFound(err: unknown): boolean {
  return err instanceof ContainerdError && err.code === 'NotFound';
}

/** The gRPC client's module (grpc-js, protobufjs), evaluated on first use. */
const loadClient = (): Promise<typeof import('./client.ts')> => import('./client.ts');

/**
 * A container task's stdio on the daemon's side: the readers of its output FIFOs (to the
 * json-file log and attached clients) and the writer of its stdin FIFO. The daemon keeps
 * them (src/daemon/stdio.ts); the containerd effects open and close them.
 */
export interface TaskStdio {
  /** Opens the output FIFOs' read ends, before the task exists, so the shim's blocking open succeeds. */
  openOutput(container: string, stdout: string, stderr: string | null, terminal: boolean): void;
  /** Opens stdin's write end once the shim holds its read end; `closeIO` closes the process's stdin. */
  openStdin(
    container: string,
    path: string,
    closeIO: () => Promise<void>,
    timeoutMs?: number,
  ): Promise<Error | null>;
  /** The task started: a client's EOF may now close its stdin. */
  started(container: string): void;
  /** Waits until the output drained (at most `ms`), then closes the readers. */
  drained(container: string, ms: number): Promise<void>;
  /** A task that was never created: no writer will ever open its FIFOs. */
  abandon(container: string): void;
}

/** The supervised containerd, a machine of its own (machines/containerd-supervisor). */
export interface Supervision {
  start(req: { execRoot: string; dataRoot: string; binary: string }): Promise<{
    pid: number;
    address: string;
  }>;
  stop(): Promise<{ signal: 'SIGTERM' | 'SIGKILL' | 'none' }>;
}

export interface RealContainerdOptions {
  execRoot: string;
  layout: RootfsLayout;
  stdio: TaskStdio;
  /** The exec processes' stdio (`docker exec`, health probes). */
  execIo: ExecIo;
  supervision: Supervision;
  log: (message: string) => void;
  /**
   * Completes a container's spec when its task is made: what only then can be known (the
   * current PID of a container whose namespaces it joins, where the shareable /dev/shm it
   * binds is mounted). It changes nothing on the host.
   * Its failure is the task's (EINVAL, with the daemon's message).
   */
  prepareSpec?: (container: string, spec: unknown) => Promise<unknown>;
  /**
   * Starts hearing containerd's task events once the client's channel is up; resolves once
   * containerd confirmed the subscription. `containerd.connect` completes only after that,
   * so no task is started (and no task list is taken) before its exit could be heard; it asks
   * for containerd's version meanwhile.
   */
  hearEvents?: () => Promise<void>;
}

/**
 * How long an exited task's output may take to drain before its task is deleted (dockerd's
 * handleContainerExit waits 2 s for the streams too).
 */
const outputDrainMs = 2000;

/**
 * How many fresh FIFOs one mkfifo(1) makes ahead for the next tasks: a task's FIFOs are spares
 * renamed into its bundle, and the fork is paid once every few tasks, not at every start.
 */
const spareFifosMade = 12;

/**
 * The real containerd effects: the supervised process and its primitive steps, the daemon's
 * one client connection (a single gRPC channel in the daemon's own namespace), and the
 * containers' tasks on it. A container's overlay2 root is mounted by containerd's shim in the
 * task's bundle (`rootfs` mounts of Tasks.Create) and unmounted by it when the task is
 * deleted; a vfs root is a directory that needs no mount.
 */
export class RealContainerd implements Handler<ContainerdRequest> {
  private client: ContainerdClient | null = null;
  /** containerd's revision, once connected (shown by /version and /info). */
  revision = '';
  private address = '';
  private namespace = '';
  private readonly watches = new Map<number, Promise<ContainerdResults['containerd.waitExit']>>();
  private readonly execRoots = new Map<number, string>();
  private readonly opts: RealContainerdOptions;
  private readonly execs: RealExecs;
  /** Spare FIFOs for the next tasks (made when the client connects, unless an earlier life left some). */
  private readonly spareFifos: FifoPool;
  /** The spare FIFOs' first making, which the close waits for (no mkfifo(1) outlives the client). */
  private filling: Promise<void> = Promise.resolve();

  constructor(opts: RealContainerdOptions) {
    this.opts = opts;
    this.spareFifos = new FifoPool(`${opts.execRoot}/containerd/spare-fifos`, {
      madeAhead: spareFifosMade,
    });
    this.execs = new RealExecs({
      client: () => this.connected,
      bundle: (id) => this.bundle(id),
      io: opts.execIo,
    });
  }

  /** The connected client (the exit stream subscribes on it). */
  get connected(): ContainerdClient {
    if (!this.client) throw new EffectFailure('EUNAVAILABLE', 'containerd client is not connected');
    return this.client;
  }

  async run(req: ContainerdRequest): Promise<unknown> {
    try {
      return await this.handle(req);
    } catch (err) {
      throw failure(err);
    }
  }

  private async handle(req: ContainerdRequest): Promise<unknown> {
    switch (req.effect) {
      case 'containerd.startSupervised':
        return this.opts.supervision.start(req);
      case 'containerd.stopSupervised':
        return this.opts.supervision.stop();
      case 'containerd.spawn': {
        const configPath = writeContainerdConfig({
          execRoot: req.execRoot,
          dataRoot: req.dataRoot,
        });
        const child = spawnContainerd({ binary: req.binary, configPath, execRoot: req.execRoot });
        // The client's module is evaluated by containerd.connect, not while containerd boots:
        // the steps the API's answers wait for run then, and its ~8 ms of CPU would delay them.
        this.watches.set(child.pid, child.exited);
        this.execRoots.set(child.pid, req.execRoot);
        return {
          pid: child.pid,
          address: child.address,
        } satisfies ContainerdResults['containerd.spawn'];
      }
      case 'containerd.waitReady':
        await waitContainerdReady(req.address, { timeoutMs: req.timeoutMs, pid: req.pid });
        return {} satisfies ContainerdResults['containerd.waitReady'];
      case 'containerd.waitExit': {
        const watch = this.watches.get(req.pid);
        if (!watch) return { code: null, signal: null };
        const r = await watch;
        this.watches.delete(req.pid);
        return r;
      }
      case 'containerd.terminate': {
        const execRoot = this.execRoots.get(req.pid);
        const signal = await stopContainerd(req.pid, {
          timeoutMs: req.timeoutMs,
          ...(execRoot ? { execRoot } : {}),
        });
        return { signal } satisfies ContainerdResults['containerd.terminate'];
      }
      case 'containerd.connect': {
        const { ContainerdClient } = await loadClient();
        // Loading the gRPC client and building its services are two long synchronous parts:
        // requests the API took meanwhile are served between them.
        await nextTurn();
        this.client = await ContainerdClient.connect(req.address, req.namespace, {
          timeoutMs: req.timeoutMs,
        });
        this.address = req.address;
        this.namespace = req.namespace;
        const heard = this.opts.hearEvents?.();
        const v = await this.client.version();
        await heard;
        this.revision = v.revision;
        // The first task's FIFOs come from the pool, not from a fork on its way (the fork
        // happens here, while nothing waits for it).
        this.filling = this.spareFifos.fill().catch(() => undefined);
        return {
          version: v.version,
          revision: v.revision,
        } satisfies ContainerdResults['containerd.connect'];
      }
      case 'containerd.close':
        await this.filling;
        this.client?.close();
        this.client = null;
        return {};
      case 'containerd.listTasks': {
        const tasks = await this.connected.listTasks();
        return {
          tasks: tasks.map((t) => ({
            id: t.id,
            pid: t.pid,
            status: t.status,
            exitStatus: t.exitStatus,
          })),
        } satisfies ContainerdResults['containerd.listTasks'];
      }
      case 'containerd.listContainers': {
        const containers = await this.connected.listContainers();
        return {
          containers: containers.map((c) => c.id),
        } satisfies ContainerdResults['containerd.listContainers'];
      }
      case 'containerd.reapOrphanShims':
        return {
          reaped: await this.reapOrphanShims(),
        } satisfies ContainerdResults['containerd.reapOrphanShims'];
      case 'containerd.reapTask':
        return {
          reaped: await this.reapTask(req.container),
        } satisfies ContainerdResults['containerd.reapTask'];
      case 'containerd.createTask':
        return this.createTask(req);
      case 'containerd.startTask': {
        const pid = await this.connected.startTask(req.container);
        // Stdin is closed only after start, as dockerd does: now if the client's EOF came already.
        this.opts.stdio.started(req.container);
        return {
          pid,
          at: new Date().toISOString(),
        } satisfies ContainerdResults['containerd.startTask'];
      }
      case 'containerd.killTask':
        try {
          await this.connected.killTask(req.container, req.signal, req.all);
        } catch (err) {
          // Already gone: what the kill wanted is done, and no exit will come of it.
          if (!isNotFound(err)) throw err;
          return { gone: true } satisfies ContainerdResults['containerd.killTask'];
        }
        return { gone: false } satisfies ContainerdResults['containerd.killTask'];
      case 'containerd.pauseTask':
        await this.connected.pauseTask(req.container);
        return {};
      case 'containerd.resumeTask':
        await this.connected.resumeTask(req.container);
        return {};
      case 'containerd.deleteTask': {
        await this.opts.stdio.drained(req.container, outputDrainMs);
        const r = await this.connected.deleteTask(req.container);
        return {
          exitStatus: r.exitStatus,
          exitedAt: (r.exitedAt ?? new Date()).toISOString(),
        } satisfies ContainerdResults['containerd.deleteTask'];
      }
      case 'containerd.deleteContainer':
        await this.connected.deleteContainer(req.container).catch((err: unknown) => {
          // Gone already: its bundle goes all the same (nothing else removes it).
          if (isNotFound(err)) rmSync(this.bundle(req.container), { recursive: true, force: true });
          throw err;
        });
        rmSync(this.bundle(req.container), { recursive: true, force: true });
        return {};
      case 'containerd.attachIo':
        return {
          attached: await this.attachIo(req.container, req.stdin, req.terminal),
        } satisfies ContainerdResults['containerd.attachIo'];
      case 'containerd.execCreate':
        return this.execs.create(req);
      case 'containerd.execStart':
        return this.execs.start(req);
      case 'containerd.execKill':
        return this.execs.kill(req);
      case 'containerd.execDelete':
        return this.execs.delete(req);
      case 'containerd.execResize':
        return this.execs.resize(req);
      case 'containerd.execList':
        return this.execs.list(req);
      case 'containerd.execReap':
        return this.execs.reap(req);
      case 'containerd.updateTask':
        return this.execs.update(req);
      default:
        return assertNever(req, 'containerd request');
    }
  }

  /** Where a task's stdio FIFOs are. */
  private bundle(id: string): string {
    return `${this.opts.execRoot}/containerd/${id}`;
  }

  private async createTask(
    req: Extract<ContainerdRequest, { effect: 'containerd.createTask' }>,
  ): Promise<ContainerdResults['containerd.createTask']> {
    const c = this.connected;
    const id = req.container;
    const bundle = this.bundle(id);
    mkdirSync(bundle, { recursive: true, mode: 0o700 });
    const stdout = `${bundle}/init-stdout`;
    const stderr = req.terminal ? null : `${bundle}/init-stderr`;
    const stdin = req.stdin ? `${bundle}/init-stdin` : null;
    await this.spareFifos.place(
      [stdout, stderr, stdin].filter((p): p is string => p !== null && !existsSync(p)),
    );
    const fs = this.opts.layout.rootfsOf(id);
    const rootfs =
      fs.driver === 'vfs'
        ? []
        : [
            {
              type: 'overlay',
              source: 'overlay',
              options: [
                `lowerdir=${fs.lower}`,
                `upperdir=${fs.dir}/diff`,
                `workdir=${fs.dir}/work`,
              ],
            },
          ];
    this.opts.stdio.openOutput(id, stdout, stderr, req.terminal === true);
    try {
      // Completed once the output is open: a failure then ends the attached clients too.
      let prepared: unknown = req.spec;
      if (this.opts.prepareSpec)
        try {
          prepared = await this.opts.prepareSpec(id, req.spec);
        } catch (err) {
          throw new EffectFailure('EINVAL', (err as Error).message);
        }
      // overlay2: the shim mounts the root in the task's bundle ("rootfs") and unmounts it at delete.
      const spec = {
        ...(prepared as object),
        root: { path: fs.driver === 'vfs' ? fs.dir : 'rootfs', readonly: rootReadonly(prepared) },
      };
      const container = {
        id,
        spec,
        runtime: { name: 'io.containerd.runc.v2', options: { root: `${this.opts.execRoot}/runc` } },
        labels: { 'statedock/owner': '1' },
      };
      await c.createContainer(container).catch(async (err: unknown) => {
        // A container whose daemon died before deleting its record: start it afresh
        // (dockerd: a stale object is deleted and the create retried), never over a live task.
        if (!(err instanceof ContainerdError && err.code === 'AlreadyExists')) throw err;
        await c.deleteTask(id).catch((e: unknown) => {
          if (!isNotFound(e)) throw err;
        });
        await c.deleteContainer(id);
        await c.createContainer(container);
      });
      const { pid } = await c.createTask({
        containerId: id,
        stdout,
        stderr: stderr ?? '',
        stdin: stdin ?? '',
        terminal: req.terminal === true,
        rootfs,
      });
      if (stdin !== null) {
        // The shim holds the FIFO's read end now: open ours (what the client sent is written on).
        const err = await this.opts.stdio.openStdin(id, stdin, () => c.closeStdin(id));
        if (err)
          this.opts.log(
            `container ${id}: ${err.message}: ${String((err.cause as Error | undefined)?.message)}; its stdin is closed`,
          );
      }
      return { pid };
    } catch (err) {
      this.opts.stdio.abandon(id);
      await c.deleteTask(id).catch(() => undefined);
      await c.deleteContainer(id).catch(() => undefined);
      throw err;
    }
  }

  /** Kills a task nobody knows, waits for it to end (10 s at most), deletes it and its container. */
  private async reapTask(id: string): Promise<boolean> {
    const c = this.connected;
    let found = true;
    await c.killTask(id, 9, true).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
      found = false;
    });
    if (found) {
      const wait = new AbortController();
      const timer = setTimeout(
        () => wait.abort(new Error('the task did not end within 10 s')),
        10_000,
      );
      try {
        await c.waitTask(id, { signal: wait.signal });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      } finally {
        clearTimeout(timer);
      }
      await c.deleteTask(id).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
    await c.deleteContainer(id).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
      if (!found) found = false;
    });
    rmSync(this.bundle(id), { recursive: true, force: true });
    return found;
  }

  /**
   * A task that outlived the daemon (live-restore): its output FIFOs are read again, and its
   * stdin FIFO written again (the shim kept its read end), so later clients reach both.
   */
  private async attachIo(id: string, stdin: boolean, terminal: boolean): Promise<boolean> {
    const bundle = this.bundle(id);
    try {
      this.opts.stdio.openOutput(
        id,
        `${bundle}/init-stdout`,
        existsSync(`${bundle}/init-stderr`) ? `${bundle}/init-stderr` : null,
        terminal,
      );
    } catch {
      // the FIFOs are gone with the exec root: output is lost, the task is still managed
      return false;
    }
    if (stdin && existsSync(`${bundle}/init-stdin`)) {
      // The shim's reader is open already if the process's stdin still is: one try, no waiting.
      const err = await this.opts.stdio.openStdin(
        id,
        `${bundle}/init-stdin`,
        () => this.connected.closeStdin(id),
        0,
      );
      if (err)
        this.opts.log(
          `container ${id}: ${err.message}: ${String((err.cause as Error | undefined)?.message)}; its stdin is closed`,
        );
    }
    this.opts.stdio.started(id);
    return true;
  }

  /**
   * A create the dead daemon's connection was carrying is cancelled in containerd, which then
   * drops the shim it had started ("shim disconnected") but leaves its process running,
   * serving nothing, for good (containerd 1.6). A shim of our containerd and namespace whose
   * container has no task is such a leftover: it and its children are killed.
   */
  private async reapOrphanShims(): Promise<string[]> {
    const tasks = new Set((await this.connected.listTasks()).map((t) => t.id));
    const procs: { pid: number; ppid: number; argv: string[] }[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        const ppid = Number(
          readFileSync(`/proc/${entry}/stat`, 'utf8')
            .replace(/^.*\) /s, '')
            .split(' ')[1],
        );
        procs.push({ pid: Number(entry), ppid, argv });
      } catch {
        // gone meanwhile
      }
    }
    const arg = (argv: string[], flag: string): string | undefined => argv[argv.indexOf(flag) + 1];
    const reaped: string[] = [];
    for (const p of procs) {
      if (
        !(p.argv[0] ?? '').includes('containerd-shim') ||
        arg(p.argv, '-address') !== this.address ||
        arg(p.argv, '-namespace') !== this.namespace
      )
        continue;
      const id = arg(p.argv, '-id') ?? '';
      if (id === '' || tasks.has(id) || p.argv.includes('start') || p.argv.includes('delete'))
        continue;
      for (const child of procs.filter((c) => c.ppid === p.pid)) killHard(child.pid);
      killHard(p.pid);
      reaped.push(id);
    }
    return reaped.sort();
  }
}

/** The spec's own root.readonly (`--read-only`), kept when the root path is set here. */
function rootReadonly(spec: unknown): boolean {
  const root = (spec as { root?: { readonly?: unknown } } | null)?.root;
  return root?.readonly === true;
}

function killHard(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

import { accessSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { ContainerdClient } from './client.ts';
import { EffectFailure } from '../handler.ts';
import { ContainerdError } from './error.ts';
import { FifoPool } from './fifo-pool.ts';
import type { ContainerdResults, ExecRequest } from './requests.ts';

/** How long an exited exec's output may take to drain before it is deleted (as a task's). */
const outputDrainMs = 2000;

/**
 * How many idle FIFOs a container keeps for its next execs. An exec (and every health probe)
 * needs two or three FIFOs, and forking mkfifo(1) costs 5-10 ms, most of an exec's own
 * overhead: a finished exec's are renamed into the pool and the next exec renames them out.
 */
const idleFifosKept = 8;

/**
 * An exec process's stdio on the daemon's side (src/daemon/exec/stdio.ts keeps them): the
 * readers of its output FIFOs (to the attached client, kept for a health probe, or drained)
 * and the writer of its stdin FIFO. The exec effects open and close them.
 */
export interface ExecIo {
  /** Opens the output FIFOs' read ends before Tasks.Exec, so the shim's blocking open succeeds. */
  openOutput(
    exec: string,
    o: {
      stdout: string;
      stderr: string | null;
      terminal: boolean;
      mode: 'attach' | 'capture' | 'discard';
    },
  ): void;
  /** The exec started: its stdin FIFO is written from the attached client (whose EOF closes the process's stdin). */
  openStdin(exec: string, path: string, closeIO: () => Promise<void>): Promise<void>;
  /**
   * Waits until the output drained (at most `ms`), then closes it: what a `capture` exec wrote,
   * and whether every output FIFO reached its end (no writer left: the FIFOs may be reused).
   */
  drained(exec: string, ms: number): Promise<{ output: string; ended: boolean }>;
  /** The exec's stdio goes (its readers destroyed): it never ran, or it is gone. */
  forget(exec: string): void;
}

function isNotFound(err: unknown): boolean {
  return err instanceof ContainerdError && err.code === 'NotFound';
}

/**
 * The task's shim went away mid-call (its task was deleted, as at the container's exit):
 * containerd itself reads a closed shim connection as the task not being found (runtime v2's
 * State), and so does this handler for a process's delete: the process went with its task.
 */
function isShimClosed(err: unknown): boolean {
  return err instanceof ContainerdError && /\bttrpc: closed\b/.test(err.message);
}

/**
 * The `containerd.exec*` effects on real containerd, for the one containerd handler
 * (effects/containerd/real.ts), which maps their errors: exec processes (Tasks.Exec, Start,
 * Kill, DeleteProcess) with stdio FIFOs beside the init's in the task's bundle directory
 * (`<exec-root>/containerd/<container>/<exec>-std*`, as dockerd names them), terminal resizes
 * (Tasks.ResizePty), restore's sweep of orphaned execs, and live resource updates (Tasks.Update).
 */
export class RealExecs {
  private readonly client: () => ContainerdClient;
  private readonly bundle: (container: string) => string;
  private readonly io: ExecIo;

  constructor(o: {
    client: () => ContainerdClient;
    bundle: (container: string) => string;
    io: ExecIo;
  }) {
    this.client = o.client;
    this.bundle = o.bundle;
    this.io = o.io;
  }

  private fifos(
    container: string,
    exec: string,
  ): { stdin: string; stdout: string; stderr: string } {
    const dir = this.bundle(container);
    return {
      stdin: `${dir}/${exec}-stdin`,
      stdout: `${dir}/${exec}-stdout`,
      stderr: `${dir}/${exec}-stderr`,
    };
  }

  private async forget(container: string, exec: string): Promise<void> {
    this.io.forget(exec);
    await Promise.all(
      Object.values(this.fifos(container, exec)).map((p) => rm(p, { force: true })),
    );
  }

  /** A container's idle FIFOs, waiting for its next execs in its bundle (removed with it). */
  private idle(container: string): FifoPool {
    return new FifoPool(`${this.bundle(container)}/idle-fifos`, { kept: idleFifosKept });
  }

  /**
   * A deleted exec's FIFOs: its output FIFOs become idle ones of the container when they reached
   * their end (no writer is left: a process that kept its output open, as a background child
   * can, keeps its FIFO, which is removed, so its late output reaches nobody); the rest go.
   */
  private releaseFifos(container: string, exec: string, outputEnded: boolean): void {
    this.io.forget(exec);
    const paths = this.fifos(container, exec);
    const kept = outputEnded ? this.idle(container).keep([paths.stdout, paths.stderr]) : [];
    for (const p of Object.values(paths)) if (!kept.includes(p)) rmSync(p, { force: true });
  }

  async create(
    req: Extract<ExecRequest, { effect: 'containerd.execCreate' }>,
  ): Promise<ContainerdResults['containerd.execCreate']> {
    const paths = this.fifos(req.container, req.exec);
    const wanted = [paths.stdout, ...(req.terminal ? [] : [paths.stderr])];
    if (req.stdin) wanted.push(paths.stdin);
    try {
      // Idle ones of the container renamed into place, the rest made by one mkfifo.
      await this.idle(req.container).place(wanted);
      this.io.openOutput(req.exec, {
        stdout: paths.stdout,
        stderr: req.terminal ? null : paths.stderr,
        terminal: req.terminal,
        mode: req.stdio,
      });
      await this.client().execProcess({
        containerId: req.container,
        execId: req.exec,
        spec: req.process as object,
        stdin: req.stdin ? paths.stdin : '',
        stdout: paths.stdout,
        stderr: req.terminal ? '' : paths.stderr,
        terminal: req.terminal,
      });
      return {};
    } catch (err) {
      await this.forget(req.container, req.exec);
      throw err;
    }
  }

  async start(
    req: Extract<ExecRequest, { effect: 'containerd.execStart' }>,
  ): Promise<ContainerdResults['containerd.execStart']> {
    const c = this.client();
    const pid = await c.startTask(req.container, { execId: req.exec });
    const stdin = this.fifos(req.container, req.exec).stdin;
    if (exists(stdin))
      // The shim holds the FIFO's read end now; the client's EOF closes the process's stdin (CloseIO).
      await this.io.openStdin(req.exec, stdin, () =>
        c.closeStdin(req.container, { execId: req.exec }),
      );
    return { pid, at: new Date().toISOString() };
  }

  async kill(
    req: Extract<ExecRequest, { effect: 'containerd.execKill' }>,
  ): Promise<ContainerdResults['containerd.execKill']> {
    await this.client().killTask(req.container, req.signal, false, { execId: req.exec });
    return {};
  }

  /**
   * After its output drained: DeleteProcess (the shim closes its ends of the FIFOs), its exit
   * status and what it captured; then its FIFOs go, or wait for the container's next exec.
   */
  async delete(
    req: Extract<ExecRequest, { effect: 'containerd.execDelete' }>,
  ): Promise<ContainerdResults['containerd.execDelete']> {
    const { output, ended } = await this.io.drained(req.exec, outputDrainMs);
    const r = await this.client()
      .deleteProcess(req.container, req.exec)
      .catch(async (err: unknown) => {
        await this.forget(req.container, req.exec);
        if (!isShimClosed(err)) throw err;
        throw new EffectFailure(
          'ENOENT',
          `process ${req.exec} went with its task ${req.container}: ${(err as Error).message}`,
        );
      });
    this.releaseFifos(req.container, req.exec, ended);
    return {
      exitStatus: r.exitStatus,
      exitedAt: (r.exitedAt ?? new Date()).toISOString(),
      output,
    };
  }

  async resize(
    req: Extract<ExecRequest, { effect: 'containerd.execResize' }>,
  ): Promise<ContainerdResults['containerd.execResize']> {
    await this.client().resizePty(req.container, {
      width: req.width,
      height: req.height,
      ...(req.exec === null ? {} : { execId: req.exec }),
    });
    return {};
  }

  /**
   * The live processes of a task other than its init (containerd's ListPids names their exec
   * ids), each with whether it began before this daemon process did (the kernel's start times).
   */
  async list(
    req: Extract<ExecRequest, { effect: 'containerd.execList' }>,
  ): Promise<ContainerdResults['containerd.execList']> {
    const pids = await this.client().listPids(req.container);
    const daemonStart = startTicks('self') ?? 0;
    const execs = new Map<string, boolean>();
    for (const p of pids) {
      if (p.execId === '') continue;
      const start = startTicks(p.pid);
      const earlier = start !== null && start < daemonStart;
      execs.set(p.execId, (execs.get(p.execId) ?? false) || earlier);
    }
    return {
      execs: [...execs]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([id, earlierLife]) => ({ id, earlierLife })),
    };
  }

  /** An exec process nobody owns: SIGKILL, waited for (10 s at most), deleted. */
  async reap(
    req: Extract<ExecRequest, { effect: 'containerd.execReap' }>,
  ): Promise<ContainerdResults['containerd.execReap']> {
    const c = this.client();
    await c.killTask(req.container, 9, false, { execId: req.exec }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    await c.waitTask(req.container, { execId: req.exec, signal: AbortSignal.timeout(10_000) });
    const r = await c.deleteProcess(req.container, req.exec);
    await this.forget(req.container, req.exec);
    return { exitStatus: r.exitStatus };
  }

  async update(
    req: Extract<ExecRequest, { effect: 'containerd.updateTask' }>,
  ): Promise<ContainerdResults['containerd.updateTask']> {
    await this.client().updateTask(req.container, req.resources as object);
    return {};
  }
}

/** When a process began, in clock ticks since boot (/proc/<pid>/stat's starttime); null when it is gone. */
function startTicks(pid: number | 'self'): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command (which may hold spaces): state is the 3rd, starttime the 22nd.
    const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

function exists(path: string): boolean {
  try {
    accessSync(path);
    return true;
  } catch {
    return false;
  }
}

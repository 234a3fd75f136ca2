import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { ContainerdError } from '../../../effects/containerd/error.ts';
import { codeOf, type ContainerdConnection } from '../../../effects/containerd/real.ts';
import type { ContainerdResults, ExecRequest } from '../../../effects/containerd/requests.ts';
import { assertNever } from '../../../effects/errors.ts';
import { EffectFailure } from '../../../effects/handler.ts';
import { ExecStdio } from './stdio.ts';

const run = promisify(execFile);

/** How long an exited exec's output may take to drain before it is deleted (as a task's). */
const outputDrainMs = 2000;

function fail(err: unknown, what: string): never {
  if (err instanceof EffectFailure) throw err;
  const message =
    err instanceof ContainerdError ? err.message : `${what}: ${(err as Error).message}`;
  throw new EffectFailure(codeOf(err), message);
}

/**
 * The `containerd.exec*` effects on real containerd: exec processes (Tasks.Exec, Start, Kill,
 * DeleteProcess) with stdio FIFOs beside the init's in the task's bundle directory
 * (`<exec-root>/containerd/<container>/<exec>-std*`, as dockerd names them), terminal
 * resizes (Tasks.ResizePty), restore's sweep of orphaned execs, and live resource updates.
 */
export class ExecRuntime {
  private readonly containerd: ContainerdConnection;
  private readonly execRoot: string;
  private readonly stdios = new Map<string, ExecStdio>();

  constructor(containerd: ContainerdConnection, execRoot: string) {
    this.containerd = containerd;
    this.execRoot = execRoot;
  }

  /** An exec's stdio: a client attaches to it before the exec starts. */
  stdio(exec: string): ExecStdio {
    let s = this.stdios.get(exec);
    if (!s) this.stdios.set(exec, (s = new ExecStdio()));
    return s;
  }

  private fifos(
    container: string,
    exec: string,
  ): { stdin: string; stdout: string; stderr: string } {
    const dir = `${this.execRoot}/containerd/${container}`;
    return {
      stdin: `${dir}/${exec}-stdin`,
      stdout: `${dir}/${exec}-stdout`,
      stderr: `${dir}/${exec}-stderr`,
    };
  }

  private forget(container: string, exec: string): void {
    this.stdios.delete(exec);
    for (const p of Object.values(this.fifos(container, exec))) rmSync(p, { force: true });
  }

  async run(req: ExecRequest): Promise<unknown> {
    const c = this.containerd.connected;
    switch (req.effect) {
      case 'containerd.execCreate': {
        const paths = this.fifos(req.container, req.exec);
        const io = this.stdio(req.exec);
        io.tty = req.terminal;
        io.mode = req.stdio;
        const wanted = [paths.stdout, ...(req.terminal ? [] : [paths.stderr])];
        if (req.stdin) wanted.push(paths.stdin);
        try {
          // One mkfifo for all of them: Node has no mkfifo(2), and each fork costs milliseconds.
          await run('mkfifo', ['-m', '0600', ...wanted]);
          io.openFifos(paths.stdout, req.terminal ? null : paths.stderr);
          await c.execProcess({
            containerId: req.container,
            execId: req.exec,
            spec: req.process as object,
            stdin: req.stdin ? paths.stdin : '',
            stdout: paths.stdout,
            stderr: req.terminal ? '' : paths.stderr,
            terminal: req.terminal,
          });
          return {} satisfies ContainerdResults['containerd.execCreate'];
        } catch (err) {
          io.destroyReaders();
          this.forget(req.container, req.exec);
          fail(err, 'exec create');
        }
      }
      case 'containerd.execStart': {
        const io = this.stdio(req.exec);
        let pid: number;
        try {
          pid = await c.startTask(req.container, { execId: req.exec });
        } catch (err) {
          fail(err, 'exec start');
        }
        const stdinPath = this.fifos(req.container, req.exec).stdin;
        if (io.mode === 'attach' && (await exists(stdinPath))) {
          // The shim holds the FIFO's read end now; the client's EOF closes the process's stdin (CloseIO).
          io.stdin.closeIO = () => c.closeStdin(req.container, { execId: req.exec });
          await io.stdin.open(stdinPath);
          io.stdin.taskStarted();
        }
        return {
          pid,
          at: new Date().toISOString(),
        } satisfies ContainerdResults['containerd.execStart'];
      }
      case 'containerd.execKill':
        try {
          await c.killTask(req.container, req.signal, false, { execId: req.exec });
          return {} satisfies ContainerdResults['containerd.execKill'];
        } catch (err) {
          fail(err, 'exec kill');
        }
      case 'containerd.execDelete':
        return this.deleteExec(req.container, req.exec);
      case 'containerd.execResize':
        try {
          await c.resizePty(req.container, {
            width: req.width,
            height: req.height,
            ...(req.exec === null ? {} : { execId: req.exec }),
          });
          return {} satisfies ContainerdResults['containerd.execResize'];
        } catch (err) {
          fail(err, 'resize');
        }
      case 'containerd.execList':
        try {
          const pids = await c.listPids(req.container);
          return {
            execs: [...new Set(pids.map((p) => p.execId).filter((e) => e !== ''))],
          } satisfies ContainerdResults['containerd.execList'];
        } catch (err) {
          fail(err, 'list processes');
        }
      case 'containerd.execReap':
        try {
          await c.killTask(req.container, 9, false, { execId: req.exec }).catch((err: unknown) => {
            if (!(err instanceof ContainerdError && err.code === 'NotFound')) throw err;
          });
          await c.waitTask(req.container, {
            execId: req.exec,
            signal: AbortSignal.timeout(10_000),
          });
          const r = await c.deleteProcess(req.container, req.exec);
          this.forget(req.container, req.exec);
          return { exitStatus: r.exitStatus } satisfies ContainerdResults['containerd.execReap'];
        } catch (err) {
          fail(err, 'reap exec');
        }
      case 'containerd.updateTask':
        try {
          await c.updateTask(req.container, req.resources as object);
          return {} satisfies ContainerdResults['containerd.updateTask'];
        } catch (err) {
          fail(err, 'update');
        }
      default:
        return assertNever(req, 'exec request');
    }
  }

  /** After its output drained: DeleteProcess, its exit status and what it captured. */
  private async deleteExec(
    container: string,
    exec: string,
  ): Promise<ContainerdResults['containerd.execDelete']> {
    const io = this.stdios.get(exec);
    await io?.drained(outputDrainMs);
    const output = io?.output() ?? '';
    io?.destroyReaders();
    this.forget(container, exec);
    let r: { exitStatus: number; exitedAt: Date | null };
    try {
      r = await this.containerd.connected.deleteProcess(container, exec);
    } catch (err) {
      fail(err, 'exec delete');
    }
    return { exitStatus: r.exitStatus, exitedAt: (r.exitedAt ?? new Date()).toISOString(), output };
  }
}

async function exists(path: string): Promise<boolean> {
  const { access } = await import('node:fs/promises');
  return access(path).then(
    () => true,
    () => false,
  );
}

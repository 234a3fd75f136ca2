import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import type { ContainerdConnection } from '../../effects/containerd/real.ts';
import type { ContainerdRequest, ContainerdResults } from '../../effects/containerd/requests.ts';
import { ContainerdError } from '../../effects/containerd/client.ts';
import { EffectFailure } from '../../effects/handler.ts';
import { StdioHub } from './stdio.ts';

const run = promisify(execFile);

function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

type TaskRequest = Extract<ContainerdRequest, { container: string }>;

function fail(err: unknown, what: string): never {
  if (err instanceof ContainerdError) {
    const code = err.code === 'NotFound' ? 'ENOENT' : err.code === 'AlreadyExists' ? 'EEXIST' : err.code === 'FailedPrecondition' ? 'EBUSY' : 'EINVAL';
    throw new EffectFailure(code, err.message.replace(/^\w+: /, ''));
  }
  throw new EffectFailure('EIO', `${what}: ${(err as Error).message}`);
}

/**
 * How long an exited task's output may take to drain before its task is deleted (dockerd's
 * handleContainerExit waits 2 s for the streams too).
 */
const outputDrainMs = 2000;

/**
 * Waits until the hub's streams end, at most `ms`; then closes them. A FIFO restore reopened
 * after the shim had already closed its end never reports EOF (no writer ever comes), so an
 * unbounded wait would keep a container adopted by live-restore "running" after its exit.
 */
async function drained(hub: StdioHub, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([hub.whenEnded().then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms)))]);
  clearTimeout(timer);
  if (timedOut) {
    hub.destroyReaders();
    await hub.whenEnded();
  }
}

/**
 * Containers on real containerd: the container machine's task effects. Each container's
 * root filesystem is an overlay of its image layer (the `lower` file, as overlay2 keeps it)
 * with its own upper and work dirs, mounted for the task and unmounted after it.
 */
export class ContainerRuntime {
  readonly hubs = new Map<string, StdioHub>();
  private readonly containerd: ContainerdConnection;
  private readonly execRoot: string;
  private readonly root: string;

  constructor(containerd: ContainerdConnection, execRoot: string, root: string) {
    this.containerd = containerd;
    this.execRoot = execRoot;
    this.root = root;
  }

  layerDir(id: string): string {
    return `${this.root}/overlay2/${id}`;
  }

  hub(id: string): StdioHub {
    let h = this.hubs.get(id);
    if (!h) this.hubs.set(id, (h = new StdioHub(`${this.root}/containers/${id}/${id}-json.log`)));
    return h;
  }

  private async mount(id: string): Promise<void> {
    const d = this.layerDir(id);
    if ((await run('mountpoint', ['-q', `${d}/merged`]).then(() => true, () => false))) return;
    const lower = readFileSync(`${d}/lower`, 'utf8').trim();
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${d}/diff,workdir=${d}/work`, `${d}/merged`]);
  }

  /**
   * Restore's part for shims: a create the dead daemon's connection was carrying is cancelled
   * in containerd, which then drops the shim it had started ("shim disconnected") but leaves
   * its process running, serving nothing, for good (containerd 1.6). A shim of our containerd
   * and namespace whose container has no task is such a leftover: it and its children are
   * killed. Returns the container IDs whose shims were reaped.
   */
  async reapOrphanShims(address: string, namespace: string): Promise<string[]> {
    const tasks = new Set((await this.containerd.connected.listTasks()).map((t) => t.id));
    const procs: { pid: number; ppid: number; argv: string[] }[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
        procs.push({ pid: Number(entry), ppid, argv });
      } catch {
        // gone meanwhile
      }
    }
    const arg = (argv: string[], flag: string): string | undefined => argv[argv.indexOf(flag) + 1];
    const reaped: string[] = [];
    for (const p of procs) {
      if (!(p.argv[0] ?? '').includes('containerd-shim') || arg(p.argv, '-address') !== address || arg(p.argv, '-namespace') !== namespace) continue;
      const id = arg(p.argv, '-id') ?? '';
      if (id === '' || tasks.has(id) || p.argv.includes('start') || p.argv.includes('delete')) continue;
      for (const child of procs.filter((c) => c.ppid === p.pid)) signal(child.pid);
      signal(p.pid);
      reaped.push(id);
    }
    return reaped;
  }

  /**
   * Restore's part for a container containerd has no task of: a root filesystem mounted for a
   * start the daemon died in (before containerd made the task) is unmounted, since no task
   * will ever end and unmount it.
   */
  async releaseRootfs(id: string): Promise<void> {
    await this.unmount(id);
  }

  private async unmount(id: string): Promise<void> {
    const merged = `${this.layerDir(id)}/merged`;
    if (await run('mountpoint', ['-q', merged]).then(() => true, () => false)) await run('umount', [merged]).catch(() => run('umount', ['-l', merged]));
  }

  async run(req: TaskRequest): Promise<unknown> {
    const c = this.containerd.connected;
    const id = req.container;
    switch (req.effect) {
      case 'containerd.createTask': {
        const bundle = `${this.execRoot}/containerd/${id}`;
        mkdirSync(bundle, { recursive: true, mode: 0o700 });
        const stdout = `${bundle}/init-stdout`;
        const stderr = req.terminal ? null : `${bundle}/init-stderr`;
        const stdin = req.stdin ? `${bundle}/init-stdin` : null;
        for (const p of [stdout, stderr, stdin]) if (p !== null && !existsSync(p)) await run('mkfifo', ['-m', '0600', p]);
        await this.mount(id);
        const hub = this.hub(id);
        hub.tty = req.terminal === true;
        hub.openFifos(stdout, stderr);
        if (stdin !== null) hub.openStdin(stdin);
        try {
          // A container that ran before keeps its containerd record until it is removed:
          // start it afresh (dockerd: stale object → delete, retry), never over a live task.
          await c.deleteContainer(id).catch((err: unknown) => {
            if (!(err instanceof ContainerdError && err.code === 'NotFound')) throw err;
          });
          await c.createContainer(id, req.spec, `${this.execRoot}/runc`);
          const pid = await c.createTask(id, stdout, stderr ?? '', stdin ?? '', req.terminal === true);
          return { pid } satisfies ContainerdResults['containerd.createTask'];
        } catch (err) {
          hub.destroyReaders();
          await c.deleteTask(id).catch(() => undefined);
          await c.deleteContainer(id).catch(() => undefined);
          await this.unmount(id);
          fail(err, 'create task');
        }
      }
      case 'containerd.startTask':
        try {
          const pid = await c.startTask(id);
          // Stdin closes only after start (containerd's CloseIO rule): now if the client already sent EOF.
          const hub = this.hubs.get(id);
          if (hub) {
            hub.closeStdin = () => void c.closeStdin(id).catch(() => undefined);
            if (hub.stdinClosedByClient) hub.closeStdin();
          }
          return { pid, at: new Date().toISOString() } satisfies ContainerdResults['containerd.startTask'];
        } catch (err) {
          fail(err, 'start task');
        }
      case 'containerd.killTask':
        try {
          await c.killTask(id, req.signal, req.all);
          return {};
        } catch (err) {
          if (err instanceof ContainerdError && err.code === 'NotFound') return {};
          fail(err, 'kill task');
        }
      case 'containerd.pauseTask':
        try {
          await c.pauseTask(id);
          return {};
        } catch (err) {
          fail(err, 'pause task');
        }
      case 'containerd.resumeTask':
        try {
          await c.resumeTask(id);
          return {};
        } catch (err) {
          fail(err, 'resume task');
        }
      case 'containerd.deleteTask': {
        const hub = this.hubs.get(id);
        if (hub) await drained(hub, outputDrainMs);
        try {
          const r = await c.deleteTask(id);
          return { exitStatus: r.exitStatus, exitedAt: (r.exitedAt ?? new Date()).toISOString() } satisfies ContainerdResults['containerd.deleteTask'];
        } catch (err) {
          fail(err, 'delete task');
        } finally {
          await this.unmount(id);
        }
      }
      case 'containerd.deleteContainer':
        try {
          await c.deleteContainer(id);
        } catch (err) {
          if (!(err instanceof ContainerdError && err.code === 'NotFound')) fail(err, 'delete container');
        }
        await this.unmount(id);
        rmSync(`${this.execRoot}/containerd/${id}`, { recursive: true, force: true });
        this.hubs.delete(id);
        return {};
    }
  }
}

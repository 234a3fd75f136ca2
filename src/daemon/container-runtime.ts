import { execFile, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { promisify } from 'node:util';
import type { ContainerdConnection } from '../../effects/containerd/real.ts';
import type {
  ContainerdRequest,
  ContainerdResults,
  ExecRequest,
} from '../../effects/containerd/requests.ts';
import { ContainerdError } from '../../effects/containerd/error.ts';
import { EffectFailure } from '../../effects/handler.ts';
import { mountPoints } from '../../effects/kernel/real.ts';
import { StdioHub } from './stdio.ts';

const run = promisify(execFile);

function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

type TaskRequest = Exclude<Extract<ContainerdRequest, { container: string }>, ExecRequest>;

function fail(err: unknown, what: string): never {
  if (err instanceof ContainerdError) {
    const code =
      err.code === 'NotFound'
        ? 'ENOENT'
        : err.code === 'AlreadyExists'
          ? 'EEXIST'
          : err.code === 'FailedPrecondition'
            ? 'EBUSY'
            : 'EINVAL';
    throw new EffectFailure(code, err.message.replace(/^\w+: /, ''));
  }
  throw new EffectFailure('EIO', `${what}: ${(err as Error).message}`);
}

/** Where a container's root filesystem is kept, by the driver that made it. */
type Rootfs = {
  driver: 'overlay2' | 'vfs';
  /** overlay2's layer dir, or vfs's copy */ dir: string;
  /** the image layer it was made from */ lower: string;
};

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
  const timedOut = await Promise.race([
    hub.whenEnded().then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    hub.destroyReaders();
    await hub.whenEnded();
  }
}

/**
 * Containers on real containerd: the container machine's task effects. A container's root
 * filesystem is, with overlay2, an upper and a work dir over its image's layer (the `lower`
 * file, as overlay2 keeps it), mounted by containerd's shim in the task's bundle (`rootfs`
 * mounts of Tasks.Create) and unmounted by it when the task is deleted; with vfs, a copy of
 * the image's layer (`vfs/dir/<id>`, as Docker's vfs driver keeps it) that needs no mount.
 */
export class ContainerRuntime {
  readonly hubs = new Map<string, StdioHub>();
  private readonly containerd: ContainerdConnection;
  private readonly execRoot: string;
  private readonly root: string;
  private readonly log: ((message: string) => void) | undefined;
  /** Containers whose containerd record went with their task (dockerd's Cleanup at exit). */
  private readonly recordGone = new Set<string>();
  /** The driver new containers get: the start-up's choice (overlay2, or vfs). */
  driver: 'overlay2' | 'vfs' = 'overlay2';

  constructor(
    containerd: ContainerdConnection,
    execRoot: string,
    root: string,
    log?: (message: string) => void,
  ) {
    this.containerd = containerd;
    this.execRoot = execRoot;
    this.root = root;
    this.log = log;
  }

  layerDir(id: string): string {
    return `${this.root}/overlay2/${id}`;
  }

  vfsDir(id: string): string {
    return `${this.root}/vfs/dir/${id}`;
  }

  hub(id: string): StdioHub {
    let h = this.hubs.get(id);
    if (!h) this.hubs.set(id, (h = new StdioHub(`${this.root}/containers/${id}/${id}-json.log`)));
    return h;
  }

  /**
   * A task that outlived the daemon (live-restore): its output FIFOs are read again, and its
   * stdin FIFO written again (the shim kept its read end), so later clients reach both.
   */
  async reattach(id: string, stdin: boolean): Promise<void> {
    const bundle = `${this.execRoot}/containerd/${id}`;
    const hub = this.hub(id);
    try {
      hub.openFifos(
        `${bundle}/init-stdout`,
        existsSync(`${bundle}/init-stderr`) ? `${bundle}/init-stderr` : null,
      );
    } catch {
      // the FIFOs are gone with the exec root: output is lost, the task is still managed
      return;
    }
    if (!stdin || !existsSync(`${bundle}/init-stdin`)) return;
    hub.stdin.closeIO = () => this.containerd.connected.closeStdin(id);
    // The shim's reader is open already if the process's stdin still is: one try, no waiting.
    const err = await hub.stdin.open(`${bundle}/init-stdin`, 0);
    if (err)
      this.log?.(
        `container ${id}: ${err.message}: ${String((err.cause as Error | undefined)?.message)}; its stdin is closed`,
      );
    hub.stdin.taskStarted();
  }

  /** Makes a new container's root filesystem from its image's layer directory, with this daemon's driver. */
  async prepareRootfs(id: string, imageLayer: string): Promise<void> {
    if (this.driver === 'vfs') {
      mkdirSync(`${this.root}/vfs/dir`, { recursive: true, mode: 0o700 });
      mkdirSync(`${this.root}/vfs/lower`, { recursive: true, mode: 0o700 });
      // cp -a keeps owners, modes, links and times: the container sees the image as it is
      // (and `ps --size` counts only what differs from it).
      await run('cp', ['-a', imageLayer, this.vfsDir(id)]);
      writeFileSync(`${this.root}/vfs/lower/${id}`, imageLayer);
      return;
    }
    const layer = this.layerDir(id);
    // The mounted root takes the upper dir's mode: 0755 like the image's root, so any user can traverse "/".
    for (const d of ['diff', 'work'])
      mkdirSync(`${layer}/${d}`, { recursive: true, mode: d === 'work' ? 0o700 : 0o755 });
    writeFileSync(`${layer}/lower`, imageLayer);
  }

  /** Which driver holds a container's root filesystem (a daemon may have been started with the other one before). */
  rootfsOf(id: string): Rootfs {
    const vfs = this.vfsDir(id);
    const driver = existsSync(vfs) ? 'vfs' : 'overlay2';
    let lower = '';
    try {
      lower = readFileSync(
        driver === 'vfs' ? `${this.root}/vfs/lower/${id}` : `${this.layerDir(id)}/lower`,
        'utf8',
      ).trim();
    } catch {
      // no layer: the task's creation fails with containerd's words
    }
    return { driver, dir: driver === 'vfs' ? vfs : this.layerDir(id), lower };
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
        arg(p.argv, '-address') !== address ||
        arg(p.argv, '-namespace') !== namespace
      )
        continue;
      const id = arg(p.argv, '-id') ?? '';
      if (id === '' || tasks.has(id) || p.argv.includes('start') || p.argv.includes('delete'))
        continue;
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
    await this.unmountLegacy(id);
    const bundled = this.bundleRootfs(id);
    // The shim may unmount it itself meanwhile (one being reaped exits): a root already gone is fine.
    if (mountPoints().includes(bundled))
      await run('umount', [bundled])
        .catch(() => run('umount', ['-l', bundled]))
        .catch(() => undefined);
  }

  /** Removes a container's root filesystem, whichever driver made it. */
  removeRootfs(id: string): void {
    // Never delete through a mount: a root statedock itself mounted (before the shim did) is detached first.
    const merged = `${this.layerDir(id)}/merged`;
    if (existsSync(merged) && mountPoints().includes(merged)) spawnSync('umount', ['-l', merged]);
    rmSync(this.layerDir(id), { recursive: true, force: true });
    rmSync(this.vfsDir(id), { recursive: true, force: true });
    rmSync(`${this.root}/vfs/lower/${id}`, { force: true });
  }

  /**
   * Bytes the container wrote (`ps --size`'s SizeRw): overlay2's upper dir; for vfs, the files
   * that differ from the image's (new, or another size or time), as Docker's naive diff counts.
   */
  sizeRw(id: string): number {
    const fs = this.rootfsOf(id);
    return fs.driver === 'overlay2' ? treeSize(`${fs.dir}/diff`, null) : treeSize(fs.dir, fs.lower);
  }

  /** containerd's own view of our namespace: every task with its status, every container. */
  async containerdView(): Promise<{
    tasks: { id: string; status: string }[];
    containers: string[];
  }> {
    const c = this.containerd.connected;
    const [tasks, containers] = await Promise.all([c.listTasks(), c.listContainers()]);
    return {
      tasks: tasks.map((t) => ({ id: t.id, status: t.status })),
      containers: containers.map((x) => x.id),
    };
  }

  /** The bundle's rootfs where the shim mounts an overlay2 container's root (inspect's MergedDir). */
  bundleRootfs(id: string): string {
    return `${this.execRoot}/containerd/daemon/io.containerd.runtime.v2.task/statedock/${id}/rootfs`;
  }

  /** A root filesystem mounted by statedock itself (before the shim mounted it): unmounted. */
  private async unmountLegacy(id: string): Promise<void> {
    const merged = `${this.layerDir(id)}/merged`;
    if (!existsSync(merged) || !mountPoints().includes(merged)) return;
    await run('umount', [merged])
      .catch(() => run('umount', ['-l', merged]))
      .catch(() => undefined);
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
        for (const p of [stdout, stderr, stdin])
          if (p !== null && !existsSync(p)) await run('mkfifo', ['-m', '0600', p]);
        const fs = this.rootfsOf(id);
        // overlay2: the shim mounts the root in the task's bundle ("rootfs") and unmounts it at delete.
        const spec = {
          ...(req.spec as object),
          root: { path: fs.driver === 'vfs' ? fs.dir : 'rootfs', readonly: false },
        };
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
        await this.unmountLegacy(id);
        const hub = this.hub(id);
        hub.tty = req.terminal === true;
        hub.openFifos(stdout, stderr);
        try {
          // A container that ran before may keep its containerd record (a daemon that crashed
          // before deleting it): start it afresh (dockerd: stale object → delete, retry), never over a live task.
          if (!this.recordGone.has(id))
            await c.deleteContainer(id).catch((err: unknown) => {
              if (!(err instanceof ContainerdError && err.code === 'NotFound')) throw err;
            });
          this.recordGone.delete(id);
          await c.createContainer(id, spec, `${this.execRoot}/runc`);
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
            hub.stdin.closeIO = () => c.closeStdin(id);
            const err = await hub.stdin.open(stdin);
            if (err)
              this.log?.(
                `container ${id}: ${err.message}: ${String((err.cause as Error | undefined)?.message)}; its stdin is closed`,
              );
          }
          return { pid } satisfies ContainerdResults['containerd.createTask'];
        } catch (err) {
          hub.destroyReaders();
          await c.deleteTask(id).catch(() => undefined);
          await c.deleteContainer(id).catch(() => undefined);
          fail(err, 'create task');
        }
      }
      case 'containerd.startTask':
        try {
          const pid = await c.startTask(id);
          // Stdin is closed only after start, as dockerd does: now if the client's EOF came already.
          this.hubs.get(id)?.stdin.taskStarted();
          return {
            pid,
            at: new Date().toISOString(),
          } satisfies ContainerdResults['containerd.startTask'];
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
        let r: { exitStatus: number; exitedAt: Date | null };
        try {
          r = await c.deleteTask(id);
        } catch (err) {
          await this.unmountLegacy(id);
          fail(err, 'delete task');
        }
        // Like dockerd's Cleanup at exit, the containerd record goes with the task (the next
        // start makes a new one): removal then has nothing left to ask containerd.
        await c.deleteContainer(id).then(
          () => this.recordGone.add(id),
          (err: unknown) => {
            if (err instanceof ContainerdError && err.code === 'NotFound') this.recordGone.add(id);
          },
        );
        await this.unmountLegacy(id);
        return {
          exitStatus: r.exitStatus,
          exitedAt: (r.exitedAt ?? new Date()).toISOString(),
        } satisfies ContainerdResults['containerd.deleteTask'];
      }
      case 'containerd.deleteContainer':
        if (!this.recordGone.delete(id))
          try {
            await c.deleteContainer(id);
          } catch (err) {
            if (!(err instanceof ContainerdError && err.code === 'NotFound'))
              fail(err, 'delete container');
          }
        await this.unmountLegacy(id);
        rmSync(`${this.execRoot}/containerd/${id}`, { recursive: true, force: true });
        this.hubs.delete(id);
        return {};
    }
  }
}

/** Bytes of the regular files under `dir`; with `base`, only those not the same (size and time) at the same path under it. */
export function treeSize(dir: string, base: string | null = null): number {
  let total = 0;
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(`${dir}${rel}`);
    } catch {
      return;
    }
    for (const n of names) {
      const path = `${rel}/${n}`;
      let st;
      try {
        st = lstatSync(`${dir}${path}`);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(path);
      else if (st.isFile() || st.isSymbolicLink()) {
        if (base !== null) {
          const orig = (() => {
            try {
              return lstatSync(`${base}${path}`);
            } catch {
              return null;
            }
          })();
          if (orig && orig.size === st.size && orig.mtimeMs === st.mtimeMs) continue;
        }
        total += st.size;
      }
    }
  };
  walk('');
  return total;
}

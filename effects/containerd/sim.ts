import { assertNever } from '../errors.ts';
import { SimFailure } from '../sim/failure.ts';
import type { SimProcesses } from '../sim/processes.ts';
import type { SimRootfs } from '../rootfs/sim.ts';
import { SimExecs } from './exec-sim.ts';
import type { ContainerdRequest, ContainerdTaskFact } from './requests.ts';

/** A task in the simulated containerd. */
export interface SimTask {
  status: 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
  exitStatus: number;
  exitedAtMs: number | null;
  exitScheduled: boolean;
  /** A signal sent while paused, delivered on resume (as the kernel does with a frozen cgroup). */
  pausedSignal: number | null;
}

/** How a simulated container's process behaves. */
export interface TaskBehaviour {
  /** Exits on its own this long after start (null: runs until killed). */
  exitAfterMs: number | null;
  exitCode: number;
  /** PID 1 without a SIGTERM handler ignores it (containerd-facts gotcha 9). */
  ignoresTerm: boolean;
}

/** An event the simulated host raises for an actor at a virtual time (a task's exit). */
export interface RaisedEvent {
  atMs: number;
  actorId: string;
  event: { type: string } & Record<string, unknown>;
  /** Whether it still happens when its time comes (a later kill may have ended the process sooner). */
  due?: () => boolean;
}

/** Virtual milliseconds as RFC 3339 time, from a fixed epoch (2026-01-01). */
export function iso(ms: number): string {
  return new Date(Date.UTC(2026, 0, 1) + Math.round(ms)).toISOString();
}

export interface SimContainerdOptions {
  /** Whether the containerd binary is installed. */
  binary: boolean;
  /** containerd sockets of other daemons that answer `containerd.connect`. */
  external: readonly string[];
  /** Tasks the host's containerd already has (beyond those the simulation makes). */
  tasks: readonly ContainerdTaskFact[];
}

/**
 * containerd on the simulated host: the supervised process, the client connection, and the
 * containers and tasks of the daemon's namespace, with their processes behaving as told
 * (exiting on their own, ignoring SIGTERM). As the real containerd: deleting a task leaves its
 * container record; a create over a stale record replaces it; an overlay2 root is mounted
 * with the task and unmounted when the task is deleted.
 */
export class SimContainerd {
  process: { pid: number; address: string } | null = null;
  connectedTo: string | null = null;
  readonly tasks = new Map<string, SimTask>();
  readonly containers = new Set<string>();
  readonly behaviours = new Map<string, TaskBehaviour>();
  /** The tasks' other processes (docker exec, health probes). */
  readonly execs: SimExecs;
  private raised: RaisedEvent[] = [];
  private readonly processes: SimProcesses;
  private readonly rootfs: SimRootfs;
  private readonly opts: SimContainerdOptions;

  constructor(processes: SimProcesses, rootfs: SimRootfs, opts: SimContainerdOptions) {
    this.processes = processes;
    this.rootfs = rootfs;
    this.opts = opts;
    this.execs = new SimExecs({
      taskStatus: (id) => this.tasks.get(id)?.status ?? null,
      newPid: () => this.processes.spawn(),
      raise: (e) => this.raised.push(e),
      life: () => this.processes.life,
      iso,
    });
  }

  /** The daemon died: its connection is gone; exits still to come are heard by the next one. */
  daemonExited(): void {
    this.connectedTo = null;
    this.raised = [];
    for (const [id, t] of this.tasks) {
      const atMs = t.exitedAtMs;
      if (t.exitScheduled && t.status !== 'stopped' && atMs !== null) {
        this.raised.push({
          atMs,
          actorId: `container:${id}`,
          event: {
            type: 'containerd.taskExit',
            pid: t.pid,
            exitStatus: t.exitStatus,
            exitedAt: iso(atMs),
          },
          due: () => this.tasks.get(id) === t && t.exitedAtMs === atMs,
        });
      }
    }
    this.raised.push(...this.execs.pendingExits());
  }

  /** Power lost: containerd, every task and its record under /run are gone. */
  rebooted(): void {
    this.daemonExited();
    this.raised = [];
    this.tasks.clear();
    this.execs.reboot();
    this.containers.clear();
    this.process = null;
  }

  takeEvents(): RaisedEvent[] {
    const out = this.raised;
    this.raised = [];
    return out;
  }

  /** Tasks whose exit time has come are stopped. */
  settleExits(nowMs: number): void {
    for (const t of this.tasks.values())
      if (t.exitScheduled && t.status !== 'stopped' && (t.exitedAtMs ?? 0) <= nowMs)
        t.status = 'stopped';
  }

  /**
   * The task's process exits at `atMs` (virtual) with `status`: containerd's /tasks/exit, to
   * its actor. An exit already due later is brought forward (a SIGKILL does not wait for the
   * process to end on its own); the later one then never comes.
   */
  private exitTask(id: string, atMs: number, status: number): void {
    const t = this.tasks.get(id);
    if (!t || t.status === 'stopped') return;
    if (t.exitScheduled && (t.exitedAtMs ?? 0) <= atMs) return;
    t.exitScheduled = true;
    t.exitStatus = status;
    t.exitedAtMs = atMs;
    this.raised.push({
      atMs,
      actorId: `container:${id}`,
      event: { type: 'containerd.taskExit', pid: t.pid, exitStatus: status, exitedAt: iso(atMs) },
      due: () => this.tasks.get(id) === t && t.exitedAtMs === atMs,
    });
    // Its other processes die with its PID namespace.
    this.execs.containerExited(id, atMs);
  }

  /** Task calls go over the client: after `containerd.close` they fail as grpc-js does on a closed channel. */
  private connected(): void {
    if (this.connectedTo === null)
      throw new SimFailure('EUNAVAILABLE', 'grpc: the client connection is closing');
  }

  private task(id: string): SimTask {
    const t = this.tasks.get(id);
    if (!t)
      throw new SimFailure('ENOENT', `no running task found: task ${id} not found: not found`);
    return t;
  }

  /** Every task containerd reports. */
  listTasks(): ContainerdTaskFact[] {
    return [
      ...this.opts.tasks.map((t) => ({ ...t })),
      ...[...this.tasks]
        .filter(([id]) => !this.opts.tasks.some((h) => h.id === id))
        .map(([id, t]) => ({ id, pid: t.pid, status: t.status, exitStatus: t.exitStatus })),
    ];
  }

  run(req: ContainerdRequest, nowMs: number): unknown {
    this.settleExits(nowMs);
    switch (req.effect) {
      case 'containerd.startSupervised': {
        if (!this.opts.binary)
          throw new SimFailure(
            'ENOENT',
            `exec: "${req.binary}": executable file not found in $PATH`,
          );
        if (this.process && this.processes.isAlive(this.process.pid)) return { ...this.process };
        this.process = {
          pid: this.processes.spawn(),
          address: `${req.execRoot}/containerd/containerd.sock`,
        };
        return { ...this.process };
      }
      case 'containerd.stopSupervised':
        if (!this.processes.isAlive(req.pid)) return { signal: 'none' };
        this.processes.kill(req.pid);
        if (this.process?.pid === req.pid) this.process = null;
        return { signal: 'SIGTERM' };
      case 'containerd.connect': {
        const ours =
          this.process !== null &&
          this.process.address === req.address &&
          this.processes.isAlive(this.process.pid);
        if (!ours && !this.opts.external.includes(req.address))
          throw new SimFailure(
            'ECONNREFUSED',
            `dial unix ${req.address}: connect: connection refused`,
          );
        this.connectedTo = req.address;
        return { version: '1.6.20~ds1', revision: '1.6.20~ds1-1+deb12u3' };
      }
      case 'containerd.close':
        this.connectedTo = null;
        return {};
      case 'containerd.listTasks':
        if (this.connectedTo === null)
          throw new SimFailure('EUNAVAILABLE', 'containerd client is not connected');
        return { tasks: this.listTasks() };
      case 'containerd.listContainers':
        this.connected();
        return { containers: [...this.containers].sort() };
      case 'containerd.reapOrphanShims':
        // A cancelled create's shim is the real host's leftover; the simulated one keeps none.
        this.connected();
        return { reaped: [] };
      case 'containerd.createTask': {
        if (this.connectedTo === null)
          throw new SimFailure('EUNAVAILABLE', 'containerd client is not connected');
        const id = req.container;
        const old = this.tasks.get(id);
        if (this.containers.has(id)) {
          // A stale record (its daemon died before deleting it) is replaced; never a live task.
          if (old && (old.status === 'running' || old.status === 'paused'))
            throw new SimFailure('EEXIST', `container "${id}": already exists`);
          if (old) this.deleteTask(id);
          this.containers.delete(id);
        }
        const args = (req.spec as { process?: { args?: string[] } } | null)?.process?.args ?? [];
        if (args[0] === '/nonexistent')
          throw new SimFailure(
            'EINVAL',
            `failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "${args[0]}": stat ${args[0]}: no such file or directory: unknown`,
          );
        const pid = this.processes.spawn();
        this.tasks.set(id, {
          status: 'created',
          pid,
          exitStatus: 0,
          exitedAtMs: null,
          exitScheduled: false,
          pausedSignal: null,
        });
        this.containers.add(id);
        if (this.rootfs.roots.get(id) !== 'vfs') this.rootfs.mounted.add(id);
        // containerd's /tasks/create, which the daemon hears (it reaps tasks it does not know).
        this.raised.push({
          atMs: nowMs,
          actorId: `container:${id}`,
          event: { type: 'containerd.taskCreated' },
        });
        return { pid };
      }
      case 'containerd.startTask': {
        this.connected();
        const t = this.task(req.container);
        t.status = 'running';
        const b = this.behaviours.get(req.container);
        if (b && b.exitAfterMs !== null)
          this.exitTask(req.container, nowMs + b.exitAfterMs, b.exitCode);
        return { pid: t.pid, at: iso(nowMs) };
      }
      case 'containerd.killTask': {
        this.connected();
        const t = this.tasks.get(req.container);
        // Already gone: no process to signal, no exit to come (containerd: not found).
        if (!t || t.status === 'stopped') return { gone: true };
        if (t.status === 'paused' && req.signal !== 9) {
          t.pausedSignal = req.signal;
          return { gone: false };
        }
        const b = this.behaviours.get(req.container);
        if (req.signal === 9 || !(b?.ignoresTerm ?? false))
          this.exitTask(req.container, nowMs + 1 + ((t.pid * 7) % 5), 128 + req.signal);
        return { gone: false };
      }
      case 'containerd.pauseTask': {
        this.connected();
        const t = this.task(req.container);
        if (t.status !== 'running' || t.exitScheduled)
          throw new SimFailure('EBUSY', `cannot pause task in state ${t.status}`);
        t.status = 'paused';
        return {};
      }
      case 'containerd.resumeTask': {
        this.connected();
        const t = this.task(req.container);
        if (t.status !== 'paused')
          throw new SimFailure('EBUSY', `cannot resume task in state ${t.status}`);
        t.status = 'running';
        if (t.pausedSignal !== null) {
          const sig = t.pausedSignal;
          t.pausedSignal = null;
          if (!(this.behaviours.get(req.container)?.ignoresTerm ?? false))
            this.exitTask(req.container, nowMs + 1, 128 + sig);
        }
        return {};
      }
      case 'containerd.deleteTask': {
        this.connected();
        const t = this.tasks.get(req.container);
        if (!t) throw new SimFailure('ENOENT', `task ${req.container} not found`);
        if (t.status !== 'stopped' && t.status !== 'created')
          throw new SimFailure('EBUSY', 'cannot delete a running process');
        this.deleteTask(req.container);
        return {
          exitStatus: t.status === 'created' ? 255 : t.exitStatus,
          exitedAt: iso(t.exitedAtMs ?? nowMs),
        };
      }
      case 'containerd.deleteContainer': {
        this.connected();
        const t = this.tasks.get(req.container);
        // As the real client: never under a task, whatever its state.
        if (t)
          throw new SimFailure(
            'EBUSY',
            `cannot delete container ${req.container}: its task (pid ${t.pid}) is ${t.status}; delete the task first`,
          );
        if (!this.containers.has(req.container))
          throw new SimFailure(
            'ENOENT',
            `container "${req.container}" in namespace "statedock": not found`,
          );
        this.containers.delete(req.container);
        return {};
      }
      case 'containerd.attachIo':
        this.connected();
        return { attached: this.tasks.has(req.container) };
      case 'containerd.reapTask': {
        this.connected();
        const found = this.tasks.has(req.container) || this.containers.has(req.container);
        this.deleteTask(req.container);
        this.containers.delete(req.container);
        return { reaped: found };
      }
      case 'containerd.execCreate':
      case 'containerd.execStart':
      case 'containerd.execKill':
      case 'containerd.execDelete':
      case 'containerd.execResize':
      case 'containerd.execList':
      case 'containerd.execReap':
      case 'containerd.updateTask':
        this.connected();
        return this.execs.run(req, nowMs);
      case 'containerd.spawn':
      case 'containerd.waitReady':
      case 'containerd.waitExit':
      case 'containerd.terminate':
        throw new SimFailure(
          'ENOTSUP',
          `${req.effect}: the simulated host runs containerd as one effect (containerd.startSupervised)`,
        );
      default:
        return assertNever(req, 'containerd request');
    }
  }

  /** A task goes, and with it its process and its root's mount. */
  private deleteTask(id: string): void {
    const t = this.tasks.get(id);
    if (!t) return;
    this.tasks.delete(id);
    this.execs.forgetContainer(id);
    this.processes.kill(t.pid);
    this.rootfs.mounted.delete(id);
  }
}

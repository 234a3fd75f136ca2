import { execOwner } from '../../machines/exec/ids.ts';
import { assertNever } from '../errors.ts';
import { SimFailure } from '../sim/failure.ts';
import type { RaisedEvent } from './sim.ts';
import type { ContainerdResults, ExecRequest } from './requests.ts';

/** How a simulated exec process behaves (the simulator and its tests choose). */
export interface ExecBehaviour {
  /** It exits on its own this long after its start (null: runs until killed). */
  exitAfterMs: number | null;
  exitCode: number;
  /** What it writes (a health probe's output). */
  output?: string;
  /** runc cannot start it: the message containerd returns (a command not found). */
  startError?: string;
}

/** What the exec processes need of the simulated containerd that owns them. */
export interface ExecWorld {
  /** The container's task status, or null when containerd has no task. */
  taskStatus(container: string): 'created' | 'running' | 'paused' | 'stopped' | null;
  newPid(): number;
  /** A containerd event for an actor at a virtual time. */
  raise(e: RaisedEvent): void;
  /** Which life of the daemon this is (exec processes of an earlier one are orphans). */
  life(): number;
  iso(ms: number): string;
}

interface SimExecProcess {
  container: string;
  exec: string;
  status: 'created' | 'running' | 'stopped';
  pid: number;
  exitStatus: number;
  exitedAtMs: number | null;
  exitScheduled: boolean;
  output: string;
  /** The daemon's life that made it. */
  life: number;
}

/**
 * The simulated containerd's exec processes, behaving as the real shim does for the
 * `containerd.exec*` effects: an exec exists once Tasks.Exec made it, runs once started,
 * reports its exit to its owner, and dies with its task (SIGKILL of the PID namespace).
 */
export class SimExecs {
  private readonly world: ExecWorld;
  readonly procs = new Map<string, SimExecProcess>();
  /** By exec id: how each process behaves (default: runs until killed). */
  readonly behaviours = new Map<string, ExecBehaviour>();
  /** By container: its health probes' outcomes, taken in order (the last one repeats). */
  readonly probes = new Map<string, ExecBehaviour[]>();
  private readonly probeCount = new Map<string, number>();

  constructor(world: ExecWorld) {
    this.world = world;
  }

  private key(container: string, exec: string): string {
    return `${container}/${exec}`;
  }

  private behaviourOf(container: string, exec: string): ExecBehaviour {
    if (exec.startsWith('health-')) {
      const list = this.probes.get(container) ?? [];
      const n = this.probeCount.get(container) ?? 0;
      this.probeCount.set(container, n + 1);
      return list[Math.min(n, list.length - 1)] ?? { exitAfterMs: 1, exitCode: 0 };
    }
    return this.behaviours.get(exec) ?? { exitAfterMs: null, exitCode: 0 };
  }

  /** Whether a process's exit is due by `nowMs`. */
  private settle(p: SimExecProcess, nowMs: number): void {
    if (p.status === 'running' && p.exitScheduled && (p.exitedAtMs ?? 0) <= nowMs)
      p.status = 'stopped';
  }

  private exit(p: SimExecProcess, atMs: number, status: number): void {
    // A signal ends it sooner than the exit it was going to make: that one never comes.
    if (p.status === 'stopped' || (p.exitScheduled && (p.exitedAtMs ?? 0) <= atMs)) return;
    p.exitScheduled = true;
    p.exitStatus = status;
    p.exitedAtMs = atMs;
    this.world.raise({
      atMs,
      actorId: execOwner(p.container, p.exec),
      event: {
        type: 'containerd.execExit',
        exec: p.exec,
        exitStatus: status,
        exitedAt: this.world.iso(atMs),
      },
      // A kill brought it forward: the later exit never comes.
      due: () => this.procs.get(this.key(p.container, p.exec)) === p && p.exitedAtMs === atMs,
    });
  }

  private proc(container: string, exec: string): SimExecProcess {
    const p = this.procs.get(this.key(container, exec));
    if (!p)
      throw new SimFailure(
        'ENOENT',
        `process ${exec} of container ${container} not found: not found`,
      );
    return p;
  }

  run(call: ExecRequest, nowMs: number): unknown {
    switch (call.effect) {
      case 'containerd.execCreate': {
        const status = this.world.taskStatus(call.container);
        if (status === null)
          throw new SimFailure(
            'ENOENT',
            `no running task found: task ${call.container} not found: not found`,
          );
        if (status !== 'running')
          throw new SimFailure('EBUSY', `cannot exec in a ${status} state: unknown`);
        const key = this.key(call.container, call.exec);
        if (this.procs.has(key)) throw new SimFailure('EEXIST', `id ${call.exec}: already exists`);
        this.procs.set(key, {
          container: call.container,
          exec: call.exec,
          status: 'created',
          pid: 0,
          exitStatus: 0,
          exitedAtMs: null,
          exitScheduled: false,
          output: '',
          life: this.world.life(),
        });
        return {} satisfies ContainerdResults['containerd.execCreate'];
      }
      case 'containerd.execStart': {
        const p = this.proc(call.container, call.exec);
        const b = this.behaviourOf(call.container, call.exec);
        // containerd passes runc's failure on as gRPC Unknown (the real handler's EIO).
        if (b.startError !== undefined) throw new SimFailure('EIO', b.startError);
        if (this.world.taskStatus(call.container) !== 'running')
          throw new SimFailure('EBUSY', 'cannot start an exec in a task that is not running');
        p.status = 'running';
        p.pid = this.world.newPid();
        p.output = (b.output ?? '').slice(0, 4096);
        if (b.exitAfterMs !== null) this.exit(p, nowMs + b.exitAfterMs, b.exitCode);
        return {
          pid: p.pid,
          at: this.world.iso(nowMs),
        } satisfies ContainerdResults['containerd.execStart'];
      }
      case 'containerd.execKill': {
        const p = this.proc(call.container, call.exec);
        this.settle(p, nowMs);
        if (p.status === 'running') this.exit(p, nowMs + 1, 128 + call.signal);
        return {} satisfies ContainerdResults['containerd.execKill'];
      }
      case 'containerd.execDelete': {
        const p = this.proc(call.container, call.exec);
        this.settle(p, nowMs);
        if (p.status === 'running')
          throw new SimFailure('EBUSY', 'cannot delete a running process: unknown');
        this.procs.delete(this.key(call.container, call.exec));
        return {
          // A process that never ran: containerd reports 0 (a task's init reports 255).
          exitStatus: p.exitStatus,
          exitedAt: this.world.iso(p.exitedAtMs ?? nowMs),
          output: p.output,
        } satisfies ContainerdResults['containerd.execDelete'];
      }
      case 'containerd.execResize': {
        if (this.world.taskStatus(call.container) === null)
          throw new SimFailure(
            'ENOENT',
            `no running task found: task ${call.container} not found: not found`,
          );
        if (call.exec !== null) {
          const p = this.proc(call.container, call.exec);
          this.settle(p, nowMs);
          if (p.status !== 'running')
            throw new SimFailure('ENOENT', `process ${call.exec} is not running: not found`);
        }
        return {} satisfies ContainerdResults['containerd.execResize'];
      }
      case 'containerd.execList': {
        if (this.world.taskStatus(call.container) === null)
          throw new SimFailure(
            'ENOENT',
            `no running task found: task ${call.container} not found: not found`,
          );
        const execs: ContainerdResults['containerd.execList']['execs'] = [];
        for (const p of this.procs.values()) {
          this.settle(p, nowMs);
          // containerd lists the task's live processes (ListPids).
          if (p.container === call.container && p.status === 'running')
            execs.push({ id: p.exec, earlierLife: p.life < this.world.life() });
        }
        return {
          execs: execs.sort((a, b) => (a.id < b.id ? -1 : 1)),
        } satisfies ContainerdResults['containerd.execList'];
      }
      case 'containerd.execReap': {
        const p = this.proc(call.container, call.exec);
        if (this.world.taskStatus(call.container) === 'paused')
          throw new SimFailure(
            'EBUSY',
            `task ${call.container} is paused: its processes cannot exit`,
          );
        this.settle(p, nowMs);
        this.procs.delete(this.key(call.container, call.exec));
        return {
          exitStatus: p.status === 'running' ? 137 : p.exitStatus,
        } satisfies ContainerdResults['containerd.execReap'];
      }
      case 'containerd.updateTask': {
        const status = this.world.taskStatus(call.container);
        if (status === null || status === 'stopped')
          throw new SimFailure(
            'ENOENT',
            `no running task found: task ${call.container} not found: not found`,
          );
        return {} satisfies ContainerdResults['containerd.updateTask'];
      }
      default:
        return assertNever(call, 'exec request');
    }
  }

  /** The container's task ended at `atMs`: its processes die with its PID namespace. */
  containerExited(container: string, atMs: number): void {
    for (const p of this.procs.values())
      if (p.container === container && p.status !== 'stopped') {
        if (p.status === 'created') p.status = 'stopped';
        else this.exit(p, atMs, 137);
      }
  }

  /** The task was deleted: containerd forgets its processes. */
  forgetContainer(container: string): void {
    for (const [k, p] of this.procs) if (p.container === container) this.procs.delete(k);
  }

  /** Exits scheduled but not yet heard, to raise again for the next daemon (it subscribes anew). */
  pendingExits(): RaisedEvent[] {
    const out: RaisedEvent[] = [];
    for (const p of this.procs.values()) {
      const atMs = p.exitedAtMs;
      if (!p.exitScheduled || p.status === 'stopped' || atMs === null) continue;
      out.push({
        atMs,
        actorId: execOwner(p.container, p.exec),
        event: {
          type: 'containerd.execExit',
          exec: p.exec,
          exitStatus: p.exitStatus,
          exitedAt: this.world.iso(atMs),
        },
        due: () => this.procs.get(this.key(p.container, p.exec)) === p && p.exitedAtMs === atMs,
      });
    }
    return out;
  }

  /** The host lost power: no process is left. */
  reboot(): void {
    this.procs.clear();
  }

  /** Running exec processes, with whether an earlier life of the daemon made them. */
  view(nowMs: number): { container: string; exec: string; earlierLife: boolean }[] {
    const out: { container: string; exec: string; earlierLife: boolean }[] = [];
    for (const p of this.procs.values()) {
      this.settle(p, nowMs);
      if (p.status === 'running')
        out.push({ container: p.container, exec: p.exec, earlierLife: p.life < this.world.life() });
    }
    return out;
  }
}

/** containerd effects: the supervised daemon, the client connection, and what restore asks it. */
export type ContainerdRequest =
  /** Starts a private containerd under the daemon's roots and waits until it answers. */
  | { effect: 'containerd.startSupervised'; execRoot: string; dataRoot: string; binary: string }
  | { effect: 'containerd.stopSupervised'; pid: number; timeoutMs: number }
  | { effect: 'containerd.connect'; address: string; namespace: string; timeoutMs: number }
  | { effect: 'containerd.close' }
  | { effect: 'containerd.listTasks' }
  /** The supervisor's own steps: write the config and start the process (not waiting for it). */
  | { effect: 'containerd.spawn'; execRoot: string; dataRoot: string; binary: string }
  /** Polls the socket until containerd answers Version, or fails when the process exits or the time is up. */
  | { effect: 'containerd.waitReady'; pid: number; address: string; timeoutMs: number }
  /** Resolves when the process exits (a long-running effect: the supervisor's watch). */
  | { effect: 'containerd.waitExit'; pid: number }
  /** SIGTERM, then SIGKILL after the timeout; removes the pid file and socket. */
  | { effect: 'containerd.terminate'; pid: number; timeoutMs: number }
  /** A container's task: containerd container + task with the OCI spec and stdio (not started). */
  | {
      effect: 'containerd.createTask';
      container: string;
      spec: unknown;
      stdin?: boolean;
      terminal?: boolean;
    }
  | { effect: 'containerd.startTask'; container: string }
  | { effect: 'containerd.killTask'; container: string; signal: number; all: boolean }
  | { effect: 'containerd.pauseTask'; container: string }
  | { effect: 'containerd.resumeTask'; container: string }
  /** Deletes the task (after its exit) and returns its exit status; 255 when the task is gone. */
  | { effect: 'containerd.deleteTask'; container: string }
  | { effect: 'containerd.deleteContainer'; container: string }
  /** A task that outlived the daemon (live-restore): its stdio FIFOs are opened again. */
  | { effect: 'containerd.attachIo'; container: string; stdin: boolean; terminal: boolean }
  /** containerd's containers in the daemon's namespace (the records tasks run from). */
  | { effect: 'containerd.listContainers' }
  /**
   * Shims of the daemon's containerd and namespace whose container has no task: a create the
   * dead daemon's connection was carrying, cancelled, leaves its shim running for good
   * (containerd 1.6). They and their children are killed.
   */
  | { effect: 'containerd.reapOrphanShims' }
  /**
   * A task and container of a container the daemon does not know (a create the dead daemon
   * had sent, finished after the container was gone): killed, deleted with its container.
   */
  | { effect: 'containerd.reapTask'; container: string }
  | ExecRequest;

/**
 * A process of a running task other than its init (`docker exec`, health probes), and the
 * task's terminal and resources: the `containerd.exec*` effects. `stdio`: `attach` reads the
 * FIFOs for clients the daemon attaches; `capture` keeps the first 4 KiB of output (a health
 * probe's, returned by `execDelete`); `discard` drains it (`exec -d`).
 */
export type ExecRequest =
  | {
      effect: 'containerd.execCreate';
      container: string;
      exec: string;
      /** The OCI process (args, env, cwd, user, capabilities, terminal). */
      process: unknown;
      stdin: boolean;
      terminal: boolean;
      stdio: 'attach' | 'capture' | 'discard';
    }
  | { effect: 'containerd.execStart'; container: string; exec: string }
  | { effect: 'containerd.execKill'; container: string; exec: string; signal: number }
  /** Deletes an exited (or never started) exec once its output drained; its exit status and captured output. */
  | { effect: 'containerd.execDelete'; container: string; exec: string }
  /** The terminal of the task's init (`exec` null) or of an exec. */
  | {
      effect: 'containerd.execResize';
      container: string;
      exec: string | null;
      width: number;
      height: number;
    }
  /**
   * The exec processes containerd has in a task, each with whether it began before this daemon
   * process did (a dead daemon's: restore's sweep reaps them; the restore check looks for them).
   */
  | { effect: 'containerd.execList'; container: string }
  /** An exec process nobody owns (left by a dead daemon): SIGKILL, wait, delete. */
  | { effect: 'containerd.execReap'; container: string; exec: string }
  /** New resource limits on the live task's cgroup (Tasks.Update: `docker update`). */
  | { effect: 'containerd.updateTask'; container: string; resources: unknown };

export type ExecEffect = ExecRequest['effect'];

const execEffects: ReadonlySet<string> = new Set<ExecEffect>([
  'containerd.execCreate',
  'containerd.execStart',
  'containerd.execKill',
  'containerd.execDelete',
  'containerd.execResize',
  'containerd.execList',
  'containerd.execReap',
  'containerd.updateTask',
]);

/** Whether a containerd request is one of the exec family's (routed to their own handlers). */
export function isExecRequest(req: { effect: string }): req is ExecRequest {
  return execEffects.has(req.effect);
}

export interface ContainerdTaskFact {
  id: string;
  pid: number;
  status: 'unknown' | 'created' | 'running' | 'stopped' | 'paused' | 'pausing';
  exitStatus: number;
}

export interface ContainerdResults {
  'containerd.startSupervised': { pid: number; address: string };
  'containerd.stopSupervised': { signal: 'SIGTERM' | 'SIGKILL' | 'none' };
  'containerd.connect': { version: string; revision: string };
  'containerd.close': Record<string, never>;
  'containerd.listTasks': { tasks: ContainerdTaskFact[] };
  'containerd.spawn': { pid: number; address: string };
  'containerd.waitReady': Record<string, never>;
  'containerd.waitExit': { code: number | null; signal: string | null };
  'containerd.terminate': { signal: 'SIGTERM' | 'SIGKILL' | 'none' };
  'containerd.createTask': { pid: number };
  /** `at`: when it started, RFC 3339 (the handler's clock: real, or the simulator's virtual one). */
  'containerd.startTask': { pid: number; at: string };
  /** `gone`: the process had already ended (containerd: not found), so no exit will come of this kill. */
  'containerd.killTask': { gone: boolean };
  'containerd.pauseTask': Record<string, never>;
  'containerd.resumeTask': Record<string, never>;
  'containerd.deleteTask': { exitStatus: number; exitedAt: string };
  'containerd.deleteContainer': Record<string, never>;
  'containerd.attachIo': { attached: boolean };
  'containerd.listContainers': { containers: string[] };
  'containerd.reapOrphanShims': { reaped: string[] };
  'containerd.reapTask': { reaped: boolean };
  'containerd.execCreate': Record<string, never>;
  'containerd.execStart': { pid: number; at: string };
  'containerd.execKill': Record<string, never>;
  /** `output`: what a `capture` exec wrote (stdout and stderr interleaved, at most 4 KiB). */
  'containerd.execDelete': { exitStatus: number; exitedAt: string; output: string };
  'containerd.execResize': Record<string, never>;
  'containerd.execList': { execs: { id: string; earlierLife: boolean }[] };
  'containerd.execReap': { exitStatus: number };
  'containerd.updateTask': Record<string, never>;
}

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
  | { effect: 'containerd.reapOrphanShims' };

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
  'containerd.waitReady': { version: string };
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
}

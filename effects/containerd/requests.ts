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
  | { effect: 'containerd.terminate'; pid: number; timeoutMs: number };

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
}

/** containerd effects: the supervised daemon, the client connection, and what restore asks it. */
export type ContainerdRequest =
  /** Starts a private containerd under the daemon's roots and waits until it answers. */
  | { effect: 'containerd.startSupervised'; execRoot: string; dataRoot: string; binary: string }
  | { effect: 'containerd.stopSupervised'; pid: number; timeoutMs: number }
  | { effect: 'containerd.connect'; address: string; namespace: string; timeoutMs: number }
  | { effect: 'containerd.close' }
  | { effect: 'containerd.listTasks' };

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
}

import type { EffectError } from '../../effects/errors.ts';
import type { RestartPolicy } from './restart.ts';
import type { SandboxSpec } from '../../effects/net/requests.ts';
import type { ContainerNetConfig } from '../network/model.ts';

/** Docker's status strings (container/state.go StateString). */
export type ContainerStatus =
  'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** What is persisted per container (the level store's `container/<id>`): config and state, like config.v2.json. */
export interface ContainerRecord {
  id: string;
  name: string;
  image: string;
  created: string;
  config: {
    cmd: string[];
    stopSignal: string;
    stopTimeout: number;
    restartPolicy: RestartPolicy;
    autoRemove: boolean;
    labels: Record<string, string>;
    /** `-t`: a terminal (raw output, stderr merged); `-i`: stdin kept open (closed at the client's EOF when StdinOnce). */
    tty?: boolean;
    openStdin?: boolean;
    stdinOnce?: boolean;
    /** What else the create request asked for, kept for inspect, ps and removal (the machine does not read them). */
    imageId?: string;
    env?: string[];
    workingDir?: string;
    user?: string;
    hostname?: string;
    entrypoint?: string[] | null;
    networkMode?: string;
    binds?: string[] | null;
    memory?: number;
    cpuShares?: number;
    pidsLimit?: number;
    /** Docker's MountPoints: binds and volumes (anonymous ones go with the container on `rm -v` and `--rm`). */
    mounts?: MountPoint[];
    /** Its networking (network mode, published ports, DNS, hosts): what its sandbox is built from. */
    network?: ContainerNetConfig;
  };
  state: {
    status: ContainerStatus;
    pid: number;
    exitCode: number;
    error: string;
    startedAt: string | null;
    finishedAt: string | null;
    oomKilled: boolean;
  };
  restartCount: number;
  hasBeenStartedBefore: boolean;
  hasBeenManuallyStopped: boolean;
}

/** One mount of a container, as Docker's MountPoint (inspect's and ps's `Mounts`). */
export interface MountPoint {
  type: 'bind' | 'volume';
  /** The volume's name ('' for a bind). */
  name: string;
  source: string;
  destination: string;
  rw: boolean;
  /** A volume made for this container (`-v /path`, no name given). */
  anonymous?: boolean;
}

/** How an API request ended; the API layer maps it to an HTTP status (204/304/409/…). */
export type ReplyResult = 'ok' | 'notModified' | 'conflict' | 'invalid' | 'notFound' | 'failed';

export interface ContainerInput {
  actorId?: string;
  record: ContainerRecord;
  /** A new container (create) or one restore found; with what containerd says of its task. */
  origin: 'create' | 'restore';
  task?: 'running' | 'paused' | 'stopped' | 'none';
  liveRestore?: boolean;
  /** The OCI spec and stdio the daemon built for it (JSON). */
  spec: unknown;
  stdout: string;
  stderr: string;
  /** The request that created it (answered once the record is persisted). */
  req?: string;
}

export type ContainerEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError }
  | { type: 'api.start'; req: string }
  /** `shutdown`: the daemon's own stop at shutdown, which (as dockerd's IsShuttingDown) is no manual stop: policies restart it with the daemon. */
  | { type: 'api.stop'; req: string; timeoutS?: number; shutdown?: boolean }
  | { type: 'api.restart'; req: string; timeoutS?: number }
  | { type: 'api.kill'; req: string; signal: string }
  | { type: 'api.pause'; req: string }
  | { type: 'api.unpause'; req: string }
  | { type: 'api.rename'; req: string; name: string }
  | { type: 'api.remove'; req: string; force: boolean }
  | { type: 'daemon.shutdown' }
  | { type: 'containerd.taskExit'; exitStatus: number; exitedAt: string }
  | { type: 'containerd.oom' }
  /** After restore, containerd has a task the actor believed gone (a create or start the dead daemon had sent, finished late). */
  | { type: 'containerd.taskFound'; status: string };

/** A container actor's context. */
export interface ContainerContext {
  actorId: string;
  record: ContainerRecord;
  spec: unknown;
  stdout: string;
  stderr: string;
  liveRestore: boolean;
  task: 'running' | 'paused' | 'stopped' | 'none';
  seq: number;
  /** The effect this state waits for, and the stop timer. */
  pending: string | null;
  /** The store write in flight (a failed one turns the reply into an error; the transition goes on). */
  writing: string | null;
  timer: string | null;
  /** Requests to answer when the current transition is acknowledged. */
  createReq: string | null;
  startReq: string | null;
  stopReq: string | null;
  restartReq: string | null;
  removeReq: string | null;
  stopSignal: number;
  stopTimeoutS: number;
  backoffMs: number;
  /** An exit seen before start was acknowledged (a process that dies at once). */
  earlyExit: { exitStatus: number; exitedAt: string } | null;
  shuttingDown: boolean;
  lastError: EffectError | null;
  /** Requests and exits that arrived mid-transition, replayed in order once the container is settled (dockerd's container lock). */
  deferred: ContainerEvent[];
  renamePending: string | null;
  renameReq: string | null;
  oldName: string | null;
  /** The network sandbox of the current start (machines/network): joined by the task's spec. */
  sandbox: SandboxSpec | null;
  /** Why the start failed, kept while its sandbox is released. */
  startError: EffectError | null;
  /** The task's deletion result, kept while its sandbox is released. */
  taskDeleted: { exitStatus: number; exitedAt: string } | { failed: true } | null;
}

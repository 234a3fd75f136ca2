import type { EffectError } from '../../effects/errors.ts';
import type { RestartPolicy } from './restart.ts';
import type { SandboxSpec } from '../../effects/net/requests.ts';
import type { ContainerNetConfig } from '../network/model.ts';
import type { HealthConfig } from '../health/config.ts';

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
    cpuQuota?: number;
    cpuPeriod?: number;
    /** The HEALTHCHECK in force (the create request's over the image's); absent or NONE: none. */
    healthcheck?: HealthConfig | null;
    /** Docker's MountPoints: binds and volumes (anonymous ones go with the container on `rm -v` and `--rm`). */
    mounts?: MountPoint[];
    /** Its networking (network mode, published ports, DNS, hosts): what its sandbox is built from. */
    network?: ContainerNetConfig;
    /** Docker's HostConfig as inspect shows it: the request's, with dockerd's defaults filled in at create. */
    hostConfig?: Record<string, unknown>;
    /** Config fields kept only for inspect, as the request gave them (StopSignal/StopTimeout are omitted when not given). */
    inspectConfig?: {
      domainname: string;
      attachStdin: boolean;
      attachStdout: boolean;
      attachStderr: boolean;
      onBuild: string[] | null;
      shell: string[] | null;
      stopSignal: string;
      stopTimeout: number | null;
    };
    /** The log driver (HostConfig.LogConfig): json-file rotated at maxSize bytes over maxFile files, local, or none. */
    log?:
      | { driver: 'json-file'; maxSize: number | null; maxFile: number }
      | { driver: 'local'; maxSize: number; maxFile: number; compress: boolean }
      | { driver: 'none' };
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
  type: 'bind' | 'volume' | 'tmpfs';
  /** The volume's name ('' for a bind). */
  name: string;
  source: string;
  destination: string;
  rw: boolean;
  /** A volume made for this container (`-v /path`, no name given). */
  anonymous?: boolean;
  /** A bind's propagation (rprivate unless asked), and `bind` instead of `rbind` (BindOptions.NonRecursive). */
  propagation?: string;
  nonRecursive?: boolean;
  /** The `-v` mode as given (`ro,rshared` …), inspect's Mode. */
  mode?: string;
  /** A `--mount type=tmpfs`'s mount data (`size=1m,mode=700`). */
  tmpfsData?: string;
}

/** How an API request ended; the API layer maps it to an HTTP status (204/304/409/…). */
export type ReplyResult = 'ok' | 'notModified' | 'conflict' | 'invalid' | 'notFound' | 'failed';

/** How a new container's root filesystem is made: the driver, and the image's layers, topmost first. */
export interface RootfsPlan {
  driver: 'overlay2' | 'vfs';
  layers: string[];
}

export interface ContainerInput {
  actorId?: string;
  record: ContainerRecord;
  /** A new container (create) or one restore found; with what containerd says of its task. */
  origin: 'create' | 'restore';
  /** The container's directory (its logs; removed with it). */
  dir: string;
  /** The OCI spec the daemon built for it (JSON). */
  spec: unknown;
  /** create: how its root is made, and the request that created it (answered once it is persisted). */
  rootfs?: RootfsPlan;
  req?: string;
  /** restore: containerd's word on its task, whether live-restore keeps it, whether its root is mounted. */
  task?: TaskState;
  liveRestore?: boolean;
  rootMounted?: boolean;
}

/** What the container machine knows of its task in containerd. */
export type TaskState = 'running' | 'paused' | 'stopped' | 'none';

export type ContainerEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError }
  | { type: 'api.start'; req: string }
  | { type: 'api.stop'; req: string; timeoutS?: number }
  | { type: 'api.restart'; req: string; timeoutS?: number }
  | { type: 'api.kill'; req: string; signal: string }
  | { type: 'api.pause'; req: string }
  | { type: 'api.unpause'; req: string }
  | { type: 'api.rename'; req: string; name: string }
  | { type: 'api.remove'; req: string; force: boolean }
  /** `docker update`: new limits (applied to the live task's cgroup first) and restart policy, persisted. */
  | { type: 'api.update'; req: string; update: ContainerUpdate }
  /**
   * The daemon shuts down: `stop` it (its stop signal, then SIGKILL after its timeout; as
   * dockerd's IsShuttingDown, no manual stop, so policies restart it with the daemon), or
   * leave it running (live-restore); either way `container.settled` goes to `from` once the
   * container is settled.
   */
  | { type: 'daemon.shutdown'; from: string; stop: boolean }
  /**
   * The task's process exited. `pid` is the process's (absent in traces recorded before it was
   * carried): an exit whose pid is not the running task's is of another life.
   */
  | { type: 'containerd.taskExit'; pid?: number; exitStatus: number; exitedAt: string }
  | { type: 'containerd.oom' }
  /**
   * Restore's second look: containerd has a task of this container (a create or start the dead
   * daemon had sent, finished late). A container that believed it had none stops or deletes
   * it; `container.settled` goes to `from` once settled.
   */
  | { type: 'containerd.taskFound'; status: string; from: string };

/** What a container tells the actor that asked it to settle. */
export type ContainerSettled = {
  type: 'container.settled';
  container: string;
  status: ContainerStatus | 'removed';
  exitCode: number;
};

/** The container machine's marks: replies to API requests, and Docker's events. */
export type ContainerMark =
  | { mark: 'reply'; req: string; result: ReplyResult; message?: string }
  | { mark: 'event'; action: string; id: string; attributes: Record<string, string> }
  | { mark: 'warning'; step: string; message: string };

/** What `docker update` changes: the record's fields, and the OCI resources for the task and the spec. */
export interface ContainerUpdate {
  config: Partial<
    Pick<
      ContainerRecord['config'],
      'memory' | 'cpuShares' | 'cpuQuota' | 'cpuPeriod' | 'pidsLimit' | 'restartPolicy'
    >
  >;
  /** The same fields by HostConfig's names, as inspect shows them (merged into the record's HostConfig). */
  hostConfig: Record<string, unknown>;
  /** OCI LinuxResources (memory, cpu, pids), or null when only the restart policy changes. */
  resources: Record<string, unknown> | null;
}

/** A container actor's context. */
export interface ContainerContext {
  actorId: string;
  record: ContainerRecord;
  spec: unknown;
  dir: string;
  rootfs: RootfsPlan | null;
  liveRestore: boolean;
  task: TaskState;
  /** restore: a root mounted for a start the dead daemon never finished, unmounted first. */
  rootMounted: boolean;
  /** restore: the live task's stdio was reattached. */
  ioAttached: boolean;
  seq: number;
  /** The effect this state waits for. */
  pending: string | null;
  /** The create's preparations still in flight (its directory, root filesystem and spec). */
  preparing: string[];
  /** The store write in flight (a failed one turns the reply into an error; the transition goes on). */
  writing: string | null;
  /** The stop timer. */
  timer: string | null;
  /** Requests to answer when the current transition is acknowledged. */
  createReq: string | null;
  startReq: string | null;
  /** A pause or unpause in flight. */
  pauseReq: string | null;
  stopReq: string | null;
  restartReq: string | null;
  removeReq: string | null;
  /** A SIGKILL by `docker kill`: answered once the exit is recorded, as dockerd's Kill waits. */
  killReq: string | null;
  /** That SIGKILL's request to containerd (its failure fails the kill). */
  killPending: string | null;
  /**
   * Other signals by `docker kill`, each answered once containerd has delivered it (dockerd's
   * killWithSignal returns containerd's answer), with its request to containerd.
   */
  signals: { req: string; kill: string }[];
  stopSignal: number;
  stopTimeoutS: number;
  backoffMs: number;
  /** An exit seen before start was acknowledged (a process that dies at once). */
  earlyExit: { pid: number; exitStatus: number; exitedAt: string } | null;
  /** The exit the task's deletion reported, until it is recorded. */
  lastExit: { exitStatus: number; exitedAt: string } | null;
  shuttingDown: boolean;
  /** Actors to tell `container.settled` once this container is settled. */
  settleTo: string[];
  lastError: EffectError | null;
  /** Requests and exits that arrived mid-transition, replayed in order once the container is settled (dockerd's container lock). */
  deferred: ContainerEvent[];
  renamePending: string | null;
  renameReq: string | null;
  oldName: string | null;
  /** How often this removal has tried again what containerd refused (bounded; after a pause each). */
  removalRetries: number;
  /**
   * containerd holds no container of this ID: none was made since this actor created it, or
   * the last exit deleted it (or found it gone). A removal then asks containerd nothing, as
   * dockerd's does; a restored actor does not know, and asks.
   */
  containerdEmpty: boolean;
  /** Restored, and not settled yet: an exit found now follows dockerd's restore restart list. */
  restoring: boolean;
  /** The network sandbox of the current start (machines/network): joined by the task's spec. */
  sandbox: SandboxSpec | null;
  /** Why the start failed, kept while its sandbox is released. */
  startError: EffectError | null;
  /** A `docker update` in flight (applied to the task, then persisted). */
  updateReq: string | null;
  update: ContainerUpdate | null;
}

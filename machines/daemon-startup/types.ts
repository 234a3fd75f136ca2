import type { Output as OutletOutput } from '../outlet.ts';
import type { ContainerRecord, TaskState } from '../container/types.ts';
import type { ApiConnectionsCut } from '../../effects/api/requests.ts';
import type { EffectError } from '../../effects/errors.ts';
import type { EffectRequest } from '../../effects/requests.ts';
import type { AddressPool } from '../network/ipam.ts';
import type { NetworkFacts } from '../network/start.ts';

/**
 * The daemon configuration the start-up machine reads: flags and daemon.json merged
 * (src/daemon/config.ts builds it). Plain JSON: it is the machine's input and the
 * first thing a trace records.
 */
export interface StartupConfig {
  dataRoot: string;
  execRoot: string;
  hosts: string[];
  pidfile: string;
  containerdAddress: string | null;
  containerdNamespace: string;
  storageDriver: string | null;
  bridge: string | null;
  bip: string | null;
  fixedCidr: string | null;
  defaultGateway: string | null;
  icc: boolean;
  iptables: boolean;
  ipForward: boolean;
  ipMasq: boolean;
  userlandProxy: boolean;
  /** `--ip`: the default host address of published ports. */
  ip: string;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  defaultAddressPools: AddressPool[];
  mtu: number;
  usernsRemap: string | null;
  liveRestore: boolean;
  oomScoreAdjust: number;
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  /** Download attempts per layer (dockerd's max-download-attempts, 5). */
  maxDownloadAttempts?: number;
  /** Docker Hub mirrors (validated, with their trailing slash). */
  registryMirrors?: string[];
  /** Insecure registries: `host[:port]` or CIDRs (127.0.0.0/8 is always one). */
  insecureRegistries?: string[];
  seccompProfile: string | null;
  shutdownTimeout: number;
  env: { DOCKER_DRIVER?: string; DOCKER_TMPDIR?: string };
}

/** A uid or gid range of a user-namespace mapping (container id → host id). */
export interface IdRange {
  containerId: number;
  hostId: number;
  size: number;
}

/** A container that restore found, as the daemon will hand it to its actor. */
export interface RestoredContainer {
  id: string;
  /** The record as the store had it, and its spec. */
  record: ContainerRecord;
  spec: unknown;
  /** What containerd said of its task. */
  task: TaskState;
  /** Its root is mounted (a start the dead daemon never finished, or a live task's). */
  rootMounted: boolean;
}

/** What start-up learned, step by step. Each key is written by exactly one step. */
export interface Facts {
  mtu?: number;
  disableBridge?: boolean;
  kernel?: { sysname: string; release: string; machine: string; euid: number };
  uidMaps?: IdRange[];
  gidMaps?: IdRange[];
  remappedRoot?: string | null;
  rootUid: number;
  rootGid: number;
  /** The effective data root (`<root>/<uid>.<gid>` under user-namespace remapping). */
  root?: string;
  pid?: number;
  tmpDir?: string;
  /** The --seccomp-profile's JSON, as read: every container's filter is made from it instead of Docker's default. */
  seccompProfile?: string;
  maxThreads?: number;
  appArmor?: boolean;
  graphDriverName?: string | null;
  graphDriver?: string;
  keyId?: string;
  daemonId?: string;
  maxConcurrentDownloads?: number;
  maxConcurrentUploads?: number;
  cgroupVersion?: 1 | 2;
  containerdAddress?: string;
  containerdPid?: number;
  containerdVersion?: string;
  containers?: RestoredContainer[];
  /** The network controller's start: networks, kept sandboxes and endpoints, host facts. */
  network?: NetworkFacts;
  systemInfo?: {
    ncpu: number;
    memTotal: number;
    hostname: string;
    operatingSystem: string;
    runcVersion: string | null;
  };
}

/**
 * Something start-up holds that must be given back: on failure (newest first) and at
 * normal shutdown. The release is data: the effects that undo it, in order.
 */
export interface Acquisition {
  /** Unique within a daemon run, e.g. `pidfile`, `dirs:containersDir`. */
  resource: string;
  step: string;
  release: EffectRequest[];
  /** Under live-restore with running containers, normal shutdown leaves it in place (dockerd's early return). */
  keptUnderLiveRestore?: boolean;
  /**
   * Undone only when start-up fails (what a failed first start created: directories, the
   * key, the database). A daemon that started keeps its data at shutdown.
   */
  rollbackOnly?: boolean;
}

/** Why start-up failed: the step, and either the effect's error or a failed check. */
export interface StartupFailure {
  step: string;
  kind: 'effect' | 'check';
  message: string;
  error?: EffectError;
  effect?: string;
}

/** What happened to one acquisition during a release. */
export interface ReleaseRecord {
  resource: string;
  ok: boolean;
  error?: EffectError;
  skipped?: boolean;
}

/**
 * Marks are the machine's own account of what it did, recorded in the trace beside
 * events, transitions and effects; the ordering constraints are checked on them.
 */
export type Mark =
  | { mark: 'step.start'; step: string }
  | { mark: 'step.done'; step: string }
  /** The step waits for another to finish before its next op (an `await` op whose condition held, or a `defer` op). */
  | { mark: 'step.waits'; step: string; on: string }
  /** A step deferred until another (a `defer` op) goes on now: a step awaits it. */
  | { mark: 'step.demanded'; step: string; by: string }
  | { mark: 'step.failed'; step: string; message: string }
  | { mark: 'warning'; step: string; message: string }
  | { mark: 'resource.acquired'; resource: string; step: string; rollbackOnly?: boolean }
  | { mark: 'resource.released'; resource: string }
  | { mark: 'release.failed'; resource: string; message: string }
  | { mark: 'release.skipped'; resource: string; reason: string }
  | { mark: 'startup.failed'; step: string; message: string }
  | { mark: 'containers.leftRunning'; ids: string[] }
  | { mark: 'container.stopFailed'; id: string; message: string }
  | { mark: 'shutdown.forced'; afterS: number }
  /** Closing the API: the client connections it cut (hijacked and streams at once, the rest after a grace period). */
  | ({ mark: 'api.connectionsCut' } & ApiConnectionsCut)
  /** The restore check (machines/restore-check): one mark per broken invariant, then the tally. */
  | { mark: 'invariant.violated'; invariant: string; container: string; message: string }
  | { mark: 'invariants.checked'; held: number; broken: number };

/** The output of the machine's pure step function: in order, marks to record and effects to ask for. */
export type Output = OutletOutput<Mark>;

export type StartupEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

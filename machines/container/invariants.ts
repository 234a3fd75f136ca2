import type { ContainerRecord, ContainerStatus } from './types.ts';

/**
 * What must be true of the host once `restore` has ended and the restored containers have
 * settled, as data: checked after every simulated crash and restart (`statedock explore
 * --crash`), and by the real SIGKILL campaign against containerd's own view and /proc/mounts.
 * Each one is an ordering bug of dockerd's made impossible (the moby issues name them).
 */
export type Invariant =
  /** No container is left `dead` or `removing` (moby 22312, 22423, 51692). */
  | { kind: 'noDeadOrRemoving'; why: string }
  /** A container reported running or paused has a live task in that state (moby 25157, 30095). */
  | { kind: 'runningHasLiveTask'; why: string }
  /** A container reported created or exited has no live task (a process nobody reports). */
  | { kind: 'stoppedHasNoLiveTask'; why: string }
  /** An exited `--rm` container is gone (moby 20744). */
  | { kind: 'exitedAutoRemoveGone'; why: string }
  /** Every acknowledged create is still there, unless its removal was asked for (or `--rm` after a start). */
  | { kind: 'acknowledgedCreatesPresent'; why: string }
  /** Names and IDs are unique among the stored containers. */
  | { kind: 'namesAndIdsUnique'; why: string }
  /** Every containerd task and container in our namespace belongs to a stored container. */
  | { kind: 'noOrphanInContainerd'; why: string }
  /** A container's root filesystem is mounted only while its container has a live task. */
  | { kind: 'noOrphanMount'; why: string }
  /** A container's shareable /dev/shm is mounted only while its container has a live task. */
  | { kind: 'noOrphanShm'; why: string }
  /** Once restore has settled, what the restart policy brings back with the daemon runs (or waits out its back-off). */
  | { kind: 'restartPolicyHonoured'; why: string }
  /** Every image's layers are registered and on disk; every reference names an image (a pull cut short left no partial image). */
  | { kind: 'noPartialImage'; why: string }
  /** No pull (or commit) temp file, no staging, no layer no image uses, no layer directory without its record. */
  | { kind: 'noOrphanedPullFiles'; why: string }
  /** No exec process a dead daemon started is left running in a container (nobody could wait for, inspect or stop it). */
  | { kind: 'noOrphanExec'; why: string }
  /** No veth, published-port rule, address or network namespace without its running container (machines/network). */
  | { kind: 'noOrphanNetwork'; why: string };

/** One stored container, as the store (or `docker ps -a`) reports it. */
export interface StoredContainerView {
  id: string;
  /** With or without the leading slash. */
  name: string;
  status: ContainerStatus;
  autoRemove: boolean;
  /** When known (the store's record): what decides whether the daemon's start brings it back. */
  restart?: {
    policy: 'no' | 'always' | 'on-failure' | 'unless-stopped';
    startedBefore: boolean;
    manuallyStopped: boolean;
  };
}

/** What the invariants read of a stored container record (the store's `container/<id>`). */
export function storedView(
  r: Pick<
    ContainerRecord,
    'id' | 'name' | 'state' | 'config' | 'hasBeenStartedBefore' | 'hasBeenManuallyStopped'
  >,
): StoredContainerView {
  return {
    id: r.id,
    name: r.name,
    status: r.state.status,
    autoRemove: r.config.autoRemove,
    restart: {
      policy: r.config.restartPolicy.name,
      startedBefore: r.hasBeenStartedBefore,
      manuallyStopped: r.hasBeenManuallyStopped,
    },
  };
}

/** A task in containerd's view (`ctr tasks ls`). */
export interface TaskView {
  id: string;
  status: 'created' | 'running' | 'paused' | 'pausing' | 'stopped' | 'unknown';
}

/** An acknowledged create, with what the user asked of that container afterwards. */
export interface AcknowledgedCreate {
  id: string;
  /** A removal was requested (`rm`, `rm -f`), or it is `--rm` and a start was requested. */
  mayBeGone: boolean;
}

/** Everything the invariants read: the daemon's store, containerd's view, the host's mounts, the API's history. */
export interface HostView {
  containers: StoredContainerView[];
  tasks: TaskView[];
  /** containerd containers in our namespace (`ctr containers ls`). */
  containerdContainers: string[];
  acknowledged: AcknowledgedCreate[];
  /** IDs of containers whose root filesystem is mounted (overlay mounts under the data root). */
  mounted: string[];
  /** IDs of containers whose shareable /dev/shm tmpfs is mounted (when the observer looks at them). */
  shmMounted?: string[];
  /** The image store, when the observer looks at it (images are checked only then). */
  images?: ImagesView;
  /** The daemon's networking, when the view includes it. */
  network?: NetworkView;
  /** Live exec processes in containerd, with whether an earlier life of the daemon started them (when the observer looks at them). */
  execs?: { container: string; exec: string; earlierLife: boolean }[];
}

/** The image store as the image invariants read it. */
export interface ImagesView {
  images: { id: string; layers: string[] }[];
  /** References (`name:tag`, `name@digest`) and the image each names. */
  refs: { ref: string; image: string }[];
  /** Registered layers (chain IDs) whose directory exists. */
  layers: string[];
  /** Registered layers whose directory is missing. */
  missingLayerDirs: string[];
  /** Layer directories on disk without a record. */
  strayLayerDirs: string[];
  /** Pull temp dirs and staging entries (not those of a pull in progress). */
  tempFiles: string[];
  /** Layers (chain IDs) held by the pulls and pushes in progress: in use, though no image names them yet. */
  held: string[];
}

/** The network state the invariants read: the database's records and what the host has. */
export interface NetworkView {
  /** Endpoint records: their container, host veth and address. */
  endpoints: { container: string; hostIf: string; ip: string }[];
  /** Sandbox records: their container and namespace file. */
  sandboxes: { container: string; netns: string }[];
  /** veths whose master is one of the daemon's bridges. */
  veths: string[];
  /** Namespace files under `<exec-root>/netns` (mounted or not). */
  netns: string[];
  /** Container addresses the daemon's published-port rules name (`-d <ip>/32`, `--to-destination <ip>:`). */
  ruleAddresses: string[];
}

export interface InvariantViolation {
  invariant: Invariant['kind'];
  container: string;
  message: string;
}

/** The invariants that hold once restore has ended, with why each matters. */
export const restoreInvariants: readonly Invariant[] = [
  {
    kind: 'noDeadOrRemoving',
    why: 'restore finishes or rolls back every removal: "Removal In Progress" forever was moby 22312',
  },
  {
    kind: 'runningHasLiveTask',
    why: 'a container reported running without a process was moby 25157 and 30095',
  },
  {
    kind: 'stoppedHasNoLiveTask',
    why: 'a process no container reports as running cannot be stopped by the user',
  },
  {
    kind: 'exitedAutoRemoveGone',
    why: '--rm is honoured across restarts (moby 20744) and shutdowns (moby 51692)',
  },
  { kind: 'acknowledgedCreatesPresent', why: 'what the API acknowledged is durable' },
  { kind: 'namesAndIdsUnique', why: 'a name resolves to one container' },
  {
    kind: 'noOrphanInContainerd',
    why: 'nothing is leaked in containerd: no task or container without its statedock container',
  },
  { kind: 'noOrphanMount', why: 'nothing is leaked on the host: no root filesystem left mounted' },
  {
    kind: 'noOrphanShm',
    why: 'nothing is leaked on the host: no shareable /dev/shm (a tmpfs holding memory) left mounted without its running container',
  },
  {
    kind: 'restartPolicyHonoured',
    why: 'always and unless-stopped containers come back with the daemon (docker/for-linux 652, moby 36496), a stopped unless-stopped one does not (moby 34028)',
  },
  {
    kind: 'noPartialImage',
    why: 'an image is visible only once all its layers are registered, and a tag only once its image is (moby 27371, 35524: "layer does not exist" after a crash)',
  },
  {
    kind: 'noOrphanedPullFiles',
    why: 'an interrupted pull (or commit) leaves nothing behind: no temp file, no staging, no unused layer (moby 23115, 44909)',
  },
  {
    kind: 'noOrphanExec',
    why: 'dockerd forgets its exec configs when it dies; under live-restore their processes ran on, unseen (a process of a paused container ends at its unpause and is not counted)',
  },
  {
    kind: 'noOrphanNetwork',
    why: 'stale endpoints and rules after a hard kill: moby 18283, 20398, 32048, docker/for-linux 109',
  },
];

/** What a normal shutdown must leave (the same, but nothing is brought back before the daemon starts again). */
export const shutdownInvariants: readonly Invariant[] = restoreInvariants.filter(
  (i) => i.kind !== 'restartPolicyHonoured',
);

const live = new Set<TaskView['status']>(['created', 'running', 'paused', 'pausing']);

function violationsOf(inv: Invariant, v: HostView): InvariantViolation[] {
  const out: InvariantViolation[] = [];
  const add = (container: string, message: string): void => {
    out.push({ invariant: inv.kind, container, message });
  };
  const taskOf = new Map(v.tasks.map((t) => [t.id, t]));
  const stored = new Map(v.containers.map((c) => [c.id, c]));
  switch (inv.kind) {
    case 'noDeadOrRemoving':
      for (const c of v.containers)
        if (c.status === 'dead' || c.status === 'removing')
          add(c.id, `container ${c.id} is left ${c.status}`);
      break;
    case 'runningHasLiveTask':
      for (const c of v.containers) {
        if (c.status !== 'running' && c.status !== 'paused') continue;
        const t = taskOf.get(c.id);
        const want = c.status === 'running' ? ['running'] : ['paused', 'pausing'];
        if (!t || !want.includes(t.status))
          add(
            c.id,
            `container ${c.id} is reported ${c.status} but containerd has ${t ? `a ${t.status} task` : 'no task'}`,
          );
      }
      break;
    case 'stoppedHasNoLiveTask':
      for (const c of v.containers) {
        if (c.status !== 'created' && c.status !== 'exited') continue;
        const t = taskOf.get(c.id);
        if (t && live.has(t.status))
          add(
            c.id,
            `container ${c.id} is reported ${c.status} but containerd has a ${t.status} task`,
          );
      }
      break;
    case 'exitedAutoRemoveGone':
      for (const c of v.containers)
        if (c.autoRemove && c.status === 'exited')
          add(c.id, `--rm container ${c.id} exited and is still there`);
      break;
    case 'acknowledgedCreatesPresent':
      for (const a of v.acknowledged)
        if (!a.mayBeGone && !stored.has(a.id)) add(a.id, `acknowledged create of ${a.id} is lost`);
      break;
    case 'namesAndIdsUnique': {
      const names = new Map<string, string>();
      const ids = new Set<string>();
      for (const c of v.containers) {
        const name = c.name.replace(/^\//, '');
        const other = names.get(name);
        if (other !== undefined) add(c.id, `name ${name} is used by ${other} and ${c.id}`);
        names.set(name, c.id);
        if (ids.has(c.id)) add(c.id, `id ${c.id} is stored twice`);
        ids.add(c.id);
      }
      break;
    }
    case 'noOrphanInContainerd':
      for (const t of v.tasks)
        if (!stored.has(t.id))
          add(t.id, `containerd has a ${t.status} task ${t.id} of no container`);
      for (const id of v.containerdContainers)
        if (!stored.has(id)) add(id, `containerd has a container ${id} of no container`);
      break;
    case 'restartPolicyHonoured':
      for (const c of v.containers) {
        const r = c.restart;
        if (
          !r ||
          !r.startedBefore ||
          c.status === 'running' ||
          c.status === 'restarting' ||
          c.status === 'paused'
        )
          continue;
        if (r.policy === 'always' || (r.policy === 'unless-stopped' && !r.manuallyStopped))
          add(
            c.id,
            `${r.policy} container ${c.id} is ${c.status} after the daemon started${r.manuallyStopped ? ' (stopped by hand before)' : ''}`,
          );
      }
      break;
    case 'noPartialImage': {
      const im = v.images;
      if (!im) break;
      const have = new Set(im.layers);
      const ids = new Set(im.images.map((i) => i.id));
      for (const i of im.images)
        for (const l of i.layers)
          if (!have.has(l))
            add(i.id, `image ${i.id} names layer ${l}, which is not registered on disk`);
      for (const r of im.refs)
        if (!ids.has(r.image))
          add(r.image, `reference ${r.ref} names image ${r.image}, which does not exist`);
      break;
    }
    case 'noOrphanedPullFiles': {
      const im = v.images;
      if (!im) break;
      const used = new Set([...im.images.flatMap((i) => i.layers), ...im.held]);
      for (const f of im.tempFiles) add(f, `${f} was left by an interrupted pull or commit`);
      for (const l of im.layers) if (!used.has(l)) add(l, `layer ${l} is used by no image`);
      for (const l of im.missingLayerDirs)
        add(l, `layer ${l} is recorded but its directory is gone`);
      for (const dir of im.strayLayerDirs) add(dir, `layer directory ${dir} has no record`);
      break;
    }
    case 'noOrphanExec':
      for (const x of v.execs ?? []) {
        if (!x.earlierLife || stored.get(x.container)?.status === 'paused') continue;
        add(x.container, `exec process ${x.exec} of a dead daemon still runs in ${x.container}`);
      }
      break;
    case 'noOrphanNetwork': {
      const n = v.network;
      if (!n) break;
      const alive = (id: string): boolean => {
        const c = stored.get(id);
        return (
          c !== undefined &&
          (c.status === 'running' || c.status === 'paused' || c.status === 'restarting')
        );
      };
      for (const e of n.endpoints)
        if (!alive(e.container))
          add(
            e.container,
            `endpoint ${e.hostIf} (${e.ip}) is kept for container ${e.container}, which is not running`,
          );
      for (const s of n.sandboxes)
        if (!alive(s.container))
          add(
            s.container,
            `sandbox ${s.netns} is kept for container ${s.container}, which is not running`,
          );
      const ownedIfs = new Set(n.endpoints.filter((e) => alive(e.container)).map((e) => e.hostIf));
      for (const veth of n.veths)
        if (!ownedIfs.has(veth))
          add('', `veth ${veth} is in a bridge of the daemon without its container`);
      const ownedNs = new Set(n.sandboxes.filter((s) => alive(s.container)).map((s) => s.netns));
      for (const ns of n.netns)
        if (!ownedNs.has(ns)) add('', `network namespace ${ns} has no running container`);
      const ownedIps = new Set(n.endpoints.filter((e) => alive(e.container)).map((e) => e.ip));
      for (const ip of n.ruleAddresses)
        if (!ownedIps.has(ip))
          add('', `a published-port rule names ${ip}, the address of no running container`);
      break;
    }
    case 'noOrphanShm':
      for (const id of v.shmMounted ?? []) {
        const t = taskOf.get(id);
        if (!t || !live.has(t.status))
          add(id, `the shareable /dev/shm of ${id} is mounted without a live task`);
      }
      break;
    case 'noOrphanMount':
      for (const id of v.mounted) {
        const t = taskOf.get(id);
        if (!t || !live.has(t.status))
          add(id, `the root filesystem of ${id} is mounted without a live task`);
      }
      break;
  }
  return out;
}

/**
 * The invariants a view can judge: the image store's, the exec processes' and the network's
 * only when the observer looked at them (a view without them proves nothing about them).
 */
export function judgedBy(view: HostView, invariants: readonly Invariant[]): readonly Invariant[] {
  return invariants.filter((i) => {
    if (i.kind === 'noPartialImage' || i.kind === 'noOrphanedPullFiles')
      return view.images !== undefined;
    if (i.kind === 'noOrphanExec') return view.execs !== undefined;
    if (i.kind === 'noOrphanNetwork') return view.network !== undefined;
    if (i.kind === 'noOrphanShm') return view.shmMounted !== undefined;
    return true;
  });
}

/** Every violation of `invariants` in one view of the host; empty when all hold. */
export function checkInvariants(
  view: HostView,
  invariants: readonly Invariant[] = restoreInvariants,
): InvariantViolation[] {
  return invariants.flatMap((inv) => violationsOf(inv, view));
}

import type { Session } from '../../effects/runner.ts';
import type { RecordBody } from '../../effects/trace.ts';
import {
  isSettled,
  shutdownStops,
  type ContainerSnapshot,
} from '../../machines/container/snapshot.ts';
import type {
  ContainerContext,
  ContainerEvent,
  ContainerInput,
  ContainerRecord,
  ReplyResult,
  RootfsPlan,
} from '../../machines/container/types.ts';
import type { ShutdownContainer } from '../../machines/daemon-shutdown/machine.ts';
import type { RestoredContainer } from '../../machines/daemon-startup/types.ts';
import { isTaskRequest } from '../../machines/container/task-requests.ts';
import type {
  RestoreCheckInput,
  RestoreCheckOutput,
} from '../../machines/restore-check/machine.ts';

/**
 * The container host: one actor per container, in a session whose effects the real daemon's
 * handlers or the simulated host answer. Everything between the API and the container
 * actors is here, once, for `statedock daemon` and the simulator alike: spawning on create
 * and on restore, routing containerd's exits (held from the client's connect until restore
 * has spawned their actors), holding what asks containerd (task requests, the restore check,
 * reaps) until the start-up machine has connected its client, matching replies to requests,
 * telling when every container is settled, what the shutdown tells, and the restore check.
 *
 * It is callback-based (no promises) because the simulator runs it inside one synchronous
 * loop of virtual time; the daemon wraps the callbacks in promises.
 */

/** How an API request to a container ended. */
export interface Reply {
  result: ReplyResult;
  message?: string;
}

/** Requests an API client sends a container actor (the host adds the request id). */
export type ContainerRequest = ContainerEvent extends infer E
  ? E extends { req: string }
    ? Omit<E, 'req'>
    : never
  : never;

/** An exit or OOM containerd reported for a container. */
export type TaskEvent = Extract<ContainerEvent, { type: 'containerd.taskExit' | 'containerd.oom' }>;

/** What a new container is made of. */
export interface NewContainer {
  record: ContainerRecord;
  spec: unknown;
  rootfs: RootfsPlan;
}

export interface ContainerHostOptions {
  session: Session;
  /** Runs a function after the current step: replies reach clients after the actor's step, never inside it. */
  later: (fn: () => void) => void;
  /** The data root: each container's directory is `<root>/containers/<id>`. */
  root: string;
  /** The registered container machine (tests run altered ones to prove an ordering matters). */
  machine?: string;
  /**
   * When containerd's exits start to be heard: from the client's connect (the daemon's way),
   * or only once restore has spawned the actors (kept to prove the difference).
   */
  exitsHeardFrom?: 'connect' | 'restore';
  /** The start-up actor, whose `containerdClient` step connects containerd's client (default `daemon`). */
  startupActor?: string;
  /**
   * Whether what asks containerd waits for its client (the daemon's way), or goes at once
   * (kept to prove the start-up constraints catch it).
   */
  waitsForContainerd?: boolean;
}

/** The start-up step after which containerd's client is connected (machines/daemon-startup/steps.ts). */
const clientStep = 'containerdClient';

/** Docker's answer when a name is taken. */
export function nameConflictMessage(name: string, holder: string): string {
  return `Conflict. The container name "${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`;
}

const prefix = 'container:';

export class ContainerHost {
  readonly session: Session;
  private readonly later: (fn: () => void) => void;
  readonly root: string;
  private readonly machine: string;
  private readonly exitsHeardFrom: 'connect' | 'restore';
  private readonly replies = new Map<string, (r: Reply) => void>();
  private readonly exitWaiters = new Map<string, ((code: number) => void)[]>();
  private readonly removedWaiters = new Map<string, ((code: number) => void)[]>();
  private settleWaiters: { throughRestarts: boolean; cb: () => void }[] = [];
  private readonly eventListeners: ((
    id: string,
    action: string,
    attributes: Record<string, string>,
  ) => void)[] = [];
  private readonly goneListeners: ((id: string, record: ContainerRecord | undefined) => void)[] =
    [];
  private reqSeq = 0;
  /** Exits heard between the client's connect and restore, by container. */
  private readonly heard = new Map<string, TaskEvent[]>();
  private hearing = false;
  restored = false;
  private checkActor: string | null = null;
  /** Containers a client's request reached (or made) since restore: the restore check hears of each. */
  private readonly askedByClients = new Set<string>();
  private checkWaitsForSettle = false;
  /** `host.moved` messages to the restore check, asked for and not sent yet. */
  private movesUntold = 0;
  private reaps = 0;
  /** Containers containerd made a task for while they were mid-transition (decided once they settle or end). */
  private readonly lateTasks = new Set<string>();
  private checks = 0;
  private readonly startupActor: string;
  /** containerd's client is connected: the start-up machine recorded its `containerdClient` step done. */
  private clientReady = false;
  /** Why containerd's client will never connect (start-up failed first), or null. */
  private clientLost: string | null = null;
  /** What waits for the client, in order. */
  private waitingForClient: { run: () => void; lost: (why: string) => void }[] = [];
  /** The client's connect was heard (the exit stream is subscribed from then on). */
  private connectHeard = false;

  constructor(opts: ContainerHostOptions) {
    this.session = opts.session;
    this.later = opts.later;
    this.root = opts.root;
    this.machine = opts.machine ?? 'container';
    this.exitsHeardFrom = opts.exitsHeardFrom ?? 'connect';
    this.startupActor = opts.startupActor ?? 'daemon';
    if (opts.waitsForContainerd === false) this.clientReady = true;
    this.session.onRecord((actor, r) => this.onRecord(actor, r));
  }

  private onRecord(actor: string, r: RecordBody): void {
    if (actor === this.startupActor) {
      if (r.kind !== 'mark') return;
      // After the step that records it, never inside it: what was held then asks containerd.
      if (r.mark.mark === 'step.done' && r.mark['step'] === clientStep)
        this.later(() => this.clientConnected());
      else if (r.mark.mark === 'startup.failed' && !this.clientReady) {
        const why = String(r.mark['message']);
        this.later(() => this.clientNeverConnects(why));
      }
      return;
    }
    if (!actor.startsWith(prefix)) return;
    const id = actor.slice(prefix.length);
    switch (r.kind) {
      case 'mark':
        if (r.mark.mark === 'reply') {
          const req = String(r.mark['req']);
          const resolve = this.replies.get(req);
          if (!resolve) return;
          this.replies.delete(req);
          const reply: Reply = {
            result: r.mark['result'] as ReplyResult,
            ...(typeof r.mark['message'] === 'string' ? { message: r.mark['message'] } : {}),
          };
          this.later(() => resolve(reply));
        } else if (r.mark.mark === 'event') {
          const action = String(r.mark['action']);
          const attributes = r.mark['attributes'] as Record<string, string>;
          for (const l of this.eventListeners) l(id, action, attributes);
          if (action === 'die')
            this.notify(this.exitWaiters, id, Number(attributes['exitCode'] ?? 0));
        }
        return;
      case 'transition':
        if (this.checkActor !== null) this.tellCheckMoved(this.checkActor);
        if (r.to === 'idle' && this.lateTasks.delete(id)) this.later(() => this.handTaskFound(id));
        this.wakeSettleWaiters();
        return;
      case 'actor.stop': {
        // A container actor stops only when its removal is done (or its create failed).
        const record = this.recordOf(id);
        for (const l of this.goneListeners) l(id, record);
        this.askedByClients.delete(id);
        if (this.lateTasks.delete(id)) this.later(() => this.reap(id));
        this.notify(this.removedWaiters, id, record?.state.exitCode ?? 0);
        this.wakeSettleWaiters();
        return;
      }
      default:
        return;
    }
  }

  /** A container moved while the restore check looks: it looks again once all are settled again. */
  private tellCheckMoved(check: string): void {
    const send = (event: { type: 'host.moved' | 'host.settled' }): void => {
      const snap = this.session.actors.get(check)?.actor.getSnapshot() as
        { status: string } | undefined;
      if (snap?.status === 'active') this.session.send(check, event);
    };
    // `host.settled` always follows the last `host.moved`: the settle is awaited from the
    // move's delivery, and told only once no move is left to tell (the simulator runs
    // same-instant callbacks in a random order; a move told after the settle costs a look).
    this.movesUntold += 1;
    const settledAndTold = (): void =>
      this.whenStillSettled(() => {
        if (this.movesUntold > 0) {
          settledAndTold();
          return;
        }
        this.checkWaitsForSettle = false;
        send({ type: 'host.settled' });
      });
    this.later(() => {
      this.movesUntold -= 1;
      send({ type: 'host.moved' });
      if (this.checkWaitsForSettle) return;
      this.checkWaitsForSettle = true;
      settledAndTold();
    });
  }

  private notify(map: Map<string, ((code: number) => void)[]>, id: string, code: number): void {
    const ws = map.get(id);
    if (!ws) return;
    map.delete(id);
    this.later(() => {
      for (const w of ws) w(code);
    });
  }

  /** Docker's events of every container (`docker events`). */
  onEvent(
    listener: (id: string, action: string, attributes: Record<string, string>) => void,
  ): void {
    this.eventListeners.push(listener);
  }

  /** A container's actor ended: the container is gone (its last record, if any). */
  onGone(listener: (id: string, record: ContainerRecord | undefined) => void): void {
    this.goneListeners.push(listener);
  }

  // — looking containers up —

  /** Every container actor's snapshot. */
  *snapshots(): Generator<ContainerSnapshot> {
    for (const [id, e] of this.session.actors)
      if (id.startsWith(prefix)) yield e.actor.getSnapshot() as ContainerSnapshot;
  }

  /** The contexts of the containers that exist (their actors are active). */
  contexts(): ContainerContext[] {
    const out: ContainerContext[] = [];
    for (const s of this.snapshots()) if (s.status === 'active') out.push(s.context);
    return out;
  }

  contextOf(id: string): ContainerContext | null {
    const snap = this.session.actors.get(`${prefix}${id}`)?.actor.getSnapshot() as
      ContainerSnapshot | undefined;
    return snap?.status === 'active' ? snap.context : null;
  }

  private recordOf(id: string): ContainerRecord | undefined {
    const snap = this.session.actors.get(`${prefix}${id}`)?.actor.getSnapshot() as
      ContainerSnapshot | undefined;
    return snap?.context.record;
  }

  /** A container by its name (with or without the `/`). */
  byName(name: string): ContainerContext | null {
    const full = `/${name.replace(/^\//, '')}`;
    return this.contexts().find((c) => c.record.name === full) ?? null;
  }

  /** Full ID, name, or unique ID prefix (Docker's lookup order); `ambiguous` for a prefix of several. */
  lookup(ref: string): ContainerContext | 'ambiguous' | null {
    const all = this.contexts();
    const exact =
      all.find((c) => c.record.id === ref) ??
      all.find((c) => c.record.name === `/${ref.replace(/^\//, '')}`);
    if (exact) return exact;
    const prefixed = all.filter((c) => c.record.id.startsWith(ref));
    if (prefixed.length > 1) return 'ambiguous';
    return prefixed[0] ?? null;
  }

  /** Docker's conflict message when `name` is taken (null when it is free). */
  nameConflict(name: string): string | null {
    const taken = this.byName(name);
    return taken ? nameConflictMessage(taken.record.name, taken.record.id) : null;
  }

  // — create and requests —

  /** The directory of a container's logs (created and removed by its actor). */
  dirOf(id: string): string {
    return `${this.root}/containers/${id}`;
  }

  /** Spawns a new container's actor; `onReply` hears whether it was created. */
  create(c: NewContainer, onReply: (r: Reply) => void): void {
    const id = c.record.id;
    const req = this.nextReq();
    this.replies.set(req, onReply);
    this.noteAskedByClient(id);
    const input: ContainerInput = {
      actorId: `${prefix}${id}`,
      record: c.record,
      origin: 'create',
      req,
      spec: c.spec,
      dir: this.dirOf(id),
      rootfs: c.rootfs,
    };
    this.session.spawn(this.machine, `${prefix}${id}`, input, { forgetWhenDone: true });
  }

  private nextReq(): string {
    this.reqSeq += 1;
    return `req-${this.reqSeq}`;
  }

  /**
   * Sends a request to a container's actor; false (and no reply) when there is no such
   * container. A request that may ask containerd waits for its client to be connected.
   */
  request(id: string, event: ContainerRequest, onReply: (r: Reply) => void): boolean {
    if (this.contextOf(id) === null) return false;
    if (!this.clientReady && isTaskRequest(event.type)) {
      this.whenContainerd(
        () => {
          if (!this.request(id, event, onReply))
            this.later(() => onReply({ result: 'notFound', message: `No such container: ${id}` }));
        },
        (why) => onReply({ result: 'failed', message: `containerd is not available: ${why}` }),
      );
      return true;
    }
    const req = this.nextReq();
    this.replies.set(req, onReply);
    this.noteAskedByClient(id);
    this.session.send(`${prefix}${id}`, { ...event, req });
    return true;
  }

  /**
   * A client's request reached (or made) a container after restore: the restore check no
   * longer judges what the daemon's start made of its restart policy.
   */
  private noteAskedByClient(id: string): void {
    if (!this.restored || this.askedByClients.has(id)) return;
    this.askedByClients.add(id);
    if (this.checkActor !== null)
      this.session.send(this.checkActor, { type: 'host.asked', container: id });
  }

  /** Calls back with the exit code when the container next dies; returns how to stop waiting. */
  onNextExit(id: string, cb: (code: number) => void): () => void {
    return this.waitOn(this.exitWaiters, id, cb);
  }

  /** Calls back with its last exit code when the container is removed; returns how to stop waiting. */
  onRemoved(id: string, cb: (code: number) => void): () => void {
    return this.waitOn(this.removedWaiters, id, cb);
  }

  /** A waiter that can be forgotten (its client went away): nothing is kept for it. */
  private waitOn(
    map: Map<string, ((code: number) => void)[]>,
    id: string,
    cb: (code: number) => void,
  ): () => void {
    const waiter = (code: number): void => cb(code);
    map.set(id, [...(map.get(id) ?? []), waiter]);
    return () => {
      const left = (map.get(id) ?? []).filter((w) => w !== waiter);
      if (left.length > 0) map.set(id, left);
      else map.delete(id);
    };
  }

  // — containerd's client —

  /**
   * Runs `run` once containerd's client is connected (now, if it is), in the order asked;
   * `lost` instead if start-up fails before it connects.
   */
  whenContainerd(run: () => void, lost: (why: string) => void = () => undefined): void {
    if (this.clientReady) run();
    else if (this.clientLost !== null) lost(this.clientLost);
    else this.waitingForClient.push({ run, lost });
  }

  /** Whether containerd's client is connected (the start-up's `containerdClient` step is done). */
  get containerdConnected(): boolean {
    return this.clientReady;
  }

  private clientConnected(): void {
    if (this.clientReady) return;
    this.clientReady = true;
    const waiting = this.waitingForClient;
    this.waitingForClient = [];
    for (const w of waiting) w.run();
  }

  private clientNeverConnects(why: string): void {
    if (this.clientReady || this.clientLost !== null) return;
    this.clientLost = why;
    const waiting = this.waitingForClient;
    this.waitingForClient = [];
    for (const w of waiting) w.lost(why);
  }

  // — containerd's exits —

  /** containerd's client connected: exits are heard from now on (held until restore spawns their actors). */
  connected(): void {
    this.connectHeard = true;
    if (this.exitsHeardFrom === 'connect') this.hearing = true;
  }

  /** containerd reported an exit (or OOM) of a container's task. */
  routeExit(id: string, event: TaskEvent): void {
    const actor = `${prefix}${id}`;
    const entry = this.session.actors.get(actor);
    if (entry && (entry.actor.getSnapshot() as { status: string }).status === 'active') {
      this.session.send(actor, event);
      return;
    }
    if (!this.restored && this.hearing) this.heard.set(id, [...(this.heard.get(id) ?? []), event]);
  }

  /**
   * containerd made a task (its /tasks/create). Of a container the daemon does not know (a
   * create the dead daemon had sent, finished after the container was removed), it is reaped;
   * of one whose actor believes it has none (idle), it is handed to the actor, which stops or
   * deletes it (as restore's second look does). The daemon's own creates are none of these.
   */
  taskCreated(id: string): void {
    // Events are heard only once the client subscribed (a daemon with no stored container has
    // restored before that).
    if (!this.restored || !this.connectHeard) return;
    const actor = `${prefix}${id}`;
    const snap = this.session.actors.get(actor)?.actor.getSnapshot() as
      ContainerSnapshot | undefined;
    if (snap?.status !== 'active') {
      this.whenContainerd(() => this.reap(id));
      return;
    }
    // The daemon's own start, or one in flight: the actor knows of this task.
    if (snap.context.task !== 'none' || JSON.stringify(snap.value).includes('starting')) return;
    if (snap.value === 'idle') this.handTaskFound(id);
    // Mid-transition (a removal that already asked containerd): decided once it settles or ends.
    else this.lateTasks.add(id);
  }

  private handTaskFound(id: string): void {
    // Only heard from containerd (the exit stream, the restore check): its client is connected.
    this.session.send(`${prefix}${id}`, {
      type: 'containerd.taskFound',
      status: 'created',
      from: 'containerd-events',
    });
  }

  /** Kills and deletes, in an operation actor, a task of a container the daemon does not know. */
  private reap(id: string): void {
    this.reaps += 1;
    const reaper = `reap:${this.reaps}`;
    this.session.spawn(
      'operation',
      reaper,
      {
        actorId: reaper,
        title: `reap the task of unknown container ${id}`,
        effects: [{ effect: 'containerd.reapTask', container: id }],
        bestEffort: true,
      },
      { forgetWhenDone: true },
    );
  }

  // — restore —

  /**
   * Restore: one actor per stored container, told what containerd says of its task, whether
   * live-restore keeps it and whether its root is mounted; the machine repairs what the dead
   * daemon left, finishes removals, reattaches or stops running ones, records exits it
   * missed, and applies restart policies.
   */
  restore(containers: readonly RestoredContainer[], liveRestore: boolean): void {
    for (const c of containers) {
      const actorId = `${prefix}${c.id}`;
      const input: ContainerInput = {
        actorId,
        record: c.record,
        origin: 'restore',
        task: c.task,
        liveRestore,
        rootMounted: c.rootMounted,
        spec: c.spec,
        dir: this.dirOf(c.id),
      };
      this.session.spawn(this.machine, actorId, input, { forgetWhenDone: true });
      // Exits heard since the client connected belong to the task restore found alive; of a
      // task already stopped, containerd's list told restore.
      const heard = this.heard.get(c.id) ?? [];
      if (c.task === 'running' || c.task === 'paused')
        for (const e of heard) this.session.send(actorId, e);
    }
    this.heard.clear();
    this.restored = true;
  }

  // — settling —

  /** Whether no container actor is mid-transition (`throughRestarts`: not even waiting to restart). */
  settled(throughRestarts = false): boolean {
    for (const s of this.snapshots()) if (!isSettled(s, throughRestarts)) return false;
    return true;
  }

  /** Calls back once every container actor is settled (now, or on the transition that settles the last). */
  whenSettled(cb: () => void, throughRestarts = false): void {
    if (this.settled(throughRestarts)) {
      this.later(cb);
      return;
    }
    this.settleWaiters.push({ throughRestarts, cb });
  }

  private wakeSettleWaiters(): void {
    if (this.settleWaiters.length === 0) return;
    const waiting = this.settleWaiters;
    this.settleWaiters = [];
    for (const w of waiting) {
      if (this.settled(w.throughRestarts)) this.later(w.cb);
      else this.settleWaiters.push(w);
    }
  }

  /** What the shutdown machine tells: every container, and whether it runs. */
  shutdownContainers(): ShutdownContainer[] {
    const running = new Set(shutdownStops(this.snapshots()).map((c) => c.id));
    return this.contexts().map((c) => ({
      id: c.record.id,
      stopTimeout: c.record.config.stopTimeout,
      running: running.has(c.record.id),
    }));
  }

  /**
   * The restore check (machines/restore-check), once the restored containers have settled:
   * its verdict is in the trace; `done` hears it. With `images` and `network`, it judges the
   * image store and the networking too.
   */
  checkRestore(
    done: (output: RestoreCheckOutput) => void = () => undefined,
    images?: RestoreCheckInput['images'],
    network?: RestoreCheckInput['network'],
  ): void {
    // The check looks at containerd's tasks: once its client is connected.
    this.whenContainerd(() => this.whenStillSettled(() => this.spawnCheck(done, images, network)));
  }

  /**
   * Calls back once every container actor is settled, and still is when the callback runs:
   * settled when woken is not enough for the restore check, since a request delivered before
   * the callback runs may have moved a container (a `docker run`'s start right after its
   * create), and the check would look at a move it never heard of (a start's sandbox without
   * its task, a restart's task before it runs).
   */
  private whenStillSettled(cb: () => void): void {
    this.whenSettled(() => {
      if (this.settled()) cb();
      else this.whenStillSettled(cb);
    });
  }

  private spawnCheck(
    done: (output: RestoreCheckOutput) => void,
    images: RestoreCheckInput['images'] | undefined,
    network: RestoreCheckInput['network'] | undefined,
  ): void {
    this.checks += 1;
    const actorId = this.checks === 1 ? 'restore-check' : `restore-check-${this.checks}`;
    const entry = this.session.spawn('restoreCheck', actorId, {
      actorId,
      containers: this.contexts().map((c) => c.record.id),
      ...(images === undefined ? {} : { images }),
      ...(network === undefined ? {} : { network }),
      // Both hosts run exec processes: the check looks for those a dead daemon left.
      execs: true,
      // And mount shareable /dev/shm tmpfs: the check looks for those no live task holds.
      shm: { containersDir: `${this.root}/containers` },
      askedByClients: [...this.askedByClients],
    } satisfies RestoreCheckInput);
    this.checkActor = actorId;
    const finished = (): boolean => {
      const snap = entry.actor.getSnapshot() as { status: string; output?: RestoreCheckOutput };
      if (snap.status !== 'done' || !snap.output) return false;
      this.checkActor = null;
      const output = snap.output;
      this.later(() => done(output));
      return true;
    };
    if (finished()) return;
    const sub = entry.actor.subscribe(() => {
      if (finished()) sub.unsubscribe();
    });
  }
}

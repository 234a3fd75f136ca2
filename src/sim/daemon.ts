import { freezeUnderTest } from './strict.ts';
import { MemoryTrace, makeHeader } from '../../effects/record.ts';
import type { EffectCall, EffectEvent } from '../../effects/requests.ts';
import { Session, type Executor, type TraceSink } from '../../effects/runner.ts';
import { SimScheduler } from '../../effects/sim/scheduler.ts';
import { iso, type SimWorld, type TaskBehaviour } from '../../effects/sim/world.ts';
import type { RecordBody } from '../../effects/trace.ts';
import type { HostView } from '../../machines/container/invariants.ts';
import type { RestartPolicy } from '../../machines/container/restart.ts';
import type { ShutdownOutput } from '../../machines/daemon-shutdown/machine.ts';
import { startupFacts, type StartupOutput } from '../../machines/daemon-startup/machine.ts';
import type { StartupContext } from '../../machines/daemon-startup/engine.ts';
import { answerSteps } from '../../machines/daemon-startup/steps.ts';
import type { Facts, StartupConfig } from '../../machines/daemon-startup/types.ts';
import type { CommitInput } from '../../machines/commit/machine.ts';
import type { RestoreCheckOutput } from '../../machines/restore-check/machine.ts';
import {
  ContainerHost,
  type ContainerRequest,
  type Reply,
  type TaskEvent,
} from '../host/containers.ts';
import type { ExecBehaviour } from '../../effects/containerd/exec-sim.ts';
import type { HealthConfig } from '../../machines/health/config.ts';
import { ExecHost } from '../host/execs.ts';
import { HealthHost } from '../host/health.ts';
import { newRecord } from './containers.ts';
import { NetworkController, type Done } from '../daemon/network/controller.ts';
import { containerNetInfo } from '../daemon/network/container-info.ts';
import { idFrom } from '../../machines/network/start.ts';
import type { ContainerNetConfig } from '../../machines/network/model.ts';
import type { NetworkLook } from '../../machines/restore-check/machine.ts';
import { priorities } from './simulate.ts';
import { tuneForSimulation } from './v8-tuning.ts';

/** What a user does to the daemon, as the docker CLI would say it. */
export type ClientOp =
  /** `docker run -d [--rm] [--restart P] --name N busybox …` (create, then start). */
  | {
      op: 'run';
      name: string;
      rm?: boolean;
      restart?: RestartPolicy;
      stopTimeout?: number;
      behaviour: TaskBehaviour;
      net?: NetFlags;
      /** A HEALTHCHECK, and the outcomes (and latencies) of its probes, in order. */
      health?: { config: HealthConfig; probes: ExecBehaviour[] };
    }
  | {
      op: 'create';
      name: string;
      rm?: boolean;
      restart?: RestartPolicy;
      stopTimeout?: number;
      behaviour: TaskBehaviour;
      net?: NetFlags;
    }
  | { op: 'start'; name: string }
  | { op: 'stop'; name: string; timeoutS?: number }
  | { op: 'restart'; name: string; timeoutS?: number }
  | { op: 'kill'; name: string; signal: string }
  | { op: 'pause'; name: string }
  | { op: 'unpause'; name: string }
  | { op: 'rm'; name: string; force: boolean }
  /** `docker exec -d NAME …`: a process that behaves as told. */
  | { op: 'exec'; name: string; exec: string; behaviour: ExecBehaviour }
  /** `docker commit NAME TAG`. */
  | { op: 'commit'; name: string; tag: string }
  /** SIGTERM to the daemon: the shutdown machine, then the process exits. */
  | { op: 'shutdown' }
  /** `docker pull registry.sim/<repository>:<tag>` from the world's simulated registry. */
  | { op: 'pull'; repository: string; tag: string }
  /** `docker network create [--subnet S] NAME`, `network rm`, `network connect`, `network disconnect`. */
  | { op: 'networkCreate'; network: string; subnet?: string }
  | { op: 'networkRm'; network: string }
  | { op: 'connect'; network: string; name: string; alias?: string }
  | { op: 'disconnect'; network: string; name: string };

/** What `docker run`/`create` flags ask of a simulated container's network: `--network`, `-p HOST:CTR`. */
export interface NetFlags {
  network?: string;
  publish?: string[];
}

/** A client operation at a virtual time, in ms after the daemon answers. */
export interface TimedOp {
  atMs: number;
  op: ClientOp;
}

/** What the clients saw across the daemon's lives: the creates acknowledged, the removals asked for. */
export class ClientHistory {
  readonly acknowledged = new Set<string>();
  readonly mayBeGone = new Set<string>();
  /** Every reply a client got, in order: `<op> <name>: <result>[: message]`. */
  readonly replies: string[] = [];
}

/** The container's ID from its name: 64 hex digits, stable across runs (a seeded world needs no randomness here). */
export function containerIdOf(name: string): string {
  let h = 0x811c9dc5;
  let out = '';
  for (let round = 0; out.length < 64; round++) {
    for (const ch of `${round}:${name}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    out += h.toString(16).padStart(8, '0');
  }
  return out.slice(0, 64);
}

/** The image layer every simulated container is made from. */
export const simImageLayer = '/var/lib/statedock/overlay2/l-busybox/diff';

export interface SimDaemonOptions {
  world: SimWorld;
  config: StartupConfig;
  seed: number;
  history: ClientHistory;
  /** The power is cut right after this many records of this daemon's life (null: never). */
  crashAtRecord?: number | null;
  /** Registered machine names (tests run altered machines to prove an ordering matters). */
  startupMachine?: string;
  containerMachine?: string;
  shutdownMachine?: string;
  /** The restore's exec sweep (a test runs one that reaps nothing to prove the sweep matters). */
  execSweepMachine?: string;
  /** Keep the records in memory (on by default). */
  record?: boolean;
  /**
   * When containerd's exits start to be heard: from the client's connect (the daemon's way),
   * or only once restore has spawned the actors (kept to prove the difference).
   */
  exitsHeardFrom?: 'connect' | 'restore';
  /** Whether what asks containerd waits for its client (false only to prove the constraints catch it). */
  waitsForContainerd?: boolean;
  /**
   * The steps the API's answers wait for (default `answerSteps`; only `['serveApi']`, to prove
   * the start-up constraints catch answers given before the deferred steps are done).
   */
  answersAfter?: readonly string[];
}

/**
 * One life of the daemon process on a simulated host, with the daemon's own container host
 * (src/host): the start-up machine, then restore, containerd's exits routed to the actors,
 * the client's requests, and the shutdown machine that tells every container to settle. Only
 * the effect handlers differ from `statedock daemon`. The power can be cut after any record:
 * nothing after it reaches the world, and what the world was still doing is its to finish.
 */
export class SimDaemon {
  readonly world: SimWorld;
  readonly config: StartupConfig;
  readonly scheduler: SimScheduler;
  readonly session: Session;
  readonly host: ContainerHost;
  /** The daemon's exec and health hosts (their Docker events are not published here). */
  readonly execs: ExecHost;
  readonly health: HealthHost;
  readonly trace: MemoryTrace | null;
  readonly history: ClientHistory;
  /** Records written in this life (up to the crash). */
  records = 0;
  crashed = false;
  exited = false;
  startup: StartupOutput | null = null;
  shutdownOutput: ShutdownOutput | null = null;
  /** The restore check's verdict, once it has judged the host. */
  restoreVerdict: RestoreCheckOutput | null = null;
  /**
   * The API is served and restore is done (the restored containers have their actors): clients
   * are answered from here, maybe before containerd's client is connected.
   */
  answering = false;
  /** The start-up machine recorded every step but containerd's boot and client done (`answerSteps`). */
  private listening = false;
  /** A SIGTERM that came before start-up finished: the shutdown begins once it has. */
  private shutdownAsked = false;
  private readonly crashAt: number | null;
  private readonly shutdownMachine: string;
  private opSeq = 0;
  private checkAsked = false;
  /** Client requests waiting for the API's gate to open. */
  private gated: ClientOp[] = [];
  private pulls = 0;
  /** Containers of this life, removed ones too (the host forgets an actor once it is done). */
  private readonly idsUsed = new Set<string>();
  /** The network controller, as the daemon's (src/daemon/network), on the simulated host. */
  readonly network: NetworkController;
  private idSeq = 0;

  constructor(opts: SimDaemonOptions) {
    tuneForSimulation();
    this.world = opts.world;
    this.config = opts.config;
    this.history = opts.history;
    this.crashAt = opts.crashAtRecord ?? null;
    this.shutdownMachine = opts.shutdownMachine ?? 'daemonShutdown';
    this.world.daemonStarted();
    this.scheduler = new SimScheduler(this.world, priorities(opts.seed), this.world.nowMs);
    this.trace =
      opts.record === false
        ? null
        : new MemoryTrace(makeHeader('sim', { seed: opts.seed, scenario: 'daemon' }));
    const sink: TraceSink = { write: (r) => this.onRecord(r) };
    const executor: Executor = {
      submit: (actorId, call, deliver) => this.submit(actorId, call, deliver),
    };
    const later = (fn: () => void): void => this.scheduler.schedule(this.scheduler.now, fn);
    this.session = new Session({
      executor,
      sink,
      now: () => this.scheduler.now,
      later,
      freezeContexts: freezeUnderTest(),
    });
    this.host = new ContainerHost({
      session: this.session,
      later,
      root: this.config.dataRoot,
      ...(opts.containerMachine === undefined ? {} : { machine: opts.containerMachine }),
      ...(opts.exitsHeardFrom === undefined ? {} : { exitsHeardFrom: opts.exitsHeardFrom }),
      ...(opts.waitsForContainerd === undefined
        ? {}
        : { waitsForContainerd: opts.waitsForContainerd }),
    });
    this.execs = new ExecHost({
      session: this.session,
      publish: () => undefined,
      later,
      ...(opts.execSweepMachine === undefined ? {} : { sweepMachine: opts.execSweepMachine }),
    });
    this.health = new HealthHost({
      session: this.session,
      contextOf: (id) => this.host.contextOf(id),
      probeProcess: (_c, test) => ({
        args: test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test[1] ?? ''] : test.slice(1),
      }),
      later,
    });
    this.scheduler.deliverExternal = (actorId, event) => {
      if (this.crashed || this.exited) return;
      if (event.type === 'containerd.execExit') {
        this.execs.deliverExit(actorId, event as Parameters<ExecHost['deliverExit']>[1]);
        return;
      }
      if (!actorId.startsWith('container:')) return;
      const id = actorId.slice('container:'.length);
      if (event.type === 'containerd.taskCreated') this.host.taskCreated(id);
      else this.host.routeExit(id, event as TaskEvent);
    };
    const seed = opts.seed;
    this.network = new NetworkController({
      session: this.session,
      newId: () => idFrom(`sim:${seed}:${++this.idSeq}`),
      newHex: (n) => idFrom(`sim:${seed}:hex:${++this.idSeq}`).slice(0, n),
      container: (ref) => {
        const found = this.host.lookup(ref);
        return found === null || found === 'ambiguous' ? null : containerNetInfo(found);
      },
    });
    this.scheduler.afterDeliver = () => this.afterDeliver();
    // As the daemon: the API is served once restore is done, and answers (restore's containers
    // get their actors) once the steps deferred until then are done too.
    const awaited = new Set(opts.answersAfter ?? answerSteps);
    this.session.onRecord((actor, r) => {
      if (actor === 'daemon' && r.kind === 'mark' && r.mark.mark === 'step.done')
        if (awaited.delete(String(r.mark['step'])) && awaited.size === 0) this.listening = true;
    });
    // What the dead daemon had asked and the host is still doing finishes on time.
    for (const o of this.world.pendingOrphans())
      this.scheduler.schedule(o.atMs, () => {
        this.world.finishOrphans(o.atMs);
        this.scheduler.collect();
      });
    this.session.spawn(opts.startupMachine ?? 'daemonStartup', 'daemon', { config: this.config });
  }

  private onRecord(r: RecordBody & { seq?: number }): void {
    if (this.crashed) return;
    this.records += 1;
    this.trace?.write(r);
    if (this.crashAt !== null && this.records >= this.crashAt) this.cutPower();
  }

  /** SIGKILL: the process dies now; what the host was doing for it is the host's to finish. */
  kill(): void {
    this.cutPower();
  }

  /** The process dies here: nothing pending is delivered, nothing more is asked of the world. */
  private cutPower(): void {
    this.crashed = true;
    this.scheduler.halt();
  }

  private submit(
    actorId: string,
    call: EffectCall,
    deliver: (event: EffectEvent, durationMs: number) => void,
  ): void {
    if (this.crashed || this.exited) return;
    if (call.effect === 'net.sandboxUp' || call.effect === 'net.sandboxDown') {
      this.sandboxCall(call, deliver);
      return;
    }
    // Exits are heard from the moment the client connects, before restore lists the tasks.
    const heard: typeof deliver =
      call.effect === 'containerd.connect'
        ? (event, ms) => {
            if (event.type === 'effect.done') this.host.connected();
            deliver(event, ms);
          }
        : deliver;
    this.scheduler.submit(actorId, call, heard);
  }

  /**
   * `net.sandboxUp` and `net.sandboxDown` go to the network controller (as the daemon's
   * handler sends them), answered after this step, as a real handler's promise is.
   */
  private sandboxCall(
    call: Extract<EffectCall, { effect: 'net.sandboxUp' | 'net.sandboxDown' }>,
    deliver: (event: EffectEvent, durationMs: number) => void,
  ): void {
    const reply: Done<unknown> = (r) =>
      this.scheduler.schedule(this.scheduler.now, () => {
        if (this.crashed || this.exited) return;
        const e = r.ok ? null : (r.error as { code?: string; message: string });
        deliver(
          e === null
            ? {
                type: 'effect.done',
                id: call.id,
                result: call.effect === 'net.sandboxUp' && r.ok ? r.value : {},
              }
            : {
                type: 'effect.failed',
                id: call.id,
                error: { code: (e.code ?? 'EIO') as never, message: e.message },
              },
          0,
        );
      });
    this.scheduler.schedule(this.scheduler.now, () => {
      if (this.crashed || this.exited) return;
      if (call.effect === 'net.sandboxUp') this.network.sandboxUp(call.container, reply);
      else
        this.network.sandboxDown(call.container, (r) =>
          call.forget && r.ok ? this.network.forgetContainer(call.container, reply) : reply(r),
        );
    });
  }

  private afterDeliver(): void {
    if (this.crashed) return;
    if (this.listening && !this.answering) {
      // As the daemon does once the API is served: restore's containers get their actors.
      this.answering = true;
      const facts = this.facts();
      // The network controller starts before any container actor can ask it for a sandbox.
      if (facts.network) this.network.init(facts.network);
      const found = facts.containers ?? [];
      for (const c of found) this.idsUsed.add(c.id);
      this.host.restore(found, this.config.liveRestore);
      // As the daemon does: State.Health from the store, and health monitors of the
      // containers live-restore kept.
      this.health.restore(
        found.map((c) => ({
          id: c.id,
          healthcheck: c.record.config.healthcheck,
          live: this.config.liveRestore && (c.task === 'running' || c.task === 'paused'),
          paused: c.task === 'paused',
        })),
      );
      // What an interrupted pull or commit left goes before any request can start a new one.
      this.session.spawn('imageGc', 'image-gc', { actorId: 'image-gc', ...this.imageDirs() });
    }
    if (this.startup === null) {
      const snap = this.session.actors.get('daemon')?.actor.getSnapshot() as
        { status: string; output?: StartupOutput } | undefined;
      if (snap?.status === 'done' && snap.output) {
        this.startup = snap.output;
        if (snap.output.status !== 'ready') this.processExited();
        else if (this.shutdownAsked) this.perform({ op: 'shutdown' });
      }
    }
    if (
      this.answering &&
      !this.checkAsked &&
      !this.collectingImages() &&
      !this.health.restoring()
    ) {
      this.checkAsked = true;
      // As the API's gate (one promise) does: the requests that waited go on in their order of
      // arrival, not in the order the scheduler picks for callbacks due in the same instant.
      const gated = this.gated;
      this.gated = [];
      this.scheduler.schedule(this.scheduler.now, () => {
        for (const op of gated) this.perform(op);
      });
      // As the daemon does: once the image GC is done, the sweep of the dead daemon's exec
      // processes in the tasks live-restore keeps, then the restore check, once the restored
      // containers settle.
      const kept = this.config.liveRestore
        ? (this.facts().containers ?? []).filter((c) => c.task === 'running').map((c) => c.id)
        : [];
      if (!this.session.actors.has('daemon-shutdown'))
        this.execs.sweep(kept, () =>
          this.host.checkRestore(
            (v) => (this.restoreVerdict = v),
            this.imageDirs(),
            this.networkLook(),
          ),
        );
    }
    const stop = this.session.actors.get('daemon-shutdown')?.actor.getSnapshot() as
      { status: string; output?: ShutdownOutput } | undefined;
    if (stop?.status === 'done' && this.shutdownOutput === null && stop.output) {
      this.shutdownOutput = stop.output;
      this.processExited();
    }
  }

  /** Whether the image GC that follows restore is still at work. */
  private collectingImages(): boolean {
    const gc = this.session.actors.get('image-gc')?.actor.getSnapshot() as
      { status: string } | undefined;
    return gc?.status === 'active';
  }

  /** What start-up has learned so far (the API answers from it before start-up is over). */
  private facts(): Facts {
    const snap = this.session.actors.get('daemon')?.actor.getSnapshot() as
      { context: StartupContext } | undefined;
    return snap ? startupFacts(snap) : { rootUid: 0, rootGid: 0 };
  }

  /** The image store's data root and the daemon's temp dir (DOCKER_TMPDIR, or `<root>/tmp`). */
  private imageDirs(): { root: string; tmpDir: string } {
    const facts = this.facts();
    const root = facts.root ?? this.config.dataRoot;
    return { root, tmpDir: facts.tmpDir ?? `${root}/tmp` };
  }

  /** Where the restore check looks at the networking (once the controller has started). */
  private networkLook(): NetworkLook | undefined {
    const f = this.facts().network;
    return f === undefined ? undefined : { dir: f.dbDir, execRoot: f.execRoot, tag: f.tag };
  }

  private processExited(): void {
    this.exited = true;
    this.scheduler.halt();
    this.world.daemonExited();
  }

  /**
   * Whether start-up is over (ready or failed) and no container actor is mid-transition, as
   * the shutdown's settle counts it; `throughRestarts`: also none waiting out a restart back-off.
   */
  settled(throughRestarts = false): boolean {
    return (
      this.startup !== null &&
      !this.execs.sweeping() &&
      this.host.settled(throughRestarts) &&
      !this.collectingImages()
    );
  }

  /** Schedules client operations, `atMs` after now. */
  schedule(ops: readonly TimedOp[]): void {
    const base = this.scheduler.now;
    for (const o of ops) this.scheduler.schedule(base + o.atMs, () => this.perform(o.op));
  }

  private reply(what: string, result: string, message?: string): void {
    this.history.replies.push(`${what}: ${result}${message === undefined ? '' : `: ${message}`}`);
  }

  private request(what: string, id: string, event: ContainerRequest): void {
    const answered = (r: Reply): void => this.reply(what, r.result, r.message);
    if (!this.host.request(id, event, answered)) this.reply(what, 'notFound');
  }

  /** One client operation, as the API layer does it. */
  perform(op: ClientOp): void {
    if (this.crashed || this.exited || !this.answering) return;
    if (op.op === 'shutdown' && this.startup === null) {
      // As the daemon's signal handler: the shutdown waits for start-up to finish.
      this.shutdownAsked = true;
      return;
    }
    if (this.startup?.status === 'failed') return;
    // Requests wait at the API's gate until the image GC after restore is done (a signal does not).
    if (op.op !== 'shutdown' && this.collectingImages()) {
      this.gated.push(op);
      return;
    }
    if (op.op === 'shutdown') {
      if (this.session.actors.has('daemon-shutdown') || this.startup?.status !== 'ready') return;
      this.session.spawn(this.shutdownMachine, 'daemon-shutdown', {
        liveRestore: this.config.liveRestore,
        shutdownTimeout: this.config.shutdownTimeout,
        acquired: this.startup.acquired,
        containers: this.host.shutdownContainers(),
      });
      return;
    }
    if (this.session.actors.has('daemon-shutdown')) return; // the API socket is closed
    if (op.op === 'pull') {
      this.pull(op);
      return;
    }
    if (
      op.op === 'networkCreate' ||
      op.op === 'networkRm' ||
      op.op === 'connect' ||
      op.op === 'disconnect'
    ) {
      this.networkOp(op);
      return;
    }
    const what = `${op.op} ${op.name}`;
    if (op.op === 'run' || op.op === 'create') {
      this.create(op, what);
      return;
    }
    const c = this.host.byName(op.name);
    if (c === null) {
      this.reply(what, 'notFound');
      return;
    }
    const id = c.record.id;
    switch (op.op) {
      case 'start':
        if (c.record.config.autoRemove) this.history.mayBeGone.add(id);
        this.request(what, id, { type: 'api.start' });
        return;
      case 'stop':
        this.request(what, id, {
          type: 'api.stop',
          ...(op.timeoutS === undefined ? {} : { timeoutS: op.timeoutS }),
        });
        return;
      case 'restart':
        if (c.record.config.autoRemove) this.history.mayBeGone.add(id);
        this.request(what, id, {
          type: 'api.restart',
          ...(op.timeoutS === undefined ? {} : { timeoutS: op.timeoutS }),
        });
        return;
      case 'kill':
        this.request(what, id, { type: 'api.kill', signal: op.signal });
        return;
      case 'pause':
        this.request(what, id, { type: 'api.pause' });
        return;
      case 'unpause':
        this.request(what, id, { type: 'api.unpause' });
        return;
      case 'rm':
        this.history.mayBeGone.add(id);
        this.request(what, id, { type: 'api.remove', force: op.force });
        return;
      case 'exec': {
        if (c.record.state.status !== 'running') {
          this.reply(what, 'conflict', `Container ${id} is not running`);
          return;
        }
        this.opSeq += 1;
        const execId = `${op.exec}-${this.opSeq}`;
        this.world.containerd.execs.behaviours.set(execId, op.behaviour);
        this.execs.create(
          {
            id: execId,
            container: id,
            entrypoint: 'sh',
            args: [],
            user: '',
            privileged: false,
            tty: false,
            attachStdin: false,
            attachStdout: false,
            attachStderr: false,
            detachKeys: '',
            process: { args: ['sh'] },
            consoleSize: null,
          },
          { image: c.record.image, name: op.name },
        );
        this.execs.ask(execId, { type: 'api.execStart', detach: true }, (r) =>
          this.reply(what, r.result, r.message),
        );
        return;
      }
      case 'commit': {
        this.opSeq += 1;
        const actorId = `commit:${id}:${this.opSeq}`;
        // As the daemon's route does: the image store holds the commit's layer until it ends.
        const hold = `commit-${this.opSeq}`;
        this.world.images.begin(hold);
        const staging = `${this.imageDirs().root}/layers/staging`;
        this.session.spawn('commit', actorId, {
          actorId,
          container: id,
          upper: `${this.config.dataRoot}/overlay2/${id}/diff`,
          lower: [simImageLayer],
          overlay: true,
          hold,
          staging: `${staging}/${hold}-layer`,
          configPath: `${staging}/${hold}-config.json`,
          // The simulated containers' image is no layer of the image store: the commit's is the first.
          parentLayers: [],
          image: {
            architecture: 'amd64',
            os: 'linux',
            author: '',
            comment: '',
            container: id,
            config: { Cmd: ['sh'], Entrypoint: null, Env: [], WorkingDir: '' },
            created: iso(this.scheduler.now),
            diffIds: [],
            history: [],
          },
          tag: op.tag,
          attributes: { image: c.record.image, name: op.name },
        } satisfies CommitInput);
        return;
      }
    }
  }

  private create(op: Extract<ClientOp, { op: 'run' | 'create' }>, what: string): void {
    const conflict = this.host.nameConflict(op.name);
    if (conflict !== null) {
      this.reply(what, 'conflict', conflict);
      return;
    }
    const id = containerIdOf(op.name);
    if (this.idsUsed.has(id)) {
      // The name was used before, in this life: a new container gets a new ID, like Docker's random ones.
      this.reply(
        what,
        'conflict',
        `container ID ${id} was used in this daemon's life; pick another name`,
      );
      return;
    }
    const record = newRecord(id, {
      name: op.name,
      autoRemove: op.rm ?? false,
      ...(op.restart ? { restartPolicy: op.restart } : {}),
      stopTimeout: op.stopTimeout ?? 2,
    });
    const net = simNetConfig(id, op.net);
    const withNet = {
      ...record,
      config: { ...record.config, network: net, networkMode: net.mode, hostname: net.hostname },
    };
    if (op.op === 'run' && op.health) {
      withNet.config.healthcheck = op.health.config;
      this.world.containerd.execs.probes.set(id, op.health.probes);
    }
    this.world.behaviours.set(id, op.behaviour);
    this.idsUsed.add(id);
    this.host.create(
      {
        record: withNet,
        spec: { process: { args: record.config.cmd } },
        rootfs: { driver: 'overlay2', layers: [simImageLayer] },
      },
      (r) => {
        this.reply(what, r.result, r.message);
        if (r.result !== 'ok') return;
        this.history.acknowledged.add(id);
        if (op.op === 'run') {
          if (op.rm) this.history.mayBeGone.add(id);
          this.request(`start ${op.name}`, id, { type: 'api.start' });
        }
      },
    );
  }

  /** A network request, as the API's /networks routes make it (errors are the client's answer). */
  private networkOp(
    op: Extract<ClientOp, { op: 'networkCreate' | 'networkRm' | 'connect' | 'disconnect' }>,
  ): void {
    const what = `${op.op} ${op.network}${'name' in op ? ` ${op.name}` : ''}`;
    const answered = (r: { ok: true } | { ok: false; error: { message: string } }): void =>
      this.reply(what, r.ok ? 'ok' : 'failed', r.ok ? undefined : r.error.message);
    try {
      switch (op.op) {
        case 'networkCreate':
          this.network.createNetwork(
            {
              Name: op.network,
              CheckDuplicate: true,
              ...(op.subnet ? { IPAM: { Config: [{ Subnet: op.subnet }] } } : {}),
            },
            '2026-01-01T00:00:00.000Z',
            answered,
          );
          return;
        case 'networkRm':
          this.network.removeNetwork(op.network, answered);
          return;
        case 'connect':
          this.network.connect(
            op.network,
            op.name,
            { aliases: op.alias ? [op.alias] : [], ipv4: null },
            answered,
          );
          return;
        case 'disconnect':
          this.network.disconnect(op.network, op.name, answered);
          return;
      }
    } catch (err) {
      this.reply(what, 'refused', (err as Error).message);
    }
  }

  /** `docker pull`: one imagePull actor, as the daemon's registry service spawns it. */
  private pull(op: Extract<ClientOp, { op: 'pull' }>): void {
    const pullId = `pull-${++this.pulls}`;
    const actorId = `pull:${pullId}`;
    const root = this.facts().root ?? this.config.dataRoot;
    // The pull's temp dir and staging are its own until its cleanup releases its holds.
    this.world.images.begin(pullId);
    this.session.spawn('imagePull', actorId, {
      actorId,
      pull: pullId,
      domain: 'registry.sim',
      repository: op.repository,
      name: `registry.sim/${op.repository}`,
      tag: op.tag,
      digest: null,
      platform: { os: 'linux', architecture: 'amd64', variant: null },
      explicitPlatform: false,
      credentials: null,
      tmpDir: `${this.imageDirs().tmpDir}/${pullId}`,
      stagingDir: `${root}/layers/staging`,
      maxConcurrentDownloads: this.config.maxConcurrentDownloads,
      maxAttempts: this.config.maxDownloadAttempts ?? 5,
    });
  }

  /** The restore check's verdict (machines/restore-check), as the daemon records it: runs until it has judged. */
  checkRestore(): RestoreCheckOutput | null {
    while (!this.crashed && this.restoreVerdict === null && !this.scheduler.idle)
      this.scheduler.runUntilIdle(1);
    return this.restoreVerdict;
  }

  /** Delivers what is due up to `ms` from now (or until the process dies). */
  runFor(ms: number): void {
    this.scheduler.runUntil(this.scheduler.now + ms);
  }

  /**
   * Runs until no container actor is mid-transition, restarts included (at most `maxMs` of
   * virtual time; a restart loop that outlasts it is settled as the shutdown counts it).
   * Returns whether it settled.
   */
  runUntilSettled(maxMs = 120_000): boolean {
    const end = this.scheduler.now + maxMs;
    while (!this.crashed && !this.exited) {
      // Past `maxMs` a restart loop counts as settled between two attempts (in its back-off).
      if (this.settled(this.scheduler.now < end) && this.noneDue()) return true;
      if (this.scheduler.idle || this.scheduler.now >= end + maxMs) return this.settled();
      this.scheduler.runUntilIdle(1);
    }
    return this.exited;
  }

  /** Nothing pending at the current instant (an exit due now would unsettle a container). */
  private noneDue(): boolean {
    return this.scheduler.nextAt() > this.scheduler.now;
  }

  /** The host as the invariants see it: the store's containers, containerd's tasks and containers, what clients were told. */
  view(): HostView {
    return hostView(this.world, this.history);
  }
}

/** The invariants' view of a simulated host, with what the clients were told. */
export function hostView(world: SimWorld, history: ClientHistory): HostView {
  return {
    ...world.observeHost(),
    acknowledged: [...history.acknowledged].map((id) => ({
      id,
      mayBeGone: history.mayBeGone.has(id),
    })),
  };
}

/** A simulated container's networking, from its `--network` and `-p HOST:CTR` flags. */
export function simNetConfig(id: string, f: NetFlags | undefined): ContainerNetConfig {
  const portBindings: ContainerNetConfig['portBindings'] = {};
  for (const p of f?.publish ?? []) {
    const [host = '', ctr = ''] = p.split(':');
    const key = ctr.includes('/') ? ctr : `${ctr}/tcp`;
    portBindings[key] = [...(portBindings[key] ?? []), { hostIp: '', hostPort: host }];
  }
  return {
    mode: f?.network ?? 'default',
    hostname: id.slice(0, 12),
    domainname: '',
    portBindings,
    publishAll: false,
    exposed: Object.keys(portBindings),
    dns: [],
    dnsSearch: [],
    dnsOptions: [],
    extraHosts: [],
    endpoints: [],
  };
}

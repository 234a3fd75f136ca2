import { MemoryTrace, makeHeader } from '../../effects/record.ts';
import type { EffectCall, EffectEvent } from '../../effects/requests.ts';
import { Session, type Executor, type TraceSink } from '../../effects/runner.ts';
import { SimScheduler } from '../../effects/sim/scheduler.ts';
import type { SimWorld, TaskBehaviour } from '../../effects/sim/world.ts';
import type { RecordBody } from '../../effects/trace.ts';
import {
  isSettled,
  shutdownStops,
  type ContainerSnapshot,
} from '../../machines/container/snapshot.ts';
import type { ContainerContext } from '../../machines/container/types.ts';
import type { HostView } from '../../machines/container/invariants.ts';
import type { RestartPolicy } from '../../machines/container/restart.ts';
import type { ContainerEvent, ReplyResult } from '../../machines/container/types.ts';
import type { ShutdownOutput } from '../../machines/daemon-shutdown/machine.ts';
import type { StartupOutput } from '../../machines/daemon-startup/machine.ts';
import type { StartupConfig } from '../../machines/daemon-startup/types.ts';
import type { RestoreCheckOutput } from '../../machines/restore-check/machine.ts';
import { newRecord } from './containers.ts';
import { priorities } from './simulate.ts';
import { tuneForSimulation } from './v8-tuning.ts';
import { NetworkController } from '../daemon/network/controller.ts';
import { containerNetInfo } from '../daemon/network/container-info.ts';
import { idFrom } from '../../machines/network/start.ts';
import type { ContainerNetConfig } from '../../machines/network/model.ts';

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
  /** SIGTERM to the daemon: the shutdown machine, then the process exits. */
  | { op: 'shutdown' }
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
  /** Keep the records in memory (on by default). */
  record?: boolean;
  /**
   * When containerd's exits start to be heard: from the client's connect (the daemon's way),
   * or only once restore has spawned the actors (the old way, kept to prove the difference).
   */
  exitsHeardFrom?: 'connect' | 'restore';
}

/**
 * One life of the daemon process on a simulated host, wired as `src/daemon` wires the real
 * one: the start-up machine, then `restore` (one container actor per stored container, told
 * what containerd reports), containerd's exits routed to the actors (buffered from the
 * moment the client connects until restore has spawned them), the client's requests, and
 * the shutdown machine whose container stops and settle go to the actors. The power can be
 * cut after any record: nothing after it reaches the world.
 */
export class SimDaemon {
  readonly world: SimWorld;
  readonly config: StartupConfig;
  readonly scheduler: SimScheduler;
  readonly session: Session;
  readonly trace: MemoryTrace | null;
  readonly history: ClientHistory;
  /** Records written in this life (up to the crash). */
  records = 0;
  crashed = false;
  exited = false;
  startup: StartupOutput | null = null;
  shutdownOutput: ShutdownOutput | null = null;
  private readonly crashAt: number | null;
  private readonly containerMachine: string;
  private readonly exitsHeardFrom: 'connect' | 'restore';
  private restored = false;
  private readonly bufferedExits = new Map<
    string,
    ({ type: string } & Record<string, unknown>)[]
  >();
  private readonly replyWaiters = new Map<
    string,
    (result: ReplyResult, message?: string) => void
  >();
  private settleWaiters: (() => void)[] = [];
  private reqSeq = 0;
  /** The network controller, as the daemon's (src/daemon/network), on the simulated host. */
  readonly network: NetworkController;
  private idSeq = 0;

  constructor(opts: SimDaemonOptions) {
    tuneForSimulation();
    this.world = opts.world;
    this.config = opts.config;
    this.history = opts.history;
    this.crashAt = opts.crashAtRecord ?? null;
    this.containerMachine = opts.containerMachine ?? 'container';
    this.exitsHeardFrom = opts.exitsHeardFrom ?? 'connect';
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
    this.session = new Session({ executor, sink, now: () => this.scheduler.now });
    this.scheduler.deliverExternal = (actorId, event) => this.routeWorldEvent(actorId, event);
    const seed = opts.seed;
    this.network = new NetworkController({
      session: this.session,
      newId: () => idFrom(`sim:${seed}:${++this.idSeq}`),
      newHex: (n) => idFrom(`sim:${seed}:hex:${++this.idSeq}`).slice(0, n),
      container: (ref) => {
        const c =
          this.containerContexts().find(
            (x) => x.record.id === ref || x.record.name === `/${ref.replace(/^\//, '')}`,
          ) ?? null;
        return c ? containerNetInfo(c, '/sim') : null;
      },
    });
    this.scheduler.afterDeliver = () => this.afterDeliver();
    this.session.spawn(opts.startupMachine ?? 'daemonStartup', 'daemon', { config: this.config });
  }

  private onRecord(r: RecordBody & { seq?: number }): void {
    if (this.crashed) return;
    this.records += 1;
    this.trace?.write(r);
    if (r.kind === 'mark' && r.mark.mark === 'reply') {
      const req = String(r.mark['req']);
      const waiter = this.replyWaiters.get(req);
      this.replyWaiters.delete(req);
      const result = r.mark['result'] as ReplyResult;
      const message = typeof r.mark['message'] === 'string' ? r.mark['message'] : undefined;
      // The client hears the reply after the actor's step, never inside it (as the real API's promise does).
      if (waiter) this.scheduler.schedule(this.scheduler.now, () => waiter(result, message));
    }
    if (this.crashAt !== null && this.records >= this.crashAt) this.cutPower();
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
    if (call.effect === 'api.stopContainer') {
      const id = call.container;
      // Sent after the shutdown's step, as the real handler's promise runs (never inside it).
      this.scheduler.schedule(this.scheduler.now, () =>
        this.request(
          id,
          { type: 'api.stop', timeoutS: call.timeoutS, shutdown: true },
          (result, message) => {
            const exitCode = this.contextOf(id)?.record.state.exitCode ?? 0;
            deliver(
              result === 'ok' || result === 'notModified'
                ? { type: 'effect.done', id: call.id, result: { exitCode } }
                : {
                    type: 'effect.failed',
                    id: call.id,
                    error: { code: 'EIO', message: message ?? result },
                  },
              0,
            );
          },
          () => deliver({ type: 'effect.done', id: call.id, result: { exitCode: 0 } }, 0),
        ),
      );
      return;
    }
    if (call.effect === 'net.sandboxUp' || call.effect === 'net.sandboxDown') {
      // Answered by the network controller, after this step (as the real handler's promise).
      const reply = (r: { ok: boolean; value?: unknown; error?: unknown }): void =>
        this.scheduler.schedule(this.scheduler.now, () => {
          if (this.crashed || this.exited) return;
          const e = r.error as { code?: string; message?: string } | undefined;
          deliver(
            r.ok
              ? {
                  type: 'effect.done',
                  id: call.id,
                  result: call.effect === 'net.sandboxUp' ? r.value : {},
                }
              : {
                  type: 'effect.failed',
                  id: call.id,
                  error: { code: (e?.code ?? 'EIO') as never, message: e?.message ?? 'failed' },
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
      return;
    }
    if (call.effect === 'api.settleContainers') {
      this.settleWaiters.push(() =>
        deliver(
          {
            type: 'effect.done',
            id: call.id,
            result: { settled: this.containerContexts().length },
          },
          0,
        ),
      );
      return;
    }
    this.scheduler.submit(actorId, call, deliver);
  }

  /** containerd's exits: to the actor; before restore has spawned it, kept (the subscription started at connect). */
  private routeWorldEvent(
    actorId: string,
    event: { type: string } & Record<string, unknown>,
  ): void {
    if (this.crashed || this.exited) return;
    const entry = this.session.actors.get(actorId);
    if (entry && (entry.actor.getSnapshot() as { status: string }).status === 'active') {
      this.session.send(actorId, event);
      return;
    }
    if (!this.restored && this.world.connectedTo !== null && this.exitsHeardFrom === 'connect') {
      const list = this.bufferedExits.get(actorId) ?? [];
      list.push(event);
      this.bufferedExits.set(actorId, list);
    }
  }

  private afterDeliver(): void {
    if (this.crashed) return;
    if (this.startup === null) {
      const snap = this.session.actors.get('daemon')?.actor.getSnapshot() as
        { status: string; output?: StartupOutput } | undefined;
      if (snap?.status === 'done' && snap.output) {
        this.startup = snap.output;
        if (snap.output.status === 'ready') {
          if (snap.output.facts.network) this.network.init(snap.output.facts.network);
          this.restore(snap.output);
        } else this.processExited();
      }
    }
    const stop = this.session.actors.get('daemon-shutdown')?.actor.getSnapshot() as
      { status: string; output?: ShutdownOutput } | undefined;
    if (stop?.status === 'done' && this.shutdownOutput === null && stop.output) {
      this.shutdownOutput = stop.output;
      this.processExited();
    }
    if (this.settleWaiters.length > 0 && this.settled()) {
      const ws = this.settleWaiters;
      this.settleWaiters = [];
      for (const w of ws) w();
    }
  }

  private processExited(): void {
    this.exited = true;
    this.scheduler.halt();
    this.world.daemonExited();
  }

  /** Restore, as `ContainerHost.restore`: an actor per stored container, with containerd's word on its task. */
  private restore(startup: StartupOutput): void {
    if (startup.status !== 'ready') return;
    const db = this.db();
    for (const f of startup.facts.containers ?? []) {
      const record = db?.get(`container/${f.id}`) as ContainerContext['record'] | undefined;
      if (!record) continue;
      const actorId = `container:${f.id}`;
      this.session.spawn(this.containerMachine, actorId, {
        actorId,
        record,
        origin: 'restore',
        task: f.task,
        liveRestore: this.config.liveRestore,
        spec: db?.get(`spec/${f.id}`) ?? {},
        stdout: `/sim/containers/${f.id}/stdout`,
        stderr: `/sim/containers/${f.id}/stderr`,
      });
      // Exits heard since the client connected belong to the task restore found alive; of a
      // task already stopped, restore knows (containerd listed it stopped).
      const heard = this.bufferedExits.get(actorId) ?? [];
      if (f.task === 'running' || f.task === 'paused')
        for (const e of heard) this.session.send(actorId, e);
    }
    this.bufferedExits.clear();
    this.restored = true;
  }

  private db(): Map<string, unknown> | undefined {
    return [...this.world.stores.values()][0];
  }

  /**
   * Whether start-up is over (ready or failed) and no container actor is mid-transition, as
   * the shutdown's settle counts it; `throughRestarts`: also none waiting out a restart back-off.
   */
  settled(throughRestarts = false): boolean {
    if (this.startup === null) return false;
    for (const [id, e] of this.session.actors)
      if (
        id.startsWith('container:') &&
        !isSettled(e.actor.getSnapshot() as ContainerSnapshot, throughRestarts)
      )
        return false;
    return true;
  }

  private contextOf(id: string): ContainerContext | null {
    const e = this.session.actors.get(`container:${id}`);
    if (!e) return null;
    const snap = e.actor.getSnapshot() as { status: string; context: ContainerContext };
    return snap.status === 'active' ? snap.context : null;
  }

  private containerContexts(): ContainerContext[] {
    const out: ContainerContext[] = [];
    for (const [id] of this.session.actors) {
      if (!id.startsWith('container:')) continue;
      const c = this.contextOf(id.slice(10));
      if (c) out.push(c);
    }
    return out;
  }

  private byName(name: string): ContainerContext | null {
    return this.containerContexts().find((c) => c.record.name === `/${name}`) ?? null;
  }

  /** Sends a request to a container's actor; `answered` gets its reply, `missing` runs when there is no such container. */
  private request(
    id: string,
    event: { type: ContainerEvent['type'] } & Record<string, unknown>,
    answered: (result: ReplyResult, message?: string) => void,
    missing: () => void,
  ): void {
    if (this.contextOf(id) === null) {
      missing();
      return;
    }
    this.reqSeq += 1;
    const req = `sim-${this.reqSeq}`;
    this.replyWaiters.set(req, answered);
    this.session.send(`container:${id}`, { ...event, req });
  }

  /** Schedules client operations, `atMs` after now. */
  schedule(ops: readonly TimedOp[]): void {
    const base = this.scheduler.now;
    for (const o of ops) this.scheduler.schedule(base + o.atMs, () => this.perform(o.op));
  }

  private reply(what: string, result: string, message?: string): void {
    this.history.replies.push(`${what}: ${result}${message === undefined ? '' : `: ${message}`}`);
  }

  /** One client operation, as the API layer does it. */
  perform(op: ClientOp): void {
    if (this.crashed || this.exited || this.startup?.status !== 'ready') return;
    if (op.op === 'shutdown') {
      if (this.session.actors.has('daemon-shutdown')) return;
      const running = shutdownStops(
        [...this.session.actors]
          .filter(([id]) => id.startsWith('container:'))
          .map(([, e]) => e.actor.getSnapshot() as ContainerSnapshot),
      );
      this.session.spawn('daemonShutdown', 'daemon-shutdown', {
        liveRestore: this.config.liveRestore,
        shutdownTimeout: this.config.shutdownTimeout,
        acquired: this.startup.acquired,
        running,
      });
      return;
    }
    if (this.session.actors.has('daemon-shutdown')) return; // the API socket is closed
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
    const c = this.byName(op.name);
    if (c === null) {
      this.reply(what, 'notFound');
      return;
    }
    const id = c.record.id;
    const answered = (result: ReplyResult, message?: string): void =>
      this.reply(what, result, message);
    const missing = (): void => this.reply(what, 'notFound');
    switch (op.op) {
      case 'start':
        if (c.record.config.autoRemove) this.history.mayBeGone.add(id);
        this.request(id, { type: 'api.start' }, answered, missing);
        return;
      case 'stop':
        this.request(
          id,
          { type: 'api.stop', ...(op.timeoutS === undefined ? {} : { timeoutS: op.timeoutS }) },
          answered,
          missing,
        );
        return;
      case 'restart':
        if (c.record.config.autoRemove) this.history.mayBeGone.add(id);
        this.request(
          id,
          { type: 'api.restart', ...(op.timeoutS === undefined ? {} : { timeoutS: op.timeoutS }) },
          answered,
          missing,
        );
        return;
      case 'kill':
        this.request(id, { type: 'api.kill', signal: op.signal }, answered, missing);
        return;
      case 'pause':
        this.request(id, { type: 'api.pause' }, answered, missing);
        return;
      case 'unpause':
        this.request(id, { type: 'api.unpause' }, answered, missing);
        return;
      case 'rm':
        this.history.mayBeGone.add(id);
        this.request(id, { type: 'api.remove', force: op.force }, answered, missing);
        return;
    }
  }

  /** A network request, as the API's /networks routes make it (errors are the client's answer). */
  private networkOp(
    op: Extract<ClientOp, { op: 'networkCreate' | 'networkRm' | 'connect' | 'disconnect' }>,
  ): void {
    const what = `${op.op} ${op.network}${'name' in op ? ` ${op.name}` : ''}`;
    const answered = (r: { ok: boolean; error?: unknown }): void =>
      this.reply(
        what,
        r.ok ? 'ok' : 'failed',
        r.ok ? undefined : (r.error as { message: string }).message,
      );
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

  private create(op: Extract<ClientOp, { op: 'run' | 'create' }>, what: string): void {
    if (this.byName(op.name) !== null) {
      this.reply(what, 'conflict', `Conflict. The container name "/${op.name}" is already in use`);
      return;
    }
    const id = containerIdOf(op.name);
    if (this.session.actors.has(`container:${id}`)) {
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
    record.config.network = simNetConfig(id, op.net);
    // The container's directory, as the real create makes it (its hosts, hostname and resolv.conf go there).
    this.world.fs.mkdirAll(`/sim/containers/${id}`, 0o710);
    record.config.networkMode = record.config.network.mode;
    const spec = { process: { args: ['sh'] } };
    this.db()?.set(`spec/${id}`, spec);
    this.world.behaviours.set(id, op.behaviour);
    this.reqSeq += 1;
    const req = `sim-${this.reqSeq}`;
    this.replyWaiters.set(req, (result, message) => {
      this.reply(what, result, message);
      if (result !== 'ok') return;
      this.history.acknowledged.add(id);
      if (op.op === 'run') {
        if (op.rm) this.history.mayBeGone.add(id);
        this.request(
          id,
          { type: 'api.start' },
          (r, m) => this.reply(`start ${op.name}`, r, m),
          () => this.reply(`start ${op.name}`, 'notFound'),
        );
      }
    });
    this.session.spawn(this.containerMachine, `container:${id}`, {
      actorId: `container:${id}`,
      record,
      origin: 'create',
      req,
      spec,
      stdout: `/sim/containers/${id}/stdout`,
      stderr: `/sim/containers/${id}/stderr`,
    });
  }

  /** The restore check (machines/restore-check) on the host as it is now; its verdict, as the daemon records it. */
  checkRestore(): RestoreCheckOutput | null {
    const actorId = `restore-check-${this.reqSeq++}`;
    const entry = this.session.spawn('restoreCheck', actorId, { actorId });
    while (
      !this.crashed &&
      (entry.actor.getSnapshot() as { status: string }).status === 'active' &&
      !this.scheduler.idle
    )
      this.scheduler.runUntilIdle(1);
    return (entry.actor.getSnapshot() as { output?: RestoreCheckOutput }).output ?? null;
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

import { mkdirSync } from 'node:fs';
import { AsyncExecutor } from '../../effects/async-executor.ts';
import type { EffectCall } from '../../effects/requests.ts';
import { familyOf } from '../../effects/requests.ts';
import { FileTrace, makeHeader } from '../../effects/record.ts';
import { Session } from '../../effects/runner.ts';
import { realClock } from '../../effects/clock/real.ts';
import { realFs } from '../../effects/fs/real.ts';
import { realKernel } from '../../effects/kernel/real.ts';
import { setDumpProvider } from '../../effects/kernel/dump-signal.ts';
import { LevelStore } from '../../effects/store/real.ts';
import { ContainerdConnection } from '../../effects/containerd/real.ts';
import type { ShutdownOutput, RunningContainer } from '../../machines/daemon-shutdown/machine.ts';
import type { StartupOutput } from '../../machines/daemon-startup/machine.ts';
import type { Facts, StartupConfig } from '../../machines/daemon-startup/types.ts';
import { ApiEndpoint } from './api-endpoint.ts';
import type { Logger } from './logger.ts';
import { SupervisedContainerd } from './supervised-containerd.ts';
import { ContainerRuntime } from './container-runtime.ts';
import { VolumeStore } from './volumes.ts';
import { ContainerHost } from './containers/host.ts';
import { registerContainerRoutes } from './containers/routes.ts';
import { ImageStore } from './images.ts';
import { registerImageRoutes } from './images-api.ts';
import { EventsService } from './events.ts';
import { registerInspectionFeed } from './inspection-feed.ts';
import { machines } from '../../machines/registry.ts';
import { randomBytes } from 'node:crypto';
import { RealNet } from '../../effects/net/real.ts';
import type { NetRequest } from '../../effects/net/requests.ts';
import { NetworkController, type Done } from './network/controller.ts';
import { containerNetInfo } from './network/container-info.ts';
import { registerNetworkRoutes } from './network/routes.ts';
import { EffectFailure } from '../../effects/handler.ts';

/**
 * The real daemon: the start-up and shutdown machines on real effects, in one session
 * whose every record goes to the flight recorder under the exec root.
 */
export class Daemon {
  readonly config: StartupConfig;
  readonly session: Session;
  readonly tracePath: string;
  private readonly log: Logger;
  private readonly trace: FileTrace;
  private readonly executor: AsyncExecutor;
  private readonly store = new LevelStore();
  private readonly containerd = new ContainerdConnection();
  private readonly supervisor: SupervisedContainerd;
  private readonly api: ApiEndpoint;
  private readonly started = performance.now();
  private startup: StartupOutput | null = null;
  readonly runtime: ContainerRuntime;
  readonly containers: ContainerHost;
  readonly events: EventsService;
  /** Container networking: the real host's handler and the network controller. */
  readonly net = new RealNet();
  readonly network: NetworkController;
  private cancelEvents: (() => void) | null = null;

  constructor(config: StartupConfig, log: Logger, version: string) {
    this.config = config;
    this.log = log;
    const traceDir = `${config.execRoot}/traces`;
    mkdirSync(traceDir, { recursive: true, mode: 0o700 });
    this.tracePath = `${traceDir}/daemon-${new Date().toISOString().replaceAll(':', '')}-${process.pid}.jsonl`;
    // processMs: how long this process had run (Node's bootstrap, loading the CLI, reading the
    // configuration) when the flight recorder started; every record's `t` counts from here.
    this.trace = new FileTrace(
      this.tracePath,
      makeHeader(
        'daemon',
        { pid: process.pid, version, processMs: Math.round(performance.now()) },
        new Date().toISOString(),
      ),
    );
    this.executor = new AsyncExecutor(
      (call) => this.run(call),
      () => this.now(),
    );
    this.session = new Session({
      executor: this.executor,
      sink: this.trace,
      now: () => this.now(),
    });
    this.supervisor = new SupervisedContainerd(this.session);
    this.api = new ApiEndpoint(this, version, log);
    // Mounted before any actor is spawned, so the feed's record numbers match the flight recorder's.
    registerInspectionFeed(this.api.server, this.session, machines);
    this.runtime = new ContainerRuntime(this.containerd, config.execRoot, config.dataRoot, (m) =>
      log.warn(m),
    );
    const images = new ImageStore(config.dataRoot, this.store);
    this.events = new EventsService();
    const volumes = new VolumeStore(config.dataRoot, this.store);
    this.containers = new ContainerHost({
      session: this.session,
      store: this.store,
      images,
      volumes,
      runtime: this.runtime,
      root: config.dataRoot,
      execRoot: config.execRoot,
      events: this.events,
    });
    registerContainerRoutes(this.api.server, this.containers);
    this.network = new NetworkController({
      session: this.session,
      newId: () => randomBytes(32).toString('hex'),
      newHex: (n) =>
        randomBytes(Math.ceil(n / 2))
          .toString('hex')
          .slice(0, n),
      container: (ref) => {
        try {
          return containerNetInfo(this.containers.resolve(ref), config.dataRoot);
        } catch {
          return null;
        }
      },
    });
    this.containers.network = this.network;
    registerNetworkRoutes(this.api.server, this.network, () => this.containers.restored);
    volumes.register(this.api.server, (name) => this.containers.volumeUsers(name));
    registerImageRoutes(this.api.server, images, this.events, this.containers);
    this.api.containers = this.containers;
    setDumpProvider(() => this.snapshots());
    this.session.onRecord((actor, r) => {
      if (r.kind === 'mark' && r.mark.mark === 'warning')
        log.warn(String(r.mark['message']), { step: r.mark['step'], actor });
      if (r.kind === 'mark' && r.mark.mark === 'step.done')
        log.debug(`step ${String(r.mark['step'])} done`, { actor });
      if (r.kind === 'mark' && r.mark.mark === 'invariant.violated')
        log.warn(`after restore: ${String(r.mark['message'])}`, { invariant: r.mark['invariant'] });
      if (r.kind === 'mark' && r.mark.mark === 'invariants.checked')
        log.debug(`restore checked: ${String(r.mark['broken'])} invariant violation(s)`);
    });
  }

  private now(): number {
    return Math.round((performance.now() - this.started) * 1000) / 1000;
  }

  /** The one switch from effect family to real handler. */
  private run(call: EffectCall): Promise<unknown> {
    const family = familyOf(call.effect);
    switch (family) {
      case 'fs':
        return realFs.run(call as never);
      case 'kernel':
        return realKernel.run(call as never);
      case 'store':
        return this.store.run(call as never);
      case 'clock':
        return realClock.run(call as never);
      case 'containerd':
        if (call.effect === 'containerd.startSupervised') return this.supervisor.start(call);
        if (call.effect === 'containerd.stopSupervised') return this.supervisor.stop();
        if ('container' in call) return this.runtime.run(call as never);
        // The exit stream ends with the client: by then every container actor has settled (moby-51692).
        if (call.effect === 'containerd.close') this.cancelEvents?.();
        // Exits are heard from the moment the client connects, before restore lists the tasks:
        // one that happens between the list and the actor's spawn is kept for it, not lost.
        if (call.effect === 'containerd.connect')
          return this.containerd.run(call as never).then(async (r) => (await this.routeExits(), r));
        return this.containerd.run(call as never);
      case 'api':
        return this.api.run(call as never);
      case 'net':
        return this.runNet(call as NetRequest & { id: string });
    }
  }

  /** net.sandboxUp and net.sandboxDown go to the network controller; the rest to the host. */
  private runNet(call: NetRequest): Promise<unknown> {
    const settle = <T>(start: (done: Done<T>) => void): Promise<T> =>
      new Promise((resolve, reject) =>
        start((r) => {
          if (r.ok) resolve(r.value);
          else {
            const e = r.error as { code?: string; message: string; status?: number };
            reject(
              new EffectFailure(typeof e.code === 'string' ? (e.code as never) : 'EIO', e.message),
            );
          }
        }),
      );
    if (call.effect === 'net.sandboxUp')
      return settle((done) => this.network.sandboxUp(call.container, done)).catch(
        (err: unknown) => {
          this.runtime.hubs.get(call.container)?.startFailed();
          throw err;
        },
      );
    if (call.effect === 'net.sandboxDown')
      return settle<null>((done) =>
        this.network.sandboxDown(call.container, (r) =>
          call.forget && r.ok ? this.network.forgetContainer(call.container, done) : done(r),
        ),
      ).then(() => ({}));
    return this.net.run(call);
  }

  /** Facts learned so far by the start-up actor (the API reads them while it is still starting). */
  facts(): Facts {
    const entry = this.session.actors.get('daemon');
    return entry
      ? (entry.actor.getSnapshot() as { context: { facts: Facts } }).context.facts
      : { rootUid: 0, rootGid: 0 };
  }

  containerdClient(): ContainerdConnection {
    return this.containerd;
  }

  containerdRevision(): string {
    return this.containerd.revision;
  }

  /** Every actor's current state and context: what SIGUSR1 writes to a file. */
  snapshots(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [id, e] of this.session.actors) {
      const snap = e.actor.getSnapshot() as { value: unknown; status: string; context: unknown };
      out[id] = {
        machine: e.machine,
        status: snap.status,
        value: snap.value,
        context: snap.context,
      };
    }
    return out;
  }

  async start(): Promise<StartupOutput> {
    const entry = this.session.spawn('daemonStartup', 'daemon', { config: this.config });
    this.startup = (await entry.done) as StartupOutput;
    this.trace.flush();
    if (this.startup.status === 'ready') {
      if (this.startup.facts.graphDriver === 'vfs') this.runtime.driver = 'vfs';
      const ready = this.startup;
      // The network controller starts inside restore, before any container actor asks it for a sandbox.
      if (ready.facts.network) this.network.init(ready.facts.network);
      // Every request waits for this (the API already listens): orphaned shims, then restore.
      this.api.server.gate = (async () => {
        const reaped = await this.runtime
          .reapOrphanShims(ready.facts.containerdAddress ?? '', this.config.containerdNamespace)
          .catch((err: unknown) => {
            this.log.warn(`could not look for orphaned shims: ${(err as Error).message}`, {});
            return [];
          });
        for (const id of reaped)
          this.log.warn('killed a containerd shim left by a cancelled task creation', {
            container: id,
          });
        await this.containers.restore(ready.facts.containers ?? [], this.config.liveRestore, (id) =>
          this.takeHeardExits(id),
        );
      })().finally(() => {
        this.restoring = false;
        this.heardExits.clear();
      });
      // Once restore has settled, the host is judged by the restore invariants, in the flight recorder.
      void this.api.server.gate
        .then(() => this.containers.sweepStrayTasks())
        .then(
          (stray) => {
            for (const id of stray)
              this.log.warn(
                'restore found a task of a container it had left without one; it is stopped or deleted',
                { container: id },
              );
          },
          (err: unknown) =>
            this.log.warn(
              `restore's second look at containerd failed: ${(err as Error).message}`,
              {},
            ),
        )
        .then(() =>
          this.session.spawn('restoreCheck', 'restore-check', { actorId: 'restore-check' }),
        );
    } else {
      this.restoring = false;
      this.heardExits.clear();
    }
    return this.startup;
  }

  /** Exits (and OOMs) of containers restore has not spawned yet, by container id. */
  private readonly heardExits = new Map<string, ({ type: string } & Record<string, unknown>)[]>();
  private restoring = true;
  private routing = false;

  private takeHeardExits(id: string): ({ type: string } & Record<string, unknown>)[] {
    const events = this.heardExits.get(id) ?? [];
    this.heardExits.delete(id);
    return events;
  }

  /** containerd's /tasks/exit and /tasks/oom events, to the container actors (resubscribing after a containerd restart). */
  private routeExits(): Promise<void> {
    if (this.routing) return Promise.resolve();
    this.routing = true;
    let stopped = false;
    let subscribed!: () => void;
    // Resolves once containerd has the subscription (its marker came back), or after 2 s at worst.
    const first = new Promise<void>((resolve) => {
      subscribed = resolve;
      setTimeout(resolve, 2_000).unref();
    });
    const loop = async (): Promise<void> => {
      while (!stopped) {
        try {
          const sub = this.containerd.connected.subscribe(['topic~="^/tasks/(exit|oom)$"']);
          this.cancelEvents = () => {
            stopped = true;
            sub.cancel();
            subscribed();
          };
          sub.ready(2_000).then(subscribed, (err: unknown) => {
            this.log.warn(
              `containerd's event stream was not confirmed: ${(err as Error).message}`,
              {},
            );
            subscribed();
          });
          for await (const e of sub.events) {
            const id = String(e.event['container_id'] ?? '');
            const actor = `container:${id}`;
            let event: ({ type: string } & Record<string, unknown>) | null = null;
            if (e.topic === '/tasks/exit' && e.event['id'] === id) {
              const ts = e.event['exited_at'] as { seconds?: number; nanos?: number } | undefined;
              const exitedAt = ts?.seconds
                ? new Date(ts.seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString()
                : new Date().toISOString();
              event = {
                type: 'containerd.taskExit',
                exitStatus: Number(e.event['exit_status'] ?? 0),
                exitedAt,
              };
            } else if (e.topic === '/tasks/oom') event = { type: 'containerd.oom' };
            if (event === null) continue;
            if (this.session.actors.has(actor)) this.session.send(actor, event);
            else if (this.restoring)
              this.heardExits.set(id, [...(this.heardExits.get(id) ?? []), event]);
          }
        } catch {
          // containerd went away: the supervisor restarts it; subscribe again
        }
        if (!stopped) await new Promise((r) => setTimeout(r, 100).unref());
      }
    };
    void loop();
    return first;
  }

  async shutdown(): Promise<ShutdownOutput> {
    if (this.startup?.status !== 'ready') throw new Error('shutdown before a successful start-up');
    const running: RunningContainer[] = this.containers.running();
    const entry = this.session.spawn('daemonShutdown', 'daemon-shutdown', {
      liveRestore: this.config.liveRestore,
      shutdownTimeout: this.config.shutdownTimeout,
      acquired: this.startup.acquired,
      running,
    });
    const output = (await entry.done) as ShutdownOutput;
    this.close();
    return output;
  }

  /** Ends the flight recorder. */
  close(): void {
    this.trace.close();
  }
}

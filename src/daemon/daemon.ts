import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { AsyncExecutor } from '../../effects/async-executor.ts';
import {
  dispatch,
  type EffectCall,
  type EffectRequest,
  type FamilyHandlers,
} from '../../effects/requests.ts';
import { FileTrace, makeHeader } from '../../effects/record.ts';
import { Session } from '../../effects/runner.ts';
import { realClock, registerTickerJob } from '../../effects/clock/real.ts';
import { realFs } from '../../effects/fs/real.ts';
import { realKernel } from '../../effects/kernel/real.ts';
import { setDumpProvider } from '../../effects/kernel/dump-signal.ts';
import { LevelStore } from '../../effects/store/real.ts';
import { RealContainerd } from '../../effects/containerd/real.ts';
import { RootfsLayout } from '../../effects/rootfs/layout.ts';
import { RealRootfs } from '../../effects/rootfs/real.ts';
import type { ShutdownOutput } from '../../machines/daemon-shutdown/machine.ts';
import { startupFacts, type StartupOutput } from '../../machines/daemon-startup/machine.ts';
import type { StartupContext } from '../../machines/daemon-startup/engine.ts';
import { answerSteps } from '../../machines/daemon-startup/steps.ts';
import type { Facts, StartupConfig } from '../../machines/daemon-startup/types.ts';
import type { OperationOutput } from '../../machines/operation/machine.ts';
import { buildMachines, machines } from '../../machines/registry.ts';
import { ContainerHost } from '../host/containers.ts';
import { ExecHost } from '../host/execs.ts';
import { HealthHost } from '../host/health.ts';
import { ApiEndpoint } from './api-endpoint.ts';
import type { Logger } from './logger.ts';
import { SupervisedContainerd } from './supervised-containerd.ts';
import { StdioHubs } from './task-stdio.ts';
import { ExitStream } from './exit-stream.ts';
import { VolumeStore } from './volumes.ts';
import { Containers } from './containers/service.ts';
import { registerContainerRoutes } from './containers/routes.ts';
import { ImageStore } from './images.ts';
import { registerImageRoutes } from './images-api.ts';
import { EventsService } from './events.ts';
import { registerInspectionFeed } from './inspection-feed.ts';
import { RealArchive } from '../../effects/archive/real.ts';
import { ExecStdios } from './exec/stdio.ts';
import { execProcess } from './exec/process-spec.ts';
import { registerArchiveRoutes } from './containers/archive-routes.ts';
import { registerExecRoutes } from './containers/exec-routes.ts';
import { registerStatsRoutes } from './containers/stats-routes.ts';
import { registerUpdateRoutes } from './containers/update-routes.ts';
import { RegistryClient } from '../../effects/registry/real.ts';
import { RealImages } from '../../effects/image/real.ts';
import { RegistryService } from './registry/service.ts';
import { phaseNow, phaseOfStep, type StartupPhase } from './startup-phases.ts';
import { EffectFailure, nextTurn } from '../../effects/handler.ts';
import { RealNet } from '../../effects/net/real.ts';
import type { NetRequest } from '../../effects/net/requests.ts';
import type { NetworkLook } from '../../machines/restore-check/machine.ts';
import { NetworkController, type Done } from './network/controller.ts';
import { containerNetInfo } from './network/container-info.ts';
import { registerNetworkRoutes } from './network/routes.ts';
import { release as kernelRelease } from 'node:os';

/** What the API answers while the image GC after restore runs: they read nothing it changes. */
/** How long the daemon's stop waits for containers' logs to be written out (a stuck disk). */
const logCloseMs = 2000;

const answeredDuringImageGc: ReadonlySet<string> = new Set(['/_ping', '/version', '/info']);

/**
 * The real daemon: the start-up and shutdown machines and the container host on real
 * effects, in one session whose every record goes to the flight recorder under the exec root.
 */
export class Daemon {
  readonly config: StartupConfig;
  readonly session: Session;
  readonly tracePath: string;
  private readonly log: Logger;
  private readonly trace: FileTrace;
  private readonly store = new LevelStore();
  private readonly containerd: RealContainerd;
  private readonly handlers: FamilyHandlers;
  private readonly api: ApiEndpoint;
  private readonly started = performance.now();
  private startup: StartupOutput | null = null;
  readonly host: ContainerHost;
  readonly stdio: StdioHubs;
  readonly layout: RootfsLayout;
  readonly containers: Containers;
  readonly events: EventsService;
  /** `docker exec` and health probes: their actors, and their stdio. */
  readonly execs: ExecHost;
  readonly execStdios = new ExecStdios();
  readonly health: HealthHost;
  readonly registry: RegistryClient;
  /** Container networking: the real host's handler and the network controller. */
  readonly net = new RealNet();
  readonly network: NetworkController;
  private readonly exits: ExitStream;
  private operations = 0;
  private resizes = 0;
  /** The start-up's phases so far (see startup-phases.ts), and the header that reports them. */
  private readonly phases: StartupPhase[];
  private readonly traceMeta: Record<string, unknown>;
  private readonly traceCreatedAt: string;

  /**
   * `phases`: what the program that runs the daemon measured before it (bin/statedock.js:
   * Node's bootstrap, the bundle loaded).
   */
  constructor(
    config: StartupConfig,
    log: Logger,
    version: string,
    phases: readonly StartupPhase[] = [],
  ) {
    this.config = config;
    this.log = log;
    const traceDir = `${config.execRoot}/traces`;
    mkdirSync(traceDir, { recursive: true, mode: 0o700 });
    this.tracePath = `${traceDir}/daemon-${new Date().toISOString().replaceAll(':', '')}-${process.pid}.jsonl`;
    this.phases = [...phases, phaseNow('recorder')];
    // processMs: how long this process had run (Node's bootstrap, loading the CLI, reading the
    // configuration) when the flight recorder started; every record's `t` counts from here.
    // The header has room for the start-up's later phases, written once start-up ends.
    this.traceMeta = {
      pid: process.pid,
      version,
      processMs: Math.round(performance.now()),
      phases: this.phases,
    };
    this.traceCreatedAt = new Date().toISOString();
    this.trace = new FileTrace(
      this.tracePath,
      makeHeader('daemon', this.traceMeta, this.traceCreatedAt),
      64,
      512,
    );
    const executor = new AsyncExecutor(
      (call) => this.run(call),
      () => this.now(),
    );
    this.session = new Session({
      executor,
      sink: this.trace,
      now: () => this.now(),
      later: (fn) => queueMicrotask(fn),
      freezeContexts: true,
    });
    this.layout = new RootfsLayout(config.dataRoot, config.execRoot, config.containerdNamespace);
    // A hub is made when a task is, once the containers' service exists.
    this.stdio = new StdioHubs(
      (id) => this.containers.logDriverOf(id),
      (m) => log.warn(m),
    );
    this.containerd = new RealContainerd({
      execRoot: config.execRoot,
      layout: this.layout,
      stdio: this.stdio,
      execIo: this.execStdios,
      supervision: new SupervisedContainerd(this.session),
      log: (m) => log.warn(m),
      prepareSpec: (id, spec) => this.containers.prepareSpec(id, spec),
      // Exits are heard from the moment the client connects, before restore lists the tasks.
      hearEvents: () => this.exits.start(),
    });
    const images = new ImageStore(config.dataRoot, this.store);
    // Device nodes in a layer are made only by root without user-namespace remapping (Docker
    // skips them in a user namespace; statedock refuses them there, by name).
    const root = process.getuid?.() === 0;
    images.extractOptions = { allowDevices: root && config.usernsRemap === null, chown: root };
    this.registry = new RegistryClient(
      {
        mirrors: config.registryMirrors ?? [],
        insecureRegistries: config.insecureRegistries ?? [],
        certsDir: process.env['STATEDOCK_CERTS_D'] ?? '/etc/docker/certs.d',
        maxConcurrentDownloads: config.maxConcurrentDownloads,
        maxConcurrentUploads: config.maxConcurrentUploads,
      },
      `statedock/${version} node/${process.versions.node} kernel/${kernelRelease()} os/linux arch/amd64`,
    );
    this.api = new ApiEndpoint(this, version, log);
    this.api.onListening = () => {
      if (this.startup === null) this.phases.push(phaseNow('listening'));
    };
    const archive = new RealArchive({ root: config.dataRoot });
    this.handlers = {
      fs: realFs,
      kernel: realKernel,
      store: this.store,
      clock: realClock,
      containerd: this.containerd,
      api: this.api,
      rootfs: new RealRootfs(this.layout),
      archive,
      registry: this.registry,
      image: new RealImages(images),
      net: { run: (req) => this.runNet(req) },
    };
    // Mounted before any actor is spawned, so the feed's record numbers match the flight recorder's.
    registerInspectionFeed(this.api.server, this.session, machines);
    this.host = new ContainerHost({
      session: this.session,
      later: (fn) => queueMicrotask(fn),
      root: config.dataRoot,
    });
    this.events = new EventsService();
    this.execs = new ExecHost({
      session: this.session,
      publish: (id, action, attributes) => this.events.publish('container', action, id, attributes),
      later: (fn) => queueMicrotask(fn),
    });
    registerTickerJob('execGc', () => this.execs.gc());
    this.health = new HealthHost({
      session: this.session,
      contextOf: (id) => this.host.contextOf(id),
      probeProcess: (c, test) =>
        execProcess({
          spec: c.spec,
          hostname: c.record.config.hostname ?? c.record.id.slice(0, 12),
          args: test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test[1] ?? ''] : test.slice(1),
          env: [],
          workingDir: '',
          user: null,
          tty: false,
          privileged: false,
          consoleSize: null,
        }),
      later: (fn) => queueMicrotask(fn),
    });
    this.exits = new ExitStream(this.containerd, this.host, log, (container, exec, exit) =>
      this.execs.routeExit(container, exec, exit.exitStatus, exit.exitedAt),
    );
    this.host.onGone((id) => this.stdio.forget(id));
    this.host.onEvent((id, action, attributes) =>
      this.events.publish('container', action, id, attributes),
    );
    const volumes = new VolumeStore(config.dataRoot, this.store, (title, effects) =>
      this.operation(title, effects),
    );
    this.containers = new Containers({
      host: this.host,
      images,
      volumes,
      stdio: this.stdio,
      layout: this.layout,
      events: this.events,
      // The API answers before start-up is over (containerd may still connect): the facts
      // restore and the layer store learned are there by then.
      driver: () => this.facts().graphDriver ?? 'overlay2',
      operation: (title, effects, bestEffort) => this.operation(title, effects, bestEffort),
      daemonSeccompProfile: () => this.facts().seccompProfile ?? null,
      warn: (message) => log.warn(message, {}),
    });
    this.containers.healthOf = (id) => this.health.state(id);
    this.containers.execIdsOf = (id) => this.execs.idsOf(id);
    this.api.sources = this.containers;
    registerContainerRoutes(this.api.server, this.containers);
    this.network = new NetworkController({
      session: this.session,
      newId: () => randomBytes(32).toString('hex'),
      newHex: (n) =>
        randomBytes(Math.ceil(n / 2))
          .toString('hex')
          .slice(0, n),
      container: (ref) => {
        const found = this.host.lookup(ref);
        return found === null || found === 'ambiguous' ? null : containerNetInfo(found);
      },
    });
    this.containers.network = this.network;
    // Every request waits at the API's gate for restore, the controller's start included.
    registerNetworkRoutes(this.api.server, this.network, () => this.api.server.gate);
    registerExecRoutes(this.api.server, {
      host: this.containers,
      execs: this.execs,
      stdios: this.execStdios,
      events: this.events,
      resizeTask: (c, width, height) => this.resizeTask(c.record.id, width, height),
    });
    registerStatsRoutes(this.api.server, this.containers);
    registerUpdateRoutes(this.api.server, this.containers);
    registerArchiveRoutes(this.api.server, {
      host: this.containers,
      runtime: archive,
      session: this.session,
      images,
      execRoot: config.execRoot,
    });
    volumes.register(this.api.server, (name) => this.containers.volumeUsers(name));
    const registryService = new RegistryService({
      session: this.session,
      client: this.registry,
      images,
      events: this.events,
      root: config.dataRoot,
      tmpDir: () => this.tmpDir(),
      maxConcurrentDownloads: config.maxConcurrentDownloads,
      maxConcurrentUploads: config.maxConcurrentUploads,
      maxDownloadAttempts: config.maxDownloadAttempts ?? 5,
      warn: (message) => log.warn(message, {}),
    });
    registryService.register(this.api.server);
    registerImageRoutes(this.api.server, images, this.events, this.containers, registryService);
    setDumpProvider(() => this.snapshots());
    this.session.onRecord((actor, r) => {
      if (r.kind !== 'mark') return;
      if (r.mark.mark === 'warning')
        log.warn(String(r.mark['message']), { step: r.mark['step'], actor });
      else if (r.mark.mark === 'step.done')
        log.debug(`step ${String(r.mark['step'])} done`, { actor });
      else if (r.mark.mark === 'invariant.violated')
        log.warn(`after restore: ${String(r.mark['message'])}`, {
          invariant: r.mark['invariant'],
        });
      else if (r.mark.mark === 'invariants.checked')
        log.debug(`restore checked: ${String(r.mark['broken'])} invariant violation(s)`);
    });
  }

  private now(): number {
    return Math.round((performance.now() - this.started) * 1000) / 1000;
  }

  /** The API is served (its `serveApi` step is done). */
  private serving = false;

  /** The last turn given to a start-up effect once the API is served (see `run`). */
  private startupTurns: Promise<void> = Promise.resolve();

  /** Every effect, to its family's real handler; the exit stream follows the client. */
  private async run(call: EffectCall): Promise<unknown> {
    // Once the API is served, what start-up still does (the deferred steps, containerd's boot
    // and client) is off the way to its first answers: its effects go one per turn of the
    // event loop, each after the last one's synchronous part, with the API's connections
    // polled in between, so a /_ping waits for one effect's synchronous part at most. (The
    // deferred steps are released together: given a turn each at once, their spawns and
    // key generation would all run before the loop polls again.)
    if (this.serving && this.startup === null && call.step !== undefined) {
      const turn = this.startupTurns.then(nextTurn);
      this.startupTurns = turn;
      await turn;
    }
    // The exit stream ends with the client: by then every container actor has settled (moby-51692).
    if (call.effect === 'containerd.close') this.exits.stop();
    return dispatch(this.handlers, call);
  }

  /** net.sandboxUp and net.sandboxDown go to the network controller; the rest to the host. */
  private runNet(req: NetRequest): Promise<unknown> {
    const settle = <T>(start: (done: Done<T>) => void): Promise<T> =>
      new Promise((resolve, reject) =>
        start((r) => {
          if (r.ok) resolve(r.value);
          else {
            const e = r.error as { code?: string; message: string };
            reject(
              new EffectFailure(typeof e.code === 'string' ? (e.code as never) : 'EIO', e.message),
            );
          }
        }),
      );
    if (req.effect === 'net.sandboxUp')
      return settle((done) => this.network.sandboxUp(req.container, done)).catch((err: unknown) => {
        // No task will be made: clients attached for this start hear its end now.
        this.stdio.hubs.get(req.container)?.startFailed();
        throw err;
      });
    if (req.effect === 'net.sandboxDown')
      return settle<null>((done) =>
        this.network.sandboxDown(req.container, (r) =>
          req.forget && r.ok ? this.network.forgetContainer(req.container, done) : done(r),
        ),
      ).then(() => ({}));
    return this.net.run(req);
  }

  /** Where the restore check looks at the daemon's networking (once its controller has started). */
  private networkLook(): NetworkLook | undefined {
    const f = this.facts().network;
    return f === undefined ? undefined : { dir: f.dbDir, execRoot: f.execRoot, tag: f.tag };
  }

  /** Runs a fixed sequence of effects as an `operation` actor (a volume's creation, a cleanup). */
  operation(title: string, effects: EffectRequest[], bestEffort = false): Promise<OperationOutput> {
    this.operations += 1;
    const actorId = `operation:${this.operations}`;
    const entry = this.session.spawn(
      'operation',
      actorId,
      { actorId, title, effects, bestEffort },
      { forgetWhenDone: true },
    );
    return entry.done as Promise<OperationOutput>;
  }

  /** One resize machine for a container's terminal; its error, or null. */
  private async resizeTask(
    container: string,
    width: number,
    height: number,
  ): Promise<string | null> {
    const c = this.host.contextOf(container);
    this.resizes += 1;
    const actorId = `resize:${container}:${this.resizes}`;
    const entry = this.session.spawn('resize', actorId, {
      actorId,
      container,
      width,
      height,
      attributes: c
        ? { ...c.record.config.labels, image: c.record.image, name: c.record.name.slice(1) }
        : {},
    });
    const out = (await entry.done) as { error: string | null };
    this.session.forget(actorId);
    return out.error;
  }

  /** The daemon's temp dir (`<root>/tmp`, or DOCKER_TMPDIR): pulls download there. */
  private tmpDir(): string {
    const f = this.facts();
    return f.tmpDir ?? `${f.root ?? this.config.dataRoot}/tmp`;
  }

  /** Facts learned so far by the start-up actor (the API reads them while it is still starting). */
  facts(): Facts {
    const entry = this.session.actors.get('daemon');
    return entry
      ? startupFacts(entry.actor.getSnapshot() as { context: StartupContext })
      : { rootUid: 0, rootGid: 0 };
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

  private answer!: () => void;
  readonly answering: Promise<void> = new Promise((resolve) => (this.answer = resolve));

  async start(): Promise<StartupOutput> {
    let opened!: () => void;
    // The API is served once restore is done, maybe before containerd's client is connected (no
    // stored container to reconcile): then what asks containerd waits in the container host.
    // Requests wait at the gate until the image GC has removed what an interrupted pull left.
    this.api.server.gate = new Promise((resolve) => (opened = resolve));
    // The image GC after restore changes nothing these answer (it removes what no image
    // uses): they need not wait for it.
    this.api.server.ungated = (method, path) =>
      (method === 'GET' || method === 'HEAD') && answeredDuringImageGc.has(path);
    // The API is served once restore is done; the steps deferred until then (the trust key, the
    // layer and image stores, the network controller, systemInfo) run while /_ping answers, and
    // everything else waits for them.
    const awaited = new Set(answerSteps);
    this.session.onRecord((actor, r) => {
      if (actor !== 'daemon' || r.kind !== 'mark' || r.mark.mark !== 'step.done') return;
      const step = String(r.mark['step']);
      if (step === 'serveApi') this.serving = true;
      const phase = phaseOfStep[step];
      if (phase !== undefined && this.startup === null) this.phases.push(phaseNow(phase));
      // After the step that records it: its facts are the actor's by then.
      if (awaited.delete(step) && awaited.size === 0) {
        if (this.startup === null) this.phases.push(phaseNow('answering'));
        queueMicrotask(() => this.restored(opened));
      }
    });
    const entry = this.session.spawn('daemonStartup', 'daemon', { config: this.config });
    this.startup = (await entry.done) as StartupOutput;
    this.phases.push(phaseNow(this.startup.status));
    this.trace.flush();
    this.trace.rewriteHeader(makeHeader('daemon', this.traceMeta, this.traceCreatedAt));
    if (this.startup.status !== 'ready') {
      opened();
      this.answer();
    }
    return this.startup;
  }

  /** Every step but containerd's boot and client is done (`answerSteps`): the containers get their actors, then the image GC; then the API's gate opens. */
  private restored(opened: () => void): void {
    const facts = this.facts();
    // The network controller starts before any container actor can ask it for a sandbox.
    if (facts.network) this.network.init(facts.network);
    const found = facts.containers ?? [];
    this.host.restore(found, this.config.liveRestore);
    this.answer();
    // State.Health comes back from the store; containers live-restore kept get their health
    // monitors again.
    this.health.restore(
      found.map((c) => ({
        id: c.id,
        healthcheck: c.record.config.healthcheck,
        live: this.config.liveRestore && (c.task === 'running' || c.task === 'paused'),
        paused: c.task === 'paused',
      })),
    );
    // What an interrupted pull or commit left goes before any request can start a new one.
    const images = { root: facts.root ?? this.config.dataRoot, tmpDir: this.tmpDir() };
    const gc = this.session.spawn('imageGc', 'image-gc', { actorId: 'image-gc', ...images });
    const collected = (): void => {
      opened();
      if (this.session.actors.has('daemon-shutdown')) return;
      // Exec processes of the dead daemon, in the tasks live-restore keeps, are reaped (without
      // it their tasks are stopped, and they die with them); then the host is judged by the
      // restore invariants, in the flight recorder, once the restored containers settle (and
      // containerd's client is connected).
      this.execs.sweep(
        this.config.liveRestore ? found.filter((c) => c.task === 'running').map((c) => c.id) : [],
        () =>
          this.host.checkRestore(
            (verdict) => {
              if (verdict.unchecked !== null)
                this.log.warn(
                  `the restore check could not look at the host: ${verdict.unchecked}`,
                  {},
                );
              // The host has been judged: the machines no request has needed yet are built
              // now, one at a time between requests, rather than when first spawned.
              buildMachines(nextTurn).catch((err: Error) =>
                this.log.warn(`could not build the machines: ${err.message}`, {}),
              );
            },
            images,
            this.networkLook(),
          ),
      );
    };
    // Requests wait for State.Health too.
    const loaded = (): void => this.health.whenRestored(collected);
    gc.done.then(loaded, loaded);
  }

  async shutdown(): Promise<ShutdownOutput> {
    if (this.startup?.status !== 'ready') throw new Error('shutdown before a successful start-up');
    const entry = this.session.spawn('daemonShutdown', 'daemon-shutdown', {
      liveRestore: this.config.liveRestore,
      shutdownTimeout: this.config.shutdownTimeout,
      acquired: this.startup.acquired,
      containers: this.host.shutdownContainers(),
    });
    const output = (await entry.done) as ShutdownOutput;
    // The logs of containers left running (live-restore) are written out before the daemon
    // goes, within the time an exit's output is given.
    await this.stdio.closeLogs(logCloseMs);
    this.close();
    return output;
  }

  /** Ends the flight recorder. */
  close(): void {
    this.trace.close();
  }
}

import { readdirSync, readFileSync } from 'node:fs';
import { arch, release } from 'node:os';
import type { ApiRequest } from '../../effects/api/requests.ts';
import { assertNever } from '../../effects/errors.ts';
import type { Facts, StartupConfig } from '../../machines/daemon-startup/types.ts';
import type { ApiTls } from '../api/listeners.ts';
import { ApiServer, apiVersion, minApiVersion, pingRoutes } from '../api/server.ts';
import type { ApiListenConfig } from './config.ts';
import type { Logger } from './logger.ts';
import { hostSupport, initCommit } from './containers/host-support.ts';
import { securityOptions } from './containers/security-options.ts';
import { reclaimMemory } from './memory.ts';

/** What the endpoint needs of the daemon. */
export interface EngineFacts {
  readonly config: StartupConfig & Partial<ApiListenConfig>;
  facts(): Facts;
  containerdRevision(): string;
  /**
   * Settles once every start-up step but containerd's boot and client is done and restore's
   * containers have their actors (`answerSteps`): what /version and /info report is known.
   */
  readonly answering: Promise<void>;
}

const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };

/** A /proc/sys switch as `docker info` reports it (false when it cannot be read). */
function sysctlOn(key: string): boolean {
  try {
    return readFileSync(`/proc/sys/${key}`, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** What /info counts: the containers by state, the images, the events listeners. */
export interface InfoSources {
  contexts(): readonly { record: { state: { status: string } } }[];
  readonly images: { list(): Promise<readonly unknown[]> };
  readonly events: { readers: number };
}

/** dockerd's /info counts: paused, else running (restarting counts as running), else stopped. */
export function containerCounts(containers: readonly { record: { state: { status: string } } }[]): {
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
} {
  let running = 0;
  let paused = 0;
  for (const c of containers) {
    const st = c.record.state.status;
    if (st === 'paused') paused += 1;
    else if (st === 'running' || st === 'restarting') running += 1;
  }
  return {
    Containers: containers.length,
    ContainersRunning: running,
    ContainersPaused: paused,
    ContainersStopped: containers.length - running - paused,
  };
}

/**
 * How long serving the API waits for a first client before the start-up goes on. A client
 * that connected while the daemon restored is answered at once; one polling for the socket (a
 * script, a service manager's readiness check) connects within a few milliseconds of it;
 * without one, containerd starts this much later.
 */
const firstClientWithinMs = 10;

/**
 * The daemon's Engine API endpoint: the `api.*` effects (listen, serve, close) and the system
 * endpoints (/_ping, /version, /info) answered from what start-up learned.
 */
export class ApiEndpoint {
  readonly server: ApiServer;
  /** Where /info's counts come from, once the daemon's containers exist. */
  sources: InfoSources | null = null;
  /** Told when the sockets listen (the start-up's `listening` phase), before the API is served. */
  onListening: (() => void) | null = null;
  private readonly daemon: EngineFacts;
  private readonly version: string;
  private readonly buildTime = new Date().toISOString();

  constructor(daemon: EngineFacts, version: string, log: Logger) {
    this.daemon = daemon;
    this.version = version;
    this.server = new ApiServer({
      serverHeader: `statedock/${version} (linux)`,
      log: (l) => log.error(l),
      warn: (l) => log.warn(l),
      debug: (l) => log.debug(l),
      onQuiet: reclaimMemory,
    });
    this.server.socketGroup = daemon.config.group ?? this.server.socketGroup;
    for (const r of pingRoutes()) this.server.add(r);
    this.server.add({
      method: 'GET',
      pattern: '/version',
      handler: async (ctx) => {
        this.server.clientReached();
        await daemon.answering;
        ctx.json(200, this.versionBody());
      },
    });
    this.server.add({
      method: 'GET',
      pattern: '/info',
      handler: async (ctx) => {
        this.server.clientReached();
        await daemon.answering;
        ctx.json(200, { ...this.infoBody(), ...(await this.counts()) });
      },
    });
  }

  /** The true counts: containers by state, images, open descriptors, events listeners. */
  private async counts(): Promise<Record<string, number>> {
    if (!this.sources) return {};
    let fds = 0;
    try {
      fds = readdirSync('/proc/self/fd').length;
    } catch {
      // no /proc: left at 0
    }
    return {
      ...containerCounts(this.sources.contexts()),
      Images: (await this.sources.images.list()).length,
      NFd: fds,
      NEventsListener: this.sources.events.readers,
    };
  }

  /** The TLS material `--tls`/`--tlsverify` name, read when the API first listens. */
  private loadTls(): ApiTls | null {
    const c = this.daemon.config;
    if (!c.tls) return null;
    const read = (what: string, path: string | null | undefined): Buffer => {
      if (!path) throw Object.assign(new Error(`--tls needs ${what}`), { code: 'EINVAL' });
      try {
        return readFileSync(path);
      } catch (err) {
        throw Object.assign(
          new Error(`Could not load X509 key pair: open ${path}: ${(err as Error).message}`),
          { code: 'ENOENT' },
        );
      }
    };
    return {
      cert: read('--tlscert', c.tlsCert),
      key: read('--tlskey', c.tlsKey),
      ca: c.tlsVerify ? read('--tlscacert', c.tlsCaCert) : null,
    };
  }

  async run(req: ApiRequest): Promise<unknown> {
    switch (req.effect) {
      case 'api.listen':
        this.server.tls = this.loadTls();
        // Requests wait until the daemon has restored and serves them (api.serve).
        this.server.holdUntilServed();
        await this.server.listen(req.sockets);
        this.onListening?.();
        return {};
      case 'api.serve':
        this.server.serve();
        // What the start-up does next (the steps deferred until the API is served: forks,
        // containerd's boot) would hold up the answer of a client that is already waiting.
        // Serving is done once a client has been answered, or waits at the gate, or briefly
        // none came.
        await this.server.firstClient(firstClientWithinMs);
        return {};
      case 'api.close': {
        const { removed, ...connections } = await this.server.close();
        return { removed, connections };
      }
      default:
        return assertNever(req, 'api request');
    }
  }

  private initCommitOf: string | null = null;

  /** The init binary's commit (asked once). */
  private initCommit(path: string | null): string {
    this.initCommitOf ??= initCommit(path);
    return this.initCommitOf;
  }

  private kernel(): string {
    return this.daemon.facts().kernel?.release ?? release();
  }

  versionBody(): Record<string, unknown> {
    const f = this.daemon.facts();
    const a = goArch[arch()] ?? arch();
    const revision = this.daemon.containerdRevision();
    // While containerd boots its client has no answer yet: dockerd leaves out the component
    // containerd cannot describe.
    const containerd =
      revision === '' || !f.containerdVersion
        ? []
        : [{ Name: 'containerd', Version: f.containerdVersion, Details: { GitCommit: revision } }];
    return {
      Platform: { Name: 'statedock' },
      Components: [
        {
          Name: 'Engine',
          Version: this.version,
          Details: {
            ApiVersion: apiVersion,
            Arch: a,
            BuildTime: this.buildTime,
            Experimental: 'false',
            GitCommit: 'statedock',
            GoVersion: `node${process.versions.node}`,
            KernelVersion: this.kernel(),
            MinAPIVersion: minApiVersion,
            Os: 'linux',
          },
        },
        ...containerd,
        {
          Name: 'runc',
          Version: f.systemInfo?.runcVersion ?? '',
          Details: { GitCommit: f.systemInfo?.runcVersion ?? '' },
        },
      ],
      Version: this.version,
      ApiVersion: apiVersion,
      MinAPIVersion: minApiVersion,
      GitCommit: 'statedock',
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: a,
      KernelVersion: this.kernel(),
      BuildTime: this.buildTime,
    };
  }

  infoBody(): Record<string, unknown> {
    const f = this.daemon.facts();
    const c = this.daemon.config;
    const support = hostSupport();
    const cg = support.cgroup;
    // dockerd's word when containerd does not answer (it boots while the API already does).
    const rev = this.daemon.containerdRevision() || 'N/A';
    return {
      ID: f.daemonId ?? '',
      Containers: 0,
      ContainersRunning: 0,
      ContainersPaused: 0,
      ContainersStopped: 0,
      Images: 0,
      Driver: f.graphDriver ?? '',
      DriverStatus:
        f.graphDriver === 'overlay2'
          ? [
              ['Backing Filesystem', 'extfs'],
              ['Supports d_type', 'true'],
            ]
          : [],
      Plugins: {
        Volume: ['local'],
        Network: ['bridge', 'host', 'null'],
        Authorization: null,
        Log: ['json-file'],
      },
      MemoryLimit: cg.memoryLimit,
      SwapLimit: cg.swapLimit,
      KernelMemory: false,
      KernelMemoryTCP: false,
      CpuCfsPeriod: cg.cpuCfs,
      CpuCfsQuota: cg.cpuCfs,
      CPUShares: cg.cpuShares,
      CPUSet: cg.cpuset,
      PidsLimit: cg.pids,
      IPv4Forwarding: sysctlOn('net/ipv4/ip_forward'),
      BridgeNfIptables: sysctlOn('net/bridge/bridge-nf-call-iptables'),
      BridgeNfIp6tables: sysctlOn('net/bridge/bridge-nf-call-ip6tables'),
      Debug: false,
      NFd: 0,
      OomKillDisable: cg.oomKillDisable,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: String(f.cgroupVersion ?? 1),
      NEventsListener: 0,
      KernelVersion: this.kernel(),
      OperatingSystem: f.systemInfo?.operatingSystem ?? '',
      OSVersion: '',
      OSType: 'linux',
      Architecture: arch() === 'x64' ? 'x86_64' : arch(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: registryConfig(c),
      NCPU: f.systemInfo?.ncpu ?? 0,
      MemTotal: f.systemInfo?.memTotal ?? 0,
      GenericResources: null,
      DockerRootDir: f.root ?? c.dataRoot,
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      Name: f.systemInfo?.hostname ?? '',
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: this.version,
      Runtimes: { 'io.containerd.runc.v2': { path: 'runc' }, runc: { path: 'runc' } },
      DefaultRuntime: 'runc',
      Swarm: {
        NodeID: '',
        NodeAddr: '',
        LocalNodeState: 'inactive',
        ControlAvailable: false,
        Error: '',
        RemoteManagers: null,
      },
      LiveRestoreEnabled: c.liveRestore,
      Isolation: '',
      InitBinary: support.initBinary === null ? '' : 'docker-init',
      ContainerdCommit: { ID: rev, Expected: rev },
      RuncCommit: {
        ID: f.systemInfo?.runcVersion ?? '',
        Expected: f.systemInfo?.runcVersion ?? '',
      },
      InitCommit: {
        ID: this.initCommit(support.initBinary),
        Expected: this.initCommit(support.initBinary),
      },
      SecurityOptions: securityOptions({
        support,
        seccompProfilePath: c.seccompProfile,
        remapped: f.rootUid !== 0 || f.rootGid !== 0,
      }),
      Warnings: null,
    };
  }
}

/** `docker info`'s registry section: what the registry service was started with. */
function registryConfig(c: StartupConfig): Record<string, unknown> {
  const insecure = c.insecureRegistries ?? [];
  const cidrs = insecure.filter((e) => /\/\d+$/.test(e));
  const r = {
    mirrors: c.registryMirrors ?? [],
    insecureCidrs: [...new Set(['127.0.0.0/8', ...cidrs])],
    insecureHosts: insecure.filter((e) => !cidrs.includes(e)),
  };
  const index: Record<string, unknown> = {
    'docker.io': { Name: 'docker.io', Mirrors: r.mirrors, Secure: true, Official: true },
  };
  for (const h of r.insecureHosts)
    index[h] = { Name: h, Mirrors: [], Secure: false, Official: false };
  return {
    AllowNondistributableArtifactsCIDRs: [],
    AllowNondistributableArtifactsHostnames: [],
    InsecureRegistryCIDRs: r.insecureCidrs,
    IndexConfigs: index,
    Mirrors: r.mirrors,
  };
}

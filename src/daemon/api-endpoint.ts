import { readFileSync } from 'node:fs';
import { arch, release } from 'node:os';
import type { ApiRequest } from '../../effects/api/requests.ts';
import type { HostView } from '../../machines/container/invariants.ts';
import { assertNever } from '../../effects/errors.ts';
import type { Facts, StartupConfig } from '../../machines/daemon-startup/types.ts';
import { ApiServer, apiVersion, minApiVersion, pingRoutes } from '../api/server.ts';
import type { Logger } from './logger.ts';

/** What the endpoint needs of the daemon. */
export interface EngineFacts {
  readonly config: StartupConfig;
  facts(): Facts;
  containerdRevision(): string;
}

const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };

/**
 * The daemon's Engine API endpoint: the `api.*` effects (listen, close, settle) and the
 * system endpoints (/_ping, /version, /info) answered from what start-up learned.
 */
/** What the endpoint asks of the containers at shutdown. */
export interface ContainerControl {
  stop(id: string, signal: string, timeoutS: number): Promise<{ exitCode: number }>;
  settle(): Promise<number>;
  observeHost(): Promise<HostView>;
}

/** A /proc/sys switch as `docker info` reports it (false when it cannot be read). */
function sysctlOn(key: string): boolean {
  try {
    return readFileSync(`/proc/sys/${key}`, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

export class ApiEndpoint {
  readonly server: ApiServer;
  containers: ContainerControl | null = null;
  private readonly daemon: EngineFacts;
  private readonly version: string;
  private readonly buildTime = new Date().toISOString();

  constructor(daemon: EngineFacts, version: string, log: Logger) {
    this.daemon = daemon;
    this.version = version;
    this.server = new ApiServer({
      serverHeader: `statedock/${version} (linux)`,
      log: (l) => log.error(l),
    });
    for (const r of pingRoutes()) this.server.add(r);
    this.server.add({
      method: 'GET',
      pattern: '/version',
      handler: (ctx) => ctx.json(200, this.versionBody()),
    });
    this.server.add({
      method: 'GET',
      pattern: '/info',
      handler: (ctx) => ctx.json(200, this.infoBody()),
    });
  }

  async run(req: ApiRequest): Promise<unknown> {
    switch (req.effect) {
      case 'api.listen':
        await this.server.listen(req.sockets);
        return {};
      case 'api.close':
        return { removed: await this.server.close() };
      case 'api.settleContainers':
        return { settled: (await this.containers?.settle()) ?? 0 };
      case 'api.observeHost':
        if (!this.containers)
          throw Object.assign(new Error('the containers are not restored yet'), {
            code: 'EUNAVAILABLE',
          });
        return this.containers.observeHost();
      case 'api.stopContainer':
        if (!this.containers)
          throw Object.assign(new Error(`No such container: ${req.container}`), { code: 'ENOENT' });
        return this.containers.stop(req.container, req.signal, req.timeoutS);
      default:
        return assertNever(req, 'api request');
    }
  }

  private kernel(): string {
    return this.daemon.facts().kernel?.release ?? release();
  }

  versionBody(): Record<string, unknown> {
    const f = this.daemon.facts();
    const a = goArch[arch()] ?? arch();
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
        {
          Name: 'containerd',
          Version: f.containerdVersion ?? '',
          Details: { GitCommit: this.daemon.containerdRevision() },
        },
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
    const rev = this.daemon.containerdRevision();
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
      MemoryLimit: true,
      SwapLimit: false,
      KernelMemory: false,
      KernelMemoryTCP: false,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: sysctlOn('net/ipv4/ip_forward'),
      BridgeNfIptables: sysctlOn('net/bridge/bridge-nf-call-iptables'),
      BridgeNfIp6tables: sysctlOn('net/bridge/bridge-nf-call-ip6tables'),
      Debug: false,
      NFd: 0,
      OomKillDisable: true,
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
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: [],
        AllowNondistributableArtifactsHostnames: [],
        InsecureRegistryCIDRs: [],
        IndexConfigs: {},
        Mirrors: [],
      },
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
      InitBinary: '',
      ContainerdCommit: { ID: rev, Expected: rev },
      RuncCommit: {
        ID: f.systemInfo?.runcVersion ?? '',
        Expected: f.systemInfo?.runcVersion ?? '',
      },
      InitCommit: { ID: '', Expected: '' },
      SecurityOptions: f.seccompProfile
        ? ['name=seccomp,profile=custom']
        : ['name=seccomp,profile=default'],
      Warnings: null,
    };
  }
}

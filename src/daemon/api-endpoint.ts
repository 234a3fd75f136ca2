import { readFileSync } from 'node:fs';
import { arch, release } from 'node:os';
import type { ApiRequest } from '../../effects/api/requests.ts';
import { assertNever } from '../../effects/errors.ts';
import type { Facts, StartupConfig } from '../../machines/daemon-startup/types.ts';
import { ApiServer, apiVersion, minApiVersion, pingRoutes } from '../api/server.ts';
import type { Logger } from './logger.ts';
import { hostSupport, initCommit } from './containers/host-support.ts';
import { securityOptions } from './containers/security-options.ts';

/** What the endpoint needs of the daemon. */
export interface EngineFacts {
  readonly config: StartupConfig;
  facts(): Facts;
  containerdRevision(): string;
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

/**
 * The daemon's Engine API endpoint: the `api.*` effects (listen, close) and the system
 * endpoints (/_ping, /version, /info) answered from what start-up learned.
 */
export class ApiEndpoint {
  readonly server: ApiServer;
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
    const support = hostSupport();
    const cg = support.cgroup;
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

import type { ContainerContext, MountPoint } from '../../../machines/container/types.ts';
import { statusText } from '../human.ts';
import type { HealthState } from '../../../machines/health/types.ts';
import type { ContainerNetView } from '../network/render.ts';

/** Docker's JSON shapes of a container: `ps` and `system df` rows, and `inspect`. Pure functions of its context. */

/** Where a container's files are, as inspect shows them. */
export interface ContainerPaths {
  /** The container's directory (its logs). */
  dir: string;
  rootfs: { driver: 'overlay2' | 'vfs'; dir: string; lower: string };
  /** Where the root is mounted while it runs (overlay2's MergedDir). */
  merged: string;
  /** Its image's size (`inspect --size`'s SizeRootFs). */
  imageSize?: number;
}

/**
 * A container as `ps` and `system df` list it. With sizes: SizeRw (what the container wrote,
 * left out when 0 as dockerd's omitempty does) and SizeRootFs (that plus its image).
 */
export function containerSummary(
  c: ContainerContext,
  sizes: { rw: number; image: number } | null,
  health: HealthState | null = null,
  net?: ContainerNetView,
): Record<string, unknown> {
  const r = c.record;
  const sized: Record<string, number> = {};
  if (sizes) {
    if (sizes.rw > 0) sized['SizeRw'] = sizes.rw;
    sized['SizeRootFs'] = sizes.rw + sizes.image;
  }
  return {
    Id: r.id,
    Names: [r.name],
    Image: r.image,
    ImageID: r.config.imageId ?? '',
    Command: r.config.cmd.join(' '),
    Created: Math.floor(Date.parse(r.created) / 1000),
    Ports: net?.summaryPorts ?? [],
    ...sized,
    Labels: r.config.labels,
    State: r.state.status,
    Status: withHealth(statusText(r.state), r.state.status, health),
    HostConfig: { NetworkMode: r.config.networkMode ?? 'none' },
    NetworkSettings: { Networks: net?.summaryNetworks ?? {} },
    Mounts: (r.config.mounts ?? []).map(mountApi),
  };
}

/** `docker inspect`: dockerd's full object, with what statedock keeps (fixed values where it has no such setting). */
export function containerInspect(
  c: ContainerContext,
  where: ContainerPaths,
  extra: {
    health?: HealthState | null;
    execIds?: string[];
    sizeRw?: number;
    net?: ContainerNetView | undefined;
  } = {},
): Record<string, unknown> {
  const r = c.record;
  const s = r.state;
  const k = r.config;
  const net = extra.net;
  const dir = where.dir;
  const fs = where.rootfs;
  const mounts = k.mounts ?? [];
  const volumes = mounts.filter((m) => m.type === 'volume' && m.anonymous);
  return {
    Id: r.id,
    Created: r.created,
    Path: r.config.cmd[0] ?? '',
    Args: r.config.cmd.slice(1),
    State: {
      Status: s.status,
      Running: ['running', 'paused', 'restarting'].includes(s.status),
      Paused: s.status === 'paused',
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt ?? '0001-01-01T00:00:00Z',
      FinishedAt: s.finishedAt ?? '0001-01-01T00:00:00Z',
      ...(extra.health ? { Health: extra.health } : {}),
    },
    Image: k.imageId ?? r.image,
    ResolvConfPath: net?.paths.ResolvConfPath ?? '',
    HostnamePath: net?.paths.HostnamePath ?? '',
    HostsPath: net?.paths.HostsPath ?? '',
    LogPath: (k.log?.driver ?? 'json-file') === 'json-file' ? `${dir}/${r.id}-json.log` : '',
    Name: r.name,
    RestartCount: r.restartCount,
    Driver: fs.driver,
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: appArmorProfileOf(k.hostConfig),
    ExecIDs: extra.execIds && extra.execIds.length > 0 ? extra.execIds : null,
    // `inspect --size` (dockerd's omitempty leaves SizeRw out when 0).
    ...(extra.sizeRw === undefined
      ? {}
      : {
          ...(extra.sizeRw > 0 ? { SizeRw: extra.sizeRw } : {}),
          SizeRootFs: extra.sizeRw + (where.imageSize ?? 0),
        }),
    HostConfig: { ...(k.hostConfig ?? legacyHostConfig(k)), ...net?.hostConfig },
    GraphDriver:
      fs.driver === 'vfs'
        ? { Data: null, Name: 'vfs' }
        : {
            Data: {
              LowerDir: fs.lower,
              MergedDir: where.merged,
              UpperDir: `${fs.dir}/diff`,
              WorkDir: `${fs.dir}/work`,
            },
            Name: 'overlay2',
          },
    Mounts: mounts.map(mountApi),
    Config: {
      Hostname: k.hostname ?? r.id.slice(0, 12),
      Domainname: k.inspectConfig?.domainname ?? '',
      User: k.user ?? '',
      AttachStdin: k.inspectConfig?.attachStdin ?? false,
      AttachStdout: k.inspectConfig?.attachStdout ?? false,
      AttachStderr: k.inspectConfig?.attachStderr ?? false,
      Tty: k.tty === true,
      OpenStdin: k.openStdin === true,
      StdinOnce: k.stdinOnce === true,
      Env: k.env ?? null,
      Cmd: k.cmd,
      Image: r.image,
      Volumes:
        volumes.length > 0 ? Object.fromEntries(volumes.map((m) => [m.destination, {}])) : null,
      WorkingDir: k.workingDir ?? '',
      Entrypoint: k.entrypoint ?? null,
      ...(net ? net.config : { NetworkDisabled: (k.networkMode ?? 'none') !== 'host' }),
      OnBuild: k.inspectConfig ? k.inspectConfig.onBuild : null,
      Labels: k.labels,
      // dockerd omits StopSignal and StopTimeout when the request did not give them.
      ...(k.inspectConfig === undefined || k.inspectConfig.stopSignal !== ''
        ? { StopSignal: k.stopSignal }
        : {}),
      ...(k.inspectConfig === undefined || k.inspectConfig.stopTimeout !== null
        ? { StopTimeout: k.stopTimeout }
        : {}),
      ...(k.inspectConfig?.shell ? { Shell: k.inspectConfig.shell } : {}),
      ...(k.healthcheck ? { Healthcheck: k.healthcheck } : {}),
    },
    NetworkSettings: net?.networkSettings ?? {
      Bridge: '',
      SandboxID: '',
      HairpinMode: false,
      Ports: {},
      SandboxKey: '',
      Networks: {},
    },
  };
}

/** The AppArmor profile a SecurityOpt asked for (inspect's AppArmorProfile), '' for none. */
function appArmorProfileOf(hostConfig: Record<string, unknown> | undefined): string {
  const opts = (hostConfig?.['SecurityOpt'] ?? []) as string[];
  const opt = opts.find((o) => /^apparmor[=:]/.test(o));
  return opt === undefined ? '' : opt.slice('apparmor='.length);
}

/** The HostConfig of a container created before statedock kept dockerd's (what its record has). */
function legacyHostConfig(k: ContainerContext['record']['config']): Record<string, unknown> {
  return {
    Binds: k.binds ?? null,
    ContainerIDFile: '',
    LogConfig: { Type: 'json-file', Config: {} },
    NetworkMode: k.networkMode ?? 'none',
    PortBindings: {},
    RestartPolicy: {
      Name: k.restartPolicy.name,
      MaximumRetryCount: k.restartPolicy.maximumRetryCount,
    },
    AutoRemove: k.autoRemove,
    VolumeDriver: '',
    VolumesFrom: null,
    CapAdd: null,
    CapDrop: null,
    CgroupnsMode: 'host',
    IpcMode: 'private',
    PidMode: '',
    Privileged: false,
    ReadonlyRootfs: false,
    Runtime: 'runc',
    CgroupParent: '',
    CpuShares: k.cpuShares ?? 0,
    CpuQuota: k.cpuQuota ?? 0,
    CpuPeriod: k.cpuPeriod ?? 0,
    Memory: k.memory ?? 0,
    PidsLimit: k.pidsLimit && k.pidsLimit > 0 ? k.pidsLimit : null,
  };
}

/** A MountPoint as inspect and ps show it. */
export function mountApi(m: MountPoint): Record<string, unknown> {
  if (m.type === 'tmpfs')
    return {
      Type: 'tmpfs',
      Source: '',
      Destination: m.destination,
      Mode: '',
      RW: m.rw,
      Propagation: '',
    };
  return m.type === 'bind'
    ? {
        Type: 'bind',
        Source: m.source,
        Destination: m.destination,
        Mode: m.mode ?? (m.rw ? '' : 'ro'),
        RW: m.rw,
        Propagation: m.propagation ?? 'rprivate',
      }
    : {
        Type: 'volume',
        Name: m.name,
        Source: m.source,
        Destination: m.destination,
        Driver: 'local',
        Mode: m.mode ?? '',
        RW: m.rw,
        Propagation: '',
      };
}

/** container/state.go String(): a running container's health after its uptime (`(health: starting)`, `(healthy)`). */
function withHealth(text: string, status: string, h: HealthState | null): string {
  if (h === null || status !== 'running') return text;
  return `${text} (${h.Status === 'starting' ? 'health: starting' : h.Status})`;
}

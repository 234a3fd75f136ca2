import type { CheckedRequest } from './check.ts';
import { defaultMaskedPaths, defaultReadonlyPaths } from './defaults.ts';

/**
 * The HostConfig inspect shows: the request's, with dockerd's defaults filled in at create
 * (adaptContainerSettings and createContainerOSSpecificSettings): the IPC and cgroup namespace
 * modes, 64 MiB of /dev/shm, swap twice the memory, the default masked and read-only paths,
 * `label=disable` for containers sharing the host's namespaces, a container joined by its ID.
 * Keys in dockerd's order; the `omitempty` ones only when set.
 */
export function inspectHostConfig(
  r: CheckedRequest,
  raw: Record<string, unknown>,
  o: { pidContainer: string | null; ipcContainer: string | null },
): Record<string, unknown> {
  const h = r.host;
  const sharesHost = h.privileged || r.pid.kind === 'host' || r.ipc.kind === 'host';
  const hasLabel = (h.securityOpt ?? []).some((x) => x.split('=')[0] === 'label');
  const securityOpt = [
    ...(h.securityOpt ?? []),
    ...(sharesHost && !hasLabel ? ['label=disable'] : []),
  ];
  const devices = (list: { path: string; rate: number }[], key: 'Rate' | 'Weight') =>
    list.map((d) => ({ Path: d.path, [key]: d.rate }));
  const nonEmpty = (m: Record<string, string> | null) => m !== null && Object.keys(m).length > 0;
  return {
    Binds: h.binds,
    ContainerIDFile: h.containerIdFile,
    LogConfig: { Type: r.log.driver, Config: h.logConfig.config ?? {} },
    NetworkMode: r.networkMode,
    PortBindings: raw['PortBindings'] ?? {},
    RestartPolicy: {
      Name: h.restartPolicy.name,
      MaximumRetryCount: h.restartPolicy.maximumRetryCount,
    },
    AutoRemove: h.autoRemove,
    VolumeDriver: h.volumeDriver,
    VolumesFrom: h.volumesFrom,
    ConsoleSize: h.consoleSize,
    CapAdd: h.capAdd,
    CapDrop: h.capDrop,
    CgroupnsMode: r.cgroupns,
    Dns: raw['Dns'] ?? [],
    DnsOptions: raw['DnsOptions'] ?? [],
    DnsSearch: raw['DnsSearch'] ?? [],
    ExtraHosts: raw['ExtraHosts'] ?? null,
    GroupAdd: h.groupAdd,
    IpcMode:
      r.ipc.kind === 'container'
        ? `container:${o.ipcContainer ?? r.ipc.ref}`
        : h.ipcMode === ''
          ? 'private'
          : h.ipcMode,
    Cgroup: '',
    Links: raw['Links'] ?? null,
    OomScoreAdj: h.oomScoreAdj,
    PidMode: r.pid.kind === 'container' ? `container:${o.pidContainer ?? r.pid.ref}` : h.pidMode,
    Privileged: h.privileged,
    PublishAllPorts: false,
    ReadonlyRootfs: h.readonlyRootfs,
    SecurityOpt: securityOpt.length > 0 ? securityOpt : null,
    ...(nonEmpty(h.tmpfs) ? { Tmpfs: h.tmpfs } : {}),
    UTSMode: h.utsMode,
    UsernsMode: h.usernsMode,
    ShmSize: r.shmSize,
    ...(nonEmpty(h.sysctls) ? { Sysctls: h.sysctls } : {}),
    Runtime: h.runtime === '' ? 'runc' : h.runtime,
    Isolation: h.isolation,
    CpuShares: h.cpuShares,
    Memory: h.memory,
    NanoCpus: h.nanoCpus,
    CgroupParent: h.cgroupParent,
    BlkioWeight: h.blkioWeight,
    BlkioWeightDevice: devices(h.blkioWeightDevice, 'Weight'),
    BlkioDeviceReadBps: devices(h.blkioDeviceReadBps, 'Rate'),
    BlkioDeviceWriteBps: devices(h.blkioDeviceWriteBps, 'Rate'),
    BlkioDeviceReadIOps: devices(h.blkioDeviceReadIOps, 'Rate'),
    BlkioDeviceWriteIOps: devices(h.blkioDeviceWriteIOps, 'Rate'),
    CpuPeriod: h.cpuPeriod,
    CpuQuota: h.cpuQuota,
    CpuRealtimePeriod: h.cpuRealtimePeriod,
    CpuRealtimeRuntime: h.cpuRealtimeRuntime,
    CpusetCpus: h.cpusetCpus,
    CpusetMems: h.cpusetMems,
    Devices: h.devices.map((d) => ({
      PathOnHost: d.pathOnHost,
      PathInContainer: d.pathInContainer,
      CgroupPermissions: d.cgroupPermissions,
    })),
    DeviceCgroupRules: h.deviceCgroupRules,
    DeviceRequests: null,
    KernelMemory: 0,
    KernelMemoryTCP: 0,
    MemoryReservation: h.memoryReservation,
    MemorySwap: r.memorySwap,
    MemorySwappiness: h.memorySwappiness === -1 ? null : h.memorySwappiness,
    OomKillDisable: h.oomKillDisable === true,
    PidsLimit: h.pidsLimit !== null && h.pidsLimit > 0 ? h.pidsLimit : null,
    Ulimits: h.ulimits.map((u) => ({ Name: u.name, Hard: u.hard, Soft: u.soft })),
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    ...(h.mounts.length > 0 ? { Mounts: raw['Mounts'] } : {}),
    MaskedPaths: h.maskedPaths ?? (h.privileged ? null : [...defaultMaskedPaths]),
    ReadonlyPaths: h.readonlyPaths ?? (h.privileged ? null : [...defaultReadonlyPaths]),
    ...(h.init !== null ? { Init: h.init } : {}),
  };
}

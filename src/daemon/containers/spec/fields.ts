import { InvalidRequest } from './errors.ts';

/**
 * Honour or refuse, field by field: what statedock does with each field of the Engine API
 * v1.41 create request. A field is honoured (its effect shows in the container or in
 * inspect as with dockerd), or refused with a 400 naming it whenever the request sets it to
 * anything but its zero value. Fields a newer API added are ignored, as dockerd 20.10 ignores
 * unknown fields.
 */
export type Treatment =
  | { kind: 'honoured' }
  /** Refused when set: why, and what to use instead if anything. */
  | { kind: 'refused'; why: string }
  /**
   * A network setting: the networking code (src/daemon/network/create-request.ts) honours
   * what it can and refuses the rest by name (links, MAC addresses, IPv6, SCTP publishing).
   */
  | { kind: 'networking' };

const honoured: Treatment = { kind: 'honoured' };
const networking: Treatment = { kind: 'networking' };
const refused = (why: string): Treatment => ({ kind: 'refused', why });

/** Every field of Config (the body), HostConfig and NetworkingConfig, by its path in the request. */
export const createRequestFields: Readonly<Record<string, Treatment>> = {
  'Config.Hostname': honoured,
  'Config.Domainname': honoured,
  'Config.User': honoured,
  'Config.AttachStdin': honoured,
  'Config.AttachStdout': honoured,
  'Config.AttachStderr': honoured,
  'Config.ExposedPorts': networking,
  'Config.Tty': honoured,
  'Config.OpenStdin': honoured,
  'Config.StdinOnce': honoured,
  'Config.Env': honoured,
  'Config.Cmd': honoured,
  'Config.Healthcheck': honoured,
  'Config.ArgsEscaped': refused('it only applies to Windows containers'),
  'Config.Image': honoured,
  'Config.Volumes': honoured,
  'Config.WorkingDir': honoured,
  'Config.Entrypoint': honoured,
  'Config.NetworkDisabled': networking,
  'Config.MacAddress': networking,
  'Config.OnBuild': honoured,
  'Config.Labels': honoured,
  'Config.StopSignal': honoured,
  'Config.StopTimeout': honoured,
  'Config.Shell': honoured,
  'HostConfig.Binds': honoured,
  'HostConfig.ContainerIDFile': honoured,
  'HostConfig.LogConfig': honoured,
  'HostConfig.NetworkMode': networking,
  'HostConfig.PortBindings': networking,
  'HostConfig.RestartPolicy': honoured,
  'HostConfig.AutoRemove': honoured,
  'HostConfig.VolumeDriver': honoured,
  'HostConfig.VolumesFrom': honoured,
  'HostConfig.ConsoleSize': honoured,
  'HostConfig.CapAdd': honoured,
  'HostConfig.CapDrop': honoured,
  'HostConfig.CgroupnsMode': honoured,
  'HostConfig.Dns': networking,
  'HostConfig.DnsOptions': networking,
  'HostConfig.DnsSearch': networking,
  'HostConfig.ExtraHosts': networking,
  'HostConfig.GroupAdd': honoured,
  'HostConfig.IpcMode': honoured,
  'HostConfig.Cgroup': refused('sharing another container’s cgroup is not implemented'),
  'HostConfig.Links': networking,
  'HostConfig.OomScoreAdj': honoured,
  'HostConfig.PidMode': honoured,
  'HostConfig.Privileged': honoured,
  'HostConfig.PublishAllPorts': networking,
  'HostConfig.ReadonlyRootfs': honoured,
  'HostConfig.SecurityOpt': honoured,
  'HostConfig.StorageOpt': refused('per-container storage quotas are not implemented'),
  'HostConfig.Tmpfs': honoured,
  'HostConfig.UTSMode': honoured,
  'HostConfig.UsernsMode': honoured,
  'HostConfig.ShmSize': honoured,
  'HostConfig.Sysctls': honoured,
  'HostConfig.Runtime': honoured,
  'HostConfig.Isolation': honoured,
  'HostConfig.CpuShares': honoured,
  'HostConfig.Memory': honoured,
  'HostConfig.NanoCpus': honoured,
  'HostConfig.CgroupParent': honoured,
  'HostConfig.BlkioWeight': honoured,
  'HostConfig.BlkioWeightDevice': honoured,
  'HostConfig.BlkioDeviceReadBps': honoured,
  'HostConfig.BlkioDeviceWriteBps': honoured,
  'HostConfig.BlkioDeviceReadIOps': honoured,
  'HostConfig.BlkioDeviceWriteIOps': honoured,
  'HostConfig.CpuPeriod': honoured,
  'HostConfig.CpuQuota': honoured,
  'HostConfig.CpuRealtimePeriod': honoured,
  'HostConfig.CpuRealtimeRuntime': honoured,
  'HostConfig.CpusetCpus': honoured,
  'HostConfig.CpusetMems': honoured,
  'HostConfig.Devices': honoured,
  'HostConfig.DeviceCgroupRules': honoured,
  'HostConfig.DeviceRequests': refused(
    'device requests (GPUs) need a device driver statedock does not have',
  ),
  'HostConfig.KernelMemory': refused(
    'kernel memory limits are deprecated and have no effect on kernels from 6.1',
  ),
  'HostConfig.KernelMemoryTCP': refused(
    'kernel TCP memory limits are deprecated and have no effect on cgroup v2',
  ),
  'HostConfig.MemoryReservation': honoured,
  'HostConfig.MemorySwap': honoured,
  'HostConfig.MemorySwappiness': honoured,
  'HostConfig.OomKillDisable': honoured,
  'HostConfig.PidsLimit': honoured,
  'HostConfig.Ulimits': honoured,
  'HostConfig.CpuCount': refused('it only applies to Windows containers'),
  'HostConfig.CpuPercent': refused('it only applies to Windows containers'),
  'HostConfig.IOMaximumIOps': honoured,
  'HostConfig.IOMaximumBandwidth': honoured,
  'HostConfig.Mounts': honoured,
  'HostConfig.MaskedPaths': honoured,
  'HostConfig.ReadonlyPaths': honoured,
  'HostConfig.Init': honoured,
  'NetworkingConfig.EndpointsConfig': networking,
};

/** Fields whose map keys are what they say (`{"80/tcp": {}}`): set as soon as they have a key. */
const keyedFields = new Set([
  'Config.ExposedPorts',
  'HostConfig.PortBindings',
  'HostConfig.StorageOpt',
]);

/** Whether a request leaves a field at its zero value. */
function unset(path: string, v: unknown): boolean {
  if (keyedFields.has(path) && v !== null && typeof v === 'object')
    return Object.keys(v).length === 0;
  return isZero(v);
}

/** A JSON value that says nothing: null, false, 0, '', and lists or maps of only such values. */
export function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.every(isZero);
  if (typeof v === 'object') return Object.values(v).every(isZero);
  return false;
}

/** The value at `Config.X` (the body), `HostConfig.X` or `NetworkingConfig.X`. */
export function valueAt(body: Record<string, unknown>, path: string): unknown {
  const [part, key = ''] = path.split('.') as [string, string];
  const holder = part === 'Config' ? body : body[part];
  return holder !== null && typeof holder === 'object'
    ? (holder as Record<string, unknown>)[key]
    : undefined;
}

/**
 * Refuses a request that sets a field statedock does not implement: 400, naming the field.
 * Network fields are left to the networking code, which knows which of them it honours.
 */
export function refuseUnsupportedFields(body: Record<string, unknown>): void {
  for (const [path, t] of Object.entries(createRequestFields)) {
    if (t.kind !== 'refused') continue;
    if (unset(path, valueAt(body, path))) continue;
    throw new InvalidRequest(`statedock does not support ${path}: ${t.why}`);
  }
}

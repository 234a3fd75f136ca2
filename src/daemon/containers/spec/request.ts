import type { HealthConfig } from '../../../../machines/health/config.ts';
import { Fields } from './json-fields.ts';

/** One of HostConfig.Mounts (`--mount`), typed. */
export interface MountRequest {
  type: string;
  source: string;
  target: string;
  readOnly: boolean;
  consistency: string;
  bindOptions: { propagation: string; nonRecursive: boolean } | null;
  volumeOptions: {
    noCopy: boolean;
    labels: Record<string, string> | null;
    driverConfig: { name: string; options: Record<string, string> | null } | null;
  } | null;
  tmpfsOptions: { sizeBytes: number; mode: number } | null;
}

export interface UlimitRequest {
  name: string;
  soft: number;
  hard: number;
}

export interface DeviceRequestEntry {
  pathOnHost: string;
  pathInContainer: string;
  cgroupPermissions: string;
}

export interface ThrottleRequest {
  path: string;
  rate: number;
}

/** Config of a create request (the container's own settings), typed as dockerd decodes it. */
export interface ConfigRequest {
  /** Healthcheck (container.HealthConfig), null when absent. */
  healthcheck: HealthConfig | null;
  hostname: string;
  domainname: string;
  user: string;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  env: string[] | null;
  cmd: string[] | null;
  image: string;
  volumes: Record<string, unknown> | null;
  workingDir: string;
  entrypoint: string[] | null;
  onBuild: string[] | null;
  labels: Record<string, string> | null;
  stopSignal: string;
  stopTimeout: number | null;
  shell: string[] | null;
}

/** HostConfig of a create request, typed as dockerd decodes it (zero values where absent). */
export interface HostConfigRequest {
  binds: string[] | null;
  containerIdFile: string;
  logConfig: { type: string; config: Record<string, string> | null };
  networkMode: string;
  restartPolicy: { name: string; maximumRetryCount: number };
  autoRemove: boolean;
  volumeDriver: string;
  volumesFrom: string[] | null;
  consoleSize: [number, number];
  capAdd: string[] | null;
  capDrop: string[] | null;
  cgroupnsMode: string;
  groupAdd: string[] | null;
  ipcMode: string;
  oomScoreAdj: number;
  pidMode: string;
  privileged: boolean;
  readonlyRootfs: boolean;
  securityOpt: string[] | null;
  tmpfs: Record<string, string> | null;
  utsMode: string;
  usernsMode: string;
  shmSize: number;
  sysctls: Record<string, string> | null;
  runtime: string;
  isolation: string;
  cpuShares: number;
  memory: number;
  nanoCpus: number;
  cgroupParent: string;
  blkioWeight: number;
  blkioWeightDevice: ThrottleRequest[];
  blkioDeviceReadBps: ThrottleRequest[];
  blkioDeviceWriteBps: ThrottleRequest[];
  blkioDeviceReadIOps: ThrottleRequest[];
  blkioDeviceWriteIOps: ThrottleRequest[];
  cpuPeriod: number;
  cpuQuota: number;
  cpuRealtimePeriod: number;
  cpuRealtimeRuntime: number;
  cpusetCpus: string;
  cpusetMems: string;
  devices: DeviceRequestEntry[];
  deviceCgroupRules: string[] | null;
  memoryReservation: number;
  memorySwap: number;
  memorySwappiness: number | null;
  oomKillDisable: boolean | null;
  pidsLimit: number | null;
  ulimits: UlimitRequest[];
  ioMaximumIOps: number;
  ioMaximumBandwidth: number;
  mounts: MountRequest[];
  maskedPaths: string[] | null;
  readonlyPaths: string[] | null;
  init: boolean | null;
}

/** The Config part of a create body (the body itself: Config is embedded in dockerd's wrapper). */
export function readConfig(body: unknown): ConfigRequest {
  const c = new Fields(body, 'ContainerConfigWrapper', '');
  return {
    hostname: c.str('Hostname'),
    domainname: c.str('Domainname'),
    user: c.str('User'),
    attachStdin: c.bool('AttachStdin'),
    attachStdout: c.bool('AttachStdout'),
    attachStderr: c.bool('AttachStderr'),
    tty: c.bool('Tty'),
    openStdin: c.bool('OpenStdin'),
    stdinOnce: c.bool('StdinOnce'),
    env: c.strings('Env'),
    cmd: c.strSlice('Cmd'),
    image: c.str('Image'),
    volumes: c.anyMap('Volumes', 'map[string]struct {}'),
    workingDir: c.str('WorkingDir'),
    entrypoint: c.strSlice('Entrypoint'),
    onBuild: c.strings('OnBuild'),
    labels: c.stringMap('Labels'),
    stopSignal: c.str('StopSignal'),
    stopTimeout: c.optInt('StopTimeout', 'int'),
    shell: c.strSlice('Shell'),
    healthcheck: readHealthcheck(c),
  };
}

/** Healthcheck as Go decodes it: Test a []string, the durations time.Duration (int64 ns), Retries an int. */
function readHealthcheck(c: Fields): HealthConfig | null {
  if (!c.has('Healthcheck')) return null;
  const h = c.struct_('Healthcheck', 'HealthConfig');
  return {
    Test: h.strings('Test'),
    Interval: h.int('Interval', 'time.Duration'),
    Timeout: h.int('Timeout', 'time.Duration'),
    StartPeriod: h.int('StartPeriod', 'time.Duration'),
    Retries: h.int('Retries', 'int'),
  };
}

function throttles(f: Fields, key: string, rateKey: 'Rate' | 'Weight'): ThrottleRequest[] {
  const struct = rateKey === 'Rate' ? 'ThrottleDevice' : 'WeightDevice';
  return f.structs(key, struct).map((d) => ({
    path: d.str('Path'),
    rate: d.int(rateKey, rateKey === 'Rate' ? 'uint64' : 'uint16'),
  }));
}

/** HostConfig of a create body. */
export function readHostConfig(body: unknown): HostConfigRequest {
  const root = new Fields(body, 'ContainerConfigWrapper', '');
  const h = root.struct_('HostConfig', 'HostConfig');
  const log = h.struct_('LogConfig', 'LogConfig');
  const policy = h.struct_('RestartPolicy', 'RestartPolicy');
  const consoleRaw = h.raw('ConsoleSize');
  const console: [number, number] =
    Array.isArray(consoleRaw) && consoleRaw.length === 2 && consoleRaw.every(Number.isInteger)
      ? [consoleRaw[0] as number, consoleRaw[1] as number]
      : [0, 0];
  return {
    binds: h.strings('Binds'),
    containerIdFile: h.str('ContainerIDFile'),
    logConfig: { type: log.str('Type'), config: log.stringMap('Config') },
    networkMode: h.str('NetworkMode'),
    restartPolicy: {
      name: policy.str('Name'),
      maximumRetryCount: policy.int('MaximumRetryCount', 'int'),
    },
    autoRemove: h.bool('AutoRemove'),
    volumeDriver: h.str('VolumeDriver'),
    volumesFrom: h.strings('VolumesFrom'),
    consoleSize: console,
    capAdd: h.strSlice('CapAdd'),
    capDrop: h.strSlice('CapDrop'),
    cgroupnsMode: h.str('CgroupnsMode'),
    groupAdd: h.strings('GroupAdd'),
    ipcMode: h.str('IpcMode'),
    oomScoreAdj: h.int('OomScoreAdj', 'int'),
    pidMode: h.str('PidMode'),
    privileged: h.bool('Privileged'),
    readonlyRootfs: h.bool('ReadonlyRootfs'),
    securityOpt: h.strings('SecurityOpt'),
    tmpfs: h.stringMap('Tmpfs'),
    utsMode: h.str('UTSMode'),
    usernsMode: h.str('UsernsMode'),
    shmSize: h.int('ShmSize'),
    sysctls: h.stringMap('Sysctls'),
    runtime: h.str('Runtime'),
    isolation: h.str('Isolation'),
    cpuShares: h.int('CpuShares'),
    memory: h.int('Memory'),
    nanoCpus: h.int('NanoCpus'),
    cgroupParent: h.str('CgroupParent'),
    blkioWeight: h.int('BlkioWeight', 'uint16'),
    blkioWeightDevice: throttles(h, 'BlkioWeightDevice', 'Weight'),
    blkioDeviceReadBps: throttles(h, 'BlkioDeviceReadBps', 'Rate'),
    blkioDeviceWriteBps: throttles(h, 'BlkioDeviceWriteBps', 'Rate'),
    blkioDeviceReadIOps: throttles(h, 'BlkioDeviceReadIOps', 'Rate'),
    blkioDeviceWriteIOps: throttles(h, 'BlkioDeviceWriteIOps', 'Rate'),
    cpuPeriod: h.int('CpuPeriod'),
    cpuQuota: h.int('CpuQuota'),
    cpuRealtimePeriod: h.int('CpuRealtimePeriod'),
    cpuRealtimeRuntime: h.int('CpuRealtimeRuntime'),
    cpusetCpus: h.str('CpusetCpus'),
    cpusetMems: h.str('CpusetMems'),
    devices: h.structs('Devices', 'DeviceMapping').map((d) => ({
      pathOnHost: d.str('PathOnHost'),
      pathInContainer: d.str('PathInContainer'),
      cgroupPermissions: d.str('CgroupPermissions'),
    })),
    deviceCgroupRules: h.strings('DeviceCgroupRules'),
    memoryReservation: h.int('MemoryReservation'),
    memorySwap: h.int('MemorySwap'),
    memorySwappiness: h.optInt('MemorySwappiness'),
    oomKillDisable: h.optBool('OomKillDisable'),
    pidsLimit: h.optInt('PidsLimit'),
    ulimits: h.structs('Ulimits', 'Ulimit').map((u) => ({
      name: u.str('Name'),
      soft: u.int('Soft'),
      hard: u.int('Hard'),
    })),
    ioMaximumIOps: h.int('IOMaximumIOps', 'uint64'),
    ioMaximumBandwidth: h.int('IOMaximumBandwidth', 'uint64'),
    mounts: h.structs('Mounts', 'Mount').map(readMount),
    maskedPaths: h.strings('MaskedPaths'),
    readonlyPaths: h.strings('ReadonlyPaths'),
    init: h.optBool('Init'),
  };
}

function readMount(m: Fields): MountRequest {
  const bind = m.has('BindOptions') ? m.struct_('BindOptions', 'BindOptions') : null;
  const vol = m.has('VolumeOptions') ? m.struct_('VolumeOptions', 'VolumeOptions') : null;
  const driver = vol?.has('DriverConfig') ? vol.struct_('DriverConfig', 'Driver') : null;
  const tmpfs = m.has('TmpfsOptions') ? m.struct_('TmpfsOptions', 'TmpfsOptions') : null;
  return {
    type: m.str('Type'),
    source: m.str('Source'),
    target: m.str('Target'),
    readOnly: m.bool('ReadOnly'),
    consistency: m.str('Consistency'),
    bindOptions: bind
      ? { propagation: bind.str('Propagation'), nonRecursive: bind.bool('NonRecursive') }
      : null,
    volumeOptions: vol
      ? {
          noCopy: vol.bool('NoCopy'),
          labels: vol.stringMap('Labels'),
          driverConfig: driver
            ? { name: driver.str('Name'), options: driver.stringMap('Options') }
            : null,
        }
      : null,
    tmpfsOptions: tmpfs
      ? { sizeBytes: tmpfs.int('SizeBytes'), mode: tmpfs.int('Mode', 'uint32') }
      : null,
  };
}

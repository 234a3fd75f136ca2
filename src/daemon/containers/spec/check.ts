import type { HealthConfig } from '../../../../machines/health/config.ts';
import { signalNumber } from '../../../../machines/container/signals.ts';
import { containerCapabilities, normalizeCapabilities } from './capabilities.ts';
import { defaultShmSize } from './defaults.ts';
import { InvalidRequest } from './errors.ts';
import { refuseUnsupportedFields } from './fields.ts';
import { readLogConfig, type LogSettings } from './log-config.ts';
import {
  checkTmpfsDestination,
  duplicateMountPoint,
  parseBind,
  parseMount,
  parseVolumesFrom,
  type MountWant,
} from './mount-requests.ts';
import { parseCgroupnsMode, parseIpcMode, parsePidMode, parseUtsMode } from './namespaces.ts';
import {
  readConfig,
  readHostConfig,
  type ConfigRequest,
  type HostConfigRequest,
} from './request.ts';
import { validateResources, type CgroupSupport } from './resources.ts';
import { checkSecurityHost, parseSecurityOpt, type SecurityOptions } from './security-opt.ts';
import { checkSysctls } from './sysctls.ts';

/** What the host offers that a request is checked against (host-support.ts reads it). */
export interface HostFacts {
  arch: string;
  kernel: string;
  /** The daemon's own capabilities: all a container can get. */
  capabilities: readonly string[];
  cgroup: CgroupSupport;
  appArmor: boolean;
  cgroupNamespaces: boolean;
  /** The default private-network sysctls this kernel has. */
  networkSysctls: readonly string[];
  initBinary: string | null;
}

/** A create request read and checked: every option parsed, nothing looked up on the host yet. */
export interface CheckedRequest {
  config: ConfigRequest;
  host: HostConfigRequest;
  networkMode: string;
  pid: ReturnType<typeof parsePidMode>;
  ipc: ReturnType<typeof parseIpcMode>;
  uts: 'private' | 'host';
  cgroupns: 'private' | 'host';
  security: SecurityOptions;
  capabilities: string[];
  shmSize: number;
  /** -1 (unlimited swap) or a total of memory and swap; `2 × Memory` when only Memory is set. */
  memorySwap: number;
  mounts: MountWant[];
  volumesFrom: { container: string; rw: boolean }[];
  log: LogSettings;
  /** Whether `--init` puts docker-init in front of the command. */
  init: boolean;
  warnings: string[];
}

/** rlimit names runc knows (RLIMIT_<NAME>), as go-units' ulimit names. */
const ulimitNames = [
  'as',
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
];

/**
 * Reads a create body and checks every option in dockerd's order (decode; isolation and QoS;
 * the container's config; the host config; the platform's resources and namespaces;
 * security options; log config), throwing Docker's message for the first problem.
 * `sourceExists` answers `--mount type=bind`'s source check. The network fields are the
 * networking code's (src/daemon/network/create-request.ts, when the container is planned):
 * it honours what it can, resolves a joined container, and refuses the rest by name.
 */
export function checkCreateRequest(
  body: Record<string, unknown>,
  facts: HostFacts,
  sourceExists: (path: string) => boolean,
): CheckedRequest {
  const config = readConfig(body);
  const host = readHostConfig(body);
  refuseUnsupportedFields(body);
  const uts = parseUtsMode(host.utsMode);
  if (uts === 'host' && config.hostname !== '')
    throw new InvalidRequest('conflicting options: hostname and the UTS mode');
  if (host.isolation !== '' && host.isolation !== 'default')
    throw new InvalidRequest(
      `Invalid isolation: ${JSON.stringify(host.isolation)} - linux only supports 'default'`,
    );
  if (host.ioMaximumBandwidth !== 0)
    throw new InvalidRequest(
      'Invalid QoS settings: linux does not support configuration of maximum bandwidth',
    );
  if (host.ioMaximumIOps !== 0)
    throw new InvalidRequest(
      'Invalid QoS settings: linux does not support configuration of maximum IOPs',
    );
  // The container's own config.
  if (config.workingDir !== '' && !config.workingDir.startsWith('/'))
    throw new InvalidRequest(
      `the working directory '${config.workingDir}' is invalid, it needs to be an absolute path`,
    );
  if (config.stopSignal !== '' && signalNumber(config.stopSignal) === null)
    throw new InvalidRequest(`Invalid signal: ${config.stopSignal}`);
  for (const e of config.env ?? [])
    if (e.split('=')[0] === '') throw new InvalidRequest(`invalid environment variable: ${e}`);
  if (config.healthcheck !== null) validateHealthcheck(config.healthcheck);
  // The host config.
  const mounts: MountWant[] = [];
  const volumesFrom = (host.volumesFrom ?? []).map(parseVolumesFrom);
  const binds = new Set<string>();
  for (const raw of host.binds ?? []) {
    const m = parseBind(raw, host.volumeDriver);
    if (binds.has(m.destination) || host.tmpfs?.[m.destination] !== undefined)
      throw duplicateMountPoint(m.destination);
    binds.add(m.destination);
    mounts.push(m);
  }
  for (const raw of host.mounts) {
    const m = parseMount(raw, sourceExists);
    if (binds.has(m.destination)) throw duplicateMountPoint(raw.target);
    mounts.push(m);
  }
  if (host.volumeDriver !== '' && host.volumeDriver !== 'local')
    throw new InvalidRequest(
      `statedock does not support the volume driver ${JSON.stringify(host.volumeDriver)}: only the local driver`,
    );
  for (const [list, field] of [
    [host.capAdd, 'CapAdd'],
    [host.capDrop, 'CapDrop'],
  ] as const)
    try {
      normalizeCapabilities(list ?? [], facts.capabilities);
    } catch (err) {
      throw new InvalidRequest(`invalid ${field}: ${(err as Error).message}`);
    }
  const capabilities = containerCapabilities({
    add: host.capAdd ?? [],
    drop: host.capDrop ?? [],
    privileged: host.privileged,
    available: facts.capabilities,
  });
  // The platform: resources, then namespaces and the rest.
  const memorySwappiness = host.memorySwappiness === -1 ? null : host.memorySwappiness;
  const oomKillDisable = host.oomKillDisable === true;
  const throttleRequest = (list: { path: string; rate: number }[]) =>
    list.map((d) => ({ path: d.path, major: 0, minor: 0, rate: d.rate }));
  const warnings = validateResources(
    {
      memory: host.memory,
      memorySwap: host.memorySwap,
      memoryReservation: host.memoryReservation,
      memorySwappiness,
      oomKillDisable,
      pidsLimit: host.pidsLimit,
      nanoCpus: host.nanoCpus,
      cpuShares: host.cpuShares,
      cpuPeriod: host.cpuPeriod,
      cpuQuota: host.cpuQuota,
      cpuRealtimePeriod: host.cpuRealtimePeriod,
      cpuRealtimeRuntime: host.cpuRealtimeRuntime,
      cpusetCpus: host.cpusetCpus,
      cpusetMems: host.cpusetMems,
      blkioWeight: host.blkioWeight,
      blkioWeightDevice: throttleRequest(host.blkioWeightDevice),
      blkioDeviceReadBps: throttleRequest(host.blkioDeviceReadBps),
      blkioDeviceWriteBps: throttleRequest(host.blkioDeviceWriteBps),
      blkioDeviceReadIOps: throttleRequest(host.blkioDeviceReadIOps),
      blkioDeviceWriteIOps: throttleRequest(host.blkioDeviceWriteIOps),
    },
    facts.cgroup,
  );
  const ipc = parseIpcMode(host.ipcMode);
  const pid = parsePidMode(host.pidMode);
  if (host.shmSize < 0) throw new InvalidRequest('SHM size can not be less than 0');
  if (host.oomScoreAdj < -1000 || host.oomScoreAdj > 1000)
    throw new InvalidRequest(
      `Invalid value ${host.oomScoreAdj}, range for oom score adj is [-1000, 1000]`,
    );
  if (!['', 'runc', 'io.containerd.runc.v2'].includes(host.runtime))
    throw new InvalidRequest(`Unknown runtime specified ${host.runtime}`);
  for (const dest of Object.keys(host.tmpfs ?? {})) checkTmpfsDestination(dest);
  const cgroupns = parseCgroupnsMode(host.cgroupnsMode, facts.cgroup.version);
  if (cgroupns === 'private' && !facts.cgroupNamespaces)
    throw new InvalidRequest(
      'statedock does not support HostConfig.CgroupnsMode private on this host: Your kernel does not support cgroup namespaces.',
    );
  if (host.usernsMode !== '' && host.usernsMode !== 'host')
    throw new InvalidRequest(`invalid user namespace mode: ${host.usernsMode}`);
  for (const u of host.ulimits) {
    if (!ulimitNames.includes(u.name)) throw new InvalidRequest(`invalid ulimit type: ${u.name}`);
    if (u.soft > u.hard)
      throw new InvalidRequest(
        `ulimit soft limit must be less than or equal to hard limit: ${u.soft} > ${u.hard}`,
      );
  }
  checkSysctls(host.sysctls ?? {});
  const security = parseSecurityOpt(host.securityOpt ?? []);
  checkSecurityHost(security, { appArmor: facts.appArmor });
  const log = readLogConfig(host.logConfig.type, host.logConfig.config ?? {});
  // dockerd skips --init when the container shares a PID namespace (it has an init already):
  // that would drop the option unseen, so it is refused.
  if (host.init === true && pid.kind !== 'private')
    throw new InvalidRequest(
      `statedock does not support HostConfig.Init with PidMode ${host.pidMode}: the PID namespace it joins has its own init`,
    );
  const init = host.init === true;
  if (init && facts.initBinary === null)
    throw new InvalidRequest('exec: "docker-init": executable file not found in $PATH');
  // dockerd's defaults (adaptContainerSettings): 64 MiB of /dev/shm, swap twice the memory.
  const shmSize = host.shmSize === 0 ? defaultShmSize : host.shmSize;
  const memorySwap =
    host.memory > 0 && host.memorySwap === 0
      ? facts.cgroup.swapLimit
        ? host.memory * 2
        : -1
      : host.memorySwap;
  return {
    config,
    host,
    networkMode: host.networkMode === '' ? 'default' : host.networkMode,
    pid,
    ipc,
    uts,
    cgroupns,
    security,
    capabilities,
    shmSize,
    memorySwap,
    mounts,
    volumesFrom,
    log,
    init,
    warnings,
  };
}

/** dockerd's validateHealthCheck: durations set are at least 1ms, retries not negative (in this order). */
function validateHealthcheck(h: HealthConfig): void {
  const atLeast1ms = (key: 'Interval' | 'Timeout' | 'StartPeriod'): void => {
    const v = h[key] ?? 0;
    if (v !== 0 && v < 1_000_000)
      throw new InvalidRequest(`${key} in Healthcheck cannot be less than 1ms`);
  };
  atLeast1ms('Interval');
  atLeast1ms('Timeout');
  if ((h.Retries ?? 0) < 0) throw new InvalidRequest('Retries in Healthcheck cannot be negative');
  atLeast1ms('StartPeriod');
}

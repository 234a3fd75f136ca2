import type { CheckedRequest, HostFacts } from './check.ts';
import {
  defaultCgroupParent,
  defaultDeviceRules,
  defaultMaskedPaths,
  defaultReadonlyPaths,
  initPathInContainer,
  privateNetworkSysctls,
} from './defaults.ts';
import { containerDevices, type DeviceMapping, type HostDevice } from './devices.ts';
import { InvalidRequest } from './errors.ts';
import { containerMounts, type SourcePropagation, type UserMount } from './mounts.ts';
import { containerNamespaces, shmPrefix } from './namespaces.ts';
import { ociResources, type BlockDevice } from './resources.ts';
import { defaultSeccomp, seccompFromProfile, type OciSeccomp } from './seccomp.ts';

/** What the create looked up on the host for a checked request (create-lookups.ts). */
export interface CreateLookups {
  user: { uid: number; gid: number; additionalGids: number[] };
  mounts: UserMount[];
  devices: DeviceMapping[];
  /** Every device node of the host (read only for privileged containers). */
  hostDevices: HostDevice[];
  /** Block devices of the BlkioDevice… and BlkioWeightDevice entries, by path. */
  blockDevices: Readonly<Record<string, { major: number; minor: number } | { error: string }>>;
  /** The containers whose PID and IPC namespaces it joins (their full IDs). */
  pidContainer: string | null;
  ipcContainer: string | null;
  sourcePropagation: Readonly<Record<string, SourcePropagation>>;
}

export interface SpecSettings {
  id: string;
  args: string[];
  env: string[];
  cwd: string;
  hostname: string;
  /** The daemon's --seccomp-profile (JSON), used instead of Docker's default. */
  daemonSeccompProfile: string | null;
}

/** `PATH`, `HOSTNAME` and, with a terminal, `TERM` first; the container's own values win (dockerd's CreateDaemonEnvironment). */
export function processEnv(env: readonly string[], hostname: string, tty: boolean): string[] {
  const out = [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `HOSTNAME=${hostname}`,
    ...(tty ? ['TERM=xterm'] : []),
  ];
  for (const e of env) {
    const key = e.includes('=') ? e.slice(0, e.indexOf('=')) : e;
    const at = out.findIndex((x) => x === key || x.startsWith(`${key}=`));
    if (at >= 0) out[at] = e;
    else out.push(e);
  }
  return out;
}

function blockDevicesOf(
  list: readonly { path: string; rate: number }[],
  found: CreateLookups['blockDevices'],
): BlockDevice[] {
  return list.map((d) => {
    const f = found[d.path];
    if (!f || 'error' in f)
      throw new InvalidRequest(`stat ${d.path}: ${f?.error ?? 'no such file or directory'}`);
    return { path: d.path, major: f.major, minor: f.minor, rate: d.rate };
  });
}

/** The seccomp filter: none when unconfined or privileged; the request's profile, the daemon's, or Docker's default. */
function seccompOf(
  r: CheckedRequest,
  facts: HostFacts,
  capabilities: readonly string[],
  daemonProfile: string | null,
): OciSeccomp | null {
  if (r.security.seccomp.kind === 'unconfined' || r.host.privileged) return null;
  const target = { capabilities, arch: facts.arch, kernel: facts.kernel };
  if (r.security.seccomp.kind === 'profile')
    return seccompFromProfile(r.security.seccomp.json, target);
  if (daemonProfile !== null) return seccompFromProfile(daemonProfile, target);
  return defaultSeccomp(target);
}

/**
 * The OCI runtime spec of a container (dockerd's createSpec): Docker's default confinement
 * (defaults.ts) with every option of the request applied. Namespaces joined with another
 * container keep `container:<id>` until the task is created (namespaces.ts).
 */
export function buildSpec(
  r: CheckedRequest,
  looked: CreateLookups,
  facts: HostFacts,
  s: SpecSettings,
): Record<string, unknown> {
  const h = r.host;
  const caps = r.capabilities;
  const root = looked.user.uid === 0;
  const { mounts, rootfsPropagation } = containerMounts({
    shmSize: r.shmSize,
    ipcMode: r.ipc.kind,
    shmSource: `${shmPrefix}${r.ipc.kind === 'container' ? (looked.ipcContainer ?? r.ipc.ref) : s.id}`,
    readonlyRootfs: h.readonlyRootfs,
    privileged: h.privileged,
    mounts: looked.mounts,
    tmpfs: h.tmpfs ?? {},
    init: r.init ? facts.initBinary : null,
    sourcePropagation: looked.sourcePropagation,
  });
  const { devices, rules } = containerDevices({
    mappings: looked.devices,
    cgroupRules: h.deviceCgroupRules ?? [],
    privileged: h.privileged,
    hostDevices: looked.hostDevices,
    defaults: defaultDeviceRules,
  });
  const resources = ociResources(
    {
      memory: h.memory,
      memorySwap: r.memorySwap,
      memoryReservation: h.memoryReservation,
      memorySwappiness: h.memorySwappiness === -1 ? null : h.memorySwappiness,
      oomKillDisable: h.oomKillDisable === true,
      pidsLimit: h.pidsLimit,
      nanoCpus: h.nanoCpus,
      cpuShares: h.cpuShares,
      cpuPeriod: h.cpuPeriod,
      cpuQuota: h.cpuQuota,
      cpuRealtimePeriod: h.cpuRealtimePeriod,
      cpuRealtimeRuntime: h.cpuRealtimeRuntime,
      cpusetCpus: h.cpusetCpus,
      cpusetMems: h.cpusetMems,
      blkioWeight: h.blkioWeight,
      blkioWeightDevice: blockDevicesOf(h.blkioWeightDevice, looked.blockDevices),
      blkioDeviceReadBps: blockDevicesOf(h.blkioDeviceReadBps, looked.blockDevices),
      blkioDeviceWriteBps: blockDevicesOf(h.blkioDeviceWriteBps, looked.blockDevices),
      blkioDeviceReadIOps: blockDevicesOf(h.blkioDeviceReadIOps, looked.blockDevices),
      blkioDeviceWriteIOps: blockDevicesOf(h.blkioDeviceWriteIOps, looked.blockDevices),
    },
    rules,
  );
  const privateNetwork = r.networkMode !== 'host';
  const sysctl: Record<string, string> = {};
  if (privateNetwork)
    for (const k of facts.networkSysctls) sysctl[k] = privateNetworkSysctls[k] as string;
  if (r.config.domainname !== '') sysctl['kernel.domainname'] = r.config.domainname;
  Object.assign(sysctl, h.sysctls ?? {});
  const seccomp = seccompOf(r, facts, caps, s.daemonSeccompProfile);
  const masked = h.maskedPaths ?? (h.privileged ? [] : [...defaultMaskedPaths]);
  const readonly = h.readonlyPaths ?? (h.privileged ? [] : [...defaultReadonlyPaths]);
  const [height, width] = h.consoleSize;
  const appArmor = facts.appArmor
    ? (r.security.appArmor ?? (h.privileged ? 'unconfined' : null))
    : null;
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: r.config.tty,
      ...(r.config.tty && height > 0 && width > 0 ? { consoleSize: { height, width } } : {}),
      user: looked.user,
      args: r.init ? [initPathInContainer, '--', ...s.args] : s.args,
      env: processEnv(s.env, s.hostname, r.config.tty),
      cwd: s.cwd === '' ? '/' : s.cwd,
      // A non-root process keeps only the bounding set, as execve leaves it (dockerd's SetCapabilities).
      capabilities: root
        ? { bounding: caps, effective: caps, permitted: caps }
        : { bounding: caps },
      ...(h.ulimits.length > 0
        ? {
            rlimits: h.ulimits.map((u) => ({
              type: `RLIMIT_${u.name.toUpperCase()}`,
              soft: u.soft,
              hard: u.hard,
            })),
          }
        : {}),
      noNewPrivileges: r.security.noNewPrivileges,
      oomScoreAdj: h.oomScoreAdj,
      ...(appArmor !== null ? { apparmorProfile: appArmor } : {}),
    },
    // The runtime sets the root for the task: the shim's mount in its bundle, or the vfs copy.
    root: { path: 'rootfs', readonly: h.readonlyRootfs },
    hostname: r.uts === 'host' ? '' : s.hostname,
    mounts,
    linux: {
      sysctl,
      resources,
      cgroupsPath: cgroupsPath(h.cgroupParent, s.id),
      namespaces: containerNamespaces({
        network: privateNetwork ? 'private' : 'host',
        pid:
          r.pid.kind === 'container'
            ? { kind: 'container', id: looked.pidContainer ?? r.pid.ref }
            : r.pid,
        ipc:
          r.ipc.kind === 'container'
            ? { kind: 'container', id: looked.ipcContainer ?? r.ipc.ref }
            : { kind: r.ipc.kind },
        uts: r.uts,
        cgroup: r.cgroupns,
      }),
      devices,
      ...(seccomp !== null ? { seccomp } : {}),
      ...(rootfsPropagation !== null ? { rootfsPropagation } : {}),
      maskedPaths: masked,
      readonlyPaths: readonly,
    },
  };
}

/** `<parent>/<id>` with the parent cleaned (Go's filepath.Join), under /statedock by default. */
function cgroupsPath(parent: string, id: string): string {
  const p = parent === '' ? defaultCgroupParent : parent;
  const joined = `${p}/${id}`
    .split('/')
    .filter((seg, i) => seg !== '' || i === 0)
    .join('/');
  return joined;
}

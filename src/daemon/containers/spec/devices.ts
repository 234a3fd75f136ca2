import { InvalidRequest } from './errors.ts';
import type { DeviceCgroupRule } from './defaults.ts';

/** A device node on the host, as the caller found it (stat of the path, or of each node under a directory). */
export interface HostDevice {
  /** Its path on the host. */
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  /** Permission bits of the node. */
  fileMode: number;
  uid: number;
  gid: number;
}

/** HostConfig.Devices entry, with what the host has at its path. */
export interface DeviceMapping {
  pathOnHost: string;
  pathInContainer: string;
  cgroupPermissions: string;
  /** The node, or the nodes under a directory; or why there is none (`no such file or directory`, `not a device node`). */
  found: { devices: HostDevice[]; root: string } | { error: string };
}

/** An OCI `linux.devices` entry. */
export interface OciDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

export class DeviceError extends InvalidRequest {
  override name = 'DeviceError';
}

const cgroupRulePattern = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** `--device-cgroup-rule 'c 1:3 mr'` → a cgroup rule (a `*` is -1, "any"); Docker's message when malformed. */
export function parseDeviceCgroupRule(rule: string): DeviceCgroupRule {
  const m = cgroupRulePattern.exec(rule);
  if (!m) throw new DeviceError(`invalid device cgroup rule format: '${rule}'`);
  const num = (s: string | undefined): number => (s === '*' ? -1 : Number(s));
  return {
    allow: true,
    type: m[1] as 'a' | 'b' | 'c',
    major: num(m[2]),
    minor: num(m[3]),
    access: m[4] as string,
  };
}

/**
 * The devices a container gets and the cgroup rules that let it use them (dockerd's
 * WithDevices): each mapped node (every node under a mapped directory, at the same relative
 * path) created in the container with its host numbers and owner, and allowed with the
 * mapping's permissions; then the DeviceCgroupRules. A privileged container gets every host
 * device and the whole device cgroup; its mappings only add the nodes at other paths.
 */
export function containerDevices(o: {
  mappings: readonly DeviceMapping[];
  cgroupRules: readonly string[];
  privileged: boolean;
  /** Every device node of the host (only read for privileged containers). */
  hostDevices: readonly HostDevice[];
  defaults: readonly DeviceCgroupRule[];
}): { devices: OciDevice[]; rules: DeviceCgroupRule[] } {
  const devices: OciDevice[] = [];
  const rules: DeviceCgroupRule[] = o.privileged
    ? [{ allow: true, access: 'rwm' }]
    : o.defaults.map((r) => ({ ...r }));
  if (o.privileged) for (const d of o.hostDevices) devices.push(nodeAt(d, d.path));
  for (const m of o.mappings) {
    if ('error' in m.found)
      throw new DeviceError(
        `error gathering device information while adding custom device ${JSON.stringify(m.pathOnHost)}: ${m.found.error}`,
      );
    if (o.privileged && m.pathOnHost === m.pathInContainer) continue;
    const root = m.found.root;
    for (const d of m.found.devices) {
      devices.push(nodeAt(d, m.pathInContainer + d.path.slice(root.length)));
      if (!o.privileged)
        rules.push({
          allow: true,
          type: d.type,
          major: d.major,
          minor: d.minor,
          access: m.cgroupPermissions,
        });
    }
  }
  if (!o.privileged) for (const r of o.cgroupRules) rules.push(parseDeviceCgroupRule(r));
  return { devices, rules };
}

function nodeAt(d: HostDevice, path: string): OciDevice {
  return {
    path,
    type: d.type,
    major: d.major,
    minor: d.minor,
    fileMode: d.fileMode,
    uid: d.uid,
    gid: d.gid,
  };
}

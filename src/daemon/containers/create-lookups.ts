import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  type Stats,
} from 'node:fs';
import type { ContainerContext, MountPoint } from '../../../machines/container/types.ts';
import type { VolumeStore } from '../volumes.ts';
import type { CreateLookups } from './spec/build.ts';
import type { CheckedRequest } from './spec/check.ts';
import type { DeviceMapping, HostDevice } from './spec/devices.ts';
import { InvalidRequest } from './spec/errors.ts';
import { layerMarks } from '../../../effects/rootfs/vfs.ts';
import type { SourcePropagation } from './spec/mounts.ts';

/**
 * What a create must look up on the host before it can plan the container: the user and
 * groups in the image's passwd and group files, the device nodes it maps, the containers
 * whose PID namespace or volumes it takes, the sources of its binds (made when missing, as
 * `-v` does) and their propagation, and its volumes (created on first use).
 */
export interface LookupContext {
  /** The image's layer directories, topmost first (its passwd and group files are the topmost copies). */
  imageLayers: readonly string[];
  /** A container by name, ID or unique ID prefix; null when there is none. */
  findContainer(ref: string): ContainerContext | null;
  volumes: VolumeStore;
  /** Makes a missing `-v` bind source (dockerd does; `--mount` refuses it). */
  makeBindSource(path: string): Promise<void>;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/**
 * The path of an image file (`etc/passwd`) as the container sees it: the topmost layer's copy,
 * unless a layer above the copy deleted it (a whiteout) or made a directory holding it opaque.
 */
export function imageFile(layersTopFirst: readonly string[], rel: string): string | null {
  for (const layer of layersTopFirst) {
    const path = `${layer}/${rel}`;
    let st: Stats | null = null;
    try {
      st = lstatSync(path);
    } catch {
      // not in this layer
    }
    if (st?.isCharacterDevice() === true && st.rdev === 0) return null;
    if (st !== null) return path;
    const marks = layerMarks(layer);
    if (marks.whiteouts.some((w) => rel === w || rel.startsWith(`${w}/`))) return null;
    if (marks.opaques.some((d) => d === '' || rel.startsWith(`${d}/`))) return null;
  }
  return null;
}

function readLines(path: string | null): string[][] {
  if (path === null) return [];
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

const isNumeric = (s: string) => /^\d+$/.test(s);

/**
 * `-u user[:group]` and `--group-add` as runc's user lookup resolves them in the image: a
 * name must be in passwd (group); a number need not be. The user's supplementary groups
 * (groups of the group file naming it) and the added groups follow its primary group.
 */
export function lookUpUser(
  spec: string,
  groupAdd: readonly string[],
  layers: readonly string[],
): { uid: number; gid: number; additionalGids: number[] } {
  const passwd: PasswdEntry[] = readLines(imageFile(layers, 'etc/passwd')).map((f) => ({
    name: f[0] ?? '',
    uid: Number(f[2]),
    gid: Number(f[3]),
  }));
  const groups: GroupEntry[] = readLines(imageFile(layers, 'etc/group')).map((f) => ({
    name: f[0] ?? '',
    gid: Number(f[2]),
    members: (f[3] ?? '').split(',').filter(Boolean),
  }));
  const at = spec.indexOf(':');
  const userArg = at < 0 ? spec : spec.slice(0, at);
  const groupArg = at < 0 ? '' : spec.slice(at + 1);
  let uid = 0;
  let gid = 0;
  let userName = '';
  if (userArg !== '') {
    const entry = passwd.find((p) =>
      isNumeric(userArg) ? p.uid === Number(userArg) : p.name === userArg,
    );
    if (entry) {
      uid = entry.uid;
      gid = entry.gid;
      userName = entry.name;
    } else if (isNumeric(userArg)) uid = Number(userArg);
    else
      throw new InvalidRequest(
        `unable to find user ${userArg}: no matching entries in passwd file`,
      );
  } else {
    const rootEntry = passwd.find((p) => p.uid === 0);
    userName = rootEntry?.name ?? '';
  }
  const sgids: number[] = [];
  if (groupArg !== '') {
    const g = groups.find((e) =>
      isNumeric(groupArg) ? e.gid === Number(groupArg) : e.name === groupArg,
    );
    if (g) gid = g.gid;
    else if (isNumeric(groupArg)) gid = Number(groupArg);
    else
      throw new InvalidRequest(
        `unable to find group ${groupArg}: no matching entries in group file`,
      );
  } else if (userName !== '')
    for (const g of groups) if (g.members.includes(userName)) sgids.push(g.gid);
  const added = groupAdd.map((a) => {
    const g = groups.find((e) => e.name === a);
    if (g) return g.gid;
    if (isNumeric(a)) return Number(a);
    throw new InvalidRequest(`Unable to find group ${a}: no matching entries in group file`);
  });
  return { uid, gid, additionalGids: [gid, ...sgids, ...added] };
}

/** A device node's type and numbers (Linux's dev_t encoding), or null for anything else. */
function deviceOf(path: string, st: Stats): HostDevice | null {
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : null;
  if (type === null) return null;
  const rdev = BigInt(st.rdev);
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { path, type, major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** The nodes under a directory (runc's walk: no /dev/pts, shm, fd, mqueue; no console). */
function devicesUnder(dir: string, skipDirs: boolean): HostDevice[] {
  const out: HostDevice[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = `${dir}/${n}`;
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      if (skipDirs && ['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev'].includes(n))
        continue;
      out.push(...devicesUnder(p, skipDirs));
      continue;
    }
    if (skipDirs && n === 'console') continue;
    const d = deviceOf(p, st);
    if (d) out.push(d);
  }
  return out;
}

/** A `--device` path: its node, the nodes under a directory, or why there is none. */
function lookUpDevice(pathOnHost: string): DeviceMapping['found'] {
  let path = pathOnHost;
  try {
    if (lstatSync(path).isSymbolicLink()) path = realpathSync(path);
  } catch {
    // reported below by stat
  }
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (err) {
    return {
      error:
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'no such file or directory'
          : (err as Error).message,
    };
  }
  const node = deviceOf(path, st);
  if (node) return { devices: [node], root: path };
  if (st.isDirectory()) {
    const nodes = devicesUnder(path, false);
    if (nodes.length > 0) return { devices: nodes, root: path };
  }
  return { error: 'not a device node' };
}

/** The host mount holding `path` (the longest mount point above it) and how it propagates. */
function propagationOf(path: string): SourcePropagation {
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // a missing source is made later; its parent's mount decides
  }
  let best: SourcePropagation = { mountPoint: '/', shared: false, slave: false };
  let bestLen = -1;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const mountPoint = (f[4] ?? '').replace(/\\040/g, ' ');
    if (
      mountPoint === '' ||
      !(real === mountPoint || real.startsWith(mountPoint === '/' ? '/' : `${mountPoint}/`))
    )
      continue;
    if (mountPoint.length <= bestLen) continue;
    const optional = f.slice(6, f.indexOf('-'));
    bestLen = mountPoint.length;
    best = {
      mountPoint,
      shared: optional.some((o) => o.startsWith('shared:')),
      slave: optional.some((o) => o.startsWith('master:')),
    };
  }
  return best;
}

/** Looks up everything a checked create request needs from the host (see LookupContext). */
export async function lookUpForCreate(
  r: CheckedRequest,
  ctx: LookupContext,
): Promise<CreateLookups & { mountPoints: MountPoint[] }> {
  const h = r.host;
  const user = lookUpUser(r.config.user, h.groupAdd ?? [], ctx.imageLayers);
  const idOf = (ref: string): string => {
    const c = ctx.findContainer(ref);
    if (!c) throw new InvalidRequest(`No such container: ${ref}`);
    return c.record.id;
  };
  const pidContainer = r.pid.kind === 'container' ? idOf(r.pid.ref) : null;
  const ipcContainer = r.ipc.kind === 'container' ? idOf(r.ipc.ref) : null;
  const devices: DeviceMapping[] = h.devices.map((d) => ({
    pathOnHost: d.pathOnHost,
    pathInContainer: d.pathInContainer === '' ? d.pathOnHost : d.pathInContainer,
    cgroupPermissions: d.cgroupPermissions === '' ? 'rwm' : d.cgroupPermissions,
    found: lookUpDevice(d.pathOnHost),
  }));
  // Refused before any volume is made for the container.
  for (const d of devices)
    if ('error' in d.found)
      throw new InvalidRequest(
        `error gathering device information while adding custom device ${JSON.stringify(d.pathOnHost)}: ${d.found.error}`,
      );
  const blockDevices: Record<string, { major: number; minor: number } | { error: string }> = {};
  for (const d of [
    ...h.blkioWeightDevice,
    ...h.blkioDeviceReadBps,
    ...h.blkioDeviceWriteBps,
    ...h.blkioDeviceReadIOps,
    ...h.blkioDeviceWriteIOps,
  ]) {
    try {
      const node = deviceOf(d.path, statSync(d.path));
      blockDevices[d.path] = node ?? { major: 0, minor: 0 };
    } catch (err) {
      throw new InvalidRequest(
        `stat ${d.path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
      );
    }
  }
  // The mounts, as dockerd registers them: volumes of other containers, then binds and --mount
  // (a later one at the same destination replaces an earlier one), then anonymous volumes.
  const byDestination = new Map<string, MountPoint>();
  for (const from of r.volumesFrom) {
    const c = ctx.findContainer(from.container);
    if (!c) throw new InvalidRequest(`No such container: ${from.container}`);
    for (const m of c.record.config.mounts ?? [])
      byDestination.set(m.destination, {
        ...m,
        rw: m.rw && from.rw,
        ...(m.anonymous ? { anonymous: false } : {}),
      });
  }
  const sourcePropagation: Record<string, SourcePropagation> = {};
  for (const w of r.mounts) {
    if (w.type === 'bind') {
      if (w.createSource && !existsSync(w.source)) await ctx.makeBindSource(w.source);
      if (w.propagation !== 'private' && w.propagation !== 'rprivate')
        sourcePropagation[w.source] = propagationOf(w.source);
      byDestination.set(w.destination, {
        type: 'bind',
        name: '',
        source: w.source,
        destination: w.destination,
        rw: w.rw,
        propagation: w.propagation,
        ...(w.nonRecursive ? { nonRecursive: true } : {}),
        mode: w.mode,
      });
    } else if (w.type === 'volume') {
      const v = await ctx.volumes.ensure(w.name, w.labels ?? undefined);
      byDestination.set(w.destination, {
        type: 'volume',
        name: v.name,
        source: v.mountpoint,
        destination: w.destination,
        rw: w.rw,
        // dockerd marks a local volume's mount for relabelling ("z") when no mode was given.
        mode: w.mode === '' && w.name !== null ? 'z' : w.mode,
        ...(v.anonymous ? { anonymous: true } : {}),
      });
    } else
      byDestination.set(w.destination, {
        type: 'tmpfs',
        name: '',
        source: '',
        destination: w.destination,
        rw: w.rw,
        ...(w.data !== '' ? { tmpfsData: w.data } : {}),
      });
  }
  for (const dst of Object.keys(r.config.volumes ?? {}))
    if (!byDestination.has(dst) && h.tmpfs?.[dst] === undefined) {
      const v = await ctx.volumes.ensure(null);
      byDestination.set(dst, {
        type: 'volume',
        name: v.name,
        source: v.mountpoint,
        destination: dst,
        rw: true,
        anonymous: true,
      });
    }
  const mountPoints = [...byDestination.values()];
  return {
    user,
    mountPoints,
    mounts: mountPoints.map((m) => ({
      type: m.type,
      source: m.source,
      destination: m.destination,
      rw: m.rw,
      ...(m.propagation ? { propagation: m.propagation } : {}),
      ...(m.nonRecursive ? { nonRecursive: true } : {}),
      ...(m.tmpfsData ? { data: m.tmpfsData } : {}),
    })),
    devices,
    hostDevices: h.privileged ? devicesUnder('/dev', true) : [],
    blockDevices,
    pidContainer,
    ipcContainer,
    sourcePropagation,
  };
}

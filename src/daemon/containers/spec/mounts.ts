import { defaultMounts, initPathInContainer, type OciMount } from './defaults.ts';
import { InvalidRequest } from './errors.ts';

/** A user mount of the container, as the create recorded it (binds, volumes, `--mount type=tmpfs`). */
export interface UserMount {
  type: 'bind' | 'volume' | 'tmpfs';
  source: string;
  destination: string;
  rw: boolean;
  /** Binds: rprivate unless asked otherwise. Volumes have none. */
  propagation?: string;
  nonRecursive?: boolean;
  /** tmpfs mount data (`size=1m,mode=700`). */
  data?: string;
}

/** How the host mount holding a bind's source propagates (from /proc/self/mountinfo). */
export interface SourcePropagation {
  mountPoint: string;
  shared: boolean;
  slave: boolean;
}

export interface MountsInput {
  shmSize: number;
  ipcMode: 'private' | 'none' | 'host' | 'shareable' | 'container';
  /** Where a shareable /dev/shm (its own, or the joined container's) is bound from. */
  shmSource?: string;
  readonlyRootfs: boolean;
  privileged: boolean;
  mounts: readonly UserMount[];
  /** HostConfig.Tmpfs: destination → options. */
  tmpfs: Readonly<Record<string, string>>;
  /** The init binary on the host, when `--init` asks for one. */
  init: string | null;
  /** Propagation of the host mounts under shared or slave bind sources, by source path. */
  sourcePropagation: Readonly<Record<string, SourcePropagation>>;
}

const flagOf: Record<string, string> = {
  ro: 'rdonly',
  rw: 'rdonly',
  suid: 'nosuid',
  nosuid: 'nosuid',
  dev: 'nodev',
  nodev: 'nodev',
  exec: 'noexec',
  noexec: 'noexec',
  sync: 'sync',
  async: 'sync',
  dirsync: 'dirsync',
  remount: 'remount',
  mand: 'mand',
  nomand: 'mand',
  atime: 'noatime',
  noatime: 'noatime',
  diratime: 'nodiratime',
  nodiratime: 'nodiratime',
  relatime: 'relatime',
  norelatime: 'relatime',
  strictatime: 'strictatime',
  nostrictatime: 'strictatime',
  // One propagation (or bind) mode per mount.
  bind: 'propagation',
  rbind: 'propagation',
  unbindable: 'propagation',
  runbindable: 'propagation',
  private: 'propagation',
  rprivate: 'propagation',
  shared: 'propagation',
  rshared: 'propagation',
  slave: 'propagation',
  rslave: 'propagation',
};

const tmpfsData = new Set(['', 'size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol']);

/**
 * A tmpfs's options without duplicates, the later option of a kind winning (moby's
 * MergeTmpfsOptions); Docker's message for an option tmpfs does not take.
 */
export function mergeTmpfsOptions(options: readonly string[]): string[] {
  const flags = new Set<string>();
  const data = new Set<string>();
  const out: string[] = [];
  for (let i = options.length - 1; i >= 0; i--) {
    const o = options[i] as string;
    if (o === 'defaults') continue;
    const flag = flagOf[o];
    if (flag !== undefined) {
      if (!flags.has(flag)) {
        out.unshift(o);
        flags.add(flag);
      }
      continue;
    }
    const eq = o.indexOf('=');
    const key = eq < 0 ? null : o.slice(0, eq);
    if (key === null || !tmpfsData.has(key))
      throw new InvalidRequest(
        `Invalid tmpfs option [${(eq < 0 ? [o] : [o.slice(0, eq), o.slice(eq + 1)]).map((s) => JSON.stringify(s)).join(' ')}]`,
      );
    if (!data.has(key)) {
      out.unshift(o);
      data.add(key);
    }
  }
  return out;
}

const depth = (p: string) => p.split('/').filter(Boolean).length;

/**
 * The container's mounts (dockerd's WithMounts): the standard ones (/dev/shm sized, or gone
 * with IpcMode none, or the host's with IpcMode host), the init binary, then the user's
 * mounts, parents first; a user mount replaces a standard one at its destination, and a
 * user /dev replaces everything under /dev. A read-only root makes the standard mounts
 * read-only too (but /proc and /dev); a privileged container gets /sys and its cgroups
 * writable. Returns the root's propagation when a shared or slave bind needs it.
 */
export function containerMounts(o: MountsInput): {
  mounts: OciMount[];
  rootfsPropagation: string | null;
} {
  const user: (OciMount & { propagation?: string })[] = [];
  for (const m of o.mounts) {
    if (m.type === 'tmpfs') {
      user.push(tmpfsMount(m.destination, m.data ?? ''));
      continue;
    }
    user.push({
      destination: m.destination,
      type: 'bind',
      source: m.source,
      options: [
        m.nonRecursive ? 'bind' : 'rbind',
        ...(m.rw ? [] : ['ro']),
        ...(m.propagation ? [m.propagation] : []),
      ],
      ...(m.propagation ? { propagation: m.propagation } : {}),
    });
  }
  for (const [dest, data] of Object.entries(o.tmpfs)) user.push(tmpfsMount(dest, data));
  // The host's /dev/shm, or a shareable one the daemon mounts on the host (dockerd's IpcMounts).
  if (o.ipcMode === 'host' || o.ipcMode === 'shareable' || o.ipcMode === 'container')
    user.push({
      destination: '/dev/shm',
      type: 'bind',
      source: o.ipcMode === 'host' ? '/dev/shm' : (o.shmSource ?? ''),
      options: ['rbind', 'rprivate'],
    });
  const sorted = user
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i)
    .map(({ m }) => m);
  const userDests = new Set(sorted.map((m) => m.destination));
  const standard: OciMount[] = defaultMounts(o.shmSize);
  if (o.init !== null)
    standard.push({
      destination: initPathInContainer,
      type: 'bind',
      source: o.init,
      options: ['bind', 'ro'],
    });
  const kept = standard.filter(
    (m) =>
      !userDests.has(m.destination) &&
      !(userDests.has('/dev') && m.destination.startsWith('/dev/')) &&
      !(m.destination === '/dev/shm' && o.ipcMode === 'none'),
  );
  let rootfsPropagation: string | null = null;
  for (const m of sorted) {
    const p = m.propagation;
    delete m.propagation;
    if (p === 'shared' || p === 'rshared') {
      const s = o.sourcePropagation[m.source];
      if (!s?.shared)
        throw new InvalidRequest(
          `path ${m.source} is mounted on ${s?.mountPoint ?? '/'} but it is not a shared mount`,
        );
      if (rootfsPropagation !== 'shared' && rootfsPropagation !== 'rshared')
        rootfsPropagation = 'shared';
    } else if (p === 'slave' || p === 'rslave') {
      const s = o.sourcePropagation[m.source];
      if (!s?.shared && !s?.slave)
        throw new InvalidRequest(
          `path ${m.source} is mounted on ${s?.mountPoint ?? '/'} but it is not a shared or slave mount`,
        );
      if (rootfsPropagation === null) rootfsPropagation = 'rslave';
    }
  }
  if (o.readonlyRootfs)
    for (const m of kept)
      if (
        !['/proc', '/dev/pts', '/dev/shm', '/dev/mqueue', '/dev'].includes(m.destination) &&
        !m.options.includes('ro')
      )
        m.options.push('ro');
  if (o.privileged)
    for (const m of kept)
      if (m.destination === '/sys' || m.type === 'cgroup')
        m.options = m.options.filter((x) => x !== 'ro');
  return { mounts: [...kept, ...sorted], rootfsPropagation };
}

function tmpfsMount(destination: string, data: string): OciMount {
  return {
    destination,
    type: 'tmpfs',
    source: 'tmpfs',
    options: mergeTmpfsOptions([
      'noexec',
      'nosuid',
      'nodev',
      'rprivate',
      ...(data === '' ? [] : data.split(',')),
    ]),
  };
}

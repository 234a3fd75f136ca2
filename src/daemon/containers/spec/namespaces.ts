import { defaultNamespaces } from './defaults.ts';
import { InvalidRequest } from './errors.ts';

/**
 * A container's namespaces from PidMode, IpcMode, UTSMode, CgroupnsMode and the network
 * mode: its own by default, the host's (none made), or another container's. Joining another
 * container needs that container's PID, which changes each time it starts: the spec keeps
 * `container:<id>` as the namespace's path, and `resolveNamespaceJoins` puts the running
 * target's `/proc/<pid>/ns/…` there when the task is created.
 */

export type PidMode = { kind: 'private' } | { kind: 'host' } | { kind: 'container'; id: string };

/** IpcMode: its own (private, none without /dev/shm, shareable with the daemon's /dev/shm), the host's, or another container's. */
export type IpcMode =
  { kind: 'private' | 'none' | 'host' | 'shareable' } | { kind: 'container'; id: string };

export interface NamespaceModes {
  network: 'private' | 'host';
  pid: PidMode;
  ipc: IpcMode;
  uts: 'private' | 'host';
  cgroup: 'private' | 'host';
}

export interface OciNamespace {
  type: string;
  path?: string;
}

/** The path a join keeps until the task is created. */
const joinPrefix = 'container:';

export function containerNamespaces(m: NamespaceModes): OciNamespace[] {
  const out: OciNamespace[] = [];
  for (const type of defaultNamespaces) {
    if (type === 'network' && m.network === 'host') continue;
    if (type === 'uts' && m.uts === 'host') continue;
    if (type === 'ipc' && m.ipc.kind === 'host') continue;
    if (type === 'ipc' && m.ipc.kind === 'container') {
      out.push({ type, path: `${joinPrefix}${m.ipc.id}` });
      continue;
    }
    if (type === 'pid') {
      if (m.pid.kind === 'host') continue;
      if (m.pid.kind === 'container') {
        out.push({ type, path: `${joinPrefix}${m.pid.id}` });
        continue;
      }
    }
    out.push({ type });
  }
  if (m.cgroup === 'private') out.push({ type: 'cgroup' });
  return out;
}

/** What the daemon knows of a container another one joins, when its task is created. */
export type JoinTarget =
  { state: 'running'; pid: number } | { state: 'notRunning' | 'restarting' | 'missing' };

/** /proc/<pid>/ns/<file> of each namespace type. */
const nsFile: Record<string, string> = {
  pid: 'pid',
  ipc: 'ipc',
  uts: 'uts',
  network: 'net',
  mount: 'mnt',
  cgroup: 'cgroup',
  user: 'user',
};

/** The source a /dev/shm bind keeps until the task is made: the daemon's tmpfs of a shareable container. */
export const shmPrefix = 'statedock-shm:';

/** Docker's words when the container a namespace is joined with cannot be joined. */
function joinError(type: string, id: string, t: JoinTarget): string | null {
  const why =
    t.state === 'missing'
      ? `No such container: ${id}`
      : t.state === 'notRunning'
        ? `container ${id} is not running`
        : t.state === 'restarting'
          ? `Container ${id} is restarting, wait until the container is running`
          : null;
  if (why === null) return null;
  if (type === 'ipc') return `can't join IPC of container ${id}: ${why}`;
  return t.state === 'missing' ? `cannot join PID of a non running container: ${id}: ${why}` : why;
}

/**
 * Puts in a spec what only its task's creation can know: the namespace paths of the
 * containers it joins (each must be running, not restarting: Docker's messages), and the
 * host paths of the shareable /dev/shm it mounts (`shm` answers null for a container
 * that has none: not shareable, or not running). Returns the spec unchanged when it has
 * neither.
 */
export function resolveJoins(
  spec: Record<string, unknown>,
  target: (id: string) => JoinTarget,
  shm: (id: string) => string | null,
): Record<string, unknown> {
  const linux = spec['linux'] as { namespaces?: OciNamespace[] } | undefined;
  const namespaces = linux?.namespaces ?? [];
  const mounts = (spec['mounts'] ?? []) as { source: string }[];
  if (
    !namespaces.some((n) => n.path?.startsWith(joinPrefix)) &&
    !mounts.some((m) => m.source.startsWith(shmPrefix))
  )
    return spec;
  const resolved = namespaces.map((n) => {
    if (!n.path?.startsWith(joinPrefix)) return n;
    const id = n.path.slice(joinPrefix.length);
    const t = target(id);
    const err = joinError(n.type, id, t);
    if (err !== null || t.state !== 'running')
      throw new InvalidRequest(err ?? `container ${id} is not running`);
    return { type: n.type, path: `/proc/${t.pid}/ns/${nsFile[n.type] ?? n.type}` };
  });
  const resolvedMounts = mounts.map((m) => {
    if (!m.source.startsWith(shmPrefix)) return m;
    const id = m.source.slice(shmPrefix.length);
    const path = shm(id);
    if (path === null)
      throw new InvalidRequest(
        `can't join IPC of container ${id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`,
      );
    return { ...m, source: path };
  });
  return { ...spec, mounts: resolvedMounts, linux: { ...linux, namespaces: resolved } };
}

/** PidMode: '', `host` or `container:<name|id>` (the caller resolves the name to an ID). */
export function parsePidMode(
  mode: string,
): { kind: 'private' } | { kind: 'host' } | { kind: 'container'; ref: string } {
  if (mode === '') return { kind: 'private' };
  if (mode === 'host') return { kind: 'host' };
  if (mode.startsWith(joinPrefix) && mode.length > joinPrefix.length)
    return { kind: 'container', ref: mode.slice(joinPrefix.length) };
  throw new InvalidRequest(`invalid PID mode: ${mode}`);
}

/** IpcMode: '', private, none, host, shareable, or `container:<name|id>` (the caller resolves the name). */
export function parseIpcMode(
  mode: string,
): { kind: 'private' | 'none' | 'host' | 'shareable' } | { kind: 'container'; ref: string } {
  if (mode === '' || mode === 'private') return { kind: 'private' };
  if (mode === 'none' || mode === 'host' || mode === 'shareable') return { kind: mode };
  if (mode.startsWith(joinPrefix) && mode.length > joinPrefix.length)
    return { kind: 'container', ref: mode.slice(joinPrefix.length) };
  throw new InvalidRequest(`invalid IPC mode: ${mode}`);
}

export function parseUtsMode(mode: string): 'private' | 'host' {
  if (mode === '') return 'private';
  if (mode === 'host') return 'host';
  throw new InvalidRequest(`invalid UTS mode: ${mode}`);
}

/** CgroupnsMode: `private` or `host`; '' is the default: the host's on cgroup v1, its own on v2 (privileged or not). */
export function parseCgroupnsMode(mode: string, cgroupVersion: 1 | 2): 'private' | 'host' {
  if (mode === 'private' || mode === 'host') return mode;
  if (mode !== '') throw new InvalidRequest(`invalid cgroup namespace mode: ${mode}`);
  return cgroupVersion === 2 ? 'private' : 'host';
}

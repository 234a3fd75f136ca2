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

export interface NamespaceModes {
  network: 'private' | 'host';
  pid: PidMode;
  ipc: 'private' | 'none' | 'host';
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
    if (type === 'ipc' && m.ipc === 'host') continue;
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

/**
 * Puts the namespace paths of the containers a spec joins: the target must be running (not
 * restarting), with Docker's messages. Returns the spec unchanged when it joins none.
 */
export function resolveNamespaceJoins(
  spec: Record<string, unknown>,
  target: (id: string) => JoinTarget,
): Record<string, unknown> {
  const linux = spec['linux'] as { namespaces?: OciNamespace[] } | undefined;
  const namespaces = linux?.namespaces ?? [];
  if (!namespaces.some((n) => n.path?.startsWith(joinPrefix))) return spec;
  const resolved = namespaces.map((n) => {
    if (!n.path?.startsWith(joinPrefix)) return n;
    const id = n.path.slice(joinPrefix.length);
    const t = target(id);
    if (t.state === 'missing')
      throw new InvalidRequest(
        `cannot join PID of a non running container: ${id}: No such container: ${id}`,
      );
    if (t.state === 'notRunning') throw new InvalidRequest(`container ${id} is not running`);
    if (t.state === 'restarting')
      throw new InvalidRequest(
        `Container ${id} is restarting, wait until the container is running`,
      );
    if (t.state !== 'running') throw new InvalidRequest(`container ${id} is not running`);
    return { type: n.type, path: `/proc/${t.pid}/ns/${nsFile[n.type] ?? n.type}` };
  });
  return { ...spec, linux: { ...linux, namespaces: resolved } };
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

/**
 * IpcMode: '' and `private` (its own), `none` (its own, no /dev/shm), `host`. A shareable
 * IPC namespace and joining one (`container:<name>`) need a /dev/shm mounted by the daemon
 * on the host, which statedock does not do: refused.
 */
export function parseIpcMode(mode: string): 'private' | 'none' | 'host' {
  if (mode === '' || mode === 'private') return 'private';
  if (mode === 'none' || mode === 'host') return mode;
  if (mode === 'shareable' || (mode.startsWith(joinPrefix) && mode.length > joinPrefix.length))
    throw new InvalidRequest(
      `statedock does not support HostConfig.IpcMode ${mode}: a shared /dev/shm between containers is not implemented (use private, none or host)`,
    );
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

import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { promisify } from 'node:util';
import { mountPoints } from '../../effects/kernel/real.ts';
import type {
  AcknowledgedCreate,
  HostView,
  StoredContainerView,
  TaskView,
} from '../../machines/container/invariants.ts';
import type { ContainerStatus } from '../../machines/container/types.ts';

const run = promisify(execFile);

/** statedock's namespace in its supervised containerd (effects/containerd/process.ts). */
export const containerdNamespace = 'statedock';

/** The supervised containerd's socket under the exec root (effects/containerd/process.ts). */
export function containerdSocket(execRoot: string): string {
  return `${execRoot}/containerd/containerd.sock`;
}

/** One Engine API GET on the daemon's socket: status and parsed JSON body. */
export function apiGet(
  sock: string,
  path: string,
  timeoutMs = 5000,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: data === '' ? null : JSON.parse(data) });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () =>
      req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end();
  });
}

/** The daemon's containers, as the Engine API reports them (list, then inspect for AutoRemove). */
export async function apiContainers(sock: string): Promise<StoredContainerView[]> {
  const list = (await apiGet(sock, '/containers/json?all=1')).body as {
    Id: string;
    Names: string[];
    State: ContainerStatus;
  }[];
  const out: StoredContainerView[] = [];
  for (const c of list) {
    const inspected = await apiGet(sock, `/containers/${c.Id}/json`);
    // Gone between the list and the inspect: it was being removed; the caller looks again.
    const autoRemove =
      inspected.status === 200
        ? (inspected.body as { HostConfig: { AutoRemove: boolean } }).HostConfig.AutoRemove
        : false;
    out.push({ id: c.Id, name: c.Names[0] ?? '', status: c.State, autoRemove });
  }
  return out;
}

function ctr(execRoot: string, args: string[]): Promise<string> {
  return run('ctr', ['-a', containerdSocket(execRoot), '-n', containerdNamespace, ...args], {
    encoding: 'utf8',
    timeout: 10_000,
  }).then((r) => r.stdout);
}

/** containerd's own view of its tasks (`ctr tasks ls`: TASK PID STATUS). */
export async function containerdTasks(execRoot: string): Promise<TaskView[]> {
  const lines = (await ctr(execRoot, ['tasks', 'ls'])).split('\n').slice(1).filter(Boolean);
  return lines.map((l) => {
    const [id = '', , status = 'UNKNOWN'] = l.trim().split(/\s+/);
    return { id, status: status.toLowerCase() as TaskView['status'] };
  });
}

/** containerd's containers in our namespace (`ctr containers ls -q`). */
export async function containerdContainers(execRoot: string): Promise<string[]> {
  return (await ctr(execRoot, ['containers', 'ls', '-q'])).split('\n').filter(Boolean);
}

/** IDs whose root filesystem (`<data-root>/overlay2/<id>/merged`) is mounted on the host. */
export function mountedRootfs(d: { root: string; exec: string }): string[] {
  const esc = (p: string): string => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // Roots the shim mounts in its task's bundle (Tasks.Create rootfs), and ones statedock itself mounted before it did.
  const res = [
    new RegExp(
      `^${esc(d.exec)}/containerd/daemon/io\\.containerd\\.runtime\\.v2\\.task/statedock/([0-9a-f]{64})/rootfs$`,
    ),
    new RegExp(`^${esc(d.root)}/overlay2/([0-9a-f]{64})/merged$`),
  ];
  return mountPoints().flatMap((m) => res.flatMap((re) => re.exec(m)?.[1] ?? []));
}

/** Containers whose shareable /dev/shm is mounted under the data root, from /proc mounts. */
export function mountedShm(d: { root: string }): string[] {
  const esc = (p: string): string => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${esc(d.root)}/containers/([0-9a-f]{64})/mounts/shm$`);
  return mountPoints().flatMap((m) => re.exec(m)?.[1] ?? []);
}

/** The host as the invariants read it: the daemon's API, containerd's own view, /proc mounts. */
export async function hostView(
  d: { sock: string; root: string; exec: string },
  acknowledged: AcknowledgedCreate[],
): Promise<HostView> {
  const containers = await apiContainers(d.sock);
  const [tasks, ctrContainers] = await Promise.all([
    containerdTasks(d.exec),
    containerdContainers(d.exec),
  ]);
  return {
    containers,
    tasks,
    containerdContainers: ctrContainers,
    acknowledged,
    mounted: mountedRootfs(d),
    shmMounted: mountedShm(d),
  };
}

/** Shim processes serving this exec root's containerd, by the container ID each serves (`-id`), read from /proc. */
export function shimsOf(execRoot: string): { pid: number; id: string }[] {
  const address = containerdSocket(execRoot);
  const out: { pid: number; id: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (
      !(argv[0] ?? '').includes('containerd-shim') ||
      argv[argv.indexOf('-address') + 1] !== address
    )
      continue;
    const id = argv[argv.indexOf('-id') + 1] ?? '';
    if (/^[0-9a-f]{64}$/.test(id)) out.push({ pid: Number(entry), id });
  }
  return out;
}

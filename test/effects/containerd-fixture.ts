import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  constants as fsConstants,
  openSync,
  readdirSync,
  rmdirSync,
  rmSync,
} from 'node:fs';
import { Socket } from 'node:net';
import { ContainerdClient, isContainerdError } from '../../effects/containerd/client.ts';
import { testCgroupParent } from './oci-spec-fixture.ts';

/** Helpers shared by the real containerd test and benchmark: FIFO readers, requirements, clean-up. */

/** Why a real containerd cannot be driven here, or null when it can. */
export function realContainerdUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (containerd, runc, cgroups)';
  for (const b of ['containerd', 'runc', 'mkfifo'])
    if (spawnSync('which', [b]).status !== 0)
      return `needs ${b} on $PATH (apt-get install containerd runc)`;
  if (!existsSync('/bin/busybox')) return 'needs /bin/busybox (apt-get install busybox-static)';
  return null;
}

export interface FifoReader {
  /** Everything read, once the writer side closed (EOF). */
  text: Promise<string>;
  destroy(): void;
}

/**
 * Makes a FIFO and opens its read end non-blocking (a blocking open would wait for a writer
 * on a libuv pool thread): call before Tasks.Create, whose shim opens the write end.
 * No EOF is reported before a writer has come and gone, so opening early is safe.
 */
export function fifoReader(path: string): FifoReader {
  execFileSync('mkfifo', ['-m', '0600', path]);
  const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  const socket = new Socket({ fd, readable: true, writable: false });
  const chunks: Buffer[] = [];
  const text = new Promise<string>((resolve, reject) => {
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
  return { text, destroy: () => socket.destroy() };
}

/**
 * Kills, waits for and deletes every task of the client's namespace, then deletes its
 * containers: a test's leftovers after a failure. Errors are collected, not thrown.
 */
export async function cleanNamespace(client: ContainerdClient): Promise<string[]> {
  const problems: string[] = [];
  const note = (what: string) => (err: unknown) =>
    void problems.push(`${what}: ${(err as Error).message}`);
  const tasks = await client.listTasks().catch((err: unknown) => (note('list tasks')(err), []));
  for (const t of tasks) {
    if (t.status === 'paused') await client.resumeTask(t.id).catch(note(`resume ${t.id}`));
    if (t.status !== 'stopped') {
      await client.killTask(t.id, 'SIGKILL', true).catch(note(`kill ${t.id}`));
      await Promise.race([
        client.waitTask(t.id).catch(note(`wait ${t.id}`)),
        new Promise((r) => setTimeout(r, 5000)),
      ]);
    }
    await client
      .deleteTask(t.id)
      .catch(
        (err: unknown) => isContainerdError(err, 'NotFound') || note(`delete task ${t.id}`)(err),
      );
  }
  const containers = await client
    .listContainers()
    .catch((err: unknown) => (note('list containers')(err), []));
  for (const c of containers)
    await client.deleteContainer(c.id).catch(note(`delete container ${c.id}`));
  return problems;
}

/**
 * Removes the cgroups runc leaves behind under `statedock-test` (gotcha 16): those of the
 * given container ids, then the parent itself. rmdir fails on a cgroup that still has
 * processes or children (another run's), so nothing in use is touched.
 */
export function removeCgroups(ids: readonly string[] = []): void {
  for (const controller of readdirSync('/sys/fs/cgroup')) {
    const parent = `/sys/fs/cgroup/${controller}/${testCgroupParent}`;
    if (!existsSync(parent)) continue;
    for (const dir of [...ids.map((id) => `${parent}/${id}`), parent]) {
      try {
        rmdirSync(dir);
      } catch {
        // absent, or still in use: leave it
      }
    }
  }
}

/**
 * Force-deletes what runc still holds under `root` (the runc root given in the runtime
 * options) for `namespace`: containers whose shim died before Tasks.Delete. Returns their ids.
 */
export function runcForceDelete(root: string, namespace: string): string[] {
  const nsRoot = `${root}/${namespace}`;
  if (!existsSync(nsRoot)) return [];
  const ids = readdirSync(nsRoot);
  for (const id of ids)
    spawnSync('runc', ['--root', nsRoot, 'delete', '--force', id], { stdio: 'ignore' });
  return ids;
}

/**
 * Removes the shim sockets of these tasks: a shim killed before Tasks.Delete leaves its
 * socket in /run/containerd/s, named sha256("<containerd address>/<namespace>/<id>")
 * (containerd 1.6 runtime/v2/shim SocketAddress), so only ours can match.
 */
export function removeShimSockets(
  address: string,
  namespace: string,
  ids: readonly string[],
): void {
  for (const id of ids)
    rmSync(
      `/run/containerd/s/${createHash('sha256').update(`${address}/${namespace}/${id}`).digest('hex')}`,
      { force: true },
    );
}

/** Pids whose command line names `needle` (pgrep -f), e.g. the shims of a namespace. */
export function pidsMatching(needle: string): number[] {
  const r = spawnSync('pgrep', ['-f', needle], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

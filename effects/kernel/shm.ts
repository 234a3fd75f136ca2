import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { promisify } from 'node:util';
import type { EffectErrorCode } from '../errors.ts';
import { EffectFailure, failureFrom } from '../handler.ts';
import { mountPoints } from './mounts.ts';
import { shmPathPattern } from './shm-path.ts';

const run = promisify(execFile);

/** What mount(8) and umount(8) say, as the closed code set (they report errno in words only). */
function codeOf(text: string): EffectErrorCode {
  const t = text.toLowerCase();
  if (/permission denied|only root|must be superuser|operation not permitted/.test(t))
    return 'EPERM';
  if (/no such file or directory|does not exist/.test(t)) return 'ENOENT';
  if (/no space left/.test(t)) return 'ENOSPC';
  if (/read-only file system/.test(t)) return 'EROFS';
  if (/busy/.test(t)) return 'EBUSY';
  return 'EIO';
}

function commandText(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(err)).trim();
}

/**
 * dockerd's setupIpcDirs for IpcMode shareable: the mount point (0700) made, then a tmpfs
 * named `shm` mounted there, mode 1777, `sizeBytes` big, noexec, nosuid, nodev. Not mounted
 * again (no second tmpfs over the first) when it is mounted already.
 */
export async function mountShm(path: string, sizeBytes: number): Promise<{ mounted: boolean }> {
  if (mountPoints().includes(path)) return { mounted: false };
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw failureFrom(err, 'mkdir', path);
  }
  try {
    await run('mount', [
      '-t',
      'tmpfs',
      '-o',
      `nosuid,nodev,noexec,mode=1777,size=${sizeBytes}`,
      'shm',
      path,
    ]);
  } catch (err) {
    const text = commandText(err);
    throw new EffectFailure(codeOf(text), `mounting shm tmpfs: ${text}`);
  }
  return { mounted: true };
}

/** dockerd's UnmountIpcMount: a lazy unmount (MNT_DETACH); not mounted is no error. */
export async function unmountShm(path: string): Promise<{ unmounted: boolean }> {
  if (!mountPoints().includes(path)) return { unmounted: false };
  try {
    await run('umount', ['-l', path]);
  } catch (err) {
    const text = commandText(err);
    if (/not mounted/.test(text)) return { unmounted: false };
    throw new EffectFailure(codeOf(text), `unmount ${path}: ${text}`);
  }
  return { unmounted: true };
}

/** The containers under `containersDir` whose shareable /dev/shm is mounted. */
export function listShm(containersDir: string): { containers: string[] } {
  const containers = mountPoints().flatMap((m) => {
    const id = shmPathPattern.exec(m)?.[1];
    return id !== undefined && m === `${containersDir}/${id}/mounts/shm` ? [id] : [];
  });
  return { containers: containers.sort() };
}

/** Unmounts the shareable /dev/shm of every container under `containersDir` not in `keep`. */
export async function sweepShm(
  containersDir: string,
  keep: readonly string[],
): Promise<{ unmounted: string[] }> {
  const kept = new Set(keep);
  const unmounted: string[] = [];
  for (const id of listShm(containersDir).containers) {
    if (kept.has(id)) continue;
    if ((await unmountShm(`${containersDir}/${id}/mounts/shm`)).unmounted) unmounted.push(id);
  }
  return { unmounted: unmounted.sort() };
}

import type { ContainerContext } from './types.ts';

/** dockerd's /dev/shm size when HostConfig.ShmSize is 0 (64 MiB). */
const defaultShmBytes = 64 * 1024 * 1024;

/**
 * The /dev/shm a container with IpcMode shareable owns (dockerd's setupIpcDirs): a tmpfs of
 * ShmSize bytes the daemon mounts under the container's directory before its task is
 * created, so that containers joining its IPC namespace can bind it too. null: none (its
 * /dev/shm is runc's, the host's, or another container's).
 */
export function shareableShm(
  c: Pick<ContainerContext, 'record' | 'dir'>,
): { path: string; sizeBytes: number } | null {
  const h = c.record.config.hostConfig;
  if (h?.['IpcMode'] !== 'shareable') return null;
  const size = h['ShmSize'];
  return {
    path: `${c.dir}/mounts/shm`,
    sizeBytes: typeof size === 'number' && size > 0 ? size : defaultShmBytes,
  };
}

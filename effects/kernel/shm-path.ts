/** A container's shareable /dev/shm under the containers' directory: `<id>/mounts/shm`. */
export const shmPathPattern = /\/([0-9a-f]{64})\/mounts\/shm$/;

/** Where a container's shareable /dev/shm is mounted: under its directory, as dockerd 20.10. */
export function shmPathOf(containerDir: string): string {
  return `${containerDir}/mounts/shm`;
}

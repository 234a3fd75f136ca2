/**
 * Which actor an exec process belongs to, from its ids alone (containerd's exit events carry
 * only the container and exec ids): a health probe's (`health-…`) to its container's health
 * actor, any other to its exec actor. The daemon and the simulated host route by this.
 */
export function execOwner(container: string, exec: string): string {
  return exec.startsWith('health-') ? `health:${container}` : `exec:${exec}`;
}

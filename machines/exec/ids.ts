/**
 * Which actor an exec process belongs to, from its ids alone (containerd's exit events carry
 * only the container and exec ids): a health probe's (`health-<run>-<n>`) to that run's health
 * actor, any other to its exec actor. The daemon and the simulated host route by this.
 */
export function execOwner(container: string, exec: string): string {
  const health = /^health-(\d+)-/.exec(exec);
  return health ? healthActor(container, Number(health[1])) : `exec:${exec}`;
}

/** A container's health monitor of one of its runs (each start gets a new one, a new number). */
export function healthActor(container: string, run: number): string {
  return `health:${container}:${run}`;
}

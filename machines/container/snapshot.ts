import type { ContainerContext, ContainerRecord } from './types.ts';

/**
 * Whether the daemon's shutdown stops this container: it runs, is paused, waits to restart,
 * or is mid-transition (a start in flight when the shutdown began would otherwise come up
 * after the stops and exit after containerd's client closed, its exit never recorded).
 */
export function stoppedAtShutdown(value: unknown, record: ContainerRecord): boolean {
  return ['running', 'paused', 'restarting'].includes(record.state.status) || value !== 'idle';
}

/** A container actor's snapshot, as hosts read it. */
export interface ContainerSnapshot {
  status: string;
  value: unknown;
  context: ContainerContext;
}

/** What the daemon's shutdown stops, from the container actors' snapshots (the real daemon's and the simulator's). */
export function shutdownStops(
  snaps: Iterable<ContainerSnapshot>,
): { id: string; stopSignal: string; stopTimeout: number }[] {
  const out: { id: string; stopSignal: string; stopTimeout: number }[] = [];
  for (const s of snaps) {
    const r = s.context.record;
    if (s.status === 'active' && stoppedAtShutdown(s.value, r))
      out.push({ id: r.id, stopSignal: r.config.stopSignal, stopTimeout: r.config.stopTimeout });
  }
  return out;
}

/**
 * Whether a container actor is settled, as the shutdown's settle counts it (nothing in flight:
 * idle, running, paused, or waiting out a restart back-off; `throughRestarts`: not even that).
 */
export function isSettled(s: { status: string; value: unknown }, throughRestarts = false): boolean {
  if (s.status !== 'active') return true;
  return (
    s.value === 'idle' ||
    s.value === 'running' ||
    s.value === 'paused' ||
    (!throughRestarts && s.value === 'restarting')
  );
}

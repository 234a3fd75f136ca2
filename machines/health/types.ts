import type { EffectError } from '../../effects/errors.ts';
import type { HealthConfig } from './config.ts';

/** Docker's health states (types.Starting, Healthy, Unhealthy). */
export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** One probe's result, as State.Health.Log keeps it. */
export interface HealthResult {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** State.Health in inspect. */
export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthResult[];
}

export interface HealthInput {
  actorId?: string;
  container: string;
  config: HealthConfig;
  /** The OCI process of a probe (the test's command in the container's environment). */
  process: unknown;
  /** The container's StartedAt (the start period counts from it). */
  startedAt: string;
  attributes: Record<string, string>;
  /** A distinct prefix for this life's probe exec ids. */
  execPrefix: string;
  /** State.Health the container had (an earlier run, or the store after a restart): its log carries on. */
  previous?: HealthState | null;
}

export type HealthEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError }
  /** A probe's exit (`exec`: which probe; a late one of an earlier probe is not this one's). */
  | { type: 'containerd.execExit'; exec: string; exitStatus: number; exitedAt: string }
  | { type: 'container.paused' }
  | { type: 'container.unpaused' }
  /** Its container stopped: the monitor stops with it. */
  | { type: 'health.stop' };

export interface HealthContext extends HealthInput {
  actorId: string;
  seq: number;
  pending: string | null;
  timer: string | null;
  health: HealthState;
  paused: boolean;
  probes: number;
  /** The probe in flight. */
  exec: string | null;
  probeStart: string;
  exit: { exitStatus: number; exitedAt: string } | null;
  /** Why the probe failed before it ran, or that it timed out. */
  failure: string | null;
  /** The store write of State.Health in flight. */
  saving: string | null;
}

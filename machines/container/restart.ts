/**
 * Docker's restart manager (restartmanager/restartmanager.go), pure: the policy decides
 * whether an exit restarts the container, the back-off how long to wait first.
 */
export type RestartPolicyName = 'no' | 'always' | 'on-failure' | 'unless-stopped';

export interface RestartPolicy {
  name: RestartPolicyName;
  maximumRetryCount: number;
}

export const initialBackoffMs = 100;
export const maxBackoffMs = 60_000;
/** A run of at least this long resets the back-off. */
export const resetAfterMs = 10_000;

/**
 * The delay is advanced before the policy is evaluated (dockerd's quirk: exits that do not
 * restart move the back-off forward too); a long run resets it.
 */
export function nextBackoff(current: number, ranMs: number): number {
  if (ranMs >= resetAfterMs) return initialBackoffMs;
  if (current === 0) return initialBackoffMs;
  return Math.min(current * 2, maxBackoffMs);
}

export function shouldRestart(
  policy: RestartPolicy,
  exitCode: number,
  restartCount: number,
  manuallyStopped: boolean,
  shuttingDown: boolean,
): boolean {
  if (manuallyStopped || shuttingDown) return false;
  switch (policy.name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return (
        exitCode !== 0 &&
        (policy.maximumRetryCount === 0 || restartCount < policy.maximumRetryCount)
      );
    case 'no':
      return false;
  }
}

/**
 * dockerd's restore restart list (`c.ShouldRestart()` with a fresh restart manager, and
 * `HasBeenStartedBefore`): at daemon start, `always` restarts even a container stopped by
 * hand, `unless-stopped` one that was not, `on-failure` one that failed within its count.
 */
export function restartsWithDaemon(r: {
  config: { restartPolicy: RestartPolicy };
  state: { exitCode: number };
  restartCount: number;
  hasBeenStartedBefore: boolean;
  hasBeenManuallyStopped: boolean;
}): boolean {
  if (!r.hasBeenStartedBefore) return false;
  const p = r.config.restartPolicy;
  switch (p.name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !r.hasBeenManuallyStopped;
    case 'on-failure':
      return (
        r.state.exitCode !== 0 &&
        (p.maximumRetryCount === 0 || r.restartCount < p.maximumRetryCount)
      );
    case 'no':
      return false;
  }
}

/** dockerd's validation of a create request's policy (daemon/container.go), with its words. */
export function validateRestartPolicy(policy: RestartPolicy, autoRemove: boolean): string | null {
  if (!['no', 'always', 'on-failure', 'unless-stopped', ''].includes(policy.name))
    return `invalid restart policy '${policy.name}'`;
  if (policy.name !== 'on-failure' && policy.maximumRetryCount !== 0)
    return `maximum retry count cannot be used with restart policy '${policy.name}'`;
  if (policy.name === 'on-failure' && policy.maximumRetryCount < 0)
    return 'maximum retry count cannot be negative';
  if (autoRemove && policy.name !== 'no')
    return "can't create 'AutoRemove' container with restart policy";
  return null;
}

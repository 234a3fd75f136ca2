/**
 * A container's HEALTHCHECK as Docker's configs keep it: `Test` is `["NONE"]`, `["CMD", …]`
 * or `["CMD-SHELL", "…"]`; durations in nanoseconds (0: Docker's default).
 */
export interface HealthConfig {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

/** dockerd's defaults (daemon/health.go): 30 s interval and timeout, no start period, 3 retries. */
export const healthDefaults = {
  intervalMs: 30_000,
  timeoutMs: 30_000,
  startPeriodMs: 0,
  retries: 3,
};

/** The configuration's times in milliseconds, Docker's defaults for what is unset. */
export function healthTimes(h: HealthConfig): {
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  retries: number;
} {
  const ms = (ns: number | undefined, dflt: number): number =>
    ns !== undefined && ns > 0 ? ns / 1e6 : dflt;
  return {
    intervalMs: ms(h.Interval, healthDefaults.intervalMs),
    timeoutMs: ms(h.Timeout, healthDefaults.timeoutMs),
    startPeriodMs: ms(h.StartPeriod, healthDefaults.startPeriodMs),
    retries: h.Retries !== undefined && h.Retries > 0 ? h.Retries : healthDefaults.retries,
  };
}

/** Whether a container with this configuration is health-checked (a test other than NONE). */
export function healthChecked(h: HealthConfig | null | undefined): h is HealthConfig {
  const t = h?.Test ?? [];
  return (
    t.length > 0 &&
    t[0] !== 'NONE' &&
    (t[0] !== 'CMD' || t.length > 1) &&
    (t[0] !== 'CMD-SHELL' || t.length > 1)
  );
}

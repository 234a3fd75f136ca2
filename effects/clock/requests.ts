/** Time. Machines never read a clock or set a timer themselves: the simulator runs a minute in microseconds. */
export type ClockRequest =
  | { effect: 'clock.now' }
  | { effect: 'clock.sleep'; ms: number }
  /** A named periodic job of the daemon (exec GC); released by `clock.stopTicker`. */
  | { effect: 'clock.startTicker'; name: string; intervalMs: number }
  | { effect: 'clock.stopTicker'; name: string };

export interface ClockResults {
  'clock.now': { ms: number };
  'clock.sleep': Record<string, never>;
  'clock.startTicker': Record<string, never>;
  'clock.stopTicker': Record<string, never>;
}

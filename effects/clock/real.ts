import { assertNever } from '../errors.ts';
import type { Handler } from '../handler.ts';
import type { ClockRequest } from './requests.ts';

const jobs = new Map<string, () => void>();
const maxTimerMs = 2 ** 31 - 1;
const tickers = new Map<string, NodeJS.Timeout>();

/** Registers what a named ticker does on each tick (the exec GC, later). */
export function registerTickerJob(name: string, job: () => void): void {
  jobs.set(name, job);
}

/** Time, for real. Timers are unref'ed: a pending sleep or ticker never keeps the daemon alive. */
export const realClock = {
  async run(req: ClockRequest): Promise<unknown> {
    switch (req.effect) {
      case 'clock.now':
        return { ms: Date.now() };
      case 'clock.sleep':
        // A timer holds at most 2^31-1 ms (~24.8 days; Node fires a longer one at once): a
        // longer sleep (a client's `stop -t` of years) is taken in pieces.
        for (let left = req.ms; left > 0; left -= maxTimerMs)
          await new Promise<void>((resolve) =>
            setTimeout(resolve, Math.min(left, maxTimerMs)).unref(),
          );
        return {};
      case 'clock.startTicker': {
        clearInterval(tickers.get(req.name));
        tickers.set(req.name, setInterval(() => jobs.get(req.name)?.(), req.intervalMs).unref());
        return {};
      }
      case 'clock.stopTicker':
        clearInterval(tickers.get(req.name));
        tickers.delete(req.name);
        return {};
      default:
        return assertNever(req, 'clock request');
    }
  },
} satisfies Handler<ClockRequest>;

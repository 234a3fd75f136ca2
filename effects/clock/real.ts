import { assertNever } from '../errors.ts';
import type { Handler } from '../handler.ts';
import type { ClockRequest } from './requests.ts';

const jobs = new Map<string, () => void>();
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
        await new Promise<void>((resolve) => setTimeout(resolve, req.ms).unref());
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

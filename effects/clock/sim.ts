import { assertNever } from '../errors.ts';
import type { ClockRequest } from './requests.ts';

/** Time on the simulated host: virtual, the scheduler's; a sleep takes its latency and nothing else. */
export class SimClock {
  readonly tickers = new Set<string>();

  daemonExited(): void {
    this.tickers.clear();
  }

  run(req: ClockRequest, nowMs: number): unknown {
    switch (req.effect) {
      case 'clock.now':
        return { ms: nowMs };
      case 'clock.sleep':
        return {};
      case 'clock.startTicker':
        this.tickers.add(req.name);
        return {};
      case 'clock.stopTicker':
        this.tickers.delete(req.name);
        return {};
      default:
        return assertNever(req, 'clock request');
    }
  }
}

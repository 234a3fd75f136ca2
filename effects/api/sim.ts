import { assertNever } from '../errors.ts';
import type { SimFs } from '../fs/sim.ts';
import { SimFailure } from '../sim/failure.ts';
import type { ApiRequest } from './requests.ts';

/** The Engine API's sockets on the simulated host. */
export class SimApi {
  readonly sockets = new Set<string>();
  private readonly fs: SimFs;
  /** Sockets another process listens on. */
  private readonly busy: readonly string[];

  constructor(fs: SimFs, busy: readonly string[]) {
    this.fs = fs;
    this.busy = busy;
  }

  daemonExited(): void {
    this.sockets.clear();
  }

  run(req: ApiRequest): unknown {
    switch (req.effect) {
      case 'api.listen':
        for (const s of req.sockets)
          if (this.busy.includes(s))
            throw new SimFailure(
              'EBUSY',
              `address already in use: ${s}: another daemon is listening`,
            );
        for (const s of req.sockets) {
          this.fs.writeFile(s, '', 0o660);
          this.sockets.add(s);
        }
        return {};
      case 'api.serve':
        // The simulated host's clients are the scenario's: they send once the daemon serves.
        return {};
      case 'api.close': {
        const removed: string[] = [];
        for (const s of req.sockets) {
          if (this.sockets.delete(s)) {
            this.fs.removeCreated([s]);
            removed.push(s);
          }
        }
        // The simulated host has no client connections: closing cuts none.
        return { removed, connections: { hijacked: 0, streams: 0, lingering: 0, destroyed: 0 } };
      }
      default:
        return assertNever(req, 'api request');
    }
  }
}

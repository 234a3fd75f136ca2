import { assertNever } from '../errors.ts';
import type { SimFs } from '../fs/sim.ts';
import { SimFailure } from '../sim/failure.ts';
import type { StoreRequest } from './requests.ts';

/** The metadata store on the simulated host: one map per database path; writes are durable. */
export class SimStore {
  readonly stores = new Map<string, Map<string, unknown>>();
  /** The database the daemon has open (a second opener finds it locked, as LevelDB's lock). */
  openStore: string | null = null;
  private readonly fs: SimFs;

  constructor(fs: SimFs) {
    this.fs = fs;
  }

  /** The daemon process died: its lock on the database goes with it. */
  daemonExited(): void {
    this.openStore = null;
  }

  /** The first database on the host (the one daemon's), for observers. */
  first(): Map<string, unknown> {
    return [...this.stores.values()][0] ?? new Map<string, unknown>();
  }

  /** The database the daemon has open (none open: fails as the real store does). */
  db(): Map<string, unknown> {
    const db = this.openStore === null ? undefined : this.stores.get(this.openStore);
    if (!db) throw new SimFailure('EUNAVAILABLE', 'metadata store is not open');
    return db;
  }

  run(req: StoreRequest): unknown {
    switch (req.effect) {
      case 'store.open': {
        if (this.openStore !== null)
          throw new SimFailure('EBUSY', `metadata store ${req.path} is in use by another process`);
        const created = !this.stores.has(req.path);
        if (created) {
          this.fs.mkdirAll(req.path, 0o700);
          this.stores.set(req.path, new Map());
        }
        this.openStore = req.path;
        return { created };
      }
      case 'store.close':
        this.openStore = null;
        return {};
      case 'store.list': {
        const entries = [...this.db().entries()]
          .filter(([k]) => k.startsWith(req.prefix))
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([key, value]) => ({ key, value }));
        return { entries };
      }
      case 'store.put':
        this.db().set(req.key, req.value);
        return {};
      case 'store.del':
        this.db().delete(req.key);
        return {};
      case 'store.delAll': {
        const db = this.db();
        for (const k of req.keys) db.delete(k);
        return {};
      }
      default:
        return assertNever(req, 'store request');
    }
  }
}

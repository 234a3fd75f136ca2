import { existsSync } from 'node:fs';
import type { ClassicLevel } from 'classic-level';
import { assertNever } from '../errors.ts';
import { EffectFailure, failureFrom, type Handler } from '../handler.ts';
import type { StoreRequest } from './requests.ts';

/** The metadata store, for real: one classic-level (LevelDB) database, JSON values. */
export class LevelStore implements Handler<StoreRequest> {
  private level: ClassicLevel<string, unknown> | null = null;
  private path = '';

  /** The open database, for the parts of the daemon that keep containers and images. */
  get db(): ClassicLevel<string, unknown> {
    if (!this.level) throw new EffectFailure('EUNAVAILABLE', 'metadata store is not open');
    return this.level;
  }

  async run(req: StoreRequest): Promise<unknown> {
    switch (req.effect) {
      case 'store.open': {
        const created = !existsSync(req.path);
        // LevelDB's native binding and its JavaScript load when the store opens, not with the daemon's start-up code.
        const { ClassicLevel } = await import('classic-level');
        const db = new ClassicLevel<string, unknown>(req.path, { valueEncoding: 'json' });
        try {
          await db.open();
        } catch (err) {
          const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
          if (
            (err as { code?: string }).code === 'LEVEL_LOCKED' ||
            /lock/i.test(String(cause?.message))
          )
            throw new EffectFailure(
              'EBUSY',
              `metadata store ${req.path} is in use by another process`,
            );
          throw failureFrom(cause ?? err, 'open', req.path);
        }
        this.level = db;
        this.path = req.path;
        return { created };
      }
      case 'store.close':
        await this.level?.close();
        this.level = null;
        return {};
      case 'store.list': {
        const entries: { key: string; value: unknown }[] = [];
        for await (const [key, value] of this.db.iterator({
          gte: req.prefix,
          lt: `${req.prefix}\uffff`,
        }))
          entries.push({ key, value });
        return { entries };
      }
      case 'store.put':
        await this.db.put(req.key, req.value);
        return {};
      case 'store.del':
        await this.db.del(req.key);
        return {};
      case 'store.delAll':
        await this.db.batch(req.keys.map((key) => ({ type: 'del' as const, key })));
        return {};
      default:
        return assertNever(req, `store request (${this.path})`);
    }
  }
}

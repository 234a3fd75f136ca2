import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { after, test } from 'node:test';
import type { EffectRequest } from '../../effects/requests.ts';
import type { LevelStore } from '../../effects/store/real.ts';
import type { OperationOutput } from '../../machines/operation/machine.ts';
import { VolumeStore } from '../../src/daemon/volumes.ts';

const root = mkdtempSync('/tmp/sdvolstore-');
after(() => rmSync(root, { recursive: true, force: true }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A volume store over a map for records and the real file system, each effect run in turn as
 * the daemon's operation actor runs them; a directory's removal takes `removeMs` (a big volume).
 */
function volumeStore(removeMs: number): { volumes: VolumeStore; records: Map<string, unknown> } {
  const records = new Map<string, unknown>();
  const store = {
    db: {
      get: (key: string) =>
        records.has(key)
          ? Promise.resolve(records.get(key))
          : Promise.reject(new Error('not found')),
    },
  } as unknown as LevelStore;
  const operation = async (_title: string, effects: EffectRequest[]): Promise<OperationOutput> => {
    const results: unknown[] = [];
    for (const e of effects) {
      try {
        if (e.effect === 'store.put') records.set(e.key, e.value);
        else if (e.effect === 'store.del') records.delete(e.key);
        else if (e.effect === 'fs.mkdirAll') mkdirSync(e.path, { recursive: true, mode: e.mode });
        else if (e.effect === 'fs.removeAll') {
          await sleep(removeMs);
          await rm(e.path, { recursive: true });
        } else throw new Error(`unexpected effect ${e.effect}`);
        results.push({});
      } catch (err) {
        return { results, failure: { code: 'EIO', message: (err as Error).message } };
      }
    }
    return { results, failure: null };
  };
  return { volumes: new VolumeStore(root, store, operation), records };
}

test('a volume made again while its removal is under way waits for it: both succeed, and the new one has its directory', async () => {
  const { volumes, records } = volumeStore(100);
  const first = await volumes.ensure('vol');
  writeFileSync(`${first.mountpoint}/data`, 'x');
  const removing = volumes.remove('vol');
  await sleep(20);
  const made = volumes.ensure('vol');
  await removing;
  const again = await made;
  assert.ok(records.has('volume/vol'));
  assert.equal(existsSync(again.mountpoint), true, 'the new volume has its directory');
  assert.equal(existsSync(`${again.mountpoint}/data`), false, 'and none of the old data');
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { ContainerFs } from '../../effects/archive/container-fs.ts';
import { packPath } from '../../effects/archive/pack.ts';

const dir = mkdtempSync('/tmp/sdpack-');
after(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** This process's descriptors open on files under `root`. */
const openUnder = (root: string): string[] =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((p) => p.startsWith(`${root}/`));

test('a tar of a container path whose reader goes mid-file closes the file it was reading', async () => {
  mkdirSync(`${dir}/root/data`, { recursive: true });
  writeFileSync(`${dir}/root/data/big`, Buffer.alloc(8 << 20, 0x61));
  const fs = new ContainerFs({ layers: [`${dir}/root`], mounts: [] });
  const tar = packPath(fs, '/data', 'data');
  // The client reads the first chunk, then goes (docker cp cut short): the route destroys the pack.
  await new Promise<void>((resolve) => tar.once('data', () => resolve()));
  tar.pause();
  await sleep(50);
  assert.equal(openUnder(`${dir}/root`).length, 1, 'the file is being read');
  tar.destroy();
  for (let i = 0; i < 40 && openUnder(`${dir}/root`).length > 0; i++) await sleep(25);
  assert.deepEqual(openUnder(`${dir}/root`), [], 'no descriptor left on the container’s files');
});

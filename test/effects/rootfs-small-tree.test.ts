import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isSmallTree } from '../../effects/rootfs/small-tree.ts';

/** A container root as runc leaves one that wrote nothing: mount points and three small files. */
function runcRoot(dir: string): void {
  for (const d of ['diff/etc', 'diff/proc', 'diff/dev', 'diff/sys', 'work/work'])
    mkdirSync(join(dir, d), { recursive: true });
  for (const f of ['hosts', 'hostname', 'resolv.conf']) writeFileSync(join(dir, 'diff/etc', f), '');
  writeFileSync(join(dir, 'lower'), '/var/lib/statedock/overlay2/l1/diff');
}

test('a root its container barely wrote to is small; one with many entries or large files is not', () => {
  const base = mkdtempSync(join(tmpdir(), 'sd-small-tree-'));
  try {
    const root = join(base, 'root');
    runcRoot(root);
    assert.equal(isSmallTree(root, 64, 1 << 20), true);
    // Counted: the root, its 7 directories and 4 files.
    assert.equal(isSmallTree(root, 12, 1 << 20), true);
    assert.equal(isSmallTree(root, 11, 1 << 20), false);

    writeFileSync(join(root, 'diff/big'), Buffer.alloc(2 << 20));
    assert.equal(isSmallTree(root, 64, 1 << 20), false, 'a file over the byte limit');

    const many = join(base, 'many');
    mkdirSync(many);
    for (let i = 0; i < 100; i++) writeFileSync(join(many, `f${i}`), '');
    assert.equal(isSmallTree(many, 64, 1 << 20), false, 'more entries than the limit');

    // A symlink counts as one entry and is not followed (a root may link anywhere).
    const linked = join(base, 'linked');
    mkdirSync(linked);
    symlinkSync(many, join(linked, 'to-many'));
    assert.equal(isSmallTree(linked, 64, 1 << 20), true);

    assert.equal(isSmallTree(join(base, 'missing'), 64, 1 << 20), true, 'nothing to remove');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

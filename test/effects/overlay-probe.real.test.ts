import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { realKernel } from '../../effects/kernel/real.ts';

const overlay = readFileSync('/proc/filesystems', 'utf8').includes('\toverlay');
const skip =
  process.getuid?.() !== 0 ? 'needs root (mount)' : !overlay ? 'the kernel has no overlay' : false;

const dir = mkdtempSync('/tmp/sd-ovl-');
after(() => rmSync(dir, { recursive: true, force: true }));

function probe(path: string): Promise<unknown> {
  return realKernel.run({ effect: 'kernel.probeOverlay', path });
}

/** Runs `fn` with a PATH whose `sh` fails: a probe that still answers did not mount. */
async function withoutShell<T>(fn: () => Promise<T>): Promise<T> {
  const bin = `${dir}/no-shell`;
  mkdirSync(bin, { recursive: true });
  writeFileSync(`${bin}/sh`, '#!/bin/false\n');
  chmodSync(`${bin}/sh`, 0o755);
  const saved = process.env['PATH'];
  process.env['PATH'] = bin;
  try {
    return await fn();
  } finally {
    process.env['PATH'] = saved;
  }
}

test(
  'the overlay probe mounts once per boot, kernel and filesystem; a later start takes its verdict',
  { skip },
  async () => {
    const root = `${dir}/root`;
    assert.deepEqual(await probe(root), { supported: true, reason: null });
    const verdict = readFileSync(`${root}/overlay-probe.verdict`, 'utf8');
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    assert.ok(verdict.includes(boot), verdict);

    // Without a shell the probe could not mount: the verdict answers.
    assert.deepEqual(await withoutShell(() => probe(root)), { supported: true, reason: null });

    // A verdict of another boot is not this one's: the probe mounts again (and fails, shell-less).
    writeFileSync(`${root}/overlay-probe.verdict`, verdict.replace(boot, 'another-boot'));
    const again = (await withoutShell(() => probe(root))) as { supported: boolean };
    assert.equal(again.supported, false);
    // With the shell back it mounts, and keeps the verdict for this boot again.
    assert.deepEqual(await probe(root), { supported: true, reason: null });
    assert.equal(readFileSync(`${root}/overlay-probe.verdict`, 'utf8'), verdict);
  },
);

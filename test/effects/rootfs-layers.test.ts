import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, test } from 'node:test';
import { RootfsLayout, treeSize } from '../../effects/rootfs/layout.ts';
import { lookUpUser } from '../../src/daemon/containers/create-lookups.ts';

/**
 * What a multi-layer image changes in the host-side reads of a root filesystem: a vfs
 * container's size is what differs from the topmost copy among all the image's layers, and a
 * user is looked up in the topmost passwd a layer holds (unless a layer above deleted it).
 */
const dir = mkdtempSync(`${tmpdir()}/statedock-layers-`);
after(() => rmSync(dir, { recursive: true, force: true }));

const then = new Date('2024-01-01T00:00:00Z');
function file(path: string, content: string, mtime = then): void {
  mkdirSync(path.slice(0, path.lastIndexOf('/')), { recursive: true });
  writeFileSync(path, content);
  utimesSync(path, mtime, mtime);
}

test("a vfs container's size counts only what differs from every layer of its image", () => {
  const layout = new RootfsLayout(`${dir}/root`, `${dir}/exec`, 'statedock');
  const id = 'a'.repeat(64);
  const bottom = `${dir}/layers/bottom/diff`;
  const top = `${dir}/layers/top/diff`;
  file(`${bottom}/bin/tool`, 'x'.repeat(1000));
  file(`${bottom}/etc/conf`, 'old');
  file(`${top}/etc/conf`, 'new conf');
  const copy = layout.vfsDir(id);
  // The container's copy: the image as applied (tool from the bottom layer, conf from the top)…
  file(`${copy}/bin/tool`, 'x'.repeat(1000));
  file(`${copy}/etc/conf`, 'new conf');
  // …and what the container wrote: a new file and a changed one.
  file(`${copy}/srv/data`, 'y'.repeat(50), new Date());
  file(`${copy}/etc/conf`, 'changed conf!', new Date());
  mkdirSync(`${dir}/root/vfs/lower`, { recursive: true });
  writeFileSync(layout.vfsLowerFile(id), `${top}:${bottom}`);
  assert.equal(layout.sizeRw(id), 50 + 'changed conf!'.length);
  // Against the top layer alone, the bottom layer's file would count as written.
  assert.equal(treeSize(copy, [top]), 1000 + 50 + 'changed conf!'.length);
});

test('a user is looked up in the topmost passwd of the layers; a whiteout or an opaque /etc above hides lower copies', () => {
  const base = `${dir}/users/base/diff`;
  const mid = `${dir}/users/mid/diff`;
  const upper = `${dir}/users/upper/diff`;
  file(`${base}/etc/passwd`, 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/srv:/bin/sh\n');
  file(`${base}/etc/group`, 'root:x:0:\napp:x:1000:\n');
  mkdirSync(`${mid}/srv`, { recursive: true });
  assert.equal(lookUpUser('app', [], [mid, base]).uid, 1000);
  file(`${upper}/etc/passwd`, 'root:x:0:0::/root:/bin/sh\napp:x:2000:2000::/srv:/bin/sh\n');
  assert.equal(lookUpUser('app', [], [upper, mid, base]).uid, 2000);
  // A layer whose whiteouts delete /etc/passwd (recorded beside its diff, as the extractor does).
  const gone = `${dir}/users/gone/diff`;
  mkdirSync(gone, { recursive: true });
  writeFileSync(
    `${dir}/users/gone/whiteouts.json`,
    JSON.stringify({ whiteouts: ['etc/passwd'], opaques: [] }),
  );
  assert.throws(
    () => lookUpUser('app', [], [gone, mid, base]),
    /unable to find user app: no matching entries in passwd file/,
  );
  // overlay2's own whiteout, a 0/0 character device (made only as root).
  if (process.getuid?.() === 0) {
    const device = `${dir}/users/device/diff`;
    mkdirSync(`${device}/etc`, { recursive: true });
    execFileSync('mknod', [`${device}/etc/passwd`, 'c', '0', '0']);
    assert.throws(() => lookUpUser('app', [], [device, base]), /unable to find user app/);
  }
  const opaque = `${dir}/users/opaque/diff`;
  mkdirSync(`${opaque}/etc`, { recursive: true });
  writeFileSync(
    `${dir}/users/opaque/whiteouts.json`,
    JSON.stringify({ whiteouts: [], opaques: ['etc'] }),
  );
  assert.throws(() => lookUpUser('app', [], [opaque, base]), /unable to find user app/);
});

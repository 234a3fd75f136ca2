import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { ContainerFs } from '../../effects/archive/container-fs.ts';
import type { ExtractOptions } from '../../effects/archive/extract.ts';
import { ExtractThread } from '../../effects/archive/extract-thread.ts';
import { packTar, type PackedEntry } from '../support/tar-pack.ts';
import type { FsLayout } from '../../effects/archive/requests.ts';

// `docker cp` into a container's files (the archive effect's unpacking), on real files: what
// lands where, with which mode, owner and time, and that nothing lands outside the root.

const base = mkdtempSync(`${tmpdir()}/statedock-cp-in-`);
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
/** A container root with /tmp, and a directory beside it that stands for the host's. */
function fresh(): { root: string; host: string; layout: FsLayout; fs: ContainerFs } {
  const dir = `${base}/c${++n}`;
  mkdirSync(`${dir}/root/tmp`, { recursive: true });
  mkdirSync(`${dir}/host`);
  const layout: FsLayout = { layers: [`${dir}/root`], mounts: [] };
  return { root: `${dir}/root`, host: `${dir}/host`, layout, fs: new ContainerFs(layout) };
}

/** The unpacking as the archive effect's real handler runs it: on its thread, fed the body. */
const thread = new ExtractThread();
function unpack(
  layout: FsLayout,
  dest: string,
  input: Readable,
  opts: ExtractOptions,
): Promise<number> {
  // The thread never holds the process up (in the daemon, the request's socket does): here a
  // timer keeps the test's event loop alive while the thread unpacks.
  const alive = setInterval(() => undefined, 1000);
  return thread.extract(layout, dest, input, opts).finally(() => clearInterval(alive));
}

const when = new Date(1_600_000_000_000);

/** Entries without a time or mode get the same ones. */
function tarOf(entries: readonly PackedEntry[]): Promise<Buffer> {
  return packTar(entries, { mtime: when, mode: 0o644 });
}

/** The tar as a body comes: in 32 KiB chunks (the docker CLI's chunked upload). */
function body(tar: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += 32 << 10) parts.push(tar.subarray(i, i + (32 << 10)));
  return Readable.from(parts);
}

/** This process's open files under the test's directory. */
function openFiles(): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(base)) open.push(target);
    } catch {
      // closed meanwhile (readdir's own descriptor)
    }
  }
  return open;
}
const asRoot = process.getuid?.() === 0;

test("files small and large land whole, with the tar's mode, owner and time; a name given twice keeps the last", async () => {
  const { root, layout } = fresh();
  const big = randomBytes((9 << 20) + 3); // over two batches of gathered bytes, and not a whole number of chunks
  const mid = randomBytes(300 << 10); // written after its entry, while the next ones unpack
  const count = await unpack(
    layout,
    '/tmp',
    body(
      await tarOf([
        { name: 'd/', type: 'directory', mode: 0o750, mtime: when },
        { name: 'd/big', body: big, mode: 0o600, uid: 1234, gid: 99 },
        { name: 'd/mid', body: mid, mode: 0o4755 },
        { name: 'd/small', body: 'hello\n', mode: 0o640, uid: 7, gid: 8 },
        { name: 'd/empty', body: '' },
        { name: 'd/twice', body: randomBytes(200 << 10) },
        { name: 'd/twice', body: 'second\n', mode: 0o600 },
        { name: 'd/hard', type: 'link', linkname: 'd/mid' },
      ]),
    ),
    { noOverwriteDirNonDir: false, owner: null },
  );
  assert.equal(count, 8);
  const d = `${root}/tmp/d`;
  assert.ok(readFileSync(`${d}/big`).equals(big));
  assert.ok(readFileSync(`${d}/mid`).equals(mid));
  assert.equal(readFileSync(`${d}/small`, 'utf8'), 'hello\n');
  assert.equal(readFileSync(`${d}/empty`, 'utf8'), '');
  assert.equal(readFileSync(`${d}/twice`, 'utf8'), 'second\n');
  assert.equal(lstatSync(`${d}/hard`).ino, lstatSync(`${d}/mid`).ino);
  assert.equal(lstatSync(`${d}/big`).mode & 0o7777, 0o600);
  assert.equal(lstatSync(`${d}/small`).mode & 0o7777, 0o640);
  assert.equal(lstatSync(`${d}/twice`).mode & 0o7777, 0o600);
  if (asRoot) {
    // The set-uid bit survives the chown that would clear it (mode after owner).
    assert.equal(lstatSync(`${d}/mid`).mode & 0o7777, 0o4755);
    assert.deepEqual([lstatSync(`${d}/big`).uid, lstatSync(`${d}/big`).gid], [1234, 99]);
    assert.deepEqual([lstatSync(`${d}/small`).uid, lstatSync(`${d}/small`).gid], [7, 8]);
  }
  for (const f of ['big', 'mid', 'small', 'twice', ''])
    assert.equal(lstatSync(`${d}/${f}`).mtimeMs, when.getTime(), `mtime of d/${f}`);
  assert.equal(lstatSync(d).mode & 0o7777, 0o750);
  assert.deepEqual(openFiles(), [], 'every file is closed');
});

test('`docker cp -a`: every entry owned by the container user', { skip: !asRoot }, async () => {
  const { root, layout } = fresh();
  await unpack(
    layout,
    '/tmp',
    body(
      await tarOf([
        { name: 'a', body: randomBytes(100 << 10), uid: 5, gid: 5 },
        { name: 'b', body: 'b', uid: 5 },
      ]),
    ),
    { noOverwriteDirNonDir: false, owner: { uid: 42, gid: 43 } },
  );
  for (const f of ['a', 'b'])
    assert.deepEqual(
      [lstatSync(`${root}/tmp/${f}`).uid, lstatSync(`${root}/tmp/${f}`).gid],
      [42, 43],
    );
});

test('links in the tar or the container never take a write out of the root', async () => {
  const { root, host, layout } = fresh();
  // In the container: a link to the host directory's path, absolute and climbing with ../
  symlinkSync(host, `${root}/abs`);
  symlinkSync(`../../../../../../../..${host}`, `${root}/tmp/up`);
  mkdirSync(`${root}${host}`, { recursive: true });
  await unpack(
    layout,
    '/',
    body(
      await tarOf([
        { name: 'abs/via-abs', body: randomBytes(100 << 10) },
        { name: 'tmp/up/via-up', body: 'up\n' },
        // The tar makes its own link to / and then writes under it.
        { name: 'tmp/root-link', type: 'symlink', linkname: '/' },
        { name: 'tmp/root-link/tmp/through', body: randomBytes(200 << 10) },
        // A file where a link was: the link is replaced, not written through.
        { name: 'tmp/to-host-file', type: 'symlink', linkname: `${host}/target` },
        { name: 'tmp/to-host-file', body: 'replaced\n' },
      ]),
    ),
    { noOverwriteDirNonDir: false, owner: null },
  );
  assert.deepEqual(readdirSync(host), [], 'nothing written on the host');
  assert.equal(readFileSync(`${root}${host}/via-abs`).length, 100 << 10);
  assert.equal(readFileSync(`${root}${host}/via-up`, 'utf8'), 'up\n');
  assert.equal(readFileSync(`${root}/tmp/through`).length, 200 << 10);
  assert.equal(readlinkSync(`${root}/tmp/root-link`), '/');
  assert.equal(lstatSync(`${root}/tmp/to-host-file`).isFile(), true);
  assert.equal(readFileSync(`${root}/tmp/to-host-file`, 'utf8'), 'replaced\n');
});

test('an entry climbing out with .. is refused; a tar cut short fails and leaves no file open', async () => {
  const { root, host, layout } = fresh();
  await assert.rejects(
    unpack(
      layout,
      '/tmp',
      body(await tarOf([{ name: `../../../../..${host}/escape`, body: 'x' }])),
      { noOverwriteDirNonDir: false, owner: null },
    ),
    /breakout/,
  );
  assert.equal(existsSync(`${host}/escape`), false);
  const tar = await tarOf([
    { name: 'whole', body: randomBytes(300 << 10) },
    { name: 'cut', body: randomBytes(1 << 20) },
  ]);
  await assert.rejects(
    unpack(layout, '/tmp', body(tar.subarray(0, tar.length - (700 << 10))), {
      noOverwriteDirNonDir: false,
      owner: null,
    }),
  );
  assert.deepEqual(openFiles(), [], 'every file is closed');
  assert.equal(readFileSync(`${root}/tmp/whole`).length, 300 << 10);
  // A body that errors (a client gone) ends the extraction too.
  const broken = new Readable({ read() {} });
  broken.push(tar.subarray(0, 400 << 10));
  const gone = unpack(layout, '/tmp', broken, { noOverwriteDirNonDir: false, owner: null });
  setImmediate(() => broken.destroy(new Error('aborted')));
  await assert.rejects(gone, /aborted/);
  assert.deepEqual(openFiles(), [], 'every file is closed');
});

test(
  'a disk that fills mid-file fails the extraction with ENOSPC, and leaves no file open',
  { skip: !asRoot },
  async () => {
    const { root, layout } = fresh();
    // A small file system of its own under the container's /tmp.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', `${root}/tmp`]);
    try {
      await assert.rejects(
        unpack(
          layout,
          '/tmp',
          body(
            await tarOf([
              { name: 'fits', body: randomBytes(1 << 20) },
              { name: 'full', body: randomBytes(6 << 20) },
              { name: 'after', body: 'maybe\n' },
            ]),
          ),
          { noOverwriteDirNonDir: false, owner: null },
        ),
        (err: NodeJS.ErrnoException) => err.code === 'ENOSPC',
      );
      assert.deepEqual(openFiles(), [], 'every file is closed');
      assert.equal(readFileSync(`${root}/tmp/fits`).length, 1 << 20);
    } finally {
      execFileSync('umount', [`${root}/tmp`]);
    }
  },
);

test('noOverwriteDirNonDir: a directory is not replaced by a file, nor a file by a directory', async () => {
  const { root, layout } = fresh();
  mkdirSync(`${root}/tmp/dir`);
  writeFileSync(`${root}/tmp/file`, 'kept\n');
  const opts = { noOverwriteDirNonDir: true, owner: null };
  await assert.rejects(
    unpack(layout, '/tmp', body(await tarOf([{ name: 'dir', body: 'x' }])), opts),
    /cannot overwrite directory/,
  );
  await assert.rejects(
    unpack(layout, '/tmp', body(await tarOf([{ name: 'file', type: 'directory' }])), opts),
    /cannot overwrite non-directory/,
  );
  assert.equal(lstatSync(`${root}/tmp/dir`).isDirectory(), true);
  assert.equal(readFileSync(`${root}/tmp/file`, 'utf8'), 'kept\n');
});

test('resolveAndLocate says what resolve then locate say, through links absolute, relative and climbing, from one walk', () => {
  const { root, host, fs } = fresh();
  mkdirSync(`${root}/etc/deep`, { recursive: true });
  symlinkSync('/etc', `${root}/tmp/abs`);
  symlinkSync('../etc/deep', `${root}/tmp/rel`);
  symlinkSync('../../../../..', `${root}/tmp/up`);
  symlinkSync(host, `${root}/tmp/hostpath`);
  symlinkSync('abs/deep/..', `${root}/tmp/back`);
  symlinkSync('loop2', `${root}/tmp/loop1`);
  symlinkSync('loop1', `${root}/tmp/loop2`);
  for (const p of [
    '/',
    '/tmp',
    '/tmp/abs',
    '/tmp/abs/deep',
    '/tmp/rel',
    '/tmp/up',
    '/tmp/up/etc',
    '/tmp/hostpath',
    '/tmp/back',
    '/tmp/missing/deeper',
    '/tmp/..',
  ]) {
    const resolved = fs.resolve(p, true);
    const both = fs.resolveAndLocate(p);
    assert.equal(both.path, resolved, p);
    const at = fs.locate(resolved);
    assert.equal(both.at?.host ?? null, at?.host ?? null, p);
    assert.equal(both.at?.stat.ino ?? null, at?.stat.ino ?? null, p);
    // Nothing resolves to a place outside the container's root.
    if (both.at) assert.ok(both.at.host.startsWith(root), `${p} → ${both.at.host}`);
  }
  assert.equal(
    fs.resolveAndLocate('/tmp/hostpath').at,
    null,
    "the host's path, taken inside the root",
  );
  assert.throws(() => fs.resolveAndLocate('/tmp/loop1'), /too many links/);
});

test(
  'a file made with the owner the tar asks for keeps it; one in a set-group-ID directory gets its group unless the tar says otherwise',
  { skip: !asRoot },
  async () => {
    const { root, layout } = fresh();
    mkdirSync(`${root}/tmp/sgid`);
    const { chownSync, chmodSync } = await import('node:fs');
    chownSync(`${root}/tmp/sgid`, 0, 77);
    chmodSync(`${root}/tmp/sgid`, 0o2775);
    await unpack(
      layout,
      '/tmp',
      body(
        await tarOf([
          { name: 'mine', body: 'a', uid: 0, gid: 0 },
          { name: 'sgid/root-group', body: 'b', uid: 0, gid: 0 },
          { name: 'sgid/dir-group', body: 'c', uid: 0, gid: 77 },
        ]),
      ),
      { noOverwriteDirNonDir: false, owner: null },
    );
    const owner = (p: string): number[] => [lstatSync(p).uid, lstatSync(p).gid];
    assert.deepEqual(owner(`${root}/tmp/mine`), [0, 0]);
    // The directory's group would be inherited: the tar's group 0 is given by a chown.
    assert.deepEqual(owner(`${root}/tmp/sgid/root-group`), [0, 0]);
    assert.deepEqual(owner(`${root}/tmp/sgid/dir-group`), [0, 77]);
  },
);

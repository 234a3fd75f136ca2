import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { decompressed } from '../../src/daemon/layers/decompress.ts';
import { extractLayer, TarRefused } from '../../src/daemon/layers/tar-extract.ts';
import { parseReference, familiarString } from '../../src/daemon/registry/reference.ts';
import { humanSize, progressBar } from '../../src/daemon/registry/progress.ts';
import {
  validateInsecureRegistry,
  validateMirror,
} from '../../src/daemon/registry/service-config.ts';
import { ConfigError, loadDaemonConfig } from '../../src/daemon/config.ts';
import { sha256, tarOf } from '../support/layered-image.ts';

const root = mkdtempSync(`${tmpdir()}/statedock-tar-`);
let n = 0;
const fresh = (): string => {
  const d = `${root}/d${++n}/layer`;
  spawnSync('mkdir', ['-p', d]);
  return d;
};
after(() => rmSync(root, { recursive: true, force: true }));
const asRoot = process.getuid?.() === 0;
const opts = { allowDevices: false, chown: false };

test('a layer is unpacked with its diff ID (sha256 of the tar), sizes, links and modes', async () => {
  const tar = await tarOf([
    { name: './bin/', dir: true },
    { name: './bin/tool', content: '#!/bin/sh\n', mode: 0o755 },
    { name: './bin/alias', symlink: 'tool' },
    { name: './bin/abs', symlink: '/bin/tool' },
    { name: './bin/hard', hardlink: './bin/tool' },
  ]);
  const dest = fresh();
  const r = await extractLayer(Readable.from([tar]), dest, opts);
  assert.equal(r.diffId, sha256(tar));
  assert.equal(r.tarSize, tar.length);
  assert.equal(r.size, 10);
  assert.equal(readFileSync(`${dest}/bin/tool`, 'utf8'), '#!/bin/sh\n');
  assert.equal(lstatSync(`${dest}/bin/tool`).mode & 0o777, 0o755);
  assert.equal(readlinkSync(`${dest}/bin/alias`), 'tool');
  // An absolute target is the container's path: allowed, never followed here.
  assert.equal(readlinkSync(`${dest}/bin/abs`), '/bin/tool');
  assert.equal(lstatSync(`${dest}/bin/hard`).ino, lstatSync(`${dest}/bin/tool`).ino);
});

test('gzip and zstd layers are undone; their diff ID is the uncompressed tar', async () => {
  const tar = await tarOf([{ name: 'a', content: 'x'.repeat(5000) }]);
  const gz = await extractLayer(decompressed(Readable.from([gzipSync(tar)])), fresh(), opts);
  assert.equal(gz.diffId, sha256(tar));
  const zst = spawnSync('zstd', ['-q', '-c'], { input: tar });
  if (zst.status === 0) {
    const z = await extractLayer(decompressed(Readable.from([zst.stdout])), fresh(), opts);
    assert.equal(z.diffId, sha256(tar));
  }
});

const refused: [string, Parameters<typeof tarOf>[0], RegExp][] = [
  ['a ../ entry', [{ name: '../../escape', content: 'x' }], /"..\/..\/escape" is outside of/],
  ['an absolute name', [{ name: '/etc/escape', content: 'x' }], /absolute paths are refused/],
  [
    'a relative symlink climbing out',
    [{ name: 'up', symlink: '../../..' }],
    /invalid symlink "up" -> "..\/..\/.."/,
  ],
  [
    'a hard link out',
    [{ name: 'h', hardlink: '../../etc/passwd' }],
    /invalid hardlink "h" -> "..\/..\/etc\/passwd"/,
  ],
  [
    'an entry under a symlinked parent',
    [
      { name: 'lnk', symlink: '/' },
      { name: 'lnk/escape', content: 'x' },
    ],
    /"lnk\/escape" is outside of .*: its parent "lnk" is a symbolic link/,
  ],
  ['a whiteout climbing out', [{ name: 'd/.wh...', content: '' }], /outside of/],
];

for (const [what, entries, message] of refused)
  test(`${what} is refused, and nothing is written outside the layer`, async () => {
    const dest = fresh();
    const tar = await tarOf(entries);
    await assert.rejects(extractLayer(Readable.from([tar]), dest, opts), (e: unknown) => {
      assert.ok(e instanceof TarRefused, String(e));
      assert.match(e.message, message);
      return true;
    });
    assert.equal(existsSync(`${dest}/../escape`), false);
    assert.equal(existsSync(`${dest}/../../escape`), false);
  });

test('a device node is refused where devices are not allowed (an unprivileged context)', async () => {
  const { pack } = await import('tar-stream');
  const p = pack();
  p.entry({ name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 });
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c);
  await assert.rejects(
    extractLayer(Readable.from([Buffer.concat(chunks)]), fresh(), opts),
    /a device node is refused/,
  );
});

test(
  'whiteouts become overlay2 0/0 devices and opaque directories are marked',
  { skip: asRoot ? false : 'needs root (mknod, trusted xattrs)' },
  async () => {
    const tar = await tarOf([
      { name: 'etc/', dir: true },
      { name: 'etc/.wh.hello', content: '' },
      { name: 'etc/dir/', dir: true },
      { name: 'etc/dir/.wh..wh..opq', content: '' },
      { name: 'etc/dir/b', content: 'b' },
    ]);
    const dest = fresh();
    const r = await extractLayer(Readable.from([tar]), dest, { allowDevices: true, chown: true });
    assert.deepEqual(r.whiteouts, ['etc/hello']);
    assert.deepEqual(r.opaques, ['etc/dir']);
    const st = lstatSync(`${dest}/etc/hello`);
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, 0);
    assert.equal(existsSync(`${dest}/etc/.wh.hello`), false);
    const attr = spawnSync(
      'getfattr',
      ['--only-values', '-n', 'trusted.overlay.opaque', `${dest}/etc/dir`],
      { encoding: 'utf8' },
    );
    if (attr.status === 0) assert.equal(attr.stdout, 'y');
  },
);

test('references are normalised as Docker does', () => {
  const r = parseReference('busybox');
  assert.deepEqual(r, {
    domain: 'docker.io',
    path: 'library/busybox',
    tag: 'latest',
    digest: null,
  });
  assert.equal(familiarString(r), 'busybox:latest');
  assert.deepEqual(parseReference('127.0.0.1:5000/bar/bb:1'), {
    domain: '127.0.0.1:5000',
    path: 'bar/bb',
    tag: '1',
    digest: null,
  });
  assert.deepEqual(parseReference('localhost/x').domain, 'localhost');
  assert.deepEqual(parseReference('index.docker.io/u/x').domain, 'docker.io');
  assert.equal(familiarString(parseReference('docker.io/u/x:2')), 'u/x:2');
  const d = `sha256:${'a'.repeat(64)}`;
  assert.equal(familiarString(parseReference(`ns/img@${d}`)), `ns/img@${d}`);
  assert.throws(
    () => parseReference('127.0.0.1:5000/Bad'),
    /invalid reference format: repository name must be lowercase/,
  );
  assert.throws(() => parseReference('a@sha256:xyz'), /invalid reference format/);
});

test("mirrors and insecure registries are validated with Docker's messages, before anything is written", () => {
  assert.equal(validateMirror('http://127.0.0.1:5000'), 'http://127.0.0.1:5000/');
  assert.throws(
    () => validateMirror('ftp://m.example'),
    /invalid mirror: unsupported scheme "ftp" in "ftp:\/\/m.example"$/,
  );
  assert.throws(
    () => validateMirror('https://m.example/path'),
    /invalid mirror: path, query, or fragment at end of the URI "https:\/\/m.example\/path"/,
  );
  assert.throws(
    () => validateMirror('https://u:pw@m.example'),
    /invalid mirror: username\/password not allowed in URI "https:\/\/u:xxxxx@m.example"/,
  );
  assert.equal(validateInsecureRegistry('10.0.0.0/8').entry, '10.0.0.0/8');
  assert.equal(validateInsecureRegistry('http://reg.example:5000').entry, 'reg.example:5000');
  assert.throws(
    () => validateInsecureRegistry('a://b'),
    /insecure registry a:\/\/b should not contain ':\/\/'/,
  );
  assert.throws(
    () => validateInsecureRegistry('-bad.example'),
    /invalid index name \(-bad.example\). Cannot begin or end with a hyphen/,
  );
  assert.throws(
    () => validateInsecureRegistry('bad_host!:5000'),
    /insecure registry bad_host!:5000 is not valid: invalid host "bad_host!"/,
  );
  assert.throws(
    () => validateInsecureRegistry('ok.example:99999'),
    /insecure registry ok.example:99999 is not valid: invalid port "99999"/,
  );
  // Through the daemon's flags and daemon.json.
  assert.throws(
    () => loadDaemonConfig(['--registry-mirror', 'foo'], {}, () => null),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message ===
        'invalid argument "foo" for "--registry-mirror" flag: invalid mirror: unsupported scheme "" in "foo"',
  );
  assert.throws(
    () =>
      loadDaemonConfig(
        ['--config-file', '/x.json'],
        {},
        () => '{"registry-mirrors":["ftp://m.example"]}',
      ),
    (e: unknown) =>
      e instanceof ConfigError && /invalid mirror: unsupported scheme "ftp"/.test(e.message),
  );
  const { config } = loadDaemonConfig(
    ['--insecure-registry', 'reg.example:5000', '--registry-mirror', 'https://m.example'],
    {},
    () => null,
  );
  assert.deepEqual(config.insecureRegistries, ['reg.example:5000']);
  assert.deepEqual(config.registryMirrors, ['https://m.example/']);
  assert.throws(
    () => loadDaemonConfig(['--max-download-attempts', '0'], {}, () => null),
    /invalid max download attempts: 0/,
  );
});

test('progress is drawn as Docker draws it', () => {
  assert.equal(humanSize(32768), '32.77kB');
  assert.equal(humanSize(1068831), '1.069MB');
  assert.equal(humanSize(2130000), '2.13MB');
  assert.equal(progressBar(32768, 1068831), `[=>${' '.repeat(48)}]  32.77kB/1.069MB`);
  // Past the total the bar is full and only the count is shown (Docker's push: `>]   2.13MB`).
  assert.equal(progressBar(3, 2), `[${'='.repeat(50)}>]       3B`);
  assert.equal(progressBar(2130000, 1000000), `[${'='.repeat(50)}>]   2.13MB`);
});

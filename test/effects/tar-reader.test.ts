import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { extract, type Headers } from 'tar-stream';
import { TarReader } from '../../effects/archive/tar-reader.ts';
import { packTar } from '../support/tar-pack.ts';

// docker cp in's synchronous tar parser reads what tar-stream's extract reads, however the
// bytes are cut: headers, long names and pax records split between writes, data passed over.

interface Seen {
  name: string;
  type: string | null | undefined;
  size: number | undefined;
  linkname: string | null | undefined;
  mode: number | undefined;
  mtime: number | undefined;
  data: string;
}

function seen(h: Headers, data: Buffer[]): Seen {
  return {
    name: h.name,
    type: h.type,
    size: h.size,
    linkname: h.linkname,
    mode: h.mode,
    mtime: h.mtime?.getTime(),
    data: Buffer.concat(data).toString('hex'),
  };
}

/** What tar-stream's extract reads of `tar`. */
async function byTarStream(tar: Buffer): Promise<Seen[]> {
  const out: Seen[] = [];
  const ex = extract();
  ex.on('entry', (h, stream, next) => {
    const data: Buffer[] = [];
    stream.on('data', (c: Buffer) => data.push(c));
    stream.on('end', () => {
      out.push(seen(h, data));
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
    ex.end(tar);
  });
  return out;
}

/** What TarReader reads of `tar` written `step` bytes at a time (each write's buffer reused). */
function byTarReader(tar: Buffer, step: number): Seen[] {
  const out: Seen[] = [];
  const reader = new TarReader((h) => {
    const data: Buffer[] = [];
    return {
      // A copy: the writer's buffer is overwritten after each write.
      data: (bytes) => data.push(Buffer.from(bytes)),
      end: () => out.push(seen(h, data)),
    };
  });
  const scratch = Buffer.alloc(step);
  for (let at = 0; at < tar.length; at += step) {
    const n = Math.min(step, tar.length - at);
    tar.copy(scratch, 0, at, at + n);
    reader.write(scratch.subarray(0, n));
    scratch.fill(0xee);
  }
  reader.end();
  return out;
}

test('TarReader reads what tar-stream reads, in writes of any size, keeping no view of a write', async () => {
  const when = new Date(1_600_000_000_000);
  const tar = await packTar([
    { name: 'small', body: Buffer.from('hello\n'), mtime: when, mode: 0o640 },
    { name: 'empty', body: Buffer.alloc(0), mtime: when },
    { name: 'dir', type: 'directory', mtime: when, mode: 0o750 },
    // Longer than ustar's 100 + 155: a pax record carries the name.
    { name: `${'d'.repeat(120)}/${'e'.repeat(150)}/${'f'.repeat(200)}`, body: randomBytes(1000) },
    { name: 'link', type: 'symlink', linkname: 'l'.repeat(180), mtime: when },
    { name: 'hard', type: 'link', linkname: 'small', mtime: when },
    { name: 'ünïcödé', body: Buffer.from('é') },
    { name: 'odd', body: randomBytes(3 * 512 + 7) },
    { name: 'big', body: randomBytes(300_001) },
  ]);
  const expected = await byTarStream(tar);
  assert.equal(expected.length, 9);
  assert.equal(expected[3]?.name.length, 120 + 150 + 200 + 2, 'the long name came through pax');
  for (const step of [1, 7, 511, 512, 513, 4096, 32 << 10, tar.length])
    assert.deepEqual(byTarReader(tar, step), expected, `in writes of ${step} bytes`);
});

test("TarReader's errors are tar-stream's: a bad header, an archive cut short", async () => {
  const tar = await packTar([{ name: 'a', body: randomBytes(2000) }]);
  const bad = Buffer.from(tar);
  bad[10] = 0x41;
  assert.throws(
    () => new TarReader(() => null).write(bad),
    /Invalid tar header\. Maybe the tar is corrupted/,
  );
  for (const cut of [100, 512, 1500, 512 + 2000]) {
    const reader = new TarReader(() => null);
    reader.write(tar.subarray(0, cut));
    assert.throws(() => reader.end(), /Unexpected end of data/, `cut at ${cut}`);
  }
});

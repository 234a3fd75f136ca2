import { PassThrough, Transform, type Readable } from 'node:stream';
import { Decompress } from 'fzstd';

/** A layer's compression, told from its first bytes (as Docker's DecompressStream does). */
export type Compression = 'gzip' | 'zstd' | 'none';

const magic: { kind: Compression | 'bzip2' | 'xz'; bytes: number[] }[] = [
  { kind: 'gzip', bytes: [0x1f, 0x8b, 0x08] },
  { kind: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { kind: 'bzip2', bytes: [0x42, 0x5a, 0x68] },
  { kind: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
];

export function sniff(head: Buffer): Compression | 'bzip2' | 'xz' {
  for (const m of magic) if (m.bytes.every((b, i) => head[i] === b)) return m.kind;
  return 'none';
}

/** zstd through fzstd (Node 20's zlib has none). */
function zstdStream(): Transform {
  let push: (data: Uint8Array) => void = () => undefined;
  const d = new Decompress((chunk) => push(chunk));
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      push = (data) => this.push(Buffer.from(data));
      try {
        d.push(chunk);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb) {
      push = (data) => this.push(Buffer.from(data));
      try {
        d.push(new Uint8Array(0), true);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}

/**
 * The uncompressed tar stream of a layer: gzip and zstd are undone, a plain tar passes
 * through; bzip2 and xz are refused by name (Docker runs external tools for them).
 */
export function decompressed(source: Readable): Readable {
  const out = new PassThrough();
  let head = Buffer.alloc(0);
  let decided = false;
  let target: NodeJS.WritableStream & { destroy?: (e?: Error) => void } = out;
  const decide = (): void => {
    decided = true;
    const kind = sniff(head);
    if (kind === 'bzip2' || kind === 'xz') {
      out.destroy(new Error(`statedock does not support ${kind}-compressed layers`));
      source.destroy();
      return;
    }
    if (kind !== 'none') {
      // zlib loads with the first gzipped layer: the daemon's start-up needs none of it.
      const t =
        kind === 'gzip' ? process.getBuiltinModule('node:zlib').createGunzip() : zstdStream();
      t.on('error', (err) => out.destroy(err));
      t.pipe(out);
      target = t;
    }
    target.write(head);
  };
  source.on('data', (chunk: Buffer) => {
    if (decided) {
      if (!target.write(chunk)) {
        source.pause();
        (target as Transform).once('drain', () => source.resume());
      }
      return;
    }
    head = Buffer.concat([head, chunk]);
    if (head.length >= 6) decide();
  });
  source.on('end', () => {
    if (!decided) decide();
    target.end();
  });
  source.on('error', (err) => out.destroy(err));
  return out;
}

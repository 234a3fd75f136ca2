import { pack, type Headers } from 'tar-stream';

/** A tar entry as tar-stream's pack takes it, with its data. */
export type PackedEntry = Headers & { body?: Buffer | string };

/** The entries packed by tar-stream, in memory; `defaults` fill what an entry's header leaves out. */
export async function packTar(
  entries: readonly PackedEntry[],
  defaults: Partial<Headers> = {},
): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => p.on('end', resolve));
  for (const { body, ...h } of entries)
    await new Promise<void>((resolve, reject) =>
      p.entry({ ...defaults, ...h }, body, (err) => (err ? reject(err) : resolve())),
    );
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

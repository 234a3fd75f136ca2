import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pack, type Headers } from 'tar-stream';

/** One tar entry: a file (content), a directory, a symlink or a hard link. */
export type Entry =
  | { name: string; content: string | Buffer; mode?: number }
  | { name: string; dir: true }
  | { name: string; symlink: string }
  | { name: string; hardlink: string };

/** A tar archive of the entries, in memory (tar-stream: no tar binary). */
export async function tarOf(entries: readonly Entry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => p.on('end', resolve));
  for (const e of entries) {
    const h: Headers = { name: e.name, mtime: new Date(1_700_000_000_000), uid: 0, gid: 0 };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if ('dir' in e) p.entry({ ...h, type: 'directory', mode: 0o755 }, cb);
      else if ('symlink' in e)
        p.entry({ ...h, type: 'symlink', linkname: e.symlink, mode: 0o777 }, cb);
      else if ('hardlink' in e)
        p.entry({ ...h, type: 'link', linkname: e.hardlink, mode: 0o644 }, cb);
      else p.entry({ ...h, mode: e.mode ?? 0o644 }, e.content, cb);
    });
  }
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

export const sha256 = (b: Buffer | string): string =>
  `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The busybox-static root filesystem as a layer (a few applets linked to it). */
export function busyboxLayer(
  applets: readonly string[] = ['sh', 'echo', 'cat', 'ls', 'true', 'sleep'],
): Entry[] {
  return [
    { name: 'bin/', dir: true },
    { name: 'bin/busybox', content: readFileSync('/bin/busybox'), mode: 0o755 },
    ...applets.map((a) => ({ name: `bin/${a}`, symlink: 'busybox' })),
    { name: 'etc/', dir: true },
    { name: 'tmp/', dir: true },
    { name: 'proc/', dir: true },
    { name: 'sys/', dir: true },
    { name: 'dev/', dir: true },
  ];
}

/**
 * A `docker save`-shaped archive of one image made of the given layer tars, tagged `tags`;
 * its image ID is the sha256 of the config it returns.
 */
export async function imageArchive(
  layers: readonly Buffer[],
  tags: string[],
  config: Record<string, unknown> = { Cmd: ['/bin/sh'] },
  platform = { architecture: 'amd64', os: 'linux' },
): Promise<{ archive: Buffer; id: string; diffIds: string[] }> {
  const diffIds = layers.map((l) => sha256(l));
  const configJson = JSON.stringify({
    ...platform,
    config: { Env: ['PATH=/bin'], ...config },
    created: '2024-01-01T00:00:00Z',
    rootfs: { type: 'layers', diff_ids: diffIds },
  });
  const id = sha256(configJson);
  const entries: Entry[] = [{ name: `${id.slice(7)}.json`, content: configJson }];
  const names: string[] = [];
  for (const [i, l] of layers.entries()) {
    entries.push({ name: `l${i}/`, dir: true }, { name: `l${i}/layer.tar`, content: l });
    names.push(`l${i}/layer.tar`);
  }
  entries.push({
    name: 'manifest.json',
    content: JSON.stringify([{ Config: `${id.slice(7)}.json`, RepoTags: tags, Layers: names }]),
  });
  return { archive: await tarOf(entries), id, diffIds };
}

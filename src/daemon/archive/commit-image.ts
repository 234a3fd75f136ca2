import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import type { LevelStore } from '../../../effects/store/real.ts';
import type { ImageRecord, ImageStore } from '../images.ts';

const run = promisify(execFile);

/** Applies the layer format's whiteouts left in `dir` by a plain unpack: `.wh.x` removes x. */
function applyWhiteouts(dir: string, rel = ''): void {
  for (const n of readdirSync(`${dir}${rel}`, { withFileTypes: true })) {
    const path = `${rel}/${n.name}`;
    if (n.name === '.wh..wh..opq') rmSync(`${dir}${path}`, { force: true });
    else if (n.name.startsWith('.wh.')) {
      rmSync(`${dir}${rel}/${n.name.slice(4)}`, { recursive: true, force: true });
      rmSync(`${dir}${path}`, { force: true });
    } else if (n.isDirectory()) applyWhiteouts(dir, path);
  }
}

/** Opaque directories named in a layer tarball (their parent's files are hidden by it). */
async function opaqueIn(tar: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tf', tar], { maxBuffer: 256 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l.endsWith('/.wh..wh..opq'))
    .map((l) => l.slice(0, -'/.wh..wh..opq'.length).replace(/^\.\//, ''));
}

export interface CommitInput {
  root: string;
  store: LevelStore;
  images: ImageStore;
  parent: ImageRecord;
  layerTar: string;
  diffId: string;
  config: ImageRecord['config'];
  tag: string | null;
  comment: string;
  author: string;
  container: string;
}

/**
 * The image store's side of `docker commit`, in one function (the only one that knows how the
 * store keeps files): a new image whose layers are its parent's and `layerTar`. Its files are
 * a copy of the parent's with the layer unpacked over them (whiteouts applied), staged under
 * `<root>/tmp` (emptied at every start-up) and moved into place; the record is written last
 * and the tag after it, so a crash leaves no image without its files.
 */
export async function addCommittedImage(c: CommitInput): Promise<ImageRecord> {
  const staging = `${c.root}/tmp/commit-${randomBytes(8).toString('hex')}`;
  mkdirSync(staging, { recursive: true });
  try {
    await run('cp', ['-a', c.parent.layerDir, `${staging}/diff`]);
    for (const dir of await opaqueIn(c.layerTar))
      for (const n of readdirSync(`${staging}/diff/${dir}`))
        rmSync(`${staging}/diff/${dir}/${n}`, { recursive: true, force: true });
    await run('tar', [
      '-xf',
      c.layerTar,
      '-C',
      `${staging}/diff`,
      '--same-owner',
      '--numeric-owner',
    ]);
    applyWhiteouts(`${staging}/diff`);
    const parentJson = (c.parent.configJson ? JSON.parse(c.parent.configJson) : {}) as {
      rootfs?: { diff_ids?: string[] };
      history?: unknown[];
      architecture?: string;
      os?: string;
    };
    const created = new Date().toISOString();
    const full = {
      architecture: parentJson.architecture ?? 'amd64',
      os: parentJson.os ?? 'linux',
      created,
      author: c.author,
      comment: c.comment,
      container: c.container,
      config: c.config,
      rootfs: { type: 'layers', diff_ids: [...(parentJson.rootfs?.diff_ids ?? []), c.diffId] },
      history: [
        ...(parentJson.history ?? []),
        {
          created,
          ...(c.author ? { author: c.author } : {}),
          ...(c.comment ? { comment: c.comment } : {}),
        },
      ],
    };
    const configJson = JSON.stringify(full);
    const id = `sha256:${createHash('sha256').update(configJson).digest('hex')}`;
    const layerDir = `${c.root}/overlay2/l-${id.slice(7, 31)}`;
    // The parent's layer tarballs are copied too: `docker save` of this image must not depend on the parent staying.
    const tars = [...(c.parent.layerTars ?? []), c.layerTar];
    tars.forEach((t, i) => copyFileSync(t, `${staging}/layer-${i}.tar`));
    rmSync(layerDir, { recursive: true, force: true });
    renameSync(staging, layerDir);
    const { stdout } = await run('du', ['-sb', `${layerDir}/diff`]);
    const image: ImageRecord = {
      id,
      repoTags: [],
      created,
      size: Number.parseInt(stdout, 10) || 0,
      layerDir: `${layerDir}/diff`,
      config: c.config,
      configJson,
      layerTars: tars.map((_, i) => `${layerDir}/layer-${i}.tar`),
    };
    await c.store.db.put(`image/${id}`, image);
    if (c.tag !== null) await c.images.tag(image, c.tag);
    return image;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

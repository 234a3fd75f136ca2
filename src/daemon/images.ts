import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  createWriteStream,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { LevelStore } from '../../effects/store/real.ts';

const run = promisify(execFile);

/** An image in statedock's store: a config as Docker writes it, and its one layer's directory. */
export interface ImageRecord {
  id: string;
  repoTags: string[];
  created: string;
  size: number;
  layerDir: string;
  config: {
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    Env: string[];
    WorkingDir: string;
    /** EXPOSE: `80/tcp` keys (what `docker run -P` publishes). */
    ExposedPorts?: Record<string, Record<string, never>>;
  };
  /** The image config exactly as hashed into the ID, and the layer tarballs as received (for `docker save`). */
  configJson?: string;
  layerTars?: string[];
}

/** `busybox` → `busybox:latest`; a digest or tag kept. */
export function normalizeRef(ref: string): string {
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  return last.includes(':') || ref.includes('@') ? ref : `${ref}:latest`;
}

/** `--change 'CMD ["/bin/sh"]'` lines as the CLI sends them. */
function applyChanges(changes: string[], config: ImageRecord['config']): void {
  for (const c of changes) {
    const m = /^\s*(CMD|ENTRYPOINT|ENV|WORKDIR|EXPOSE)\s+(.*)$/i.exec(c);
    if (!m) continue;
    const [, verb, arg] = m as unknown as [string, string, string];
    const list = (): string[] => {
      try {
        const v = JSON.parse(arg) as unknown;
        if (Array.isArray(v)) return v.map(String);
      } catch {
        // shell form
      }
      return ['/bin/sh', '-c', arg];
    };
    if (verb.toUpperCase() === 'CMD') config.Cmd = list();
    if (verb.toUpperCase() === 'ENTRYPOINT') config.Entrypoint = list();
    if (verb.toUpperCase() === 'ENV')
      config.Env.push(arg.includes('=') ? arg : arg.replace(/\s+/, '='));
    if (verb.toUpperCase() === 'WORKDIR') config.WorkingDir = arg;
    if (verb.toUpperCase() === 'EXPOSE')
      for (const p of arg.trim().split(/\s+/))
        config.ExposedPorts = { ...config.ExposedPorts, [p.includes('/') ? p : `${p}/tcp`]: {} };
  }
}

/** Images, content-addressed: the config's digest is the image ID; the layer is unpacked under the driver's home. */
export class ImageStore {
  private readonly root: string;
  private readonly store: LevelStore;

  constructor(root: string, store: LevelStore) {
    this.root = root;
    this.store = store;
  }

  /** `docker import`: a tarball of a root filesystem becomes a one-layer image. */
  async importTar(
    body: IncomingMessage,
    repo: string | null,
    changes: string[],
  ): Promise<ImageRecord> {
    const tmp = `${this.root}/tmp/import-${randomBytes(8).toString('hex')}`;
    mkdirSync(tmp, { recursive: true });
    try {
      const hash = createHash('sha256');
      body.on('data', (c: Buffer) => hash.update(c));
      await pipeline(body, createWriteStream(`${tmp}/layer.tar`));
      const diffId = `sha256:${hash.digest('hex')}`;
      mkdirSync(`${tmp}/diff`);
      await run('tar', ['-xf', `${tmp}/layer.tar`, '-C', `${tmp}/diff`, '--no-same-owner']);
      const { stdout } = await run('du', ['-sb', `${tmp}/diff`]);
      const size = Number.parseInt(stdout, 10) || 0;
      const config: ImageRecord['config'] = {
        Cmd: null,
        Entrypoint: null,
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        WorkingDir: '',
      };
      applyChanges(changes, config);
      const created = new Date().toISOString();
      const full = {
        architecture: 'amd64',
        os: 'linux',
        created,
        config,
        rootfs: { type: 'layers', diff_ids: [diffId] },
      };
      const configJson = JSON.stringify(full);
      const id = `sha256:${createHash('sha256').update(configJson).digest('hex')}`;
      const layerDir = `${this.root}/overlay2/l-${id.slice(7, 31)}`;
      rmSync(layerDir, { recursive: true, force: true });
      mkdirSync(layerDir, { recursive: true });
      renameSync(`${tmp}/diff`, `${layerDir}/diff`);
      renameSync(`${tmp}/layer.tar`, `${layerDir}/layer-0.tar`);
      const tags = repo ? [normalizeRef(repo)] : [];
      const image: ImageRecord = {
        id,
        repoTags: tags,
        created,
        size,
        layerDir: `${layerDir}/diff`,
        config,
        configJson,
        layerTars: [`${layerDir}/layer-0.tar`],
      };
      for (const t of tags) await this.untagElsewhere(t, id);
      await this.store.db.put(`image/${id}`, image);
      for (const t of tags) await this.store.db.put(`ref/${t}`, id);
      return image;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  private async untagElsewhere(tag: string, keep: string): Promise<void> {
    const prev = (await this.store.db.get(`ref/${tag}`).catch(() => undefined)) as
      string | undefined;
    if (!prev || prev === keep) return;
    const img = (await this.store.db.get(`image/${prev}`).catch(() => undefined)) as
      ImageRecord | undefined;
    if (img)
      await this.store.db.put(`image/${prev}`, {
        ...img,
        repoTags: img.repoTags.filter((t) => t !== tag),
      });
  }

  /** By name[:tag], full ID, or unique ID prefix. */
  async resolve(ref: string): Promise<ImageRecord | null> {
    const byTag = (await this.store.db.get(`ref/${normalizeRef(ref)}`).catch(() => undefined)) as
      string | undefined;
    const id = byTag ?? (ref.startsWith('sha256:') ? ref : null);
    if (id)
      return (
        ((await this.store.db.get(`image/${id}`).catch(() => undefined)) as
          ImageRecord | undefined) ?? null
      );
    if (/^[0-9a-f]{4,64}$/.test(ref)) {
      const all = await this.list();
      const found = all.filter((i) => i.id.slice(7).startsWith(ref));
      if (found.length === 1) return found[0] as ImageRecord;
    }
    return null;
  }

  /**
   * `docker load`: Docker's archive (manifest.json, the config by digest, the layer tarballs).
   * The layers are unpacked in order into one directory (whiteouts of later layers are not
   * applied: images made of several layers that delete files are not supported yet).
   */
  async load(body: IncomingMessage): Promise<string[]> {
    const tmp = `${this.root}/tmp/load-${randomBytes(8).toString('hex')}`;
    mkdirSync(`${tmp}/archive`, { recursive: true });
    const loaded: string[] = [];
    try {
      await pipeline(body, createWriteStream(`${tmp}/archive.tar`));
      await run('tar', ['-xf', `${tmp}/archive.tar`, '-C', `${tmp}/archive`]);
      let manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[];
      try {
        manifest = JSON.parse(
          readFileSync(`${tmp}/archive/manifest.json`, 'utf8'),
        ) as typeof manifest;
      } catch {
        throw new Error(
          'invalid archive: no manifest.json (docker load takes an archive made by docker save)',
        );
      }
      for (const m of manifest) {
        const configJson = readFileSync(`${tmp}/archive/${m.Config}`, 'utf8');
        const id = `sha256:${createHash('sha256').update(configJson).digest('hex')}`;
        const existing = (await this.store.db.get(`image/${id}`).catch(() => undefined)) as
          ImageRecord | undefined;
        if (existing) {
          // Already here (content-addressed): only the tags are new.
          const tags = (m.RepoTags ?? []).map(normalizeRef);
          for (const t of tags) await this.untagElsewhere(t, id);
          await this.store.db.put(`image/${id}`, {
            ...existing,
            repoTags: [...new Set([...existing.repoTags, ...tags])],
          });
          for (const t of tags) await this.store.db.put(`ref/${t}`, id);
          loaded.push(...(tags.length > 0 ? tags : [id]));
          continue;
        }
        const parsed = JSON.parse(configJson) as {
          created?: string;
          config?: Partial<ImageRecord['config']>;
        };
        const layerDir = `${this.root}/overlay2/l-${id.slice(7, 31)}`;
        rmSync(layerDir, { recursive: true, force: true });
        mkdirSync(`${layerDir}/diff`, { recursive: true });
        const layerTars: string[] = [];
        for (const [i, layer] of m.Layers.entries()) {
          await run('tar', [
            '-xf',
            `${tmp}/archive/${layer}`,
            '-C',
            `${layerDir}/diff`,
            '--no-same-owner',
          ]);
          renameSync(`${tmp}/archive/${layer}`, `${layerDir}/layer-${i}.tar`);
          layerTars.push(`${layerDir}/layer-${i}.tar`);
        }
        const { stdout } = await run('du', ['-sb', `${layerDir}/diff`]);
        const c = parsed.config ?? {};
        const image: ImageRecord = {
          id,
          repoTags: (m.RepoTags ?? []).map(normalizeRef),
          created: parsed.created ?? new Date().toISOString(),
          size: Number.parseInt(stdout, 10) || 0,
          layerDir: `${layerDir}/diff`,
          config: {
            Cmd: c.Cmd ?? null,
            Entrypoint: c.Entrypoint ?? null,
            Env: c.Env ?? [],
            WorkingDir: c.WorkingDir ?? '',
          },
          configJson,
          layerTars,
        };
        for (const t of image.repoTags) await this.untagElsewhere(t, id);
        await this.store.db.put(`image/${id}`, image);
        for (const t of image.repoTags) await this.store.db.put(`ref/${t}`, id);
        loaded.push(...(image.repoTags.length > 0 ? image.repoTags : [id]));
      }
      return loaded;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** `docker save`: writes Docker's archive of the images to `out` (a directory made into a tar by the caller). */
  async save(images: { image: ImageRecord; tags: string[] }[], dir: string): Promise<void> {
    const manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const { image, tags } of images) {
      if (!image.configJson || !image.layerTars)
        throw new Error(`image ${image.id} has no archived layers to save`);
      const config = `${image.id.slice(7)}.json`;
      writeFileSync(`${dir}/${config}`, image.configJson);
      const layers: string[] = [];
      for (const tar of image.layerTars) {
        const digest = createHash('sha256').update(readFileSync(tar)).digest('hex');
        mkdirSync(`${dir}/${digest}`, { recursive: true });
        copyFileSync(tar, `${dir}/${digest}/layer.tar`);
        writeFileSync(`${dir}/${digest}/VERSION`, '1.0');
        writeFileSync(
          `${dir}/${digest}/json`,
          JSON.stringify({ id: digest, created: image.created }),
        );
        layers.push(`${digest}/layer.tar`);
      }
      manifest.push({ Config: config, RepoTags: tags.length > 0 ? tags : null, Layers: layers });
      for (const t of tags) {
        const [repo, tag] = [t.slice(0, t.lastIndexOf(':')), t.slice(t.lastIndexOf(':') + 1)];
        repositories[repo] = {
          ...(repositories[repo] ?? {}),
          [tag]:
            layers.length > 0
              ? ((layers[layers.length - 1] as string).split('/')[0] as string)
              : '',
        };
      }
    }
    writeFileSync(`${dir}/manifest.json`, JSON.stringify(manifest));
    writeFileSync(`${dir}/repositories`, JSON.stringify(repositories));
  }

  /** `docker tag`: one more reference to the image. */
  async tag(image: ImageRecord, ref: string): Promise<void> {
    const t = normalizeRef(ref);
    await this.untagElsewhere(t, image.id);
    const fresh = (await this.store.db.get(`image/${image.id}`)) as ImageRecord;
    await this.store.db.put(`image/${image.id}`, {
      ...fresh,
      repoTags: [...new Set([...fresh.repoTags, t])],
    });
    await this.store.db.put(`ref/${t}`, image.id);
  }

  /** `docker rmi`: untag `ref`; delete the image (and its layer) when no tag is left or by ID. */
  async remove(
    image: ImageRecord,
    ref: string,
  ): Promise<{ Untagged?: string; Deleted?: string }[]> {
    const out: { Untagged?: string; Deleted?: string }[] = [];
    const byId = image.id.slice(7).startsWith(ref.replace(/^sha256:/, ''));
    const tags = byId ? image.repoTags : image.repoTags.filter((t) => t === normalizeRef(ref));
    for (const t of tags) {
      await this.store.db.del(`ref/${t}`);
      out.push({ Untagged: t });
    }
    const left = image.repoTags.filter((t) => !tags.includes(t));
    if (left.length > 0) {
      await this.store.db.put(`image/${image.id}`, { ...image, repoTags: left });
      return out;
    }
    await this.store.db.del(`image/${image.id}`);
    rmSync(image.layerDir.replace(/\/diff$/, ''), { recursive: true, force: true });
    out.push({ Deleted: image.id });
    return out;
  }

  async list(): Promise<ImageRecord[]> {
    const out: ImageRecord[] = [];
    for await (const [, v] of this.store.db.iterator({ gte: 'image/', lt: 'image/\uffff' }))
      out.push(v as ImageRecord);
    return out;
  }
}

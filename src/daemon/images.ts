import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
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
  config: { Cmd: string[] | null; Entrypoint: string[] | null; Env: string[]; WorkingDir: string };
}

/** `busybox` → `busybox:latest`; a digest or tag kept. */
export function normalizeRef(ref: string): string {
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  return last.includes(':') || ref.includes('@') ? ref : `${ref}:latest`;
}

/** `--change 'CMD ["/bin/sh"]'` lines as the CLI sends them. */
function applyChanges(changes: string[], config: ImageRecord['config']): void {
  for (const c of changes) {
    const m = /^\s*(CMD|ENTRYPOINT|ENV|WORKDIR)\s+(.*)$/i.exec(c);
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
    if (verb.toUpperCase() === 'ENV') config.Env.push(arg.includes('=') ? arg : arg.replace(/\s+/, '='));
    if (verb.toUpperCase() === 'WORKDIR') config.WorkingDir = arg;
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
  async importTar(body: IncomingMessage, repo: string | null, changes: string[]): Promise<ImageRecord> {
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
      const config: ImageRecord['config'] = { Cmd: null, Entrypoint: null, Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], WorkingDir: '' };
      applyChanges(changes, config);
      const created = new Date().toISOString();
      const full = { architecture: 'amd64', os: 'linux', created, config, rootfs: { type: 'layers', diff_ids: [diffId] } };
      const id = `sha256:${createHash('sha256').update(JSON.stringify(full)).digest('hex')}`;
      const layerDir = `${this.root}/overlay2/l-${id.slice(7, 31)}`;
      rmSync(layerDir, { recursive: true, force: true });
      mkdirSync(layerDir, { recursive: true });
      renameSync(`${tmp}/diff`, `${layerDir}/diff`);
      const tags = repo ? [normalizeRef(repo)] : [];
      const image: ImageRecord = { id, repoTags: tags, created, size, layerDir: `${layerDir}/diff`, config };
      for (const t of tags) await this.untagElsewhere(t, id);
      await this.store.db.put(`image/${id}`, image);
      for (const t of tags) await this.store.db.put(`ref/${t}`, id);
      return image;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  private async untagElsewhere(tag: string, keep: string): Promise<void> {
    const prev = (await this.store.db.get(`ref/${tag}`).catch(() => undefined)) as string | undefined;
    if (!prev || prev === keep) return;
    const img = (await this.store.db.get(`image/${prev}`).catch(() => undefined)) as ImageRecord | undefined;
    if (img) await this.store.db.put(`image/${prev}`, { ...img, repoTags: img.repoTags.filter((t) => t !== tag) });
  }

  /** By name[:tag], full ID, or unique ID prefix. */
  async resolve(ref: string): Promise<ImageRecord | null> {
    const byTag = (await this.store.db.get(`ref/${normalizeRef(ref)}`).catch(() => undefined)) as string | undefined;
    const id = byTag ?? (ref.startsWith('sha256:') ? ref : null);
    if (id) return ((await this.store.db.get(`image/${id}`).catch(() => undefined)) as ImageRecord | undefined) ?? null;
    if (/^[0-9a-f]{4,64}$/.test(ref)) {
      const all = await this.list();
      const found = all.filter((i) => i.id.slice(7).startsWith(ref));
      if (found.length === 1) return found[0] as ImageRecord;
    }
    return null;
  }

  /** `docker tag`: one more reference to the image. */
  async tag(image: ImageRecord, ref: string): Promise<void> {
    const t = normalizeRef(ref);
    await this.untagElsewhere(t, image.id);
    const fresh = ((await this.store.db.get(`image/${image.id}`)) as ImageRecord);
    await this.store.db.put(`image/${image.id}`, { ...fresh, repoTags: [...new Set([...fresh.repoTags, t])] });
    await this.store.db.put(`ref/${t}`, image.id);
  }

  /** `docker rmi`: untag `ref`; delete the image (and its layer) when no tag is left or by ID. */
  async remove(image: ImageRecord, ref: string): Promise<{ Untagged?: string; Deleted?: string }[]> {
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
    for await (const [, v] of this.store.db.iterator({ gte: 'image/', lt: 'image/\uffff' })) out.push(v as ImageRecord);
    return out;
  }
}

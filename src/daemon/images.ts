import { applyChanges } from './containers/commit-changes.ts';
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import type { LevelStore } from '../../effects/store/real.ts';
import type { ImagesView } from '../../machines/container/invariants.ts';
import type { HealthConfig } from '../../machines/health/config.ts';
import { decompressed } from './layers/decompress.ts';
import {
  chainIdOf,
  LayerPaths,
  moveInto,
  type LayerRecord,
  type LayerSource,
} from './layers/layer-store.ts';
import { extractLayer, type ExtractOptions } from './layers/tar-extract.ts';
import { familiarString, parseReference, ReferenceError } from './registry/reference.ts';

/** The parts of an image's config the daemon uses (Docker's `config` object of the image JSON). */
export interface ImageConfig {
  Cmd: string[] | null;
  Entrypoint: string[] | null;
  Env: string[];
  WorkingDir: string;
  User?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  StopSignal?: string;
  /** What `docker commit --change` may set besides (HEALTHCHECK is read by containers made from it). */
  Healthcheck?: HealthConfig | null;
  OnBuild?: string[] | null;
}

/** An image in statedock's store: its config (the ID is the sha256 of its exact bytes) and its layers by chain ID. */
export interface ImageRecord {
  id: string;
  repoTags: string[];
  /** `name@sha256:…` of the manifests it was pulled or pushed by. */
  repoDigests: string[];
  created: string;
  size: number;
  /** Chain IDs, base layer first. */
  layers: string[];
  /** The layers' directories, top first (overlay2's lowerdir order). */
  layerDirs: string[];
  /** The top layer's directory. */
  layerDir: string;
  config: ImageConfig;
  configJson: string;
  architecture: string;
  os: string;
  variant?: string;
  comment?: string;
}

/** `busybox` → `busybox:latest`; a digest or tag kept (the familiar form RepoTags use). */
export function normalizeRef(ref: string): string {
  try {
    return familiarString(parseReference(ref));
  } catch {
    const last = ref.slice(ref.lastIndexOf('/') + 1);
    return last.includes(':') || ref.includes('@') ? ref : `${ref}:latest`;
  }
}

/** Thrown for what the client sent wrong (answered 400). */
export class ImageInputError extends Error {
  override name = 'ImageInputError';
}

/** What a pull found already here, per manifest layer (blob digest), bottom-up. */
export interface LayerLookup {
  diffId: string | null;
  chainId: string | null;
  present: boolean;
}

interface BlobRecord {
  diffId: string;
  /** Repositories (`host/path`) the blob is known to be in: push's HEAD and mount candidates. */
  repositories: string[];
}

/**
 * Images and their layers, content-addressed: an image's ID is the sha256 of its config, its
 * layers are registered by chain ID under `<root>/layers` (a layer shared by two images is
 * stored once). Records live in the metadata store (`image/<id>`, `ref/<name>`,
 * `layer/<chain>`, `blob/<digest>`). Mutations are serialised; layers a pull is using are
 * held in memory so a concurrent removal never takes them.
 */
export class ImageStore {
  readonly root: string;
  readonly layers: LayerPaths;
  private readonly store: LevelStore;
  private queue: Promise<unknown> = Promise.resolve();
  /** Chain IDs held by running pulls and pushes, by holder. */
  private readonly holds = new Map<string, Set<string>>();
  /** How layers are unpacked here (devices only as root). */
  extractOptions: ExtractOptions = {
    allowDevices: process.getuid?.() === 0,
    chown: process.getuid?.() === 0,
  };

  constructor(root: string, store: LevelStore) {
    this.root = root;
    this.store = store;
    this.layers = new LayerPaths(root);
  }

  /** Runs metadata changes one at a time (a tag move reads and writes several records). */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async get<T>(key: string): Promise<T | undefined> {
    return (await this.store.db.get(key).catch(() => undefined)) as T | undefined;
  }

  private tmpDir(kind: string): string {
    const dir = `${this.root}/tmp/${kind}-${randomBytes(8).toString('hex')}`;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  // ---- layers -------------------------------------------------------------------------

  /** Unpacks a layer (compressed or not) into a fresh staging directory; the caller registers or removes it. */
  async extractToStaging(
    source: Readable,
    staging: string,
    keepTar: boolean,
  ): Promise<{
    diffId: string;
    size: number;
    tarSize: number;
    whiteouts: string[];
    opaques: string[];
  }> {
    mkdirSync(`${staging}/diff`, { recursive: true, mode: 0o755 });
    const extracted = await extractLayer(decompressed(source), `${staging}/diff`, {
      ...this.extractOptions,
      ...(keepTar ? { keepTar: `${staging}/layer.tar` } : {}),
    });
    writeFileSync(
      `${staging}/whiteouts.json`,
      JSON.stringify({ whiteouts: extracted.whiteouts, opaques: extracted.opaques }),
    );
    return extracted;
  }

  /**
   * Registers a staged layer under its chain ID (a rename: whole or absent). A layer already
   * registered (another image, a concurrent pull) is kept and the staged copy removed.
   */
  registerLayer(args: {
    parent: string | null;
    diffId: string;
    size: number;
    tarSize: number;
    staging: string;
    /** The pulled blob to keep as the layer's source (else the staged `layer.tar`). */
    blob: { path: string; digest: string; mediaType: string; repository: string } | null;
    hold: string | null;
  }): Promise<{ chainId: string; created: boolean }> {
    return this.locked(async () => {
      const chainId = chainIdOf(args.parent, args.diffId);
      if (args.hold !== null) this.hold(args.hold, [chainId]);
      if (args.blob !== null)
        await this.recordBlob(args.blob.digest, args.diffId, args.blob.repository);
      const existing = await this.get<LayerRecord>(`layer/${chainId}`);
      if (existing && existsSync(existing.dir)) {
        rmSync(args.staging, { recursive: true, force: true });
        return { chainId, created: false };
      }
      if (args.parent !== null && !(await this.get<LayerRecord>(`layer/${args.parent}`)))
        throw new Error(`layer ${args.parent} does not exist`);
      const dir = this.layers.dirOf(chainId);
      if (args.blob !== null) moveInto(args.blob.path, `${args.staging}/blob`);
      let marks = { whiteouts: [] as string[], opaques: [] as string[] };
      try {
        marks = JSON.parse(readFileSync(`${args.staging}/whiteouts.json`, 'utf8')) as typeof marks;
      } catch {
        // no whiteouts
      }
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(this.layers.base, { recursive: true, mode: 0o700 });
      moveInto(args.staging, dir);
      const source: LayerSource =
        args.blob !== null
          ? {
              kind: 'blob',
              path: `${dir}/blob`,
              digest: args.blob.digest,
              mediaType: args.blob.mediaType,
            }
          : { kind: 'tar', path: `${dir}/layer.tar` };
      const record: LayerRecord = {
        chainId,
        diffId: args.diffId,
        parent: args.parent,
        size: args.size,
        tarSize: args.tarSize,
        dir: `${dir}/diff`,
        source,
        whiteouts: marks.whiteouts,
        opaques: marks.opaques,
      };
      await this.store.db.put(`layer/${chainId}`, record);
      return { chainId, created: true };
    });
  }

  async exists(id: string): Promise<boolean> {
    return (await this.get<ImageRecord>(`image/${id}`)) !== undefined;
  }

  async layer(chainId: string): Promise<LayerRecord | undefined> {
    return this.get<LayerRecord>(`layer/${chainId}`);
  }

  /** Remembers which diff ID a registry blob unpacks to, and where it was seen (Docker's v2metadata). */
  async recordBlob(digest: string, diffId: string, repository: string | null): Promise<void> {
    const prev = await this.get<BlobRecord>(`blob/${digest}`);
    const repositories = new Set(prev?.diffId === diffId ? prev.repositories : []);
    if (repository !== null) repositories.add(repository);
    await this.store.db.put(`blob/${digest}`, { diffId, repositories: [...repositories] });
  }

  async blob(digest: string): Promise<BlobRecord | undefined> {
    return this.get<BlobRecord>(`blob/${digest}`);
  }

  /** Blobs known to unpack to `diffId`, with the repositories they were seen in. */
  async blobsOf(diffId: string): Promise<{ digest: string; repositories: string[] }[]> {
    const out: { digest: string; repositories: string[] }[] = [];
    for await (const [k, v] of this.store.db.iterator({ gte: 'blob/', lt: 'blob/\uffff' })) {
      const b = v as BlobRecord;
      if (b.diffId === diffId) out.push({ digest: k.slice(5), repositories: b.repositories });
    }
    return out;
  }

  hold(holder: string, chainIds: string[]): void {
    const set = this.holds.get(holder) ?? new Set<string>();
    for (const c of chainIds) set.add(c);
    this.holds.set(holder, set);
  }

  /** Which of a manifest's layers (bottom-up blob digests) are here already; the present ones are held for `holder`. */
  lookup(blobs: string[], holder: string): Promise<LayerLookup[]> {
    return this.locked(async () => {
      const out: LayerLookup[] = [];
      let parent: string | null = null;
      let chainKnown = true;
      for (const digest of blobs) {
        const b = await this.get<BlobRecord>(`blob/${digest}`);
        if (!b || !chainKnown) {
          chainKnown = false;
          out.push({ diffId: b?.diffId ?? null, chainId: null, present: false });
          continue;
        }
        const chainId = chainIdOf(parent, b.diffId);
        const l = await this.get<LayerRecord>(`layer/${chainId}`);
        const present = l !== undefined && existsSync(l.dir);
        if (present) this.hold(holder, [chainId]);
        else chainKnown = false;
        out.push({ diffId: b.diffId, chainId, present });
        parent = chainId;
      }
      return out;
    });
  }

  /** Drops a holder's layers, and removes those of them no image uses. */
  release(holder: string): Promise<string[]> {
    const held = this.holds.get(holder);
    this.holds.delete(holder);
    if (!held || held.size === 0) return Promise.resolve([]);
    return this.locked(() => this.removeUnused([...held]));
  }

  private async usedChains(): Promise<Set<string>> {
    const used = new Set<string>();
    for (const i of await this.list()) for (const c of i.layers) used.add(c);
    for (const h of this.holds.values()) for (const c of h) used.add(c);
    return used;
  }

  /** Removes the given layers (and, through parents, their unused ancestors) when nothing uses them. */
  private async removeUnused(candidates: string[]): Promise<string[]> {
    const used = await this.usedChains();
    const removed: string[] = [];
    const queue = [...candidates];
    while (queue.length > 0) {
      const chainId = queue.pop() as string;
      if (used.has(chainId) || removed.includes(chainId)) continue;
      const l = await this.get<LayerRecord>(`layer/${chainId}`);
      if (!l) continue;
      // A layer some other layer builds on stays while that one is there.
      let child = false;
      for await (const [, v] of this.store.db.iterator({ gte: 'layer/', lt: 'layer/\uffff' }))
        if ((v as LayerRecord).parent === chainId && !removed.includes((v as LayerRecord).chainId))
          child = true;
      if (child) continue;
      await this.store.db.del(`layer/${chainId}`);
      rmSync(this.layers.dirOf(chainId), { recursive: true, force: true });
      removed.push(chainId);
      if (l.parent !== null) queue.push(l.parent);
    }
    return removed;
  }

  /**
   * After a restart: staging left by a pull that died is removed, and so are layers no image
   * uses (registered by a pull that never registered its image) and layer records whose
   * directory is gone. Nothing else runs yet, so nothing is held.
   */
  collect(tmpDir: string): Promise<{ staging: string[]; layers: string[] }> {
    return this.locked(async () => {
      const pulls = existsSync(tmpDir)
        ? readdirSync(tmpDir)
            .filter((n) => n.startsWith('pull-'))
            .map((n) => `${tmpDir}/${n}`)
        : [];
      const staging = [...pulls, ...this.layers.leftoverStaging()];
      for (const s of staging) rmSync(s, { recursive: true, force: true });
      const all: string[] = [];
      for await (const [, v] of this.store.db.iterator({ gte: 'layer/', lt: 'layer/\uffff' }))
        all.push((v as LayerRecord).chainId);
      const removed = await this.removeUnused(all);
      const known = new Set(all.filter((c) => !removed.includes(c)).map((c) => c.slice(7)));
      for (const hex of this.layers.onDisk())
        if (!known.has(hex)) {
          rmSync(`${this.layers.base}/${hex}`, { recursive: true, force: true });
          removed.push(`sha256:${hex}`);
        }
      return { staging, layers: removed };
    });
  }

  // ---- images -------------------------------------------------------------------------

  private async assemble(
    id: string,
    configJson: string,
    chainIds: string[],
    extra: { repoTags?: string[]; repoDigests?: string[]; comment?: string },
  ): Promise<ImageRecord> {
    const parsed = JSON.parse(configJson) as {
      created?: string;
      architecture?: string;
      os?: string;
      variant?: string;
      config?: Partial<ImageConfig>;
      comment?: string;
    };
    const records: LayerRecord[] = [];
    for (const c of chainIds) {
      const l = await this.get<LayerRecord>(`layer/${c}`);
      if (!l) throw new Error(`layer ${c} does not exist`);
      records.push(l);
    }
    const c = parsed.config ?? {};
    const dirs = records.map((l) => l.dir).reverse();
    return {
      id,
      repoTags: extra.repoTags ?? [],
      repoDigests: extra.repoDigests ?? [],
      created: parsed.created ?? new Date(0).toISOString(),
      size: records.reduce((n, l) => n + l.size, 0),
      layers: chainIds,
      layerDirs: dirs,
      layerDir: dirs[0] ?? '',
      config: {
        ...(c as ImageConfig),
        Cmd: c.Cmd ?? null,
        Entrypoint: c.Entrypoint ?? null,
        Env: c.Env ?? [],
        WorkingDir: c.WorkingDir ?? '',
      },
      configJson,
      architecture: parsed.architecture ?? 'amd64',
      os: parsed.os ?? 'linux',
      ...(parsed.variant ? { variant: parsed.variant } : {}),
      ...(extra.comment !== undefined ? { comment: extra.comment } : {}),
    };
  }

  /**
   * Makes an image visible: every layer must be registered already (an image is whole or
   * absent). An image already here keeps its references.
   */
  registerImage(id: string, configJson: string, chainIds: string[]): Promise<{ created: boolean }> {
    return this.locked(async () => {
      if ((await this.get<ImageRecord>(`image/${id}`)) !== undefined) return { created: false };
      const image = await this.assemble(id, configJson, chainIds, {});
      await this.store.db.put(`image/${id}`, image);
      return { created: true };
    });
  }

  /**
   * Points a reference at an image: a tag (`name:tag`, moved off any other image) or a digest
   * (`name@sha256:…`, added to RepoDigests). Returns the image it pointed at before.
   */
  setReference(ref: string, id: string): Promise<{ previous: string | null }> {
    return this.locked(async () => {
      const image = await this.get<ImageRecord>(`image/${id}`);
      if (!image) throw new Error(`No such image: ${id}`);
      const previous = (await this.get<string>(`ref/${ref}`)) ?? null;
      const byDigest = ref.includes('@');
      if (previous !== null && previous !== id) {
        const old = await this.get<ImageRecord>(`image/${previous}`);
        if (old)
          await this.store.db.put(`image/${previous}`, {
            ...old,
            repoTags: old.repoTags.filter((t) => t !== ref),
            repoDigests: (old.repoDigests ?? []).filter((t) => t !== ref),
          });
      }
      await this.store.db.put(`image/${id}`, {
        ...image,
        repoTags: byDigest ? image.repoTags : [...new Set([...image.repoTags, ref])],
        repoDigests: byDigest
          ? [...new Set([...(image.repoDigests ?? []), ref])]
          : (image.repoDigests ?? []),
      });
      await this.store.db.put(`ref/${ref}`, id);
      return { previous };
    });
  }

  /** `docker import`: a tarball of a root filesystem becomes a one-layer image. */
  async importTar(body: Readable, repo: string | null, changes: string[]): Promise<ImageRecord> {
    const config = applyChanges(
      {
        Cmd: null,
        Entrypoint: null,
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        WorkingDir: '',
      },
      changes,
    );
    let tag: string | null = null;
    if (repo) {
      try {
        tag = familiarString(parseReference(repo));
      } catch (err) {
        if (err instanceof ReferenceError) throw new ImageInputError(err.message);
        throw err;
      }
    }
    const holder = `import-${randomBytes(6).toString('hex')}`;
    // Its staging is its own until it releases (the restore check counts no leftover of it).
    this.hold(holder, []);
    const staging = this.layers.freshStaging(holder);
    try {
      const x = await this.extractToStaging(body, staging, true);
      const { chainId } = await this.registerLayer({
        parent: null,
        diffId: x.diffId,
        size: x.size,
        tarSize: x.tarSize,
        staging,
        blob: null,
        hold: holder,
      });
      const created = new Date().toISOString();
      const configJson = JSON.stringify({
        architecture: 'amd64',
        comment: 'Imported from -',
        config,
        created,
        history: [{ created, comment: 'Imported from -' }],
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [x.diffId] },
      });
      const id = `sha256:${createHash('sha256').update(configJson).digest('hex')}`;
      await this.registerImage(id, configJson, [chainId]);
      if (tag !== null) await this.setReference(tag, id);
      return (await this.get<ImageRecord>(`image/${id}`)) as ImageRecord;
    } finally {
      rmSync(staging, { recursive: true, force: true });
      await this.release(holder);
    }
  }

  /** By name[:tag], name@digest, full ID, or unique ID prefix. */
  async resolve(ref: string): Promise<ImageRecord | null> {
    let id: string | null = null;
    try {
      id = (await this.get<string>(`ref/${familiarString(parseReference(ref))}`)) ?? null;
    } catch {
      // not a name: an ID?
    }
    if (id === null && /^sha256:[a-f0-9]{64}$/.test(ref)) id = ref;
    if (id !== null) return this.withLegacy((await this.get<ImageRecord>(`image/${id}`)) ?? null);
    const hex = ref.replace(/^sha256:/, '');
    if (/^[0-9a-f]{4,64}$/.test(hex)) {
      const found = (await this.list()).filter((i) => i.id.slice(7).startsWith(hex));
      if (found.length === 1) return found[0] as ImageRecord;
    }
    return null;
  }

  /** Images stored before layers were content-addressed have one directory and no chain IDs. */
  private withLegacy(i: ImageRecord | null): ImageRecord | null {
    if (i === null) return null;
    return {
      ...i,
      repoDigests: i.repoDigests ?? [],
      layers: i.layers ?? [],
      layerDirs: i.layerDirs ?? [i.layerDir],
    };
  }

  /**
   * `docker load`: Docker's archive (manifest.json, the config by digest, the layer tarballs).
   * The archive is unpacked (safely) into a temporary directory first: manifest.json comes last.
   */
  async load(body: Readable): Promise<string[]> {
    const tmp = this.tmpDir('load');
    const loaded: string[] = [];
    const holder = `load-${randomBytes(6).toString('hex')}`;
    // Its staging is its own until it releases (the restore check counts no leftover of it).
    this.hold(holder, []);
    try {
      await extractLayer(body, tmp, { allowDevices: false, chown: false }).catch((err: unknown) => {
        // tar-stream's words for a stream that is not a tar, in Go's archive/tar's.
        const m = (err as Error).message;
        if (m === 'Unexpected end of data') throw new Error('unexpected EOF');
        if (/^Invalid tar header/.test(m)) throw new Error('archive/tar: invalid tar header');
        throw err;
      });
      const safe = (name: string): string => {
        const n = name.replace(/^\.?\//, '');
        if (n.split('/').includes('..') || n.startsWith('/'))
          throw new Error(`invalid archive: "${name}" is outside of the archive`);
        const p = `${tmp}/${n}`;
        if (!existsSync(p) || lstatSync(p).isSymbolicLink())
          throw new Error(`invalid archive: "${name}" is not a file of the archive`);
        return p;
      };
      if (!existsSync(`${tmp}/manifest.json`))
        throw new Error(
          'invalid archive: no manifest.json (docker load takes an archive made by docker save)',
        );
      let manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[];
      try {
        manifest = JSON.parse(readFileSync(`${tmp}/manifest.json`, 'utf8')) as typeof manifest;
        if (!Array.isArray(manifest)) throw new Error('not a list');
      } catch (err) {
        throw new Error(`invalid archive: manifest.json: ${(err as Error).message}`);
      }
      for (const m of manifest) {
        const configJson = readFileSync(safe(m.Config), 'utf8');
        const id = `sha256:${createHash('sha256').update(configJson).digest('hex')}`;
        const diffIds =
          (JSON.parse(configJson) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
        if (diffIds.length !== m.Layers.length)
          throw new Error("invalid archive: layers from manifest don't match image configuration");
        const tags = (m.RepoTags ?? []).map((t) => familiarString(parseReference(t)));
        if (!(await this.get<ImageRecord>(`image/${id}`))) {
          let parent: string | null = null;
          const chains: string[] = [];
          for (const [i, layer] of m.Layers.entries()) {
            const staging = this.layers.freshStaging(`${holder}-${i}`);
            try {
              const x = await this.extractToStaging(createReadStream(safe(layer)), staging, true);
              if (x.diffId !== diffIds[i])
                throw new Error(
                  `invalid archive: layer ${layer} has diff ID ${x.diffId}, the config says ${String(diffIds[i])}`,
                );
              const r = await this.registerLayer({
                parent,
                diffId: x.diffId,
                size: x.size,
                tarSize: x.tarSize,
                staging,
                blob: null,
                hold: holder,
              });
              parent = r.chainId;
              chains.push(r.chainId);
            } finally {
              rmSync(staging, { recursive: true, force: true });
            }
          }
          await this.registerImage(id, configJson, chains);
        }
        for (const t of tags) await this.setReference(t, id);
        loaded.push(...(tags.length > 0 ? tags : [id]));
      }
      return loaded;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      await this.release(holder);
    }
  }

  /** The uncompressed tar of a layer, and its size (what `docker save` writes). */
  private layerTar(l: LayerRecord): { stream: () => Readable; size: number } {
    if (l.source.kind === 'tar') {
      const path = l.source.path;
      return { stream: () => createReadStream(path), size: l.tarSize };
    }
    const path = l.source.path;
    return { stream: () => decompressed(createReadStream(path)), size: l.tarSize };
  }

  /** `docker save`: Docker's archive of the images, written as a tar stream to `out`. */
  async save(images: { image: ImageRecord; tags: string[] }[], out: Writable): Promise<void> {
    const p = pack();
    const done = pipeline(p, out);
    // A client that goes before the archive is written fails `done` while an entry is still
    // being added: awaited at the end, it must not count as unhandled meanwhile.
    done.catch(() => undefined);
    const add = (name: string, content: string): Promise<void> =>
      new Promise((resolve, reject) =>
        p.entry({ name, mode: 0o644, mtime: new Date(0) }, content, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    const manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const written = new Set<string>();
    try {
      for (const { image, tags } of images) {
        const config = `${image.id.slice(7)}.json`;
        if (!written.has(config)) await add(config, image.configJson);
        written.add(config);
        const layers: string[] = [];
        for (const chainId of image.layers) {
          const l = await this.get<LayerRecord>(`layer/${chainId}`);
          if (!l) throw new Error(`layer ${chainId} of image ${image.id} does not exist`);
          const dir = l.diffId.slice(7);
          layers.push(`${dir}/layer.tar`);
          if (written.has(dir)) continue;
          written.add(dir);
          await new Promise<void>((resolve, reject) =>
            p.entry({ name: dir, type: 'directory', mode: 0o755, mtime: new Date(0) }, (err) =>
              err ? reject(err) : resolve(),
            ),
          );
          await add(`${dir}/VERSION`, '1.0');
          await add(`${dir}/json`, JSON.stringify({ id: dir, created: image.created }));
          const tar = this.layerTar(l);
          await new Promise<void>((resolve, reject) => {
            const entry = p.entry(
              { name: `${dir}/layer.tar`, size: tar.size, mode: 0o644, mtime: new Date(0) },
              (err) => (err ? reject(err) : resolve()),
            );
            pipeline(tar.stream(), entry).catch(reject);
          });
        }
        manifest.push({ Config: config, RepoTags: tags.length > 0 ? tags : null, Layers: layers });
        for (const t of tags) {
          const [repo, tag] = [t.slice(0, t.lastIndexOf(':')), t.slice(t.lastIndexOf(':') + 1)];
          repositories[repo] = {
            ...(repositories[repo] ?? {}),
            [tag]: (layers[layers.length - 1] ?? '').split('/')[0] as string,
          };
        }
      }
      await add('manifest.json', JSON.stringify(manifest));
      await add('repositories', JSON.stringify(repositories));
      p.finalize();
    } catch (err) {
      p.destroy(err as Error);
    }
    await done;
  }

  /** `docker tag`: one more reference to the image. */
  async tag(image: ImageRecord, ref: string): Promise<void> {
    await this.setReference(normalizeRef(ref), image.id);
  }

  /** `docker rmi`: untag `ref`; delete the image (and the layers no other image uses) when no reference is left or by ID. */
  remove(image: ImageRecord, ref: string): Promise<{ Untagged?: string; Deleted?: string }[]> {
    return this.locked(async () => {
      const out: { Untagged?: string; Deleted?: string }[] = [];
      const fresh = this.withLegacy((await this.get<ImageRecord>(`image/${image.id}`)) ?? null);
      if (!fresh) return out;
      const byId = fresh.id.slice(7).startsWith(ref.replace(/^sha256:/, ''));
      const wanted = normalizeRef(ref);
      const tags = byId ? fresh.repoTags : fresh.repoTags.filter((t) => t === wanted);
      const digests = byId
        ? fresh.repoDigests
        : fresh.repoDigests.filter((d) => d === ref || d === wanted);
      for (const t of [...tags, ...digests]) {
        await this.store.db.del(`ref/${t}`);
        out.push({ Untagged: t });
      }
      const left = fresh.repoTags.filter((t) => !tags.includes(t));
      if (left.length > 0 && !byId) {
        await this.store.db.put(`image/${fresh.id}`, {
          ...fresh,
          repoTags: left,
          repoDigests: fresh.repoDigests.filter((d) => !digests.includes(d)),
        });
        return out;
      }
      // Docker drops the digest references with the last tag.
      for (const d of fresh.repoDigests.filter((x) => !digests.includes(x))) {
        await this.store.db.del(`ref/${d}`);
        out.push({ Untagged: d });
      }
      await this.store.db.del(`image/${fresh.id}`);
      if (fresh.layers.length > 0) await this.removeUnused([...fresh.layers].reverse());
      else rmSync(fresh.layerDir.replace(/\/diff$/, ''), { recursive: true, force: true });
      out.push({ Deleted: fresh.id });
      return out;
    });
  }

  async list(): Promise<ImageRecord[]> {
    const out: ImageRecord[] = [];
    for await (const [, v] of this.store.db.iterator({ gte: 'image/', lt: 'image/\uffff' }))
      out.push(this.withLegacy(v as ImageRecord) as ImageRecord);
    return out;
  }

  /**
   * The image store as the restore invariants read it (machines/container/invariants.ts): a
   * pull in progress (a holder) owns its temp dir, its staging and the layers it holds.
   */
  async view(tmpDir = `${this.root}/tmp`): Promise<ImagesView> {
    // Images stored before layers had chain IDs name none: nothing of them to check.
    const images = (await this.list()).map((i) => ({ id: i.id, layers: i.layers }));
    const refs: ImagesView['refs'] = [];
    for await (const [k, v] of this.store.db.iterator({ gte: 'ref/', lt: 'ref/\uffff' }))
      refs.push({ ref: k.slice(4), image: v as string });
    const layers: string[] = [];
    const missingLayerDirs: string[] = [];
    const recorded = new Set<string>();
    for await (const [, v] of this.store.db.iterator({ gte: 'layer/', lt: 'layer/\uffff' })) {
      const l = v as LayerRecord;
      recorded.add(l.chainId.slice(7));
      if (existsSync(l.dir)) layers.push(l.chainId);
      else missingLayerDirs.push(l.chainId);
    }
    const strayLayerDirs = this.layers
      .onDisk()
      .filter((hex) => !recorded.has(hex))
      .map((hex) => `${this.layers.base}/${hex}`);
    const live = [...this.holds.keys()];
    const ofLive = (path: string): boolean => {
      const name = path.slice(path.lastIndexOf('/') + 1);
      return live.some((h) => name === h || name.startsWith(`${h}-`));
    };
    const tempFiles = [
      ...(existsSync(tmpDir)
        ? readdirSync(tmpDir)
            .filter((n) => n.startsWith('pull-'))
            .map((n) => `${tmpDir}/${n}`)
        : []),
      ...this.layers.leftoverStaging(),
    ].filter((p) => !ofLive(p));
    const held = [...new Set([...this.holds.values()].flatMap((h) => [...h]))].sort();
    return { images, refs, layers, missingLayerDirs, strayLayerDirs, tempFiles, held };
  }

  /** Paths under the temp dir and staging left by image work (what a crash must not leave behind). */
  leftovers(): string[] {
    const tmp = `${this.root}/tmp`;
    const inTmp = existsSync(tmp)
      ? readdirSync(tmp)
          .filter((n) => /^(pull|push|load|import)-/.test(n))
          .map((n) => `${tmp}/${n}`)
      : [];
    return [...inTmp, ...this.layers.leftoverStaging()];
  }
}

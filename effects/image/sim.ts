import { createHash } from 'node:crypto';
import { assertNever } from '../errors.ts';
import type { SimFs } from '../fs/sim.ts';
import { SimFailure } from '../sim/failure.ts';
import type { SimStore } from '../store/sim.ts';
import type { ImageRequest, ImageResults } from './requests.ts';
import type { ImagesView } from '../../machines/container/invariants.ts';

interface SimLayer {
  chainId: string;
  diffId: string;
  parent: string | null;
  dir: string;
}
interface SimImage {
  id: string;
  layers: string[];
  repoTags: string[];
  repoDigests: string[];
}

function chainIdOf(parent: string | null, diffId: string): string {
  return parent === null
    ? diffId
    : `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`;
}

/**
 * The image store on the simulated host: the same records as the real one (`image/`, `ref/`,
 * `layer/`, `blob/` in the metadata store) and the same directories (`<root>/layers/<chain>`,
 * staging renamed into place), so a crash leaves what it would leave on a real disk. A blob
 * "unpacks" to diff ID sha256("tar:" + content); content starting with `ESCAPE` is a tar with
 * a `../` entry, refused as the real extractor refuses it.
 */
export class SimImages {
  /** Layers held by the pulls and pushes in progress, by holder (the daemon's memory). */
  private readonly holds = new Map<string, Set<string>>();
  private daemonRuns = true;
  private readonly fs: SimFs;
  private readonly store: SimStore;

  constructor(fs: SimFs, store: SimStore) {
    this.fs = fs;
    this.store = store;
  }

  /** A pull starts: until it releases its holds, its files and layers are its own, not leftovers. */
  begin(holder: string): void {
    if (!this.holds.has(holder)) this.holds.set(holder, new Set());
  }

  /** The daemon process died: its holds went with its memory (a write it left in flight holds nothing). */
  daemonExited(): void {
    this.holds.clear();
    this.daemonRuns = false;
  }

  daemonStarted(): void {
    this.daemonRuns = true;
  }

  run(req: ImageRequest): unknown {
    const fs = this.fs;
    const db = this.store.db();
    switch (req.effect) {
      case 'image.lookup': {
        const layers: ImageResults['image.lookup']['layers'] = [];
        let parent: string | null = null;
        let known = true;
        for (const digest of req.blobs) {
          const b = db.get(`blob/${digest}`) as { diffId: string } | undefined;
          if (!b || !known) {
            known = false;
            layers.push({ diffId: b?.diffId ?? null, chainId: null, present: false });
            continue;
          }
          const chainId = chainIdOf(parent, b.diffId);
          const l = db.get(`layer/${chainId}`) as SimLayer | undefined;
          const present = l !== undefined && fs.exists(l.dir);
          if (present) this.hold(req.hold, chainId);
          else known = false;
          layers.push({ diffId: b.diffId, chainId, present });
          parent = chainId;
        }
        return {
          imageExists: db.has(`image/${req.imageId}`),
          layers,
        } satisfies ImageResults['image.lookup'];
      }
      case 'image.extractLayer': {
        const content = fs.readFile(req.blob, false) ?? '';
        fs.mkdirAll(`${req.staging}/diff`, 0o755);
        if (content.startsWith('ESCAPE'))
          throw new SimFailure('EINVAL', `"../escaped" is outside of "${req.staging}/diff"`);
        fs.writeFile(`${req.staging}/diff/content`, content, 0o644);
        return {
          diffId: `sha256:${createHash('sha256').update(`tar:${content}`).digest('hex')}`,
          size: content.length,
          tarSize: content.length + 1024,
        } satisfies ImageResults['image.extractLayer'];
      }
      case 'image.registerLayer': {
        const chainId = chainIdOf(req.parent, req.diffId);
        this.hold(req.hold, chainId);
        if (req.blob !== null) {
          const prev = db.get(`blob/${req.blob.digest}`) as { repositories: string[] } | undefined;
          db.set(`blob/${req.blob.digest}`, {
            diffId: req.diffId,
            repositories: [...new Set([...(prev?.repositories ?? []), req.blob.repository])],
          });
        }
        const existing = db.get(`layer/${chainId}`) as SimLayer | undefined;
        if (existing && fs.exists(existing.dir)) {
          fs.removeAll(req.staging);
          return { chainId, created: false };
        }
        if (req.parent !== null && !db.has(`layer/${req.parent}`))
          throw new SimFailure('ENOENT', `layer ${req.parent} does not exist`);
        const base = req.staging.slice(0, req.staging.indexOf('/staging/'));
        const dir = `${base}/${chainId.slice(7)}`;
        if (req.blob !== null) fs.rename(req.blob.path, `${req.staging}/blob`);
        fs.rename(req.staging, dir);
        db.set(`layer/${chainId}`, {
          chainId,
          diffId: req.diffId,
          parent: req.parent,
          dir: `${dir}/diff`,
        } satisfies SimLayer);
        return { chainId, created: true };
      }
      case 'image.registerImage': {
        if (db.has(`image/${req.image}`)) return { created: false };
        fs.readFile(req.configPath, false);
        for (const c of req.layers)
          if (!db.has(`layer/${c}`)) throw new SimFailure('ENOENT', `layer ${c} does not exist`);
        db.set(`image/${req.image}`, {
          id: req.image,
          layers: req.layers,
          repoTags: [],
          repoDigests: [],
        } satisfies SimImage);
        return { created: true };
      }
      case 'image.setReference': {
        const image = db.get(`image/${req.image}`) as SimImage | undefined;
        if (!image) throw new SimFailure('ENOENT', `No such image: ${req.image}`);
        const previous = (db.get(`ref/${req.ref}`) as string | undefined) ?? null;
        const byDigest = req.ref.includes('@');
        if (previous !== null && previous !== req.image) {
          const old = db.get(`image/${previous}`) as SimImage | undefined;
          if (old)
            db.set(`image/${previous}`, {
              ...old,
              repoTags: old.repoTags.filter((t) => t !== req.ref),
              repoDigests: old.repoDigests.filter((t) => t !== req.ref),
            });
        }
        db.set(`image/${req.image}`, {
          ...image,
          repoTags: byDigest ? image.repoTags : [...new Set([...image.repoTags, req.ref])],
          repoDigests: byDigest ? [...new Set([...image.repoDigests, req.ref])] : image.repoDigests,
        });
        db.set(`ref/${req.ref}`, req.image);
        return { previous };
      }
      case 'image.recordBlob': {
        const prev = db.get(`blob/${req.digest}`) as { repositories: string[] } | undefined;
        db.set(`blob/${req.digest}`, {
          diffId: req.diffId,
          repositories: [...new Set([...(prev?.repositories ?? []), req.repository])],
        });
        return {};
      }
      case 'image.release': {
        const held = this.holds.get(req.hold) ?? new Set<string>();
        this.holds.delete(req.hold);
        return { removed: this.removeUnused([...held], fs, db) };
      }
      case 'image.collect': {
        this.holds.clear();
        const staging = [
          ...(fs.exists(req.tmpDir)
            ? fs.list(req.tmpDir).filter((p) => /\/pull-[^/]*$/.test(p))
            : []),
          ...(fs.exists(`${req.root}/layers/staging`) ? fs.list(`${req.root}/layers/staging`) : []),
        ];
        for (const s of staging) fs.removeAll(s);
        const all = [...db.keys()].filter((k) => k.startsWith('layer/')).map((k) => k.slice(6));
        const layers = this.removeUnused(all, fs, db);
        return { staging, layers } satisfies ImageResults['image.collect'];
      }
      case 'image.observe':
        return this.view(req.root, req.tmpDir, db) satisfies ImageResults['image.observe'];
      default:
        return assertNever(req, 'image request');
    }
  }

  /**
   * What the image invariants read: images, references, layers and their directories,
   * leftovers (of the daemon's database, or of the first on the host for an observer).
   */
  view(root: string, tmpDir: string, db: Map<string, unknown> = this.store.first()): ImagesView {
    const fs = this.fs;
    const images: ImagesView['images'] = [];
    const refs: ImagesView['refs'] = [];
    const layers: string[] = [];
    const missingLayerDirs: string[] = [];
    const recorded = new Set<string>();
    for (const [k, v] of db) {
      if (k.startsWith('image/'))
        images.push({ id: (v as SimImage).id, layers: (v as SimImage).layers });
      if (k.startsWith('ref/')) refs.push({ ref: k.slice(4), image: v as string });
      if (k.startsWith('layer/')) {
        const l = v as SimLayer;
        recorded.add(l.chainId.slice(7));
        if (fs.exists(l.dir)) layers.push(l.chainId);
        else missingLayerDirs.push(l.chainId);
      }
    }
    const base = `${root}/layers`;
    const strayLayerDirs = fs.exists(base)
      ? fs
          .list(base)
          .filter((p) => p !== `${base}/staging` && !recorded.has(p.slice(base.length + 1)))
      : [];
    const live = [...this.holds.keys()];
    const tempFiles = [
      ...(fs.exists(tmpDir) ? fs.list(tmpDir).filter((p) => /\/pull-[^/]*$/.test(p)) : []),
      ...(fs.exists(`${base}/staging`) ? fs.list(`${base}/staging`) : []),
    ].filter((p) => !ofLiveHolder(p, live));
    const held = [...new Set([...this.holds.values()].flatMap((h) => [...h]))].sort();
    return { images, refs, layers, missingLayerDirs, strayLayerDirs, tempFiles, held };
  }

  private hold(holder: string, chainId: string): void {
    if (!this.daemonRuns) return;
    const set = this.holds.get(holder) ?? new Set<string>();
    set.add(chainId);
    this.holds.set(holder, set);
  }

  private removeUnused(candidates: string[], fs: SimFs, db: Map<string, unknown>): string[] {
    const used = new Set<string>();
    for (const [k, v] of db)
      if (k.startsWith('image/')) for (const c of (v as SimImage).layers) used.add(c);
    for (const h of this.holds.values()) for (const c of h) used.add(c);
    const removed: string[] = [];
    const queue = [...candidates];
    while (queue.length > 0) {
      const c = queue.pop() as string;
      if (used.has(c) || removed.includes(c)) continue;
      const l = db.get(`layer/${c}`) as SimLayer | undefined;
      if (!l) continue;
      const child = [...db.entries()].some(
        ([k, v]) =>
          k.startsWith('layer/') &&
          (v as SimLayer).parent === c &&
          !removed.includes((v as SimLayer).chainId),
      );
      if (child) continue;
      db.delete(`layer/${c}`);
      fs.removeAll(l.dir.replace(/\/diff$/, ''));
      removed.push(c);
      if (l.parent !== null) queue.push(l.parent);
    }
    return removed;
  }
}

/** A pull's temp dir (`<tmp>/<pull>`) or staging (`<staging>/<pull>-<n>`) while the pull runs. */
function ofLiveHolder(path: string, live: readonly string[]): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return live.some((h) => name === h || name.startsWith(`${h}-`));
}

import { assertNever } from '../errors.ts';
import type { SimFs } from '../fs/sim.ts';
import { SimFailure } from '../sim/failure.ts';
import type { SimStore } from '../store/sim.ts';
import type { ArchiveRequest, ArchiveResults } from './requests.ts';

/** What an upload holds in the simulator: paths (relative to the destination) and contents. */
export type SimUpload = { name: string; content: string }[];

/** FNV-1a, hex: a stable digest for simulated layer and image ids. */
function digest(text: string): string {
  let out = '';
  let h = 0x811c9dc5;
  for (let round = 0; out.length < 64; round++) {
    for (const ch of `${round}:${text}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    out += h.toString(16).padStart(8, '0');
  }
  return out.slice(0, 64);
}

/**
 * The archive effects on the simulated host, with the real ones' outcomes: an unpack needs an
 * existing directory; a layer tarball is a file; a committed image appears whole or not at all
 * (its layer directory, then its record and tag), as the real store's staging and rename make it.
 */
export class SimArchive {
  private readonly fs: SimFs;
  private readonly store: SimStore;
  readonly uploads = new Map<string, SimUpload>();

  constructor(fs: SimFs, store: SimStore) {
    this.fs = fs;
    this.store = store;
  }

  run(call: ArchiveRequest): unknown {
    switch (call.effect) {
      case 'archive.extract': {
        const dir = `${call.layout.layers[0] ?? ''}${call.path}`.replace(/\/+$/, '') || '/';
        if (!this.fs.exists(dir)) throw new SimFailure('ENOENT', `no such directory: ${call.path}`);
        const entries = this.uploads.get(call.upload) ?? [];
        this.uploads.delete(call.upload);
        for (const e of entries) this.fs.writeFile(`${dir}/${e.name}`, e.content, 0o644);
        return { entries: entries.length } satisfies ArchiveResults['archive.extract'];
      }
      case 'archive.diffTar': {
        const content = `layer of ${call.container}`;
        this.fs.writeFile(call.dest, content, 0o600);
        return {
          diffId: `sha256:${digest(content)}`,
          size: content.length,
        } satisfies ArchiveResults['archive.diffTar'];
      }
      case 'archive.commitImage': {
        if (this.fs.readFile(call.layerTar, true) === null)
          throw new SimFailure('ENOENT', `open ${call.layerTar}: no such file or directory`);
        const id = `sha256:${digest(`${call.parent} ${call.diffId} ${JSON.stringify(call.config)}`)}`;
        const layerDir = `/sim/images/${id.slice(7, 31)}`;
        this.fs.mkdirAll(layerDir, 0o755);
        this.store.db().set(`image/${id}`, { id, layerDir, repoTags: call.tag ? [call.tag] : [] });
        if (call.tag !== null) this.store.db().set(`ref/${call.tag}`, id);
        this.fs.removeAll(call.layerTar);
        return { id } satisfies ArchiveResults['archive.commitImage'];
      }
      default:
        return assertNever(call, 'archive request');
    }
  }

  /** The store's images and whether their layers are there (the restore invariants' view). */
  images(): { id: string; layersPresent: boolean }[] {
    const out: { id: string; layersPresent: boolean }[] = [];
    for (const [k, v] of this.store.first())
      if (k.startsWith('image/'))
        out.push({
          id: k.slice('image/'.length),
          layersPresent: this.fs.exists((v as { layerDir: string }).layerDir),
        });
    return out;
  }
}

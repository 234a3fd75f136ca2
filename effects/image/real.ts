import { createReadStream, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { assertNever } from '../errors.ts';
import { EffectFailure, failureFrom, type Handler } from '../handler.ts';
import type { ImageRequest, ImageResults } from './requests.ts';

/** What the handler asks of the daemon's image store (src/daemon/images.ts). */
export interface ImageStoreOps {
  lookup(blobs: string[], holder: string): Promise<ImageResults['image.lookup']['layers']>;
  exists(id: string): Promise<boolean>;
  extractToStaging(
    source: Readable,
    staging: string,
    keepTar: boolean,
  ): Promise<{ diffId: string; size: number; tarSize: number }>;
  registerLayer(args: {
    parent: string | null;
    diffId: string;
    size: number;
    tarSize: number;
    staging: string;
    blob: { path: string; digest: string; mediaType: string; repository: string } | null;
    hold: string | null;
  }): Promise<{ chainId: string; created: boolean }>;
  registerImage(id: string, configJson: string, layers: string[]): Promise<{ created: boolean }>;
  setReference(ref: string, id: string): Promise<{ previous: string | null }>;
  recordBlob(digest: string, diffId: string, repository: string | null): Promise<void>;
  release(holder: string): Promise<string[]>;
  collect(tmpDir: string): Promise<{ staging: string[]; layers: string[] }>;
  view(tmpDir: string): Promise<ImageResults['image.observe']>;
}

/** The image family on the real host: the daemon's image and layer store. */
export class RealImages implements Handler<ImageRequest> {
  private readonly store: ImageStoreOps;
  constructor(store: ImageStoreOps) {
    this.store = store;
  }

  async run(req: ImageRequest): Promise<unknown> {
    switch (req.effect) {
      case 'image.lookup':
        return {
          imageExists: await this.store.exists(req.imageId),
          layers: await this.store.lookup(req.blobs, req.hold),
        } satisfies ImageResults['image.lookup'];
      case 'image.extractLayer': {
        try {
          const x = await this.store.extractToStaging(
            createReadStream(req.blob),
            req.staging,
            false,
          );
          return { diffId: x.diffId, size: x.size, tarSize: x.tarSize };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code) throw failureFrom(err, 'extract', req.blob);
          throw new EffectFailure('EINVAL', (err as Error).message);
        }
      }
      case 'image.registerLayer':
        try {
          return await this.store.registerLayer({
            parent: req.parent,
            diffId: req.diffId,
            size: req.size,
            tarSize: req.tarSize,
            staging: req.staging,
            blob: req.blob,
            hold: req.hold,
          });
        } catch (err) {
          throw failureFrom(err, 'register layer', req.staging);
        }
      case 'image.registerImage': {
        let config: string;
        try {
          config = readFileSync(req.configPath, 'utf8');
        } catch (err) {
          throw failureFrom(err, 'open', req.configPath);
        }
        return this.store.registerImage(req.image, config, req.layers);
      }
      case 'image.setReference':
        return this.store.setReference(req.ref, req.image);
      case 'image.recordBlob':
        await this.store.recordBlob(req.digest, req.diffId, req.repository);
        return {};
      case 'image.release':
        return { removed: await this.store.release(req.hold) };
      case 'image.collect':
        return this.store.collect(req.tmpDir);
      case 'image.observe':
        return this.store.view(req.tmpDir);
      default:
        return assertNever(req, 'image request');
    }
  }
}

import { createHash } from 'node:crypto';
import { assertNever } from '../errors.ts';
import type { SimFs } from '../fs/sim.ts';
import { SimFailure } from '../sim/failure.ts';
import type { ArchiveRequest, ArchiveResults } from './requests.ts';

/** What an upload holds in the simulator: paths (relative to the destination) and contents. */
export type SimUpload = { name: string; content: string }[];

/**
 * The archive effects on the simulated host, with the real ones' outcomes: an unpack needs an
 * existing directory; a layer tarball is a file (its content names the container, which the
 * simulated image store's unpack hashes into the layer's diff ID); a config is a file whose
 * bytes' sha256 is the image's ID.
 */
export class SimArchive {
  private readonly fs: SimFs;
  readonly uploads = new Map<string, SimUpload>();

  constructor(fs: SimFs) {
    this.fs = fs;
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
        // The tarball's digest, as the simulated image store's unpack of it computes it.
        return {
          diffId: `sha256:${createHash('sha256').update(`tar:${content}`).digest('hex')}`,
          size: content.length,
        } satisfies ArchiveResults['archive.diffTar'];
      }
      case 'archive.writeConfig': {
        const json = JSON.stringify(call.config);
        this.fs.writeFile(call.path, json, 0o600);
        return {
          id: `sha256:${createHash('sha256').update(json).digest('hex')}`,
        } satisfies ArchiveResults['archive.writeConfig'];
      }
      default:
        return assertNever(call, 'archive request');
    }
  }
}

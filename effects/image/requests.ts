import type { ImagesView } from '../../machines/container/invariants.ts';

/**
 * The image and layer store, as effects: what a pull or push changes on disk and in the
 * metadata store. Layers are registered by chain ID from a staging directory (a rename, so a
 * layer is whole or absent), an image only once all its layers are, a reference only once its
 * image is. `hold` names the pull or push: the layers it found or registered stay until it
 * releases them, whatever else is removed meanwhile.
 */
export type ImageRequest =
  /** Which of a manifest's layers (blob digests, bottom-up) are here already; and whether the image is. */
  | { effect: 'image.lookup'; imageId: string; blobs: string[]; hold: string }
  /** Unpacks a downloaded blob (gzip, zstd or plain tar) into `staging`, safely. */
  | { effect: 'image.extractLayer'; blob: string; staging: string }
  | {
      effect: 'image.registerLayer';
      parent: string | null;
      diffId: string;
      size: number;
      tarSize: number;
      staging: string;
      /**
       * The pulled blob to keep as the layer's source; null: the staging's own `layer.tar` is
       * (a committed layer, as an imported one).
       */
      blob: { path: string; digest: string; mediaType: string; repository: string } | null;
      hold: string;
    }
  /** Makes the image visible (its config is read from `configPath`); every layer must be registered. */
  | { effect: 'image.registerImage'; image: string; configPath: string; layers: string[] }
  /** Points a tag or digest reference (familiar form) at an image. */
  | { effect: 'image.setReference'; ref: string; image: string }
  /** Remembers which diff ID a registry blob unpacks to, and the repository it is in (push). */
  | { effect: 'image.recordBlob'; digest: string; diffId: string; repository: string }
  /** Drops a pull's or push's holds; layers no image uses are removed. */
  | { effect: 'image.release'; hold: string }
  /**
   * After a restart: a dead pull's temp dirs (`<tmp>/pull-*`: a DOCKER_TMPDIR is not emptied at
   * start-up), its staging, and layers no image uses, are removed.
   */
  | { effect: 'image.collect'; root: string; tmpDir: string }
  /**
   * The image store as the restore invariants read it: images, references, layers and their
   * directories, and what pulls left in `tmpDir` and staging (a pull in progress is no leftover).
   */
  | { effect: 'image.observe'; root: string; tmpDir: string };

export interface ImageResults {
  'image.lookup': {
    imageExists: boolean;
    layers: { diffId: string | null; chainId: string | null; present: boolean }[];
  };
  'image.extractLayer': { diffId: string; size: number; tarSize: number };
  'image.registerLayer': { chainId: string; created: boolean };
  'image.registerImage': { created: boolean };
  'image.setReference': { previous: string | null };
  'image.recordBlob': Record<string, never>;
  'image.release': { removed: string[] };
  'image.collect': { staging: string[]; layers: string[] };
  'image.observe': ImagesView;
}

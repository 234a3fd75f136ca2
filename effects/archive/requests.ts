/**
 * Writes into containers and from them into the image store: `docker cp` into a container,
 * and `docker commit`'s two steps (the container's changes as a layer tarball, then the image).
 * Reads (`docker cp` out, export, diff) render API answers and need no effect.
 */

/** Where a container's files are on the host, as the archive effects reach them. */
export interface FsLayout {
  /** Layers, top first: a running container's root (or a vfs copy), or a stopped overlay's upper over its lower. */
  layers: string[];
  /** overlay2's work dir, when `layers` is a stopped container's upper and lower (mounted for writing). */
  work?: string;
  /** The container's volumes and bind mounts (a path under a destination is its source's). */
  mounts: { destination: string; source: string; rw: boolean }[];
}

export type ArchiveRequest =
  /** Unpacks an uploaded tar stream (`upload`: the daemon's handle of the request body) into a directory of the container. */
  | {
      effect: 'archive.extract';
      container: string;
      layout: FsLayout;
      path: string;
      upload: string;
      noOverwriteDirNonDir: boolean;
      /** `docker cp -a`: every entry owned by the container's user; else as the tar says. */
      owner: { uid: number; gid: number } | null;
    }
  /** The container's changes (overlay2's upper dir with whiteouts, or vfs's naive diff) as a layer tarball at `dest`. */
  | {
      effect: 'archive.diffTar';
      container: string;
      upper: string;
      lower: string;
      overlay: boolean;
      dest: string;
    }
  /**
   * A new image from its parent and a layer tarball (`docker commit`): the layer unpacked over
   * a copy of the parent's files, the image config, then the record and its tag, last.
   */
  | {
      effect: 'archive.commitImage';
      parent: string;
      layerTar: string;
      diffId: string;
      config: unknown;
      tag: string | null;
      comment: string;
      author: string;
      container: string;
    };

export interface ArchiveResults {
  'archive.extract': { entries: number };
  'archive.diffTar': { diffId: string; size: number };
  'archive.commitImage': { id: string };
}

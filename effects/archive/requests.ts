/**
 * Writes into containers and out of them: `docker cp` into a container, and what `docker
 * commit` makes before the image family registers it (the container's changes as a layer
 * tarball, the new image's config). Reads (`docker cp` out, export, diff) render API answers
 * and need no effect.
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
  /**
   * The container's changes (overlay2's upper dir with whiteouts, or vfs's naive diff against
   * its image's layers, `lower`, topmost first) as a layer tarball at `dest`.
   */
  | {
      effect: 'archive.diffTar';
      container: string;
      upper: string;
      lower: string[];
      overlay: boolean;
      dest: string;
    }
  /** An image's config JSON (`docker commit`'s new image) written to `path`; its ID is the sha256 of those bytes. */
  | { effect: 'archive.writeConfig'; path: string; config: unknown };

export interface ArchiveResults {
  'archive.extract': { entries: number };
  'archive.diffTar': { diffId: string; size: number };
  'archive.writeConfig': { id: string };
}

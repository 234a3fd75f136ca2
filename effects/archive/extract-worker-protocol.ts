import { EffectFailure } from '../handler.ts';
import type { FsLayout } from './requests.ts';

/**
 * The messages between the archive effect's real handler and its extraction thread
 * (extract-worker.ts). Each extraction is a job with a number; one thread runs them all.
 */

/** What the handler sends: a job, the body's bytes in order, and how the body ended. */
export type ToExtractWorker =
  | {
      kind: 'start';
      job: number;
      /** The ring the body's bytes come through (body-ring.ts), shared. */
      ring: SharedArrayBuffer;
      layout: FsLayout;
      /** The directory to unpack into: a clean container path, already resolved and checked. */
      dest: string;
      noOverwriteDirNonDir: boolean;
      owner: { uid: number; gid: number } | null;
    }
  /** The next bytes of the body: a region of the ring. */
  | { kind: 'bytes'; job: number; at: number; length: number }
  | { kind: 'end'; job: number }
  /** The body failed (a client gone): the extraction fails with this error. */
  | { kind: 'abort'; job: number; error: WorkerError };

/** A failure as it crosses threads: an EffectFailure (`effect`), or a system error's code. */
export interface WorkerError {
  effect: boolean;
  code: string;
  message: string;
}

/**
 * What the thread answers: how many bytes of the ring it is done with (the handler copies more
 * in), then the job's outcome.
 */
export type FromExtractWorker =
  | { kind: 'taken'; job: number; bytes: number }
  | { kind: 'done'; job: number; entries: number }
  | { kind: 'failed'; job: number; error: WorkerError };

export function toWorkerError(err: unknown): WorkerError {
  const code = (err as { code?: unknown }).code;
  return {
    effect: err instanceof EffectFailure,
    code: typeof code === 'string' ? code : 'EIO',
    message: (err as Error).message ?? String(err),
  };
}

/** The failure a WorkerError stands for, on the handler's side. */
export function fromWorkerError(error: WorkerError): Error {
  if (error.effect) return new EffectFailure(error.code as EffectFailure['code'], error.message);
  return Object.assign(new Error(error.message), { code: error.code });
}

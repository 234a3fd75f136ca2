import type { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { failureFrom } from '../handler.ts';
import type { FsLayout } from './requests.ts';
import { BodyRing } from './body-ring.ts';
import type { ExtractOptions } from './extract.ts';
import {
  fromWorkerError,
  type FromExtractWorker,
  type ToExtractWorker,
  toWorkerError,
} from './extract-worker-protocol.ts';

interface Job {
  resolve: (entries: number) => void;
  reject: (err: unknown) => void;
  /** Bytes of the ring the thread is done with: the body resumes if it waited for room. */
  taken: (bytes: number) => void;
}

/**
 * `docker cp` into a container, unpacked on a thread of its own (extract-worker.ts): per copy,
 * the daemon's event loop spent as much CPU on the tar and the writes' hand-offs to libuv's
 * pool as on reading the body; now it only reads the body and copies it into a ring shared
 * with the thread (body-ring.ts), while the thread parses and writes with synchronous calls,
 * alongside. dockerd likewise unpacks in a child (docker-untar). The thread starts at the first
 * copy (no cost at the daemon's start), serves every later one (and several at once), and never
 * keeps the process alive (unref: a shutdown does not wait for it).
 */
export class ExtractThread {
  private worker: Worker | null = null;
  private readonly jobs = new Map<number, Job>();
  private seq = 0;

  /** Unpacks `input` into `dest` (resolved and checked) of the container; the entries' count. */
  async extract(
    layout: FsLayout,
    dest: string,
    input: Readable,
    opts: ExtractOptions,
  ): Promise<number> {
    const worker = await this.started();
    const job = ++this.seq;
    const send = (msg: ToExtractWorker): void => worker.postMessage(msg);
    const ring = new BodyRing((at, length) => send({ kind: 'bytes', job, at, length }));
    const onData = (chunk: Buffer): void => {
      if (!ring.add(chunk)) input.pause();
    };
    /** The body ended; the thread is told once every byte is in the ring. */
    let ended = false;
    let endTold = false;
    const tellEnd = (): void => {
      if (!ended || endTold || !ring.drained) return;
      endTold = true;
      ring.flush();
      send({ kind: 'end', job });
    };
    const onEnd = (): void => {
      ended = true;
      tellEnd();
    };
    const abort = (err: unknown): void => send({ kind: 'abort', job, error: toWorkerError(err) });
    const onError = (err: Error): void => {
      ended = true;
      endTold = true;
      abort(err);
    };
    // A body closed without its end nor an error (a client gone) fails the extraction too.
    const onClose = (): void => {
      if (!ended) abort(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    };
    const done = new Promise<number>((resolve, reject) => {
      this.jobs.set(job, {
        resolve,
        reject,
        taken: (bytes) => {
          const waited = !ring.drained;
          if (!ring.release(bytes) || !waited) return;
          ring.flush();
          tellEnd();
          if (!ended) input.resume();
        },
      });
    });
    send({
      kind: 'start',
      job,
      ring: ring.shared,
      layout,
      dest,
      noOverwriteDirNonDir: opts.noOverwriteDirNonDir,
      owner: opts.owner,
    });
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
    input.on('close', onClose);
    try {
      return await done;
    } finally {
      this.jobs.delete(job);
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      input.off('close', onClose);
    }
  }

  /** The thread, started at the first copy (a copy before it was ready waits for it). */
  private async started(): Promise<Worker> {
    if (this.worker) return this.worker;
    const { Worker } = await import('node:worker_threads');
    if (this.worker) return this.worker;
    const worker = newWorker(Worker);
    worker.on('message', (msg: FromExtractWorker) => {
      const job = this.jobs.get(msg.job);
      if (!job) return;
      if (msg.kind === 'taken') job.taken(msg.bytes);
      else if (msg.kind === 'done') job.resolve(msg.entries);
      else job.reject(fromWorkerError(msg.error));
    });
    // A thread that died fails what it was doing; the next copy starts another.
    const gone = (err: unknown): void => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const job of this.jobs.values())
        job.reject(failureFrom(err, 'extract', 'the extraction thread'));
    };
    worker.on('error', gone);
    worker.on('exit', (code) =>
      gone(Object.assign(new Error(`exited with code ${code}`), { code: 'EIO' })),
    );
    // After the listeners: adding one to the worker's port refs it again.
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

/**
 * The thread: from the bundle (dist/statedock.cjs), the thread's own bundle beside it
 * (scripts/build.mjs); from source (tsx), the TypeScript, which the thread loads through tsx's
 * loader (a thread does not inherit the loader its parent registered).
 */
function newWorker(Worker: typeof import('node:worker_threads').Worker): Worker {
  if (import.meta.url.endsWith('.cjs'))
    return new Worker(new URL('./extract-worker.cjs', import.meta.url));
  const source = JSON.stringify(new URL('./extract-worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => tsx.tsImport(${source}, ${source}))`, {
    eval: true,
  });
}

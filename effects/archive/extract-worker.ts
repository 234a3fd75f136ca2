// The thread `docker cp` into a container unpacks in (the archive effect's real handler starts
// it at the first copy: effects/archive/extract-thread.ts). The tar's parsing and the file
// writes run here, with synchronous calls, so the daemon's event loop only reads the request
// body and hands its bytes over. The unpacking is the Unpacker the tests pin: the same path
// resolution inside the container's root, the same checks and the same errors.
import { parentPort } from 'node:worker_threads';
import { ContainerFs } from './container-fs.ts';
import { Unpacker } from './extract.ts';
import {
  type FromExtractWorker,
  type ToExtractWorker,
  toWorkerError,
} from './extract-worker-protocol.ts';

const port = parentPort;
if (!port) throw new Error('extract-worker runs as a worker thread');

function post(msg: FromExtractWorker): void {
  port?.postMessage(msg);
}

/** The jobs being unpacked; a failed or finished one is gone (its later messages are dropped). */
const jobs = new Map<number, { unpacker: Unpacker; ring: Buffer }>();

/** Runs a step of a job; a failure ends the job (its file closed by the Unpacker) and is told. */
function step(job: number, f: (unpacker: Unpacker, ring: Buffer) => void): void {
  const running = jobs.get(job);
  if (!running) return;
  try {
    f(running.unpacker, running.ring);
  } catch (err) {
    jobs.delete(job);
    post({ kind: 'failed', job, error: toWorkerError(err) });
  }
}

port.on('message', (msg: ToExtractWorker) => {
  switch (msg.kind) {
    case 'start':
      try {
        jobs.set(msg.job, {
          unpacker: new Unpacker(new ContainerFs(msg.layout), msg.dest, {
            noOverwriteDirNonDir: msg.noOverwriteDirNonDir,
            owner: msg.owner,
          }),
          ring: Buffer.from(msg.ring),
        });
      } catch (err) {
        post({ kind: 'failed', job: msg.job, error: toWorkerError(err) });
      }
      return;
    case 'bytes':
      step(msg.job, (u, ring) => u.write(ring.subarray(msg.at, msg.at + msg.length)));
      // The Unpacker keeps no view of the bytes once write returns: the ring may be refilled.
      post({ kind: 'taken', job: msg.job, bytes: msg.length });
      return;
    case 'end':
      step(msg.job, (u) => {
        const entries = u.end();
        jobs.delete(msg.job);
        post({ kind: 'done', job: msg.job, entries });
      });
      return;
    case 'abort':
      step(msg.job, (u) => {
        u.abort();
        throw Object.assign(new Error(msg.error.message), { code: msg.error.code });
      });
      return;
  }
});

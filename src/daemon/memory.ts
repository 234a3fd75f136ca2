import type { Session } from 'node:inspector';

/**
 * A memory-reducing garbage collection (V8's low-memory notification: full collections that
 * compact the heap and give its free pages back), run when the API has gone quiet after a
 * burst of requests. V8 collects only under allocation pressure, so what a burst left
 * (request buffers, parsed bodies, the sockets' read buffers) would otherwise keep the
 * daemon's memory up until the next burst. Asked through an in-process inspector session
 * (no port is opened); at most once per quiet period, tens of milliseconds on the daemon's heap.
 */
export function reclaimMemory(): void {
  let session: Session;
  try {
    // Loaded here, not at start: the daemon's first answer needs no inspector.
    session = new (process.getBuiltinModule('node:inspector').Session)();
    session.connect();
  } catch {
    // no inspector in this Node build: V8's own heuristics will do
    return;
  }
  session.post('HeapProfiler.collectGarbage', () => setImmediate(() => session.disconnect()));
}

import { currentRequest } from '../api/request-scope.ts';
import type { Logger } from './logger.ts';

/**
 * The last line of defence, not the first: every socket and stream has its own error path
 * (src/api/server.ts). An exception that still escapes is never swallowed silently:
 *
 * - thrown while serving a request (its async context, or an event of its socket): logged
 *   at error level with the request that caused it, and that request's connection cut; the
 *   daemon serves on, as Go's net/http recovers a handler's panic and closes its connection;
 * - thrown by the daemon's own work: logged with its stack, and the daemon exits (the flight
 *   recorder flushed first), as an unrecovered panic ends dockerd; restore takes over at the
 *   next start.
 */
export function installSafetyNet(log: Logger, fatal: (err: unknown) => void): () => void {
  const onError = (err: unknown, origin: string): void => {
    const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
    const request = currentRequest();
    if (request) {
      log.error(`uncaught exception serving ${request.label}: its connection is cut`, {
        origin,
        error: stack,
      });
      request.socket.destroy();
      return;
    }
    log.error('uncaught exception in the daemon, outside any request: exiting', {
      origin,
      error: stack,
    });
    fatal(err);
  };
  process.on('uncaughtException', onError);
  return () => process.off('uncaughtException', onError);
}

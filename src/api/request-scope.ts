import { AsyncLocalStorage, executionAsyncResource } from 'node:async_hooks';
import type { Duplex } from 'node:stream';

/**
 * Which client request the code running now serves, so that an exception nobody caught can be
 * blamed on it (`POST /containers/3f2a…/attach`) and cut with its connection, as Go's
 * net/http recovers a handler's panic and closes that connection while the daemon serves on.
 *
 * Two ways to know: the request's async context (timers, promises and request-body events a
 * handler set going), and the socket handle whose event is being delivered (a hijacked
 * socket's data, end and error: their callbacks run in the handle's context, not the handler's).
 */
export interface RequestScope {
  /** `METHOD /path` as the client sent it. */
  label: string;
  socket: Duplex;
}

const storage = new AsyncLocalStorage<RequestScope>();
const byHandle = new WeakMap<object, RequestScope>();

/** Runs a request's handler in its scope, and remembers the scope for its socket's handle. */
export function runInRequestScope<T>(scope: RequestScope, fn: () => T): T {
  noteSocket(scope);
  return storage.run(scope, fn);
}

/** The socket's handle (and a TLS socket's underlying one) now stands for this request. */
export function noteSocket(scope: RequestScope): void {
  const s = scope.socket as Duplex & { _handle?: object | null; _parent?: { _handle?: object } };
  byHandle.set(scope.socket, scope);
  if (s._handle) byHandle.set(s._handle, scope);
  if (s._parent?._handle) byHandle.set(s._parent._handle, scope);
}

/** The request the running code serves, or null (the daemon's own work). */
export function currentRequest(): RequestScope | null {
  const inContext = storage.getStore();
  if (inContext) return inContext;
  const resource = executionAsyncResource() as object | undefined;
  return resource ? (byHandle.get(resource) ?? null) : null;
}

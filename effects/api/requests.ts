/**
 * The Engine API endpoint: unix sockets (and TCP listeners) that listen once the pidfile is
 * claimed, and are served once the daemon has restored (dockerd's listeners, then its API).
 */
export type ApiRequest =
  /** Listens on the sockets; each request waits until `api.serve`. */
  | { effect: 'api.listen'; sockets: string[] }
  /** Answers the requests: those that waited since `api.listen`, and every one after. */
  | { effect: 'api.serve' }
  /** Stops listening, cuts the connections still open after a short grace, removes the sockets. */
  | { effect: 'api.close'; sockets: string[] };

/**
 * What closing the API did to the connections still open: nothing waits on a client. (A type,
 * not an interface: it is spread into a trace mark, a plain JSON record.)
 */
export type ApiConnectionsCut = {
  /** Hijacked connections (attach, exec) cut at once. */
  hijacked: number;
  /** Long-lived streams (logs -f, events, wait, the inspection feed) cut at once. */
  streams: number;
  /** Requests still being answered, given a short grace period. */
  lingering: number;
  /** Of those, the ones destroyed when the grace period ran out. */
  destroyed: number;
};

export interface ApiResults {
  'api.listen': Record<string, never>;
  'api.serve': Record<string, never>;
  /**
   * `connections`: what closing cut (hijacked attach/exec, long-lived streams at once; other
   * requests after a short grace). Traces recorded before it was reported lack it.
   */
  'api.close': { removed: string[]; connections?: ApiConnectionsCut };
}

/** The Engine API endpoint: unix sockets (and TCP listeners) served once start-up is done. */
export type ApiRequest =
  | { effect: 'api.listen'; sockets: string[] }
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
  /**
   * `connections`: what closing cut (hijacked attach/exec, long-lived streams at once; other
   * requests after a short grace). Traces recorded before it was reported lack it.
   */
  'api.close': { removed: string[]; connections?: ApiConnectionsCut };
}

import type { HostView } from '../../machines/container/invariants.ts';

/** The Engine API endpoint: unix sockets served once start-up is done. */
export type ApiRequest =
  | { effect: 'api.listen'; sockets: string[] }
  | { effect: 'api.close'; sockets: string[] }
  /** Stops every container the daemon runs (normal shutdown), each with its stop timeout. */
  | { effect: 'api.stopContainer'; container: string; signal: string; timeoutS: number }
  /** Waits until every container actor has settled (no transition in flight). */
  | { effect: 'api.settleContainers' }
  /** Once the containers have settled: the store's containers, containerd's tasks and containers, the rootfs mounts. */
  | { effect: 'api.observeHost' };

/** What closing the API did to the connections still open: nothing waits on a client. */
export interface ApiConnectionsCut {
  /** Hijacked connections (attach, exec) cut at once. */
  hijacked: number;
  /** Long-lived streams (logs -f, events, wait, the inspection feed) cut at once. */
  streams: number;
  /** Requests still being answered, given a short grace period. */
  lingering: number;
  /** Of those, the ones destroyed when the grace period ran out. */
  destroyed: number;
}

export interface ApiResults {
  'api.listen': Record<string, never>;
  /**
   * `connections`: what closing cut (hijacked attach/exec, long-lived streams at once; other
   * requests after a short grace). Traces recorded before it was reported lack it.
   */
  'api.close': { removed: string[]; connections?: ApiConnectionsCut };
  'api.stopContainer': { exitCode: number };
  'api.settleContainers': { settled: number };
  'api.observeHost': HostView;
}

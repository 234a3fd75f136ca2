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

export interface ApiResults {
  'api.listen': Record<string, never>;
  'api.close': { removed: string[] };
  'api.stopContainer': { exitCode: number };
  'api.settleContainers': { settled: number };
  'api.observeHost': HostView;
}

/** The Engine API endpoint: unix sockets (and TCP listeners) served once start-up is done. */
export type ApiRequest =
  | { effect: 'api.listen'; sockets: string[] }
  /** Stops listening, cuts the connections still open after a short grace, removes the sockets. */
  | { effect: 'api.close'; sockets: string[] };

export interface ApiResults {
  'api.listen': Record<string, never>;
  'api.close': { removed: string[] };
}

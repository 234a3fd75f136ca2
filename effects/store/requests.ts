/** The metadata store (a level database in the real daemon). Values are JSON. */
export type StoreRequest =
  | { effect: 'store.open'; path: string }
  | { effect: 'store.close' }
  | { effect: 'store.list'; prefix: string }
  | { effect: 'store.put'; key: string; value: unknown }
  | { effect: 'store.del'; key: string }
  /** Deletes every key of the list (one batch). */
  | { effect: 'store.delAll'; keys: string[] };

export interface StoreResults {
  'store.open': { created: boolean };
  'store.close': Record<string, never>;
  'store.list': { entries: { key: string; value: unknown }[] };
  'store.put': Record<string, never>;
  'store.del': Record<string, never>;
  'store.delAll': Record<string, never>;
}

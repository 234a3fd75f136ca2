import type { ContainerEvent } from './types.ts';

/** The API's requests to a container actor (`api.*` events). */
export type ApiRequestType = Extract<ContainerEvent['type'], `api.${string}`>;

/**
 * Whether each API request to a container may ask containerd (create, start, signal, pause or
 * delete a task). The container host holds those until containerd's client is connected, so a
 * daemon may answer everything else while containerd boots; the start-up constraints check
 * that none is answered before (`repliesAfter(containerdClient)`). A new request must be placed
 * here to compile.
 */
const asksContainerd = {
  'api.start': true,
  'api.stop': true,
  'api.restart': true,
  'api.kill': true,
  'api.pause': true,
  'api.unpause': true,
  'api.remove': true,
  // A running container's new resources go to its task (containerd's Update).
  'api.update': true,
  // A rename changes the record and the name index only.
  'api.rename': false,
} as const satisfies Record<ApiRequestType, boolean>;

/** The API requests that may ask containerd, and so wait for its client. */
export const taskRequests: readonly ApiRequestType[] = (
  Object.keys(asksContainerd) as ApiRequestType[]
).filter((t) => asksContainerd[t]);

const taskRequestSet: ReadonlySet<string> = new Set(taskRequests);

/** Whether a container request may ask containerd (and so waits for its client). */
export function isTaskRequest(type: string): boolean {
  return taskRequestSet.has(type);
}

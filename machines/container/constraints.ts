import {
  containerEventsOrdered,
  effectDoneBefore,
  effectNotWhileOpen,
  persistedBeforeReply,
  type Constraint,
} from '../check/constraints.ts';

/**
 * The container machine's orderings: Docker's event order (create first, a die between two
 * starts — the exit is recorded before any restart — and destroy last), every
 * acknowledged transition written to the store before the API hears about it, and a
 * shareable /dev/shm mounted around its task (mounted before the task is made, unmounted only
 * after it is deleted).
 */
export const containerConstraints: Constraint[] = [
  containerEventsOrdered(),
  persistedBeforeReply(),
  effectDoneBefore(
    'kernel.mountShm',
    'containerd.createTask',
    "an IpcMode shareable container's task binds its /dev/shm tmpfs: dockerd's setupIpcDirs mounts it while building the spec, before the task is created",
  ),
  effectNotWhileOpen(
    'kernel.unmountShm',
    'containerd.createTask',
    [{ effect: 'containerd.deleteTask' }, { effect: 'containerd.startTask', failed: true }],
    "a shareable /dev/shm is unmounted only once the task that binds it is deleted (dockerd's Cleanup, after the exit), or was never started",
  ),
];

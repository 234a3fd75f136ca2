import type { ContainerdRequest } from '../../effects/containerd/requests.ts';

/**
 * How each containerd effect reaches containerd: to the supervised process itself (start,
 * wait, stop), opening or closing the daemon's client connection, or as a call over that
 * connection. Only the calls need the client connected; the start-up constraints hold them to
 * after the `containerdClient` step (a new containerd effect must be placed here to compile).
 */
export const containerdEffectPaths = {
  'containerd.startSupervised': 'process',
  'containerd.stopSupervised': 'process',
  'containerd.spawn': 'process',
  'containerd.waitReady': 'process',
  'containerd.waitExit': 'process',
  'containerd.terminate': 'process',
  'containerd.connect': 'connection',
  'containerd.close': 'connection',
  'containerd.listTasks': 'client',
  'containerd.listContainers': 'client',
  'containerd.reapOrphanShims': 'client',
  'containerd.reapTask': 'client',
  'containerd.createTask': 'client',
  'containerd.startTask': 'client',
  'containerd.killTask': 'client',
  'containerd.pauseTask': 'client',
  'containerd.resumeTask': 'client',
  'containerd.deleteTask': 'client',
  'containerd.deleteContainer': 'client',
  'containerd.attachIo': 'client',
  'containerd.updateTask': 'client',
  'containerd.execCreate': 'client',
  'containerd.execStart': 'client',
  'containerd.execKill': 'client',
  'containerd.execDelete': 'client',
  'containerd.execResize': 'client',
  'containerd.execList': 'client',
  'containerd.execReap': 'client',
} as const satisfies Record<ContainerdRequest['effect'], 'process' | 'connection' | 'client'>;

/** The containerd effects that are calls over the daemon's client connection. */
export const containerdClientCalls: readonly ContainerdRequest['effect'][] = (
  Object.keys(containerdEffectPaths) as ContainerdRequest['effect'][]
).filter((e) => containerdEffectPaths[e] === 'client');

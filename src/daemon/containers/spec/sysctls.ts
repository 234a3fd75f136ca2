import { InvalidRequest } from './errors.ts';

/**
 * Docker's allow-list of namespaced sysctls (the CLI's ValidateSysctl): the IPC namespace's
 * kernel.msg*, sem and shm* keys, fs.mqueue.*, and net.* (the network namespace's). Anything
 * else would change the host. Whether the container really has the namespace a key belongs
 * to (no --ipc host for kernel.shm*, no --network host for net.*) runc checks at start, with
 * its own message, as under dockerd.
 */
const ipcKeys = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

const allowedPrefixes = ['net.', 'fs.mqueue.'];

export function checkSysctls(sysctls: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(sysctls)) {
    if (ipcKeys.has(key) || allowedPrefixes.some((p) => key.startsWith(p))) continue;
    throw new InvalidRequest(`sysctl '${key}=${value}' is not allowed`);
  }
}

import type { StartupConfig } from '../../machines/daemon-startup/types.ts';
import { UsageError } from '../cli/usage.ts';

/**
 * A daemon.json (dockerd's keys) for the simulator: the defaults of `statedock daemon`
 * with the file's values over them. Unknown keys and wrong types are refused, as dockerd does.
 */
const keys: Record<string, [keyof StartupConfig, 'string' | 'number' | 'boolean' | 'strings' | 'nullable']> = {
  'data-root': ['dataRoot', 'string'],
  'exec-root': ['execRoot', 'string'],
  hosts: ['hosts', 'strings'],
  pidfile: ['pidfile', 'string'],
  containerd: ['containerdAddress', 'nullable'],
  'containerd-namespace': ['containerdNamespace', 'string'],
  'storage-driver': ['storageDriver', 'nullable'],
  bridge: ['bridge', 'nullable'],
  bip: ['bip', 'nullable'],
  icc: ['icc', 'boolean'],
  iptables: ['iptables', 'boolean'],
  mtu: ['mtu', 'number'],
  'userns-remap': ['usernsRemap', 'nullable'],
  'live-restore': ['liveRestore', 'boolean'],
  'oom-score-adjust': ['oomScoreAdjust', 'number'],
  'max-concurrent-downloads': ['maxConcurrentDownloads', 'number'],
  'max-concurrent-uploads': ['maxConcurrentUploads', 'number'],
  'seccomp-profile': ['seccompProfile', 'nullable'],
  'shutdown-timeout': ['shutdownTimeout', 'number'],
};

export function simConfigFromDaemonJson(json: unknown, path: string): StartupConfig {
  const config: StartupConfig = {
    dataRoot: '/var/lib/statedock',
    execRoot: '/var/run/statedock',
    hosts: ['/var/run/statedock.sock'],
    pidfile: '/var/run/statedock.pid',
    containerdAddress: null,
    containerdNamespace: 'statedock',
    storageDriver: null,
    bridge: null,
    bip: null,
    icc: true,
    iptables: true,
    mtu: 0,
    usernsRemap: null,
    liveRestore: false,
    oomScoreAdjust: 0,
    maxConcurrentDownloads: 3,
    maxConcurrentUploads: 5,
    seccompProfile: null,
    shutdownTimeout: 15,
    env: {},
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`unable to configure the daemon with file ${path}: not a JSON object`);
  const unknown = Object.keys(json).filter((k) => !(k in keys));
  if (unknown.length > 0)
    throw new UsageError(`unable to configure the daemon with file ${path}: the following directives don't match any configuration option: ${unknown.join(', ')}`);
  const target = config as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const [field, type] = keys[key] as [string, string];
    const ok =
      type === 'strings'
        ? Array.isArray(value) && value.every((v) => typeof v === 'string')
        : type === 'nullable'
          ? value === null || typeof value === 'string'
          : typeof value === type;
    if (!ok) throw new UsageError(`unable to configure the daemon with file ${path}: ${key} must be ${type === 'strings' ? 'a list of strings' : type === 'nullable' ? 'a string' : `a ${type}`}`);
    target[field] = type === 'strings' ? (value as string[]).map((h) => h.replace(/^unix:\/\//, '')) : value;
  }
  return config;
}

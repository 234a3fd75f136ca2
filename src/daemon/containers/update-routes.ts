import {
  validateRestartPolicy,
  type RestartPolicyName,
} from '../../../machines/container/restart.ts';
import type { ContainerUpdate } from '../../../machines/container/types.ts';
import { ApiError, type ApiServer } from '../../api/server.ts';
import { statusOf, type Containers } from './service.ts';

/** Fields of `docker update` statedock does not apply: refused by name when set (not zero). */
const refused = [
  'MemoryReservation',
  'KernelMemory',
  'KernelMemoryTCP',
  'CpusetCpus',
  'CpusetMems',
  'CpuRealtimePeriod',
  'CpuRealtimeRuntime',
  'BlkioWeight',
  'BlkioWeightDevice',
  'BlkioDeviceReadBps',
  'BlkioDeviceWriteBps',
  'BlkioDeviceReadIOps',
  'BlkioDeviceWriteIOps',
  'CpuCount',
  'CpuPercent',
  'IOMaximumIOps',
  'IOMaximumBandwidth',
  'OomKillDisable',
  'MemorySwappiness',
  'Devices',
  'DeviceCgroupRules',
  'DeviceRequests',
  'Ulimits',
] as const;

function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === 0 || v === '' || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

/**
 * `POST /containers/{id}/update` (`docker update`): memory (and swap), CPU shares, quota and
 * period (or NanoCpus), the pids limit and the restart policy, through the container's machine
 * (the live task's cgroup first, via containerd, then the record and the spec, persisted).
 */
export function registerUpdateRoutes(api: ApiServer, host: Containers): void {
  api.add({
    method: 'POST',
    pattern: '/containers/{name}/update',
    handler: async (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      const raw = (await ctx.body()).toString('utf8');
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw === '' ? '{}' : raw) as Record<string, unknown>;
      } catch (err) {
        throw new ApiError(400, (err as Error).message);
      }
      for (const k of refused)
        if (isSet(body[k]))
          throw new ApiError(400, `statedock does not support ${k} in docker update`);
      const num = (k: string): number | undefined =>
        typeof body[k] === 'number' && body[k] !== 0 ? body[k] : undefined;
      const memory = num('Memory');
      const swap = num('MemorySwap');
      const shares = num('CpuShares');
      let quota = num('CpuQuota');
      let period = num('CpuPeriod');
      const nano = num('NanoCpus');
      const pids = num('PidsLimit');
      if (nano !== undefined) {
        if (quota !== undefined || period !== undefined)
          throw new ApiError(
            400,
            'Conflicting options: Nano CPUs and CPU Period cannot both be set',
          );
        period = 100_000;
        quota = Math.round((nano / 1e9) * period);
      }
      if (memory !== undefined && memory < 6 * 1024 * 1024)
        throw new ApiError(400, 'Minimum memory limit allowed is 6MB');
      const config: ContainerUpdate['config'] = {
        ...(memory === undefined ? {} : { memory }),
        ...(shares === undefined ? {} : { cpuShares: shares }),
        ...(quota === undefined ? {} : { cpuQuota: quota }),
        ...(period === undefined ? {} : { cpuPeriod: period }),
        ...(pids === undefined ? {} : { pidsLimit: pids }),
      };
      const rp = body['RestartPolicy'] as { Name?: string; MaximumRetryCount?: number } | undefined;
      if (rp && typeof rp.Name === 'string' && rp.Name !== '') {
        const policy = {
          name: rp.Name as RestartPolicyName,
          maximumRetryCount: rp.MaximumRetryCount ?? 0,
        };
        if (c.record.config.autoRemove && policy.name !== 'no')
          throw new ApiError(
            400,
            `Cannot update container ${c.record.id}: Restart policy cannot be updated because AutoRemove is enabled for the container`,
          );
        const invalid = validateRestartPolicy(policy, false);
        if (invalid) throw new ApiError(400, invalid);
        config.restartPolicy = policy;
      }
      const resources: Record<string, unknown> = {
        ...(memory !== undefined || swap !== undefined
          ? {
              memory: {
                ...(memory === undefined ? {} : { limit: memory }),
                ...(swap === undefined ? {} : { swap }),
              },
            }
          : {}),
        ...(shares !== undefined || quota !== undefined || period !== undefined
          ? {
              cpu: {
                ...(shares === undefined ? {} : { shares }),
                ...(quota === undefined ? {} : { quota }),
                ...(period === undefined ? {} : { period }),
              },
            }
          : {}),
        ...(pids === undefined ? {} : { pids: { limit: pids } }),
      };
      // What inspect's HostConfig shows afterwards: the fields as the client named them.
      const hostConfig: Record<string, unknown> = {
        ...(memory === undefined ? {} : { Memory: memory }),
        ...(swap === undefined ? {} : { MemorySwap: swap }),
        ...(shares === undefined ? {} : { CpuShares: shares }),
        ...(nano === undefined
          ? {
              ...(quota === undefined ? {} : { CpuQuota: quota }),
              ...(period === undefined ? {} : { CpuPeriod: period }),
            }
          : { NanoCpus: nano }),
        ...(pids === undefined ? {} : { PidsLimit: pids }),
        ...(config.restartPolicy === undefined
          ? {}
          : {
              RestartPolicy: {
                Name: config.restartPolicy.name,
                MaximumRetryCount: config.restartPolicy.maximumRetryCount,
              },
            }),
      };
      const update: ContainerUpdate = {
        config,
        hostConfig,
        resources: Object.keys(resources).length > 0 ? resources : null,
      };
      const r = await host.request(c.record.id, { type: 'api.update', update });
      if (r.result !== 'ok')
        throw new ApiError(
          statusOf[r.result] === 204 ? 500 : statusOf[r.result],
          r.message ?? r.result,
        );
      ctx.json(200, { Warnings: null });
    },
  });
}

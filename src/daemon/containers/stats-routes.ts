import type { ContainerContext } from '../../../machines/container/types.ts';
import type { ApiServer } from '../../api/server.ts';
import { networks, sampleCgroup } from '../stats/cgroups.ts';
import type { Containers } from './service.ts';

/** The gap between the two samples of a one-off answer (its CPU % compares them). */
export const oneShotGapMs = 500;
/** How often a stream writes a sample (dockerd's collector interval). */
export const streamIntervalMs = 1000;

const zeroTime = '0001-01-01T00:00:00Z';

function flag(q: URLSearchParams, name: string, dflt: boolean): boolean {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  return !['0', 'false', 'no', 'none'].includes(v.toLowerCase());
}

interface Sample {
  read: string;
  body: ReturnType<typeof sampleCgroup>;
  networks: ReturnType<typeof networks>;
}

function take(c: ContainerContext): Sample {
  return {
    read: new Date().toISOString(),
    body: sampleCgroup(`/statedock/${c.record.id}`),
    networks: networks(c.record.state.pid),
  };
}

/** Docker's stats JSON: this sample, and the previous one as `pre*` (zeros when there is none). */
function statsJson(
  c: ContainerContext,
  now: Sample | null,
  pre: Sample | null,
): Record<string, unknown> {
  const empty = {
    cpu_stats: {
      cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
      throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    },
  };
  return {
    read: now?.read ?? zeroTime,
    preread: pre?.read ?? zeroTime,
    pids_stats: now?.body.pids_stats ?? {},
    blkio_stats: now?.body.blkio_stats ?? {
      io_service_bytes_recursive: null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: now?.body.cpu_stats ?? empty.cpu_stats,
    precpu_stats: pre?.body.cpu_stats ?? empty.cpu_stats,
    memory_stats: now?.body.memory_stats ?? {},
    name: c.record.name,
    id: c.record.id,
    ...(now?.networks ? { networks: now.networks } : {}),
  };
}

/**
 * `GET /containers/{id}/stats`: a running container's cgroup (v1 or v2) and network counters in
 * Docker's shape, every second while streaming; with `stream=false` one answer whose `pre*`
 * fields are a sample taken `oneShotGapMs` earlier (none with `one-shot=true`). A container that
 * is not running gets one empty answer, as dockerd gives it.
 */
export function registerStatsRoutes(api: ApiServer, host: Containers): void {
  api.add({
    method: 'GET',
    pattern: '/containers/{name}/stats',
    handler: async (ctx) => {
      const name = ctx.params['name'] as string;
      const c = host.resolve(name);
      const stream = flag(ctx.query, 'stream', true);
      const oneShot = flag(ctx.query, 'one-shot', false);
      const current = (): ContainerContext | undefined =>
        host.contexts().find((x) => x.record.id === c.record.id);
      const running = (x: ContainerContext | undefined): x is ContainerContext =>
        x !== undefined && ['running', 'paused'].includes(x.record.state.status);
      const res = ctx.res;
      res.on('error', () => undefined);
      if (!running(c)) {
        ctx.json(200, statsJson(c, null, null));
        return;
      }
      if (!stream) {
        const first = take(c);
        if (oneShot) return ctx.json(200, statsJson(c, first, null));
        await new Promise((r) => setTimeout(r, oneShotGapMs));
        const now = current();
        return ctx.json(
          200,
          running(now) ? statsJson(now, take(now), first) : statsJson(c, null, null),
        );
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      let pre: Sample | null = null;
      let closed = false;
      res.on('close', () => (closed = true));
      while (!closed) {
        const now = current();
        if (!running(now)) break;
        const s = take(now);
        res.write(`${JSON.stringify(statsJson(now, s, pre))}\n`);
        pre = s;
        await new Promise((r) => setTimeout(r, streamIntervalMs).unref());
      }
      if (!closed) res.end();
    },
  });
}

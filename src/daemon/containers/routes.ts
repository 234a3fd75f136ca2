import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { signalNumber } from '../../../machines/container/signals.ts';
import type { ContainerContext } from '../../../machines/container/types.ts';
import { ApiError, destroySoon, type ApiServer } from '../../api/server.ts';
import { treeSize } from '../../../effects/rootfs/layout.ts';
import { checkAttachable, checkDetachKeys, serveAttach, type AttachRequest } from '../attach.ts';
import { parseFilters, parseTimestamp } from '../events.ts';
import { parseGoDuration } from '../go-duration.ts';
import { streamLogs } from '../logs.ts';
import { statusOf, type Containers } from './service.ts';
import { startFailureStatus } from '../network/status.ts';
import { volumeToApi } from '../volumes.ts';

const runCommand = promisify(execFile);

/** dockerd's boolean query values: 1/true/yes/on → true. */
function flag(q: URLSearchParams, name: string): boolean {
  const v = (q.get(name) ?? '').toLowerCase();
  return v !== '' && !['0', 'false', 'no', 'none'].includes(v);
}

/**
 * A prune's `until` (dockerd's GetTimestamp): a duration back from now, a unix timestamp, or
 * a date; null when absent. Unix seconds.
 */
export function pruneUntil(values: string[] | undefined): number | null {
  if (!values || values.length === 0) return null;
  if (values.length > 1) throw new ApiError(400, 'more than one until filter specified');
  const v = values[0] as string;
  // "0" is the epoch, not a duration (dockerd's GetTimestamp); a negative duration is ahead of now.
  const ns = v === '0' ? null : parseGoDuration(v);
  if (ns !== null) return Math.floor(Date.now() / 1000 - ns / 1e9);
  if (/^[+-]?\d+(\.\d+)?$/.test(v)) return parseTimestamp(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return parseTimestamp(v);
  return t / 1000;
}

/** dockerd's label / label! filters against a container's labels. */
function labelsMatch(filters: Map<string, string[]>, labels: Record<string, string>): boolean {
  const has = (spec: string): boolean => {
    const eq = spec.indexOf('=');
    return eq < 0 ? spec in labels : labels[spec.slice(0, eq)] === spec.slice(eq + 1);
  };
  if (!(filters.get('label') ?? []).every(has)) return false;
  const not = filters.get('label!') ?? [];
  return not.length === 0 || !not.every(has);
}

/** The Engine API's container endpoints, answered by the container host (every one waits for restore). */
export function registerContainerRoutes(api: ApiServer, host: Containers): void {
  const deps = {
    stdio: host.stdio,
    images: host.images,
    volumes: host.volumes,
    events: host.events,
    root: host.host.root,
  };
  let pruning = false;
  api.add({ method: 'POST', pattern: '/containers/create', handler: (ctx) => host.create(ctx) });
  api.add({
    method: 'POST',
    pattern: '/containers/{name}/start',
    handler: async (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      if ((await ctx.body()).length > 0)
        throw new ApiError(
          400,
          'starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24',
        );
      const r = await host.request(c.record.id, { type: 'api.start' });
      if (r.result === 'ok' || r.result === 'notModified') return ctx.noContent(statusOf[r.result]);
      throw new ApiError(
        r.result === 'failed' ? startFailureStatus(r.message ?? '') : statusOf[r.result],
        r.message ?? r.result,
      );
    },
  });
  // stop and restart: `?t=` seconds (strconv's words for a non-number), else the container's own.
  for (const [verb, type, prefix] of [
    ['stop', 'api.stop', ''],
    ['restart', 'api.restart', 'Cannot restart container: '],
  ] as const) {
    api.add({
      method: 'POST',
      pattern: `/containers/{name}/${verb}`,
      handler: async (ctx) => {
        const c = host.resolve(ctx.params['name'] as string);
        const t = ctx.query.get('t');
        if (t !== null && !/^-?\d+$/.test(t))
          // dockerd 20.10 answers 500 with strconv's words; the mistake is the client's: 400.
          throw new ApiError(400, `strconv.Atoi: parsing "${t}": invalid syntax`);
        if (t !== null && (BigInt(t) > 2n ** 63n - 1n || BigInt(t) < -(2n ** 63n)))
          throw new ApiError(400, `strconv.Atoi: parsing "${t}": value out of range`);
        await host.answer(
          ctx,
          c.record.id,
          { type, ...(t === null ? {} : { timeoutS: Number(t) }) },
          prefix,
        );
      },
    });
  }
  api.add({
    method: 'POST',
    pattern: '/containers/{name}/kill',
    handler: async (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      const signal = ctx.query.get('signal') || 'KILL';
      if (signalNumber(signal) === null) throw new ApiError(400, `Invalid signal: ${signal}`);
      await host.answer(
        ctx,
        c.record.id,
        { type: 'api.kill', signal },
        `Cannot kill container: ${ctx.params['name'] as string}: `,
      );
    },
  });
  api.add({
    method: 'DELETE',
    pattern: '/containers/{name}',
    handler: async (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      await host.remove(c.record.id, flag(ctx.query, 'force'), flag(ctx.query, 'v'));
      ctx.noContent(204);
    },
  });
  api.add({
    method: 'POST',
    pattern: '/containers/{name}/wait',
    handler: async (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      const condition = ctx.query.get('condition') ?? 'not-running';
      if (!['not-running', 'next-exit', 'removed'].includes(condition))
        throw new ApiError(400, `invalid condition: "${condition}"`);
      // Headers at once: docker run sends wait before start and blocks until they arrive.
      ctx.streaming();
      ctx.res.writeHead(200, {
        'Content-Type': 'application/json',
        'Transfer-Encoding': 'chunked',
      });
      ctx.res.flushHeaders();
      // A client that goes away stops waiting: nothing is kept for it.
      const gone = new AbortController();
      ctx.res.once('close', () => gone.abort());
      const running =
        ['running', 'paused', 'restarting'].includes(c.record.state.status) ||
        c.startReq !== null ||
        c.restartReq !== null;
      const code =
        condition === 'removed'
          ? await host.whenRemoved(c.record.id, gone.signal)
          : condition === 'next-exit' || running
            ? await host.whenExited(c.record.id, gone.signal)
            : c.record.state.exitCode;
      if (!ctx.res.destroyed) ctx.res.end(`${JSON.stringify({ Error: null, StatusCode: code })}\n`);
    },
  });
  const attachRequest = (q: URLSearchParams): AttachRequest => ({
    stdin: flag(q, 'stdin'),
    stdout: flag(q, 'stdout'),
    stderr: flag(q, 'stderr'),
    logs: flag(q, 'logs'),
    stream: flag(q, 'stream'),
    detachKeys: q.get('detachKeys') ?? '',
  });
  // dockerd's checks come before the response head: the detach keys, the container, its state.
  const attachTarget = (name: string, request: AttachRequest) => {
    const keys = checkDetachKeys(request.detachKeys);
    const c = host.resolve(name);
    checkAttachable(c, name);
    const hub = deps.stdio.hub(c.record.id);
    hub.tty = c.record.config.tty === true;
    return { c, hub, keys, log: host.logDriver(c.record) };
  };
  api.add({
    method: 'POST',
    pattern: '/containers/{name}/attach',
    // Without an Upgrade header (dockerode's run): the raw stream is the response body, until close.
    handler: async (ctx) => {
      const request = attachRequest(ctx.query);
      let target: ReturnType<typeof attachTarget>;
      try {
        target = attachTarget(ctx.params['name'] as string, request);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        ctx.res.shouldKeepAlive = false;
        ctx.res.writeHead(err.status, { 'Content-Type': 'application/vnd.docker.raw-stream' });
        ctx.res.end(`${err.message}\r\n`);
        return;
      }
      ctx.streaming();
      const res = ctx.res;
      await serveAttach({
        ...target,
        request,
        events: deps.events,
        conn: {
          out: res,
          in: ctx.req,
          begin: () => {
            res.useChunkedEncodingByDefault = false;
            res.shouldKeepAlive = false;
            res.writeHead(200, { 'Content-Type': 'application/vnd.docker.raw-stream' });
            res.flushHeaders();
          },
          finish: () => {
            if (!res.destroyed) res.end();
          },
        },
      });
    },
    hijack: async (ctx) => {
      const request = attachRequest(ctx.query);
      const target = attachTarget(ctx.params['name'] as string, request);
      const socket = ctx.socket;
      await serveAttach({
        ...target,
        request,
        events: deps.events,
        conn: {
          out: socket,
          in: socket,
          begin: () => {
            socket.write(
              'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
            );
          },
          finish: () => destroySoon(socket),
        },
      });
    },
  });
  for (const [verb, event, prefix] of [
    ['pause', 'api.pause', ''],
    ['unpause', 'api.unpause', ''],
  ] as const) {
    api.add({
      method: 'POST',
      pattern: `/containers/{name}/${verb}`,
      handler: async (ctx) =>
        host.answer(
          ctx,
          host.resolve(ctx.params['name'] as string).record.id,
          { type: event },
          prefix,
        ),
    });
  }
  api.add({
    method: 'POST',
    pattern: '/containers/{name}/rename',
    handler: async (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      const name = ctx.query.get('name') ?? '';
      if (name === '') throw new ApiError(400, 'Neither old nor new names may be empty');
      if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name))
        throw new ApiError(
          400,
          `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
        );
      const full = `/${name.replace(/^\//, '')}`;
      if (full === c.record.name)
        throw new ApiError(400, 'Renaming a container with the same name as its current name');
      const taken = host.contexts().find((x) => x.record.name === full);
      if (taken)
        throw new ApiError(
          409,
          `Error when allocating new name: Conflict. The container name "${full}" is already in use by container "${taken.record.id}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      await host.answer(ctx, c.record.id, { type: 'api.rename', name: full });
    },
  });
  api.add({
    method: 'GET',
    pattern: '/containers/{name}/logs',
    handler: async (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      const stdout = flag(ctx.query, 'stdout');
      const stderr = flag(ctx.query, 'stderr');
      if (!stdout && !stderr)
        throw new ApiError(400, 'Bad parameters: you must choose at least one stream');
      const tail = ctx.query.get('tail');
      const follow = flag(ctx.query, 'follow');
      const since = parseTimestamp(ctx.query.get('since'));
      const until = parseTimestamp(ctx.query.get('until'));
      const file = host.logDriver(c.record).reader();
      if (file === null)
        throw new ApiError(501, 'configured logging driver does not support reading');
      if (follow) ctx.streaming();
      await streamLogs(ctx.res, file, deps.stdio.hubs.get(c.record.id), {
        raw: c.record.config.tty === true,
        stdout,
        stderr,
        follow,
        timestamps: flag(ctx.query, 'timestamps'),
        since,
        until,
        tail: tail === null || tail === 'all' || !/^\d+$/.test(tail) ? null : Number(tail),
      });
    },
  });
  api.add({
    method: 'GET',
    pattern: '/containers/{name}/top',
    handler: async (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      if (!['running', 'paused'].includes(c.record.state.status))
        throw new ApiError(409, `Container ${c.record.id} is not running`);
      // dockerd runs the host's ps and keeps the rows of the container's processes.
      let pids: Set<string>;
      try {
        pids = new Set(
          readFileSync(`/sys/fs/cgroup/pids/statedock/${c.record.id}/cgroup.procs`, 'utf8')
            .split('\n')
            .filter(Boolean),
        );
      } catch {
        pids = new Set([String(c.record.state.pid)]);
      }
      // dockerd splits ps_args on single spaces and runs the host's ps with them.
      const args = (ctx.query.get('ps_args') || '-ef').split(' ');
      let stdout: string;
      try {
        ({ stdout } = await runCommand('ps', args));
      } catch (err) {
        // Options ps refuses are the client's (dockerd 20.10 answers 500 with these words).
        const code = (err as { code?: unknown }).code;
        throw new ApiError(
          400,
          `Error running ps: exit status ${typeof code === 'number' ? code : 1}`,
        );
      }
      const lines = stdout.trim().split('\n');
      const titles = (lines[0] ?? '').trim().split(/\s+/);
      const pidCol = titles.indexOf('PID');
      if (pidCol < 0) throw new ApiError(400, `Couldn't find PID field in ps output`);
      const processes = lines
        .slice(1)
        .map((l) => {
          const f = l.trim().split(/\s+/);
          return [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
        })
        .filter((f) => pids.has(f[pidCol] ?? ''));
      ctx.json(200, { Titles: titles, Processes: processes });
      deps.events.publish('container', 'top', c.record.id, {
        image: c.record.image,
        name: c.record.name.slice(1),
      });
    },
  });
  api.add({
    method: 'GET',
    pattern: '/system/df',
    handler: async (ctx) => {
      const images = await deps.images.list();
      const imageSizes = new Map(images.map((i) => [i.id, i.size]));
      const containers = host.contexts();
      ctx.json(200, {
        LayersSize: images.reduce((n, i) => n + i.size, 0),
        Images: images.map((i) => ({
          Containers: containers.filter((c) =>
            i.repoTags.includes(
              c.record.image.includes(':') ? c.record.image : `${c.record.image}:latest`,
            ),
          ).length,
          Created: Math.floor(Date.parse(i.created) / 1000),
          Id: i.id,
          Labels: null,
          ParentId: '',
          RepoDigests: [],
          RepoTags: i.repoTags,
          SharedSize: 0,
          Size: i.size,
          VirtualSize: i.size,
        })),
        Containers: containers.map((c) => host.summary(c, imageSizes)),
        Volumes: (await deps.volumes.list()).map((v) => ({
          ...volumeToApi(v),
          UsageData: { RefCount: host.volumeUsers(v.name).length, Size: treeSize(v.mountpoint) },
        })),
        BuildCache: null,
        BuilderSize: 0,
      });
    },
  });
  api.add({
    method: 'GET',
    pattern: '/events',
    handler: (ctx) => {
      ctx.streaming();
      deps.events.serve(ctx.res, ctx.query);
    },
  });
  api.add({
    method: 'POST',
    pattern: '/containers/prune',
    handler: async (ctx) => {
      if (pruning) throw new ApiError(409, 'a prune operation is already running');
      const filters = parseFilters(ctx.query.get('filters'), ['until', 'label', 'label!']);
      const until = pruneUntil(filters.get('until'));
      pruning = true;
      try {
        const deleted: string[] = [];
        let reclaimed = 0;
        // dockerd prunes every container that is not running (created, exited, dead).
        for (const c of host
          .contexts()
          .filter((x) => !['running', 'paused', 'restarting'].includes(x.record.state.status))) {
          if (until !== null && Date.parse(c.record.created) / 1000 > until) continue;
          if (!labelsMatch(filters, c.record.config.labels)) continue;
          // The writable layer's size, taken before it goes (dockerd's GetContainerLayerSize).
          const size = host.layout.sizeRw(c.record.id);
          const removed = host.whenRemoved(c.record.id);
          const r = await host.request(c.record.id, { type: 'api.remove', force: false });
          if (r.result !== 'ok') continue;
          await removed;
          if (size > 0) reclaimed += size;
          deleted.push(c.record.id);
        }
        deps.events.publish('container', 'prune', '', { reclaimed: String(reclaimed) });
        ctx.json(200, {
          ContainersDeleted: deleted.length > 0 ? deleted : null,
          SpaceReclaimed: reclaimed,
        });
      } finally {
        pruning = false;
      }
    },
  });
  api.add({
    method: 'GET',
    pattern: '/containers/{name}/json',
    handler: async (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      // `inspect --size`: SizeRw and SizeRootFs, as ps --size counts them.
      const imageSize = flag(ctx.query, 'size')
        ? ((await host.images.resolve(c.record.config.imageId ?? c.record.image))?.size ?? 0)
        : undefined;
      ctx.json(200, host.inspect(c, imageSize));
    },
  });
  api.add({
    method: 'GET',
    pattern: '/containers/json',
    handler: async (ctx) => {
      const all = flag(ctx.query, 'all');
      const filters = parseFilters(ctx.query.get('filters'), [
        'status',
        'name',
        'label',
        'id',
        'exited',
        'ancestor',
        'health',
      ]);
      for (const h of filters.get('health') ?? [])
        if (!['starting', 'healthy', 'unhealthy', 'none'].includes(h))
          throw new ApiError(400, `Unrecognised filter value for health: ${h}`);
      for (const st of filters.get('status') ?? [])
        if (
          !['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'].includes(st)
        )
          throw new ApiError(400, `Unrecognised filter value for status: ${st}`);
      const matches = (c: ContainerContext): boolean => {
        const r = c.record;
        for (const [k, vs] of filters) {
          if (k === 'status' && !vs.includes(r.state.status)) return false;
          if (k === 'name' && !vs.some((v) => new RegExp(v).test(r.name))) return false;
          if (k === 'id' && !vs.some((v) => r.id.startsWith(v))) return false;
          if (
            k === 'exited' &&
            !(r.state.status === 'exited' && vs.includes(String(r.state.exitCode)))
          )
            return false;
          if (k === 'ancestor' && !vs.includes(r.image)) return false;
          if (k === 'health' && !vs.includes(host.healthOf(r.id)?.Status ?? 'none')) return false;
          if (
            k === 'label' &&
            !vs.every((v) =>
              v.includes('=')
                ? r.config.labels[v.split('=')[0] as string] === v.slice(v.indexOf('=') + 1)
                : v in r.config.labels,
            )
          )
            return false;
        }
        return true;
      };
      const showAll = all || filters.has('status') || filters.has('exited');
      const size = flag(ctx.query, 'size');
      const imageSizes = size
        ? new Map((await deps.images.list()).map((i) => [i.id, i.size]))
        : new Map<string, number>();
      ctx.json(
        200,
        host
          .contexts()
          .filter(
            (c) =>
              (showAll || ['running', 'paused', 'restarting'].includes(c.record.state.status)) &&
              matches(c),
          )
          .map((c) => host.summary(c, size ? imageSizes : null)),
      );
    },
  });
}

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { promisify } from 'node:util';
import { signalNumber } from '../../../machines/container/signals.ts';
import type { ContainerContext } from '../../../machines/container/types.ts';
import { ApiError, type ApiServer, type RouteContext } from '../../api/server.ts';
import { treeSize } from '../../../effects/rootfs/layout.ts';
import { parseFilters } from '../events.ts';
import { streamLogs } from '../logs.ts';
import { statusOf, type Containers } from './service.ts';
import { startFailureStatus } from '../network/status.ts';

const runCommand = promisify(execFile);

/** dockerd's boolean query values: 1/true/yes/on → true. */
function flag(q: URLSearchParams, name: string): boolean {
  const v = (q.get(name) ?? '').toLowerCase();
  return v !== '' && !['0', 'false', 'no', 'none'].includes(v);
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
  // stop and restart: `?t=` seconds (dockerd's strconv error for a non-number), else the container's own.
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
          throw new ApiError(500, `strconv.Atoi: parsing "${t}": invalid syntax`);
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
      // Headers at once: docker run sends wait before start and blocks until they arrive.
      ctx.res.writeHead(200, {
        'Content-Type': 'application/json',
        'Transfer-Encoding': 'chunked',
      });
      ctx.res.flushHeaders();
      const running =
        ['running', 'paused', 'restarting'].includes(c.record.state.status) ||
        c.startReq !== null ||
        c.restartReq !== null;
      const code =
        condition === 'removed'
          ? await host.whenRemoved(c.record.id)
          : condition === 'next-exit' || running
            ? await host.whenExited(c.record.id)
            : c.record.state.exitCode;
      ctx.res.end(`${JSON.stringify({ Error: null, StatusCode: code })}\n`);
    },
  });
  const attach = (name: string, socket: Duplex, upgrade: boolean, query: URLSearchParams): void => {
    const c = host.resolve(name);
    const hub = deps.stdio.hub(c.record.id);
    hub.tty = c.record.config.tty === true;
    socket.write(
      upgrade
        ? 'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n'
        : 'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n',
    );
    // Stdin comes raw after the 101; the client's half-close is EOF (StdinOnce). Without stdin
    // the CLI half-closes at once: keep writing the output.
    if (flag(query, 'stdin') && c.record.config.openStdin) {
      hub.stdin.attachClient();
      socket.on('data', (chunk: Buffer) => {
        if (hub.stdin.write(chunk)) return;
        socket.pause();
        hub.stdin.onDrain(() => socket.resume());
      });
      // The client's EOF: with StdinOnce the container's stdin closes; without, the container
      // keeps its stdin and this client's output ends (dockerd's attach does both).
      socket.on('end', () => {
        if (c.record.config.stdinOnce) hub.stdin.end();
        else hub.detach(socket);
      });
    } else {
      socket.on('end', () => undefined);
    }
    hub.attach(socket, !['running', 'paused', 'restarting'].includes(c.record.state.status));
    deps.events.publish('container', 'attach', c.record.id, {
      ...c.record.config.labels,
      image: c.record.image,
      name: c.record.name.slice(1),
    });
  };
  api.add({
    method: 'POST',
    pattern: '/containers/{name}/attach',
    handler: (ctx) => {
      ctx.res.detachSocket(ctx.req.socket);
      attach(ctx.params['name'] as string, ctx.req.socket, false, ctx.query);
    },
    hijack: (ctx) => attach(ctx.params['name'] as string, ctx.socket, true, ctx.query),
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
    handler: (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      const stdout = flag(ctx.query, 'stdout');
      const stderr = flag(ctx.query, 'stderr');
      if (!stdout && !stderr)
        throw new ApiError(400, 'Bad parameters: you must choose at least one stream');
      const tail = ctx.query.get('tail');
      const num = (v: string | null): number => (v === null || v === '' ? 0 : Number(v));
      const stored = host.logDriver(c.record).read();
      if (stored === null)
        throw new ApiError(501, 'configured logging driver does not support reading');
      streamLogs(ctx.res, stored, deps.stdio.hubs.get(c.record.id), {
        raw: c.record.config.tty === true,
        stdout,
        stderr,
        follow: flag(ctx.query, 'follow'),
        timestamps: flag(ctx.query, 'timestamps'),
        since: num(ctx.query.get('since')),
        until: num(ctx.query.get('until')),
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
      const args = (ctx.query.get('ps_args') || '-ef').split(/\s+/);
      const { stdout } = await runCommand('ps', args);
      const lines = stdout.trim().split('\n');
      const titles = (lines[0] ?? '').trim().split(/\s+/);
      const pidCol = titles.indexOf('PID');
      if (pidCol < 0) throw new ApiError(500, `Couldn't find PID field in ps output`);
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
          CreatedAt: v.createdAt.replace(/\.\d+Z$/, 'Z'),
          Driver: v.driver,
          Labels: v.labels ?? null,
          Mountpoint: v.mountpoint,
          Name: v.name,
          Options: null,
          Scope: 'local',
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
    handler: (ctx) => deps.events.serve(ctx.res, ctx.query),
  });
  api.add({
    method: 'POST',
    pattern: '/containers/prune',
    handler: async (ctx) => {
      const deleted: string[] = [];
      for (const c of host
        .contexts()
        .filter((x) => x.record.state.status === 'exited' || x.record.state.status === 'created')) {
        const removed = host.whenRemoved(c.record.id);
        const r = await host.request(c.record.id, { type: 'api.remove', force: false });
        if (r.result !== 'ok') continue;
        await removed;
        deleted.push(c.record.id);
      }
      ctx.json(200, {
        ContainersDeleted: deleted.length > 0 ? deleted : null,
        SpaceReclaimed: 0,
      });
    },
  });
  api.add({
    method: 'GET',
    pattern: '/containers/{name}/json',
    handler: (ctx) => ctx.json(200, host.inspect(host.resolve(ctx.params['name'] as string))),
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
      ]);
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

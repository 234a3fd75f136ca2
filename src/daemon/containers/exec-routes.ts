import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { ContainerContext } from '../../../machines/container/types.ts';
import type { ExecConfig } from '../../../machines/exec/types.ts';
import { ApiError, type ApiServer } from '../../api/server.ts';
import type { EventsService } from '../events.ts';
import { frame } from '../stdio.ts';
import { detachKeyBytes, EscapeProxy } from '../exec/detach-keys.ts';
import type { ExecHost } from '../../host/execs.ts';
import { execProcess, lookupUser } from '../exec/process-spec.ts';
import type { ExecStdios } from '../exec/stdio.ts';
import type { Containers } from './service.ts';

/** What a container's events carry (its labels, image and name), as dockerd's do. */
export function containerAttributes(c: ContainerContext): Record<string, string> {
  return { ...c.record.config.labels, image: c.record.image, name: c.record.name.slice(1) };
}

/** dockerd's getActiveContainer: exec and resize need a running container, Docker's 409 otherwise. */
export function activeContainer(host: Containers, ref: string): ContainerContext {
  const c = host.resolve(ref);
  const id = c.record.id;
  switch (c.record.state.status) {
    case 'running':
      return c;
    case 'paused':
      throw new ApiError(409, `Container ${id} is paused, unpause the container before exec`);
    case 'restarting':
      throw new ApiError(409, `Container ${id} is restarting, wait until the container is running`);
    default:
      throw new ApiError(409, `Container ${id} is not running`);
  }
}

/** Where a running container's root is seen from the host (its /etc/passwd for `-u`). */
export function liveRoot(host: Containers, id: string): string {
  const fs = host.layout.rootfsOf(id);
  return fs.driver === 'vfs' ? fs.dir : host.layout.bundleRootfs(id);
}

function readJson(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) return {};
  try {
    const v = JSON.parse(raw.toString('utf8')) as unknown;
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch (err) {
    throw new ApiError(400, (err as Error).message);
  }
}

function size(v: unknown): [number, number] | null {
  return Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number' && n >= 0)
    ? [v[0] as number, v[1] as number]
    : null;
}

/** `?h=&w=` as dockerd reads them (strconv.Atoi; 400 with its words). */
function dimensions(q: URLSearchParams): { height: number; width: number } {
  const read = (k: string): number => {
    const v = q.get(k) ?? '';
    if (!/^-?\d+$/.test(v))
      throw new ApiError(400, `strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
    return Number(v);
  };
  return { height: read('h'), width: read('w') };
}

const upgraded =
  'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n';
const rawStream = 'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n';

/**
 * The Engine API's exec endpoints (create, start — hijacked, detached, or dockerode's raw
 * stream —, inspect, resize) and the container's terminal resize.
 */
export function registerExecRoutes(
  api: ApiServer,
  deps: {
    host: Containers;
    execs: ExecHost;
    stdios: ExecStdios;
    events: EventsService;
    /** Runs one resize machine for a container's terminal; resolves with its error, or null. */
    resizeTask: (c: ContainerContext, width: number, height: number) => Promise<string | null>;
  },
): void {
  const { host, execs, stdios, events } = deps;

  api.add({
    method: 'POST',
    pattern: '/containers/{name}/exec',
    handler: async (ctx) => {
      const body = readJson(await ctx.body());
      const c = activeContainer(host, ctx.params['name'] as string);
      const cmd = Array.isArray(body['Cmd']) ? (body['Cmd'] as unknown[]).map(String) : [];
      if (cmd.length === 0) throw new ApiError(400, 'No exec command specified');
      const detachKeys = typeof body['DetachKeys'] === 'string' ? body['DetachKeys'] : '';
      if (detachKeyBytes(detachKeys) === null)
        throw new ApiError(500, `Invalid escape keys (${detachKeys}) provided`);
      const tty = body['Tty'] === true;
      const userSpec = typeof body['User'] === 'string' && body['User'] !== '' ? body['User'] : '';
      const effectiveUser = userSpec || (c.record.config.user ?? '');
      let user: { uid: number; gid: number } | null = null;
      if (effectiveUser !== '') {
        const u = lookupUser(effectiveUser, liveRoot(host, c.record.id));
        if ('error' in u) throw new ApiError(500, u.error);
        user = u;
      }
      const id = randomBytes(32).toString('hex');
      const consoleSize = size(body['ConsoleSize']);
      const config: ExecConfig = {
        id,
        container: c.record.id,
        entrypoint: cmd[0] as string,
        args: cmd.slice(1),
        user: userSpec,
        privileged: body['Privileged'] === true,
        tty,
        attachStdin: body['AttachStdin'] === true,
        attachStdout: body['AttachStdout'] === true,
        attachStderr: body['AttachStderr'] === true,
        detachKeys,
        consoleSize,
        process: execProcess({
          spec: c.spec,
          hostname: c.record.config.hostname ?? c.record.id.slice(0, 12),
          args: cmd,
          env: Array.isArray(body['Env']) ? (body['Env'] as unknown[]).map(String) : [],
          workingDir: typeof body['WorkingDir'] === 'string' ? body['WorkingDir'] : '',
          user,
          tty,
          privileged: body['Privileged'] === true,
          consoleSize,
        }),
      };
      execs.create(config, containerAttributes(c));
      ctx.json(201, { Id: id });
    },
  });

  api.add({
    method: 'GET',
    pattern: '/exec/{id}/json',
    handler: (ctx) => {
      const id = ctx.params['id'] as string;
      const e = execs.get(id);
      if (!e) throw new ApiError(404, `No such exec instance: ${id}`);
      const k = e.config;
      ctx.json(200, {
        ID: k.id,
        Running: e.running,
        ExitCode: e.exitCode,
        ProcessConfig: {
          tty: k.tty,
          entrypoint: k.entrypoint,
          arguments: k.args,
          privileged: k.privileged,
          ...(k.user === '' ? {} : { user: k.user }),
        },
        OpenStdin: k.attachStdin,
        OpenStderr: k.attachStderr,
        OpenStdout: k.attachStdout,
        CanRemove: e.canRemove,
        ContainerID: k.container,
        DetachKeys: k.detachKeys === '' ? '' : k.detachKeys,
        Pid: e.pid,
      });
    },
  });

  api.add({
    method: 'POST',
    pattern: '/exec/{id}/resize',
    handler: async (ctx) => {
      const id = ctx.params['id'] as string;
      const { height, width } = dimensions(ctx.query);
      if (!execs.get(id)) throw new ApiError(404, `No such exec instance: ${id}`);
      const r = await execs.request(id, { type: 'api.execResize', width, height });
      if (r.result !== 'ok') throw new ApiError(500, r.message ?? r.result);
      ctx.res.writeHead(200, { 'Content-Length': 0 });
      ctx.res.end();
    },
  });

  api.add({
    method: 'POST',
    pattern: '/containers/{name}/resize',
    handler: async (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      const { height, width } = dimensions(ctx.query);
      if (!['running', 'paused'].includes(c.record.state.status))
        throw new ApiError(409, `Container ${c.record.id} is not running`);
      const err = await deps.resizeTask(c, width, height);
      if (err !== null) throw new ApiError(500, err);
      ctx.res.writeHead(200, { 'Content-Length': 0 });
      ctx.res.end();
    },
  });

  /** Streams one exec to a client over a hijacked connection until its exit is recorded. */
  const stream = async (
    id: string,
    socket: Duplex,
    head: string,
    options: Record<string, unknown>,
  ): Promise<void> => {
    const e = execs.get(id);
    if (!e) throw new ApiError(404, `No such exec instance: ${id}`);
    const k = e.config;
    socket.on('error', () => undefined);
    socket.write(head);
    const tty = k.tty;
    const io = stdios.of(id);
    io.attach(socket);
    const startSize = size(options['ConsoleSize']);
    if (startSize !== null && startSize[0] > 0 && tty)
      void execs.request(id, { type: 'api.execResize', height: startSize[0], width: startSize[1] });
    const r = await execs.request(id, { type: 'api.execStart', detach: false });
    if (r.result !== 'ok') {
      // dockerd writes a failed start into the stream (stdout), then the CLI reads the exit code.
      const text = Buffer.from(`${r.message ?? r.result}\r\n`);
      if (!socket.destroyed) socket.write(tty ? text : frame(1, text));
      await execs.whenExited(id);
      socket.end();
      return;
    }
    if (k.attachStdin) {
      const keys = tty ? detachKeyBytes(k.detachKeys) : null;
      const proxy = keys ? new EscapeProxy(keys) : null;
      let detached = false;
      socket.on('data', (chunk: Buffer) => {
        if (detached) return;
        let data = chunk;
        if (proxy) {
          const p = proxy.push(chunk);
          data = p.pass;
          if (p.detach) {
            detached = true;
            if (data.length > 0) io.stdin.write(data);
            io.detachClient();
            const c = host.contexts().find((x) => x.record.id === k.container);
            events.publish('container', 'exec_detach', k.container, {
              ...(c ? containerAttributes(c) : {}),
              execID: id,
            });
            socket.end();
            return;
          }
        }
        if (data.length > 0 && !io.stdin.write(data)) {
          socket.pause();
          io.stdin.onDrain(() => socket.resume());
        }
      });
      socket.on('end', () => {
        if (!detached) io.stdin.end();
      });
      socket.on('close', () => {
        if (!detached) io.stdin.end();
      });
    } else {
      // The CLI half-closes when it sends no stdin: the output still goes out.
      socket.on('end', () => undefined);
    }
    // The exit is recorded as soon as containerd reports it; what the process wrote before it
    // exited may still be on its way through the FIFOs (its delete cuts an output some
    // background child keeps open).
    await execs.whenExited(id);
    await io.whenOutputEnded();
    if (!socket.destroyed) socket.end();
  };

  api.add({
    method: 'POST',
    pattern: '/exec/{id}/start',
    handler: async (ctx) => {
      const id = ctx.params['id'] as string;
      const options = readJson(await ctx.body());
      if (!execs.get(id)) throw new ApiError(404, `No such exec instance: ${id}`);
      if (options['Detach'] === true) {
        const r = await execs.request(id, { type: 'api.execStart', detach: true });
        if (r.result !== 'ok')
          throw new ApiError(r.result === 'conflict' ? 409 : 500, r.message ?? r.result);
        ctx.res.writeHead(200, { 'Content-Length': 0 });
        ctx.res.end();
        return;
      }
      // Without an upgrade dockerd still hijacks the connection: a raw stream until it closes.
      ctx.res.detachSocket(ctx.req.socket);
      await stream(id, ctx.req.socket, rawStream, options);
      ctx.req.socket.destroySoon();
    },
    hijack: async (ctx) => {
      const options = readJson(ctx.body);
      const id = ctx.params['id'] as string;
      if (options['Detach'] === true) {
        if (!execs.get(id)) throw new ApiError(404, `No such exec instance: ${id}`);
        const r = await execs.request(id, { type: 'api.execStart', detach: true });
        if (r.result !== 'ok')
          throw new ApiError(r.result === 'conflict' ? 409 : 500, r.message ?? r.result);
        ctx.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      await stream(id, ctx.socket, upgraded, options);
    },
  });
}

import type { ApiServer, RouteContext } from '../api/server.ts';
import { ApiError, errorText } from '../api/server.ts';
import type { EventsService } from './events.ts';
import { ImageInputError, normalizeRef, type ImageRecord, type ImageStore } from './images.ts';
import { TarRefused } from './layers/tar-extract.ts';

/** What the image endpoints ask of the containers: which use an image. */
export interface ImageUsers {
  usingImage(image: ImageRecord): { id: string; running: boolean }[];
}

/** The registry endpoints (pull through `POST /images/create?fromImage=`), when the daemon has them. */
export interface ImagePuller {
  pull(ctx: RouteContext): Promise<void>;
}

/** The image JSON's own `config`, with Docker's defaults for what it lacks. */
function configOf(i: ImageRecord): Record<string, unknown> {
  let full: Record<string, unknown> = {};
  try {
    full = (JSON.parse(i.configJson) as { config?: Record<string, unknown> }).config ?? {};
  } catch {
    // a record without its JSON: the fields kept on the record
  }
  return {
    Hostname: '',
    Domainname: '',
    User: '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: i.config.Env,
    Cmd: i.config.Cmd,
    Image: '',
    Volumes: null,
    WorkingDir: i.config.WorkingDir,
    Entrypoint: i.config.Entrypoint,
    OnBuild: null,
    Labels: null,
    ...full,
  };
}

function diffIdsOf(i: ImageRecord): string[] {
  try {
    return (
      (JSON.parse(i.configJson) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? []
    );
  } catch {
    return [];
  }
}

function imageInspect(i: ImageRecord): Record<string, unknown> {
  const config = configOf(i);
  // What the image JSON says of where it came from (a commit's comment, author and container).
  let origin: { comment?: string; author?: string; container?: string } = {};
  try {
    origin = (JSON.parse(i.configJson) as typeof origin | null) ?? {};
  } catch {
    // no JSON
  }
  const [upper, ...lower] = i.layerDirs;
  return {
    Id: i.id,
    RepoTags: i.repoTags,
    RepoDigests: i.repoDigests,
    Parent: '',
    Comment: origin.comment ?? '',
    Created: i.created,
    Container: origin.container ?? '',
    ContainerConfig: config,
    DockerVersion: '',
    Author: origin.author ?? '',
    Config: config,
    Architecture: i.architecture ?? 'amd64',
    ...(i.variant ? { Variant: i.variant } : {}),
    Os: i.os ?? 'linux',
    Size: i.size,
    VirtualSize: i.size,
    GraphDriver: {
      Data: {
        ...(lower.length > 0 ? { LowerDir: lower.join(':') } : {}),
        UpperDir: upper ?? '',
      },
      Name: 'overlay2',
    },
    RootFS: { Type: 'layers', Layers: diffIdsOf(i) },
    Metadata: { LastTagTime: i.created },
  };
}

/** Docker's image summary (`GET /images/json`, `system df`). */
export function imageSummary(i: ImageRecord): Record<string, unknown> {
  return {
    Containers: -1,
    Created: Math.floor(Date.parse(i.created) / 1000),
    Id: i.id,
    Labels: configOf(i)['Labels'] ?? null,
    ParentId: '',
    RepoDigests: i.repoDigests,
    RepoTags: i.repoTags,
    SharedSize: -1,
    Size: i.size,
    VirtualSize: i.size,
  };
}

function jsonStream(ctx: RouteContext): (msg: Record<string, unknown>) => void {
  ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  return (msg) => {
    if (!ctx.res.writableEnded) ctx.res.write(`${JSON.stringify(msg)}\r\n`);
  };
}

/** The image endpoints: import, load, save, list, inspect, tag, remove; pull through `puller`. */
export function registerImageRoutes(
  api: ApiServer,
  images: ImageStore,
  events: EventsService,
  users: ImageUsers,
  puller: ImagePuller | null = null,
): void {
  const find = async (ref: string): Promise<ImageRecord> => {
    const i = await images.resolve(ref);
    if (!i) throw new ApiError(404, `No such image: ${normalizeRef(ref)}`);
    return i;
  };
  api.add({
    method: 'POST',
    pattern: '/images/load',
    handler: async (ctx) => {
      const quiet = ['1', 'true'].includes(ctx.query.get('quiet') ?? '');
      // As dockerd: the answer is a JSON message stream from the start, and a failure is its last message.
      const send = jsonStream(ctx);
      let names: string[];
      try {
        names = await images.load(ctx.req);
      } catch (err) {
        ctx.req.resume();
        // dockerd: 200, the error inside the JSON message stream (the CLI prints it).
        const message = errorText(err);
        send({ errorDetail: { message }, error: message });
        ctx.res.end();
        return;
      }
      for (const n of names) events.publish('image', 'load', n, { name: n });
      for (const n of names)
        send(
          quiet
            ? { stream: `Loaded image${n.startsWith('sha256:') ? ' ID' : ''}: ${n}\n` }
            : { stream: `Loaded image${n.startsWith('sha256:') ? ' ID' : ''}: ${n}\n` },
        );
      ctx.res.end();
    },
  });
  const save = async (ctx: RouteContext, refs: string[]): Promise<void> => {
    const chosen: { image: ImageRecord; tags: string[] }[] = [];
    for (const ref of refs) {
      const i = await find(ref);
      const byId = i.id.slice(7).startsWith(ref.replace(/^sha256:/, ''));
      chosen.push({ image: i, tags: byId ? [] : [normalizeRef(ref)] });
    }
    ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    try {
      await images.save(chosen, ctx.res);
    } catch {
      // the client went away, or a layer could not be read: the tar stream is cut short
      ctx.res.destroy();
    }
  };
  api.add({
    method: 'GET',
    pattern: '/images/get',
    handler: (ctx) => save(ctx, ctx.query.getAll('names')),
  });
  api.add({
    method: 'GET',
    pattern: '/images/{name}/get',
    handler: (ctx) => save(ctx, [ctx.params['name'] as string]),
  });
  api.add({
    method: 'GET',
    pattern: '/images/{name}/json',
    handler: async (ctx) => {
      const ref = ctx.params['name'] as string;
      const i = await images.resolve(ref);
      if (!i) throw new ApiError(404, `no such image: ${ref}: No such image: ${normalizeRef(ref)}`);
      ctx.json(200, imageInspect(i));
    },
  });
  api.add({
    method: 'POST',
    pattern: '/images/{name}/tag',
    handler: async (ctx) => {
      const i = await find(ctx.params['name'] as string);
      const repo = ctx.query.get('repo') ?? '';
      if (repo === '') throw new ApiError(400, 'repository name must have at least one component');
      const ref = normalizeRef(`${repo}:${ctx.query.get('tag') || 'latest'}`);
      await images.tag(i, ref);
      events.publish('image', 'tag', i.id, { name: ref });
      ctx.noContent(201);
    },
  });
  api.add({
    method: 'DELETE',
    pattern: '/images/{name}',
    handler: async (ctx) => {
      const ref = ctx.params['name'] as string;
      const i = await find(ref);
      const force = ['1', 'true'].includes((ctx.query.get('force') ?? '').toLowerCase());
      const using = users.usingImage(i);
      if (using.length > 0 && !force) {
        const c = using[0] as { id: string; running: boolean };
        throw new ApiError(
          409,
          `conflict: unable to remove repository reference "${ref}" (must force) - container ${c.id.slice(0, 12)} is using its referenced image ${i.id.slice(7, 19)}`,
        );
      }
      const result = await images.remove(i, ref);
      for (const r of result)
        events.publish('image', r.Deleted ? 'delete' : 'untag', i.id, { name: r.Untagged ?? i.id });
      ctx.json(200, result);
    },
  });
  api.add({
    method: 'POST',
    pattern: '/images/create',
    handler: async (ctx) => {
      const fromSrc = ctx.query.get('fromSrc');
      if (fromSrc === null || fromSrc === '') {
        if (puller === null)
          throw new ApiError(500, 'statedock was started without its registry service');
        return puller.pull(ctx);
      }
      if (fromSrc !== '-')
        throw new ApiError(
          400,
          `statedock does not import from a URL (fromSrc=${fromSrc}); send the tarball as the request body (fromSrc=-)`,
        );
      const changes = ctx.query.getAll('changes');
      let image: ImageRecord;
      try {
        image = await images.importTar(ctx.req, ctx.query.get('repo'), changes);
      } catch (err) {
        ctx.req.resume();
        if (err instanceof ApiError) throw err;
        if (err instanceof ImageInputError) throw new ApiError(400, err.message);
        if (err instanceof TarRefused) throw new ApiError(500, err.message);
        throw new ApiError(500, errorText(err));
      }
      events.publish('image', 'import', image.id, { name: image.repoTags[0] ?? image.id });
      const send = jsonStream(ctx);
      send({ status: image.id });
      ctx.res.end();
    },
  });
  api.add({
    method: 'GET',
    pattern: '/images/json',
    handler: async (ctx) => {
      const all = await images.list();
      ctx.json(200, all.map(imageSummary));
    },
  });
}

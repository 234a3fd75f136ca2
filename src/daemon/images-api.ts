import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pipeline } from 'node:stream/promises';
import type { ApiServer } from '../api/server.ts';
import { ApiError } from '../api/server.ts';
import type { EventsService } from './events.ts';
import { normalizeRef, type ImageRecord, type ImageStore } from './images.ts';

/** What the image endpoints ask of the containers: which use an image. */
export interface ImageUsers {
  usingImage(image: ImageRecord): { id: string; running: boolean }[];
}

function imageInspect(i: ImageRecord): Record<string, unknown> {
  // What the image's own config says (a commit's comment, author, container and layers).
  const full = (() => {
    try {
      return JSON.parse(i.configJson ?? '{}') as {
        comment?: string;
        author?: string;
        container?: string;
        rootfs?: { diff_ids?: string[] };
      };
    } catch {
      return {};
    }
  })();
  const config = {
    Env: i.config.Env,
    Cmd: i.config.Cmd,
    Entrypoint: i.config.Entrypoint,
    WorkingDir: i.config.WorkingDir,
    Image: '',
    Labels: i.config.Labels ?? null,
    ...(i.config.User ? { User: i.config.User } : {}),
    ...(i.config.ExposedPorts ? { ExposedPorts: i.config.ExposedPorts } : {}),
    ...(i.config.Volumes ? { Volumes: i.config.Volumes } : {}),
    ...(i.config.Healthcheck ? { Healthcheck: i.config.Healthcheck } : {}),
    ...(i.config.StopSignal ? { StopSignal: i.config.StopSignal } : {}),
    ...(i.config.OnBuild ? { OnBuild: i.config.OnBuild } : {}),
  };
  return {
    Id: i.id,
    RepoTags: i.repoTags,
    RepoDigests: [],
    Parent: '',
    Comment: full.comment ?? 'Imported from -',
    Created: i.created,
    Container: full.container ?? '',
    ContainerConfig: config,
    DockerVersion: '',
    Author: full.author ?? '',
    Config: config,
    Architecture: 'amd64',
    Os: 'linux',
    Size: i.size,
    VirtualSize: i.size,
    GraphDriver: { Data: { UpperDir: i.layerDir }, Name: 'overlay2' },
    RootFS: { Type: 'layers', Layers: full.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: i.created },
  };
}

/** The image endpoints statedock serves without a registry: import, list, inspect, tag, remove. */
export function registerImageRoutes(
  api: ApiServer,
  images: ImageStore,
  events: EventsService,
  users: ImageUsers,
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
      let names: string[];
      try {
        names = await images.load(ctx.req);
      } catch (err) {
        throw new ApiError(500, (err as Error).message);
      }
      for (const n of names) events.publish('image', 'load', n, { name: n });
      ctx.res.writeHead(200, {
        'Content-Type': 'application/json',
        'Transfer-Encoding': 'chunked',
      });
      ctx.res.end(
        names
          .map(
            (n) =>
              `${JSON.stringify({ stream: `Loaded image${n.startsWith('sha256:') ? ' ID' : ''}: ${n}\n` })}\r\n`,
          )
          .join(''),
      );
    },
  });
  api.add({
    method: 'GET',
    pattern: '/images/get',
    handler: async (ctx) => {
      const refs = ctx.query.getAll('names');
      const chosen: { image: ImageRecord; tags: string[] }[] = [];
      for (const ref of refs) {
        const i = await find(ref);
        const byId = i.id.slice(7).startsWith(ref.replace(/^sha256:/, ''));
        chosen.push({ image: i, tags: byId ? [] : [normalizeRef(ref)] });
      }
      const dir = mkdtempSync(`${tmpdir()}/statedock-save-`);
      try {
        await images.save(chosen, dir);
        ctx.res.writeHead(200, {
          'Content-Type': 'application/x-tar',
          'Transfer-Encoding': 'chunked',
        });
        const tar = spawn('tar', ['-C', dir, '-cf', '-', '.'], {
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        await pipeline(tar.stdout, ctx.res);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
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
      const ref = `${repo.replace(/^docker\.io\/library\//, '')}:${ctx.query.get('tag') || 'latest'}`;
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
      if (ctx.query.get('fromSrc') !== '-') {
        const ref = `${ctx.query.get('fromImage') ?? ''}${ctx.query.get('tag') ? `:${ctx.query.get('tag') as string}` : ''}`;
        throw new ApiError(
          500,
          `statedock does not pull images (no registry is reachable from it): cannot pull ${ref}; use docker import or docker load`,
        );
      }
      const changes = ctx.query.getAll('changes');
      const image = await images.importTar(ctx.req, ctx.query.get('repo'), changes);
      events.publish('image', 'import', image.id, { name: image.repoTags[0] ?? image.id });
      ctx.res.writeHead(200, {
        'Content-Type': 'application/json',
        'Transfer-Encoding': 'chunked',
      });
      ctx.res.end(`${JSON.stringify({ status: image.id })}\r\n`);
    },
  });
  api.add({
    method: 'GET',
    pattern: '/images/json',
    handler: async (ctx) => {
      const all = await images.list();
      ctx.json(
        200,
        all.map((i) => ({
          Containers: -1,
          Created: Math.floor(Date.parse(i.created) / 1000),
          Id: i.id,
          Labels: null,
          ParentId: '',
          RepoDigests: [],
          RepoTags: i.repoTags,
          SharedSize: -1,
          Size: i.size,
          VirtualSize: i.size,
        })),
      );
    },
  });
}

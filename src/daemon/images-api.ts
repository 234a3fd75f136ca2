import type { ApiServer } from '../api/server.ts';
import { ApiError } from '../api/server.ts';
import type { ImageStore } from './images.ts';

/** `docker import` and `docker images`: the image endpoints statedock serves without a registry. */
export function registerImageRoutes(api: ApiServer, images: ImageStore): void {
  api.add({
    method: 'POST',
    pattern: '/images/create',
    handler: async (ctx) => {
      if (ctx.query.get('fromSrc') !== '-') {
        const ref = `${ctx.query.get('fromImage') ?? ''}${ctx.query.get('tag') ? `:${ctx.query.get('tag') as string}` : ''}`;
        throw new ApiError(500, `statedock does not pull images (no registry is reachable from it): cannot pull ${ref}; use docker import or docker load`);
      }
      const changes = ctx.query.getAll('changes');
      const image = await images.importTar(ctx.req, ctx.query.get('repo'), changes);
      ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
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

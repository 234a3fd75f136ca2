import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { FsLayout } from '../../../effects/archive/requests.ts';
import type { EffectError } from '../../../effects/errors.ts';
import type { Session } from '../../../effects/runner.ts';
import type { ContainerContext } from '../../../machines/container/types.ts';
import { ApiError, type ApiServer } from '../../api/server.ts';
import { containerChanges } from '../../../effects/archive/changes.ts';
import {
  cleanPath,
  ContainerFs,
  ContainerPathError,
} from '../../../effects/archive/container-fs.ts';
import { goFileMode, goTime, packPath } from '../../../effects/archive/pack.ts';
import type { RealArchive } from '../../../effects/archive/real.ts';
import { lookupUser } from '../exec/process-spec.ts';
import type { CommitInput } from '../../../machines/commit/machine.ts';
import { normalizeRef, type ImageConfig, type ImageRecord, type ImageStore } from '../images.ts';
import { applyChanges } from './commit-changes.ts';
import { containerAttributes, liveRoot } from './exec-routes.ts';
import type { Containers } from './service.ts';

function flag(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  return !['0', 'false', 'no', 'none'].includes(v.toLowerCase());
}

/** Runs one actor of a one-shot machine to its end; its output. */
async function runOnce<T>(
  session: Session,
  machine: string,
  actorId: string,
  input: object,
): Promise<T> {
  const entry = session.spawn(machine, actorId, { actorId, ...input });
  const out = (await entry.done) as T;
  session.forget(actorId);
  return out;
}

/**
 * Where a container's files are: a running (or paused) container's mounted root, else (stopped)
 * overlay2's upper dir over its image's layer, or the vfs copy; with its volumes and binds.
 */
export function layoutOf(host: Containers, c: ContainerContext, withMounts = true): FsLayout {
  const id = c.record.id;
  const fs = host.layout.rootfsOf(id);
  const live = ['running', 'paused'].includes(c.record.state.status);
  const layers =
    live || fs.driver === 'vfs'
      ? [live ? liveRoot(host, id) : fs.dir]
      : [`${fs.dir}/diff`, ...lowerLayers(fs.lower)];
  return {
    layers,
    ...(layers.length > 1 ? { work: `${fs.dir}/work` } : {}),
    mounts: withMounts
      ? (c.record.config.mounts ?? []).map((m) => ({
          destination: m.destination,
          source: m.source,
          rw: m.rw,
        }))
      : [],
  };
}

/** A root filesystem's image layers (`:`-joined, topmost first) as a list. */
/**
 * Streams a tarball as the answer: a read that fails cuts the response short, and a client
 * that goes away stops the read.
 */
function sendTar(res: ServerResponse, tar: Readable): void {
  tar.on('error', () => res.destroy());
  res.on('close', () => tar.destroy());
  tar.pipe(res);
}

function lowerLayers(lower: string): string[] {
  return lower === '' ? [] : lower.split(':');
}

/** Go's filepath.Base: `/etc/` → `etc`, `/etc/.` → `.`, `/` → `/`. */
function goBase(path: string): string {
  const p = path.replace(/\/+$/, '');
  if (p === '') return '/';
  return p.slice(p.lastIndexOf('/') + 1);
}

/**
 * What a `docker cp` source path names (dockerd's ResolvePath): the directory part resolved
 * inside the container, the last name kept as it is (a symlink is copied as a link) unless the
 * path ends with `/` (followed) or `/.` (the directory's contents).
 */
function resolveSource(fs: ContainerFs, path: string): { target: string; abs: string } {
  const abs = path.startsWith('/') ? path : `/${path}`;
  const slash = abs.lastIndexOf('/');
  const base = abs.slice(slash + 1);
  const dir = fs.resolve(abs.slice(0, slash + 1), true);
  const target = base === '' || base === '.' ? dir : cleanPath(`${dir}/${base}`);
  return { target, abs };
}

function statHeader(fs: ContainerFs, target: string, abs: string): string | null {
  const at = fs.locate(target);
  if (!at) return null;
  const linkTarget = at.stat.isSymbolicLink() ? fs.resolve(target, true) : '';
  return Buffer.from(
    JSON.stringify({
      name: goBase(abs),
      size: at.stat.size,
      mode: goFileMode(at.stat),
      mtime: goTime(at.stat),
      linkTarget,
    }),
  ).toString('base64');
}

/** What a commit keeps of its parent image's JSON: its layers' diff IDs and its history. */
function parentOf(image: ImageRecord): { diffIds: string[]; history: unknown[] } {
  try {
    const j = JSON.parse(image.configJson) as {
      rootfs?: { diff_ids?: string[] };
      history?: unknown[];
    } | null;
    return { diffIds: j?.rootfs?.diff_ids ?? [], history: j?.history ?? [] };
  } catch {
    return { diffIds: [], history: [] };
  }
}

/** The archive endpoints: cp both ways (HEAD/GET/PUT …/archive), export, changes (diff), commit. */
export function registerArchiveRoutes(
  api: ApiServer,
  deps: {
    host: Containers;
    runtime: RealArchive;
    session: Session;
    images: ImageStore;
    execRoot: string;
  },
): void {
  const { host, runtime, session, images } = deps;
  let seq = 0;
  const notFound = (path: string, name: string): ApiError =>
    new ApiError(404, `Could not find the file ${path} in container ${name}`);
  const pathOf = (q: URLSearchParams): string => {
    const p = q.get('path');
    if (p === null || p === '') throw new ApiError(400, 'Path cannot be empty');
    return p;
  };

  const source = (
    name: string,
    path: string,
  ): { fs: ContainerFs; target: string; header: string } => {
    const c = host.resolve(name);
    const fs = new ContainerFs(layoutOf(host, c));
    try {
      const { target, abs } = resolveSource(fs, path);
      const header = statHeader(fs, target, abs);
      if (header === null) throw notFound(path, name);
      return { fs, target, header };
    } catch (err) {
      if (err instanceof ContainerPathError) throw new ApiError(400, err.message);
      throw err;
    }
  };

  api.add({
    method: 'HEAD',
    pattern: '/containers/{name}/archive',
    handler: (ctx) => {
      const { header } = source(ctx.params['name'] as string, pathOf(ctx.query));
      ctx.res.writeHead(200, {
        'X-Docker-Container-Path-Stat': header,
        'Content-Type': 'application/json',
      });
      ctx.res.end();
    },
  });

  api.add({
    method: 'GET',
    pattern: '/containers/{name}/archive',
    handler: (ctx) => {
      const name = ctx.params['name'] as string;
      const path = pathOf(ctx.query);
      const { fs, target, header } = source(name, path);
      const c = host.resolve(name);
      ctx.res.writeHead(200, {
        'X-Docker-Container-Path-Stat': header,
        'Content-Type': 'application/x-tar',
      });
      const abs = path.startsWith('/') ? path : `/${path}`;
      const rebase = goBase(abs) === '/' ? '.' : goBase(abs);
      sendTar(ctx.res, packPath(fs, target, rebase));
      host.events.publish('container', 'archive-path', c.record.id, containerAttributes(c));
    },
  });

  api.add({
    method: 'PUT',
    pattern: '/containers/{name}/archive',
    handler: async (ctx) => {
      const name = ctx.params['name'] as string;
      const path = pathOf(ctx.query);
      const c = host.resolve(name);
      const copyUIDGID = flag(ctx.query, 'copyUIDGID');
      let owner: { uid: number; gid: number } | null = null;
      if (copyUIDGID) {
        const user = c.record.config.user ?? '';
        const root = layoutOf(host, c).layers[0] as string;
        const u = user === '' ? { uid: 0, gid: 0 } : lookupUser(user, root);
        if ('error' in u) throw new ApiError(500, u.error);
        owner = u;
      }
      const upload = runtime.upload(ctx.req);
      const out = await runOnce<{ error: EffectError | null }>(
        session,
        'extract',
        `extract:${c.record.id}:${++seq}`,
        {
          request: {
            effect: 'archive.extract',
            container: c.record.id,
            layout: layoutOf(host, c),
            path: path.startsWith('/') ? path : `/${path}`,
            upload,
            noOverwriteDirNonDir: flag(ctx.query, 'noOverwriteDirNonDir'),
            owner,
          },
          attributes: containerAttributes(c),
        },
      );
      if (out.error) {
        ctx.req.resume();
        switch (out.error.code) {
          case 'ENOENT':
            throw notFound(path, name);
          case 'ENOTDIR':
          case 'EROFS':
          case 'EINVAL':
            throw new ApiError(400, out.error.message);
          default:
            throw new ApiError(500, out.error.message);
        }
      }
      ctx.res.writeHead(200, { 'Content-Length': 0 });
      ctx.res.end();
    },
  });

  api.add({
    method: 'GET',
    pattern: '/containers/{name}/export',
    handler: (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      // As dockerd's export: the container's root, without its volumes.
      const fs = new ContainerFs(layoutOf(host, c, false));
      ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
      sendTar(ctx.res, packPath(fs, '/', ''));
      host.events.publish('container', 'export', c.record.id, containerAttributes(c));
    },
  });

  api.add({
    method: 'GET',
    pattern: '/containers/{name}/changes',
    handler: (ctx) => {
      const c = host.resolve(ctx.params['name'] as string);
      const fs = host.layout.rootfsOf(c.record.id);
      const changes =
        fs.driver === 'vfs'
          ? containerChanges(fs.dir, lowerLayers(fs.lower), false)
          : containerChanges(`${fs.dir}/diff`, lowerLayers(fs.lower), true);
      ctx.json(200, changes.length > 0 ? changes : null);
    },
  });

  api.add({
    method: 'POST',
    pattern: '/commit',
    handler: async (ctx) => {
      const q = ctx.query;
      const name = q.get('container') ?? '';
      const c = host.resolve(name);
      const raw = (await ctx.body()).toString('utf8').trim();
      let overrides: Record<string, unknown> = {};
      if (raw !== '' && raw !== 'null') {
        try {
          overrides = (JSON.parse(raw) ?? {}) as Record<string, unknown>;
        } catch (err) {
          throw new ApiError(400, (err as Error).message);
        }
      }
      const repo = q.get('repo') ?? '';
      const tagPart = q.get('tag') ?? '';
      let tag: string | null = null;
      if (repo !== '') {
        if (
          !/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(repo) ||
          (tagPart !== '' && !/^[\w][\w.-]{0,127}$/.test(tagPart))
        )
          throw new ApiError(400, 'invalid reference format');
        // The CLI sends the canonical name (docker.io/library/x): the store keeps the familiar one.
        const familiar = repo.replace(/^docker\.io\/(library\/)?/, '');
        tag = normalizeRef(tagPart === '' ? familiar : `${familiar}:${tagPart}`);
      }
      const image = await images.resolve(c.record.config.imageId ?? c.record.image);
      if (!image) throw new ApiError(404, `No such image: ${c.record.image}`);
      const k = c.record.config;
      const entrypoint = k.entrypoint ?? image.config.Entrypoint ?? null;
      const cmd = k.cmd.slice((entrypoint ?? []).length);
      let config: ImageConfig = {
        ...image.config,
        Cmd: cmd.length > 0 ? cmd : null,
        Entrypoint: entrypoint,
        Env: k.env ?? image.config.Env,
        WorkingDir: k.workingDir ?? image.config.WorkingDir,
        User: k.user ?? '',
        Labels: { ...(image.config.Labels ?? {}), ...k.labels },
        ...(k.healthcheck ? { Healthcheck: k.healthcheck } : {}),
      };
      for (const key of [
        'Cmd',
        'Entrypoint',
        'Env',
        'WorkingDir',
        'User',
        'Labels',
        'ExposedPorts',
        'Volumes',
        'Healthcheck',
        'StopSignal',
        'OnBuild',
      ] as const)
        if (overrides[key] !== undefined && overrides[key] !== null)
          (config as unknown as Record<string, unknown>)[key] = overrides[key];
      const changes = q
        .getAll('changes')
        .flatMap((v) => v.split('\n'))
        .filter((l) => l.trim() !== '');
      config = applyChanges(config, changes);
      const running = c.record.state.status === 'running';
      const pause = flag(q, 'pause', true) && running;
      if (pause) {
        const r = await host.request(c.record.id, { type: 'api.pause' });
        if (r.result !== 'ok') throw new ApiError(409, r.message ?? r.result);
      }
      const fs = host.layout.rootfsOf(c.record.id);
      // An image stored before layers were content-addressed has no chain of layers to build on.
      if (image.layers.length === 0)
        throw new ApiError(
          500,
          `image ${image.id} predates statedock's layer store: pull, load or import it again to commit containers made from it`,
        );
      const parent = parentOf(image);
      // The new layer and its staging are the commit's own until it releases them.
      const hold = `commit-${randomBytes(8).toString('hex')}`;
      images.hold(hold, []);
      try {
        const out = await runOnce<{ id: string | null; error: EffectError | null }>(
          session,
          'commit',
          `commit:${c.record.id}:${++seq}`,
          {
            container: c.record.id,
            upper: fs.driver === 'vfs' ? fs.dir : `${fs.dir}/diff`,
            lower: lowerLayers(fs.lower),
            overlay: fs.driver !== 'vfs',
            hold,
            staging: images.layers.staging(`${hold}-layer`),
            configPath: images.layers.staging(`${hold}-config.json`),
            parentLayers: image.layers,
            image: {
              architecture: image.architecture,
              os: image.os,
              ...(image.variant === undefined ? {} : { variant: image.variant }),
              author: q.get('author') ?? '',
              comment: q.get('comment') ?? '',
              container: c.record.id,
              config,
              created: new Date().toISOString(),
              diffIds: parent.diffIds,
              history: parent.history,
            },
            tag,
            attributes: containerAttributes(c),
          } satisfies Omit<CommitInput, 'actorId'>,
        );
        if (out.error || out.id === null)
          throw new ApiError(500, out.error?.message ?? 'commit failed');
        ctx.json(201, { Id: out.id });
      } finally {
        // Released by the actor's clean-up already, unless it failed before it.
        await images.release(hold);
        if (pause) await host.request(c.record.id, { type: 'api.unpause' });
      }
    },
  });
}

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { EffectRequest } from '../../../effects/requests.ts';
import type { RootfsLayout } from '../../../effects/rootfs/layout.ts';
import type { ContainerContext, MountPoint } from '../../../machines/container/types.ts';
import type { OperationOutput } from '../../../machines/operation/machine.ts';
import type { ContainerHost, ContainerRequest, Reply } from '../../host/containers.ts';
import { ApiError, type RouteContext } from '../../api/server.ts';
import type { EventsService } from '../events.ts';
import type { ImageStore } from '../images.ts';
import type { StdioHubs } from '../task-stdio.ts';
import type { VolumeStore } from '../volumes.ts';
import {
  containerName,
  mountRequests,
  planContainer,
  readCreateRequest,
  userOf,
  type HostMount,
} from './create-request.ts';
import { containerInspect, containerSummary } from './render.ts';

/** How a reply becomes an HTTP status. */
export const statusOf: Record<Reply['result'], number> = {
  ok: 204,
  notModified: 304,
  conflict: 409,
  invalid: 400,
  notFound: 404,
  failed: 500,
};

export interface ContainersOptions {
  host: ContainerHost;
  images: ImageStore;
  volumes: VolumeStore;
  stdio: StdioHubs;
  layout: RootfsLayout;
  events: EventsService;
  /** The graph driver start-up chose (new containers' roots are made with it). */
  driver: () => string;
  operation: (
    title: string,
    effects: EffectRequest[],
    bestEffort?: boolean,
  ) => Promise<OperationOutput>;
}

/**
 * The daemon's side of the container host: Docker's API errors, promises over the host's
 * callbacks, and what a create looks up on the host (the image, the user's IDs, the volumes)
 * before the container's actor makes it.
 */
export class Containers {
  readonly host: ContainerHost;
  readonly images: ImageStore;
  readonly volumes: VolumeStore;
  readonly stdio: StdioHubs;
  readonly layout: RootfsLayout;
  readonly events: EventsService;
  private readonly driver: () => string;
  private readonly operation: ContainersOptions['operation'];
  /** Removals that take the container's anonymous volumes along (`rm -v`; `--rm` always does). */
  private readonly removeVolumes = new Set<string>();

  constructor(o: ContainersOptions) {
    this.host = o.host;
    this.images = o.images;
    this.volumes = o.volumes;
    this.stdio = o.stdio;
    this.layout = o.layout;
    this.events = o.events;
    this.driver = o.driver;
    this.operation = o.operation;
    this.host.onGone((id, record) => {
      const withVolumes = this.removeVolumes.delete(id) || record?.config.autoRemove === true;
      if (withVolumes && record) void this.removeAnonymousVolumes(id, record.config.mounts ?? []);
    });
  }

  contexts(): ContainerContext[] {
    return this.host.contexts();
  }

  /** Full ID, name (with or without '/'), or unique ID prefix; Docker's 404 otherwise. */
  resolve(ref: string): ContainerContext {
    const found = this.host.lookup(ref);
    if (found === 'ambiguous')
      throw new ApiError(400, `Multiple IDs found with provided prefix: ${ref}`);
    if (found === null) throw new ApiError(404, `No such container: ${ref}`);
    return found;
  }

  /** Sends a request to a container's actor and waits for its reply. */
  request(id: string, event: ContainerRequest): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (!this.host.request(id, event, resolve))
        reject(new ApiError(404, `No such container: ${id}`));
    });
  }

  /** A request whose reply is the HTTP answer: 204/304, or Docker's status and message. */
  async answer(ctx: RouteContext, id: string, event: ContainerRequest, prefix = ''): Promise<void> {
    const r = await this.request(id, event);
    if (r.result === 'ok' || r.result === 'notModified') return ctx.noContent(statusOf[r.result]);
    throw new ApiError(statusOf[r.result], `${prefix}${r.message ?? r.result}`);
  }

  /** `rm [-v]`: removes the container (with `volumes`, its anonymous volumes no other container mounts). */
  async remove(id: string, force: boolean, volumes: boolean): Promise<void> {
    const removed = this.whenRemoved(id);
    if (volumes) this.removeVolumes.add(id);
    const r = await this.request(id, { type: 'api.remove', force });
    if (r.result !== 'ok') {
      this.removeVolumes.delete(id);
      throw new ApiError(statusOf[r.result], r.message ?? r.result);
    }
    await removed;
  }

  whenExited(id: string): Promise<number> {
    return new Promise((resolve) => this.host.onNextExit(id, resolve));
  }

  whenRemoved(id: string): Promise<number> {
    return new Promise((resolve) => this.host.onRemoved(id, resolve));
  }

  async create(ctx: RouteContext): Promise<void> {
    const { body, name } = readCreateRequest(
      ctx.req.headers['content-type'] ?? '',
      (await ctx.body()).toString('utf8'),
      ctx.query.get('name') ?? '',
    );
    const imageRef = String(body['Image'] ?? '');
    const image = await this.images.resolve(imageRef);
    if (!image)
      throw new ApiError(
        404,
        `No such image: ${imageRef.includes(':') ? imageRef : `${imageRef}:latest`}`,
      );
    const id = randomBytes(32).toString('hex');
    const finalName = containerName(name, id);
    const conflict = this.host.nameConflict(finalName);
    if (conflict !== null) throw new ApiError(409, conflict);
    const user = parseUser(userOf(body), image.layerDir);
    const wanted = mountRequests(body);
    const mounts = await this.mounts(wanted.binds, wanted.volumes, wanted.mounts);
    const { record, spec } = planContainer({
      id,
      name: finalName,
      created: new Date().toISOString(),
      imageRef,
      image,
      body,
      user,
      mounts,
    });
    const driver = this.driver() === 'vfs' ? 'vfs' : 'overlay2';
    const r = await new Promise<Reply>((resolve) =>
      this.host.create({ record, spec, rootfs: { driver, layers: [image.layerDir] } }, resolve),
    );
    if (r.result !== 'ok') throw new ApiError(500, r.message ?? 'create failed');
    ctx.json(201, { Id: id, Warnings: [] });
  }

  /** Containers created from an image (by the reference they were created with, or its ID). */
  usingImage(image: { id: string; repoTags: string[] }): { id: string; running: boolean }[] {
    return this.contexts()
      .filter(
        (c) =>
          image.repoTags.includes(
            c.record.image.includes(':') ? c.record.image : `${c.record.image}:latest`,
          ) || image.id.includes(c.record.image),
      )
      .map((c) => ({ id: c.record.id, running: c.record.state.status === 'running' }));
  }

  /** The containers that mount a volume (other than `except`). */
  volumeUsers(name: string, except = ''): string[] {
    return this.contexts()
      .filter(
        (c) =>
          c.record.id !== except &&
          (c.record.config.mounts ?? []).some((m) => m.type === 'volume' && m.name === name),
      )
      .map((c) => c.record.id);
  }

  /** A container as `ps` lists it; with `imageSizes`, with its sizes. */
  summary(c: ContainerContext, imageSizes: Map<string, number> | null): Record<string, unknown> {
    const sizes = imageSizes
      ? {
          rw: this.layout.sizeRw(c.record.id),
          image: imageSizes.get(c.record.config.imageId ?? '') ?? 0,
        }
      : null;
    return containerSummary(c, sizes);
  }

  /** `docker inspect` of a container. */
  inspect(c: ContainerContext): Record<string, unknown> {
    const id = c.record.id;
    return containerInspect(c, {
      dir: this.host.dirOf(id),
      rootfs: this.layout.rootfsOf(id),
      merged: this.layout.bundleRootfs(id),
    });
  }

  /**
   * What `rm -v` and `--rm` take along: the container's anonymous volumes that no other
   * container mounts (dockerd's removeMountPoints), once the container is gone.
   */
  private async removeAnonymousVolumes(id: string, mounts: readonly MountPoint[]): Promise<void> {
    const effects: EffectRequest[] = [];
    for (const m of mounts) {
      if (m.type !== 'volume' || !m.anonymous || this.volumeUsers(m.name, id).length > 0) continue;
      effects.push(...this.volumes.removal(m.name));
    }
    if (effects.length > 0) await this.operation(`volume.remove anonymous of ${id}`, effects, true);
  }

  /**
   * The container's mounts: `-v /host:/ctr[:ro]` binds and `-v name:/ctr` named volumes of the
   * local driver (created on first use), `-v /ctr` anonymous volumes (the CLI sends them as
   * Config.Volumes), and `--mount type=bind|volume`.
   */
  private async mounts(
    binds: string[],
    volumes: Record<string, unknown>,
    hostMounts: HostMount[],
  ): Promise<MountPoint[]> {
    const out: MountPoint[] = [];
    const add = async (
      type: string,
      src: string,
      dst: string,
      rw: boolean,
      spec: string,
    ): Promise<void> => {
      if (!dst.startsWith('/'))
        throw new ApiError(
          400,
          `invalid volume specification: '${spec}': invalid mount config for type "${type}": invalid mount path: '${dst}' mount path must be absolute`,
        );
      if (out.some((m) => m.destination === dst))
        throw new ApiError(400, `Duplicate mount point: ${dst}`);
      if (type === 'bind') {
        if (!src.startsWith('/'))
          throw new ApiError(
            400,
            `invalid mount config for type "bind": invalid mount path: '${src}' mount path must be absolute`,
          );
        // dockerd makes a missing bind source (for -v; --mount refuses it).
        const made = await this.operation(`bind source ${src}`, [
          { effect: 'fs.mkdirAll', path: src, mode: 0o755 },
        ]);
        if (made.failure) throw new ApiError(500, made.failure.message);
        out.push({ type: 'bind', name: '', source: src, destination: dst, rw });
        return;
      }
      const v = await this.volumes.ensure(src === '' ? null : src);
      out.push({
        type: 'volume',
        name: v.name,
        source: v.mountpoint,
        destination: dst,
        rw,
        ...(v.anonymous ? { anonymous: true } : {}),
      });
    };
    for (const spec of binds) {
      const [src = '', dst = '', mode = 'rw'] = spec.split(':');
      await add(
        src.startsWith('/') ? 'bind' : 'volume',
        src,
        dst,
        !mode.split(',').includes('ro'),
        spec,
      );
    }
    for (const m of hostMounts) {
      if (m.Type !== 'bind' && m.Type !== 'volume')
        throw new ApiError(
          400,
          `mount type ${m.Type} is not supported by statedock yet: use bind or volume`,
        );
      await add(
        m.Type,
        m.Source ?? '',
        m.Target ?? '',
        m.ReadOnly !== true,
        `${m.Source ?? ''}:${m.Target ?? ''}`,
      );
    }
    for (const dst of Object.keys(volumes))
      if (!out.some((m) => m.destination === dst)) await add('volume', '', dst, true, dst);
    return out;
  }
}

/** `-u uid[:gid]` or a user name of the image's /etc/passwd. */
function parseUser(spec: string, layerDir: string): { uid: number; gid: number } {
  if (spec === '') return { uid: 0, gid: 0 };
  const [u = '', g] = spec.split(':');
  const lookup = (file: string, name: string): number | null => {
    try {
      const line = readFileSync(`${layerDir}/etc/${file}`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${name}:`));
      return line ? Number(line.split(':')[2]) : null;
    } catch {
      return null;
    }
  };
  const uid = /^\d+$/.test(u) ? Number(u) : lookup('passwd', u);
  if (uid === null)
    throw new ApiError(400, `unable to find user ${u}: no matching entries in passwd file`);
  const gid = g === undefined ? uid : /^\d+$/.test(g) ? Number(g) : lookup('group', g);
  if (gid === null)
    throw new ApiError(400, `unable to find group ${g ?? ''}: no matching entries in group file`);
  return { uid, gid };
}

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { EffectRequest } from '../../../effects/requests.ts';
import type { RootfsLayout } from '../../../effects/rootfs/layout.ts';
import type { ContainerContext, MountPoint } from '../../../machines/container/types.ts';
import type { HealthState } from '../../../machines/health/types.ts';
import type { OperationOutput } from '../../../machines/operation/machine.ts';
import type { ContainerHost, ContainerRequest, Reply } from '../../host/containers.ts';
import { ApiError, type RouteContext } from '../../api/server.ts';
import type { EventsService } from '../events.ts';
import type { ImageStore } from '../images.ts';
import type { StdioHubs } from '../task-stdio.ts';
import type { VolumeStore } from '../volumes.ts';
import { logDriverFor, type LogDriver } from '../logging/drivers.ts';
import { apiErrorOf, containerName, planContainer, readCreateRequest } from './create-request.ts';
import { lookUpForCreate } from './create-lookups.ts';
import { hostSupport } from './host-support.ts';
import { checkCreateRequest } from './spec/check.ts';
import { resolveJoins, type JoinTarget } from './spec/namespaces.ts';
import { shareableShm } from '../../../machines/container/ipc.ts';
import { containerInspect, containerSummary } from './render.ts';
import type { NetworkController } from '../network/controller.ts';
import { containerNetView, type ContainerNetView } from '../network/render.ts';

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
  /** The daemon's --seccomp-profile as start-up read it (JSON), when one was given. */
  daemonSeccompProfile?: () => string | null;
  /** Says what went wrong in work no client waits for (the daemon's log). */
  warn: (message: string) => void;
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
  private readonly daemonSeccompProfile: () => string | null;
  /** The network controller (inspect and ps show each container's networking). */
  network: NetworkController | null = null;
  /** State.Health of a container (its health monitor's); the daemon sets it. */
  healthOf: (id: string) => HealthState | null = () => null;
  /** The execs of a container that have not finished (inspect's ExecIDs); the daemon sets it. */
  execIdsOf: (id: string) => string[] = () => [];

  constructor(o: ContainersOptions) {
    this.daemonSeccompProfile = o.daemonSeccompProfile ?? (() => null);
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
      if (withVolumes && record)
        this.removeAnonymousVolumes(id, record.config.mounts ?? []).catch((err: unknown) =>
          o.warn(`removing the anonymous volumes of ${id} failed: ${(err as Error).message}`),
        );
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

  /** The exit code of the container's next exit; with `cancel`, forgotten when it aborts (a client gone). */
  whenExited(id: string, cancel?: AbortSignal): Promise<number> {
    return new Promise((resolve) => {
      const stop = this.host.onNextExit(id, resolve);
      cancel?.addEventListener('abort', stop, { once: true });
    });
  }

  /** The container's last exit code once it is removed; with `cancel`, forgotten when it aborts. */
  whenRemoved(id: string, cancel?: AbortSignal): Promise<number> {
    return new Promise((resolve) => {
      const stop = this.host.onRemoved(id, resolve);
      cancel?.addEventListener('abort', stop, { once: true });
    });
  }

  async create(ctx: RouteContext): Promise<void> {
    const { body, name } = readCreateRequest(
      ctx.req.headers['content-type'] ?? '',
      (await ctx.body()).toString('utf8'),
      ctx.query.get('name') ?? '',
    );
    const facts = hostSupport();
    let checked;
    try {
      checked = checkCreateRequest(body, facts, existsSync);
    } catch (err) {
      throw apiErrorOf(err);
    }
    const imageRef = checked.config.image;
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
    let planned;
    try {
      // What the plan needs from the host: users and groups, devices, joined containers, mounts.
      const looked = await lookUpForCreate(checked, {
        imageLayers: image.layerDirs,
        findContainer: (ref) => {
          const found = this.host.lookup(ref);
          return found === 'ambiguous' ? null : found;
        },
        volumes: this.volumes,
        makeBindSource: async (path) => {
          const made = await this.operation(`bind source ${path}`, [
            { effect: 'fs.mkdirAll', path, mode: 0o755 },
          ]);
          if (made.failure) throw new ApiError(500, made.failure.message);
        },
      });
      planned = planContainer({
        id,
        name: finalName,
        created: new Date().toISOString(),
        imageRef,
        image,
        body,
        checked,
        looked,
        facts,
        daemonSeccompProfile: this.daemonSeccompProfile(),
        net: {
          resolveContainer: (ref) => {
            const found = this.host.lookup(ref);
            return found === null || found === 'ambiguous' ? null : found.record.id;
          },
          hostHostname: hostname(),
          imageExposed: Object.keys(image.config.ExposedPorts ?? {}),
        },
      });
    } catch (err) {
      throw apiErrorOf(err);
    }
    const { record, spec, warnings } = planned;
    const driver = this.driver() === 'vfs' ? 'vfs' : 'overlay2';
    const r = await new Promise<Reply>((resolve) =>
      this.host.create({ record, spec, rootfs: { driver, layers: image.layerDirs } }, resolve),
    );
    if (r.result !== 'ok') throw new ApiError(500, r.message ?? 'create failed');
    ctx.json(201, { Id: id, Warnings: warnings });
  }

  /** A container's logging driver (its LogConfig), where its output hub writes. */
  logDriverOf(id: string): LogDriver {
    const found = this.host.lookup(id);
    const record = found === null || found === 'ambiguous' ? undefined : found.record;
    return logDriverFor(this.host.dirOf(id), id, record?.config.log);
  }

  /** A container's logging driver, to read its logs back. */
  logDriver(record: ContainerContext['record']): LogDriver {
    return logDriverFor(this.host.dirOf(record.id), record.id, record.config.log);
  }

  /**
   * What a spec can only be told when its task is made: the current PID of a container whose
   * namespaces it joins, and where the shareable /dev/shm it binds is mounted (its own, which
   * its actor mounted before asking for the task, or the joined container's).
   */
  prepareSpec(_id: string, spec: unknown): Promise<unknown> {
    return Promise.resolve(
      resolveJoins(
        spec as Record<string, unknown>,
        (target) => this.joinTarget(target),
        (target) => this.shmOf(target),
      ),
    );
  }

  /** Where a container's shareable /dev/shm is mounted; null when it has none. */
  private shmOf(id: string): string | null {
    const c = this.contexts().find((x) => x.record.id === id);
    return c ? (shareableShm({ record: c.record, dir: this.host.dirOf(id) })?.path ?? null) : null;
  }

  /** What a container another one joins is doing, when that one's task is created. */
  private joinTarget(id: string): JoinTarget {
    const c = this.contexts().find((x) => x.record.id === id);
    if (!c) return { state: 'missing' };
    if (c.record.state.status === 'restarting') return { state: 'restarting' };
    if (!['running', 'paused'].includes(c.record.state.status) || c.record.state.pid <= 0)
      return { state: 'notRunning' };
    return { state: 'running', pid: c.record.state.pid };
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
    return containerSummary(c, sizes, this.healthOf(c.record.id), this.netView(c));
  }

  private netView(c: ContainerContext): ContainerNetView | undefined {
    return this.network
      ? containerNetView(this.network, c, (id) => this.host.dirOf(id))
      : undefined;
  }

  /** `docker inspect` of a container; with its image's size, with its sizes (`--size`). */
  inspect(c: ContainerContext, imageSize?: number): Record<string, unknown> {
    const id = c.record.id;
    return containerInspect(
      c,
      {
        dir: this.host.dirOf(id),
        rootfs: this.layout.rootfsOf(id),
        merged: this.layout.bundleRootfs(id),
        ...(imageSize === undefined ? {} : { imageSize }),
      },
      {
        health: this.healthOf(id),
        execIds: this.execIdsOf(id),
        ...(imageSize === undefined ? {} : { sizeRw: this.layout.sizeRw(id) }),
        net: this.netView(c),
      },
    );
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
}

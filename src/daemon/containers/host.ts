import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Session } from '../../../effects/runner.ts';
import type { LevelStore } from '../../../effects/store/real.ts';
import {
  isSettled,
  shutdownStops,
  type ContainerSnapshot,
} from '../../../machines/container/snapshot.ts';
import type {
  ContainerContext,
  ContainerRecord,
  MountPoint,
  ReplyResult,
} from '../../../machines/container/types.ts';
import {
  storedView,
  type HostView,
  type TaskView,
} from '../../../machines/container/invariants.ts';
import { mountPoints } from '../../../effects/kernel/real.ts';
import { ApiError, type RouteContext } from '../../api/server.ts';
import type { ContainerRuntime } from '../container-runtime.ts';
import type { ImageStore } from '../images.ts';
import type { EventsService } from '../events.ts';
import type { VolumeStore } from '../volumes.ts';
import {
  containerName,
  mountRequests,
  nameConflict,
  planContainer,
  readCreateRequest,
  userOf,
  type HostMount,
} from './create-request.ts';
import { containerInspect, containerSummary } from './render.ts';
import type { NetworkController } from '../network/controller.ts';
import { containerNetView } from '../network/render.ts';
import { hostNetworkView } from '../network/view.ts';

export interface Reply {
  result: ReplyResult;
  message?: string;
}

export const statusOf: Record<ReplyResult, number> = {
  ok: 204,
  notModified: 304,
  conflict: 409,
  invalid: 400,
  notFound: 404,
  failed: 500,
};

/**
 * The daemon's containers: one container actor each (the only writer of its record), the
 * Engine API endpoints that drive them, and the routing of containerd's exits to them.
 * API handlers send events with a request id and answer from the actor's reply mark.
 */
export class ContainerHost {
  private readonly session: Session;
  private readonly store: LevelStore;
  readonly images: ImageStore;
  readonly volumes: VolumeStore;
  /** Removals that take the container's anonymous volumes along (`rm -v`; `--rm` always does). */
  readonly removeVolumes = new Set<string>();
  readonly runtime: ContainerRuntime;
  readonly root: string;
  private readonly replies = new Map<string, (r: Reply) => void>();
  private readonly exitWaiters = new Map<string, ((code: number) => void)[]>();
  private readonly removedWaiters = new Map<string, ((code: number) => void)[]>();
  private reqSeq = 0;
  /** Container transitions seen so far (the host observation retries when one happens while it looks). */
  private transitions = 0;
  restored: Promise<void> = Promise.resolve();

  private readonly runtimeExecRoot: string;

  readonly events: EventsService;
  /** The network controller (inspect and ps show each container's networking). */
  network: NetworkController | null = null;

  constructor(opts: {
    session: Session;
    store: LevelStore;
    images: ImageStore;
    volumes: VolumeStore;
    runtime: ContainerRuntime;
    root: string;
    execRoot: string;
    events: EventsService;
  }) {
    this.volumes = opts.volumes;
    this.runtimeExecRoot = opts.execRoot;
    this.events = opts.events;
    this.session = opts.session;
    this.store = opts.store;
    this.images = opts.images;
    this.runtime = opts.runtime;
    this.root = opts.root;
    this.session.onRecord((actor, r) => {
      if (actor.startsWith('container:') && r.kind === 'transition') this.transitions += 1;
      if (!actor.startsWith('container:') || r.kind !== 'mark') {
        // A container actor stops only when its removal is done: what it leaves on disk goes now.
        if (r.kind === 'actor.stop' && actor.startsWith('container:')) {
          const id = actor.slice(10);
          const record = this.recordOf(actor);
          void this.forget(id, record).finally(() =>
            this.notify(this.removedWaiters, id, record?.state.exitCode ?? 0),
          );
        }
        return;
      }
      if (r.mark.mark === 'reply') {
        const req = String(r.mark['req']);
        const resolve = this.replies.get(req);
        this.replies.delete(req);
        resolve?.({
          result: r.mark['result'] as ReplyResult,
          ...(typeof r.mark['message'] === 'string' ? { message: r.mark['message'] } : {}),
        });
      }
      if (r.mark.mark === 'event')
        this.events.publish(
          'container',
          String(r.mark['action']),
          actor.slice(10),
          r.mark['attributes'] as Record<string, string>,
        );
      if (r.mark.mark === 'event' && r.mark['action'] === 'die') {
        const code = Number((r.mark['attributes'] as Record<string, string>)['exitCode'] ?? 0);
        this.notify(this.exitWaiters, actor.slice(10), code);
      }
    });
  }

  private notify(map: Map<string, ((code: number) => void)[]>, id: string, code: number): void {
    const ws = map.get(id);
    map.delete(id);
    for (const w of ws ?? []) w(code);
  }

  private exitCodeOf(actor: string): number {
    return this.recordOf(actor)?.state.exitCode ?? 0;
  }

  private recordOf(actor: string): ContainerRecord | undefined {
    const e = this.session.actors.get(actor);
    return e ? (e.actor.getSnapshot() as { context: ContainerContext }).context.record : undefined;
  }

  contexts(): ContainerContext[] {
    const out: ContainerContext[] = [];
    for (const [id, e] of this.session.actors) {
      if (!id.startsWith('container:')) continue;
      const snap = e.actor.getSnapshot() as { status: string; context: ContainerContext };
      if (snap.status === 'active') out.push(snap.context);
    }
    return out;
  }

  /**
   * Restore: one actor per persisted container, told what containerd says of its task and
   * whether live-restore keeps it; the machine finishes removals, reattaches or stops running
   * ones, records exits it missed, and applies restart policies. API requests wait for this.
   */
  restore(
    found: { id: string; task: 'running' | 'paused' | 'stopped' | 'none' }[],
    liveRestore: boolean,
    heardExits: (id: string) => ({ type: string } & Record<string, unknown>)[] = () => [],
  ): Promise<void> {
    this.restored = (async () => {
      for (const f of found) {
        const record = (await this.store.db.get(`container/${f.id}`).catch(() => undefined)) as
          ContainerRecord | undefined;
        if (!record) continue;
        const spec = await this.store.db.get(`spec/${f.id}`).catch(() => ({}));
        const alive = f.task === 'running' || f.task === 'paused';
        if (f.task === 'none') await this.runtime.releaseRootfs(f.id).catch(() => undefined);
        if (alive) {
          this.runtime.hub(f.id).tty = record.config.tty === true;
          await this.runtime.reattach(f.id, record.config.openStdin === true);
        }
        this.session.spawn('container', `container:${f.id}`, {
          actorId: `container:${f.id}`,
          record,
          origin: 'restore',
          task: f.task,
          liveRestore,
          spec,
          stdout: `${this.root}/containers/${f.id}/stdout`,
          stderr: `${this.root}/containers/${f.id}/stderr`,
        });
        // Exits heard since the client connected belong to the task restore found alive; of a
        // task already stopped, containerd's list told restore.
        const heard = heardExits(f.id);
        if (alive) for (const e of heard) this.session.send(`container:${f.id}`, e);
      }
      await this.sweep();
    })();
    return this.restored;
  }

  /**
   * What a crash between deleting a container's record and removing its files left behind
   * (directories of a container no record names) is removed at restore, before the API answers.
   */
  private async sweep(): Promise<void> {
    const known = new Set<string>();
    for await (const key of this.store.db.keys({ gte: 'container/', lt: 'container/\uffff' }))
      known.add(key.slice('container/'.length));
    for (const id of ['containers', 'overlay2', 'vfs/dir'].flatMap((d) => {
      try {
        return readdirSync(`${this.root}/${d}`);
      } catch {
        return [];
      }
    })) {
      if (!/^[0-9a-f]{64}$/.test(id) || known.has(id)) continue;
      await this.forget(id, undefined);
    }
  }

  /**
   * Restore's second look: once the restored containers have settled, a task containerd has
   * for a container restore left without one (a create or start the dead daemon had sent,
   * finished after restore listed the tasks) is handed to its actor, which stops or deletes it.
   * Returns the containers it found such a task for.
   */
  async sweepStrayTasks(): Promise<string[]> {
    const seen = await this.settledLook(() => this.runtime.containerdView());
    const stray: string[] = [];
    for (const t of seen.tasks) {
      const e = this.session.actors.get(`container:${t.id}`);
      const snap = e?.actor.getSnapshot() as
        { status: string; value: unknown; context: ContainerContext } | undefined;
      if (
        !snap ||
        snap.status !== 'active' ||
        snap.value !== 'idle' ||
        snap.context.task !== 'none'
      )
        continue;
      stray.push(t.id);
      this.session.send(`container:${t.id}`, { type: 'containerd.taskFound', status: t.status });
    }
    return stray;
  }

  /** Full ID, name (with or without '/'), or unique ID prefix; Docker's 404 otherwise. */
  resolve(ref: string): ContainerContext {
    const all = this.contexts();
    const byId =
      all.find((c) => c.record.id === ref) ??
      all.find((c) => c.record.name === `/${ref.replace(/^\//, '')}`);
    if (byId) return byId;
    const prefixed = all.filter((c) => c.record.id.startsWith(ref));
    if (prefixed.length === 1) return prefixed[0] as ContainerContext;
    if (prefixed.length > 1)
      throw new ApiError(400, `Multiple IDs found with provided prefix: ${ref}`);
    throw new ApiError(404, `No such container: ${ref}`);
  }

  /** Sends a request to a container's actor and waits for its reply. */
  request(id: string, event: { type: string } & Record<string, unknown>): Promise<Reply> {
    const req = `req-${++this.reqSeq}`;
    const reply = new Promise<Reply>((resolve) => this.replies.set(req, resolve));
    this.session.send(`container:${id}`, { ...event, req });
    return reply;
  }

  async answer(
    ctx: RouteContext,
    id: string,
    event: { type: string } & Record<string, unknown>,
    prefix = '',
  ): Promise<void> {
    const r = await this.request(id, event);
    if (r.result === 'ok' || r.result === 'notModified') return ctx.noContent(statusOf[r.result]);
    throw new ApiError(statusOf[r.result], `${prefix}${r.message ?? r.result}`);
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
    const taken = this.contexts().find((c) => c.record.name === finalName);
    if (taken) throw nameConflict(finalName, taken.record.id);
    const user = this.parseUser(userOf(body), image.layerDir);
    const wanted = mountRequests(body);
    const mounts = await this.mounts(wanted.binds, wanted.volumes, wanted.mounts);
    const { record, spec, warnings } = planContainer({
      id,
      name: finalName,
      created: new Date().toISOString(),
      imageRef,
      image,
      body,
      user,
      mounts,
      net: {
        resolveContainer: (ref) => {
          try {
            return this.resolve(ref).record.id;
          } catch {
            return null;
          }
        },
        hostHostname: hostname(),
        imageExposed: Object.keys(image.config.ExposedPorts ?? {}),
      },
    });
    mkdirSync(`${this.root}/containers/${id}`, { recursive: true, mode: 0o710 });
    await this.runtime.prepareRootfs(id, image.layerDir);
    await this.store.db.put(`spec/${id}`, spec);
    const req = `req-${++this.reqSeq}`;
    const reply = new Promise<Reply>((resolve) => this.replies.set(req, resolve));
    this.session.spawn('container', `container:${id}`, {
      actorId: `container:${id}`,
      record,
      origin: 'create',
      req,
      spec,
      stdout: `${this.root}/containers/${id}/stdout`,
      stderr: `${this.root}/containers/${id}/stderr`,
    });
    const r = await reply;
    if (r.result !== 'ok') throw new ApiError(500, r.message ?? 'create failed');
    ctx.json(201, { Id: id, Warnings: warnings });
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

  /** Running containers, for the shutdown machine. */
  running(): { id: string; stopSignal: string; stopTimeout: number }[] {
    return shutdownStops(this.snapshots());
  }

  /** Every container actor's snapshot. */
  private *snapshots(): Generator<ContainerSnapshot> {
    for (const [id, e] of this.session.actors)
      if (id.startsWith('container:')) yield e.actor.getSnapshot() as ContainerSnapshot;
  }

  /** Stops one container at shutdown (its stop signal, its timeout, then SIGKILL). */
  async stop(id: string, _signal: string, timeoutS: number): Promise<{ exitCode: number }> {
    await this.request(id, { type: 'api.stop', timeoutS, shutdown: true });
    return { exitCode: this.exitCodeOf(`container:${id}`) };
  }

  /** Waits until no container actor is mid-transition (none left in a transitional state). */
  async settle(): Promise<number> {
    for (let i = 0; i < 600 && ![...this.snapshots()].every((snap) => isSettled(snap)); i++)
      await new Promise((r) => setTimeout(r, 50));
    return this.contexts().length;
  }

  /**
   * Looks at the host once the containers have settled, again while a container moved during
   * the look (at most five times), so what `look` returns is of one settled moment.
   */
  private async settledLook<T>(look: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.settle();
      const before = this.transitions;
      const seen = await look();
      if (this.transitions === before || attempt >= 4) return seen;
    }
  }

  /**
   * The host as the restore invariants see it, once the containers have settled: the store's
   * containers, containerd's tasks and containers, and which container roots are mounted
   * (overlay roots in the shims' bundles, or under the data root). Taken again while a
   * container moved during the look, so the view is of one settled moment.
   */
  observeHost(): Promise<HostView> {
    return this.settledLook(async () => {
      const containers: HostView['containers'] = [];
      for await (const [, v] of this.store.db.iterator({
        gte: 'container/',
        lt: 'container/\uffff',
      }))
        containers.push(storedView(v as ContainerRecord));
      const seen = await this.runtime.containerdView();
      const roots = [this.root, this.runtimeExecRoot].map((p) => `${p}/`);
      const mounted = mountPoints()
        .filter((m) => roots.some((r) => m.startsWith(r)))
        .flatMap((m) => /\/([0-9a-f]{64})\/(?:rootfs|merged)$/.exec(m)?.[1] ?? []);
      return {
        containers,
        tasks: seen.tasks.map((t) => ({
          id: t.id,
          status: (['created', 'running', 'paused', 'pausing', 'stopped'].includes(t.status)
            ? t.status
            : 'unknown') as TaskView['status'],
        })),
        containerdContainers: seen.containers,
        acknowledged: [],
        mounted: [...new Set(mounted)],
        ...(this.network?.ready ? { network: hostNetworkView(this.network.facts) } : {}),
      };
    });
  }

  /** `-u uid[:gid]` or a user name of the image's /etc/passwd. */
  private parseUser(spec: string, layerDir: string): { uid: number; gid: number } {
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
        if (!existsSync(src)) mkdirSync(src, { recursive: true });
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

  /**
   * What a removed container leaves: its spec, its directory (logs) and root filesystem, and
   * with `rm -v` or `--rm` its anonymous volumes that no other container mounts (dockerd's
   * removeMountPoints). Runs once its actor has stopped: the record is already deleted.
   */
  private async forget(id: string, record: ContainerRecord | undefined): Promise<void> {
    const withVolumes = this.removeVolumes.delete(id) || record?.config.autoRemove === true;
    await this.store.db.del(`spec/${id}`).catch(() => undefined);
    rmSync(`${this.root}/containers/${id}`, { recursive: true, force: true });
    this.runtime.removeRootfs(id);
    if (!withVolumes) return;
    for (const m of record?.config.mounts ?? []) {
      if (m.type !== 'volume' || !m.anonymous || this.volumeUsers(m.name, id).length > 0) continue;
      await this.volumes.remove(m.name).catch(() => undefined);
    }
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
          rw: this.runtime.sizeRw(c.record.id),
          image: imageSizes.get(c.record.config.imageId ?? '') ?? 0,
        }
      : null;
    return containerSummary(
      c,
      sizes,
      this.network ? containerNetView(this.network, c, this.root) : undefined,
    );
  }

  /** `docker inspect` of a container. */
  inspect(c: ContainerContext): Record<string, unknown> {
    const id = c.record.id;
    return containerInspect(
      c,
      {
        dir: `${this.root}/containers/${id}`,
        rootfs: this.runtime.rootfsOf(id),
        merged: this.runtime.bundleRootfs(id),
      },
      this.network ? containerNetView(this.network, c, this.root) : undefined,
    );
  }

  whenExited(id: string): Promise<number> {
    return new Promise((resolve) =>
      this.exitWaiters.set(id, [...(this.exitWaiters.get(id) ?? []), resolve]),
    );
  }

  whenRemoved(id: string): Promise<number> {
    return new Promise((resolve) =>
      this.removedWaiters.set(id, [...(this.removedWaiters.get(id) ?? []), resolve]),
    );
  }
}

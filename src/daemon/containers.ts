import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { Session } from '../../effects/runner.ts';
import type { LevelStore } from '../../effects/store/real.ts';
import {
  isSettled,
  shutdownStops,
  signalNumber,
  type ContainerContext,
  type ContainerSnapshot,
} from '../../machines/container/machine.ts';
import { validateRestartPolicy, type RestartPolicyName } from '../../machines/container/restart.ts';
import type { ContainerRecord, MountPoint, ReplyResult } from '../../machines/container/types.ts';
import { storedView, type HostView, type TaskView } from '../../machines/container/invariants.ts';
import { mountPoints } from '../../effects/kernel/real.ts';
import { ApiError, type ApiServer, type RouteContext } from '../api/server.ts';
import { treeSize, type ContainerRuntime } from './container-runtime.ts';
import type { ImageStore } from './images.ts';
import { buildSpec } from './oci-spec.ts';
import { parseFilters, type EventsService } from './events.ts';
import { streamLogs } from './logs.ts';
import { statusText } from './human.ts';
import type { VolumeStore } from './volumes.ts';

const runCommand = promisify(execFile);

interface Reply {
  result: ReplyResult;
  message?: string;
}

const statusOf: Record<ReplyResult, number> = {
  ok: 204,
  notModified: 304,
  conflict: 409,
  invalid: 400,
  notFound: 404,
  failed: 500,
};

/** dockerd's boolean query values: 1/true/yes/on → true. */
function flag(q: URLSearchParams, name: string): boolean {
  const v = (q.get(name) ?? '').toLowerCase();
  return v !== '' && !['0', 'false', 'no', 'none'].includes(v);
}

/**
 * The daemon's containers: one container actor each (the only writer of its record), the
 * Engine API endpoints that drive them, and the routing of containerd's exits to them.
 * API handlers send events with a request id and answer from the actor's reply mark.
 */
export class ContainerHost {
  private readonly session: Session;
  private readonly store: LevelStore;
  private readonly images: ImageStore;
  private readonly volumes: VolumeStore;
  /** Removals that take the container's anonymous volumes along (`rm -v`; `--rm` always does). */
  private readonly removeVolumes = new Set<string>();
  private readonly runtime: ContainerRuntime;
  private readonly root: string;
  private readonly replies = new Map<string, (r: Reply) => void>();
  private readonly exitWaiters = new Map<string, ((code: number) => void)[]>();
  private readonly removedWaiters = new Map<string, ((code: number) => void)[]>();
  private reqSeq = 0;
  /** Container transitions seen so far (the host observation retries when one happens while it looks). */
  private transitions = 0;
  private restored: Promise<void> = Promise.resolve();

  private readonly runtimeExecRoot: string;

  readonly events: EventsService;

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

  private contexts(): ContainerContext[] {
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

  private async answer(
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
    const type = ctx.req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json'))
      throw new ApiError(400, `Content-Type specified (${type}) must be 'application/json'`);
    const raw = (await ctx.body()).toString('utf8');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw === '' ? 'x' : raw) as Record<string, unknown>;
    } catch (err) {
      throw new ApiError(500, raw === '' ? 'EOF' : (err as Error).message);
    }
    const name = ctx.query.get('name') ?? '';
    if (name !== '' && !/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name))
      throw new ApiError(
        400,
        `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    const imageRef = String(body['Image'] ?? '');
    const image = await this.images.resolve(imageRef);
    if (!image)
      throw new ApiError(
        404,
        `No such image: ${imageRef.includes(':') ? imageRef : `${imageRef}:latest`}`,
      );
    const host = (body['HostConfig'] ?? {}) as Record<string, unknown>;
    const policy = (host['RestartPolicy'] ?? { Name: 'no', MaximumRetryCount: 0 }) as {
      Name?: string;
      MaximumRetryCount?: number;
    };
    const restartPolicy = {
      name: (policy.Name || 'no') as RestartPolicyName,
      maximumRetryCount: policy.MaximumRetryCount ?? 0,
    };
    const autoRemove = host['AutoRemove'] === true;
    const invalid = validateRestartPolicy(restartPolicy, autoRemove);
    if (invalid) throw new ApiError(400, invalid);
    const networkMode = String(host['NetworkMode'] ?? 'default');
    if (!['default', 'none', 'host', 'bridge', ''].includes(networkMode))
      throw new ApiError(
        400,
        `network mode ${networkMode} is not supported by statedock yet: use --network none or --network host`,
      );
    const entrypoint = (body['Entrypoint'] as string[] | null) ?? image.config.Entrypoint ?? [];
    const cmd =
      (body['Cmd'] as string[] | null) ?? (body['Entrypoint'] ? [] : (image.config.Cmd ?? []));
    const args = [...entrypoint, ...cmd];
    if (args.length === 0) throw new ApiError(400, 'No command specified');
    const id = randomBytes(32).toString('hex');
    const finalName = name === '' ? `/${id.slice(0, 12)}` : `/${name.replace(/^\//, '')}`;
    const taken = this.contexts().find((c) => c.record.name === finalName);
    if (taken)
      throw new ApiError(
        409,
        `Conflict. The container name "${finalName}" is already in use by container "${taken.record.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    const config = body as {
      Env?: string[];
      WorkingDir?: string;
      Hostname?: string;
      Labels?: Record<string, string>;
      StopSignal?: string;
      StopTimeout?: number;
      User?: string;
      Tty?: boolean;
      OpenStdin?: boolean;
      StdinOnce?: boolean;
    };
    if (config.StopSignal && signalNumber(config.StopSignal) === null)
      throw new ApiError(400, `Invalid signal: ${config.StopSignal}`);
    const user = this.parseUser(config.User ?? '', image.layerDir);
    const mounts = await this.mounts(
      (host['Binds'] as string[] | null) ?? [],
      (body['Volumes'] as Record<string, unknown> | null) ?? {},
      (host['Mounts'] as HostMount[] | null) ?? [],
    );
    mkdirSync(`${this.root}/containers/${id}`, { recursive: true, mode: 0o710 });
    await this.runtime.prepareRootfs(id, image.layerDir);
    const record: ContainerRecord = {
      id,
      name: finalName,
      image: imageRef,
      created: new Date().toISOString(),
      config: {
        cmd: args,
        stopSignal: config.StopSignal ?? 'SIGTERM',
        stopTimeout: config.StopTimeout ?? 10,
        restartPolicy,
        autoRemove,
        labels: config.Labels ?? {},
        tty: config.Tty === true,
        openStdin: config.OpenStdin === true,
        stdinOnce: config.StdinOnce === true,
        imageId: image.id,
        env: [...image.config.Env, ...(config.Env ?? [])],
        workingDir: config.WorkingDir || image.config.WorkingDir,
        user: config.User ?? '',
        hostname: config.Hostname || id.slice(0, 12),
        entrypoint: (body['Entrypoint'] as string[] | null) ?? null,
        networkMode,
        binds: (host['Binds'] as string[] | null) ?? null,
        ...(typeof host['Memory'] === 'number' ? { memory: host['Memory'] } : {}),
        ...(typeof host['CpuShares'] === 'number' ? { cpuShares: host['CpuShares'] } : {}),
        ...(typeof host['PidsLimit'] === 'number' ? { pidsLimit: host['PidsLimit'] } : {}),
        mounts,
      },
      state: {
        status: 'created',
        pid: 0,
        exitCode: 0,
        error: '',
        startedAt: null,
        finishedAt: null,
        oomKilled: false,
      },
      restartCount: 0,
      hasBeenStartedBefore: false,
      hasBeenManuallyStopped: false,
    };
    const spec = buildSpec({
      id,
      args,
      env: [...image.config.Env, ...(config.Env ?? [])],
      cwd: config.WorkingDir || image.config.WorkingDir,
      hostname: config.Hostname || id.slice(0, 12),
      // The runtime sets the root for the task: the shim's mount in its bundle, or the vfs copy.
      rootfs: 'rootfs',
      networkMode: networkMode === 'host' ? 'host' : 'none',
      cgroupParent: '/statedock',
      user,
      binds: mounts.map((m) => ({ source: m.source, destination: m.destination, readonly: !m.rw })),
      terminal: config.Tty === true,
      ...(typeof host['Memory'] === 'number' && host['Memory'] > 0
        ? { memory: host['Memory'] }
        : {}),
      ...(typeof host['CpuShares'] === 'number' && host['CpuShares'] > 0
        ? { cpuShares: host['CpuShares'] }
        : {}),
      ...(typeof host['PidsLimit'] === 'number' && host['PidsLimit'] > 0
        ? { pidsLimit: host['PidsLimit'] }
        : {}),
    });
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

  register(api: ApiServer): void {
    const add = api.add.bind(api);
    api = Object.assign(Object.create(api) as ApiServer, {
      add: (r: Parameters<ApiServer['add']>[0]) =>
        add({
          ...r,
          handler: async (ctx: RouteContext) => {
            await this.restored;
            return r.handler(ctx);
          },
          ...(r.hijack
            ? {
                hijack: async (ctx: Parameters<NonNullable<typeof r.hijack>>[0]) => {
                  await this.restored;
                  return r.hijack?.(ctx);
                },
              }
            : {}),
        }),
    });
    api.add({ method: 'POST', pattern: '/containers/create', handler: (ctx) => this.create(ctx) });
    api.add({
      method: 'POST',
      pattern: '/containers/{name}/start',
      handler: async (ctx) => {
        const c = this.resolve(ctx.params['name'] as string);
        if ((await ctx.body()).length > 0)
          throw new ApiError(
            400,
            'starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24',
          );
        const r = await this.request(c.record.id, { type: 'api.start' });
        if (r.result === 'ok' || r.result === 'notModified')
          return ctx.noContent(statusOf[r.result]);
        throw new ApiError(r.result === 'failed' ? 400 : statusOf[r.result], r.message ?? r.result);
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
          const c = this.resolve(ctx.params['name'] as string);
          const t = ctx.query.get('t');
          if (t !== null && !/^-?\d+$/.test(t))
            throw new ApiError(500, `strconv.Atoi: parsing "${t}": invalid syntax`);
          await this.answer(
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
        const c = this.resolve(ctx.params['name'] as string);
        const signal = ctx.query.get('signal') || 'KILL';
        if (signalNumber(signal) === null) throw new ApiError(400, `Invalid signal: ${signal}`);
        await this.answer(
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
        const c = this.resolve(ctx.params['name'] as string);
        const removed = this.whenRemoved(c.record.id);
        if (flag(ctx.query, 'v')) this.removeVolumes.add(c.record.id);
        const r = await this.request(c.record.id, {
          type: 'api.remove',
          force: flag(ctx.query, 'force'),
        });
        if (r.result !== 'ok') {
          this.removeVolumes.delete(c.record.id);
          throw new ApiError(statusOf[r.result], r.message ?? r.result);
        }
        await removed;
        ctx.noContent(204);
      },
    });
    api.add({
      method: 'POST',
      pattern: '/containers/{name}/wait',
      handler: async (ctx) => {
        const c = this.resolve(ctx.params['name'] as string);
        const condition = ctx.query.get('condition') ?? 'not-running';
        // Headers at once: docker run sends wait before start and blocks until they arrive.
        ctx.res.writeHead(200, {
          'Content-Type': 'application/json',
          'Transfer-Encoding': 'chunked',
        });
        ctx.res.flushHeaders();
        const running =
          ['running', 'paused', 'restarting'].includes(c.record.state.status) ||
          c.startReq !== null;
        const code =
          condition === 'removed'
            ? await this.whenRemoved(c.record.id)
            : condition === 'next-exit' || running
              ? await this.whenExited(c.record.id)
              : c.record.state.exitCode;
        ctx.res.end(`${JSON.stringify({ Error: null, StatusCode: code })}\n`);
      },
    });
    const attach = (
      name: string,
      socket: Duplex,
      upgrade: boolean,
      query: URLSearchParams,
    ): void => {
      const c = this.resolve(name);
      const hub = this.runtime.hub(c.record.id);
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
      this.events.publish('container', 'attach', c.record.id, {
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
          this.answer(
            ctx,
            this.resolve(ctx.params['name'] as string).record.id,
            { type: event },
            prefix,
          ),
      });
    }
    api.add({
      method: 'POST',
      pattern: '/containers/{name}/rename',
      handler: async (ctx) => {
        const c = this.resolve(ctx.params['name'] as string);
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
        const taken = this.contexts().find((x) => x.record.name === full);
        if (taken)
          throw new ApiError(
            409,
            `Error when allocating new name: Conflict. The container name "${full}" is already in use by container "${taken.record.id}". You have to remove (or rename) that container to be able to reuse that name.`,
          );
        await this.answer(ctx, c.record.id, { type: 'api.rename', name: full });
      },
    });
    api.add({
      method: 'GET',
      pattern: '/containers/{name}/logs',
      handler: (ctx) => {
        const c = this.resolve(ctx.params['name'] as string);
        const stdout = flag(ctx.query, 'stdout');
        const stderr = flag(ctx.query, 'stderr');
        if (!stdout && !stderr)
          throw new ApiError(400, 'Bad parameters: you must choose at least one stream');
        const tail = ctx.query.get('tail');
        const num = (v: string | null): number => (v === null || v === '' ? 0 : Number(v));
        streamLogs(
          ctx.res,
          `${this.root}/containers/${c.record.id}/${c.record.id}-json.log`,
          this.runtime.hubs.get(c.record.id),
          {
            raw: c.record.config.tty === true,
            stdout,
            stderr,
            follow: flag(ctx.query, 'follow'),
            timestamps: flag(ctx.query, 'timestamps'),
            since: num(ctx.query.get('since')),
            until: num(ctx.query.get('until')),
            tail: tail === null || tail === 'all' || !/^\d+$/.test(tail) ? null : Number(tail),
          },
        );
      },
    });
    api.add({
      method: 'GET',
      pattern: '/containers/{name}/top',
      handler: async (ctx) => {
        const c = this.resolve(ctx.params['name'] as string);
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
        this.events.publish('container', 'top', c.record.id, {
          image: c.record.image,
          name: c.record.name.slice(1),
        });
      },
    });
    api.add({
      method: 'GET',
      pattern: '/system/df',
      handler: async (ctx) => {
        const images = await this.images.list();
        const imageSizes = new Map(images.map((i) => [i.id, i.size]));
        const containers = this.contexts();
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
          Containers: containers.map((c) => this.listEntry(c, imageSizes)),
          Volumes: (await this.volumes.list()).map((v) => ({
            CreatedAt: v.createdAt.replace(/\.\d+Z$/, 'Z'),
            Driver: v.driver,
            Labels: v.labels ?? null,
            Mountpoint: v.mountpoint,
            Name: v.name,
            Options: null,
            Scope: 'local',
            UsageData: { RefCount: this.volumeUsers(v.name).length, Size: treeSize(v.mountpoint) },
          })),
          BuildCache: null,
          BuilderSize: 0,
        });
      },
    });
    api.add({
      method: 'GET',
      pattern: '/events',
      handler: (ctx) => this.events.serve(ctx.res, ctx.query),
    });
    api.add({
      method: 'POST',
      pattern: '/containers/prune',
      handler: async (ctx) => {
        const deleted: string[] = [];
        for (const c of this.contexts().filter(
          (x) => x.record.state.status === 'exited' || x.record.state.status === 'created',
        )) {
          const removed = this.whenRemoved(c.record.id);
          const r = await this.request(c.record.id, { type: 'api.remove', force: false });
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
      handler: (ctx) => ctx.json(200, this.inspect(this.resolve(ctx.params['name'] as string))),
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
            !['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'].includes(
              st,
            )
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
          ? new Map((await this.images.list()).map((i) => [i.id, i.size]))
          : new Map<string, number>();
        ctx.json(
          200,
          this.contexts()
            .filter(
              (c) =>
                (showAll || ['running', 'paused', 'restarting'].includes(c.record.state.status)) &&
                matches(c),
            )
            .map((c) => this.listEntry(c, size ? imageSizes : null)),
        );
      },
    });
  }

  /**
   * A container as `ps` and `system df` list it. With sizes: SizeRw (what the container wrote,
   * left out when 0 as dockerd's omitempty does) and SizeRootFs (that plus its image).
   */
  private listEntry(
    c: ContainerContext,
    imageSizes: Map<string, number> | null,
  ): Record<string, unknown> {
    const r = c.record;
    const sizes: Record<string, number> = {};
    if (imageSizes) {
      const image = imageSizes.get(r.config.imageId ?? '') ?? 0;
      const rw = this.runtime.sizeRw(r.id);
      if (rw > 0) sizes['SizeRw'] = rw;
      sizes['SizeRootFs'] = rw + image;
    }
    return {
      Id: r.id,
      Names: [r.name],
      Image: r.image,
      ImageID: r.config.imageId ?? '',
      Command: r.config.cmd.join(' '),
      Created: Math.floor(Date.parse(r.created) / 1000),
      Ports: [],
      ...sizes,
      Labels: r.config.labels,
      State: r.state.status,
      Status: statusText(r.state),
      HostConfig: { NetworkMode: r.config.networkMode ?? 'none' },
      NetworkSettings: { Networks: {} },
      Mounts: (r.config.mounts ?? []).map(mountApi),
    };
  }

  private whenExited(id: string): Promise<number> {
    return new Promise((resolve) =>
      this.exitWaiters.set(id, [...(this.exitWaiters.get(id) ?? []), resolve]),
    );
  }

  private whenRemoved(id: string): Promise<number> {
    return new Promise((resolve) =>
      this.removedWaiters.set(id, [...(this.removedWaiters.get(id) ?? []), resolve]),
    );
  }

  /** `docker inspect`: dockerd's full object, with what statedock keeps (fixed values where it has no such setting). */
  private inspect(c: ContainerContext): Record<string, unknown> {
    const r = c.record;
    const s = r.state;
    const k = r.config;
    const dir = `${this.root}/containers/${r.id}`;
    const fs = this.runtime.rootfsOf(r.id);
    const mounts = k.mounts ?? [];
    const volumes = mounts.filter((m) => m.type === 'volume' && m.anonymous);
    return {
      Id: r.id,
      Created: r.created,
      Path: r.config.cmd[0] ?? '',
      Args: r.config.cmd.slice(1),
      State: {
        Status: s.status,
        Running: ['running', 'paused', 'restarting'].includes(s.status),
        Paused: s.status === 'paused',
        Restarting: s.status === 'restarting',
        OOMKilled: s.oomKilled,
        Dead: s.status === 'dead',
        Pid: s.pid,
        ExitCode: s.exitCode,
        Error: s.error,
        StartedAt: s.startedAt ?? '0001-01-01T00:00:00Z',
        FinishedAt: s.finishedAt ?? '0001-01-01T00:00:00Z',
      },
      Image: k.imageId ?? r.image,
      ResolvConfPath: '',
      HostnamePath: '',
      HostsPath: '',
      LogPath: `${dir}/${r.id}-json.log`,
      Name: r.name,
      RestartCount: r.restartCount,
      Driver: fs.driver,
      Platform: 'linux',
      MountLabel: '',
      ProcessLabel: '',
      AppArmorProfile: '',
      ExecIDs: null,
      HostConfig: {
        Binds: k.binds ?? null,
        ContainerIDFile: '',
        LogConfig: { Type: 'json-file', Config: {} },
        NetworkMode: k.networkMode ?? 'none',
        PortBindings: {},
        RestartPolicy: {
          Name: k.restartPolicy.name,
          MaximumRetryCount: k.restartPolicy.maximumRetryCount,
        },
        AutoRemove: k.autoRemove,
        VolumeDriver: '',
        VolumesFrom: null,
        CapAdd: null,
        CapDrop: null,
        CgroupnsMode: 'host',
        IpcMode: 'private',
        PidMode: '',
        Privileged: false,
        ReadonlyRootfs: false,
        Runtime: 'runc',
        CgroupParent: '',
        CpuShares: k.cpuShares ?? 0,
        Memory: k.memory ?? 0,
        PidsLimit: k.pidsLimit && k.pidsLimit > 0 ? k.pidsLimit : null,
      },
      GraphDriver:
        fs.driver === 'vfs'
          ? { Data: null, Name: 'vfs' }
          : {
              Data: {
                LowerDir: fs.lower,
                MergedDir: this.runtime.bundleRootfs(r.id),
                UpperDir: `${fs.dir}/diff`,
                WorkDir: `${fs.dir}/work`,
              },
              Name: 'overlay2',
            },
      Mounts: mounts.map(mountApi),
      Config: {
        Hostname: k.hostname ?? r.id.slice(0, 12),
        Domainname: '',
        User: k.user ?? '',
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        Tty: k.tty === true,
        OpenStdin: k.openStdin === true,
        StdinOnce: k.stdinOnce === true,
        Env: k.env ?? null,
        Cmd: k.cmd,
        Image: r.image,
        Volumes:
          volumes.length > 0 ? Object.fromEntries(volumes.map((m) => [m.destination, {}])) : null,
        WorkingDir: k.workingDir ?? '',
        Entrypoint: k.entrypoint ?? null,
        NetworkDisabled: (k.networkMode ?? 'none') !== 'host',
        OnBuild: null,
        Labels: k.labels,
        StopSignal: k.stopSignal,
        StopTimeout: k.stopTimeout,
      },
      NetworkSettings: {
        Bridge: '',
        SandboxID: '',
        HairpinMode: false,
        Ports: {},
        SandboxKey: '',
        Networks: {},
      },
    };
  }
}

/** One of HostConfig.Mounts (`--mount`). */
interface HostMount {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
}

/** A MountPoint as inspect and ps show it. */
function mountApi(m: MountPoint): Record<string, unknown> {
  return m.type === 'bind'
    ? {
        Type: 'bind',
        Source: m.source,
        Destination: m.destination,
        Mode: m.rw ? '' : 'ro',
        RW: m.rw,
        Propagation: 'rprivate',
      }
    : {
        Type: 'volume',
        Name: m.name,
        Source: m.source,
        Destination: m.destination,
        Driver: 'local',
        Mode: '',
        RW: m.rw,
        Propagation: '',
      };
}

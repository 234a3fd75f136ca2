import { randomBytes } from 'node:crypto';
import type { EffectRequest } from '../../effects/requests.ts';
import { treeSize } from '../../effects/rootfs/layout.ts';
import type { LevelStore } from '../../effects/store/real.ts';
import type { OperationOutput } from '../../machines/operation/machine.ts';
import { checkGoStruct, decodeJsonBody } from '../api/go-json.ts';
import { ApiError, type ApiServer } from '../api/server.ts';
import { parseFilters } from './events.ts';

/** A volume of the local driver: a directory `volumes/<name>/_data`, its record in the level store (`volume/<name>`). */
export interface VolumeRecord {
  name: string;
  driver: 'local';
  mountpoint: string;
  createdAt: string;
  labels?: Record<string, string>;
  /** Made for a container's `-v /path` (no name given): `rm -v` and `--rm` remove it with the container. */
  anonymous?: boolean;
}

const validName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Docker's volume shape (GET /volumes, /volumes/{name}; /system/df adds its usage). */
export function volumeToApi(v: VolumeRecord): Record<string, unknown> {
  return {
    CreatedAt: v.createdAt.replace(/\.\d+Z$/, 'Z'),
    Driver: v.driver,
    Labels: v.labels ?? null,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: null,
    Scope: 'local',
  };
}

/**
 * The local volume driver's volumes, and the `/volumes` endpoints. What changes the host (a
 * volume's directory and record, made or removed) runs as an `operation` actor, in the trace.
 */
export class VolumeStore {
  private readonly root: string;
  private readonly store: LevelStore;
  private readonly operation: (title: string, effects: EffectRequest[]) => Promise<OperationOutput>;
  /**
   * The last create or removal queued for each name: one name's never overlap (dockerd's
   * volume store locks the name). A create that found no record while a removal, its record
   * already deleted, was still removing the directory would make `_data` in a directory being
   * removed: the removal failed "directory not empty", or the new volume lost its directory.
   */
  private readonly queued = new Map<string, Promise<unknown>>();

  constructor(
    root: string,
    store: LevelStore,
    operation: (title: string, effects: EffectRequest[]) => Promise<OperationOutput>,
  ) {
    this.root = root;
    this.store = store;
    this.operation = operation;
  }

  /** The named volume, created on first use (as `docker run -v name:/path` does); a new anonymous one without a name. */
  async ensure(name: string | null, labels?: Record<string, string>): Promise<VolumeRecord> {
    return name === null
      ? this.make(null, labels)
      : this.byName(name, () => this.make(name, labels));
  }

  /** Runs `fn` once every create and removal of `name` queued before it has finished. */
  private byName<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.queued.get(name) ?? Promise.resolve()).then(fn, fn);
    const settled = run.catch(() => undefined);
    this.queued.set(name, settled);
    void settled.then(() => {
      if (this.queued.get(name) === settled) this.queued.delete(name);
    });
    return run;
  }

  private async make(name: string | null, labels?: Record<string, string>): Promise<VolumeRecord> {
    if (name !== null) {
      if (!validName.test(name))
        throw new ApiError(
          400,
          `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`,
        );
      const found = await this.get(name);
      if (found) return found;
    }
    const v: VolumeRecord = {
      name: name ?? randomBytes(32).toString('hex'),
      driver: 'local',
      mountpoint: `${this.root}/volumes/${name ?? ''}`,
      createdAt: new Date().toISOString(),
      ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
      ...(name === null ? { anonymous: true } : {}),
    };
    v.mountpoint = `${this.root}/volumes/${v.name}/_data`;
    const made = await this.operation(`volume.create ${v.name}`, [
      { effect: 'fs.mkdirAll', path: v.mountpoint, mode: 0o755 },
      { effect: 'store.put', key: `volume/${v.name}`, value: v },
    ]);
    if (made.failure) throw new ApiError(500, `create ${v.name}: ${made.failure.message}`);
    return v;
  }

  /** A volume by name, or Docker's 404. */
  private async mustGet(name: string): Promise<VolumeRecord> {
    const v = await this.get(name);
    if (!v) throw new ApiError(404, `get ${name}: no such volume`);
    return v;
  }

  async get(name: string): Promise<VolumeRecord | undefined> {
    return (await this.store.db.get(`volume/${name}`).catch(() => undefined)) as
      VolumeRecord | undefined;
  }

  async list(): Promise<VolumeRecord[]> {
    const out: VolumeRecord[] = [];
    for await (const [, v] of this.store.db.iterator({ gte: 'volume/', lt: 'volume/\uffff' }))
      out.push(v as VolumeRecord);
    return out;
  }

  /** What removing a volume does: the record first (a crash then leaves only a directory nobody lists), then the data. */
  removal(name: string): EffectRequest[] {
    return [
      { effect: 'store.del', key: `volume/${name}` },
      { effect: 'fs.removeAll', path: `${this.root}/volumes/${name}` },
    ];
  }

  async remove(name: string): Promise<void> {
    await this.byName(name, async () => {
      const done = await this.operation(`volume.remove ${name}`, this.removal(name));
      if (done.failure) throw new ApiError(500, `remove ${name}: ${done.failure.message}`);
    });
  }

  /**
   * `docker volume ls/inspect/create/rm`. `usedBy` names the containers that mount a volume:
   * removing one in use is Docker's 409.
   */
  register(api: ApiServer, usedBy: (name: string) => string[]): void {
    api.add({
      method: 'GET',
      pattern: '/volumes',
      handler: async (ctx) => {
        const filters = parseFilters(ctx.query.get('filters'), [
          'name',
          'dangling',
          'driver',
          'label',
        ]);
        const dangling = filters.get('dangling')?.[0];
        const volumes = (await this.list()).filter((v) => {
          for (const [k, vs] of filters) {
            if (k === 'name' && !vs.some((x) => v.name.includes(x))) return false;
            if (k === 'driver' && !vs.includes(v.driver)) return false;
            if (
              k === 'label' &&
              !vs.every((x) =>
                x.includes('=')
                  ? v.labels?.[x.split('=')[0] as string] === x.slice(x.indexOf('=') + 1)
                  : x in (v.labels ?? {}),
              )
            )
              return false;
          }
          if (dangling !== undefined)
            return ['1', 'true'].includes(dangling) === (usedBy(v.name).length === 0);
          return true;
        });
        ctx.json(200, { Volumes: volumes.map(volumeToApi), Warnings: null });
      },
    });
    api.add({
      method: 'POST',
      pattern: '/volumes/create',
      handler: async (ctx) => {
        const raw = await ctx.body();
        const body = checkGoStruct(
          raw.toString('utf8').trim() === '' ? {} : decodeJsonBody(raw),
          'volume.VolumeCreateBody',
          {
            Name: 'string',
            Driver: 'string',
            DriverOpts: 'map[string]string',
            Labels: 'map[string]string',
          },
        ) as {
          Name?: string;
          Driver?: string;
          DriverOpts?: Record<string, string>;
          Labels?: Record<string, string>;
        };
        // The local driver's options mount a device or tmpfs (type, device, o): not done here.
        if (body.DriverOpts && Object.keys(body.DriverOpts).length > 0)
          throw new ApiError(
            400,
            `statedock does not support volume driver options (DriverOpts: ${Object.keys(body.DriverOpts).join(', ')}); create the volume without them`,
          );
        if (body.Driver && body.Driver !== 'local')
          throw new ApiError(
            404,
            `error looking up volume plugin ${body.Driver}: plugin "${body.Driver}" not found`,
          );
        ctx.json(201, volumeToApi(await this.ensure(body.Name ? body.Name : null, body.Labels)));
      },
    });
    // dockerd 20.10 prunes every local volume no container mounts, named or anonymous.
    api.add({
      method: 'POST',
      pattern: '/volumes/prune',
      handler: async (ctx) => {
        const deleted: string[] = [];
        let reclaimed = 0;
        for (const v of await this.list()) {
          if (usedBy(v.name).length > 0) continue;
          reclaimed += treeSize(v.mountpoint);
          await this.remove(v.name);
          deleted.push(v.name);
        }
        ctx.json(200, {
          VolumesDeleted: deleted.length > 0 ? deleted : null,
          SpaceReclaimed: reclaimed,
        });
      },
    });
    api.add({
      method: 'GET',
      pattern: '/volumes/{name}',
      handler: async (ctx) => {
        const name = ctx.params['name'] as string;
        const v = await this.mustGet(name);
        ctx.json(200, volumeToApi(v));
      },
    });
    api.add({
      method: 'DELETE',
      pattern: '/volumes/{name}',
      handler: async (ctx) => {
        const name = ctx.params['name'] as string;
        await this.mustGet(name);
        const users = usedBy(name);
        if (users.length > 0)
          throw new ApiError(409, `remove ${name}: volume is in use - [${users.join(', ')}]`);
        await this.remove(name);
        ctx.noContent(204);
      },
    });
  }
}

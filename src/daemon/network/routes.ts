import { ApiError, type ApiServer, type RouteContext } from '../../api/server.ts';
import type { NetworkRecord } from '../../../machines/network/model.ts';
import { parseFilters } from '../events.ts';
import type { Done, NetworkController, NetworkCreateBody } from './controller.ts';
import { networkJson } from './render.ts';
import {
  networkConnect,
  networkCreateRequest,
  networkDisconnect,
  readNetworkBody,
} from './request-body.ts';

/**
 * The Engine API's network endpoints (network-facts.md §6), as the CLI, dockerode and
 * docker-compose call them. Every one waits for the daemon's restore (the controller starts
 * inside it).
 */

/** A controller callback as a promise: API errors keep their status; an effect's failure is a 500. */
function promised<T>(start: (done: Done<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      start((r) => {
        if (r.ok) resolve(r.value);
        else reject(r.error instanceof ApiError ? r.error : new ApiError(500, r.error.message));
      });
    } catch (err) {
      reject(err);
    }
  });
}

/** Go duration (`24h`, `10m30s`), unix time, or RFC 3339: the `until` of prune. */
function untilMs(v: string, nowMs: number): number {
  const d = /^(\d+(?:\.\d+)?(?:h|m|s|ms))+$/.test(v)
    ? [...v.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)].reduce(
        (t, m) =>
          t +
          Number(m[1]) *
            { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }[m[2] as 'h' | 'm' | 's' | 'ms'],
        0,
      )
    : null;
  if (d !== null) return nowMs - d;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new ApiError(400, `failed to parse value as time or duration: "${v}"`);
  return t;
}

function labelMatch(n: NetworkRecord, wanted: string[]): boolean {
  return wanted.every((v) => {
    const eq = v.indexOf('=');
    return eq < 0 ? v in n.labels : n.labels[v.slice(0, eq)] === v.slice(eq + 1);
  });
}

export function registerNetworkRoutes(
  api: ApiServer,
  ctl: NetworkController,
  restored: () => Promise<void>,
): void {
  const add = (
    method: string,
    pattern: string,
    handler: (ctx: RouteContext) => void | Promise<void>,
  ): void =>
    api.add({
      method,
      pattern,
      handler: async (ctx) => {
        await restored();
        await handler(ctx);
      },
    });
  const list = (ctx: RouteContext): void => {
    const f = parseFilters(ctx.query.get('filters'), [
      'driver',
      'id',
      'label',
      'name',
      'scope',
      'type',
      'dangling',
    ]);
    for (const t of f.get('type') ?? [])
      if (t !== 'custom' && t !== 'builtin')
        throw new ApiError(400, `Invalid filter: 'type'='${t}'`);
    for (const d of f.get('dangling') ?? [])
      if (!['true', 'false', '1', '0'].includes(d))
        throw new ApiError(400, `Invalid filter 'dangling=${d}'`);
    const builtin = (n: NetworkRecord): boolean => ['bridge', 'host', 'none'].includes(n.name);
    const out = [...ctl.networks.values()]
      .filter((n) => {
        for (const [k, vs] of f) {
          if (k === 'driver' && !vs.includes(n.driver)) return false;
          if (k === 'id' && !vs.some((v) => n.id.includes(v))) return false;
          if (k === 'name' && !vs.some((v) => n.name.includes(v))) return false;
          if (k === 'scope' && !vs.includes('local')) return false;
          if (k === 'label' && !labelMatch(n, vs)) return false;
          if (k === 'type' && !vs.some((v) => (v === 'builtin') === builtin(n))) return false;
          // dangling: dockerd 20.10 counts a network in use only from the list's (empty) Containers.
          if (k === 'dangling' && vs.some((v) => v === 'false' || v === '0')) return false;
          if (k === 'dangling' && builtin(n)) return false;
        }
        return true;
      })
      .sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0))
      .map((n) => networkJson(ctl, n, false));
    ctx.json(200, out);
  };
  add('GET', '/networks', list);
  add('GET', '/networks/', list);
  add('GET', '/networks/{id}', (ctx) => {
    const scope = ctx.query.get('scope');
    const n = ctl.findNetwork(ctx.params['id'] as string);
    if (scope !== null && scope !== '' && scope !== 'local')
      throw new ApiError(404, `network ${ctx.params['id'] as string} not found`);
    ctx.json(200, networkJson(ctl, n, true));
  });
  add('POST', '/networks/create', async (ctx) => {
    const body = (await readNetworkBody(ctx, networkCreateRequest)) as NetworkCreateBody;
    const r = await promised<{ id: string; warning: string }>((done) =>
      ctl.createNetwork(body, new Date().toISOString(), done),
    );
    ctx.json(201, { Id: r.id, Warning: r.warning });
  });
  add('DELETE', '/networks/{id}', async (ctx) => {
    await promised<null>((done) => ctl.removeNetwork(ctx.params['id'] as string, done));
    ctx.noContent(204);
  });
  add('POST', '/networks/prune', async (ctx) => {
    const f = parseFilters(ctx.query.get('filters'), ['until', 'label', 'label!']);
    const now = Date.now();
    const until = (f.get('until') ?? []).map((v) => untilMs(v, now));
    const keep = (n: NetworkRecord): boolean =>
      (until.length > 0 && until.some((u) => Date.parse(n.created) >= u)) ||
      (f.has('label') && !labelMatch(n, f.get('label') ?? [])) ||
      (f.has('label!') && (f.get('label!') ?? []).some((v) => labelMatch(n, [v])));
    const deleted = await promised<string[]>((done) => ctl.prune(keep, done));
    ctx.json(200, { NetworksDeleted: deleted.length > 0 ? deleted : null });
  });
  add('POST', '/networks/{id}/connect', async (ctx) => {
    const body = await readNetworkBody(ctx, networkConnect);
    const container = typeof body['Container'] === 'string' ? body['Container'] : '';
    const ep = (body['EndpointConfig'] ?? {}) as {
      Aliases?: string[] | null;
      IPAMConfig?: {
        IPv4Address?: string;
        IPv6Address?: string;
        LinkLocalIPs?: string[] | null;
      } | null;
      Links?: string[] | null;
      DriverOpts?: Record<string, string> | null;
      MacAddress?: string;
    };
    if ((ep.Links ?? []).length > 0)
      throw new ApiError(
        400,
        'statedock does not support links (--link): use a user-defined network',
      );
    if (Object.keys(ep.DriverOpts ?? {}).length > 0)
      throw new ApiError(400, 'statedock does not support endpoint driver options');
    if (ep.IPAMConfig?.IPv6Address)
      throw new ApiError(400, 'statedock does not support IPv6 addresses (--ip6)');
    if ((ep.IPAMConfig?.LinkLocalIPs ?? []).length > 0)
      throw new ApiError(400, 'statedock does not support link-local addresses (--link-local-ip)');
    if (ep.MacAddress)
      throw new ApiError(400, 'statedock does not support setting the MAC address (--mac-address)');
    await promised<null>((done) =>
      ctl.connect(
        ctx.params['id'] as string,
        container,
        { aliases: ep.Aliases ?? [], ipv4: ep.IPAMConfig?.IPv4Address || null },
        done,
      ),
    );
    ctx.res.writeHead(200, { 'Content-Length': '0' });
    ctx.res.end();
  });
  add('POST', '/networks/{id}/disconnect', async (ctx) => {
    const body = await readNetworkBody(ctx, networkDisconnect);
    const container = typeof body['Container'] === 'string' ? body['Container'] : '';
    await promised<null>((done) => ctl.disconnect(ctx.params['id'] as string, container, done));
    ctx.res.writeHead(200, { 'Content-Length': '0' });
    ctx.res.end();
  });
}

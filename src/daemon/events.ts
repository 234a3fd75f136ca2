import { Subject, type Subscription } from 'rxjs';
import type { ServerResponse } from 'node:http';
import { ApiError } from '../api/server.ts';

/** A Docker event as `GET /events` sends it (api-captures 38–40). */
export interface DockerEvent {
  status?: string;
  id?: string;
  from?: string;
  Type: 'container' | 'image';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

/** Filters as the CLI (map form) or dockerode (array form) send them. */
export function parseFilters(
  raw: string | null,
  allowed: readonly string[],
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (raw === null || raw === '') return out;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ApiError(500, (err as Error).message);
  }
  if (typeof json !== 'object' || json === null) throw new ApiError(400, 'invalid filter format');
  for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
    if (!allowed.includes(k)) throw new ApiError(400, `Invalid filter '${k}'`);
    out.set(k, Array.isArray(v) ? v.map(String) : Object.keys(v as Record<string, unknown>));
  }
  return out;
}

function unixTime(value: string | null, name: string): number {
  if (value === null || value === '') return 0;
  if (!/^\d+(\.\d+)?$/.test(value))
    throw new ApiError(500, `strconv.ParseInt: parsing "${value}": invalid syntax`);
  void name;
  return Number(value);
}

/**
 * The daemon's events: machine marks become Docker events on an rxjs stream; the last 256
 * are kept for `--since` (dockerd keeps 256 in 20.10).
 */
export class EventsService {
  private readonly stream = new Subject<DockerEvent>();
  private readonly recent: DockerEvent[] = [];

  publish(
    type: DockerEvent['Type'],
    action: string,
    id: string,
    attributes: Record<string, string>,
  ): void {
    const now = Date.now();
    const e: DockerEvent = {
      ...(type === 'container' ? { status: action, id, from: attributes['image'] ?? '' } : {}),
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Math.floor(now / 1000),
      timeNano: now * 1_000_000,
    };
    this.recent.push(e);
    if (this.recent.length > 256) this.recent.shift();
    this.stream.next(e);
  }

  /** `GET /events`: headers at once, one event per chunk; ends at `until`, never without it. */
  serve(res: ServerResponse, query: URLSearchParams): void {
    const since = unixTime(query.get('since'), 'since');
    const until = unixTime(query.get('until'), 'until');
    const filters = parseFilters(query.get('filters'), [
      'type',
      'event',
      'container',
      'image',
      'label',
      'scope',
    ]);
    const match = (e: DockerEvent): boolean => {
      const t = e.timeNano / 1e9;
      if (since && t < since) return false;
      // The CLI sends whole seconds: an event in the same second as `until` is in.
      if (until && Math.floor(t) > until) return false;
      for (const [k, vs] of filters) {
        if (k === 'type' && !vs.includes(e.Type)) return false;
        if (k === 'event' && !vs.some((v) => e.Action === v || e.Action.startsWith(`${v}:`)))
          return false;
        if (
          k === 'container' &&
          (e.Type !== 'container' ||
            !vs.some((v) => e.Actor.ID.startsWith(v) || e.Actor.Attributes['name'] === v))
        )
          return false;
        if (k === 'image' && !vs.some((v) => e.Actor.Attributes['image'] === v || e.Actor.ID === v))
          return false;
        if (
          k === 'label' &&
          !vs.every((v) =>
            v.includes('=')
              ? e.Actor.Attributes[v.split('=')[0] as string] === v.slice(v.indexOf('=') + 1)
              : v in e.Actor.Attributes,
          )
        )
          return false;
      }
      return true;
    };
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const write = (e: DockerEvent): void => {
      if (match(e)) res.write(`${JSON.stringify(e)}\n`);
    };
    if (since || until) for (const e of this.recent) write(e);
    if (until && (until + 1) * 1000 <= Date.now()) {
      res.end();
      return;
    }
    const sub: Subscription = this.stream.subscribe(write);
    let timer: NodeJS.Timeout | null = null;
    if (until) timer = setTimeout(() => res.end(), (until + 1) * 1000 - Date.now());
    res.on('close', () => {
      sub.unsubscribe();
      if (timer) clearTimeout(timer);
    });
  }
}

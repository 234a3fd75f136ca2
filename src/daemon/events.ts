import { Subject, type Subscription } from 'rxjs';
import type { ServerResponse } from 'node:http';
import { goKind, unmarshalJson } from '../api/go-json.ts';
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

/**
 * Filters as the CLI (map form `{"k":{"v":true}}`) or dockerode (legacy array form
 * `{"k":["v"]}`) send them, read as dockerd's filters.FromJSON: Go's words for JSON that is
 * not that shape (dockerd 20.10 answers those with 500; the mistake is the client's: 400).
 */
export function parseFilters(
  raw: string | null,
  allowed: readonly string[],
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (raw === null || raw === '') return out;
  let json: unknown;
  try {
    json = unmarshalJson(raw);
  } catch (err) {
    throw new ApiError(400, (err as Error).message);
  }
  if (json === null) return out;
  const typeError = (v: unknown, type: string): ApiError =>
    new ApiError(400, `json: cannot unmarshal ${goKind(v)} into Go value of type ${type}`);
  if (typeof json !== 'object' || Array.isArray(json))
    throw typeError(json, 'map[string]map[string]bool');
  const entries = Object.entries(json as Record<string, unknown>);
  // The map form first; the legacy form only when the map form does not fit (its error wins).
  for (const [, v] of entries) {
    if (v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) {
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) continue;
      throw typeError(v, 'map[string]bool');
    }
    for (const b of Object.values(v as Record<string, unknown>))
      if (b !== null && typeof b !== 'boolean') throw typeError(b, 'bool');
  }
  for (const [k, v] of entries) {
    if (!allowed.includes(k)) throw new ApiError(400, `Invalid filter '${k}'`);
    out.set(
      k,
      v === null
        ? []
        : Array.isArray(v)
          ? (v as string[])
          : Object.keys(v as Record<string, unknown>),
    );
  }
  return out;
}

/** Go's strconv.ParseInt(s, 10, 64), with its error text. */
function goParseInt(s: string): number {
  if (!/^[+-]?\d+$/.test(s))
    throw new ApiError(400, `strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = BigInt(s);
  if (n > 9223372036854775807n || n < -9223372036854775808n)
    throw new ApiError(400, `strconv.ParseInt: parsing ${JSON.stringify(s)}: value out of range`);
  return Number(n);
}

/**
 * A `since`/`until` as dockerd's timetypes.ParseTimestamps reads it: `seconds[.fraction]`,
 * as unix seconds (0 when empty). dockerd answers a malformed one with 500 and ParseInt's
 * words; it is the client's mistake, so statedock answers 400 with the same words.
 */
export function parseTimestamp(value: string | null): number {
  if (value === null || value === '') return 0;
  const dot = value.indexOf('.');
  const seconds = goParseInt(dot < 0 ? value : value.slice(0, dot));
  if (dot < 0) return seconds;
  const fraction = value.slice(dot + 1);
  const n = goParseInt(fraction);
  return seconds + n / 10 ** fraction.length;
}

/** An event's line, serialised once however many readers queue it. */
const lines = new WeakMap<DockerEvent, string>();
function lineOf(e: DockerEvent): string {
  let l = lines.get(e);
  if (l === undefined) lines.set(e, (l = `${JSON.stringify(e)}\n`));
  return l;
}

/**
 * The daemon's events: machine marks become Docker events on an rxjs stream; the last 256
 * are kept for `--since` (dockerd keeps 256 in 20.10).
 */
export class EventsService {
  private readonly stream = new Subject<DockerEvent>();
  private readonly recent: DockerEvent[] = [];
  /** `GET /events` readers connected now (/info's NEventsListener). */
  readers = 0;
  /** Events dropped for readers that did not keep up, since start. */
  dropped = 0;
  /** Events queued for one reader at most (dockerd's pubsub: 1,024 per subscriber). */
  static readerBacklog = 1024;

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

  /** Calls `listener` with every event from now on, until the returned function is called. */
  watch(listener: (e: DockerEvent) => void): () => void {
    const sub = this.stream.subscribe(listener);
    return () => sub.unsubscribe();
  }

  /** `GET /events`: headers at once, one event per chunk; ends at `until`, never without it. */
  serve(res: ServerResponse, query: URLSearchParams): void {
    const since = parseTimestamp(query.get('since'));
    const until = parseTimestamp(query.get('until'));
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
    // A reader that does not keep up gets at most `EventsService.readerBacklog` events queued
    // (dockerd's subscribers hold 1,024); beyond that its events are dropped, never buffered.
    const queue: string[] = [];
    let waiting = false;
    let over = false;
    const finish = (): void => {
      if (over) return;
      over = true;
      cleanup();
      if (res.destroyed) return;
      // What is queued (bounded) goes out before the end.
      for (const line of queue.splice(0)) res.write(line);
      res.end();
    };
    const flush = (): void => {
      while (!waiting && queue.length > 0 && !res.destroyed) {
        if (!res.write(queue.shift())) {
          waiting = true;
          res.once('drain', () => {
            waiting = false;
            flush();
          });
        }
      }
    };
    const write = (e: DockerEvent): void => {
      if (over || !match(e)) return;
      if (queue.length >= EventsService.readerBacklog) {
        this.dropped += 1;
        return;
      }
      queue.push(lineOf(e));
      flush();
    };
    if (since || until) for (const e of this.recent) write(e);
    let sub: Subscription | null = null;
    let timer: NodeJS.Timeout | null = null;
    const cleanup = (): void => {
      sub?.unsubscribe();
      if (timer) clearTimeout(timer);
    };
    this.readers += 1;
    res.once('close', () => {
      this.readers -= 1;
      over = true;
      cleanup();
    });
    if (until && (until + 1) * 1000 <= Date.now()) {
      finish();
      return;
    }
    sub = this.stream.subscribe(write);
    if (until) timer = setTimeout(finish, (until + 1) * 1000 - Date.now());
  }
}

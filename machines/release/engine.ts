import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall, EffectRequest } from '../../effects/requests.ts';
import type { ApiConnectionsCut, ApiResults } from '../../effects/api/requests.ts';
import type { Acquisition, Output, ReleaseRecord } from '../daemon-startup/types.ts';

/**
 * Releasing what start-up acquired, newest first, each once: the body of dockerd's deferred
 * Shutdown on a failed start, and of a normal shutdown. A release that fails is recorded
 * and the others still run (dockerd logs and goes on). Pure: callers fold it into their
 * machine's context and enqueue the outputs.
 */
export interface ReleaseState {
  /** Acquisitions to release, newest first. */
  queue: Acquisition[];
  index: number;
  /** Which effect of `queue[index].release` is in flight. */
  effect: number;
  pendingId: string | null;
  records: ReleaseRecord[];
}

export interface Releaser {
  actorId: string;
  seq: number;
  release: ReleaseState;
}

export function beginReleases(
  acquired: readonly Acquisition[],
  keep: (a: Acquisition) => string | null = () => null,
): {
  state: ReleaseState;
  skipped: { resource: string; reason: string }[];
} {
  const queue: Acquisition[] = [];
  const skipped: { resource: string; reason: string }[] = [];
  for (let i = acquired.length - 1; i >= 0; i--) {
    const a = acquired[i] as Acquisition;
    const reason = keep(a);
    if (reason === null) queue.push(a);
    else skipped.push({ resource: a.resource, reason });
  }
  return {
    state: {
      queue,
      index: 0,
      effect: 0,
      pendingId: null,
      records: skipped.map((s) => ({ resource: s.resource, ok: true, skipped: true })),
    },
    skipped,
  };
}

/** Asks for the next release effect, if any. Mutates the draft `d` (a fresh copy made by the caller). */
export function releaseNext<D extends Releaser>(d: D, out: Output[]): void {
  const r = d.release;
  while (r.index < r.queue.length) {
    const a = r.queue[r.index] as Acquisition;
    const req = a.release[r.effect];
    if (req === undefined) {
      out.push({ mark: { mark: 'resource.released', resource: a.resource } });
      r.records = [...r.records, { resource: a.resource, ok: true }];
      r.index += 1;
      r.effect = 0;
      continue;
    }
    d.seq += 1;
    const id = `${d.actorId}/${d.seq}`;
    r.pendingId = id;
    out.push({ call: { ...req, id, step: `release:${a.resource}` } as EffectCall });
    return;
  }
  r.pendingId = null;
}

/**
 * Folds one release effect's outcome; a failure gives up that resource and moves on. With the
 * result of a successful `api.close` that reports the connections it cut, records how many.
 */
export function releaseResult<D extends Releaser>(
  d: D,
  id: string,
  error: EffectError | null,
  out: Output[],
  result?: unknown,
): boolean {
  const r = d.release;
  if (r.pendingId !== id) return false;
  r.pendingId = null;
  const a = r.queue[r.index] as Acquisition;
  if (error === null) {
    const cut = connectionsCut(a.release[r.effect], result);
    if (cut) out.push({ mark: { mark: 'api.connectionsCut', ...cut } });
    r.effect += 1;
  } else {
    out.push({
      mark: {
        mark: 'release.failed',
        resource: a.resource,
        message: `${error.code}: ${error.message}`,
      },
    });
    r.records = [...r.records, { resource: a.resource, ok: false, error }];
    r.index += 1;
    r.effect = 0;
  }
  releaseNext(d, out);
  return true;
}

function connectionsCut(req: EffectRequest | undefined, result: unknown): ApiConnectionsCut | null {
  if (req?.effect !== 'api.close' || typeof result !== 'object' || result === null) return null;
  return (result as ApiResults['api.close']).connections ?? null;
}

export function releasesFinished(r: ReleaseState): boolean {
  return r.pendingId === null && r.index >= r.queue.length;
}

export function emptyReleaseState(): ReleaseState {
  return { queue: [], index: 0, effect: 0, pendingId: null, records: [] };
}

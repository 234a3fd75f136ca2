import type { ApiRequest, ApiResults } from './api/requests.ts';
import type { ClockRequest, ClockResults } from './clock/requests.ts';
import type { ContainerdRequest, ContainerdResults } from './containerd/requests.ts';
import type { EffectError } from './errors.ts';
import type { FsRequest, FsResults } from './fs/requests.ts';
import type { KernelRequest, KernelResults } from './kernel/requests.ts';
import type { NetRequest, NetResults } from './net/requests.ts';
import type { StoreRequest, StoreResults } from './store/requests.ts';

/** Every effect a machine can ask for: plain JSON, tagged by `effect`. */
export type EffectRequest =
  | FsRequest
  | KernelRequest
  | ContainerdRequest
  | StoreRequest
  | ClockRequest
  | ApiRequest
  | NetRequest;

export type EffectName = EffectRequest['effect'];
export type EffectFamily = 'fs' | 'kernel' | 'containerd' | 'store' | 'clock' | 'api' | 'net';

export type EffectResults = FsResults &
  KernelResults &
  ContainerdResults &
  StoreResults &
  ClockResults &
  ApiResults &
  NetResults;

export type ResultOf<E extends EffectName> = EffectResults[E];
export type RequestOf<E extends EffectName> = Extract<EffectRequest, { effect: E }>;

/** What a machine emits: the request, its id (`<actor>/<seq>`) and the step that asked. */
export type EffectCall = EffectRequest & { id: string; step?: string };

/** The outcome of one effect, as data. */
export type EffectOutcome = { ok: true; value: unknown } | { ok: false; error: EffectError };

/** Events an effect runner sends back to the machine that asked. */
export type EffectEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

export function familyOf(effect: EffectName): EffectFamily {
  return effect.slice(0, effect.indexOf('.')) as EffectFamily;
}

import type { ApiRequest, ApiResults } from './api/requests.ts';
import type { ArchiveRequest, ArchiveResults } from './archive/requests.ts';
import type { ClockRequest, ClockResults } from './clock/requests.ts';
import type { ContainerdRequest, ContainerdResults } from './containerd/requests.ts';
import { assertNever, type EffectError } from './errors.ts';
import type { FsRequest, FsResults } from './fs/requests.ts';
import type { ImageRequest, ImageResults } from './image/requests.ts';
import type { KernelRequest, KernelResults } from './kernel/requests.ts';
import type { NetRequest, NetResults } from './net/requests.ts';
import type { RegistryRequest, RegistryResults } from './registry/requests.ts';
import type { RootfsRequest, RootfsResults } from './rootfs/requests.ts';
import type { StoreRequest, StoreResults } from './store/requests.ts';

/** Each family's closed request union, by family name: what the dispatchers are typed from. */
export interface EffectFamilies {
  fs: FsRequest;
  kernel: KernelRequest;
  containerd: ContainerdRequest;
  store: StoreRequest;
  clock: ClockRequest;
  api: ApiRequest;
  rootfs: RootfsRequest;
  registry: RegistryRequest;
  image: ImageRequest;
  net: NetRequest;
  archive: ArchiveRequest;
}

export type EffectFamily = keyof EffectFamilies;

/** Every effect a machine can ask for: plain JSON, tagged by `effect`. */
export type EffectRequest = EffectFamilies[EffectFamily];

export type EffectName = EffectRequest['effect'];

export type EffectResults = FsResults &
  KernelResults &
  ContainerdResults &
  StoreResults &
  ClockResults &
  ApiResults &
  RootfsResults &
  RegistryResults &
  ImageResults &
  NetResults &
  ArchiveResults;

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

/** A call of one family (the request's name begins with the family's). */
export function inFamily<F extends EffectFamily>(
  call: EffectCall,
  family: F,
): call is Extract<EffectCall, EffectFamilies[F]> {
  // `${family}.` without making the string: every simulated effect asks this several times.
  const e = call.effect;
  return e.length > family.length && e.charCodeAt(family.length) === 46 && e.startsWith(family);
}

/** The handlers of a program: one per family, each answering its family's requests. */
export type FamilyHandlers = {
  [F in EffectFamily]: { run(req: EffectFamilies[F]): Promise<unknown> };
};

/** Hands a call to its family's handler: the one place calls are routed, exhaustively. */
export function dispatch(handlers: FamilyHandlers, call: EffectCall): Promise<unknown> {
  if (inFamily(call, 'fs')) return handlers.fs.run(call);
  if (inFamily(call, 'kernel')) return handlers.kernel.run(call);
  if (inFamily(call, 'containerd')) return handlers.containerd.run(call);
  if (inFamily(call, 'store')) return handlers.store.run(call);
  if (inFamily(call, 'clock')) return handlers.clock.run(call);
  if (inFamily(call, 'api')) return handlers.api.run(call);
  if (inFamily(call, 'rootfs')) return handlers.rootfs.run(call);
  if (inFamily(call, 'registry')) return handlers.registry.run(call);
  if (inFamily(call, 'image')) return handlers.image.run(call);
  if (inFamily(call, 'net')) return handlers.net.run(call);
  if (inFamily(call, 'archive')) return handlers.archive.run(call);
  return assertNever(call, 'effect family');
}

/** The family of an effect's name. */
export function familyOf(effect: EffectName): EffectFamily {
  const family = effect.slice(0, effect.indexOf('.'));
  if (!isFamily(family)) throw new Error(`unknown effect family of ${effect}`);
  return family;
}

const families: readonly EffectFamily[] = [
  'fs',
  'kernel',
  'containerd',
  'store',
  'clock',
  'api',
  'rootfs',
  'registry',
  'image',
  'net',
  'archive',
];

function isFamily(name: string): name is EffectFamily {
  return (families as readonly string[]).includes(name);
}

/**
 * The closed set of error codes an effect can fail with. Real handlers map errno (and
 * gRPC codes) to this set once, at the boundary; the simulated world and the fault plan
 * draw from the same set, so a fault is indistinguishable from the real failure.
 */
export const effectErrorCodes = [
  'EACCES',
  'EPERM',
  'ENOENT',
  'EEXIST',
  'ENOSPC',
  'EBUSY',
  'EIO',
  'EROFS',
  'ENOTDIR',
  'EINVAL',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'EUNAVAILABLE',
  'ENOTSUP',
] as const;

export type EffectErrorCode = (typeof effectErrorCodes)[number];

/** An effect's failure as data: JSON, comparable in replay, shown by the inspector. */
export interface EffectError {
  code: EffectErrorCode;
  message: string;
}

export function isEffectErrorCode(value: string): value is EffectErrorCode {
  return (effectErrorCodes as readonly string[]).includes(value);
}

/** Used at the end of every exhaustive switch over a union. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}

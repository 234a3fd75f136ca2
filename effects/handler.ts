import { isEffectErrorCode, type EffectError, type EffectErrorCode } from './errors.ts';

/** A handler of one effect family: one `run` with one exhaustive switch inside. */
export interface Handler<R extends { effect: string }> {
  run(req: R): Promise<unknown>;
}

/** A failure a handler reports: a code of the closed set and a message in Go's style. */
export class EffectFailure extends Error {
  override name = 'EffectFailure';
  readonly code: EffectErrorCode;
  constructor(code: EffectErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

const goText: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file exists',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EBUSY: 'device or resource busy',
  ENOTEMPTY: 'directory not empty',
  EINVAL: 'invalid argument',
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'connection timed out',
};

/** errno → the closed set, once, here; the message reads like Go's `op path: text`. */
export function failureFrom(err: unknown, op: string, path: string): EffectFailure {
  if (err instanceof EffectFailure) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  const mapped: EffectErrorCode = isEffectErrorCode(code)
    ? code
    : code === 'EISDIR'
      ? 'EINVAL'
      : code === 'ENOTEMPTY'
        ? 'EEXIST'
        : 'EIO';
  const text = goText[code] ?? (err as Error).message ?? String(err);
  return new EffectFailure(mapped, `${op} ${path}: ${text}`);
}

export function asEffectError(err: unknown): EffectError {
  if (err instanceof EffectFailure) return { code: err.code, message: err.message };
  const code = (err as { code?: unknown }).code;
  return {
    code: typeof code === 'string' && isEffectErrorCode(code) ? code : 'EIO',
    message: (err as Error).message ?? String(err),
  };
}

/**
 * Resolves on the event loop's next turn. A handler whose synchronous part is heavy (a fork,
 * a key generation) awaits it first, so the cheap effects the machines asked for in the same
 * turn run before it: at start-up these are the steps that lead to containerd's spawn.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

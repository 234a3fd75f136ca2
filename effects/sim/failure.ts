import type { EffectErrorCode } from '../errors.ts';

/**
 * A simulated handler's failure: a code of the closed set and a message in the real
 * handler's words. A plain value, not an Error (no stack trace to capture on a hot path).
 */
export class SimFailure {
  readonly code: EffectErrorCode;
  readonly message: string;
  constructor(code: EffectErrorCode, message: string) {
    this.code = code;
    this.message = message;
  }
}

/** Go's text for an errno, as the real handlers' messages end. */
export const errnoText: Partial<Record<EffectErrorCode, string>> = {
  EIO: 'input/output error',
  ENOSPC: 'no space left on device',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  EBUSY: 'device or resource busy',
  ETIMEDOUT: 'connection timed out',
  ECONNREFUSED: 'connection refused',
  EEXIST: 'file exists',
  ENOTDIR: 'not a directory',
  EINVAL: 'invalid argument',
  EUNAVAILABLE: 'service unavailable',
  ENOTSUP: 'operation not supported',
};

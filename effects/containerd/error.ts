import type { ServiceError } from '@grpc/grpc-js';

/**
 * The closed set of failures the containerd client reports. gRPC status codes are mapped
 * to it once, in {@link fromGrpcError}; nothing past the client sees a gRPC code.
 */
export type ContainerdErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'FailedPrecondition'
  | 'InvalidArgument'
  | 'Unavailable'
  | 'DeadlineExceeded'
  | 'Unknown';

/** A failed containerd call: `code` from the closed set, `message` the server's own text. */
export class ContainerdError extends Error {
  override name = 'ContainerdError';
  readonly code: ContainerdErrorCode;
  /** The gRPC method that failed (`Tasks/Create`), or '' for the client's own checks. */
  readonly method: string;

  constructor(
    code: ContainerdErrorCode,
    message: string,
    opts: { method?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.method = opts.method ?? '';
  }
}

/**
 * gRPC status codes (fixed by the gRPC spec, grpc-js's `status`), written out so this module
 * loads without grpc-js: the daemon's start-up code knows ContainerdError before the client
 * is loaded.
 */
const byStatus: Partial<Record<number, ContainerdErrorCode>> = {
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  6: 'AlreadyExists',
  9: 'FailedPrecondition',
  14: 'Unavailable',
};

/**
 * The one place a gRPC status becomes a {@link ContainerdError}. The message is the
 * server's details text (containerd's own words, e.g. `container "x" in namespace "y": not
 * found`), which callers may show to users; codes outside the set become `Unknown`.
 */
export function fromGrpcError(err: ServiceError, method: string): ContainerdError {
  const text = err.details || err.message;
  return new ContainerdError(byStatus[err.code] ?? 'Unknown', text, { method, cause: err });
}

/** Whether `err` is a {@link ContainerdError} with this code. */
export function isContainerdError(err: unknown, code: ContainerdErrorCode): err is ContainerdError {
  return err instanceof ContainerdError && err.code === code;
}

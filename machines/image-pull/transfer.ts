/** What a pull and a push (machines/image-push) show and decide alike. */

/**
 * Docker's short layer ID in progress messages: the first 12 hex digits of a digest (the
 * blob's for a pull, the layer's diff ID for a push).
 */
export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** The registry failures a transfer tries again (a dropped connection, a timeout, a registry away). */
export const transientCodes: ReadonlySet<string> = new Set([
  'EIO',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'EUNAVAILABLE',
]);

/**
 * Image references as Docker normalises them (distribution's reference/normalize.go):
 * `busybox` → `docker.io/library/busybox:latest`, `127.0.0.1:5000/a/b:1`, `name@sha256:…`.
 */
export interface ImageReference {
  /** Registry host (`docker.io`, `127.0.0.1:5000`, `localhost`). */
  domain: string;
  /** Repository path on the registry (`library/busybox`, `test/bb`). */
  path: string;
  tag: string | null;
  digest: string | null;
}

export class ReferenceError extends Error {
  override name = 'ReferenceError';
}

const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const digestPattern = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
const domainPattern =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;

export const dockerHub = 'docker.io';

/** Parses a reference as the CLI and the API give it; `defaultTag` is added when neither tag nor digest is given. */
export function parseReference(raw: string, defaultTag: string | null = 'latest'): ImageReference {
  let rest = raw;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) throw new ReferenceError('invalid reference format');
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new ReferenceError('invalid digest format');
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) throw new ReferenceError('invalid reference format');
  }
  if (rest === '') throw new ReferenceError('invalid reference format');
  let domain = dockerHub;
  let path = rest;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    domain = first;
    path = rest.slice(slash + 1);
    if (!domainPattern.test(domain)) throw new ReferenceError('invalid reference format');
  }
  if (domain === 'index.docker.io') domain = dockerHub;
  if (domain === dockerHub && !path.includes('/')) path = `library/${path}`;
  for (const part of path.split('/')) {
    if (!pathComponent.test(part)) {
      if (pathComponent.test(part.toLowerCase()))
        throw new ReferenceError('invalid reference format: repository name must be lowercase');
      throw new ReferenceError('invalid reference format');
    }
  }
  if (`${domain}/${path}`.length > 255)
    throw new ReferenceError('repository name must not be more than 255 characters');
  if (tag === null && digest === null && defaultTag !== null) tag = defaultTag;
  return { domain, path, tag, digest };
}

/** `docker.io/library/busybox` → `busybox`; `docker.io/u/x` → `u/x`; other hosts kept. */
export function familiarName(r: Pick<ImageReference, 'domain' | 'path'>): string {
  if (r.domain !== dockerHub) return `${r.domain}/${r.path}`;
  return r.path.startsWith('library/') && r.path.split('/').length === 2 ? r.path.slice(8) : r.path;
}

/** The fully qualified name: `docker.io/library/busybox`. */
export function canonicalName(r: Pick<ImageReference, 'domain' | 'path'>): string {
  return `${r.domain}/${r.path}`;
}

/** `busybox:latest`, `busybox@sha256:…`, `127.0.0.1:5000/a:1` — the form RepoTags and RepoDigests use. */
export function familiarString(r: ImageReference): string {
  const name = familiarName(r);
  if (r.digest !== null) return `${name}@${r.digest}`;
  return `${name}:${r.tag ?? 'latest'}`;
}

export function canonicalString(r: ImageReference): string {
  const name = canonicalName(r);
  if (r.digest !== null) return `${name}@${r.digest}`;
  return `${name}:${r.tag ?? 'latest'}`;
}

/**
 * The registry service's options as dockerd validates them (registry/config.go:
 * ValidateMirror, LoadInsecureRegistries), with Docker's messages, before anything is written.
 */
export class RegistryConfigError extends Error {
  override name = 'RegistryConfigError';
}

/** A mirror URL, with its trailing slash (as `docker info` lists it). */
export function validateMirror(value: string): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/.exec(value);
  const scheme = m ? (m[1] as string).toLowerCase() : '';
  if (scheme !== 'http' && scheme !== 'https')
    throw new RegistryConfigError(`invalid mirror: unsupported scheme "${scheme}" in "${value}"`);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new RegistryConfigError(`invalid mirror: "${value}" is not a valid URI`);
  }
  if (u.username !== '' || u.password !== '') {
    const masked = u.password !== '' ? value.replace(`:${u.password}@`, ':xxxxx@') : value;
    throw new RegistryConfigError(
      `invalid mirror: username/password not allowed in URI "${masked}"`,
    );
  }
  if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '')
    throw new RegistryConfigError(
      `invalid mirror: path, query, or fragment at end of the URI "${value}"`,
    );
  return `${u.protocol}//${u.host}/`;
}

const hostPart =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*$/;

/** An insecure registry: a CIDR, or `host[:port]` (an http:// or https:// prefix is dropped, as dockerd warns). */
export function validateInsecureRegistry(value: string): { entry: string; warning: string | null } {
  let v = value;
  let warning: string | null = null;
  for (const scheme of ['http://', 'https://'])
    if (v.toLowerCase().startsWith(scheme)) {
      warning = `insecure registry ${value} should not contain '${scheme}' and '${scheme}' has been removed from the insecure registry config`;
      v = v.slice(scheme.length);
    }
  if (v.includes('://'))
    throw new RegistryConfigError(`insecure registry ${value} should not contain '://'`);
  if (/^[0-9.]+\/\d+$/.test(v) || /^[0-9a-fA-F:]+\/\d+$/.test(v)) {
    const bits = Number(v.split('/')[1]);
    if (bits <= (v.includes(':') ? 128 : 32)) return { entry: v, warning };
  }
  if (v.startsWith('-') || v.endsWith('-'))
    throw new RegistryConfigError(`invalid index name (${v}). Cannot begin or end with a hyphen`);
  const colon = v.lastIndexOf(':');
  const host = colon > 0 && !v.endsWith(']') ? v.slice(0, colon) : v;
  const port = colon > 0 && !v.endsWith(']') ? v.slice(colon + 1) : null;
  if (!hostPart.test(host) && !/^\[[0-9a-fA-F:]+\]$/.test(host))
    throw new RegistryConfigError(`insecure registry ${v} is not valid: invalid host "${host}"`);
  if (port !== null && (!/^\d+$/.test(port) || Number(port) > 65535 || Number(port) < 1))
    throw new RegistryConfigError(`insecure registry ${v} is not valid: invalid port "${port}"`);
  return { entry: v, warning };
}

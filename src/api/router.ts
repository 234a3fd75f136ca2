/**
 * Docker's router, as dockerd 20.10 builds it with gorilla/mux: routes are tried in the order
 * they were added; a `{param}` matches any text, slashes included (dockerd declares its
 * parameters `{name:.*}`, so `docker image inspect ns/img:3` and `DELETE /images/127.0.0.1:5000/bar/bb:1`
 * reach their route); paths are matched decoded (`%2F` is a slash) and cleaned first, and a
 * path that is not clean (`//`, `/./`, `/../`) is answered with a 301 to its clean form.
 */

export interface Pattern<R> {
  route: R;
  method: string;
  regex: RegExp;
  names: string[];
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compiles `/containers/{name}/json` into an anchored regular expression. */
export function compilePattern<R>(method: string, pattern: string, route: R): Pattern<R> {
  const names: string[] = [];
  let source = '';
  let rest = pattern;
  for (
    let m = /\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(rest);
    m;
    m = /\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(rest)
  ) {
    source += escapeRegex(rest.slice(0, m.index));
    source += '(.*)';
    names.push(m[1] as string);
    rest = rest.slice(m.index + m[0].length);
  }
  source += escapeRegex(rest);
  return { route, method, regex: new RegExp(`^${source}$`, 's'), names };
}

/** The first route (in the order added) whose method and pattern match. */
export function matchRoute<R>(
  patterns: readonly Pattern<R>[],
  method: string,
  path: string,
): { route: R; params: Record<string, string> } | null {
  for (const p of patterns) {
    if (p.method !== method) continue;
    const m = p.regex.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    p.names.forEach((n, i) => (params[n] = m[i + 1] as string));
    return { route: p.route, params };
  }
  return null;
}

/**
 * Go's `path.Clean` as gorilla/mux applies it: `.` and `..` resolved, repeated slashes folded,
 * a trailing slash kept (but `/` stays `/`).
 */
export function cleanPath(p: string): string {
  if (p === '') return '/';
  const rooted = p.startsWith('/') ? p : `/${p}`;
  const out: string[] = [];
  for (const seg of rooted.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  let clean = `/${out.join('/')}`;
  if (rooted.endsWith('/') && clean !== '/') clean += '/';
  return clean;
}

/**
 * A request path as Go's URL parser decodes it: `%XX` escapes become their bytes (UTF-8);
 * a malformed escape is null (Go's server answers 400 Bad Request before routing).
 */
export function decodePath(raw: string): string | null {
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) return null;
  try {
    return decodeURIComponent(raw);
  } catch {
    // Escapes that are not UTF-8: Go keeps the raw bytes; decode them one by one.
    return Buffer.from(
      raw.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  }
}

/** dockerd's version prefix: `/v` then digits and dots (`versionMatcher = "/v{version:[0-9.]+}"`). */
export function splitVersion(path: string): { version: string | null; path: string } {
  const m = /^\/v([0-9.]+)(\/.*)$/s.exec(path);
  return m ? { version: m[1] as string, path: m[2] as string } : { version: null, path };
}

/**
 * Docker's `versions.compare`: dot-separated numbers, a part that is not a number counts
 * as 0, missing parts too. Negative when a < b.
 */
export function compareVersions(a: string, b: string): number {
  const as = a.split('.');
  const bs = b.split('.');
  for (let i = 0; i < Math.max(as.length, bs.length); i++) {
    const x = i < as.length ? goAtoi(as[i] as string) : 0;
    const y = i < bs.length ? goAtoi(bs[i] as string) : 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function goAtoi(s: string): number {
  return /^[+-]?\d+$/.test(s) ? Number(s) : 0;
}

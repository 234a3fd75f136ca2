import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
} from 'node:fs';
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ConnectionOptions } from 'node:tls';
import { assertNever } from '../errors.ts';
import { EffectFailure, type Handler } from '../handler.ts';
import type { FetchBlobResult, RegistryRequest, RegistryResults } from './requests.ts';
import { ExtraCaCertificates } from './trust.ts';

/** What a request to a registry adds for TLS (https.request hands it to tls.connect). */
type TlsOptions = RequestOptions & Pick<ConnectionOptions, 'secureContext'>;

/** What `docker login` and `X-Registry-Auth` carry (Docker's AuthConfig). */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

/** The registry service's configuration (dockerd's `registry.ServiceOptions`, validated). */
export interface RegistryServiceConfig {
  /** Mirror URLs of Docker Hub, with their trailing slash. */
  mirrors: string[];
  /** Insecure registries: `host[:port]` names and CIDRs (127.0.0.0/8 always). */
  insecureRegistries: string[];
  /** `/etc/docker/certs.d` (CA certificates and client pairs per `host:port`). */
  certsDir: string;
  /** Blobs downloaded, and uploaded, at once across the daemon (dockerd's transfer managers: 3 and 5). */
  maxConcurrentDownloads?: number;
  maxConcurrentUploads?: number;
}

/** At most `limit` holders at once; the others wait their turn, first come first served. */
class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.used >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.used += 1;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.used -= 1;
    }
  }
}

const manifestAccept = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/json',
];

interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

interface RegistrySession {
  endpoint: string;
  domain: string;
  repository: string;
  actions: string[];
  credentials: AuthConfig | null;
  challenge: Challenge | null;
  authorization: string | null;
  controller: AbortController;
  tls: TlsOptions;
}

/** `Bearer realm="…",service="…"` → its scheme and parameters. */
export function parseChallenge(header: string | undefined): Challenge | null {
  if (!header) return null;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const scheme = (m[1] as string).toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return null;
  const params: Record<string, string> = {};
  for (const p of (m[2] as string).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"|(\w+)=([^,\s]+)/g))
    params[(p[1] ?? p[3]) as string] = ((p[2] ?? p[4]) as string).replace(/\\(.)/g, '$1');
  return { scheme, params };
}

/** Registry error bodies as Docker prints them: `manifest unknown: manifest unknown`. */
function registryErrorText(body: string, status: number): string {
  try {
    const doc = JSON.parse(body) as {
      errors?: { code?: string; message?: string; detail?: unknown }[];
      details?: string;
    };
    if (Array.isArray(doc.errors) && doc.errors.length > 0)
      return doc.errors
        .map((e) => {
          const code = (e.code ?? 'unknown').toLowerCase().replaceAll('_', ' ');
          return e.message ? `${code}: ${e.message}` : code;
        })
        .join(', ');
    if (typeof doc.details === 'string') return doc.details;
  } catch {
    // not JSON
  }
  const text = body.trim();
  return text === ''
    ? `received unexpected HTTP status: ${status} ${statusText(status)}`
    : `error parsing HTTP ${status} response body: ${text.slice(0, 200)}`;
}

const statusTexts: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};
function statusText(status: number): string {
  return statusTexts[status] ?? '';
}

function codeOfStatus(status: number): 'ENOENT' | 'EACCES' | 'EUNAVAILABLE' | 'EINVAL' {
  if (status === 404) return 'ENOENT';
  if (status === 401 || status === 403) return 'EACCES';
  if (status === 429 || status >= 500) return 'EUNAVAILABLE';
  return 'EINVAL';
}

/** Network errors in Go's words: `Get "http://h/v2/": dial tcp h: connect: connection refused`. */
function networkFailure(
  err: unknown,
  method: string,
  url: string,
  aborted: boolean,
): EffectFailure {
  if (aborted) return new EffectFailure('EIO', 'context canceled');
  const e = err as NodeJS.ErrnoException & { host?: string };
  const verb = method.charAt(0) + method.slice(1).toLowerCase();
  const host = new URL(url).host;
  switch (e.code) {
    case 'ECONNREFUSED':
      return new EffectFailure(
        'ECONNREFUSED',
        `${verb} "${url}": dial tcp ${host}: connect: connection refused`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new EffectFailure(
        'EUNAVAILABLE',
        `${verb} "${url}": dial tcp: lookup ${new URL(url).hostname}: no such host`,
      );
    case 'ETIMEDOUT':
      return new EffectFailure('ETIMEDOUT', `${verb} "${url}": dial tcp ${host}: i/o timeout`);
    default:
      return new EffectFailure('EIO', `${verb} "${url}": ${e.message}`);
  }
}

/** Docker's limit on a manifest (and on what an error body is read of). */
const maxBody = 4 << 20;

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) {
        res.destroy();
        reject(new EffectFailure('EINVAL', `response body larger than ${maxBody} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** Whether `ip` lies in `cidr` (IPv4 only; IPv6 CIDRs match exact addresses). */
function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (isIP(ip) !== 4 || isIP(net ?? '') !== 4) return ip === net;
  const toInt = (a: string): number =>
    a.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (toInt(ip) & mask) === (toInt(net as string) & mask);
}

/**
 * The registry client of the real daemon: Docker's endpoint choice (mirrors for Docker Hub,
 * https then http for insecure registries, certs.d for TLS), its authentication (Basic, and
 * bearer tokens from the challenge's realm, scoped per repository), and the Distribution API
 * calls of pull, push and login. Byte progress goes to `onProgress` (not to the trace).
 */
export class RegistryClient implements Handler<RegistryRequest> {
  private readonly config: RegistryServiceConfig;
  private readonly sessions = new Map<string, RegistrySession>();
  private readonly vault = new Map<string, AuthConfig>();
  /** Byte progress of a session's transfer (a blob download or upload), by its id. */
  onProgress: ((session: string, id: string, current: number, total: number) => void) | null = null;
  readonly userAgent: string;
  private readonly downloads: Slots;
  private readonly uploads: Slots;
  /** The CAs beyond certs.d's (NODE_EXTRA_CA_CERTS), read when the first TLS client is built. */
  private readonly trust = new ExtraCaCertificates();

  constructor(config: RegistryServiceConfig, userAgent: string) {
    this.config = config;
    this.userAgent = userAgent;
    this.downloads = new Slots(config.maxConcurrentDownloads ?? 3);
    this.uploads = new Slots(config.maxConcurrentUploads ?? 5);
  }

  /** Credentials for a coming request, by a key the request names (never the secret itself). */
  putCredentials(key: string, auth: AuthConfig): void {
    this.vault.set(key, auth);
  }
  dropCredentials(key: string): void {
    this.vault.delete(key);
  }

  private session(id: string): RegistrySession {
    const s = this.sessions.get(id);
    if (!s) throw new EffectFailure('EINVAL', `no registry session ${id}`);
    return s;
  }

  /** Docker: an exact `host:port` entry, or an address in an insecure CIDR (127.0.0.0/8 always); Docker Hub never. */
  async isInsecure(host: string): Promise<boolean> {
    if (host === 'docker.io' || host === 'registry-1.docker.io') return false;
    const entries = this.config.insecureRegistries;
    if (entries.includes(host)) return true;
    const hostname = new URL(`http://${host}`).hostname.replace(/^\[|\]$/g, '');
    const cidrs = ['127.0.0.0/8', ...entries.filter((e) => e.includes('/'))];
    let addresses: string[];
    try {
      addresses = isIP(hostname)
        ? [hostname]
        : // Loaded with the first name to resolve: the daemon's start-up needs no resolver.
          (await process.getBuiltinModule('node:dns/promises').lookup(hostname, { all: true })).map(
            (a) => a.address,
          );
    } catch {
      return false;
    }
    return addresses.some((a) => cidrs.some((c) => inCidr(a, c)));
  }

  /**
   * TLS options for a secure registry: the system's roots, NODE_EXTRA_CA_CERTS's and certs.d's
   * `*.crt`, and a client pair.
   */
  private async tlsFor(host: string, insecure: boolean): Promise<TlsOptions> {
    if (insecure) return { rejectUnauthorized: false };
    const dir = `${this.config.certsDir}/${host}`;
    const files = existsSync(dir) ? readdirSync(dir) : [];
    const ca = files
      .filter((f) => f.endsWith('.crt'))
      .map((f) => readFileSync(`${dir}/${f}`, 'utf8'));
    let pair: { cert: Buffer; key: Buffer } | undefined;
    for (const f of files.filter((x) => x.endsWith('.cert'))) {
      const key = `${f.slice(0, -5)}.key`;
      if (!files.includes(key))
        throw new EffectFailure(
          'EINVAL',
          `missing key ${key} for client certificate ${f}. Note that CA certificates should use the extension .crt`,
        );
      pair = { cert: readFileSync(`${dir}/${f}`), key: readFileSync(`${dir}/${key}`) };
    }
    const secureContext = await this.trust.contextFor(ca, pair);
    return secureContext === undefined ? {} : { secureContext };
  }

  /** The endpoints to try, in order (dockerd's lookupV2Endpoints). */
  private async endpoints(
    domain: string,
    mirrors: boolean,
  ): Promise<{ url: string; tls: TlsOptions; mirror: boolean }[]> {
    if (domain === 'docker.io') {
      const out = mirrors
        ? await Promise.all(
            this.config.mirrors.map(async (m) => {
              const u = new URL(m);
              const insecure = u.protocol === 'http:' || (await this.isInsecure(u.host));
              return {
                url: m.replace(/\/$/, ''),
                tls: await this.tlsFor(u.host, insecure),
                mirror: true,
              };
            }),
          )
        : [];
      out.push({
        url: 'https://registry-1.docker.io',
        tls: await this.tlsFor('docker.io', false),
        mirror: false,
      });
      return out;
    }
    const insecure = await this.isInsecure(domain);
    const out = [
      { url: `https://${domain}`, tls: await this.tlsFor(domain, insecure), mirror: false },
    ];
    if (insecure) out.push({ url: `http://${domain}`, tls: {}, mirror: false });
    return out;
  }

  /** One HTTP request; redirects of GET and HEAD followed (Range and Accept kept), up to 10. */
  private async send(
    method: string,
    url: string,
    opts: {
      headers?: OutgoingHttpHeaders;
      body?: string | Buffer | Readable;
      tls?: TlsOptions;
      signal?: AbortSignal;
      authorization?: string | null;
    },
    redirects = 0,
  ): Promise<IncomingMessage> {
    const u = new URL(url);
    // TLS (node:https, node:tls) loads when a registry is first reached over it: a daemon's
    // start-up has no use for it.
    const request = u.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
    return new Promise((resolve, reject) => {
      const headers: OutgoingHttpHeaders = {
        'User-Agent': this.userAgent,
        ...(opts.authorization ? { Authorization: opts.authorization } : {}),
        ...opts.headers,
      };
      const req = request(
        u,
        {
          method,
          headers,
          ...(u.protocol === 'https:' ? (opts.tls ?? {}) : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
            res.resume();
            if (redirects >= 10) {
              reject(new EffectFailure('EIO', `${method} "${url}": stopped after 10 redirects`));
              return;
            }
            const next = new URL(res.headers.location, url).toString();
            // A redirect to another host (a CDN) gets no credentials.
            const sameHost = new URL(next).host === u.host;
            this.send(
              method === 'HEAD' ? 'HEAD' : 'GET',
              next,
              {
                ...opts,
                body: undefined,
                authorization: sameHost ? (opts.authorization ?? null) : null,
              } as never,
              redirects + 1,
            ).then(resolve, reject);
            return;
          }
          resolve(res);
        },
      );
      req.on('error', (err) =>
        reject(networkFailure(err, method, url, opts.signal?.aborted === true)),
      );
      const body = opts.body;
      if (body === undefined) req.end();
      else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
      else
        pipeline(body, req).catch((err: unknown) =>
          req.destroy(err instanceof Error ? err : new Error(String(err))),
        );
    });
  }

  /** A request of a session, authorised; a 401 makes it fetch a token once more and try again. */
  private async call(
    s: RegistrySession,
    method: string,
    path: string,
    opts: {
      headers?: OutgoingHttpHeaders;
      body?: () => string | Buffer | Readable;
      extraScope?: string;
    } = {},
  ): Promise<IncomingMessage> {
    const url = path.startsWith('http') ? path : `${s.endpoint}${path}`;
    for (let attempt = 0; ; attempt++) {
      const res = await this.send(method, url, {
        ...(opts.headers ? { headers: opts.headers } : {}),
        ...(opts.body ? { body: opts.body() } : {}),
        tls: s.tls,
        signal: s.controller.signal,
        authorization: s.authorization,
      });
      if (res.statusCode !== 401 || attempt > 0) return res;
      const challenge = parseChallenge(res.headers['www-authenticate']);
      await readBody(res);
      if (challenge === null)
        return this.send(method, url, { tls: s.tls, signal: s.controller.signal });
      s.challenge = challenge;
      await this.authorize(s, opts.extraScope);
      if (s.authorization === null) {
        if (challenge.scheme === 'basic')
          throw new EffectFailure('EACCES', 'no basic auth credentials');
        throw new EffectFailure('EACCES', 'unauthorized: authentication required');
      }
    }
  }

  /** Turns the session's challenge and credentials into its Authorization header. */
  private async authorize(s: RegistrySession, extraScope?: string): Promise<void> {
    const c = s.credentials;
    const ch = s.challenge;
    if (ch === null) {
      s.authorization = null;
      return;
    }
    if (c?.registrytoken) {
      s.authorization = `Bearer ${c.registrytoken}`;
      return;
    }
    const user =
      c?.username ?? (c?.auth ? Buffer.from(c.auth, 'base64').toString().split(':')[0] : undefined);
    const pass =
      c?.password ??
      (c?.auth
        ? Buffer.from(c.auth, 'base64').toString().split(':').slice(1).join(':')
        : undefined);
    if (ch.scheme === 'basic') {
      s.authorization =
        user !== undefined && user !== ''
          ? `Basic ${Buffer.from(`${user}:${pass ?? ''}`).toString('base64')}`
          : null;
      return;
    }
    const scopes = [`repository:${s.repository}:${s.actions.join(',')}`];
    if (extraScope) scopes.push(extraScope);
    s.authorization = `Bearer ${await this.token(ch, { user, pass, identityToken: c?.identitytoken, scopes, signal: s.controller.signal, endpoint: s.endpoint })}`;
  }

  /** A bearer token from the challenge's realm (GET, or the OAuth2 POST with an identity token). */
  private async token(
    ch: Challenge,
    o: {
      user: string | undefined;
      pass: string | undefined;
      identityToken: string | undefined;
      scopes: string[];
      signal: AbortSignal;
      endpoint: string;
      login?: boolean;
    },
  ): Promise<string> {
    const realm = ch.params['realm'];
    if (!realm) throw new EffectFailure('EACCES', 'no realm in the registry challenge');
    const url = new URL(realm);
    let res: IncomingMessage;
    if (o.identityToken) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: o.identityToken,
        service: ch.params['service'] ?? '',
        client_id: 'docker',
        ...(o.scopes.length > 0 ? { scope: o.scopes.join(' ') } : {}),
      }).toString();
      res = await this.send('POST', url.toString(), {
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'Content-Length': Buffer.byteLength(form),
        },
        body: form,
        signal: o.signal,
      });
    } else {
      if (o.user) url.searchParams.set('account', o.user);
      if (o.login) {
        url.searchParams.set('client_id', 'docker');
        url.searchParams.set('offline_token', 'true');
      }
      for (const sc of o.scopes) url.searchParams.append('scope', sc);
      if (ch.params['service']) url.searchParams.set('service', ch.params['service']);
      res = await this.send('GET', url.toString(), {
        signal: o.signal,
        authorization: o.user
          ? `Basic ${Buffer.from(`${o.user}:${o.pass ?? ''}`).toString('base64')}`
          : null,
      });
    }
    const body = await readBody(res);
    if ((res.statusCode ?? 0) >= 300) {
      let detail = registryErrorText(body, res.statusCode ?? 0);
      try {
        const d = JSON.parse(body) as { details?: string; errors?: unknown };
        if (typeof d.details === 'string') detail = `unauthorized: ${d.details}`;
      } catch {
        // keep the generic text
      }
      throw new EffectFailure('EACCES', `Get "${o.endpoint}/v2/": ${detail}`);
    }
    const doc = JSON.parse(body) as {
      token?: string;
      access_token?: string;
      refresh_token?: string;
    };
    const token = doc.access_token ?? doc.token;
    if (!token)
      throw new EffectFailure(
        'EACCES',
        'authorization server did not include a token in the response',
      );
    this.lastRefreshToken = doc.refresh_token ?? '';
    return token;
  }
  private lastRefreshToken = '';

  /** Pings `/v2/` on each endpoint in turn; the first that answers as a registry is used. */
  private async open(
    req: Extract<RegistryRequest, { effect: 'registry.open' }>,
  ): Promise<RegistryResults['registry.open']> {
    const credentials = req.credentials === null ? null : (this.vault.get(req.credentials) ?? null);
    const controller = new AbortController();
    this.sessions.get(req.session)?.controller.abort();
    let last: EffectFailure | null = null;
    for (const e of await this.endpoints(req.domain, req.mirrors)) {
      let res: IncomingMessage;
      try {
        res = await this.send('GET', `${e.url}/v2/`, { tls: e.tls, signal: controller.signal });
      } catch (err) {
        last = err instanceof EffectFailure ? err : new EffectFailure('EIO', String(err));
        if (controller.signal.aborted) throw new EffectFailure('EIO', 'context canceled');
        continue;
      }
      const body = await readBody(res);
      const status = res.statusCode ?? 0;
      if (status !== 200 && status !== 401) {
        last = new EffectFailure(codeOfStatus(status), registryErrorText(body, status));
        continue;
      }
      const s: RegistrySession = {
        endpoint: e.url,
        domain: req.domain,
        repository: req.repository,
        actions: req.actions,
        credentials,
        challenge: status === 401 ? parseChallenge(res.headers['www-authenticate']) : null,
        authorization: null,
        controller,
        tls: e.tls,
      };
      this.sessions.set(req.session, s);
      // Docker fetches the token before the first repository request (scopes are known).
      await this.authorize(s);
      return {
        endpoint: e.url,
        auth: s.challenge === null ? 'none' : s.challenge.scheme,
        mirror: e.mirror,
      };
    }
    throw last ?? new EffectFailure('EUNAVAILABLE', `no endpoint for ${req.domain}`);
  }

  private async getManifest(
    s: RegistrySession,
    reference: string,
  ): Promise<RegistryResults['registry.getManifest']> {
    const res = await this.call(s, 'GET', `/v2/${s.repository}/manifests/${reference}`, {
      headers: { Accept: manifestAccept.join(', ') },
    });
    const body = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status !== 200)
      throw new EffectFailure(codeOfStatus(status), registryErrorText(body, status));
    return {
      digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
      mediaType: String(res.headers['content-type'] ?? '').split(';')[0] as string,
      body,
    };
  }

  private async fetchBlob(
    id: string,
    s: RegistrySession,
    req: Extract<RegistryRequest, { effect: 'registry.fetchBlob' }>,
  ): Promise<FetchBlobResult> {
    let offset = 0;
    const hash = createHash('sha256');
    if (req.offset > 0 && existsSync(req.path) && statSync(req.path).size >= req.offset) {
      truncateSync(req.path, req.offset);
      await pipeline(
        createReadStream(req.path),
        new Transform({ transform: (c, _e, cb) => (hash.update(c as Buffer), cb()) }),
      );
      offset = req.offset;
    }
    const res = await this.call(s, 'GET', `/v2/${s.repository}/blobs/${req.digest}`, {
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
    });
    const status = res.statusCode ?? 0;
    if (status === 429 || status >= 500) {
      const body = await readBody(res);
      const after = Number(res.headers['retry-after']);
      return {
        complete: false,
        have: offset,
        retryAfterMs:
          status === 429 && Number.isFinite(after) ? after * 1000 : status === 429 ? 1000 : null,
        reason: registryErrorText(body, status),
      };
    }
    if (status !== 200 && status !== 206) {
      const body = await readBody(res);
      throw new EffectFailure(codeOfStatus(status), registryErrorText(body, status));
    }
    let resumedFrom = offset;
    if (status === 200 && offset > 0) {
      // The registry ignored the Range: start over.
      truncateSync(req.path, 0);
      resumedFrom = 0;
      offset = 0;
      hash.destroy();
      return this.fetchBlob(id, s, { ...req, offset: 0 });
    }
    const total = req.size > 0 ? req.size : offset + Number(res.headers['content-length'] ?? 0);
    let have = offset;
    const progress = this.onProgress;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        have += chunk.length;
        progress?.(id, req.digest, have, total);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(
        res,
        counter,
        createWriteStream(req.path, { flags: offset > 0 ? 'a' : 'w', mode: 0o600 }),
      );
    } catch (err) {
      if (s.controller.signal.aborted) throw new EffectFailure('EIO', 'context canceled');
      const written = existsSync(req.path) ? statSync(req.path).size : 0;
      return {
        complete: false,
        have: written,
        retryAfterMs: null,
        reason:
          (err as NodeJS.ErrnoException).code === 'ECONNRESET' ||
          (err as Error).message === 'aborted'
            ? 'unexpected EOF'
            : (err as Error).message,
      };
    }
    return { complete: true, digest: `sha256:${hash.digest('hex')}`, size: have, resumedFrom };
  }

  private async blobExists(
    s: RegistrySession,
    digest: string,
  ): Promise<RegistryResults['registry.blobExists']> {
    const res = await this.call(s, 'HEAD', `/v2/${s.repository}/blobs/${digest}`);
    res.resume();
    const status = res.statusCode ?? 0;
    if (status === 200) return { exists: true, size: Number(res.headers['content-length'] ?? 0) };
    if (status === 404) return { exists: false, size: 0 };
    throw new EffectFailure(
      codeOfStatus(status),
      `received unexpected HTTP status: ${status} ${statusText(status)}`,
    );
  }

  private async mountBlob(s: RegistrySession, digest: string, from: string): Promise<boolean> {
    const res = await this.call(
      s,
      'POST',
      `/v2/${s.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      { headers: { 'Content-Length': 0 }, extraScope: `repository:${from}:pull` },
    );
    const body = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status === 201) return true;
    if (status === 202 && res.headers.location) {
      // The registry opened an upload instead: cancel it (the blob is uploaded in full next).
      const del = await this.call(
        s,
        'DELETE',
        new URL(res.headers.location, s.endpoint).toString(),
      );
      del.resume();
      return false;
    }
    throw new EffectFailure(codeOfStatus(status), registryErrorText(body, status));
  }

  private async startUpload(s: RegistrySession): Promise<string> {
    const res = await this.call(s, 'POST', `/v2/${s.repository}/blobs/uploads/`, {
      headers: { 'Content-Length': 0 },
    });
    const body = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status !== 202 || !res.headers.location)
      throw new EffectFailure(codeOfStatus(status), registryErrorText(body, status));
    return new URL(res.headers.location, s.endpoint).toString();
  }

  private withDigest(location: string, digest: string): string {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    return u.toString();
  }

  private async uploadBlob(
    id: string,
    s: RegistrySession,
    req: Extract<RegistryRequest, { effect: 'registry.uploadBlob' }>,
  ): Promise<RegistryResults['registry.uploadBlob']> {
    const location = await this.startUpload(s);
    if ('content' in req.source) {
      // Monolithic: the whole blob in the PUT that closes the upload.
      const content = Buffer.from(req.source.content);
      const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
      const res = await this.call(s, 'PUT', this.withDigest(location, digest), {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': content.length },
        body: () => content,
      });
      const body = await readBody(res);
      if (res.statusCode !== 201)
        throw new EffectFailure(
          codeOfStatus(res.statusCode ?? 0),
          registryErrorText(body, res.statusCode ?? 0),
        );
      return { digest, size: content.length };
    }
    // Chunked: one streamed PATCH (compressed on the way), then the PUT with the digest.
    const hash = createHash('sha256');
    let size = 0;
    let read = 0;
    const total = statSync(req.source.path).size;
    const progress = this.onProgress;
    const path = req.source.path;
    const gzip = req.source.gzip;
    const body = (): Readable => {
      const src = createReadStream(path);
      src.on('data', (c) => {
        read += (c as Buffer).length;
        progress?.(id, req.progressId, read, total);
      });
      const counted = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      // zlib loads with the first gzipped push: the daemon's start-up needs none of it.
      const zlib = gzip ? process.getBuiltinModule('node:zlib') : null;
      return (zlib ? src.pipe(zlib.createGzip()) : src).pipe(counted);
    };
    const patched = await this.call(s, 'PATCH', location, {
      headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
      body,
    });
    const patchBody = await readBody(patched);
    if (patched.statusCode !== 202)
      throw new EffectFailure(
        codeOfStatus(patched.statusCode ?? 0),
        registryErrorText(patchBody, patched.statusCode ?? 0),
      );
    const digest = `sha256:${hash.digest('hex')}`;
    const next = new URL(patched.headers.location ?? location, s.endpoint).toString();
    const res = await this.call(s, 'PUT', this.withDigest(next, digest), {
      headers: { 'Content-Length': 0 },
    });
    const putBody = await readBody(res);
    if (res.statusCode !== 201)
      throw new EffectFailure(
        codeOfStatus(res.statusCode ?? 0),
        registryErrorText(putBody, res.statusCode ?? 0),
      );
    return { digest, size };
  }

  private async putManifest(
    s: RegistrySession,
    req: Extract<RegistryRequest, { effect: 'registry.putManifest' }>,
  ): Promise<string> {
    const res = await this.call(s, 'PUT', `/v2/${s.repository}/manifests/${req.reference}`, {
      headers: { 'Content-Type': req.mediaType, 'Content-Length': Buffer.byteLength(req.body) },
      body: () => req.body,
    });
    const body = await readBody(res);
    if (res.statusCode !== 201)
      throw new EffectFailure(
        codeOfStatus(res.statusCode ?? 0),
        registryErrorText(body, res.statusCode ?? 0),
      );
    return (
      (res.headers['docker-content-digest'] as string | undefined) ??
      `sha256:${createHash('sha256').update(req.body).digest('hex')}`
    );
  }

  /** dockerd's loginV2: ping, then the credentials against `/v2/` (Basic, or a token without scope). */
  private async login(
    req: Extract<RegistryRequest, { effect: 'registry.login' }>,
  ): Promise<RegistryResults['registry.login']> {
    const auth = this.vault.get(req.credentials) ?? {};
    let address = req.serverAddress.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (address === '' || address === 'index.docker.io' || address === 'registry-1.docker.io')
      address = 'docker.io';
    const user = auth.username ?? '';
    const pass = auth.password ?? '';
    let last: EffectFailure | null = null;
    const signal = AbortSignal.timeout(15_000);
    for (const e of await this.endpoints(address, false)) {
      let res: IncomingMessage;
      try {
        res = await this.send('GET', `${e.url}/v2/`, { tls: e.tls, signal });
      } catch (err) {
        last = err as EffectFailure;
        continue;
      }
      await readBody(res);
      if (res.statusCode === 200) return { status: 'Login Succeeded', identityToken: '' };
      if (res.statusCode !== 401) {
        last = new EffectFailure(
          codeOfStatus(res.statusCode ?? 0),
          `login attempt to ${e.url}/v2/ failed with status: ${res.statusCode} ${statusText(res.statusCode ?? 0)}`,
        );
        continue;
      }
      const ch = parseChallenge(res.headers['www-authenticate']);
      let authorization: string;
      let identityToken = '';
      if (ch?.scheme === 'bearer') {
        authorization = `Bearer ${await this.token(ch, { user, pass, identityToken: auth.identitytoken, scopes: [], signal, endpoint: e.url, login: true })}`;
        identityToken = this.lastRefreshToken;
      } else authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      const check = await this.send('GET', `${e.url}/v2/`, { tls: e.tls, signal, authorization });
      await readBody(check);
      if (check.statusCode === 200) return { status: 'Login Succeeded', identityToken };
      throw new EffectFailure(
        'EACCES',
        `login attempt to ${e.url}/v2/ failed with status: ${check.statusCode} ${statusText(check.statusCode ?? 0)}`,
      );
    }
    throw last ?? new EffectFailure('EUNAVAILABLE', `no endpoint for ${address}`);
  }

  async run(req: RegistryRequest & { id?: string }): Promise<unknown> {
    const id = req.id ?? '';
    switch (req.effect) {
      case 'registry.open':
        return this.open(req);
      case 'registry.getManifest':
        return this.getManifest(this.session(req.session), req.reference);
      case 'registry.fetchBlob':
        return this.downloads.run(() =>
          this.fetchBlob(req.session, this.session(req.session), req),
        );
      case 'registry.blobExists':
        return this.blobExists(this.session(req.session), req.digest);
      case 'registry.mountBlob':
        return { mounted: await this.mountBlob(this.session(req.session), req.digest, req.from) };
      case 'registry.uploadBlob':
        return this.uploads.run(() => this.uploadBlob(req.session, this.session(req.session), req));
      case 'registry.putManifest':
        return { digest: await this.putManifest(this.session(req.session), req) };
      case 'registry.login':
        return this.login(req);
      case 'registry.close': {
        const s = this.sessions.get(req.session);
        s?.controller.abort();
        this.sessions.delete(req.session);
        void id;
        return {};
      }
      default:
        return assertNever(req, 'registry request');
    }
  }
}

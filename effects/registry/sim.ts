import { createHash } from 'node:crypto';
import { assertNever } from '../errors.ts';
import type { SimFs } from '../fs/sim.ts';
import { SimFailure } from '../sim/failure.ts';
import type { FetchBlobResult, RegistryRequest, RegistryResults } from './requests.ts';

/** What a simulated registry does wrong, per blob digest or once per session. */
export interface SimRegistryFaults {
  /** The connection is cut halfway through the body, once per digest. */
  resetMidBlob?: string[];
  /** The body is not the blob (a byte flipped), every time. */
  corruptBlob?: string[];
  /** A 429 with Retry-After (ms), once per digest. */
  throttleBlob?: { digest: string; retryAfterMs: number }[];
  /** A 503, once per digest. */
  serverErrorBlob?: string[];
  /** Each blob GET takes this much longer (virtual ms). */
  slowBlobMs?: number;
  /** The registry wants a token: the first open without credentials answers 401, then the token. */
  tokenAuth?: boolean;
}

interface SimRepo {
  manifests: Map<string, { mediaType: string; body: string }>;
  blobs: Map<string, string>;
}

export function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/**
 * A Distribution API registry in memory, answering the `registry.*` effects as the real
 * client does (same results, same failure codes): manifests by tag and digest, blobs written
 * into the simulated filesystem, and the faults a real network and registry have.
 */
export class SimRegistry {
  readonly repos = new Map<string, SimRepo>();
  faults: SimRegistryFaults = {};
  private readonly sessions = new Map<string, { repo: string }>();
  private readonly firedOnce = new Set<string>();
  /** Every request, as the registry's access log would show it (tests assert on it). */
  readonly log: string[] = [];
  private readonly fs: SimFs;

  constructor(fs: SimFs) {
    this.fs = fs;
  }

  /** The daemon process died: its sessions (endpoints, tokens) went with its memory. */
  daemonExited(): void {
    this.sessions.clear();
  }

  private repo(key: string): SimRepo {
    let r = this.repos.get(key);
    if (!r) this.repos.set(key, (r = { manifests: new Map(), blobs: new Map() }));
    return r;
  }

  /**
   * Puts an image in the registry: each layer's content is its blob (the simulated image
   * store unpacks it to diff ID sha256("tar:" + content)); returns the manifest's digest.
   */
  publish(
    repository: string,
    tag: string,
    layers: string[],
    platform = { os: 'linux', architecture: 'amd64' },
  ): string {
    const r = this.repo(repository);
    const diffIds = layers.map((l) => sha256(`tar:${l}`));
    const config = JSON.stringify({
      ...platform,
      config: {},
      rootfs: { type: 'layers', diff_ids: diffIds },
    });
    r.blobs.set(sha256(config), config);
    for (const l of layers) r.blobs.set(sha256(l), l);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        size: config.length,
        digest: sha256(config),
      },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        size: l.length,
        digest: sha256(l),
      })),
    });
    const entry = { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', body };
    r.manifests.set(tag, entry);
    r.manifests.set(sha256(body), entry);
    return sha256(body);
  }

  /** Extra latency of a request (slow blobs). */
  extraLatency(req: RegistryRequest): number {
    return req.effect === 'registry.fetchBlob' ? (this.faults.slowBlobMs ?? 0) : 0;
  }

  private once(key: string): boolean {
    if (this.firedOnce.has(key)) return false;
    this.firedOnce.add(key);
    return true;
  }

  private session(id: string): { repo: string } {
    const s = this.sessions.get(id);
    if (!s) throw new SimFailure('EINVAL', `no registry session ${id}`);
    return s;
  }

  run(req: RegistryRequest): unknown {
    const fs = this.fs;
    switch (req.effect) {
      case 'registry.open': {
        const key = `${req.domain}/${req.repository}`;
        this.log.push(`GET /v2/`);
        if (this.faults.tokenAuth && req.credentials === null && this.once(`401:${req.session}`))
          this.log.push('GET /token (after 401)');
        this.sessions.set(req.session, { repo: key });
        return {
          endpoint: `https://${req.domain}`,
          auth: this.faults.tokenAuth ? 'bearer' : 'none',
          mirror: false,
        } satisfies RegistryResults['registry.open'];
      }
      case 'registry.getManifest': {
        const s = this.session(req.session);
        this.log.push(`GET /v2/${s.repo}/manifests/${req.reference}`);
        const m = this.repos.get(s.repo)?.manifests.get(req.reference);
        if (!m) throw new SimFailure('ENOENT', 'manifest unknown: manifest unknown');
        return {
          digest: sha256(m.body),
          mediaType: m.mediaType,
          body: m.body,
        } satisfies RegistryResults['registry.getManifest'];
      }
      case 'registry.fetchBlob': {
        const s = this.session(req.session);
        this.log.push(
          `GET /v2/${s.repo}/blobs/${req.digest}${req.offset > 0 ? ` Range: bytes=${req.offset}-` : ''}`,
        );
        const blob = this.repos.get(s.repo)?.blobs.get(req.digest);
        if (blob === undefined)
          throw new SimFailure('ENOENT', 'blob unknown: blob unknown to registry');
        const f = this.faults;
        const throttle = f.throttleBlob?.find((t) => t.digest === req.digest);
        if (throttle && this.once(`429:${req.digest}`))
          return {
            complete: false,
            have: req.offset,
            retryAfterMs: throttle.retryAfterMs,
            reason: 'toomanyrequests: rate limited',
          } satisfies FetchBlobResult;
        if (f.serverErrorBlob?.includes(req.digest) && this.once(`503:${req.digest}`))
          return {
            complete: false,
            have: req.offset,
            retryAfterMs: null,
            reason: 'received unexpected HTTP status: 503 Service Unavailable',
          } satisfies FetchBlobResult;
        const body = f.corruptBlob?.includes(req.digest) ? `${blob.slice(0, -1)}#` : blob;
        const have = req.offset > 0 ? (fs.readFile(req.path, true) ?? '').slice(0, req.offset) : '';
        const rest = body.slice(have.length);
        if (f.resetMidBlob?.includes(req.digest) && this.once(`reset:${req.digest}`)) {
          const cut = have + rest.slice(0, Math.floor(rest.length / 2));
          fs.writeFile(req.path, cut, 0o600);
          return {
            complete: false,
            have: cut.length,
            retryAfterMs: null,
            reason: 'unexpected EOF',
          } satisfies FetchBlobResult;
        }
        fs.writeFile(req.path, have + rest, 0o600);
        return {
          complete: true,
          digest: sha256(have + rest),
          size: (have + rest).length,
          resumedFrom: have.length,
        } satisfies FetchBlobResult;
      }
      case 'registry.blobExists': {
        const s = this.session(req.session);
        const b = this.repos.get(s.repo)?.blobs.get(req.digest);
        return { exists: b !== undefined, size: b?.length ?? 0 };
      }
      case 'registry.mountBlob': {
        const s = this.session(req.session);
        const b = this.repos
          .get(`${s.repo.split('/')[0] as string}/${req.from}`)
          ?.blobs.get(req.digest);
        if (b !== undefined) this.repo(s.repo).blobs.set(req.digest, b);
        return { mounted: b !== undefined };
      }
      case 'registry.uploadBlob': {
        const s = this.session(req.session);
        const content =
          'content' in req.source
            ? req.source.content
            : (fs.readFile(req.source.path, false) ?? '');
        this.repo(s.repo).blobs.set(sha256(content), content);
        return { digest: sha256(content), size: content.length };
      }
      case 'registry.putManifest': {
        const s = this.session(req.session);
        const entry = { mediaType: req.mediaType, body: req.body };
        this.repo(s.repo).manifests.set(req.reference, entry);
        this.repo(s.repo).manifests.set(sha256(req.body), entry);
        return { digest: sha256(req.body) };
      }
      case 'registry.login':
        return { status: 'Login Succeeded', identityToken: '' };
      case 'registry.close':
        this.sessions.delete(req.session);
        return {};
      default:
        return assertNever(req, 'registry request');
    }
  }
}

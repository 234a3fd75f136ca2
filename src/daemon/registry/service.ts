import { randomBytes } from 'node:crypto';
import { arch } from 'node:os';
import { checkGoStruct, decodeJsonBody } from '../../api/go-json.ts';
import type { ApiServer, RouteContext } from '../../api/server.ts';
import { ApiError } from '../../api/server.ts';
import type { Session } from '../../../effects/runner.ts';
import type { AuthConfig, RegistryClient } from '../../../effects/registry/real.ts';
import type { PullInput, PullOutput } from '../../../machines/image-pull/machine.ts';
import {
  parsePlatform,
  platformString,
  type Platform,
} from '../../../machines/image-pull/manifest.ts';
import type { PushInput, PushOutput } from '../../../machines/image-push/machine.ts';
import type { LoginOutput } from '../../../machines/registry-login/machine.ts';
import type { EventsService } from '../events.ts';
import type { ImageRecord, ImageStore } from '../images.ts';
import type { ImagePuller } from '../images-api.ts';
import {
  canonicalString,
  familiarName,
  parseReference,
  ReferenceError,
  type ImageReference,
} from './reference.ts';
import {
  decodeRegistryAuth,
  errorMessage,
  progressMessage,
  statusMessage,
  type JsonMessage,
} from './progress.ts';

export interface RegistryServiceDeps {
  session: Session;
  client: RegistryClient;
  images: ImageStore;
  events: EventsService;
  root: string;
  /** The daemon's temp dir (`<root>/tmp`, or DOCKER_TMPDIR). */
  tmpDir: () => string;
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  maxDownloadAttempts: number;
  /** Says what went wrong in work no client waits for (the daemon's log). */
  warn: (message: string) => void;
}

const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };

/** The daemon's own platform (what a pull chooses from an index by default). */
export function daemonPlatform(): Platform {
  return { os: 'linux', architecture: goArch[arch()] ?? arch(), variant: null };
}

/** One client following a pull or push: its response, until it ends or goes away. */
interface Watcher {
  ctx: RouteContext;
  opened: boolean;
  closed: boolean;
  /** Resolves the route handler's promise: the answer is complete, or its client is gone. */
  done: () => void;
}

/** A running pull or push, with the clients following it and what they have been told. */
interface Transfer {
  actorId: string;
  key: string;
  watchers: Set<Watcher>;
  history: JsonMessage[];
  /** Bytes last reported per layer (progress lines are sent at most every 1% or so). */
  lastBytes: Map<string, number>;
  /** Layers the stream has named (the config's bytes are not shown, as dockerd does). */
  named: Set<string>;
}

function httpStatusOf(code: string): number {
  return code === 'ENOENT' ? 404 : 500;
}

/**
 * Pull, push and login over the Engine API: each pull or push is an actor (machines/image-pull,
 * machines/image-push) whose `*.progress` marks and byte counts become Docker's JSON message
 * stream. Two pulls of the same reference and platform share one actor (dockerd shares the
 * transfers); a client that goes away stops watching, and the pull is cancelled when nobody
 * watches it any more.
 */
export class RegistryService implements ImagePuller {
  private readonly d: RegistryServiceDeps;
  private readonly transfers = new Map<string, Transfer>();
  private readonly byKey = new Map<string, Transfer>();
  private seq = 0;

  constructor(deps: RegistryServiceDeps) {
    this.d = deps;
    deps.session.onRecord((actor, r) => {
      if (r.kind !== 'mark') return;
      const t = this.transfers.get(actor);
      if (!t) return;
      const m = r.mark;
      if (m.mark !== 'pull.progress' && m.mark !== 'push.progress') return;
      const id = typeof m['id'] === 'string' ? m['id'] : undefined;
      if (id !== undefined) t.named.add(id);
      const aux = m['aux'] as Record<string, unknown> | undefined;
      this.broadcast(
        t,
        aux !== undefined ? { progressDetail: {}, aux } : statusMessage(String(m['status']), id),
      );
    });
    deps.client.onProgress = (session, id, current, total) => {
      const t = this.transfers.get(session);
      if (!t) return;
      const short = id.replace(/^sha256:/, '').slice(0, 12);
      if (!t.named.has(short)) return;
      const last = t.lastBytes.get(short) ?? 0;
      if (current !== total && current - last < Math.max(total / 100, 32_768)) return;
      t.lastBytes.set(short, current);
      const push = session.startsWith('push:');
      this.broadcast(
        t,
        progressMessage(push ? 'Pushing' : 'Downloading', short, current, total),
        false,
      );
    };
  }

  private broadcast(t: Transfer, msg: JsonMessage, keep = true): void {
    if (keep) t.history.push(msg);
    for (const w of t.watchers) this.write(w, msg);
  }

  private write(w: Watcher, msg: JsonMessage): void {
    if (w.closed) return;
    if (!w.opened) {
      w.opened = true;
      w.ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
    }
    w.ctx.res.write(`${JSON.stringify(msg)}\r\n`);
  }

  private watch(
    t: Transfer,
    ctx: RouteContext,
    onGone: () => void,
    done = (): void => undefined,
  ): Watcher {
    const w: Watcher = { ctx, opened: false, closed: false, done };
    t.watchers.add(w);
    for (const m of t.history) this.write(w, m);
    const gone = (): void => {
      if (w.closed) return;
      w.closed = true;
      t.watchers.delete(w);
      if (t.watchers.size === 0) onGone();
      w.done();
    };
    ctx.res.on('close', () => {
      if (!ctx.res.writableFinished) gone();
    });
    ctx.res.on('error', gone);
    ctx.req.on('error', gone);
    return w;
  }

  /** Answers a watcher with the transfer's end: the stream closed, or Docker's error (HTTP or in the stream). */
  private end(w: Watcher, failure: { message: string; code: string } | null): void {
    if (w.closed) return;
    w.closed = true;
    if (failure === null) {
      if (!w.opened) w.ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
      w.ctx.res.end();
      return;
    }
    if (!w.opened) {
      w.ctx.res.writeHead(httpStatusOf(failure.code), { 'Content-Type': 'application/json' });
      w.ctx.res.end(`${JSON.stringify({ message: failure.message })}\n`);
      return;
    }
    w.ctx.res.end(`${JSON.stringify(errorMessage(failure.message))}\r\n`);
  }

  private credentialsFrom(ctx: RouteContext, key: string): string | null {
    const auth = decodeRegistryAuth(ctx.req.headers['x-registry-auth'] as string | undefined);
    if (auth === null || Object.keys(auth).length === 0) return null;
    this.d.client.putCredentials(key, auth);
    return key;
  }

  /** `POST /images/create?fromImage=…&tag=…[&platform=…]`. */
  async pull(ctx: RouteContext): Promise<void> {
    const from = (ctx.query.get('fromImage') ?? '').replace(/:$/, '');
    const tag = ctx.query.get('tag') ?? '';
    if (from === '') throw new ApiError(400, 'fromImage is required: the image to pull');
    let ref: ImageReference;
    try {
      ref = parseReference(from, null);
      if (tag !== '') {
        if (/^[a-z0-9]+:[a-f0-9]{32,}$/.test(tag)) ref = parseReference(`${from}@${tag}`, null);
        else ref = parseReference(`${from}:${tag}`, null);
      }
    } catch (err) {
      if (err instanceof ReferenceError) throw new ApiError(400, err.message);
      throw err;
    }
    if (ref.tag === null && ref.digest === null)
      throw new ApiError(
        400,
        `statedock does not pull every tag of a repository: give a tag or digest for ${familiarName(ref)}`,
      );
    const spec = ctx.query.get('platform') ?? '';
    const own = daemonPlatform();
    const platform = spec === '' ? own : parsePlatform(spec, own);
    if (platform === null)
      throw new ApiError(400, `"${spec}": cannot parse platform specifier: invalid argument`);
    const key = `${canonicalString(ref)}|${platformString(platform)}`;
    const existing = this.byKey.get(key);
    if (existing) {
      await this.follow(existing, ctx);
      return;
    }
    const n = ++this.seq;
    const pullId = `pull-${n}-${randomBytes(4).toString('hex')}`;
    const actorId = `pull:${pullId}`;
    const credentials = this.credentialsFrom(ctx, actorId);
    const t: Transfer = {
      actorId,
      key,
      watchers: new Set(),
      history: [],
      lastBytes: new Map(),
      named: new Set(),
    };
    this.transfers.set(pullId, t);
    this.transfers.set(actorId, t);
    this.byKey.set(key, t);
    const input: PullInput = {
      actorId,
      pull: pullId,
      domain: ref.domain,
      repository: ref.path,
      name: familiarName(ref),
      tag: ref.tag,
      digest: ref.digest,
      platform,
      explicitPlatform: spec !== '',
      credentials,
      tmpDir: `${this.d.tmpDir()}/${pullId}`,
      stagingDir: this.d.images.layers.staging(''),
      maxConcurrentDownloads: this.d.maxConcurrentDownloads,
      maxAttempts: this.d.maxDownloadAttempts,
    };
    input.stagingDir = input.stagingDir.replace(/\/$/, '');
    // The pull's temp dir and staging are its own until its cleanup releases its holds.
    this.d.images.hold(pullId, []);
    const entry = this.d.session.spawn('imagePull', actorId, input, { forgetWhenDone: true });
    entry.done.then(
      (out) => this.pulled(t, ref, out as PullOutput, credentials),
      (err: unknown) => {
        // The actor failed before its cleanup: its holds go (its files stay for the next start's GC).
        this.d.images
          .release(pullId)
          .catch((e: unknown) =>
            this.d.warn(`releasing the holds of pull ${pullId} failed: ${(e as Error).message}`),
          );
        this.pulled(
          t,
          ref,
          { status: 'failed', message: (err as Error).message, code: 'EIO', started: true },
          credentials,
        );
      },
    );
    await this.follow(t, ctx);
  }

  private follow(t: Transfer, ctx: RouteContext): Promise<void> {
    return new Promise((resolve) => {
      this.watch(
        t,
        ctx,
        () => {
          // Nobody waits for this pull any more: cancel it (dockerd releases the transfer).
          const entry = this.d.session.actors.get(t.actorId);
          if (entry && (entry.actor.getSnapshot() as { status: string }).status === 'active')
            try {
              this.d.session.send(t.actorId, { type: 'pull.cancel' });
            } catch {
              // the actor failed meanwhile: its end answers the watchers
            }
        },
        resolve,
      );
    });
  }

  private pulled(
    t: Transfer,
    ref: ImageReference,
    out: PullOutput,
    credentials: string | null,
  ): void {
    this.byKey.delete(t.key);
    this.transfers.delete(t.actorId);
    this.transfers.delete(t.actorId.slice(5));
    if (credentials !== null) this.d.client.dropCredentials(credentials);
    const failure =
      out.status === 'done'
        ? null
        : out.status === 'cancelled'
          ? { message: 'context canceled', code: 'EIO' }
          : { message: out.message, code: out.code };
    if (out.status === 'done') {
      const name =
        ref.digest !== null
          ? `${familiarName(ref)}@${ref.digest}`
          : `${familiarName(ref)}:${ref.tag ?? 'latest'}`;
      this.d.events.publish('image', 'pull', name, { name });
    }
    for (const w of [...t.watchers]) {
      this.end(w, failure);
      w.done();
    }
    t.watchers.clear();
  }

  /** `POST /images/{name}/push?tag=…`. */
  async push(ctx: RouteContext): Promise<void> {
    const header = ctx.req.headers['x-registry-auth'];
    if (header === undefined)
      throw new ApiError(400, 'Bad parameters and missing X-Registry-Auth: EOF');
    const name = ctx.params['name'] as string;
    const tag = ctx.query.get('tag') ?? '';
    let ref: ImageReference;
    try {
      ref = parseReference(tag === '' ? name : `${name}:${tag}`, null);
    } catch (err) {
      if (err instanceof ReferenceError) throw new ApiError(400, err.message);
      throw err;
    }
    const repo = familiarName(ref);
    const images = await this.d.images.list();
    const tags: { tag: string; image: ImageRecord }[] = [];
    for (const i of images)
      for (const t of i.repoTags) {
        const at = t.lastIndexOf(':');
        if (t.slice(0, at) !== repo) continue;
        if (ref.tag !== null && t.slice(at + 1) !== ref.tag) continue;
        tags.push({ tag: t.slice(at + 1), image: i });
      }
    if (tags.length === 0)
      throw new ApiError(
        404,
        ref.tag !== null
          ? `An image does not exist locally with the tag: ${repo}`
          : `An image does not exist locally with the tag: ${repo}`,
      );
    const n = ++this.seq;
    let ended = false;
    for (const { tag: t, image } of tags) {
      const pushId = `push-${n}-${randomBytes(4).toString('hex')}`;
      const actorId = `push:${pushId}`;
      const credentials = this.credentialsFrom(ctx, actorId);
      const tr: Transfer = {
        actorId,
        key: actorId,
        watchers: new Set(),
        history: [],
        lastBytes: new Map(),
        named: new Set(),
      };
      this.transfers.set(actorId, tr);
      const layers: PushInput['layers'] = [];
      for (const chainId of image.layers) {
        const l = await this.d.images.layer(chainId);
        if (!l) throw new ApiError(500, `layer ${chainId} of ${image.id} does not exist`);
        layers.push({
          diffId: l.diffId,
          source: l.source,
          known: await this.d.images.blobsOf(l.diffId),
        });
      }
      const input: PushInput = {
        actorId,
        push: actorId,
        domain: ref.domain,
        repository: ref.path,
        name: repo,
        tag: t,
        imageId: image.id,
        configJson: image.configJson,
        layers,
        credentials,
        maxConcurrentUploads: this.d.maxConcurrentUploads,
      };
      const w = this.watch(tr, ctx, () => {
        // The client went away: the push is cancelled (dockerd cancels its context).
        const entry = this.d.session.actors.get(actorId);
        if (entry && (entry.actor.getSnapshot() as { status: string }).status === 'active')
          try {
            this.d.session.send(actorId, { type: 'push.cancel' });
          } catch {
            // the actor failed meanwhile: its end answers the client
          }
      });
      let out: PushOutput;
      try {
        out = (await this.d.session.spawn('imagePush', actorId, input, { forgetWhenDone: true })
          .done) as PushOutput;
      } catch (err) {
        out = { status: 'failed', message: (err as Error).message, code: 'EIO', started: true };
      }
      this.transfers.delete(actorId);
      if (credentials !== null) this.d.client.dropCredentials(credentials);
      if (out.status === 'failed') {
        this.end(w, { message: out.message, code: out.code });
        ended = true;
        break;
      }
      this.d.events.publish('image', 'push', `${repo}:${t}`, { name: `${repo}:${t}` });
      tr.watchers.delete(w);
      if (!w.opened) {
        w.opened = true;
        ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
      }
    }
    if (!ended && !ctx.res.writableEnded) ctx.res.end();
  }

  /** `POST /auth` (docker login). */
  async login(ctx: RouteContext): Promise<void> {
    // Go's words for JSON it cannot read or of the wrong kind (400: the mistake is the client's);
    // `null` is an empty AuthConfig (dockerd 20.10 dereferences it and answers 500).
    const raw = await ctx.body();
    const auth = checkGoStruct(
      raw.toString('utf8').trim() === '' ? {} : decodeJsonBody(raw),
      'types.AuthConfig',
      {
        username: 'string',
        password: 'string',
        auth: 'string',
        email: 'string',
        serveraddress: 'string',
        identitytoken: 'string',
        registrytoken: 'string',
      },
    ) as AuthConfig;
    const key = `login-${++this.seq}-${randomBytes(4).toString('hex')}`;
    this.d.client.putCredentials(key, auth);
    try {
      const out = (await this.d.session.spawn(
        'registryLogin',
        `login:${key}`,
        { actorId: `login:${key}`, serverAddress: auth.serveraddress ?? '', credentials: key },
        { forgetWhenDone: true },
      ).done) as LoginOutput;
      if (out.status === 'failed')
        throw new ApiError(out.code === 'ENOENT' ? 404 : 500, out.message);
      ctx.json(200, { IdentityToken: out.identityToken, Status: out.message });
    } finally {
      this.d.client.dropCredentials(key);
    }
  }

  register(api: ApiServer): void {
    api.add({ method: 'POST', pattern: '/images/{name}/push', handler: (ctx) => this.push(ctx) });
    api.add({ method: 'POST', pattern: '/auth', handler: (ctx) => this.login(ctx) });
  }
}

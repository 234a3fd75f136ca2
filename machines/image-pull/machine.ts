import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall, EffectRequest } from '../../effects/requests.ts';
import type { ImageResults } from '../../effects/image/requests.ts';
import type { RegistryResults } from '../../effects/registry/requests.ts';
import { commit, noOutlet, onSettled, type Output } from '../outlet.ts';
import { shortId, transientCodes } from './transfer.ts';
import {
  choosePlatform,
  parseManifest,
  platformString,
  type Descriptor,
  type Platform,
} from './manifest.ts';
import { buildOnce } from '../build-once.ts';

/**
 * One `docker pull`: resolve the reference to a manifest (choosing the platform of an index),
 * find which layers are here, download the config and the missing layers (at most
 * `maxConcurrentDownloads` at once, each verified against its digest, resumed with a Range
 * request when cut, retried with back-off on 429 and 5xx), unpack each, register them bottom-up
 * by chain ID, then the image, then its references. Whatever happens, the pull's temp files and
 * staging are removed and its holds released before it ends. Docker's statuses go out as
 * `pull.progress` marks; orderings are `pull.*` marks (constraints.ts).
 */
export interface PullInput {
  actorId: string;
  /** The pull's id: its registry session, its layer holds, its staging names. */
  pull: string;
  domain: string;
  /** Repository path on the registry (`library/busybox`). */
  repository: string;
  /** Familiar name (`busybox`, `127.0.0.1:5000/test/bb`) for references and messages. */
  name: string;
  tag: string | null;
  digest: string | null;
  platform: Platform;
  /** The platform was asked for (a single-platform image of another one gets a warning). */
  explicitPlatform: boolean;
  credentials: string | null;
  /** `<tmp>/pull-<pull>`: downloaded blobs. */
  tmpDir: string;
  /** `<root>/layers/staging`: layers unpacked before registration. */
  stagingDir: string;
  maxConcurrentDownloads: number;
  maxAttempts: number;
}

type LayerStatus =
  | 'present'
  | 'waiting'
  | 'downloading'
  | 'backoff'
  | 'downloaded'
  | 'extracting'
  | 'extracted'
  | 'registering'
  | 'registered';

export interface PullLayer extends Descriptor {
  status: LayerStatus;
  attempts: number;
  offset: number;
  diffId: string | null;
  chainId: string | null;
  size: number;
  layerSize: number;
  tarSize: number;
  staged: boolean;
}

type PendingKind =
  | { kind: 'mkdir' }
  | { kind: 'open' }
  | { kind: 'manifest'; child: boolean }
  | { kind: 'lookup' }
  | { kind: 'fetch'; layer: number }
  | { kind: 'sleep'; layer: number }
  | { kind: 'extract'; layer: number }
  | { kind: 'register'; layer: number }
  | { kind: 'readConfig' }
  | { kind: 'registerImage' }
  | { kind: 'reference'; ref: string }
  | { kind: 'abort' }
  | { kind: 'cleanup' };

export interface PullContext {
  input: PullInput;
  seq: number;
  pending: Record<string, PendingKind>;
  /** Digest printed at the end and kept in RepoDigests (the index's when there is one). */
  manifestDigest: string | null;
  config: Descriptor | null;
  configState: 'none' | 'downloading' | 'backoff' | 'verified' | 'read';
  configAttempts: number;
  configOffset: number;
  diffIds: string[] | null;
  layers: PullLayer[];
  imageExisted: boolean;
  /** Whether a reference moved to this image (Docker's "Downloaded newer image"). */
  referenceMoved: boolean;
  failure: { message: string; code: string } | null;
  cancelled: boolean;
  /** Whether a progress message went out (errors before one are HTTP errors). */
  started: boolean;
  warnings: string[];
  /** The child manifest chosen from an index. */
  childDigest: string | null;
  cleanupStarted: boolean;
  /** The session's endpoint is a Docker Hub mirror (a manifest it lacks is asked of Docker Hub). */
  onMirror: boolean;
}

export type PullEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError }
  | { type: 'pull.cancel' };

export type PullOutput =
  | { status: 'done'; id: string; digest: string; message: string }
  | { status: 'failed'; message: string; code: string; started: boolean }
  | { status: 'cancelled' };

/** A pull's marks: its progress (the client's stream) and the facts its orderings are checked on. */
export type PullMark =
  | { mark: 'pull.started'; pull: string; ref: string }
  | { mark: 'pull.progress'; pull: string; status: string; id?: string }
  | {
      mark: 'pull.retry';
      pull: string;
      digest: string;
      attempt: number;
      reason: string;
      have: number;
    }
  | { mark: 'pull.blobVerified'; pull: string; digest: string }
  | {
      mark: 'pull.layerRegistered';
      pull: string;
      digest: string;
      chainId: string | null;
      created: boolean;
    }
  | { mark: 'pull.imageRegistered'; pull: string; id: string; layers: string[] }
  | { mark: 'pull.referenceSet'; pull: string; ref: string; id: string }
  | { mark: 'pull.mirrorFallback'; pull: string; message: string }
  | { mark: 'pull.failed'; pull: string; message: string }
  | { mark: 'pull.cancelled'; pull: string };

/** Builds one step's outputs: effect calls numbered `<actor>/<seq>`, marks in order. */
class Step {
  readonly outputs: Output<PullMark>[] = [];
  readonly ctx: PullContext;
  constructor(ctx: PullContext) {
    // Every part a step may change is copied: the context it was given is frozen (traces hold it).
    this.ctx = {
      ...ctx,
      pending: { ...ctx.pending },
      layers: ctx.layers.map((l) => ({ ...l })),
      warnings: [...ctx.warnings],
    };
  }
  call(req: EffectRequest, kind: PendingKind): void {
    const id = `${this.ctx.input.actorId}/${++this.ctx.seq}`;
    this.ctx.pending[id] = kind;
    this.outputs.push({ call: { ...req, id, step: 'pull' } as EffectCall });
  }
  mark(m: PullMark): void {
    this.outputs.push({ mark: m });
  }
  progress(status: string, id?: string): void {
    this.ctx.started = true;
    this.mark({
      mark: 'pull.progress',
      pull: this.ctx.input.pull,
      status,
      ...(id === undefined ? {} : { id }),
    });
  }
  fail(message: string, code = 'EIO'): void {
    if (this.ctx.failure === null && !this.ctx.cancelled) {
      this.ctx.failure = { message, code };
      this.mark({ mark: 'pull.failed', pull: this.ctx.input.pull, message });
    }
  }
}

const refName = (i: PullInput): string =>
  i.digest !== null ? `${i.name}@${i.digest}` : `${i.name}:${i.tag ?? 'latest'}`;

function configPath(c: PullContext): string {
  return `${c.input.tmpDir}/config.json`;
}
function blobPath(c: PullContext, digest: string): string {
  return `${c.input.tmpDir}/${digest.slice(7)}`;
}
function stagingOf(c: PullContext, i: number): string {
  return `${c.input.stagingDir}/${c.input.pull}-${i}`;
}

/** Starts what may start: the config, downloads up to the limit, extractions, the next registration. */
function pump(s: Step): void {
  const c = s.ctx;
  if (c.failure !== null || c.cancelled) return;
  const i = c.input;
  if (c.config !== null && c.configState === 'none') {
    c.configState = 'downloading';
    s.call(
      {
        effect: 'registry.fetchBlob',
        session: i.pull,
        digest: c.config.digest,
        size: c.config.size,
        path: configPath(c),
        offset: c.configOffset,
      },
      { kind: 'fetch', layer: -1 },
    );
  }
  let active = c.layers.filter((l) => l.status === 'downloading').length;
  for (const [n, l] of c.layers.entries()) {
    if (l.status !== 'waiting' || active >= Math.max(1, i.maxConcurrentDownloads)) continue;
    l.status = 'downloading';
    active += 1;
    s.call(
      {
        effect: 'registry.fetchBlob',
        session: i.pull,
        digest: l.digest,
        size: l.size,
        path: blobPath(c, l.digest),
        offset: l.offset,
      },
      { kind: 'fetch', layer: n },
    );
  }
  for (const [n, l] of c.layers.entries()) {
    if (l.status !== 'downloaded') continue;
    l.status = 'extracting';
    l.staged = true;
    s.progress('Extracting', shortId(l.digest));
    s.call(
      { effect: 'image.extractLayer', blob: blobPath(c, l.digest), staging: stagingOf(c, n) },
      { kind: 'extract', layer: n },
    );
  }
  // Registration is bottom-up: a layer's chain ID needs its parent's, and the config's diff IDs.
  if (c.diffIds === null) return;
  for (const [n, l] of c.layers.entries()) {
    if (l.status === 'present' || l.status === 'registered') continue;
    if (l.status !== 'extracted') return;
    if (l.diffId !== c.diffIds[n]) {
      s.fail("layers from manifest don't match image configuration");
      return;
    }
    const parent = n === 0 ? null : (c.layers[n - 1] as PullLayer).chainId;
    l.status = 'registering';
    s.call(
      {
        effect: 'image.registerLayer',
        parent,
        diffId: l.diffId,
        size: l.layerSize,
        tarSize: l.tarSize,
        staging: stagingOf(c, n),
        blob: {
          path: blobPath(c, l.digest),
          digest: l.digest,
          mediaType: l.mediaType,
          repository: `${i.domain}/${i.repository}`,
        },
        hold: i.pull,
      },
      { kind: 'register', layer: n },
    );
    return;
  }
  // Every layer registered: the image may become visible.
  if (
    c.configState === 'read' &&
    !Object.values(c.pending).some((p) => p.kind === 'registerImage' || p.kind === 'reference')
  ) {
    const layers = c.layers.map((l) => l.chainId as string);
    s.call(
      {
        effect: 'image.registerImage',
        image: (c.config as Descriptor).digest,
        configPath: configPath(c),
        layers,
      },
      { kind: 'registerImage' },
    );
  }
}

/** A transfer that stopped: resumed at once when it made progress, else after a back-off (Retry-After when given). */
function retry(
  s: Step,
  layer: number,
  have: number,
  retryAfterMs: number | null,
  reason: string,
): void {
  const c = s.ctx;
  const prev = layer < 0 ? c.configOffset : (c.layers[layer] as PullLayer).offset;
  const attempts = (layer < 0 ? c.configAttempts : (c.layers[layer] as PullLayer).attempts) + 1;
  if (layer < 0) {
    c.configAttempts = attempts;
    c.configOffset = have;
  } else {
    const l = c.layers[layer] as PullLayer;
    l.attempts = attempts;
    l.offset = have;
  }
  const digest =
    layer < 0 ? (c.config as Descriptor).digest : (c.layers[layer] as PullLayer).digest;
  s.mark({ mark: 'pull.retry', pull: c.input.pull, digest, attempt: attempts, reason, have });
  if (attempts >= c.input.maxAttempts) {
    s.fail(layer < 0 ? `error pulling image configuration: ${reason}` : reason, 'EIO');
    return;
  }
  if (have > prev && retryAfterMs === null) {
    // Progress was made: resume from where the file ends (Range request).
    if (layer < 0) c.configState = 'none';
    else (c.layers[layer] as PullLayer).status = 'waiting';
    return;
  }
  const delay = retryAfterMs ?? Math.min(1000 * 2 ** (attempts - 1), 10_000);
  if (layer < 0) c.configState = 'backoff';
  else {
    (c.layers[layer] as PullLayer).status = 'backoff';
    s.progress(
      `Retrying in ${Math.ceil(delay / 1000)} second${Math.ceil(delay / 1000) === 1 ? '' : 's'}`,
      shortId(digest),
    );
  }
  s.call({ effect: 'clock.sleep', ms: delay }, { kind: 'sleep', layer });
}

function onFetched(s: Step, layer: number, result: RegistryResults['registry.fetchBlob']): void {
  const c = s.ctx;
  if (!result.complete) {
    retry(s, layer, result.have, result.retryAfterMs, result.reason);
    return;
  }
  const want = layer < 0 ? (c.config as Descriptor).digest : (c.layers[layer] as PullLayer).digest;
  if (result.digest !== want) {
    // A resumed download may have joined two different bodies: start it over once.
    if (result.resumedFrom > 0) {
      retry(s, layer, 0, null, `filesystem layer verification failed for digest ${want}`);
      if (layer < 0) c.configOffset = 0;
      else (c.layers[layer] as PullLayer).offset = 0;
      return;
    }
    s.fail(
      layer < 0
        ? `error pulling image configuration: image config verification failed for digest ${want}`
        : `filesystem layer verification failed for digest ${want}`,
      'EINVAL',
    );
    return;
  }
  s.mark({ mark: 'pull.blobVerified', pull: c.input.pull, digest: want });
  if (layer < 0) {
    c.configState = 'verified';
    s.call({ effect: 'fs.readFile', path: configPath(c) }, { kind: 'readConfig' });
    return;
  }
  const l = c.layers[layer] as PullLayer;
  s.progress('Verifying Checksum', shortId(l.digest));
  s.progress('Download complete', shortId(l.digest));
  l.status = 'downloaded';
}

function onConfig(s: Step, content: string | null): void {
  const c = s.ctx;
  let diffIds: unknown;
  let platform: { os?: unknown; architecture?: unknown } = {};
  try {
    const doc = JSON.parse(content ?? '') as {
      rootfs?: { diff_ids?: unknown };
      os?: unknown;
      architecture?: unknown;
    };
    diffIds = doc.rootfs?.diff_ids;
    platform = doc;
  } catch (err) {
    s.fail(`error pulling image configuration: ${(err as Error).message}`);
    return;
  }
  if (!Array.isArray(diffIds) || diffIds.some((d) => typeof d !== 'string')) {
    s.fail('invalid rootfs in image configuration');
    return;
  }
  if (diffIds.length !== c.layers.length) {
    s.fail("layers from manifest don't match image configuration");
    return;
  }
  const want = c.input.platform;
  if (
    c.input.explicitPlatform &&
    (platform.os !== want.os || platform.architecture !== want.architecture)
  )
    c.warnings.push(
      `image with reference ${refName(c.input)} was found but does not match the specified platform: wanted ${platformString(want)}, actual: ${String(platform.os)}/${String(platform.architecture)}`,
    );
  c.diffIds = diffIds as string[];
  c.configState = 'read';
  // Present layers must be the config's too (their diff IDs came from an earlier pull).
  for (const [n, l] of c.layers.entries())
    if (l.status === 'present' && l.diffId !== c.diffIds[n]) {
      s.fail("layers from manifest don't match image configuration");
      return;
    }
}

function onManifest(
  s: Step,
  result: RegistryResults['registry.getManifest'],
  child: boolean,
): void {
  const c = s.ctx;
  const i = c.input;
  if (!child && i.digest !== null && result.digest !== i.digest) {
    s.fail(`manifest verification failed for digest ${i.digest}`, 'EINVAL');
    return;
  }
  const parsed = parseManifest(result.mediaType, result.body);
  if (parsed.kind === 'error') {
    s.fail(parsed.message, 'EINVAL');
    return;
  }
  if (parsed.kind === 'index') {
    if (child) {
      s.fail('unsupported manifest format: an index inside an index', 'EINVAL');
      return;
    }
    c.manifestDigest = result.digest;
    const chosen = choosePlatform(parsed.manifests, i.platform);
    if (!chosen) {
      s.fail(
        `no matching manifest for ${platformString(i.platform)} in the manifest list entries`,
        'ENOENT',
      );
      return;
    }
    c.childDigest = chosen.digest;
    s.call(
      { effect: 'registry.getManifest', session: i.pull, reference: chosen.digest },
      { kind: 'manifest', child: true },
    );
    return;
  }
  if (child) {
    const wanted = c.childDigest;
    if (wanted !== null && result.digest !== wanted) {
      s.fail(`manifest verification failed for digest ${wanted}`, 'EINVAL');
      return;
    }
  } else c.manifestDigest = result.digest;
  c.config = parsed.config;
  c.layers = parsed.layers.map((d) => ({
    ...d,
    status: 'waiting',
    attempts: 0,
    offset: 0,
    diffId: null,
    chainId: null,
    layerSize: 0,
    tarSize: 0,
    staged: false,
  }));
  s.progress(
    `Pulling from ${familiarPath(i)}`,
    i.digest !== null ? refName(i) : (i.tag ?? 'latest'),
  );
  s.call(
    {
      effect: 'image.lookup',
      imageId: parsed.config.digest,
      blobs: parsed.layers.map((l) => l.digest),
      hold: i.pull,
    },
    { kind: 'lookup' },
  );
}

/** `library/busybox` → `library/busybox` (Docker prints the path without the host). */
function familiarPath(i: PullInput): string {
  return i.repository;
}

function onLookup(s: Step, result: ImageResults['image.lookup']): void {
  const c = s.ctx;
  if (result.imageExists) {
    c.imageExisted = true;
    setReferences(s);
    return;
  }
  for (const [n, l] of c.layers.entries()) {
    const found = result.layers[n];
    if (found?.present) {
      l.status = 'present';
      l.diffId = found.diffId;
      l.chainId = found.chainId;
      s.mark({
        mark: 'pull.layerRegistered',
        pull: c.input.pull,
        digest: l.digest,
        chainId: found.chainId,
        created: false,
      });
      s.mark({ mark: 'pull.blobVerified', pull: c.input.pull, digest: l.digest });
      s.progress('Already exists', shortId(l.digest));
    }
  }
  for (const l of c.layers)
    if (l.status === 'waiting') s.progress('Pulling fs layer', shortId(l.digest));
  const downloading = c.layers.filter((l) => l.status === 'waiting');
  for (const l of downloading.slice(Math.max(1, c.input.maxConcurrentDownloads)))
    s.progress('Waiting', shortId(l.digest));
  pump(s);
}

function setReferences(s: Step): void {
  const c = s.ctx;
  const i = c.input;
  const id = (c.config as Descriptor).digest;
  const refs: string[] = [];
  if (c.manifestDigest !== null) refs.push(`${i.name}@${c.manifestDigest}`);
  if (i.tag !== null && i.digest === null) refs.push(`${i.name}:${i.tag}`);
  for (const ref of refs)
    s.call({ effect: 'image.setReference', ref, image: id }, { kind: 'reference', ref });
}

/** Every reference set: Docker's closing lines. */
function succeed(s: Step): void {
  const c = s.ctx;
  for (const w of c.warnings) s.progress(`WARNING: ${w}`);
  s.progress(`Digest: ${c.manifestDigest ?? ''}`);
  s.progress(
    `Status: ${c.referenceMoved ? 'Downloaded newer image' : 'Image is up to date'} for ${refName(c.input)}`,
  );
}

/** The pull's files and holds, whatever the outcome: temp dir, unregistered staging, holds, session. */
function cleanup(s: Step): void {
  const c = s.ctx;
  const i = c.input;
  c.cleanupStarted = true;
  s.call({ effect: 'fs.removeAll', path: i.tmpDir }, { kind: 'cleanup' });
  for (const [n, l] of c.layers.entries())
    if (l.staged && l.status !== 'registered')
      s.call({ effect: 'fs.removeAll', path: stagingOf(c, n) }, { kind: 'cleanup' });
  s.call({ effect: 'image.release', hold: i.pull }, { kind: 'cleanup' });
  s.call({ effect: 'registry.close', session: i.pull }, { kind: 'cleanup' });
}

/**
 * Opens the pull's registry session; `mirrors`: the daemon's mirrors may serve it (false once
 * a mirror failed it: Docker Hub itself).
 */
function openSession(s: Step, mirrors: boolean): void {
  const i = s.ctx.input;
  s.call(
    {
      effect: 'registry.open',
      session: i.pull,
      domain: i.domain,
      repository: i.repository,
      actions: ['pull'],
      credentials: i.credentials,
      mirrors,
    },
    { kind: 'open' },
  );
}

function onDone(s: Step, kind: PendingKind, result: unknown): void {
  const c = s.ctx;
  const i = c.input;
  const stopping = c.failure !== null || c.cancelled;
  switch (kind.kind) {
    case 'mkdir':
      if (stopping) return;
      openSession(s, true);
      return;
    case 'open':
      if (stopping) return;
      c.onMirror = (result as RegistryResults['registry.open']).mirror;
      s.call(
        {
          effect: 'registry.getManifest',
          session: i.pull,
          reference: i.digest ?? i.tag ?? 'latest',
        },
        { kind: 'manifest', child: false },
      );
      return;
    case 'manifest':
      if (stopping) return;
      onManifest(s, result as RegistryResults['registry.getManifest'], kind.child);
      return;
    case 'lookup':
      if (stopping) return;
      onLookup(s, result as ImageResults['image.lookup']);
      return;
    case 'fetch':
      if (stopping) return;
      onFetched(s, kind.layer, result as RegistryResults['registry.fetchBlob']);
      pump(s);
      return;
    case 'sleep':
      if (stopping) return;
      if (kind.layer < 0) c.configState = 'none';
      else (c.layers[kind.layer] as PullLayer).status = 'waiting';
      pump(s);
      return;
    case 'readConfig':
      if (stopping) return;
      onConfig(s, (result as { content: string | null }).content);
      pump(s);
      return;
    case 'extract': {
      const l = c.layers[kind.layer] as PullLayer;
      const r = result as ImageResults['image.extractLayer'];
      l.status = 'extracted';
      l.diffId = r.diffId;
      l.layerSize = r.size;
      l.tarSize = r.tarSize;
      pump(s);
      return;
    }
    case 'register': {
      const l = c.layers[kind.layer] as PullLayer;
      const r = result as ImageResults['image.registerLayer'];
      l.status = 'registered';
      l.chainId = r.chainId;
      s.mark({
        mark: 'pull.layerRegistered',
        pull: i.pull,
        digest: l.digest,
        chainId: r.chainId,
        created: r.created,
      });
      s.progress('Pull complete', shortId(l.digest));
      pump(s);
      return;
    }
    case 'registerImage':
      if (stopping) return;
      s.mark({
        mark: 'pull.imageRegistered',
        pull: i.pull,
        id: (c.config as Descriptor).digest,
        layers: c.layers.map((l) => l.digest),
      });
      setReferences(s);
      return;
    case 'reference': {
      const r = result as ImageResults['image.setReference'];
      const id = (c.config as Descriptor).digest;
      // "Downloaded newer image" when the reference pulled by (tag, or digest) was made or moved.
      if (r.previous !== id && kind.ref.includes('@') === (i.digest !== null))
        c.referenceMoved = true;
      s.mark({ mark: 'pull.referenceSet', pull: i.pull, ref: kind.ref, id });
      return;
    }
    case 'abort':
    case 'cleanup':
      return;
  }
}

function onFailed(s: Step, kind: PendingKind, error: EffectError): void {
  const c = s.ctx;
  const i = c.input;
  if (kind.kind === 'cleanup' || kind.kind === 'abort') return;
  if (c.cancelled) return;
  switch (kind.kind) {
    case 'fetch':
      if (c.failure === null && transientCodes.has(error.code)) {
        const have = kind.layer < 0 ? c.configOffset : (c.layers[kind.layer] as PullLayer).offset;
        retry(s, kind.layer, have, null, error.message);
        pump(s);
        return;
      }
      s.fail(
        kind.layer < 0 ? `error pulling image configuration: ${error.message}` : error.message,
        error.code,
      );
      return;
    case 'manifest':
      if (c.onMirror && !kind.child && (error.code === 'ENOENT' || error.code === 'EACCES')) {
        // dockerd falls back from a mirror that lacks the image (or refuses it) to Docker Hub.
        s.mark({ mark: 'pull.mirrorFallback', pull: i.pull, message: error.message });
        openSession(s, false);
        return;
      }
      if (error.code === 'ENOENT' && !kind.child)
        s.fail(`manifest for ${refName(i)} not found: ${error.message}`, 'ENOENT');
      else s.fail(error.message, error.code);
      return;
    case 'extract':
      (c.layers[kind.layer] as PullLayer).status = 'extracted';
      s.fail(`failed to register layer: ${error.message}`, error.code);
      return;
    case 'register':
      s.fail(`failed to register layer: ${error.message}`, error.code);
      return;
    default:
      s.fail(error.message, error.code);
  }
}

const phases = [
  'resolving',
  'fetchingLayers',
  'registeringImage',
  'settingReferences',
  'cleaningUp',
] as const;
type Phase = (typeof phases)[number];

/** Where a pull is: resolving the manifest and its layers, downloading and registering, … */
function phaseOf(c: PullContext): Phase {
  if (c.cleanupStarted) return 'cleaningUp';
  const pending = Object.values(c.pending);
  if (pending.some((p) => p.kind === 'reference')) return 'settingReferences';
  if (pending.some((p) => p.kind === 'registerImage')) return 'registeringImage';
  if (c.config === null || pending.some((p) => p.kind === 'lookup')) return 'resolving';
  return 'fetchingLayers';
}

function phaseTransitions(self: Phase) {
  return [
    { guard: 'finished' as const, target: 'ended' },
    ...phases
      .filter((p) => p !== self)
      .map((phase) => ({ guard: { type: 'inPhase' as const, params: { phase } }, target: phase })),
  ];
}

function initial(input: PullInput): PullContext {
  return {
    input,
    seq: 0,
    pending: {},
    manifestDigest: input.digest,
    config: null,
    configState: 'none',
    configAttempts: 0,
    configOffset: 0,
    diffIds: null,
    layers: [],
    imageExisted: false,
    referenceMoved: false,
    failure: null,
    cancelled: false,
    started: false,
    warnings: [],
    childDigest: null,
    cleanupStarted: false,
    onMirror: false,
  };
}

/** After each event: a stopping pull cleans up once nothing else is in flight; a complete one says so and cleans up. */
function settle(s: Step, referencesDone: boolean): void {
  const c = s.ctx;
  if (c.cleanupStarted) return;
  if (c.failure !== null || c.cancelled) {
    // Sleeps need not be waited for: nothing of them touches the disk.
    for (const [id, p] of Object.entries(c.pending)) if (p.kind === 'sleep') delete c.pending[id];
    if (Object.values(c.pending).every((p) => p.kind === 'abort')) cleanup(s);
    return;
  }
  if (referencesDone) {
    succeed(s);
    cleanup(s);
  }
}

export const imagePullMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as PullContext,
      events: {} as PullEvent,
      input: {} as PullInput,
      output: {} as PullOutput,
    },
    actions: {
      emitOutputs: noOutlet,
      begin: enqueueActions(({ context, enqueue }) => {
        const s = new Step(context);
        s.mark({ mark: 'pull.started', pull: context.input.pull, ref: refName(context.input) });
        s.call(
          { effect: 'fs.mkdirAll', path: context.input.tmpDir, mode: 0o700 },
          { kind: 'mkdir' },
        );
        commit(enqueue, s.ctx, s.outputs);
      }),
      advance: enqueueActions(({ context, event, enqueue }) => {
        if (event.type === 'pull.cancel') {
          if (context.cancelled || context.failure !== null || context.cleanupStarted) return;
          const s = new Step(context);
          s.ctx.cancelled = true;
          s.mark({ mark: 'pull.cancelled', pull: context.input.pull });
          // Aborts what is in flight; the pull waits for it to settle, then cleans up.
          s.call({ effect: 'registry.close', session: context.input.pull }, { kind: 'abort' });
          settle(s, false);
          commit(enqueue, s.ctx, s.outputs);
          return;
        }
        const kind = context.pending[event.id];
        if (kind === undefined) return;
        const s = new Step(context);
        delete s.ctx.pending[event.id];
        if (event.type === 'effect.done') onDone(s, kind, event.result);
        else onFailed(s, kind, event.error);
        const referencesDone =
          kind.kind === 'reference' &&
          event.type === 'effect.done' &&
          !Object.values(s.ctx.pending).some((p) => p.kind === 'reference');
        settle(s, referencesDone);
        commit(enqueue, s.ctx, s.outputs);
      }),
    },
    guards: {
      finished: ({ context }) =>
        context.cleanupStarted && Object.keys(context.pending).length === 0,
      inPhase: ({ context }, params: { phase: Phase }) => phaseOf(context) === params.phase,
    },
  }).createMachine({
    id: 'imagePull',
    context: ({ input }) => initial(input),
    entry: 'begin',
    initial: 'resolving',
    on: {
      ...onSettled({ actions: 'advance' }),
      'pull.cancel': { actions: 'advance' },
    },
    // The phases, as the inspector shows them; every event goes to `advance`, which knows what
    // may start in which phase, and the phase follows from what is done and what is in flight.
    states: {
      resolving: { always: phaseTransitions('resolving') },
      fetchingLayers: { always: phaseTransitions('fetchingLayers') },
      registeringImage: { always: phaseTransitions('registeringImage') },
      settingReferences: { always: phaseTransitions('settingReferences') },
      cleaningUp: { always: phaseTransitions('cleaningUp') },
      ended: { type: 'final' },
    },
    output: ({ context }) =>
      context.cancelled
        ? { status: 'cancelled' }
        : context.failure !== null
          ? {
              status: 'failed',
              message: context.failure.message,
              code: context.failure.code,
              started: context.started,
            }
          : {
              status: 'done',
              id: (context.config as Descriptor).digest,
              digest: context.manifestDigest ?? '',
              message: context.referenceMoved ? 'Downloaded newer image' : 'Image is up to date',
            },
  }),
);

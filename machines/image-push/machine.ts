import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import type { EffectCall, EffectRequest } from '../../effects/requests.ts';
import type { RegistryResults } from '../../effects/registry/requests.ts';
import { commit, noOutlet, onSettled, type Output } from '../outlet.ts';
import { mediaTypes } from '../image-pull/manifest.ts';
import { shortId, transientCodes } from '../image-pull/transfer.ts';
import { buildOnce } from '../build-once.ts';

/**
 * One `docker push` of one tag: each layer is found in the registry already (HEAD of a blob
 * this daemon knows for its diff ID), mounted from another repository of the same registry,
 * or uploaded (a pulled blob as it is; an imported layer gzip-compressed on the way); then the
 * config, then the schema 2 manifest under the tag; the manifest's digest becomes a RepoDigest.
 */
export interface PushLayerInput {
  diffId: string;
  /** The layer's source: its uncompressed tar, or the blob it was pulled as. */
  source:
    | { kind: 'tar'; path: string }
    | { kind: 'blob'; path: string; digest: string; mediaType: string };
  /** Blobs known to unpack to this diff ID, with the repositories (`host/path`) they are in. */
  known: { digest: string; repositories: string[] }[];
}

export interface PushInput {
  actorId: string;
  push: string;
  domain: string;
  repository: string;
  /** Familiar name (`127.0.0.1:5000/test/bb`). */
  name: string;
  tag: string;
  imageId: string;
  configJson: string;
  /** Base layer first. */
  layers: PushLayerInput[];
  credentials: string | null;
  maxConcurrentUploads: number;
}

type LayerStatus =
  'waiting' | 'checking' | 'mounting' | 'sizing' | 'uploading' | 'recording' | 'done';

interface PushLayer {
  status: LayerStatus;
  /** Upload attempts that failed (dockerd retries a layer up to 5 times, 5 s × attempt apart). */
  attempts: number;
  digest: string | null;
  size: number;
  mediaType: string;
  /** Candidates still to try, in order. */
  head: string[];
  mounts: { digest: string; from: string }[];
}

type PendingKind =
  | { kind: 'open' }
  | { kind: 'head'; layer: number; digest: string }
  | { kind: 'mount'; layer: number; digest: string; from: string }
  | { kind: 'size'; layer: number; digest: string }
  | { kind: 'upload'; layer: number }
  | { kind: 'retryWait'; layer: number }
  | { kind: 'record'; layer: number }
  | { kind: 'configHead' }
  | { kind: 'configUpload' }
  | { kind: 'manifest' }
  | { kind: 'reference' }
  | { kind: 'close' };

export interface PushContext {
  input: PushInput;
  seq: number;
  pending: Record<string, PendingKind>;
  layers: PushLayer[];
  config: { digest: string; size: number } | null;
  configStarted: boolean;
  manifest: { digest: string; size: number } | null;
  failure: { message: string; code: string } | null;
  closing: boolean;
  started: boolean;
  /** Repository each mounted layer came from (for its `Mounted from` line). */
  mountedFrom: Record<number, string>;
  manifestSize: number;
}

export type PushEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError }
  /** The client went away: dockerd cancels the push's context. */
  | { type: 'push.cancel' };

export type PushOutput =
  | { status: 'done'; digest: string; size: number }
  | { status: 'failed'; message: string; code: string; started: boolean };

/** A push's marks: its progress (the client's stream; the last carries the digest in `aux`) and its failure. */
export type PushMark =
  | {
      mark: 'push.progress';
      push: string;
      status: string;
      id?: string;
      aux?: Record<string, unknown>;
    }
  | { mark: 'push.failed'; push: string; message: string };

class Step {
  readonly outputs: Output<PushMark>[] = [];
  readonly ctx: PushContext;
  constructor(ctx: PushContext) {
    // Every part a step may change is copied: the context it was given is frozen (traces hold it).
    this.ctx = {
      ...ctx,
      pending: { ...ctx.pending },
      layers: ctx.layers.map((l) => ({ ...l, head: [...l.head], mounts: [...l.mounts] })),
    };
  }
  call(req: EffectRequest, kind: PendingKind): void {
    const id = `${this.ctx.input.actorId}/${++this.ctx.seq}`;
    this.ctx.pending[id] = kind;
    this.outputs.push({ call: { ...req, id, step: 'push' } as EffectCall });
  }
  mark(m: PushMark): void {
    this.outputs.push({ mark: m });
  }
  progress(status: string, id?: string, aux?: Record<string, unknown>): void {
    this.ctx.started = true;
    this.mark({
      mark: 'push.progress',
      push: this.ctx.input.push,
      status,
      ...(id === undefined ? {} : { id }),
      ...(aux === undefined ? {} : { aux }),
    });
  }
  fail(message: string, code: string): void {
    if (this.ctx.failure !== null) return;
    this.ctx.failure = { message, code };
    this.mark({ mark: 'push.failed', push: this.ctx.input.push, message });
  }
}

const repoKey = (i: PushInput): string => `${i.domain}/${i.repository}`;

function plan(i: PushInput, l: PushLayerInput): PushLayer {
  const here = repoKey(i);
  const head: string[] = [];
  const mounts: { digest: string; from: string }[] = [];
  for (const k of l.known) {
    if (k.repositories.includes(here)) head.push(k.digest);
    for (const r of k.repositories)
      if (r !== here && r.startsWith(`${i.domain}/`))
        mounts.push({ digest: k.digest, from: r.slice(i.domain.length + 1) });
  }
  if (l.source.kind === 'blob' && !head.includes(l.source.digest)) head.push(l.source.digest);
  return {
    status: 'waiting',
    attempts: 0,
    digest: null,
    size: 0,
    mediaType: l.source.kind === 'blob' ? l.source.mediaType : mediaTypes.dockerLayer,
    head,
    mounts: mounts.slice(0, 3),
  };
}

/** Next action for a layer: a HEAD, a mount, else the upload. */
function nextFor(s: Step, n: number): void {
  const c = s.ctx;
  const i = c.input;
  const l = c.layers[n] as PushLayer;
  const src = (i.layers[n] as PushLayerInput).source;
  const h = l.head.shift();
  if (h !== undefined) {
    l.status = 'checking';
    s.call(
      { effect: 'registry.blobExists', session: i.push, digest: h },
      { kind: 'head', layer: n, digest: h },
    );
    return;
  }
  const m = l.mounts.shift();
  if (m !== undefined) {
    l.status = 'mounting';
    s.call(
      { effect: 'registry.mountBlob', session: i.push, digest: m.digest, from: m.from },
      { kind: 'mount', layer: n, digest: m.digest, from: m.from },
    );
    return;
  }
  l.status = 'uploading';
  s.call(
    {
      effect: 'registry.uploadBlob',
      session: i.push,
      source: { path: src.path, gzip: src.kind === 'tar' },
      progressId: shortId((i.layers[n] as PushLayerInput).diffId),
    },
    { kind: 'upload', layer: n },
  );
}

function pump(s: Step): void {
  const c = s.ctx;
  if (c.failure !== null) return;
  let active = c.layers.filter((l) => l.status !== 'waiting' && l.status !== 'done').length;
  for (const [n, l] of c.layers.entries()) {
    if (l.status !== 'waiting' || active >= Math.max(1, c.input.maxConcurrentUploads)) continue;
    active += 1;
    nextFor(s, n);
  }
  if (!c.configStarted) {
    c.configStarted = true;
    const digest = c.input.imageId;
    s.call(
      { effect: 'registry.blobExists', session: c.input.push, digest },
      { kind: 'configHead' },
    );
  }
  if (
    c.manifest === null &&
    c.config !== null &&
    c.layers.every((l) => l.status === 'done') &&
    !Object.values(c.pending).some((p) => p.kind === 'manifest')
  ) {
    const body = JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: mediaTypes.dockerManifest,
        config: {
          mediaType: mediaTypes.dockerConfig,
          size: c.config.size,
          digest: c.config.digest,
        },
        layers: c.layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
      },
      null,
      3,
    );
    s.call(
      {
        effect: 'registry.putManifest',
        session: c.input.push,
        reference: c.input.tag,
        mediaType: mediaTypes.dockerManifest,
        body,
      },
      { kind: 'manifest' },
    );
    c.manifestSize = Buffer_byteLength(body);
  }
}

function layerDone(s: Step, n: number, digest: string, size: number, status: string): void {
  const c = s.ctx;
  const l = c.layers[n] as PushLayer;
  l.digest = digest;
  l.size = size;
  l.status = 'recording';
  s.progress(status, shortId((c.input.layers[n] as PushLayerInput).diffId));
  s.call(
    {
      effect: 'image.recordBlob',
      digest,
      diffId: (c.input.layers[n] as PushLayerInput).diffId,
      repository: repoKey(c.input),
    },
    { kind: 'record', layer: n },
  );
}

function onDone(s: Step, kind: PendingKind, result: unknown): void {
  const c = s.ctx;
  const i = c.input;
  if (c.failure !== null && kind.kind !== 'close') return;
  switch (kind.kind) {
    case 'open':
      for (const l of [...i.layers].reverse()) s.progress('Preparing', shortId(l.diffId));
      pump(s);
      return;
    case 'head': {
      const r = result as RegistryResults['registry.blobExists'];
      if (r.exists) layerDone(s, kind.layer, kind.digest, r.size, 'Layer already exists');
      else nextFor(s, kind.layer);
      return;
    }
    case 'mount': {
      const r = result as RegistryResults['registry.mountBlob'];
      if (!r.mounted) {
        nextFor(s, kind.layer);
        return;
      }
      (c.layers[kind.layer] as PushLayer).status = 'sizing';
      c.mountedFrom = { ...c.mountedFrom, [kind.layer]: kind.from };
      s.call(
        { effect: 'registry.blobExists', session: i.push, digest: kind.digest },
        { kind: 'size', layer: kind.layer, digest: kind.digest },
      );
      return;
    }
    case 'size': {
      const r = result as RegistryResults['registry.blobExists'];
      const from = c.mountedFrom[kind.layer] ?? '';
      layerDone(s, kind.layer, kind.digest, r.size, `Mounted from ${from}`);
      return;
    }
    case 'upload': {
      const r = result as RegistryResults['registry.uploadBlob'];
      const src = (i.layers[kind.layer] as PushLayerInput).source;
      if (src.kind === 'blob' && r.digest !== src.digest) {
        s.fail(`blob upload of ${src.digest} produced ${r.digest}`, 'EINVAL');
        return;
      }
      layerDone(s, kind.layer, r.digest, r.size, 'Pushed');
      return;
    }
    case 'record':
      (c.layers[kind.layer] as PushLayer).status = 'done';
      pump(s);
      return;
    case 'configHead': {
      const r = result as RegistryResults['registry.blobExists'];
      if (r.exists) {
        c.config = { digest: i.imageId, size: Buffer_byteLength(i.configJson) };
        pump(s);
        return;
      }
      s.call(
        {
          effect: 'registry.uploadBlob',
          session: i.push,
          source: { content: i.configJson },
          progressId: 'config',
        },
        { kind: 'configUpload' },
      );
      return;
    }
    case 'configUpload': {
      const r = result as RegistryResults['registry.uploadBlob'];
      if (r.digest !== i.imageId) {
        s.fail(`config upload produced ${r.digest}, not the image ID ${i.imageId}`, 'EINVAL');
        return;
      }
      c.config = { digest: r.digest, size: r.size };
      pump(s);
      return;
    }
    case 'manifest': {
      const r = result as RegistryResults['registry.putManifest'];
      const size = c.manifestSize;
      c.manifest = { digest: r.digest, size };
      s.progress(`${i.tag}: digest: ${r.digest} size: ${size}`);
      s.progress('', undefined, { Tag: i.tag, Digest: r.digest, Size: size });
      s.call(
        { effect: 'image.setReference', ref: `${i.name}@${r.digest}`, image: i.imageId },
        { kind: 'reference' },
      );
      return;
    }
    case 'retryWait':
      if (c.failure === null) nextFor(s, kind.layer);
      return;
    case 'reference':
      return;
    case 'close':
      return;
  }
}

const maxUploadAttempts = 5;

/** A failed upload is tried again after a back-off (dockerd: 5 attempts); other failures end the push. */
function onFailed(s: Step, kind: PendingKind, error: EffectError): void {
  const c = s.ctx;
  if (kind.kind === 'close') return;
  if (kind.kind === 'upload' && c.failure === null && transientCodes.has(error.code)) {
    const l = c.layers[kind.layer] as PushLayer;
    l.attempts += 1;
    if (l.attempts < maxUploadAttempts) {
      const seconds = l.attempts;
      s.progress(
        `Retrying in ${seconds} second${seconds === 1 ? '' : 's'}`,
        shortId((c.input.layers[kind.layer] as PushLayerInput).diffId),
      );
      s.call(
        { effect: 'clock.sleep', ms: seconds * 1000 },
        { kind: 'retryWait', layer: kind.layer },
      );
      return;
    }
  }
  s.fail(error.message, error.code);
}

/** UTF-8 length without Node's Buffer (machines are pure). */
function Buffer_byteLength(text: string): number {
  let n = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

export const imagePushMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as PushContext,
      events: {} as PushEvent,
      input: {} as PushInput,
      output: {} as PushOutput,
    },
    actions: {
      emitOutputs: noOutlet,
      begin: enqueueActions(({ context, enqueue }) => {
        const s = new Step(context);
        s.progress(`The push refers to repository [${context.input.name}]`);
        s.call(
          {
            effect: 'registry.open',
            session: context.input.push,
            domain: context.input.domain,
            repository: context.input.repository,
            actions: ['push', 'pull'],
            credentials: context.input.credentials,
            mirrors: false,
          },
          { kind: 'open' },
        );
        commit(enqueue, s.ctx, s.outputs);
      }),
      advance: enqueueActions(({ context, event, enqueue }) => {
        if (event.type === 'push.cancel') {
          if (context.failure !== null || context.closing) return;
          const s = new Step(context);
          s.fail('context canceled', 'EIO');
          // Aborts the uploads in flight; the push closes once they have settled.
          s.call({ effect: 'registry.close', session: context.input.push }, { kind: 'close' });
          for (const [id, p] of Object.entries(s.ctx.pending))
            if (p.kind === 'retryWait') delete s.ctx.pending[id];
          commit(enqueue, s.ctx, s.outputs);
          return;
        }
        const kind = context.pending[event.id];
        if (kind === undefined) return;
        const s = new Step(context);
        delete s.ctx.pending[event.id];
        if (event.type === 'effect.done') onDone(s, kind, event.result);
        else onFailed(s, kind, event.error);
        if (s.ctx.failure !== null)
          for (const [id, p] of Object.entries(s.ctx.pending))
            if (p.kind === 'retryWait') delete s.ctx.pending[id];
        const finished =
          s.ctx.failure !== null || (kind.kind === 'reference' && event.type === 'effect.done');
        if (finished && !s.ctx.closing && Object.values(s.ctx.pending).length === 0) {
          s.ctx.closing = true;
          s.call({ effect: 'registry.close', session: context.input.push }, { kind: 'close' });
        }
        commit(enqueue, s.ctx, s.outputs);
      }),
    },
    guards: {
      finished: ({ context }) => context.closing && Object.keys(context.pending).length === 0,
    },
  }).createMachine({
    id: 'imagePush',
    context: ({ input }) => ({
      input,
      seq: 0,
      pending: {},
      layers: input.layers.map((l) => plan(input, l)),
      config: null,
      configStarted: false,
      manifest: null,
      failure: null,
      closing: false,
      started: false,
      mountedFrom: {},
      manifestSize: 0,
    }),
    initial: 'pushing',
    states: {
      pushing: {
        entry: 'begin',
        on: {
          ...onSettled({ actions: 'advance' }),
          'push.cancel': { actions: 'advance' },
        },
        always: { guard: 'finished', target: 'ended' },
      },
      ended: { type: 'final' },
    },
    output: ({ context }) =>
      context.failure !== null
        ? {
            status: 'failed',
            message: context.failure.message,
            code: context.failure.code,
            started: context.started,
          }
        : {
            status: 'done',
            digest: context.manifest?.digest ?? '',
            size: context.manifest?.size ?? 0,
          },
  }),
);

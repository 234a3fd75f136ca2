import { and, enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import type { EffectRequest } from '../../effects/requests.ts';
import { noOutlet, onSettled } from '../outlet.ts';
import { apply } from '../exec/outputs.ts';
import { buildOnce } from '../build-once.ts';

/**
 * `docker commit`: the container's changes become a layer of the image store, over its image's
 * layers, and a new image names them, as a pull registers what it downloads: the changes as a
 * layer tarball in the store's staging (`archive.diffTar`), unpacked there
 * (`image.extractLayer`), the image's config written beside it (`archive.writeConfig`), the
 * layer registered by chain ID (`image.registerLayer`, a rename: whole or absent), then the
 * image (`image.registerImage`, only once its layers are), then its tag; a `commit` event.
 * Whatever happened, the staging and the config go and the store's hold on the layer is
 * released. A crash leaves a staging entry or a layer no image uses, which the image GC removes
 * at the next start: never half an image (noPartialImage, noOrphanedPullFiles).
 */
export interface CommitInput {
  actorId: string;
  container: string;
  /** The container's changes: overlay2's upper dir, or vfs's copy compared with `lower`. */
  upper: string;
  /** Its image's layers, topmost first. */
  lower: string[];
  overlay: boolean;
  /** Who holds the new layer in the image store until the image names it (its staging's prefix). */
  hold: string;
  /** Where the layer is staged: `<root>/layers/staging/<hold>-layer`. */
  staging: string;
  /** Where the image's config JSON is written (a staging entry of the hold too). */
  configPath: string;
  /** The parent image's layers, by chain ID, base first. */
  parentLayers: string[];
  /** The new image's JSON but for its layers and its own history entry. */
  image: CommitImage;
  /** `name:tag` (familiar) to point at the new image, or none. */
  tag: string | null;
  /** What the container's events carry (image, name, labels). */
  attributes: Record<string, string>;
}

/** The image JSON's fields a commit takes from its container and parent (moby's NewChildImage). */
export interface CommitImage {
  architecture: string;
  os: string;
  variant?: string;
  author: string;
  comment: string;
  /** The container's ID. */
  container: string;
  /** The container's config, as the image keeps it (Cmd, Env, Labels …). */
  config: unknown;
  /** When the commit began (the daemon's clock, read by the route). */
  created: string;
  /** The parent's layers' diff IDs, base first, and its history. */
  diffIds: string[];
  history: unknown[];
}

export interface CommitContext extends CommitInput {
  seq: number;
  pending: string | null;
  diffId: string | null;
  size: number;
  tarSize: number;
  chainId: string | null;
  imageId: string | null;
  error: EffectError | null;
  /** Clean-up effects not answered yet. */
  cleaning: number;
}

export type CommitEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

/** The new image's JSON: the parent's layers and history, then this commit's. */
function imageJson(c: CommitContext, diffId: string): Record<string, unknown> {
  const i = c.image;
  return {
    architecture: i.architecture,
    ...(i.variant === undefined ? {} : { variant: i.variant }),
    ...(i.author === '' ? {} : { author: i.author }),
    ...(i.comment === '' ? {} : { comment: i.comment }),
    config: i.config,
    container: i.container,
    created: i.created,
    history: [
      ...i.history,
      {
        created: i.created,
        ...(i.author === '' ? {} : { author: i.author }),
        ...(i.comment === '' ? {} : { comment: i.comment }),
      },
    ],
    os: i.os,
    rootfs: { type: 'layers', diff_ids: [...i.diffIds, diffId] },
  };
}

export const commitMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as CommitContext,
      events: {} as CommitEvent,
      input: {} as CommitInput,
      output: {} as { id: string | null; error: EffectError | null },
    },
    actions: {
      emitOutputs: noOutlet,
      makeStaging: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = o.ask(
            { effect: 'fs.mkdirAll', path: c.staging, mode: 0o700 },
            'commit',
          );
        }),
      ),
      writeLayer: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = o.ask(
            {
              effect: 'archive.diffTar',
              container: c.container,
              upper: c.upper,
              lower: c.lower,
              overlay: c.overlay,
              dest: `${c.staging}/layer.tar`,
            },
            'commit',
          );
        }),
      ),
      unpackLayer: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          // The tarball stays in the staging: registered with the layer, it is what save and push send.
          o.patch.pending = o.ask(
            { effect: 'image.extractLayer', blob: `${c.staging}/layer.tar`, staging: c.staging },
            'commit',
          );
        }),
      ),
      writeConfig: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          if (e.type !== 'effect.done') return;
          const r = e.result as { diffId: string; size: number; tarSize: number };
          o.patch.diffId = r.diffId;
          o.patch.size = r.size;
          o.patch.tarSize = r.tarSize;
          o.patch.pending = o.ask(
            { effect: 'archive.writeConfig', path: c.configPath, config: imageJson(c, r.diffId) },
            'commit',
          );
        }),
      ),
      registerLayer: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          if (e.type === 'effect.done') o.patch.imageId = (e.result as { id: string }).id;
          o.patch.pending = o.ask(
            {
              effect: 'image.registerLayer',
              parent: c.parentLayers.at(-1) ?? null,
              diffId: c.diffId ?? '',
              size: c.size,
              tarSize: c.tarSize,
              staging: c.staging,
              blob: null,
              hold: c.hold,
            },
            'commit',
          );
        }),
      ),
      registerImage: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, e, o) => {
          const chainId = e.type === 'effect.done' ? (e.result as { chainId: string }).chainId : '';
          o.patch.chainId = chainId;
          o.patch.pending = o.ask(
            {
              effect: 'image.registerImage',
              image: c.imageId ?? '',
              configPath: c.configPath,
              layers: [...c.parentLayers, chainId],
            },
            'commit',
          );
        }),
      ),
      setReference: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = o.ask(
            { effect: 'image.setReference', ref: c.tag ?? '', image: c.imageId ?? '' },
            'commit',
          );
        }),
      ),
      announce: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.pending = null;
          o.event(c.container, 'commit', { ...c.attributes, comment: c.image.comment });
        }),
      ),
      recordError: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (_c, e, o) => {
          o.patch.pending = null;
          if (e.type === 'effect.failed') o.patch.error = e.error;
        }),
      ),
      cleanUp: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          const effects: EffectRequest[] = [
            { effect: 'fs.removeAll', path: c.configPath },
            // Gone already when the layer was registered (renamed into the store).
            { effect: 'fs.removeAll', path: c.staging },
            { effect: 'image.release', hold: c.hold },
          ];
          for (const req of effects) o.ask(req, 'commit');
          o.patch.cleaning = effects.length;
        }),
      ),
      noteCleaned: enqueueActions(({ context, event, enqueue }) =>
        apply(enqueue, context, event, (c, _e, o) => {
          o.patch.cleaning = c.cleaning - 1;
        }),
      ),
    },
    guards: {
      isPending: ({ context, event }) => 'id' in event && event.id === context.pending,
      tagged: ({ context }) => context.tag !== null,
      cleaned: ({ context }) => context.cleaning === 0,
    },
  }).createMachine({
    id: 'commit',
    context: ({ input }) => ({
      ...input,
      seq: 0,
      pending: null,
      diffId: null,
      size: 0,
      tarSize: 0,
      chainId: null,
      imageId: null,
      error: null,
      cleaning: 0,
    }),
    initial: 'makingStaging',
    states: {
      makingStaging: {
        entry: 'makeStaging',
        on: {
          'effect.done': { guard: 'isPending', target: 'writingLayer' },
          'effect.failed': { guard: 'isPending', target: 'cleaningUp', actions: 'recordError' },
        },
      },
      writingLayer: {
        entry: 'writeLayer',
        on: {
          'effect.done': { guard: 'isPending', target: 'unpackingLayer' },
          'effect.failed': { guard: 'isPending', target: 'cleaningUp', actions: 'recordError' },
        },
      },
      unpackingLayer: {
        entry: 'unpackLayer',
        on: {
          'effect.done': { guard: 'isPending', target: 'writingConfig', actions: 'writeConfig' },
          'effect.failed': { guard: 'isPending', target: 'cleaningUp', actions: 'recordError' },
        },
      },
      writingConfig: {
        on: {
          'effect.done': {
            guard: 'isPending',
            target: 'registeringLayer',
            actions: 'registerLayer',
          },
          'effect.failed': { guard: 'isPending', target: 'cleaningUp', actions: 'recordError' },
        },
      },
      registeringLayer: {
        on: {
          'effect.done': {
            guard: 'isPending',
            target: 'registeringImage',
            actions: 'registerImage',
          },
          'effect.failed': { guard: 'isPending', target: 'cleaningUp', actions: 'recordError' },
        },
      },
      registeringImage: {
        on: {
          'effect.done': [
            { guard: and(['isPending', 'tagged']), target: 'settingReference' },
            { guard: 'isPending', target: 'cleaningUp', actions: 'announce' },
          ],
          'effect.failed': { guard: 'isPending', target: 'cleaningUp', actions: 'recordError' },
        },
      },
      settingReference: {
        entry: 'setReference',
        on: {
          'effect.done': { guard: 'isPending', target: 'cleaningUp', actions: 'announce' },
          'effect.failed': { guard: 'isPending', target: 'cleaningUp', actions: 'recordError' },
        },
      },
      /** Best effort: the staging and the config go, the hold is released, whatever failed. */
      cleaningUp: {
        entry: 'cleanUp',
        on: onSettled({ actions: 'noteCleaned' }),
        always: { guard: 'cleaned', target: 'done' },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => ({
      id: context.error === null ? context.imageId : null,
      error: context.error,
    }),
  }),
);

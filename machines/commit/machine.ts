import { setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import { noOutlet } from '../outlet.ts';
import { act } from '../exec/outputs.ts';

/**
 * `docker commit`: the container's changes become a layer tarball under the daemon's tmp dir
 * (`archive.diffTar`), then an image of its image plus that layer (`archive.commitImage`,
 * which writes the image's record last), then a `commit` event. A crash between the two
 * leaves only the tarball, in a directory every start-up empties: never half an image.
 */
export interface CommitContext {
  actorId: string;
  seq: number;
  pending: string | null;
  container: string;
  upper: string;
  lower: string;
  overlay: boolean;
  layerTar: string;
  parent: string;
  config: unknown;
  tag: string | null;
  comment: string;
  author: string;
  attributes: Record<string, string>;
  diffId: string | null;
  imageId: string | null;
  error: EffectError | null;
}

export type CommitInput = Omit<CommitContext, 'seq' | 'pending' | 'diffId' | 'imageId' | 'error'>;

export type CommitEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

const a = act<CommitContext, CommitEvent>;

export const commitMachine = setup({
  types: {
    context: {} as CommitContext,
    events: {} as CommitEvent,
    input: {} as CommitInput,
    output: {} as { id: string | null; error: EffectError | null },
  },
  actions: {
    emitOutputs: noOutlet,
    writeLayer: a((c, _e, o) => {
      o.patch.pending = o.ask(
        {
          effect: 'archive.diffTar',
          container: c.container,
          upper: c.upper,
          lower: c.lower,
          overlay: c.overlay,
          dest: c.layerTar,
        },
        'commit',
      );
    }),
    addImage: a((c, e, o) => {
      const diffId = e.type === 'effect.done' ? (e.result as { diffId: string }).diffId : '';
      o.patch.diffId = diffId;
      o.patch.pending = o.ask(
        {
          effect: 'archive.commitImage',
          parent: c.parent,
          layerTar: c.layerTar,
          diffId,
          config: c.config,
          tag: c.tag,
          comment: c.comment,
          author: c.author,
          container: c.container,
        },
        'commit',
      );
    }),
    announce: a((c, e, o) => {
      if (e.type === 'effect.done') o.patch.imageId = (e.result as { id: string }).id;
      o.event(c.container, 'commit', { ...c.attributes, comment: c.comment });
    }),
    recordError: a((_c, e, o) => {
      if (e.type === 'effect.failed') o.patch.error = e.error;
    }),
  },
  guards: {
    isPending: ({ context, event }) => 'id' in event && event.id === context.pending,
  },
}).createMachine({
  id: 'commit',
  context: ({ input }) => ({
    ...input,
    seq: 0,
    pending: null,
    diffId: null,
    imageId: null,
    error: null,
  }),
  initial: 'writingLayer',
  states: {
    writingLayer: {
      entry: 'writeLayer',
      on: {
        'effect.done': { guard: 'isPending', target: 'addingImage', actions: 'addImage' },
        'effect.failed': { guard: 'isPending', target: 'done', actions: 'recordError' },
      },
    },
    addingImage: {
      on: {
        'effect.done': { guard: 'isPending', target: 'done', actions: 'announce' },
        'effect.failed': { guard: 'isPending', target: 'done', actions: 'recordError' },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ id: context.imageId, error: context.error }),
});

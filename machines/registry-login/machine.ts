import { enqueueActions, setup } from 'xstate';
import type { EffectError } from '../../effects/errors.ts';
import type { RegistryResults } from '../../effects/registry/requests.ts';
import type { Output } from '../daemon-startup/types.ts';
import { commit, noOutlet, onSettled } from '../outlet.ts';
import { buildOnce } from '../build-once.ts';

/** `docker login` (`POST /auth`): one check of the credentials against the registry. */
export interface LoginInput {
  actorId: string;
  serverAddress: string;
  /** The vault key of the credentials (never the secret). */
  credentials: string;
}

export type LoginOutput =
  | { status: 'ok'; message: string; identityToken: string }
  | { status: 'failed'; message: string; code: string };

interface LoginContext {
  input: LoginInput;
  pending: string | null;
  output: LoginOutput | null;
}

type LoginEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError };

export const registryLoginMachine = buildOnce(() =>
  setup({
    types: {
      context: {} as LoginContext,
      events: {} as LoginEvent,
      input: {} as LoginInput,
      output: {} as LoginOutput,
    },
    actions: {
      emitOutputs: noOutlet,
      check: enqueueActions(({ context, enqueue }) => {
        const id = `${context.input.actorId}/1`;
        const out: Output[] = [
          {
            call: {
              effect: 'registry.login',
              serverAddress: context.input.serverAddress,
              credentials: context.input.credentials,
              id,
              step: 'login',
            },
          },
        ];
        commit(enqueue, { ...context, pending: id }, out);
      }),
      answer: enqueueActions(({ context, event, enqueue }) => {
        const output: LoginOutput =
          event.type === 'effect.done'
            ? {
                status: 'ok',
                message: (event.result as RegistryResults['registry.login']).status,
                identityToken: (event.result as RegistryResults['registry.login']).identityToken,
              }
            : { status: 'failed', message: event.error.message, code: event.error.code };
        commit(enqueue, { ...context, pending: null, output }, []);
      }),
    },
    guards: { isPending: ({ context, event }) => event.id === context.pending },
  }).createMachine({
    id: 'registryLogin',
    context: ({ input }) => ({ input, pending: null, output: null }),
    initial: 'checking',
    states: {
      checking: {
        entry: 'check',
        on: onSettled({ guard: 'isPending', target: 'answered', actions: 'answer' }),
      },
      answered: { type: 'final' },
    },
    output: ({ context }) =>
      context.output ?? { status: 'failed', message: 'no answer', code: 'EIO' },
  }),
);

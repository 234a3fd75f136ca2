import type { Output } from './daemon-startup/types.ts';

/**
 * The only way out of a machine: `emitOutputs`, a custom action whose params are its
 * outputs — effect requests and marks, plain JSON, in order. Its default implementation
 * throws; effects/runner supplies the real one, so a machine run any other way fails loudly.
 * One action per transition (not one per output) keeps the simulator fast.
 */
export type OutputParams = { outputs: Output[] };

export function noOutlet(_: unknown, _params: OutputParams): never {
  throw new Error('no effect runner: run this machine through effects/runner');
}

/** What machines enqueue; typed loosely because setup() cannot name its own actions inside enqueueActions. */
export type OutletEnqueue<C> = {
  (action: { type: 'emitOutputs'; params: OutputParams }): void;
  assign: (c: Partial<C>) => void;
};

/** Assigns the next context and emits the outputs (if any) with one action. */
export function commit<C>(enqueue: unknown, context: C, outputs: Output[]): void {
  const q = enqueue as OutletEnqueue<C>;
  q.assign(context as Partial<C>);
  if (outputs.length > 0) q({ type: 'emitOutputs', params: { outputs } });
}

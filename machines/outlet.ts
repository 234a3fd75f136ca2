import type { EffectCall } from '../effects/requests.ts';

/**
 * The only way out of a machine: `emitOutputs`, a custom action whose params are its outputs,
 * plain JSON, in order. Its default implementation throws; effects/runner supplies the real
 * one, so a machine run any other way fails loudly. One action per transition (not one per
 * output) keeps the simulator fast.
 *
 * An output is one of:
 * - an effect request (`call`), answered later by `effect.done` / `effect.failed` (a state
 *   that goes on the same way whatever the outcome says so once, with `onSettled`);
 * - a mark, the machine's own account of what it did (the ordering constraints read them);
 * - a message to another actor (`send`), delivered after this step, never inside it.
 */

/** A mark: a name and JSON fields. Each machine declares its own closed union of them. */
export type AnyMark = { mark: string } & Record<string, unknown>;

/** An event one actor sends another (the shutdown telling a container, a container answering). */
export type Message = { type: string } & Record<string, unknown>;

export type Output<M extends AnyMark = AnyMark> =
  { mark: M } | { call: EffectCall } | { send: { to: string; event: Message } };

export type OutputParams = { outputs: readonly Output[] };

export function noOutlet(_: unknown, _params: OutputParams): never {
  throw new Error('no effect runner: run this machine through effects/runner');
}

/** What an action enqueues: the next context, and the transition's outputs. */
export interface Outlet<C> {
  (action: { type: 'emitOutputs'; params: OutputParams }): void;
  assign(context: Partial<C>): void;
}

/** Assigns the next context and emits the outputs (if any) with one action. */
export function commit<C>(
  enqueue: Outlet<C>,
  context: Partial<C>,
  outputs: readonly Output[],
): void {
  enqueue.assign(context);
  if (outputs.length > 0) enqueue({ type: 'emitOutputs', params: { outputs } });
}

/**
 * A state's transitions for an effect it waits for that goes on the same way whatever the
 * outcome: one transition (or list) for both `effect.done` and `effect.failed`. The result is
 * still delivered, and recorded, as the event it is; actions that care read `event.type`.
 * (`NoInfer`: a guard such as `and([...])` is then typed for either event, not the first.)
 */
export function onSettled<const T>(transition: T): {
  'effect.done': NoInfer<T>;
  'effect.failed': NoInfer<T>;
} {
  return { 'effect.done': transition, 'effect.failed': transition };
}

import type { EffectCall, EffectRequest } from '../../effects/requests.ts';
import { commit, type AnyMark, type Outlet, type Output } from '../outlet.ts';

/** What every actor of the exec and health machines keeps to number its effect calls. */
export interface Numbered {
  actorId: string;
  seq: number;
}

/** One transition's outputs (effect calls with ids, marks) and context patch. */
export class Outputs<C extends Numbered> {
  readonly outputs: Output[] = [];
  patch: Partial<C> = {};
  private seq: number;
  private readonly actorId: string;

  constructor(c: C) {
    this.seq = c.seq;
    this.actorId = c.actorId;
  }

  /** Asks for an effect; returns the id its result event will carry. */
  ask(req: EffectRequest, step: string): string {
    this.seq += 1;
    const id = `${this.actorId}/${this.seq}`;
    this.outputs.push({ call: { ...req, id, step } as EffectCall });
    (this.patch as Numbered).seq = this.seq;
    return id;
  }

  mark(mark: AnyMark): void {
    this.outputs.push({ mark });
  }

  /** A Docker event of the container (the host publishes it on /events). */
  event(container: string, action: string, attributes: Record<string, string>): void {
    this.mark({ mark: 'event', action, id: container, attributes });
  }

  reply(req: string | null, result: string, message?: string): void {
    if (req === null) return;
    this.mark({ mark: 'reply', req, result, ...(message === undefined ? {} : { message }) });
  }
}

/**
 * The body of an action (`enqueueActions(({ context, event, enqueue }) => apply(enqueue,
 * context, event, fn))`): a pure function of context and event to outputs and a context patch,
 * emitted at once.
 */
export function apply<C extends Numbered, E>(
  enqueue: Outlet<C>,
  context: C,
  event: E,
  fn: (c: C, e: E, o: Outputs<C>) => void,
): void {
  const o = new Outputs(context);
  fn(context, event, o);
  commit(enqueue, { ...context, ...o.patch }, o.outputs);
}

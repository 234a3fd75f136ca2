import { current, produce, type Draft } from 'immer';
import type { EffectCall, EffectRequest } from '../../effects/requests.ts';
import type { Message, Output } from '../outlet.ts';
import type {
  ContainerContext,
  ContainerEvent,
  ContainerMark,
  ContainerRecord,
  ContainerSettled,
  ContainerStatus,
  ReplyResult,
} from './types.ts';

/**
 * One transition of a container: its context changed through an immer draft (what comes out
 * is frozen, so a record kept in a trace or in the store can never be changed afterwards by
 * mistake) and its outputs, in order: effect requests with their ids, Docker's events, replies
 * to API requests, messages to other actors.
 */
export class Transition {
  readonly outputs: Output<ContainerMark>[] = [];
  private readonly c: Draft<ContainerContext>;
  /** The store write this event reports failed (a full or broken disk), if it is one. */
  private readonly writeError: string | null;

  constructor(c: Draft<ContainerContext>, e: ContainerEvent) {
    this.c = c;
    this.writeError = e.type === 'effect.failed' && e.id === c.writing ? e.error.message : null;
    if (this.writeError !== null) {
      c.writing = null;
      this.outputs.push({
        mark: {
          mark: 'warning',
          step: 'persist',
          message: `container ${c.record.id}: saving its state failed: ${this.writeError}`,
        },
      });
    }
  }

  /** Asks for an effect; returns its id (`<actor>/<seq>`), which its result will carry. */
  ask<R extends EffectRequest>(req: R, step: string): string {
    this.c.seq += 1;
    const id = `${this.c.actorId}/${this.c.seq}`;
    const call: EffectCall = { ...req, id, step };
    this.outputs.push({ call });
    return id;
  }

  /** Asks for an effect this state waits for. */
  await(req: EffectRequest, step: string): void {
    this.c.pending = this.ask(req, step);
  }

  /** Docker's event for the container (`docker events`), with its labels, image and name. */
  event(action: string, extra: Record<string, string> = {}): void {
    const r = this.c.record;
    this.outputs.push({
      mark: {
        mark: 'event',
        action,
        id: r.id,
        attributes: {
          ...r.config.labels,
          image: r.image,
          name: r.name.replace(/^\//, ''),
          ...extra,
        },
      },
    });
  }

  /** A warning in the trace (and the daemon's log). */
  warn(step: string, message: string): void {
    this.outputs.push({ mark: { mark: 'warning', step, message } });
  }

  /** Answers an API request (nothing when there is none). */
  reply(req: string | null, result: ReplyResult, message?: string): void {
    if (req === null) return;
    // What was done is done (containerd acted), but it is not durable: the client hears so.
    if (this.writeError !== null && result === 'ok') {
      result = 'failed';
      message = `saving the container's state failed: ${this.writeError}`;
    }
    this.outputs.push({
      mark: { mark: 'reply', req, result, ...(message === undefined ? {} : { message }) },
    });
  }

  /** Writes the record as it now is; the state waits for the write. */
  persist(): void {
    const r = this.c.record;
    this.c.pending = this.ask(
      { effect: 'store.put', key: `container/${r.id}`, value: current(r) },
      'persist',
    );
    this.c.writing = this.c.pending;
  }

  /**
   * Writes the record without waiting for the write (a flag that changes no state, such as
   * a manual stop by `docker kill`): dockerd checkpoints it there too.
   */
  record(): void {
    const r = this.c.record;
    this.c.writing = this.ask(
      { effect: 'store.put', key: `container/${r.id}`, value: current(r) },
      'checkpoint',
    );
  }

  /** Sends another actor a message (delivered after this step). */
  send(to: string, event: Message): void {
    this.outputs.push({ send: { to, event } });
  }

  /** Tells every actor waiting for this container to settle that it has. */
  settled(status: ContainerStatus | 'removed'): void {
    const r = this.c.record;
    for (const to of this.c.settleTo) {
      const event: ContainerSettled = {
        type: 'container.settled',
        container: r.id,
        status,
        exitCode: r.state.exitCode,
      };
      this.send(to, event);
    }
    this.c.settleTo = [];
  }
}

/**
 * The next context and the outputs of one transition: `fn` changes the draft and says what
 * to ask for; values it puts into outputs come from `was`, the context before (drafts are
 * proxies that die with the transition). The context that comes out is frozen.
 */
export function transition(
  context: ContainerContext,
  event: ContainerEvent,
  fn: (c: Draft<ContainerContext>, t: Transition, was: ContainerContext) => void,
): { context: ContainerContext; outputs: Output<ContainerMark>[] } {
  let outputs: Output<ContainerMark>[] = [];
  const next = produce(context, (draft) => {
    const t = new Transition(draft, event);
    fn(draft, t, context);
    outputs = t.outputs;
  });
  return { context: next, outputs };
}

/** The record with another status (and state fields). */
export function setStatus(
  r: Draft<ContainerRecord>,
  status: ContainerStatus,
  patch: Partial<ContainerRecord['state']> = {},
): void {
  Object.assign(r.state, { status, ...patch });
}

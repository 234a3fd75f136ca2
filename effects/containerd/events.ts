import { status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { ContainerdError, fromGrpcError } from './error.ts';
import {
  camelCase,
  decodeAny,
  messageType,
  timestampToDate,
  toDomain,
  type WireObject,
} from './wire.ts';

/**
 * containerd's event stream (Events.Subscribe) as an async iterable of decoded events,
 * with a way to know the subscription is live: containerd never replays events, so a
 * caller that acts right after subscribing needs {@link Subscription.ready}.
 */

export interface TaskIO {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface EventMount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

/** `/tasks/create` */
export interface TaskCreateEvent {
  containerId: string;
  bundle: string;
  rootfs: EventMount[];
  io: TaskIO | null;
  checkpoint: string;
  pid: number;
}
/** `/tasks/start` */
export interface TaskStartEvent {
  containerId: string;
  pid: number;
}
/** `/tasks/exit`: `id` is the container id for the init process, the exec id for an exec. */
export interface TaskExitEvent {
  containerId: string;
  id: string;
  pid: number;
  exitStatus: number;
  exitedAt: Date | null;
}
/** `/tasks/delete`: `id` is '' for the init process. */
export interface TaskDeleteEvent {
  containerId: string;
  pid: number;
  exitStatus: number;
  exitedAt: Date | null;
  id: string;
}
/** `/tasks/oom`, `/tasks/paused`, `/tasks/resumed` */
export interface TaskOnlyEvent {
  containerId: string;
}
/** `/tasks/exec-added` */
export interface TaskExecAddedEvent {
  containerId: string;
  execId: string;
}
/** `/tasks/exec-started` */
export interface TaskExecStartedEvent {
  containerId: string;
  execId: string;
  pid: number;
}
/** `/containers/create`, `/containers/delete` (`containerId` repeats `id`). */
export interface ContainerEvent {
  containerId: string;
  id: string;
}

/** The payload of each topic the client decodes. */
export interface EventPayloads {
  '/tasks/create': TaskCreateEvent;
  '/tasks/start': TaskStartEvent;
  '/tasks/exit': TaskExitEvent;
  '/tasks/delete': TaskDeleteEvent;
  '/tasks/oom': TaskOnlyEvent;
  '/tasks/paused': TaskOnlyEvent;
  '/tasks/resumed': TaskOnlyEvent;
  '/tasks/exec-added': TaskExecAddedEvent;
  '/tasks/exec-started': TaskExecStartedEvent;
  '/containers/create': ContainerEvent;
  '/containers/delete': ContainerEvent;
}

export type KnownTopic = keyof EventPayloads;

/**
 * One event. `event` holds the payload's fields in camelCase (Timestamps as Date | null);
 * narrow it with {@link isEvent}. An event of a type the protos do not know has only
 * `containerId: ''` and `typeUrl` says what it was.
 */
export interface ContainerdEvent {
  topic: string;
  namespace: string;
  timestamp: Date | null;
  /** The payload's Any type_url, e.g. `containerd.events.TaskExit`. */
  typeUrl: string;
  event: { containerId: string } & Record<string, unknown>;
}

/** Narrows an event to a topic's payload type. */
export function isEvent<T extends KnownTopic>(
  e: ContainerdEvent,
  topic: T,
): e is ContainerdEvent & { topic: T; event: EventPayloads[T] } {
  return e.topic === topic;
}

/**
 * Decodes an Envelope. The payload's wire (snake_case) fields are also kept on it as
 * non-enumerable properties, so `event['container_id']` and `event['exited_at']` (a raw
 * `{ seconds, nanos }`) still read as before; they are deprecated — use the camelCase ones.
 */
export function decodeEnvelope(env: WireObject): ContainerdEvent {
  const { typeUrl, message } = decodeAny(env['event']);
  let event: { containerId: string } & Record<string, unknown> = { containerId: '' };
  if (message !== null) {
    const domain = toDomain(messageType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1)), message);
    const containerId =
      typeof domain['containerId'] === 'string'
        ? domain['containerId']
        : typeof domain['id'] === 'string'
          ? domain['id']
          : '';
    event = { ...domain, containerId };
    for (const [k, v] of Object.entries(message)) {
      if (camelCase(k) !== k) Object.defineProperty(event, k, { value: v, enumerable: false });
    }
  }
  return {
    topic: typeof env['topic'] === 'string' ? env['topic'] : '',
    namespace: typeof env['namespace'] === 'string' ? env['namespace'] : '',
    timestamp: timestampToDate(env['timestamp']),
    typeUrl,
    event,
  };
}

/** A live subscription: iterate it (once) for events, `cancel()` to end it. */
export interface Subscription extends AsyncIterable<ContainerdEvent> {
  /** The same iterable (kept for callers that read `.events`). */
  readonly events: AsyncIterable<ContainerdEvent>;
  /**
   * Resolves once containerd is delivering to this subscription: the client publishes a
   * marker event on a private topic until it comes back on the stream (swallowed, never
   * yielded). Rejects when the stream fails or after `timeoutMs` (default 5000).
   */
  ready(timeoutMs?: number): Promise<void>;
  cancel(): void;
}

/** The topic prefix of subscription markers (see {@link Subscription.ready}): never yielded. */
export const markerTopicPrefix = '/statedock/subscribed/';

/** Above this many undelivered events the stream is paused (HTTP/2 flow control then holds containerd back). */
const highWater = 1024;

export class EventSubscription implements Subscription {
  private readonly call: ClientReadableStream<WireObject>;
  private readonly marker: string;
  private readonly publishMarker: () => Promise<void>;
  private readonly queue: ContainerdEvent[] = [];
  private waiting: (() => void) | null = null;
  private ended = false;
  private failure: ContainerdError | null = null;
  private seenMarker = false;
  private readyWaiters: Array<(err: Error | null) => void> = [];
  private iterating = false;

  /** `marker`: the topic of the readiness marker; `publishMarker` publishes one marker event. */
  constructor(
    call: ClientReadableStream<WireObject>,
    marker: string,
    publishMarker: () => Promise<void>,
  ) {
    this.call = call;
    this.marker = marker;
    this.publishMarker = publishMarker;
    call.on('data', (env: WireObject) => {
      const topic = env['topic'];
      if (topic === this.marker) {
        this.seenMarker = true;
        this.settleReady(null);
        return;
      }
      // Another subscription's marker (an unfiltered subscription sees them all).
      if (typeof topic === 'string' && topic.startsWith(markerTopicPrefix)) return;
      this.queue.push(decodeEnvelope(env));
      if (this.queue.length >= highWater) call.pause();
      this.wake();
    });
    call.on('error', (err: ServiceError) => {
      // Our own cancel ends the stream quietly; anything else (containerd restarted:
      // UNAVAILABLE) ends it with the error, after the events already received.
      if (err.code !== status.CANCELLED) this.failure = fromGrpcError(err, 'Events/Subscribe');
      this.finish();
    });
    call.on('end', () => this.finish());
  }

  get events(): AsyncIterable<ContainerdEvent> {
    return this;
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.settleReady(
      this.failure ??
        new ContainerdError('Unavailable', 'event subscription ended before it was confirmed', {
          method: 'Events/Subscribe',
        }),
    );
    this.wake();
  }

  private settleReady(err: Error | null): void {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w(this.seenMarker ? null : err);
  }

  async ready(timeoutMs = 5000): Promise<void> {
    if (this.seenMarker) return;
    if (this.ended)
      throw (
        this.failure ??
        new ContainerdError('Unavailable', 'event subscription has ended', {
          method: 'Events/Subscribe',
        })
      );
    let settled = false;
    const done = new Promise<void>((resolve, reject) => {
      this.readyWaiters.push((err) => {
        settled = true;
        if (err) reject(err);
        else resolve();
      });
    });
    // The Subscribe request may reach containerd after a first marker: publish until one is seen.
    const deadline = Date.now() + timeoutMs;
    // Markers published before containerd registered the Subscribe are lost: publish again
    // soon (1 ms, doubling to 25 ms), so a fresh subscription is confirmed in a few ms.
    let pauseMs = 1;
    const loop = async (): Promise<void> => {
      while (!settled) {
        if (Date.now() > deadline) {
          this.readyWaiters = [];
          settled = true;
          throw new ContainerdError(
            'DeadlineExceeded',
            `event subscription not confirmed within ${timeoutMs} ms`,
            { method: 'Events/Subscribe' },
          );
        }
        await this.publishMarker();
        await Promise.race([
          done.catch(() => undefined),
          new Promise((r) => setTimeout(r, pauseMs)),
        ]);
        pauseMs = Math.min(pauseMs * 2, 25);
      }
    };
    await Promise.race([done, loop()]);
  }

  cancel(): void {
    this.call.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ContainerdEvent> {
    if (this.iterating)
      throw new Error(
        'iterate containerd events: this subscription is already being iterated; subscribe again for a second reader',
      );
    this.iterating = true;
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next !== undefined) {
          if (this.queue.length < highWater / 2 && this.call.isPaused()) this.call.resume();
          yield next;
          continue;
        }
        if (this.ended) break;
        await new Promise<void>((resolve) => (this.waiting = resolve));
      }
      if (this.failure) throw this.failure;
    } finally {
      // A consumer that stops early (break, return) ends the stream too.
      if (!this.ended) this.call.cancel();
    }
  }
}

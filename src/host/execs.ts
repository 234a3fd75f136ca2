import type { Session } from '../../effects/runner.ts';
import type { RecordBody } from '../../effects/trace.ts';
import { execOwner } from '../../machines/exec/ids.ts';
import type { ExecConfig, ExecContext, ExecEvent } from '../../machines/exec/types.ts';

/** Actors whose event marks are Docker events of their container (the container's own are the container host's). */
const publishedActors = ['exec:', 'health:', 'resize:', 'extract:', 'commit:', 'update:'];

/** An actor's answer to a request, as the API maps it to a status. */
export interface ExecReply {
  result: string;
  message?: string;
}

/** What the API asks of an exec's actor (the host adds the request id). */
export type ExecApiRequest =
  | { type: 'api.execStart'; detach: boolean }
  | { type: 'api.execResize'; width: number; height: number };

/** Where Docker events of exec and health actors go (the daemon's /events; the simulator drops them). */
export type PublishEvent = (
  container: string,
  action: string,
  attributes: Record<string, string>,
) => void;

export interface ExecHostOptions {
  session: Session;
  /** Where Docker events of exec and health actors go (the daemon's /events; the simulator drops them). */
  publish: PublishEvent;
  /** Runs a function after the current step: an actor is never sent events from inside another's step. */
  later: (fn: () => void) => void;
  /** The registered machine of restore's exec sweep (a test runs one that reaps nothing, to prove the sweep matters). */
  sweepMachine?: string;
}

/**
 * The daemon's exec actors, one per `docker exec` (the real daemon and the simulated one use
 * this same code): spawned at create, sent the API's requests and containerd's exits, told
 * when their container's task ended, ticked by the exec GC, and forgotten once the GC's second
 * pass ends them. Their marks become Docker events and API replies. After a restore it runs
 * the sweep of exec processes a dead daemon left.
 */
export class ExecHost {
  private readonly session: Session;
  private readonly publish: PublishEvent;
  private readonly replies = new Map<string, (r: ExecReply) => void>();
  private readonly exitWaiters = new Map<string, (() => void)[]>();
  /** Execs by container (dockerd's container.ExecCommands: created or running, not finished). */
  private readonly byContainer = new Map<string, Set<string>>();
  private reqSeq = 0;
  private sweeps = 0;
  private readonly later: (fn: () => void) => void;
  private readonly sweepMachine: string;

  constructor(o: ExecHostOptions) {
    this.session = o.session;
    this.publish = o.publish;
    this.later = o.later;
    this.sweepMachine = o.sweepMachine ?? 'execSweep';
    this.session.onRecord((actor, r) => this.onRecord(actor, r));
  }

  private onRecord(actor: string, r: RecordBody): void {
    if (actor.startsWith('container:')) {
      // The container's task ended (die) or the container went (destroy): its execs hear it.
      if (r.kind === 'mark' && r.mark.mark === 'event') {
        const action = String(r.mark['action']);
        if (action === 'die' || action === 'destroy') {
          const id = actor.slice(10);
          // Only a container with execs has anyone to tell (nothing else is scheduled).
          if (this.byContainer.has(id)) this.later(() => this.containerExited(id));
        }
      }
      return;
    }
    if (!publishedActors.some((p) => actor.startsWith(p))) return;
    if (r.kind === 'mark' && r.mark.mark === 'reply') {
      const req = String(r.mark['req']);
      const answer = this.replies.get(req);
      if (!answer) return;
      this.replies.delete(req);
      const reply: ExecReply = {
        result: String(r.mark['result']),
        ...(typeof r.mark['message'] === 'string' ? { message: r.mark['message'] } : {}),
      };
      this.later(() => answer(reply));
    } else if (r.kind === 'mark' && r.mark.mark === 'event') {
      this.publish(
        String(r.mark['id']),
        String(r.mark['action']),
        r.mark['attributes'] as Record<string, string>,
      );
    } else if (r.kind === 'transition' && actor.startsWith('exec:')) {
      if (r.to === 'releasing' || r.to === 'exited' || r.to === 'removed')
        this.finished(actor.slice(5));
    } else if (r.kind === 'actor.stop' && actor.startsWith('exec:')) {
      this.finished(actor.slice(5));
      // Forgotten after the runner's own bookkeeping of this step.
      this.later(() => this.session.forget(actor));
    }
  }

  private finished(id: string): void {
    for (const set of this.byContainer.values()) set.delete(id);
    const ws = this.exitWaiters.get(id);
    this.exitWaiters.delete(id);
    for (const w of ws ?? []) w();
  }

  private containerExited(container: string): void {
    // One already exiting heard its own exit: the container's end tells it nothing more.
    for (const id of [...(this.byContainer.get(container) ?? [])])
      if (this.stateOf(id) !== 'exiting') this.send(id, { type: 'container.exited' });
    this.byContainer.delete(container);
  }

  /** A new exec (`POST /containers/{id}/exec`). */
  create(config: ExecConfig, attributes: Record<string, string>): void {
    let set = this.byContainer.get(config.container);
    if (!set) this.byContainer.set(config.container, (set = new Set()));
    set.add(config.id);
    this.session.spawn('exec', `exec:${config.id}`, {
      actorId: `exec:${config.id}`,
      config,
      attributes,
    });
  }

  /** An exec's context, or undefined (never made, or forgotten by the GC). */
  get(id: string): ExecContext | undefined {
    const e = this.session.actors.get(`exec:${id}`);
    if (!e) return undefined;
    const snap = e.actor.getSnapshot() as { status: string; context: ExecContext };
    return snap.status === 'active' ? snap.context : undefined;
  }

  /** The state an exec's actor is in ('created', 'running', 'exited', …). */
  stateOf(id: string): string {
    const v = (this.session.actors.get(`exec:${id}`)?.actor.getSnapshot() as { value?: unknown })
      ?.value;
    return typeof v === 'string' ? v : JSON.stringify(v ?? null);
  }

  /** The container's execs that have not finished (inspect's ExecIDs). */
  idsOf(container: string): string[] {
    return [...(this.byContainer.get(container) ?? [])];
  }

  /** Sends a request to an exec's actor; `onReply` hears its reply (after the step that made it). */
  ask(id: string, event: ExecApiRequest, onReply: (r: ExecReply) => void): void {
    this.reqSeq += 1;
    const req = `exec-req-${this.reqSeq}`;
    this.replies.set(req, onReply);
    this.send(id, { ...event, req });
  }

  /** Sends a request to an exec's actor; resolves with its reply. */
  request(id: string, event: ExecApiRequest): Promise<ExecReply> {
    return new Promise((resolve) => this.ask(id, event, resolve));
  }

  private send(id: string, event: ExecEvent): void {
    if (this.session.actors.has(`exec:${id}`)) this.session.send(`exec:${id}`, event);
  }

  /** Resolves once the exec's exit is recorded (or it never ran and is gone); its process may still be being deleted. */
  whenExited(id: string): Promise<void> {
    const state = this.stateOf(id);
    if (
      this.get(id) === undefined ||
      state === 'releasing' ||
      state === 'exited' ||
      state === 'removed'
    )
      return Promise.resolve();
    return new Promise((resolve) =>
      this.exitWaiters.set(id, [...(this.exitWaiters.get(id) ?? []), resolve]),
    );
  }

  /** containerd's /tasks/exit of a process other than a task's init: to its owner. */
  routeExit(container: string, exec: string, exitStatus: number, exitedAt: string): void {
    this.deliverExit(execOwner(container, exec), {
      type: 'containerd.execExit',
      exec,
      exitStatus,
      exitedAt,
    });
  }

  /** An exec's exit to its owner (an exec or health actor), if it is still there. */
  deliverExit(actor: string, event: Extract<ExecEvent, { type: 'containerd.execExit' }>): void {
    const e = this.session.actors.get(actor);
    if (!e || (e.actor.getSnapshot() as { status: string }).status !== 'active') return;
    this.session.send(actor, event);
  }

  /**
   * Restore's sweep (machines/exec/sweep): the exec processes a dead daemon left in the tasks
   * restore kept running are killed and deleted; `done` hears how many, once it has finished.
   */
  sweep(containers: readonly string[], done: (reaped: number) => void = () => undefined): void {
    // No live task, no process to look for: nothing to do, at once.
    if (containers.length === 0) {
      done(0);
      return;
    }
    this.sweeps += 1;
    const actorId = this.sweeps === 1 ? 'exec-sweep' : `exec-sweep-${this.sweeps}`;
    const entry = this.session.spawn(this.sweepMachine, actorId, {
      actorId,
      containers: [...containers],
    });
    const finished = (): boolean => {
      const snap = entry.actor.getSnapshot() as { status: string; output?: { reaped: number } };
      if (snap.status !== 'done') return false;
      const reaped = snap.output?.reaped ?? 0;
      this.later(() => done(reaped));
      return true;
    };
    if (finished()) return;
    const sub = entry.actor.subscribe(() => {
      if (finished()) sub.unsubscribe();
    });
  }

  /** Whether restore's exec sweep is still at work. */
  sweeping(): boolean {
    for (const [id, e] of this.session.actors)
      if (
        id.startsWith('exec-sweep') &&
        (e.actor.getSnapshot() as { status: string }).status === 'active'
      )
        return true;
    return false;
  }

  /** The exec GC's pass (dockerd's execCommandGC, every 5 minutes). */
  gc(): void {
    for (const id of [...this.session.actors.keys()])
      if (id.startsWith('exec:')) this.send(id.slice(5), { type: 'execGc.tick' });
  }
}

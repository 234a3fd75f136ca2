import type { Session } from '../../effects/runner.ts';
import type { RecordBody } from '../../effects/trace.ts';
import { healthChecked } from '../../machines/health/config.ts';
import type { HealthContext, HealthState } from '../../machines/health/types.ts';
import type { ContainerContext } from '../../machines/container/types.ts';
import { healthActor } from '../../machines/exec/ids.ts';
import { healthKey } from '../../machines/health/machine.ts';
import type { HealthConfig } from '../../machines/health/config.ts';
import type { OperationInput, OperationOutput } from '../../machines/operation/machine.ts';

/** A container restore found, as far as its health monitor is concerned. */
export interface RestoredHealth {
  id: string;
  healthcheck: HealthConfig | null | undefined;
  /** Its task is running or paused and live-restore keeps it: its monitor starts again. */
  live: boolean;
  paused: boolean;
}

/** A probe's OCI process for a container (the daemon builds it from the container's spec). */
export type ProbeProcess = (c: ContainerContext, test: string[]) => unknown;

/**
 * One health monitor per running container that has a HEALTHCHECK (the real daemon and the
 * simulated one use this code): spawned when its container starts (its `start` event, or
 * restore finding it running), told of pause and unpause, stopped when the container dies or
 * goes. Its last state stays readable for inspect and ps after it stopped, as dockerd's
 * State.Health does.
 */
export class HealthHost {
  private readonly session: Session;
  private readonly contextOf: (id: string) => ContainerContext | null;
  private readonly probeProcess: ProbeProcess;
  private readonly last = new Map<string, HealthState>();
  /** The current monitor of each container (a new actor per run: late timers of the last one reach nobody). */
  private readonly current = new Map<string, string>();
  private lives = 0;
  private loads = 0;
  /** Waiting for the store's State.Health of the restored containers (null: not loading). */
  private loading: (() => void)[] | null = null;
  /** Runs a reaction after the step that caused it (an actor is never spawned or sent to from inside another's). */
  private readonly later: (fn: () => void) => void;

  constructor(o: {
    session: Session;
    contextOf: (id: string) => ContainerContext | null;
    probeProcess: ProbeProcess;
    later: (fn: () => void) => void;
  }) {
    this.session = o.session;
    this.later = o.later;
    this.contextOf = o.contextOf;
    this.probeProcess = o.probeProcess;
    this.session.onRecord((actor, r) => this.onRecord(actor, r));
  }

  private onRecord(actor: string, r: RecordBody): void {
    if (actor.startsWith('health:') && r.kind === 'actor.stop') {
      this.later(() => this.session.forget(actor));
      return;
    }
    if (!actor.startsWith('container:') || r.kind !== 'mark' || r.mark.mark !== 'event') return;
    const id = actor.slice(10);
    const action = String(r.mark['action']);
    // Only a container with a health check, or with a monitor, has anything to react to.
    const relevant =
      action === 'start'
        ? healthChecked(this.contextOf(id)?.record.config.healthcheck)
        : this.current.has(id) || this.last.has(id);
    if (relevant) this.later(() => this.react(id, action));
  }

  private react(id: string, action: string): void {
    switch (action) {
      case 'start':
        this.start(id);
        break;
      case 'die':
      case 'destroy':
        this.stop(id);
        if (action === 'destroy') {
          this.last.delete(id);
          this.current.delete(id);
          this.forget(id);
        }
        break;
      case 'pause':
        this.send(id, { type: 'container.paused' });
        break;
      case 'unpause':
        this.send(id, { type: 'container.unpaused' });
        break;
    }
  }

  private send(id: string, event: { type: string }): void {
    const actor = this.current.get(id);
    const e = actor === undefined ? undefined : this.session.actors.get(actor);
    if (
      actor !== undefined &&
      e &&
      (e.actor.getSnapshot() as { status: string }).status === 'active'
    )
      this.session.send(actor, event);
  }

  /** Starts the monitor of a running container (after its start, or found running by restore). */
  start(id: string): void {
    const c = this.contextOf(id);
    const config = c?.record.config.healthcheck;
    if (!c || !healthChecked(config)) return;
    this.stop(id);
    const test = config.Test as string[];
    this.lives += 1;
    const actorId = healthActor(id, this.lives);
    this.current.set(id, actorId);
    this.session.spawn('health', actorId, {
      actorId,
      container: id,
      config,
      process: this.probeProcess(c, test),
      startedAt: c.record.state.startedAt ?? new Date(0).toISOString(),
      attributes: {
        ...c.record.config.labels,
        image: c.record.image,
        name: c.record.name.slice(1),
      },
      execPrefix: `health-${this.lives}`,
      previous: this.last.get(id) ?? null,
    });
  }

  /** Runs a fixed sequence of effects as an `operation` actor; `done` hears its output. */
  private operation(
    title: string,
    effects: OperationInput['effects'],
    done: (o: OperationOutput) => void = () => undefined,
  ): void {
    this.loads += 1;
    const actorId = `health-op:${this.loads}`;
    const entry = this.session.spawn('operation', actorId, { actorId, title, effects });
    const finished = (): boolean => {
      const snap = entry.actor.getSnapshot() as { status: string; output?: OperationOutput };
      if (snap.status !== 'done') return false;
      const out = snap.output ?? { results: [], failure: null };
      this.later(() => done(out));
      return true;
    };
    if (finished()) return;
    const sub = entry.actor.subscribe(() => {
      if (finished()) sub.unsubscribe();
    });
  }

  /** A removed container's State.Health leaves the store with it. */
  private forget(id: string): void {
    this.operation(`health.forget ${id}`, [{ effect: 'store.del', key: healthKey(id) }]);
  }

  /**
   * After a restart: the State.Health each container with a health check had is read back
   * from the store (dockerd keeps it in the container's config.v2.json), then the monitors of
   * the containers live-restore kept start again, their log carried on, told which are paused
   * (dockerd's restore re-arms the health monitor of running and paused ones).
   */
  restore(containers: readonly RestoredHealth[]): void {
    const checked = containers.filter((c) => healthChecked(c.healthcheck));
    if (checked.length === 0) return;
    this.loading = [];
    this.operation('health.restore', [{ effect: 'store.list', prefix: 'health/' }], (out) => {
      const listed = (out.results[0] as { entries?: { key: string; value: unknown }[] })?.entries;
      const stored = new Map((listed ?? []).map((e) => [e.key, e.value as HealthState]));
      for (const c of checked) {
        const h = stored.get(healthKey(c.id));
        if (h) this.last.set(c.id, h);
      }
      for (const c of checked.filter((x) => x.live)) {
        this.start(c.id);
        if (c.paused) this.send(c.id, { type: 'container.paused' });
      }
      const waiting = this.loading ?? [];
      this.loading = null;
      for (const w of waiting) w();
    });
  }

  /** Whether restore is still reading State.Health back. */
  restoring(): boolean {
    return this.loading !== null;
  }

  /** Runs `fn` once restore read State.Health back (at once when it is not reading). */
  whenRestored(fn: () => void): void {
    if (this.loading === null) fn();
    else this.loading.push(fn);
  }

  private stop(id: string): void {
    const actor = this.current.get(id);
    const e = actor === undefined ? undefined : this.session.actors.get(actor);
    const active = (e?.actor.getSnapshot() as { status: string } | undefined)?.status === 'active';
    // dockerd's CloseMonitorChannel: a monitor that stops leaves the status unhealthy.
    const h = this.state(id);
    if (h) this.last.set(id, active ? { ...h, Status: 'unhealthy' } : h);
    this.send(id, { type: 'health.stop' });
  }

  /** State.Health of a container: its monitor's, or the last one it had; null without a healthcheck. */
  state(id: string): HealthState | null {
    const actor = this.current.get(id);
    const e = actor === undefined ? undefined : this.session.actors.get(actor);
    if (e) return (e.actor.getSnapshot() as { context: HealthContext }).context.health;
    return this.last.get(id) ?? null;
  }
}

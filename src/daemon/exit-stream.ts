import type { RealContainerd } from '../../effects/containerd/real.ts';
import type { ContainerHost, TaskEvent } from '../host/containers.ts';
import type { Logger } from './logger.ts';

/** An exit of a task's other process (an exec, a health probe), as containerd reports it. */
export type ProcessExit = (
  container: string,
  exec: string,
  exit: { exitStatus: number; exitedAt: string },
) => void;

/**
 * containerd's /tasks/exit and /tasks/oom events, to the container host (an exec's exit to
 * the exec host), from the moment the
 * client connects (before restore lists the tasks: an exit between the list and the actor's
 * spawn is held for it, not lost). When the stream breaks (containerd died; the supervisor
 * restarts it) it subscribes again, then asks containerd for its tasks: an exit that happened
 * while nobody listened is reported from the task's stopped state.
 */
export class ExitStream {
  private readonly containerd: RealContainerd;
  private readonly host: ContainerHost;
  private readonly log: Logger;
  private readonly processExit: ProcessExit;
  private running = false;
  private stopped = false;
  private cancel: (() => void) | null = null;
  /**
   * Exits reconcile reported, by container: the task's pid. The shim may still deliver the same
   * exit on the new stream (it retries its publish), which must not reach the container twice.
   */
  private readonly reconciled = new Map<string, number>();

  constructor(
    containerd: RealContainerd,
    host: ContainerHost,
    log: Logger,
    processExit: ProcessExit = () => undefined,
  ) {
    this.containerd = containerd;
    this.host = host;
    this.log = log;
    this.processExit = processExit;
    // A removed container's late copy can no longer matter.
    host.onGone((id) => this.reconciled.delete(id));
  }

  /** Starts listening; resolves once containerd confirmed the subscription (at worst after 2 s). */
  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    this.host.connected();
    let subscribed!: () => void;
    const first = new Promise<void>((resolve) => (subscribed = resolve));
    void this.loop(subscribed);
    return first;
  }

  /** The stream ends with the client: by then every container actor has settled (moby-51692). */
  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  private async loop(subscribed: () => void): Promise<void> {
    let again = false;
    while (!this.stopped) {
      try {
        const sub = this.containerd.connected.subscribe(['topic~="^/tasks/(exit|oom|create)$"']);
        this.cancel = () => {
          sub.cancel();
          subscribed();
        };
        // Restore waits for the confirmation (at most 2 s). A stream confirmed later, or again
        // after containerd restarted, may have missed exits: containerd's tasks tell them.
        let late = again;
        const timer = setTimeout(() => {
          late = true;
          this.log.warn(
            "containerd's event stream is not confirmed after 2 s; exits missed meanwhile are read from its tasks once it is",
            {},
          );
          subscribed();
        }, 2_000);
        timer.unref();
        sub.ready(30_000).then(
          () => {
            clearTimeout(timer);
            subscribed();
            if (late) void this.reconcile();
          },
          (err: unknown) => {
            clearTimeout(timer);
            this.log.warn(
              `containerd's event stream was not confirmed: ${(err as Error).message}`,
              {},
            );
            subscribed();
          },
        );
        for await (const e of sub.events) {
          const id = e.event.containerId;
          if (e.topic === '/tasks/create') {
            // The reconciled exit's late copy may still come after a restart made the next task.
            this.host.taskCreated(id);
            continue;
          }
          if (e.topic === '/tasks/exit' && e.event['id'] !== id) {
            const exec = e.event['id'];
            this.processExit(id, typeof exec === 'string' ? exec : '', exitOf(e.event));
            continue;
          }
          const event = taskEvent(e.topic, id, e.event);
          if (event === null) continue;
          if (
            event.type === 'containerd.taskExit' &&
            this.reconciled.get(id) === Number(e.event['pid'] ?? -1)
          ) {
            this.reconciled.delete(id);
            continue;
          }
          this.host.routeExit(id, event);
        }
      } catch {
        // containerd went away: the supervisor restarts it; subscribe again
      }
      again = true;
      if (!this.stopped) await new Promise((r) => setTimeout(r, 100).unref());
    }
  }

  /** Exits missed while the stream was down: every stopped task of a container that runs. */
  private async reconcile(): Promise<void> {
    let tasks;
    try {
      tasks = await this.containerd.connected.listTasks();
    } catch (err) {
      this.log.warn(
        `could not list containerd's tasks after its restart: ${(err as Error).message}`,
        {},
      );
      return;
    }
    for (const t of tasks) {
      if (t.status !== 'stopped') continue;
      const c = this.host.contextOf(t.id);
      if (c === null || (c.task !== 'running' && c.task !== 'paused')) continue;
      // A task of another life of the container (restarted since) is not this exit.
      if (c.record.state.pid !== t.pid) continue;
      this.reconciled.set(t.id, t.pid);
      this.log.warn('an exit containerd reported while the event stream was down is recorded now', {
        container: t.id,
      });
      this.host.routeExit(t.id, {
        type: 'containerd.taskExit',
        pid: t.pid,
        exitStatus: t.exitStatus,
        exitedAt: (t.exitedAt ?? new Date()).toISOString(),
      });
    }
  }
}

/** A /tasks/exit's status and time (RFC 3339). */
function exitOf(e: Record<string, unknown>): { exitStatus: number; exitedAt: string } {
  const ts = e['exited_at'] as { seconds?: number; nanos?: number } | undefined;
  const exitedAt = ts?.seconds
    ? new Date(ts.seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString()
    : new Date().toISOString();
  return { exitStatus: Number(e['exit_status'] ?? 0), exitedAt };
}

function taskEvent(topic: string, id: string, e: Record<string, unknown>): TaskEvent | null {
  if (topic === '/tasks/exit' && e['id'] === id)
    return { type: 'containerd.taskExit', pid: Number(e['pid'] ?? 0), ...exitOf(e) };
  if (topic === '/tasks/oom') return { type: 'containerd.oom' };
  return null;
}

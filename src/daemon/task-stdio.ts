import type { TaskStdio } from '../../effects/containerd/real.ts';
import { StdioHub, type LogSink } from './stdio.ts';

/** Waits for `p`, at most `ms`. */
async function withinMs(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/**
 * Every container's stdio hub (its output to its logging driver and to attached clients, its
 * stdin), by container: what the containerd effects open and close, and what the attach and
 * logs endpoints read. A hub lives as long as its container.
 */
export class StdioHubs implements TaskStdio {
  readonly hubs = new Map<string, StdioHub>();
  /** Where a container's output is logged (its LogConfig's driver, which makes its writer). */
  private readonly logDriverOf: (id: string) => { writer(): LogSink };
  /** The daemon's log, told of a container log that cannot be written. */
  private readonly warn: (message: string) => void;

  constructor(
    logDriverOf: (id: string) => { writer(): LogSink },
    warn: (message: string) => void = () => {},
  ) {
    this.logDriverOf = logDriverOf;
    this.warn = warn;
  }

  hub(id: string): StdioHub {
    let h = this.hubs.get(id);
    if (!h) {
      const log = this.logDriverOf(id).writer();
      const hub = new StdioHub(log);
      // A log that cannot be written (a full disk) is said once, and again once it can be.
      hub.onLogProblem = (problem) =>
        this.warn(problem ?? `the container's log ${log.path} is written again`);
      this.hubs.set(id, (h = hub));
    }
    return h;
  }

  /** The container is gone. */
  forget(id: string): void {
    const h = this.hubs.get(id);
    h?.destroyReaders();
    h?.discardLog();
    this.hubs.delete(id);
  }

  /**
   * The daemon stops: every container's log is written out and its file closed, for at most
   * `ms` (a stuck disk must not hold the daemon up; what is still queued then is lost with it).
   */
  async closeLogs(ms: number): Promise<void> {
    await withinMs(Promise.all([...this.hubs.values()].map((h) => h.closeLog())), ms);
  }

  openOutput(container: string, stdout: string, stderr: string | null, terminal: boolean): void {
    const hub = this.hub(container);
    hub.tty = terminal;
    hub.openFifos(stdout, stderr);
  }

  async openStdin(
    container: string,
    path: string,
    closeIO: () => Promise<void>,
    timeoutMs?: number,
  ): Promise<Error | null> {
    const hub = this.hub(container);
    hub.stdin.closeIO = closeIO;
    return hub.stdin.open(path, timeoutMs);
  }

  started(container: string): void {
    this.hubs.get(container)?.stdin.taskStarted();
  }

  async drained(container: string, ms: number): Promise<void> {
    const hub = this.hubs.get(container);
    if (!hub) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      hub.whenEnded().then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms))),
    ]);
    clearTimeout(timer);
    // A FIFO restore reopened after the shim had already closed its end never reports EOF (no
    // writer ever comes): an unbounded wait would keep an adopted container "running" after its exit.
    if (timedOut) {
      hub.destroyReaders();
      await hub.whenEnded();
    }
    // dockerd's exit handling closes the log driver once the copier is done: a `docker wait`
    // answered after this finds every line in the log. A stuck disk holds the exit no longer
    // than `ms`; the writer goes on in the background.
    await withinMs(hub.logFlushed(), ms);
  }

  abandon(container: string): void {
    this.hubs.get(container)?.destroyReaders();
  }
}

/** The simulated host's processes: pids handed out in order, and which are alive. */
export class SimProcesses {
  /** The first daemon's pid; each later life of the daemon on the same host gets a new one. */
  static readonly firstDaemonPid = 4242;
  /** A process of someone else's (a live pidfile names it). */
  static readonly foreignPid = 3131;

  private readonly alive = new Set<number>([SimProcesses.firstDaemonPid]);
  private next = 5000;
  /** The running (or last) daemon's pid. */
  daemonPid = SimProcesses.firstDaemonPid;
  private lives = 0;

  spawn(): number {
    const pid = this.next++;
    this.alive.add(pid);
    return pid;
  }

  isAlive(pid: number): boolean {
    return this.alive.has(pid);
  }

  add(pid: number): void {
    this.alive.add(pid);
  }

  kill(pid: number): void {
    this.alive.delete(pid);
  }

  /** Which life of the daemon this is (1 for the first). */
  get life(): number {
    return this.lives;
  }

  /** The daemon process starts (again). */
  daemonStarted(): void {
    this.lives += 1;
    if (this.lives > 1) this.daemonPid = this.spawn();
    this.alive.add(this.daemonPid);
  }

  daemonExited(): void {
    this.alive.delete(this.daemonPid);
  }

  /** Power lost: nothing runs. */
  clear(): void {
    this.alive.clear();
  }
}

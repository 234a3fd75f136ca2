import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { basename } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A directory of FIFOs nobody holds open, renamed into place where a process's stdio needs
 * one. Node has no mkfifo(2), and forking mkfifo(1) from the daemon stalls its event loop for
 * milliseconds (more as its heap grows), on the way of every task and exec; a rename is a few
 * microseconds, and a FIFO nobody holds open is as good as a new one.
 *
 * What the directory holds is the pool: two users reaching for the same FIFO at once cannot
 * both have it (the loser's rename fails and it takes another, or makes one). The directory
 * reads and renames are made on this thread: each is a few microseconds, and a hand-off to the
 * thread pool and back costs more (most on a busy machine, where the woken worker takes the CPU).
 *
 * The directory outlives the daemon (it is under the exec root, like containerd's state): the
 * next life's first task takes the FIFOs the last one left, and its start-up forks no mkfifo(1).
 */
export class FifoPool {
  private readonly dir: string;
  private readonly madeAhead: number;
  private readonly kept: number;
  /** Names the FIFOs this pool makes ahead, apart from any an earlier daemon left. */
  private readonly life = randomBytes(4).toString('hex');
  private made = 0;

  /**
   * `madeAhead`: how many FIFOs the mkfifo(1) that makes missing ones makes ahead for the pool;
   * `kept`: how many used FIFOs `keep` keeps at most.
   */
  constructor(dir: string, o: { madeAhead?: number; kept?: number } = {}) {
    this.dir = dir;
    this.madeAhead = o.madeAhead ?? 0;
    this.kept = o.kept ?? 0;
  }

  /**
   * Makes FIFOs at `paths` (mode 0600): pooled ones renamed into place, the rest made by one
   * mkfifo(1), which also makes `madeAhead` new ones for the pool.
   */
  async place(paths: readonly string[]): Promise<void> {
    const pooled = this.names() ?? [];
    const missing: string[] = [];
    for (const path of paths) {
      let placed = false;
      while (!placed && pooled.length > 0)
        placed = renamed(`${this.dir}/${pooled.pop() as string}`, path);
      if (!placed) missing.push(path);
    }
    if (missing.length === 0) return;
    const ahead = this.namesAhead();
    await run('mkfifo', ['-m', '0600', ...missing, ...ahead.map((n) => `${this.staging}/${n}`)]);
    this.pool(ahead);
  }

  /** Makes `madeAhead` FIFOs for the pool with one mkfifo(1) when it holds none. */
  async fill(): Promise<void> {
    if (this.madeAhead === 0 || (this.names()?.length ?? 0) > 0) return;
    const ahead = this.namesAhead();
    await run('mkfifo', ['-m', '0600', ...ahead.map((n) => `${this.staging}/${n}`)]);
    this.pool(ahead);
  }

  /**
   * The names of the `madeAhead` FIFOs the next mkfifo(1) makes for the pool. It makes them in
   * a staging directory, not in the pool: mkfifo(1) -m makes each FIFO and then sets its mode,
   * and a placement that took one in between would fail that mkfifo (and the task whose FIFOs
   * it was also making).
   */
  private namesAhead(): string[] {
    if (this.madeAhead === 0) return [];
    mkdirSync(this.staging, { recursive: true, mode: 0o700 });
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return Array.from({ length: this.madeAhead }, () => `${this.life}-${++this.made}`);
  }

  /** Moves FIFOs the staging directory holds, their mode set, into the pool. */
  private pool(names: readonly string[]): void {
    for (const n of names) renamed(`${this.staging}/${n}`, `${this.dir}/${n}`);
  }

  /** Where mkfifo(1) makes the FIFOs made ahead (beside the pool, so never listed as pooled). */
  private get staging(): string {
    return `${this.dir}.making`;
  }

  /**
   * Moves used FIFOs into the pool while it holds fewer than `kept`; returns the paths moved.
   * Only FIFOs that reached their end belong here (no writer is left to write into the next
   * user's stream); a path that is not there is passed over.
   */
  keep(paths: readonly string[]): string[] {
    let pooled = this.names()?.length;
    if (pooled === undefined) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      pooled = 0;
    }
    const moved: string[] = [];
    for (const p of paths)
      if (pooled + moved.length < this.kept && renamed(p, `${this.dir}/${basename(p)}`))
        moved.push(p);
    return moved;
  }

  /** The pooled FIFOs' names; null when the directory is not there. */
  private names(): string[] | null {
    try {
      return readdirSync(this.dir);
    } catch {
      return null;
    }
  }
}

/** rename(2); false when it failed (another user took that FIFO first, or it is gone). */
function renamed(from: string, to: string): boolean {
  try {
    renameSync(from, to);
    return true;
  } catch {
    return false;
  }
}

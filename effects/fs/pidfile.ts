import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EffectFailure, failureFrom } from '../handler.ts';

/** moby pkg/pidfile's verdict on what a pidfile holds. */
export function pidfileVerdict(
  content: string | null,
  alive: (pid: number) => boolean,
): 'free' | 'stale' | { live: number } {
  if (content === null) return 'free';
  const pid = Number.parseInt(content.trim(), 10);
  if (!Number.isFinite(pid) || String(pid) !== content.trim()) return 'stale';
  return alive(pid) ? { live: pid } : 'stale';
}

/** A process that exists and is not a zombie (a killed daemon nobody reaped yet holds no pidfile). */
function isLive(pid: number): boolean {
  try {
    return !(readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1] ?? '').startsWith('Z');
  } catch {
    return false;
  }
}

/**
 * Claims the pidfile: refused when it names a live process (any process, as moby checks
 * only /proc/<pid>), else written (0644, decimal pid, no newline), parent made 0755.
 */
export function createPidfile(path: string, pid: number): void {
  let content: string | null = null;
  try {
    content = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw failureFrom(err, 'open', path);
  }
  const verdict = pidfileVerdict(content, (p) => p !== pid && isLive(p));
  if (typeof verdict === 'object')
    throw new EffectFailure(
      'EBUSY',
      `pid file found, ensure docker is not running or delete ${path}`,
    );
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    writeFileSync(path, String(pid), { mode: 0o644 });
  } catch (err) {
    throw failureFrom(err, 'open', path);
  }
}

/** Removes the pidfile only while it still holds our pid. */
export function removePidfile(path: string, pid: number): boolean {
  try {
    if (readFileSync(path, 'utf8').trim() !== String(pid)) return false;
    unlinkSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw failureFrom(err, 'remove', path);
  }
}

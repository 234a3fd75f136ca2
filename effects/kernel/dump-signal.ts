import { writeFileSync } from 'node:fs';

/**
 * SIGUSR1, like dockerd's stack dump: writes what the daemon registered (its actors'
 * snapshots) to a file under the given directory and logs the path.
 */
let provider: () => unknown = () => ({});
let log: (line: string) => void = (line) => process.stderr.write(`${line}\n`);
let listener: (() => void) | null = null;

export function setDumpProvider(fn: () => unknown, logger?: (line: string) => void): void {
  provider = fn;
  if (logger) log = logger;
}

export function trapDumpSignal(dir: string): void {
  if (listener) process.off('SIGUSR1', listener);
  listener = () => {
    const path = `${dir}/statedock-actors-${new Date().toISOString().replaceAll(':', '')}.json`;
    try {
      writeFileSync(path, JSON.stringify(provider(), null, 2));
      log(`actors' snapshots written to ${path}`);
    } catch (err) {
      log(`could not write the actors' snapshots to ${path}: ${(err as Error).message}`);
    }
  };
  process.on('SIGUSR1', listener);
}

export function untrapDumpSignal(): void {
  if (listener) process.off('SIGUSR1', listener);
  listener = null;
}

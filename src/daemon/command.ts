import { readFileSync } from 'node:fs';
import type { CliHost } from '../cli/main.ts';
import { version } from '../version.ts';
import { ConfigError, daemonUsage, loadDaemonConfig, type DaemonConfig } from './config.ts';
import { Daemon } from './daemon.ts';
import { createLogger } from './logger.ts';
import { installSafetyNet } from './safety-net.ts';

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError(
      `unable to configure the Docker daemon with file ${path}: ${(err as Error).message}`,
    );
  }
}

/**
 * `statedock daemon`: start-up (NewDaemon) on real effects; then serve until SIGTERM or
 * SIGINT, and shut down through the shutdown machine. A start-up that fails prints which
 * step failed and why, what was released, and the flight recorder's trace, and exits 1.
 */
export async function daemonCommand(
  argv: string[],
  out: (line: string) => void,
  host?: CliHost,
): Promise<number> {
  let config: DaemonConfig;
  try {
    const loaded = loadDaemonConfig(argv, process.env, readIfExists);
    if (loaded.help) {
      out(daemonUsage);
      return 0;
    }
    config = loaded.config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`statedock daemon: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let daemon: Daemon;
  try {
    daemon = new Daemon(config, log, version, host?.phases ?? []);
  } catch (err) {
    process.stderr.write(
      `failed to start daemon: cannot prepare the flight recorder under ${config.execRoot}: ${(err as Error).message}\n`,
    );
    return 1;
  }
  installSafetyNet(log, () => {
    daemon.close();
    process.exit(1);
  });
  log.info('Starting up', {
    version,
    dataRoot: config.dataRoot,
    execRoot: config.execRoot,
    trace: daemon.tracePath,
  });

  // dockerd's trap: the first SIGINT/SIGTERM shuts down cleanly; the 4th forces an exit.
  let signals = 0;
  let requestShutdown: (sig: string) => void = () => undefined;
  const shutdownRequested = new Promise<string>((resolve) => {
    requestShutdown = resolve;
  });
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1;
    if (signals === 1) {
      log.info(`Processing signal '${sig}'`);
      requestShutdown(sig);
    } else if (signals >= 4) {
      log.error('Forcing daemon shutdown without cleanup; 3 interrupts received');
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGPIPE', () => undefined);

  const startup = await daemon.start();
  if (startup.status === 'failed') {
    const f = startup.failure;
    process.stderr.write(`failed to start daemon: ${f.message}\n`);
    process.stderr.write(
      `  failed step: ${f.step}${f.effect ? ` (${f.effect}${f.error ? `: ${f.error.code}` : ''})` : ''}\n`,
    );
    const released = startup.releases.map((r) =>
      r.ok ? r.resource : `${r.resource} (release failed: ${r.error?.message ?? '?'})`,
    );
    process.stderr.write(
      `  released, newest first: ${released.length > 0 ? released.join(', ') : 'nothing had been acquired'}\n`,
    );
    process.stderr.write(`  trace: ${daemon.tracePath} (statedock replay / check / inspect it)\n`);
    daemon.close();
    setTimeout(() => process.exit(1), 20).unref();
    return 1;
  }
  log.info('Daemon has completed initialization', {
    id: startup.facts.daemonId,
    driver: startup.facts.graphDriver,
  });
  for (const h of config.hosts) log.info(`API listen on ${h}`);
  host?.startedUp();
  const ranContainer = host?.ranContainer;
  if (ranContainer !== undefined) {
    const stopWatching = daemon.events.watch((e) => {
      if (e.Type !== 'container' || e.Action !== 'start') return;
      stopWatching();
      ranContainer();
    });
  }

  await shutdownRequested;
  const result = await daemon.shutdown();
  const failed = result.releases.filter((r) => !r.ok);
  for (const r of failed) log.error(`release of ${r.resource} failed: ${r.error?.message ?? '?'}`);
  log.info('Daemon shutdown complete');
  const code = failed.length === 0 ? 0 : 1;
  // Everything is released; a library timer or socket must not hold the process up.
  setTimeout(() => process.exit(code), 20).unref();
  return code;
}

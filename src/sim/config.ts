import type { StartupConfig } from '../../machines/daemon-startup/types.ts';
import {
  ConfigError,
  defaultDaemonConfig,
  mergeDaemonConfig,
  parseDaemonFlags,
  parseDaemonJson,
} from '../daemon/config.ts';
import { UsageError } from '../cli/usage.ts';

/**
 * The simulator's configuration: exactly what `statedock daemon` would run with, from the
 * same daemon.json rules (dockerd's keys, unknown keys and wrong types refused).
 */
export function simConfig(daemonJson: { text: string; path: string } | null): StartupConfig {
  if (daemonJson === null) return defaultDaemonConfig();
  try {
    return mergeDaemonConfig(
      parseDaemonFlags([]),
      parseDaemonJson(daemonJson.text, daemonJson.path),
      daemonJson.path,
      {},
    );
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

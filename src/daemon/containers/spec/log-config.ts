import { InvalidRequest } from './errors.ts';

/**
 * HostConfig.LogConfig: the drivers statedock has (json-file with size rotation, local, none),
 * their options checked with dockerd's messages (at create; dockerd checks some only when the
 * container starts). Other drivers are refused by name.
 */
export type LogSettings =
  | { driver: 'json-file'; maxSize: number | null; maxFile: number }
  | { driver: 'local'; maxSize: number; maxFile: number; compress: boolean }
  | { driver: 'none' };

/** Logging drivers dockerd has built in that statedock does not. */
const otherBuiltIn = [
  'syslog',
  'journald',
  'gelf',
  'fluentd',
  'awslogs',
  'splunk',
  'etwlogs',
  'gcplogs',
  'logentries',
];

/** go-units' FromHumanSize: decimal units (1k = 1000), `invalid size: '…'` otherwise. */
export function fromHumanSize(s: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(s);
  if (!m) throw new InvalidRequest(`invalid size: '${s}'`);
  const unit = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Math.floor(Number.parseFloat(m[1] as string) * unit);
}

/** Go's strconv.Atoi, with its error text. */
function atoi(s: string): number {
  if (!/^[+-]?\d+$/.test(s))
    throw new InvalidRequest(`strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  return Number.parseInt(s, 10);
}

function parseBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new InvalidRequest(`strconv.ParseBool: parsing ${JSON.stringify(s)}: invalid syntax`);
}

/** Reads and checks a LogConfig (an empty type is the daemon's default, json-file). */
export function readLogConfig(type: string, config: Readonly<Record<string, string>>): LogSettings {
  const driver = type === '' ? 'json-file' : type;
  // The none driver takes any options and has nothing to apply them to (dockerd checks none).
  if (driver === 'none') return { driver: 'none' };
  const mode = config['mode'] ?? '';
  if (!['', 'blocking', 'non-blocking'].includes(mode))
    throw new InvalidRequest(`logger: logging mode not supported: ${mode}`);
  if (config['max-buffer-size'] !== undefined && mode !== 'non-blocking')
    throw new InvalidRequest(
      "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
    );
  if (mode === 'non-blocking')
    throw new InvalidRequest(
      "statedock does not support the log opt 'mode=non-blocking': output is written as it comes (blocking)",
    );
  // `mode` is the logger's own option, not the driver's.
  const opts = Object.entries(config).filter(([k]) => k !== 'mode');
  switch (driver) {
    case 'json-file': {
      for (const [k, v] of opts) {
        if (['max-size', 'max-file', 'compress'].includes(k)) continue;
        if (['labels', 'labels-regex', 'env', 'env-regex', 'tag'].includes(k))
          throw new InvalidRequest(
            `statedock does not support the log opt '${k}=${v}' of the json-file log driver`,
          );
        throw new InvalidRequest(`unknown log opt '${k}' for json-file log driver`);
      }
      let maxSize: number | null = null;
      if (config['max-size'] !== undefined) {
        maxSize = fromHumanSize(config['max-size']);
        if (maxSize <= 0) throw new InvalidRequest('max-size must be a positive number');
      }
      let maxFile = 1;
      if (config['max-file'] !== undefined) {
        maxFile = atoi(config['max-file']);
        if (maxFile < 1) throw new InvalidRequest('max-file cannot be less than 1');
      }
      if (config['compress'] !== undefined && parseBool(config['compress'])) {
        if (maxFile === 1 || maxSize === null)
          throw new InvalidRequest(
            'compress cannot be true when max-file is less than 2 or max-size is not set',
          );
        throw new InvalidRequest(
          "statedock does not support the log opt 'compress=true' of the json-file log driver",
        );
      }
      return { driver: 'json-file', maxSize, maxFile };
    }
    case 'local': {
      for (const [k] of opts)
        if (!['max-size', 'max-file', 'compress'].includes(k))
          throw new InvalidRequest(`unknown log opt '${k}' for log driver local`);
      let maxSize = 20 * 1024 * 1024;
      let maxFile = 5;
      let compress = true;
      const size = config['max-size'];
      if (size !== undefined)
        try {
          maxSize = fromHumanSize(size);
        } catch (err) {
          throw new InvalidRequest(
            `invalid value for max-size: ${size}: ${(err as Error).message}`,
          );
        }
      const files = config['max-file'];
      if (files !== undefined)
        try {
          maxFile = atoi(files);
        } catch (err) {
          throw new InvalidRequest(
            `invalid value for max-file: ${files}: ${(err as Error).message}`,
          );
        }
      if (config['compress'] !== undefined)
        try {
          compress = parseBool(config['compress']);
        } catch (err) {
          throw new InvalidRequest(`error reading compress log option: ${(err as Error).message}`);
        }
      if (maxSize < 0) throw new InvalidRequest('max size should be a positive number');
      if (maxFile < 0) throw new InvalidRequest('max file count cannot be less than 0');
      if (compress && maxFile <= 1)
        throw new InvalidRequest('compression cannot be enabled when max file count is 1');
      return { driver: 'local', maxSize, maxFile, compress };
    }
    default:
      if (otherBuiltIn.includes(driver))
        throw new InvalidRequest(
          `statedock does not support the ${driver} log driver: use json-file, local or none`,
        );
      throw new InvalidRequest(
        `error looking up logging plugin ${driver}: plugin ${JSON.stringify(driver)} not found`,
      );
  }
}

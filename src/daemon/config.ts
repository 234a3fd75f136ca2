import type { StartupConfig } from '../../machines/daemon-startup/types.ts';
import type { LogLevel } from './logger.ts';
import {
  RegistryConfigError,
  validateInsecureRegistry,
  validateMirror,
} from './registry/service-config.ts';

/**
 * `statedock daemon`'s configuration: dockerd's flags and daemon.json keys, merged as
 * dockerd merges them (daemon/config: a directive given both ways, an unknown key or a
 * malformed file is refused, naming the file). Pure: reading the file is the caller's.
 */
export interface DaemonConfig extends StartupConfig, ApiListenConfig {
  configFile: string;
  logLevel: LogLevel;
  debug: boolean;
}

/**
 * How the API listens beyond its addresses: TLS for TCP (`--tls`, `--tlsverify` and the
 * files), and the unix sockets' group (`--group`, `docker` by default, as dockerd).
 */
export interface ApiListenConfig {
  tls: boolean;
  /** Clients must present a certificate signed by `tlsCaCert`. */
  tlsVerify: boolean;
  tlsCaCert: string | null;
  tlsCert: string | null;
  tlsKey: string | null;
  group: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Kind =
  | 'string'
  | 'bool'
  | 'int'
  | 'host'
  | 'nullable'
  | 'mirrors'
  | 'insecure'
  | 'ip'
  | 'ips'
  | 'domains'
  | 'strings'
  | 'pools';

interface Directive {
  /** daemon.json key (dockerd's name), also the long flag. */
  key: string;
  short?: string;
  field: keyof DaemonConfig;
  kind: Kind;
  /** The flag may be given several times (a list). */
  repeatable?: boolean;
  /** The flag's name when it differs from the daemon.json key (`--registry-mirror` for `registry-mirrors`). */
  flag?: string;
}

const directives: Directive[] = [
  { key: 'data-root', field: 'dataRoot', kind: 'string' },
  { key: 'exec-root', field: 'execRoot', kind: 'string' },
  { key: 'host', short: 'H', field: 'hosts', kind: 'host', repeatable: true },
  { key: 'pidfile', short: 'p', field: 'pidfile', kind: 'string' },
  { key: 'containerd', field: 'containerdAddress', kind: 'nullable' },
  { key: 'containerd-namespace', field: 'containerdNamespace', kind: 'string' },
  { key: 'storage-driver', short: 's', field: 'storageDriver', kind: 'nullable' },
  { key: 'bridge', short: 'b', field: 'bridge', kind: 'nullable' },
  { key: 'bip', field: 'bip', kind: 'nullable' },
  { key: 'fixed-cidr', field: 'fixedCidr', kind: 'nullable' },
  { key: 'default-gateway', field: 'defaultGateway', kind: 'ip' },
  { key: 'icc', field: 'icc', kind: 'bool' },
  { key: 'iptables', field: 'iptables', kind: 'bool' },
  { key: 'ip-forward', field: 'ipForward', kind: 'bool' },
  { key: 'ip-masq', field: 'ipMasq', kind: 'bool' },
  { key: 'userland-proxy', field: 'userlandProxy', kind: 'bool' },
  { key: 'ip', field: 'ip', kind: 'ip' },
  { key: 'dns', field: 'dns', kind: 'ips', repeatable: true },
  { key: 'dns-search', field: 'dnsSearch', kind: 'domains', repeatable: true },
  { key: 'dns-opt', field: 'dnsOptions', kind: 'strings', repeatable: true },
  { key: 'default-address-pool', field: 'defaultAddressPools', kind: 'pools', repeatable: true },
  { key: 'mtu', field: 'mtu', kind: 'int' },
  { key: 'userns-remap', field: 'usernsRemap', kind: 'nullable' },
  { key: 'live-restore', field: 'liveRestore', kind: 'bool' },
  { key: 'oom-score-adjust', field: 'oomScoreAdjust', kind: 'int' },
  { key: 'max-concurrent-downloads', field: 'maxConcurrentDownloads', kind: 'int' },
  { key: 'max-concurrent-uploads', field: 'maxConcurrentUploads', kind: 'int' },
  { key: 'max-download-attempts', field: 'maxDownloadAttempts', kind: 'int' },
  {
    key: 'registry-mirrors',
    flag: 'registry-mirror',
    field: 'registryMirrors',
    kind: 'mirrors',
    repeatable: true,
  },
  {
    key: 'insecure-registries',
    flag: 'insecure-registry',
    field: 'insecureRegistries',
    kind: 'insecure',
    repeatable: true,
  },
  { key: 'seccomp-profile', field: 'seccompProfile', kind: 'nullable' },
  { key: 'shutdown-timeout', field: 'shutdownTimeout', kind: 'int' },
  { key: 'log-level', short: 'l', field: 'logLevel', kind: 'string' },
  { key: 'debug', short: 'D', field: 'debug', kind: 'bool' },
  { key: 'tls', field: 'tls', kind: 'bool' },
  { key: 'tlsverify', field: 'tlsVerify', kind: 'bool' },
  { key: 'tlscacert', field: 'tlsCaCert', kind: 'nullable' },
  { key: 'tlscert', field: 'tlsCert', kind: 'nullable' },
  { key: 'tlskey', field: 'tlsKey', kind: 'nullable' },
  { key: 'group', short: 'G', field: 'group', kind: 'string' },
];

/** daemon.json names that differ from the flag's (dockerd's: `hosts`, `dns-opts`, `default-address-pools`). */
const fileNames: Record<string, string> = {
  host: 'hosts',
  'dns-opt': 'dns-opts',
  'default-address-pool': 'default-address-pools',
};
const fileKeyOf = (d: Directive): string => fileNames[d.key] ?? d.key;

export const defaultConfigFile = '/etc/statedock/daemon.json';

export function defaultDaemonConfig(): DaemonConfig {
  return {
    dataRoot: '/var/lib/statedock',
    execRoot: '/var/run/statedock',
    hosts: ['/var/run/statedock.sock'],
    pidfile: '/var/run/statedock.pid',
    containerdAddress: null,
    containerdNamespace: 'statedock',
    storageDriver: null,
    bridge: null,
    bip: null,
    fixedCidr: null,
    defaultGateway: null,
    icc: true,
    iptables: true,
    ipForward: true,
    ipMasq: true,
    userlandProxy: true,
    ip: '0.0.0.0',
    dns: [],
    dnsSearch: [],
    dnsOptions: [],
    defaultAddressPools: [],
    mtu: 0,
    usernsRemap: null,
    liveRestore: false,
    oomScoreAdjust: 0,
    maxConcurrentDownloads: 3,
    maxConcurrentUploads: 5,
    maxDownloadAttempts: 5,
    registryMirrors: [],
    insecureRegistries: [],
    seccompProfile: null,
    shutdownTimeout: 15,
    env: {},
    configFile: defaultConfigFile,
    logLevel: 'info',
    debug: false,
    tls: false,
    tlsVerify: false,
    tlsCaCert: null,
    tlsCert: null,
    tlsKey: null,
    group: 'docker',
  };
}

/**
 * dockerd's `-H` (opts.ParseHost): `unix:///path` → `/path`; `tcp://host:port`, `host:port`
 * and `tcp://:port` → `tcp://host:port` (host `localhost`, port 2375 by default).
 */
function parseHost(value: string): string {
  const v = value.trim();
  if (v.startsWith('/')) throw new ConfigError(`bad format ${value}, expected PROTO://ADDR`);
  const m = /^([^:/]*):\/\/(.*)$/.exec(v);
  const [proto, addr] = m ? [m[1] as string, m[2] as string] : ['tcp', v];
  if (proto === 'unix') {
    const path = addr === '' ? '/var/run/statedock.sock' : addr;
    if (path.includes('://')) throw new ConfigError(`Invalid proto, expected unix: ${path}`);
    if (!path.startsWith('/')) throw new ConfigError(`unix socket path must be absolute: ${value}`);
    if (Buffer.byteLength(path) > 107)
      throw new ConfigError(`unix socket path is longer than 107 bytes: ${path}`);
    return path;
  }
  if (proto === 'fd' || proto === 'npipe')
    throw new ConfigError(
      `statedock does not support ${proto}:// listeners (${value}); use unix:///path or tcp://host:port`,
    );
  if (proto !== 'tcp') throw new ConfigError(`Invalid bind address format: ${value}`);
  if (addr.includes('://')) throw new ConfigError(`Invalid proto, expected tcp: ${value}`);
  const hp = /^(?:\[([^\]]*)\]|([^:/[\]]*))(?::(\d*))?$/.exec(
    addr === '' ? 'localhost:2375' : addr,
  );
  if (!hp) throw new ConfigError(`Invalid bind address format: ${value}`);
  const host = hp[1] ?? (hp[2] || 'localhost');
  const port = hp[3] === undefined || hp[3] === '' ? 2375 : Number(hp[3]);
  if (!Number.isInteger(port) || port > 65535)
    throw new ConfigError(`Invalid bind address format: ${value}`);
  return `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Warnings config parsing had (an insecure registry given with a scheme), for the log. */
export const configWarnings: string[] = [];

/** Go's net.ParseIP, for the forms dockerd's flags take (IPv4, and IPv6 written plainly). */
function isIp(v: string): boolean {
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(v))
    return v.split('.').every((p) => Number(p) <= 255 && !(p.length > 1 && p.startsWith('0')));
  return /^[0-9a-fA-F:]+$/.test(v) && v.includes(':') && (v.match(/::/g) ?? []).length <= 1;
}

/** opts.ValidateDNSSearch: `.`, or a domain name. */
function isDomain(v: string): boolean {
  const t = v.trim();
  if (t === '.') return true;
  const label = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
  return (
    /[a-zA-Z]/.test(t) && new RegExp(`^${label}(?:\\.${label})*\\.?\\s*$`).test(t) && t.length < 255
  );
}

/** cobra's words for a flag value its type refuses (dockerd exits 125 with them). */
function invalidArgument(
  d: Directive,
  raw: string,
  why: string,
  from: 'flag' | 'file',
): ConfigError {
  return from === 'flag'
    ? new ConfigError(`invalid argument "${raw}" for "--${d.key}" flag: ${why}`)
    : new ConfigError(`invalid value ${JSON.stringify(raw)} for ${fileKeyOf(d)}: ${why}`);
}

/** `base=10.10.0.0/16,size=24` (opts.PoolsOpt). */
function parsePool(text: string): { base: string; size: number } {
  const pool = { base: '', size: 0 };
  for (const field of text.split(',')) {
    const eq = field.indexOf('=');
    if (eq < 0) throw new Error(`invalid field '${field}' must be a key=value pair`);
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1).toLowerCase();
    if (key === 'base') pool.base = value;
    else if (key === 'size') {
      if (!/^-?\d+$/.test(value))
        throw new Error(
          `invalid size value: "${value}" (must be integer): strconv.Atoi: parsing "${value}": invalid syntax`,
        );
      pool.size = Number(value);
    } else throw new Error(`unexpected key '${key}' in '${field}'`);
  }
  return pool;
}

function convert(d: Directive, raw: unknown, from: 'flag' | 'file'): unknown {
  const name = from === 'flag' ? `--${d.flag ?? d.key}` : fileKeyOf(d);
  switch (d.kind) {
    case 'mirrors':
    case 'insecure': {
      const list = Array.isArray(raw) ? raw : from === 'flag' ? [raw] : null;
      if (list === null || !list.every((x) => typeof x === 'string'))
        throw new ConfigError(
          `json: cannot unmarshal ${typeof raw} into Go struct field Config.${d.key} of type []string`,
        );
      try {
        return list.map((v) => {
          if (d.kind === 'mirrors') return validateMirror(v);
          const r = validateInsecureRegistry(v);
          if (r.warning) configWarnings.push(r.warning);
          return r.entry;
        });
      } catch (err) {
        if (!(err instanceof RegistryConfigError)) throw err;
        throw new ConfigError(
          from === 'flag'
            ? `invalid argument ${JSON.stringify(String(raw))} for "${name}" flag: ${err.message}`
            : err.message,
        );
      }
    }
    case 'ip':
      if (typeof raw !== 'string')
        throw new ConfigError(`invalid value ${JSON.stringify(raw)} for ${name}: an IP address`);
      if (!isIp(raw.trim())) throw invalidArgument(d, raw, `${raw} is not an ip address`, from);
      return raw.trim();
    case 'ips':
    case 'domains':
    case 'strings': {
      const list = from === 'file' ? raw : [raw];
      if (!Array.isArray(list) || !list.every((v) => typeof v === 'string'))
        throw new ConfigError(
          `invalid value ${JSON.stringify(raw)} for ${name}: a list of strings`,
        );
      for (const v of list) {
        if (d.kind === 'ips' && !isIp(v.trim()))
          throw invalidArgument(d, v, `${v} is not an ip address`, from);
        if (d.kind === 'domains' && !isDomain(v))
          throw invalidArgument(d, v, `${v} is not a valid domain`, from);
      }
      return list.map((v) => (d.kind === 'strings' ? v : v.trim()));
    }
    case 'pools': {
      if (from === 'flag') {
        try {
          return [parsePool(String(raw))];
        } catch (err) {
          throw invalidArgument(d, String(raw), (err as Error).message, from);
        }
      }
      if (
        !Array.isArray(raw) ||
        !raw.every(
          (p) =>
            typeof p === 'object' &&
            p !== null &&
            typeof (p as { base?: unknown }).base === 'string',
        )
      )
        throw new ConfigError(
          `invalid value ${JSON.stringify(raw)} for ${name}: a list of {"base": "<CIDR>", "size": <bits>}`,
        );
      return (raw as { base: string; size?: unknown }[]).map((p) => ({
        base: p.base,
        size: typeof p.size === 'number' ? p.size : 0,
      }));
    }
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (from === 'flag' && (raw === 'true' || raw === 'false')) return raw === 'true';
      throw new ConfigError(
        `invalid value ${JSON.stringify(raw)} for ${name}: a boolean (true or false)`,
      );
    case 'int': {
      const n =
        typeof raw === 'number'
          ? raw
          : from === 'flag' && typeof raw === 'string' && /^-?\d+$/.test(raw)
            ? Number(raw)
            : NaN;
      if (!Number.isSafeInteger(n))
        throw new ConfigError(`invalid value ${JSON.stringify(raw)} for ${name}: an integer`);
      if (d.key === 'oom-score-adjust' && (n < -1000 || n > 1000))
        throw new ConfigError(`invalid value ${n} for ${name}: must be between -1000 and 1000`);
      if (d.key.startsWith('max-concurrent') && n < 0)
        throw new ConfigError(`invalid value ${n} for ${name}: must not be negative`);
      if (d.key === 'max-download-attempts' && n <= 0)
        throw new ConfigError(`invalid max download attempts: ${n}`);
      return n;
    }
    case 'host': {
      const list = Array.isArray(raw) ? raw : [raw];
      if (!list.every((h) => typeof h === 'string'))
        throw new ConfigError(
          `invalid value for ${name}: a list of unix:///path sockets or tcp://host:port addresses`,
        );
      return list.map((h) => parseHost(h));
    }
    case 'string':
    case 'nullable':
      if (typeof raw !== 'string')
        throw new ConfigError(`invalid value ${JSON.stringify(raw)} for ${name}: a string`);
      if (d.key === 'storage-driver' && !['overlay2', 'vfs'].includes(raw))
        throw new ConfigError(
          `invalid value ${JSON.stringify(raw)} for ${name}: statedock supports overlay2 and vfs`,
        );
      if (d.key === 'log-level' && !['debug', 'info', 'warn', 'error', 'fatal'].includes(raw))
        throw new ConfigError(
          `invalid value ${JSON.stringify(raw)} for ${name}: one of debug, info, warn, error, fatal`,
        );
      return raw;
  }
}

export interface ParsedFlags {
  /** Values given on the command line, by directive key. */
  given: Map<string, unknown>;
  configFile: string | null;
  help: boolean;
}

/** Parses dockerd-style flags: `--flag value`, `--flag=value`, bool `--flag`, short `-H value`. */
export function parseDaemonFlags(argv: readonly string[]): ParsedFlags {
  const given = new Map<string, unknown>();
  let configFile: string | null = null;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const long = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const short = /^-([A-Za-z])$/.exec(arg);
    if (!long && !short)
      throw new ConfigError(
        `unexpected argument ${JSON.stringify(arg)}; flags start with -- (see statedock daemon --help)`,
      );
    const name = long ? (long[1] as string) : (short?.[1] as string);
    let inline = long ? long[2] : undefined;
    if (name === 'config-file') {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ConfigError('flag needs an argument: --config-file');
      configFile = v;
      continue;
    }
    const d = long
      ? directives.find((x) => (x.flag ?? x.key) === name)
      : directives.find((x) => x.short === name);
    if (!d) throw new ConfigError(`unknown flag: ${arg.split('=')[0] as string}`);
    if (d.kind === 'bool' && inline === undefined) inline = 'true';
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new ConfigError(`flag needs an argument: --${d.key}`);
    const value = convert(d, raw, 'flag');
    if (d.repeatable)
      given.set(d.key, [
        ...((given.get(d.key) as string[] | undefined) ?? []),
        ...(value as string[]),
      ]);
    else given.set(d.key, value);
  }
  return { given, configFile, help };
}

/** Parses daemon.json: an object of dockerd's keys; every problem names the file. */
export function parseDaemonJson(text: string, path: string): Map<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `unable to configure the Docker daemon with file ${path}: ${(err as Error).message}`,
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ConfigError(
      `unable to configure the Docker daemon with file ${path}: the file must hold a JSON object`,
    );
  const out = new Map<string, unknown>();
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(json)) {
    const d = directives.find((x) => fileKeyOf(x) === k);
    if (!d) {
      unknown.push(k);
      continue;
    }
    try {
      out.set(d.key, convert(d, v, 'file'));
    } catch (err) {
      throw new ConfigError(
        `unable to configure the Docker daemon with file ${path}: ${(err as Error).message}`,
      );
    }
  }
  if (unknown.length > 0)
    throw new ConfigError(
      `unable to configure the Docker daemon with file ${path}: the following directives don't match any configuration option: ${unknown.join(', ')}`,
    );
  return out;
}

function show(key: string, v: unknown): string {
  if (key === 'host' && Array.isArray(v))
    return v
      .map((h) => (String(h).startsWith('tcp://') ? String(h) : `unix://${String(h)}`))
      .join(', ');
  return Array.isArray(v)
    ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ')
    : String(v);
}

/** Flags over defaults, file over defaults; the same directive from both is an error (dockerd). */
export function mergeDaemonConfig(
  flags: ParsedFlags,
  file: Map<string, unknown> | null,
  configPath: string,
  env: Record<string, string | undefined>,
): DaemonConfig {
  const config = defaultDaemonConfig();
  config.configFile = configPath;
  if (file) {
    const both = [...flags.given.keys()].filter((k) => file.has(k));
    if (both.length > 0) {
      const detail = both
        .map(
          (k) =>
            `${fileNames[k] ?? k}: (from flag: ${show(k, flags.given.get(k))}, from file: ${show(k, file.get(k))})`,
        )
        .join(', ');
      throw new ConfigError(
        `unable to configure the Docker daemon with file ${configPath}: the following directives are specified both as a flag and in the configuration file: ${detail}`,
      );
    }
  }
  const target = config as unknown as Record<string, unknown>;
  for (const source of [file ?? new Map<string, unknown>(), flags.given]) {
    for (const [key, value] of source) {
      const d = directives.find((x) => x.key === key) as Directive;
      target[d.field] = value;
    }
  }
  if (config.debug) config.logLevel = 'debug';
  // dockerd: --tlsverify (given either way) implies --tls; --tls alone verifies clients.
  const given = (k: string): boolean => flags.given.has(k) || (file?.has(k) ?? false);
  if (given('tlsverify')) config.tls = true;
  else if (config.tls) config.tlsVerify = true;
  if (config.tls) {
    const certDir = env['DOCKER_CERT_PATH'] || `${env['HOME'] ?? '/root'}/.docker`;
    config.tlsCaCert ??= `${certDir}/ca.pem`;
    config.tlsCert ??= `${certDir}/cert.pem`;
    config.tlsKey ??= `${certDir}/key.pem`;
  }
  if (env['DOCKER_DRIVER']) config.env.DOCKER_DRIVER = env['DOCKER_DRIVER'];
  if (env['DOCKER_TMPDIR']) config.env.DOCKER_TMPDIR = env['DOCKER_TMPDIR'];
  return config;
}

/** Flags, then the config file (if given, or if the default one exists), merged. */
export function loadDaemonConfig(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  readFile: (path: string) => string | null,
): { config: DaemonConfig; help: boolean } {
  const flags = parseDaemonFlags(argv);
  const path = flags.configFile ?? defaultConfigFile;
  const text = readFile(path);
  if (text === null && flags.configFile !== null)
    throw new ConfigError(
      `unable to configure the Docker daemon with file ${path}: open ${path}: no such file or directory`,
    );
  const file = text === null ? null : parseDaemonJson(text, path);
  return { config: mergeDaemonConfig(flags, file, path, env), help: flags.help };
}

export const daemonUsage = `Usage: statedock daemon [OPTIONS]

Runs the daemon: supervises a containerd of its own and serves the Docker Engine API on
unix sockets and TCP. Flags and daemon.json keys are dockerd's; a directive may not be given both ways.

Options:
      --config-file string          daemon configuration file (default "${defaultConfigFile}")
      --containerd string           containerd socket to use instead of starting one
      --containerd-namespace string containerd namespace of statedock's containers (default "statedock")
      --data-root string            root of persisted state (default "/var/lib/statedock")
      --exec-root string            root of run-time state (default "/var/run/statedock")
  -H, --host list                   unix:///path sockets and tcp://host:port addresses to listen on
                                    (default unix:///var/run/statedock.sock)
  -G, --group string                group of the unix sockets (default "docker")
      --tls                         serve TCP with TLS; implied by --tlsverify
      --tlsverify                   TLS, and clients must present a certificate signed by --tlscacert
      --tlscacert string            CA of client certificates (default ~/.docker/ca.pem)
      --tlscert string              the daemon's certificate (default ~/.docker/cert.pem)
      --tlskey string               the daemon's key (default ~/.docker/key.pem)
  -p, --pidfile string              pidfile (default "/var/run/statedock.pid")
  -s, --storage-driver string       overlay2 or vfs (default: overlay2 where it works)
  -b, --bridge string               attach containers to this existing bridge ("none" disables the default bridge)
      --bip string                  the default bridge's address and network, CIDR (not with -b)
      --fixed-cidr string           containers' addresses on the default bridge come from this range
      --default-gateway ip          containers' default route on the default bridge
      --mtu int                     the default bridge's MTU (default: the default route's)
      --icc                         containers on the default bridge reach each other (default true)
      --iptables                    iptables rules, in chains named after this daemon (default true)
      --ip-forward                  enable net.ipv4.ip_forward (default true)
      --ip-masq                     masquerade the default bridge's outbound traffic (default true)
      --userland-proxy              published ports served by an in-daemon proxy (default true)
      --ip ip                       default host address of published ports (default 0.0.0.0)
      --dns list                    containers' DNS servers
      --dns-search list             containers' DNS search domains
      --dns-opt list                containers' resolv.conf options
      --default-address-pool pool   base=<CIDR>,size=<n>: pools networks without a subnet come from
      --userns-remap string         user/group for user-namespace remapping ("default": dockremap)
      --live-restore                keep containers running while the daemon is down
      --oom-score-adjust int        oom_score_adj of the daemon (default 0)
      --max-concurrent-downloads int (default 3)
      --max-concurrent-uploads int   (default 5)
      --max-download-attempts int   download attempts per layer (default 5)
      --registry-mirror list        Docker Hub mirror (http:// or https://), tried before Docker Hub
      --insecure-registry list      registry (host[:port] or CIDR) reached without TLS verification
      --seccomp-profile string      default seccomp profile (JSON)
      --shutdown-timeout int        seconds to wait for containers at shutdown (default 15)
  -l, --log-level string            debug, info, warn, error, fatal (default "info")
  -D, --debug                       debug logging`;

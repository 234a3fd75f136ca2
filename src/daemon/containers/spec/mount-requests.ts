import { InvalidRequest, MalformedRequest } from './errors.ts';
import type { MountRequest } from './request.ts';

/**
 * The mounts a create request asks for, read with Docker's volume-spec rules and messages
 * (volume/mounts linux_parser): `-v` binds and named or anonymous volumes with their modes
 * (ro/rw, z/Z, nocopy, consistency, and bind propagation), `--mount` of the bind, volume and
 * tmpfs types, and `--volumes-from`. Pure: the caller creates volumes and looks at the host.
 */

export type Propagation = 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';

const propagations: readonly Propagation[] = [
  'private',
  'rprivate',
  'shared',
  'rshared',
  'slave',
  'rslave',
];

/** A mount the container wants, before the host is asked (volumes created, bind sources made). */
export type MountWant =
  | {
      type: 'bind';
      source: string;
      destination: string;
      rw: boolean;
      propagation: Propagation;
      nonRecursive: boolean;
      /** `-v` makes a missing source directory; `--mount` requires it to exist. */
      createSource: boolean;
      /** The `-v` mode as given (inspect's Mode). */
      mode: string;
    }
  | {
      type: 'volume';
      /** null: anonymous (a new volume with a random name). */
      name: string | null;
      destination: string;
      rw: boolean;
      labels: Record<string, string> | null;
      mode: string;
    }
  | { type: 'tmpfs'; destination: string; rw: boolean; data: string };

export class MountSpecError extends InvalidRequest {
  override name = 'MountSpecError';
}

const invalidSpec = (raw: string) => `invalid volume specification: '${raw}'`;
const invalidMode = (mode: string) => new MountSpecError(`invalid mode: ${mode}`);
const mountConfig = (type: string, why: string) =>
  new MountSpecError(`invalid mount config for type ${JSON.stringify(type)}: ${why}`);

function cleanPath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join('/')}`;
}

/** The destination checks of every mount: not `/`, absolute. */
function destinationError(target: string): string | null {
  if (target.startsWith('/') && cleanPath(target) === '/')
    return "invalid specification: destination can't be '/'";
  if (!target.startsWith('/')) return `invalid mount path: '${target}' mount path must be absolute`;
  return null;
}

interface ModeParts {
  rw: 'rw' | 'ro' | null;
  label: boolean;
  propagation: Propagation | null;
  noCopy: boolean | null;
}

/** A `-v` mode (`ro,rshared,z` …): each kind at most once, nothing unknown; null when invalid. */
function parseMode(mode: string): ModeParts | null {
  const out: ModeParts = { rw: null, label: false, propagation: null, noCopy: null };
  if (mode === '') return out;
  let consistency = false;
  for (const o of mode.split(',')) {
    if (o === 'rw' || o === 'ro') {
      if (out.rw) return null;
      out.rw = o;
    } else if (o === 'z' || o === 'Z') {
      if (out.label) return null;
      out.label = true;
    } else if ((propagations as readonly string[]).includes(o)) {
      if (out.propagation) return null;
      out.propagation = o as Propagation;
    } else if (o === 'nocopy') {
      if (out.noCopy !== null) return null;
      out.noCopy = true;
    } else if (['consistent', 'cached', 'delegated'].includes(o)) {
      if (consistency) return null;
      consistency = true;
    } else return null;
  }
  return out;
}

/** A malformed `-v` entry (dockerd 20.10 answers these with 500; the mistake is the client's: 400). */
class BindSpecError extends MalformedRequest {
  override name = 'BindSpecError';
}

/** One `-v`/Binds entry: `dst`, `src:dst` or `src:dst:mode`. */
export function parseBind(raw: string, volumeDriver: string): MountWant {
  const parts = raw.split(':');
  if (parts.length > 3 || parts[0] === '') throw new BindSpecError(invalidSpec(raw));
  let source = '';
  let target: string;
  let mode = '';
  if (parts.length === 1) target = parts[0] as string;
  else if (parts.length === 2) {
    // `/dst:ro` is not a volume: a volume cannot have a mode without a source.
    if (parseMode(parts[1] as string)) throw new BindSpecError(invalidSpec(raw));
    [source, target] = parts as [string, string];
  } else [source, target, mode] = parts as [string, string, string];
  const m = parseMode(mode);
  if (!m) throw new BindSpecError(`invalid mode: ${mode}`);
  const isBind = source.startsWith('/');
  const type = isBind ? 'bind' : 'volume';
  const fail = (why: string) =>
    new BindSpecError(`${invalidSpec(raw)}: ${mountConfig(type, why).message}`);
  const dst = destinationError(target);
  if (dst) throw fail(dst);
  if (isBind && m.noCopy !== null) throw fail('field VolumeOptions must not be specified');
  if (!isBind && m.propagation) throw fail('field BindOptions must not be specified');
  if (!isBind && volumeDriver !== '' && volumeDriver !== 'local')
    throw unsupportedDriver(volumeDriver);
  const rw = m.rw !== 'ro';
  if (isBind)
    return {
      type: 'bind',
      source: cleanPath(source),
      destination: cleanPath(target),
      rw,
      propagation: m.propagation ?? 'rprivate',
      nonRecursive: false,
      createSource: true,
      mode,
    };
  if (source === '' && !rw) throw fail('must not set ReadOnly mode when using anonymous volumes');
  return {
    type: 'volume',
    name: source === '' ? null : source,
    destination: cleanPath(target),
    rw,
    labels: null,
    mode,
  };
}

function unsupportedDriver(name: string): InvalidRequest {
  return new InvalidRequest(
    `statedock does not support the volume driver ${JSON.stringify(name)}: only the local driver`,
  );
}

/** `--mount` (HostConfig.Mounts entry), validated as dockerd's ValidateMountConfig. */
export function parseMount(m: MountRequest, sourceExists: (path: string) => boolean): MountWant {
  const fail = (why: string) => mountConfig(m.type, why);
  if (m.target === '') throw fail('field Target must not be empty');
  const dst = destinationError(m.target);
  if (dst) throw fail(dst);
  switch (m.type) {
    case 'bind': {
      if (m.source === '') throw fail('field Source must not be empty');
      const propagation = m.bindOptions?.propagation ?? '';
      if (propagation !== '' && !(propagations as readonly string[]).includes(propagation))
        throw fail(`invalid propagation mode: ${propagation}`);
      if (m.volumeOptions) throw fail('field VolumeOptions must not be specified');
      if (!m.source.startsWith('/'))
        throw fail(`invalid mount path: '${m.source}' mount path must be absolute`);
      if (!sourceExists(m.source)) throw fail(`bind source path does not exist: ${m.source}`);
      return {
        type: 'bind',
        source: cleanPath(m.source),
        destination: cleanPath(m.target),
        rw: !m.readOnly,
        propagation: (propagation || 'rprivate') as Propagation,
        nonRecursive: m.bindOptions?.nonRecursive ?? false,
        createSource: false,
        mode: '',
      };
    }
    case 'volume': {
      if (m.bindOptions) throw fail('field BindOptions must not be specified');
      if (m.source === '' && m.readOnly)
        throw fail('must not set ReadOnly mode when using anonymous volumes');
      const driver = m.volumeOptions?.driverConfig;
      if (driver && driver.name !== '' && driver.name !== 'local')
        throw unsupportedDriver(driver.name);
      if (driver?.options && Object.keys(driver.options).length > 0)
        throw new InvalidRequest(
          'statedock does not support HostConfig.Mounts VolumeOptions.DriverConfig.Options: the local driver takes no options here',
        );
      return {
        type: 'volume',
        name: m.source === '' ? null : m.source,
        destination: cleanPath(m.target),
        rw: !m.readOnly,
        labels: m.volumeOptions?.labels ?? null,
        mode: '',
      };
    }
    case 'tmpfs': {
      if (m.bindOptions) throw fail('field BindOptions must not be specified');
      if (m.source !== '') throw fail('field Source must not be specified');
      return {
        type: 'tmpfs',
        destination: cleanPath(m.target),
        rw: !m.readOnly,
        data: tmpfsData(m.tmpfsOptions, m.readOnly),
      };
    }
    default:
      throw fail('mount type unknown');
  }
}

/** `--mount type=tmpfs` options as tmpfs mount data (ro, mode in octal, size with the largest exact suffix). */
function tmpfsData(o: MountRequest['tmpfsOptions'], readOnly: boolean): string {
  const opts: string[] = [];
  if (readOnly) opts.push('ro');
  if (o && o.mode !== 0) opts.push(`mode=${o.mode.toString(8)}`);
  if (o && o.sizeBytes !== 0) {
    let size = o.sizeBytes;
    let suffix = '';
    for (const [s, d] of [
      ['g', 2 ** 30],
      ['m', 2 ** 20],
      ['k', 2 ** 10],
    ] as const)
      if (size % d === 0) {
        size /= d;
        suffix = s;
        break;
      }
    opts.push(`size=${size}${suffix}`);
  }
  return opts.join(',');
}

/** `--volumes-from name[:ro|rw]`. */
export function parseVolumesFrom(spec: string): { container: string; rw: boolean } {
  if (spec === '') throw new MountSpecError('volumes-from specification cannot be an empty string');
  const at = spec.indexOf(':');
  const container = at < 0 ? spec : spec.slice(0, at);
  const mode = at < 0 ? 'rw' : spec.slice(at + 1);
  const m = parseMode(mode);
  if (!m || m.propagation || m.noCopy !== null) throw invalidMode(mode);
  return { container, rw: m.rw !== 'ro' };
}

/** `--tmpfs /path[:options]` destinations (HostConfig.Tmpfs): absolute, not `/`. */
export function checkTmpfsDestination(dest: string): void {
  const err = destinationError(dest);
  if (err) throw new MountSpecError(err);
}

/** Docker's message when two mounts (or a mount and a tmpfs) share a destination. */
export function duplicateMountPoint(destination: string): InvalidRequest {
  return new MountSpecError(`Duplicate mount point: ${destination}`);
}

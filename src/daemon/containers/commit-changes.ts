import { ApiError } from '../../api/server.ts';
import type { HealthConfig } from '../../../machines/health/config.ts';
import type { ImageRecord } from '../images.ts';
import { parseGoDuration } from '../go-duration.ts';

/**
 * A HEALTHCHECK option's period (`30s`, `1m30s`, `500ms`) in nanoseconds: a Go duration, never
 * negative (a period before now is no period); null when it is neither.
 */
function healthPeriod(text: string): number | null {
  const ns = parseGoDuration(text);
  return ns === null || ns < 0 ? null : ns;
}

function jsonOrShell(arg: string): string[] {
  try {
    const v = JSON.parse(arg) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // the shell form
  }
  return ['/bin/sh', '-c', arg];
}

/** `k=v k2="v 2"` or the legacy `k v`. */
function pairs(arg: string): [string, string][] {
  if (!/^[^\s=]+=/.test(arg)) {
    const m = /^(\S+)\s+(.*)$/.exec(arg);
    return m ? [[m[1] as string, m[2] as string]] : [];
  }
  const out: [string, string][] = [];
  for (const m of arg.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = m[2] as string;
    out.push([m[1] as string, raw.startsWith('"') ? (JSON.parse(raw) as string) : raw]);
  }
  return out;
}

/** HEALTHCHECK's arguments: NONE, or options then CMD …. */
function healthcheck(arg: string): HealthConfig {
  if (/^NONE$/i.test(arg.trim())) return { Test: ['NONE'] };
  const hc: HealthConfig = {};
  let rest = arg.trim();
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    const [whole, key, value] = m as unknown as [string, string, string];
    rest = rest.slice(whole.length);
    if (key === 'retries') hc.Retries = Number(value);
    else {
      const d = healthPeriod(value);
      if (d === null) throw new ApiError(400, `time: invalid duration "${value}"`);
      if (key === 'interval') hc.Interval = d;
      else if (key === 'timeout') hc.Timeout = d;
      else if (key === 'start-period') hc.StartPeriod = d;
      else throw new ApiError(400, `Unknown flag: ${key}`);
    }
  }
  const cmd = /^CMD\s+(.*)$/is.exec(rest);
  if (!cmd) throw new ApiError(400, 'Unknown type "" in HEALTHCHECK (try CMD)');
  const args = jsonOrShell(cmd[1] as string);
  hc.Test =
    args[0] === '/bin/sh' && args[1] === '-c' && args.length === 3
      ? ['CMD-SHELL', args[2] as string]
      : ['CMD', ...args];
  return hc;
}

/**
 * `docker commit --change` (and `import --change`) lines applied to an image config, as
 * dockerd's BuildFromConfig allows them: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL,
 * ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR; anything else is refused with its words.
 */
export function applyChanges(
  config: ImageRecord['config'],
  changes: string[],
): ImageRecord['config'] {
  const c: ImageRecord['config'] = { ...config, Env: [...config.Env] };
  for (const line of changes) {
    const m = /^\s*(\S+)\s*(.*)$/s.exec(line);
    if (!m) continue;
    const verb = (m[1] as string).toUpperCase();
    const arg = (m[2] as string).trim();
    switch (verb) {
      case 'CMD':
        c.Cmd = jsonOrShell(arg);
        break;
      case 'ENTRYPOINT':
        c.Entrypoint = jsonOrShell(arg);
        break;
      case 'ENV':
        for (const [k, v] of pairs(arg)) {
          c.Env = c.Env.filter((e) => !e.startsWith(`${k}=`));
          c.Env.push(`${k}=${v}`);
        }
        break;
      case 'LABEL':
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(pairs(arg)) };
        break;
      case 'EXPOSE': {
        const ports = arg.startsWith('[') ? jsonOrShell(arg) : arg.split(/\s+/);
        c.ExposedPorts = {
          ...(c.ExposedPorts ?? {}),
          ...Object.fromEntries(ports.map((p) => [p.includes('/') ? p : `${p}/tcp`, {}])),
        };
        break;
      }
      case 'VOLUME': {
        const list = arg.startsWith('[') ? jsonOrShell(arg) : arg.split(/\s+/);
        c.Volumes = { ...(c.Volumes ?? {}), ...Object.fromEntries(list.map((v) => [v, {}])) };
        break;
      }
      case 'WORKDIR':
        c.WorkingDir = arg.startsWith('/')
          ? arg
          : `${c.WorkingDir.replace(/\/$/, '') || ''}/${arg}`;
        break;
      case 'USER':
        c.User = arg;
        break;
      case 'STOPSIGNAL':
        c.StopSignal = arg;
        break;
      case 'ONBUILD':
        c.OnBuild = [...(c.OnBuild ?? []), arg];
        break;
      case 'HEALTHCHECK':
        c.Healthcheck = healthcheck(arg);
        break;
      default:
        throw new ApiError(400, `${verb.toLowerCase()} is not a valid change command`);
    }
  }
  return c;
}

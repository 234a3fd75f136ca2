import { InvalidRequest } from './errors.ts';
/** HostConfig.SecurityOpt, read as dockerd's parseSecurityOpt reads it. */
export interface SecurityOptions {
  noNewPrivileges: boolean;
  /** `default` (Docker's profile, or the daemon's --seccomp-profile), `unconfined`, or a profile's JSON. */
  seccomp: { kind: 'default' } | { kind: 'unconfined' } | { kind: 'profile'; json: string };
  /** An AppArmor profile asked for, or null. */
  appArmor: string | null;
  /** `label=…` options (SELinux). */
  labels: string[];
}

/** A SecurityOpt the daemon refuses (Docker's words, or statedock's when the host lacks the feature). */
export class SecurityOptError extends InvalidRequest {
  override name = 'SecurityOptError';
}

/** Go's strconv.ParseBool. */
function parseBool(v: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return null;
}

/**
 * Parses SecurityOpt: `no-new-privileges[=bool]`, `seccomp=unconfined|builtin|<JSON>`,
 * `apparmor=<profile>`, `label=<opt>` (also the deprecated `key:value` form), each refused with
 * Docker's message when malformed. What the host cannot do is checked by `checkSecurityHost`.
 */
export function parseSecurityOpt(list: readonly string[]): SecurityOptions {
  const out: SecurityOptions = {
    noNewPrivileges: false,
    seccomp: { kind: 'default' },
    appArmor: null,
    labels: [],
  };
  for (const opt of list) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    if (opt === 'disable') {
      out.labels.push('disable');
      continue;
    }
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : null;
    if (sep === null)
      throw new SecurityOptError(`invalid --security-opt 1: ${JSON.stringify(opt)}`);
    const at = opt.indexOf(sep);
    const key = opt.slice(0, at);
    const value = opt.slice(at + 1);
    switch (key) {
      case 'label':
        out.labels.push(value);
        break;
      case 'apparmor':
        out.appArmor = value;
        break;
      case 'seccomp':
        out.seccomp =
          value === 'unconfined'
            ? { kind: 'unconfined' }
            : value === 'builtin'
              ? { kind: 'default' }
              : { kind: 'profile', json: value };
        break;
      case 'no-new-privileges': {
        const b = parseBool(value);
        if (b === null)
          throw new SecurityOptError(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
        out.noNewPrivileges = b;
        break;
      }
      default:
        throw new SecurityOptError(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    }
  }
  return out;
}

/**
 * What the host must have for the options asked: an AppArmor profile needs AppArmor (only
 * `unconfined` means nothing to apply); SELinux labels other than `disable` are not supported.
 */
export function checkSecurityHost(o: SecurityOptions, host: { appArmor: boolean }): void {
  if (o.appArmor !== null && o.appArmor !== 'unconfined' && !host.appArmor)
    throw new SecurityOptError(
      `statedock does not support SecurityOpt apparmor=${o.appArmor} on this host: AppArmor is not enabled in the kernel`,
    );
  const label = o.labels.find((l) => l !== 'disable');
  if (label !== undefined)
    throw new SecurityOptError(
      `statedock does not support SecurityOpt label=${label}: SELinux labels are not supported (only label=disable)`,
    );
}

import { InvalidRequest } from './errors.ts';
import {
  alwaysAllowed,
  architecturesOf,
  conditionalRules,
  defaultErrno,
  type ArgCondition,
  type RuleCondition,
} from './seccomp-profile.ts';

/** The OCI runtime spec's `linux.seccomp`. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciSyscall[];
}

export interface OciSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}

/** What a profile's conditions are judged against: the container and the host. */
export interface SeccompTarget {
  /** The container's bounding capabilities (after CapAdd/CapDrop). */
  capabilities: readonly string[];
  /** libseccomp's name of the host's architecture (amd64, arm64 …). */
  arch: string;
  /** The host kernel's release (`uname -r`). */
  kernel: string;
}

/** A profile the daemon cannot use, with Docker's words. */
export class SeccompProfileError extends InvalidRequest {
  override name = 'SeccompProfileError';
}

const opName: Record<ArgCondition['op'], string> = {
  eq: 'SCMP_CMP_EQ',
  lt: 'SCMP_CMP_LT',
  gt: 'SCMP_CMP_GT',
  maskedEq: 'SCMP_CMP_MASKED_EQ',
};

/** `a.b` ≤ the host's kernel release (distro suffixes and minor revisions ignored, as Docker does). */
function kernelAtLeast(release: string, wanted: string): boolean {
  const [k = 0, m = 0] = release.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  const [wk = 0, wm = 0] = wanted.split('.').map((p) => Number.parseInt(p, 10) || 0);
  return k > wk || (k === wk && m >= wm);
}

/** Whether a rule's `when` holds: every capability present, the arch listed, the kernel new enough. */
function holds(c: RuleCondition | undefined, t: SeccompTarget): boolean {
  if (!c) return true;
  if (c.arches && c.arches.length > 0 && !c.arches.includes(t.arch)) return false;
  if (c.caps && !c.caps.every((cap) => t.capabilities.includes(cap))) return false;
  if (c.minKernel && !kernelAtLeast(t.kernel, c.minKernel)) return false;
  return true;
}

/** Whether a rule's `unless` rules it out: any capability present, the arch listed, or the kernel new enough. */
function excluded(c: RuleCondition | undefined, t: SeccompTarget): boolean {
  if (!c) return false;
  if (c.arches?.includes(t.arch)) return true;
  if (c.caps?.some((cap) => t.capabilities.includes(cap))) return true;
  if (c.minKernel && kernelAtLeast(t.kernel, c.minKernel)) return true;
  return false;
}

/**
 * Docker's default profile for one container: deny by default (EPERM), the always-allowed
 * syscalls, then each conditional rule that holds for its capabilities and the host.
 */
export function defaultSeccomp(t: SeccompTarget): OciSeccomp {
  const syscalls: OciSyscall[] = [{ names: [...alwaysAllowed], action: 'SCMP_ACT_ALLOW' }];
  for (const rule of conditionalRules) {
    if (excluded(rule.unless, t) || !holds(rule.when, t)) continue;
    syscalls.push({
      names: [...rule.names],
      action: rule.errno === undefined ? 'SCMP_ACT_ALLOW' : 'SCMP_ACT_ERRNO',
      ...(rule.errno === undefined ? {} : { errnoRet: rule.errno }),
      ...(rule.args
        ? {
            args: rule.args.map((a) => ({
              index: a.index,
              value: a.value,
              ...(a.valueTwo === undefined ? {} : { valueTwo: a.valueTwo }),
              op: opName[a.op],
            })),
          }
        : {}),
    });
  }
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: defaultErrno,
    architectures: [...(architecturesOf[t.arch] ?? [])],
    syscalls,
  };
}

/** A filter of Docker's profile format (`includes` / `excludes`). */
interface ProfileFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

interface ProfileSyscall {
  name?: string;
  names?: string[];
  action?: string;
  errnoRet?: number;
  args?: OciSyscall['args'];
  includes?: ProfileFilter;
  excludes?: ProfileFilter;
}

interface Profile {
  defaultAction?: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] | null }[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: ProfileSyscall[];
}

const nativeArchOfSeccomp: Record<string, string> = Object.fromEntries(
  Object.entries(architecturesOf).flatMap(([native, arches]) =>
    arches[0] === undefined ? [] : [[arches[0], native] as const],
  ),
);

function kernelVersionOf(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !/^\d+\.\d+$/.test(v) || /^0+\.0+$/.test(v))
    throw new SeccompProfileError(
      `invalid kernel version: ${JSON.stringify(v)}, expected "<kernel>.<major>"`,
    );
  return v;
}

function filterOf(f: ProfileFilter | undefined): RuleCondition | undefined {
  if (!f) return undefined;
  const minKernel = kernelVersionOf(f.minKernel);
  return {
    ...(f.caps ? { caps: f.caps } : {}),
    ...(f.arches ? { arches: f.arches } : {}),
    ...(minKernel ? { minKernel } : {}),
  };
}

/**
 * A profile in Docker's format (`--security-opt seccomp=<file>`, whose JSON the CLI sends, or
 * the daemon's `--seccomp-profile`), for one container: `archMap` narrowed to the host's
 * architecture, each syscall rule kept when its `includes` hold and its `excludes` do not.
 * Null when the profile names neither a default action nor a syscall (no filter, as Docker).
 */
export function seccompFromProfile(json: string, t: SeccompTarget): OciSeccomp | null {
  let p: Profile;
  try {
    p = JSON.parse(json) as Profile;
  } catch (err) {
    throw new SeccompProfileError(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
  if (typeof p !== 'object' || p === null || Array.isArray(p))
    throw new SeccompProfileError('Decoding seccomp profile failed: not a JSON object');
  const rules = p.syscalls ?? [];
  if (!p.defaultAction && rules.length === 0) return null;
  if ((p.architectures ?? []).length > 0 && (p.archMap ?? []).length > 0)
    throw new SeccompProfileError(
      "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'",
    );
  const architectures = [...(p.architectures ?? [])];
  for (const a of p.archMap ?? [])
    if (nativeArchOfSeccomp[a.architecture] === t.arch) {
      architectures.push(a.architecture, ...(a.subArchitectures ?? []));
      break;
    }
  const syscalls: OciSyscall[] = [];
  for (const rule of rules) {
    if (rule.name && rule.names && rule.names.length > 0)
      throw new SeccompProfileError(
        "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'",
      );
    if (excluded(filterOf(rule.excludes), t) || !holds(filterOf(rule.includes), t)) continue;
    syscalls.push({
      names: rule.name ? [rule.name] : [...(rule.names ?? [])],
      action: rule.action ?? '',
      ...(rule.errnoRet === undefined ? {} : { errnoRet: rule.errnoRet }),
      ...(rule.args && rule.args.length > 0 ? { args: rule.args } : {}),
    });
  }
  return {
    defaultAction: p.defaultAction ?? '',
    ...(p.defaultErrnoRet === undefined ? {} : { defaultErrnoRet: p.defaultErrnoRet }),
    ...(architectures.length > 0 ? { architectures } : {}),
    ...(p.flags && p.flags.length > 0 ? { flags: p.flags } : {}),
    ...(p.listenerPath ? { listenerPath: p.listenerPath } : {}),
    ...(p.listenerMetadata ? { listenerMetadata: p.listenerMetadata } : {}),
    syscalls,
  };
}

import { readFileSync } from 'node:fs';

/** Linux capability names by number (linux/capability.h), for a privileged exec's full set. */
const capabilityNames = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
];

/**
 * Every capability the daemon can give (dockerd's GetAllCapabilities for --privileged): the
 * kernel's, less those outside the daemon's own bounding set (a sandboxed host drops some,
 * and runc cannot grant what it does not have).
 */
export function allCapabilities(): string[] {
  let last = capabilityNames.length - 1;
  let bounding = (1n << 64n) - 1n;
  try {
    last = Math.min(last, Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim()));
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) bounding = BigInt(`0x${m[1] as string}`);
  } catch {
    // no /proc: the names known here
  }
  return capabilityNames
    .slice(0, last + 1)
    .filter((_, i) => (bounding >> BigInt(i)) & 1n)
    .map((n) => `CAP_${n}`);
}

/** dockerd's ReplaceOrAppendEnvValues: a later NAME=value replaces an earlier NAME. */
export function mergeEnv(base: string[], over: string[]): string[] {
  const out = [...base];
  for (const kv of over) {
    const name = kv.includes('=') ? kv.slice(0, kv.indexOf('=')) : kv;
    const i = out.findIndex((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e) === name);
    if (!kv.includes('=')) {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = kv;
    else out.push(kv);
  }
  return out;
}

const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ExecProcessInput {
  /** The container's OCI spec (its process is the base: capabilities, rlimits, env). */
  spec: unknown;
  hostname: string;
  args: string[];
  env: string[];
  workingDir: string;
  user: { uid: number; gid: number; additionalGids?: number[] } | null;
  tty: boolean;
  privileged: boolean;
  consoleSize: [number, number] | null;
}

/**
 * The OCI process of an exec, as dockerd builds it (daemon/exec.go, exec_linux.go): the
 * container's process with the exec's command, its environment (the container's, PATH,
 * HOSTNAME, TERM=xterm with a terminal, then the exec's own), working directory and user;
 * `--privileged` gets every capability.
 */
export function execProcess(p: ExecProcessInput): Record<string, unknown> {
  const base = (p.spec as { process?: Record<string, unknown> } | null)?.process ?? {};
  const containerEnv = (base['env'] as string[] | undefined) ?? [];
  const daemonEnv = [
    ...(containerEnv.some((e) => e.startsWith('PATH=')) ? [] : [defaultPath]),
    `HOSTNAME=${p.hostname}`,
    ...(p.tty ? ['TERM=xterm'] : []),
  ];
  const caps = p.privileged ? allCapabilities() : null;
  return {
    ...base,
    terminal: p.tty,
    ...(p.tty && p.consoleSize !== null && p.consoleSize[0] > 0 && p.consoleSize[1] > 0
      ? { consoleSize: { height: p.consoleSize[0], width: p.consoleSize[1] } }
      : {}),
    args: p.args,
    env: mergeEnv(mergeEnv(containerEnv, daemonEnv), p.env),
    cwd: p.workingDir === '' ? (base['cwd'] ?? '/') : p.workingDir,
    user: p.user ?? base['user'] ?? { uid: 0, gid: 0 },
    ...(caps
      ? {
          capabilities: {
            bounding: caps,
            effective: caps,
            permitted: caps,
            inheritable: caps,
          },
        }
      : {}),
  };
}

/**
 * `-u name|uid[:group|gid]` looked up in the container's own /etc/passwd and /etc/group (its
 * root as it is now); Docker's words when it is not there.
 */
export function lookupUser(
  spec: string,
  root: string,
): { uid: number; gid: number } | { error: string } {
  const [u = '', g] = spec.split(':');
  const lookup = (file: string, name: string): number | null => {
    try {
      const line = readFileSync(`${root}/etc/${file}`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${name}:`));
      return line ? Number(line.split(':')[2]) : null;
    } catch {
      return null;
    }
  };
  const uid = /^\d+$/.test(u) ? Number(u) : lookup('passwd', u);
  if (uid === null)
    return { error: `unable to find user ${u}: no matching entries in passwd file` };
  const passwdGid = (): number => {
    try {
      const line = readFileSync(`${root}/etc/passwd`, 'utf8')
        .split('\n')
        .find((l) => l.split(':')[2] === String(uid));
      return line ? Number(line.split(':')[3]) : uid;
    } catch {
      return uid;
    }
  };
  const gid = g === undefined ? passwdGid() : /^\d+$/.test(g) ? Number(g) : lookup('group', g);
  if (gid === null)
    return { error: `unable to find group ${g ?? ''}: no matching entries in group file` };
  return { uid, gid };
}

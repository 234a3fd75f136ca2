import { chmodSync, chownSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';

/**
 * Where the Engine API listens, as dockerd's `-H` and listeners.Init: unix sockets (mode 0660,
 * group `docker` when it exists, or `--group`) and TCP, with TLS when configured.
 */

/** The TLS material and policy of TCP listeners (`--tls`, `--tlsverify`, `--tlscacert`, …). */
export interface ApiTls {
  cert: Buffer;
  key: Buffer;
  /** Client certificates must be signed by this CA (`--tlsverify`); null: any client may connect. */
  ca: Buffer | null;
}

/** A parsed `-H` value: a unix socket path, or a TCP address. */
export type ListenAddress =
  { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** `/path` is a unix socket; `tcp://host:port` a TCP listener (hosts are kept as these strings). */
export function parseListenAddress(host: string): ListenAddress {
  const m = /^tcp:\/\/(?:\[([^\]]+)\]|([^:/]*)):(\d+)$/.exec(host);
  if (m) return { kind: 'tcp', host: m[1] ?? m[2] ?? '', port: Number(m[3]) };
  return { kind: 'unix', path: host };
}

/** dockerd's `lookupGID`: a group name of /etc/group, or a number. */
export function lookupGid(group: string, groupFile = '/etc/group'): number | null {
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    // no group file: only a number can name a group
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return /^\d+$/.test(group) ? Number(group) : null;
}

/**
 * A socket file nobody answers on is stale and removed; one that answers belongs to another
 * daemon (dockerd refuses as well).
 */
export async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live)
    throw Object.assign(new Error(`address already in use: ${path}: another daemon is listening`), {
      code: 'EBUSY',
    });
  rmSync(path, { force: true });
}

/**
 * Sets a new unix socket's owner and mode as dockerd's sockets.NewUnixSocket: root and the
 * socket group, 0660. The default group (`docker`) missing is a warning; a group asked for
 * with `--group` that does not exist is an error, as in dockerd.
 */
export function secureUnixSocket(
  path: string,
  group: string,
  warn: (message: string) => void,
): void {
  let gid = process.getgid?.() ?? 0;
  if (group !== '') {
    const found = lookupGid(group);
    if (found === null) {
      if (group !== defaultSocketGroup)
        throw Object.assign(new Error(`failed to load listeners: group ${group} not found`), {
          code: 'EINVAL',
        });
      warn(`could not change group ${path} to ${defaultSocketGroup}: group ${group} not found`);
    } else gid = found;
  }
  chownSync(path, process.getuid?.() ?? 0, gid);
  chmodSync(path, 0o660);
}

export const defaultSocketGroup = 'docker';

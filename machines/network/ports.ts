import type { PortMapping } from './model.ts';

/**
 * Published ports: the create request's PortBindings and ExposedPorts read with Docker's
 * errors (docker/go-connections nat), and the host ports they get (libnetwork portallocator:
 * the dynamic range, next-fit from the last port given).
 */

export interface PortKey {
  port: number;
  proto: 'tcp' | 'udp' | 'sctp';
}

/** `80`, `80/tcp`, `53/udp` → port and protocol; null when not a port. */
export function parsePortKey(key: string): PortKey | null {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
  if (!m) return null;
  const port = Number(m[1]);
  if (port < 1 || port > 65535) return null;
  return { port, proto: (m[2] ?? 'tcp') as PortKey['proto'] };
}

export function portKeyText(k: PortKey): string {
  return `${k.port}/${k.proto}`;
}

/** A host port as requested: `""` (any), `8080`, or a range `8080-8090` (the first free one). */
export function parseHostPort(text: string): { from: number; to: number } | null | 'any' {
  if (text === '' || text === '0') return 'any';
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) return null;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || to < from) return null;
  return { from, to };
}

/** One binding to make: the container port, and what the client asked of the host side. */
export interface BindingWish {
  proto: PortKey['proto'];
  containerPort: number;
  hostIp: string;
  /** null: any free port of the dynamic range. */
  hostPorts: { from: number; to: number } | null;
}

/**
 * What to publish: every explicit binding, and with PublishAllPorts each exposed port that has
 * none, on a free port. An explicit binding without host IP binds to `defaultIp` (`--ip`).
 */
export function bindingWishes(
  portBindings: Record<string, { hostIp: string; hostPort: string }[]>,
  exposed: readonly string[],
  publishAll: boolean,
  defaultIp: string,
): BindingWish[] | { error: string } {
  const out: BindingWish[] = [];
  for (const [key, list] of Object.entries(portBindings)) {
    const k = parsePortKey(key);
    if (!k) return { error: `invalid port specification: "${key}"` };
    for (const b of list.length > 0 ? list : [{ hostIp: '', hostPort: '' }]) {
      const hp = parseHostPort(b.hostPort);
      if (hp === null) return { error: `invalid port specification: "${b.hostPort}"` };
      out.push({
        proto: k.proto,
        containerPort: k.port,
        hostIp: b.hostIp === '' ? defaultIp : b.hostIp,
        hostPorts: hp === 'any' ? null : hp,
      });
    }
  }
  if (publishAll)
    for (const key of exposed) {
      if (key in portBindings) continue;
      const k = parsePortKey(key);
      if (!k) continue;
      out.push({ proto: k.proto, containerPort: k.port, hostIp: defaultIp, hostPorts: null });
    }
  return out;
}

/** Ports given out, per protocol and host address (`0.0.0.0` conflicts with every address). */
export interface PortTable {
  /** `tcp 0.0.0.0 8080` → true */
  used: Record<string, true>;
  /** The last dynamic port given, per protocol (next-fit). */
  lastDynamic: Record<string, number>;
}

export function emptyPortTable(): PortTable {
  return { used: {}, lastDynamic: {} };
}

const keyOf = (proto: string, ip: string, port: number): string => `${proto} ${ip} ${port}`;

function isFree(t: PortTable, proto: string, ip: string, port: number): boolean {
  if (t.used[keyOf(proto, ip, port)]) return false;
  const any = ip === '0.0.0.0' || ip === '::';
  if (any)
    return !Object.keys(t.used).some((k) => k.startsWith(`${proto} `) && k.endsWith(` ${port}`));
  return !t.used[keyOf(proto, '0.0.0.0', port)] && !t.used[keyOf(proto, '::', port)];
}

export function reservePort(t: PortTable, m: PortMapping): void {
  t.used[keyOf(m.proto, m.hostIp, m.hostPort)] = true;
}

export function releasePort(t: PortTable, m: PortMapping): void {
  delete t.used[keyOf(m.proto, m.hostIp, m.hostPort)];
}

/**
 * Host ports for the wishes, reserved in `t` (which the caller owns: a failure reserves nothing).
 * With the default host IP `0.0.0.0` a second binding on `::` gets the same port, as dockerd's.
 */
export function allocatePorts(
  t: PortTable,
  wishes: readonly BindingWish[],
  dynamic: [number, number],
  ipv6: boolean,
): PortMapping[] | { error: string } {
  const given: PortMapping[] = [];
  const undo = (): void => given.forEach((m) => releasePort(t, m));
  for (const w of wishes) {
    let port: number | null = null;
    if (w.hostPorts === null) {
      const [lo, hi] = dynamic;
      const span = hi - lo + 1;
      const start = (t.lastDynamic[w.proto] ?? lo - 1) + 1 - lo;
      for (let k = 0; k < span; k++) {
        const p = lo + ((start + k) % span);
        if (isFree(t, w.proto, w.hostIp, p)) {
          port = p;
          break;
        }
      }
      if (port === null) {
        undo();
        return { error: 'all ports are allocated' };
      }
      t.lastDynamic[w.proto] = port;
    } else {
      for (let p = w.hostPorts.from; p <= w.hostPorts.to; p++)
        if (isFree(t, w.proto, w.hostIp, p)) {
          port = p;
          break;
        }
      if (port === null) {
        undo();
        return {
          error: `Bind for ${w.hostIp}:${w.hostPorts.from} failed: port is already allocated`,
        };
      }
    }
    const m: PortMapping = {
      proto: w.proto,
      containerPort: w.containerPort,
      hostIp: w.hostIp,
      hostPort: port,
    };
    reservePort(t, m);
    given.push(m);
    if (w.hostIp === '0.0.0.0' && ipv6) {
      const six: PortMapping = { ...m, hostIp: '::' };
      reservePort(t, six);
      given.push(six);
    }
  }
  return given;
}

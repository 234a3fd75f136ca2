import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ProxySpec } from './requests.ts';

/**
 * The userland proxy of a published port (dockerd's docker-proxy, run in the daemon's own
 * process): it binds the host port itself (so a port a host process holds is refused at once),
 * and forwards to the container. TCP: one connection to the container per client, half-closes
 * passed on. UDP: one socket to the container per client address, dropped after 90 s idle
 * (docker-proxy's UDPConnTrackTimeout). A client that resets or stalls costs only its own pair.
 */
export interface RunningProxy {
  close(): Promise<void>;
}

const udpIdleMs = 90_000;

/** Go's words for a failed listen: `listen tcp4 0.0.0.0:8080: bind: address already in use`. */
export function listenErrorText(spec: ProxySpec, err: NodeJS.ErrnoException): string {
  const six = spec.hostIp.includes(':');
  const family = `${spec.proto}${six ? '6' : '4'}`;
  const where = six ? `[${spec.hostIp}]:${spec.hostPort}` : `${spec.hostIp}:${spec.hostPort}`;
  const why =
    err.code === 'EADDRINUSE'
      ? 'bind: address already in use'
      : err.code === 'EADDRNOTAVAIL'
        ? 'bind: cannot assign requested address'
        : err.code === 'EACCES'
          ? 'bind: permission denied'
          : err.message;
  return `listen ${family} ${where}: ${why}`;
}

export function startTcpProxy(spec: ProxySpec): Promise<RunningProxy> {
  const open = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({
      host: spec.containerIp,
      port: spec.containerPort,
      allowHalfOpen: true,
    });
    open.add(client);
    open.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(
      { host: spec.hostIp, port: spec.hostPort, ipv6Only: spec.hostIp.includes(':') },
      () => {
        server.removeListener('error', reject);
        server.on('error', () => undefined);
        resolve({
          close: () =>
            new Promise<void>((done) => {
              for (const s of open) s.destroy();
              server.close(() => done());
            }),
        });
      },
    );
  });
}

export function startUdpProxy(spec: ProxySpec): Promise<RunningProxy> {
  const six = spec.hostIp.includes(':');
  const front: UdpSocket = createSocket({ type: six ? 'udp6' : 'udp4', ipv6Only: six });
  const flows = new Map<string, { socket: UdpSocket; timer: NodeJS.Timeout }>();
  const forget = (key: string): void => {
    const f = flows.get(key);
    if (!f) return;
    clearTimeout(f.timer);
    f.socket.close();
    flows.delete(key);
  };
  front.on('message', (msg: Buffer, from: RemoteInfo) => {
    const key = `${from.address}:${from.port}`;
    let f = flows.get(key);
    if (!f) {
      const socket = createSocket('udp4');
      socket.on('error', () => forget(key));
      socket.on('message', (reply: Buffer) => {
        front.send(reply, from.port, from.address);
        const g = flows.get(key);
        if (g) g.timer.refresh();
      });
      f = { socket, timer: setTimeout(() => forget(key), udpIdleMs).unref() };
      flows.set(key, f);
    }
    f.timer.refresh();
    f.socket.send(msg, spec.containerPort, spec.containerIp);
  });
  return new Promise((resolve, reject) => {
    front.once('error', reject);
    front.bind({ address: spec.hostIp, port: spec.hostPort }, () => {
      front.removeListener('error', reject);
      front.on('error', () => undefined);
      resolve({
        close: () =>
          new Promise<void>((done) => {
            for (const key of [...flows.keys()]) forget(key);
            front.close(() => done());
          }),
      });
    });
  });
}

import { connect } from 'node:net';

/**
 * Whether containerd serves on `address`: a connection to its gRPC socket is accepted.
 * containerd creates that socket only once every plugin has loaded, right before it serves
 * gRPC on it (its ttrpc socket comes first), so an accepted connection means its services
 * answer; a socket file left by a dead containerd refuses. The probe needs nothing but a
 * unix socket, so it costs the daemon no HTTP/2 or gRPC client while containerd boots; the
 * client's first call (Version, in `containerd.connect`) follows.
 */
export function acceptsConnections(address: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(address);
    const timer = setTimeout(
      () => socket.destroy(new Error(`no connection to ${address} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    socket.once('connect', () => finish());
    socket.once('error', (err) => finish(err));
  });
}

import { connect, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

/**
 * A unix-socket relay between the stock docker CLI and the daemon that notes what the
 * daemon acknowledged and what the client asked: a create answered 201 (with its ID),
 * and every start, stop and removal request. The crash campaign reads it to know which
 * creates must survive a crash (moby's "every acknowledged create is durable").
 */
export interface TapLog {
  /** Name given at create (`?name=`) → ID from the 201 answer. */
  created: Map<string, string>;
  /** Container references (name or ID, as sent) with a start, stop or removal request. */
  started: Set<string>;
  stopped: Set<string>;
  removed: Set<string>;
  /** Requests seen so far (each method and path). */
  requests: number;
}

export class ApiTap {
  readonly path: string;
  readonly log: TapLog = {
    created: new Map(),
    started: new Set(),
    stopped: new Set(),
    removed: new Set(),
    requests: 0,
  };
  private readonly upstream: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private waiters: ((request: string) => boolean)[] = [];

  constructor(path: string, upstream: string) {
    this.path = path;
    this.upstream = upstream;
    this.server = createServer((client) => this.relay(client));
  }

  listen(): Promise<void> {
    rmSync(this.path, { force: true });
    return new Promise((resolve) => this.server.listen(this.path, resolve));
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Resolves true at the next request whose `METHOD /path` matches (any request without `match`), false after `ms`. */
  nextRequest(ms: number, match?: RegExp): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, ms);
      const waiter = (request: string): boolean => {
        if (match && !match.test(request)) return false;
        clearTimeout(t);
        resolve(true);
        return true;
      };
      this.waiters.push(waiter);
    });
  }

  private relay(client: Socket): void {
    const daemon = connect(this.upstream);
    this.sockets.add(client).add(daemon);
    // Names of creates sent on this connection, answered in order (HTTP/1.1 keeps requests in order).
    const creates: string[] = [];
    let reqBuf = '';
    let resBuf = '';
    client.on('data', (chunk: Buffer) => {
      reqBuf = (reqBuf + chunk.toString('latin1')).slice(-8192);
      for (;;) {
        const m = /(GET|HEAD|POST|DELETE|PUT) (\/[^ ]*) HTTP\/1\.1\r\n/.exec(reqBuf);
        if (!m) break;
        reqBuf = reqBuf.slice(m.index + m[0].length);
        this.note(m[1] as string, m[2] as string, creates);
      }
      daemon.write(chunk);
    });
    daemon.on('data', (chunk: Buffer) => {
      resBuf = (resBuf + chunk.toString('latin1')).slice(-8192);
      // Only a create answers 201 here; its body starts with the ID (after a chunk size when chunked).
      for (;;) {
        const m = /HTTP\/1\.1 (\d{3}) [^\r]*\r\n/.exec(resBuf);
        if (!m) break;
        const headersEnd = resBuf.indexOf('\r\n\r\n', m.index);
        if (headersEnd < 0) break;
        const body = resBuf.slice(headersEnd + 4);
        if (m[1] === '201') {
          const id = /^(?:[0-9a-f]+\r\n)?\{"Id":"([0-9a-f]{64})"/.exec(body);
          if (!id && body.length < 90) break;
          const name = creates.shift();
          if (id && name !== undefined) this.log.created.set(name, id[1] as string);
        }
        resBuf = body;
      }
      client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      daemon.destroy();
      this.sockets.delete(client);
      this.sockets.delete(daemon);
    };
    client.on('error', end).on('close', end);
    daemon.on('error', end).on('close', end);
  }

  private note(method: string, path: string, creates: string[]): void {
    this.log.requests += 1;
    this.waiters = this.waiters.filter((w) => !w(`${method} ${path}`));
    const url = new URL(path, 'http://x');
    const p = url.pathname.replace(/^\/v[\d.]+/, '');
    if (method === 'POST' && p === '/containers/create') {
      creates.push(url.searchParams.get('name') ?? '');
      return;
    }
    const m = /^\/containers\/([^/]+)(\/[a-z]+)?$/.exec(p);
    if (!m) return;
    const ref = decodeURIComponent(m[1] as string);
    if (method === 'DELETE' && m[2] === undefined) this.log.removed.add(ref);
    else if (method === 'POST' && (m[2] === '/start' || m[2] === '/restart'))
      this.log.started.add(ref);
    else if (method === 'POST' && m[2] === '/stop') this.log.stopped.add(ref);
  }
}

import { chmodSync, existsSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * The Docker Engine API over unix sockets: version prefixes, Docker's headers and error
 * shapes (api-captures/ 95–102), a route table others add endpoints to.
 */

export const apiVersion = '1.41';
export const minApiVersion = '1.12';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The version of the path prefix, or the current one for unversioned paths. */
  apiVersion: string;
  json(status: number, body: unknown): void;
  noContent(status?: number): void;
  error(status: number, message: string): void;
  body(): Promise<Buffer>;
}

export interface Route {
  method: string;
  /** e.g. `/containers/{name}/start` */
  pattern: string;
  handler(ctx: RouteContext): void | Promise<void>;
  /** For `Connection: Upgrade` / `Upgrade: tcp` requests (attach, exec start): the raw socket is the handler's. */
  hijack?(ctx: HijackContext): void | Promise<void>;
}

export interface HijackContext {
  req: IncomingMessage;
  socket: Duplex;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The upgrade request's own body (exec start's options), read before the stream began. */
  body: Buffer;
}

/** An error an endpoint throws to answer with Docker's status and message. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function compare(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number) as [number, number];
  const [bm, bn] = b.split('.').map(Number) as [number, number];
  return am !== bm ? am - bm : an - bn;
}

interface Compiled {
  route: Route;
  parts: string[];
}

export interface ApiServerOptions {
  serverHeader: string;
  log?: (line: string) => void;
}

export class ApiServer {
  private readonly routes: Compiled[] = [];
  private readonly servers: { path: string; server: Server; sockets: Set<Duplex> }[] = [];
  private readonly serverHeader: string;
  private readonly log: (line: string) => void;
  /** Requests wait for this (the daemon's restore finishing) before they are handled, as dockerd serves only after NewDaemon. */
  gate: Promise<void> = Promise.resolve();

  constructor(opts: ApiServerOptions) {
    this.serverHeader = opts.serverHeader;
    this.log = opts.log ?? (() => undefined);
  }

  add(route: Route): void {
    this.routes.push({ route, parts: route.pattern.split('/').filter(Boolean) });
  }

  private match(
    method: string,
    path: string,
  ): { route: Route; params: Record<string, string> } | null {
    const segs = path.split('/').filter(Boolean);
    for (const c of this.routes) {
      if (c.route.method !== method || c.parts.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segs.length; i++) {
        const p = c.parts[i] as string;
        const s = decodeURIComponent(segs[i] as string);
        if (p.startsWith('{') && p.endsWith('}')) params[p.slice(1, -1)] = s;
        else if (p !== s) {
          ok = false;
          break;
        }
      }
      if (ok) return { route: c.route, params };
    }
    return null;
  }

  private common(res: ServerResponse): void {
    res.setHeader('Api-Version', apiVersion);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', this.serverHeader);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await this.gate;
    const url = new URL(req.url ?? '/', 'http://statedock');
    let path = url.pathname;
    let version = apiVersion;
    const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    if (m) {
      version = m[1] as string;
      path = m[2] as string;
    }
    const method = req.method === 'HEAD' && path === '/_ping' ? 'HEAD' : (req.method ?? 'GET');
    const found = this.match(method, path);
    if (!found) {
      const body = '{"message":"page not found"}\n';
      res.writeHead(404, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    if (compare(version, apiVersion) > 0) {
      this.common(res);
      const body = `${JSON.stringify({ message: `client version ${version} is too new. Maximum supported API version is ${apiVersion}` })}\n`;
      res.writeHead(400, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    if (compare(version, minApiVersion) < 0) {
      this.common(res);
      const body = `client version ${version} is too old. Minimum supported API version is ${minApiVersion}, please upgrade your client to a newer version\n`;
      res.writeHead(400, {
        'Content-Type': 'text/plain; charset=utf-8',
        'X-Content-Type-Options': 'nosniff',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    this.common(res);
    const ctx: RouteContext = {
      req,
      res,
      params: found.params,
      query: url.searchParams,
      apiVersion: version,
      json: (status, body) => {
        const text = `${JSON.stringify(body)}\n`;
        res.writeHead(status, {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(text),
        });
        res.end(text);
      },
      noContent: (status = 204) => {
        res.writeHead(status);
        res.end();
      },
      error: (status, message) => ctx.json(status, { message }),
      body: () =>
        new Promise((resolve, reject) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => resolve(Buffer.concat(chunks)));
          req.on('error', reject);
        }),
    };
    try {
      await found.route.handler(ctx);
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 500;
      if (!(err instanceof ApiError))
        this.log(`${method} ${path}: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) ctx.error(status, (err as Error).message);
      else res.destroy();
    }
  }

  private async handleUpgrade(req: IncomingMessage, socket: Duplex, body: Buffer): Promise<void> {
    await this.gate;
    const url = new URL(req.url ?? '/', 'http://statedock');
    const path = url.pathname.replace(/^\/v\d+\.\d+(?=\/)/, '');
    const found = this.match(req.method ?? 'POST', path);
    const fail = (status: number, message: string): void => {
      const body = `${JSON.stringify({ message })}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    };
    if (!found?.route.hijack) return fail(404, 'page not found');
    try {
      await found.route.hijack({
        req,
        socket,
        params: found.params,
        query: url.searchParams,
        body,
      });
    } catch (err) {
      fail(err instanceof ApiError ? err.status : 500, (err as Error).message);
    }
  }

  /** Listens on each unix socket (mode 0660). A socket file nobody answers on is stale and replaced. */
  async listen(paths: readonly string[]): Promise<void> {
    // node:http loads when the API first listens, not with the daemon's start-up code.
    const { createServer } = await import('node:http');
    for (const path of paths) {
      if (existsSync(path)) {
        const live = await new Promise<boolean>((resolve) => {
          const s = connect(path);
          s.once('connect', () => {
            s.destroy();
            resolve(true);
          });
          s.once('error', () => resolve(false));
        });
        if (live)
          throw Object.assign(
            new Error(`address already in use: ${path}: another daemon is listening`),
            { code: 'EBUSY' },
          );
        rmSync(path, { force: true });
      }
      const server = createServer((req, res) => void this.handle(req, res));
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        void skipBody(socket, head, Number(req.headers['content-length'] ?? 0) || 0).then((body) =>
          this.handleUpgrade(req, socket, body),
        );
      });
      // Every connection, hijacked ones (attach, exec) included: shutdown never waits on a client.
      const sockets = new Set<Duplex>();
      server.on('connection', (socket: Duplex) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
      chmodSync(path, 0o660);
      this.servers.push({ path, server, sockets });
    }
  }

  /** Stops accepting, ends open connections, removes the socket files. Returns the removed paths. */
  async close(): Promise<string[]> {
    const removed: string[] = [];
    for (const { path, server, sockets } of this.servers.splice(0)) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        // An upgraded or detached stream (attach, exec) is no HTTP connection any more: ended here.
        for (const socket of sockets) socket.destroy();
      });
      if (existsSync(path)) {
        rmSync(path, { force: true });
      }
      removed.push(path);
    }
    return removed;
  }
}

/** GET and HEAD /_ping exactly as dockerd answers them. */
export function pingRoutes(): Route[] {
  const ping = (withBody: boolean) => (ctx: RouteContext) => {
    ctx.res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
    ctx.res.setHeader('Pragma', 'no-cache');
    ctx.res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': withBody ? 2 : 0,
    });
    ctx.res.end(withBody ? 'OK' : undefined);
  };
  return [
    { method: 'GET', pattern: '/_ping', handler: ping(true) },
    { method: 'HEAD', pattern: '/_ping', handler: ping(false) },
  ];
}

/**
 * An upgrade request's own body (dockerode sends its options as JSON with the attach) is not
 * the stream: its Content-Length bytes are skipped, as dockerd never reads them as stdin. What
 * came after them in the same packet (a client's first stdin) is put back for the stream.
 * Returns the body (exec start reads its options from it).
 */
async function skipBody(socket: Duplex, head: Buffer, length: number): Promise<Buffer> {
  let rest = head;
  while (rest.length < length) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (c: Buffer): void => {
        socket.off('end', onEnd);
        socket.pause();
        resolve(c);
      };
      const onEnd = (): void => {
        socket.off('data', onData);
        resolve(null);
      };
      socket.once('data', onData);
      socket.once('end', onEnd);
    });
    if (chunk === null) return rest;
    rest = Buffer.concat([rest, chunk]);
  }
  const after = rest.subarray(length);
  if (after.length > 0) socket.unshift(after);
  return rest.subarray(0, length);
}

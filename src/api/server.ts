import { rmSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GoJsonError } from './go-json.ts';
import {
  clearStaleSocket,
  defaultSocketGroup,
  parseListenAddress,
  secureUnixSocket,
  type ApiTls,
} from './listeners.ts';
import { runInRequestScope } from './request-scope.ts';
import {
  cleanPath,
  compareVersions,
  compilePattern,
  decodePath,
  matchRoute,
  splitVersion,
  type Pattern,
} from './router.ts';

/**
 * The Docker Engine API over unix sockets and TCP: version prefixes, Docker's headers and
 * error shapes (api-captures/ 95–102), a route table others add endpoints to.
 *
 * No client can hurt the daemon: every connection has an error path from the moment it is
 * accepted (a reset, a write to a closed peer, a TLS failure cost nothing but that
 * connection); request headers and bodies that stall are cut; buffered bodies are bounded;
 * hijacked connections and long-lived streams are known, so closing the API cuts them at once
 * and gives every other open request a short grace period before it is destroyed.
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
  /** The request body, at most `limit` bytes (the server's body limit by default): 413 beyond. */
  body(limit?: number): Promise<Buffer>;
  /**
   * This response is a long-lived stream (logs -f, events, wait, the inspection feed): no
   * idle timeout applies to it, and closing the API cuts it at once.
   */
  streaming(): void;
}

export interface Route {
  method: string;
  /** e.g. `/containers/{name}/start`; a `{param}` matches across slashes, as dockerd's `{name:.*}`. */
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

/** Bounds that keep a careless or hostile client from costing the daemon anything lasting. */
export interface ApiLimits {
  /** The whole request head must arrive within this (slowloris). */
  headersTimeoutMs: number;
  /**
   * How often open connections are checked against `headersTimeoutMs`: a stalled head is cut
   * within the sum of both. Not every second: a timer that often keeps V8 from seeing the
   * daemon idle, and its memory reducer from ever running.
   */
  timeoutCheckMs: number;
  /** A request body that sends nothing for this long is cut. */
  bodyIdleMs: number;
  /** The most a handler buffers of a body (`ctx.body()`); streamed uploads are not bounded. */
  maxBodyBytes: number;
  /** The most a request head may hold (Go's default MaxHeaderBytes: 1 MiB). */
  maxHeaderBytes: number;
  /** Closing the API: how long requests still being answered may finish before they are destroyed. */
  closeGraceMs: number;
}

export const defaultApiLimits: ApiLimits = {
  headersTimeoutMs: 10_000,
  timeoutCheckMs: 5_000,
  bodyIdleMs: 30_000,
  maxBodyBytes: 4 << 20,
  maxHeaderBytes: 1 << 20,
  closeGraceMs: 1_000,
};

export interface ApiServerOptions {
  serverHeader: string;
  /** Errors worth an operator's attention (a handler's failure, with the request it served). */
  log?: (line: string) => void;
  /** What clients did to their own connections (resets, stalls): not the daemon's problem. */
  debug?: (line: string) => void;
  warn?: (line: string) => void;
  limits?: Partial<ApiLimits>;
  /** Called once the API has been quiet for `quietMs` after a burst of `burst` requests. */
  onQuiet?: () => void;
}

/** A burst: this many requests since the last quiet period. */
const burst = 50;
const quietMs = 2_000;

/** What closing the API did to the connections it still had. */
export interface ApiCloseReport {
  removed: string[];
  /** Hijacked connections (attach, exec) cut at once. */
  hijacked: number;
  /** Long-lived streams (logs -f, events, wait, the feed) cut at once. */
  streams: number;
  /** Other requests still being answered, given the grace period. */
  lingering: number;
  /** Of those, the ones still open after the grace period, destroyed. */
  destroyed: number;
}

interface Listening {
  address: string;
  server: Server;
  unixPath: string | null;
}

/** Go's net/http answer to a request it cannot parse. */
const badRequest =
  'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request';

export class ApiServer {
  private readonly routes: Pattern<Route>[] = [];
  private readonly listening: Listening[] = [];
  private readonly serverHeader: string;
  private readonly log: (line: string) => void;
  private readonly debug: (line: string) => void;
  private readonly warn: (line: string) => void;
  readonly limits: ApiLimits;
  private readonly sockets = new Set<Socket>();
  /** Sockets with a request being answered (not yet finished), by how many. */
  private readonly busy = new Map<Socket, number>();
  private readonly hijacked = new Set<Duplex>();
  private readonly streams = new Set<ServerResponse>();
  private closing = false;
  private readonly onQuiet: (() => void) | null;
  private requestsSinceQuiet = 0;
  private quietTimer: NodeJS.Timeout | null = null;
  /** TLS for TCP listeners; null: plain TCP (dockerd warns). */
  tls: ApiTls | null = null;
  /** The unix sockets' group (`--group`, dockerd's default `docker`). */
  socketGroup = defaultSocketGroup;
  /** Requests wait for this (the daemon's restore finishing) before they are handled, as dockerd serves only after NewDaemon. */
  gate: Promise<void> = Promise.resolve();
  /** Whether a client has had an answer, or waits at the gate for the daemon's start-up. */
  private firstClientServed = false;
  private firstClientWaiters: (() => void)[] = [];
  /** Requests that need not wait for the gate (method and path without the version prefix). */
  ungated: (method: string, path: string) => boolean = () => false;
  /**
   * While the sockets listen but the API is not served yet ({@link holdUntilServed}): every
   * request waits for `served`; if the API closes first, their connections are cut at once.
   */
  private hold: { served: Promise<void>; serve: () => void } | null = null;

  constructor(opts: ApiServerOptions) {
    this.serverHeader = opts.serverHeader;
    this.log = opts.log ?? (() => undefined);
    this.debug = opts.debug ?? (() => undefined);
    this.warn = opts.warn ?? this.log;
    this.limits = { ...defaultApiLimits, ...opts.limits };
    this.onQuiet = opts.onQuiet ?? null;
  }

  /**
   * Resolves once a client has had its first answer, or waits at the gate for what the
   * start-up does after the API is served: the daemon's next work (forks, containerd's boot)
   * would delay an answer a client is waiting for. `true` when a client came within
   * `withinMs`, `false` when none did (the start-up does not wait for one).
   */
  firstClient(withinMs: number): Promise<boolean> {
    if (this.firstClientServed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), withinMs);
      timer.unref();
      this.firstClientWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * A client was answered, or waits for what the start-up does after the API is served (at the
   * gate, or for the facts /info and /version report): the start-up need not wait for a first
   * client any longer.
   */
  clientReached(): void {
    if (this.firstClientServed) return;
    this.firstClientServed = true;
    const waiting = this.firstClientWaiters;
    this.firstClientWaiters = [];
    for (const w of waiting) w();
  }

  /**
   * From now until {@link serve}, every request waits before it is even routed: the sockets
   * may listen before the daemon has restored, as dockerd's listeners take connections before
   * NewDaemon and its API serves them after it. A client that connects early is answered the
   * moment the API is served, instead of finding no socket and trying again later.
   */
  holdUntilServed(): void {
    if (this.hold) return;
    let serve!: () => void;
    const served = new Promise<void>((resolve) => (serve = resolve));
    this.hold = { served, serve };
  }

  /** The requests held by {@link holdUntilServed} go on, and those to come are not held. */
  serve(): void {
    const hold = this.hold;
    this.hold = null;
    hold?.serve();
  }

  /**
   * Waits while the API is held; false when the API closed meanwhile (the connection is cut:
   * it was never served).
   */
  private async served(socket: Duplex): Promise<boolean> {
    await this.hold?.served;
    if (!this.closing) return true;
    socket.destroy();
    return false;
  }

  /** Counts a request; once requests stop for `quietMs` after a burst, `onQuiet` runs. */
  private activity(): void {
    if (!this.onQuiet) return;
    this.requestsSinceQuiet += 1;
    if (this.quietTimer) this.quietTimer.refresh();
    else {
      this.quietTimer = setTimeout(() => {
        this.quietTimer = null;
        if (this.requestsSinceQuiet < burst || this.closing) return;
        this.requestsSinceQuiet = 0;
        this.onQuiet?.();
      }, quietMs);
      this.quietTimer.unref();
    }
  }

  add(route: Route): void {
    this.routes.push(compilePattern(route.method, route.pattern, route));
  }

  /** Every route, in the order tried (the fuzz campaign generates requests for each). */
  routeTable(): { method: string; pattern: string; hijack: boolean }[] {
    return this.routes.map((p) => ({
      method: p.method,
      pattern: p.route.pattern,
      hijack: p.route.hijack !== undefined,
    }));
  }

  /** Connections open now: all, hijacked, streaming (tests watch these come back down). */
  get connections(): { open: number; hijacked: number; streams: number } {
    return { open: this.sockets.size, hijacked: this.hijacked.size, streams: this.streams.size };
  }

  private common(res: ServerResponse): void {
    res.setHeader('Api-Version', apiVersion);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', this.serverHeader);
  }

  /** Every accepted connection gets its error path before anything can happen on it. */
  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.debug(`client connection: ${err.code ?? err.message}`);
      socket.destroy();
    });
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.busy.delete(socket);
    });
  }

  /** Resolves the request line to a route, or answers it (bad path, redirect, not found, version). */
  /** Whether the request is one `ungated` lets through (its exact path only: anything else waits). */
  private passesGate(req: IncomingMessage): boolean {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    return this.ungated(req.method ?? 'GET', splitVersion(q < 0 ? raw : raw.slice(0, q)).path);
  }

  private resolve(
    req: IncomingMessage,
    answer: (status: number, headers: Record<string, string>, body: string) => void,
  ): {
    route: Route;
    params: Record<string, string>;
    query: URLSearchParams;
    version: string;
  } | null {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const decoded = rawPath.startsWith('/') ? decodePath(rawPath) : null;
    if (decoded === null) {
      answer(400, { 'Content-Type': 'text/plain; charset=utf-8' }, '400 Bad Request');
      return null;
    }
    const clean = cleanPath(decoded);
    if (clean !== decoded) {
      // gorilla/mux: a path that is not clean is redirected to its clean form.
      answer(301, { Location: q < 0 ? clean : `${clean}?${raw.slice(q + 1)}` }, '');
      return null;
    }
    const split = splitVersion(clean);
    const version = split.version ?? apiVersion;
    const method = req.method ?? 'GET';
    const found =
      method === 'OPTIONS'
        ? { route: optionsRoute, params: {} }
        : matchRoute(this.routes, method, split.path);
    if (!found) {
      answer(404, { 'Content-Type': 'application/json' }, '{"message":"page not found"}\n');
      return null;
    }
    if (compareVersions(version, minApiVersion) < 0) {
      answer(
        400,
        { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' },
        `client version ${version} is too old. Minimum supported API version is ${minApiVersion}, please upgrade your client to a newer version\n`,
      );
      return null;
    }
    if (compareVersions(version, apiVersion) > 0) {
      answer(
        400,
        { 'Content-Type': 'application/json' },
        `${JSON.stringify({ message: `client version ${version} is too new. Maximum supported API version is ${apiVersion}` })}\n`,
      );
      return null;
    }
    return { ...found, query, version };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const socket = req.socket;
    this.activity();
    this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
    let counted = true;
    const done = (): void => {
      if (!counted) return;
      counted = false;
      const n = (this.busy.get(socket) ?? 1) - 1;
      if (n <= 0) this.busy.delete(socket);
      else this.busy.set(socket, n);
    };
    res.once('finish', () => {
      done();
      this.clientReached();
    });
    res.once('close', done);
    // Answered before its body was all sent (a route that does not read one, a 413): the rest
    // is not read and thrown away, it ends the connection (Go's server does the same past
    // 256 KB), so a client's 100 MB costs nothing.
    res.once('finish', () => {
      if (!req.complete) destroySoon(socket);
    });
    // Writes after the client went away fail here, not as an uncaught 'error'.
    res.on('error', (err: NodeJS.ErrnoException) =>
      this.debug(`response to ${req.method} ${req.url}: ${err.code ?? err.message}`),
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      this.debug(`request ${req.method} ${req.url}: ${err.code ?? err.message}`),
    );
    this.watchBody(req);
    const label = requestLabel(req);
    await runInRequestScope({ label, socket }, async () => {
      try {
        if (this.hold && !(await this.served(socket))) return;
        // One turn either way: a request let through waits as one at an open gate does.
        if (this.passesGate(req)) await Promise.resolve();
        else {
          this.clientReached();
          await this.gate;
        }
        const found = this.resolve(req, (status, headers, body) => {
          if (
            status === 400 &&
            headers['Content-Type']?.startsWith('text/plain') &&
            body === '400 Bad Request'
          )
            res.shouldKeepAlive = false;
          if (status !== 404 && status !== 301) this.common(res);
          res.writeHead(status, { ...headers, 'Content-Length': String(Buffer.byteLength(body)) });
          res.end(body);
        });
        if (!found) return;
        this.common(res);
        await found.route.handler(this.context(req, res, found));
      } catch (err) {
        this.failed(label, res, err);
      }
    });
  }

  /** A handler's failure: Docker's status for what is the client's, 500 (logged) for the rest. */
  private failed(label: string, res: ServerResponse, err: unknown): void {
    const status = err instanceof ApiError ? err.status : err instanceof GoJsonError ? 400 : 500;
    if (status >= 500)
      this.log(`Handler for ${label} returned error: ${(err as Error).stack ?? String(err)}`);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const text = `${JSON.stringify({ message: errorText(err) })}\n`;
    if (status === 413) res.shouldKeepAlive = false;
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  /**
   * A request whose body stalls for `bodyIdleMs` is cut. Once the body is complete the
   * connection has no timeout: an answer may take as long as it takes (wait, logs -f).
   */
  private watchBody(req: IncomingMessage): void {
    if (req.complete) return;
    const socket = req.socket;
    socket.setTimeout(this.limits.bodyIdleMs);
    req.on('timeout', () => {
      if (req.complete) return;
      this.debug(`request ${req.method} ${req.url}: its body stalled; connection cut`);
      socket.destroy();
    });
    req.once('end', () => socket.setTimeout(0));
  }

  private context(
    req: IncomingMessage,
    res: ServerResponse,
    found: { params: Record<string, string>; query: URLSearchParams; version: string },
  ): RouteContext {
    const ctx: RouteContext = {
      req,
      res,
      params: found.params,
      query: found.query,
      apiVersion: found.version,
      json: (status, body) => {
        if (res.headersSent || res.destroyed) return;
        const text = `${JSON.stringify(body)}\n`;
        res.writeHead(status, {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(text),
        });
        res.end(text);
      },
      noContent: (status = 204) => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(status);
        res.end();
      },
      error: (status, message) => ctx.json(status, { message }),
      body: (limit = this.limits.maxBodyBytes) => readBody(req, limit),
      streaming: () => {
        this.streams.add(res);
        res.once('close', () => this.streams.delete(res));
        req.socket.setTimeout(0);
        if (this.closing) res.destroy();
      },
    };
    return ctx;
  }

  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    this.activity();
    this.hijacked.add(socket);
    socket.once('close', () => this.hijacked.delete(socket));
    if (this.closing) {
      socket.destroy();
      return;
    }
    const label = requestLabel(req);
    await runInRequestScope({ label, socket }, async () => {
      // dockerd answers an attach it cannot serve with a raw status line and the message.
      const fail = (status: number, message: string): void => {
        if (socket.destroyed || !socket.writable) return;
        socket.end(
          `HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n${message}\r\n`,
        );
        destroySoon(socket);
      };
      try {
        const body = await skipBody(socket, head, Number(req.headers['content-length'] ?? 0) || 0);
        if (this.hold && !(await this.served(socket))) return;
        await this.gate;
        if (socket.destroyed) return;
        const found = this.resolve(req, (status, _headers, body) => {
          const text = body.trim();
          fail(
            status,
            text.startsWith('{') ? (JSON.parse(text) as { message: string }).message : text,
          );
        });
        if (!found) return;
        if (found.route.hijack) {
          await found.route.hijack({
            req,
            socket,
            params: found.params,
            query: found.query,
            body,
          });
          return;
        }
        // An Upgrade header on a route that does not hijack: answered over plain HTTP, then closed.
        const { ServerResponse } = await import('node:http');
        const res = new ServerResponse(req);
        res.shouldKeepAlive = false;
        res.assignSocket(socket as Socket);
        res.on('error', () => undefined);
        res.once('finish', () => destroySoon(socket));
        // The request was read whole: the client's end ends the connection, as Node's HTTP
        // server ends one whose client has ended. Else a stream that writes nothing more (a
        // wait, an events filter nothing matches) would keep a gone client's socket open.
        socket.once('end', () => destroySoon(socket));
        this.common(res);
        try {
          await found.route.handler(this.context(req, res, found));
        } catch (err) {
          this.failed(label, res, err);
        }
      } catch (err) {
        const status =
          err instanceof ApiError ? err.status : err instanceof GoJsonError ? 400 : 500;
        if (status >= 500)
          this.log(`Handler for ${label} returned error: ${(err as Error).stack ?? String(err)}`);
        fail(status, (err as Error).message);
      }
    });
  }

  /** Node's answer to a request it cannot parse, the way Go's net/http answers it. */
  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    this.debug(`client connection: ${err.code ?? err.message}`);
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const reply =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n'
          : badRequest;
    socket.end(reply);
    destroySoon(socket);
  }

  /**
   * Listens on each `-H` address: a unix socket path (0660, the socket group) or
   * `tcp://host:port` (TLS when configured; without client verification dockerd's warning).
   */
  async listen(hosts: readonly string[]): Promise<void> {
    // node:http loads when the API first listens, not with the daemon's start-up code.
    const http = await import('node:http');
    for (const host of hosts) {
      const address = parseListenAddress(host);
      const options = {
        headersTimeout: this.limits.headersTimeoutMs,
        requestTimeout: 0,
        connectionsCheckingInterval: this.limits.timeoutCheckMs,
        maxHeaderSize: this.limits.maxHeaderBytes,
        keepAliveTimeout: 60_000,
      };
      let server: Server;
      if (address.kind === 'tcp' && this.tls) {
        const https = await import('node:https');
        server = https.createServer({
          ...options,
          cert: this.tls.cert,
          key: this.tls.key,
          ...(this.tls.ca ? { ca: this.tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
          minVersion: 'TLSv1.2',
        });
        server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
          this.debug(`TLS handshake: ${err.code ?? err.message}`);
          socket.destroy();
        });
        server.on('secureConnection', (s: Socket) =>
          s.on('error', (err: NodeJS.ErrnoException) =>
            this.debug(`client connection: ${err.code ?? err.message}`),
          ),
        );
      } else server = http.createServer(options);
      server.on('connection', (s: Socket) => this.accept(s));
      server.on(
        'request',
        (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res),
      );
      server.on(
        'upgrade',
        (req: IncomingMessage, socket: Duplex, head: Buffer) =>
          void this.handleUpgrade(req, socket, head),
      );
      server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) =>
        this.clientError(err, socket),
      );
      // A socket timed out with no request in flight: an idle keep-alive connection (closed,
      // as Node would); with one in flight, its body is complete (see watchBody): no timeout.
      server.on('timeout', (socket: Socket) => {
        if (this.busy.has(socket)) socket.setTimeout(0);
        else socket.destroy();
      });
      if (address.kind === 'unix') await clearStaleSocket(address.path);
      else if (!this.tls?.ca) {
        this.warn(
          `Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network. host="${host}"`,
        );
        this.warn(
          `Binding to an IP address, even on localhost, can also give access to scripts run in a browser. Be safe out there! host="${host}"`,
        );
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        const ready = (): void => {
          server.off('error', reject);
          resolve();
        };
        if (address.kind === 'unix') server.listen(address.path, ready);
        else server.listen(address.port, address.host, ready);
      });
      // A listener that fails later (EMFILE on accept) must not take the daemon down.
      server.on('error', (err: Error) => this.log(`API listener ${host}: ${err.message}`));
      if (address.kind === 'unix') {
        try {
          secureUnixSocket(address.path, this.socketGroup, this.warn);
        } catch (err) {
          server.close();
          rmSync(address.path, { force: true });
          throw err;
        }
      }
      this.listening.push({
        address: host,
        server,
        unixPath: address.kind === 'unix' ? address.path : null,
      });
    }
  }

  /**
   * Stops accepting; cuts hijacked connections and long-lived streams at once (a client is
   * never waited for); closes idle keep-alive connections; gives requests still being
   * answered `closeGraceMs`, then destroys what is left. Removes the socket files.
   */
  async close(): Promise<ApiCloseReport> {
    this.closing = true;
    // Requests held before the API was served go on, to find it closing: their connections are
    // cut at once, with no grace (nothing was being answered).
    this.serve();
    const removed: string[] = [];
    const stopped = this.listening.splice(0).map(
      (l) =>
        new Promise<void>((resolve) => {
          l.server.close(() => resolve());
          l.server.closeIdleConnections();
          if (l.unixPath !== null) {
            rmSync(l.unixPath, { force: true });
            removed.push(l.address);
          } else removed.push(l.address);
        }),
    );
    const hijacked = this.hijacked.size;
    for (const s of [...this.hijacked]) s.destroy();
    const streams = this.streams.size;
    for (const r of [...this.streams]) r.destroy();
    const inFlight = [...this.busy.keys()].filter((s) => !s.destroyed);
    const lingering = inFlight.length;
    const deadline = Date.now() + this.limits.closeGraceMs;
    while (inFlight.some((s) => !s.destroyed && this.busy.has(s)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    let destroyed = 0;
    for (const s of [...this.sockets]) {
      if (s.destroyed) continue;
      if (this.busy.has(s)) destroyed += 1;
      s.destroy();
    }
    await Promise.all(stopped);
    return { removed, hijacked, streams, lingering, destroyed };
  }
}

/**
 * An error's message for a client. A system error (ENOSPC, EACCES…) reads as Go's
 * *PathError does in dockerd's answers, `write /var/lib/…/x.json: no space left on device`,
 * instead of Node's `ENOSPC: no space left on device, write`.
 */
export function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof e.code !== 'string' || typeof e.syscall !== 'string')
    return err instanceof Error ? err.message : String(err);
  const m = /^[A-Z0-9_]+: (.*?), [a-z_]+(?: '.*')?$/s.exec(e.message);
  const reason = m?.[1] ?? e.message;
  return `${e.syscall}${e.path ? ` ${e.path}` : ''}: ${reason}`;
}

/** `METHOD /path` for logs, at most 200 characters of it. */
function requestLabel(req: IncomingMessage): string {
  const l = `${req.method ?? '?'} ${req.url ?? '/'}`;
  return l.length > 200 ? `${l.slice(0, 200)}…` : l;
}

/** dockerd's `OPTIONS /{anyroute:.*}`: 200, empty (CORS pre-flight). */
const optionsRoute: Route = {
  method: 'OPTIONS',
  pattern: '/{anyroute}',
  handler: (ctx) => {
    ctx.res.writeHead(200, { 'Content-Length': '0' });
    ctx.res.end();
  },
};

function statusText(status: number): string {
  const texts: Record<number, string> = {
    400: 'Bad Request',
    404: 'Not Found',
    409: 'Conflict',
    413: 'Request Entity Too Large',
    500: 'Internal Server Error',
  };
  return texts[status] ?? 'Error';
}

/**
 * Ends a raw connection as Go's net/http closes one (closeWriteAndWait): our side closed, and
 * the socket destroyed half a second after what we wrote went out (so the peer reads it
 * before any reset), or after `stuckMs` if the peer does not even read it.
 */
export function destroySoon(socket: Duplex, lingerMs = 500, stuckMs = 5_000): void {
  if (socket.destroyed) return;
  const destroy = (): void => {
    clearTimeout(stuck);
    socket.destroy();
  };
  const stuck = setTimeout(destroy, stuckMs);
  stuck.unref();
  socket.once('close', () => clearTimeout(stuck));
  const linger = (): void => void setTimeout(destroy, lingerMs).unref();
  if (socket.writableFinished) linger();
  else {
    socket.once('finish', linger);
    if (socket.writable) socket.end();
  }
}

/** Reads a request body of at most `limit` bytes; more is Docker-shaped 413 and nothing kept. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    const tooLarge = (): ApiError =>
      new ApiError(
        413,
        `request body too large: statedock reads at most ${limit} bytes for this request`,
      );
    if (Number.isFinite(declared) && declared > limit) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new ApiError(400, 'unexpected EOF'));
    });
  });
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
    const chunk = await nextChunk(socket);
    if (chunk === null) return rest;
    rest = Buffer.concat([rest, chunk]);
  }
  const after = rest.subarray(length);
  if (after.length > 0) socket.unshift(after);
  return rest.subarray(0, length);
}

/**
 * The socket's next chunk (null at its end), read as a paused stream does ('readable', then
 * read): once that listener goes the socket is neither flowing nor paused, so the route's own
 * 'data' listener starts its flow. A pause() here would stay: the stock CLI writes exec start's
 * headers and its JSON body in two writes, and when the body comes in a read of its own the
 * stream's stdin would never be read, nor its client's EOF (an `exec -i` waiting forever).
 */
function nextChunk(socket: Duplex): Promise<Buffer | null> {
  if (socket.destroyed || socket.readableEnded) return Promise.resolve(null);
  return new Promise((resolve) => {
    const settle = (chunk: Buffer | null): void => {
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      resolve(chunk);
    };
    const onReadable = (): void => {
      const chunk = socket.read() as Buffer | null;
      if (chunk !== null) settle(chunk);
    };
    const onEnd = (): void => settle(null);
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}

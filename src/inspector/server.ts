import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { RowChunk } from './protocol.ts';
import type { Source } from './sources.ts';

/**
 * The inspector's HTTP server on 127.0.0.1: the built page (dist/inspector) and a small JSON
 * API over the sources. Nothing is fetched from elsewhere at run time.
 */

export interface InspectorServerOptions {
  sources: Source[];
  /** The built page: index.html, app.js, app.css, elk-worker.js. */
  assetsDir: string;
  /** 0 (default) lets the system choose. */
  port?: number;
}

export interface InspectorServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const assetTypes: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.js.map': 'application/json',
  'app.css': 'text/css; charset=utf-8',
  'elk-worker.js': 'text/javascript; charset=utf-8',
};

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', JSON.stringify(body));
}

function intParam(q: URLSearchParams, name: string, fallback: number): number | null {
  const v = q.get(name);
  if (v === null || v === '') return fallback;
  return /^-?\d+$/.test(v) ? Number(v) : null;
}

/** Streams a source's rows: everything so far in one chunk, then (live) what comes, in chunks. */
function streamRows(source: Source, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    'Content-Type': 'application/x-ndjson',
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  const c = source.compiler;
  let sentRows = 0;
  let sentStrings = 0;
  let sentActors = 0;
  let timer: NodeJS.Timeout | null = null;
  let waiting = false;
  let lastLive = '';
  const flush = (): void => {
    timer = null;
    if (waiting || res.destroyed) return;
    const live = source.liveStatus();
    const liveText = JSON.stringify(live);
    if (sentRows === c.rows.length && liveText === lastLive && sentRows > 0) return;
    const chunk: RowChunk = c.chunk(sentRows, sentStrings, sentActors);
    if (live) chunk.live = live;
    sentRows = c.rows.length;
    sentStrings = c.strings.length;
    sentActors = c.actors.length;
    lastLive = liveText;
    if (!res.write(`${JSON.stringify(chunk)}\n`)) {
      // The page reads slowly: what arrives meanwhile goes in the next chunk.
      waiting = true;
      res.once('drain', () => {
        waiting = false;
        flush();
      });
    }
  };
  flush();
  if (source.info.kind === 'trace') {
    res.end();
    return;
  }
  // Live rows are sent at most every 50 ms, so a burst of records is one chunk.
  const unsubscribe = source.subscribe(() => {
    if (!timer) timer = setTimeout(flush, 50);
  });
  req.on('close', () => {
    unsubscribe();
    if (timer) clearTimeout(timer);
  });
}

/** Starts the server; resolves once it listens (rejects with the listen error, e.g. EADDRINUSE). */
export async function startInspectorServer(opts: InspectorServerOptions): Promise<InspectorServer> {
  const byId = new Map(opts.sources.map((s) => [s.info.id, s]));
  let port = 0;
  const assets = new Map<string, Buffer>();
  const asset = (name: string): Buffer | null => {
    let b = assets.get(name);
    if (!b) {
      try {
        b = readFileSync(join(opts.assetsDir, name));
      } catch {
        return null;
      }
      assets.set(name, b);
    }
    return b;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Only this machine's browser, by name: a page elsewhere must not read the traces through DNS rebinding.
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      send(
        res,
        403,
        'text/plain; charset=utf-8',
        `statedock inspect answers only at http://127.0.0.1:${port}/\n`,
      );
      return;
    }
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    const path = url.pathname;
    if (
      path === '/' ||
      path === '/index.html' ||
      (!path.startsWith('/api/') && assetTypes[path.slice(1)])
    ) {
      const name = path === '/' ? 'index.html' : path.slice(1);
      const body = asset(name);
      if (!body) {
        send(
          res,
          500,
          'text/plain; charset=utf-8',
          `the inspector page is not built (${join(opts.assetsDir, name)} is missing); run npm run build\n`,
        );
        return;
      }
      send(res, 200, assetTypes[name] as string, body);
      return;
    }
    if (path === '/api/sources') {
      json(
        res,
        200,
        opts.sources.map((s) => s.info),
      );
      return;
    }
    const m = /^\/api\/sources\/([^/]+)\/(catalog|rows|records|constraints)$/.exec(path);
    const source = m ? byId.get(decodeURIComponent(m[1] as string)) : undefined;
    if (!m || !source) {
      json(res, 404, { message: `no such page or source: ${path}` });
      return;
    }
    const q = url.searchParams;
    switch (m[2]) {
      case 'catalog':
        json(res, 200, await source.catalog());
        return;
      case 'rows':
        streamRows(source, req, res);
        return;
      case 'records': {
        const from = intParam(q, 'from', 0);
        const to = intParam(q, 'to', from ?? 0);
        if (from === null || to === null || to < from || to - from > 2000) {
          json(res, 400, { message: 'records takes from and to, row indexes at most 2,000 apart' });
          return;
        }
        json(res, 200, source.records(from, to));
        return;
      }
      case 'constraints': {
        const upto = intParam(q, 'upto', source.lines.length - 1);
        if (upto === null) {
          json(res, 400, { message: 'upto must be a row index' });
          return;
        }
        json(res, 200, await source.verdicts(upto));
        return;
      }
      default:
        json(res, 404, { message: 'not found' });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { message: (err as Error).message });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

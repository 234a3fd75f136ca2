import { request } from 'node:http';
import { connect, type Socket } from 'node:net';

/** A whole HTTP answer over a unix socket. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

/** One request over a unix socket (a fresh connection), the whole answer read. */
export function call(
  sock: string,
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: sock,
        method,
        path,
        headers: opts.headers ?? {},
        agent: false,
        timeout: opts.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text: body.toString(),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in time`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** JSON of a 2xx answer, or throws with the answer. */
export async function callJson<T = unknown>(
  sock: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const a = await call(sock, method, path, {
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
  });
  if (a.status >= 300) throw new Error(`${method} ${path}: ${a.status} ${a.text}`);
  return (a.text === '' ? null : JSON.parse(a.text)) as T;
}

/**
 * An upgraded (hijacked) connection: resolves with the socket and the response head once the
 * head is in; the bytes after it are kept in `rest` (and what follows arrives as 'data').
 */
export function upgrade(
  sock: string,
  path: string,
): Promise<{ socket: Socket; head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      s.pause();
      resolve({
        socket: s,
        head: buf.subarray(0, end).toString(),
        rest: buf.subarray(end + 4),
      });
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('close', () => reject(new Error(`closed before an answer: ${buf.toString()}`)));
    s.write(
      `POST ${path} HTTP/1.1\r\nHost: statedock\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`,
    );
  });
}

/** Everything a socket sends until it closes (or `timeoutMs` passes: then what came so far). */
export function readAll(
  socket: Socket,
  first: Uint8Array = Buffer.alloc(0),
  timeoutMs = 10_000,
): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [first];
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const onData = (c: Buffer): void => void chunks.push(c);
    socket.on('data', onData);
    socket.once('end', () => done(true));
    socket.once('close', () => done(true));
    socket.on('error', () => undefined);
    socket.resume();
  });
}

/** Docker's stdcopy frames, decoded: [stream, payload] in order. */
export function demux(data: Buffer): { stream: number; text: string }[] {
  const out: { stream: number; text: string }[] = [];
  let i = 0;
  while (i + 8 <= data.length) {
    const len = data.readUInt32BE(i + 4);
    out.push({ stream: data[i] as number, text: data.subarray(i + 8, i + 8 + len).toString() });
    i += 8 + len;
  }
  return out;
}

/** The daemon's open file descriptors (from /proc). */
export async function fdCount(pid: number): Promise<number> {
  const { readdirSync } = await import('node:fs');
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The daemon's resident memory in KiB. */
export async function rssKiB(pid: number): Promise<number> {
  return (await residentKiB(pid)).rss;
}

/**
 * A process's resident memory by kind (KiB, /proc/PID/status): `anon` is what it allocated
 * (heaps, buffers), `file` the pages of its binary and libraries it has touched (code run for
 * the first time maps more of it in; not a leak).
 */
export async function residentKiB(
  pid: number,
): Promise<{ rss: number; anon: number; file: number; shmem: number }> {
  const { readFileSync } = await import('node:fs');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number =>
    Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return {
    rss: field('VmRSS'),
    anon: field('RssAnon'),
    file: field('RssFile'),
    shmem: field('RssShmem'),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

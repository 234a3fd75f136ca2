import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { ApiServer } from '../../src/api/server.ts';

/**
 * Shutdown never waits on a client: a stream the API handed to an endpoint (an attach or exec
 * hijacked by an upgrade, or a raw stream detached from its response) is no HTTP connection
 * any more, so closing the server must end it, or `close()` would wait for the client.
 */

let dir: string;
before(() => {
  dir = mkdtempSync('/tmp/api-server-');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Resolves with what close() did within `ms`: 'closed', or 'waiting' when it still waits. */
function closeWithin(api: ApiServer, ms: number): Promise<'closed' | 'waiting'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    api.close().then(() => 'closed' as const),
    new Promise<'waiting'>((r) => (timer = setTimeout(() => r('waiting'), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Sends a request and resolves once the server's answer began (its first bytes). */
function open(path: string, request: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('error', reject);
    socket.once('data', () => resolve({ socket, closed }));
    socket.write(request);
  });
}

test('close() ends a hijacked stream (an exec or attach the client holds open)', async () => {
  const sock = `${dir}/hijack.sock`;
  const api = new ApiServer({ serverHeader: 'test' });
  api.add({
    method: 'POST',
    pattern: '/exec/{id}/start',
    handler: (ctx) => ctx.noContent(),
    // The stream stays open as long as the process runs: it never ends on its own here.
    hijack: (ctx) => {
      ctx.socket.on('error', () => undefined);
      ctx.socket.write('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    },
  });
  await api.listen([sock]);
  const client = await open(
    sock,
    'POST /v1.41/exec/x/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n',
  );
  assert.equal(await closeWithin(api, 5_000), 'closed', 'close() waited on the hijacked stream');
  await client.closed;
});

test('close() ends a raw stream detached from its response (exec start without an upgrade)', async () => {
  const sock = `${dir}/detached.sock`;
  const api = new ApiServer({ serverHeader: 'test' });
  api.add({
    method: 'POST',
    pattern: '/exec/{id}/start',
    handler: (ctx) => {
      ctx.res.detachSocket(ctx.req.socket);
      ctx.req.socket.on('error', () => undefined);
      ctx.req.socket.write(
        'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n',
      );
    },
  });
  await api.listen([sock]);
  const client = await open(
    sock,
    'POST /v1.41/exec/x/start HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n',
  );
  assert.equal(await closeWithin(api, 5_000), 'closed', 'close() waited on the detached stream');
  await client.closed;
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ApiServer, pingRoutes, type ApiLimits } from '../../src/api/server.ts';
import { cleanPath, compareVersions } from '../../src/api/router.ts';
import { call, readAll, sleep, upgrade } from '../support/raw-http.ts';

/** Sends raw bytes on a fresh connection and reads until the server closes (or the timeout). */
async function raw(sock: string, bytes: string | Buffer, timeoutMs = 3_000) {
  const s = connect(sock);
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  s.write(bytes);
  return readAll(s, Buffer.alloc(0), timeoutMs);
}

describe('the API server', () => {
  let dir: string;
  let sock: string;
  let api: ApiServer;
  const limits: Partial<ApiLimits> = {
    headersTimeoutMs: 1_000,
    timeoutCheckMs: 500,
    bodyIdleMs: 700,
    maxBodyBytes: 1024,
    closeGraceMs: 300,
  };

  before(async () => {
    dir = mkdtempSync('/tmp/sdapi-');
    sock = `${dir}/s.sock`;
    api = new ApiServer({ serverHeader: 'statedock-test', limits });
    for (const r of pingRoutes()) api.add(r);
    api.add({ method: 'GET', pattern: '/images/json', handler: (ctx) => ctx.json(200, 'list') });
    api.add({
      method: 'GET',
      pattern: '/images/{name}/json',
      handler: (ctx) => ctx.json(200, { name: ctx.params['name'] }),
    });
    api.add({
      method: 'DELETE',
      pattern: '/images/{name}',
      handler: (ctx) => ctx.json(200, { name: ctx.params['name'] }),
    });
    api.add({
      method: 'POST',
      pattern: '/echo',
      handler: async (ctx) => ctx.json(200, { bytes: (await ctx.body()).length }),
    });
    api.add({
      method: 'GET',
      pattern: '/stream',
      handler: (ctx) => {
        ctx.streaming();
        ctx.res.writeHead(200);
        ctx.res.write('open\n');
      },
    });
    api.add({
      method: 'GET',
      pattern: '/slow',
      handler: async (ctx) => {
        await sleep(5_000);
        ctx.json(200, 'late');
      },
    });
    api.add({
      method: 'POST',
      pattern: '/hijack',
      handler: (ctx) => ctx.json(200, 'not upgraded'),
      hijack: (ctx) => {
        ctx.socket.write('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
      },
    });
    api.add({
      method: 'POST',
      pattern: '/hijack-echo',
      handler: (ctx) => ctx.json(200, 'not upgraded'),
      // As exec start does: the options from the body, the stream's reader attached later.
      hijack: async (ctx) => {
        ctx.socket.write(`HTTP/1.1 101 UPGRADED\r\n\r\nbody=${ctx.body.toString()};`);
        await sleep(20);
        ctx.socket.on('data', (c: Buffer) => ctx.socket.write(c));
        ctx.socket.on('end', () => ctx.socket.end('EOF'));
      },
    });
    await api.listen([sock]);
  });

  after(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a parameter matches across slashes, decoded; routes are tried in the order added', async () => {
    assert.equal((await call(sock, 'GET', '/images/json')).text, '"list"\n');
    for (const [path, name] of [
      ['/images/ns/img:3/json', 'ns/img:3'],
      ['/v1.41/images/127.0.0.1:5000/bar/bb:1/json', '127.0.0.1:5000/bar/bb:1'],
      ['/images/ns%2Fimg/json', 'ns/img'],
      ['/images/a/json/json', 'a/json'],
    ] as const)
      assert.deepEqual(JSON.parse((await call(sock, 'GET', path)).text), { name }, path);
    assert.deepEqual(JSON.parse((await call(sock, 'DELETE', '/images/ns/img:3')).text), {
      name: 'ns/img:3',
    });
  });

  test('a path that is not clean is redirected to its clean form (gorilla/mux), query kept', async () => {
    for (const [path, to] of [
      ['/images//json', '/images/json'],
      ['/containers/../info?x=1', '/info?x=1'],
      ['/images/a%2F..%2F..%2Fetc/json', '/etc/json'],
      ['/./_ping', '/_ping'],
    ] as const) {
      const a = await call(sock, 'GET', path);
      assert.equal(a.status, 301, path);
      assert.equal(a.headers['location'], to, path);
    }
    assert.equal(cleanPath('/a/b/'), '/a/b/');
    assert.equal(cleanPath('/..'), '/');
  });

  test("versions: Docker's comparison and messages; unknown paths and methods are page not found", async () => {
    const old = await call(sock, 'GET', '/v1.11/_ping');
    assert.equal(old.status, 400);
    assert.equal(
      old.text,
      'client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version\n',
    );
    assert.equal((await call(sock, 'GET', '/v1/_ping')).status, 400);
    const young = await call(sock, 'GET', '/v9.1/_ping');
    assert.equal(young.status, 400);
    assert.equal(
      (JSON.parse(young.text) as { message: string }).message,
      'client version 9.1 is too new. Maximum supported API version is 1.41',
    );
    assert.equal((await call(sock, 'GET', '/v1.41.0/_ping')).status, 200);
    assert.equal((await call(sock, 'GET', '/vabc/_ping')).text, '{"message":"page not found"}\n');
    assert.equal((await call(sock, 'PUT', '/_ping')).status, 404);
    assert.equal((await call(sock, 'OPTIONS', '/v1.41/anything/at/all')).status, 200);
    assert.equal(compareVersions('1.9', '1.12'), -1);
    assert.equal(compareVersions('1.12.0', '1.12'), 0);
  });

  test('malformed requests get Go’s 400 and the connection closes; the server serves on', async () => {
    const badEscape = await raw(sock, 'GET /images/%zz/json HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(badEscape.data.toString(), /^HTTP\/1\.1 400 Bad Request/);
    const badChunk = await raw(
      sock,
      'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    );
    assert.match(badChunk.data.toString(), /^HTTP\/1\.1 400 Bad Request/);
    assert.equal(badChunk.closed, true);
    const garbage = await raw(sock, '\x16\x03\x01\x02\x00garbage\r\n\r\n');
    assert.match(garbage.data.toString(), /^HTTP\/1\.1 400 Bad Request/);
    assert.equal((await call(sock, 'GET', '/_ping')).text, 'OK');
  });

  test('a body larger than the limit is refused with 413 and not kept', async () => {
    const ok = await call(sock, 'POST', '/echo', { body: 'x'.repeat(1024) });
    assert.equal(ok.text, '{"bytes":1024}\n');
    const big = await call(sock, 'POST', '/echo', { body: 'x'.repeat(1025) });
    assert.equal(big.status, 413);
    assert.match((JSON.parse(big.text) as { message: string }).message, /request body too large/);
    // Chunked, without a length: counted as it comes.
    const chunked = await raw(
      sock,
      `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${'y'.repeat(0x800)}\r\n0\r\n\r\n`,
    );
    assert.match(chunked.data.toString(), /^HTTP\/1\.1 413/);
  });

  test('a request head that drips in (slowloris) is cut; so is a body that stalls', async () => {
    const s = connect(sock);
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    const closed = new Promise<number>((r) => s.once('close', () => r(Date.now())));
    const t0 = Date.now();
    const drip = setInterval(() => s.writable && s.write('X-A: b\r\n'), 200);
    s.write('GET /_ping HTTP/1.1\r\nHost: x\r\n');
    const at = await closed;
    clearInterval(drip);
    assert.ok(at - t0 < 4_000, `the dripping head was cut after ${at - t0} ms`);
    const body = await raw(
      sock,
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part',
      5_000,
    );
    assert.equal(body.closed, true, 'a stalled body is cut');
    assert.equal(api.connections.open <= 1, true);
  });

  test('an Upgrade to a route that does not hijack is answered over HTTP, then closed', async () => {
    const a = await upgrade(sock, '/hijack');
    assert.match(a.head, /^HTTP\/1\.1 101/);
    a.socket.destroy();
    const plain = await raw(
      sock,
      'POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n',
    );
    assert.match(plain.data.toString(), /^HTTP\/1\.1 200 OK[\s\S]*\{"bytes":0\}/);
    assert.equal(plain.closed, true);
  });

  test("a hijacked stream reads its client's input and EOF, the upgrade's body in the first read or a later one", async () => {
    // The stock CLI writes exec start's headers and its JSON body in two writes: under load
    // the body comes in a read of its own.
    for (const split of [false, true]) {
      const s = connect(sock);
      s.on('error', () => undefined);
      await new Promise((r) => s.once('connect', r));
      const body = '{"Detach":false}';
      const head = `POST /hijack-echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: ${body.length}\r\n\r\n`;
      const all = readAll(s, Buffer.alloc(0), 3_000);
      if (split) {
        s.write(head);
        await sleep(100);
        s.write(body);
      } else s.write(head + body);
      await sleep(100);
      s.end('stdin');
      const r = await all;
      assert.equal(
        r.data.toString(),
        `HTTP/1.1 101 UPGRADED\r\n\r\nbody=${body};stdinEOF`,
        split ? 'body in a read of its own' : 'body with the headers',
      );
      assert.equal(r.closed, true);
    }
  });

  test('a stream answered over an Upgrade ends when its client goes, though it never writes again', async () => {
    const own = new ApiServer({ serverHeader: 't', limits });
    const ownSock = `${dir}/upgraded-stream.sock`;
    own.add({
      method: 'GET',
      pattern: '/stream',
      handler: (ctx) => {
        ctx.streaming();
        ctx.res.writeHead(200);
        ctx.res.write('open\n');
      },
    });
    await own.listen([ownSock]);
    try {
      const s = connect(ownSock);
      s.on('error', () => undefined);
      const head = new Promise<string>((resolve) => {
        let data = '';
        s.on('data', (c: Buffer) => {
          data += c.toString();
          if (data.includes('open\n')) resolve(data);
        });
      });
      s.write('GET /stream HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
      assert.match(await head, /^HTTP\/1\.1 200 OK/);
      assert.equal(own.connections.open, 1);
      s.destroy();
      for (let i = 0; i < 60 && own.connections.open > 0; i++) await sleep(50);
      assert.equal(own.connections.open, 0, 'the server let the connection go');
    } finally {
      await own.close();
    }
  });

  test('the unix socket is 0660', () => {
    assert.equal(statSync(sock).mode & 0o777, 0o660);
  });

  test('close cuts hijacked connections and streams at once, gives a request in flight the grace period, then destroys it', async () => {
    const other = new ApiServer({ serverHeader: 't', limits });
    const sock2 = `${dir}/close.sock`;
    other.add({
      method: 'POST',
      pattern: '/hijack',
      handler: () => undefined,
      hijack: (ctx) => void ctx.socket.write('HTTP/1.1 101 UPGRADED\r\n\r\n'),
    });
    other.add({
      method: 'GET',
      pattern: '/stream',
      handler: (ctx) => {
        ctx.streaming();
        ctx.res.writeHead(200);
        ctx.res.write('x');
      },
    });
    other.add({ method: 'GET', pattern: '/slow', handler: () => new Promise(() => undefined) });
    await other.listen([sock2]);
    const h = await upgrade(sock2, '/hijack');
    const streamOpen = raw(sock2, 'GET /stream HTTP/1.1\r\nHost: x\r\n\r\n', 10_000);
    const slowOpen = raw(sock2, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n', 10_000);
    const idle = connect(sock2);
    idle.on('error', () => undefined);
    await sleep(200);
    const t0 = Date.now();
    const report = await other.close();
    const took = Date.now() - t0;
    assert.deepEqual(report, {
      removed: [sock2],
      hijacked: 1,
      streams: 1,
      lingering: 1,
      destroyed: 1,
    });
    assert.ok(took >= 250 && took < 2_000, `close took ${took} ms`);
    assert.equal((await streamOpen).closed, true);
    assert.equal((await slowOpen).closed, true);
    await new Promise((r) => (h.socket.destroyed ? r(null) : h.socket.once('close', r)));
    idle.destroy();
  });

  test('close ends a raw stream detached from its response (exec start without an upgrade)', async () => {
    const other = new ApiServer({ serverHeader: 't', limits });
    const sock3 = `${dir}/detached.sock`;
    other.add({
      method: 'POST',
      pattern: '/exec/{id}/start',
      handler: (ctx) => {
        // dockerd hijacks the connection even without an Upgrade: the raw stream runs until the process ends.
        ctx.res.detachSocket(ctx.req.socket);
        ctx.req.socket.write(
          'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n',
        );
      },
    });
    await other.listen([sock3]);
    const open = raw(
      sock3,
      'POST /exec/x/start HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
      10_000,
    );
    await sleep(200);
    const t0 = Date.now();
    await other.close();
    assert.ok(Date.now() - t0 < 2_000, 'close waited on the detached stream');
    assert.equal((await open).closed, true);
  });
});

test('requests wait at the gate, but for those it lets through (by method and unversioned path)', async () => {
  const dir = mkdtempSync('/tmp/sdgate-');
  const sock = `${dir}/s.sock`;
  const api = new ApiServer({ serverHeader: 't' });
  for (const r of pingRoutes()) api.add(r);
  api.add({ method: 'GET', pattern: '/images/json', handler: (ctx) => ctx.json(200, 'list') });
  let open!: () => void;
  api.gate = new Promise((r) => (open = r));
  api.ungated = (method, path) => method === 'GET' && path === '/_ping';
  await api.listen([sock]);
  try {
    const images = call(sock, 'GET', '/v1.41/images/json');
    let answered = false;
    void images.then(() => (answered = true));
    assert.equal((await call(sock, 'GET', '/v1.41/_ping')).status, 200);
    assert.equal((await call(sock, 'GET', '/_ping?x=1')).status, 200);
    await sleep(100);
    assert.equal(answered, false, 'a gated request was answered before the gate opened');
    open();
    assert.equal((await images).status, 200);
  } finally {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `server`'s wait for a first client ends while a GET of `path` is held; `release` lets it be answered. */
async function waitEnds(
  server: ApiServer,
  sock: string,
  path: string,
  release: () => void,
): Promise<void> {
  await server.listen([sock]);
  try {
    const waiting = server.firstClient(10_000);
    const held = call(sock, 'GET', path);
    assert.equal(await waiting, true);
    release();
    assert.equal((await held).status, 200);
  } finally {
    await server.close();
  }
}

test('the first client: its answer, or its wait for the start-up (at the gate, or for the facts of /info), ends the wait for it; none within the time, and it ends without', async () => {
  const dir = mkdtempSync('/tmp/sdfirst-');
  const sock = `${dir}/s.sock`;
  const api = new ApiServer({ serverHeader: 't' });
  for (const r of pingRoutes()) api.add(r);
  api.add({ method: 'GET', pattern: '/info', handler: (ctx) => ctx.json(200, {}) });
  await api.listen([sock]);
  try {
    // Nobody comes: the wait ends at its time, saying so.
    const started = Date.now();
    assert.equal(await api.firstClient(30), false);
    assert.ok(Date.now() - started >= 25);
    // A /_ping answered ends it well before its time.
    const waiting = api.firstClient(10_000);
    assert.equal((await call(sock, 'GET', '/_ping')).status, 200);
    assert.equal(await waiting, true);
    assert.equal(await api.firstClient(10_000), true, 'served once is served');
  } finally {
    await api.close();
  }

  // A route that waits for the start-up's facts (/info, /version) ends it too.
  const facts = new ApiServer({ serverHeader: 't' });
  let known = (): void => undefined;
  const startupDone = new Promise<void>((resolve) => (known = resolve));
  facts.add({
    method: 'GET',
    pattern: '/version',
    handler: async (ctx) => {
      facts.clientReached();
      await startupDone;
      ctx.json(200, {});
    },
  });
  await waitEnds(facts, sock, '/v1.41/version', known);

  // A request held at the closed gate ends it too (what the start-up does next is what it waits for).
  const gated = new ApiServer({ serverHeader: 't' });
  for (const r of pingRoutes()) gated.add(r);
  gated.add({ method: 'GET', pattern: '/info', handler: (ctx) => ctx.json(200, {}) });
  let open = (): void => undefined;
  gated.gate = new Promise((resolve) => (open = resolve));
  try {
    await waitEnds(gated, sock, '/v1.41/info', open);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('held until served: requests on the listening sockets (an upgrade too) wait for serve(), and do not end the wait for a first client until answered; those to come are not held', async () => {
  const dir = mkdtempSync('/tmp/sdhold-');
  const sock = `${dir}/s.sock`;
  const api = new ApiServer({ serverHeader: 't' });
  for (const r of pingRoutes()) api.add(r);
  api.add({
    method: 'POST',
    pattern: '/containers/{name}/attach',
    handler: (ctx) => ctx.json(200, 'not upgraded'),
    hijack: (ctx) => {
      ctx.socket.write('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    },
  });
  api.holdUntilServed();
  await api.listen([sock]);
  try {
    const ping = call(sock, 'GET', '/_ping');
    const attach = upgrade(sock, '/v1.41/containers/c/attach?stream=1');
    let answered = 0;
    void ping.then(() => (answered += 1));
    void attach.then(() => (answered += 1));
    // Waiting on the socket is not being answered: the start-up's wait goes on.
    assert.equal(await api.firstClient(150), false);
    assert.equal(answered, 0, 'a request was answered before the API was served');
    const waiting = api.firstClient(10_000);
    api.serve();
    assert.equal((await ping).status, 200);
    assert.equal(await waiting, true);
    const attached = await attach;
    assert.match(attached.head, /^HTTP\/1.1 101/);
    attached.socket.destroy();
    assert.equal((await call(sock, 'GET', '/_ping')).status, 200, 'served once is served');
  } finally {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('closed while held: the connections waiting to be served are cut at once, with no grace, and their sockets removed', async () => {
  const dir = mkdtempSync('/tmp/sdhold-');
  const sock = `${dir}/s.sock`;
  const api = new ApiServer({ serverHeader: 't', limits: { closeGraceMs: 5_000 } });
  for (const r of pingRoutes()) api.add(r);
  api.holdUntilServed();
  await api.listen([sock]);
  try {
    const s = connect(sock);
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    s.write('GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n');
    const seen = readAll(s, Buffer.alloc(0), 10_000);
    await sleep(50);
    const started = Date.now();
    const report = await api.close();
    assert.ok(Date.now() - started < 1_000, `close took ${Date.now() - started} ms`);
    assert.deepEqual(report.removed, [sock]);
    assert.equal(report.destroyed, 0, 'a held request counted as one being answered');
    const { data, closed } = await seen;
    assert.equal(closed, true);
    assert.equal(data.length, 0, `a held request was answered: ${data.toString()}`);
    assert.throws(() => statSync(sock), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

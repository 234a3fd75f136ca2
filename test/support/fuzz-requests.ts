import fc from 'fast-check';
import { request } from 'node:http';
import { connect } from 'node:net';

/**
 * Requests a careless or hostile client sends to the Engine API, for the fuzz campaign: every
 * route the daemon serves, with path parameters that are real, missing, `%2F`, `..`, huge or
 * odd; versions too old, too new or malformed; query values of the wrong kind; bodies of
 * wrong types, invalid JSON, huge numbers and strings, up to `maxBodyBytes`; and at the wire
 * level, truncated requests, broken chunked encoding, requests that drip in.
 */

export interface RouteSpec {
  method: string;
  pattern: string;
  hijack: boolean;
}

export type Wire = 'normal' | 'truncated' | 'brokenChunked' | 'slow' | 'upgrade';

export interface FuzzRequest {
  method: string;
  /** The path as sent (already encoded). */
  path: string;
  headers: Record<string, string>;
  /** A body, or the size of a body of filler bytes to stream (the 100 MB kind). */
  body: string | { filler: number } | null;
  wire: Wire;
  /** The route it was generated for. */
  route: string;
}

/**
 * Names the campaign keeps alive (a running container, an exited one, an image tag, a volume,
 * a user network), and the subnets its network bodies may name: only the daemon's own block,
 * so a network the campaign makes never takes an address range the host or another test uses.
 */
export interface Targets {
  containers: string[];
  images: string[];
  volumes: string[];
  networks: string[];
  subnets: string[];
  /** Names a network body may give its bridge (the campaign's own; checked gone afterwards). */
  bridgeNames: string[];
}

const versions = [
  '',
  '',
  '',
  '/v1.41',
  '/v1.40',
  '/v1.24',
  '/v1.12',
  '/v1.11',
  '/v1',
  '/v1.42',
  '/v9.99',
  '/v1.a',
  '/vx',
  '/v1..41',
  '/v99999999999999999999.1',
];

/** Path parameter values: as raw path text (some deliberately not encoded: `..`, `%2F`). */
const oddParams = [
  '',
  'nosuch',
  '..',
  '../..',
  'a/../../b',
  '%2F',
  'a%2Fb',
  '..%2F..%2Fetc',
  '%2e%2e',
  '.',
  '%00',
  '%zz',
  '%',
  encodeURIComponent('ü😀'),
  encodeURIComponent(' '),
  encodeURIComponent('a?b#c'),
  'x'.repeat(5000),
  'sha256:' + '0'.repeat(64),
  '0',
  '-1',
];

const queryKeys = [
  'all',
  'filters',
  'size',
  'limit',
  't',
  'signal',
  'force',
  'v',
  'link',
  'stream',
  'stdout',
  'stderr',
  'stdin',
  'logs',
  'follow',
  'tail',
  'since',
  'until',
  'timestamps',
  'condition',
  'name',
  'repo',
  'tag',
  'fromSrc',
  'changes',
  'ps_args',
  'detachKeys',
  'names',
  'quiet',
  'noprune',
  'h',
  'w',
  'nosuchparam',
];

const queryValues = [
  '1',
  '0',
  'true',
  'false',
  'yes',
  '',
  '-1',
  '99999999999999999999',
  '1e309',
  'NaN',
  'abc',
  '{',
  '{"a":1}',
  '[',
  'null',
  '{"status":{"running":true}}',
  '{"status":["exited"]}',
  '{"label":{"a=b":true}}',
  '{"until":{"10m":true}}',
  '{"nosuch":{"x":true}}',
  '{"status":{"x":"y"}}',
  'x'.repeat(10_000),
  '%00',
  'SIGKILL',
  'SIGTERM',
  'SIGNOPE',
  '-5',
  '3.7',
  'ctrl-p,ctrl-q',
  'ctrl-zz',
  'removed',
  'next-exit',
  'bogus',
  'all',
  '1700000000.5',
];

/** Keys of the create and volume bodies, with values of every kind. */
const bodyKeys = [
  'Image',
  'Cmd',
  'Entrypoint',
  'Env',
  'Tty',
  'OpenStdin',
  'StdinOnce',
  'AttachStdin',
  'Labels',
  'WorkingDir',
  'User',
  'Hostname',
  'StopSignal',
  'StopTimeout',
  'Volumes',
  'ExposedPorts',
  'HostConfig',
  'NetworkingConfig',
  'Name',
  'Driver',
  'DriverOpts',
  'Detach',
  'CheckDuplicate',
  'Internal',
  'Attachable',
  'EnableIPv6',
  'IPAM',
  'Options',
  'Container',
  'EndpointConfig',
  'Force',
  'NoSuchField',
];

const hostConfigKeys = [
  'Binds',
  'NetworkMode',
  'RestartPolicy',
  'AutoRemove',
  'Memory',
  'LogConfig',
  'Mounts',
  'PortBindings',
  'Privileged',
  'CapAdd',
  'NoSuchHostField',
];

function jsonish(depth: number): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -0, 0.5, 1e20),
    fc.string({ maxLength: 30 }),
    fc.constantFrom(
      'busybox',
      'sh',
      '/bin/sh',
      'none',
      'host',
      'no',
      'always',
      'x'.repeat(100_000),
    ),
  );
  if (depth <= 0) return leaf;
  return fc.oneof(
    { weight: 3, arbitrary: leaf },
    { weight: 1, arbitrary: fc.array(jsonish(depth - 1), { maxLength: 4 }) },
    {
      weight: 1,
      arbitrary: fc.dictionary(
        fc.constantFrom(...bodyKeys, ...hostConfigKeys),
        jsonish(depth - 1),
        {
          maxKeys: 4,
        },
      ),
    },
  );
}

/** A body for a route: none, a JSON object with wrong and right fields, invalid JSON, or huge. */
function bodyFor(maxBodyBytes: number, images: string[]): fc.Arbitrary<FuzzRequest['body']> {
  const validish = fc
    .record(
      {
        Image: fc.constantFrom(...images, 'nosuch', '', 'busybox@sha256:bad'),
        Cmd: fc.oneof(fc.constant(['true']), fc.constant(['sh', '-c', 'exit 3']), jsonish(1)),
        HostConfig: fc.oneof(
          fc.constant({ NetworkMode: 'none' }),
          fc.dictionary(fc.constantFrom(...hostConfigKeys), jsonish(1), { maxKeys: 3 }),
          jsonish(0),
        ),
        Name: fc.oneof(fc.string({ maxLength: 20 }), jsonish(0)),
        Labels: jsonish(1),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o));
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(null) },
    { weight: 4, arbitrary: validish },
    { weight: 2, arbitrary: jsonish(3).map((v) => JSON.stringify(v) ?? 'null') },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '{bad',
        '{"Image":',
        '[1,2',
        '"\\x"',
        'nul',
        '{"a":1}}}',
        '\u0000\u0001',
        '{"Image":"busybox"}garbage',
        '['.repeat(20_000),
      ),
    },
    { weight: 1, arbitrary: fc.constant(JSON.stringify({ Image: 'x'.repeat(1 << 20) })) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: Math.max(1, maxBodyBytes) }).map((n) => ({ filler: n })),
    },
  );
}

/** Mostly `good`, sometimes a value of any JSON kind. */
const mostly = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: jsonish(1) });

/**
 * Bodies of the network routes: create, connect and disconnect shapes, mostly right (so that
 * networks are made, containers connected and disconnected), with wrong kinds and values mixed in.
 */
function networkBody(targets: Targets, pattern: string): fc.Arbitrary<string> {
  const create = fc.record(
    {
      Name: fc.oneof(
        {
          weight: 6,
          arbitrary: fc.constantFrom(...targets.networks.filter((n) => n.startsWith('fzn-'))),
        },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 9999 }).map((n) => `fzn-${n}`) },
        { weight: 1, arbitrary: fc.constantFrom('', 'bridge', 'host', 'none', 'fznet') },
        { weight: 1, arbitrary: jsonish(0) },
      ),
      Driver: mostly(fc.constantFrom('bridge', 'bridge', '', 'host', 'null', 'overlay')),
      CheckDuplicate: mostly(fc.boolean()),
      Internal: mostly(fc.boolean()),
      Attachable: mostly(fc.boolean()),
      EnableIPv6: mostly(fc.constantFrom(false, false, true)),
      IPAM: mostly(
        fc.record(
          {
            Driver: fc.constantFrom('default', '', 'nosuch'),
            Config: fc.array(
              fc.record(
                {
                  Subnet: fc.constantFrom(...targets.subnets, '300.1.0.0/16', 'nosuch', ''),
                  Gateway: fc.constantFrom('', '10.0.0.1', 'bad'),
                  IPRange: fc.constantFrom('', 'bad', ...targets.subnets),
                },
                { requiredKeys: ['Subnet'] },
              ),
              { maxLength: 2 },
            ),
          },
          { requiredKeys: [] },
        ),
      ),
      Options: mostly(
        fc.dictionary(
          fc.constantFrom(
            'com.docker.network.bridge.name',
            'com.docker.network.driver.mtu',
            'com.docker.network.bridge.enable_icc',
            'com.docker.network.bridge.nosuch',
          ),
          fc.constantFrom(...targets.bridgeNames, 'x'.repeat(20), '1400', '-1', 'abc', 'false'),
          { maxKeys: 2 },
        ),
      ),
      Labels: mostly(fc.constant({ fz: '1' })),
    },
    { requiredKeys: ['Name'] },
  );
  const endpoint = mostly(
    fc.record(
      {
        Aliases: mostly(fc.constant(['fza'])),
        IPAMConfig: mostly(
          fc.record({ IPv4Address: fc.constantFrom('', 'bad', '10.0.0.9') }, { requiredKeys: [] }),
        ),
        Links: fc.constantFrom(null, [], ['x:y']),
      },
      { requiredKeys: [] },
    ),
  );
  const connect = fc.record(
    {
      Container: fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom(...targets.containers, 'nosuch', '') },
        { weight: 1, arbitrary: jsonish(0) },
      ),
      EndpointConfig: endpoint,
      Force: mostly(fc.boolean()),
    },
    { requiredKeys: ['Container'] },
  );
  // Right ones, so that networks are made and containers connected and disconnected.
  const names = targets.networks.filter((n) => n.startsWith('fzn-'));
  const goodCreate = fc.record(
    {
      Name: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...names) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 9999 }).map((n) => `fzn-${n}`) },
      ),
      CheckDuplicate: fc.boolean(),
      Internal: fc.boolean(),
      IPAM: fc.record({
        Config: fc.array(fc.record({ Subnet: fc.constantFrom(...targets.subnets) }), {
          maxLength: 1,
        }),
      }),
      Options: fc.oneof(
        fc.constant({}),
        fc.constant({ 'com.docker.network.driver.mtu': '1400' }),
        fc.constantFrom(...targets.bridgeNames).map((b) => ({
          'com.docker.network.bridge.name': b,
        })),
      ),
      Labels: fc.constant({ fz: '1' }),
    },
    { requiredKeys: ['Name'] },
  );
  const goodConnect = fc.record(
    {
      Container: fc.constantFrom(...targets.containers),
      EndpointConfig: fc.constantFrom({}, { Aliases: ['fza'] }),
    },
    { requiredKeys: ['Container'] },
  );
  const shapes: fc.Arbitrary<unknown> = pattern.endsWith('/create')
    ? fc.oneof({ weight: 2, arbitrary: goodCreate }, { weight: 1, arbitrary: create })
    : pattern.endsWith('connect')
      ? fc.oneof({ weight: 2, arbitrary: goodConnect }, { weight: 1, arbitrary: connect })
      : fc.oneof(create, connect);
  return shapes.map((o) => JSON.stringify(o));
}

/** A path parameter: a real target most of the time, an odd one otherwise. */
function paramFor(pattern: string, targets: Targets): fc.Arbitrary<string> {
  const real = pattern.startsWith('/images')
    ? targets.images
    : pattern.startsWith('/volumes')
      ? targets.volumes
      : pattern.startsWith('/networks')
        ? targets.networks
        : targets.containers;
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        ...real.map((r) => r.split('/').map(encodeURIComponent).join('/')),
      ),
    },
    { weight: 2, arbitrary: fc.constantFrom(...oddParams) },
  );
}

/** Requests for one route. */
function requestFor(
  route: RouteSpec,
  targets: Targets,
  maxBodyBytes: number,
): fc.Arbitrary<FuzzRequest> {
  const names = [...route.pattern.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
  const params = fc.tuple(...names.map(() => paramFor(route.pattern, targets)));
  const query = fc.array(fc.tuple(fc.constantFrom(...queryKeys), fc.constantFrom(...queryValues)), {
    maxLength: 5,
  });
  return fc
    .record({
      version: fc.constantFrom(...versions),
      params,
      query,
      body: route.pattern.startsWith('/networks')
        ? fc.oneof(
            { weight: 4, arbitrary: networkBody(targets, route.pattern) },
            { weight: 1, arbitrary: bodyFor(maxBodyBytes, targets.images) },
          )
        : bodyFor(maxBodyBytes, targets.images),
      contentType: fc.constantFrom(
        'application/json',
        'application/json',
        'text/plain',
        '',
        'application/x-tar',
        'application/json; charset=utf-8',
      ),
      wire: fc.oneof(
        { weight: 40, arbitrary: fc.constant<Wire>('normal') },
        { weight: 2, arbitrary: fc.constant<Wire>('truncated') },
        { weight: 2, arbitrary: fc.constant<Wire>('brokenChunked') },
        { weight: 1, arbitrary: fc.constant<Wire>('slow') },
        { weight: route.hijack ? 6 : 1, arbitrary: fc.constant<Wire>('upgrade') },
      ),
      otherMethod: fc.constantFrom(
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        'GET',
        'PUT',
        'PATCH',
      ),
    })
    .map((r) => {
      let i = 0;
      const path = route.pattern.replace(/\{\w+\}/g, () => r.params[i++] as string);
      const q = r.query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
      const headers: Record<string, string> = {};
      if (r.contentType !== '') headers['Content-Type'] = r.contentType;
      return {
        method: r.otherMethod ?? route.method,
        path: `${r.version}${path}${q === '' ? '' : `?${q}`}`,
        headers,
        body: r.body,
        wire: r.wire,
        route: `${route.method} ${route.pattern}`,
      };
    });
}

/** Requests spread over every route. */
export function fuzzRequests(
  routes: readonly RouteSpec[],
  targets: Targets,
  maxBodyBytes: number,
): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(...routes.map((r) => requestFor(r, targets, maxBodyBytes)));
}

export interface FuzzAnswer {
  /** 0: the connection closed (or the request was abandoned) before any status line. */
  status: number;
  contentType: string;
  body: string;
}

/** Filler of `n` bytes, streamed in 1 MiB pieces (never held whole). */
async function writeFiller(write: (b: Buffer) => Promise<void>, n: number): Promise<void> {
  const piece = Buffer.alloc(1 << 20, 0x41);
  for (let left = n; left > 0; left -= piece.length)
    await write(left >= piece.length ? piece : piece.subarray(0, left));
}

/**
 * Sends one request over a unix socket and reads its answer: the whole body when it ends
 * within `answerMs`, else what came (streams, attaches and waits do not end).
 */
export function send(sock: string, r: FuzzRequest, answerMs = 3_000): Promise<FuzzAnswer> {
  if (r.wire !== 'normal') return sendRaw(sock, r, answerMs);
  return new Promise((resolve) => {
    let settled = false;
    const done = (a: FuzzAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(a);
    };
    const timer = setTimeout(
      () => done({ status: 0, contentType: '', body: 'no answer in time' }),
      answerMs,
    );
    const bodyLength =
      r.body === null ? 0 : typeof r.body === 'string' ? Buffer.byteLength(r.body) : r.body.filler;
    const req = request(
      {
        socketPath: sock,
        method: r.method,
        path: r.path,
        headers: { ...r.headers, 'Content-Length': String(bodyLength) },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const status = res.statusCode ?? 0;
        const contentType = String(res.headers['content-type'] ?? '');
        const finish = (): void =>
          done({ status, contentType, body: Buffer.concat(chunks).toString() });
        // A stream (logs -f, events, wait, attach without upgrade): its head is the answer.
        const streamTimer = setTimeout(finish, 300);
        res.on('data', (c: Buffer) => {
          if (size < 4 << 20) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => {
          clearTimeout(streamTimer);
          finish();
        });
        res.on('error', () => finish());
      },
    );
    req.on('error', (err) =>
      done({ status: 0, contentType: '', body: `connection: ${err.message}` }),
    );
    const write = (b: Buffer): Promise<void> =>
      new Promise((ok) => {
        if (req.destroyed) return ok();
        if (req.write(b)) ok();
        else req.once('drain', ok);
      });
    void (async () => {
      if (typeof r.body === 'string') req.write(r.body);
      else if (r.body !== null) await writeFiller(write, r.body.filler).catch(() => undefined);
      if (!req.destroyed) req.end();
    })();
  });
}

/** The wire-level abuses: truncated, broken chunked, dripping, upgraded. */
function sendRaw(sock: string, r: FuzzRequest, answerMs: number): Promise<FuzzAnswer> {
  return new Promise((resolve) => {
    const s = connect(sock);
    let data = '';
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      const ct = /\r\ncontent-type: ([^\r]*)/i.exec(data);
      const sep = data.indexOf('\r\n\r\n');
      resolve({
        status: m ? Number(m[1]) : 0,
        contentType: ct?.[1] ?? '',
        body: sep < 0 ? '' : data.slice(sep + 4, sep + 4 + 65536),
      });
    };
    const timer = setTimeout(done, r.wire === 'slow' ? answerMs + 2_000 : answerMs);
    s.on('error', done);
    s.on('data', (c: Buffer) => {
      if (data.length < 1 << 16) data += c.toString('latin1');
      // An upgraded stream's head is its answer.
      if (r.wire === 'upgrade' && data.includes('\r\n\r\n')) setTimeout(done, 200);
    });
    s.on('close', done);
    const body = typeof r.body === 'string' ? r.body : '';
    const head = (extra: string) =>
      `${r.method} ${r.path} HTTP/1.1\r\nHost: statedock\r\n${Object.entries(r.headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('')}${extra}\r\n`;
    s.once('connect', () => {
      switch (r.wire) {
        case 'truncated': {
          const full = head(`Content-Length: ${Buffer.byteLength(body)}\r\n`) + body;
          s.write(full.slice(0, Math.max(1, Math.floor(full.length / 2))));
          setTimeout(() => s.destroy(), 20);
          return;
        }
        case 'brokenChunked':
          s.write(`${head('Transfer-Encoding: chunked\r\n')}zz\r\n${body}\r\n5\r\nab\r\n0\r\n\r\n`);
          return;
        case 'slow': {
          const full = head(`Content-Length: ${Buffer.byteLength(body)}\r\n`) + body;
          const parts = [full.slice(0, 10), full.slice(10, 40), full.slice(40)];
          parts.forEach((p, i) => setTimeout(() => !s.destroyed && s.write(p), i * 400));
          return;
        }
        case 'upgrade':
          s.write(
            head(
              `Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`,
            ) + body,
          );
          return;
        case 'normal':
          return;
      }
    });
  });
}

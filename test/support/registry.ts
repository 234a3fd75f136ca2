import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, connect, type Socket } from 'node:net';

/** Why registry tests cannot run here, or null. */
export function registryUnavailable(): string | null {
  if (spawnSync('which', ['docker-registry']).status !== 0)
    return 'needs docker-registry (apt-get install docker-registry; scripts/setup.sh --test)';
  if (spawnSync('which', ['openssl']).status !== 0) return 'needs openssl';
  return null;
}

/** A free TCP port on loopback. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Tls {
  ca: string;
  cert: string;
  key: string;
}

/** A private CA and a server certificate for `ip` (and localhost), made with openssl. */
export function makeTls(dir: string, ip = '127.0.0.1'): Tls {
  mkdirSync(dir, { recursive: true });
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=statedock-test-ca',
  ]);
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'srv.key',
    '-out',
    'srv.csr',
    '-subj',
    `/CN=${ip}`,
  ]);
  writeFileSync(`${dir}/ext.cnf`, `subjectAltName=IP:${ip},DNS:localhost\n`);
  run([
    'x509',
    '-req',
    '-in',
    'srv.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'srv.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ]);
  return { ca: `${dir}/ca.crt`, cert: `${dir}/srv.crt`, key: `${dir}/srv.key` };
}

export interface RegistryOptions {
  host?: string;
  tls?: Tls;
  htpasswd?: string;
  token?: { realm: string; service: string; issuer: string; rootcertbundle: string };
}

export interface RunningRegistry {
  port: number;
  host: string;
  /** `host:port`, the name images are tagged with. */
  address: string;
  child: ChildProcess;
  log: () => string;
  /** Access log lines of requests (method and path) since `from` (a `log().length`). */
  requests: (from?: number) => string[];
  stop: () => Promise<void>;
}

/** Debian's docker-registry (distribution 2.8) on a free port, with its own storage under `dir`. */
export async function startRegistry(
  dir: string,
  opts: RegistryOptions = {},
): Promise<RunningRegistry> {
  mkdirSync(dir, { recursive: true });
  const host = opts.host ?? '127.0.0.1';
  const port = await freePort(host);
  const lines = [
    'version: 0.1',
    'log: {level: info, accesslog: {disabled: false}}',
    `storage: {filesystem: {rootdirectory: ${dir}/storage}, delete: {enabled: true}}`,
    `http: {addr: "${host}:${port}"${opts.tls ? `, tls: {certificate: ${opts.tls.cert}, key: ${opts.tls.key}}` : ''}}`,
  ];
  if (opts.htpasswd) lines.push(`auth: {htpasswd: {realm: test-realm, path: ${opts.htpasswd}}}`);
  if (opts.token)
    lines.push(
      `auth: {token: {realm: "${opts.token.realm}", service: ${opts.token.service}, issuer: ${opts.token.issuer}, rootcertbundle: ${opts.token.rootcertbundle}}}`,
    );
  writeFileSync(`${dir}/config.yml`, `${lines.join('\n')}\n`);
  const child = spawn('docker-registry', ['serve', `${dir}/config.yml`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (out.includes('listening on')) break;
    if (child.exitCode !== null) throw new Error(`docker-registry exited:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not listen:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  return {
    port,
    host,
    address: `${host}:${port}`,
    child,
    log: () => out,
    requests: (from = 0) =>
      [
        ...out.slice(from).matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) ([^ ]+) HTTP\/1\.1" (\d+)/g),
      ].map((m) => `${m[1] as string} ${m[2] as string} ${m[3] as string}`),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** htpasswd (bcrypt) for one user, from apache2-utils. */
export function htpasswd(path: string, user: string, password: string): string {
  writeFileSync(path, execFileSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8' }));
  return path;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  rootcertbundle: string;
  /** Requests it answered: `scope` and `account` as sent. */
  requests: { scope: string[]; account: string | null; basic: boolean }[];
  close: () => Promise<void>;
}

/**
 * A token server for distribution's token auth: RS256 JWTs signed by a key whose self-signed
 * certificate is the registry's rootcertbundle. `users` may push and pull; anonymous callers
 * may pull only; a wrong password gets 401 with Docker Hub's `details` shape.
 */
export async function startTokenServer(
  dir: string,
  users: Record<string, string>,
): Promise<TokenServer> {
  mkdirSync(dir, { recursive: true });
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'tok.key',
      '-out',
      'tok.crt',
      '-days',
      '2',
      '-subj',
      '/CN=token-signer',
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  const key = readFileSync(`${dir}/tok.key`, 'utf8');
  const der = execFileSync('openssl', ['x509', '-in', 'tok.crt', '-outform', 'DER'], { cwd: dir });
  const service = 'test-registry';
  const issuer = 'test-issuer';
  const requests: TokenServer['requests'] = [];
  const server: Server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' '));
    const auth = req.headers.authorization;
    let user: string | null = null;
    if (auth?.startsWith('Basic ')) {
      const [u = '', p = ''] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (users[u] !== p) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        requests.push({ scope: scopes, account: url.searchParams.get('account'), basic: true });
        return;
      }
      user = u;
    }
    requests.push({
      scope: scopes,
      account: url.searchParams.get('account'),
      basic: user !== null,
    });
    const access = scopes
      .map((s) => s.split(':'))
      .filter((p) => p.length >= 3 && p[0] === 'repository')
      .map((p) => ({
        type: 'repository',
        name: p.slice(1, -1).join(':'),
        actions: (p.at(-1) as string).split(',').filter((a) => user !== null || a === 'pull'),
      }));
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] };
    const claims = {
      iss: issuer,
      sub: user ?? '',
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: `${now}-${Math.random()}`,
      access,
    };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(signing).sign(key);
    const token = `${signing}.${b64url(sig)}`;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: 300,
        issued_at: new Date().toISOString(),
      }),
    );
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootcertbundle: `${dir}/tok.crt`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface TcpProxy {
  port: number;
  address: string;
  /** Request heads (first line and Range header) seen from clients. */
  seen: string[];
  /** Cut the connection after `bytes` of the response to the next GET of this blob digest (once). */
  cutBlob: (digest: string, bytes: number) => void;
  /** Hold every blob response this long before passing it on. */
  delayBlobsMs: number;
  close: () => Promise<void>;
}

/** A TCP proxy in front of a registry that can cut a blob download midway or slow it down. */
export async function startProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const cuts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const proxy: TcpProxy = {
    port: 0,
    address: '',
    seen: [],
    cutBlob: (digest, bytes) => cuts.set(digest, bytes),
    delayBlobsMs: 0,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    let cutAfter: number | null = null;
    let sent = 0;
    let delay = 0;
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      for (const m of text.matchAll(/^(GET|HEAD|PUT|POST|PATCH|DELETE) ([^ ]+) HTTP\/1\.1\r\n/gm)) {
        const range = /\r\nRange: ([^\r\n]+)/i.exec(text.slice(m.index));
        proxy.seen.push(
          `${m[1] as string} ${m[2] as string}${range ? ` Range: ${range[1] as string}` : ''}`,
        );
        const blob = /\/blobs\/(sha256:[a-f0-9]{64})/.exec(m[2] as string);
        if (m[1] === 'GET' && blob) {
          delay = proxy.delayBlobsMs;
          const cut = cuts.get(blob[1] as string);
          if (cut !== undefined) {
            cuts.delete(blob[1] as string);
            cutAfter = cut;
            sent = 0;
          }
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const pass = (): void => {
        if (cutAfter !== null) {
          const room = cutAfter - sent;
          if (chunk.length >= room) {
            client.write(chunk.subarray(0, Math.max(0, room)));
            cutAfter = null;
            client.destroy();
            upstream.destroy();
            return;
          }
          sent += chunk.length;
        }
        client.write(chunk);
      };
      if (delay > 0) {
        upstream.pause();
        const d = delay;
        delay = 0;
        setTimeout(() => {
          pass();
          upstream.resume();
        }, d);
      } else pass();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as { port: number }).port;
  proxy.address = `127.0.0.1:${proxy.port}`;
  return proxy;
}

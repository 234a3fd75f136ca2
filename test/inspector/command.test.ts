import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { simulate } from '../../src/sim/simulate.ts';
import { defaultConfig } from '../support/configs.ts';

const entry = join(import.meta.dirname, 'cli-entry.ts');
const dir = mkdtempSync('/tmp/sdinsp-');
let trace = '';

before(() => {
  const run = simulate({
    config: defaultConfig(),
    seed: 1,
    faults: [{ effect: '*', step: 'layerStore', nth: 1, action: { fail: 'EIO' } }],
  });
  trace = `${dir}/fail.jsonl`;
  writeFileSync(trace, run.trace?.toJsonLines() ?? '');
});
after(() => rmSync(dir, { recursive: true, force: true }));

function inspect(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', entry, 'inspect', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          body,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

for (const [name, args, message] of [
  [
    'no source',
    [],
    'statedock inspect: nothing to inspect: give --trace FILE and/or --daemon unix:///PATH.sock',
  ],
  [
    'a daemon address that is not unix://',
    ['--daemon', 'tcp://127.0.0.1:2375'],
    'statedock inspect: --daemon takes unix:///PATH.sock, got "tcp://127.0.0.1:2375"',
  ],
  [
    'a port that is not a number',
    ['--trace', 'x', '--port', 'http'],
    'statedock inspect: --port takes a port number (0-65535), got "http"',
  ],
  [
    'a trace file that does not exist',
    ['--trace', '/nonexistent/t.jsonl'],
    'statedock inspect: cannot read trace /nonexistent/t.jsonl: no such file',
  ],
] as const) {
  test(`refuses ${name} with one clear line and exit status 2`, () => {
    const r = inspect(...args);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `${message}\n`);
    assert.equal(r.stdout, '');
  });
}

test('refuses a file that is not a trace, naming the line', () => {
  const bad = `${dir}/bad.jsonl`;
  writeFileSync(bad, 'hello\n');
  const r = inspect('--trace', bad);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, new RegExp(`^statedock inspect: ${bad}:1: not JSON`));
});

test('a daemon socket nobody answers on is one line and exit status 1', () => {
  const r = inspect('--daemon', `unix://${dir}/none.sock`);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `statedock inspect: cannot read the inspection feed of unix://${dir}/none.sock: no such socket\n`,
  );
});

test('a port already in use is one line and exit status 1', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const r = inspect('--trace', trace, '--port', String(port));
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      `statedock inspect: port ${port} is already in use on 127.0.0.1; pick another with --port or leave it out\n`,
    );
  } finally {
    blocker.close();
  }
});

test('serves the page and its API on 127.0.0.1, prints the address, and stops on SIGTERM', async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', entry, 'inspect', '--trace', trace, '--trace', trace],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  try {
    const deadline = Date.now() + 60_000;
    while (!/http:\/\/127\.0\.0\.1:\d+\//.test(out)) {
      assert.ok(
        Date.now() < deadline && child.exitCode === null,
        `no address printed: ${out} ${err}`,
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = (/(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out) as RegExpExecArray)[1] as string;
    assert.equal(out, `statedock inspect: ${url}\n`);
    const page = await get(url);
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /<script type="module" src="app.js">/);
    assert.doesNotMatch(page.body, /https?:\/\//, 'the page loads nothing from elsewhere');
    const app = await get(`${url}app.js`);
    assert.equal(app.status, 200);
    assert.match(app.type, /javascript/);
    assert.equal((await get(`${url}elk-worker.js`)).status, 200);
    const sources = JSON.parse((await get(`${url}api/sources`)).body) as {
      id: string;
      title: string;
      kind: string;
    }[];
    assert.deepEqual(
      sources.map((s) => [s.id, s.title, s.kind]),
      [
        ['t0', 'fail.jsonl', 'trace'],
        ['t1', 'fail.jsonl', 'trace'],
      ],
    );
    const rows = (await get(`${url}api/sources/t0/rows`)).body.trim().split('\n');
    assert.equal(rows.length, 1);
    const chunk = JSON.parse(rows[0] as string) as { rows: unknown[]; actors: { add: string[] } };
    assert.deepEqual(chunk.actors.add, ['daemon']);
    assert.ok(chunk.rows.length > 100);
    const verdicts = JSON.parse((await get(`${url}api/sources/t0/constraints`)).body) as {
      status: string;
    }[];
    assert.ok(verdicts.length > 10 && verdicts.every((v) => v.status === 'pass'));
    const forbidden = await get(url, { Host: 'evil.example:80' });
    assert.equal(forbidden.status, 403, 'another host name (DNS rebinding) is refused');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, err);
});

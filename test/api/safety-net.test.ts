import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { call, sleep, upgrade } from '../support/raw-http.ts';

test('an uncaught exception names the request that caused it, cuts its connection, and the server serves on; outside a request it is fatal, never swallowed', async () => {
  const dir = mkdtempSync('/tmp/sdsn-');
  const sock = `${dir}/s.sock`;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', `${import.meta.dirname}/safety-net.child.ts`, sock],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 200 && !out.includes('READY'); i++) await sleep(50);
    assert.match(out, /READY/);

    const timer = call(sock, 'GET', '/throw/timer', { timeoutMs: 5_000 }).then(
      () => 'answered',
      () => 'cut',
    );
    assert.equal(await timer, 'cut');
    assert.match(
      out,
      /uncaught exception serving GET \/throw\/timer: its connection is cut.*thrown by a timer/s,
    );

    const h = await upgrade(sock, '/throw/hijacked');
    const closed = new Promise((r) => h.socket.once('close', r));
    h.socket.on('error', () => undefined);
    h.socket.resume();
    h.socket.write('x');
    await closed;
    assert.match(
      out,
      /uncaught exception serving POST \/throw\/hijacked: its connection is cut.*thrown by a hijacked socket listener/s,
    );

    assert.equal((await call(sock, 'GET', '/_ping')).text, 'OK', 'the server serves on');

    await call(sock, 'POST', '/throw/daemon').catch(() => null);
    assert.equal(await exited, 7);
    assert.match(
      out,
      /uncaught exception in the daemon, outside any request: exiting.*thrown by the daemon itself/s,
    );
    assert.match(out, /FATAL-EXIT/);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

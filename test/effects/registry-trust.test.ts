import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import type { SecureContext } from 'node:tls';
import { ExtraCaCertificates } from '../../effects/registry/trust.ts';
import { makeTls, registryUnavailable } from '../support/registry.ts';

const dir = mkdtempSync('/tmp/sdtrust-');
after(() => rmSync(dir, { recursive: true, force: true }));
const noOpenssl = registryUnavailable()?.includes('openssl') ? 'needs openssl' : false;

/** GET https://127.0.0.1:port/ with this secure context (or Node's default): the status, or the TLS error's code. */
function get(port: number, secureContext: SecureContext | undefined): Promise<string> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        // A connection of its own each time: a kept-alive one would skip the handshake.
        agent: false,
        ...(secureContext === undefined ? {} : { secureContext }),
      },
      (res) => {
        res.resume();
        resolve(String(res.statusCode));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

test(
  'the file NODE_EXTRA_CA_CERTS names is read on first use, once, and its CAs are trusted',
  { skip: noOpenssl },
  async () => {
    const tls = makeTls(`${dir}/tls`);
    const server = createServer(
      { cert: readFileSync(tls.cert), key: readFileSync(tls.key) },
      (_, res) => res.end('ok'),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    after(() => server.close());
    const port = (server.address() as AddressInfo).port;

    const none = new ExtraCaCertificates({});
    assert.equal(
      await none.contextFor([]),
      undefined,
      'nothing beyond the defaults: Node’s own context',
    );
    assert.equal(await get(port, await none.contextFor([])), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');

    const env: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: tls.ca };
    const trust = new ExtraCaCertificates(env);
    const context = await trust.contextFor([]);
    assert.ok(context);
    assert.equal(await get(port, context), '200');
    // Built once per set of CAs; the file is not read again.
    env['NODE_EXTRA_CA_CERTS'] = `${dir}/gone.pem`;
    assert.equal(await trust.contextFor([]), context);
    // A registry's own CA (certs.d) alone is trusted too.
    assert.equal(await get(port, await none.contextFor([readFileSync(tls.ca, 'utf8')])), '200');
  },
);

test('a file that cannot be read is warned about, as Node does, and left out', async () => {
  const warnings: string[] = [];
  const trust = new ExtraCaCertificates({ NODE_EXTRA_CA_CERTS: `${dir}/missing.pem` }, (m) =>
    warnings.push(m),
  );
  assert.equal(trust.extra(), '');
  assert.equal(await trust.contextFor([]), undefined);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] as string, /^Ignoring extra certs from `.*missing\.pem`, load failed: /);
});

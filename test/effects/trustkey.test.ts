import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { base32, keyIdFromJwk, loadOrCreateTrustKey } from '../../effects/fs/trustkey.ts';

const dir = mkdtempSync('/tmp/sd-key-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('base32 is RFC 4648’s alphabet without padding (RFC test vectors)', () => {
  const enc = (s: string) => base32(Buffer.from(s));
  assert.equal(enc('f'), 'MY');
  assert.equal(enc('fo'), 'MZXQ');
  assert.equal(enc('foo'), 'MZXW6');
  assert.equal(enc('foobar'), 'MZXW6YTBOI');
});

test('creates an ECDSA P-256 key, 0600, whose ID is libtrust’s format, and reloads the same ID', async () => {
  const path = `${dir}/sub/key.json`;
  const first = await loadOrCreateTrustKey(path);
  assert.equal(first.created, true);
  assert.match(first.keyId, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const jwk = JSON.parse(readFileSync(path, 'utf8')) as { kty: string; crv: string; kid: string };
  assert.equal(jwk.kty, 'EC');
  assert.equal(jwk.crv, 'P-256');
  assert.equal(jwk.kid, first.keyId);
  const again = await loadOrCreateTrustKey(path);
  assert.deepEqual(again, { keyId: first.keyId, created: false });
});

test('the key ID is SHA-256 over the DER public key, 240 bits, base32, in groups of four', async () => {
  const path = `${dir}/k2.json`;
  const { keyId } = await loadOrCreateTrustKey(path);
  const jwk = JSON.parse(readFileSync(path, 'utf8')) as {
    kty: string;
    crv: string;
    x: string;
    y: string;
  };
  // DER SubjectPublicKeyInfo of a P-256 key: a fixed 26-byte prefix, then 0x04 || X || Y.
  const prefix = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
  const der = Buffer.concat([
    prefix,
    Buffer.from([4]),
    Buffer.from(jwk.x, 'base64url'),
    Buffer.from(jwk.y, 'base64url'),
  ]);
  const expected = (
    base32(createHash('sha256').update(der).digest().subarray(0, 30)).match(/.{4}/g) as string[]
  ).join(':');
  assert.equal(keyId, expected);
  assert.equal(keyIdFromJwk(jwk), expected);
});

test('a corrupt key file is an error naming the file', async () => {
  const path = `${dir}/bad.json`;
  writeFileSync(path, '{not json');
  await assert.rejects(loadOrCreateTrustKey(path), new RegExp(`Error loading key file ${path}`));
});

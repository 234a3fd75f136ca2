import { createHash, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EffectFailure, failureFrom } from '../handler.ts';

const base32Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += base32Alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += base32Alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** libtrust's key ID: SHA-256 of the DER public key, first 240 bits, base32, 12 groups of 4. */
export function keyIdFromSpki(der: Uint8Array): string {
  const digest = createHash('sha256').update(der).digest().subarray(0, 30);
  return (base32(digest).match(/.{4}/g) as string[]).join(':');
}

interface Jwk {
  kty: string;
  crv: string;
  kid?: string;
  x: string;
  y: string;
  d?: string;
}

export function keyIdFromJwk(jwk: Jwk): string {
  const pub = createPublicKey({
    key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
    format: 'jwk',
  });
  return keyIdFromSpki(pub.export({ type: 'spki', format: 'der' }));
}

/** A new P-256 key, generated on libuv's thread pool: the event loop keeps answering meanwhile. */
function newEcKey(): Promise<KeyObject> {
  return new Promise((resolve, reject) =>
    generateKeyPair('ec', { namedCurve: 'P-256' }, (err, _publicKey, privateKey) =>
      err ? reject(err) : resolve(privateKey),
    ),
  );
}

/**
 * Loads the daemon's libtrust key (ECDSA P-256, JWK in key.json) or creates it (0600,
 * written atomically, directory 0700). The daemon ID is its key ID, stable across restarts.
 */
export async function loadOrCreateTrustKey(
  path: string,
): Promise<{ keyId: string; created: boolean }> {
  let text: string | null = null;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw failureFrom(err, 'open', path);
  }
  if (text !== null) {
    try {
      const jwk = JSON.parse(text) as Jwk;
      if (jwk.kty !== 'EC' || jwk.crv !== 'P-256')
        throw new Error(`unsupported key type ${jwk.kty}/${jwk.crv}`);
      return { keyId: keyIdFromJwk(jwk), created: false };
    } catch (err) {
      throw new EffectFailure(
        'EINVAL',
        `Error loading key file ${path}: ${(err as Error).message}`,
      );
    }
  }
  const privateKey = await newEcKey();
  const jwk = privateKey.export({ format: 'jwk' }) as Jwk;
  const keyId = keyIdFromJwk(jwk);
  const content = JSON.stringify({
    crv: jwk.crv,
    d: jwk.d,
    kid: keyId,
    kty: jwk.kty,
    x: jwk.x,
    y: jwk.y,
  });
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    throw new EffectFailure(
      failureFrom(err, 'write', path).code,
      `Error saving key file: ${failureFrom(err, 'write', path).message}`,
    );
  }
  return { keyId, created: true };
}

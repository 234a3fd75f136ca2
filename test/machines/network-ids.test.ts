import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatIp } from '../../machines/network/cidr.ts';
import { idFrom } from '../../machines/network/start.ts';
import { isoFromMs } from '../../machines/network/time.ts';

/*
 * The network controller's IDs, addresses and timestamps end up in the database, the rules
 * and recorded traces: these written-out definitions hold the fast ones to the same text.
 */

function idFromByDefinition(seed: string): string {
  let h = 0x811c9dc5;
  let out = '';
  for (let round = 0; out.length < 64; round++) {
    for (const ch of `${round}:${seed}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    out += h.toString(16).padStart(8, '0');
  }
  return out.slice(0, 64);
}

const seed = process.env['FC_SEED'] === undefined ? undefined : Number(process.env['FC_SEED']);
const params = { numRuns: 2000, ...(seed === undefined ? {} : { seed }) };

test('idFrom hashes each code point of the seed by its first UTF-16 unit, in 64 hex digits', () => {
  for (const s of ['', 'a', '/var/lib/statedock:1:0:none', '\u{1f600}x', '\ud800', 'x\udc00y'])
    assert.equal(idFrom(s), idFromByDefinition(s), JSON.stringify(s));
  assert.equal(idFrom('/var/lib/statedock:1:0:none').length, 64);
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => {
      assert.equal(idFrom(s), idFromByDefinition(s));
    }),
    { ...params, numRuns: 300 },
  );
});

test('formatIp writes a dotted quad', () => {
  assert.equal(formatIp(0), '0.0.0.0');
  assert.equal(formatIp(0xffffffff), '255.255.255.255');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
      assert.equal(formatIp(n), [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'));
    }),
    params,
  );
});

test('isoFromMs writes what Date writes', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => {
      assert.equal(isoFromMs(ms), new Date(ms).toISOString());
    }),
    params,
  );
});

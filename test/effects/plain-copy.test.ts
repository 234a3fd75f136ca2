import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { copyPlain } from '../../effects/sim/plain-copy.ts';

const seed = process.env['FC_SEED'] === undefined ? undefined : Number(process.env['FC_SEED']);
const params = { numRuns: 1000, ...(seed === undefined ? {} : { seed }) };

test('copyPlain gives what structuredClone gives, sharing nothing with the original', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue(),
        fc.anything({
          withNullPrototype: true,
          // No Date: an invalid one never deep-equals its copy (NaN), and records hold none.
          withDate: false,
          withMap: true,
          withSet: true,
          withSparseArray: true,
          withObjectString: true,
        }),
      ),
      (v) => {
        const copy = copyPlain(v);
        assert.deepStrictEqual(copy, structuredClone(v));
        if (v !== null && typeof v === 'object') assert.notEqual(copy, v);
      },
    ),
    params,
  );
  const own = JSON.parse('{"__proto__":{"a":1},"b":[1,null,3]}') as object;
  assert.deepStrictEqual(copyPlain(own), structuredClone(own));
  // eslint-disable-next-line no-sparse-arrays
  const sparse = [1, , 3];
  assert.deepStrictEqual(copyPlain(sparse), structuredClone(sparse));
  assert.throws(() => copyPlain({ f: () => 1 }), /could not be cloned/);
});

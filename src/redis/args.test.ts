// Goal: decimalBytes writes exactly the bytes of the number's decimal text (INCR's stored value),
// for every safe integer and every 64-bit bigint, signs and zero included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decimalBytes } from './args.ts';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

test('decimalBytes is the decimal text of numbers and 64-bit bigints', () => {
  fc.assert(fc.property(fc.maxSafeInteger(), (n) => assert.equal(text(decimalBytes(n)), String(n))));
  fc.assert(
    fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (n) =>
      assert.equal(text(decimalBytes(n)), n.toString()),
    ),
  );
  assert.deepEqual([...decimalBytes(-0)], [0x30]);
  assert.deepEqual([...decimalBytes(-12n)], [0x2d, 0x31, 0x32]);
});

// Goal: a list's storage encodings (list.ts) are the layout keys.ts states, byte for byte, for any
// position a list can reach: a position's sub-key is u64be(pos + 2^63) and a head is two i64be
// (left, right); decoding a head gives back what was encoded. Checked against BigInt's own
// conversions (the arithmetic in list.ts avoids BigInt on the hot path).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeListHead, encodeListHead, positionSub } from './list.ts';

const position = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
  fc.maxSafeInteger().map((n) => n - (n % 2)),
  fc.constantFrom(
    0,
    -1,
    1,
    2 ** 32,
    -(2 ** 32),
    2 ** 32 - 1,
    -(2 ** 32) + 1,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
  ),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
);

test('positionSub is u64be(pos + 2^63) and sorts as the positions do', () => {
  fc.assert(
    fc.property(position, position, (a, b) => {
      const sa = positionSub(a);
      const want = new Uint8Array(8);
      new DataView(want.buffer).setBigUint64(0, BigInt(a) + 2n ** 63n, false);
      assert.deepEqual(sa, want);
      const sb = positionSub(b);
      assert.equal(Math.sign(Buffer.compare(sa, sb)), Math.sign(a - b));
    }),
    { numRuns: 2000 },
  );
});

test('a list head is two i64be and decodes to what was encoded', () => {
  fc.assert(
    fc.property(position, position, (left, right) => {
      const bytes = encodeListHead({ left, right });
      const want = new Uint8Array(16);
      const v = new DataView(want.buffer);
      v.setBigInt64(0, BigInt(left), false);
      v.setBigInt64(8, BigInt(right), false);
      assert.deepEqual(bytes, want);
      assert.deepEqual(decodeListHead(bytes), { left, right });
    }),
    { numRuns: 2000 },
  );
  assert.deepEqual(decodeListHead(new Uint8Array(3)), { left: 0, right: -1 }, 'not a head: empty');
});

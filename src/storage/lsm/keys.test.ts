// Goal: storage keys (keys.ts) order by (token, key, sub-key) bytewise, keep every key's head and
// elements in one contiguous range that no other key's entries enter, and decode back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compareKeys } from './entry.ts';
import { collectionRange, decodeStorageKey, elementKey, headKey, prefixEnd, storageKeyOf, tokenStart } from './keys.ts';

const parts = fc.record({
  token: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  key: fc.uint8Array({ maxLength: 6 }),
  sub: fc.uint8Array({ maxLength: 4 }),
});

function compareParts(a: { token: bigint; key: Uint8Array; sub: Uint8Array }, b: typeof a): number {
  if (a.token !== b.token) return a.token < b.token ? -1 : 1;
  const k = compareKeys(a.key, b.key);
  return k !== 0 ? k : compareKeys(a.sub, b.sub);
}

test('encoded order is (token, key, sub) order, and keys decode back', () => {
  fc.assert(
    fc.property(parts, parts, (a, b) => {
      const ea = elementKey(a.token, a.key, a.sub);
      const eb = elementKey(b.token, b.key, b.sub);
      assert.equal(Math.sign(compareKeys(ea, eb)), Math.sign(compareParts(a, b)));
      const d = decodeStorageKey(ea);
      assert.ok(typeof d !== 'string');
      assert.deepEqual(d, { token: a.token, key: a.key, sub: a.sub });
    }),
  );
});

test("a key's range holds its head and elements and no other key's entries", () => {
  fc.assert(
    fc.property(parts, parts, (a, b) => {
      const { start, end } = collectionRange(a.token, a.key);
      const inside = (k: Uint8Array) => compareKeys(k, start) >= 0 && (end === null || compareKeys(k, end) < 0);
      assert.ok(inside(headKey(a.token, a.key)));
      assert.ok(inside(elementKey(a.token, a.key, a.sub)));
      const sameKey = a.token === b.token && compareKeys(a.key, b.key) === 0;
      assert.equal(inside(elementKey(b.token, b.key, b.sub)), sameKey);
    }),
  );
});

test('prefixEnd and token bounds', () => {
  assert.deepEqual(prefixEnd(Uint8Array.of(1, 0xff)), Uint8Array.of(2));
  assert.equal(prefixEnd(Uint8Array.of(0xff, 0xff)), null);
  assert.ok(compareKeys(tokenStart(5n), headKey(5n, new Uint8Array(0))) < 0);
  assert.ok(compareKeys(headKey(5n, Uint8Array.of(0xff, 0xff)), tokenStart(6n)) < 0);
  assert.equal(typeof decodeStorageKey(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 7)), 'string');
  assert.equal(typeof decodeStorageKey(Uint8Array.of(1, 2, 3)), 'string');
});

test('storageKeyOf builds the same bytes as elementKey (and headKey when sub is empty) in one go', () => {
  fc.assert(
    fc.property(parts, fc.uint8Array({ maxLength: 40 }), ({ token, sub }, key) => {
      const tokenInto = (_k: Uint8Array, out: Uint8Array) => new DataView(out.buffer).setBigUint64(0, token, false);
      assert.deepEqual(storageKeyOf(key, sub, tokenInto), elementKey(token, key, sub));
      assert.deepEqual(storageKeyOf(key, new Uint8Array(0), tokenInto), headKey(token, key));
    }),
    { numRuns: 1000 },
  );
});

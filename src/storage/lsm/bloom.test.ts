// Goal: a run's bloom filter never says "absent" for a key it holds, says "present" for few keys it
// does not hold (the false-positive rate the header states), and its encoding round-trips and
// refuses malformed bytes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BLOOM_BITS_MAX, BloomFilter, bloomBitCount } from './bloom.ts';

const key = (i: number) => new TextEncoder().encode(`key-${i}`);

test('no false negatives, and about 1 % false positives at 10 bits per key', () => {
  const bloom = BloomFilter.create(10_000, 10);
  for (let i = 0; i < 10_000; i++) bloom.add(key(i));
  for (let i = 0; i < 10_000; i++) assert.ok(bloom.mayContain(key(i)));
  let falsePositives = 0;
  for (let i = 10_000; i < 60_000; i++) if (bloom.mayContain(key(i))) falsePositives++;
  const rate = falsePositives / 50_000;
  assert.ok(rate < 0.02, `false positive rate ${rate}`);
  assert.equal(bloom.bytes, 12_500);
});

test('the encoding round-trips; malformed bytes are a reason', () => {
  const bloom = BloomFilter.create(100, 10);
  for (let i = 0; i < 100; i++) bloom.add(key(i));
  const decoded = BloomFilter.decode(bloom.encode());
  assert.ok(typeof decoded !== 'string');
  for (let i = 0; i < 100; i++) assert.ok(decoded.mayContain(key(i)));
  assert.equal(typeof BloomFilter.decode(bloom.encode().subarray(0, 10)), 'string');
  assert.equal(typeof BloomFilter.decode(Uint8Array.of(0, 1, 0, 0, 0, 0)), 'string');
});

test('a filter for more keys than a u32 count of bits can name stops at BLOOM_BITS_MAX (it wrapped, and its run was refused)', () => {
  assert.equal(bloomBitCount(1_000, 10), 10_000);
  assert.equal(bloomBitCount(0, 10), 64);
  assert.equal(bloomBitCount(429_496_729, 10), 4_294_967_290);
  assert.equal(bloomBitCount(429_496_730, 10), BLOOM_BITS_MAX, 'one key more would need 2^32 + 4 bits');
  assert.equal(bloomBitCount(2_000_000_000, 10), BLOOM_BITS_MAX);
});

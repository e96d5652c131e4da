// Goal: every search in sorted.ts returns the first index not below its target, for any sorted
// array, any target (present, absent, before the first, past the last) and any start inside the
// array — checked against a linear scan, the definition itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { gallopWhere, lowerBound, lowerBoundWhere } from './sorted.ts';

const sortedCase = fc
  .tuple(fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 200 }), fc.integer({ min: -60, max: 60 }), fc.nat())
  .map(([xs, x, start]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return { sorted, x, lo: sorted.length === 0 ? 0 : start % (sorted.length + 1) };
  });

function linear(sorted: readonly number[], lo: number, x: number): number {
  let i = lo;
  while (i < sorted.length && sorted[i]! < x) i++;
  return i;
}

test('lowerBoundWhere and gallopWhere agree with a linear scan from any start', () => {
  fc.assert(
    fc.property(sortedCase, ({ sorted, x, lo }) => {
      let calls = 0;
      const below = (i: number) => {
        calls++;
        assert.ok(i >= lo && i < sorted.length, `probe ${i} outside [${lo}, ${sorted.length})`);
        return sorted[i]! < x;
      };
      const want = linear(sorted, lo, x);
      assert.equal(lowerBoundWhere(lo, sorted.length, below), want);
      calls = 0;
      assert.equal(gallopWhere(lo, sorted.length, below), want);
      // O(log d) probes for an answer d places past lo: at most 2·log2(d + 1) + 2.
      const d = want - lo;
      assert.ok(calls <= 2 * Math.log2(d + 1) + 2, `${calls} probes for a distance of ${d}`);
    }),
    { numRuns: 2000 },
  );
});

test('gallopWhere costs one probe when the answer is its start (a run of keys landing in one place)', () => {
  const sorted = Array.from({ length: 100_000 }, (_, i) => i * 2);
  let calls = 0;
  const at = gallopWhere(500, sorted.length, (i) => {
    calls++;
    return sorted[i]! < 999;
  });
  assert.equal(at, 500);
  assert.equal(calls, 1);
  // Negative control: the plain binary search from the same start probes log2(n) times.
  calls = 0;
  lowerBoundWhere(500, sorted.length, (i) => {
    calls++;
    return sorted[i]! < 999;
  });
  assert.ok(calls >= 16, `${calls}`);
});

test('lowerBound over strings and bigints', () => {
  assert.equal(lowerBound(['a', 'c', 'e'], 'd'), 2);
  assert.equal(lowerBound(['a', 'c', 'e'], 'a'), 0);
  assert.equal(lowerBound([1n, 5n], 9n), 2);
});

// Goal: the log-linear histogram's quantiles stay within its stated relative error (1/128 < 1 %)
// of an exact sorted-array oracle (nearest rank), p0/p100/count/sum are exact, merging equals
// observing both streams, and memory stays bounded whatever the values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  HISTOGRAM_BUCKETS_PER_SIGN_MAX,
  HISTOGRAM_RELATIVE_ERROR_MAX,
  LogLinearHistogram,
  nearestRank,
} from './histogram.ts';

const QUANTILES = [0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];
const ZERO_BUCKET_MAGNITUDE = 2 ** -20;

function exactQuantile(sorted: number[], q: number): number {
  if (q === 0) return sorted[0]!;
  if (q === 1) return sorted[sorted.length - 1]!;
  return sorted[nearestRank(q, sorted.length) - 1]!;
}

function withinBound(estimate: number, exact: number): boolean {
  return (
    Math.abs(estimate - exact) <= Math.abs(exact) * HISTOGRAM_RELATIVE_ERROR_MAX * (1 + 1e-12) + ZERO_BUCKET_MAGNITUDE
  );
}

const latencyArb = fc.oneof(
  fc.double({ min: 0, max: 10_000, noNaN: true }),
  fc.double({ min: 0.001, max: 5, noNaN: true }),
  fc.integer({ min: 0, max: 1_000_000 }),
  fc.double({ min: -1e9, max: 1e15, noNaN: true }),
  fc.constantFrom(0, 1, 2, 1024, 0.5),
);

test('quantiles are within 1/128 relative error of the exact nearest-rank oracle', () => {
  assert.ok(HISTOGRAM_RELATIVE_ERROR_MAX <= 0.01);
  fc.assert(
    fc.property(fc.array(latencyArb, { minLength: 1, maxLength: 400 }), (values) => {
      const h = new LogLinearHistogram();
      for (const v of values) h.observe(v);
      const sorted = [...values].sort((a, b) => a - b);
      for (const q of QUANTILES) {
        const est = h.quantile(q);
        const exact = exactQuantile(sorted, q);
        assert.ok(withinBound(est, exact), `q=${q}: estimate ${est}, exact ${exact}`);
      }
      const snap = h.snapshot();
      assert.equal(snap.count, values.length);
      assert.equal(snap.p0, sorted[0]);
      assert.equal(snap.p100, sorted[sorted.length - 1]);
      const sum = values.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(snap.sum - sum) <= 1e-9 * values.reduce((a, b) => a + Math.abs(b), 0));
      assert.ok(Math.abs(snap.mean - sum / values.length) <= 1e-9 * (1 + Math.abs(snap.mean)));
    }),
    { numRuns: 300 },
  );
});

test('merge(a, b) answers exactly like one histogram fed both streams', () => {
  fc.assert(
    fc.property(fc.array(latencyArb, { maxLength: 100 }), fc.array(latencyArb, { maxLength: 100 }), (xs, ys) => {
      const a = new LogLinearHistogram();
      const b = new LogLinearHistogram();
      const both = new LogLinearHistogram();
      for (const x of xs) {
        a.observe(x);
        both.observe(x);
      }
      for (const y of ys) {
        b.observe(y);
        both.observe(y);
      }
      a.merge(b);
      assert.equal(a.count, both.count);
      for (const q of QUANTILES) assert.ok(Object.is(a.quantile(q), both.quantile(q)), `q=${q}`);
    }),
  );
});

test('a large uniform stream keeps p50/p95/p99 within 1 % and memory bounded', () => {
  const h = new LogLinearHistogram();
  const n = 100_000;
  // Deterministic spread over 0.01 ms … 10 s (log-uniform), like a latency distribution.
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = 0.01 * 10 ** ((6 * ((i * 7919) % n)) / n);
    values.push(v);
    h.observe(v);
  }
  values.sort((a, b) => a - b);
  for (const q of [0.5, 0.95, 0.99]) {
    const exact = exactQuantile(values, q);
    assert.ok(Math.abs(h.quantile(q) - exact) / exact <= 0.01);
  }
  assert.ok(h.bucketSlots <= 1500, `${h.bucketSlots} bucket slots`);
  const extreme = new LogLinearHistogram();
  for (const v of [1e-300, 1e-10, 1, 1e30, 1e300, Number.MAX_VALUE, -Number.MAX_VALUE]) extreme.observe(v);
  assert.ok(extreme.bucketSlots <= 2 * HISTOGRAM_BUCKETS_PER_SIGN_MAX);
  assert.equal(extreme.max, Number.MAX_VALUE);
  assert.equal(extreme.min, -Number.MAX_VALUE);
});

test('empty histograms report NaN quantiles; non-finite values are dropped and counted', () => {
  const h = new LogLinearHistogram();
  assert.ok(Number.isNaN(h.quantile(0.5)));
  assert.ok(Number.isNaN(h.snapshot().mean));
  h.observe(Number.NaN);
  h.observe(Number.POSITIVE_INFINITY);
  h.observe(3);
  assert.equal(h.count, 1);
  assert.equal(h.invalidCount, 2);
  assert.equal(h.quantile(0.5), 3);
});

test('nearestRank is ⌈q·n⌉ without float noise', () => {
  assert.equal(nearestRank(0.95, 100), 95);
  assert.equal(nearestRank(0.99, 100), 99);
  assert.equal(nearestRank(0.5, 7), 4);
  assert.equal(nearestRank(0.001, 10), 1);
  assert.equal(nearestRank(0.7, 10), 7); // 0.7 × 10 = 7.000000000000001 in floats
  assert.equal(nearestRank(0.0000012344, 1e9), 1235); // 1234.4 → 1235, large n does not widen the snap
});

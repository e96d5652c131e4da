// A log-linear histogram (the HdrHistogram bucket layout): every power of two [2^e, 2^(e+1)) is
// split into 64 equal-width sub-buckets, so a bucket is at most 1/64 of its lower bound wide and
// its midpoint is within 1/128 ≈ 0.78 % of any value in it. Quantiles are therefore within 0.78 %
// relative error (< 1 %); p0 and p100 are the exact min and max, count and sum are exact (sum up to
// float rounding).
//
// Bucket index comes straight from the IEEE-754 bits (exponent and top 6 mantissa bits): exact,
// no logarithms, no rounding at bucket edges.
//
// Bounded memory: magnitudes from 2^-20 (≈ 1e-6) up to 2^63 are tracked, 83 octaves × 64
// = 5312 buckets per sign at most; storage covers only the index range actually observed (a
// latency histogram spanning 10 µs … 10 s uses ~1300 buckets ≈ 10 KB). Magnitudes below 2^-20
// land in a zero bucket (absolute error < 1e-6); at or above 2^63 they share the top bucket (p100
// stays exact). Negative values are kept in a mirrored set of buckets. NaN and ±Infinity are
// dropped and counted in `invalidCount` (a metric must not crash its node).
//
// Quantile definition (nearest rank): q ↦ the value of rank ⌈q·n⌉ (at least 1) in sorted order.
// Histograms merge exactly: merge(a, b) has the same buckets as one histogram fed both streams.

import type { Histogram } from '../env/types.ts';
import { AssertionError, assert } from '../lib/assert.ts';

const SUB_BUCKET_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS; // 64
const EXPONENT_MIN = -20;
const EXPONENT_MAX = 62;
/** Number of non-zero buckets per sign: indices 0 … BUCKETS_PER_SIGN − 1. */
export const HISTOGRAM_BUCKETS_PER_SIGN_MAX = (EXPONENT_MAX - EXPONENT_MIN + 1) * SUB_BUCKETS;
/** Guaranteed bound on |estimate − exact| / |exact| for quantiles of values with |v| ≥ 2^-20. */
export const HISTOGRAM_RELATIVE_ERROR_MAX = 1 / (2 * SUB_BUCKETS);
const MAGNITUDE_MIN = 2 ** EXPONENT_MIN;
/** Extra buckets allocated on each side when the covered range grows, to amortise copies. */
const GROW_SLACK_BUCKETS = 64;

const scratch = new DataView(new ArrayBuffer(8));

/** Bucket index of a magnitude ≥ 2^EXPONENT_MIN. */
function bucketIndex(magnitude: number): number {
  scratch.setFloat64(0, magnitude);
  const hi = scratch.getUint32(0);
  const exponent = ((hi >>> 20) & 0x7ff) - 1023;
  if (exponent > EXPONENT_MAX) return HISTOGRAM_BUCKETS_PER_SIGN_MAX - 1;
  const sub = (hi >>> (20 - SUB_BUCKET_BITS)) & (SUB_BUCKETS - 1);
  return (exponent - EXPONENT_MIN) * SUB_BUCKETS + sub;
}

/** Midpoint of bucket `index` (a magnitude). */
function bucketMidpoint(index: number): number {
  const exponent = EXPONENT_MIN + Math.floor(index / SUB_BUCKETS);
  const sub = index % SUB_BUCKETS;
  return 2 ** exponent * (1 + (sub + 0.5) / SUB_BUCKETS);
}

/** Counts for one sign over a window [offset, offset + counts.length) of bucket indices. */
class BucketCounts {
  counts = new Float64Array(0);
  offset = 0;

  add(index: number, n: number): void {
    if (this.counts.length === 0) {
      const lo = Math.max(0, index - GROW_SLACK_BUCKETS);
      const hi = Math.min(HISTOGRAM_BUCKETS_PER_SIGN_MAX, index + GROW_SLACK_BUCKETS + 1);
      this.counts = new Float64Array(hi - lo);
      this.offset = lo;
    } else if (index < this.offset || index >= this.offset + this.counts.length) {
      const lo = Math.max(0, Math.min(this.offset, index - GROW_SLACK_BUCKETS));
      const hi = Math.min(
        HISTOGRAM_BUCKETS_PER_SIGN_MAX,
        Math.max(this.offset + this.counts.length, index + GROW_SLACK_BUCKETS + 1),
      );
      const next = new Float64Array(hi - lo);
      next.set(this.counts, this.offset - lo);
      this.counts = next;
      this.offset = lo;
    }
    this.counts[index - this.offset]! += n;
  }

  /** Visits non-empty buckets in ascending (ascending = true) or descending index order. */
  forEach(ascending: boolean, fn: (index: number, count: number) => boolean | undefined): void {
    const c = this.counts;
    if (ascending) {
      for (let i = 0; i < c.length; i++) if (c[i]! > 0 && fn(i + this.offset, c[i]!) === true) return;
    } else {
      for (let i = c.length - 1; i >= 0; i--) if (c[i]! > 0 && fn(i + this.offset, c[i]!) === true) return;
    }
  }
}

export interface HistogramSnapshot {
  readonly count: number;
  readonly sum: number;
  /** sum / count; NaN when empty. */
  readonly mean: number;
  /** Exact minimum; NaN when empty. */
  readonly p0: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** Exact maximum; NaN when empty. */
  readonly p100: number;
}

export class LogLinearHistogram implements Histogram {
  private readonly positive = new BucketCounts();
  private readonly negative = new BucketCounts();
  private zeroCount = 0;
  private n = 0;
  private total = 0;
  private minValue = Number.POSITIVE_INFINITY;
  private maxValue = Number.NEGATIVE_INFINITY;
  private invalid = 0;

  observe(value: number): void {
    this.record(value, 1);
  }

  /** Records `value` `times` times (e.g. coordinated-omission correction, bulk loads). */
  record(value: number, times: number): void {
    if (!(Number.isSafeInteger(times) && times > 0))
      throw new AssertionError(`record times must be a positive integer: ${times}`);
    if (!Number.isFinite(value)) {
      this.invalid += times;
      return;
    }
    // -0 is zero: normalise it, or the exact min (p0) would be -0 and not survive a text round trip.
    if (value === 0) value = 0;
    const magnitude = Math.abs(value);
    if (magnitude < MAGNITUDE_MIN) this.zeroCount += times;
    else if (value > 0) this.positive.add(bucketIndex(magnitude), times);
    else this.negative.add(bucketIndex(magnitude), times);
    this.n += times;
    this.total += value * times;
    if (value < this.minValue) this.minValue = value;
    if (value > this.maxValue) this.maxValue = value;
  }

  get count(): number {
    return this.n;
  }

  get sum(): number {
    return this.total;
  }

  /** Non-finite observations dropped. */
  get invalidCount(): number {
    return this.invalid;
  }

  get min(): number {
    return this.n === 0 ? Number.NaN : this.minValue;
  }

  get max(): number {
    return this.n === 0 ? Number.NaN : this.maxValue;
  }

  /** Nearest-rank quantile, q in [0, 1]; NaN when empty. q = 0 and q = 1 are exact. */
  quantile(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new AssertionError(`quantile must be in [0, 1]: ${q}`);
    if (this.n === 0) return Number.NaN;
    if (q === 0) return this.minValue;
    if (q === 1) return this.maxValue;
    const rank = nearestRank(q, this.n);
    let seen = 0;
    let estimate = Number.NaN;
    // Ascending value order: most negative first (highest negative index), then zero, then positive.
    this.negative.forEach(false, (index, c) => {
      seen += c;
      if (seen < rank) return false;
      estimate = -bucketMidpoint(index);
      return true;
    });
    if (Number.isNaN(estimate)) {
      seen += this.zeroCount;
      if (seen >= rank) estimate = 0;
    }
    if (Number.isNaN(estimate)) {
      this.positive.forEach(true, (index, c) => {
        seen += c;
        if (seen < rank) return false;
        estimate = bucketMidpoint(index);
        return true;
      });
    }
    assert(!Number.isNaN(estimate), 'histogram counts disagree with total');
    // The true value lies in [min, max]; clamping can only reduce the error.
    return Math.min(this.maxValue, Math.max(this.minValue, estimate));
  }

  snapshot(): HistogramSnapshot {
    return {
      count: this.n,
      sum: this.total,
      mean: this.n === 0 ? Number.NaN : this.total / this.n,
      p0: this.min,
      p50: this.quantile(0.5),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
      p100: this.max,
    };
  }

  /** Adds every observation of `other` into this histogram. */
  merge(other: LogLinearHistogram): this {
    other.positive.forEach(true, (index, c) => {
      this.positive.add(index, c);
      return false;
    });
    other.negative.forEach(true, (index, c) => {
      this.negative.add(index, c);
      return false;
    });
    this.zeroCount += other.zeroCount;
    this.n += other.n;
    this.total += other.total;
    this.invalid += other.invalid;
    if (other.minValue < this.minValue) this.minValue = other.minValue;
    if (other.maxValue > this.maxValue) this.maxValue = other.maxValue;
    return this;
  }

  /** Allocated bucket slots (for memory accounting and tests). */
  get bucketSlots(): number {
    return this.positive.counts.length + this.negative.counts.length;
  }
}

/** ⌈q·n⌉ clamped to [1, n], robust to float noise such as 0.95 × 100 = 95.00000000000001. */
export function nearestRank(q: number, n: number): number {
  const raw = q * n;
  const rounded = Math.round(raw);
  // q·n is off by at most a few ulps; only snap to an integer that close (relative 1e-12).
  const rank = Math.abs(raw - rounded) <= raw * 1e-12 ? rounded : Math.ceil(raw);
  return Math.min(n, Math.max(1, rank));
}

// Throughput over a sliding window: events per second in the last `windowMs`, computed from times
// the caller passes in (monotonic milliseconds from the Env's Clock; no clock reads here).
//
// The window is a ring of `windowMs / bucketMs` buckets plus the current, partial one. The rate
// divides the events in the covered buckets by the time they cover (full buckets plus the part of
// the current one that has elapsed, and never more than the time since `startMs`), so a steady
// stream reads as its true rate up to one event per bucket, also during warm-up.
//
// Invariants: memory is fixed at construction (bucketsMax bounds it); time that goes backwards is
// treated as "now = latest time seen" (monotonic clocks never do; this keeps a bad caller from
// corrupting the ring).

import { AssertionError, assert } from '../lib/assert.ts';

export const THROUGHPUT_BUCKETS_MAX = 3600;

export interface ThroughputMeterOptions {
  /** Length of the sliding window. */
  windowMs: number;
  /** Granularity; windowMs must be a multiple. Default windowMs / 10. */
  bucketMs?: number;
  /** Time the meter starts observing (the rate's denominator never reaches before it). */
  startMs: number;
}

export class ThroughputMeter {
  readonly windowMs: number;
  readonly bucketMs: number;
  private readonly startMs: number;
  private readonly counts: Float64Array;
  /** Absolute bucket number (floor(t / bucketMs)) of the newest bucket. */
  private head: number;
  private latestMs: number;
  private totalCount = 0;

  constructor(options: ThroughputMeterOptions) {
    const bucketMs = options.bucketMs ?? options.windowMs / 10;
    assert(Number.isFinite(options.windowMs) && options.windowMs > 0, `windowMs must be positive: ${options.windowMs}`);
    assert(bucketMs > 0 && Number.isInteger(options.windowMs / bucketMs), 'windowMs must be a multiple of bucketMs');
    const buckets = options.windowMs / bucketMs + 1; // + the partial current bucket
    assert(buckets <= THROUGHPUT_BUCKETS_MAX, `window needs ${buckets} buckets, max ${THROUGHPUT_BUCKETS_MAX}`);
    this.windowMs = options.windowMs;
    this.bucketMs = bucketMs;
    this.startMs = options.startMs;
    this.latestMs = options.startMs;
    this.counts = new Float64Array(buckets);
    this.head = Math.floor(options.startMs / bucketMs);
  }

  /** Events recorded since construction. */
  get total(): number {
    return this.totalCount;
  }

  private advance(nowMs: number): void {
    if (nowMs > this.latestMs) this.latestMs = nowMs;
    const bucket = Math.floor(this.latestMs / this.bucketMs);
    const steps = bucket - this.head;
    if (steps <= 0) return;
    const n = this.counts.length;
    for (let i = 1; i <= Math.min(steps, n); i++) this.counts[(this.head + i) % n] = 0;
    this.head = bucket;
  }

  /** Records `count` events at `nowMs`. */
  mark(nowMs: number, count = 1): void {
    if (!(count >= 0)) throw new AssertionError(`throughput count must be >= 0: ${count}`);
    this.advance(nowMs);
    this.counts[this.head % this.counts.length]! += count;
    this.totalCount += count;
  }

  /** Events per second over the window ending at `nowMs`. */
  ratePerSecond(nowMs: number): number {
    this.advance(nowMs);
    let events = 0;
    for (let i = 0; i < this.counts.length; i++) events += this.counts[i]!;
    const fullBucketsMs = (this.counts.length - 1) * this.bucketMs;
    const partialMs = this.latestMs - this.head * this.bucketMs;
    const coveredMs = Math.min(fullBucketsMs + partialMs, this.latestMs - this.startMs);
    return coveredMs <= 0 ? 0 : (events * 1000) / coveredMs;
  }
}

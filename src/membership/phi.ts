// Phi-accrual failure detector (Hayashibara et al., 2004), as one peer's arrival history.
//
// phi(now) = -log10(P(a heartbeat arrives later than now - lastArrival)), with inter-arrival times
// modelled as a normal distribution over a bounded window of recent intervals. phi grows smoothly
// with silence: phi 1 ≈ 10 % chance we are wrong to suspect, phi 8 ≈ 1e-8. The CDF uses the
// logistic approximation also used by Akka and Cassandra-style detectors. Pure: times are passed in.

import { assert } from '../lib/assert.ts';

export interface PhiOptions {
  /** Intervals remembered; older ones are forgotten (bounded window). */
  readonly windowIntervalsMax: number;
  /** Floor on the standard deviation so a perfectly regular sender is not suspected instantly. */
  readonly minStdDevMs: number;
  /** Extra silence tolerated on top of the mean (GC pauses, scheduling). */
  readonly acceptablePauseMs: number;
  /** The interval assumed before any have been observed (normally the heartbeat period). */
  readonly firstIntervalMs: number;
}

export class PhiAccrual {
  private readonly intervals: Float64Array;
  private count = 0;
  private next = 0;
  private sum = 0;
  private sumSquares = 0;
  private lastArrivalMs: number | undefined;

  constructor(private readonly options: PhiOptions) {
    assert(options.windowIntervalsMax > 0, 'phi window must hold at least one interval');
    this.intervals = new Float64Array(options.windowIntervalsMax);
  }

  get lastHeardMs(): number | undefined {
    return this.lastArrivalMs;
  }

  heartbeat(nowMs: number): void {
    if (this.lastArrivalMs === undefined) {
      // Seed the window with the expected interval so phi is meaningful from the second beat on.
      this.push(this.options.firstIntervalMs);
    } else {
      const interval = nowMs - this.lastArrivalMs;
      if (interval >= 0) this.push(interval);
    }
    this.lastArrivalMs = this.lastArrivalMs === undefined ? nowMs : Math.max(nowMs, this.lastArrivalMs);
  }

  reset(): void {
    this.count = 0;
    this.next = 0;
    this.sum = 0;
    this.sumSquares = 0;
    this.lastArrivalMs = undefined;
  }

  phi(nowMs: number): number {
    if (this.lastArrivalMs === undefined || this.count === 0) return 0;
    const elapsed = Math.max(0, nowMs - this.lastArrivalMs);
    const mean = this.sum / this.count + this.options.acceptablePauseMs;
    const variance = Math.max(0, this.sumSquares / this.count - (this.sum / this.count) ** 2);
    const std = Math.max(Math.sqrt(variance), this.options.minStdDevMs);
    const y = (elapsed - mean) / std;
    const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
    const pLater = elapsed > mean ? e / (1 + e) : 1 - 1 / (1 + e);
    // pLater underflows to 0 for very long silences: cap phi instead of returning Infinity.
    return pLater <= 1e-300 ? 300 : -Math.log10(pLater);
  }

  private push(interval: number): void {
    if (this.count === this.intervals.length) {
      const old = this.intervals[this.next]!;
      this.sum -= old;
      this.sumSquares -= old * old;
    } else {
      this.count++;
    }
    this.intervals[this.next] = interval;
    this.sum += interval;
    this.sumSquares += interval * interval;
    this.next = (this.next + 1) % this.intervals.length;
  }
}

// Apdex (Application Performance Index, apdex.org spec 1.1): with a target T,
//   satisfied   latency ≤ T
//   tolerating  T < latency ≤ 4T
//   frustrated  latency > 4T   (failed requests count as frustrated too, via `failed()`)
//   score = (satisfied + tolerating / 2) / total, in [0, 1]; undefined with no samples.
// Counts are exact; the score is what `barista status` shows and the registry exports as a gauge.

import { assert } from '../lib/assert.ts';

export class Apdex {
  readonly targetMs: number;
  private satisfiedCount = 0;
  private toleratingCount = 0;
  private frustratedCount = 0;

  constructor(targetMs: number) {
    assert(Number.isFinite(targetMs) && targetMs > 0, `Apdex targetMs must be positive: ${targetMs}`);
    this.targetMs = targetMs;
  }

  /** Classifies one request's latency. A non-finite latency counts as frustrated. */
  observe(latencyMs: number): void {
    if (latencyMs <= this.targetMs) this.satisfiedCount++;
    else if (latencyMs <= 4 * this.targetMs) this.toleratingCount++;
    else this.frustratedCount++; // also NaN: a latency we cannot trust is not a satisfied user
  }

  /** A failed request: frustrated whatever its latency (Apdex spec §3.3). */
  failed(): void {
    this.frustratedCount++;
  }

  get satisfied(): number {
    return this.satisfiedCount;
  }
  get tolerating(): number {
    return this.toleratingCount;
  }
  get frustrated(): number {
    return this.frustratedCount;
  }
  get total(): number {
    return this.satisfiedCount + this.toleratingCount + this.frustratedCount;
  }

  /** (S + T/2) / N, or undefined with no samples. */
  score(): number | undefined {
    const n = this.total;
    return n === 0 ? undefined : (this.satisfiedCount + this.toleratingCount / 2) / n;
  }

  merge(other: Apdex): this {
    assert(other.targetMs === this.targetMs, 'Apdex merge needs the same target');
    this.satisfiedCount += other.satisfiedCount;
    this.toleratingCount += other.toleratingCount;
    this.frustratedCount += other.frustratedCount;
    return this;
  }
}

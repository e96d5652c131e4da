// One simulated node's clock: virtual time seen through a per-node origin, drift rate and wall skew.
//
//   monotonicMs = anchorLocalMs + (virtualNowMs - anchorVirtualMs) * (1 + driftRate)
//   wallMs      = epochMs + monotonicMs + skewMs
//
// Invariants:
//   - monotonicMs never decreases: |driftRate| <= clockDriftRateMax < 1, so the rate stays positive,
//     and a drift change re-anchors at the current reading instead of jumping.
//   - Skew moves only the wall clock (it can step backwards, as NTP steps do); drift moves both.
//   - The clock survives a crash and restart of its node (it is the machine's clock, not the process's).

import { assert } from '../lib/assert.ts';
import { limits } from '../lib/limits.ts';

/** Largest |drift rate| accepted: 0.5 = the node's clock runs at 50% to 150% of true speed. */
export const clockDriftRateMax = limits.simClockDriftRateMax;

export interface ClockSettings {
  /** Added to the wall clock only. */
  skewMs?: number;
  /** Extra rate: 0.01 = the node's clocks gain 10 ms per virtual second. */
  driftRate?: number;
}

export class SimClock {
  private anchorVirtualMs: number;
  private anchorLocalMs: number;
  private rate = 1;
  private skew = 0;

  constructor(
    private readonly now: () => number,
    private readonly epochMs: number,
    originMs: number,
  ) {
    this.anchorVirtualMs = now();
    this.anchorLocalMs = originMs;
  }

  monotonicMs(): number {
    return this.anchorLocalMs + (this.now() - this.anchorVirtualMs) * this.rate;
  }

  wallMs(): number {
    return this.epochMs + this.monotonicMs() + this.skew;
  }

  get skewMs(): number {
    return this.skew;
  }

  get driftRate(): number {
    return this.rate - 1;
  }

  set(settings: ClockSettings): void {
    if (settings.skewMs !== undefined) {
      assert(Number.isFinite(settings.skewMs), `clock skew must be finite, got ${settings.skewMs}`);
      this.skew = settings.skewMs;
    }
    if (settings.driftRate !== undefined) {
      const drift = settings.driftRate;
      assert(Math.abs(drift) <= clockDriftRateMax, `|driftRate| must be <= ${clockDriftRateMax}, got ${drift}`);
      this.anchorLocalMs = this.monotonicMs();
      this.anchorVirtualMs = this.now();
      this.rate = 1 + drift;
    }
  }

  /** Virtual milliseconds that elapse while this node's monotonic clock advances `localMs`. */
  virtualDelayMs(localMs: number): number {
    return localMs / this.rate;
  }
}

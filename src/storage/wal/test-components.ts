// Test support for the storage tests: an Env subset (clock, logger, metrics) that records what the
// code under test reports, so tests can assert that a repair was logged and counted. Not used in
// production code.

import { type MemoryLogger, memoryLogger } from '../../env/log.ts';
import type { Clock, Counter, Gauge, Histogram, Labels, Metrics } from '../../env/types.ts';

/** Observations kept per histogram (bounded like everything else). */
const loggedLinesMax = 10_000;

/** Counters and gauges as numbers, histograms as their observations, keyed by metric name. */
export class RecordingMetrics implements Metrics {
  readonly values = new Map<string, number>();
  readonly observations = new Map<string, number[]>();
  counter(name: string, _help: string, _labels?: Labels): Counter {
    return { inc: (by = 1) => this.values.set(name, (this.values.get(name) ?? 0) + by) };
  }
  gauge(name: string, _help: string, _labels?: Labels): Gauge {
    return {
      set: (v) => this.values.set(name, v),
      add: (by) => this.values.set(name, (this.values.get(name) ?? 0) + by),
    };
  }
  histogram(name: string, _help: string, _labels?: Labels): Histogram {
    return {
      observe: (v) => {
        const list = this.observations.get(name) ?? [];
        if (list.length < loggedLinesMax) list.push(v);
        this.observations.set(name, list);
      },
    };
  }
  value(name: string): number {
    return this.values.get(name) ?? 0;
  }
}

/** A clock that advances 1 ms per reading: deterministic latencies. */
export class SteppingClock implements Clock {
  private nowMs = 0;
  monotonicMs(): number {
    return this.nowMs++;
  }
  wallMs(): number {
    return 1_700_000_000_000 + this.nowMs;
  }
}

export function recordingComponents(): { clock: SteppingClock; log: MemoryLogger; metrics: RecordingMetrics } {
  return { clock: new SteppingClock(), log: memoryLogger(loggedLinesMax), metrics: new RecordingMetrics() };
}

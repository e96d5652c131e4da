// Test support for the storage tests: an Env subset (clock, logger, metrics) that records what the
// code under test reports, so tests can assert that a repair was logged and counted. Not used in
// production code.

import type { Clock, Counter, Gauge, Histogram, Labels, Logger, Metrics } from '../../env/types.ts';

export interface LoggedLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly obj: object;
  readonly msg: string | undefined;
}

/** Logs at most this many lines, then counts the rest as dropped (bounded like everything else). */
const loggedLinesMax = 10_000;

export class RecordingLogger implements Logger {
  constructor(
    readonly lines: LoggedLine[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  dropped = 0;
  private push(level: LoggedLine['level'], obj: object, msg: string | undefined): void {
    if (this.lines.length >= loggedLinesMax) this.dropped++;
    else this.lines.push({ level, obj: { ...this.bindings, ...obj }, msg });
  }
  debug(obj: object, msg?: string): void {
    this.push('debug', obj, msg);
  }
  info(obj: object, msg?: string): void {
    this.push('info', obj, msg);
  }
  warn(obj: object, msg?: string): void {
    this.push('warn', obj, msg);
  }
  error(obj: object, msg?: string): void {
    this.push('error', obj, msg);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.bindings, ...bindings });
  }
}

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

export function recordingComponents(): { clock: SteppingClock; log: RecordingLogger; metrics: RecordingMetrics } {
  return { clock: new SteppingClock(), log: new RecordingLogger(), metrics: new RecordingMetrics() };
}

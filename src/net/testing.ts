// Test and benchmark support for src/net: a recording Metrics (read back counters and gauges by
// name and labels) and Loggers that keep or discard lines. Not used by production code.
// Bounds: a MemoryMetrics holds at most `seriesMax` series and a MemoryLogger at most `linesMax`
// lines; past the bound the series throws (a test bug) and the logger drops the oldest line.
// pollUntil waits on real time, bounded: the way real-socket tests wait without sleep-and-hope.

import { setTimeout as delay } from 'node:timers/promises';
import type { Counter, Gauge, Histogram, Labels, Logger, Metrics } from '../env/types.ts';
import { assert } from '../lib/assert.ts';

function seriesKey(name: string, labels: Labels | undefined): string {
  if (labels === undefined) return name;
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(',')}}`;
}

export class MemoryMetrics implements Metrics {
  private readonly values = new Map<string, number>();
  private readonly observations = new Map<string, number[]>();
  readonly seriesMax: number;

  constructor(options: { seriesMax?: number } = {}) {
    this.seriesMax = options.seriesMax ?? 10_000;
  }

  private touch(key: string): void {
    if (!this.values.has(key)) {
      assert(this.values.size < this.seriesMax, `MemoryMetrics: more than ${this.seriesMax} series`);
      this.values.set(key, 0);
    }
  }

  counter(name: string, _help: string, labels?: Labels): Counter {
    const key = seriesKey(name, labels);
    this.touch(key);
    return {
      inc: (by = 1) => {
        assert(by >= 0, 'counters only go up');
        this.values.set(key, (this.values.get(key) ?? 0) + by);
      },
    };
  }

  gauge(name: string, _help: string, labels?: Labels): Gauge {
    const key = seriesKey(name, labels);
    this.touch(key);
    return {
      set: (value) => this.values.set(key, value),
      add: (by) => this.values.set(key, (this.values.get(key) ?? 0) + by),
    };
  }

  histogram(name: string, _help: string, labels?: Labels): Histogram {
    const key = seriesKey(name, labels);
    this.touch(key);
    return {
      observe: (value) => {
        const list = this.observations.get(key) ?? [];
        list.push(value);
        this.observations.set(key, list);
      },
    };
  }

  /** Current value of a counter or gauge (0 if never touched). */
  value(name: string, labels?: Labels): number {
    return this.values.get(seriesKey(name, labels)) ?? 0;
  }

  /** Sum over every series of `name` whose labels include `match`. */
  sum(name: string, match: Labels = {}): number {
    let total = 0;
    for (const [key, v] of this.values) {
      if (key !== name && !key.startsWith(`${name}{`)) continue;
      if (Object.entries(match).every(([k, want]) => key.includes(`${k}=${JSON.stringify(want)}`))) total += v;
    }
    return total;
  }
}

/** A Logger that discards everything (benchmarks). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/** A Metrics that discards everything (benchmarks: measures the transport, not the registry). */
export const nullMetrics: Metrics = {
  counter: () => ({ inc() {} }),
  gauge: () => ({ set() {}, add() {} }),
  histogram: () => ({ observe() {} }),
};

/** Polls `pred` on real time every few ms until it holds; rejects naming `what` after `boundMs`. */
export async function pollUntil(pred: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const deadline = performance.now() + boundMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${boundMs} ms waiting for: ${what}`);
    await delay(2);
  }
}

/** `bytes` cut at the given offsets (each taken modulo length + 1; duplicates ignored), in order. */
export function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

/** `bytes` one byte per chunk: the chunking every stream decoder must accept. */
export function bytewise(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

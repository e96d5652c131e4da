// What a simulated node logs and measures, kept in memory and bounded.
//
// SimLogSink: one ring buffer of structured log records for the whole simulation (node id and
// virtual time captured at the call), holding at most `linesMax`; older records are overwritten and
// counted. Records are rendered to text only when read or echoed, so logging stays cheap.
// SimMetrics: a minimal in-memory Metrics (counters, gauges, histogram count/sum/min/max), at most
// `seriesMax` series; the real registry lives in src/metrics.

import type { Counter, Gauge, Histogram, Labels, Logger, Metrics, NodeId } from '../env/types.ts';
import { LimitError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogRecord {
  readonly atMs: number;
  readonly node: NodeId;
  readonly level: LogLevel;
  readonly msg: string;
  readonly fields: object;
}

export class SimLogSink {
  private readonly ring: (LogRecord | undefined)[];
  private next = 0;
  /** Records overwritten because the ring was full. */
  overwritten = 0;

  constructor(
    private readonly now: () => number,
    readonly linesMax: number = limits.simLogLinesMax,
    private readonly echo?: (line: string) => void,
  ) {
    this.ring = new Array(linesMax);
  }

  record(node: NodeId, level: LogLevel, fields: object, msg: string): void {
    const slot = this.next % this.linesMax;
    if (this.ring[slot] !== undefined) this.overwritten++;
    const rec: LogRecord = { atMs: this.now(), node, level, msg, fields };
    this.ring[slot] = rec;
    this.next++;
    if (this.echo) this.echo(renderLogRecord(rec));
  }

  /** The retained records, oldest first. */
  records(): LogRecord[] {
    const out: LogRecord[] = [];
    const n = Math.min(this.next, this.linesMax);
    for (let i = this.next - n; i < this.next; i++) out.push(this.ring[i % this.linesMax]!);
    return out;
  }

  lines(): string[] {
    return this.records().map(renderLogRecord);
  }

  logger(node: NodeId, bindings: Record<string, unknown> = {}): Logger {
    const withBindings = (fields: object): object =>
      Object.keys(bindings).length === 0 ? fields : { ...bindings, ...fields };
    return {
      debug: (fields, msg = '') => this.record(node, 'debug', withBindings(fields), msg),
      info: (fields, msg = '') => this.record(node, 'info', withBindings(fields), msg),
      warn: (fields, msg = '') => this.record(node, 'warn', withBindings(fields), msg),
      error: (fields, msg = '') => this.record(node, 'error', withBindings(fields), msg),
      child: (more) => this.logger(node, { ...bindings, ...more }),
    };
  }
}

export function renderLogRecord(rec: LogRecord): string {
  let fields: string;
  try {
    fields = JSON.stringify(rec.fields, (_key, value: unknown) =>
      typeof value === 'bigint' ? `${value}n` : value instanceof Uint8Array ? `<${value.length} bytes>` : value,
    );
  } catch {
    fields = '"<unserializable fields>"';
  }
  return `${rec.atMs.toFixed(3)} ${rec.node} ${rec.level} ${rec.msg} ${fields}`;
}

export interface MetricSnapshot {
  readonly name: string;
  readonly labels: Labels;
  readonly kind: 'counter' | 'gauge' | 'histogram';
  value: number;
  count: number;
  sum: number;
  min: number;
  max: number;
}

const NO_TRIPWIRES: ReadonlySet<string> = new Set();

/** A tripwire counter rose (SimMetrics): thrown inside the node's code, so the run fails there. */
export class TripwireError extends Error {
  override readonly name = 'TripwireError';
  constructor(
    readonly counter: string,
    readonly labels: Labels,
  ) {
    super(`tripwire: counter ${counter}${JSON.stringify(labels)} rose (SimulationOptions.tripwireCounters)`);
  }
}

export class SimMetrics implements Metrics {
  private readonly series = new Map<string, MetricSnapshot>();

  /**
   * `tripwires`: counters that must never rise in this run; an increment throws (inside the node's
   * code, so the simulation fails at that event, naming the series).
   */
  constructor(
    private readonly seriesMax: number = limits.metricSeriesMax,
    private readonly tripwires: ReadonlySet<string> = NO_TRIPWIRES,
  ) {}

  private get(kind: MetricSnapshot['kind'], name: string, labels: Labels = {}): MetricSnapshot {
    const key = `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`)
      .join(',')}}`;
    let s = this.series.get(key);
    if (s === undefined) {
      if (this.series.size >= this.seriesMax) {
        throw new LimitError('metricSeriesMax', `more than ${this.seriesMax} metric series`);
      }
      s = { name, labels, kind, value: 0, count: 0, sum: 0, min: Number.POSITIVE_INFINITY, max: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  counter(name: string, _help: string, labels?: Labels): Counter {
    const s = this.get('counter', name, labels);
    if (this.tripwires.has(name)) {
      return {
        inc: () => {
          throw new TripwireError(name, labels ?? {});
        },
      };
    }
    return {
      inc: (by = 1) => {
        s.value += by;
      },
    };
  }

  gauge(name: string, _help: string, labels?: Labels): Gauge {
    const s = this.get('gauge', name, labels);
    return {
      set: (v) => {
        s.value = v;
      },
      add: (by) => {
        s.value += by;
      },
    };
  }

  histogram(name: string, _help: string, labels?: Labels): Histogram {
    const s = this.get('histogram', name, labels);
    return {
      observe: (v) => {
        s.count++;
        s.sum += v;
        if (v < s.min) s.min = v;
        if (v > s.max) s.max = v;
      },
    };
  }

  /** Current value of a counter or gauge (0 if never created); sums over label sets when labels are omitted. */
  value(name: string, labels?: Labels): number {
    let total = 0;
    for (const s of this.series.values()) {
      if (s.name !== name) continue;
      if (labels && !Object.entries(labels).every(([k, v]) => s.labels[k] === v)) continue;
      total += s.kind === 'histogram' ? s.count : s.value;
    }
    return total;
  }

  snapshot(): MetricSnapshot[] {
    return [...this.series.values()].map((s) => ({ ...s }));
  }
}

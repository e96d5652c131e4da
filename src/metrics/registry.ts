// The metrics registry: implements the Env's `Metrics` interface, owns every series of one node,
// and is what /metrics renders (prometheus.ts).
//
// Invariants:
// - One family per metric name, with one type and the help text it was first registered with;
//   registering the same name with another type is a programmer error (assert).
// - Same name + same labels returns the same instrument object (label order does not matter).
// - At most `seriesMax` series (limits.metricSeriesMax by default); one more throws LimitError,
//   because an unbounded label (a client id, a key) would otherwise exhaust memory.
// - Metric and label names follow the Prometheus data model: names [a-zA-Z_:][a-zA-Z0-9_:]*,
//   label names [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"; histograms may not use the
//   `quantile` label (their exposition adds it). Names are fixed in code, so a bad one is a
//   programmer error (assert), while label *values* may be anything (they are escaped on output).
// - Sample names do not collide: a histogram `x` claims `x`, `x_sum` and `x_count`.

import type { Counter, Gauge, Labels, Metrics } from '../env/types.ts';
import { AssertionError, assert } from '../lib/assert.ts';
import { LimitError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { Apdex } from './apdex.ts';
import { LogLinearHistogram } from './histogram.ts';

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidMetricName(name: string): boolean {
  return METRIC_NAME_RE.test(name);
}

export function isValidLabelName(name: string): boolean {
  return LABEL_NAME_RE.test(name) && !name.startsWith('__');
}

export class CounterInstrument implements Counter {
  private total = 0;

  /** Adds `by` (default 1); counters only go up, so a negative or non-finite `by` is a programmer error. */
  inc(by = 1): void {
    if (!(Number.isFinite(by) && by >= 0)) throw new AssertionError(`counter increment must be finite and >= 0: ${by}`);
    this.total += by;
  }

  get value(): number {
    return this.total;
  }
}

export class GaugeInstrument implements Gauge {
  private current = 0;

  set(value: number): void {
    this.current = value;
  }

  add(by: number): void {
    this.current += by;
  }

  get value(): number {
    return this.current;
  }
}

/** Exposition type of a family. Histograms render as Prometheus summaries; Apdex as a gauge (its score). */
export type FamilyKind = 'counter' | 'gauge' | 'histogram' | 'apdex';

export interface Series<I> {
  readonly labels: Labels;
  readonly instrument: I;
}

interface InstrumentOf {
  counter: CounterInstrument;
  gauge: GaugeInstrument;
  histogram: LogLinearHistogram;
  apdex: Apdex;
}

export interface Family<K extends FamilyKind = FamilyKind> {
  readonly name: string;
  readonly help: string;
  readonly kind: K;
  /** Series in registration order. */
  readonly series: ReadonlyArray<Series<InstrumentOf[K]>>;
}

interface MutableFamily<K extends FamilyKind> {
  name: string;
  help: string;
  kind: K;
  series: Array<Series<InstrumentOf[K]>>;
  byKey: Map<string, InstrumentOf[K]>;
}

export interface MetricsRegistryOptions {
  seriesMax?: number;
}

/** Suffixes a family's exposition adds to its name. */
function sampleNames(name: string, kind: FamilyKind): string[] {
  return kind === 'histogram' ? [name, `${name}_sum`, `${name}_count`] : [name];
}

/** Canonical key for a label set: sorted names, JSON-escaped values. */
function labelsKey(labels: Labels): string {
  const names = Object.keys(labels).sort();
  let key = '';
  for (const n of names) key += `${n}=${JSON.stringify(labels[n])},`;
  return key;
}

export class MetricsRegistry implements Metrics {
  readonly seriesMax: number;
  private readonly families = new Map<string, MutableFamily<FamilyKind>>();
  /** Every sample name any family emits, to catch x_count colliding with histogram x. */
  private readonly claimed = new Map<string, string>();
  private seriesTotal = 0;

  constructor(options: MetricsRegistryOptions = {}) {
    this.seriesMax = options.seriesMax ?? limits.metricSeriesMax;
    assert(Number.isSafeInteger(this.seriesMax) && this.seriesMax > 0, `seriesMax must be positive: ${this.seriesMax}`);
  }

  get seriesCount(): number {
    return this.seriesTotal;
  }

  counter(name: string, help: string, labels: Labels = {}): CounterInstrument {
    return this.instrument('counter', name, help, labels, () => new CounterInstrument());
  }

  gauge(name: string, help: string, labels: Labels = {}): GaugeInstrument {
    return this.instrument('gauge', name, help, labels, () => new GaugeInstrument());
  }

  histogram(name: string, help: string, labels: Labels = {}): LogLinearHistogram {
    return this.instrument('histogram', name, help, labels, () => new LogLinearHistogram());
  }

  /** An Apdex tracker exported as a gauge holding its score (NaN before the first sample). */
  apdex(name: string, help: string, targetMs: number, labels: Labels = {}): Apdex {
    const a = this.instrument('apdex', name, help, labels, () => new Apdex(targetMs));
    assert(a.targetMs === targetMs, `Apdex ${name} already registered with target ${a.targetMs} ms`);
    return a;
  }

  /** Families sorted by name (the exposition order). */
  list(): Family[] {
    return [...this.families.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((f) => ({ name: f.name, help: f.help, kind: f.kind, series: f.series }) as Family);
  }

  /** The instrument registered under name + labels, if any (for status pages and tests). */
  find(
    name: string,
    labels: Labels = {},
  ): CounterInstrument | GaugeInstrument | LogLinearHistogram | Apdex | undefined {
    return this.families.get(name)?.byKey.get(labelsKey(labels));
  }

  private instrument<K extends FamilyKind>(
    kind: K,
    name: string,
    help: string,
    labels: Labels,
    make: () => InstrumentOf[K],
  ): InstrumentOf[K] {
    let family = this.families.get(name) as MutableFamily<K> | undefined;
    if (family === undefined) {
      assert(isValidMetricName(name), `invalid metric name ${JSON.stringify(name)}`);
      for (const s of sampleNames(name, kind)) {
        const owner = this.claimed.get(s);
        assert(owner === undefined, `metric ${name} would emit ${s}, already emitted by ${owner}`);
      }
      family = { name, help, kind, series: [], byKey: new Map() };
      this.families.set(name, family as unknown as MutableFamily<FamilyKind>);
      for (const s of sampleNames(name, kind)) this.claimed.set(s, name);
    }
    if (!(family.kind === kind)) throw new AssertionError(`metric ${name} is a ${family.kind}, not a ${kind}`);
    const key = labelsKey(labels);
    const existing = family.byKey.get(key);
    if (existing !== undefined) return existing;
    for (const label of Object.keys(labels)) {
      assert(isValidLabelName(label), `invalid label name ${JSON.stringify(label)} on ${name}`);
      assert(!(kind === 'histogram' && label === 'quantile'), `histogram ${name} may not use the label "quantile"`);
      assert(typeof labels[label] === 'string', `label ${label} on ${name} must be a string`);
    }
    if (this.seriesTotal >= this.seriesMax) {
      throw new LimitError('metricSeriesMax', `metric series limit ${this.seriesMax} reached registering ${name}`);
    }
    const instrument = make();
    family.byKey.set(key, instrument);
    family.series.push({ labels: Object.freeze({ ...labels }), instrument });
    this.seriesTotal++;
    return instrument;
  }
}

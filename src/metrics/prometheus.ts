// Prometheus text exposition, format version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), and a parser for it.
//
// Grammar (one item per line, '\n' line ends):
//   # HELP <name> <help text, with \\ and \n escaped>
//   # TYPE <name> counter | gauge | histogram | summary | untyped
//   <name>[{<label>="<value, with \\ \" \n escaped>",...}] <value> [<timestamp ms>]
// Values are Go floats: decimal or exponent form, NaN, +Inf, -Inf.
//
// Rendering: families sorted by name, HELP then TYPE then the samples. Histograms are exposed as
// `summary` with quantile labels 0, 0.5, 0.95, 0.99, 1 plus <name>_sum and <name>_count; Apdex
// trackers as a gauge holding the score (NaN before any sample). No timestamps are written.
//
// Parsing is for our tests, `barista status` and integration checks of /metrics: it accepts the
// whole 0.0.4 text grammar (comments, blank lines, optional timestamps, trailing comma in label
// sets), and malformed input is a ProtocolError `prometheus_parse` naming the line.

import type { Labels } from '../env/types.ts';
import { ProtocolError } from '../lib/errors.ts';
import { Apdex } from './apdex.ts';
import { CounterInstrument, GaugeInstrument, type MetricsRegistry } from './registry.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The quantiles every histogram exposes; 0 and 1 are the exact min and max. */
export const SUMMARY_QUANTILES: readonly number[] = [0, 0.5, 0.95, 0.99, 1];

export type PrometheusType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** Go-compatible float text: shortest round-trip decimal, NaN, +Inf, -Inf. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels, extra?: readonly [string, string]): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels)) parts.push(`${k}="${escapeLabelValue(v)}"`);
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

export function renderPrometheus(registry: MetricsRegistry): string {
  const out: string[] = [];
  for (const family of registry.list()) {
    const type: PrometheusType =
      family.kind === 'histogram' ? 'summary' : family.kind === 'apdex' ? 'gauge' : family.kind;
    out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    out.push(`# TYPE ${family.name} ${type}`);
    for (const { labels, instrument } of family.series) {
      const head = `${family.name}${formatLabels(labels)}`;
      if (instrument instanceof CounterInstrument || instrument instanceof GaugeInstrument) {
        out.push(`${head} ${formatValue(instrument.value)}`);
      } else if (instrument instanceof Apdex) {
        out.push(`${head} ${formatValue(instrument.score() ?? Number.NaN)}`);
      } else {
        for (const q of SUMMARY_QUANTILES) {
          out.push(
            `${family.name}${formatLabels(labels, ['quantile', String(q)])} ${formatValue(instrument.quantile(q))}`,
          );
        }
        out.push(`${family.name}_sum${formatLabels(labels)} ${formatValue(instrument.sum)}`);
        out.push(`${family.name}_count${formatLabels(labels)} ${formatValue(instrument.count)}`);
      }
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Parser

export interface PrometheusSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timestampMs?: number;
}

export interface PrometheusFamily {
  readonly name: string;
  help: string;
  type: PrometheusType;
  readonly samples: PrometheusSample[];
}

const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const NAME_AT_RE = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME_AT_RE = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseError(lineNo: number, message: string): ProtocolError {
  return new ProtocolError('prometheus_parse', `line ${lineNo}: ${message}`, { line: lineNo });
}

function parseFloatStrict(text: string, lineNo: number): number {
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  if (!FLOAT_RE.test(text)) throw parseError(lineNo, `not a number: ${JSON.stringify(text)}`);
  return Number(text);
}

function unescapeHelp(text: string): string {
  return text.replace(/\\([\\n])/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

/** The family a sample belongs to: its own name, or the base name of a summary/histogram suffix. */
function familyNameFor(sampleName: string, families: Map<string, PrometheusFamily>): string {
  for (const suffix of ['_sum', '_count', '_bucket']) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, -suffix.length);
    const type = families.get(base)?.type;
    if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket')) return base;
  }
  return sampleName;
}

export function parsePrometheus(text: string): PrometheusFamily[] {
  const families = new Map<string, PrometheusFamily>();
  const family = (name: string): PrometheusFamily => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, help: '', type: 'untyped', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s(.*))?$/.exec(line);
      if (m === null) continue; // a plain comment
      const name = m[2]!;
      const rest = m[3] ?? '';
      if (m[1] === 'HELP') family(name).help = unescapeHelp(rest);
      else {
        const type = rest.trim();
        if (!TYPES.has(type)) throw parseError(lineNo, `unknown metric type ${JSON.stringify(type)}`);
        const f = family(name);
        if (f.samples.length > 0) throw parseError(lineNo, `TYPE for ${name} after its samples`);
        f.type = type as PrometheusType;
      }
      continue;
    }
    const sample = parseSampleLine(line, lineNo);
    family(familyNameFor(sample.name, families)).samples.push(sample);
  }
  return [...families.values()];
}

function parseSampleLine(line: string, lineNo: number): PrometheusSample {
  let pos = 0;
  while (line[pos] === ' ' || line[pos] === '\t') pos++;
  NAME_AT_RE.lastIndex = pos;
  const nameMatch = NAME_AT_RE.exec(line);
  if (nameMatch === null) throw parseError(lineNo, 'expected a metric name');
  const name = nameMatch[0];
  pos = NAME_AT_RE.lastIndex;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    for (;;) {
      while (line[pos] === ' ') pos++;
      if (line[pos] === '}') {
        pos++;
        break;
      }
      LABEL_NAME_AT_RE.lastIndex = pos;
      const lm = LABEL_NAME_AT_RE.exec(line);
      if (lm === null) throw parseError(lineNo, `expected a label name at column ${pos + 1}`);
      pos = LABEL_NAME_AT_RE.lastIndex;
      while (line[pos] === ' ') pos++;
      if (line[pos] !== '=') throw parseError(lineNo, `expected '=' at column ${pos + 1}`);
      pos++;
      while (line[pos] === ' ') pos++;
      if (line[pos] !== '"') throw parseError(lineNo, `expected '"' at column ${pos + 1}`);
      pos++;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) throw parseError(lineNo, 'unterminated label value');
        pos++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos++];
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else throw parseError(lineNo, `invalid escape \\${e ?? ''} in label value`);
        } else value += c;
      }
      if (Object.hasOwn(labels, lm[0])) throw parseError(lineNo, `duplicate label ${lm[0]}`);
      labels[lm[0]] = value;
      while (line[pos] === ' ') pos++;
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}') throw parseError(lineNo, `expected ',' or '}' at column ${pos + 1}`);
    }
  }
  const rest = line
    .slice(pos)
    .trim()
    .split(/[ \t]+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === '')
    throw parseError(lineNo, 'expected a value and optional timestamp');
  const value = parseFloatStrict(rest[0]!, lineNo);
  if (rest.length === 2) {
    if (!/^-?\d+$/.test(rest[1]!)) throw parseError(lineNo, `invalid timestamp ${JSON.stringify(rest[1])}`);
    return { name, labels, value, timestampMs: Number(rest[1]) };
  }
  return { name, labels, value };
}

/** The value of the sample `name` with exactly `labels`, or undefined. */
export function findSample(
  families: readonly PrometheusFamily[],
  name: string,
  labels: Labels = {},
): number | undefined {
  const want = Object.entries(labels);
  for (const f of families) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      const have = Object.keys(s.labels);
      if (have.length === want.length && want.every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

// Goal: the registry hands back one instrument per name + label set, bounds its series with a
// typed LimitError, enforces Prometheus naming, and its text exposition (format 0.0.4) parses
// back to the same values — label escaping, summaries, NaN/Inf and all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Metrics } from '../env/types.ts';
import { BoundedQueue } from '../lib/bounded-queue.ts';
import { LimitError, ProtocolError } from '../lib/errors.ts';
import { findSample, parsePrometheus, renderPrometheus, SUMMARY_QUANTILES } from './prometheus.ts';
import { queueInstruments } from './queue.ts';
import { MetricsRegistry } from './registry.ts';

test('same name + labels returns the same instrument, whatever the label order', () => {
  const r = new MetricsRegistry();
  const a = r.counter('requests_total', 'Requests.', { method: 'get', code: '200' });
  const b = r.counter('requests_total', 'ignored', { code: '200', method: 'get' });
  const c = r.counter('requests_total', 'Requests.', { method: 'put', code: '200' });
  assert.equal(a, b);
  assert.notEqual(a, c);
  a.inc();
  b.inc(2);
  assert.equal(a.value, 3);
  assert.equal(r.seriesCount, 2);
  // The registry satisfies the Env's Metrics interface.
  const m: Metrics = r;
  m.histogram('latency_ms', 'Latency.').observe(1);
});

test('the series bound is enforced with a LimitError, and existing series still resolve', () => {
  const r = new MetricsRegistry({ seriesMax: 3 });
  r.gauge('g', 'G.', { i: '0' });
  r.gauge('g', 'G.', { i: '1' });
  r.histogram('h_ms', 'H.');
  assert.throws(
    () => r.gauge('g', 'G.', { i: '2' }),
    (e: unknown) => e instanceof LimitError && e.fields['limit'] === 'metricSeriesMax',
  );
  assert.ok(r.gauge('g', 'G.', { i: '1' }));
  assert.equal(r.seriesCount, 3);
});

test('names are validated against the Prometheus data model; kinds and suffixes may not clash', () => {
  const r = new MetricsRegistry();
  for (const bad of ['', '1abc', 'a-b', 'a b', 'é']) assert.throws(() => r.counter(bad, 'x'));
  assert.throws(() => r.counter('ok_total', 'x', { '1bad': 'v' }));
  assert.throws(() => r.counter('ok_total', 'x', { __reserved: 'v' }));
  assert.throws(() => r.histogram('lat_ms', 'x', { quantile: '0.5' }));
  r.counter('ns:sub_total', 'colons are allowed');
  r.histogram('rpc_ms', 'x');
  assert.throws(() => r.gauge('rpc_ms', 'x'), /is a histogram/);
  assert.throws(() => r.counter('rpc_ms_count', 'x'), /already emitted/);
  assert.throws(() => r.apdex('rpc_apdex', 'x', 10).targetMs === 10 && r.apdex('rpc_apdex', 'x', 20));
});

test('exposition: HELP, TYPE, escaped labels, summaries with exact p0 and p100', () => {
  const r = new MetricsRegistry();
  r.counter('requests_total', 'Requests served.\nSecond line with \\ backslash.', { path: '/a"b\\c\nd' }).inc(7);
  r.gauge('temperature', 'Now.').set(-1.5);
  const h = r.histogram('append_latency_ms', 'Append latency.', { node: 'n1' });
  for (const v of [1, 2, 3, 4, 100]) h.observe(v);
  r.histogram('idle_ms', 'Never observed.');
  const apdex = r.apdex('request_apdex', 'Apdex at T = 50 ms.', 50);
  apdex.observe(10);
  apdex.observe(100);
  r.gauge('weird', 'Special values.', { kind: 'inf' }).set(Number.POSITIVE_INFINITY);
  const text = renderPrometheus(r);
  assert.equal(
    text,
    [
      '# HELP append_latency_ms Append latency.',
      '# TYPE append_latency_ms summary',
      'append_latency_ms{node="n1",quantile="0"} 1',
      'append_latency_ms{node="n1",quantile="0.5"} 3.015625',
      'append_latency_ms{node="n1",quantile="0.95"} 100',
      'append_latency_ms{node="n1",quantile="0.99"} 100',
      'append_latency_ms{node="n1",quantile="1"} 100',
      'append_latency_ms_sum{node="n1"} 110',
      'append_latency_ms_count{node="n1"} 5',
      '# HELP idle_ms Never observed.',
      '# TYPE idle_ms summary',
      'idle_ms{quantile="0"} NaN',
      'idle_ms{quantile="0.5"} NaN',
      'idle_ms{quantile="0.95"} NaN',
      'idle_ms{quantile="0.99"} NaN',
      'idle_ms{quantile="1"} NaN',
      'idle_ms_sum 0',
      'idle_ms_count 0',
      '# HELP request_apdex Apdex at T = 50 ms.',
      '# TYPE request_apdex gauge',
      'request_apdex 0.75',
      '# HELP requests_total Requests served.\\nSecond line with \\\\ backslash.',
      '# TYPE requests_total counter',
      'requests_total{path="/a\\"b\\\\c\\nd"} 7',
      '# HELP temperature Now.',
      '# TYPE temperature gauge',
      'temperature -1.5',
      '# HELP weird Special values.',
      '# TYPE weird gauge',
      'weird{kind="inf"} +Inf',
      '',
    ].join('\n'),
  );
  const families = parsePrometheus(text);
  const req = families.find((f) => f.name === 'requests_total')!;
  assert.equal(req.type, 'counter');
  assert.equal(req.help, 'Requests served.\nSecond line with \\ backslash.');
  assert.deepEqual(req.samples[0]!.labels, { path: '/a"b\\c\nd' });
  const lat = families.find((f) => f.name === 'append_latency_ms')!;
  assert.equal(lat.type, 'summary');
  assert.equal(lat.samples.length, SUMMARY_QUANTILES.length + 2);
  assert.equal(findSample(families, 'append_latency_ms_count', { node: 'n1' }), 5);
  assert.equal(findSample(families, 'weird', { kind: 'inf' }), Number.POSITIVE_INFINITY);
  assert.ok(Number.isNaN(findSample(families, 'idle_ms', { quantile: '0.5' })!));
});

const labelValueArb = fc.string({ unit: 'binary', maxLength: 12 });
const nameArb = fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/);

test('a histogram that saw -0 reports +0 (found by the property below)', () => {
  const r = new MetricsRegistry();
  r.histogram('a', 'h').observe(-0);
  const families = parsePrometheus(renderPrometheus(r));
  assert.ok(Object.is(findSample(families, 'a', { quantile: '0' }), 0));
  assert.ok(Object.is(r.histogram('a', 'h').quantile(0), 0));
});

test('render ∘ parse returns every value and label exactly (property)', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.record({
          name: nameArb,
          kind: fc.constantFrom('counter', 'gauge', 'histogram'),
          series: fc.array(
            fc.record({
              labels: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/), labelValueArb, { maxKeys: 3 }),
              values: fc.array(fc.double({ min: -1e12, max: 1e12, noNaN: true }), { maxLength: 5 }),
            }),
            { maxLength: 3 },
          ),
        }),
        { selector: (f) => f.name.replace(/_(sum|count|bucket)$/, ''), maxLength: 5 },
      ),
      (specs) => {
        const r = new MetricsRegistry();
        // Values are read after every update: two series specs may share a label set (one instrument).
        const expected: Array<[string, Record<string, string>, () => number]> = [];
        for (const spec of specs) {
          if (spec.kind === 'histogram' && specs.some((o) => o !== spec && o.name.startsWith(`${spec.name}_`)))
            continue;
          if (specs.some((o) => o !== spec && o.kind === 'histogram' && spec.name.startsWith(`${o.name}_`))) continue;
          for (const s of spec.series) {
            const labels = { ...s.labels };
            if (spec.kind === 'histogram') delete labels['quantile'];
            if (spec.kind === 'counter') {
              const c = r.counter(spec.name, 'h', labels);
              for (const v of s.values) c.inc(Math.abs(v));
              expected.push([spec.name, labels, () => c.value]);
            } else if (spec.kind === 'gauge') {
              const g = r.gauge(spec.name, 'h', labels);
              for (const v of s.values) g.set(v);
              expected.push([spec.name, labels, () => g.value]);
            } else {
              const h = r.histogram(spec.name, 'h', labels);
              for (const v of s.values) h.observe(v);
              expected.push([`${spec.name}_count`, labels, () => h.count], [`${spec.name}_sum`, labels, () => h.sum]);
              for (const q of SUMMARY_QUANTILES)
                expected.push([spec.name, { ...labels, quantile: String(q) }, () => h.quantile(q)]);
            }
          }
        }
        const families = parsePrometheus(renderPrometheus(r));
        for (const [name, labels, read] of expected) {
          const value = read();
          const got = findSample(families, name, labels);
          assert.ok(Object.is(got, value), `${name}${JSON.stringify(labels)}: ${got} !== ${value}`);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('the parser accepts the full text grammar and rejects malformed lines with a line number', () => {
  const text = [
    '# a free comment',
    '',
    '# HELP http_requests_total The total number of HTTP requests.',
    '# TYPE http_requests_total counter',
    'http_requests_total{method="post",code="200",} 1027 1395066363000',
    'http_requests_total{method="post",code="400"}    3 1395066363000',
    'metric_without_timestamp_and_labels 12.47',
    'something_weird{problem="division by zero"} +Inf -3982045',
    '# TYPE rpc_duration_seconds summary',
    'rpc_duration_seconds{quantile="0.5"} 4773',
    'rpc_duration_seconds_sum 1.7560473e+07',
    'rpc_duration_seconds_count 2693',
    '# TYPE http_request_duration_seconds histogram',
    'http_request_duration_seconds_bucket{le="+Inf"} 144320',
    'http_request_duration_seconds_count 144320',
  ].join('\n');
  const families = parsePrometheus(text);
  assert.deepEqual(
    families.map((f) => [f.name, f.type, f.samples.length]),
    [
      ['http_requests_total', 'counter', 2],
      ['metric_without_timestamp_and_labels', 'untyped', 1],
      ['something_weird', 'untyped', 1],
      ['rpc_duration_seconds', 'summary', 3],
      ['http_request_duration_seconds', 'histogram', 2],
    ],
  );
  assert.equal(families[0]!.samples[0]!.timestampMs, 1395066363000);
  assert.equal(findSample(families, 'rpc_duration_seconds_sum'), 1.7560473e7);
  for (const [bad, line] of [
    ['x{a="b} 1', 1],
    ['ok 1\nx{a=b} 1', 2],
    ['x{a="\\q"} 1', 1],
    ['x 1 2 3', 1],
    ['x abc', 1],
    ['x{a="1",a="2"} 1', 1],
    ['# TYPE x banana', 1],
    ['{a="b"} 1', 1],
  ] as const) {
    assert.throws(
      () => parsePrometheus(bad),
      (e: unknown) => e instanceof ProtocolError && e.code === 'prometheus_parse' && e.fields['line'] === line,
      bad,
    );
  }
});

test('queue instruments track a BoundedQueue depth and rejections in the exposition', () => {
  const r = new MetricsRegistry();
  const q = new BoundedQueue<number>({ capacity: 2, ...queueInstruments(r, 'apply') });
  q.offer(1);
  q.offer(2);
  q.offer(3);
  q.poll();
  const families = parsePrometheus(renderPrometheus(r));
  assert.equal(findSample(families, 'queue_depth', { queue: 'apply' }), 1);
  assert.equal(findSample(families, 'queue_rejected_total', { queue: 'apply' }), 1);
});

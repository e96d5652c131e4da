// Goal: the NTP on-wire formulas (RFC 5905 §8) recover a synthetic clock offset to within
// delay/2 under any path asymmetry, the clock filter (§10) reports the minimum-delay sample of the
// last K, jitter is the RMS spread, and inconsistent timestamps are rejected, not trusted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LimitError } from './errors.ts';
import { ClockOffsetTable, type NtpTimestamps, ntpSample, PeerClockEstimator } from './ntp.ts';

/** One exchange over a path with forward delay d1 and return delay d2, server clock = client + offset. */
function exchange(clientSendMs: number, offsetMs: number, d1: number, processingMs: number, d2: number): NtpTimestamps {
  const t0Ms = clientSendMs;
  const t1Ms = clientSendMs + d1 + offsetMs;
  const t2Ms = t1Ms + processingMs;
  const t3Ms = t2Ms - offsetMs + d2;
  return { t0Ms, t1Ms, t2Ms, t3Ms };
}

const delay = fc.double({ min: 0, max: 500, noNaN: true });

test('offset error is at most delay/2 under any asymmetry; delay excludes processing time', () => {
  fc.assert(
    fc.property(
      fc.double({ min: -1e6, max: 1e6, noNaN: true }),
      delay,
      delay,
      fc.double({ min: 0, max: 100, noNaN: true }),
      (offsetMs, d1, d2, processingMs) => {
        const s = ntpSample(exchange(1.7e12, offsetMs, d1, processingMs, d2));
        assert.ok(s !== undefined);
        const eps = 1e-6 * (1 + Math.abs(offsetMs)) + 1e-3; // float rounding at 1.7e12
        assert.ok(Math.abs(s.delayMs - (d1 + d2)) <= eps, `delay ${s.delayMs} vs ${d1 + d2}`);
        assert.ok(Math.abs(s.offsetMs - offsetMs) <= s.delayMs / 2 + eps);
        assert.ok(Math.abs(s.offsetMs - (offsetMs + (d1 - d2) / 2)) <= eps);
      },
    ),
  );
});

test('symmetric paths give the exact offset', () => {
  const s = ntpSample(exchange(1000, -250, 7, 3, 7))!;
  assert.equal(s.offsetMs, -250);
  assert.equal(s.delayMs, 14);
});

test('the estimator reports the minimum-delay sample among the last K, with RMS jitter', () => {
  const est = new PeerClockEstimator(3);
  assert.equal(est.estimate(), undefined);
  est.add(exchange(0, 100, 1, 0, 1)); // delay 2, offset 100 (exact)
  est.add(exchange(10, 100, 30, 0, 10)); // delay 40, offset 110
  est.add(exchange(20, 100, 10, 0, 30)); // delay 40, offset 90
  let e = est.estimate()!;
  assert.equal(e.offsetMs, 100);
  assert.equal(e.delayMs, 2);
  assert.equal(e.errorBoundMs, 1);
  assert.equal(e.jitterMs, Math.sqrt((100 + 100) / 2));
  assert.equal(e.sampleCount, 3);
  // A fourth sample evicts the oldest (the best one): the filter window is bounded.
  est.add(exchange(30, 100, 5, 0, 15)); // delay 20, offset 95
  e = est.estimate()!;
  assert.equal(e.delayMs, 20);
  assert.equal(e.offsetMs, 95);
  assert.equal(est.sampleCount, 3);
});

test('under random asymmetric delays the filtered estimate is within its own bound and no worse than any sample bound', () => {
  fc.assert(
    fc.property(
      fc.double({ min: -5000, max: 5000, noNaN: true }),
      fc.array(fc.tuple(delay, delay), { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 1, max: 8 }),
      (offsetMs, paths, samplesMax) => {
        const est = new PeerClockEstimator(samplesMax);
        const bounds: number[] = [];
        paths.forEach(([d1, d2], i) => {
          est.add(exchange(1000 * i, offsetMs, d1, 1, d2));
          bounds.push((d1 + d2) / 2);
        });
        const e = est.estimate()!;
        assert.ok(Math.abs(e.offsetMs - offsetMs) <= e.errorBoundMs + 1e-6);
        assert.ok(Math.abs(e.errorBoundMs - Math.min(...bounds.slice(-samplesMax))) <= 1e-6);
      },
    ),
  );
});

test('inconsistent timestamps are rejected and counted', () => {
  const est = new PeerClockEstimator();
  assert.equal(est.add({ t0Ms: 0, t1Ms: 10, t2Ms: 5, t3Ms: 20 }), undefined); // server sent before it received
  assert.equal(est.add({ t0Ms: 10, t1Ms: 0, t2Ms: 100, t3Ms: 20 }), undefined); // negative delay
  assert.equal(est.add({ t0Ms: 0, t1Ms: Number.NaN, t2Ms: 1, t3Ms: 2 }), undefined);
  assert.equal(est.rejectedCount, 3);
  assert.equal(est.estimate(), undefined);
});

test('the per-peer table is bounded', () => {
  const table = new ClockOffsetTable({ peersMax: 2 });
  table.add('a', exchange(0, 5, 1, 0, 1));
  table.add('b', exchange(0, -5, 1, 0, 1));
  assert.throws(() => table.add('c', exchange(0, 0, 1, 0, 1)), LimitError);
  assert.equal(table.estimate('a')!.offsetMs, 5);
  assert.equal(table.estimate('b')!.offsetMs, -5);
  table.forget('a');
  table.add('c', exchange(0, 0, 1, 0, 1));
  assert.deepEqual(table.peerIds(), ['b', 'c']);
});

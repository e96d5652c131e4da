// Goal: Apdex classifies by the spec (≤ T satisfied, ≤ 4T tolerating, else frustrated; score =
// (S + T/2)/N) and the sliding-window throughput meter reports the true rate of a steady stream,
// forgets a burst after the window, and needs no clock of its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Apdex } from './apdex.ts';
import { ThroughputMeter } from './throughput.ts';

test('Apdex arithmetic on a worked example', () => {
  const a = new Apdex(100);
  assert.equal(a.score(), undefined);
  for (const ms of [10, 100, 101, 400, 401, 5000]) a.observe(ms);
  a.failed();
  assert.deepEqual([a.satisfied, a.tolerating, a.frustrated, a.total], [2, 2, 3, 7]);
  assert.equal(a.score(), (2 + 2 / 2) / 7);
});

test('Apdex score matches a direct count for any latencies', () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0.1, max: 1000, noNaN: true }),
      fc.array(fc.double({ min: 0, max: 10_000, noNaN: true })),
      (t, xs) => {
        const a = new Apdex(t);
        for (const x of xs) a.observe(x);
        const s = xs.filter((x) => x <= t).length;
        const tol = xs.filter((x) => x > t && x <= 4 * t).length;
        assert.equal(a.score(), xs.length === 0 ? undefined : (s + tol / 2) / xs.length);
        const b = new Apdex(t).merge(a);
        assert.equal(b.score(), a.score());
      },
    ),
  );
});

test('throughput of a steady stream reads as its rate, during warm-up and after', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 1_000_000 }), (perSecond, startMs) => {
      const meter = new ThroughputMeter({ windowMs: 10_000, bucketMs: 1000, startMs });
      const gapMs = 1000 / perSecond;
      let t = startMs;
      for (let i = 0; t < startMs + 25_000; i++) {
        t = startMs + (i + 1) * gapMs;
        meter.mark(t);
        if (t - startMs >= 2000 && i % 97 === 0) {
          const rate = meter.ratePerSecond(t);
          // Within one event per covered second plus one bucket edge.
          const coveredS = Math.min(11, (t - startMs) / 1000);
          assert.ok(
            Math.abs(rate - perSecond) <= 2 / coveredS + perSecond * 0.01,
            `rate ${rate} vs ${perSecond} at ${t}`,
          );
        }
      }
    }),
    { numRuns: 50 },
  );
});

test('a burst ages out of the window; backwards time does not corrupt the ring', () => {
  const meter = new ThroughputMeter({ windowMs: 1000, bucketMs: 100, startMs: 0 });
  meter.mark(2000, 500);
  assert.ok(Math.abs(meter.ratePerSecond(2050) - 500 / 1.05) < 1e-9);
  meter.mark(1500, 10); // time went backwards: counted at the latest time seen
  assert.equal(meter.total, 510);
  assert.ok(meter.ratePerSecond(2100) > 0);
  assert.equal(meter.ratePerSecond(3200), 0);
  assert.equal(meter.ratePerSecond(1_000_000), 0);
});

// Goal: the leader's liveness decisions are ZooKeeper's: timeouts clamped to [2, 20] ticks by
// default; a session expires only after a full timeout of silence (rounded up to a tick), never
// while touched; a new leader grants every session a full timeout; an expiry is handed out once
// and again only if its close did not apply within the retry interval; closing sessions refuse
// touches; the session bound holds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { defaultTimeoutPolicy, negotiateTimeout, SessionTracker } from './session-tracker.ts';

const opts = { tickTimeMs: 100, sessionsMax: 1000, closeRetryMs: 500 };

test('timeout negotiation clamps to [2, 20] ticks by default, configurable', () => {
  const p = defaultTimeoutPolicy(2000);
  assert.deepEqual(p, { tickTimeMs: 2000, minSessionTimeoutMs: 4000, maxSessionTimeoutMs: 40_000 });
  assert.equal(negotiateTimeout(1000, p), 4000);
  assert.equal(negotiateTimeout(30_000, p), 30_000);
  assert.equal(negotiateTimeout(100_000, p), 40_000);
  assert.equal(negotiateTimeout(-5, p), 4000);
  assert.equal(negotiateTimeout(Number.NaN, p), 4000);
  assert.equal(
    negotiateTimeout(5000, { tickTimeMs: 1000, minSessionTimeoutMs: 6000, maxSessionTimeoutMs: 8000 }),
    6000,
  );
});

test('a silent session expires after its timeout rounded up to a tick, once', () => {
  const t = new SessionTracker(opts);
  assert.equal(t.add(7, 250, 1000), true);
  assert.deepEqual(t.expired(1299), []);
  assert.deepEqual(t.expired(1300), [7], 'deadline 1250 rounded up to the tick at 1300');
  assert.equal(t.isClosing(7), true);
  assert.deepEqual(t.expired(1700), [], 'handed out once while its close may still apply');
  assert.equal(t.touch(7, 1700), false, 'a closing session refuses touches');
  assert.deepEqual(t.expired(1800), [7], 'the close did not apply within closeRetryMs: again');
  t.remove(7);
  assert.deepEqual(t.expired(10_000), []);
  assert.equal(t.size, 0);
});

test('touches keep a session alive; unknown sessions are refused', () => {
  const t = new SessionTracker(opts);
  t.add(1, 300, 0);
  for (let now = 0; now <= 5000; now += 200) {
    assert.equal(t.touch(1, now), true);
    assert.deepEqual(t.expired(now), []);
  }
  assert.equal(t.touch(99, 0), false);
  assert.deepEqual(t.expired(5300), [1]);
});

test('a new leader grants every live session a full timeout from its takeover', () => {
  const t = new SessionTracker(opts);
  t.add(1, 300, 0);
  t.add(2, 300, 0);
  assert.deepEqual(t.expired(300), [1, 2]);
  // Takeover at 10_000: the tree still holds 1 and 3 (2's close applied meanwhile).
  t.grantAll(
    [
      { id: 1, timeoutMs: 300 },
      { id: 3, timeoutMs: 1000 },
    ],
    10_000,
  );
  assert.equal(t.has(2), false);
  assert.equal(t.isClosing(1), false);
  assert.deepEqual(t.expired(10_299), []);
  assert.deepEqual(t.expired(10_300), [1]);
  t.remove(1);
  assert.deepEqual(t.expired(10_999), []);
  assert.deepEqual(t.expired(11_000), [3]);
});

test('the session bound refuses, never grows past', () => {
  const t = new SessionTracker({ ...opts, sessionsMax: 2 });
  assert.equal(t.add(1, 100, 0), true);
  assert.equal(t.add(2, 100, 0), true);
  assert.equal(t.add(3, 100, 0), false);
  assert.equal(t.add(1, 100, 0), true, 'an existing session is not a new one');
  assert.equal(t.size, 2);
});

// Random touches and clock steps: a session is handed out iff it was silent for longer than its
// timeout rounded up to the tick; never earlier, never more than one tick late.
test('property: expiry happens within [timeout, timeout + tick] of the last touch', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ step: fc.integer({ min: 1, max: 400 }), touch: fc.boolean() }), { maxLength: 80 }),
      fc.integer({ min: 150, max: 1000 }),
      (steps, timeoutMs) => {
        const t = new SessionTracker(opts);
        let now = 0;
        let last = 0;
        t.add(1, timeoutMs, now);
        for (const s of steps) {
          now += s.step;
          const out = t.expired(now);
          if (out.length > 0) {
            assert.ok(now - last >= timeoutMs, `expired after ${now - last} ms of silence, timeout ${timeoutMs}`);
            return;
          }
          assert.ok(now - last <= timeoutMs + opts.tickTimeMs, 'not expired a tick after its deadline');
          if (s.touch) {
            assert.equal(t.touch(1, now), true);
            last = now;
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

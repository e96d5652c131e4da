// Goal: the real timers keep a delay longer than setTimeout's 2^31 - 1 ms (a BLPOP or WAIT timeout
// of weeks): Node fires such a setTimeout after 1 ms, so the timer must not fire early; short ones
// and cancel behave as before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { realTimers } from './real-time.ts';

test('a delay past 2^31 - 1 ms does not fire early; a short one fires; cancel stops either', async () => {
  let long = 0;
  const t = realTimers.after(2 ** 31 + 10_000, () => long++);
  let short = 0;
  realTimers.after(5, () => short++);
  const cancelled = realTimers.after(5, () => assert.fail('a cancelled timer fired'));
  cancelled.cancel();
  // The plain setTimeout fired the long one after 1 ms (TimeoutOverflowWarning): Node's timers
  // run in order of due time, so once the 5 ms one has fired, a 1 ms one would have fired too. No
  // sleep beyond that: a bounded poll for the short timer.
  for (let i = 0; i < 200 && short === 0; i++) await delay(5);
  assert.equal(short, 1, 'the short timer fired once');
  assert.equal(long, 0, 'the long timer did not fire');
  t.cancel();
});

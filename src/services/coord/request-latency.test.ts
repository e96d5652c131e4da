// Goal: the 4lw latency numbers are ZooKeeper's AvgMinMaxCounter: 0/0.0/0 before any request,
// whole milliseconds from receipt to reply, the average rounded half up to 4 decimals (real 3.8
// printed 0/23.8333/106 for 6 requests summing 143 ms), negative samples dropped, srst starts over.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { javaDouble } from './four-letter.ts';
import { RequestLatency } from './request-latency.ts';

test('min/avg/max as AvgMinMaxCounter: empty is 0, whole ms, avg to 4 decimals half up, reset', () => {
  const l = new RequestLatency();
  assert.deepEqual([l.min, l.avg, l.max, l.requests], [0, 0, 0, 0]);
  assert.equal(`${l.min}/${javaDouble(l.avg)}/${l.max}`, '0/0.0/0');
  for (const [from, to] of [
    [10.9, 11.2], // 1 ms: the readings are whole ms (Time.currentElapsedTime), not their difference
    [0, 106],
    [5, 5],
    [7, 20],
    [100, 111.99],
    [1000, 1002],
  ])
    l.record(from!, to!);
  assert.deepEqual([l.min, l.max, l.requests], [0, 106, 6]);
  assert.equal(l.avg, 22.1667, '(1 + 106 + 0 + 13 + 11 + 2) / 6');
  assert.equal(`${l.min}/${javaDouble(l.avg)}/${l.max}`, '0/22.1667/106');
  l.record(50, 40);
  assert.equal(l.requests, 6, 'a clock that went back is not a sample');
  l.reset();
  assert.deepEqual([l.min, l.avg, l.max, l.requests], [0, 0, 0, 0]);
  l.record(0, 3);
  assert.equal(`${l.min}/${javaDouble(l.avg)}/${l.max}`, '3/3.0/3');
  const half = new RequestLatency();
  for (const ms of [0, 0, 0, 0, 0, 0, 0, 1]) half.record(0, ms); // 1/8 = 0.125
  assert.equal(half.avg, 0.125);
  const third = new RequestLatency();
  for (const ms of [0, 0, 2]) third.record(0, ms); // 0.66666… rounds up
  assert.equal(javaDouble(third.avg), '0.6667');
});

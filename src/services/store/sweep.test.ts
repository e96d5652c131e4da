// Goal: the store's sweep removes what a DEL of a large collection left (Keyspace.cleanupStep,
// Redis' lazyfree) tick by tick, each tick within its bound, and ticks come every
// CLEANUP_INTERVAL_MS while any is left (SWEEP_INTERVAL_MS after).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Timer, Timers } from '../../env/types.ts';
import { limits } from '../../lib/limits.ts';
import { RecordingMetrics } from '../../storage/wal/test-components.ts';
import { RedisHarness, show } from '../../redis/testing.ts';
import { CLEANUP_INTERVAL_MS, StoreSweeper, SWEEP_INTERVAL_MS } from './sweep.ts';

test('a DEL too large for one batch is cleaned up by the sweep, at the cleanup interval', () => {
  const h = new RedisHarness({ keyspace: { batchBytesMax: 64 * 1024, lazyElementDeletes: true } });
  for (let i = 0; i < 6000; i += 500) {
    const members = Array.from({ length: 500 }, (_, j) => `member-${i + j}`);
    assert.equal(show(h.run('SADD', 'S', ...members)), 500);
  }
  assert.equal(show(h.run('DEL', 'S')), 1);
  assert.equal(h.keyspace.leftoverKeys, 1);
  const delays: number[] = [];
  const timers: Timers = {
    after: (ms: number): Timer => {
      delays.push(ms);
      return { cancel: () => undefined };
    },
    every: () => ({ cancel: () => undefined }),
  };
  const sweeper = new StoreSweeper({
    keyspace: h.keyspace,
    timers,
    wallMs: () => h.clock.nowMs,
    metrics: new RecordingMetrics(),
  });
  // Let the first recount pass finish, so the delays are the steady ones.
  for (let i = 0; i < 100 && !h.keyspace.account.complete; i++) h.keyspace.recountStep(limits.redisSweepEntriesMax);
  sweeper.start();
  assert.equal(delays.at(-1), CLEANUP_INTERVAL_MS, 'leftovers: the next tick comes soon');
  let ticks = 0;
  while (h.keyspace.leftoverKeys > 0) {
    const before = h.engine.lastAppliedSeq;
    sweeper.tick();
    assert.ok(h.engine.lastAppliedSeq - before <= limits.redisSweepEntriesMax, 'a tick stays within its bound');
    assert.ok(++ticks < 100);
  }
  assert.ok(ticks >= 2, `${ticks} ticks`);
  sweeper.stop();
  const after = new StoreSweeper({
    keyspace: h.keyspace,
    timers,
    wallMs: () => h.clock.nowMs,
    metrics: new RecordingMetrics(),
  });
  after.start();
  assert.equal(delays.at(-1), SWEEP_INTERVAL_MS, 'nothing left: the usual interval');
  after.stop();
  assert.equal(show(h.run('SCARD', 'S')), 0);
  assert.equal(show(h.run('SADD', 'S', 'x')), 1);
  assert.deepEqual(show(h.run('SMEMBERS', 'S')), ['x']);
});

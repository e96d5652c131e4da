// Goal: with lazyElementDeletes (the node's keyspace at N = 1), a DEL, an expiry or a SET over a
// collection too large for one command's batch succeeds at once (the head's tombstone hides the
// key: every read says it is gone) and its elements are removed afterwards by cleanupStep (the
// sweep), or after a restart by reclaimExpired's walk; a collection created over leftovers never
// sees them (refused with a clear error until they fit its own batch), and the cleanup never
// touches a live collection's elements. Before, such a DEL was refused for good (negative
// control: the keyspace without lazyElementDeletes) and an expired one stayed on disk.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenOf } from '../dynamo/partitioner.ts';
import { collectionRange } from '../storage/lsm/keys.ts';
import { EntryKind } from '../storage/lsm/entry.ts';
import { KeyspaceLimitError } from './keyspace.ts';
import { RedisHarness, show } from './testing.ts';

const utf8 = new TextEncoder();
const BATCH = 8192; // ~90 element tombstones; a DEL stages ~45 of them

function harness(lazy = true): RedisHarness {
  return new RedisHarness({ keyspace: { batchBytesMax: BATCH, lazyElementDeletes: lazy } });
}

/** Live element entries of `key` in the engine (its head not counted). */
function storedElements(h: RedisHarness, key: string): number {
  const k = utf8.encode(key);
  const { start, end } = collectionRange(tokenOf(k), k);
  const page = h.engine.scan({ start, end, limit: 100_000 });
  return page.entries.filter((e) => e.kind === EntryKind.put).length - (h.keyspace.typeOf(k, h.clock.nowMs) ? 1 : 0);
}

function makeSet(h: RedisHarness, key: string, members: number, tag = 'm'): void {
  for (let i = 0; i < members; i += 20) {
    const batch = Array.from({ length: Math.min(20, members - i) }, (_, j) => `${tag}-${i + j}`);
    assert.equal(show(h.run('SADD', key, ...batch)), batch.length);
  }
}

/** Cleanup steps (as the sweep runs them) until nothing is left; returns the steps taken. */
function cleanUp(h: RedisHarness, perStep: number): number {
  let steps = 0;
  while (h.keyspace.leftoverKeys > 0) {
    h.keyspace.cleanupStep(h.clock.nowMs, perStep);
    h.keyspace.endCommand();
    assert.ok(++steps < 1000, 'the cleanup ends');
  }
  return steps;
}

test('DEL of a collection past one batch: gone at once, its elements removed by the cleanup', () => {
  const h = harness();
  makeSet(h, 'S', 300);
  assert.equal(show(h.run('DEL', 'S')), 1);
  assert.equal(show(h.run('EXISTS', 'S')), 0);
  assert.deepEqual(show(h.run('SMEMBERS', 'S')), []);
  assert.equal(show(h.run('DBSIZE')), 0);
  const left = storedElements(h, 'S');
  assert.ok(left > 0 && left < 300, `${left} elements left for the cleanup`);
  assert.equal(h.keyspace.leftoverKeys, 1);
  assert.ok(cleanUp(h, 25) >= 2, 'in steps of at most 25');
  assert.equal(storedElements(h, 'S'), 0);
  // Negative control: every tombstone in the DEL's batch, as before: refused.
  const strict = harness(false);
  makeSet(strict, 'S', 300);
  assert.equal(
    show(strict.run('DEL', 'S')),
    `-ERR command writes more than ${BATCH} bytes in one batch (redisCommandBatchBytesMax)`,
  );
  assert.equal(show(strict.run('SCARD', 'S')), 300);
});

test('a collection created over leftovers never sees them; refused with a clear error until they fit', () => {
  const h = harness();
  makeSet(h, 'S', 300);
  assert.equal(show(h.run('DEL', 'S')), 1);
  // A bound, not a bug: the server answers it as `-ERR limit_exceeded: ...` (server.ts runData).
  assert.throws(
    () => h.run('SADD', 'S', 'new'),
    (e: unknown) =>
      e instanceof KeyspaceLimitError && /old elements are too many to remove in one command/.test(e.message),
  );
  assert.equal(show(h.run('EXISTS', 'S')), 0, 'nothing of the refused SADD applied');
  // Cleanup steps (each at most half a batch) until what is left fits the SADD's own batch.
  while (storedElements(h, 'S') > 60) {
    h.keyspace.cleanupStep(h.clock.nowMs, 1000);
    h.keyspace.endCommand();
  }
  assert.ok(storedElements(h, 'S') > 0, 'some are still left');
  assert.equal(show(h.run('SADD', 'S', 'new')), 1);
  assert.deepEqual(show(h.run('SMEMBERS', 'S')), ['new']);
  assert.equal(storedElements(h, 'S'), 1);
  // The cleanup, still registered, passes over the live set.
  cleanUp(h, 1000);
  assert.deepEqual(show(h.run('SMEMBERS', 'S')), ['new']);
  // Re-created while leftovers remain registered, within its batch: the SADD removes them itself.
  makeSet(h, 'T', 120);
  assert.equal(show(h.run('DEL', 'T')), 1);
  assert.equal(h.keyspace.leftoverKeys, 1);
  assert.equal(show(h.run('SADD', 'T', 'x')), 1);
  cleanUp(h, 1000);
  assert.deepEqual(show(h.run('SMEMBERS', 'T')), ['x']);
});

test('SET over a large collection and an expired one: their elements go later, the key reads right at once', () => {
  const h = harness();
  makeSet(h, 'S', 300);
  assert.equal(show(h.run('SET', 'S', 'v')), '+OK');
  assert.equal(show(h.run('GET', 'S')), 'v');
  assert.equal(show(h.run('TYPE', 'S')), '+string');
  cleanUp(h, 100);
  assert.equal(storedElements(h, 'S'), 0);
  assert.equal(show(h.run('GET', 'S')), 'v');
  makeSet(h, 'E', 300);
  assert.equal(show(h.run('PEXPIRE', 'E', '10')), 1);
  h.clock.nowMs += 20;
  assert.equal(show(h.run('EXISTS', 'E')), 0);
  let cursor = 0n;
  do {
    cursor = h.keyspace.reclaimExpired(cursor, h.clock.nowMs, 10_000).cursor;
    h.keyspace.endCommand();
  } while (cursor !== 0n);
  assert.equal(h.keyspace.leftoverKeys, 1, 'the expired head is deleted, its elements registered');
  cleanUp(h, 100);
  assert.equal(storedElements(h, 'E'), 0);
});

test('after a restart (no registry), the expiry walk removes leftovers under an absent or a string head', () => {
  const h = harness();
  makeSet(h, 'A', 300);
  makeSet(h, 'B', 300);
  assert.equal(show(h.run('DEL', 'A')), 1);
  assert.equal(show(h.run('SET', 'B', 'v')), '+OK');
  h.restart();
  assert.equal(h.keyspace.leftoverKeys, 0);
  assert.ok(storedElements(h, 'A') > 0 && storedElements(h, 'B') > 0);
  for (let pass = 0; pass < 20 && storedElements(h, 'A') + storedElements(h, 'B') > 0; pass++) {
    let cursor = 0n;
    do {
      cursor = h.keyspace.reclaimExpired(cursor, h.clock.nowMs, 10_000).cursor;
      h.keyspace.endCommand();
    } while (cursor !== 0n);
    cleanUp(h, 100);
  }
  assert.equal(storedElements(h, 'A'), 0);
  assert.equal(storedElements(h, 'B'), 0);
  assert.equal(show(h.run('GET', 'B')), 'v');
});

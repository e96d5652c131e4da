// Goal: with lazyElementDeletes (the node's keyspace at N = 1), a DEL, an expiry or a SET over a
// collection too large for one command's batch succeeds at once (the head's tombstone hides the
// key: every read says it is gone) and its elements are removed afterwards by cleanupStep (the
// sweep), or after a restart by reclaimExpired's walk; a collection created over leftovers never
// sees them (refused with a clear error until they fit its own batch, which registers them), and
// the cleanup never touches a collection's elements, live or expired. Each cleanup step resumes
// where the last stopped (linear work); after a restart the walk finds leftovers past a DEL's
// tombstones; the evictor waits for an evicted collection's elements instead of taking more keys. Before, such a DEL was refused for good (negative
// control: the keyspace without lazyElementDeletes) and an expired one stayed on disk.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenOf } from '../dynamo/partitioner.ts';
import { collectionRange } from '../storage/lsm/keys.ts';
import { EntryKind } from '../storage/lsm/entry.ts';
import { SeededRng } from '../lib/rng.ts';
import { AccessSketch, type EvictionSettings, Evictor, keyspaceEvictionSpace } from './eviction.ts';
import { KeyspaceLimitError } from './keyspace.ts';
import { RedisHarness, show } from './testing.ts';

const utf8 = new TextEncoder();
const BATCH = 8192; // ~90 element tombstones; a DEL stages a quarter of them at most

function harness(lazy = true): RedisHarness {
  return new RedisHarness({ keyspace: { batchBytesMax: BATCH, lazyElementDeletes: lazy } });
}

/** Live element entries of `key` in the engine (its head not counted). */
function storedElements(h: RedisHarness, key: string): number {
  const k = utf8.encode(key);
  const { start, end } = collectionRange(tokenOf(k), k);
  let n = 0;
  // Page on: one engine scan stops after lsmScanEntriesMax entries examined (tombstones too).
  for (let at: Uint8Array | null = start; at !== null; ) {
    const page = h.engine.scan({ start: at, end, limit: 100_000 });
    n += page.entries.filter((e) => e.kind === EntryKind.put).length;
    at = page.next;
  }
  return n - (h.keyspace.typeOf(k, h.clock.nowMs) ? 1 : 0);
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

test('RENAME of a collection whose copies fit one batch, but not with a tombstone for each old element', () => {
  const h = harness();
  makeSet(h, 'S', 80); // 80 copies fit 8 KiB; 80 copies and 80 tombstones do not
  assert.equal(show(h.run('RENAME', 'S', 'T')), '+OK');
  assert.equal(show(h.run('EXISTS', 'S')), 0);
  assert.equal(show(h.run('SCARD', 'T')), 80);
  assert.equal(show(h.run('SISMEMBER', 'T', 'm-79')), 1);
  assert.equal(h.keyspace.leftoverKeys, 1, "S's elements left for the cleanup");
  cleanUp(h, 25);
  assert.equal(storedElements(h, 'S'), 0);
  assert.equal(storedElements(h, 'T'), 80);
  h.restart();
  assert.equal(show(h.run('SCARD', 'T')), 80);
  // Negative control: a tombstone per old element in the same batch, as before: refused.
  const strict = harness(false);
  makeSet(strict, 'S', 80);
  assert.equal(
    show(strict.run('RENAME', 'S', 'T')),
    `-ERR command writes more than ${BATCH} bytes in one batch (redisCommandBatchBytesMax)`,
  );
  assert.equal(show(strict.run('SCARD', 'S')), 80);
});

test('RENAME or a *STORE onto a collection too large to replace in one command: refused with what to do', () => {
  const h = harness();
  makeSet(h, 'S', 20);
  makeSet(h, 'T', 300, 't');
  const refused =
    '-ERR the key holds a collection too large to replace in one command: DEL it first, then retry once its elements are removed in the background (redisCommandBatchBytesMax)';
  assert.equal(show(h.run('RENAME', 'S', 'T')), refused);
  // A collection command throws it (the server answers it as -ERR limit_exceeded: ...).
  assert.throws(
    () => h.run('SUNIONSTORE', 'T', 'S'),
    (e: unknown) =>
      e instanceof KeyspaceLimitError && e.message === refused.slice(5, -' (redisCommandBatchBytesMax)'.length),
  );
  assert.equal(show(h.run('SCARD', 'T')), 300, 'nothing changed');
  assert.equal(show(h.run('SCARD', 'S')), 20);
  assert.equal(show(h.run('DEL', 'T')), 1);
  cleanUp(h, 100);
  assert.equal(show(h.run('RENAME', 'S', 'T')), '+OK');
  assert.equal(show(h.run('SCARD', 'T')), 20);
  assert.deepEqual(
    (show(h.run('SMEMBERS', 'T')) as string[]).filter((m) => m.startsWith('t-')),
    [],
  );
});

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
  for (let steps = 0; storedElements(h, 'S') > 60; steps++) {
    assert.ok(steps < 100, 'the cleanup makes progress');
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

/** Counts the entries the engine's scans hand out (dead ones too) while `body` runs. */
function scanned(h: RedisHarness, body: () => void): number {
  const engine = h.engine;
  const scan = engine.scan.bind(engine);
  let n = 0;
  engine.scan = (range) => {
    const page = scan(range);
    n += page.entries.length;
    return page;
  };
  try {
    body();
  } finally {
    engine.scan = scan;
  }
  return n;
}

function walkOnce(h: RedisHarness, entriesMax: number): void {
  let cursor = 0n;
  for (let i = 0; i < 10_000; i++) {
    cursor = h.keyspace.reclaimExpired(cursor, h.clock.nowMs, entriesMax).cursor;
    h.keyspace.endCommand();
    if (cursor === 0n) return;
  }
  assert.fail('the walk ends');
}

test('each cleanup step resumes where the last stopped: the work is linear, not a walk over old tombstones', () => {
  // A review: every step scanned from the range's start, so step k read k steps of tombstones
  // (2.43 M entries read for 76,000 deletions; ticks of a second on 400,000 elements).
  const h = new RedisHarness({ keyspace: { batchBytesMax: 1024 * 1024, lazyElementDeletes: true } });
  makeSet(h, 'S', 20_000);
  assert.equal(show(h.run('DEL', 'S')), 1);
  let steps = 0;
  const read = scanned(h, () => {
    steps = cleanUp(h, 500);
  });
  assert.equal(storedElements(h, 'S'), 0);
  assert.ok(steps >= 30, `${steps} steps of 500`);
  assert.ok(read <= 20_000 + steps * 600, `${read} entries read for 20,000 elements in ${steps} steps`);
  // A SET over the deleted collection halfway leaves the cleanup where it was (a second review:
  // it started it over, through every tombstone already passed).
  makeSet(h, 'T', 20_000);
  assert.equal(show(h.run('DEL', 'T')), 1);
  for (let i = 0; i < 20; i++) {
    h.keyspace.cleanupStep(h.clock.nowMs, 500);
    h.keyspace.endCommand();
  }
  const setRead = scanned(h, () => {
    assert.equal(show(h.run('SET', 'T', 'v')), '+OK');
    h.keyspace.cleanupStep(h.clock.nowMs, 500);
    h.keyspace.endCommand();
  });
  assert.ok(setRead <= 700, `${setRead} entries read by the SET and the next step`);
  cleanUp(h, 500);
  assert.equal(storedElements(h, 'T'), 0);
  assert.equal(show(h.run('GET', 'T')), 'v');
});

test('after a restart the walk finds leftovers past their tombstones, and a refused re-creation registers them', () => {
  // A review: the walk counted a DEL's tombstones one by one at its small budget and skipped the
  // token, never reaching the live leftovers; and a SADD refused for them registered nothing.
  const h = new RedisHarness({ keyspace: { batchBytesMax: 512 * 1024, lazyElementDeletes: true } });
  makeSet(h, 'A', 5000);
  makeSet(h, 'B', 5000);
  makeSet(h, 'C', 10_000); // its leftovers pass one batch: a SADD must wait for the cleanup
  assert.equal(show(h.run('DEL', 'A')), 1);
  assert.equal(show(h.run('SET', 'B', 'v')), '+OK');
  assert.equal(show(h.run('DEL', 'C')), 1);
  h.restart();
  assert.equal(h.keyspace.leftoverKeys, 0);
  // C: a collection created over them is refused, and that registers them.
  assert.throws(() => h.run('SADD', 'C', 'x'), KeyspaceLimitError);
  assert.equal(h.keyspace.leftoverKeys, 1);
  cleanUp(h, 512);
  assert.equal(show(h.run('SADD', 'C', 'x')), 1);
  // A and B: one walk at the sweep's small budget finds them.
  walkOnce(h, 512);
  assert.equal(h.keyspace.leftoverKeys, 2);
  cleanUp(h, 512);
  assert.equal(storedElements(h, 'A'), 0);
  assert.equal(storedElements(h, 'B'), 0);
  assert.equal(show(h.run('GET', 'B')), 'v');
  assert.deepEqual(show(h.run('SMEMBERS', 'C')), ['x']);
});

test('the cleanup leaves a re-created collection alone, live or expired (a clock stepped back shows it whole)', () => {
  const h = harness();
  makeSet(h, 'S', 300);
  assert.equal(show(h.run('DEL', 'S')), 1);
  for (let steps = 0; storedElements(h, 'S') > 60; steps++) {
    assert.ok(steps < 100);
    h.keyspace.cleanupStep(h.clock.nowMs, 40);
    h.keyspace.endCommand();
  }
  assert.equal(h.keyspace.leftoverKeys, 1, 'still registered');
  // Members that sort after where the cleanup would resume (the old ones are m-N).
  assert.equal(show(h.run('SADD', 'S', 'z1', 'z2', 'z3', 'z4')), 4);
  assert.equal(show(h.run('PEXPIRE', 'S', '10')), 1);
  h.clock.nowMs += 20; // expired when the cleanup runs
  cleanUp(h, 1000);
  h.clock.nowMs -= 15; // a clock stepped back: the set is live again, and whole
  assert.deepEqual(show(h.run('SMEMBERS', 'S')), ['z1', 'z2', 'z3', 'z4']);
  assert.equal(show(h.run('SCARD', 'S')), 4);
});

test('a SET of a large value over a large collection fits: the delete takes a bounded share of the batch', () => {
  const h = new RedisHarness({ keyspace: { batchBytesMax: 64 * 1024, lazyElementDeletes: true } });
  makeSet(h, 'S', 3000);
  assert.equal(show(h.run('SET', 'S', 'v'.repeat(40_000))), '+OK');
  assert.equal(String(show(h.run('STRLEN', 'S'))), '40000');
  cleanUp(h, 1000);
  assert.equal(storedElements(h, 'S'), 0);
});

test('the evictor takes one collection per call, not a cascade, and keeps memory bounded while leftovers go', () => {
  // A review: leftovers still counted, so the evictor went on taking other keys for bytes that
  // were about to go (339 keys after a 3,000-element set).
  const h = new RedisHarness({ keyspace: { batchBytesMax: 64 * 1024, lazyElementDeletes: true } });
  const settings: EvictionSettings = {
    maxmemory: 0,
    policy: 'volatile-ttl',
    samples: 64, // every key sampled: the nearest deadline is taken first
    lfuLogFactor: 10,
    lfuDecayTime: 1,
  };
  const sketch = new AccessSketch(new SeededRng('lazy-lfu'), settings, 1 << 16);
  const evicted: string[] = [];
  const ev = new Evictor(keyspaceEvictionSpace(h.keyspace), settings, sketch, new SeededRng('lazy-evict'), (k) =>
    evicted.push(new TextDecoder().decode(k)),
  );
  makeSet(h, 'S', 3000);
  assert.equal(show(h.run('EXPIRE', 'S', '10')), 1); // the nearest deadline: the first victim
  while (!h.keyspace.account.complete) h.keyspace.recountStep(100_000);
  const setBytes = h.keyspace.datasetBytes;
  for (let i = 0; i < 50; i++) assert.equal(show(h.run('SET', `k${i}`, 'v'.repeat(100), 'EX', '1000')), '+OK');
  // Under once most of S's bytes are gone: more than its first eager share.
  settings.maxmemory = h.keyspace.datasetBytes - Math.floor(setBytes * 0.8);
  ev.policyChanged(h.clock.nowMs);
  // One call takes S and stops: its elements go in the background (before: a cascade of keys).
  assert.equal(ev.performEvictions(h.clock.nowMs), 'running');
  assert.deepEqual(evicted, ['S']);
  cleanUp(h, 1000);
  assert.equal(ev.performEvictions(h.clock.nowMs), 'ok');
  assert.deepEqual(evicted, ['S'], 'no other key was evicted');
  assert.equal(show(h.run('DBSIZE')), 50);
  // A second review: waiting for every leftover let writes go on over maxmemory for as long as a
  // cleanup took. Leftovers of a user's DEL pending, writes still evict: memory stays bounded.
  makeSet(h, 'T', 3000);
  while (!h.keyspace.account.complete) h.keyspace.recountStep(100_000);
  settings.maxmemory = h.keyspace.datasetBytes;
  ev.policyChanged(h.clock.nowMs);
  assert.equal(show(h.run('DEL', 'T')), 1);
  assert.equal(h.keyspace.leftoverKeys, 1);
  let peak = 0;
  for (let i = 0; i < 300; i++) {
    ev.performEvictions(h.clock.nowMs);
    h.run('SET', `w${i}`, 'x'.repeat(1000), 'EX', '100000');
    peak = Math.max(peak, h.keyspace.datasetBytes);
  }
  assert.ok(peak <= settings.maxmemory + 4096, `${peak} bytes against maxmemory ${settings.maxmemory}`);
  assert.equal(h.keyspace.leftoverKeys, 1, 'the cleanup has not run meanwhile');
});

test('a second review: leftovers past the engine scan bound are found after a restart, and a walk stays within its budget', () => {
  const h = new RedisHarness({ keyspace: { batchBytesMax: 4 * 1024 * 1024, lazyElementDeletes: true } });
  const big = (key: string, n: number) => {
    for (let i = 0; i < n; i += 500) {
      assert.equal(show(h.run('SADD', key, ...Array.from({ length: 500 }, (_, j) => `m-${i + j}`))), 500);
    }
  };
  // More tombstones before the live leftovers than one engine scan passes (lsmScanEntriesMax).
  big('S', 30_000);
  assert.equal(show(h.run('DEL', 'S')), 1);
  for (let i = 0; i < 12; i++) {
    h.keyspace.cleanupStep(h.clock.nowMs, 1000);
    h.keyspace.endCommand();
  }
  const left = storedElements(h, 'S');
  assert.ok(left > 10_000, `${left} left`);
  h.restart();
  walkOnce(h, 512);
  assert.equal(h.keyspace.leftoverKeys, 1, 'found past the tombstones');
  cleanUp(h, 2000);
  assert.equal(storedElements(h, 'S'), 0);
  // Many expired collections met by one walk: their deletes share the walk's budget.
  for (let k = 0; k < 20; k++) big(`E${k}`, 1000);
  for (let k = 0; k < 20; k++) assert.equal(show(h.run('PEXPIRE', `E${k}`, '10')), 1);
  h.clock.nowMs += 20;
  const read = scanned(h, () => {
    h.keyspace.reclaimExpired(0n, h.clock.nowMs, 64);
    h.keyspace.endCommand();
  });
  // The walk's 64 entries and the first expired collection's share of them, a page of slack.
  assert.ok(read <= 4 * 64, `${read} entries read by a walk of 64`);
  cleanUp(h, 4000);
  walkOnce(h, 10_000);
  cleanUp(h, 4000);
  for (let k = 0; k < 20; k++) assert.equal(storedElements(h, `E${k}`), 0);
});

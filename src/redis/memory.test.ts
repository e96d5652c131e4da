// Goal: the data set's byte count (memory.ts) is what is stored. Deltas keep it exact between
// recount passes; a recount pass walked in slices of any size, interleaved with writes, lands on
// the brute-force sum; a restart (unknown totals) becomes exact after one pass; a count torn from
// the data (the drift compaction could cause) is corrected by the next pass, and the comparison is
// shown to notice it before. Redis' memory notation (memtoll) is parsed as Redis does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { limits } from '../lib/limits.ts';
import { decodeStorageKey, headKey } from '../storage/lsm/keys.ts';
import { tokenOf } from '../dynamo/partitioner.ts';
import { BUCKET_COUNT, bucketEnd, bucketOf, bucketStart, entryBytes, parseMemoryValue } from './memory.ts';
import { RedisHarness } from './testing.ts';

/** Every stored entry's bytes, by a full scan. */
function bruteForce(h: RedisHarness): number {
  let sum = 0;
  let start: Uint8Array | null = new Uint8Array(0);
  while (start !== null) {
    const page = h.engine.scan({ start, end: null, includeDead: true });
    for (const e of page.entries) sum += entryBytes(e);
    start = page.next;
  }
  return sum;
}

/** Recount slices until a pass completes. */
function fullPass(h: RedisHarness, slice = 4096): void {
  const before = h.keyspace.account.passes;
  let guard = 0;
  while (h.keyspace.account.passes === before) {
    h.keyspace.recountStep(slice);
    assert.ok(++guard < 1_000_000, 'the recount ends');
  }
}

test('buckets cut the token space in order and cover it', () => {
  assert.equal(bucketOf(bucketStart(0)), 0);
  assert.equal(bucketOf(bucketStart(BUCKET_COUNT - 1)), BUCKET_COUNT - 1);
  assert.equal(bucketEnd(BUCKET_COUNT - 1), null);
  for (const b of [0, 1, 77, BUCKET_COUNT - 2]) {
    assert.deepEqual(bucketEnd(b), bucketStart(b + 1));
    const k = headKey(tokenOf(new TextEncoder().encode(`key${b}`)), new TextEncoder().encode(`key${b}`));
    const kb = bucketOf(k);
    assert.ok(Buffer.compare(bucketStart(kb), k) <= 0);
    const end = bucketEnd(kb);
    assert.ok(end === null || Buffer.compare(k, end) < 0);
  }
});

test('parseMemoryValue: memtoll units, case-insensitive; no sign, no fraction', () => {
  assert.equal(parseMemoryValue('0'), 0);
  assert.equal(parseMemoryValue('100'), 100);
  assert.equal(parseMemoryValue('1k'), 1000);
  assert.equal(parseMemoryValue('1kb'), 1024);
  assert.equal(parseMemoryValue('100mb'), 100 * 1024 * 1024);
  assert.equal(parseMemoryValue('100MB'), 100 * 1024 * 1024);
  assert.equal(parseMemoryValue('5GB'), 5 * 1024 ** 3);
  assert.equal(parseMemoryValue('2g'), 2e9);
  assert.equal(parseMemoryValue('7b'), 7);
  for (const bad of ['', '-1', '1.5mb', 'abc', '1tb', ' 1', '99999999999999999999']) {
    assert.equal(parseMemoryValue(bad), undefined, bad);
  }
});

type Op =
  | { op: 'set'; k: number; len: number }
  | { op: 'del'; k: number }
  | { op: 'hset'; k: number; f: number; len: number }
  | { op: 'rpush'; k: number; n: number }
  | { op: 'expire'; k: number; ms: number }
  | { op: 'tick'; ms: number }
  | { op: 'reclaim' }
  | { op: 'recount'; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), k: fc.nat(30), len: fc.nat(200) }),
  fc.record({ op: fc.constant('del' as const), k: fc.nat(30) }),
  fc.record({ op: fc.constant('hset' as const), k: fc.nat(30), f: fc.nat(10), len: fc.nat(50) }),
  fc.record({ op: fc.constant('rpush' as const), k: fc.nat(30), n: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ op: fc.constant('expire' as const), k: fc.nat(30), ms: fc.integer({ min: 1, max: 500 }) }),
  fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 300 }) }),
  fc.constant({ op: 'reclaim' as const }),
  fc.record({ op: fc.constant('recount' as const), n: fc.integer({ min: 1, max: 3000 }) }),
);

function apply(h: RedisHarness, o: Op): void {
  switch (o.op) {
    case 'set':
      h.run('SET', `k${o.k}`, 'v'.repeat(o.len));
      break;
    case 'del':
      h.run('DEL', `k${o.k}`);
      break;
    case 'hset':
      h.run('HSET', `k${o.k}`, `f${o.f}`, 'x'.repeat(o.len));
      break;
    case 'rpush':
      h.run('RPUSH', `k${o.k}`, ...Array.from({ length: o.n }, (_, i) => `i${i}`));
      break;
    case 'expire':
      h.run('PEXPIRE', `k${o.k}`, String(o.ms));
      break;
    case 'tick':
      h.clock.nowMs += o.ms;
      break;
    case 'reclaim':
      h.keyspace.reclaimExpired(0n, h.clock.nowMs, 10_000);
      h.keyspace.endCommand();
      break;
    case 'recount':
      h.keyspace.recountStep(o.n);
      break;
  }
}

test('property: after a first pass the count equals the stored bytes after every write, recount slices interleaved', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => {
      const h = new RedisHarness({ seed: 'memory-property' });
      fullPass(h, 997);
      assert.ok(h.keyspace.account.complete);
      for (const o of ops) {
        apply(h, o);
        assert.equal(h.keyspace.datasetBytes, bruteForce(h), JSON.stringify(o));
      }
    }),
    { numRuns: 60 },
  );
});

test('a restart starts unknown (estimate 0), and one pass in slices, with writes between, makes it exact', () => {
  const h = new RedisHarness({ seed: 'memory-restart' });
  for (let i = 0; i < 400; i++) h.run('SET', `key:${i}`, 'x'.repeat(i % 50));
  for (let i = 0; i < 20; i++) h.run('RPUSH', 'list', `item${i}`);
  h.restart();
  assert.equal(h.keyspace.account.complete, false);
  assert.equal(h.keyspace.datasetBytes, 0, 'nothing known yet');
  let i = 0;
  const before = h.keyspace.account.passes;
  while (h.keyspace.account.passes === before) {
    h.keyspace.recountStep(50);
    h.run('SET', `key:${i % 500}`, 'y'.repeat(i % 70)); // some behind the walk, some ahead
    if (i % 7 === 0) h.run('DEL', `key:${(i * 13) % 500}`);
    i++;
  }
  assert.ok(h.keyspace.account.complete);
  assert.equal(h.keyspace.datasetBytes, bruteForce(h));
});

test('a count torn from the data is corrected by the next pass (negative control: the comparison notices it first)', () => {
  const h = new RedisHarness({ seed: 'memory-drift' });
  for (let i = 0; i < 200; i++) h.run('SET', `key:${i}`, 'x'.repeat(20));
  fullPass(h);
  assert.equal(h.keyspace.datasetBytes, bruteForce(h));
  // What a compaction turning an expired value into a tombstone does to a write-fed count: bytes
  // counted that are no longer stored.
  const storageKey = headKey(tokenOf(new TextEncoder().encode('key:5')), new TextEncoder().encode('key:5'));
  h.keyspace.account.add(storageKey, 12_345);
  assert.notEqual(h.keyspace.datasetBytes, bruteForce(h), 'the check sees the drift');
  fullPass(h, 333);
  assert.equal(h.keyspace.datasetBytes, bruteForce(h));
  // The same drift in a bucket that stores nothing: the pass skips it among the empty buckets
  // (one sweep of the arrays), and what it was known to hold must leave the sums.
  const used = new Set<number>();
  for (let start: Uint8Array | null = new Uint8Array(0); start !== null; ) {
    const page = h.engine.scan({ start, end: null, includeDead: true });
    for (const e of page.entries) used.add(bucketOf(e.key));
    start = page.next;
  }
  const empty = [...Array(BUCKET_COUNT).keys()].find((b) => b > 0 && !used.has(b) && !used.has(b - 1))!;
  h.keyspace.account.add(bucketStart(empty), 777);
  assert.equal(h.keyspace.datasetBytes, bruteForce(h) + 777, 'the drift counts until the pass');
  fullPass(h, 333);
  assert.equal(h.keyspace.datasetBytes, bruteForce(h), 'the skipped bucket is counted empty');
});

/** Live heads and those with a deadline at `nowMs`, and every stored head, by a full scan. */
function keysByScan(h: RedisHarness, nowMs: number): { live: number; stored: number; expiring: number } {
  let live = 0;
  let stored = 0;
  let expiring = 0;
  let start: Uint8Array | null = new Uint8Array(0);
  while (start !== null) {
    const page = h.engine.scan({ start, end: null });
    for (const e of page.entries) {
      const d = decodeStorageKey(e.key);
      if (typeof d === 'string' || d.sub.length > 0) continue;
      stored++;
      if (e.timeMs > 0) expiring++;
      if (e.timeMs === 0 || e.timeMs > nowMs) live++;
    }
    start = page.next;
  }
  return { live, stored, expiring };
}

test('DBSIZE and INFO expires past redisCountWalkKeysMax keys: the account counts heads and deadlines, kept by writes and corrected by a pass', () => {
  const h = new RedisHarness({ seed: 'memory-keys' });
  const n = limits.redisCountWalkKeysMax + 500;
  for (let i = 0; i < n; i++) {
    if (i % 10 === 0) h.run('SET', `key:${i}`, 'v', 'EX', '1000');
    else if (i % 10 === 1) h.run('RPUSH', `list:${i}`, 'a', 'b');
    else h.run('SET', `key:${i}`, 'v');
  }
  const now = () => h.clock.nowMs;
  assert.equal(h.keyspace.account.keys, undefined, 'not counted before a pass: DBSIZE walks');
  assert.equal(h.keyspace.size(now()), keysByScan(h, now()).live);
  fullPass(h);
  const scan = keysByScan(h, now());
  assert.equal(h.keyspace.size(now()), scan.stored);
  assert.equal(h.keyspace.infoCounts(now()).expires, scan.expiring);
  assert.equal(scan.expiring, n / 10);
  // Writes keep it without a pass: deletes, overwrites, a deadline set and removed, a list emptied.
  h.run('DEL', 'key:2', 'key:3', 'list:1');
  h.run('SET', 'key:0', 'again');
  h.run('EXPIRE', 'key:4', '50');
  h.run('PERSIST', 'key:10');
  h.run('LPOP', 'list:11', '2');
  h.run('SET', 'fresh', 'v', 'PX', '99999');
  h.run('MSET', 'm1', 'a', 'm2', 'b');
  const after = keysByScan(h, now());
  assert.equal(h.keyspace.size(now()), after.stored);
  assert.equal(h.keyspace.infoCounts(now()).expires, after.expiring);
  // Drift (what a compaction dropping an expired head does to write deltas) until the next pass.
  const k = new TextEncoder().encode('key:5');
  h.keyspace.account.add(headKey(tokenOf(k), k), 0, 7);
  assert.notEqual(h.keyspace.size(now()), keysByScan(h, now()).stored, 'the check sees the drift');
  fullPass(h, 777);
  assert.equal(h.keyspace.size(now()), keysByScan(h, now()).stored);
});

test('a pass over an empty or sparse keyspace takes a few seeks, not one per bucket, and counts exactly', () => {
  const steps = (h: RedisHarness): number => {
    const before = h.keyspace.account.passes;
    let n = 0;
    while (h.keyspace.account.passes === before) {
      h.keyspace.recountStep(4);
      assert.ok(++n < 100_000, 'the recount ends');
    }
    return n;
  };
  const empty = new RedisHarness({ seed: 'memory-empty' });
  // Each step of 4 seeks: the empty first bucket, a probe that finds no key (every bucket empty).
  assert.equal(steps(empty), 1);
  assert.ok(empty.keyspace.account.complete);
  assert.equal(empty.keyspace.datasetBytes, 0);
  const sparse = new RedisHarness({ seed: 'memory-sparse' });
  for (let i = 0; i < 3; i++) sparse.run('SET', `key:${i}`, 'x'.repeat(10 * (i + 1)));
  sparse.run('RPUSH', 'list', 'a', 'b', 'c');
  // Four keys: at most a bucket and a probe per key, and one for the tail.
  assert.ok(steps(sparse) <= 6, 'a handful of steps');
  assert.equal(sparse.keyspace.datasetBytes, bruteForce(sparse));
  assert.equal(sparse.keyspace.account.keys?.heads, 4);
});

// Goal: the collection families' costs and the behaviour the live comparison cannot show: one
// element's change stages O(1) entries whatever the collection's size (the layout's point:
// redis-benchmark pushes 200,000 items onto one list); LINSERT / LREM shift the shorter side only;
// SCAN cursors page through collections larger than the whole-reply size exactly once; a key's
// TTL survives element writes; the random commands' count semantics; our bound on negative counts;
// the score index's order at -inf, -0 and +inf; empty fields and members (sub-key tagging).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RespValue } from '../wire/resp/index.ts';
import { scanWholeCountMax } from './coll-scan.ts';
import { lookupCommand } from './table.ts';
import { RedisHarness } from './testing.ts';

const utf8 = new TextEncoder();
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Runs one command without applying it; the number of entries it staged (then applies it). */
function stagedBy(h: RedisHarness, ...args: string[]): number {
  const spec = lookupCommand(args[0]!);
  assert.ok(spec !== undefined, args[0]);
  const ctx = h.ctx;
  spec.run(
    ctx,
    args.map((a) => utf8.encode(a)),
  );
  const n = ctx.keyspace.stagedWrites;
  ctx.keyspace.endCommand();
  return n;
}

function items(v: RespValue): string[] {
  assert.ok(v.type === 'array' || v.type === 'set', v.type);
  return v.items.map((x) => (x.type === 'bulk' ? text(x.value) : x.type === 'double' ? String(x.value) : `?${x.type}`));
}

function int(v: RespValue): number {
  assert.equal(v.type, 'integer', v.type === 'error' ? String(v.message) : v.type);
  return v.type === 'integer' ? Number(v.value) : NaN;
}

test('one element written per push, field, member: O(1) staged entries at any size', () => {
  const h = new RedisHarness();
  const big = 3000;
  for (let i = 0; i < big; i += 500) {
    h.run('RPUSH', 'l', ...Array.from({ length: 500 }, (_, j) => `i${i + j}`));
    h.run('HSET', 'h', ...Array.from({ length: 500 }, (_, j) => [`f${i + j}`, 'v']).flat());
    h.run('SADD', 's', ...Array.from({ length: 500 }, (_, j) => `m${i + j}`));
    h.run('ZADD', 'z', ...Array.from({ length: 500 }, (_, j) => [String(i + j), `m${i + j}`]).flat());
  }
  assert.equal(stagedBy(h, 'LPUSH', 'l', 'x'), 2, 'LPUSH: the item and the head');
  assert.equal(stagedBy(h, 'RPOP', 'l'), 2, 'RPOP: a tombstone and the head');
  assert.equal(stagedBy(h, 'LSET', 'l', '1500', 'y'), 1, 'LSET: the item');
  assert.equal(stagedBy(h, 'HSET', 'h', 'new', 'v'), 2, 'HSET of a new field: field and count');
  assert.equal(stagedBy(h, 'HSET', 'h', 'new', 'w'), 1, 'HSET of an existing field: the field');
  assert.equal(stagedBy(h, 'SADD', 's', 'new'), 2);
  assert.equal(stagedBy(h, 'SREM', 's', 'new'), 2);
  assert.equal(stagedBy(h, 'ZADD', 'z', '5', 'new'), 3, 'ZADD new: member, index entry, count');
  assert.equal(stagedBy(h, 'ZADD', 'z', '6', 'new'), 3, 'ZADD update: member, old index tombstone, new index');
  assert.equal(stagedBy(h, 'ZREM', 'z', 'new'), 3);
  assert.equal(int(h.run('LLEN', 'l')), big);
  assert.equal(int(h.run('ZCARD', 'z')), big);
});

test('LINSERT and LREM shift the shorter side of the list only', () => {
  const h = new RedisHarness();
  const n = 1000;
  h.run('RPUSH', 'l', ...Array.from({ length: n }, (_, i) => `i${i}`));
  // Near the head: the 3 items before the pivot move left, plus the new item and the head.
  assert.equal(stagedBy(h, 'LINSERT', 'l', 'BEFORE', 'i3', 'new'), 3 + 1 + 1);
  // Near the tail: the 2 items after the pivot move right, plus the new item and the head.
  assert.equal(stagedBy(h, 'LINSERT', 'l', 'AFTER', `i${n - 3}`, 'new2'), 2 + 1 + 1);
  const all = items(h.run('LRANGE', 'l', '0', '-1'));
  assert.deepEqual(all.slice(0, 5), ['i0', 'i1', 'i2', 'new', 'i3']);
  assert.deepEqual(all.slice(-4), [`i${n - 3}`, 'new2', `i${n - 2}`, `i${n - 1}`]);
  // LREM of one item near the tail: the 2 after it move left, its slot's tombstone, the head.
  assert.equal(stagedBy(h, 'LREM', 'l', '1', 'new2'), 2 + 1 + 1);
  // LREM near the head: the 3 before it move right, a tombstone for the freed first slot, the head.
  assert.equal(stagedBy(h, 'LREM', 'l', '1', 'new'), 3 + 1 + 1);
  assert.deepEqual(
    items(h.run('LRANGE', 'l', '0', '-1')),
    Array.from({ length: n }, (_, i) => `i${i}`),
  );
});

test('HSCAN / SSCAN / ZSCAN page a large collection exactly once; small ones come whole', () => {
  const h = new RedisHarness();
  const n = scanWholeCountMax * 3 + 7;
  h.run('HSET', 'h', ...Array.from({ length: n }, (_, i) => [`f${i}`, `v${i}`]).flat());
  h.run('SADD', 's', ...Array.from({ length: n }, (_, i) => `m${i}`));
  h.run('ZADD', 'z', ...Array.from({ length: n }, (_, i) => [String(i % 10), `m${i}`]).flat());
  for (const [cmd, key, step] of [
    ['HSCAN', 'h', 2],
    ['SSCAN', 's', 1],
    ['ZSCAN', 'z', 2],
  ] as const) {
    const seen: string[] = [];
    let cursor = '0';
    let pages = 0;
    do {
      const r = h.run(cmd, key, cursor, 'COUNT', '50');
      assert.ok(r.type === 'array' && r.items[0]!.type === 'bulk');
      cursor = text(r.items[0].value);
      const page = items(r.items[1]!);
      for (let i = 0; i < page.length; i += step) seen.push(page[i]!);
      pages++;
      assert.ok(pages < 100, 'terminates');
    } while (cursor !== '0');
    assert.equal(pages, Math.ceil(n / 50), cmd);
    assert.equal(seen.length, n, `${cmd}: every element once`);
    assert.equal(new Set(seen).size, n, `${cmd}: no repeats`);
  }
  h.run('HSET', 'small', 'a', '1', 'b', '2');
  const small = h.run('HSCAN', 'small', '0', 'COUNT', '1');
  assert.ok(small.type === 'array');
  assert.deepEqual(items(small.items[1]!), ['a', '1', 'b', '2']);
});

test("a collection's TTL survives element writes; the emptied key is gone, TTL and all", () => {
  const h = new RedisHarness();
  h.run('HSET', 'h', 'a', '1');
  h.run('PEXPIRE', 'h', '10000');
  h.run('HSET', 'h', 'b', '2');
  h.run('HDEL', 'h', 'a');
  assert.ok(int(h.run('PTTL', 'h')) > 0, 'TTL kept');
  h.run('HDEL', 'h', 'b');
  assert.equal(int(h.run('PTTL', 'h')), -2);
  h.run('HSET', 'h', 'c', '3');
  assert.equal(int(h.run('PTTL', 'h')), -1, 'a re-created key has no TTL');
  h.run('RPUSH', 'l', 'a', 'b');
  h.run('PEXPIRE', 'l', '50');
  h.clock.nowMs += 51;
  assert.equal(int(h.run('LLEN', 'l')), 0, 'expired list reads as empty');
  assert.equal(int(h.run('RPUSH', 'l', 'c')), 1, 'and a push starts a new one, without the old items');
  assert.deepEqual(items(h.run('LRANGE', 'l', '0', '-1')), ['c']);
});

test('random counts: positive distinct within the size, negative with repeats, our bound past redisRandomCountMax', () => {
  const h = new RedisHarness({ seed: 'coll-random' });
  h.run('SADD', 's', 'a', 'b', 'c');
  h.run('HSET', 'h', 'a', '1', 'b', '2', 'c', '3');
  for (const cmd of ['SRANDMEMBER', 'HRANDFIELD']) {
    const key = cmd === 'SRANDMEMBER' ? 's' : 'h';
    const two = items(h.run(cmd, key, '2'));
    assert.equal(new Set(two).size, 2);
    assert.deepEqual(items(h.run(cmd, key, '10')).sort(), ['a', 'b', 'c']);
    const many = items(h.run(cmd, key, '-50'));
    assert.equal(many.length, 50);
    assert.ok(new Set(many).size <= 3 && many.every((m) => ['a', 'b', 'c'].includes(m)));
    assert.equal(new Set(many).size, 3, 'fifty draws of three hit all three');
    const over = h.run(cmd, key, String(-(1024 * 1024 + 1)));
    assert.equal(over.type, 'error');
  }
});

test('scores at -inf, -0, 0, tiny, +inf keep numeric order; empty members and fields are elements', () => {
  const h = new RedisHarness();
  h.run('ZADD', 'z', '+inf', 'top', '-0', 'nz', '0', 'z0', '5e-324', 'tiny', '-inf', 'bottom', '-1e308', 'low');
  assert.deepEqual(items(h.run('ZRANGE', 'z', '0', '-1')), ['bottom', 'low', 'nz', 'z0', 'tiny', 'top']);
  assert.deepEqual(items(h.run('ZRANGEBYSCORE', 'z', '0', '0')), ['nz', 'z0'], '-0 and 0 are one score');
  assert.equal(int(h.run('ZCOUNT', 'z', '(-inf', '(+inf')), 4);
  assert.equal(int(h.run('ZRANK', 'z', 'top')), 5);
  assert.equal(int(h.run('ZREVRANK', 'z', 'bottom')), 5);
  h.run('ZADD', 'e', '1', '');
  h.run('HSET', 'eh', '', 'empty');
  h.run('SADD', 'es', '');
  assert.deepEqual(items(h.run('ZRANGE', 'e', '0', '-1')), ['']);
  assert.equal(text((h.run('HGET', 'eh', '') as { value: Uint8Array }).value), 'empty');
  assert.equal(int(h.run('SISMEMBER', 'es', '')), 1);
  assert.equal(int(h.run('SREM', 'es', '')), 1);
  assert.equal(int(h.run('EXISTS', 'es')), 0);
});

test('20,000 LPUSHes onto one list (redis-benchmark pushes 200,000), then LRANGE 0 99 and LINDEX (timing printed)', (t) => {
  const h = new RedisHarness({ lsm: { memtableBytesMax: 8 * 1024 * 1024, sync: 'none' } });
  const n = 20_000;
  const started = performance.now();
  for (let i = 0; i < n; i++) h.run('LPUSH', 'mylist', 'xxx');
  const pushMs = performance.now() - started;
  const r0 = performance.now();
  for (let i = 0; i < 100; i++) assert.equal(items(h.run('LRANGE', 'mylist', '0', '99')).length, 100);
  const rangeMs = (performance.now() - r0) / 100;
  assert.equal(int(h.run('LLEN', 'mylist')), n);
  assert.equal(text((h.run('LINDEX', 'mylist', String(n / 2)) as { value: Uint8Array }).value), 'xxx');
  t.diagnostic(
    `LPUSH x${n}: ${pushMs.toFixed(0)} ms (${((n / pushMs) * 1000).toFixed(0)}/s); LRANGE 0 99: ${rangeMs.toFixed(2)} ms`,
  );
});

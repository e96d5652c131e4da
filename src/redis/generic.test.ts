// Goal: each generic key command's replies and error cases (Redis 7.0 db.c / expire.c behaviour;
// the same commands run against a real redis-server in live.test.ts), with virtual time for the
// expiry rules (NX/XX/GT/LT, a deadline in the past deletes, TTL rounding), collections moved and
// deleted element by element, SCAN's cursor grammar (C strtoul) and its guarantee under writes
// between pages, KEYS' bound, RANDOMKEY, DBSIZE and FLUSHALL across a restart.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseScanCursor } from './generic.ts';
import { RedisHarness, show } from './testing.ts';

type Line = readonly [args: readonly string[], expected: unknown];
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function transcript(h: RedisHarness, lines: readonly Line[]): void {
  for (const [args, expected] of lines) assert.deepEqual(show(h.run(...args)), expected, args.join(' '));
}

/** A set-like collection written through the element API (head count + one element per member). */
function makeSet(h: RedisHarness, key: string, members: readonly string[]): void {
  h.keyspace.putHead(enc(key), { type: 'set', value: enc(String(members.length)), expiresAtMs: 0 }, h.clock.nowMs);
  for (const m of members) h.keyspace.putElement(enc(key), enc(m), new Uint8Array(0));
  h.keyspace.endCommand();
}

function members(h: RedisHarness, key: string): string[] {
  return h.keyspace.scanElements(enc(key), { limit: 1000 }).elements.map((e) => new TextDecoder().decode(e.sub));
}

test('DEL, UNLINK, EXISTS (repeats count), TOUCH, TYPE', () => {
  const h = new RedisHarness();
  makeSet(h, 'S', ['a', 'b']);
  transcript(h, [
    [['MSET', 'a', '1', 'b', '2'], '+OK'],
    [['EXISTS', 'a', 'a', 'nokey', 'S'], 3],
    [['TOUCH', 'a', 'nokey'], 1],
    [['TYPE', 'a'], '+string'],
    [['TYPE', 'S'], '+set'],
    [['TYPE', 'nokey'], '+none'],
    [['DEL', 'a', 'a', 'nokey'], 1],
    [['UNLINK', 'b', 'S'], 2],
    [['DEL'], "-ERR wrong number of arguments for 'del' command"],
  ]);
  assert.deepEqual(members(h, 'S'), [], 'DEL of a collection deletes its elements');
});

test('RENAME / RENAMENX: value, TTL and elements move; errors and same-key rules', () => {
  const h = new RedisHarness();
  makeSet(h, 'S', ['x', 'y', 'z']);
  transcript(h, [
    [['SET', 'a', 'v', 'PX', '5000'], '+OK'],
    [['RENAME', 'a', 'b'], '+OK'],
    [['GET', 'b'], 'v'],
    [['PTTL', 'b'], 5000],
    [['EXISTS', 'a'], 0],
    [['RENAME', 'a', 'c'], '-ERR no such key'],
    [['RENAME', 'a', 'a'], '-ERR no such key'],
    [['RENAME', 'b', 'b'], '+OK'],
    [['RENAMENX', 'b', 'b'], 0],
    [['SET', 'c', 'w'], '+OK'],
    [['RENAMENX', 'b', 'c'], 0],
    [['RENAMENX', 'b', 'd'], 1],
    [['RENAMENX', 'nokey', 'e'], '-ERR no such key'],
    [['RENAME', 'S', 'd'], '+OK'],
    [['TYPE', 'd'], '+set'],
    [['EXISTS', 'S'], 0],
  ]);
  assert.deepEqual(members(h, 'd'), ['x', 'y', 'z']);
  assert.deepEqual(members(h, 'S'), []);
  makeSet(h, 'T', ['q']);
  transcript(h, [[['RENAME', 'c', 'T'], '+OK']]);
  assert.deepEqual(members(h, 'T'), [], 'a string renamed over a collection leaves none of its elements');
  transcript(h, [[['GET', 'T'], 'w']]);
});

test('EXPIRE family: NX/XX/GT/LT, conflicts, overflow, a past deadline deletes, TTL rounding', () => {
  const h = new RedisHarness();
  const now = h.clock.nowMs;
  transcript(h, [
    [['SET', 'k', 'v'], '+OK'],
    [['EXPIRE', 'k', '100', 'XX'], 0],
    [['EXPIRE', 'k', '100', 'GT'], 0],
    [['EXPIRE', 'k', '100', 'LT'], 1],
    [['EXPIRE', 'k', '50', 'NX'], 0],
    [['EXPIRE', 'k', '50', 'GT'], 0],
    [['EXPIRE', 'k', '150', 'GT'], 1],
    [['EXPIRE', 'k', '200', 'LT'], 0],
    [['PEXPIRE', 'k', '1499'], 1],
    [['TTL', 'k'], 1],
    [['PEXPIRE', 'k', '1500'], 1],
    [['TTL', 'k'], 2],
    [['EXPIREAT', 'k', String(Math.floor(now / 1000) + 100)], 1],
    [['EXPIRETIME', 'k'], Math.floor(now / 1000) + 100],
    [['PEXPIREAT', 'k', String(now + 7777)], 1],
    [['PEXPIRETIME', 'k'], now + 7777],
    [['EXPIRE', 'k', '1', 'NX', 'XX'], '-ERR NX and XX, GT or LT options at the same time are not compatible'],
    [['EXPIRE', 'k', '1', 'GT', 'LT'], '-ERR GT and LT options at the same time are not compatible'],
    [['EXPIRE', 'k', '1', 'FOO'], '-ERR Unsupported option FOO'],
    [['EXPIRE', 'k', 'x'], '-ERR value is not an integer or out of range'],
    [['EXPIRE', 'k', '9223372036854775807'], "-ERR invalid expire time in 'expire' command"],
    [['PEXPIRE', 'k', '9223372036854775807'], "-ERR invalid expire time in 'pexpire' command"],
    [['PEXPIREAT', 'k', '9007199254740992'], "-ERR invalid expire time in 'pexpireat' command"],
    [['EXPIRE', 'nokey', '10'], 0],
    [['PERSIST', 'k'], 1],
    [['PERSIST', 'k'], 0],
    [['TTL', 'k'], -1],
    [['TTL', 'nokey'], -2],
    [['EXPIRETIME', 'k'], -1],
    [['EXPIRE', 'k', '-1'], 1],
    [['EXISTS', 'k'], 0],
    [['SET', 'k', 'v'], '+OK'],
    [['EXPIREAT', 'k', '0'], 1],
    [['EXISTS', 'k'], 0],
  ]);
  makeSet(h, 'S', ['a']);
  transcript(h, [[['PEXPIRE', 'S', '10'], 1]]);
  h.clock.nowMs += 10;
  transcript(h, [
    [['EXISTS', 'S'], 0],
    [['TYPE', 'S'], '+none'],
  ]);
});

test('SCAN cursor grammar is C strtoul: sign, wrap, empty, NUL, ERANGE', () => {
  const c = (s: string | Uint8Array) => parseScanCursor(typeof s === 'string' ? enc(s) : s);
  assert.equal(c('0'), 0n);
  assert.equal(c(''), 0n);
  assert.equal(c('+5'), 5n);
  assert.equal(c('-1'), (1n << 64n) - 1n);
  assert.equal(c('007'), 7n);
  assert.equal(c('18446744073709551615'), (1n << 64n) - 1n);
  assert.equal(c('18446744073709551616'), undefined);
  assert.equal(c(' 1'), undefined);
  assert.equal(c('1 '), undefined);
  assert.equal(c('-'), undefined);
  assert.equal(c('0x1'), undefined);
  assert.equal(c(Uint8Array.of(0x35, 0, 0x61)), 5n);
});

test('SCAN: every key present for the whole scan is returned, with writes between pages', () => {
  const h = new RedisHarness();
  for (let i = 0; i < 200; i++) h.run('SET', `stay:${i}`, 'v');
  for (let i = 0; i < 50; i++) makeSet(h, `set:${i}`, ['a', 'b', 'c']);
  const seen = new Set<string>();
  let cursor = '0';
  let pages = 0;
  do {
    const r = h.run('SCAN', cursor, 'COUNT', '7');
    assert.ok(r.type === 'array');
    const [c, keys] = r.items;
    assert.ok(c?.type === 'bulk' && keys?.type === 'array');
    cursor = new TextDecoder().decode(c.value);
    for (const k of keys.items) if (k.type === 'bulk') seen.add(new TextDecoder().decode(k.value));
    // Between pages: new keys, deletions of keys that come and go, overwrites of survivors.
    h.run('SET', `churn:${pages}`, 'v');
    h.run('DEL', `churn:${pages - 3}`);
    h.run('SET', `stay:${pages % 200}`, 'w');
    pages++;
  } while (cursor !== '0' && pages < 1000);
  assert.equal(cursor, '0', 'the scan ends');
  for (let i = 0; i < 200; i++) assert.ok(seen.has(`stay:${i}`), `stay:${i}`);
  for (let i = 0; i < 50; i++) assert.ok(seen.has(`set:${i}`), `set:${i}`);
  assert.ok(pages > 20, `paged (${pages} pages)`);
});

test('KEYS and its count bound, RANDOMKEY, DBSIZE and FLUSHALL across a restart', () => {
  const h = new RedisHarness();
  transcript(h, [
    [['RANDOMKEY'], null],
    [['DBSIZE'], 0],
  ]);
  for (let i = 0; i < 30; i++) h.run('SET', `k${i}`, 'v');
  makeSet(h, 'S', ['a']);
  h.run('SET', 'gone', 'v', 'PX', '5');
  h.clock.nowMs += 5;
  transcript(h, [[['DBSIZE'], 31]]);
  assert.equal(h.keyspace.keys(h.clock.nowMs, () => true, 31)?.length, 31);
  assert.equal(
    h.keyspace.keys(h.clock.nowMs, () => true, 30),
    undefined,
    'past the bound: none, the caller answers an error',
  );
  const picks = new Set<string>();
  for (let i = 0; i < 200; i++) picks.add(String(show(h.run('RANDOMKEY'))));
  assert.ok(picks.size > 10 && !picks.has('gone') && !picks.has('null'), `RANDOMKEY spreads (${picks.size} keys)`);
  h.restart();
  transcript(h, [
    [['DBSIZE'], 31],
    [['FLUSHALL', 'SYNC'], '+OK'],
    [['DBSIZE'], 0],
    [['FLUSHALL', 'NOW'], '-ERR syntax error'],
  ]);
  h.restart();
  transcript(h, [
    [['DBSIZE'], 0],
    [['KEYS', '*'], []],
  ]);
  assert.deepEqual(members(h, 'S'), [], 'FLUSHALL removed the elements too');
});

test('a command whose writes pass redisCommandBatchBytesMax is refused whole', () => {
  const h = new RedisHarness({ keyspace: { batchBytesMax: 4096 } });
  makeSet(
    h,
    'S',
    Array.from({ length: 20 }, (_, i) => `member-${i}`),
  );
  for (let i = 0; i < 60; i++) h.run('SET', `k${i}`, 'v');
  assert.equal(show(h.run('DEL', 'k0', 'S')), 2, 'a DEL of 22 entries fits');
  makeSet(
    h,
    'S',
    Array.from({ length: 20 }, (_, i) => `member-${i}`),
  );
  const mset = ['MSET', ...Array.from({ length: 60 }, (_, i) => [`k${i}`, 'x'.repeat(100)]).flat()];
  assert.equal(
    show(h.run(...mset)),
    '-ERR command writes more than 4096 bytes in one batch (redisCommandBatchBytesMax)',
  );
  assert.equal(show(h.run('GET', 'k1')), 'v', 'nothing of the refused MSET applied');
  assert.equal(show(h.run('DBSIZE')), 60);
  assert.equal(h.keyspace.stagedWrites, 0);
});

test('FLUSHALL empties a keyspace far past redisCommandBatchBytesMax at once, and it stays empty', () => {
  // 61 keys of a 4 KiB batch's worth of tombstones: before, FLUSHALL was refused whole here (a
  // tombstone per entry in its one batch); on a node, a store past ~300,000 keys.
  const h = new RedisHarness({ keyspace: { batchBytesMax: 4096, lazyElementDeletes: true } });
  for (let c = 0; c < 20; c++) h.run('SADD', 'S', ...Array.from({ length: 20 }, (_, i) => `member-${c * 20 + i}`));
  assert.equal(show(h.run('SCARD', 'S')), 400);
  for (let i = 0; i < 60; i++) h.run('SET', `k${i}`, 'x'.repeat(100));
  h.engine.flush(); // some in a run, some in the memtable and the commit log
  for (let i = 60; i < 120; i++) h.run('SET', `k${i}`, 'y'.repeat(100));
  assert.equal(show(h.run('DEL', 'S')), 1, 'the set goes lazily: its elements are left to the cleanup');
  assert.equal(h.keyspace.leftoverKeys, 1);
  for (let i = 0; i < 200; i++) h.keyspace.recountStep(1_000_000);
  assert.ok(h.keyspace.datasetBytes > 4096 * 3);
  assert.equal(show(h.run('FLUSHALL')), '+OK');
  assert.equal(show(h.run('DBSIZE')), 0);
  assert.equal(h.keyspace.datasetBytes, 0, 'used_memory: nothing stored');
  assert.equal(h.keyspace.leftoverKeys, 0, 'no leftovers to clean');
  assert.deepEqual(h.engine.stats().runs, [], 'the runs are gone, not hidden');
  assert.equal(h.engine.stats().memtableEntries, 0);
  assert.equal(show(h.run('SET', 'after', '1')), '+OK');
  h.restart();
  assert.deepEqual(show(h.run('KEYS', '*')), ['after'], 'after a restart: only what was written since');
  assert.equal(h.keyspace.scanElements(enc('S'), { limit: 1000 }).elements.length, 0, 'no element stored');
  assert.equal(show(h.run('SCARD', 'S')), 0);
  assert.equal(show(h.run('SADD', 'S', 'member-1')), 1, 'a new set under the old name: no old element seen');
  assert.deepEqual(show(h.run('SMEMBERS', 'S')), ['member-1']);
});

test('a key too long for the engine is refused with an error, not a crash', () => {
  const h = new RedisHarness({ keyspace: { storageKeyBytesMax: 100 } });
  const long = 'x'.repeat(95);
  assert.equal(show(h.run('SET', long, 'v')), '-ERR key too large: 105 bytes stored (lsmKeyBytesMax)');
  assert.equal(show(h.run('GET', long)), null);
});

// Goal: the memtable keeps the newest entry per key, iterates in bytewise key order however writes
// and ordered reads interleave, and counts its bytes so the engine's bound holds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AssertionError } from '../../lib/assert.ts';
import { compareKeys, type Entry, EntryKind, keyString } from './entry.ts';
import { MEMTABLE_DEDICATED_BYTES, MEMTABLE_ENTRY_OVERHEAD_BYTES, Memtable } from './memtable.ts';

const entry = (key: Uint8Array, seq: number, valueBytes: number): Entry => ({
  key,
  seq,
  kind: EntryKind.put,
  timeMs: 0,
  meta: new Uint8Array(0),
  value: new Uint8Array(valueBytes),
});

/** An entry's fields as a plain object (the memtable's entries keep their bytes behind getters). */
const plain = (e: Entry): Entry => ({
  key: Uint8Array.from(e.key),
  seq: e.seq,
  kind: e.kind,
  timeMs: e.timeMs,
  meta: Uint8Array.from(e.meta),
  value: Uint8Array.from(e.value),
});

test('entries are copied in: the caller may reuse its buffers; large ones get their own buffer', () => {
  const m = new Memtable();
  const key = Uint8Array.of(1, 2, 3);
  const value = new Uint8Array(10).fill(7);
  m.put({ key, seq: 1, kind: EntryKind.put, timeMs: 5, meta: Uint8Array.of(9), value });
  key.fill(0);
  value.fill(0);
  const got = m.get(Uint8Array.of(1, 2, 3))!;
  assert.deepEqual([...got.key, ...got.meta, ...got.value], [1, 2, 3, 9, ...new Array(10).fill(7)]);
  assert.equal(got.timeMs, 5);
  const big = new Uint8Array(MEMTABLE_DEDICATED_BYTES).fill(3);
  m.put({ key: Uint8Array.of(4), seq: 2, kind: EntryKind.put, timeMs: 0, meta: new Uint8Array(0), value: big });
  const b = m.get(Uint8Array.of(4))!;
  assert.equal(b.value.byteLength, MEMTABLE_DEDICATED_BYTES);
  assert.ok(b.value.every((x) => x === 3));
  // Many small entries span several slabs and stay intact.
  for (let i = 0; i < 3 * 1024; i++)
    m.put({
      key: Uint8Array.of(9, i >> 8, i & 255),
      seq: 3 + i,
      kind: EntryKind.put,
      timeMs: 0,
      meta: new Uint8Array(0),
      value: new Uint8Array(200).fill(i & 255),
    });
  for (let i = 0; i < 3 * 1024; i += 97) {
    const v = m.get(Uint8Array.of(9, i >> 8, i & 255))!.value;
    assert.ok(v.byteLength === 200 && v.every((x) => x === (i & 255)), `entry ${i}`);
  }
});

test('newest per key, in key order (and reversed), across interleaved writes and ranges', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 4 }), fc.boolean()), { maxLength: 80 }), (ops) => {
      // A small fresh-key bound, so merges of the fresh keys into the sorted list happen here too.
      const m = new Memtable(4);
      const model = new Map<string, Entry>();
      ops.forEach(([key, readNow], i) => {
        const e = entry(key, i + 1, i % 7);
        m.put(e);
        model.set(keyString(key), e);
        if (readNow) [...m.all()];
      });
      const want = [...model.values()].sort((a, b) => compareKeys(a.key, b.key)).map(plain);
      assert.deepEqual([...m.all()].map(plain), want);
      for (const e of want) assert.deepEqual(plain(m.get(e.key)!), e);
      // Per distinct key: the overhead; per put: its encoded bytes (an overwritten entry's bytes
      // stay in their slab until clear()).
      const bytes =
        want.length * MEMTABLE_ENTRY_OVERHEAD_BYTES + ops.reduce((n, [key], i) => n + 25 + key.byteLength + (i % 7), 0);
      assert.equal(m.bytes, bytes);
      if (want.length > 1) {
        const from = want[1]!.key;
        assert.deepEqual([...m.range(from, null)].map(plain), want.slice(1));
        assert.deepEqual([...m.range(want[0]!.key, from)].map(plain), want.slice(0, 1));
        // Backwards: the same entries, last first.
        assert.deepEqual([...m.rangeReverse(from, null)].map(plain), want.slice(1).reverse());
        assert.deepEqual([...m.rangeReverse(want[0]!.key, from)].map(plain), want.slice(0, 1));
        assert.deepEqual([...m.rangeReverse(new Uint8Array(0), null)].map(plain), [...want].reverse());
      }
      m.clear();
      assert.equal(m.bytes, 0);
      assert.equal(m.size, 0);
    }),
  );
});

test('a range held open keeps its view while writes go on', () => {
  const m = new Memtable(2);
  for (const k of [1, 3, 5]) m.put(entry(Uint8Array.of(k), k, 1));
  const it = m.range(new Uint8Array(0), null);
  assert.deepEqual([...it.next().value!.key], [1]);
  for (const k of [2, 4, 6, 7]) m.put(entry(Uint8Array.of(k), k, 1)); // inserts and a merge
  assert.deepEqual(
    [...it].map((e) => e.key[0]),
    [3, 5],
  );
  assert.deepEqual(
    [...m.all()].map((e) => e.key[0]),
    [1, 2, 3, 4, 5, 6, 7],
  );
});

test('a write between every two ordered reads costs no merge of the whole list (eviction sampling under maxmemory)', () => {
  // Before, the keys new since the last ordered read were merged into the sorted list at the next
  // read: a read after every write copied all n keys each time (n^2 / 2 in total; 12 ms per SET at
  // 500,000 keys). Now a merge happens every MEMTABLE_FRESH_KEYS_MAX new keys.
  const n = 20_000;
  const m = new Memtable();
  for (let i = 0; i < n; i++) {
    const k = Uint8Array.of((i * 7919) % 256, i >> 8, i & 255);
    m.put(entry(k, i + 1, 1));
    const first = m.range(k, null).next();
    assert.ok(!first.done && compareKeys(first.value.key, k) === 0);
  }
  assert.ok(m.mergedKeys <= 4 * n, `merged ${m.mergedKeys} keys for ${n} writes`);
  assert.equal([...m.all()].length, n);
});

test('the hash index and columns grow past many doublings and keep every key (overwrites, prefixes, the empty key)', () => {
  const m = new Memtable();
  const model = new Map<string, Entry>();
  let x = 7;
  for (let i = 0; i < 60_000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const n = x % 5; // keys of 0..4 bytes from a small alphabet: many prefixes and overwrites
    const key = new Uint8Array(n);
    for (let b = 0; b < n; b++) key[b] = (x >>> (8 + 3 * b)) & 7;
    const e = entry(key, i + 1, i % 3);
    m.put(e);
    model.set(keyString(key), e);
  }
  assert.equal(m.size, model.size);
  for (const e of model.values()) assert.deepEqual(plain(m.get(e.key)!), plain(e));
  assert.equal(m.get(Uint8Array.of(9)), undefined);
  const want = [...model.values()].sort((a, b) => compareKeys(a.key, b.key)).map(plain);
  assert.deepEqual([...m.all()].map(plain), want);
});

test('a range held across clear() throws rather than read slots that new keys reuse', () => {
  const m = new Memtable();
  for (const k of [1, 2, 3]) m.put(entry(Uint8Array.of(k), k, 1));
  const it = m.range(new Uint8Array(0), null);
  assert.deepEqual([...it.next().value!.key], [1]);
  m.clear();
  for (const k of [9, 0, 5]) m.put(entry(Uint8Array.of(k), 10 + k, 1));
  assert.throws(
    () => it.next(),
    (e: unknown) => e instanceof AssertionError,
  );
  assert.deepEqual(
    [...m.all()].map((e) => e.key[0]),
    [0, 5, 9],
  );
});

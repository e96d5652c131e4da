// Goal: the memtable keeps the newest entry per key, iterates in bytewise key order however writes
// and ordered reads interleave, and counts its bytes so the engine's bound holds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compareKeys, type Entry, EntryKind, keyString } from './entry.ts';
import { MEMTABLE_ENTRY_OVERHEAD_BYTES, Memtable } from './memtable.ts';

const entry = (key: Uint8Array, seq: number, valueBytes: number): Entry => ({
  key,
  seq,
  kind: EntryKind.put,
  timeMs: 0,
  meta: new Uint8Array(0),
  value: new Uint8Array(valueBytes),
});

test('newest per key, in key order, across interleaved writes and ranges', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 4 }), fc.boolean()), { maxLength: 80 }), (ops) => {
      const m = new Memtable();
      const model = new Map<string, Entry>();
      ops.forEach(([key, readNow], i) => {
        const e = entry(key, i + 1, i % 7);
        m.put(e);
        model.set(keyString(key), e);
        if (readNow) [...m.all()];
      });
      const want = [...model.values()].sort((a, b) => compareKeys(a.key, b.key));
      assert.deepEqual([...m.all()], want);
      for (const e of want) assert.equal(m.get(e.key), e);
      const bytes = want.reduce(
        (n, e) => n + MEMTABLE_ENTRY_OVERHEAD_BYTES + 25 + e.key.byteLength + e.value.byteLength,
        0,
      );
      assert.equal(m.bytes, bytes);
      if (want.length > 1) {
        const from = want[1]!.key;
        assert.deepEqual([...m.range(from, null)], want.slice(1));
        assert.deepEqual([...m.range(want[0]!.key, from)], want.slice(0, 1));
      }
      m.clear();
      assert.equal(m.bytes, 0);
      assert.equal(m.size, 0);
    }),
  );
});

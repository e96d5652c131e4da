// Goal: the entry codec (entry.ts) round-trips every entry, and its decoder — fed bytes read back
// from disk — never throws: every truncation, every single-byte change of the header and random
// bytes come back as an entry or a reason string, with lengths checked against the bounds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeEntryAt,
  type Entry,
  EntryKind,
  encodeEntry,
  ENTRY_HEADER_BYTES,
  entryEndAt,
  entryExtentAt,
  entryKeyBytesAt,
  isDead,
} from './entry.ts';

const bounds = { keyBytesMax: 64, metaBytesMax: 16, valueBytesMax: 256 };

const entry: fc.Arbitrary<Entry> = fc
  .record({
    key: fc.uint8Array({ maxLength: 64 }),
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    tombstone: fc.boolean(),
    timeMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    meta: fc.uint8Array({ maxLength: 16 }),
    value: fc.uint8Array({ maxLength: 256 }),
  })
  .map((r) => ({
    key: r.key,
    seq: r.seq,
    kind: r.tombstone ? EntryKind.tombstone : EntryKind.put,
    timeMs: r.timeMs,
    meta: r.meta,
    value: r.tombstone ? new Uint8Array(0) : r.value,
  }));

test('entries round-trip through the codec', () => {
  fc.assert(
    fc.property(entry, (e) => {
      const bytes = encodeEntry(e);
      const d = decodeEntryAt(bytes, 0, bytes.byteLength, bounds);
      assert.ok(typeof d !== 'string', String(d));
      assert.deepEqual(d.entry, e);
      assert.equal(d.end, bytes.byteLength);
    }),
  );
});

test('every truncation of an entry is a reason, never an exception or a shorter entry', () => {
  fc.assert(
    fc.property(entry, (e) => {
      const bytes = encodeEntry(e);
      for (let n = 0; n < bytes.byteLength; n++) {
        assert.equal(typeof decodeEntryAt(bytes, 0, n, bounds), 'string', `cut at ${n}`);
      }
    }),
  );
});

test('any header byte changed or random bytes decode to an entry within the bounds or a reason', () => {
  fc.assert(
    fc.property(entry, fc.nat(ENTRY_HEADER_BYTES - 1), fc.integer({ min: 1, max: 255 }), (e, at, x) => {
      const bytes = encodeEntry(e);
      bytes[at]! ^= x;
      const d = decodeEntryAt(bytes, 0, bytes.byteLength, bounds);
      if (typeof d !== 'string') {
        assert.ok(d.entry.key.byteLength <= 64 && d.entry.value.byteLength <= 256 && d.end <= bytes.byteLength);
      }
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      const d = decodeEntryAt(bytes, 0, bytes.byteLength, bounds);
      assert.ok(typeof d === 'string' || d.end <= bytes.byteLength);
    }),
  );
});

test("entryEndAt (a point lookup's walk, no object made) accepts exactly what entryExtentAt accepts, and ends where it ends", () => {
  // The two check the same header rules; run.ts relies on -1 exactly when entryExtentAt says why.
  const agree = (bytes: Uint8Array, cut: number) => {
    const x = entryExtentAt(bytes, 0, cut, bounds);
    const end = entryEndAt(bytes, 0, cut, bounds);
    if (typeof x === 'string') assert.equal(end, -1, x);
    else {
      assert.equal(end, x.end);
      assert.equal(entryKeyBytesAt(bytes, 0), x.keyBytes);
    }
  };
  fc.assert(
    fc.property(entry, fc.nat(ENTRY_HEADER_BYTES - 1), fc.integer({ min: 0, max: 255 }), fc.nat(), (e, at, x, cut) => {
      const bytes = encodeEntry(e);
      bytes[at]! ^= x;
      agree(bytes, bytes.byteLength);
      agree(bytes, cut % (bytes.byteLength + 1));
    }),
    { numRuns: 2000 },
  );
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => agree(bytes, bytes.byteLength)));
  // And every value of every header byte of a put and a tombstone, at every cut.
  const base = { key: Uint8Array.of(1, 2), seq: 7, timeMs: 0, meta: Uint8Array.of(3) };
  for (const e of [
    { ...base, kind: EntryKind.put, value: Uint8Array.of(4, 5) },
    { ...base, kind: EntryKind.tombstone, value: new Uint8Array(0) },
  ]) {
    for (let at = 0; at < ENTRY_HEADER_BYTES; at++) {
      for (let x = 0; x < 256; x++) {
        // The entry then more bytes of its block (a length read too large may still fit).
        const bytes = new Uint8Array(encodeEntry(e).byteLength + 300).fill(9);
        bytes.set(encodeEntry(e));
        bytes[at] = x;
        for (let cut = 0; cut <= bytes.byteLength; cut += cut < 40 ? 1 : 37) agree(bytes, cut);
      }
    }
  }
});

test('over-bound lengths are refused by name', () => {
  const e: Entry = {
    key: new Uint8Array(65),
    seq: 1,
    kind: EntryKind.put,
    timeMs: 0,
    meta: new Uint8Array(0),
    value: new Uint8Array(0),
  };
  const bytes = encodeEntry(e);
  assert.match(String(decodeEntryAt(bytes, 0, bytes.byteLength, bounds)), /key of 65 bytes exceeds 64/);
});

test('dead: tombstones, and puts at or past their deadline', () => {
  const put: Entry = {
    key: new Uint8Array(0),
    seq: 1,
    kind: EntryKind.put,
    timeMs: 100,
    meta: new Uint8Array(0),
    value: new Uint8Array(0),
  };
  assert.equal(isDead(put, 99), false);
  assert.equal(isDead(put, 100), true);
  assert.equal(isDead({ ...put, timeMs: 0 }, 1e15), false);
  assert.equal(isDead({ ...put, kind: EntryKind.tombstone, timeMs: 5 }, 0), true);
});

// Goal: a sorted run (run.ts) returns exactly what was written: point reads of present and absent
// keys, and cursors over any [start, end) range, at block sizes from one entry per block to one
// block for all, with entries larger than a block; a truncated run or a foreign file is refused at
// open with a CorruptionError naming the file and offset.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CorruptionError } from '../../lib/errors.ts';
import { SeededRng } from '../../lib/rng.ts';
import { SimDiskStore } from '../../sim/disk.ts';
import { crc32c } from '@node-rs/crc32';
import { compareKeys, ENTRY_HEADER_BYTES, type Entry, EntryKind, getU64, keyString, setU64 } from './entry.ts';
import { BlockCache, RUN_INDEX_KEY_BYTES, RunReader, RunWriter, runFileName } from './run.ts';

const bounds = { keyBytesMax: 64, metaBytesMax: 16, valueBytesMax: 4096 };
const noFaults = { lostUnsynced: false, tornWrites: false, lostUnsyncedDirOps: false, readCorruptionProbability: 0 };

function entriesOf(keys: Uint8Array[], valueBytes: number): Entry[] {
  const unique = new Map(keys.map((k) => [keyString(k), k]));
  return [...unique.values()].sort(compareKeys).map((key, i) => ({
    key,
    seq: i + 1,
    kind: i % 5 === 4 ? EntryKind.tombstone : EntryKind.put,
    timeMs: i,
    meta: Uint8Array.of(i & 0xff),
    value: i % 5 === 4 ? new Uint8Array(0) : new Uint8Array((i * 37) % (valueBytes + 1)).fill(i & 0xff),
  }));
}

function writeRun(entries: Entry[], blockBytes: number, indexKeyBytes?: number, keyBounds = bounds) {
  const store = new SimDiskStore(new SeededRng('run'), noFaults);
  const disk = store.view();
  disk.mkdirp('d');
  const format = { blockBytes, bloomBitsPerKey: 10, bounds: keyBounds, ...(indexKeyBytes ? { indexKeyBytes } : {}) };
  const w = new RunWriter(disk, 'd', 1, entries.length, format);
  for (const e of entries) w.add(e);
  const info = w.finish();
  return { store, disk, info, reader: RunReader.open(disk, 'd', 1, keyBounds) };
}

/** Keys from a small alphabet: many share long beginnings, so cut index keys often tie. */
const tyingKey = fc.array(fc.constantFrom(0, 1, 2), { maxLength: 8 }).map((a) => Uint8Array.from(a));
const anyKey = fc.oneof(fc.uint8Array({ maxLength: 8 }), tyingKey);

test('point reads and range cursors return exactly the entries written', () => {
  fc.assert(
    fc.property(
      fc.array(anyKey, { minLength: 1, maxLength: 80 }),
      fc.constantFrom(1, 64, 512, 1 << 20),
      anyKey,
      anyKey,
      // How much of each block's last key the index keeps: 1-3 cut most keys here.
      fc.constantFrom(1, 2, 3, 256),
      (keys, blockBytes, a, b, indexKeyBytes) => {
        const entries = entriesOf(keys, 3000);
        const { reader, info, disk } = writeRun(entries, blockBytes, indexKeyBytes);
        assert.equal(info.entries, entries.length);
        assert.equal(reader.info.maxSeq, entries.length);
        for (const e of entries) assert.deepEqual(reader.get(e.key), e);
        assert.equal(reader.get(Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9, 9)), undefined);
        // Through a block cache: the second read of each key searches the block's kept entry starts.
        const cache = new BlockCache(1 << 22);
        const cached = RunReader.open(disk, 'd', 1, bounds, { cache });
        for (let round = 0; round < 2; round++) {
          for (const e of entries) assert.deepEqual(cached.get(e.key), e);
          for (const k of [a, b, Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9, 9)]) {
            assert.deepEqual(
              cached.get(k),
              entries.find((e) => compareKeys(e.key, k) === 0),
            );
          }
        }
        cached.close();
        const [start, end] = compareKeys(a, b) <= 0 ? [a, b] : [b, a];
        const want = entries.filter((e) => compareKeys(e.key, start) >= 0 && compareKeys(e.key, end) < 0);
        const got: Entry[] = [];
        const c = reader.cursor(start, end);
        for (let e = c.peek(); e !== undefined; c.advance(), e = c.peek()) got.push(e);
        assert.deepEqual(got, want);
        // Backwards, bounded and to the last key.
        const back: Entry[] = [];
        const r = reader.reverseCursor(start, end);
        for (let e = r.peek(); e !== undefined; r.advance(), e = r.peek()) back.push(e);
        assert.deepEqual(back, [...want].reverse());
        const tail: Entry[] = [];
        const t = reader.reverseCursor(start, null);
        for (let e = t.peek(); e !== undefined; t.advance(), e = t.peek()) tail.push(e);
        assert.deepEqual(tail, entries.filter((e) => compareKeys(e.key, start) >= 0).reverse());
        assert.ok(reader.memoryBytes > 0);
        reader.close();
      },
    ),
    { numRuns: 60 },
  );
});

test('a truncated run or a foreign file is a CorruptionError naming the file', () => {
  const entries = entriesOf([Uint8Array.of(1), Uint8Array.of(2)], 10);
  const { disk, reader } = writeRun(entries, 64);
  reader.close();
  const path = `d/${runFileName(1)}`;
  const f = disk.open(path, { create: false });
  const size = f.size();
  f.truncate(size - 1);
  f.close();
  const refused = (e: unknown) => e instanceof CorruptionError && e.fields['file'] === path;
  assert.throws(() => RunReader.open(disk, 'd', 1, bounds), refused);
  const g = disk.open(path, { create: false });
  g.truncate(0);
  g.append(new Uint8Array(200).fill(7));
  g.close();
  assert.throws(() => RunReader.open(disk, 'd', 1, bounds), refused);
});

test('the block cache keeps the most recently used blocks within its byte bound', () => {
  const cache = new BlockCache(100);
  cache.put(1, new Uint8Array(40));
  cache.put(2, new Uint8Array(40));
  assert.ok(cache.get(1) !== undefined); // a is now the most recent
  cache.put(3, new Uint8Array(40));
  assert.equal(cache.get(2), undefined, 'the least recently used block went');
  assert.ok(cache.get(1) !== undefined && cache.get(3) !== undefined);
  assert.ok(cache.bytes <= 100);
  cache.put(4, new Uint8Array(101));
  assert.equal(cache.get(4), undefined, 'a block over the bound is not cached');
  assert.equal(new BlockCache(0).bytes, 0);
  // A block's entry starts count with it, and evict as it does.
  const kept = new BlockCache(100);
  const block = kept.put(1, new Uint8Array(60));
  kept.addStarts(1, block, new Int32Array(5));
  assert.equal(kept.bytes, 80);
  kept.put(2, new Uint8Array(30));
  assert.equal(kept.get(1), undefined, 'block and starts went together');
  assert.equal(kept.bytes, 30);
  // Starts that would not fit with their block are not kept (the review's thrash: they evicted
  // every other block and then their own); a block put again replaces the old one's bytes.
  const tight = new BlockCache(100);
  tight.put(1, new Uint8Array(30));
  const big = tight.put(2, new Uint8Array(70));
  tight.addStarts(2, big, new Int32Array(10)); // 70 + 40 bytes: more than the bound alone
  assert.ok(tight.get(1) !== undefined && tight.get(2) !== undefined, 'both blocks kept');
  assert.equal(big.starts, undefined);
  assert.equal(tight.bytes, 100);
  tight.put(2, new Uint8Array(70));
  assert.equal(tight.bytes, 100, 'the replaced block no longer counts');
});

test('a cursor refuses a block whose CRC holds but whose keys are out of order or end off its index', () => {
  const entries: Entry[] = [0x10, 0x20, 0x30].map((k, i) => ({
    key: Uint8Array.of(k),
    seq: i + 1,
    kind: EntryKind.put,
    timeMs: 0,
    meta: new Uint8Array(0),
    value: new Uint8Array(0),
  }));
  const size = ENTRY_HEADER_BYTES + 1;
  const path = `d/${runFileName(1)}`;
  const walk = (reader: RunReader, start: Uint8Array) => {
    const got: number[] = [];
    const c = reader.cursor(start, null);
    for (let e = c.peek(); e !== undefined; c.advance(), e = c.peek()) got.push(e.key[0]!);
    return got;
  };
  // Rewrites key bytes of the one block in place and re-seals its CRC (the block starts the file).
  const damaged = (edit: (block: Uint8Array) => void, cache?: BlockCache): RunReader => {
    const { disk, reader } = writeRun(entries, 1 << 20);
    reader.close();
    const f = disk.open(path, { create: false });
    const block = f.read(0, 3 * size + 4);
    edit(block);
    new DataView(block.buffer).setUint32(3 * size, crc32c(block.subarray(0, 3 * size)), true);
    f.writeAt(0, block);
    f.close();
    return RunReader.open(disk, 'd', 1, bounds, cache === undefined ? {} : { cache });
  };
  const keyAt = (i: number) => i * size + ENTRY_HEADER_BYTES;
  const back = (reader: RunReader, end: Uint8Array | null) => {
    const got: number[] = [];
    const c = reader.reverseCursor(Uint8Array.of(0), end);
    for (let e = c.peek(); e !== undefined; c.advance(), e = c.peek()) got.push(e.key[0]!);
    return got;
  };
  const intact = damaged(() => undefined);
  assert.deepEqual(back(intact, null), [0x30, 0x20, 0x10]);
  assert.deepEqual(back(intact, Uint8Array.of(0x30)), [0x20, 0x10]);
  assert.deepEqual(walk(intact, Uint8Array.of(0)), [0x10, 0x20, 0x30]);
  assert.deepEqual(walk(intact, Uint8Array.of(0x21)), [0x30]);
  const refused = (reason: string) => (e: unknown) =>
    e instanceof CorruptionError && e.fields['file'] === path && e.message.includes(reason);
  const swapped = damaged((b) => {
    b[keyAt(1)] = 0x30;
    b[keyAt(2)] = 0x20;
  });
  assert.throws(() => walk(swapped, Uint8Array.of(0)), refused('out of order'));
  // A point read through a cache makes the block's entry starts, checking the order of every key.
  const viaCache = damaged(
    (b) => {
      b[keyAt(1)] = 0x30;
      b[keyAt(2)] = 0x20;
    },
    new BlockCache(1 << 20),
  );
  // Named by its place: the third entry, whose key is below the second's.
  assert.throws(
    () => viaCache.get(Uint8Array.of(0x10)),
    (e: unknown) => e instanceof CorruptionError && e.fields['file'] === path && e.fields['offset'] === 2 * size,
  );
  // A reverse cursor walks the whole block first: every entry checked before the first is handed out.
  assert.throws(() => back(swapped, null), refused('out of order'));
  assert.throws(() => back(swapped, Uint8Array.of(0x11)), refused('out of order'));
  // Passing over entries below `start` (in place, undecoded) checks their order too.
  assert.throws(() => walk(swapped, Uint8Array.of(0x2f)), refused('out of order'));
  // An entry is checked before a peek hands it out, not when the caller moves past it: a reader
  // that stops after it (a limit, an LPOP's one element) never sees an out-of-order key.
  const firstTwo = damaged((b) => {
    b[keyAt(0)] = 0x20;
    b[keyAt(1)] = 0x10;
  });
  const c = firstTwo.cursor(Uint8Array.of(0), null);
  assert.equal(c.peek()?.key[0], 0x20);
  c.advance();
  assert.throws(() => c.peek(), refused('out of order'));
  const offIndex = damaged((b) => {
    b[keyAt(2)] = 0x31;
  });
  assert.throws(() => walk(offIndex, Uint8Array.of(0)), refused('indexed key'));
  assert.throws(() => back(offIndex, null), refused('indexed key'));
  // An entry passed over below `start` is not decoded, yet its seq is checked as a decode would.
  const badSeq = damaged((b) => {
    b.fill(0, 9, 17); // entry 0's seq: 0
  });
  assert.throws(() => walk(badSeq, Uint8Array.of(0x21)), refused('seq 0 out of range'));
  assert.throws(() => walk(badSeq, Uint8Array.of(0)), refused('seq 0 out of range'));
  assert.throws(() => back(badSeq, null), refused('seq 0 out of range'));
});

// The index's memory (an audit): a block's whole last key was kept, so with entries of a block or
// more each key was held whole, and ~70,000 keys of 60 KB passed Node's 4 GiB buffer bound at open.
test('the index keeps at most indexKeyBytes of each last key, and long keys sharing them still read back', () => {
  const wide = { keyBytesMax: 65_535, metaBytesMax: 16, valueBytesMax: 4096 };
  const prefix = new Uint8Array(60_000).fill(0x50);
  const longKeys = Array.from({ length: 60 }, (_, i) => {
    const k = new Uint8Array(prefix.byteLength + 2);
    k.set(prefix);
    k[prefix.byteLength] = i >> 3; // pairs of keys share more than the kept bytes, and blocks tie
    k[prefix.byteLength + 1] = i;
    return k;
  });
  const entries = entriesOf(longKeys, 100);
  const { reader } = writeRun(entries, 4096, undefined, wide);
  assert.equal(reader.blockCount, entries.length, 'each entry is its own block');
  const perBlock = RUN_INDEX_KEY_BYTES + 17;
  assert.ok(
    reader.memoryBytes <= reader.blockCount * perBlock + 4 + 1024,
    `${reader.memoryBytes} bytes for ${reader.blockCount} blocks`,
  );
  for (const e of entries) assert.deepEqual(reader.get(e.key), e);
  const absent = new Uint8Array(prefix.byteLength + 3).fill(0x50);
  assert.equal(reader.get(absent), undefined);
  const from = entries[17]!.key;
  const got: Entry[] = [];
  const c = reader.cursor(from, entries[23]!.key);
  for (let e = c.peek(); e !== undefined; c.advance(), e = c.peek()) got.push(e);
  assert.deepEqual(got, entries.slice(17, 23));
  const back: Entry[] = [];
  const r = reader.reverseCursor(from, entries[23]!.key);
  for (let e = r.peek(); e !== undefined; r.advance(), e = r.peek()) back.push(e);
  assert.deepEqual(back, entries.slice(17, 23).reverse());
  reader.close();
  // Control: an index that keeps whole keys holds every key's 60 KB.
  const whole = writeRun(entries, 4096, 65_535, wide).reader;
  assert.ok(whole.memoryBytes > entries.length * prefix.byteLength);
  whole.close();
});

/** A run's footer fields, and the index region. */
function regions(disk: SimDiskStore['view'] extends () => infer D ? D : never, path: string) {
  const f = disk.open(path, { create: false });
  const size = f.size();
  const footer = f.read(size - 64, 64);
  const v = new DataView(footer.buffer, footer.byteOffset, 64);
  const indexOffset = getU64(v, 8);
  const indexBytes = v.getUint32(16, true);
  const bloomBytes = v.getUint32(28, true);
  const index = f.read(indexOffset, indexBytes);
  const bloom = f.read(indexOffset + indexBytes, bloomBytes);
  return { f, size, footer, v, indexOffset, indexBytes, index, bloom };
}

/** Re-seals a region's trailing CRC after an edit. */
function reseal(region: Uint8Array): void {
  new DataView(region.buffer, region.byteOffset, region.byteLength).setUint32(
    region.byteLength - 4,
    crc32c(region.subarray(0, region.byteLength - 4)),
    true,
  );
}

/**
 * Rewrites run 1 (written keeping whole keys) as version 1 wrote it: index entries without the cut
 * byte, indexKeyBytes 0 in the footer. `edit` may change the version 1 index before it is sealed.
 */
function toVersion1(disk: ReturnType<SimDiskStore['view']>, edit: (index: Uint8Array) => void = () => undefined) {
  const { f, v, footer, indexOffset, index, bloom } = regions(disk, `d/${runFileName(1)}`);
  // Version 1's index: the same entries without the cut byte.
  const iv = new DataView(index.buffer, index.byteOffset, index.byteLength);
  const count = iv.getUint32(0, true);
  const parts: Uint8Array[] = [index.subarray(0, 4)];
  let p = 4;
  for (let i = 0; i < count; i++) {
    assert.equal(index[p], 0);
    const keyBytes = iv.getUint16(p + 1, true);
    parts.push(index.subarray(p + 1, p + 3 + keyBytes + 12));
    p += 3 + keyBytes + 12;
  }
  const old = new Uint8Array(Buffer.concat([...parts, new Uint8Array(4)]));
  edit(old);
  reseal(old);
  v.setUint16(4, 1, true);
  v.setUint16(6, 0, true);
  v.setUint32(16, old.byteLength, true);
  setU64(v, 20, indexOffset + old.byteLength);
  v.setUint32(60, crc32c(footer.subarray(0, 60)), true);
  f.truncate(indexOffset);
  f.append(old);
  f.append(bloom);
  f.append(footer);
  f.close();
}

const wide = { keyBytesMax: 65_535, metaBytesMax: 16, valueBytesMax: 4096 };

test('a version 1 run (whole keys, no cut flag) still opens, its index cut in memory', () => {
  const keys = Array.from({ length: 40 }, (_, i) => new Uint8Array(1000).fill(i + 1));
  const entries = entriesOf(keys, 100);
  const { disk, reader } = writeRun(entries, 1024, 65_535, wide);
  reader.close();
  toVersion1(disk);
  const opened = RunReader.open(disk, 'd', 1, wide);
  for (const e of entries) assert.deepEqual(opened.get(e.key), e);
  assert.ok(opened.memoryBytes <= opened.blockCount * (RUN_INDEX_KEY_BYTES + 17) + 4 + 1024);
  opened.close();
  // A version 1 index is checked on its whole keys: two out of order past the kept bytes (a
  // review: cut first, they tied and opened, and reads missed both) are refused.
  const long = [1, 2].map((last) => {
    const k = new Uint8Array(301).fill(7);
    k[300] = last;
    return k;
  });
  const swapped = writeRun(entriesOf(long, 10), 1, 65_535, wide);
  swapped.reader.close();
  toVersion1(swapped.disk, (index) => {
    // Entry i (i < 2): keyBytes:u16 key(301) offset:u64 bytes:u32 = 315 bytes from 4.
    index[4 + 2 + 300] = 2;
    index[4 + 315 + 2 + 300] = 1;
  });
  assert.throws(
    () => RunReader.open(swapped.disk, 'd', 1, wide),
    (e: unknown) => e instanceof CorruptionError && e.message.includes('out of order'),
  );
});

test('an index entry with an unknown flag, or a cut key not of the kept length, is refused at open', () => {
  const keys = Array.from({ length: 6 }, (_, i) => Uint8Array.of(i, i, i, i, i, i));
  const entries = entriesOf(keys, 10);
  const path = `d/${runFileName(1)}`;
  const refusal = (edit: (index: Uint8Array) => void, reason: string) => {
    const { disk, reader } = writeRun(entries, 1, 4);
    reader.close();
    const { f, indexOffset, index } = regions(disk, path);
    edit(index);
    reseal(index);
    f.writeAt(indexOffset, index);
    f.close();
    assert.throws(
      () => RunReader.open(disk, 'd', 1, bounds),
      (e: unknown) => e instanceof CorruptionError && e.fields['file'] === path && e.message.includes(reason),
    );
  };
  // Each entry: cut:u8 keyBytes:u16 key (4 of the 6 bytes) offset:u64 bytes:u32; the first at 4.
  refusal((ix) => {
    ix[4] = 2;
  }, 'flag 2');
  refusal((ix) => {
    ix[4 + 3 + 4 + 12 + 1] = 2; // the second entry's keyBytes: 2, the flag still says cut
  }, 'index key of 2 bytes');
  refusal((ix) => {
    ix[4 + 3] = 5; // the first entry's first kept byte: above the second's
  }, 'out of order');
  // A key kept whole may not equal the cut key before it (it would sort below that one's key).
  refusal((ix) => {
    const second = 4 + 3 + 4 + 12;
    ix[second] = 0;
    ix.fill(0, second + 3, second + 7);
  }, 'out of order');
});

test('a block whose last key does not begin with its cut index key is refused when read', () => {
  const keys = Array.from({ length: 6 }, (_, i) => Uint8Array.of(i, i, i, i, i, i));
  const entries = entriesOf(keys, 10);
  const path = `d/${runFileName(1)}`;
  const { disk, reader } = writeRun(entries, 1, 4);
  reader.close();
  const { f, indexOffset, index } = regions(disk, path);
  index[4 + 19 + 3 + 3] = 2; // the second block's kept bytes 1 1 1 2: in order, not its last key's
  reseal(index);
  f.writeAt(indexOffset, index);
  f.close();
  const damaged = RunReader.open(disk, 'd', 1, bounds);
  const refused = (e: unknown) => e instanceof CorruptionError && e.message.includes('indexed key');
  const walk = () => {
    const c = damaged.cursor(new Uint8Array(0), null);
    while (c.peek() !== undefined) c.advance();
  };
  assert.throws(walk, refused);
  // A search that must read the block to place its key checks it too.
  assert.throws(() => damaged.cursor(Uint8Array.of(1, 1, 1, 2, 0), null), refused);
  assert.deepEqual(damaged.get(entries[3]!.key), entries[3]);
});

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
import { compareKeys, ENTRY_HEADER_BYTES, type Entry, EntryKind, keyString } from './entry.ts';
import { BlockCache, RunReader, RunWriter, runFileName } from './run.ts';

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

function writeRun(entries: Entry[], blockBytes: number) {
  const store = new SimDiskStore(new SeededRng('run'), noFaults);
  const disk = store.view();
  disk.mkdirp('d');
  const w = new RunWriter(disk, 'd', 1, entries.length, { blockBytes, bloomBitsPerKey: 10, bounds });
  for (const e of entries) w.add(e);
  const info = w.finish();
  return { store, disk, info, reader: RunReader.open(disk, 'd', 1, bounds) };
}

test('point reads and range cursors return exactly the entries written', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 8 }), { minLength: 1, maxLength: 80 }),
      fc.constantFrom(1, 64, 512, 1 << 20),
      fc.uint8Array({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 8 }),
      (keys, blockBytes, a, b) => {
        const entries = entriesOf(keys, 3000);
        const { reader, info, disk } = writeRun(entries, blockBytes);
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

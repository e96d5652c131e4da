// The memtable: the newest version of each recently written key, in memory, until a flush writes
// it out as a run. Order is two sorted lists: `sorted`, and `fresh`, the keys new since the last
// merge (at most MEMTABLE_FRESH_KEYS_MAX), each new key placed by binary search (after a check of
// both ends, where keys written in order land); a range walks both at once. So a new key costs
// O(log k + k) (the insertion into `fresh`) plus, every MEMTABLE_FRESH_KEYS_MAX new keys, one
// merge that gallops through `sorted` (comparisons for the distance each fresh key moves) and
// block-copies the runs between, and a scan O(log n) plus what it returns, however writes and
// scans interleave. In-process LPUSH: 11.2 -> 9.3 µs (the merge's binary searches from each
// insertion point were 9 % of a push). (Before, the new keys were sorted and merged at the next
// scan: a scan after every write, as eviction's sampling does under maxmemory, cost O(n) each — 12
// ms per SET at 500,000 memtable keys, docs/BENCHMARKS.md.)
//
// Layout: no JavaScript object per entry. An entry's key, meta and value bytes are copied into
// shared slabs (MEMTABLE_SLAB_BYTES; an entry of MEMTABLE_DEDICATED_BYTES or more gets a buffer of
// its own); its fields live in typed-array columns indexed by a slot number (one slot per distinct
// key, the newest version's fields); the point index is an open-addressing hash table of slots
// (linear probing, FNV-1a of the key bytes, load at most 1/2, the hash kept per slot so growing the
// table rehashes no bytes), and `sorted` / `fresh` hold slots in key order, comparing key bytes in
// their slabs. Entries handed out (get, range) are small views made on access, which die young.
// Before (a Map from a latin1 key string to an entry object holding views), every write left two
// long-lived objects that the young-generation GC copied twice: ~20 % of a write's CPU went to the
// scavenger, plus a key string and a string-hash per read and per write (docs/benchmarks/redis.md).
//
// Bound: `bytes` counts, per distinct key, MEMTABLE_ENTRY_OVERHEAD_BYTES (its columns, hash and
// order slots) and per put the entry's encoded size: an overwritten entry's bytes stay in their slab
// until the memtable is cleared, so they stay counted. The current slab's unused tail (under one
// slab) is not counted. The engine flushes when `bytes` reaches memtableBytesMax.

import { assert } from '../../lib/assert.ts';
import { gallopWhere, lowerBoundWhere } from '../../lib/sorted.ts';
import { compareKeysAt, type Entry, type EntryKind, entryBytes } from './entry.ts';

/**
 * Bookkeeping per distinct key beyond its bytes, at its worst (just after the columns doubled):
 * 41 B of columns twice over, 2 to 4 hash cells of 4 B, an order slot of 4 B and its copy while a
 * merge runs. About 70 B on average; the bound counts the worst, so memtableBytesMax holds.
 */
export const MEMTABLE_ENTRY_OVERHEAD_BYTES = 112;
/** Size of the slabs small entries are packed into. */
export const MEMTABLE_SLAB_BYTES = 256 * 1024;
/** New keys kept apart from the sorted list before one merge (bounds an insertion's array move). */
export const MEMTABLE_FRESH_KEYS_MAX = 4096;
/** Entries of at least this many bytes (key + meta + value) get a buffer of their own. */
export const MEMTABLE_DEDICATED_BYTES = 16 * 1024;
/** Slots the columns start with (they double as keys arrive). */
const INITIAL_SLOTS = 256;

/** An entry whose bytes live in a slab: views are made on access (a read's allocation is short-lived). */
class PackedEntry implements Entry {
  constructor(
    private readonly buf: Uint8Array,
    private readonly at: number,
    private readonly keyLength: number,
    private readonly metaLength: number,
    private readonly valueLength: number,
    readonly seq: number,
    readonly kind: EntryKind,
    readonly timeMs: number,
  ) {}

  get key(): Uint8Array {
    return this.buf.subarray(this.at, this.at + this.keyLength);
  }

  get meta(): Uint8Array {
    const from = this.at + this.keyLength;
    return this.buf.subarray(from, from + this.metaLength);
  }

  get value(): Uint8Array {
    const from = this.at + this.keyLength + this.metaLength;
    return this.buf.subarray(from, from + this.valueLength);
  }
}

/** FNV-1a (32 bits) of buf[at, at + n). */
function hashBytes(buf: Uint8Array, at: number, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ buf[at + i]!, 0x01000193);
  return h >>> 0;
}

function grown<T extends Uint32Array | Float64Array | Uint8Array>(a: T, size: number): T {
  const out = new (a.constructor as new (n: number) => T)(size);
  out.set(a);
  return out;
}

export class Memtable {
  /** Slabs and dedicated buffers, by id; the current slab is the last one opened. */
  private bufs: Uint8Array[] = [];
  private slabId = -1;
  private slabUsed = 0;
  // Columns by slot: where the newest version's bytes are and its fields (set by reset()).
  private bufId!: Uint32Array;
  private at!: Uint32Array;
  private keyLen!: Uint32Array;
  private metaLen!: Uint32Array;
  private valueLen!: Uint32Array;
  private seqs!: Float64Array;
  private times!: Float64Array;
  private kinds!: Uint8Array;
  private hashes!: Uint32Array;
  private count = 0;
  /** Open addressing: slot + 1 per cell, 0 = empty. */
  private table!: Int32Array;
  private sorted!: Int32Array;
  /** Slots new since the last merge, in key order; never in `sorted`. */
  private fresh: number[] = [];
  /** A range is iterating `fresh`: the next insertion copies it first. */
  private freshShared = false;
  /** Keys copied by merges so far (the ordering's work; a test bounds it). */
  mergedKeys = 0;
  private heldBytes = 0;
  /** Bumped by clear(): a range from before it would read reused slots, so it throws instead. */
  private generation = 0;

  constructor(private readonly freshKeysMax = MEMTABLE_FRESH_KEYS_MAX) {
    this.reset();
  }

  get bytes(): number {
    return this.heldBytes;
  }
  get size(): number {
    return this.count;
  }

  put(e: Entry): void {
    const key = e.key;
    const h = hashBytes(key, 0, key.byteLength);
    let slot = this.find(key, h);
    if (slot < 0) {
      slot = this.newSlot(h);
      this.heldBytes += MEMTABLE_ENTRY_OVERHEAD_BYTES;
      this.pack(slot, e);
      this.insertFresh(slot);
    } else this.pack(slot, e);
    this.heldBytes += entryBytes(e);
  }

  get(key: Uint8Array): Entry | undefined {
    const slot = this.find(key, hashBytes(key, 0, key.byteLength));
    return slot < 0 ? undefined : this.entryAt(slot);
  }

  /** The slot holding `key`, or -1. */
  private find(key: Uint8Array, h: number): number {
    const table = this.table;
    const mask = table.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const cell = table[i]!;
      if (cell === 0) return -1;
      const slot = cell - 1;
      if (
        this.hashes[slot] === h &&
        compareKeysAt(this.bufs[this.bufId[slot]!]!, this.at[slot]!, this.keyLen[slot]!, key, 0, key.byteLength) === 0
      ) {
        return slot;
      }
    }
  }

  /** A new slot for a key of hash `h`, in the hash table (columns and table grown as needed). */
  private newSlot(h: number): number {
    const slot = this.count++;
    if (slot >= this.hashes.length) {
      const size = 2 * this.hashes.length;
      this.bufId = grown(this.bufId, size);
      this.at = grown(this.at, size);
      this.keyLen = grown(this.keyLen, size);
      this.metaLen = grown(this.metaLen, size);
      this.valueLen = grown(this.valueLen, size);
      this.seqs = grown(this.seqs, size);
      this.times = grown(this.times, size);
      this.kinds = grown(this.kinds, size);
      this.hashes = grown(this.hashes, size);
    }
    this.hashes[slot] = h;
    if (2 * this.count > this.table.length) this.rehash(2 * this.table.length);
    else this.place(slot);
    return slot;
  }

  private place(slot: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let i = this.hashes[slot]! & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }

  private rehash(cells: number): void {
    this.table = new Int32Array(cells);
    for (let slot = 0; slot < this.count; slot++) this.place(slot);
  }

  /** Copies the entry's bytes into a slab (or a buffer of its own when large) and sets its slot's fields. */
  private pack(slot: number, e: Entry): void {
    const key = e.key;
    const meta = e.meta;
    const value = e.value;
    const n = key.byteLength + meta.byteLength + value.byteLength;
    let id: number;
    let at = 0;
    if (n >= MEMTABLE_DEDICATED_BYTES) {
      id = this.bufs.length;
      this.bufs.push(new Uint8Array(n));
    } else {
      if (this.slabId < 0 || this.slabUsed + n > MEMTABLE_SLAB_BYTES) {
        this.slabId = this.bufs.length;
        this.bufs.push(new Uint8Array(MEMTABLE_SLAB_BYTES));
        this.slabUsed = 0;
      }
      id = this.slabId;
      at = this.slabUsed;
      this.slabUsed += n;
    }
    const buf = this.bufs[id]!;
    buf.set(key, at);
    buf.set(meta, at + key.byteLength);
    buf.set(value, at + key.byteLength + meta.byteLength);
    this.bufId[slot] = id;
    this.at[slot] = at;
    this.keyLen[slot] = key.byteLength;
    this.metaLen[slot] = meta.byteLength;
    this.valueLen[slot] = value.byteLength;
    this.seqs[slot] = e.seq;
    this.times[slot] = e.timeMs;
    this.kinds[slot] = e.kind;
  }

  private entryAt(slot: number): Entry {
    return new PackedEntry(
      this.bufs[this.bufId[slot]!]!,
      this.at[slot]!,
      this.keyLen[slot]!,
      this.metaLen[slot]!,
      this.valueLen[slot]!,
      this.seqs[slot]!,
      this.kinds[slot]! as EntryKind,
      this.times[slot]!,
    );
  }

  /** Key order of two slots. */
  private compareSlots(a: number, b: number): number {
    return compareKeysAt(
      this.bufs[this.bufId[a]!]!,
      this.at[a]!,
      this.keyLen[a]!,
      this.bufs[this.bufId[b]!]!,
      this.at[b]!,
      this.keyLen[b]!,
    );
  }

  /** Key order of a slot's key and `key`. */
  private compareToKey(slot: number, key: Uint8Array): number {
    return compareKeysAt(this.bufs[this.bufId[slot]!]!, this.at[slot]!, this.keyLen[slot]!, key, 0, key.byteLength);
  }

  /** The first index of `slots[0, n)` whose key is >= key. */
  private lowerBoundKey(slots: ArrayLike<number>, n: number, key: Uint8Array): number {
    return lowerBoundWhere(0, n, (i) => this.compareToKey(slots[i]!, key) < 0);
  }

  private insertFresh(slot: number): void {
    if (this.fresh.length >= this.freshKeysMax) this.mergeFresh();
    if (this.freshShared) {
      this.fresh = this.fresh.slice();
      this.freshShared = false;
    }
    const fresh = this.fresh;
    const n = fresh.length;
    // Keys written in order (LPUSH's falling positions, RPUSH's rising ones, sequential SETs) land
    // at an end: checked first, one comparison instead of a binary search.
    if (n === 0 || this.compareSlots(fresh[n - 1]!, slot) < 0) fresh.push(slot);
    else if (this.compareSlots(fresh[0]!, slot) > 0) fresh.unshift(slot);
    else
      fresh.splice(
        lowerBoundWhere(1, n - 1, (i) => this.compareSlots(fresh[i]!, slot) < 0),
        0,
        slot,
      );
  }

  /**
   * `fresh` merged into a new `sorted` (a range iterating the old arrays keeps them): each fresh key
   * is placed by galloping from where the previous one went, and the runs between are block
   * copies, so a merge compares O(k log(n / k)) keys at most, not n + k (keys that share a long
   * prefix, as a list's elements do, made a comparison-per-key merge a few microseconds per LPUSH
   * at 500,000 keys).
   */
  private mergeFresh(): void {
    const fresh = this.fresh;
    if (fresh.length === 0) return;
    const sorted = this.sorted;
    const n = sorted.length;
    const out = new Int32Array(n + fresh.length);
    let i = 0;
    let o = 0;
    for (const f of fresh) {
      // Galloping from where the last key went: a key costs comparisons for the distance it moves
      // (fresh keys that all land in one place cost one each), not log n.
      const lo = gallopWhere(i, n, (k) => this.compareSlots(sorted[k]!, f) < 0);
      out.set(sorted.subarray(i, lo), o);
      o += lo - i;
      i = lo;
      out[o++] = f;
    }
    out.set(sorted.subarray(i), o);
    this.sorted = out;
    this.mergedKeys += out.length;
    this.fresh = [];
    this.freshShared = false;
  }

  /** Entries with start <= key < end (end null: no upper bound), in key order. */
  *range(start: Uint8Array, end: Uint8Array | null): Generator<Entry> {
    const sorted = this.sorted;
    const fresh = this.fresh;
    const generation = this.generation;
    this.freshShared = true;
    let i = this.lowerBoundKey(sorted, sorted.length, start);
    let j = this.lowerBoundKey(fresh, fresh.length, start);
    while (i < sorted.length || j < fresh.length) {
      // Checked before any slot is read: after clear() the numbers name other keys' columns.
      assert(this.generation === generation, 'a memtable range was held across clear()');
      const slot =
        j >= fresh.length || (i < sorted.length && this.compareSlots(sorted[i]!, fresh[j]!) < 0)
          ? sorted[i++]!
          : fresh[j++]!;
      if (end !== null && this.compareToKey(slot, end) >= 0) return;
      yield this.entryAt(slot);
    }
  }

  /** Entries with start <= key < end (end null: no upper bound), in descending key order. */
  *rangeReverse(start: Uint8Array, end: Uint8Array | null): Generator<Entry> {
    const sorted = this.sorted;
    const fresh = this.fresh;
    const generation = this.generation;
    this.freshShared = true;
    // One past the last slot below `end` in each (every slot when unbounded).
    let i = end === null ? sorted.length : this.lowerBoundKey(sorted, sorted.length, end);
    let j = end === null ? fresh.length : this.lowerBoundKey(fresh, fresh.length, end);
    while (i > 0 || j > 0) {
      assert(this.generation === generation, 'a memtable range was held across clear()');
      const slot =
        j === 0 || (i > 0 && this.compareSlots(sorted[i - 1]!, fresh[j - 1]!) > 0) ? sorted[--i]! : fresh[--j]!;
      if (this.compareToKey(slot, start) < 0) return;
      yield this.entryAt(slot);
    }
  }

  /** Every entry in key order (the flush's input). */
  all(): Generator<Entry> {
    return this.range(new Uint8Array(0), null);
  }

  clear(): void {
    // A range must not be held across a clear (the engine's flush walks its own range to the end
    // first); one that is throws.
    this.generation++;
    this.reset();
  }

  /** Empty, with fresh columns (the old ones' memory goes back). */
  private reset(): void {
    this.bufs = [];
    this.slabId = -1;
    this.slabUsed = 0;
    this.bufId = new Uint32Array(INITIAL_SLOTS);
    this.at = new Uint32Array(INITIAL_SLOTS);
    this.keyLen = new Uint32Array(INITIAL_SLOTS);
    this.metaLen = new Uint32Array(INITIAL_SLOTS);
    this.valueLen = new Uint32Array(INITIAL_SLOTS);
    this.seqs = new Float64Array(INITIAL_SLOTS);
    this.times = new Float64Array(INITIAL_SLOTS);
    this.kinds = new Uint8Array(INITIAL_SLOTS);
    this.hashes = new Uint32Array(INITIAL_SLOTS);
    this.count = 0;
    this.table = new Int32Array(2 * INITIAL_SLOTS);
    this.sorted = new Int32Array(0);
    this.fresh = [];
    this.freshShared = false;
    this.heldBytes = 0;
  }
}

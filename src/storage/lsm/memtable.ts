// The memtable: the newest version of each recently written key, in memory, until a flush writes
// it out as a run. Point reads are a map lookup. Order is two sorted lists: `sorted`, and `fresh`,
// the keys new since the last merge (at most MEMTABLE_FRESH_KEYS_MAX), each new key placed by
// binary search; a range walks both at once. So a new key costs O(log k + k) (the insertion into
// `fresh`) plus, every MEMTABLE_FRESH_KEYS_MAX new keys, one O(n) merge, and a scan O(log n) plus
// what it returns, however writes and scans interleave. (Before, the new keys were sorted and
// merged at the next scan: a scan after every write, as eviction's sampling does under maxmemory,
// cost O(n) each — 12 ms per SET at 500,000 memtable keys, docs/BENCHMARKS.md.)
//
// Layout: an entry's key, meta and value bytes are copied into shared slabs (MEMTABLE_SLAB_BYTES;
// an entry of MEMTABLE_DEDICATED_BYTES or more gets a buffer of its own), and the map holds a small
// object with their offsets, whose key/meta/value are views made on access. Measured for 200,000
// entries of a 30-byte key, 2-byte meta and 100-byte value (heap + array buffers after full GCs,
// node 20): 864 B per entry when each entry holds three separate arrays, 665 B with views of one
// buffer per entry, 305 B packed in slabs — so the engine's memtableBytesMax bound is honest only
// with the packing (docs/BENCHMARKS.md, "where a Baristas key's memory goes").
//
// Bound: `bytes` counts, per distinct key, MEMTABLE_ENTRY_OVERHEAD_BYTES (the offsets object, its
// map slot, sorted-list slot) plus the key again (the map's key string), and per put the entry's
// encoded size: an overwritten entry's bytes stay in their slab until the memtable is cleared, so
// they stay counted. The current slab's unused tail (under one slab) is not counted. The engine
// flushes when `bytes` reaches memtableBytesMax.

import { lowerBound } from '../../lib/sorted.ts';
import { compareKeys, type Entry, type EntryKind, entryBytes, keyString } from './entry.ts';

/** Bookkeeping per distinct key beyond its bytes: the offsets object, map and sorted-list slots (measured ~140 B). */
export const MEMTABLE_ENTRY_OVERHEAD_BYTES = 160;
/** Size of the slabs small entries are packed into. */
export const MEMTABLE_SLAB_BYTES = 256 * 1024;
/** New keys kept apart from the sorted list before one merge (bounds an insertion's array move). */
export const MEMTABLE_FRESH_KEYS_MAX = 4096;
/** Entries of at least this many bytes (key + meta + value) get a buffer of their own. */
export const MEMTABLE_DEDICATED_BYTES = 16 * 1024;

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

export class Memtable {
  private readonly map = new Map<string, Entry>();
  private sorted: string[] = [];
  /** Keys new since the last merge, sorted; never in `sorted`. */
  private fresh: string[] = [];
  /** A range is iterating `fresh`: the next insertion copies it first. */
  private freshShared = false;
  /** Keys copied by merges so far (the ordering's work; a test bounds it). */
  mergedKeys = 0;

  constructor(private readonly freshKeysMax = MEMTABLE_FRESH_KEYS_MAX) {}
  private heldBytes = 0;
  private slab: Uint8Array | undefined;
  private slabUsed = 0;

  get bytes(): number {
    return this.heldBytes;
  }
  get size(): number {
    return this.map.size;
  }

  put(e: Entry): void {
    const k = keyString(e.key);
    if (!this.map.has(k)) {
      this.insertFresh(k);
      this.heldBytes += MEMTABLE_ENTRY_OVERHEAD_BYTES + e.key.byteLength;
    }
    this.heldBytes += entryBytes(e);
    this.map.set(k, this.pack(e));
  }

  /** Copies the entry's bytes into a slab (or a buffer of its own when large). */
  private pack(e: Entry): Entry {
    const key = e.key;
    const meta = e.meta;
    const value = e.value;
    const n = key.byteLength + meta.byteLength + value.byteLength;
    let buf: Uint8Array;
    let at = 0;
    if (n >= MEMTABLE_DEDICATED_BYTES) buf = new Uint8Array(n);
    else {
      if (this.slab === undefined || this.slabUsed + n > this.slab.byteLength) {
        this.slab = new Uint8Array(MEMTABLE_SLAB_BYTES);
        this.slabUsed = 0;
      }
      buf = this.slab;
      at = this.slabUsed;
      this.slabUsed += n;
    }
    buf.set(key, at);
    buf.set(meta, at + key.byteLength);
    buf.set(value, at + key.byteLength + meta.byteLength);
    return new PackedEntry(buf, at, key.byteLength, meta.byteLength, value.byteLength, e.seq, e.kind, e.timeMs);
  }

  get(key: Uint8Array): Entry | undefined {
    return this.map.get(keyString(key));
  }

  private insertFresh(k: string): void {
    if (this.fresh.length >= this.freshKeysMax) this.mergeFresh();
    if (this.freshShared) {
      this.fresh = this.fresh.slice();
      this.freshShared = false;
    }
    const fresh = this.fresh;
    const at = lowerBound(fresh, k);
    if (at === fresh.length) fresh.push(k);
    else fresh.splice(at, 0, k);
  }

  /** `fresh` merged into a new `sorted` (a range iterating the old arrays keeps them). */
  private mergeFresh(): void {
    const fresh = this.fresh;
    if (fresh.length === 0) return;
    const sorted = this.sorted;
    const out: string[] = new Array(sorted.length + fresh.length);
    let i = 0;
    let j = 0;
    let n = 0;
    while (i < sorted.length || j < fresh.length) {
      if (j >= fresh.length || (i < sorted.length && sorted[i]! < fresh[j]!)) out[n++] = sorted[i++]!;
      else out[n++] = fresh[j++]!;
    }
    this.sorted = out;
    this.mergedKeys += n;
    this.fresh = [];
    this.freshShared = false;
  }

  /** Entries with start <= key < end (end null: no upper bound), in key order. */
  *range(start: Uint8Array, end: Uint8Array | null): Generator<Entry> {
    const sorted = this.sorted;
    const fresh = this.fresh;
    this.freshShared = true;
    const from = keyString(start);
    let i = lowerBound(sorted, from);
    let j = lowerBound(fresh, from);
    while (i < sorted.length || j < fresh.length) {
      const k = j >= fresh.length || (i < sorted.length && sorted[i]! < fresh[j]!) ? sorted[i++]! : fresh[j++]!;
      const e = this.map.get(k)!;
      if (end !== null && compareKeys(e.key, end) >= 0) return;
      yield e;
    }
  }

  /** Every entry in key order (the flush's input). */
  all(): Generator<Entry> {
    return this.range(new Uint8Array(0), null);
  }

  clear(): void {
    this.map.clear();
    this.sorted = [];
    this.fresh = [];
    this.freshShared = false;
    this.heldBytes = 0;
    this.slab = undefined;
    this.slabUsed = 0;
  }
}

// The memtable: the newest version of each recently written key, in memory, until a flush writes
// it out as a run. Point reads are a map lookup; ordered iteration sorts lazily: keys new since
// the last ordered read are sorted on their own and merged into the sorted list, so a write costs
// O(1) and a scan after k new keys costs O(n + k log k).
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

import { compareKeys, type Entry, type EntryKind, entryBytes, keyString } from './entry.ts';

/** Bookkeeping per distinct key beyond its bytes: the offsets object, map and sorted-list slots (measured ~140 B). */
export const MEMTABLE_ENTRY_OVERHEAD_BYTES = 160;
/** Size of the slabs small entries are packed into. */
export const MEMTABLE_SLAB_BYTES = 256 * 1024;
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
  private unsorted: string[] = [];
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
      this.unsorted.push(k);
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

  private order(): string[] {
    if (this.unsorted.length > 0) {
      const fresh = this.unsorted.sort();
      const out: string[] = new Array(this.sorted.length + fresh.length);
      let i = 0;
      let j = 0;
      let n = 0;
      while (i < this.sorted.length || j < fresh.length) {
        if (j >= fresh.length || (i < this.sorted.length && this.sorted[i]! < fresh[j]!)) out[n++] = this.sorted[i++]!;
        else out[n++] = fresh[j++]!;
      }
      this.sorted = out;
      this.unsorted = [];
    }
    return this.sorted;
  }

  /** Entries with start <= key < end (end null: no upper bound), in key order. */
  *range(start: Uint8Array, end: Uint8Array | null): Generator<Entry> {
    const keys = this.order();
    const from = keyString(start);
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < keys.length; i++) {
      const e = this.map.get(keys[i]!)!;
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
    this.unsorted = [];
    this.heldBytes = 0;
    this.slab = undefined;
    this.slabUsed = 0;
  }
}

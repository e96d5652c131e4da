// The memtable: the newest version of each recently written key, in memory, until a flush writes
// it out as a run. Point reads are a map lookup; ordered iteration sorts lazily: keys new since
// the last ordered read are sorted on their own and merged into the sorted list, so a write costs
// O(1) and a scan after k new keys costs O(n + k log k).
//
// Bound: `bytes` counts every held entry's encoded size plus a per-entry overhead; the engine
// flushes when it reaches memtableBytesMax, so the memtable never holds much more than that.

import { compareKeys, type Entry, entryBytes, keyString } from './entry.ts';

/** Bookkeeping per entry beyond its bytes (map slot, key string, sorted-list slot), estimated. */
export const MEMTABLE_ENTRY_OVERHEAD_BYTES = 96;

export class Memtable {
  private readonly map = new Map<string, Entry>();
  private sorted: string[] = [];
  private unsorted: string[] = [];
  private heldBytes = 0;

  get bytes(): number {
    return this.heldBytes;
  }
  get size(): number {
    return this.map.size;
  }

  put(e: Entry): void {
    const k = keyString(e.key);
    const previous = this.map.get(k);
    if (previous === undefined) {
      this.unsorted.push(k);
      this.heldBytes += MEMTABLE_ENTRY_OVERHEAD_BYTES + e.key.byteLength;
    } else {
      this.heldBytes -= entryBytes(previous) - previous.key.byteLength;
    }
    this.heldBytes += entryBytes(e) - e.key.byteLength;
    this.map.set(k, e);
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
  }
}

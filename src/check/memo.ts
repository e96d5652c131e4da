// The search's memo of visited configurations: (set of linearized ops, model state id) pairs, as
// in Lowe's "cache" (Testing for linearizability, 2017, §4) and Porcupine's `cache`. A pair seen
// before is known to lead nowhere (the search below it was exhausted), so it is pruned.
//
// Representation (why not a Map of arrays): one open-addressing table of entry indexes over
// typed arrays, and every entry's bitset window packed into one word arena. No per-entry object,
// no per-entry allocation; a lookup is a few array reads. Each entry stores only the window of the
// bitset from `lo` (all words below it are full) to `hi` (all words above it are zero), which keeps
// long histories (100k ops) from storing kilobytes per entry.
//
// Invariants
//   - entries are exact: a hash collision never prunes (windows and state ids are compared);
//   - `count` entries live in the table, and the table is at most half full (so probes end);
//   - the caller bounds `count` (CheckOptions.memoEntriesMax): the memo itself never refuses.
const FULL = 0xffffffff;
/** Initial slots (power of two); the table doubles when half full. Small: most partitions are. */
const SLOTS_INITIAL = 1 << 4;
/** Initial words in the arena; it doubles when full. */
const ARENA_WORDS_INITIAL = 1 << 4;

function grown(array: Int32Array<ArrayBuffer>, length: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(Math.max(length, array.length * 2));
  next.set(array);
  return next;
}

export class VisitedMemo {
  /** Entry index + 1 per slot; 0 = empty. */
  private slots = new Int32Array(SLOTS_INITIAL);
  private entryHash = new Int32Array(SLOTS_INITIAL / 2);
  private entryState = new Int32Array(SLOTS_INITIAL / 2);
  private entryLo = new Int32Array(SLOTS_INITIAL / 2);
  private entryOffset = new Int32Array(SLOTS_INITIAL / 2);
  private entryWords = new Int32Array(SLOTS_INITIAL / 2);
  private arena = new Uint32Array(ARENA_WORDS_INITIAL);
  private arenaUsed = 0;
  count = 0;

  /**
   * True when (bits, stateId) was recorded before; otherwise records it and returns false.
   * `bits` words below `lo` are all full and above `hi` all zero; `hash` covers bits and state.
   */
  seenOrAdd(bits: Uint32Array, lo: number, hi: number, stateId: number, hash: number): boolean {
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    for (;;) {
      const found = this.slots[slot] as number;
      if (found === 0) break;
      const e = found - 1;
      if (this.entryHash[e] === hash && this.entryState[e] === stateId && this.sameWindow(e, bits, lo, hi)) return true;
      slot = (slot + 1) & mask;
    }
    this.add(slot, bits, lo, hi, stateId, hash);
    return false;
  }

  private sameWindow(e: number, bits: Uint32Array, lo: number, hi: number): boolean {
    const eLo = this.entryLo[e] as number;
    const eWords = this.entryWords[e] as number;
    const eHi = eLo + eWords - 1;
    const offset = (this.entryOffset[e] as number) - eLo;
    const arena = this.arena;
    const from = Math.min(eLo, lo);
    const to = Math.max(eHi, hi);
    for (let w = from; w <= to; w++) {
      const stored = w < eLo ? FULL : w > eHi ? 0 : (arena[offset + w] as number);
      if ((bits[w] as number) !== stored) return false;
    }
    return true;
  }

  private add(slot: number, bits: Uint32Array, lo: number, hi: number, stateId: number, hash: number): void {
    const e = this.count;
    if (e === this.entryHash.length) {
      const length = e * 2;
      this.entryHash = grown(this.entryHash, length);
      this.entryState = grown(this.entryState, length);
      this.entryLo = grown(this.entryLo, length);
      this.entryOffset = grown(this.entryOffset, length);
      this.entryWords = grown(this.entryWords, length);
    }
    const words = hi - lo + 1;
    if (this.arenaUsed + words > this.arena.length) {
      const next = new Uint32Array(Math.max(this.arena.length * 2, this.arenaUsed + words));
      next.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = next;
    }
    const arena = this.arena;
    const base = this.arenaUsed - lo;
    for (let w = lo; w <= hi; w++) arena[base + w] = bits[w] as number;
    this.entryHash[e] = hash;
    this.entryState[e] = stateId;
    this.entryLo[e] = lo;
    this.entryOffset[e] = this.arenaUsed;
    this.entryWords[e] = words;
    this.arenaUsed += words;
    this.slots[slot] = e + 1;
    this.count = e + 1;
    if (this.count * 2 > this.slots.length) this.rehash();
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let e = 0; e < this.count; e++) {
      let slot = (this.entryHash[e] as number) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = e + 1;
    }
    this.slots = slots;
  }
}

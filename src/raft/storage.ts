// The storage seam between the Raft core and whatever keeps the log durable.
//
// The core only READS storage, through RaftLogStorageView. The DRIVER writes it: for every Ready
// it applies, in this order, `ready.snapshot` (applySnapshot), `ready.entries` (append, which
// truncates a conflicting suffix first), then `ready.hardState` (setHardState), makes them durable,
// and only then calls `core.advance(ready)`. So storage always holds exactly what is durable, and
// what the core has not yet seen acknowledged lives in the core's own unstable buffer.
//
// Two implementations: MemoryRaftStorage (here; tests, simulator) and the WAL-backed one in
// src/storage (same interfaces, durable).
//
// Log shape kept by every implementation:
//   compacted prefix | (compactedIndex, compactedTerm) | entries compactedIndex+1 .. lastIndex
//   firstIndex() = compactedIndex + 1;  lastIndex() = compactedIndex + entries.length
//   The latest snapshot has meta.index >= compactedIndex (compaction never passes the snapshot).
// Invariants: entry indexes are contiguous; terms never decrease along the log.

import { assert } from '../lib/assert.ts';
import type { ConfState, Entry, HardState, Snapshot } from './types.ts';
import { EMPTY_HARD_STATE, entryBytes } from './types.ts';

/** What the core reads. All methods are synchronous and side-effect free. */
export interface RaftLogStorageView {
  /** The last durable hard state (EMPTY_HARD_STATE on a fresh node). */
  hardState(): HardState;
  /** Index of the first entry still held (compactedIndex + 1). */
  firstIndex(): number;
  /** Index of the last durable entry (compactedIndex when the log is empty). */
  lastIndex(): number;
  /**
   * Term of the entry at `index`, for firstIndex()-1 <= index <= lastIndex() (at firstIndex()-1 it
   * is the compacted term). undefined outside that range (compacted away, or not yet written).
   */
  term(index: number): number | undefined;
  /**
   * Entries [lo, hi), firstIndex() <= lo < hi <= lastIndex()+1, stopping early once their total
   * entryBytes() would exceed `bytesMax` — but always at least one entry.
   */
  entries(lo: number, hi: number, bytesMax: number): Entry[];
  /** The entry at `index` (firstIndex() <= index <= lastIndex()), else undefined. No allocation. */
  entryAt(index: number): Entry | undefined;
  /** The latest snapshot (meta.index 0 and empty data when there is none). */
  snapshot(): Snapshot;
}

/** What the driver calls to persist a Ready. Durable implementations sync before returning (or batch). */
export interface RaftLogStorageWriter {
  /** Replaces the whole log by the snapshot: entries dropped, compactedIndex/term = snapshot's. */
  applySnapshot(snapshot: Snapshot): void;
  /**
   * Discards every held entry with index >= entries[0].index, then appends `entries`. Entries at
   * or below compactedIndex are skipped (already covered by the snapshot). Requires
   * entries[0].index <= lastIndex()+1 and contiguous indexes.
   */
  append(entries: readonly Entry[]): void;
  setHardState(hardState: HardState): void;
  /**
   * Records a state-machine snapshot at `index` (<= lastIndex, >= current snapshot index), taken
   * by the application after applying `index`. confState comes from core.confStateAt(index).
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot;
  /** Drops entries <= index. Requires index <= snapshot().meta.index (never compacts past it). */
  compact(index: number): void;
}

export type RaftLogStorage = RaftLogStorageView & RaftLogStorageWriter;

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/** In-memory twin of the durable log: everything written is "durable" at once. */
export class MemoryRaftStorage implements RaftLogStorage {
  private hs: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = { meta: { index: 0, term: 0, confState: EMPTY_CONF }, data: new Uint8Array(0) };
  private compactedIndex = 0;
  private compactedTerm = 0;
  private ents: Entry[] = [];

  hardState(): HardState {
    return this.hs;
  }

  firstIndex(): number {
    return this.compactedIndex + 1;
  }

  lastIndex(): number {
    return this.compactedIndex + this.ents.length;
  }

  term(index: number): number | undefined {
    if (index === this.compactedIndex) return this.compactedTerm;
    if (index < this.compactedIndex || index > this.lastIndex()) return undefined;
    return this.ents[index - this.compactedIndex - 1]?.term;
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    assert(lo >= this.firstIndex() && lo < hi && hi <= this.lastIndex() + 1, `entries [${lo}, ${hi}) out of range`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - this.compactedIndex - 1];
      assert(e !== undefined, 'entry present');
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(e);
    }
    return out;
  }

  entryAt(index: number): Entry | undefined {
    if (index <= this.compactedIndex) return undefined;
    return this.ents[index - this.compactedIndex - 1];
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  applySnapshot(snapshot: Snapshot): void {
    this.snap = snapshot;
    this.compactedIndex = snapshot.meta.index;
    this.compactedTerm = snapshot.meta.term;
    this.ents = [];
  }

  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    for (let i = 1; i < entries.length; i++) {
      assert(entries[i]!.index === entries[i - 1]!.index + 1, 'appended entries are contiguous');
    }
    const skip = Math.max(0, this.compactedIndex + 1 - first.index);
    if (skip >= entries.length) return;
    const from = first.index + skip;
    this.ents.length = from - this.compactedIndex - 1; // truncate the conflicting suffix
    for (let i = skip; i < entries.length; i++) this.ents.push(entries[i]!);
  }

  setHardState(hardState: HardState): void {
    this.hs = hardState;
  }

  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    assert(index >= this.snap.meta.index, `snapshot at ${index} older than ${this.snap.meta.index}`);
    const term = this.term(index);
    assert(term !== undefined, `no term for snapshot index ${index}`);
    this.snap = { meta: { index, term, confState }, data };
    return this.snap;
  }

  compact(index: number): void {
    if (index <= this.compactedIndex) return;
    assert(index <= this.snap.meta.index, `compact(${index}) past snapshot ${this.snap.meta.index}`);
    const term = this.term(index);
    assert(term !== undefined, `compact(${index}) beyond last index`);
    this.ents = this.ents.slice(index - this.compactedIndex);
    this.compactedIndex = index;
    this.compactedTerm = term;
  }
}

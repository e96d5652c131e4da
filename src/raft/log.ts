// The core's view of the Raft log: durable storage (read-only here) plus the unstable tail —
// entries and possibly a snapshot that were handed out in a Ready but not yet acknowledged
// durable by advance(), or not yet handed out at all.
//
// Invariants:
// - unstable entries start at `offset`; every index < offset is durable in storage (or covered by
//   the unstable snapshot). When there is no unstable entry, offset = lastIndex() + 1.
// - committed <= lastIndex(); applied <= committed; committed never decreases.
// - A committed entry is never truncated (asserted): that would break State Machine Safety.
// - stableLastIndex(): the last index that is durable AND current (storage may still hold a stale
//   suffix pending truncation beyond offset, which never counts).

import { assert } from '../lib/assert.ts';
import type { RaftLogStorageView } from './storage.ts';
import type { Entry, Snapshot } from './types.ts';
import { entryBytes } from './types.ts';

export class RaftLog {
  readonly storage: RaftLogStorageView;
  /** Snapshot received from a leader and not yet acknowledged durable. */
  unstableSnapshot: Snapshot | undefined;
  unstableEntries: Entry[] = [];
  offset: number;
  committed: number;
  applied: number;
  /** Called with every batch written to the tail: entries[0].index is where the log was cut. */
  onWrite: ((entries: readonly Entry[]) => void) | undefined;
  /** PLANTED BUG (mutation 'raft-append-truncates-suffix'): an Append replaces the whole suffix after prevIndex. */
  mutationTruncateSuffix = false;

  constructor(storage: RaftLogStorageView, appliedIndex: number) {
    this.storage = storage;
    this.offset = storage.lastIndex() + 1;
    const hs = storage.hardState();
    this.committed = Math.max(hs.commit, storage.firstIndex() - 1);
    assert(this.committed <= storage.lastIndex(), `hard state commit ${hs.commit} beyond last index`);
    this.applied = appliedIndex;
    assert(
      this.applied >= storage.firstIndex() - 1 && this.applied <= this.committed,
      `applied index ${appliedIndex} outside [${storage.firstIndex() - 1}, ${this.committed}]`,
    );
  }

  firstIndex(): number {
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    const n = this.unstableEntries.length;
    if (n > 0) return this.offset + n - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index;
    return this.offset - 1;
  }

  /** Last index that is durable and belongs to the current log; -1 while a snapshot is unstable. */
  stableLastIndex(): number {
    if (this.unstableSnapshot) return -1;
    return this.offset - 1;
  }

  term(index: number): number | undefined {
    const first = this.firstIndex();
    if (index < first - 1 || index > this.lastIndex()) return undefined;
    if (this.unstableSnapshot && index === this.unstableSnapshot.meta.index) return this.unstableSnapshot.meta.term;
    if (index >= this.offset) return this.unstableEntries[index - this.offset]?.term;
    return this.storage.term(index);
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'last term known');
    return t;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** The entry at `index`, unstable or stored; undefined if compacted or beyond. No allocation. */
  entryAt(index: number): Entry | undefined {
    if (index < this.firstIndex() || index > this.lastIndex()) return undefined;
    if (index >= this.offset) return this.unstableEntries[index - this.offset];
    return this.storage.entryAt(index);
  }

  /**
   * Entries [lo, hi) up to bytesMax (at least one). undefined if lo was compacted away (the caller
   * falls back to a snapshot).
   */
  slice(lo: number, hi: number, bytesMax: number): Entry[] | undefined {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return undefined;
    assert(hi <= this.lastIndex() + 1, `slice hi ${hi} beyond last ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    if (lo < this.offset) {
      const stored = this.storage.entries(lo, Math.min(hi, this.offset), bytesMax);
      for (const e of stored) {
        bytes += entryBytes(e);
        out.push(e);
      }
      if (stored.length < Math.min(hi, this.offset) - lo) return out;
    }
    for (let i = Math.max(lo, this.offset); i < hi; i++) {
      const e = this.unstableEntries[i - this.offset];
      assert(e !== undefined, 'unstable entry present');
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(e);
    }
    return out;
  }

  /** Appends at the end (leader path). Returns the new last index. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    assert(entries[0]!.index === this.lastIndex() + 1, 'leader appends at the end');
    this.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * Follower path (AppendEntries receiver, Figure 2 steps 3–4): given entries following
   * (prevIndex, prevTerm) that match, drop the first conflicting suffix and append what is new.
   * Returns the index of the last new entry, or undefined if (prevIndex, prevTerm) does not match.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    let conflict = this.mutationTruncateSuffix && entries.length > 0 ? entries[0]!.index : 0;
    for (const e of conflict !== 0 ? [] : entries) {
      if (!this.matchTerm(e.index, e.term)) {
        conflict = e.index;
        break;
      }
    }
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} conflicts with committed log (commit ${this.committed})`);
      this.truncateAndAppend(entries.slice(conflict - prevIndex - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  private truncateAndAppend(entries: readonly Entry[]): void {
    this.onWrite?.(entries);
    const after = entries[0]!.index;
    const end = this.offset + this.unstableEntries.length;
    if (after === end) {
      this.unstableEntries.push(...entries);
    } else if (after <= this.offset) {
      // Replaces the whole unstable tail and (once persisted) a stale stored suffix.
      this.offset = after;
      this.unstableEntries = [...entries];
    } else {
      this.unstableEntries = [...this.unstableEntries.slice(0, after - this.offset), ...entries];
    }
  }

  /**
   * Largest index <= `index` whose term is <= `term` (for reject hints and the leader's back-off).
   * Stops at the compacted boundary.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Replaces the log by a snapshot from the leader (follower path). */
  restore(snapshot: Snapshot): void {
    this.unstableSnapshot = snapshot;
    this.unstableEntries = [];
    this.offset = snapshot.meta.index + 1;
    this.committed = snapshot.meta.index;
  }

  /** Entries (applied, min(committed, stable last)] — at most bytesMax (at least one). */
  nextCommittedEntries(bytesMax: number): Entry[] {
    const hi = Math.min(this.committed, this.stableLastIndex());
    if (this.unstableSnapshot || hi <= this.applied) return [];
    return this.slice(this.applied + 1, hi + 1, bytesMax) ?? [];
  }

  /** The driver acknowledged the entries up to (index, term) durable. */
  stableTo(index: number, term: number): void {
    if (index < this.offset) return;
    if (this.term(index) !== term) return; // replaced since; will be persisted again
    this.unstableEntries = this.unstableEntries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot && this.unstableSnapshot.meta.index === index) this.unstableSnapshot = undefined;
  }

  appliedTo(index: number): void {
    assert(
      index >= this.applied && index <= this.committed,
      `applied ${index} outside [${this.applied}, ${this.committed}]`,
    );
    this.applied = index;
  }
}

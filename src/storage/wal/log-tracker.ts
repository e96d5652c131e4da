// The log rules the WAL enforces, in one place: the writer checks every appended record against
// them (a violation is a programmer error in the caller), and recovery replays every stored record
// through them (a violation is corruption). Keeping one implementation means recovery accepts
// exactly what the writer can produce.
//
// Model: the log is a base (index, term) followed by contiguous entries base+1..lastIndex.
//  - ENTRY i: i must be lastIndex + 1; its term must be >= the previous entry's term.
//  - TRUNCATE i: entries i.. are discarded; i <= lastIndex + 1 and i > base (entries covered by a
//    snapshot are committed and can never conflict).
//  - SNAPSHOT (i, t), Raft §7: if the log holds entry i with term t, entries after i are kept;
//    otherwise the whole log is discarded. The base becomes (i, t). A snapshot older than the base
//    is refused.
//  - HARD_STATE: term never decreases; the vote changes only with the term (one vote per term);
//    commit never decreases.
//
// "Unanchored" start: after old segments were released, recovery starts at a segment whose first
// entry is F without knowing the term of entry F-1. The base is then (F-1, unknown) until a
// SNAPSHOT record at or beyond F-1 anchors it; while unanchored, a stale snapshot marker (older
// than the base, repeated from a segment header) is ignored and a truncation may lower the base.
// Recovery refuses to finish unanchored: that means a needed segment is missing.
//
// Terms are stored as runs (start index, term), so the writer side tracks a long log in O(terms).

import type { WalHardState } from './record.ts';

interface TermRun {
  /** First index of the run. */
  start: number;
  term: number;
}

export class LogTracker {
  private base: number;
  /** Term of the base entry; null = unknown (unanchored start). */
  private baseTermOrNull: number | null;
  private last: number;
  private readonly runs: TermRun[] = [];

  constructor(baseIndex: number, baseTerm: number | null) {
    this.base = baseIndex;
    this.baseTermOrNull = baseTerm;
    this.last = baseIndex;
  }

  clone(): LogTracker {
    const copy = new LogTracker(this.base, this.baseTermOrNull);
    copy.last = this.last;
    for (const run of this.runs) copy.runs.push({ ...run });
    return copy;
  }

  get baseIndex(): number {
    return this.base;
  }
  get baseTerm(): number | null {
    return this.baseTermOrNull;
  }
  get anchored(): boolean {
    return this.baseTermOrNull !== null;
  }
  get lastIndex(): number {
    return this.last;
  }
  get lastTerm(): number | null {
    return this.last === this.base ? this.baseTermOrNull : this.runs[this.runs.length - 1]!.term;
  }

  /** Term of entry `index` if the log knows it (base included). */
  term(index: number): number | undefined {
    if (index === this.base) return this.baseTermOrNull ?? undefined;
    if (index < this.base || index > this.last) return undefined;
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runs[mid]!.start <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.runs[lo]!.term;
  }

  /** Returns why `entry` may not follow, or undefined when it may. */
  checkEntry(index: number, term: number): string | undefined {
    if (index !== this.last + 1) return `entry ${index} does not follow last index ${this.last}`;
    const previous = this.lastTerm;
    if (previous !== null && term < previous) return `entry ${index} has term ${term} below previous ${previous}`;
    return undefined;
  }

  appendEntry(index: number, term: number): void {
    const last = this.runs[this.runs.length - 1];
    if (last === undefined || last.term !== term) this.runs.push({ start: index, term });
    this.last = index;
  }

  checkTruncate(fromIndex: number): string | undefined {
    if (fromIndex < 1) return `truncate from ${fromIndex}: indexes start at 1`;
    if (fromIndex > this.last + 1) return `truncate from ${fromIndex} beyond last index ${this.last}`;
    if (this.anchored && fromIndex <= this.base) {
      return `truncate from ${fromIndex} reaches into the snapshot at ${this.base}`;
    }
    return undefined;
  }

  truncateFrom(fromIndex: number): void {
    if (fromIndex <= this.base) {
      // Only while unanchored (checked): the base moves down and its term is still unknown.
      this.base = fromIndex - 1;
      this.runs.length = 0;
    } else {
      while (this.runs.length > 0 && this.runs[this.runs.length - 1]!.start >= fromIndex) this.runs.pop();
    }
    this.last = Math.min(this.last, fromIndex - 1);
  }

  checkSnapshot(index: number, _term: number): string | undefined {
    if (this.anchored && index < this.base) return `snapshot at ${index} is older than the log base ${this.base}`;
    return undefined;
  }

  /** Returns true when the log's content changed (false for an ignored stale marker). */
  applySnapshot(index: number, term: number): boolean {
    if (!this.anchored && index < this.base) return false;
    if (this.term(index) === term || (!this.anchored && index === this.base)) {
      // Keep the suffix after `index`.
      while (this.runs.length > 0 && this.runs[0]!.start <= index) {
        const next = this.runs[1];
        if (next !== undefined && next.start <= index + 1) this.runs.shift();
        else {
          this.runs[0]!.start = index + 1;
          break;
        }
      }
      if (this.last === index) this.runs.length = 0;
    } else {
      this.runs.length = 0;
      this.last = index;
    }
    this.base = index;
    this.baseTermOrNull = term;
    return true;
  }
}

/** Returns why `next` may not replace `previous` as the hard state, or undefined. */
export function checkHardStateTransition(previous: WalHardState | null, next: WalHardState): string | undefined {
  if (previous === null) return undefined;
  if (next.term < previous.term) return `hard state term went back from ${previous.term} to ${next.term}`;
  if (next.term === previous.term && previous.vote !== '' && next.vote !== previous.vote) {
    return `vote changed from ${previous.vote} to ${next.vote} within term ${next.term}`;
  }
  if (next.commit < previous.commit) return `commit went back from ${previous.commit} to ${next.commit}`;
  return undefined;
}

// The k-way merge shared by scans and compaction: sources are given newest first (memtable, then
// runs from the newest), each in key order (or each in descending order, for a reverse scan); the merge yields each key once, taking the version of
// the newest source that holds it (sources hold disjoint seq ranges, newer sources higher seqs),
// and skips the shadowed versions. k is small (the live runs, bounded by compactionRunsMax), so
// the minimum is found by a linear pass instead of a heap.

import { compareKeys, type Entry } from './entry.ts';

export interface EntrySource {
  /** The next entry, or undefined when exhausted. */
  peek(): Entry | undefined;
  advance(): void;
}

/** Adapts an iterator (the memtable's range) to a source. */
export function iteratorSource(it: Iterator<Entry>): EntrySource {
  let head = it.next();
  return {
    peek: () => (head.done === true ? undefined : head.value),
    advance: () => {
      head = it.next();
    },
  };
}

export class MergeCursor {
  /** `descending`: the sources are in descending key order, and so is the merge (reverse scans). */
  constructor(
    private readonly sources: readonly EntrySource[],
    private readonly descending = false,
  ) {}

  /** The next key's newest version, or undefined when every source is exhausted. */
  next(): Entry | undefined {
    let best: Entry | undefined;
    const sign = this.descending ? -1 : 1;
    for (const s of this.sources) {
      const e = s.peek();
      if (e === undefined) continue;
      if (best === undefined || sign * compareKeys(e.key, best.key) < 0) best = e;
    }
    if (best === undefined) return undefined;
    for (const s of this.sources) {
      const e = s.peek();
      if (e !== undefined && compareKeys(e.key, best.key) === 0) s.advance();
    }
    return best;
  }
}

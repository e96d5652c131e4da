// WAL replay: rebuilds the entry log, the latest hard state and the latest snapshot marker from the
// segments the generic log recovers (src/storage/log/recover.ts: ordering, re-reads, CRCs, the
// never-synced tail), segment by segment, oldest first.
//
// Invariants enforced here (each violation is a CorruptionError naming the segment and, where there
// is one, the byte offset — never a silent skip):
//  - each segment after the first starts exactly where the log left off (firstIndex = lastIndex + 1);
//  - every record obeys the log rules of log-tracker.ts;
//  - the recovered log must be anchored (its base covered by a snapshot marker or at index 0),
//    otherwise a released-too-early or missing segment left a hole.
// The log's own rules (seq gaps, headers, sealed segments, what of the final batch may be cut) are
// src/storage/log's.

import { corruptSegment, type SegmentVisit } from '../log/recover.ts';
import { checkHardStateTransition, LogTracker } from './log-tracker.ts';
import type { WalClientRecord, WalHardState } from './record.ts';

export type { TailRepair } from '../log/recover.ts';

export interface WalEntry {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

export interface SnapshotMarker {
  readonly index: number;
  readonly term: number;
}

/** The WAL's state as recovery replays it; `visit` takes one recovered segment at a time. */
export class WalReplay {
  tracker = new LogTracker(0, 0);
  /** Entries by position: entries[i] has index tracker.baseIndex + 1 + i. */
  entries: WalEntry[] = [];
  hardState: WalHardState | null = null;
  snapshot: SnapshotMarker | null = null;
  private firstSegment: string | null = null;

  readonly visit = (v: SegmentVisit<WalClientRecord>): void => {
    const seg = v.segment;
    if (this.firstSegment === null) {
      this.firstSegment = seg.name;
      this.tracker = seg.base === 1 ? new LogTracker(0, 0) : new LogTracker(seg.base - 1, null);
    } else if (this.tracker.lastIndex !== seg.base - 1) {
      throw corruptSegment(seg.name, 0, `segment starts at ${seg.base} but the log ends at ${this.tracker.lastIndex}`);
    }
    for (const { record, offset } of v.records) {
      const violation = this.applyRecord(record);
      if (violation !== undefined) throw corruptSegment(seg.name, offset, violation);
    }
  };

  /** Throws unless the replayed log is anchored (see the file header). */
  finish(): void {
    if (!this.tracker.anchored) {
      throw corruptSegment(
        this.firstSegment ?? '',
        undefined,
        `the log starts after index ${this.tracker.baseIndex} but no snapshot marker covers it: an earlier segment is missing`,
      );
    }
  }

  private applyRecord(record: WalClientRecord): string | undefined {
    const tracker = this.tracker;
    switch (record.type) {
      case 'entry': {
        const why = tracker.checkEntry(record.index, record.term);
        if (why !== undefined) return why;
        tracker.appendEntry(record.index, record.term);
        this.entries.push({ index: record.index, term: record.term, data: record.data });
        return undefined;
      }
      case 'truncate': {
        const why = tracker.checkTruncate(record.fromIndex);
        if (why !== undefined) return why;
        const keep = record.fromIndex - 1 - tracker.baseIndex;
        tracker.truncateFrom(record.fromIndex);
        this.entries.length = Math.max(0, Math.min(this.entries.length, keep));
        return undefined;
      }
      case 'snapshot': {
        const why = tracker.checkSnapshot(record.index, record.term);
        if (why !== undefined) return why;
        const oldBase = tracker.baseIndex;
        if (this.snapshot === null || record.index >= this.snapshot.index) {
          this.snapshot = { index: record.index, term: record.term };
        }
        if (tracker.applySnapshot(record.index, record.term)) {
          // Suffix kept (the log held entry index with this term) or the whole log discarded.
          this.entries = tracker.lastIndex > record.index ? this.entries.slice(record.index - oldBase) : [];
        }
        return undefined;
      }
      case 'hardState': {
        const why = checkHardStateTransition(this.hardState, record.state);
        if (why !== undefined) return why;
        this.hardState = record.state;
        return undefined;
      }
    }
  }
}

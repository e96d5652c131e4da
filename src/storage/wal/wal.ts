// The Raft write-ahead log: a client of the generic segmented log (src/storage/log), which owns
// segments, framing, CRCs, group commit, rolling, the never-synced tail and retention. This file
// owns what the records mean: the Raft log rules every append is checked against, the header
// each new segment restates (hard state, snapshot marker), replay at open (recover.ts), and
// release of segments below a durable snapshot.
//
// Durability contract (binds every caller):
//  - `append(records)` only buffers. Nothing appended is durable, and nothing may be acknowledged
//    to anyone (a vote granted, an AppendEntries answered, a client told "committed"), until a
//    `sync()` returns a SyncMark whose `lsn` covers it. `sync()` is synchronous: when it returns,
//    every record appended before the call is on disk (fdatasync returned) and will be recovered.
//  - Hard state in particular (term, vote, commit) must be appended and synced BEFORE the vote or
//    append it enables is acknowledged. Raft's safety rests on this (a node that forgets its vote
//    may vote twice in one term).
//  - If a write or fdatasync fails, the WAL is poisoned: every later call throws the same error.
//    After a failed fsync the kernel may have dropped the dirty pages, so retrying could report
//    success for data that is gone ("fsyncgate"); the process must restart and recover instead.
//    ENOSPC is no different (typed `disk_no_space`): a half-written batch is never acknowledged,
//    and recovery cuts it as an unsynced tail.
//
// After a failed fdatasync, Wal.open re-persists the final batch of the last segment and syncs the
// directory before anything recovered is used (the rule and its cost: src/storage/log/log.ts). If
// the device still fails, the open fails and the node stays down (exit 2). Every batch ends with a
// SYNC record, so recovery never cuts into synced bytes (src/storage/log/segment.ts).
//
// On-disk invariants:
//  - every segment starts with SEGMENT(seq, firstIndex, headerRecords), then the current HARD_STATE
//    and SNAPSHOT (when there are any), so any suffix of segments carries the latest of both;
//  - a segment is created atomically (header written to a temp file, fdatasync, rename, syncDir),
//    so a named segment always has its complete header;
//  - a segment is sealed (fdatasync'd in full) before its successor is created;
//  - releaseTo(i) removes only whole segments whose entries are all <= i, oldest first, and only
//    when a synced snapshot marker covers i; the remaining segments start at a seq without gaps.
//
// Bounds: walSegmentBytesMax (rotation), walRecordPayloadBytesMax (one record), walPendingBytesMax
// (appended but not yet synced; beyond it append throws LimitError: call sync()).

import type { Clock, Disk, Logger, Metrics } from '../../env/types.ts';
import { assert } from '../../lib/assert.ts';
import type { Mutations } from '../../lib/mutations.ts';
import {
  type LogRecord,
  SegmentedLog,
  type SegmentStart,
  type SyncMark,
  validateSegmentedLogOptions,
} from '../log/log.ts';
import { checkHardStateTransition, type LogTracker } from './log-tracker.ts';
import {
  encodeWalPayload,
  type WalClientRecord,
  type WalHardState,
  type WalRecord,
  walCodec,
  walRecordWriter,
} from './record.ts';
import { type SnapshotMarker, type TailRepair, type WalEntry, WalReplay } from './recover.ts';
import { WAL_SEGMENT_SUFFIX } from './segment.ts';
import { limits } from '../../lib/limits.ts';

export type { SnapshotMarker, SyncMark, TailRepair, WalEntry, WalHardState, WalRecord };

export interface WalOptions {
  /** Directory of the segments, relative to the Disk's root. */
  readonly dir: string;
  /** A segment is rotated when the next record would take it past this size. */
  readonly segmentBytesMax: number;
  /** Largest payload of one record (an entry's data + 16 bytes). */
  readonly recordPayloadBytesMax: number;
  /** Bytes appended but not yet synced; append beyond this throws LimitError. */
  readonly pendingBytesMax: number;
  /** Grow the open segment ahead of its writes by up to this much (0 or absent: no preallocation). */
  readonly preallocateBytesMax?: number;
}

export const walDefaults = {
  segmentBytesMax: limits.walSegmentBytesMax,
  recordPayloadBytesMax: limits.walRecordPayloadBytesMax,
  pendingBytesMax: limits.walPendingBytesMax,
  // On by default since 2026-12-06, in real nodes and the simulator alike (docs/ARCHITECTURE.md,
  // "Preallocation"): an fdatasync that has no file size to journal is the c=1 write's shorter
  // wait (ZooKeeper's c=1 setData and delete p50 -5 and -11 % in five interleaved rounds).
  preallocateBytesMax: limits.walPreallocateBytesMax,
} as const;

/** The WAL replays everything at open and never reads by key: no keys, no index. */
function logOptions(o: WalOptions) {
  return { ...o, suffix: WAL_SEGMENT_SUFFIX, keys: 'none' as const, indexIntervalBytes: 1 };
}

export function validateWalOptions(o: WalOptions): void {
  validateSegmentedLogOptions(logOptions(o), 'wal');
}

/** What the WAL needs from the Env. */
export interface WalComponents {
  readonly disk: Disk;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Planted bugs (src/lib/mutations.ts), from env.mutations; absent = none. */
  readonly mutations?: Mutations;
}

/** The state the WAL held when it was opened. */
export interface WalRecovery {
  /** Entries after the snapshot marker (or from index 1), in order. */
  readonly entries: WalEntry[];
  readonly hardState: WalHardState | null;
  readonly snapshot: SnapshotMarker | null;
  /** Index of the log's base: the snapshot index, or 0. */
  readonly baseIndex: number;
  readonly baseTerm: number;
  /** The torn or zero-filled tail that was cut off, if any. */
  readonly tailRepair: TailRepair | null;
}

/** A new segment starts at the next index and restates the hard state and snapshot marker. */
function segmentStartAt(
  lastIndex: number,
  hardState: WalHardState | null,
  snapshot: SnapshotMarker | null,
): SegmentStart {
  const header: LogRecord[] = [];
  if (hardState !== null) header.push(encodeWalPayload({ type: 'hardState', state: hardState }));
  if (snapshot !== null) header.push(encodeWalPayload({ type: 'snapshot', ...snapshot }));
  return { base: lastIndex + 1, header };
}

export class Wal {
  private readonly log: SegmentedLog<WalClientRecord>;

  /** Logical state including pending records (what append validates against). */
  private readonly tracker: LogTracker;
  private hardState: WalHardState | null;
  private snapshot: SnapshotMarker | null;
  private durableSnapshot: SnapshotMarker | null;

  /** Per pending record, the state before it: a segment created at that record restates it. */
  private lastIndexBefore: number[] = [];
  private hardStateBefore: (WalHardState | null)[] = [];
  private snapshotBefore: (SnapshotMarker | null)[] = [];

  private constructor(log: SegmentedLog<WalClientRecord>, replay: WalReplay) {
    this.log = log;
    this.tracker = replay.tracker.clone();
    this.hardState = replay.hardState;
    this.snapshot = replay.snapshot;
    this.durableSnapshot = this.snapshot;
  }

  /**
   * Recovers the WAL in `options.dir` (creating it if absent), repairs an unsynced tail (truncate,
   * logged and counted), re-persists the final batch (see "After a failed fdatasync" above), and
   * opens it for appending. Throws CorruptionError, naming segment and offset, for any defect that
   * truncation cannot safely fix, and the disk's error if the device fails.
   */
  static open(components: WalComponents, options: WalOptions): { wal: Wal; recovery: WalRecovery } {
    validateWalOptions(options);
    const mutations = components.mutations;
    const replay = new WalReplay();
    // The log asks for a segment's start while it opens (the first segment of an empty directory)
    // and then during syncs; until the Wal exists the replayed state is the written state.
    let wal: Wal | null = null;
    const client = {
      ...walCodec,
      segmentStart: (lsn: number): SegmentStart =>
        wal !== null
          ? wal.segmentStart(lsn)
          : segmentStartAt(replay.tracker.lastIndex, replay.hardState, replay.snapshot),
    };
    const opened = SegmentedLog.open(components, logOptions(options), client, {
      name: 'wal',
      bugs: {
        skipFsync: mutations?.has('wal-skip-fsync') === true,
        trustTornTail: mutations?.has('wal-trust-torn-tail') === true,
        trustPageCache: mutations?.has('wal-trust-page-cache') === true,
        keepTornTail: mutations?.has('wal-repair-skip-truncate') === true,
        readErrorAsEof: mutations?.has('wal-read-error-as-eof') === true,
      },
      visit: replay.visit,
      scanned: () => replay.finish(),
    });
    wal = new Wal(opened.log, replay);
    const baseTerm = replay.tracker.baseTerm;
    assert(baseTerm !== null, 'recovery returns an anchored log');
    return {
      wal,
      recovery: {
        entries: replay.entries,
        hardState: replay.hardState,
        snapshot: replay.snapshot,
        baseIndex: replay.tracker.baseIndex,
        baseTerm,
        tailRepair: opened.tailRepair,
      },
    };
  }

  /** The start of a segment created before record `lsn` (pending) or after everything written. */
  private segmentStart(lsn: number): SegmentStart {
    const i = lsn - this.log.durableLsn - 1;
    if (i >= 0 && i < this.lastIndexBefore.length) {
      return segmentStartAt(this.lastIndexBefore[i]!, this.hardStateBefore[i]!, this.snapshotBefore[i]!);
    }
    return segmentStartAt(this.tracker.lastIndex, this.hardState, this.snapshot);
  }

  /** Last entry index including pending (unsynced) records. */
  get lastIndex(): number {
    return this.tracker.lastIndex;
  }
  /** Index of the log's base (latest snapshot marker, pending included; 0 = none). */
  get baseIndex(): number {
    return this.tracker.baseIndex;
  }
  /** Lsn of the last record appended (durable or not). */
  get lastLsn(): number {
    return this.log.lastLsn;
  }
  /** Lsn up to which records are durable. */
  get durableLsn(): number {
    return this.log.durableLsn;
  }
  /** The newest snapshot marker that is durable (null = none). */
  get durableSnapshotMarker(): SnapshotMarker | null {
    return this.durableSnapshot;
  }
  /** Index of the newest snapshot marker that is durable (0 = none): releaseTo may go this far. */
  get durableSnapshotIndex(): number {
    return this.durableSnapshot?.index ?? 0;
  }
  get pendingRecordCount(): number {
    return this.log.pendingRecordCount;
  }
  /** Segments on disk, oldest first (for tests and status). */
  segmentNames(): string[] {
    return this.log.segmentNames();
  }

  /**
   * Buffers records for the next sync. Validates them against the log rules (log-tracker.ts): a
   * violation is a programmer error and throws AssertionError without buffering anything.
   * Throws LimitError when the unsynced bytes would exceed pendingBytesMax (nothing is buffered).
   * Returns the lsn of the last record: durable once a SyncMark covers it.
   */
  append(records: readonly WalRecord[]): number {
    this.log.checkUsable();
    for (const r of records) {
      assert(r.type !== 'segment' && r.type !== 'sync', 'SEGMENT and SYNC records are written by the WAL itself');
    }
    // Validate all against a scratch copy first, so a bad batch leaves no trace.
    const scratch = this.tracker.clone();
    let hs = this.hardState;
    for (const r of records) {
      const why = applyToTracker(scratch, r as WalClientRecord, hs);
      assert(why === undefined, `wal append: ${why}`);
      if (r.type === 'hardState') hs = r.state;
    }
    const lsn = this.log.appendWith(records as readonly WalClientRecord[], walRecordWriter); // throws (LimitError, a poisoned log) before buffering anything
    for (const r of records as readonly WalClientRecord[]) {
      this.lastIndexBefore.push(this.tracker.lastIndex);
      this.hardStateBefore.push(this.hardState);
      this.snapshotBefore.push(this.snapshot);
      applyToTracker(this.tracker, r, this.hardState);
      if (r.type === 'hardState') this.hardState = r.state;
      if (r.type === 'snapshot') this.snapshot = { index: r.index, term: r.term };
    }
    return lsn;
  }

  /**
   * Writes every buffered record and fdatasyncs (once per segment touched; twice plus a syncDir
   * when the batch crosses a rotation). Returns only after the data is durable.
   */
  sync(): SyncMark {
    const mark = this.log.sync();
    this.lastIndexBefore = [];
    this.hardStateBefore = [];
    this.snapshotBefore = [];
    this.durableSnapshot = this.snapshot;
    return mark;
  }

  /**
   * Removes sealed segments whose entries are all <= `index`, oldest first, then syncs the
   * directory. `index` must be covered by a durable snapshot marker. Returns how many were removed.
   */
  releaseTo(index: number): number {
    const snap = this.durableSnapshot;
    assert(snap !== null && index <= snap.index, `wal release to ${index} is not covered by a durable snapshot`);
    // Entries in a segment are all below its successor's firstIndex.
    return this.log.releaseBelow(index + 1);
  }

  /** Closes the open segment. Unsynced records are dropped (they were never acknowledged). */
  close(): void {
    this.log.close();
  }
}

/** Applies `r` to `tracker` if the log rules allow it; returns the violation otherwise. */
function applyToTracker(tracker: LogTracker, r: WalClientRecord, hardState: WalHardState | null): string | undefined {
  switch (r.type) {
    case 'entry': {
      const why = tracker.checkEntry(r.index, r.term);
      if (why === undefined) tracker.appendEntry(r.index, r.term);
      return why;
    }
    case 'truncate': {
      const why = tracker.checkTruncate(r.fromIndex);
      if (why === undefined) tracker.truncateFrom(r.fromIndex);
      return why;
    }
    case 'snapshot': {
      const why = tracker.checkSnapshot(r.index, r.term);
      if (why === undefined) tracker.applySnapshot(r.index, r.term);
      return why;
    }
    case 'hardState':
      return checkHardStateTransition(hardState, r.state);
  }
}

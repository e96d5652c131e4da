// The segmented write-ahead log: append buffers, sync writes the batch and fdatasyncs once (group
// commit), recovery runs at open, old segments are released after a snapshot.
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
// After a failed fdatasync (the rule for the restart): the batch's bytes may still sit in the page
// cache, marked clean but never written, so a restarted process (same boot) reads them back and
// would trust a batch no device holds. Node has no O_DIRECT to read past the cache, and a second
// fdatasync of clean pages writes nothing. So Wal.open re-persists the final batch of the last
// segment — the only batch whose fdatasync can have failed, since the process exits at the first
// failure — by writing its bytes again at the same offset (which dirties the pages) and
// fdatasyncing, before anything recovered is used; it also syncs the directory on every open, for a segment
// whose rename's syncDir failed. If the device still fails, the open fails and the node stays down
// (exit 2). Cost: one rewrite of at most one batch and two fsyncs per open.
//
// Sync markers: every batch written to a segment ends with a SYNC record (record.ts), so recovery
// knows which bytes were synced and never cuts into them (segment.ts).
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

import type { Clock, Counter, Disk, DiskFile, Histogram, Logger, Metrics } from '../../env/types.ts';
import { assert } from '../../lib/assert.ts';
import { ConfigError, LimitError } from '../../lib/errors.ts';
import { mkdirpDurable } from '../../env/disk-io.ts';
import type { Mutations } from '../../lib/mutations.ts';
import { checkHardStateTransition, type LogTracker } from './log-tracker.ts';
import {
  encodedRecordBytes,
  encodeRecord,
  RECORD_HEADER_BYTES,
  SYNC_ZERO_PIECES_MAX,
  type WalHardState,
  type WalRecord,
} from './record.ts';
import { type RecoveredWal, recoverWal, type SnapshotMarker, type TailRepair, type WalEntry } from './recover.ts';
import { HEAD_ZERO_PIECE_BYTES_MIN, SEGMENT_TEMP_SUFFIX, segmentFileName, zeroPieces } from './segment.ts';
import { limits } from '../../lib/limits.ts';

export type { SnapshotMarker, TailRepair, WalEntry, WalHardState, WalRecord };

export interface WalOptions {
  /** Directory of the segments, relative to the Disk's root. */
  readonly dir: string;
  /** A segment is rotated when the next record would take it past this size. */
  readonly segmentBytesMax: number;
  /** Largest payload of one record (an entry's data + 16 bytes). */
  readonly recordPayloadBytesMax: number;
  /** Bytes appended but not yet synced; append beyond this throws LimitError. */
  readonly pendingBytesMax: number;
}

export const walDefaults = {
  segmentBytesMax: limits.walSegmentBytesMax,
  recordPayloadBytesMax: limits.walRecordPayloadBytesMax,
  pendingBytesMax: limits.walPendingBytesMax,
} as const;

export function validateWalOptions(o: WalOptions): void {
  const positive = (field: keyof WalOptions, v: number): void => {
    if (!Number.isSafeInteger(v) || v <= 0) throw new ConfigError(`wal.${field}`, 'must be a positive integer');
  };
  positive('segmentBytesMax', o.segmentBytesMax);
  positive('recordPayloadBytesMax', o.recordPayloadBytesMax);
  positive('pendingBytesMax', o.pendingBytesMax);
  if (o.recordPayloadBytesMax > 0xffff_ffff) throw new ConfigError('wal.recordPayloadBytesMax', 'must fit in u32');
  // A full-size record must fit in a fresh segment after its header records, with room to spare.
  if (o.recordPayloadBytesMax + RECORD_HEADER_BYTES > o.segmentBytesMax / 2) {
    throw new ConfigError('wal.recordPayloadBytesMax', 'must be at most half of segmentBytesMax (minus a header)');
  }
  if (o.pendingBytesMax < o.recordPayloadBytesMax + RECORD_HEADER_BYTES) {
    throw new ConfigError('wal.pendingBytesMax', 'must hold at least one full-size record');
  }
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

/** Bytes of the SYNC record that ends every batch. */
const SYNC_RECORD_BYTES = encodedRecordBytes({ type: 'sync', batch: 0, batchStart: 0, batchBytes: 0 });

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

declare const syncMarkBrand: unique symbol;
/**
 * Proof that records are durable: only `Wal.sync()` makes one. Every record appended up to and
 * including lsn `lsn` (lsns count records appended since open, from 1) survives a crash.
 */
export interface SyncMark {
  readonly lsn: number;
  readonly [syncMarkBrand]: true;
}

interface Pending {
  readonly bytes: Uint8Array;
  /** lastIndex / hard state / snapshot marker before this record: a segment created here needs them. */
  readonly lastIndexBefore: number;
  readonly hardStateBefore: WalHardState | null;
  readonly snapshotBefore: SnapshotMarker | null;
}

interface OpenSegment {
  readonly seq: number;
  readonly firstIndex: number;
  readonly file: DiskFile;
  bytes: number;
  /** Records after the segment's header records (SYNC records not counted). */
  bodyRecords: number;
  /** SYNC batches written to this segment. */
  batches: number;
}

interface ClosedSegment {
  readonly seq: number;
  readonly firstIndex: number;
  readonly name: string;
}

interface WalMetrics {
  readonly syncs: Counter;
  readonly syncLatencyMs: Histogram;
  readonly bytesWritten: Counter;
  readonly records: Counter;
  readonly segmentsCreated: Counter;
  readonly segmentsReleased: Counter;
  readonly tailRepairs: Counter;
}

export class Wal {
  private readonly disk: Disk;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly metrics: WalMetrics;
  private readonly options: WalOptions;

  /** Sealed segments, oldest first (the open one is `current`). */
  private readonly sealed: ClosedSegment[] = [];
  private current: OpenSegment;

  /** Logical state including pending records (what append validates against). */
  private readonly tracker: LogTracker;
  private hardState: WalHardState | null;
  private snapshot: SnapshotMarker | null;
  /** Logical state of what is written to disk (what a new segment's header repeats). */
  private writtenLastIndex: number;
  private writtenHardState: WalHardState | null;
  private writtenSnapshot: SnapshotMarker | null;
  private durableSnapshot: SnapshotMarker | null;

  private pending: Pending[] = [];
  private pendingBytes = 0;
  private appendedLsn = 0;
  private syncedLsn = 0;
  private failure: unknown = null;
  private closed = false;
  /** Planted bug 'wal-skip-fsync'. */
  private readonly skipFsync: boolean;

  private constructor(components: WalComponents, options: WalOptions, recovered: RecoveredWal) {
    this.disk = components.disk;
    this.clock = components.clock;
    this.log = components.log.child({ component: 'wal', dir: options.dir });
    this.options = options;
    this.skipFsync = components.mutations?.has('wal-skip-fsync') === true;
    const m = components.metrics;
    this.metrics = {
      syncs: m.counter('wal_syncs_total', 'WAL group commits (one fdatasync of the open segment each)'),
      syncLatencyMs: m.histogram('wal_sync_latency_ms', 'Time to write and fdatasync one WAL batch'),
      bytesWritten: m.counter('wal_written_bytes_total', 'Bytes written to WAL segments'),
      records: m.counter('wal_records_total', 'Records appended to the WAL'),
      segmentsCreated: m.counter('wal_segments_created_total', 'WAL segments created'),
      segmentsReleased: m.counter('wal_segments_released_total', 'WAL segments removed after a snapshot'),
      tailRepairs: m.counter('wal_tail_repairs_total', 'Unsynced WAL tails truncated at recovery'),
    };
    this.tracker = recovered.tracker.clone();
    this.hardState = recovered.hardState;
    this.snapshot = recovered.snapshot;
    this.writtenLastIndex = this.tracker.lastIndex;
    this.writtenHardState = this.hardState;
    this.writtenSnapshot = this.snapshot;
    this.durableSnapshot = this.snapshot;

    const segments = recovered.segments;
    for (const s of segments.slice(0, -1)) this.sealed.push({ seq: s.seq, firstIndex: s.firstIndex, name: s.name });
    const tail = segments.at(-1);
    if (tail === undefined) {
      this.current = this.createSegment(0);
    } else {
      const file = this.disk.open(`${options.dir}/${tail.name}`, { create: false });
      this.current = {
        seq: tail.seq,
        firstIndex: tail.firstIndex,
        file,
        bytes: file.size(),
        bodyRecords: 1,
        batches: tail.batches,
      };
    }
  }

  /**
   * Recovers the WAL in `options.dir` (creating it if absent), repairs an unsynced tail (truncate,
   * logged and counted), re-persists the final batch (see "After a failed fdatasync" above), and
   * opens it for appending. Throws CorruptionError, naming segment and offset, for any defect that
   * truncation cannot safely fix, and the disk's error if the device fails.
   */
  static open(components: WalComponents, options: WalOptions): { wal: Wal; recovery: WalRecovery } {
    validateWalOptions(options);
    const { disk, log, metrics } = components;
    mkdirpDurable(disk, options.dir);
    const mutations = components.mutations;
    const recovered = recoverWal(disk, options.dir, {
      payloadBytesMax: options.recordPayloadBytesMax,
      trustTornTail: mutations?.has('wal-trust-torn-tail') === true,
    });
    for (const name of recovered.foreignFiles) log.warn({ dir: options.dir, name }, 'wal: ignoring a foreign file');
    for (const name of recovered.unfinishedFiles) {
      // A crash while creating a segment: never renamed into place, so nothing in it was acknowledged.
      disk.remove(`${options.dir}/${name}`);
      log.warn({ dir: options.dir, name }, 'wal: removed an unfinished segment');
    }
    const repair = recovered.tailRepair;
    const final = mutations?.has('wal-trust-page-cache') === true ? null : recovered.finalBatch;
    if (repair !== null || final !== null) {
      const segment = repair?.segment ?? final!.segment;
      const file = disk.open(`${options.dir}/${segment}`, { create: false });
      try {
        if (repair !== null) file.truncate(repair.offset);
        // Same bytes, same place: dirties pages a failed fdatasync may have left clean but unwritten.
        if (final !== null) file.writeAt(final.offset, final.bytes);
        file.sync();
      } finally {
        file.close();
      }
      if (repair !== null) {
        metrics.counter('wal_tail_repairs_total', 'Unsynced WAL tails truncated at recovery').inc();
        log.warn({ ...repair }, 'wal: truncated an unsynced torn tail at recovery');
      }
    }
    // Always: a crash between a segment's rename and its syncDir leaves a directory entry that a
    // power loss can still drop, and the batches acknowledged from now on go into that file. This
    // also makes the removal of unfinished files durable.
    disk.syncDir(options.dir);
    const wal = new Wal(components, options, recovered);
    const baseTerm = recovered.tracker.baseTerm;
    assert(baseTerm !== null, 'recovery returns an anchored log');
    return {
      wal,
      recovery: {
        entries: recovered.entries,
        hardState: recovered.hardState,
        snapshot: recovered.snapshot,
        baseIndex: recovered.tracker.baseIndex,
        baseTerm,
        tailRepair: repair,
      },
    };
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
    return this.appendedLsn;
  }
  /** Lsn up to which records are durable. */
  get durableLsn(): number {
    return this.syncedLsn;
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
    return this.pending.length;
  }
  /** Segments on disk, oldest first (for tests and status). */
  segmentNames(): string[] {
    return [...this.sealed.map((s) => s.name), segmentFileName(this.current.seq, this.current.firstIndex)];
  }

  /**
   * Buffers records for the next sync. Validates them against the log rules (log-tracker.ts): a
   * violation is a programmer error and throws AssertionError without buffering anything.
   * Throws LimitError when the unsynced bytes would exceed pendingBytesMax (nothing is buffered).
   * Returns the lsn of the last record: durable once a SyncMark covers it.
   */
  append(records: readonly WalRecord[]): number {
    this.checkUsable();
    const encoded = records.map((r) => {
      assert(r.type !== 'segment' && r.type !== 'sync', 'SEGMENT and SYNC records are written by the WAL itself');
      const bytes = encodeRecord(r);
      assert(bytes.byteLength - RECORD_HEADER_BYTES <= this.options.recordPayloadBytesMax, 'wal record too large');
      return bytes;
    });
    const total = encoded.reduce((n, b) => n + b.byteLength, 0);
    if (this.pendingBytes + total > this.options.pendingBytesMax) {
      throw new LimitError('walPendingBytesMax', `wal: ${this.pendingBytes + total} unsynced bytes; sync first`);
    }
    // Validate all against a scratch copy first, so a bad batch leaves no trace.
    const scratch = this.tracker.clone();
    let hs = this.hardState;
    for (const r of records) {
      const why = applyToTracker(scratch, r, hs);
      assert(why === undefined, `wal append: ${why}`);
      if (r.type === 'hardState') hs = r.state;
    }
    records.forEach((r, i) => {
      this.pending.push({
        bytes: encoded[i]!,
        lastIndexBefore: this.tracker.lastIndex,
        hardStateBefore: this.hardState,
        snapshotBefore: this.snapshot,
      });
      applyToTracker(this.tracker, r, this.hardState);
      if (r.type === 'hardState') this.hardState = r.state;
      if (r.type === 'snapshot') this.snapshot = { index: r.index, term: r.term };
    });
    this.pendingBytes += total;
    this.appendedLsn += records.length;
    this.metrics.records.inc(records.length);
    return this.appendedLsn;
  }

  /**
   * Writes every buffered record and fdatasyncs (once per segment touched; twice plus a syncDir
   * when the batch crosses a rotation). Returns only after the data is durable.
   */
  sync(): SyncMark {
    this.checkUsable();
    if (this.pending.length === 0) return this.mark();
    const startMs = this.clock.monotonicMs();
    const batch = this.pending;
    const targetLsn = this.appendedLsn;
    try {
      let chunk: Uint8Array[] = [];
      let chunkBytes = 0;
      for (const p of batch) {
        const need = this.current.bytes + chunkBytes + p.bytes.byteLength + SYNC_RECORD_BYTES;
        if (need > this.options.segmentBytesMax && (this.current.bodyRecords > 0 || chunk.length > 0)) {
          this.writeChunk(chunk, chunkBytes);
          chunk = [];
          chunkBytes = 0;
          this.fsyncCurrent(); // seal before the successor exists
          this.rotate(p);
        }
        chunk.push(p.bytes);
        chunkBytes += p.bytes.byteLength;
      }
      this.writeChunk(chunk, chunkBytes);
      this.fsyncCurrent();
    } catch (error) {
      this.failure = error;
      this.log.error({ err: error }, 'wal: write or fdatasync failed; the WAL is unusable until restart');
      throw error;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.syncedLsn = targetLsn;
    this.writtenLastIndex = this.tracker.lastIndex;
    this.writtenHardState = this.hardState;
    this.writtenSnapshot = this.snapshot;
    this.durableSnapshot = this.snapshot;
    this.metrics.syncs.inc();
    this.metrics.syncLatencyMs.observe(this.clock.monotonicMs() - startMs);
    return this.mark();
  }

  /**
   * Removes sealed segments whose entries are all <= `index`, oldest first, then syncs the
   * directory. `index` must be covered by a durable snapshot marker. Returns how many were removed.
   */
  releaseTo(index: number): number {
    this.checkUsable();
    const snap = this.durableSnapshot;
    assert(snap !== null && index <= snap.index, `wal release to ${index} is not covered by a durable snapshot`);
    let removed = 0;
    while (this.sealed.length > 0) {
      // Entries in sealed[0] are all < firstIndex of its successor.
      const successorFirst = this.sealed[1]?.firstIndex ?? this.current.firstIndex;
      if (successorFirst - 1 > index) break;
      const seg = this.sealed.shift()!;
      this.disk.remove(`${this.options.dir}/${seg.name}`);
      removed++;
    }
    if (removed > 0) {
      this.disk.syncDir(this.options.dir);
      this.metrics.segmentsReleased.inc(removed);
      this.log.info({ index, removed }, 'wal: released segments');
    }
    return removed;
  }

  /** Closes the open segment. Unsynced records are dropped (they were never acknowledged). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.current.file.close();
  }

  private mark(): SyncMark {
    return { lsn: this.syncedLsn } as SyncMark;
  }

  private checkUsable(): void {
    if (this.failure !== null) throw this.failure;
    assert(!this.closed, 'wal is closed');
  }

  private fsyncCurrent(): void {
    if (this.skipFsync) return; // planted bug 'wal-skip-fsync'
    this.current.file.sync();
  }

  /** Writes `chunk` and the SYNC record that ends the batch, in one write. */
  private writeChunk(chunk: Uint8Array[], chunkBytes: number): void {
    if (chunk.length === 0) return;
    const cur = this.current;
    const body = Buffer.concat(chunk, chunkBytes);
    // The sectors this batch writes as zeros, so recovery never takes them for sectors that did not land.
    const zeros = zeroPieces(body, cur.bytes, cur.bytes + chunkBytes, cur.bytes, HEAD_ZERO_PIECE_BYTES_MIN).map(
      (p) => p - cur.bytes,
    );
    const marker = encodeRecord({
      type: 'sync',
      batch: cur.batches + 1,
      batchStart: cur.bytes,
      batchBytes: chunkBytes,
      zeroPieces: zeros.length > SYNC_ZERO_PIECES_MAX ? 'many' : zeros,
    });
    const total = chunkBytes + marker.byteLength;
    cur.file.append(Buffer.concat([body, marker], total));
    cur.bytes += total;
    cur.bodyRecords += chunk.length;
    cur.batches++;
    this.metrics.bytesWritten.inc(total);
  }

  /** Seals nothing itself: the caller synced the current segment. Opens seq+1 at `p`'s position. */
  private rotate(p: Pending): void {
    const previous = this.current;
    previous.file.close();
    this.sealed.push({
      seq: previous.seq,
      firstIndex: previous.firstIndex,
      name: segmentFileName(previous.seq, previous.firstIndex),
    });
    this.writtenLastIndex = p.lastIndexBefore;
    this.writtenHardState = p.hardStateBefore;
    this.writtenSnapshot = p.snapshotBefore;
    this.current = this.createSegment(previous.seq + 1);
  }

  /**
   * Creates segment `seq` starting at the written state, atomically: the header records (SEGMENT,
   * then HARD_STATE and SNAPSHOT when there are any) are written to `<name>.tmp` and fdatasync'd,
   * the file is renamed into place and the directory synced. So a segment under its final name
   * always has a durable, complete header, and recovery can refuse to truncate into it.
   */
  private createSegment(seq: number): OpenSegment {
    const firstIndex = this.writtenLastIndex + 1;
    const name = segmentFileName(seq, firstIndex);
    const path = `${this.options.dir}/${name}`;
    const tempPath = `${path}${SEGMENT_TEMP_SUFFIX}`;
    assert(!this.disk.exists(path), `wal segment ${name} already exists`);
    const body: WalRecord[] = [];
    if (this.writtenHardState !== null) body.push({ type: 'hardState', state: this.writtenHardState });
    if (this.writtenSnapshot !== null) body.push({ type: 'snapshot', ...this.writtenSnapshot });
    const header: WalRecord[] = [{ type: 'segment', seq, firstIndex, headerRecords: body.length }, ...body];
    const bytes = Buffer.concat(header.map(encodeRecord));
    const temp = this.disk.open(tempPath, { create: true });
    try {
      temp.append(bytes);
      temp.sync();
    } finally {
      temp.close();
    }
    this.disk.rename(tempPath, path);
    this.disk.syncDir(this.options.dir);
    this.metrics.segmentsCreated.inc();
    this.metrics.bytesWritten.inc(bytes.byteLength);
    this.log.info({ segment: name }, 'wal: created segment');
    const file = this.disk.open(path, { create: false });
    return { seq, firstIndex, file, bytes: bytes.byteLength, bodyRecords: 0, batches: 0 };
  }
}

/** Applies `r` to `tracker` if the log rules allow it; returns the violation otherwise. */
function applyToTracker(tracker: LogTracker, r: WalRecord, hardState: WalHardState | null): string | undefined {
  switch (r.type) {
    case 'segment':
    case 'sync':
      return 'SEGMENT and SYNC records are written by the WAL itself';
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

// Recovery: replays every segment of a WAL directory in order and rebuilds the entry log, the
// latest hard state and the latest snapshot marker.
//
// Invariants enforced (each violation is a CorruptionError naming the segment and, where there is
// one, the byte offset — never a silent skip):
//  - segment seqs are contiguous; each segment starts with a SEGMENT record matching its name, and
//    (after the first) starts exactly where the log left off (firstIndex = lastIndex + 1);
//  - every record obeys the log rules of log-tracker.ts;
//  - a defect in any segment but the last is corruption (a segment is sealed — fully synced — before
//    its successor is created, so it can have no torn tail);
//  - in the last segment, only what follows the last intact group-commit batch may be cut, and only
//    when segment.ts classifies it as never synced (its SYNC record missing, zeros, or a tear);
//    that is reported in `tailRepair` for the caller to truncate. A defect in data that a SYNC
//    record proves synced, or in a final batch with no sign of a tear, is corruption;
//  - a defect is believed only when a second read of the file returns the same bytes (a transient
//    read error must not become a permanent cut), up to diskReadAttemptsMax reads;
//  - the recovered log must be anchored (its base covered by a snapshot marker or at index 0),
//    otherwise a released-too-early or missing segment left a hole.
//
// This module only reads; Wal.open performs the repair (truncate + sync) and logs it.

import { diskReadAttemptsMax } from '../../env/disk-io.ts';
import type { Disk } from '../../env/types.ts';
import { bytesEqual } from '../../lib/bytes.ts';
import { CorruptionError } from '../../lib/errors.ts';
import { checkHardStateTransition, LogTracker } from './log-tracker.ts';
import type { WalHardState, WalRecord } from './record.ts';
import {
  parseSegmentFileName,
  SEGMENT_TEMP_SUFFIX,
  type ScannedSegment,
  type SegmentName,
  scanSegment,
} from './segment.ts';

export interface WalEntry {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

export interface SnapshotMarker {
  readonly index: number;
  readonly term: number;
}

export interface RecoveredSegment extends SegmentName {
  /** Bytes of valid records (after a tail repair, the size the file is cut to). */
  readonly validBytes: number;
  /** Records in the segment, its header records included. */
  readonly recordCount: number;
  /** Group-commit batches (SYNC records) in the segment. */
  readonly batches: number;
  /** Offset of the last batch's first record (its end is validBytes). */
  readonly lastBatchStart: number;
}

export interface TailRepair {
  readonly segment: string;
  readonly offset: number;
  readonly bytesDiscarded: number;
  readonly kind: 'zero-fill' | 'torn' | 'unmarked';
  readonly reason: string;
}

export interface RecoverOptions {
  readonly payloadBytesMax: number;
  /** Planted bug 'wal-trust-torn-tail' (src/lib/mutations.ts). */
  readonly trustTornTail?: boolean;
}

export interface RecoveredWal {
  readonly segments: RecoveredSegment[];
  /** Log entries base+1..lastIndex, in order. */
  readonly entries: WalEntry[];
  readonly tracker: LogTracker;
  readonly hardState: WalHardState | null;
  readonly snapshot: SnapshotMarker | null;
  readonly tailRepair: TailRepair | null;
  /**
   * The last group-commit batch of the last segment, as read (CRC-checked): its fdatasync may have
   * failed while its bytes stayed in the page cache (see wal.ts, "After a failed fdatasync").
   */
  readonly finalBatch: { readonly segment: string; readonly offset: number; readonly bytes: Uint8Array } | null;
  /** Names in the directory that are not segments (reported, left alone). */
  readonly foreignFiles: string[];
  /** Segment files never renamed into place (a crash during creation): nothing in them was acknowledged. */
  readonly unfinishedFiles: string[];
}

function corrupt(segment: string, offset: number | undefined, message: string): CorruptionError {
  const where = offset === undefined ? '' : ` at offset ${offset}`;
  return new CorruptionError(`wal segment ${segment}${where}: ${message}`, { segment, offset });
}

/**
 * Reads and scans one segment; a defect is re-read until two consecutive reads agree, so a
 * transient read error (a flipped bit in one read) is never taken for damage on disk.
 */
function scanStable(
  disk: Disk,
  dir: string,
  name: string,
  options: RecoverOptions,
): ScannedSegment & { bytes: Uint8Array } {
  const read = (): Uint8Array => {
    const file = disk.open(`${dir}/${name}`, { create: false });
    try {
      return file.read(0, file.size());
    } finally {
      file.close();
    }
  };
  const scanOptions = {
    segment: name,
    payloadBytesMax: options.payloadBytesMax,
    trustTornTail: options.trustTornTail === true,
  };
  let bytes = read();
  for (let attempt = 1; ; attempt++) {
    let scanned: ScannedSegment | undefined;
    let error: CorruptionError | undefined;
    try {
      scanned = scanSegment(bytes, scanOptions);
    } catch (e) {
      if (!(e instanceof CorruptionError)) throw e;
      error = e;
    }
    if (scanned !== undefined && scanned.tail.kind === 'clean') return { ...scanned, bytes };
    const again = read();
    if (bytesEqual(again, bytes)) {
      if (error !== undefined) throw error;
      return { ...scanned!, bytes };
    }
    if (attempt + 1 >= diskReadAttemptsMax) {
      throw corrupt(name, undefined, `${diskReadAttemptsMax} reads of the file returned different bytes`);
    }
    bytes = again;
  }
}

export function recoverWal(disk: Disk, dir: string, options: RecoverOptions): RecoveredWal {
  const foreignFiles: string[] = [];
  const unfinishedFiles: string[] = [];
  const names: SegmentName[] = [];
  for (const name of disk.list(dir)) {
    const parsed = parseSegmentFileName(name);
    if (parsed !== undefined) names.push(parsed);
    else if (name.endsWith(SEGMENT_TEMP_SUFFIX) && parseSegmentFileName(name.slice(0, -SEGMENT_TEMP_SUFFIX.length))) {
      unfinishedFiles.push(name);
    } else foreignFiles.push(name);
  }
  names.sort((a, b) => a.seq - b.seq);
  for (let k = 1; k < names.length; k++) {
    const prev = names[k - 1]!;
    const cur = names[k]!;
    if (cur.seq !== prev.seq + 1) {
      throw corrupt(cur.name, undefined, `segment sequence has a gap: ${prev.seq} is followed by ${cur.seq}`);
    }
  }

  const first = names[0];
  const tracker =
    first === undefined || first.firstIndex === 1 ? new LogTracker(0, 0) : new LogTracker(first.firstIndex - 1, null);
  // Entries by position: entries[i] has index tracker.baseIndex + 1 + i.
  let entries: WalEntry[] = [];
  let hardState: WalHardState | null = null;
  let snapshot: SnapshotMarker | null = null;
  let tailRepair: TailRepair | null = null;
  let finalBatch: RecoveredWal['finalBatch'] = null;
  const segments: RecoveredSegment[] = [];

  names.forEach((seg, k) => {
    const isLast = k === names.length - 1;
    const scanned = scanStable(disk, dir, seg.name, options);
    const bytes = scanned.bytes;
    const tail = scanned.tail;
    if (tail.kind === 'corrupt') throw corrupt(seg.name, tail.offset, tail.reason);
    if (tail.kind !== 'clean') {
      if (!isLast) throw corrupt(seg.name, tail.offset, `${tail.reason} in a sealed segment`);
      tailRepair = {
        segment: seg.name,
        offset: tail.offset,
        bytesDiscarded: bytes.byteLength - tail.offset,
        kind: tail.kind,
        reason: tail.reason,
      };
    }
    // The header (SEGMENT + headerRecords) was durable before the file got its name: a repair may
    // never cut into it.
    const head = scanned.records[0]?.record;
    const headerCount = head?.type === 'segment' ? 1 + head.headerRecords : 1;
    if (scanned.records.length < headerCount) {
      throw corrupt(
        seg.name,
        scanned.validBytes,
        'segment header is damaged (it was synced before the segment was named)',
      );
    }

    scanned.records.forEach(({ record, offset }, r) => {
      if (r === 0) {
        if (record.type !== 'segment' || record.seq !== seg.seq || record.firstIndex !== seg.firstIndex) {
          throw corrupt(seg.name, offset, 'first record is not a SEGMENT record matching the file name');
        }
        if (k > 0 && tracker.lastIndex !== seg.firstIndex - 1) {
          throw corrupt(
            seg.name,
            offset,
            `segment starts at ${seg.firstIndex} but the log ends at ${tracker.lastIndex}`,
          );
        }
        return;
      }
      const violation = applyRecord(record);
      if (violation !== undefined) throw corrupt(seg.name, offset, violation);
    });
    if (isLast && scanned.batches > 0) {
      finalBatch = {
        segment: seg.name,
        offset: scanned.lastBatchStart,
        bytes: bytes.slice(scanned.lastBatchStart, scanned.validBytes),
      };
    }
    segments.push({
      ...seg,
      validBytes: scanned.validBytes,
      recordCount: scanned.records.length,
      batches: scanned.batches,
      lastBatchStart: scanned.lastBatchStart,
    });
  });

  function applyRecord(record: WalRecord): string | undefined {
    switch (record.type) {
      case 'segment':
        return 'SEGMENT record inside a segment';
      case 'sync':
        return undefined; // checked by scanSegment (the batch chain)
      case 'entry': {
        const why = tracker.checkEntry(record.index, record.term);
        if (why !== undefined) return why;
        tracker.appendEntry(record.index, record.term);
        entries.push({ index: record.index, term: record.term, data: record.data });
        return undefined;
      }
      case 'truncate': {
        const why = tracker.checkTruncate(record.fromIndex);
        if (why !== undefined) return why;
        const keep = record.fromIndex - 1 - tracker.baseIndex;
        tracker.truncateFrom(record.fromIndex);
        entries.length = Math.max(0, Math.min(entries.length, keep));
        return undefined;
      }
      case 'snapshot': {
        const why = tracker.checkSnapshot(record.index, record.term);
        if (why !== undefined) return why;
        const oldBase = tracker.baseIndex;
        if (snapshot === null || record.index >= snapshot.index) snapshot = { index: record.index, term: record.term };
        if (tracker.applySnapshot(record.index, record.term)) {
          // Suffix kept (the log held entry index with this term) or the whole log discarded.
          entries = tracker.lastIndex > record.index ? entries.slice(record.index - oldBase) : [];
        }
        return undefined;
      }
      case 'hardState': {
        const why = checkHardStateTransition(hardState, record.state);
        if (why !== undefined) return why;
        hardState = record.state;
        return undefined;
      }
    }
  }

  if (!tracker.anchored) {
    const firstName = names[0]!.name;
    throw corrupt(
      firstName,
      undefined,
      `the log starts after index ${tracker.baseIndex} but no snapshot marker covers it: an earlier segment is missing`,
    );
  }
  return { segments, entries, tracker, hardState, snapshot, tailRepair, finalBatch, foreignFiles, unfinishedFiles };
}

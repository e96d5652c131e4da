// Recovery of a segmented log directory: lists and orders the segments, scans each one (re-reading
// a file until two reads agree before believing a defect), hands each segment's records to the
// client in order, and says what the open must repair. The client's replay rules (the WAL's entry
// log, a partition log's offsets) stay with the client; this module knows only the log's own rules.
//
// Invariants enforced (each violation is a CorruptionError naming the segment and, where there is
// one, the byte offset — never a silent skip):
//  - segment seqs are contiguous; each segment starts with a SEGMENT record matching its name;
//  - a defect in any segment but the last is corruption (a segment is sealed — fully synced — before
//    its successor is created, so it can have no torn tail);
//  - in the last segment, only what follows the last intact group-commit batch may be cut, and only
//    when segment.ts classifies it as never synced (its SYNC record missing, zeros, or a tear);
//    that is reported in `tailRepair` for the opener to truncate. A defect in data that a SYNC
//    record proves synced, or in a final batch with no sign of a tear, is corruption;
//  - a defect is believed only when a second read of the file returns the same bytes (a transient
//    read error must not become a permanent cut), up to diskReadAttemptsMax reads.
//
// This module only reads; SegmentedLog.open performs the repair (truncate + sync) and logs it.
// Memory: one segment's bytes at a time (the client decides what of its records it keeps).

import { diskReadAttemptsMax } from '../../env/disk-io.ts';
import type { Disk, DiskFile } from '../../env/types.ts';
import { bytesEqual, concatBytes } from '../../lib/bytes.ts';
import { BaristaError, CorruptionError } from '../../lib/errors.ts';
import type { CrcStats, FrameCodec } from './frame.ts';
import {
  parseSegmentFileName,
  SEGMENT_TEMP_SUFFIX,
  type ScannedRecord,
  type ScannedSegment,
  type SegmentName,
  scanSegment,
} from './segment.ts';

export interface RecoveredSegment extends SegmentName {
  /** Bytes of valid records (after a tail repair, the size the file is cut to). */
  readonly validBytes: number;
  /** Client records in the segment, its header records included. */
  readonly recordCount: number;
  /** Group-commit batches (SYNC records) in the segment. */
  readonly batches: number;
  /** Offset of the last batch's first record (its end is validBytes). */
  readonly lastBatchStart: number;
  /** Where the header (SEGMENT and the client's header records) ends. */
  readonly headerBytes: number;
  /**
   * Bytes in the file as read: above validBytes when zeros follow the last batch (space the log
   * preallocated and did not fill, or a batch none of whose sectors landed; neither is a repair).
   */
  readonly fileBytes: number;
}

export interface TailRepair {
  readonly segment: string;
  readonly offset: number;
  readonly bytesDiscarded: number;
  readonly kind: 'torn' | 'unmarked';
  readonly reason: string;
}

export interface RecoverOptions<T> {
  readonly suffix: string;
  readonly payloadBytesMax: number;
  readonly codec: FrameCodec<T>;
  /** Planted bug (the WAL's 'wal-trust-torn-tail', src/lib/mutations.ts). */
  readonly trustTornTail?: boolean;
  /** Planted bug (the WAL's 'wal-read-error-as-eof'). */
  readonly readErrorAsEof?: boolean;
  readonly stats?: CrcStats;
}

/** One segment as the client sees it during recovery, oldest first. */
export interface SegmentVisit<T> {
  readonly segment: RecoveredSegment;
  /** Its index among the segments (0 = oldest) and whether it is the last. */
  readonly position: number;
  readonly isLast: boolean;
  /** Client records; the first `headerRecords` restate the client's state at creation. */
  readonly records: readonly ScannedRecord<T>[];
  readonly headerRecords: number;
}

export interface RecoveredLog {
  readonly segments: RecoveredSegment[];
  readonly tailRepair: TailRepair | null;
  /**
   * The last group-commit batch of the last segment, as read (CRC-checked): its fdatasync may have
   * failed while its bytes stayed in the page cache (see log.ts, "After a failed fdatasync").
   */
  readonly finalBatch: { readonly segment: string; readonly offset: number; readonly bytes: Uint8Array } | null;
  /** Names in the directory that are not segments (reported, left alone). */
  readonly foreignFiles: string[];
  /** Segment files never renamed into place (a crash during creation): nothing in them was acknowledged. */
  readonly unfinishedFiles: string[];
}

export function corruptSegment(segment: string, offset: number | undefined, message: string): CorruptionError {
  const where = offset === undefined ? '' : ` at offset ${offset}`;
  return new CorruptionError(`log segment ${segment}${where}: ${message}`, { segment, offset });
}

/**
 * Reads and scans one segment; a defect is re-read until two consecutive reads agree, so a
 * transient read error (a flipped bit in one read) is never taken for damage on disk.
 */
function scanStable<T>(
  disk: Disk,
  dir: string,
  name: string,
  options: RecoverOptions<T>,
): ScannedSegment<T> & { bytes: Uint8Array } {
  const read = (): Uint8Array => {
    const file = disk.open(`${dir}/${name}`, { create: false });
    try {
      if (options.readErrorAsEof === true) return readablePrefix(file);
      return file.read(0, file.size());
    } finally {
      file.close();
    }
  };
  const scanOptions = {
    segment: name,
    payloadBytesMax: options.payloadBytesMax,
    codec: options.codec,
    trustTornTail: options.trustTornTail === true,
    ...(options.stats === undefined ? {} : { stats: options.stats }),
  };
  let bytes = read();
  for (let attempt = 1; ; attempt++) {
    let scanned: ScannedSegment<T> | undefined;
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
      throw corruptSegment(name, undefined, `${diskReadAttemptsMax} reads of the file returned different bytes`);
    }
    bytes = again;
  }
}

/** PLANTED BUG ('wal-read-error-as-eof'): the bytes before the first read that fails with disk_io. */
function readablePrefix(file: DiskFile): Uint8Array {
  const size = file.size();
  const parts: Uint8Array[] = [];
  for (let at = 0; at < size; at += PREFIX_READ_BYTES) {
    try {
      const part = file.read(at, Math.min(PREFIX_READ_BYTES, size - at));
      parts.push(part);
    } catch (e) {
      if (!(e instanceof BaristaError) || e.code !== 'disk_io') throw e;
      break;
    }
  }
  return concatBytes(parts);
}

/** The planted bug's read size: one sector of the simulated disk. */
const PREFIX_READ_BYTES = 512;

/** The segment names in `dir`, ordered by seq and checked for gaps, plus the other names. */
export function listSegments(
  disk: Disk,
  dir: string,
  suffix: string,
): { names: SegmentName[]; foreignFiles: string[]; unfinishedFiles: string[] } {
  const foreignFiles: string[] = [];
  const unfinishedFiles: string[] = [];
  const names: SegmentName[] = [];
  for (const name of disk.list(dir)) {
    const parsed = parseSegmentFileName(name, suffix);
    if (parsed !== undefined) names.push(parsed);
    else if (
      name.endsWith(SEGMENT_TEMP_SUFFIX) &&
      parseSegmentFileName(name.slice(0, -SEGMENT_TEMP_SUFFIX.length), suffix)
    ) {
      unfinishedFiles.push(name);
    } else foreignFiles.push(name);
  }
  names.sort((a, b) => a.seq - b.seq);
  for (let k = 1; k < names.length; k++) {
    const prev = names[k - 1]!;
    const cur = names[k]!;
    if (cur.seq !== prev.seq + 1) {
      throw corruptSegment(cur.name, undefined, `segment sequence has a gap: ${prev.seq} is followed by ${cur.seq}`);
    }
  }
  return { names, foreignFiles, unfinishedFiles };
}

/**
 * Scans every segment of `dir` oldest first and passes each to `visit` (which may throw a
 * CorruptionError for a violation of the client's own rules). Returns what the open must repair.
 */
export function recoverSegments<T>(
  disk: Disk,
  dir: string,
  options: RecoverOptions<T>,
  visit: (segment: SegmentVisit<T>) => void,
): RecoveredLog {
  const { names, foreignFiles, unfinishedFiles } = listSegments(disk, dir, options.suffix);
  let tailRepair: TailRepair | null = null;
  let finalBatch: RecoveredLog['finalBatch'] = null;
  const segments: RecoveredSegment[] = [];
  names.forEach((seg, k) => {
    const isLast = k === names.length - 1;
    const scanned = scanStable(disk, dir, seg.name, options);
    const bytes = scanned.bytes;
    const tail = scanned.tail;
    if (tail.kind === 'corrupt') throw corruptSegment(seg.name, tail.offset, tail.reason);
    if (tail.kind !== 'clean') {
      if (!isLast) throw corruptSegment(seg.name, tail.offset, `${tail.reason} in a sealed segment`);
      tailRepair = {
        segment: seg.name,
        offset: tail.offset,
        bytesDiscarded: bytes.byteLength - tail.offset,
        kind: tail.kind,
        reason: tail.reason,
      };
    }
    const header = scanned.header;
    // The header (SEGMENT + headerRecords) was durable before the file got its name: a repair may
    // never cut into it.
    if (header === null || scanned.records.length < header.headerRecords) {
      throw corruptSegment(
        seg.name,
        scanned.validBytes,
        'segment header is damaged (it was synced before the segment was named)',
      );
    }
    if (header.seq !== seg.seq || header.base !== seg.base) {
      throw corruptSegment(seg.name, 0, 'first record is not a SEGMENT record matching the file name');
    }
    if (isLast && scanned.batches > 0) {
      finalBatch = {
        segment: seg.name,
        offset: scanned.lastBatchStart,
        bytes: bytes.slice(scanned.lastBatchStart, scanned.validBytes),
      };
    }
    const segment: RecoveredSegment = {
      ...seg,
      validBytes: scanned.validBytes,
      recordCount: scanned.records.length,
      batches: scanned.batches,
      lastBatchStart: scanned.lastBatchStart,
      headerBytes: scanned.headerBytes,
      fileBytes: bytes.byteLength,
    };
    visit({ segment, position: k, isLast, records: scanned.records, headerRecords: header.headerRecords });
    segments.push(segment);
  });
  return { segments, tailRepair, finalBatch, foreignFiles, unfinishedFiles };
}

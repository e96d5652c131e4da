// Segment files of a segmented log: naming, scanning one segment's bytes into records, and
// classifying its tail.
//
// A segment is named `<seq>-<base><suffix>` (suffix `.wal` for the Raft WAL, `.log` by default),
// both numbers zero-padded decimal (16 and 20 digits), so the names sort in write order. `seq`
// counts segments (0, 1, 2, ... with no gaps among the segments present: a gap is a missing
// segment); `base` is the client's key (Raft index, partition offset) the next record had when the
// segment was created, so old segments can be released by key. The key alone cannot order
// segments: after a Raft truncation a later segment may hold lower indexes.
//
// What a segment's bytes prove (what keeps recovery from losing acknowledged data silently):
//  - the header (SEGMENT + its header records) was synced before the segment got its name;
//  - every group-commit batch ends with a SYNC record (record.ts). Batch k is written only after
//    batch k-1's fdatasync returned, so a valid SYNC of batch k found anywhere in the file proves
//    every byte before its `batchStart` was synced: a bad record there is corruption, never a torn
//    write, and recovery fails loudly (CorruptionError naming segment and offset);
//  - what follows the last proven position is the final batch, whose fdatasync may or may not have
//    returned. A power loss during it may persist its sectors in any order (a later one without an
//    earlier one), and a sector that did not land reads as zeros (the WAL only writes to fresh
//    space — past the end of the file, or into zeros it preallocated — and file systems hand out
//    fresh space zeroed). Zeros after the last intact batch are space never written (preallocated,
//    or a batch none of whose sectors landed): the segment ends there, cleanly (every batch ends in
//    a SYNC whose end mark is non-zero, so no written batch ends in zeros). Otherwise the final
//    batch is classified:
//      intact (its SYNC chains and every record decodes)        -> kept;
//      valid records with no SYNC after them                    -> never synced: cut ('unmarked');
//      all zeros                                                -> the clean end (above);
//      damaged, with the sign of a tear (a sector piece of at least TEAR_ZERO_PIECE_BYTES_MIN
//        reading all zeros that the batch's SYNC does not list as written-zero, or, with no
//        SYNC of this batch, a record cut off by the end of the file) -> cut ('torn');
//      damaged with no sign of a tear                           -> corruption: a synced final batch
//        that rotted (a flipped bit) must not be cut silently, since it may hold an acknowledged
//        vote or record. So are: a complete SYNC whose CRC fails (its end mark landed, so it is no tear), a
//        SYNC whose length field alone rotted, and a damaged batch whose SYNC says 'many' zero
//        pieces. The price: a tear whose only missing bytes read back as non-zero garbage (or are
//        under 8 bytes at the start of a batch whose SYNC did not land) refuses to boot, loudly,
//        instead of being cut. (With the SYNC intact, a zeroed head piece counts from 1 byte:
//        HEAD_ZERO_PIECE_BYTES_MIN.)
//        Residual: rot that zeroes a whole unlisted piece of the final batch still reads as a tear.
//  Only the caller knows whether cutting is allowed at all (the last segment only; a sealed
//  segment was synced in full before its successor was created, so any defect there is corruption).

import { CorruptionError } from '../../lib/errors.ts';
import {
  type CrcStats,
  decodeFrameAt,
  type FrameCodec,
  LogRecordType,
  RECORD_HEADER_BYTES,
  type SegmentHeader,
  SYNC_END_MARK,
  SYNC_PAYLOAD_BYTES,
  SYNC_ZERO_PIECES_MAX,
  syncLengthRotted,
} from './frame.ts';

/** A segment being created: header written and synced under `<name>.tmp`, then renamed. */
export const SEGMENT_TEMP_SUFFIX = '.tmp';
const SEQ_DIGITS = 16;
const BASE_DIGITS = 20;

export interface SegmentName {
  readonly name: string;
  readonly seq: number;
  readonly base: number;
}

export function segmentFileName(seq: number, base: number, suffix: string): string {
  return `${String(seq).padStart(SEQ_DIGITS, '0')}-${String(base).padStart(BASE_DIGITS, '0')}${suffix}`;
}

/** Parses a segment file name; undefined for any other name. */
export function parseSegmentFileName(name: string, suffix: string): SegmentName | undefined {
  if (!name.endsWith(suffix) || name.length !== SEQ_DIGITS + 1 + BASE_DIGITS + suffix.length) return undefined;
  const m = /^(\d{16})-(\d{20})$/.exec(name.slice(0, name.length - suffix.length));
  if (m === null) return undefined;
  const seq = Number(m[1]);
  const base = Number(m[2]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(base)) return undefined;
  return { name, seq, base };
}

/** A client record of a segment and where it starts. */
export interface ScannedRecord<T> {
  readonly type: number;
  readonly record: T;
  readonly offset: number;
  /** Bytes of the record on disk, header included. */
  readonly bytes: number;
}

/** Sector size assumed when looking for the zeroed sectors of a torn write (the smallest in use). */
export const TEAR_SECTOR_BYTES = 512;
/**
 * A zeroed sector piece (a sector clipped to the batch) counts as a sign of a tear only from this
 * size on, so a bit flip that zeroes a byte or two is never taken for a sector that did not land.
 * 8 = a record header's length and CRC (a batch starting 8 bytes before a sector boundary can
 * still be cut when that sector is lost). Legitimate zero pieces are listed in the batch's SYNC.
 */
export const TEAR_ZERO_PIECE_BYTES_MIN = 8;
/**
 * The head piece of a batch (from its start to the next sector boundary) counts from 1 byte when
 * the batch's SYNC record verifies. A batch may start 1..7 bytes before a sector boundary; when
 * that sector's write is lost, those bytes read as the zeros past the old end of file while the
 * later sectors, SYNC included, landed (seeds 713 and 1505 of the swarm: a 5- and a 6-byte head).
 * The writer lists a head piece it wrote as zeros at any size, so an unlisted zero head is a lost
 * sector. Rot could only fake one by zeroing a head whose few bytes held a single set bit.
 */
export const HEAD_ZERO_PIECE_BYTES_MIN = 1;

export type SegmentTail =
  | { readonly kind: 'clean' }
  /** Cut at `offset` (the end of the last intact batch): the rest was never (fully) synced. */
  | { readonly kind: 'torn' | 'unmarked'; readonly offset: number; readonly reason: string }
  /** A defect that truncation may not fix. */
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string };

export interface ScannedSegment<T> {
  /** The SEGMENT record; null when the first record is not one (recovery refuses the file). */
  readonly header: SegmentHeader | null;
  /**
   * Client records up to the end of the last intact batch (all of them when the tail is corrupt),
   * in order; the first `header.headerRecords` of them are the segment's header records.
   */
  readonly records: ScannedRecord<T>[];
  /** Where the header (SEGMENT and its header records) ends; -1 when it is damaged. */
  readonly headerBytes: number;
  /** Bytes up to the end of the last intact batch: the size a repair cuts the file to. */
  readonly validBytes: number;
  /** SYNC batches in `records` (the next batch gets number batches + 1). */
  readonly batches: number;
  /** Offset of the last intact batch's first record (= validBytes when there is none after the header). */
  readonly lastBatchStart: number;
  readonly tail: SegmentTail;
}

export interface ScanOptions<T> {
  /** The file's name, for errors. */
  readonly segment: string;
  readonly payloadBytesMax: number;
  readonly codec: FrameCodec<T>;
  /** Planted bug (the WAL's 'wal-trust-torn-tail'): cut at any bad record, as if every defect were a tear. */
  readonly trustTornTail?: boolean;
  /** Counts bytes hashed by CRC checks (tests bound the scan's cost with it). */
  readonly stats?: CrcStats;
}

/**
 * Decodes all records of one segment and classifies what follows the last intact batch (see the
 * file header). A CRC-valid but malformed record, or a SYNC record that does not chain, throws
 * CorruptionError at once (neither can be a torn write).
 */
export function scanSegment<T>(bytes: Uint8Array, options: ScanOptions<T>): ScannedSegment<T> {
  const { segment, payloadBytesMax } = options;
  const fail = (offset: number, reason: string): CorruptionError =>
    new CorruptionError(`log segment ${segment}: ${reason} at offset ${offset}`, { segment, offset });
  const records: ScannedRecord<T>[] = [];
  let header: SegmentHeader | null = null;
  let seen = 0; // frames decoded, SYNC included
  let offset = 0;
  let headerEnd = -1;
  let headerLeft = 1; // the SEGMENT record, then its header records
  let batches = 0;
  let batchEnd = 0; // end of the header or of the last intact batch
  let batchStart = 0;
  let batchRecords = 0; // records in `records` up to batchEnd
  let bad: { offset: number; reason: string; incomplete: boolean } | undefined;
  while (offset < bytes.byteLength) {
    const r = decodeFrameAt(bytes, offset, payloadBytesMax, options.codec, options.stats);
    if (r.kind === 'malformed') throw fail(offset, `malformed record (${r.reason})`);
    if (r.kind !== 'ok') {
      const incomplete = r.kind === 'incomplete';
      bad = { offset, reason: incomplete ? 'incomplete record' : r.reason, incomplete };
      break;
    }
    const at = offset;
    const frame = r.frame;
    seen++;
    offset += r.bytes;
    if (frame.kind === 'client') records.push({ type: frame.type, record: frame.record, offset: at, bytes: r.bytes });
    if (headerLeft > 0) {
      if (seen === 1) {
        if (frame.kind !== 'segment') throw fail(at, 'first record is not a SEGMENT record');
        header = frame.header;
        headerLeft += frame.header.headerRecords;
      } else if (frame.kind !== 'client') {
        throw fail(at, 'segment header records are missing');
      }
      headerLeft--;
      if (headerLeft === 0) {
        headerEnd = offset;
        batchEnd = batchStart = offset;
        batchRecords = records.length;
      }
      continue;
    }
    if (frame.kind === 'segment') throw fail(at, 'SEGMENT record inside a segment');
    if (frame.kind === 'sync') {
      const sync = frame.sync;
      if (sync.batchStart + sync.batchBytes !== at) {
        throw fail(
          at,
          `sync record of batch ${sync.batch} belongs at offset ${sync.batchStart + sync.batchBytes} (a misdirected write)`,
        );
      }
      if (sync.batch !== batches + 1 || sync.batchStart !== batchEnd) {
        throw fail(
          at,
          `sync record (batch ${sync.batch} from ${sync.batchStart}) does not follow batch ${batches} ending at ${batchEnd}`,
        );
      }
      batches++;
      batchStart = batchEnd;
      batchEnd = offset;
      batchRecords = records.length;
    }
  }
  // Where the written bytes end: every batch ends in a SYNC record whose last byte is non-zero, so
  // zeros after it are space never written (preallocated, or a batch none of whose sectors landed).
  let dataEnd = bytes.byteLength;
  while (dataEnd > offset && bytes[dataEnd - 1] === 0) dataEnd--;
  const zeroTail = bad !== undefined && headerEnd >= 0 && dataEnd === bad.offset;
  const done = (tail: SegmentTail): ScannedSegment<T> => ({
    header,
    headerBytes: headerEnd,
    records: tail.kind === 'corrupt' ? records : records.slice(0, batchRecords),
    validBytes: tail.kind === 'clean' && !zeroTail ? bytes.byteLength : batchEnd,
    batches,
    lastBatchStart: batchStart,
    tail,
  });
  if (headerEnd < 0) {
    // The header was synced before the segment was named: it is never torn.
    return done({ kind: 'corrupt', offset, reason: `segment header is damaged (${bad?.reason ?? 'too short'})` });
  }
  if (bad === undefined || zeroTail) {
    if (batchEnd === (zeroTail ? dataEnd : bytes.byteLength)) return done({ kind: 'clean' });
    return done({ kind: 'unmarked', offset: batchEnd, reason: 'records without the sync record of their batch' });
  }
  if (options.trustTornTail === true) {
    // Planted bug: the old rule. Cut at the bad record, keeping everything before it.
    return {
      header,
      headerBytes: headerEnd,
      records,
      validBytes: bad.offset,
      batches,
      lastBatchStart: batchStart,
      tail: { kind: 'torn', offset: bad.offset, reason: bad.reason },
    };
  }
  return done(classifyFinalBatch(bytes, { batchEnd, batches, bad, dataEnd }, options));
}

function classifyFinalBatch<T>(
  bytes: Uint8Array,
  at: {
    batchEnd: number;
    batches: number;
    bad: { offset: number; reason: string; incomplete: boolean };
    /** Where the written bytes end (the zeros after are unwritten, preallocated or lost). */
    dataEnd: number;
  },
  options: ScanOptions<T>,
): SegmentTail {
  const { payloadBytesMax, stats } = options;
  const { batchEnd, bad } = at;
  // A SYNC whose length field alone rotted looks cut off at EOF (a larger length) or CRC-bad; the
  // CRC covers the length, so putting the fixed length back and verifying proves the rot.
  if (syncLengthRotted(bytes, bad.offset, stats)) {
    return { kind: 'corrupt', offset: bad.offset, reason: 'sync record with a rotted length field' };
  }
  // Any valid SYNC record after the defect: its batchStart is a proven-synced position. Only
  // candidates with the SYNC's exact length are decoded, so client data full of fake SYNC type
  // bytes costs one CRC of SYNC size each, not one of up to payloadBytesMax.
  let finalSync: { offset: number; end: number; zeroPieces: readonly number[] | 'many' } | undefined;
  for (let o = bad.offset + 1; o + RECORD_HEADER_BYTES + SYNC_PAYLOAD_BYTES <= bytes.byteLength; o++) {
    if (bytes[o + 8] !== LogRecordType.sync) continue;
    if (bytes[o] !== SYNC_PAYLOAD_BYTES || bytes[o + 1] !== 0 || bytes[o + 2] !== 0 || bytes[o + 3] !== 0) continue;
    const d = decodeFrameAt(bytes, o, payloadBytesMax, options.codec, stats);
    if (d.kind !== 'ok' || d.frame.kind !== 'sync') continue;
    const r = { record: d.frame.sync, bytes: d.bytes };
    if (r.record.batchStart + r.record.batchBytes !== o) {
      return {
        kind: 'corrupt',
        offset: o,
        reason: `sync record of batch ${r.record.batch} belongs at offset ${r.record.batchStart + r.record.batchBytes}: a write landed in the wrong place (a tear never moves bytes)`,
      };
    }
    if (r.record.batchStart > bad.offset) {
      return {
        kind: 'corrupt',
        offset: bad.offset,
        reason: `bad record (${bad.reason}) in synced data: the sync record of batch ${r.record.batch} at offset ${o} proves every byte before ${r.record.batchStart} was synced`,
      };
    }
    if (r.record.batch === at.batches + 1 && r.record.batchStart === batchEnd) {
      finalSync = { offset: o, end: o + r.bytes, zeroPieces: r.record.zeroPieces ?? [] };
    }
  }
  if (finalSync === undefined) {
    // No SYNC of this batch verifies. A complete SYNC-typed record at the defect whose CRC fails
    // and whose end mark landed is a synced SYNC that rotted (a torn SYNC lacks its last sector,
    // which holds the non-zero end mark): refuse, never cut.
    // (Also when the type byte rotted: a SYNC-length record ending in the SYNC end mark where the
    // written bytes end: at EOF, or before the zeros a preallocating log left after it.)
    const end = bad.offset + RECORD_HEADER_BYTES + SYNC_PAYLOAD_BYTES;
    const syncShaped =
      bytes[bad.offset + 8] === LogRecordType.sync ||
      (end === at.dataEnd && bytes[end - 1] === SYNC_END_MARK && readU32(bytes, bad.offset) === SYNC_PAYLOAD_BYTES);
    if (!bad.incomplete && syncShaped && end <= bytes.byteLength && bytes[end - 1] !== 0) {
      return {
        kind: 'corrupt',
        offset: bad.offset,
        reason: `sync record (${bad.reason}) of the final batch is complete: it may have been synced`,
      };
    }
    // Its header landed (SYNC type and length) but its end mark reads zero, as does the rest of
    // the end mark's sector piece: that sector did not land. A flipped bit cannot zero 0xA5, and
    // the piece may be under TEAR_ZERO_PIECE_BYTES_MIN (a SYNC ending 1..7 bytes into a sector of
    // preallocated space, where a lost sector reads as zeros instead of shortening the file).
    if (
      !bad.incomplete &&
      bytes[bad.offset + 8] === LogRecordType.sync &&
      readU32(bytes, bad.offset) === SYNC_PAYLOAD_BYTES &&
      end <= bytes.byteLength &&
      isZero(
        bytes,
        Math.max(bad.offset + RECORD_HEADER_BYTES, Math.floor((end - 1) / TEAR_SECTOR_BYTES) * TEAR_SECTOR_BYTES),
        end,
      )
    ) {
      return {
        kind: 'torn',
        offset: batchEnd,
        reason: `sync record at offset ${bad.offset} lacks its end mark: its last sector did not land`,
      };
    }
    if (bad.incomplete) {
      return {
        kind: 'torn',
        offset: batchEnd,
        reason: `${bad.reason} at offset ${bad.offset}, cut off by the end of file`,
      };
    }
  }
  // With the batch's SYNC intact, a zero piece counts only if the writer did not write it as zeros.
  let written: ReadonlySet<number> = new Set();
  if (finalSync !== undefined) {
    if (finalSync.zeroPieces === 'many') {
      return {
        kind: 'corrupt',
        offset: bad.offset,
        reason: `bad record (${bad.reason}) in a final batch written with over ${SYNC_ZERO_PIECES_MAX} zero sectors: a tear cannot be told from rot`,
      };
    }
    written = new Set(finalSync.zeroPieces.map((p) => p + batchEnd));
  }
  const regionEnd = finalSync?.offset ?? bytes.byteLength;
  const badSector = Math.floor(bad.offset / TEAR_SECTOR_BYTES) * TEAR_SECTOR_BYTES;
  // Only the SYNC's list covers head pieces under TEAR_ZERO_PIECE_BYTES_MIN (the writer lists them).
  const headBytesMin = finalSync !== undefined ? HEAD_ZERO_PIECE_BYTES_MIN : TEAR_ZERO_PIECE_BYTES_MIN;
  const zeroed = zeroPieces(bytes, Math.max(batchEnd, badSector), regionEnd, 0, headBytesMin).find(
    (p) => !written.has(p),
  );
  if (zeroed !== undefined) {
    return {
      kind: 'torn',
      offset: batchEnd,
      reason: `${bad.reason} at offset ${bad.offset}; sector at ${zeroed} did not land`,
    };
  }
  return {
    kind: 'corrupt',
    offset: bad.offset,
    reason: `bad record (${bad.reason}) in the final batch with no sign of a torn write (no zeroed sector): it may have been synced`,
  };
}

function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

function readU32(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + offset, 4).getUint32(0, true);
}

/**
 * File offsets of the all-zero sector pieces of `bytes[start, end)` (in file coordinates: `bytes[0]`
 * is at file offset `base`). A piece is a TEAR_SECTOR_BYTES-aligned sector clipped to [start, end);
 * only pieces of at least TEAR_ZERO_PIECE_BYTES_MIN bytes count, except the head piece (the one at
 * `start`), which counts from `headPieceBytesMin` bytes (the writer and a recovery that holds the
 * batch's SYNC pass HEAD_ZERO_PIECE_BYTES_MIN). The writer lists these in a batch's
 * SYNC record; recovery recomputes them and takes an unlisted one as a sector that did not land.
 */
export function zeroPieces(
  bytes: Uint8Array,
  start: number,
  end: number,
  base = 0,
  headPieceBytesMin = TEAR_ZERO_PIECE_BYTES_MIN,
): number[] {
  const out: number[] = [];
  const sector = TEAR_SECTOR_BYTES;
  for (let s = Math.floor(start / sector) * sector; s < end; s += sector) {
    const lo = Math.max(s, start);
    const hi = Math.min(s + sector, end);
    if (hi - lo < (lo === start ? headPieceBytesMin : TEAR_ZERO_PIECE_BYTES_MIN)) continue;
    let zero = true;
    for (let i = lo - base; i < hi - base && zero; i++) zero = bytes[i] === 0;
    if (zero) out.push(lo);
  }
  return out;
}

// Segment files: naming, scanning one segment's bytes into records, and classifying its tail.
//
// A segment is named `<seq>-<firstIndex>.wal`, both zero-padded decimal (16 and 20 digits), so the
// names sort in write order. `seq` counts segments (0, 1, 2, ... with no gaps among the segments
// present: a gap is a missing segment); `firstIndex` is the index the next entry had when the
// segment was created (lastIndex + 1), so old segments can be released by index. The index alone
// cannot order segments: after a truncation a later segment may hold lower indexes.
//
// Tail classification (what keeps recovery from losing acknowledged data silently): scanning stops
// at the first record that does not decode. If nothing valid follows — every remaining byte is zero
// ('zero-fill', a preallocated or never-written tail) or the bytes are garbage/incomplete with no
// decodable record at any later offset ('torn') — the segment ends there. If a decodable record
// follows, the bad record sits in the middle ('corrupt'). Only the caller knows whether truncating
// is safe (last segment only); elsewhere any defect is corruption.

import { CorruptionError } from '../../lib/errors.ts';
import { decodeRecordAt, type WalRecord } from './record.ts';

/** A segment being created: header written and synced under `<name>.tmp`, then renamed. */
export const SEGMENT_TEMP_SUFFIX = '.tmp';
const SEQ_DIGITS = 16;
const INDEX_DIGITS = 20;
const NAME_PATTERN = /^(\d{16})-(\d{20})\.wal$/;

export interface SegmentName {
  readonly name: string;
  readonly seq: number;
  readonly firstIndex: number;
}

export function segmentFileName(seq: number, firstIndex: number): string {
  return `${String(seq).padStart(SEQ_DIGITS, '0')}-${String(firstIndex).padStart(INDEX_DIGITS, '0')}.wal`;
}

/** Parses a segment file name; undefined for any other name. */
export function parseSegmentFileName(name: string): SegmentName | undefined {
  const m = NAME_PATTERN.exec(name);
  if (m === null) return undefined;
  const seq = Number(m[1]);
  const firstIndex = Number(m[2]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) return undefined;
  return { name, seq, firstIndex };
}

export interface ScannedRecord {
  readonly record: WalRecord;
  readonly offset: number;
}

export type SegmentTail =
  | { readonly kind: 'clean' }
  | { readonly kind: 'zero-fill'; readonly offset: number }
  | { readonly kind: 'torn'; readonly offset: number; readonly reason: string }
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string; readonly validAt?: number };

export interface ScannedSegment {
  readonly records: ScannedRecord[];
  /** Bytes up to the end of the last valid record. */
  readonly validBytes: number;
  readonly tail: SegmentTail;
}

/**
 * Decodes all records of one segment. A CRC-valid but malformed record throws CorruptionError at
 * once (it cannot be a torn write). `segment` only names the file in errors.
 */
export function scanSegment(bytes: Uint8Array, payloadBytesMax: number, segment: string): ScannedSegment {
  const records: ScannedRecord[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    const r = decodeRecordAt(bytes, offset, payloadBytesMax);
    if (r.kind === 'ok') {
      records.push({ record: r.record, offset });
      offset += r.bytes;
      continue;
    }
    if (r.kind === 'malformed') {
      throw new CorruptionError(`wal segment ${segment}: malformed record at offset ${offset}: ${r.reason}`, {
        segment,
        offset,
      });
    }
    const reason = r.kind === 'incomplete' ? 'incomplete record' : r.reason;
    return { records, validBytes: offset, tail: classifyTail(bytes, offset, payloadBytesMax, reason) };
  }
  return { records, validBytes: offset, tail: { kind: 'clean' } };
}

function classifyTail(bytes: Uint8Array, offset: number, payloadBytesMax: number, reason: string): SegmentTail {
  let allZero = true;
  for (let i = offset; i < bytes.byteLength; i++) {
    if (bytes[i] !== 0) {
      allZero = false;
      break;
    }
  }
  if (allZero) return { kind: 'zero-fill', offset };
  // Is there a decodable record anywhere after the bad one? Then data follows the defect: corrupt.
  // (A torn write's payload that itself embeds a valid record is also reported as corrupt: the
  // loud direction. A CRC-valid candidate that is malformed does not count as valid data.)
  for (let at = offset + 1; at < bytes.byteLength; at++) {
    const r = decodeRecordAt(bytes, at, payloadBytesMax);
    if (r.kind === 'ok') return { kind: 'corrupt', offset, reason, validAt: at };
  }
  return { kind: 'torn', offset, reason };
}

// WAL records: the byte grammar, encoding, and a decoder that classifies every failure.
//
// Grammar (all integers little-endian; u64 values must be safe integers, < 2^53):
//
//   record      := length:u32 | crc:u32 | type:u8 | payload[length]
//   length      := byte count of payload (the 9-byte header is not counted)
//   crc         := crc32c(length | type | payload) (CRC-32C, Castagnoli; format 3 on. The length is
//                  covered so a rotted length field is a CRC mismatch, never a record "cut off" at EOF.)
//
//   type 1 SEGMENT     payload := seq:u64 | firstIndex:u64 | headerRecords:u8 | format:u8 (= 3)
//                      The first record of every segment; repeats what the file name says, so a renamed
//                      or misplaced file is caught. headerRecords (0..2) counts the HARD_STATE/SNAPSHOT
//                      records right after it that restate the log's state at creation: the header is
//                      durable before the segment gets its name, so recovery never truncates into it.
//                      format 3: every batch ends with a SYNC record listing the batch's zero
//                      pieces, and the CRC covers the length. Older formats are refused loudly:
//                      format 1 (17-byte payload, no SYNC records) and format 2 (CRC without the
//                      length, SYNC without zero pieces) cannot tell a rotted synced record from a
//                      torn one. A format-1/2 SEGMENT is recognised by its old-style CRC.
//   type 2 ENTRY       payload := index:u64 | term:u64 | data[length - 16]
//   type 3 HARD_STATE  payload := term:u64 | commit:u64 | voteLength:u8 | vote[voteLength]
//                      vote is a utf-8 node id; voteLength 0 = no vote in this term.
//   type 4 SNAPSHOT    payload := index:u64 | term:u64
//                      "a snapshot covering the log up to index (whose entry had term) is durable".
//   type 5 TRUNCATE    payload := fromIndex:u64
//                      "entries from fromIndex on are discarded" (a conflicting suffix).
//   type 6 SYNC        payload := batch:u64 | batchStart:u64 | batchBytes:u64 | zeroCount:u8 |
//                                  zeroPiece:u32[16] | end:u8 (= 0xA5)          (90 bytes, fixed)
//                      The last record of every group-commit batch, written with it before its
//                      fdatasync. `batch` counts the batches of this segment from 1; `batchStart` is
//                      the offset of the batch's first record and `batchBytes` the bytes before this
//                      record, so a SYNC record knows its own offset: one found elsewhere was moved
//                      there (a misdirected write), which no torn write can do. Batch k is written only after batch
//                      k-1's fdatasync returned, so a valid SYNC of batch k proves that every byte
//                      before its batchStart was synced (see segment.ts for how recovery uses it).
//                      zeroPiece[0..zeroCount) are the offsets (from batchStart) of the batch's
//                      sector pieces that the writer wrote all-zero (segment.ts zeroPieces), so a
//                      legitimately zero sector is never taken for one that did not land;
//                      zeroCount 255 = more than 16 such pieces (then no zeroed piece of this batch
//                      is accepted as a sign of a tear). Unused slots hold 0xFFFFFFFF and the payload
//                      ends in 0xA5, so an encoded SYNC never holds a 16-byte zero run.
//
// Type 0 is never written: a zero-filled region (a preallocated or never-written tail) can never parse
// as a record, because its type byte is 0.
//
// Invariant kept here: decodeRecordAt never throws on arbitrary bytes; it returns `incomplete` (the
// bytes end inside the record), `invalid` (header or CRC check failed) or a decoded record. A record
// whose CRC matches but whose payload is malformed is a writer bug or deliberate tampering, never a
// torn write; it is reported as `malformed` so recovery can refuse it loudly.

import { crc32c } from '@node-rs/crc32';

export const RECORD_HEADER_BYTES = 9;
/** The segment format this code writes and reads (see SEGMENT in the grammar). */
export const SEGMENT_FORMAT = 3;
/** SYNC payload size (fixed; the scan only considers SYNC candidates with exactly this length). */
export const SYNC_PAYLOAD_BYTES = 90;
/** Zero pieces a SYNC record can list; beyond it the batch is marked 'many'. */
export const SYNC_ZERO_PIECES_MAX = 16;
const SYNC_ZERO_MANY = 255;
/** Last byte of every SYNC payload: a SYNC whose last sector did not land ends in 0 instead. */
export const SYNC_END_MARK = 0xa5;

export const RecordType = {
  segment: 1,
  entry: 2,
  hardState: 3,
  snapshot: 4,
  truncate: 5,
  sync: 6,
} as const;

/** Longest vote (node id) in a HARD_STATE record; the length travels in one byte. */
export const VOTE_BYTES_MAX = 255;

export interface WalHardState {
  readonly term: number;
  /** Node id voted for in `term`; '' = none. */
  readonly vote: string;
  readonly commit: number;
}

export type WalRecord =
  | { readonly type: 'segment'; readonly seq: number; readonly firstIndex: number; readonly headerRecords: number }
  | { readonly type: 'entry'; readonly index: number; readonly term: number; readonly data: Uint8Array }
  | { readonly type: 'hardState'; readonly state: WalHardState }
  | { readonly type: 'snapshot'; readonly index: number; readonly term: number }
  | { readonly type: 'truncate'; readonly fromIndex: number }
  | {
      readonly type: 'sync';
      readonly batch: number;
      readonly batchStart: number;
      readonly batchBytes: number;
      /** Offsets from batchStart of the pieces written all-zero; 'many' = over SYNC_ZERO_PIECES_MAX. Default []. */
      readonly zeroPieces?: readonly number[] | 'many';
    };

const TWO_32 = 2 ** 32;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

function putU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % TWO_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
}

/** Reads a u64; returns -1 when it is not a safe integer (only a malformed record can carry one). */
function getU64(view: DataView, offset: number): number {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  if (hi > 0x1f_ffff) return -1;
  return hi * TWO_32 + lo;
}

function isU64(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** Bytes `record` occupies on disk, header included. */
export function encodedRecordBytes(record: WalRecord): number {
  return RECORD_HEADER_BYTES + payloadBytes(record);
}

function payloadBytes(record: WalRecord): number {
  switch (record.type) {
    case 'segment':
      return 18;
    case 'snapshot':
      return 16;
    case 'entry':
      return 16 + record.data.byteLength;
    case 'hardState':
      return 17 + textEncoder.encode(record.state.vote).byteLength;
    case 'truncate':
      return 8;
    case 'sync':
      return SYNC_PAYLOAD_BYTES;
  }
}

/**
 * Encodes one record. Programmer errors (negative or unsafe numbers, an over-long vote) throw a
 * RangeError: such a record must never reach the disk.
 */
export function encodeRecord(record: WalRecord): Uint8Array {
  const payloadLength = payloadBytes(record);
  const out = new Uint8Array(RECORD_HEADER_BYTES + payloadLength);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const p = RECORD_HEADER_BYTES;
  const u64 = (offset: number, value: number): void => {
    if (!isU64(value)) throw new RangeError(`wal record field is not a u64: ${value}`);
    putU64(view, p + offset, value);
  };
  switch (record.type) {
    case 'segment':
      out[8] = RecordType.segment;
      u64(0, record.seq);
      u64(8, record.firstIndex);
      if (!Number.isInteger(record.headerRecords) || record.headerRecords < 0 || record.headerRecords > 2) {
        throw new RangeError(`wal segment headerRecords must be 0..2: ${record.headerRecords}`);
      }
      out[p + 16] = record.headerRecords;
      out[p + 17] = SEGMENT_FORMAT;
      break;
    case 'entry':
      out[8] = RecordType.entry;
      u64(0, record.index);
      u64(8, record.term);
      out.set(record.data, p + 16);
      break;
    case 'hardState': {
      out[8] = RecordType.hardState;
      const vote = textEncoder.encode(record.state.vote);
      if (vote.byteLength > VOTE_BYTES_MAX) throw new RangeError('wal hard state vote is longer than 255 bytes');
      u64(0, record.state.term);
      u64(8, record.state.commit);
      out[p + 16] = vote.byteLength;
      out.set(vote, p + 17);
      break;
    }
    case 'snapshot':
      out[8] = RecordType.snapshot;
      u64(0, record.index);
      u64(8, record.term);
      break;
    case 'truncate':
      out[8] = RecordType.truncate;
      u64(0, record.fromIndex);
      break;
    case 'sync':
      out[8] = RecordType.sync;
      u64(0, record.batch);
      u64(8, record.batchStart);
      u64(16, record.batchBytes);
      encodeZeroPieces(out, p + 24, record.zeroPieces ?? []);
      break;
  }
  view.setUint32(0, payloadLength, true);
  view.setUint32(4, recordCrc(out, 0, RECORD_HEADER_BYTES + payloadLength), true);
  return out;
}

function encodeZeroPieces(out: Uint8Array, at: number, pieces: readonly number[] | 'many'): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const list = pieces === 'many' ? [] : pieces;
  if (list.length > SYNC_ZERO_PIECES_MAX) throw new RangeError(`wal sync record lists ${list.length} zero pieces`);
  out[at] = pieces === 'many' ? SYNC_ZERO_MANY : list.length;
  for (let i = 0; i < SYNC_ZERO_PIECES_MAX; i++) {
    const v = list[i] ?? 0xffff_ffff;
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff)
      throw new RangeError(`wal sync zero piece is not a u32: ${v}`);
    view.setUint32(at + 1 + i * 4, v, true);
  }
  out[at + 1 + SYNC_ZERO_PIECES_MAX * 4] = SYNC_END_MARK;
}

/** Counts bytes hashed by record CRCs (the scan's cost), for tests and metrics. */
export interface CrcStats {
  crcBytes: number;
}

/** CRC of the record at buf[offset, end): length field, then type and payload (the stored CRC skipped). */
function recordCrc(buf: Uint8Array, offset: number, end: number, stats?: CrcStats): number {
  if (stats !== undefined) stats.crcBytes += end - offset - 4;
  return crc32c(buf.subarray(offset + 8, end), crc32c(buf.subarray(offset, offset + 4)));
}

/** CRC of a record laid out like `buf[offset, end)` but with length field `length` (a rotted-length check). */
function crcWithLength(buf: Uint8Array, offset: number, end: number, length: number, stats?: CrcStats): number {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, length, true);
  if (stats !== undefined) stats.crcBytes += end - offset - 4;
  return crc32c(buf.subarray(offset + 8, end), crc32c(len));
}

/**
 * True when the bytes at `offset` are a SYNC record whose length field alone rotted: with the fixed
 * SYNC length put back, its CRC verifies. (The CRC covers the length, so this cannot be a tear.)
 */
export function syncLengthRotted(buf: Uint8Array, offset: number, stats?: CrcStats): boolean {
  const end = offset + RECORD_HEADER_BYTES + SYNC_PAYLOAD_BYTES;
  if (end > buf.byteLength || buf[offset + 8] !== RecordType.sync) return false;
  const view = new DataView(buf.buffer, buf.byteOffset + offset, RECORD_HEADER_BYTES);
  if (view.getUint32(0, true) === SYNC_PAYLOAD_BYTES) return false;
  return crcWithLength(buf, offset, end, SYNC_PAYLOAD_BYTES, stats) === view.getUint32(4, true);
}

export type DecodeResult =
  | { readonly kind: 'ok'; readonly record: WalRecord; readonly bytes: number }
  /** The bytes end inside this record's header or payload. */
  | { readonly kind: 'incomplete' }
  /** Header or CRC check failed: torn, zeroed or garbage. */
  | { readonly kind: 'invalid'; readonly reason: string }
  /** CRC matches but the payload breaks the grammar: never a torn write. */
  | { readonly kind: 'malformed'; readonly reason: string };

function knownType(type: number): boolean {
  return type >= RecordType.segment && type <= RecordType.sync;
}

/** Decodes the record starting at `offset` in `buf`; `payloadBytesMax` bounds the length field. */
export function decodeRecordAt(
  buf: Uint8Array,
  offset: number,
  payloadBytesMax: number,
  stats?: CrcStats,
): DecodeResult {
  const available = buf.byteLength - offset;
  if (available < RECORD_HEADER_BYTES) return { kind: 'incomplete' };
  const view = new DataView(buf.buffer, buf.byteOffset + offset, available);
  const length = view.getUint32(0, true);
  const crc = view.getUint32(4, true);
  const type = view.getUint8(8);
  if (!knownType(type)) return { kind: 'invalid', reason: `unknown record type ${type}` };
  if (length > payloadBytesMax) return { kind: 'invalid', reason: `record length ${length} exceeds the maximum` };
  if (available < RECORD_HEADER_BYTES + length) return { kind: 'incomplete' };
  const body = buf.subarray(offset + 8, offset + RECORD_HEADER_BYTES + length);
  if (recordCrc(buf, offset, offset + RECORD_HEADER_BYTES + length, stats) !== crc) {
    if (type === RecordType.segment && crc32c(body) === crc) {
      // The CRC of formats 1 and 2 (type and payload only): an older segment, refused loudly.
      const format = length === 17 ? 1 : length === 18 ? view.getUint8(9 + 17) : 0;
      return {
        kind: 'malformed',
        reason: `segment format ${format} (written by an older version): its synced records cannot be told from torn ones; run the version that wrote it, or start from a fresh data directory`,
      };
    }
    return { kind: 'invalid', reason: 'crc mismatch' };
  }
  const decoded = decodePayload(type, new DataView(buf.buffer, buf.byteOffset + offset + 9, length), body);
  if (typeof decoded === 'string') return { kind: 'malformed', reason: decoded };
  return { kind: 'ok', record: decoded, bytes: RECORD_HEADER_BYTES + length };
}

/** `body` is type byte + payload; returns the record or why the payload is malformed. */
function decodePayload(type: number, view: DataView, body: Uint8Array): WalRecord | string {
  const length = view.byteLength;
  const u64s = (count: number): number[] | string => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const v = getU64(view, i * 8);
      if (v < 0) return `u64 field ${i} is not a safe integer`;
      out.push(v);
    }
    return out;
  };
  switch (type) {
    case RecordType.segment: {
      if (length === 17) {
        return 'segment format 1 (written before sync records existed): its synced records cannot be told from torn ones; run the version that wrote it, or start from a fresh data directory';
      }
      if (length !== 18) return `segment payload must be 18 bytes, is ${length}`;
      if (view.getUint8(17) !== SEGMENT_FORMAT) return `unknown segment format ${view.getUint8(17)}`;
      const v = u64s(2);
      if (typeof v === 'string') return v;
      const headerRecords = view.getUint8(16);
      if (headerRecords > 2) return `segment headerRecords ${headerRecords} exceeds 2`;
      return { type: 'segment', seq: v[0]!, firstIndex: v[1]!, headerRecords };
    }
    case RecordType.snapshot: {
      if (length !== 16) return `snapshot payload must be 16 bytes, is ${length}`;
      const v = u64s(2);
      if (typeof v === 'string') return v;
      return { type: 'snapshot', index: v[0]!, term: v[1]! };
    }
    case RecordType.entry: {
      if (length < 16) return `entry payload must be at least 16 bytes, is ${length}`;
      const v = u64s(2);
      if (typeof v === 'string') return v;
      // Copy into a plain Uint8Array: the caller's buffer (a whole segment, maybe a node Buffer)
      // must not be pinned by every entry, and every Disk yields the same type.
      return { type: 'entry', index: v[0]!, term: v[1]!, data: new Uint8Array(body.subarray(17)) };
    }
    case RecordType.hardState: {
      if (length < 17) return `hard state payload must be at least 17 bytes, is ${length}`;
      const v = u64s(2);
      if (typeof v === 'string') return v;
      const voteLength = view.getUint8(16);
      if (length !== 17 + voteLength) return `hard state vote length ${voteLength} does not match payload ${length}`;
      let vote: string;
      try {
        vote = textDecoder.decode(body.subarray(18));
      } catch {
        return 'hard state vote is not utf-8';
      }
      return { type: 'hardState', state: { term: v[0]!, commit: v[1]!, vote } };
    }
    case RecordType.truncate: {
      if (length !== 8) return `truncate payload must be 8 bytes, is ${length}`;
      const v = u64s(1);
      if (typeof v === 'string') return v;
      return { type: 'truncate', fromIndex: v[0]! };
    }
    case RecordType.sync: {
      if (length !== SYNC_PAYLOAD_BYTES) return `sync payload must be ${SYNC_PAYLOAD_BYTES} bytes, is ${length}`;
      const v = u64s(3);
      if (typeof v === 'string') return v;
      const count = view.getUint8(24);
      if (count > SYNC_ZERO_PIECES_MAX && count !== SYNC_ZERO_MANY) return `sync zero piece count ${count}`;
      if (view.getUint8(length - 1) !== SYNC_END_MARK) return 'sync end mark missing';
      let zeroPieces: number[] | 'many' = 'many';
      if (count !== SYNC_ZERO_MANY) {
        zeroPieces = [];
        for (let i = 0; i < count; i++) zeroPieces.push(view.getUint32(25 + i * 4, true));
      }
      return { type: 'sync', batch: v[0]!, batchStart: v[1]!, batchBytes: v[2]!, zeroPieces };
    }
    default:
      return `unknown record type ${type}`;
  }
}

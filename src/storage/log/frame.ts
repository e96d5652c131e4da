// Log records on disk ("frames"): the byte grammar every segmented log shares, the two record types
// the log writes itself (SEGMENT, SYNC), and a decoder that classifies every failure. A client
// (the Raft WAL, later a partition log) owns the meaning of its own type bytes and payloads.
//
// Grammar (all integers little-endian; u64 values must be safe integers, < 2^53):
//
//   frame       := length:u32 | crc:u32 | type:u8 | payload[length]
//   length      := byte count of payload (the 9-byte header is not counted)
//   crc         := crc32c(length | type | payload) (CRC-32C, Castagnoli; format 3 on. The length is
//                  covered so a rotted length field is a CRC mismatch, never a record "cut off" at EOF.)
//   type        := 1 SEGMENT | 6 SYNC (the log's own) | a client type (declared when the log is
//                  opened; any other byte is `invalid`, like a CRC mismatch). 0 is never written,
//                  so a zero-filled region (a never-written tail) can never parse as a frame.
//                  (1 and 6 are the numbers WAL format 3 gave them; the WAL uses 2..5.)
//
//   type 1 SEGMENT  payload := seq:u64 | base:u64 | headerRecords:u8 | format:u8 (= 3)
//                   The first record of every segment; repeats what the file name says, so a renamed
//                   or misplaced file is caught. `base` is the client's key the segment starts at
//                   (the WAL: the next entry index; a partition log: the next offset).
//                   headerRecords (0..SEGMENT_HEADER_RECORDS_MAX) counts the client records right
//                   after it that restate the client's state at creation: the header is durable
//                   before the segment gets its name, so recovery never truncates into it.
//                   format 3: every batch ends with a SYNC record listing the batch's zero pieces,
//                   and the CRC covers the length. Older formats are refused loudly: format 1
//                   (17-byte payload, no SYNC records) and format 2 (CRC without the length, SYNC
//                   without zero pieces) cannot tell a rotted synced record from a torn one. A
//                   format-1/2 SEGMENT is recognised by its old-style CRC.
//   type 6 SYNC     payload := batch:u64 | batchStart:u64 | batchBytes:u64 | zeroCount:u8 |
//                               zeroPiece:u32[16] | end:u8 (= 0xA5)          (90 bytes, fixed)
//                   The last record of every group-commit batch, written with it before its
//                   fdatasync. `batch` counts the batches of this segment from 1; `batchStart` is
//                   the offset of the batch's first record and `batchBytes` the bytes before this
//                   record, so a SYNC record knows its own offset: one found elsewhere was moved
//                   there (a misdirected write), which no torn write can do. Batch k is written
//                   only after batch k-1's fdatasync returned, so a valid SYNC of batch k proves
//                   that every byte before its batchStart was synced (see segment.ts).
//                   zeroPiece[0..zeroCount) are the offsets (from batchStart) of the batch's sector
//                   pieces that the writer wrote all-zero (segment.ts zeroPieces), so a legitimately
//                   zero sector is never taken for one that did not land; zeroCount 255 = more than
//                   16 such pieces (then no zeroed piece of this batch is accepted as a sign of a
//                   tear). Unused slots hold 0xFFFFFFFF and the payload ends in 0xA5, so an encoded
//                   SYNC never holds a 16-byte zero run.
//
// Invariant kept here: decodeFrameAt never throws on arbitrary bytes; it returns `incomplete` (the
// bytes end inside the frame), `invalid` (header or CRC check failed) or a decoded frame. A frame
// whose CRC matches but whose payload is malformed (the log's own, or per the client's decoder) is
// a writer bug or deliberate tampering, never a torn write; it is `malformed`, refused loudly.

import { crc32cOf } from '../../lib/crc32c.ts';

export const RECORD_HEADER_BYTES = 9;
/** The segment format this code writes and reads (see SEGMENT in the grammar). */
export const SEGMENT_FORMAT = 3;
/** Client records a SEGMENT header may announce (the WAL restates hard state and snapshot). */
export const SEGMENT_HEADER_RECORDS_MAX = 2;
/** SYNC payload size (fixed; the scan only considers SYNC candidates with exactly this length). */
export const SYNC_PAYLOAD_BYTES = 90;
/** Zero pieces a SYNC record can list; beyond it the batch is marked 'many'. */
export const SYNC_ZERO_PIECES_MAX = 16;
const SYNC_ZERO_MANY = 255;
/** Last byte of every SYNC payload: a SYNC whose last sector did not land ends in 0 instead. */
export const SYNC_END_MARK = 0xa5;
const SEGMENT_PAYLOAD_BYTES = 18;

/** The type bytes the log writes itself; clients may use any other byte but 0. */
export const LogRecordType = { segment: 1, sync: 6 } as const;

export function isReservedType(type: number): boolean {
  return type === 0 || type === LogRecordType.segment || type === LogRecordType.sync;
}

export interface SegmentHeader {
  readonly seq: number;
  readonly base: number;
  readonly headerRecords: number;
}

export interface SyncInfo {
  readonly batch: number;
  readonly batchStart: number;
  readonly batchBytes: number;
  /** Offsets from batchStart of the pieces written all-zero; 'many' = over SYNC_ZERO_PIECES_MAX. Default []. */
  readonly zeroPieces?: readonly number[] | 'many';
}

/** Bytes of the SYNC record that ends every batch. */
export const SYNC_RECORD_BYTES = RECORD_HEADER_BYTES + SYNC_PAYLOAD_BYTES;

const TWO_32 = 2 ** 32;

export function putU64(view: DataView, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`log record field is not a u64: ${value}`);
  view.setUint32(offset, value % TWO_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
}

/** Reads a u64; returns -1 when it is not a safe integer (only a malformed record can carry one). */
export function getU64(view: DataView, offset: number): number {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  if (hi > 0x1f_ffff) return -1;
  return hi * TWO_32 + lo;
}

/**
 * Writes the header of a frame whose type and payload already sit at out[at + 8, at + 9 + length):
 * the length, then the CRC over length, type and payload. Callers encode payloads in place so a
 * batch is built in one buffer without a copy per record (`view`, when given, views all of `out`).
 */
export function sealFrame(
  out: Uint8Array,
  at: number,
  type: number,
  payloadLength: number,
  view = new DataView(out.buffer, out.byteOffset, out.byteLength),
): void {
  out[at + 8] = type;
  view.setUint32(at, payloadLength, true);
  view.setUint32(at + 4, frameCrc(out, at, at + RECORD_HEADER_BYTES + payloadLength), true);
}

/** One frame holding `payload`, as a fresh array. */
export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.byteLength);
  out.set(payload, RECORD_HEADER_BYTES);
  sealFrame(out, 0, type, payload.byteLength);
  return out;
}

export function encodeSegmentHeader(header: SegmentHeader): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + SEGMENT_PAYLOAD_BYTES);
  const view = new DataView(out.buffer);
  const p = RECORD_HEADER_BYTES;
  putU64(view, p, header.seq);
  putU64(view, p + 8, header.base);
  const n = header.headerRecords;
  if (!Number.isInteger(n) || n < 0 || n > SEGMENT_HEADER_RECORDS_MAX) {
    throw new RangeError(`log segment headerRecords must be 0..${SEGMENT_HEADER_RECORDS_MAX}: ${n}`);
  }
  out[p + 16] = n;
  out[p + 17] = SEGMENT_FORMAT;
  sealFrame(out, 0, LogRecordType.segment, SEGMENT_PAYLOAD_BYTES);
  return out;
}

/** Encodes a SYNC record into out[at, at + SYNC_RECORD_BYTES). */
export function writeSyncRecord(out: Uint8Array, at: number, sync: SyncInfo): void {
  const view = new DataView(out.buffer, out.byteOffset + at, SYNC_RECORD_BYTES);
  const p = RECORD_HEADER_BYTES;
  putU64(view, p, sync.batch);
  putU64(view, p + 8, sync.batchStart);
  putU64(view, p + 16, sync.batchBytes);
  const pieces = sync.zeroPieces ?? [];
  const list = pieces === 'many' ? [] : pieces;
  if (list.length > SYNC_ZERO_PIECES_MAX) throw new RangeError(`log sync record lists ${list.length} zero pieces`);
  out[at + p + 24] = pieces === 'many' ? SYNC_ZERO_MANY : list.length;
  for (let i = 0; i < SYNC_ZERO_PIECES_MAX; i++) {
    const v = list[i] ?? 0xffff_ffff;
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff)
      throw new RangeError(`log sync zero piece is not a u32: ${v}`);
    view.setUint32(p + 25 + i * 4, v, true);
  }
  out[at + p + SYNC_PAYLOAD_BYTES - 1] = SYNC_END_MARK;
  sealFrame(out, at, LogRecordType.sync, SYNC_PAYLOAD_BYTES);
}

export function encodeSyncRecord(sync: SyncInfo): Uint8Array {
  const out = new Uint8Array(SYNC_RECORD_BYTES);
  writeSyncRecord(out, 0, sync);
  return out;
}

/** Counts bytes hashed by record CRCs (the scan's cost), for tests and metrics. */
export interface CrcStats {
  crcBytes: number;
}

/** CRC of the frame at buf[offset, end): length field, then type and payload (the stored CRC skipped). */
function frameCrc(buf: Uint8Array, offset: number, end: number, stats?: CrcStats): number {
  if (stats !== undefined) stats.crcBytes += end - offset - 4;
  // Short records (most of a batch) in JavaScript: a native call costs more than their checksum.
  return crc32cOf(buf, offset + 8, end, crc32cOf(buf, offset, offset + 4));
}

/** CRC of a frame laid out like `buf[offset, end)` but with length field `length` (a rotted-length check). */
function crcWithLength(buf: Uint8Array, offset: number, end: number, length: number, stats?: CrcStats): number {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, length, true);
  if (stats !== undefined) stats.crcBytes += end - offset - 4;
  return crc32cOf(buf, offset + 8, end, crc32cOf(len, 0, 4));
}

/**
 * True when the bytes at `offset` are a SYNC record whose length field alone rotted: with the fixed
 * SYNC length put back, its CRC verifies. (The CRC covers the length, so this cannot be a tear.)
 */
export function syncLengthRotted(buf: Uint8Array, offset: number, stats?: CrcStats): boolean {
  const end = offset + RECORD_HEADER_BYTES + SYNC_PAYLOAD_BYTES;
  if (end > buf.byteLength || buf[offset + 8] !== LogRecordType.sync) return false;
  const view = new DataView(buf.buffer, buf.byteOffset + offset, RECORD_HEADER_BYTES);
  if (view.getUint32(0, true) === SYNC_PAYLOAD_BYTES) return false;
  return crcWithLength(buf, offset, end, SYNC_PAYLOAD_BYTES, stats) === view.getUint32(4, true);
}

/** What the log needs to know about a client's records to read them back. */
export interface FrameCodec<T> {
  /** The client's type bytes (never 0, 1 or 6); any other byte reads as `invalid`. */
  readonly isClientType: (type: number) => boolean;
  /**
   * Decodes a CRC-valid client payload (a view into the read buffer: copy what you keep); a
   * string says why it is malformed. Must not throw on any bytes.
   */
  readonly decode: (type: number, payload: Uint8Array) => T | string;
}

export type Frame<T> =
  | { readonly kind: 'segment'; readonly header: SegmentHeader }
  | { readonly kind: 'sync'; readonly sync: SyncInfo }
  | { readonly kind: 'client'; readonly type: number; readonly record: T };

export type DecodeResult<T> =
  | { readonly kind: 'ok'; readonly frame: Frame<T>; readonly bytes: number }
  /** The bytes end inside this frame's header or payload. */
  | { readonly kind: 'incomplete' }
  /** Header or CRC check failed: torn, zeroed or garbage. */
  | { readonly kind: 'invalid'; readonly reason: string }
  /** CRC matches but the payload breaks the grammar: never a torn write. */
  | { readonly kind: 'malformed'; readonly reason: string };

/** Decodes the frame starting at `offset` in `buf`; `payloadBytesMax` bounds the length field. */
export function decodeFrameAt<T>(
  buf: Uint8Array,
  offset: number,
  payloadBytesMax: number,
  codec: FrameCodec<T>,
  stats?: CrcStats,
): DecodeResult<T> {
  const available = buf.byteLength - offset;
  if (available < RECORD_HEADER_BYTES) return { kind: 'incomplete' };
  const view = new DataView(buf.buffer, buf.byteOffset + offset, available);
  const length = view.getUint32(0, true);
  const crc = view.getUint32(4, true);
  const type = view.getUint8(8);
  const own = type === LogRecordType.segment || type === LogRecordType.sync;
  if (!own && (type === 0 || !codec.isClientType(type)))
    return { kind: 'invalid', reason: `unknown record type ${type}` };
  if (length > payloadBytesMax) return { kind: 'invalid', reason: `record length ${length} exceeds the maximum` };
  if (available < RECORD_HEADER_BYTES + length) return { kind: 'incomplete' };
  const end = offset + RECORD_HEADER_BYTES + length;
  if (frameCrc(buf, offset, end, stats) !== crc) {
    if (type === LogRecordType.segment && crc32cOf(buf, offset + 8, end) === crc) {
      // The CRC of formats 1 and 2 (type and payload only): an older segment, refused loudly.
      const format = length === 17 ? 1 : length === 18 ? view.getUint8(9 + 17) : 0;
      return {
        kind: 'malformed',
        reason: `segment format ${format} (written by an older version): its synced records cannot be told from torn ones; run the version that wrote it, or start from a fresh data directory`,
      };
    }
    return { kind: 'invalid', reason: 'crc mismatch' };
  }
  const payload = buf.subarray(offset + RECORD_HEADER_BYTES, end);
  const bytes = RECORD_HEADER_BYTES + length;
  if (type === LogRecordType.segment) {
    const header = decodeSegmentPayload(payload);
    if (typeof header === 'string') return { kind: 'malformed', reason: header };
    return { kind: 'ok', frame: { kind: 'segment', header }, bytes };
  }
  if (type === LogRecordType.sync) {
    const sync = decodeSyncPayload(payload);
    if (typeof sync === 'string') return { kind: 'malformed', reason: sync };
    return { kind: 'ok', frame: { kind: 'sync', sync }, bytes };
  }
  const record = codec.decode(type, payload);
  if (typeof record === 'string') return { kind: 'malformed', reason: record };
  return { kind: 'ok', frame: { kind: 'client', type, record }, bytes };
}

function viewOf(payload: Uint8Array): DataView {
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
}

function decodeSegmentPayload(payload: Uint8Array): SegmentHeader | string {
  const length = payload.byteLength;
  if (length === 17) {
    return 'segment format 1 (written before sync records existed): its synced records cannot be told from torn ones; run the version that wrote it, or start from a fresh data directory';
  }
  if (length !== SEGMENT_PAYLOAD_BYTES) return `segment payload must be 18 bytes, is ${length}`;
  const view = viewOf(payload);
  if (view.getUint8(17) !== SEGMENT_FORMAT) return `unknown segment format ${view.getUint8(17)}`;
  const seq = getU64(view, 0);
  const base = getU64(view, 8);
  if (seq < 0 || base < 0) return 'segment u64 field is not a safe integer';
  const headerRecords = view.getUint8(16);
  if (headerRecords > SEGMENT_HEADER_RECORDS_MAX) {
    return `segment headerRecords ${headerRecords} exceeds ${SEGMENT_HEADER_RECORDS_MAX}`;
  }
  return { seq, base, headerRecords };
}

function decodeSyncPayload(payload: Uint8Array): SyncInfo | string {
  const length = payload.byteLength;
  if (length !== SYNC_PAYLOAD_BYTES) return `sync payload must be ${SYNC_PAYLOAD_BYTES} bytes, is ${length}`;
  const view = viewOf(payload);
  const batch = getU64(view, 0);
  const batchStart = getU64(view, 8);
  const batchBytes = getU64(view, 16);
  if (batch < 0 || batchStart < 0 || batchBytes < 0) return 'sync u64 field is not a safe integer';
  const count = view.getUint8(24);
  if (count > SYNC_ZERO_PIECES_MAX && count !== SYNC_ZERO_MANY) return `sync zero piece count ${count}`;
  if (view.getUint8(length - 1) !== SYNC_END_MARK) return 'sync end mark missing';
  let zeroPieces: number[] | 'many' = 'many';
  if (count !== SYNC_ZERO_MANY) {
    zeroPieces = [];
    for (let i = 0; i < count; i++) zeroPieces.push(view.getUint32(25 + i * 4, true));
  }
  return { batch, batchStart, batchBytes, zeroPieces };
}

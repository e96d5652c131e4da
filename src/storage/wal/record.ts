// WAL records: the Raft WAL's record types on the generic segmented log (src/storage/log), their
// payload grammar, encoding and decoding. Framing (length, CRC-32C, type), the SEGMENT header and
// the SYNC record that ends every group-commit batch are the log's (src/storage/log/frame.ts);
// the WAL's segments keep the same bytes as WAL format 3 (SEGMENT's `base` is the WAL's firstIndex).
//
// Payload grammar (all integers little-endian; u64 values must be safe integers, < 2^53):
//
//   type 2 ENTRY       payload := index:u64 | term:u64 | data[length - 16]
//   type 3 HARD_STATE  payload := term:u64 | commit:u64 | voteLength:u8 | vote[voteLength]
//                      vote is a utf-8 node id; voteLength 0 = no vote in this term.
//   type 4 SNAPSHOT    payload := index:u64 | term:u64
//                      "a snapshot covering the log up to index (whose entry had term) is durable".
//   type 5 TRUNCATE    payload := fromIndex:u64
//                      "entries from fromIndex on are discarded" (a conflicting suffix).
//
// A record whose CRC matches but whose payload is malformed is a writer bug or deliberate
// tampering, never a torn write: the decoder returns why, and recovery refuses it loudly.

import {
  encodeFrame,
  encodeSegmentHeader,
  encodeSyncRecord,
  type FrameCodec,
  getU64,
  LogRecordType,
  putU64,
  RECORD_HEADER_BYTES,
  SYNC_RECORD_BYTES,
} from '../log/frame.ts';
import type { RecordWriter } from '../log/log.ts';

export const RecordType = {
  segment: LogRecordType.segment,
  entry: 2,
  hardState: 3,
  snapshot: 4,
  truncate: 5,
  sync: LogRecordType.sync,
} as const;

/** Longest vote (node id) in a HARD_STATE record; the length travels in one byte. */
export const VOTE_BYTES_MAX = 255;

export interface WalHardState {
  readonly term: number;
  /** Node id voted for in `term`; '' = none. */
  readonly vote: string;
  readonly commit: number;
}

/** The records the WAL's client appends (the log writes SEGMENT and SYNC itself). */
export type WalClientRecord =
  | { readonly type: 'entry'; readonly index: number; readonly term: number; readonly data: Uint8Array }
  | { readonly type: 'hardState'; readonly state: WalHardState }
  | { readonly type: 'snapshot'; readonly index: number; readonly term: number }
  | { readonly type: 'truncate'; readonly fromIndex: number };

/** Every record of a WAL segment, the log's own included (tests build segments by hand with these). */
export type WalRecord =
  | { readonly type: 'segment'; readonly seq: number; readonly firstIndex: number; readonly headerRecords: number }
  | WalClientRecord
  | {
      readonly type: 'sync';
      readonly batch: number;
      readonly batchStart: number;
      readonly batchBytes: number;
      /** Offsets from batchStart of the pieces written all-zero; 'many' = over SYNC_ZERO_PIECES_MAX. Default []. */
      readonly zeroPieces?: readonly number[] | 'many';
    };

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Bytes `record` occupies on disk, header included. */
export function encodedRecordBytes(record: WalRecord): number {
  switch (record.type) {
    case 'segment':
      return RECORD_HEADER_BYTES + 18;
    case 'sync':
      return SYNC_RECORD_BYTES;
    default:
      return RECORD_HEADER_BYTES + walPayloadBytes(record);
  }
}

/** Payload size of `record`; throws RangeError for a field that cannot be encoded (checked before any byte is written). */
function walPayloadBytes(record: WalClientRecord): number {
  const u64 = (...values: number[]): void => {
    for (const v of values)
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`wal record field is not a u64: ${v}`);
  };
  switch (record.type) {
    case 'snapshot':
      u64(record.index, record.term);
      return 16;
    case 'entry':
      u64(record.index, record.term);
      return 16 + record.data.byteLength;
    case 'hardState': {
      u64(record.state.term, record.state.commit);
      const voteBytes = textEncoder.encode(record.state.vote).byteLength;
      if (voteBytes > VOTE_BYTES_MAX) throw new RangeError('wal hard state vote is longer than 255 bytes');
      return 17 + voteBytes;
    }
    case 'truncate':
      u64(record.fromIndex);
      return 8;
  }
}

const TYPE_OF = {
  entry: RecordType.entry,
  hardState: RecordType.hardState,
  snapshot: RecordType.snapshot,
  truncate: RecordType.truncate,
} as const;

/** Encodes the WAL's records straight into the log's batch buffer (SegmentedLog.appendWith). */
export const walRecordWriter: RecordWriter<WalClientRecord> = {
  type: (r) => TYPE_OF[r.type],
  payloadBytes: walPayloadBytes,
  write: (record, out, view, at) => {
    switch (record.type) {
      case 'entry':
        putU64(view, at, record.index);
        putU64(view, at + 8, record.term);
        out.set(record.data, at + 16);
        return;
      case 'hardState': {
        putU64(view, at, record.state.term);
        putU64(view, at + 8, record.state.commit);
        const vote = textEncoder.encode(record.state.vote);
        out[at + 16] = vote.byteLength;
        out.set(vote, at + 17);
        return;
      }
      case 'snapshot':
        putU64(view, at, record.index);
        putU64(view, at + 8, record.term);
        return;
      case 'truncate':
        putU64(view, at, record.fromIndex);
        return;
    }
  },
};

/**
 * A client record's type byte and payload. Programmer errors (negative or unsafe numbers, an
 * over-long vote) throw a RangeError: such a record must never reach the disk.
 */
export function encodeWalPayload(record: WalClientRecord): { type: number; payload: Uint8Array } {
  const payload = new Uint8Array(walPayloadBytes(record));
  walRecordWriter.write(record, payload, new DataView(payload.buffer), 0);
  return { type: TYPE_OF[record.type], payload };
}

/** Encodes one record, frame included. */
export function encodeRecord(record: WalRecord): Uint8Array {
  switch (record.type) {
    case 'segment':
      return encodeSegmentHeader({ seq: record.seq, base: record.firstIndex, headerRecords: record.headerRecords });
    case 'sync':
      return encodeSyncRecord(record);
    default: {
      const { type, payload } = encodeWalPayload(record);
      return encodeFrame(type, payload);
    }
  }
}

/** How the log reads the WAL's records (types 2..5). */
export const walCodec: FrameCodec<WalClientRecord> = {
  isClientType: (type) => type >= RecordType.entry && type <= RecordType.truncate,
  decode: (type, payload) =>
    decodePayload(type, new DataView(payload.buffer, payload.byteOffset, payload.byteLength), payload),
};

/** Returns the record in `payload` (viewed by `view`) or why the payload is malformed. */
function decodePayload(type: number, view: DataView, payload: Uint8Array): WalClientRecord | string {
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
      return { type: 'entry', index: v[0]!, term: v[1]!, data: new Uint8Array(payload.subarray(16)) };
    }
    case RecordType.hardState: {
      if (length < 17) return `hard state payload must be at least 17 bytes, is ${length}`;
      const v = u64s(2);
      if (typeof v === 'string') return v;
      const voteLength = view.getUint8(16);
      if (length !== 17 + voteLength) return `hard state vote length ${voteLength} does not match payload ${length}`;
      let vote: string;
      try {
        vote = textDecoder.decode(payload.subarray(17));
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
    default:
      return `unknown record type ${type}`;
  }
}

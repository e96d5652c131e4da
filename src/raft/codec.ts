// Binary codec for Raft peer messages (the payload of a MessageType.Raft transport frame; the
// transport does the framing). Hand-written over src/lib/bytes.ts ByteWriter/ByteReader.
//
// Grammar (all integers UNSIGNED_VARINT, safe integers only; string = uvarint length + UTF-8;
// bytes = uvarint length + raw):
//   message           := version:u8(=1) type:u8 from:string to:string term body
//   Append            := prevIndex prevTerm commit count entry{count}
//   entry             := index term type:u8(1 Normal | 2 Noop | 3 ConfChange) data:bytes
//   AppendResponse    := reject:bool index hintIndex hintTerm
//   Heartbeat         := commit readSeq
//   HeartbeatResponse := readSeq
//   Vote | PreVote    := lastIndex lastTerm transfer:bool
//   VoteResponse | PreVoteResponse := reject:bool
//   Snapshot          := metaIndex metaTerm confState totalBytes offset done:bool chunk:bytes
//   confState         := nVoters string{nVoters} nLearners string{nLearners}
//   SnapshotResponse  := snapshotIndex nextOffset done:bool matchIndex reject:bool
//   TimeoutNow        := (empty)
//   ReadIndex         := requestCtx:bytes
//   ReadIndexResponse := index requestCtx:bytes
//
// decodeMessage never throws on bad input: it returns a ProtocolError (unknown version or type,
// truncation, trailing bytes, oversize ids/contexts, and semantic checks the core relies on —
// contiguous entry indexes after prevIndex, entry terms <= message term, a snapshot chunk inside
// its total, a decodable ConfChange entry) so that untrusted bytes never reach a core assertion.
// Decoded byte fields are copies: the caller may reuse its input buffer.

import { ByteReader, ByteWriter, utf8ByteLength } from '../lib/bytes.ts';
import type { ProtocolErrorCode } from '../lib/error-codes.ts';
import { ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { decodeConfChangeEntry, readConfState, writeConfState } from './conf.ts';
import { type ConfState, type Entry, EntryType, type Message, MsgType } from './types.ts';

export const RAFT_CODEC_VERSION = 1;
/** Largest ReadIndex request context. */
export const READ_CTX_BYTES_MAX = limits.raftReadCtxBytesMax;

const ENTRY_TYPES: ReadonlySet<number> = new Set(Object.values(EntryType));

export function encodeMessage(m: Message): Uint8Array {
  const w = new ByteWriter({ bytesMax: limits.peerFrameBytesMax });
  w.u8(RAFT_CODEC_VERSION).u8(m.type).stringUvarint(m.from).stringUvarint(m.to).uvarint(m.term);
  switch (m.type) {
    case MsgType.Append:
      w.uvarint(m.prevIndex).uvarint(m.prevTerm).uvarint(m.commit).uvarint(m.entries.length);
      for (const e of m.entries) w.uvarint(e.index).uvarint(e.term).u8(e.type).bytesUvarint(e.data);
      break;
    case MsgType.AppendResponse:
      w.bool(m.reject).uvarint(m.index).uvarint(m.hintIndex).uvarint(m.hintTerm);
      break;
    case MsgType.Heartbeat:
      w.uvarint(m.commit).uvarint(m.readSeq);
      break;
    case MsgType.HeartbeatResponse:
      w.uvarint(m.readSeq);
      break;
    case MsgType.Vote:
    case MsgType.PreVote:
      w.uvarint(m.lastIndex).uvarint(m.lastTerm).bool(m.transfer);
      break;
    case MsgType.VoteResponse:
    case MsgType.PreVoteResponse:
      w.bool(m.reject);
      break;
    case MsgType.Snapshot:
      w.uvarint(m.meta.index).uvarint(m.meta.term);
      writeConfState(w, m.meta.confState);
      w.uvarint(m.totalBytes).uvarint(m.offset).bool(m.done).bytesUvarint(m.chunk);
      break;
    case MsgType.SnapshotResponse:
      w.uvarint(m.snapshotIndex).uvarint(m.nextOffset).bool(m.done).uvarint(m.matchIndex).bool(m.reject);
      break;
    case MsgType.TimeoutNow:
      break;
    case MsgType.ReadIndex:
      w.bytesUvarint(m.requestCtx);
      break;
    case MsgType.ReadIndexResponse:
      w.uvarint(m.index).bytesUvarint(m.requestCtx);
      break;
  }
  return w.finish();
}

/** Decodes one message; malformed or foreign bytes come back as a ProtocolError (never thrown). */
export function decodeMessage(bytes: Uint8Array): Message | ProtocolError {
  try {
    return decodeOrThrow(bytes);
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
}

function bad(code: ProtocolErrorCode, message: string): never {
  throw new ProtocolError(code, message);
}

function nodeId(r: ByteReader, what: string): string {
  const s = r.stringUvarint();
  const n = utf8ByteLength(s);
  if (n === 0 || n > limits.nodeIdBytesMax) bad('raft_bad_node_id', `${what} id of ${n} bytes`);
  return s;
}

function ctxBytes(r: ByteReader): Uint8Array {
  const b = r.bytesUvarint();
  if (b.length > READ_CTX_BYTES_MAX) bad('raft_ctx_too_large', `read context of ${b.length} bytes`);
  return b.slice();
}

function checkConf(conf: ConfState): ConfState {
  const all = [...conf.voters, ...conf.learners];
  if (new Set(all).size !== all.length || all.some((id) => id.length === 0))
    bad('raft_bad_conf', 'duplicate or empty member');
  return conf;
}

function decodeOrThrow(bytes: Uint8Array): Message {
  const r = new ByteReader(bytes);
  const version = r.u8();
  if (version !== RAFT_CODEC_VERSION) bad('raft_bad_version', `unsupported raft codec version ${version}`);
  const type = r.u8();
  const from = nodeId(r, 'from');
  const to = nodeId(r, 'to');
  const term = r.uvarint();
  const base = { from, to, term };
  let m: Message;
  switch (type) {
    case MsgType.Append: {
      const prevIndex = r.uvarint();
      const prevTerm = r.uvarint();
      const commit = r.uvarint();
      const count = r.uvarint();
      // Each entry takes at least 4 bytes: a forged count cannot make us loop or allocate more.
      if (count > r.remaining / 4) bad('raft_bad_append', `${count} entries in ${r.remaining} bytes`);
      if (prevTerm > term) bad('raft_bad_append', `prevTerm ${prevTerm} > term ${term}`);
      const entries: Entry[] = [];
      let lastTerm = prevTerm;
      for (let i = 0; i < count; i++) {
        const index = r.uvarint();
        const eTerm = r.uvarint();
        const eType = r.u8();
        const data = r.bytesUvarint().slice();
        if (index !== prevIndex + 1 + i)
          bad('raft_bad_append', `entry ${i} has index ${index}, expected ${prevIndex + 1 + i}`);
        if (eTerm < lastTerm || eTerm > term) bad('raft_bad_append', `entry ${index} term ${eTerm} out of order`);
        if (!ENTRY_TYPES.has(eType)) bad('raft_bad_entry_type', `entry ${index} has type ${eType}`);
        const e = { index, term: eTerm, type: eType as EntryType, data };
        if (e.type === EntryType.ConfChange) checkConf(decodeConfChangeEntry(data).conf);
        entries.push(e);
        lastTerm = eTerm;
      }
      m = { ...base, type, prevIndex, prevTerm, commit, entries };
      break;
    }
    case MsgType.AppendResponse: {
      const reject = r.bool();
      m = { ...base, type, reject, index: r.uvarint(), hintIndex: r.uvarint(), hintTerm: r.uvarint() };
      break;
    }
    case MsgType.Heartbeat:
      m = { ...base, type, commit: r.uvarint(), readSeq: r.uvarint() };
      break;
    case MsgType.HeartbeatResponse:
      m = { ...base, type, readSeq: r.uvarint() };
      break;
    case MsgType.Vote:
    case MsgType.PreVote: {
      const lastIndex = r.uvarint();
      const lastTerm = r.uvarint();
      m = { ...base, type, lastIndex, lastTerm, transfer: r.bool() };
      break;
    }
    case MsgType.VoteResponse:
    case MsgType.PreVoteResponse:
      m = { ...base, type, reject: r.bool() };
      break;
    case MsgType.Snapshot: {
      const index = r.uvarint();
      const sTerm = r.uvarint();
      const confState = checkConf(readConfState(r));
      const totalBytes = r.uvarint();
      const offset = r.uvarint();
      const done = r.bool();
      const chunk = r.bytesUvarint().slice();
      if (offset + chunk.length > totalBytes)
        bad('raft_bad_snapshot', `chunk [${offset}, +${chunk.length}) beyond ${totalBytes}`);
      if (done !== (offset + chunk.length === totalBytes)) bad('raft_bad_snapshot', 'done flag disagrees with offsets');
      if (sTerm > term || index === 0) bad('raft_bad_snapshot', `snapshot (${index}, ${sTerm}) in term ${term}`);
      m = { ...base, type, meta: { index, term: sTerm, confState }, totalBytes, offset, done, chunk };
      break;
    }
    case MsgType.SnapshotResponse: {
      const snapshotIndex = r.uvarint();
      const nextOffset = r.uvarint();
      const done = r.bool();
      const matchIndex = r.uvarint();
      m = { ...base, type, snapshotIndex, nextOffset, done, matchIndex, reject: r.bool() };
      break;
    }
    case MsgType.TimeoutNow:
      m = { ...base, type };
      break;
    case MsgType.ReadIndex:
      m = { ...base, type, requestCtx: ctxBytes(r) };
      break;
    case MsgType.ReadIndexResponse: {
      const index = r.uvarint();
      m = { ...base, type, index, requestCtx: ctxBytes(r) };
      break;
    }
    default:
      return bad('raft_bad_type', `unknown raft message type ${type}`);
  }
  r.expectEnd('raft message');
  return m;
}

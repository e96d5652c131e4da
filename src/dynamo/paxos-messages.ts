// Ballots, versions and peer messages of the per-key Paxos (paxos.ts), and the acceptor's durable
// state, with their codecs. A message is the payload of one peer frame (src/net/frame.ts bounds the
// frame, checks its CRC and names the sender), so the decoder sees one complete payload. The
// acceptor state is what the acceptor writes through its store (paxos.ts, PaxosStore); the store is
// ours, but its bytes get the same checked decoder (a bug or a foreign format is loud, never silent).
//
// Grammar (integers big-endian; uvarint = UNSIGNED_VARINT, src/lib/bytes.ts):
//   message   = version type op key ballot body
//   version   = u8                         ; 1
//   type      = u8                         ; 1..6 below
//   prepare   =                            ; 1: promise `ballot`, tell me what you accepted
//   promise   = ok promised opt-version{2} ; 2: ok = u8 0|1; then accepted, then committed
//   propose   = origin recent value        ; 3: accept (ballot, origin, recent, value)
//   accept    = ok promised                ; 4
//   commit    = origin recent value        ; 5: (ballot, origin, recent, value) was accepted by a quorum
//   commitAck =                            ; 6
//   op        = uvarint                    ; the proposer's operation id (safe integer)
//   key       = uvarint length (0..kvKeyBytesMax) + bytes
//   ballot    = ms rand node               ; ordered by ms, then rand, then node (UTF-16 order)
//   ms        = uvarint                    ; 0..2^53-1 (the proposer's clock, milliseconds)
//   rand      = u32
//   node      = uvarint length (0..nodeIdBytesMax) + UTF-8 ; empty only in the zero ballot
//   opt-version = u8 0 | u8 1 version-body
//   version-body = ballot origin recent value
//   origin    = ballot                     ; the ballot that first proposed this value
//   recent    = uvarint n (0..paxosRecentOriginsCountMax) ballot{n} ; origins of the changes before
//                                          ; it, newest first: strictly descending, all below origin
//   value     = u8 0 (absent) | u8 1 uvarint length (0..paxosValueBytesMax) + bytes
//   state     = u8 1 (format) promised opt-version opt-version   ; the acceptor's state of one key
// Untrusted bytes never reach an assert: every broken rule is a ProtocolError with a stable code
// (dynamo_bad_version, dynamo_bad_type, dynamo_malformed, or ByteReader's truncated, trailing_bytes,
// invalid_utf8, varint_*). The codes are the Dynamo peer messages' own: Paxos messages travel
// between the same replicas, and the driver counts them under the same labels.

import type { NodeId } from '../env/types.ts';
import { ByteReader, ByteWriter, utf8ByteLength } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

export const PAXOS_MESSAGE_VERSION = 1;
export const PAXOS_STATE_FORMAT = 1;
const RAND_RANGE = 2 ** 32;

/** A Paxos ballot: unique per proposal, totally ordered (ms, then rand, then node). */
export interface Ballot {
  readonly ms: number;
  readonly rand: number;
  readonly node: NodeId;
}

/** Below every ballot a proposer makes (its node is empty). */
export const BALLOT_ZERO: Ballot = Object.freeze({ ms: 0, rand: 0, node: '' });

export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.rand !== b.rand) return a.rand < b.rand ? -1 : 1;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

export const ballotEquals = (a: Ballot, b: Ballot): boolean => compareBallots(a, b) === 0;

export function formatBallot(b: Ballot): string {
  return `${b.ms}.${b.rand.toString(16)}@${b.node}`;
}

/**
 * A value accepted at `ballot`; `origin` is the ballot of the proposal that made it (kept when
 * re-accepted), `recent` the origins of the changes before it in the chain, newest first (bounded:
 * a proposer finds there whether its own earlier proposal was applied and then overwritten).
 */
export interface PaxosVersion {
  readonly ballot: Ballot;
  readonly origin: Ballot;
  readonly recent: readonly Ballot[];
  /** null: the key is absent. */
  readonly value: Uint8Array | null;
}

/** One acceptor's durable state of one key. */
export interface AcceptorState {
  readonly promised: Ballot;
  readonly accepted: PaxosVersion | null;
  /** The highest-ballot version this acceptor was told a quorum accepted (Cassandra's most recent commit). */
  readonly committed: PaxosVersion | null;
}

export const EMPTY_ACCEPTOR_STATE: AcceptorState = Object.freeze({
  promised: BALLOT_ZERO,
  accepted: null,
  committed: null,
});

interface Header {
  readonly op: number;
  readonly key: Uint8Array;
  /** The ballot of the round the message belongs to (a reply echoes its request's). */
  readonly ballot: Ballot;
}

export type PaxosRequest =
  | (Header & { readonly type: 'prepare' })
  | (Header & {
      readonly type: 'propose';
      readonly origin: Ballot;
      readonly recent: readonly Ballot[];
      readonly value: Uint8Array | null;
    })
  | (Header & {
      readonly type: 'commit';
      readonly origin: Ballot;
      readonly recent: readonly Ballot[];
      readonly value: Uint8Array | null;
    });

export type PaxosReply =
  | (Header & {
      readonly type: 'promise';
      readonly ok: boolean;
      /** The acceptor's promise after this prepare (above `ballot` when it refused). */
      readonly promised: Ballot;
      readonly accepted: PaxosVersion | null;
      readonly committed: PaxosVersion | null;
    })
  | (Header & { readonly type: 'accept'; readonly ok: boolean; readonly promised: Ballot })
  | (Header & { readonly type: 'commitAck' });

export type PaxosMessage = PaxosRequest | PaxosReply;

const TYPE_TAGS = {
  prepare: 1,
  promise: 2,
  propose: 3,
  accept: 4,
  commit: 5,
  commitAck: 6,
} as const satisfies Record<PaxosMessage['type'], number>;

function malformed(message: string): never {
  throw new ProtocolError('dynamo_malformed', `paxos: ${message}`);
}

// --- encode ---------------------------------------------------------------------------------------

function writeBallot(w: ByteWriter, b: Ballot): void {
  w.uvarint(b.ms).u32(b.rand).stringUvarint(b.node);
}

function writeValue(w: ByteWriter, value: Uint8Array | null): void {
  if (value === null) w.u8(0);
  else w.u8(1).bytesUvarint(value);
}

function writeRecent(w: ByteWriter, recent: readonly Ballot[]): void {
  w.uvarint(recent.length);
  for (const b of recent) writeBallot(w, b);
}

function writeVersion(w: ByteWriter, v: PaxosVersion | null): void {
  if (v === null) {
    w.u8(0);
    return;
  }
  w.u8(1);
  writeBallot(w, v.ballot);
  writeBallot(w, v.origin);
  writeRecent(w, v.recent);
  writeValue(w, v.value);
}

export function encodePaxosMessage(m: PaxosMessage): Uint8Array {
  const w = new ByteWriter();
  w.u8(PAXOS_MESSAGE_VERSION).u8(TYPE_TAGS[m.type]).uvarint(m.op).bytesUvarint(m.key);
  writeBallot(w, m.ballot);
  switch (m.type) {
    case 'promise':
      w.u8(m.ok ? 1 : 0);
      writeBallot(w, m.promised);
      writeVersion(w, m.accepted);
      writeVersion(w, m.committed);
      break;
    case 'propose':
    case 'commit':
      writeBallot(w, m.origin);
      writeRecent(w, m.recent);
      writeValue(w, m.value);
      break;
    case 'accept':
      w.u8(m.ok ? 1 : 0);
      writeBallot(w, m.promised);
      break;
    case 'prepare':
    case 'commitAck':
      break;
  }
  return w.finish();
}

export function encodeAcceptorState(s: AcceptorState): Uint8Array {
  const w = new ByteWriter().u8(PAXOS_STATE_FORMAT);
  writeBallot(w, s.promised);
  writeVersion(w, s.accepted);
  writeVersion(w, s.committed);
  return w.finish();
}

// --- decode ---------------------------------------------------------------------------------------

function readFlag(r: ByteReader): boolean {
  const b = r.u8();
  if (b > 1) malformed(`flag byte ${b}`);
  return b === 1;
}

function readBallot(r: ByteReader): Ballot {
  const ms = r.uvarint();
  const rand = r.u32();
  const node = r.stringUvarint();
  const n = utf8ByteLength(node);
  if (n > limits.nodeIdBytesMax) malformed(`ballot node id of ${n} bytes`);
  if (n === 0 && (ms !== 0 || rand !== 0)) malformed('a ballot without a node id');
  if (rand >= RAND_RANGE) malformed(`ballot rand ${rand}`);
  return { ms, rand, node };
}

function readValue(r: ByteReader): Uint8Array | null {
  if (!readFlag(r)) return null;
  const value = r.bytesUvarint();
  if (value.length > limits.paxosValueBytesMax)
    malformed(`value of ${value.length} bytes, max ${limits.paxosValueBytesMax}`);
  return value;
}

function readRecent(r: ByteReader, origin: Ballot): Ballot[] {
  const n = r.uvarint();
  if (n > limits.paxosRecentOriginsCountMax) malformed(`${n} recent origins, max ${limits.paxosRecentOriginsCountMax}`);
  const recent: Ballot[] = [];
  let above = origin;
  for (let i = 0; i < n; i++) {
    const b = readBallot(r);
    if (compareBallots(b, above) >= 0) malformed('recent origins must descend below the origin');
    recent.push(b);
    above = b;
  }
  return recent;
}

function readVersion(r: ByteReader): PaxosVersion | null {
  if (!readFlag(r)) return null;
  const ballot = readBallot(r);
  const origin = readBallot(r);
  if (compareBallots(origin, ballot) > 0) malformed('a version whose origin is above its ballot');
  return { ballot, origin, recent: readRecent(r, origin), value: readValue(r) };
}

function readLineage(r: ByteReader): { origin: Ballot; recent: Ballot[] } {
  const origin = readBallot(r);
  return { origin, recent: readRecent(r, origin) };
}

/** Decodes one Paxos message payload from untrusted bytes (grammar at the top of this file). */
export function decodePaxosMessage(bytes: Uint8Array): PaxosMessage {
  const r = new ByteReader(bytes);
  const version = r.u8();
  if (version !== PAXOS_MESSAGE_VERSION) {
    throw new ProtocolError('dynamo_bad_version', `paxos message version ${version}, this build reads 1`, { version });
  }
  const tag = r.u8();
  if (tag < 1 || tag > 6) throw new ProtocolError('dynamo_bad_type', `paxos message type ${tag}`, { type: tag });
  const op = r.uvarint();
  const key = r.bytesUvarint();
  if (key.length > limits.kvKeyBytesMax) malformed(`key of ${key.length} bytes, max ${limits.kvKeyBytesMax}`);
  const ballot = readBallot(r);
  const h = { op, key, ballot };
  let m: PaxosMessage;
  switch (tag) {
    case 1:
      m = { type: 'prepare', ...h };
      break;
    case 2: {
      const ok = readFlag(r);
      const promised = readBallot(r);
      m = { type: 'promise', ...h, ok, promised, accepted: readVersion(r), committed: readVersion(r) };
      break;
    }
    case 3:
      m = { type: 'propose', ...h, ...readLineage(r), value: readValue(r) };
      break;
    case 4:
      m = { type: 'accept', ...h, ok: readFlag(r), promised: readBallot(r) };
      break;
    case 5:
      m = { type: 'commit', ...h, ...readLineage(r), value: readValue(r) };
      break;
    default:
      m = { type: 'commitAck', ...h };
  }
  if ((m.type === 'propose' || m.type === 'commit') && compareBallots(m.origin, m.ballot) > 0) {
    malformed(`a ${m.type} whose origin is above its ballot`);
  }
  r.expectEnd('paxos message');
  return m;
}

/** Decodes an acceptor state the store returned (checked like the network's bytes). */
export function decodeAcceptorState(bytes: Uint8Array): AcceptorState {
  const r = new ByteReader(bytes);
  const format = r.u8();
  if (format !== PAXOS_STATE_FORMAT) {
    throw new ProtocolError('dynamo_bad_version', `paxos state format ${format}, this build reads 1`, { format });
  }
  const s: AcceptorState = { promised: readBallot(r), accepted: readVersion(r), committed: readVersion(r) };
  r.expectEnd('paxos state');
  return s;
}

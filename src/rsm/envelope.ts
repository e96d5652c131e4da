// The command envelope of a replicated state machine (state-machine.ts), its result, and the
// leader's stamp. Every Raft entry a namespace-hosting state machine applies is one envelope; the
// namespace's own command is the payload, opaque here. Decoding is total: bytes in the log that
// are not an envelope become an error *result* on every replica, never an exception that would
// stop one.
//
//   Envelope = u8 format(2) | f64 stampMs | f64 term | uvarint namespace | uvarint sessionId
//              | uvarint seq | payload (every byte after seq)
//     format     2 (1 was the metadata group's KV-only command, src/metadata/command.ts; the state
//                machine may be given a translator for it)
//     stampMs    the leader's time, stamped when it proposes (stampEnvelope; log-clock.ts): the
//                milliseconds its monotonic clock measured since its first stamp in `term`. The
//                state machine turns it into log time: the log time at which the term appeared in
//                the log plus stampMs (sessions.ts). With term 0 (unstamped: the proposer's
//                placeholder, or a translated format-1 command) it is an absolute log time. Finite.
//     term       the proposing leader's term, stamped with the time (0 = unstamped). A
//                non-negative safe integer. The state machine sees a new term in the log through
//                it (a new leader grants every live session a full timeout, sessions.ts).
//   Why relative to the term: a new leader cannot know the log time when it proposes its first
//   commands — it has not yet applied its predecessors' last entries (it commits them only with its
//   own first entry) — while every replica knows it when it applies them. An absolute stamp based
//   on the leader's applied log time stalled log time for a whole term by that lag (seen in
//   test/sim/session-grant-sim.test.ts: 270 s).
//     namespace  a NamespaceId (namespace.ts); 0 = the session table, whose payloads are
//                SessionOp below
//     sessionId  the client session (0 = none: executed every time it is applied)
//     seq        the request's number within its session (increasing by one; 0 with no session)
//   SessionOp = u8 op | body
//     op 1 register:   uvarint-string clientAddress   (the envelope's session is 0)
//     op 2 unregister: (nothing)                      (closes the envelope's session)
//   Result = u8 status | body
//     status 0 applied:  the namespace's result payload (every remaining byte); for a register,
//                        uvarint sessionId (= the register's log index)
//     status 1 refused:  uvarint-string code — refused before any namespace ran (RsmErrorCode)
//
// The stamp sits at fixed offsets (1 and 9), so a leader stamps a forwarded command without
// decoding it.

import { ByteReader, ByteWriter } from '../lib/bytes.ts';
import type { ErrorCode } from '../lib/error-codes.ts';
import { BaristaError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

export const ENVELOPE_FORMAT = 2;
/** format + stampMs + term + namespace + sessionId + seq, each at its widest. */
export const ENVELOPE_HEADER_BYTES_MAX = 1 + 8 + 8 + 5 + 10 + 10;

const STAMP_MS_OFFSET = 1;
const TERM_OFFSET = 9;
const STAMP_END = 17;

export interface Envelope {
  readonly stampMs: number;
  readonly term: number;
  readonly namespace: number;
  readonly sessionId: number;
  readonly seq: number;
  readonly payload: Uint8Array;
}

/** Codes the state machine answers before (or instead of) a namespace: catalogue codes. */
const rsmErrorCodes = [
  'malformed_command',
  'unknown_namespace',
  'session_expired',
  'stale_sequence',
  'too_many_sessions',
] as const satisfies readonly ErrorCode[];
export type RsmErrorCode = (typeof rsmErrorCodes)[number];

export type RsmResult =
  | { readonly status: 'applied'; readonly payload: Uint8Array }
  | { readonly status: 'refused'; readonly code: RsmErrorCode };

const SESSION_OP = { register: 1, unregister: 2 } as const;

export type SessionOp = { readonly op: 'register'; readonly clientAddress: string } | { readonly op: 'unregister' };

export function encodeEnvelope(e: Envelope, bytesMax: number = limits.raftEntryBytesMax): Uint8Array {
  return new ByteWriter({ bytesMax, initialBytes: ENVELOPE_HEADER_BYTES_MAX + e.payload.length })
    .u8(ENVELOPE_FORMAT)
    .f64(e.stampMs)
    .f64(e.term)
    .uvarint(e.namespace)
    .uvarint(e.sessionId)
    .uvarint(e.seq)
    .raw(e.payload)
    .finish();
}

/** The format byte of an entry (undefined for an empty one): how the state machine picks a decoder. */
export function formatOf(data: Uint8Array): number | undefined {
  return data[0];
}

/** Decodes an envelope; any malformation is returned as a `malformed_command` error, never thrown. */
export function decodeEnvelope(data: Uint8Array): Envelope | BaristaError {
  try {
    const r = new ByteReader(data);
    const format = r.u8();
    if (format !== ENVELOPE_FORMAT) return new BaristaError('malformed_command', `unknown envelope format ${format}`);
    const stampMs = r.f64();
    if (!Number.isFinite(stampMs)) return new BaristaError('malformed_command', 'stampMs is not finite');
    const term = r.f64();
    if (!Number.isSafeInteger(term) || term < 0) return new BaristaError('malformed_command', 'term is not a term');
    const namespace = r.uvarint();
    const sessionId = r.uvarint();
    const seq = r.uvarint();
    return { stampMs, term, namespace, sessionId, seq, payload: r.rest() };
  } catch (err) {
    return asMalformed(err);
  }
}

/**
 * `envelope` with its stamp replaced (a copy; the input is not touched). The leader calls this
 * when it proposes, so time and term come from the leader, never from the node a client
 * reached. Bytes that are not an envelope are returned as they are (the state machine refuses
 * them, or translates a legacy format).
 */
export function stampEnvelope(envelope: Uint8Array, stampMs: number, term: number): Uint8Array {
  if (envelope.length < STAMP_END || envelope[0] !== ENVELOPE_FORMAT) return envelope;
  const out = envelope.slice();
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setFloat64(STAMP_MS_OFFSET, stampMs);
  view.setFloat64(TERM_OFFSET, term);
  return out;
}

export function encodeSessionOp(op: SessionOp): Uint8Array {
  const w = new ByteWriter({ bytesMax: 1024 }).u8(SESSION_OP[op.op]);
  if (op.op === 'register') w.stringUvarint(op.clientAddress);
  return w.finish();
}

export function decodeSessionOp(payload: Uint8Array): SessionOp | BaristaError {
  try {
    const r = new ByteReader(payload);
    const op = r.u8();
    let out: SessionOp;
    if (op === SESSION_OP.register) out = { op: 'register', clientAddress: r.stringUvarint() };
    else if (op === SESSION_OP.unregister) out = { op: 'unregister' };
    else return new BaristaError('malformed_command', `unknown session op ${op}`);
    r.expectEnd('session op');
    return out;
  } catch (err) {
    return asMalformed(err);
  }
}

export function encodeRsmResult(r: RsmResult): Uint8Array {
  if (r.status === 'refused') return new ByteWriter({ bytesMax: 256 }).u8(1).stringUvarint(r.code).finish();
  // Applied: on every write's path, so one exact allocation.
  const out = new Uint8Array(1 + r.payload.length);
  out.set(r.payload, 1);
  return out;
}

const RSM_ERROR_CODES: ReadonlySet<string> = new Set<string>(rsmErrorCodes);

/**
 * Decodes a result. Results reach a proposer from a peer (a forwarded command's answer), so this
 * is total too: bytes that are not a result are a ProtocolError `malformed`.
 */
export function decodeRsmResult(data: Uint8Array): RsmResult | ProtocolError {
  try {
    const r = new ByteReader(data);
    const status = r.u8();
    if (status === 0) return { status: 'applied', payload: r.rest() };
    if (status !== 1) return new ProtocolError('malformed', `unknown result status ${status}`);
    const code = r.stringUvarint();
    r.expectEnd('result');
    if (!RSM_ERROR_CODES.has(code)) return new ProtocolError('malformed', `unknown result code ${code}`);
    return { status: 'refused', code: code as RsmErrorCode };
  } catch (err) {
    return new ProtocolError('malformed', err instanceof Error ? err.message : String(err));
  }
}

/** The session id in a register's applied result. */
export function decodeRegistered(payload: Uint8Array): number | ProtocolError {
  try {
    const r = new ByteReader(payload);
    const id = r.uvarint();
    r.expectEnd('register result');
    return id;
  } catch (err) {
    return new ProtocolError('malformed', err instanceof Error ? err.message : String(err));
  }
}

function asMalformed(err: unknown): BaristaError {
  return new BaristaError('malformed_command', err instanceof BaristaError ? err.message : String(err));
}

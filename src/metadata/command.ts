// The KV namespace's command payload (KvOp) and result (KvResult) codecs, and the legacy format-1
// command the metadata group's log held before commands travelled in the replicated state
// machine's envelope (src/rsm/envelope.ts). Hand-written codec (ByteWriter/ByteReader). Every
// command is applied by every replica in log order, so decoding is total: malformed bytes in the
// log become an error *result*, never an exception that would stop a replica.
//
//   KV payload (an envelope's payload with namespace kv) = Op
//   Op = u8 op | uvarint-bytes key | ...
//     op 1 put:    uvarint-bytes value
//     op 2 get:    (nothing)
//     op 3 cas:    u8 hasExpected | [uvarint-bytes expected] | uvarint-bytes value   (no expected = "absent")
//     op 4 del:    (nothing)
//   KV result (an applied result's payload) = u8 status | body
//     status 0 ok:    u8 hasValue | [uvarint-bytes value] | uvarint sessionId (0; a register's id
//                     travels in the state machine's own result)
//     status 1 error: uvarint-string code | u8 hasValue | [uvarint-bytes current value]
//
//   Legacy command (format 1; still decoded, so a log written before the envelope replays; the
//   KV state machine translates it, kv.ts) = u8 version(1) | u8 kind | f64 proposedAtMs | body
//     kind 1 Register: [uvarint-string clientAddress] (entries written before issue 7 have none: '')
//     kind 2 Request:  uvarint sessionId | uvarint seq | Op
//     kind 3 Unregister: uvarint sessionId
//
// Keys are bytes (binary-safe, as Redis keys are): the same bytes on the write and the read path.
// Where a key travels as text (HTTP/JSON) the front end rejects malformed text before it gets here.
// A key's encoding is the one `uvarint-string` had, so logs written before keys became bytes read
// back unchanged.

import { ByteReader, ByteWriter } from '../lib/bytes.ts';
import type { ErrorCode } from '../lib/error-codes.ts';
import { BaristaError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import type { RsmErrorCode } from '../rsm/envelope.ts';

export const COMMAND_VERSION = 1;

export type KvOp =
  | { readonly op: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly op: 'get'; readonly key: Uint8Array }
  | { readonly op: 'cas'; readonly key: Uint8Array; readonly expected: Uint8Array | null; readonly value: Uint8Array }
  | { readonly op: 'del'; readonly key: Uint8Array };

export type Command =
  | { readonly kind: 'register'; readonly proposedAtMs: number; readonly clientAddress: string }
  | {
      readonly kind: 'request';
      readonly proposedAtMs: number;
      readonly sessionId: number;
      readonly seq: number;
      readonly request: KvOp;
    }
  | { readonly kind: 'unregister'; readonly proposedAtMs: number; readonly sessionId: number };

/**
 * The state machine's refusals (src/rsm/envelope.ts RsmErrorCode) and the keyspace's: catalogue
 * codes (src/lib/error-codes.ts), so a typo does not compile.
 */
export const kvErrorCodes = [
  'precondition_failed',
  'session_expired',
  'stale_sequence',
  'malformed_command',
  'unknown_namespace',
  'key_too_large',
  'value_too_large',
  'keyspace_full',
  'too_many_sessions',
] as const satisfies readonly ErrorCode[];
export type KvErrorCode = (typeof kvErrorCodes)[number];
/** Every code the state machine answers is one the KV view can carry. */
const rsmCodesAreKvCodes = (code: RsmErrorCode): KvErrorCode => code;
void rsmCodesAreKvCodes;

export type KvResult =
  | { readonly ok: true; readonly value: Uint8Array | null; readonly sessionId: number }
  | { readonly ok: false; readonly code: KvErrorCode; readonly value: Uint8Array | null };

const KIND = { register: 1, request: 2, unregister: 3 } as const;
const OP = { put: 1, get: 2, cas: 3, del: 4 } as const;

/** The keyspace's bounds; the sizes live in src/lib/limits.ts, where their relations are checked. */
export const kvLimits = {
  keyBytesMax: limits.kvKeyBytesMax,
  valueBytesMax: limits.kvValueBytesMax,
  commandBytesMax: limits.kvCommandBytesMax,
  /** A Register's client address (an IP address as text; longer ones are refused at the door). */
  clientAddressBytesMax: limits.kvClientAddressBytesMax,
} as const;

/** Byte offset of proposedAtMs in every command (after version and kind). */
const PROPOSED_AT_OFFSET = 2;

export function encodeCommand(c: Command): Uint8Array {
  const w = new ByteWriter({ bytesMax: kvLimits.commandBytesMax });
  w.u8(COMMAND_VERSION).u8(KIND[c.kind]).f64(c.proposedAtMs);
  if (c.kind === 'register') {
    w.stringUvarint(c.clientAddress);
  } else if (c.kind === 'request') {
    writeOp(w.uvarint(c.sessionId).uvarint(c.seq), c.request);
  } else if (c.kind === 'unregister') {
    w.uvarint(c.sessionId);
  }
  return w.finish();
}

/**
 * The command with its proposedAtMs replaced by `ms` (a copy; the input is not touched). The leader
 * calls this when it proposes, so log time comes from the leader and never from the node a client
 * happened to reach. Bytes that are not a command of this version are returned as they are (the
 * state machine answers them `malformed_command`).
 */
export function stampProposedAt(command: Uint8Array, ms: number): Uint8Array {
  if (command.length < PROPOSED_AT_OFFSET + 8 || command[0] !== COMMAND_VERSION) return command;
  const out = command.slice();
  new DataView(out.buffer, out.byteOffset, out.byteLength).setFloat64(PROPOSED_AT_OFFSET, ms);
  return out;
}

/** The proposedAtMs of an encoded command, or undefined for bytes that are not one. */
export function proposedAtOf(command: Uint8Array): number | undefined {
  if (command.length < PROPOSED_AT_OFFSET + 8 || command[0] !== COMMAND_VERSION) return undefined;
  return new DataView(command.buffer, command.byteOffset, command.byteLength).getFloat64(PROPOSED_AT_OFFSET);
}

/** Decodes a command; any malformation is returned as an error, never thrown. */
export function decodeCommand(data: Uint8Array): Command | BaristaError {
  try {
    const r = new ByteReader(data);
    const version = r.u8();
    if (version !== COMMAND_VERSION) return new BaristaError('malformed_command', `unknown command version ${version}`);
    const kind = r.u8();
    const proposedAtMs = r.f64();
    if (!Number.isFinite(proposedAtMs)) return new BaristaError('malformed_command', 'proposedAtMs is not finite');
    if (kind === KIND.register) {
      const clientAddress = r.remaining > 0 ? r.stringUvarint() : '';
      return { kind: 'register', proposedAtMs, clientAddress };
    }
    if (kind === KIND.unregister) return { kind: 'unregister', proposedAtMs, sessionId: r.uvarint() };
    if (kind !== KIND.request) return new BaristaError('malformed_command', `unknown command kind ${kind}`);
    const sessionId = r.uvarint();
    const seq = r.uvarint();
    return { kind: 'request', proposedAtMs, sessionId, seq, request: readOp(r) };
  } catch (err) {
    return err instanceof BaristaError
      ? new BaristaError('malformed_command', err.message)
      : new BaristaError('malformed_command', String(err));
  }
}

function writeOp(w: ByteWriter, op: KvOp): ByteWriter {
  w.u8(OP[op.op]).bytesUvarint(op.key);
  if (op.op === 'put') w.bytesUvarint(op.value);
  else if (op.op === 'cas') {
    w.u8(op.expected === null ? 0 : 1);
    if (op.expected !== null) w.bytesUvarint(op.expected);
    w.bytesUvarint(op.value);
  }
  return w;
}

/** Throws a `malformed_command` error on bytes that are not an Op. */
function readOp(r: ByteReader): KvOp {
  const op = r.u8();
  const key = r.bytesUvarint();
  if (op === OP.put) return { op: 'put', key, value: r.bytesUvarint() };
  if (op === OP.get) return { op: 'get', key };
  if (op === OP.del) return { op: 'del', key };
  if (op === OP.cas) {
    const expected = r.u8() === 1 ? r.bytesUvarint() : null;
    return { op: 'cas', key, expected, value: r.bytesUvarint() };
  }
  throw new BaristaError('malformed_command', `unknown op ${op}`);
}

/** The KV namespace's payload for `op`. */
export function encodeKvOp(op: KvOp): Uint8Array {
  return writeOp(new ByteWriter({ bytesMax: kvLimits.commandBytesMax }), op).finish();
}

/** Decodes a KV payload; throws a BaristaError on malformed bytes (the state machine answers them). */
export function decodeKvOp(payload: Uint8Array): KvOp {
  const r = new ByteReader(payload);
  const op = readOp(r);
  r.expectEnd('kv op');
  return op;
}

export function encodeResult(res: KvResult): Uint8Array {
  const w = new ByteWriter({ bytesMax: kvLimits.commandBytesMax });
  if (res.ok) {
    w.u8(0).u8(res.value === null ? 0 : 1);
    if (res.value !== null) w.bytesUvarint(res.value);
    w.uvarint(res.sessionId);
  } else {
    w.u8(1)
      .stringUvarint(res.code)
      .u8(res.value === null ? 0 : 1);
    if (res.value !== null) w.bytesUvarint(res.value);
  }
  return w.finish();
}

export function decodeResult(data: Uint8Array): KvResult {
  const r = new ByteReader(data);
  if (r.u8() === 0) {
    const value = r.u8() === 1 ? r.bytesUvarint() : null;
    return { ok: true, value, sessionId: r.uvarint() };
  }
  const code = r.stringUvarint() as KvErrorCode;
  const value = r.u8() === 1 ? r.bytesUvarint() : null;
  return { ok: false, code, value };
}

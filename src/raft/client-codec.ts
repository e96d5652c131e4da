// Client requests forwarded between nodes over the peer transport (a follower forwards a client's
// command to the leader, which answers once the command is applied or definitely failed).
//
//   Request  = u8 version(2) | uvarint senderIncarnation | uvarint requestId | uvarint-bytes command
//            | u8 version(1) | uvarint requestId | uvarint-bytes command     (before issue 7: incarnation 0)
//   Response = u8 version(1) | uvarint requestId | u8 ok | (ok: uvarint-bytes result
//              | error: uvarint-string code | u8 definite | u8 retriable | uvarint-string message)
//   u8 flags (ok, definite, retriable) are 0 or 1; code is 1..64 of [a-z0-9_] starting with a letter;
//   message is at most 4 KiB of UTF-8.
//
// Decoding is strict (issue 7 item 12): every field is checked before use and nothing may follow
// the last field, so a decoded message re-encodes to an equivalent one; any malformation is returned
// as a ProtocolError (never thrown, and never an exception other than a ProtocolError swallowed).
//
// (senderIncarnation, requestId) names a request uniquely across the sender's restarts, so the
// leader can drop a duplicated copy instead of proposing it twice (forward-dedup.ts).
// Frames are bounded by limits.forwardedFrameBytesMax, which validateLimits checks holds a full
// raftEntryBytesMax command plus this header: whatever the leader would accept, a follower can
// forward.

import { ByteReader, ByteWriter, utf8ByteLength } from '../lib/bytes.ts';
import { isErrorCode } from '../lib/error-codes.ts';
import { BaristaError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

const REQUEST_VERSION = 2;
const REQUEST_VERSION_LEGACY = 1;
const VERSION = 1;
/** A forwarded error's code: it reaches clients and may become a metric label, so its shape is fixed. */
const ERROR_CODE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

export interface ForwardedRequest {
  /** The sender's incarnation (grows on every start); 0 = unknown (legacy frame, no dedup). */
  readonly incarnation: number;
  readonly requestId: number;
  readonly command: Uint8Array;
}

export type ForwardedResponse =
  | { readonly requestId: number; readonly ok: true; readonly result: Uint8Array }
  | { readonly requestId: number; readonly ok: false; readonly error: BaristaError };

/** Throws LimitError when the frame would exceed limits.forwardedFrameBytesMax. */
export function encodeForwardedRequest(r: ForwardedRequest): Uint8Array {
  return new ByteWriter({ bytesMax: limits.forwardedFrameBytesMax })
    .u8(REQUEST_VERSION)
    .uvarint(r.incarnation)
    .uvarint(r.requestId)
    .bytesUvarint(r.command)
    .finish();
}

/** Runs a decoder that throws ProtocolError on malformed input; returns the error instead. */
function decoding<T>(what: string, decode: () => T): T | ProtocolError {
  try {
    return decode();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err; // a bug, not bad input
    return new ProtocolError(err.code, `${what}: ${err.message}`, err.fields);
  }
}

export function decodeForwardedRequest(data: Uint8Array): ForwardedRequest | ProtocolError {
  return decoding('forwarded request', () => {
    const r = new ByteReader(data);
    const version = r.u8();
    if (version !== REQUEST_VERSION && version !== REQUEST_VERSION_LEGACY)
      throw new ProtocolError('client_unknown_version', 'unknown version');
    const incarnation = version === REQUEST_VERSION ? r.uvarint() : 0;
    const requestId = r.uvarint();
    const command = r.bytesUvarint().slice();
    r.expectEnd('forwarded request');
    return { incarnation, requestId, command };
  });
}

/** Throws LimitError when the frame would exceed limits.forwardedFrameBytesMax. */
export function encodeForwardedResponse(r: ForwardedResponse): Uint8Array {
  const w = new ByteWriter({ bytesMax: limits.forwardedFrameBytesMax }).u8(VERSION).uvarint(r.requestId);
  if (r.ok) return w.u8(1).bytesUvarint(r.result).finish();
  return w
    .u8(0)
    .stringUvarint(r.error.code)
    .u8(r.error.definite ? 1 : 0)
    .u8(r.error.retriable ? 1 : 0)
    .stringUvarint(r.error.message)
    .finish();
}

export function decodeForwardedResponse(data: Uint8Array): ForwardedResponse | ProtocolError {
  return decoding('forwarded response', () => {
    const r = new ByteReader(data);
    if (r.u8() !== VERSION) throw new ProtocolError('client_unknown_version', 'unknown version');
    const requestId = r.uvarint();
    let response: ForwardedResponse;
    if (r.bool()) {
      response = { requestId, ok: true, result: r.bytesUvarint().slice() };
    } else {
      const code = r.stringUvarint();
      if (!ERROR_CODE_PATTERN.test(code)) throw new ProtocolError('client_bad_error_code', 'malformed error code');
      const definite = r.bool();
      const retriable = r.bool();
      // Both ends share the catalogue (src/lib/error-codes.ts): an unknown code, or flags that
      // disagree with it, come from a foreign or corrupt peer and are refused like any bad bytes
      // (the waiting request then times out as indefinite, which is safe). Decoding stays canonical.
      if (!isErrorCode(code)) throw new ProtocolError('client_bad_error_code', 'error code not in the catalogue');
      const message = r.stringUvarint();
      const messageBytes = utf8ByteLength(message);
      if (messageBytes > limits.forwardedErrorMessageBytesMax) {
        throw new ProtocolError('client_error_message_too_large', `error message of ${messageBytes} bytes`);
      }
      const error = new BaristaError(code, message, { definite, retriable });
      if (error.definite !== definite || error.retriable !== retriable)
        throw new ProtocolError('client_bad_error_code', `flags of ${code} disagree with the catalogue`);
      response = { requestId, ok: false, error };
    }
    r.expectEnd('forwarded response');
    return response;
  });
}

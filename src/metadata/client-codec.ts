// Client requests forwarded between nodes over the peer transport (a follower forwards a client's
// command to the leader, which answers once the command is applied or definitely failed).
//
//   Request  = u8 version(2) | uvarint senderIncarnation | uvarint requestId | uvarint-bytes command
//            | u8 version(1) | uvarint requestId | uvarint-bytes command     (before issue 7: incarnation 0)
//   Response = u8 version(1) | uvarint requestId | u8 ok | (ok: uvarint-bytes result
//              | error: uvarint-string code | u8 definite | u8 retriable | uvarint-string message)
//
// (senderIncarnation, requestId) names a request uniquely across the sender's restarts, so the
// leader can drop a duplicated copy instead of proposing it twice (forward-dedup.ts).
// Frames are bounded by limits.forwardedFrameBytesMax, which validateLimits checks holds a full
// raftEntryBytesMax command plus this header: whatever the leader would accept, a follower can
// forward.

import { ByteReader, ByteWriter } from '../lib/bytes.ts';
import { BaristaError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

const REQUEST_VERSION = 2;
const REQUEST_VERSION_LEGACY = 1;
const VERSION = 1;

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

export function decodeForwardedRequest(data: Uint8Array): ForwardedRequest | ProtocolError {
  try {
    const r = new ByteReader(data);
    const version = r.u8();
    if (version !== REQUEST_VERSION && version !== REQUEST_VERSION_LEGACY)
      return new ProtocolError('client_unknown_version', 'forwarded request: unknown version');
    const incarnation = version === REQUEST_VERSION ? r.uvarint() : 0;
    const requestId = r.uvarint();
    const command = r.bytesUvarint().slice();
    r.expectEnd('forwarded request');
    return { incarnation, requestId, command };
  } catch (err) {
    return new ProtocolError('client_malformed', `forwarded request: ${(err as Error).message}`);
  }
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
  try {
    const r = new ByteReader(data);
    if (r.u8() !== VERSION) return new ProtocolError('client_unknown_version', 'forwarded response: unknown version');
    const requestId = r.uvarint();
    if (r.u8() === 1) return { requestId, ok: true, result: r.bytesUvarint().slice() };
    const code = r.stringUvarint();
    const definite = r.u8() === 1;
    const retriable = r.u8() === 1;
    const message = r.stringUvarint();
    return { requestId, ok: false, error: new BaristaError(code, message, { definite, retriable }) };
  } catch (err) {
    return new ProtocolError('client_malformed', `forwarded response: ${(err as Error).message}`);
  }
}

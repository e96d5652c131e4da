// Client requests forwarded between nodes over the peer transport (a follower forwards a client's
// command to the leader, which answers once the command is applied or definitely failed).
//
//   Request  = u8 version(1) | uvarint requestId | uvarint-bytes command
//   Response = u8 version(1) | uvarint requestId | u8 ok | (ok: uvarint-bytes result
//              | error: uvarint-string code | u8 definite | u8 retriable | uvarint-string message)

import { ByteReader, ByteWriter } from '../lib/bytes.ts';
import { BaristaError, ProtocolError } from '../lib/errors.ts';

const VERSION = 1;
const CLIENT_FRAME_BYTES_MAX = 2 * 1024 * 1024;

export interface ForwardedRequest {
  readonly requestId: number;
  readonly command: Uint8Array;
}

export type ForwardedResponse =
  | { readonly requestId: number; readonly ok: true; readonly result: Uint8Array }
  | { readonly requestId: number; readonly ok: false; readonly error: BaristaError };

export function encodeForwardedRequest(r: ForwardedRequest): Uint8Array {
  return new ByteWriter({ bytesMax: CLIENT_FRAME_BYTES_MAX })
    .u8(VERSION)
    .uvarint(r.requestId)
    .bytesUvarint(r.command)
    .finish();
}

export function decodeForwardedRequest(data: Uint8Array): ForwardedRequest | ProtocolError {
  try {
    const r = new ByteReader(data);
    if (r.u8() !== VERSION) return new ProtocolError('client_unknown_version', 'forwarded request: unknown version');
    return { requestId: r.uvarint(), command: r.bytesUvarint().slice() };
  } catch (err) {
    return new ProtocolError('client_malformed', `forwarded request: ${(err as Error).message}`);
  }
}

export function encodeForwardedResponse(r: ForwardedResponse): Uint8Array {
  const w = new ByteWriter({ bytesMax: CLIENT_FRAME_BYTES_MAX }).u8(VERSION).uvarint(r.requestId);
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

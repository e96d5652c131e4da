// The request context the metadata group's driver attaches to a ReadIndex read. src/raft treats it
// as opaque bytes and never sends it: a follower forwards a core-made id to the leader and, on the
// ReadIndexResponse, returns the driver's own context stored locally. Decoding still turns any
// malformation into a ProtocolError rather than a throw (issue 7 item 12: a 3-byte context once
// crashed the node with a RangeError from DataView.getFloat64), so a core bug cannot crash the node.
//
// Grammar:
//   readCtx = readId:f64   ; an integer in 1..2^53-1, big-endian IEEE-754 double (8 bytes exactly)
//
// The driver owns the meaning of readId (which read it answers); this file owns only its bytes.

import { ByteReader } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';

export const READ_CTX_BYTES = 8;

export function encodeReadCtx(readId: number): Uint8Array {
  const ctx = new Uint8Array(READ_CTX_BYTES);
  new DataView(ctx.buffer).setFloat64(0, readId);
  return ctx;
}

/** The read id in `ctx`, or a ProtocolError (`truncated`, `trailing_bytes`, `read_ctx_bad_id`). */
export function decodeReadCtx(ctx: Uint8Array): number | ProtocolError {
  try {
    const r = new ByteReader(ctx);
    const readId = r.f64();
    r.expectEnd('read context');
    if (!(Number.isSafeInteger(readId) && readId >= 1)) {
      return new ProtocolError('read_ctx_bad_id', `read context carries id ${readId}`, { readId });
    }
    return readId;
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
}

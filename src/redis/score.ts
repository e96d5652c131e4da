// Sorted-set scores as storage bytes: the 8-byte order-preserving form of an f64 used in the score
// index sub-key (keys.ts: sub = 0x02 orderedF64(score) member), and the plain f64 stored as the
// member entry's value. Bytewise order of orderedF64 is numeric order over -inf..+inf, so a scan of
// the index range is ZRANGEBYSCORE's order, ties broken by member bytes as Redis' skiplist does.
//
// Encoding: the IEEE-754 bits big-endian; a positive value (sign bit 0) gets its sign bit set, a
// negative one has every bit inverted, so more negative values sort lower. -0 is written as +0
// (Redis compares scores with ==, so -0 and 0 are one score and must share one index position).
// NaN has no place in the order: Redis refuses it at parsing (string2d) and when an increment would
// produce it, so it never reaches here; an attempt is a programmer error.

import { assert } from '../lib/assert.ts';

export const scoreBytes = 8;

export function orderedF64(score: number): Uint8Array {
  assert(!Number.isNaN(score), 'a NaN score reached the score index');
  const out = new Uint8Array(scoreBytes);
  const view = new DataView(out.buffer);
  view.setFloat64(0, score === 0 ? 0 : score, false);
  if ((out[0]! & 0x80) === 0) out[0]! |= 0x80;
  else for (let i = 0; i < scoreBytes; i++) out[i] = ~out[i]! & 0xff;
  return out;
}

/** The score of `bytes[offset, offset + 8)` written by orderedF64. */
export function decodeOrderedF64(bytes: Uint8Array, offset = 0): number {
  const raw = bytes.slice(offset, offset + scoreBytes);
  assert(raw.length === scoreBytes, 'a score index entry shorter than 8 bytes');
  if ((raw[0]! & 0x80) !== 0) raw[0]! &= 0x7f;
  else for (let i = 0; i < scoreBytes; i++) raw[i] = ~raw[i]! & 0xff;
  return new DataView(raw.buffer).getFloat64(0, false);
}

/** A member entry's value: the score as a big-endian f64. */
export function encodeScore(score: number): Uint8Array {
  const out = new Uint8Array(scoreBytes);
  new DataView(out.buffer).setFloat64(0, score, false);
  return out;
}

/** undefined when the stored value is not 8 bytes (a corrupt entry: the caller reports it). */
export function decodeScore(bytes: Uint8Array): number | undefined {
  if (bytes.length !== scoreBytes) return undefined;
  return new DataView(bytes.buffer, bytes.byteOffset, scoreBytes).getFloat64(0, false);
}

// Element keys of a Redis list at N > 1 (typed.ts keeps a list as an OR-Map from element key to the
// element's value, and the list's order is the keys' byte order). An element inserted between two
// neighbours gets a key strictly between theirs, made on the coordinator from the list it read, so
// replicas that insert concurrently never need to agree on indexes: their elements interleave in a
// deterministic order once the siblings meet.
//
// Grammar (bytes compare lexicographically, which is the list's order):
//   elementKey := escaped(position) 0x00 0x00 tag:8
//   escaped(p) := p with every 0x00 byte written as 0x00 0x01   (order-preserving, so keys sort by
//                 position first, then by tag)
//   position   := int:u64be fraction
//   int        := 0x8080808080808080 for the first element; RPUSH takes the last element's int + 1, LPUSH the first
//                 one's - 1, so pushes at either end keep positions 8 bytes long
//   fraction   := digits in base 256, never ending in 0x00 (empty for a pushed element); a key
//                 between neighbours with adjacent ints takes the lower int and a fraction between
//                 (David Greenspan's midpoint over digit strings), so repeated inserts at one place
//                 grow the key by about one byte per 8 inserts
//   tag        := 8 bytes from the coordinator's Rng: two elements given one position concurrently
//                 (a push at the same end on both sides of a partition) still get distinct keys;
//                 equal tags would merge the two elements into one (probability 2^-64 per pair)
// Element keys arrive from peers: decodePosition answers undefined for anything malformed, and a
// caller treats such a neighbour as absent (the new key then sorts at that end), never asserts.

import type { Rng } from '../env/types.ts';

const TAG_BYTES = 8;
const INT_BYTES = 8;
/** Mid-range with no zero byte, so a pushed element's key needs no escapes (only its low bytes move). */
const INT_FIRST = 0x8080_8080_8080_8080n;
const INT_MAX = 2n ** 64n - 1n;

/** A position: the 64-bit int part and the fraction digits. */
export interface Position {
  readonly int: bigint;
  readonly fraction: readonly number[];
}

/** The position of an element key; undefined when the bytes are not an element key. */
export function decodePosition(key: Uint8Array): Position | undefined {
  const raw: number[] = [];
  let i = 0;
  for (;;) {
    if (i >= key.length) return undefined;
    const b = key[i]!;
    if (b !== 0) {
      raw.push(b);
      i++;
      continue;
    }
    const next = key[i + 1];
    if (next === 1) {
      raw.push(0);
      i += 2;
      continue;
    }
    if (next !== 0) return undefined;
    i += 2;
    break;
  }
  if (key.length - i !== TAG_BYTES || raw.length < INT_BYTES) return undefined;
  let int = 0n;
  for (let j = 0; j < INT_BYTES; j++) int = (int << 8n) | BigInt(raw[j]!);
  const fraction = raw.slice(INT_BYTES);
  if (fraction.length > 0 && fraction[fraction.length - 1] === 0) return undefined;
  return { int, fraction };
}

/** The element key of `p` with `tag`. */
export function encodeElementKey(p: Position, tag: Uint8Array): Uint8Array {
  const raw: number[] = [];
  for (let j = INT_BYTES - 1; j >= 0; j--) raw.push(Number((p.int >> BigInt(8 * j)) & 0xffn));
  raw.push(...p.fraction);
  const out: number[] = [];
  for (const b of raw) {
    if (b === 0) out.push(0, 1);
    else out.push(b);
  }
  out.push(0, 0, ...tag);
  return Uint8Array.from(out);
}

/**
 * Digits strictly between fractions a and b (b undefined: 1.0), compared as base-256 fractions
 * with a's missing digits as zeros; neither ends in 0, nor does the answer.
 */
function midpoint(a: readonly number[], b: readonly number[] | undefined): number[] {
  if (b !== undefined) {
    let n = 0;
    while (n < b.length && (a[n] ?? 0) === b[n]) n++;
    if (n > 0) return [...b.slice(0, n), ...midpoint(a.slice(n), b.slice(n))];
  }
  const da = a[0] ?? 0;
  const db = b === undefined ? 256 : b[0]!;
  if (db - da > 1) return [Math.floor((da + db) / 2)];
  // Adjacent first digits: b's first digit alone is between when b goes on; else extend a.
  if (b !== undefined && b.length > 1) return [b[0]!];
  return [da, ...midpoint(a.slice(1), undefined)];
}

function compareFractions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export function comparePositions(a: Position, b: Position): number {
  if (a.int !== b.int) return a.int < b.int ? -1 : 1;
  return compareFractions(a.fraction, b.fraction);
}

/**
 * A position strictly between `before` and `after` (either undefined: that end of the list), or
 * undefined when there is none (2^63 pushes at one end, or neighbours out of order).
 */
export function positionBetween(before: Position | undefined, after: Position | undefined): Position | undefined {
  if (before !== undefined && after !== undefined && comparePositions(before, after) >= 0) return undefined;
  if (before === undefined && after === undefined) return { int: INT_FIRST, fraction: [] };
  if (after === undefined) {
    const b = before!;
    if (b.int < INT_MAX) return { int: b.int + 1n, fraction: [] };
    return { int: b.int, fraction: midpoint(b.fraction, undefined) };
  }
  if (before === undefined) {
    if (after.int > 0n) return { int: after.int - 1n, fraction: [] };
    return after.fraction.length === 0 ? undefined : { int: 0n, fraction: midpoint([], after.fraction) };
  }
  if (after.int - before.int > 1n) return { int: before.int + (after.int - before.int) / 2n, fraction: [] };
  if (after.int === before.int) return { int: before.int, fraction: midpoint(before.fraction, after.fraction) };
  return { int: before.int, fraction: midpoint(before.fraction, undefined) };
}

/**
 * Keys for `count` new elements between the elements keyed `before` and `after` (null: that end),
 * in list order; undefined when no position is left there. Undecodable neighbours count as absent.
 */
export function elementKeysBetween(
  before: Uint8Array | null,
  after: Uint8Array | null,
  count: number,
  rng: Rng,
): Uint8Array[] | undefined {
  let hi = after === null ? undefined : decodePosition(after);
  let lo = before === null ? undefined : decodePosition(before);
  if (lo !== undefined && hi !== undefined && comparePositions(lo, hi) >= 0) lo = undefined;
  const positions: Position[] = [];
  // At the head, count down from the first element (LPUSH of several values stays 8 bytes a key).
  const fromHead = lo === undefined && hi !== undefined;
  for (let i = 0; i < count; i++) {
    const p = positionBetween(lo, hi);
    if (p === undefined) return undefined;
    positions.push(p);
    if (fromHead) hi = p;
    else lo = p;
  }
  if (fromHead) positions.reverse();
  const out: Uint8Array[] = [];
  for (const p of positions) out.push(encodeElementKey(p, rng.bytes(TAG_BYTES)));
  return out;
}

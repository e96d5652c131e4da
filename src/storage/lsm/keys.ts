// Storage keys: how the store lays a Redis key and a collection's elements out in the engine's one
// bytewise order, so one element's change writes one entry (redis-benchmark's 200,000 LPUSHes onto
// one list are 200,000 small entries, never a rewrite of the list), and a token range or one
// collection is a contiguous key range (scans, SCAN cursors, Merkle trees over token ranges).
//
// Grammar:
//   storageKey := token:u64be escaped(key) 0x00 0x01 sub
//   escaped(k) := k with every 0x00 byte written as 0x00 0xff
//   sub        := empty for the key's head entry; the element's sub-key otherwise
// Order: by token, then by key bytewise (the escape keeps byte order, and the 0x00 0x01 terminator
// sorts below any escaped continuation, so "ab" < "ab\0" < "abc" holds for the encoded forms and no
// key's range contains another key's), then by sub-key bytewise. The head (sub empty) is the
// first entry of its key; `collectionRange` covers the head and every element.
//
// How the Redis types use it (the RESP session builds on this; meta carries the type tag and the
// version header; expiry is the head's `expiresAtMs` and applies to the elements through it):
//   string  head: value = the string.
//   hash    head: value = field count; elements: sub = field, value = the field's value.
//   set     head: value = member count; elements: sub = member, value empty.
//   list    head: value = (leftPos:i64, rightPos:i64); elements: sub = position as u64be of pos + 2^63,
//           value = the item. LPUSH writes pos leftPos-1 and the head, RPUSH rightPos+1: two entries
//           per push whatever the list's length; LINDEX i reads position leftPos+i directly.
//   zset    head: value = member count; two element families: sub = 0x01 member -> score (f64), and
//           sub = 0x02 orderedF64(score) member -> empty (the score index for ZRANGEBYSCORE).
//   DEL / expiry of a collection: a tombstone on the head plus one per element (a scan of the
//   collection's range); reads check the head first, so elements of a deleted head never show.
// SCAN over user keys walks the range and, at each head, continues from `collectionEnd` to skip
// the elements.

const TERMINATOR = [0x00, 0x01] as const;

function escapedBytes(key: Uint8Array): number {
  let n = key.byteLength;
  for (let i = 0; i < key.length; i++) if (key[i] === 0) n++;
  return n;
}

/** Writes escaped(key) and the terminator at out[8..]; returns the index after them. */
function writeKeyPart(key: Uint8Array, out: Uint8Array): number {
  let p = 8;
  for (let i = 0; i < key.length; i++) {
    const b = key[i]!;
    out[p++] = b;
    if (b === 0) out[p++] = 0xff;
  }
  out[p++] = TERMINATOR[0];
  out[p++] = TERMINATOR[1];
  return p;
}

/** The prefix shared by a key's head and elements: token, escaped key, terminator. */
export function collectionPrefix(token: bigint, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + escapedBytes(key) + 2);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, token), false);
  writeKeyPart(key, out);
  return out;
}

/**
 * The storage key of `key`'s head (`sub` empty) or of one of its elements, in one allocation,
 * with the token's 8 bytes written by `tokenInto` (the partitioner's tokenBytesInto: no BigInt).
 * The same bytes as elementKey(token, key, sub).
 */
export function storageKeyOf(
  key: Uint8Array,
  sub: Uint8Array,
  tokenInto: (key: Uint8Array, out: Uint8Array) => void,
): Uint8Array {
  const out = new Uint8Array(8 + escapedBytes(key) + 2 + sub.byteLength);
  tokenInto(key, out);
  const p = writeKeyPart(key, out);
  if (sub.byteLength > 0) out.set(sub, p);
  return out;
}

/** The head entry's key (a string's value, or a collection's header). */
export function headKey(token: bigint, key: Uint8Array): Uint8Array {
  return collectionPrefix(token, key);
}

/** One element's key. */
export function elementKey(token: bigint, key: Uint8Array, sub: Uint8Array): Uint8Array {
  const prefix = collectionPrefix(token, key);
  const out = new Uint8Array(prefix.byteLength + sub.byteLength);
  out.set(prefix);
  out.set(sub, prefix.byteLength);
  return out;
}

/**
 * The smallest key above every key that starts with `prefix` (scan end, exclusive); null when
 * none exists (the prefix is all 0xff).
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  let n = prefix.byteLength;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  if (n === 0) return null;
  const out = prefix.slice(0, n);
  out[n - 1]!++;
  return out;
}

/** The range [start, end) of a key's head and elements. */
export function collectionRange(token: bigint, key: Uint8Array): { start: Uint8Array; end: Uint8Array | null } {
  const start = collectionPrefix(token, key);
  return { start, end: prefixEnd(start) };
}

/** The first storage key of token `token` (token ranges scan [tokenStart(a), tokenStart(b))). */
export function tokenStart(token: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, token), false);
  return out;
}

export interface DecodedStorageKey {
  readonly token: bigint;
  readonly key: Uint8Array;
  /** Empty for a head entry. */
  readonly sub: Uint8Array;
}

/** Splits a storage key; a reason string when the bytes do not follow the grammar. */
export function decodeStorageKey(bytes: Uint8Array): DecodedStorageKey | string {
  if (bytes.byteLength < 10) return 'storage key shorter than a token and a terminator';
  const token = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, false);
  const key: number[] = [];
  for (let p = 8; p + 1 < bytes.byteLength; p++) {
    const b = bytes[p]!;
    if (b !== 0) {
      key.push(b);
      continue;
    }
    const next = bytes[p + 1]!;
    if (next === 0xff) {
      key.push(0);
      p++;
    } else if (next === TERMINATOR[1]) {
      return { token, key: Uint8Array.from(key), sub: bytes.slice(p + 2) };
    } else {
      return `bad escape 0x00 0x${next.toString(16)} at ${p}`;
    }
  }
  return 'storage key without a terminator';
}

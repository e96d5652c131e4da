// One versioned entry of the LSM engine and its byte encoding, shared by the commit log (one entry
// per record) and the sorted runs (entries back to back inside a CRC-checked data block).
//
// Grammar (little-endian; all lengths checked against the engine's bounds before any byte is used):
//   entry      := kind:u8 keyBytes:u16 metaBytes:u16 valueBytes:u32 seq:u64 timeMs:u64
//                 key:keyBytes meta:metaBytes value:valueBytes
//   kind       := 1 (put) | 2 (tombstone)
//   seq        := the engine's write sequence, >= 1, below 2^53; a larger seq is a newer version
//   timeMs     := put: absolute expiry deadline in epoch ms (0 = never expires);
//                 tombstone: deletion time in epoch ms (what the grace period counts from)
//   value      := empty for a tombstone
// Keys are opaque bytes ordered bytewise (compareKeys); `meta` is the caller's small header (a
// version vector, an HLC timestamp, a type tag), stored and returned untouched.
//
// The decoder takes bytes read back from disk: after a CRC check, but a CRC can collide and a
// writer can be buggy, so every length is checked against the buffer and the bounds, and a bad
// entry comes back as a reason string (the caller turns it into a CorruptionError naming the file
// and offset), never an exception or an assert.

import { latin1String } from '../../lib/bytes.ts';

export const ENTRY_HEADER_BYTES = 25;

export const EntryKind = { put: 1, tombstone: 2 } as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export interface Entry {
  readonly key: Uint8Array;
  readonly seq: number;
  readonly kind: EntryKind;
  /** Put: expiry deadline in epoch ms, 0 = never. Tombstone: deletion time in epoch ms. */
  readonly timeMs: number;
  readonly meta: Uint8Array;
  readonly value: Uint8Array;
}

/** The bounds a decoder enforces (the engine's keyBytesMax, metaBytesMax, valueBytesMax). */
export interface EntryBounds {
  readonly keyBytesMax: number;
  readonly metaBytesMax: number;
  readonly valueBytesMax: number;
}

const TWO_32 = 2 ** 32;

export function entryBytes(e: Entry): number {
  return ENTRY_HEADER_BYTES + e.key.byteLength + e.meta.byteLength + e.value.byteLength;
}

/** Writes a safe integer as u64 little-endian (the engine's formats all use this). */
export function setU64(view: DataView, at: number, n: number): void {
  view.setUint32(at, n % TWO_32, true);
  view.setUint32(at + 4, Math.floor(n / TWO_32), true);
}

/** Reads a u64 little-endian (may exceed 2^53 for damaged bytes: callers check). */
export function getU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * TWO_32;
}

/** Writes `e` at out[at, at + entryBytes(e)); `view` views all of `out`. Returns the end. */
export function writeEntry(e: Entry, out: Uint8Array, view: DataView, at: number): number {
  view.setUint8(at, e.kind);
  view.setUint16(at + 1, e.key.byteLength, true);
  view.setUint16(at + 3, e.meta.byteLength, true);
  view.setUint32(at + 5, e.value.byteLength, true);
  setU64(view, at + 9, e.seq);
  setU64(view, at + 17, e.timeMs);
  let p = at + ENTRY_HEADER_BYTES;
  out.set(e.key, p);
  p += e.key.byteLength;
  out.set(e.meta, p);
  p += e.meta.byteLength;
  out.set(e.value, p);
  return p + e.value.byteLength;
}

export function encodeEntry(e: Entry): Uint8Array {
  const out = new Uint8Array(entryBytes(e));
  writeEntry(e, out, new DataView(out.buffer), 0);
  return out;
}

export type DecodedEntry = { readonly entry: Entry; readonly end: number } | string;

/** Where the entry at buf[at, end) keeps its key, and where it ends: its header, checked. */
export type EntryExtent =
  | { readonly kind: EntryKind; readonly keyAt: number; readonly keyBytes: number; readonly end: number }
  | string;

/**
 * Where the entry at buf[at, end) ends, its header checked as entryExtentAt checks it; -1 when
 * malformed (entryExtentAt then says why). No object made: a point lookup walks dozens per block.
 */
export function entryEndAt(buf: Uint8Array, at: number, end: number, bounds: EntryBounds): number {
  if (end - at < ENTRY_HEADER_BYTES) return -1;
  const kind = buf[at]!;
  if (kind !== EntryKind.put && kind !== EntryKind.tombstone) return -1;
  const keyBytes = buf[at + 1]! | (buf[at + 2]! << 8);
  const metaBytes = buf[at + 3]! | (buf[at + 4]! << 8);
  const valueBytes = (buf[at + 5]! | (buf[at + 6]! << 8) | (buf[at + 7]! << 16) | (buf[at + 8]! << 24)) >>> 0;
  if (keyBytes > bounds.keyBytesMax || metaBytes > bounds.metaBytesMax || valueBytes > bounds.valueBytesMax) return -1;
  if (kind === EntryKind.tombstone && valueBytes !== 0) return -1;
  const total = ENTRY_HEADER_BYTES + keyBytes + metaBytes + valueBytes;
  return end - at < total ? -1 : at + total;
}

/** The key length of an entry entryEndAt accepted. */
export function entryKeyBytesAt(buf: Uint8Array, at: number): number {
  return buf[at + 1]! | (buf[at + 2]! << 8);
}

export function entryExtentAt(buf: Uint8Array, at: number, end: number, bounds: EntryBounds): EntryExtent {
  if (end - at < ENTRY_HEADER_BYTES) return `entry header cut off (${end - at} bytes)`;
  // Little-endian fields read byte by byte: no DataView per entry (a block walk reads dozens).
  const kind = buf[at]!;
  if (kind !== EntryKind.put && kind !== EntryKind.tombstone) return `unknown entry kind ${kind}`;
  const keyBytes = buf[at + 1]! | (buf[at + 2]! << 8);
  const metaBytes = buf[at + 3]! | (buf[at + 4]! << 8);
  const valueBytes = (buf[at + 5]! | (buf[at + 6]! << 8) | (buf[at + 7]! << 16) | (buf[at + 8]! << 24)) >>> 0;
  if (keyBytes > bounds.keyBytesMax) return `key of ${keyBytes} bytes exceeds ${bounds.keyBytesMax}`;
  if (metaBytes > bounds.metaBytesMax) return `meta of ${metaBytes} bytes exceeds ${bounds.metaBytesMax}`;
  if (valueBytes > bounds.valueBytesMax) return `value of ${valueBytes} bytes exceeds ${bounds.valueBytesMax}`;
  if (kind === EntryKind.tombstone && valueBytes !== 0) return 'tombstone with a value';
  const total = ENTRY_HEADER_BYTES + keyBytes + metaBytes + valueBytes;
  if (end - at < total) return `entry of ${total} bytes cut off at ${end - at}`;
  return { kind: kind as EntryKind, keyAt: at + ENTRY_HEADER_BYTES, keyBytes, end: at + total };
}

/**
 * decodeEntryAt's checks of an entry's seq and time, read in place (a cursor passing over entries
 * it does not return): a reason string, or undefined when both are in range.
 */
export function entryNumbersProblemAt(buf: Uint8Array, at: number): string | undefined {
  const u32 = (p: number) => (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
  const seq = u32(at + 9) + u32(at + 13) * TWO_32;
  const timeMs = u32(at + 17) + u32(at + 21) * TWO_32;
  if (seq < 1 || !Number.isSafeInteger(seq)) return `entry seq ${seq} out of range`;
  if (!Number.isSafeInteger(timeMs)) return `entry time ${timeMs} out of range`;
  return undefined;
}

/**
 * Decodes the entry at buf[at, end). The entry's arrays are copies (the buffer may be reused).
 * Returns a reason string for anything malformed.
 */
export function decodeEntryAt(buf: Uint8Array, at: number, end: number, bounds: EntryBounds): DecodedEntry {
  const x = entryExtentAt(buf, at, end, bounds);
  if (typeof x === 'string') return x;
  const problem = entryNumbersProblemAt(buf, at);
  if (problem !== undefined) return problem;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const seq = getU64(view, at + 9);
  const timeMs = getU64(view, at + 17);
  const metaBytes = view.getUint16(at + 3, true);
  let p = x.keyAt;
  const key = buf.slice(p, p + x.keyBytes);
  p += x.keyBytes;
  const meta = buf.slice(p, p + metaBytes);
  p += metaBytes;
  const value = buf.slice(p, x.end);
  return { entry: { key, seq, kind: x.kind, timeMs, meta, value }, end: x.end };
}

/** compareKeys of a[aAt, aAt + aBytes) and b[bAt, bAt + bBytes), in place (no subarray per compare). */
export function compareKeysAt(
  a: Uint8Array,
  aAt: number,
  aBytes: number,
  b: Uint8Array,
  bAt: number,
  bBytes: number,
): number {
  const n = Math.min(aBytes, bBytes);
  for (let i = 0; i < n; i++) {
    const d = a[aAt + i]! - b[bAt + i]!;
    if (d !== 0) return d;
  }
  return aBytes - bBytes;
}

/** Bytewise order of keys (shorter first on a common prefix): the one order of the engine. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.byteLength - b.byteLength;
}

/**
 * A string whose UTF-16 code units are the key's bytes, so JS string order is the keys' byte order
 * (a Map key for byte strings: the keyspace's staged writes past their short list). Latin-1 maps
 * byte b to code unit b exactly.
 */
export function keyString(key: Uint8Array): string {
  return latin1String(key);
}

/** Whether the entry reads as absent at `nowMs`: a tombstone, or a put whose deadline passed. */
export function isDead(e: Entry, nowMs: number): boolean {
  return e.kind === EntryKind.tombstone || (e.timeMs !== 0 && e.timeMs <= nowMs);
}

// UUIDv7 (RFC 9562 §5.7) from a wall-clock time passed in and an injected Rng: ids that sort by
// creation time, deterministic under the simulator's seed.
//
// Layout (big-endian, 128 bits):
//   unix_ts_ms: 48 | ver = 0b0111: 4 | rand_a: 12 | var = 0b10: 2 | rand_b: 62
//
// Monotonicity (RFC 9562 §6.2, method 2 "monotonic random"): rand_a ‖ rand_b is treated as one
// 74-bit counter. When the clock advances past the last timestamp used, the counter is reseeded
// from the Rng; when it does not advance (same ms, or the wall clock stepped back), the generator
// keeps the last timestamp and adds one to the counter. If the counter would overflow, the
// timestamp is advanced by 1 ms (RFC 9562 §6.2: "increment the timestamp ahead of the actual
// time"). Hence ids from one generator are strictly increasing, as bytes and as strings.
// The timestamp embedded in an id may therefore run ahead of the clock when more than 2^74 ids
// are made in one ms (never in practice) and lag it by the size of any backward clock step until
// the clock catches up.

import type { Rng } from '../env/types.ts';
import { AssertionError, assert } from './assert.ts';
import { ProtocolError } from './errors.ts';
import { readU32BE, writeU32BE } from './bytes.ts';

/** A UUID as its 16 bytes. */
export type Uuid = Uint8Array;

const UUID_BYTES = 16;
const TIMESTAMP_MS_MAX = 2 ** 48 - 1;
const TWO_POW_12 = 0x1000;
const TWO_POW_30 = 0x4000_0000;
const TWO_POW_32 = 0x1_0000_0000;
const UUID_STRING_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export class UuidV7Generator {
  private readonly rng: Rng;
  private lastMs = -1;
  /** The 74-bit counter rand_a ‖ rand_b as 12 + 30 + 32 bits. */
  private randA = 0;
  private randBHi = 0;
  private randBLo = 0;

  constructor(rng: Rng) {
    this.rng = rng;
  }

  /** The next id for wall-clock time `wallMs` (ms since the Unix epoch; fractions are dropped). */
  next(wallMs: number): Uuid {
    if (!(Number.isFinite(wallMs) && wallMs >= 0 && wallMs <= TIMESTAMP_MS_MAX)) {
      throw new AssertionError(`UUIDv7 wallMs out of range: ${wallMs}`);
    }
    const ms = Math.floor(wallMs);
    if (ms > this.lastMs) {
      this.lastMs = ms;
      this.reseed();
    } else {
      this.increment();
    }
    return this.encode();
  }

  /** The next id in canonical string form. */
  nextString(wallMs: number): string {
    return formatUuid(this.next(wallMs));
  }

  private reseed(): void {
    const r = this.rng.bytes(10);
    this.randA = ((r[0]! << 4) | (r[1]! >>> 4)) & 0xfff;
    this.randBHi = readU32BE(r, 2) & (TWO_POW_30 - 1);
    this.randBLo = readU32BE(r, 6);
  }

  private increment(): void {
    this.randBLo++;
    if (this.randBLo < TWO_POW_32) return;
    this.randBLo = 0;
    this.randBHi++;
    if (this.randBHi < TWO_POW_30) return;
    this.randBHi = 0;
    this.randA++;
    if (this.randA < TWO_POW_12) return;
    // Counter exhausted within one ms: borrow the next millisecond (RFC 9562 §6.2).
    assert(this.lastMs < TIMESTAMP_MS_MAX, 'UUIDv7 timestamp exhausted');
    this.lastMs++;
    this.randA = 0;
  }

  private encode(): Uuid {
    const out = new Uint8Array(UUID_BYTES);
    const ms = this.lastMs;
    const hi16 = Math.floor(ms / TWO_POW_32);
    const lo32 = ms % TWO_POW_32;
    out[0] = hi16 >>> 8;
    out[1] = hi16 & 0xff;
    writeU32BE(out, 2, lo32);
    out[6] = 0x70 | (this.randA >>> 8);
    out[7] = this.randA & 0xff;
    writeU32BE(out, 8, (0x80000000 | this.randBHi) >>> 0); // variant bits 10, then 30 counter bits
    writeU32BE(out, 12, this.randBLo);
    return out;
  }
}

/** Canonical 8-4-4-4-12 lowercase hex form. */
export function formatUuid(id: Uuid): string {
  if (!(id.length === UUID_BYTES)) throw new AssertionError(`a UUID has 16 bytes, got ${id.length}`);
  let s = '';
  for (let i = 0; i < UUID_BYTES; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[id[i]!];
  }
  return s;
}

/** Parses the 8-4-4-4-12 hex form (either case). Untrusted input: malformed text is a ProtocolError. */
export function parseUuid(text: string): Uuid {
  if (!UUID_STRING_RE.test(text)) {
    throw new ProtocolError('invalid_uuid', `not a UUID: ${JSON.stringify(text.slice(0, 64))}`);
  }
  const hex = text.replaceAll('-', '');
  const out = new Uint8Array(UUID_BYTES);
  for (let i = 0; i < UUID_BYTES; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The version nibble (7 for ids from UuidV7Generator). */
export function uuidVersion(id: Uuid): number {
  return id[6]! >>> 4;
}

/** The 48-bit Unix-ms timestamp of a UUIDv7 (bytes or string form). */
export function uuidTimestampMs(id: Uuid | string): number {
  const bytes = typeof id === 'string' ? parseUuid(id) : id;
  if (!(bytes.length === UUID_BYTES)) throw new AssertionError(`a UUID has 16 bytes, got ${bytes.length}`);
  let ms = 0;
  for (let i = 0; i < 6; i++) ms = ms * 256 + bytes[i]!;
  return ms;
}

/** Byte-wise order, which for UUIDv7 from one generator is creation order. */
export function compareUuid(a: Uuid, b: Uuid): number {
  for (let i = 0; i < UUID_BYTES; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

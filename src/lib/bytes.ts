// Byte codec helpers shared by every hand-written codec (Raft AppendEntries, membership, Kafka,
// ZooKeeper jute). Big-endian fixed-width integers, Kafka-style varints, length-prefixed bytes and
// UTF-8 strings.
//
// Invariants:
// - ByteWriter never grows past its `bytesMax`; a write that would is rejected with a LimitError
//   (the message is too large: backpressure, never silent growth).
// - ByteReader never reads outside its input. Reading past the end throws ProtocolError `truncated`;
//   other malformed input (over-long varint, negative length, bad UTF-8) throws a ProtocolError with
//   its own code. Untrusted bytes never reach an assert.
// - Length-prefixed reads check the length against the remaining bytes before allocating, so a
//   forged length cannot make the reader allocate more than its input.
//
// Grammar names follow the Kafka protocol guide (INT16, VARINT, UNSIGNED_VARINT, COMPACT_STRING,
// NULLABLE_BYTES...) and ZooKeeper jute (ustring / buffer = int32 length, -1 for null).

import { AssertionError, assert } from './assert.ts';
import { LimitError, ProtocolError } from './errors.ts';

/** Default ceiling for one encoded message; pass a smaller or larger `bytesMax` per codec. */
export const BYTE_WRITER_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
/**
 * Initial buffer when none is given. V8 keeps a typed array of at most 64 bytes in the JS heap
 * (typed_array_max_size_in_heap): made in ~30 ns, against ~0.5 µs for a larger one, whose bytes
 * live outside the heap. Most messages (acks, small states) fit; a bigger one grows once to at
 * least BYTE_WRITER_FIRST_GROWTH_BYTES, then doubles up to bytesMax.
 */
const BYTE_WRITER_INITIAL_BYTES = 64;
const BYTE_WRITER_FIRST_GROWTH_BYTES = 512;
/** f64 by hand (no DataView, which costs an object and moves an in-heap array's bytes out). */
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const F64_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A reusable writer's first buffer (outside V8's heap), and the most it keeps between messages. */
const REUSABLE_WRITER_BYTES = 4096;
const REUSABLE_WRITER_KEEP_BYTES = 64 * 1024;
/** Typed arrays up to this size are in V8's heap: a view of one (subarray, .buffer) moves its bytes out, ~0.3 µs. */
const IN_HEAP_BYTES_MAX = 64;
/** Bytes per String.fromCharCode.apply in latin1String (well inside any engine's argument limit). */
const LATIN1_CHUNK_BYTES = 4096;

/**
 * One char per byte (U+0000-U+00FF), so any bytes round-trip: map keys made of bytes. One
 * fromCharCode call per 4 KiB: a char at a time built a string per byte (~2x the time for a
 * 20-byte key, measured 2026-12-07), and a Buffer view costs an object per call.
 */
export function latin1String(bytes: Uint8Array): string {
  if (bytes.length <= LATIN1_CHUNK_BYTES) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let s = '';
  for (let i = 0; i < bytes.length; i += LATIN1_CHUNK_BYTES)
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + LATIN1_CHUNK_BYTES) as unknown as number[]);
  return s;
}

/** Bytes of `value`'s UNSIGNED_VARINT (a safe integer >= 0: at most 8). */
export function uvarintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** Longest encoding of a 32-bit varint (Kafka VARINT / UNSIGNED_VARINT). */
const VARINT32_BYTES_MAX = 5;
/** Longest encoding of a 64-bit varint (Kafka VARLONG); also the bound for a safe-integer uvarint. */
const VARINT64_BYTES_MAX = 10;

const TWO_POW_32 = 0x1_0000_0000;
/** Strings up to this many bytes are decoded by hand when ASCII. */
const SHORT_STRING_BYTES_MAX = 64;
/**
 * ASCII strings up to this many bytes are read once and the same string returned after (node ids,
 * field names: read on every replicated write). 7 × 7 bits and a length fit a safe integer key.
 */
const INTERNED_BYTES_MAX = 7;
/** Bound on the interned strings (the table starts over when full). */
const INTERNED_STRINGS_COUNT_MAX = 4096;
const interned = new Map<number, string>();
const MASK_64 = 0xffff_ffff_ffff_ffffn;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/** Programmer error: a value the caller should have range-checked. The message is built only on failure. */
function outOfRange(what: string, value: number | bigint): never {
  throw new AssertionError(`${what} out of range: ${value}`);
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Number of bytes `s` takes in UTF-8 (lone surrogates count as U+FFFD, 3 bytes, as TextEncoder writes them). */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

export interface ByteWriterOptions {
  /** Hard ceiling on the encoded size; exceeding it throws LimitError('bytesMax'). */
  bytesMax?: number;
  /** First allocation (default 64); grows to at least 512, then by doubling. */
  initialBytes?: number;
}

/**
 * Growable big-endian writer. `finish()` returns the written bytes (a view, or a copy of at most
 * 64 bytes); the writer must not be used after that. A fixed-width write that throws LimitError writes nothing;
 * after a LimitError from a length-prefixed write the content is unspecified: discard the writer.
 */
export class ByteWriter {
  private buf: Uint8Array;
  private pos = 0;
  private finished = false;
  readonly bytesMax: number;

  constructor(options: ByteWriterOptions = {}) {
    this.bytesMax = options.bytesMax ?? BYTE_WRITER_BYTES_MAX_DEFAULT;
    assert(Number.isSafeInteger(this.bytesMax) && this.bytesMax > 0, 'ByteWriter bytesMax must be positive');
    const initial = Math.min(options.initialBytes ?? BYTE_WRITER_INITIAL_BYTES, this.bytesMax);
    this.buf = new Uint8Array(Math.max(1, initial));
  }

  /** Big-endian 16 bits of `value` (taken mod 2^16) at `at`. */
  private put16(at: number, value: number): void {
    this.buf[at] = (value >>> 8) & 0xff;
    this.buf[at + 1] = value & 0xff;
  }

  /** Big-endian 32 bits of `value` (taken mod 2^32) at `at`. */
  private put32(at: number, value: number): void {
    writeU32BE(this.buf, at, value >>> 0);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  private ensure(extraBytes: number): void {
    assert(!this.finished, 'ByteWriter used after finish()');
    const need = this.pos + extraBytes;
    if (need <= this.buf.length) return;
    if (need > this.bytesMax) {
      throw new LimitError('bytesMax', `encoded message needs ${need} bytes, more than bytesMax ${this.bytesMax}`);
    }
    let size = Math.max(this.buf.length * 2, BYTE_WRITER_FIRST_GROWTH_BYTES);
    while (size < need) size *= 2;
    const next = new Uint8Array(Math.min(size, this.bytesMax));
    const old = this.buf;
    // An in-heap array byte by byte: a subarray of it would move its bytes out of the heap first.
    if (old.length <= IN_HEAP_BYTES_MAX) for (let i = 0; i < this.pos; i++) next[i] = old[i]!;
    else next.set(old.subarray(0, this.pos));
    this.buf = next;
  }

  u8(value: number): this {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xff)) outOfRange('u8', value);
    this.ensure(1);
    this.buf[this.pos++] = value;
    return this;
  }

  i8(value: number): this {
    if (!(Number.isInteger(value) && value >= -0x80 && value <= 0x7f)) outOfRange('i8', value);
    this.ensure(1);
    this.buf[this.pos++] = value & 0xff;
    return this;
  }

  bool(value: boolean): this {
    return this.u8(value ? 1 : 0);
  }

  u16(value: number): this {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff)) outOfRange('u16', value);
    this.ensure(2);
    this.put16(this.pos, value);
    this.pos += 2;
    return this;
  }

  i16(value: number): this {
    if (!(Number.isInteger(value) && value >= -0x8000 && value <= 0x7fff)) outOfRange('i16', value);
    this.ensure(2);
    this.put16(this.pos, value);
    this.pos += 2;
    return this;
  }

  u32(value: number): this {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff)) outOfRange('u32', value);
    this.ensure(4);
    this.put32(this.pos, value);
    this.pos += 4;
    return this;
  }

  i32(value: number): this {
    if (!(Number.isInteger(value) && value >= -0x8000_0000 && value <= 0x7fff_ffff)) outOfRange('i32', value);
    this.ensure(4);
    this.put32(this.pos, value);
    this.pos += 4;
    return this;
  }

  i64(value: bigint): this {
    if (!(value >= I64_MIN && value <= I64_MAX)) outOfRange('i64', value);
    this.ensure(8);
    const u = BigInt.asUintN(64, value); // two's complement
    this.put32(this.pos, Number(u >> 32n));
    this.put32(this.pos + 4, Number(u & 0xffff_ffffn));
    this.pos += 8;
    return this;
  }

  u64(value: bigint): this {
    if (!(value >= 0n && value <= MASK_64)) outOfRange('u64', value);
    this.ensure(8);
    // By hand, two 32-bit halves: a DataView of the in-heap first buffer would move its bytes out.
    this.put32(this.pos, Number(value >> 32n));
    this.put32(this.pos + 4, Number(value & 0xffff_ffffn));
    this.pos += 8;
    return this;
  }

  f64(value: number): this {
    this.ensure(8);
    F64[0] = value;
    for (let i = 0; i < 8; i++) this.buf[this.pos + i] = F64_BYTES[F64_LE ? 7 - i : i]!;
    this.pos += 8;
    return this;
  }

  /** UNSIGNED_VARINT (LEB128, 7 bits per byte, low group first) for 0 ≤ value ≤ 2^53 − 1. */
  uvarint(value: number): this {
    if (!(Number.isSafeInteger(value) && value >= 0)) outOfRange('uvarint', value);
    // What this value takes, not the longest varint: a writer made at its encoding's size (a
    // sizeHint, an exact initialBytes) grew to 512 bytes when its last length prefix asked for 10.
    this.ensure(uvarintBytes(value));
    const buf = this.buf;
    let pos = this.pos;
    // Division keeps values above 2^31 exact (bit operators would truncate to 32 bits).
    while (value >= 0x80) {
      buf[pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    buf[pos++] = value;
    this.pos = pos;
    return this;
  }

  /** Kafka VARINT: zigzag-encoded signed 32-bit integer. */
  varint(value: number): this {
    if (!(Number.isInteger(value) && value >= -0x8000_0000 && value <= 0x7fff_ffff)) outOfRange('varint', value);
    return this.uvarint(((value << 1) ^ (value >> 31)) >>> 0);
  }

  /** Kafka VARLONG: zigzag-encoded signed 64-bit integer. */
  varlong(value: bigint): this {
    if (!(value >= I64_MIN && value <= I64_MAX)) outOfRange('varlong', value);
    let z = ((value << 1n) ^ (value >> 63n)) & MASK_64;
    this.ensure(VARINT64_BYTES_MAX);
    while (z >= 0x80n) {
      this.buf[this.pos++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.buf[this.pos++] = Number(z);
    return this;
  }

  /** Raw bytes, no prefix. */
  raw(data: Uint8Array): this {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
    return this;
  }

  /** BYTES / NULLABLE_BYTES (Kafka) and jute `buffer`: INT32 length (−1 = null), then the bytes. */
  bytesI32(data: Uint8Array | null): this {
    if (data === null) return this.i32(-1);
    return this.i32(data.length).raw(data);
  }

  /** UNSIGNED_VARINT length, then the bytes (our own codecs). */
  bytesUvarint(data: Uint8Array): this {
    return this.uvarint(data.length).raw(data);
  }

  /** COMPACT_BYTES / COMPACT_NULLABLE_BYTES (Kafka flexible versions): UNSIGNED_VARINT length + 1, 0 = null. */
  compactBytes(data: Uint8Array | null): this {
    if (data === null) return this.uvarint(0);
    return this.uvarint(data.length + 1).raw(data);
  }

  /** Writes the UTF-8 of `s` (byteLength precomputed) at the current position. */
  private utf8(s: string, byteLength: number): void {
    this.ensure(byteLength);
    const { written } = utf8Encoder.encodeInto(s, this.buf.subarray(this.pos, this.pos + byteLength));
    assert(written === byteLength, 'utf8ByteLength disagrees with TextEncoder');
    this.pos += byteLength;
  }

  /**
   * Fast path for ASCII strings: writes `s` one byte per code unit at `at` (space already ensured)
   * and returns true, or returns false at the first non-ASCII unit (the caller then rewinds).
   */
  private asciiAt(s: string, at: number): boolean {
    const buf = this.buf;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[at + i] = c;
    }
    return true;
  }

  // UTF-8 never takes fewer bytes than UTF-16 code units, so ensure(prefix + s.length) below never
  // rejects a string that would have fit.

  /** STRING / NULLABLE_STRING (Kafka): INT16 length (−1 = null), then UTF-8. */
  stringI16(s: string | null): this {
    if (s === null) return this.i16(-1);
    if (s.length <= 0x7fff) {
      this.ensure(2 + s.length);
      if (this.asciiAt(s, this.pos + 2)) {
        this.put16(this.pos, s.length);
        this.pos += 2 + s.length;
        return this;
      }
    }
    const n = utf8ByteLength(s);
    if (n > 0x7fff)
      throw new LimitError('stringI16BytesMax', `string of ${n} UTF-8 bytes does not fit an INT16 length`);
    this.i16(n);
    this.utf8(s, n);
    return this;
  }

  /** jute `ustring`: INT32 length (−1 = null), then UTF-8. */
  stringI32(s: string | null): this {
    if (s === null) return this.i32(-1);
    this.ensure(4 + s.length);
    if (this.asciiAt(s, this.pos + 4)) {
      this.put32(this.pos, s.length);
      this.pos += 4 + s.length;
      return this;
    }
    const n = utf8ByteLength(s);
    this.i32(n);
    this.utf8(s, n);
    return this;
  }

  /** UNSIGNED_VARINT length, then UTF-8 (our own codecs). */
  stringUvarint(s: string): this {
    return this.stringVarintPrefixed(s, 0);
  }

  /** COMPACT_STRING / COMPACT_NULLABLE_STRING (Kafka): UNSIGNED_VARINT length + 1 (0 = null), then UTF-8. */
  compactString(s: string | null): this {
    if (s === null) return this.uvarint(0);
    return this.stringVarintPrefixed(s, 1);
  }

  private stringVarintPrefixed(s: string, lengthBias: number): this {
    const start = this.pos;
    this.uvarint(s.length + lengthBias);
    this.ensure(s.length);
    if (this.asciiAt(s, this.pos)) {
      this.pos += s.length;
      return this;
    }
    this.pos = start; // rewind: the UTF-8 length differs from s.length
    const n = utf8ByteLength(s);
    this.uvarint(n + lengthBias);
    this.utf8(s, n);
    return this;
  }

  /** Overwrites 4 bytes already written at `offset` (e.g. a frame length known only at the end). */
  patchU32(offset: number, value: number): this {
    assert(
      Number.isInteger(offset) && offset >= 0 && offset + 4 <= this.pos,
      `patchU32 outside written bytes: ${offset}`,
    );
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff)) outOfRange('u32', value);
    this.put32(offset, value);
    return this;
  }

  /**
   * A writer to be used again and again (reset, write, written): its buffer starts past V8's
   * in-heap size, so a view of it moves nothing.
   */
  static reusable(options: { bytesMax?: number } = {}): ByteWriter {
    return new ByteWriter({ ...options, initialBytes: REUSABLE_WRITER_BYTES });
  }

  /**
   * Starts over (a reusable writer): what written() returned before is overwritten from here on. A
   * buffer grown past REUSABLE_WRITER_KEEP_BYTES by a large message is let go.
   */
  reset(): this {
    if (this.buf.length > REUSABLE_WRITER_KEEP_BYTES) {
      this.buf = new Uint8Array(Math.min(REUSABLE_WRITER_BYTES, this.bytesMax));
    }
    this.pos = 0;
    this.finished = false;
    return this;
  }

  /** The bytes written since the last reset: a view valid until the next write or reset. */
  written(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /**
   * The written bytes: a view over the internal buffer (no copy), or a copy while that buffer is
   * in V8's heap (at most 64 bytes: a copy is cheaper than a view there). Ends the writer's life.
   */
  finish(): Uint8Array {
    assert(!this.finished, 'ByteWriter.finish() called twice');
    this.finished = true;
    return this.buf.length <= IN_HEAP_BYTES_MAX ? this.buf.slice(0, this.pos) : this.buf.subarray(0, this.pos);
  }
}

/**
 * Bounds-checked big-endian reader over untrusted bytes. `bytes`/`raw` return views into the
 * input (no copy): copy them if the input buffer will be reused.
 */
export class ByteReader {
  private readonly buf: Uint8Array;
  /** Made at the first fixed-width read that needs it (most decoders read bytes and varints only). */
  private view_: DataView | undefined;
  private pos = 0;

  constructor(data: Uint8Array) {
    this.buf = data;
  }

  private get view(): DataView {
    this.view_ ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this.view_;
  }

  get position(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(bytes: number, what: string): number {
    const at = this.pos;
    if (bytes > this.buf.length - at) {
      throw new ProtocolError('truncated', `truncated input: ${what} needs ${bytes} bytes at offset ${at}`, {
        offset: at,
        neededBytes: bytes,
        remainingBytes: this.buf.length - at,
      });
    }
    this.pos = at + bytes;
    return at;
  }

  u8(): number {
    return this.buf[this.need(1, 'u8')]!;
  }

  i8(): number {
    return (this.buf[this.need(1, 'i8')]! << 24) >> 24;
  }

  /** One byte, 0 = false, 1 = true; anything else is malformed. */
  bool(): boolean {
    const at = this.pos;
    const b = this.u8();
    if (b > 1) throw new ProtocolError('invalid_boolean', `boolean byte ${b} at offset ${at}`, { offset: at });
    return b === 1;
  }

  u16(): number {
    const at = this.need(2, 'u16');
    return (this.buf[at]! << 8) | this.buf[at + 1]!;
  }

  i16(): number {
    const at = this.need(2, 'i16');
    return (((this.buf[at]! << 8) | this.buf[at + 1]!) << 16) >> 16;
  }

  u32(): number {
    // By hand: a DataView of the input costs an object (and moves an in-heap array's bytes out).
    return readU32BE(this.buf, this.need(4, 'u32'));
  }

  i32(): number {
    return readU32BE(this.buf, this.need(4, 'i32')) | 0;
  }

  i64(): bigint {
    return this.view.getBigInt64(this.need(8, 'i64'));
  }

  u64(): bigint {
    return this.view.getBigUint64(this.need(8, 'u64'));
  }

  f64(): number {
    const at = this.need(8, 'f64');
    // Big-endian into the little-or-big-endian scratch: no DataView per reader (a request's decode).
    for (let i = 0; i < 8; i++) F64_BYTES[F64_LE ? 7 - i : i] = this.buf[at + i]!;
    return F64[0]!;
  }

  /** UNSIGNED_VARINT up to 2^53 − 1; longer or larger encodings are malformed. */
  uvarint(): number {
    const start = this.pos;
    const buf = this.buf;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < VARINT64_BYTES_MAX; i++) {
      if (start + i >= buf.length) this.need(i + 1, 'uvarint');
      const b = buf[start + i]!;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) {
          throw new ProtocolError('varint_overflow', `uvarint at offset ${start} exceeds 2^53 - 1`, { offset: start });
        }
        this.pos = start + i + 1;
        return result;
      }
      scale *= 0x80;
    }
    throw new ProtocolError('varint_overflow', `uvarint at offset ${start} longer than ${VARINT64_BYTES_MAX} bytes`, {
      offset: start,
    });
  }

  /** UNSIGNED_VARINT that must fit 32 bits (Kafka lengths and counts). */
  uvarint32(): number {
    const start = this.pos;
    const buf = this.buf;
    let result = 0;
    for (let i = 0; i < VARINT32_BYTES_MAX; i++) {
      if (start + i >= buf.length) this.need(i + 1, 'uvarint32');
      const b = buf[start + i]!;
      result += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) {
        if (result >= TWO_POW_32) {
          throw new ProtocolError('varint_overflow', `uvarint32 at offset ${start} exceeds 32 bits`, { offset: start });
        }
        this.pos = start + i + 1;
        return result;
      }
    }
    throw new ProtocolError('varint_overflow', `uvarint32 at offset ${start} longer than 5 bytes`, { offset: start });
  }

  /** Kafka VARINT: zigzag signed 32-bit. */
  varint(): number {
    const z = this.uvarint32();
    return (z >>> 1) ^ -(z & 1);
  }

  /** Kafka VARLONG: zigzag signed 64-bit. */
  varlong(): bigint {
    const start = this.pos;
    let z = 0n;
    for (let i = 0; i < VARINT64_BYTES_MAX; i++) {
      if (start + i >= this.buf.length) this.need(i + 1, 'varlong');
      const b = this.buf[start + i]!;
      z |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        if (z > MASK_64) {
          throw new ProtocolError('varint_overflow', `varlong at offset ${start} exceeds 64 bits`, { offset: start });
        }
        this.pos = start + i + 1;
        return (z >> 1n) ^ -(z & 1n);
      }
    }
    throw new ProtocolError('varint_overflow', `varlong at offset ${start} longer than 10 bytes`, { offset: start });
  }

  /** `length` raw bytes, as a view into the input. */
  raw(length: number): Uint8Array {
    if (!(Number.isSafeInteger(length) && length >= 0)) outOfRange('raw length', length);
    const at = this.need(length, 'raw bytes');
    return this.buf.subarray(at, at + length);
  }

  /** Everything not yet read, as a view. */
  rest(): Uint8Array {
    return this.raw(this.remaining);
  }

  private lengthFromWire(length: number, nullable: boolean, what: string, at: number): number | null {
    if (length === -1 && nullable) return null;
    if (length < 0) {
      throw new ProtocolError('invalid_length', `${what} at offset ${at} has length ${length}`, { offset: at, length });
    }
    return length;
  }

  /** NULLABLE_BYTES / jute buffer: INT32 length, −1 = null. */
  bytesI32(): Uint8Array | null {
    const at = this.pos;
    const n = this.lengthFromWire(this.i32(), true, 'bytes', at);
    return n === null ? null : this.raw(n);
  }

  /** INT32-prefixed bytes where null is not allowed. */
  bytesI32NotNull(): Uint8Array {
    const at = this.pos;
    return this.raw(this.lengthFromWire(this.i32(), false, 'bytes', at)!);
  }

  bytesUvarint(): Uint8Array {
    return this.raw(this.uvarint());
  }

  /** COMPACT_NULLABLE_BYTES: UNSIGNED_VARINT length + 1, 0 = null. */
  compactBytes(): Uint8Array | null {
    const n = this.uvarint32();
    return n === 0 ? null : this.raw(n - 1);
  }

  private utf8(length: number): string {
    const at = this.pos;
    if (length <= INTERNED_BYTES_MAX) {
      const short = this.interned(length);
      if (short !== undefined) return short;
    }
    const bytes = this.raw(length);
    if (length <= SHORT_STRING_BYTES_MAX) {
      // Short ASCII strings: cheaper by hand than through TextDecoder.
      let ascii = true;
      for (let i = 0; i < length; i++) {
        if (bytes[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
    }
    try {
      return utf8Decoder.decode(bytes);
    } catch (cause) {
      throw new ProtocolError('invalid_utf8', `invalid UTF-8 in string at offset ${at}`, { offset: at, cause });
    }
  }

  /**
   * A short ASCII string at the read position (the read moves past it), from the table when read
   * before: no view and no new string. Undefined when not ASCII (nothing read then).
   */
  private interned(length: number): string | undefined {
    if (!(Number.isSafeInteger(length) && length >= 0)) outOfRange('raw length', length);
    const buf = this.buf;
    const at = this.pos;
    if (length > buf.length - at) return undefined; // raw() reports the truncation
    let key = length;
    for (let i = 0; i < length; i++) {
      const b = buf[at + i]!;
      if (b >= 0x80) return undefined;
      key = key * 0x80 + b;
    }
    this.pos = at + length;
    let s = interned.get(key);
    if (s === undefined) {
      s = String.fromCharCode.apply(null, buf.subarray(at, at + length) as unknown as number[]);
      if (interned.size >= INTERNED_STRINGS_COUNT_MAX) interned.clear();
      interned.set(key, s);
    }
    return s;
  }

  /** NULLABLE_STRING (Kafka): INT16 length, −1 = null. */
  stringI16(): string | null {
    const at = this.pos;
    const n = this.lengthFromWire(this.i16(), true, 'string', at);
    return n === null ? null : this.utf8(n);
  }

  /** STRING (Kafka) where null is malformed. */
  stringI16NotNull(): string {
    const at = this.pos;
    return this.utf8(this.lengthFromWire(this.i16(), false, 'string', at)!);
  }

  /** jute ustring: INT32 length, −1 = null. */
  stringI32(): string | null {
    const at = this.pos;
    const n = this.lengthFromWire(this.i32(), true, 'string', at);
    return n === null ? null : this.utf8(n);
  }

  stringUvarint(): string {
    return this.utf8(this.uvarint());
  }

  /** COMPACT_NULLABLE_STRING: UNSIGNED_VARINT length + 1, 0 = null. */
  compactString(): string | null {
    const n = this.uvarint32();
    return n === 0 ? null : this.utf8(n - 1);
  }

  /** Throws ProtocolError `trailing_bytes` unless every byte was consumed. */
  expectEnd(what = 'message'): void {
    if (this.pos !== this.buf.length) {
      throw new ProtocolError('trailing_bytes', `${what} has ${this.buf.length - this.pos} trailing bytes`, {
        offset: this.pos,
        remainingBytes: this.buf.length - this.pos,
      });
    }
  }
}

/** The big-endian u32 at bytes[at, at + 4) (no DataView: frame headers, storage keys, list positions). */
export function readU32BE(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** Writes the u32 `value` big-endian at bytes[at, at + 4). */
export function writeU32BE(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

/** Byte-wise equality; null equals only null (an absent value). */
export function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The parts one after another in one new buffer of the exact size (each part copied once). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

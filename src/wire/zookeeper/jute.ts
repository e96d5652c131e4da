// Jute, ZooKeeper's record serialisation (org.apache.jute BinaryInputArchive/BinaryOutputArchive):
// a bounded reader over one frame's bytes and a growable writer. Records (records.ts) are built
// from these primitives; nothing here knows a record.
//
// Grammar (all integers big-endian, two's complement):
//
//   int      = 4 bytes                    ; number
//   long     = 8 bytes                    ; bigint (exact: zxids, session ids, any value a client sends)
//   boolean  = 1 byte                     ; 0 = false, anything else = true (Java's readBoolean)
//   buffer   = int:len *len(byte)         ; len = -1 -> null
//   ustring  = int:len *len(byte)         ; UTF-8; len = -1 -> null
//   vector<T>= int:count *count(T)        ; count = -1 -> null
//   record   = its fields in declaration order, no framing of its own
//
// Decoding errors (ProtocolError; the reader stops at the first):
//   truncated        a field runs past the end of the bytes given (a frame's record is shorter
//                    than its fields: ZooKeeper's EOFException)
//   invalid_length   a buffer/ustring/vector length below -1, or longer than the bytes left (a
//                    vector's count is checked against the bytes left too: each element takes at
//                    least one byte, so no count can make us allocate more than the frame holds)
//
// Decisions (compatibility with ZooKeeper 3.8's Java server):
//   - invalid UTF-8 in a ustring is not refused: it decodes with U+FFFD replacements, as Java's
//     new String(bytes, UTF_8) does, so a client ZooKeeper serves is served here too. Such a string
//     does not re-encode to the same bytes (nor does it in ZooKeeper).
//   - encoding a string with a lone UTF-16 surrogate writes U+FFFD (TextEncoder); Java writes '?'.
//     Neither happens for text that came off the wire.
//   - a boolean byte other than 0/1 reads as true (DataInput.readBoolean), never an error.
//   - bytes left after a record are the caller's business (ZooKeeper's server ignores them).
// Untrusted bytes never reach an assert: every length is checked against the bytes left first.

import { ProtocolError } from '../../lib/errors.ts';

const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Reads one record's fields; a malformed field throws a ProtocolError, caught by `decodeWith`. */
export class JuteReader {
  private at: number;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    from = 0,
    private readonly end: number = bytes.length,
  ) {
    this.at = from;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.at;
  }

  get remaining(): number {
    return this.end - this.at;
  }

  private need(n: number, field: string): void {
    if (this.end - this.at < n) {
      throw new ProtocolError('truncated', `jute: ${field} runs past the end of the record`, {
        field,
        offset: this.at,
        needBytes: n,
        haveBytes: this.end - this.at,
      });
    }
  }

  int(field = 'int'): number {
    this.need(4, field);
    const v = this.view.getInt32(this.at);
    this.at += 4;
    return v;
  }

  long(field = 'long'): bigint {
    this.need(8, field);
    const v = this.view.getBigInt64(this.at);
    this.at += 8;
    return v;
  }

  bool(field = 'boolean'): boolean {
    this.need(1, field);
    return this.bytes[this.at++] !== 0;
  }

  /** A length prefix: -1 is null; below -1 or beyond the bytes left is invalid. */
  private length(field: string): number | null {
    const len = this.int(field);
    if (len === -1) return null;
    if (len < -1 || len > this.end - this.at) {
      throw new ProtocolError('invalid_length', `jute: ${field} length ${len} out of range`, {
        field,
        length: len,
        haveBytes: this.end - this.at,
      });
    }
    return len;
  }

  buffer(field = 'buffer'): Uint8Array | null {
    const len = this.length(field);
    if (len === null) return null;
    const out = this.bytes.slice(this.at, this.at + len);
    this.at += len;
    return out;
  }

  ustring(field = 'ustring'): string | null {
    const len = this.length(field);
    if (len === null) return null;
    const s = utf8Decoder.decode(this.bytes.subarray(this.at, this.at + len));
    this.at += len;
    return s;
  }

  /** A vector of records or primitives; `element` reads one. */
  vector<T>(element: (r: JuteReader) => T, field = 'vector'): T[] | null {
    const count = this.length(field);
    if (count === null) return null;
    const out: T[] = [];
    for (let i = 0; i < count; i++) out.push(element(this));
    return out;
  }

  /** The bytes from here to the end (a body the caller does not decode), copied. */
  rest(): Uint8Array {
    const out = this.bytes.slice(this.at, this.end);
    this.at = this.end;
    return out;
  }
}

/** A growable output archive; `finish` returns the bytes written. */
export class JuteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private at = 0;

  constructor(initialBytes = 256) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.at;
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.at));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  int(v: number): this {
    this.room(4);
    this.view.setInt32(this.at, v);
    this.at += 4;
    return this;
  }

  /** Writes an i64 from a bigint or a safe-integer number (values wrap to 64 bits like Java's long). */
  long(v: number | bigint): this {
    this.room(8);
    this.view.setBigInt64(this.at, BigInt.asIntN(64, typeof v === 'bigint' ? v : BigInt(v)));
    this.at += 8;
    return this;
  }

  bool(v: boolean): this {
    this.room(1);
    this.buf[this.at++] = v ? 1 : 0;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.room(bytes.length);
    this.buf.set(bytes, this.at);
    this.at += bytes.length;
    return this;
  }

  buffer(v: Uint8Array | null): this {
    if (v === null) return this.int(-1);
    return this.int(v.length).raw(v);
  }

  ustring(v: string | null): this {
    if (v === null) return this.int(-1);
    return this.buffer(utf8Encoder.encode(v));
  }

  vector<T>(v: readonly T[] | null, element: (w: JuteWriter, item: T) => void): this {
    if (v === null) return this.int(-1);
    this.int(v.length);
    for (const item of v) element(this, item);
    return this;
  }

  /** Overwrites the int at `offset` (a frame's length prefix once the body is written). */
  patchInt(offset: number, v: number): void {
    this.view.setInt32(offset, v);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.at);
  }
}

/**
 * Runs a decoding function over `bytes`, turning the reader's thrown ProtocolError into a value.
 * Anything else thrown is a bug in the decoding function and propagates.
 */
export function decodeWith<T>(bytes: Uint8Array, decode: (r: JuteReader) => T): T | ProtocolError {
  try {
    return decode(new JuteReader(bytes));
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
}

// Peer frame codec: the envelope every internal message travels in, and a streaming decoder.
//
// Grammar (all integers big-endian):
//
//   frame          = frameLength envelope payload checksum
//   frameLength    = u32          ; bytes that follow this field (envelope + payload + checksum)
//   envelope       = envelopeVersion messageType clusterId senderId
//   envelopeVersion= u8           ; 2 is the only version (1 was this frame without the checksum)
//   messageType    = u16          ; src/lib/message-types.ts
//   clusterId      = u8 length (1..clusterIdBytesMax) + that many bytes of UTF-8
//   senderId       = u8 length (1..nodeIdBytesMax)   + that many bytes of UTF-8
//   payload        = the bytes between the envelope and the checksum, opaque to this layer
//   checksum       = u32          ; CRC-32C (Castagnoli) of every byte of the frame before it:
//                                 ; frameLength, envelope and payload
//
// Why a checksum of our own: TCP's 16-bit ones-complement sum misses about one corrupted segment in
// 65,536 (and none of the errors made in a NIC, a middlebox or memory after it was checked), and a
// corrupted Raft message that still decodes can break safety (issue 7). CRC-32C catches every burst
// of up to 32 bits and all but ~2^-32 of the rest. The decoder checks, in this order: the length
// bounds (on the prefix's 4 bytes), the version (on its byte), the checksum (once the frame is
// complete), then the ids; a mismatch is ProtocolError `frame_checksum_mismatch`, terminal like every
// decode error, so the transport counts it and closes the connection. Checksums of short frames are
// computed in JavaScript, of long ones natively (crc32c.ts).
//
// Bounds: a whole frame on the wire (the 4-byte length included) is at most `frameBytesMax`
// (limits.peerFrameBytesMax unless overridden). The decoder checks the length prefix as soon as
// its 4 bytes arrive, so an oversize frame is rejected without buffering its body.
//
// Invariants of FrameDecoder:
//   - any chunking of the same bytes yields the same frames and errors (tests feed it a byte at a
//     time and in random chunks);
//   - frames that lie inside one chunk are parsed in place: their payload is a view of that chunk,
//     and nothing is allocated per frame but that view (delivery is a sink call, not an event
//     object). Only a frame that straddles chunks is held (as views of its parts) and then copied
//     once into one buffer; so each input byte is copied at most once and decoding is O(n) for
//     any chunking;
//   - bytes held never exceed frameBytesMax (at most one incomplete frame is held), and memory held
//     for it (`heldBytes`) stays within twice the bytes received: the assembly buffer grows by
//     doubling as bytes arrive, never to the declared length up front (a forged 16 MiB length
//     followed by a trickle of bytes used to allocate 16 MiB per connection; issue 7 item 13);
//   - frameBytesMax may be raised on a live decoder (the transport accepts only a small first frame
//     from a connection that has not identified itself yet, then the full bound);
//   - every error is terminal: after the first ProtocolError the decoder yields nothing more and
//     the connection owning it must be closed (a length-prefixed stream cannot resynchronise).
//     A sink may also stop the decoder (its frame() returns false), with the same effect, and so
//     does a sink that throws (the exception propagates; the stream position is lost).
// Untrusted bytes never reach an assert: each malformation becomes a ProtocolError with a stable code.
//
// Speed notes (measured on node 20, see docs/benchmarks/transport.md): hot paths read `.length`, not
// `.byteLength` (equal for Uint8Array; V8 11 does not inline the byteLength getter, which made a
// 10-byte compare loop cost ~100 ns), and copy short id bytes with a loop rather than `set`.

import { readU32BE, writeU32BE } from '../lib/bytes.ts';
import { AssertionError, assert } from '../lib/assert.ts';
import type { ProtocolErrorCode } from '../lib/error-codes.ts';
import { ConfigError, LimitError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { crc32cOf } from '../lib/crc32c.ts';

export const envelopeVersion = 2;
export const lengthPrefixBytes = 4;
export const checksumBytes = 4;
/** version + type + two id-length bytes; ids themselves are at least one byte each. */
const envelopeFixedBytes = 1 + 2 + 1 + 1;
const envelopeBytesMin = envelopeFixedBytes + 2;
/** The smallest frameLength: an envelope with one-byte ids, no payload, the checksum. */
const bodyBytesMin = envelopeBytesMin + checksumBytes;

/** Stable ProtocolError codes produced by the decoder. */
export const FrameErrorCode = {
  frameTooLarge: 'frame_too_large',
  unknownEnvelopeVersion: 'unknown_envelope_version',
  truncatedEnvelope: 'frame_truncated_envelope',
  badIdLength: 'bad_id_length',
  badIdEncoding: 'bad_id_encoding',
  checksumMismatch: 'frame_checksum_mismatch',
} as const satisfies Record<string, ProtocolErrorCode>;
export type FrameErrorCode = (typeof FrameErrorCode)[keyof typeof FrameErrorCode];

export interface Frame {
  readonly envelopeVersion: number;
  readonly type: number;
  readonly clusterId: string;
  readonly senderId: string;
  /** May share memory with the chunk it arrived in; the decoder never writes to it afterwards. */
  readonly payload: Uint8Array;
  /** Bytes this frame took on the wire, length prefix included. */
  readonly wireBytes: number;
}

export type DecodeEvent =
  | { readonly kind: 'frame'; readonly frame: Frame }
  | { readonly kind: 'error'; readonly error: ProtocolError };

/**
 * Receives what FrameDecoder.decode finds, in stream order. The hot path of the transport: one
 * call per frame, no event object. Ids are the same string objects for as long as the bytes that
 * encode them repeat, so a consumer may compare them by identity first.
 */
export interface FrameSink {
  /**
   * One frame. `payload` may share memory with the received chunk; the decoder never writes to it.
   * Return false to stop: the decoder releases what it holds and yields nothing more.
   */
  frame(type: number, clusterId: string, senderId: string, payload: Uint8Array, wireBytes: number): boolean;
  /** The first and last error; the decoder yields nothing after it. */
  error(error: ProtocolError): void;
}

export interface FrameBounds {
  frameBytesMax: number;
  clusterIdBytesMax: number;
  nodeIdBytesMax: number;
}

export const defaultFrameBounds: FrameBounds = {
  frameBytesMax: limits.peerFrameBytesMax,
  clusterIdBytesMax: limits.clusterIdBytesMax,
  nodeIdBytesMax: limits.nodeIdBytesMax,
};

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function checkBounds(bounds: FrameBounds): void {
  assert(Number.isSafeInteger(bounds.frameBytesMax), 'frameBytesMax must be an integer');
  assert(bounds.frameBytesMax >= lengthPrefixBytes + bodyBytesMin, 'frameBytesMax too small for an envelope');
  assert(bounds.frameBytesMax <= 0xffffffff + lengthPrefixBytes, 'frameBytesMax exceeds the u32 length prefix');
  assert(bounds.clusterIdBytesMax >= 1 && bounds.clusterIdBytesMax <= 255, 'clusterIdBytesMax must be 1..255');
  assert(bounds.nodeIdBytesMax >= 1 && bounds.nodeIdBytesMax <= 255, 'nodeIdBytesMax must be 1..255');
}

function encodeId(field: string, id: string, bytesMax: number): Uint8Array {
  const bytes = utf8.encode(id);
  if (bytes.byteLength < 1 || bytes.byteLength > bytesMax) {
    throw new ConfigError(field, `must be 1..${bytesMax} bytes of UTF-8, got ${bytes.byteLength}`);
  }
  return bytes;
}

/**
 * Encodes frames for one (cluster, sender). The envelope after the type is the same for every
 * frame, so it is built once. Every encode copies the payload: the caller may reuse its buffer.
 */
export class FrameEncoder {
  readonly bounds: FrameBounds;
  private readonly idsTail: Uint8Array; // clusterId and senderId with their length bytes
  private readonly idsTailBytes: number;
  /** Length prefix + version + type: the bytes before idsTail. */
  private readonly headBytes: number;

  constructor(options: { clusterId: string; senderId: string; bounds?: Partial<FrameBounds> }) {
    this.bounds = { ...defaultFrameBounds, ...options.bounds };
    checkBounds(this.bounds);
    const cluster = encodeId('clusterId', options.clusterId, this.bounds.clusterIdBytesMax);
    const sender = encodeId('senderId', options.senderId, this.bounds.nodeIdBytesMax);
    this.idsTail = new Uint8Array(2 + cluster.byteLength + sender.byteLength);
    this.idsTail[0] = cluster.byteLength;
    this.idsTail.set(cluster, 1);
    this.idsTail[1 + cluster.byteLength] = sender.byteLength;
    this.idsTail.set(sender, 2 + cluster.byteLength);
    this.idsTailBytes = this.idsTail.length;
    this.headBytes = lengthPrefixBytes + 1 + 2;
  }

  /** Bytes on the wire for a payload of `payloadBytes`, length prefix included. */
  frameBytes(payloadBytes: number): number {
    return this.headBytes + this.idsTailBytes + payloadBytes + checksumBytes;
  }

  /** Whether a payload of this size fits under frameBytesMax. */
  fits(payloadBytes: number): boolean {
    return this.frameBytes(payloadBytes) <= this.bounds.frameBytesMax;
  }

  /**
   * Writes one frame into `target` at `offset`; returns the bytes written. The caller checked
   * `fits` and that the target has room (programmer errors, asserted).
   */
  encodeInto(target: Uint8Array, offset: number, type: number, payload: Uint8Array): number {
    const total = this.headBytes + this.idsTailBytes + payload.length + checksumBytes;
    // One combined check keeps the hot path free of message building; the messages come after.
    if ((type & 0xffff) !== type || total > this.bounds.frameBytesMax || offset + total > target.length) {
      assert((type & 0xffff) === type, `message type out of u16 range: ${type}`);
      assert(total <= this.bounds.frameBytesMax, 'encodeInto called for an oversize frame');
      throw new AssertionError('encodeInto target too small');
    }
    writeU32BE(target, offset, total - lengthPrefixBytes);
    target[offset + 4] = envelopeVersion;
    target[offset + 5] = type >>> 8;
    target[offset + 6] = type & 0xff;
    const ids = this.idsTail;
    const idsAt = offset + this.headBytes;
    const idsBytes = this.idsTailBytes;
    for (let i = 0; i < idsBytes; i++) target[idsAt + i] = ids[i]!;
    target.set(payload, idsAt + idsBytes);
    const checksumAt = offset + total - checksumBytes;
    writeU32BE(target, checksumAt, crc32cOf(target, offset, checksumAt));
    return total;
  }

  /** One frame in a fresh Buffer. Throws LimitError when the frame would exceed frameBytesMax. */
  encode(type: number, payload: Uint8Array): Buffer {
    if (!this.fits(payload.length)) {
      throw new LimitError(
        'peerFrameBytesMax',
        `frame of ${this.frameBytes(payload.length)} bytes exceeds ${this.bounds.frameBytesMax}`,
      );
    }
    const out = Buffer.allocUnsafe(this.frameBytes(payload.length));
    this.encodeInto(out, 0, type, payload);
    return out;
  }
}

/** Collects decode results as events: for tests and cold paths (the transport uses a FrameSink). */
class EventCollector implements FrameSink {
  events: DecodeEvent[] = [];

  frame(type: number, clusterId: string, senderId: string, payload: Uint8Array, wireBytes: number): boolean {
    this.events.push({ kind: 'frame', frame: { envelopeVersion, type, clusterId, senderId, payload, wireBytes } });
    return true;
  }

  error(error: ProtocolError): void {
    this.events.push({ kind: 'error', error });
  }
}

/**
 * Incremental decoder for one connection. `decode(chunk, sink)` hands the frames completed by that
 * chunk to the sink, in order, followed by at most one error (after which the decoder is failed for
 * good). `push(chunk)` does the same and returns them as events.
 */
export class FrameDecoder {
  bounds: FrameBounds;
  private failure: ProtocolError | null = null;
  private stopped = false;
  // The incomplete frame at the end of the stream so far, if any. Its length prefix is collected in
  // `prefix` while fewer than 4 bytes of it have arrived (`prefixFilled`); after that `bodyBytes`
  // is its length and `parts` hold views of the body bytes received (`partsBytes` of them).
  private readonly prefix = new Uint8Array(lengthPrefixBytes);
  private prefixFilled = 0;
  /** Body length of the held frame, or -1 while no frame is held past its length prefix. */
  private bodyBytes = -1;
  private parts: Uint8Array[] = [];
  private partsBytes = 0;
  /**
   * Past heldPartsMax views (a sender dribbling a frame a few bytes per segment), the body is
   * assembled in one buffer instead, so holding a frame costs a bounded number of objects whatever
   * the chunking. It doubles as bytes arrive (up to the declared length), so what it holds stays
   * within twice what the peer actually sent.
   */
  private assembly: Uint8Array | undefined;
  // Ids repeat on every frame of a connection: the id section's bytes (both ids with their length
  // bytes) of the last frame, and the strings they decoded to.
  private idsBytes: Uint8Array | null = null;
  private idsLength = 0;
  private clusterId = '';
  private senderId = '';

  constructor(bounds: Partial<FrameBounds> = {}) {
    this.bounds = { ...defaultFrameBounds, ...bounds };
    checkBounds(this.bounds);
  }

  get failed(): ProtocolError | null {
    return this.failure;
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.prefixFilled + this.partsBytes;
  }

  /** Memory held for the incomplete frame: `buffered`, or the assembly buffer's size once it has one. */
  get heldBytes(): number {
    return this.prefixFilled + (this.assembly === undefined ? this.partsBytes : this.assembly.length);
  }

  /** Raises frameBytesMax (never lowers it: a held frame was admitted under the old bound). */
  raiseFrameBytesMax(frameBytesMax: number): void {
    assert(frameBytesMax >= this.bounds.frameBytesMax, 'frameBytesMax can only be raised');
    const raised = { ...this.bounds, frameBytesMax };
    checkBounds(raised);
    this.bounds = raised;
  }

  push(chunk: Uint8Array): DecodeEvent[] {
    const collector = new EventCollector();
    this.decode(chunk, collector);
    return collector.events;
  }

  decode(chunk: Uint8Array, sink: FrameSink): void {
    if (this.failure !== null || this.stopped || chunk.length === 0) return;
    try {
      this.decodeChunk(chunk, sink);
    } catch (err) {
      // A sink threw mid-chunk: the position in the stream is lost, so the decoder stops for good.
      this.stop();
      throw err;
    }
  }

  /** Stops the decoder: it releases what it holds and yields nothing more. */
  stop(): void {
    this.stopped = true;
    this.release();
    this.prefixFilled = 0;
  }

  private decodeChunk(chunk: Uint8Array, sink: FrameSink): void {
    let at = 0;
    if (this.bodyBytes >= 0 || this.prefixFilled > 0) {
      at = this.continueHeld(chunk, sink);
      if (at < 0) return;
    }
    const end = chunk.length;
    while (end - at >= lengthPrefixBytes) {
      const length = readU32BE(chunk, at);
      if (!this.checkLength(length, sink)) return;
      const bodyAt = at + lengthPrefixBytes;
      if (end - bodyAt < length) {
        this.holdTail(chunk, bodyAt, length, sink);
        return;
      }
      if (chunk[bodyAt] !== envelopeVersion) {
        this.failVersion(chunk[bodyAt]!, sink);
        return;
      }
      if (!this.parse(chunk, bodyAt, length, sink, prefixInBuffer)) return;
      at = bodyAt + length;
    }
    if (at < end) this.holdPrefix(chunk, at);
  }

  // The rare paths live in their own methods, so that the hot loop above is optimised on its own
  // type feedback (a compare that never ran there would deoptimise it at every chunk's end).

  /** Holds the start of a frame whose length prefix is not complete yet. */
  private holdPrefix(chunk: Uint8Array, at: number): void {
    while (at < chunk.length) this.prefix[this.prefixFilled++] = chunk[at++]!;
  }

  /** Holds the frame of body length `length` that starts at `bodyAt` and straddles into later chunks. */
  private holdTail(chunk: Uint8Array, bodyAt: number, length: number, sink: FrameSink): void {
    this.bodyBytes = length;
    this.hold(chunk.subarray(bodyAt), sink);
  }

  /** Feeds the held frame from the front of `chunk`; returns where the rest of the chunk starts, or -1. */
  private continueHeld(chunk: Uint8Array, sink: FrameSink): number {
    let at = 0;
    if (this.bodyBytes < 0) {
      while (this.prefixFilled < lengthPrefixBytes && at < chunk.length) {
        this.prefix[this.prefixFilled++] = chunk[at++]!;
      }
      if (this.prefixFilled < lengthPrefixBytes) return -1;
      this.prefixFilled = 0;
      const length = readU32BE(this.prefix, 0);
      if (!this.checkLength(length, sink)) return -1;
      this.bodyBytes = length;
    }
    const count = Math.min(this.bodyBytes - this.partsBytes, chunk.length - at);
    if (!this.hold(chunk.subarray(at, at + count), sink)) return -1;
    at += count;
    if (this.partsBytes < this.bodyBytes) return -1;
    const body = this.assembly ?? (this.parts.length === 1 ? this.parts[0]! : joinParts(this.parts, this.partsBytes));
    this.release();
    // The body was held apart from its length prefix: the checksum starts from the prefix's CRC.
    writeU32BE(this.prefix, 0, body.length);
    if (!this.parse(body, 0, body.length, sink, crc32cOf(this.prefix, 0, lengthPrefixBytes))) return -1;
    return at;
  }

  /** Holds a view of body bytes of the incomplete frame; checks the version once its byte is here. */
  private hold(part: Uint8Array, sink: FrameSink): boolean {
    if (part.length === 0) return true;
    if (this.partsBytes === 0 && part[0] !== envelopeVersion) {
      this.failVersion(part[0]!, sink);
      return false;
    }
    if (this.assembly === undefined && this.parts.length >= heldPartsMax) {
      this.assembly = new Uint8Array(Math.min(this.bodyBytes, Math.max(2 * (this.partsBytes + part.length), 1024)));
      let at = 0;
      for (const held of this.parts) {
        this.assembly.set(held, at);
        at += held.length;
      }
      this.parts = [];
    }
    if (this.assembly !== undefined) {
      const need = this.partsBytes + part.length;
      if (need > this.assembly.length) {
        const grown = new Uint8Array(Math.min(this.bodyBytes, Math.max(need, 2 * this.assembly.length)));
        grown.set(this.assembly.subarray(0, this.partsBytes));
        this.assembly = grown;
      }
      this.assembly.set(part, this.partsBytes);
    } else this.parts.push(part);
    this.partsBytes += part.length;
    return true;
  }

  private checkLength(length: number, sink: FrameSink): boolean {
    if (length + lengthPrefixBytes > this.bounds.frameBytesMax) {
      this.fail(sink, FrameErrorCode.frameTooLarge, `frame length ${length} exceeds ${this.bounds.frameBytesMax}`, {
        frameBytes: length + lengthPrefixBytes,
        frameBytesMax: this.bounds.frameBytesMax,
      });
      return false;
    }
    if (length < bodyBytesMin) {
      this.fail(sink, FrameErrorCode.truncatedEnvelope, `frame length ${length} is shorter than an envelope`, {
        frameLength: length,
      });
      return false;
    }
    return true;
  }

  /**
   * Delivers the frame whose body is `buf[at .. at+length)` (length >= bodyBytesMin, version
   * checked) after verifying its checksum. `prefixCrc` is the CRC of the frame's length prefix, or
   * prefixInBuffer when the prefix is the 4 bytes before `at` in `buf`. Returns whether decoding
   * goes on.
   */
  private parse(buf: Uint8Array, at: number, length: number, sink: FrameSink, prefixCrc: number): boolean {
    const end = at + length - checksumBytes;
    const crc =
      prefixCrc === prefixInBuffer ? crc32cOf(buf, at - lengthPrefixBytes, end) : crc32cOf(buf, at, end, prefixCrc);
    if (crc !== readU32BE(buf, end)) {
      this.failChecksum(readU32BE(buf, end), crc, sink);
      return false;
    }
    const type = (buf[at + 1]! << 8) | buf[at + 2]!;
    const idsAt = at + 3;
    let payloadAt: number;
    const ids = this.idsBytes;
    const idsLength = this.idsLength;
    if (ids !== null && idsAt + idsLength <= end && sameBytesAt(ids, idsLength, buf, idsAt)) {
      payloadAt = idsAt + idsLength;
    } else {
      const next = this.readIds(buf, idsAt, end, sink);
      if (next < 0) return false;
      payloadAt = next;
    }
    const payload = new Uint8Array(buf.buffer, buf.byteOffset + payloadAt, end - payloadAt);
    if (sink.frame(type, this.clusterId, this.senderId, payload, lengthPrefixBytes + length)) return true;
    this.stop();
    return false;
  }

  /** The slow path: decodes both ids, fills the id cache; returns the payload offset or -1 (failed). */
  private readIds(buf: Uint8Array, at: number, end: number, sink: FrameSink): number {
    const cluster = readId(buf, at, end, this.bounds.clusterIdBytesMax, 'clusterId');
    if (cluster instanceof ProtocolError) return this.failWith(sink, cluster);
    const sender = readId(buf, cluster.next, end, this.bounds.nodeIdBytesMax, 'senderId');
    if (sender instanceof ProtocolError) return this.failWith(sink, sender);
    this.idsBytes = Uint8Array.from(buf.subarray(at, sender.next));
    this.idsLength = sender.next - at;
    this.clusterId = cluster.id;
    this.senderId = sender.id;
    return sender.next;
  }

  private failChecksum(received: number, computed: number, sink: FrameSink): void {
    this.fail(sink, FrameErrorCode.checksumMismatch, 'frame checksum mismatch (corrupted in transit)', {
      received,
      computed,
    });
  }

  private failVersion(version: number, sink: FrameSink): void {
    this.fail(sink, FrameErrorCode.unknownEnvelopeVersion, `unknown envelope version ${version}`, { version });
  }

  private fail(sink: FrameSink, code: FrameErrorCode, message: string, fields: Record<string, unknown>): void {
    this.failWith(sink, new ProtocolError(code, message, fields));
  }

  private failWith(sink: FrameSink, error: ProtocolError): -1 {
    this.failure = error;
    this.release();
    this.prefixFilled = 0;
    sink.error(error);
    return -1;
  }

  /** Drops the held frame. */
  private release(): void {
    this.bodyBytes = -1;
    this.parts = [];
    this.partsBytes = 0;
    this.assembly = undefined;
  }
}

function readId(
  body: Uint8Array,
  at: number,
  end: number,
  bytesMax: number,
  field: 'clusterId' | 'senderId',
): { id: string; next: number } | ProtocolError {
  if (at >= end) {
    return new ProtocolError(FrameErrorCode.truncatedEnvelope, `frame ends before ${field} length`, { field });
  }
  const length = body[at]!;
  if (length < 1 || length > bytesMax) {
    return new ProtocolError(FrameErrorCode.badIdLength, `${field} length ${length} outside 1..${bytesMax}`, {
      field,
      length,
    });
  }
  const next = at + 1 + length;
  if (next > end) {
    return new ProtocolError(FrameErrorCode.truncatedEnvelope, `frame ends inside ${field}`, { field });
  }
  try {
    return { id: utf8Strict.decode(body.subarray(at + 1, next)), next };
  } catch (cause) {
    return new ProtocolError(FrameErrorCode.badIdEncoding, `${field} is not valid UTF-8`, { field, cause });
  }
}

/** parse()'s prefixCrc when the length prefix precedes the body in the same buffer (CRCs are >= 0). */
const prefixInBuffer = -1;

/** Views held for one straddling frame before switching to a single assembly buffer. */
export const heldPartsMax = limits.frameHeldPartsMax;

/** The parts of one straddling frame body, copied once into one buffer. */
function joinParts(parts: readonly Uint8Array[], bytes: number): Uint8Array {
  const out = Buffer.allocUnsafe(bytes); // every byte is overwritten below
  let filled = 0;
  for (const part of parts) {
    out.set(part, filled);
    filled += part.length;
  }
  assert(filled === bytes, 'held parts add up to the frame body');
  return out;
}

/** Whether `b[at .. at+length)` equals `a` (of `length` bytes; the caller checked the range lies inside b). */
function sameBytesAt(a: Uint8Array, length: number, b: Uint8Array, at: number): boolean {
  for (let i = 0; i < length; i++) if (a[i] !== b[at + i]) return false;
  return true;
}

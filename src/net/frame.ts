// Peer frame codec: the envelope every internal message travels in, and a streaming decoder.
//
// Grammar (all integers big-endian):
//
//   frame          = frameLength envelope payload
//   frameLength    = u32          ; bytes that follow this field (envelope + payload)
//   envelope       = envelopeVersion messageType clusterId senderId
//   envelopeVersion= u8           ; 1 is the only version
//   messageType    = u16          ; src/lib/message-types.ts
//   clusterId      = u8 length (1..clusterIdBytesMax) + that many bytes of UTF-8
//   senderId       = u8 length (1..nodeIdBytesMax)   + that many bytes of UTF-8
//   payload        = the remaining frameLength - envelope bytes, opaque to this layer
//
// Bounds: a whole frame on the wire (the 4-byte length included) is at most `frameBytesMax`
// (limits.peerFrameBytesMax unless overridden). The decoder checks the length prefix as soon as
// its 4 bytes arrive, so an oversize frame is rejected without buffering its body.
//
// Invariants of FrameDecoder:
//   - any chunking of the same bytes yields the same frames and errors (tests feed it a byte at a
//     time and in random chunks);
//   - each input byte is copied at most once (chunks are kept in a list and sliced; a frame that
//     lies inside one chunk is a zero-copy view of it), so decoding is O(n) for any chunking;
//   - bytes buffered never exceed frameBytesMax plus one chunk;
//   - every error is terminal: after the first ProtocolError the decoder yields nothing more and
//     the connection owning it must be closed (a length-prefixed stream cannot resynchronise).
// Untrusted bytes never reach an assert: each malformation becomes a ProtocolError with a stable code.

import { assert } from '../lib/assert.ts';
import { ConfigError, LimitError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

export const envelopeVersion = 1;
export const lengthPrefixBytes = 4;
/** version + type + two id-length bytes; ids themselves are at least one byte each. */
const envelopeFixedBytes = 1 + 2 + 1 + 1;
const envelopeBytesMin = envelopeFixedBytes + 2;

/** Stable ProtocolError codes produced by the decoder. */
export const FrameErrorCode = {
  frameTooLarge: 'frame_too_large',
  unknownEnvelopeVersion: 'unknown_envelope_version',
  truncatedEnvelope: 'frame_truncated_envelope',
  badIdLength: 'bad_id_length',
  badIdEncoding: 'bad_id_encoding',
} as const;
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
  assert(bounds.frameBytesMax >= lengthPrefixBytes + envelopeBytesMin, 'frameBytesMax too small for an envelope');
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
  }

  /** Bytes on the wire for a payload of `payloadBytes`, length prefix included. */
  frameBytes(payloadBytes: number): number {
    return lengthPrefixBytes + 1 + 2 + this.idsTail.byteLength + payloadBytes;
  }

  /** Whether a payload of this size fits under frameBytesMax. */
  fits(payloadBytes: number): boolean {
    return this.frameBytes(payloadBytes) <= this.bounds.frameBytesMax;
  }

  /** Writes one frame into `target` at `offset`; returns the bytes written. The caller checked `fits`. */
  encodeInto(target: Uint8Array, offset: number, type: number, payload: Uint8Array): number {
    assert(Number.isInteger(type) && type >= 0 && type <= 0xffff, `message type out of u16 range: ${type}`);
    const total = this.frameBytes(payload.byteLength);
    assert(total <= this.bounds.frameBytesMax, 'encodeInto called for an oversize frame');
    assert(offset + total <= target.byteLength, 'encodeInto target too small');
    const length = total - lengthPrefixBytes;
    target[offset] = length >>> 24;
    target[offset + 1] = (length >>> 16) & 0xff;
    target[offset + 2] = (length >>> 8) & 0xff;
    target[offset + 3] = length & 0xff;
    target[offset + 4] = envelopeVersion;
    target[offset + 5] = type >>> 8;
    target[offset + 6] = type & 0xff;
    target.set(this.idsTail, offset + 7);
    target.set(payload, offset + 7 + this.idsTail.byteLength);
    return total;
  }

  /** One frame in a fresh Buffer. Throws LimitError when the frame would exceed frameBytesMax. */
  encode(type: number, payload: Uint8Array): Buffer {
    if (!this.fits(payload.byteLength)) {
      throw new LimitError(
        'peerFrameBytesMax',
        `frame of ${this.frameBytes(payload.byteLength)} bytes exceeds ${this.bounds.frameBytesMax}`,
      );
    }
    const out = Buffer.allocUnsafe(this.frameBytes(payload.byteLength));
    this.encodeInto(out, 0, type, payload);
    return out;
  }
}

/**
 * Incremental decoder for one connection. `push(chunk)` returns the frames completed by that
 * chunk, in order, followed by at most one error (after which the decoder is failed for good).
 */
export class FrameDecoder {
  readonly bounds: FrameBounds;
  private chunks: Uint8Array[] = [];
  private headIndex = 0; // first live chunk in `chunks`
  private headOffset = 0; // bytes already consumed from chunks[headIndex]
  private bufferedBytes = 0;
  /** Body length of the frame being assembled, or -1 while its length prefix is incomplete. */
  private bodyBytes = -1;
  private versionChecked = false;
  private failure: ProtocolError | null = null;
  // Ids repeat on every frame of a connection: decode each distinct byte string once.
  private lastCluster: { bytes: Uint8Array; id: string } | null = null;
  private lastSender: { bytes: Uint8Array; id: string } | null = null;

  constructor(bounds: Partial<FrameBounds> = {}) {
    this.bounds = { ...defaultFrameBounds, ...bounds };
    checkBounds(this.bounds);
  }

  get failed(): ProtocolError | null {
    return this.failure;
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  push(chunk: Uint8Array): DecodeEvent[] {
    const events: DecodeEvent[] = [];
    if (this.failure !== null || chunk.byteLength === 0) return events;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.byteLength;
    for (;;) {
      if (this.bodyBytes < 0) {
        if (this.bufferedBytes < lengthPrefixBytes) break;
        const length = this.takeU32();
        if (length + lengthPrefixBytes > this.bounds.frameBytesMax) {
          this.fail(
            events,
            FrameErrorCode.frameTooLarge,
            `frame length ${length} exceeds ${this.bounds.frameBytesMax}`,
            {
              frameBytes: length + lengthPrefixBytes,
              frameBytesMax: this.bounds.frameBytesMax,
            },
          );
          break;
        }
        if (length < envelopeBytesMin) {
          this.fail(events, FrameErrorCode.truncatedEnvelope, `frame length ${length} is shorter than an envelope`, {
            frameLength: length,
          });
          break;
        }
        this.bodyBytes = length;
        this.versionChecked = false;
      }
      if (!this.versionChecked) {
        if (this.bufferedBytes < 1) break;
        const version = this.peekByte();
        if (version !== envelopeVersion) {
          this.fail(events, FrameErrorCode.unknownEnvelopeVersion, `unknown envelope version ${version}`, { version });
          break;
        }
        this.versionChecked = true;
      }
      if (this.bufferedBytes < this.bodyBytes) break;
      const body = this.take(this.bodyBytes);
      this.bodyBytes = -1;
      const event = this.parseBody(body);
      events.push(event);
      if (event.kind === 'error') {
        this.failure = event.error;
        this.release();
        break;
      }
    }
    return events;
  }

  private parseBody(body: Uint8Array): DecodeEvent {
    // body.byteLength >= envelopeBytesMin and body[0] is the checked version.
    const type = (body[1]! << 8) | body[2]!;
    let at = 3;
    const cluster = this.readId(body, at, this.bounds.clusterIdBytesMax, 'clusterId');
    if (cluster instanceof ProtocolError) return { kind: 'error', error: cluster };
    at = cluster.next;
    const sender = this.readId(body, at, this.bounds.nodeIdBytesMax, 'senderId');
    if (sender instanceof ProtocolError) return { kind: 'error', error: sender };
    at = sender.next;
    return {
      kind: 'frame',
      frame: {
        envelopeVersion,
        type,
        clusterId: cluster.id,
        senderId: sender.id,
        payload: body.subarray(at),
        wireBytes: lengthPrefixBytes + body.byteLength,
      },
    };
  }

  private readId(
    body: Uint8Array,
    at: number,
    bytesMax: number,
    field: 'clusterId' | 'senderId',
  ): { id: string; next: number } | ProtocolError {
    if (at >= body.byteLength) {
      return new ProtocolError(FrameErrorCode.truncatedEnvelope, `frame ends before ${field} length`, { field });
    }
    const length = body[at]!;
    if (length < 1 || length > bytesMax) {
      return new ProtocolError(FrameErrorCode.badIdLength, `${field} length ${length} outside 1..${bytesMax}`, {
        field,
        length,
      });
    }
    const end = at + 1 + length;
    if (end > body.byteLength) {
      return new ProtocolError(FrameErrorCode.truncatedEnvelope, `frame ends inside ${field}`, { field });
    }
    const cache = field === 'clusterId' ? this.lastCluster : this.lastSender;
    if (cache !== null && sameBytesAt(cache.bytes, body, at + 1, length)) return { id: cache.id, next: end };
    const bytes = body.subarray(at + 1, end);
    let id: string;
    try {
      id = utf8Strict.decode(bytes);
    } catch (cause) {
      return new ProtocolError(FrameErrorCode.badIdEncoding, `${field} is not valid UTF-8`, { field, cause });
    }
    const entry = { bytes: Uint8Array.from(bytes), id };
    if (field === 'clusterId') this.lastCluster = entry;
    else this.lastSender = entry;
    return { id, next: end };
  }

  private fail(events: DecodeEvent[], code: FrameErrorCode, message: string, fields: Record<string, unknown>): void {
    this.failure = new ProtocolError(code, message, fields);
    events.push({ kind: 'error', error: this.failure });
    this.release();
  }

  private release(): void {
    this.chunks = [];
    this.headIndex = 0;
    this.headOffset = 0;
    this.bufferedBytes = 0;
  }

  private peekByte(): number {
    const head = this.chunks[this.headIndex]!;
    return head[this.headOffset]!;
  }

  private takeU32(): number {
    const head = this.chunks[this.headIndex]!;
    const at = this.headOffset;
    if (head.byteLength - at >= lengthPrefixBytes) {
      // Fast path: the prefix lies in one chunk; read it in place.
      this.bufferedBytes -= lengthPrefixBytes;
      this.headOffset += lengthPrefixBytes;
      if (this.headOffset === head.byteLength) this.advanceHead();
      return ((head[at]! << 24) | (head[at + 1]! << 16) | (head[at + 2]! << 8) | head[at + 3]!) >>> 0;
    }
    const bytes = this.take(lengthPrefixBytes);
    return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  }

  /** Removes `n` bytes from the front; a view when they lie in one chunk, else one copy. */
  private take(n: number): Uint8Array {
    assert(n <= this.bufferedBytes, 'take beyond buffered bytes');
    this.bufferedBytes -= n;
    const head = this.chunks[this.headIndex]!;
    const inHead = head.byteLength - this.headOffset;
    if (n <= inHead) {
      const view = head.subarray(this.headOffset, this.headOffset + n);
      this.headOffset += n;
      if (this.headOffset === head.byteLength) this.advanceHead();
      return view;
    }
    const out = Buffer.allocUnsafe(n); // every byte is overwritten below
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[this.headIndex]!;
      const count = Math.min(n - filled, chunk.byteLength - this.headOffset);
      out.set(chunk.subarray(this.headOffset, this.headOffset + count), filled);
      filled += count;
      this.headOffset += count;
      if (this.headOffset === chunk.byteLength) this.advanceHead();
    }
    return out;
  }

  private advanceHead(): void {
    this.headIndex++;
    this.headOffset = 0;
    // Compact the chunk list once the consumed prefix dominates, keeping shifts amortised O(1).
    if (this.headIndex === this.chunks.length) {
      this.chunks = [];
      this.headIndex = 0;
    } else if (this.headIndex > 64 && this.headIndex * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.headIndex);
      this.headIndex = 0;
    }
  }
}

/** Whether `b[at .. at+length)` equals `a`. */
function sameBytesAt(a: Uint8Array, b: Uint8Array, at: number, length: number): boolean {
  if (a.byteLength !== length) return false;
  for (let i = 0; i < length; i++) if (a[i] !== b[at + i]) return false;
  return true;
}

// Shared pieces of the CRDT binary encoding: the header (type tag, version), the decode budget that
// bounds what untrusted bytes may make us allocate, and the readers/writers of the leaf fields
// (replica ids, byte-string elements, register values) every type uses.
//
// Grammar common to every CRDT value (the per-type bodies are in each type's file):
//   value      = tag:u8 version:u8 body     ; tag: CrdtTag below; version: CRDT_CODEC_VERSION
//   replica    = uvarint length (1..nodeIdBytesMax) + UTF-8          ; a node id
//   element    = uvarint length + bytes                             ; set element / map key
//   blob       = uvarint length + bytes                             ; a register's value
// Every list in a body is canonical: strictly sorted, no duplicates, no empty entries, so equal
// states have equal bytes (tests compare states by their encodings) and a decoder rejects anything
// else. (An over-long varint still decodes, to the state its canonical form encodes.)
//
// Bounds (src/lib/limits.ts, overridable per call for tests): a whole value is at most
// crdtValueBytesMax bytes; it holds at most crdtElementsCountMax elements (set elements, map keys,
// register entries, counter entries, context replicas) and crdtDotsCountMax dots (in stores and in
// the causal context's dot cloud); OR-Maps nest at most crdtMapLevelsCountMax deep. The encoder checks
// the same bounds (LimitError), so a state this node could not decode never leaves it.
// Untrusted bytes never reach an assert: every malformation is a ProtocolError with a stable code:
//   crdt_unknown_type     tag byte not a CRDT type (or not the type the caller expects)
//   crdt_unknown_version  version byte this build does not read
//   crdt_malformed        bytes that break the grammar or its canonical-form rules
//   crdt_too_large        a count, depth or size over its bound
// plus the generic reader codes (truncated, trailing_bytes, varint_overflow, invalid_utf8).

import type { NodeId } from '../env/types.ts';
import { ByteReader, ByteWriter, latin1String, utf8ByteLength } from '../lib/bytes.ts';
import { LimitError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

/** A replica is a node: the coordinator that runs an operation names itself. */
export type ReplicaId = NodeId;

/** The new state after an operation and the delta that carries exactly that change. */
export interface Update<T> {
  readonly state: T;
  readonly delta: T;
}

export const CRDT_CODEC_VERSION = 1;

export const CrdtTag = {
  gcounter: 1,
  pncounter: 2,
  gset: 3,
  orset: 4,
  lww: 5,
  mvreg: 6,
  ormap: 7,
  /** A decomposed collection's marker (marker.ts): a version sibling, not a value of its own. */
  marker: 8,
} as const;
export type CrdtType = keyof typeof CrdtTag;

const TYPE_BY_TAG: ReadonlyMap<number, CrdtType> = new Map(
  (Object.entries(CrdtTag) as [CrdtType, number][]).map(([t, n]) => [n, t]),
);

export function typeOfTag(tag: number): CrdtType | undefined {
  return TYPE_BY_TAG.get(tag);
}

export interface CrdtBounds {
  readonly bytesMax: number;
  readonly elementsCountMax: number;
  readonly dotsCountMax: number;
  readonly depthMax: number;
}

export const DEFAULT_CRDT_BOUNDS: CrdtBounds = Object.freeze({
  bytesMax: limits.crdtValueBytesMax,
  elementsCountMax: limits.crdtElementsCountMax,
  dotsCountMax: limits.crdtDotsCountMax,
  depthMax: limits.crdtMapLevelsCountMax,
});

export function malformed(message: string, fields: Record<string, unknown> = {}): ProtocolError {
  return new ProtocolError('crdt_malformed', message, fields);
}

/**
 * Counts what one decode (or encode) has taken so far against the bounds. Decoding throws
 * ProtocolError `crdt_too_large`; encoding the same overflow throws LimitError.
 */
export class Budget {
  private elements = 0;
  private dots = 0;
  constructor(
    readonly bounds: CrdtBounds,
    private readonly side: 'decode' | 'encode',
  ) {}

  takeElements(n: number): void {
    this.elements += n;
    if (this.elements > this.bounds.elementsCountMax) this.over('crdtElementsCountMax', this.elements);
  }

  takeDots(n: number): void {
    this.dots += n;
    if (this.dots > this.bounds.dotsCountMax) this.over('crdtDotsCountMax', this.dots);
  }

  checkDepth(depth: number): void {
    if (depth > this.bounds.depthMax) this.over('crdtMapLevelsCountMax', depth);
  }

  private over(limit: 'crdtElementsCountMax' | 'crdtDotsCountMax' | 'crdtMapLevelsCountMax', value: number): never {
    const max =
      limit === 'crdtElementsCountMax'
        ? this.bounds.elementsCountMax
        : limit === 'crdtDotsCountMax'
          ? this.bounds.dotsCountMax
          : this.bounds.depthMax;
    const message = `CRDT value over ${limit}: ${value} > ${max}`;
    if (this.side === 'encode') throw new LimitError(limit, message);
    throw new ProtocolError('crdt_too_large', message, { limit, value, max });
  }
}

/**
 * Reads a count prefix, rejecting one that could not possibly fit in the bytes left (each item
 * takes at least `itemBytesMin`), so a forged count cannot make us loop or allocate past the input.
 */
export function readCount(r: ByteReader, itemBytesMin: number, what: string): number {
  const at = r.position;
  const n = r.uvarint();
  if (n * itemBytesMin > r.remaining) {
    throw malformed(`${what} count ${n} at offset ${at} exceeds the bytes left`, { offset: at, count: n });
  }
  return n;
}

export function writeReplica(w: ByteWriter, replica: ReplicaId): void {
  w.stringUvarint(replica);
}

export function readReplica(r: ByteReader): ReplicaId {
  const at = r.position;
  const id = r.stringUvarint();
  if (id.length === 0 || utf8ByteLength(id) > limits.nodeIdBytesMax) {
    throw malformed(`replica id at offset ${at} is empty or over ${limits.nodeIdBytesMax} bytes`, { offset: at });
  }
  return id;
}

/**
 * Set elements and map keys are binary-safe byte strings held as JS strings with one char per byte
 * (latin1), so they can key a Map; code-unit order is then byte order.
 */
export type ByteString = string;

export function byteStringOf(bytes: Uint8Array): ByteString {
  return latin1String(bytes);
}

export function bytesOfByteString(s: ByteString): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function isByteString(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

export function writeElement(w: ByteWriter, e: ByteString): void {
  w.uvarint(e.length);
  for (let i = 0; i < e.length; i++) w.u8(e.charCodeAt(i));
}

export function readElement(r: ByteReader): ByteString {
  return byteStringOf(r.bytesUvarint());
}

/** A register value; copied out of the input so the caller may reuse its buffer. */
export function readBlob(r: ByteReader): Uint8Array {
  return r.bytesUvarint().slice();
}

/** Code-unit order (byte order for byte strings); replica ids compare the same way everywhere. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Checks strict ascending order of consecutive keys while decoding. */
export function checkAscending(prev: string | undefined, next: string, what: string, at: number): void {
  if (prev !== undefined && !(prev < next)) {
    throw malformed(`${what} at offset ${at} not strictly sorted`, { offset: at });
  }
}

/** Encodes one value: header, then `body`, within the bounds (LimitError past any of them). */
export function encodeValue(
  type: CrdtType,
  body: (w: ByteWriter, budget: Budget) => void,
  bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS,
): Uint8Array {
  const w = new ByteWriter({ bytesMax: bounds.bytesMax });
  w.u8(CrdtTag[type]).u8(CRDT_CODEC_VERSION);
  body(w, new Budget(bounds, 'encode'));
  return w.finish();
}

/** The CRDT type an encoded value's first byte names; undefined for an unknown tag (nothing else is checked). */
export function crdtTypeOf(bytes: Uint8Array): CrdtType | undefined {
  return bytes.length === 0 ? undefined : typeOfTag(bytes[0]!);
}

/** Reads the header of an untrusted value; `expected` narrows the accepted types. */
export function readHeader(
  bytes: Uint8Array,
  bounds: CrdtBounds,
  expected?: CrdtType,
): { type: CrdtType; reader: ByteReader; budget: Budget } {
  if (bytes.length > bounds.bytesMax) {
    throw new ProtocolError('crdt_too_large', `CRDT value of ${bytes.length} bytes over ${bounds.bytesMax}`, {
      limit: 'crdtValueBytesMax',
      value: bytes.length,
      max: bounds.bytesMax,
    });
  }
  const reader = new ByteReader(bytes);
  const tag = reader.u8();
  const type = typeOfTag(tag);
  if (type === undefined || (expected !== undefined && type !== expected)) {
    throw new ProtocolError(
      'crdt_unknown_type',
      `CRDT type tag ${tag} is ${type === undefined ? 'unknown' : `${type}, not ${expected}`}`,
      { tag },
    );
  }
  const version = reader.u8();
  if (version !== CRDT_CODEC_VERSION) {
    throw new ProtocolError('crdt_unknown_version', `CRDT encoding version ${version} (this build reads 1)`, {
      version,
    });
  }
  return { type, reader, budget: new Budget(bounds, 'decode') };
}

/** Decodes one value of type `expected` with `body`, requiring every byte to be used. */
export function decodeValue<T>(
  bytes: Uint8Array,
  expected: CrdtType,
  body: (r: ByteReader, budget: Budget) => T,
  bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS,
): T {
  const { reader, budget } = readHeader(bytes, bounds, expected);
  const value = body(reader, budget);
  reader.expectEnd(`CRDT ${expected}`);
  return value;
}

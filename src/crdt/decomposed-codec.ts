// Bytes of a decomposed collection (decomposed.ts): what the replica store keeps (a header, one
// row per element) and what peers send (a delta, a clear, a page of a full-state join). Each is
// built on the CRDT codec (codec.ts, causal.ts), which checks the inner value's canonical form, its
// bounds and that every dot of a store lies in its context (R2 on the wire); these decoders add
// the framing, its own bounds (touched elements at most the bounds' elementsCountMax, a page's
// from and to at most lsmKeyBytesMax bytes) and the shape rules below. A row has one byte form
// (its re-encoding must give the same bytes).
//
// Grammar (integers big-endian; uvarint = UNSIGNED_VARINT, src/lib/bytes.ts):
//   message  = version kind body
//   version  = u8                         ; 1
//   kind     = u8                         ; 1 delta | 2 clear | 3 page | 4 header | 5 row | 6 rows | 7 localHeader
//   delta    = touchedN:uvarint element* crdt     ; touched elements strictly ascending, N >= 1;
//                                                 ; crdt = the delta's rows under its context,
//                                                 ; every row's element among the touched
//   clear    = crdt                               ; no rows: the clear's context
//   page     = from:element hasTo:u8 [to:element] crdt   ; hasTo 0|1; from < to; every row's
//                                                 ; element in [from, to)
//   header   = count:uvarint digest:u64 crdt      ; kind 4 (read, no longer written): no rows:
//                                                 ; the header's schema and context
//   localHeader = header local                    ; kind 7, what is written now (decodes as a
//                                                 ; header)
//   local    = flags:u8 [own:replica] [high:element] [bytes:uvarint] [low:element]
//                                                 ; local records (Header.own, .high, .bytes,
//                                                 ; .low): flags bit 0 own, bit 1 high, bit 2
//                                                 ; bytes, bit 3 low (since 2026-12-06: a build
//                                                 ; before reads such a header as malformed), no
//                                                 ; other bit; bytes a safe integer;
//                                                 ; replica = codec.ts (uvarint length + UTF-8)
//   row      = crdt                               ; exactly one row, under the context of its own
//                                                 ; dots: the element's row as stored
//   rows     = elementN:uvarint element* crdt     ; a read of named elements answered: elements
//                                                 ; strictly ascending, N >= 1; crdt = the rows the
//                                                 ; sender holds of them under its whole context
//                                                 ; (DecomposedCollection.joinRows; not a delta:
//                                                 ; the context may hold dots of other elements)
//   element  = uvarint length + bytes (codec.ts writeElement)
//   crdt     = uvarint length + an OR-Set or OR-Map encoding (codec.ts) of the collection's schema
// Untrusted bytes never reach an assert: every broken rule is a ProtocolError — crdt_malformed
// (this file's rules), crdt_unknown_type (another type or schema than the collection's),
// crdt_unknown_version, crdt_too_large, or those of ByteReader (truncated, trailing_bytes).

import { assert } from '../lib/assert.ts';
import { ByteReader, ByteWriter } from '../lib/bytes.ts';
import { limits } from '../lib/limits.ts';
import { ProtocolError } from '../lib/errors.ts';
import { type Schema, schemaEqual } from './causal.ts';
import {
  type ByteString,
  byteStringOf,
  type CrdtBounds,
  checkAscending,
  compareBytes,
  compareStrings,
  DEFAULT_CRDT_BOUNDS,
  readCount,
  readElement,
  readReplica,
  writeElement,
  writeReplica,
} from './codec.ts';
import { decodeCrdt } from './crdt.ts';
import {
  type CollectionCrdt,
  collectionOf,
  type DecomposedDelta,
  type Header,
  type Row,
  type RowPage,
  rowDots,
} from './decomposed.ts';
import { CausalContext } from './dots.ts';
import { ORMap } from './ormap.ts';
import { ORSet } from './orset.ts';

export const DECOMPOSED_FORMAT_VERSION = 1;

const KIND = { delta: 1, clear: 2, page: 3, header: 4, row: 5, rows: 6, localHeader: 7 } as const;
type Kind = keyof typeof KIND;

function malformed(message: string): never {
  throw new ProtocolError('crdt_malformed', message);
}

function start(kind: Kind): ByteWriter {
  return new ByteWriter().u8(DECOMPOSED_FORMAT_VERSION).u8(KIND[kind]);
}

function writeCrdt(w: ByteWriter, c: CollectionCrdt, bounds: CrdtBounds): void {
  w.bytesUvarint(c.encode(bounds));
}

export function encodeDelta(schema: Schema, d: DecomposedDelta, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
  assert(d.touched.length >= 1, 'a delta touches at least one element');
  const w = start('delta').uvarint(d.touched.length);
  for (const e of d.touched) writeElement(w, e);
  writeCrdt(w, collectionOf(schema, d.rows, d.context), bounds);
  return w.finish();
}

/** The answer to a read of `elements`: the rows held of them, under `context` (the sender's whole context). */
export function encodeRows(
  schema: Schema,
  elements: readonly ByteString[],
  rows: ReadonlyMap<ByteString, Row>,
  context: CausalContext,
  bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS,
): Uint8Array {
  assert(elements.length >= 1, 'a read names at least one element');
  const w = start('rows').uvarint(elements.length);
  for (const e of elements) writeElement(w, e);
  writeCrdt(w, collectionOf(schema, rows, context), bounds);
  return w.finish();
}

export function encodeClear(
  schema: Schema,
  context: CausalContext,
  bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS,
): Uint8Array {
  const w = start('clear');
  writeCrdt(w, collectionOf(schema, new Map(), context), bounds);
  return w.finish();
}

export function encodePage(schema: Schema, p: RowPage, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
  const w = start('page');
  writeElement(w, p.from);
  if (p.to === undefined) w.u8(0);
  else writeElement(w.u8(1), p.to);
  writeCrdt(w, collectionOf(schema, p.rows, p.context), bounds);
  return w.finish();
}

export function encodeHeader(h: Header, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
  const w = start('localHeader').uvarint(h.count).u64(h.digest);
  writeCrdt(w, collectionOf(h.schema, new Map(), h.context), bounds);
  w.u8(
    (h.own === undefined ? 0 : 1) |
      (h.high === undefined ? 0 : 2) |
      (h.bytes === undefined ? 0 : 4) |
      (h.low === undefined ? 0 : 8),
  );
  if (h.own !== undefined) writeReplica(w, h.own);
  if (h.high !== undefined) writeElement(w, h.high);
  if (h.bytes !== undefined) w.uvarint(h.bytes);
  if (h.low !== undefined) writeElement(w, h.low);
  return w.finish();
}

export function encodeRow(
  schema: Schema,
  element: ByteString,
  row: Row,
  bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS,
): Uint8Array {
  const w = start('row');
  writeCrdt(w, collectionOf(schema, new Map([[element, row]]), CausalContext.fromDots(rowDots(schema, row))), bounds);
  return w.finish();
}

/** What a message of any kind decodes to. */
export type DecodedMessage =
  | { readonly kind: 'delta'; readonly delta: DecomposedDelta }
  | { readonly kind: 'clear'; readonly context: CausalContext }
  | { readonly kind: 'page'; readonly page: RowPage }
  | { readonly kind: 'header'; readonly header: Header }
  | {
      readonly kind: 'rows';
      readonly elements: readonly ByteString[];
      readonly rows: ReadonlyMap<ByteString, Row>;
      readonly context: CausalContext;
    };

/**
 * Decodes a delta, clear, page or header of a collection of `schema` (a row: decodeRow). A
 * collection of another type or value schema is crdt_unknown_type.
 */
export function decodeDecomposed(
  bytes: Uint8Array,
  schema: Schema,
  bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS,
): DecodedMessage {
  const r = new ByteReader(bytes);
  const kind = readKind(r);
  switch (kind) {
    case 'delta':
    case 'rows': {
      const touched = readElements(r, bounds);
      const c = readCrdt(r, schema, bounds);
      const listed = new Set(touched);
      for (const e of c.store.keys()) if (!listed.has(e)) malformed(`a ${kind} row whose element it does not list`);
      r.expectEnd(`decomposed ${kind}`);
      const rows = c.store as ReadonlyMap<ByteString, Row>;
      return kind === 'delta'
        ? { kind, delta: { touched, rows, context: c.context } }
        : { kind, elements: touched, rows, context: c.context };
    }
    case 'clear': {
      const c = readCrdt(r, schema, bounds);
      if (c.store.size > 0) malformed('a clear that brings rows');
      r.expectEnd('decomposed clear');
      return { kind, context: c.context };
    }
    case 'page': {
      const from = readBoundary(r);
      const hasTo = r.u8();
      if (hasTo > 1) malformed(`page hasTo ${hasTo}`);
      const to = hasTo === 1 ? readBoundary(r) : undefined;
      if (to !== undefined && compareStrings(from, to) >= 0) malformed('a page whose range is empty');
      const c = readCrdt(r, schema, bounds);
      for (const e of c.store.keys()) {
        if (compareStrings(e, from) < 0 || (to !== undefined && compareStrings(e, to) >= 0)) {
          malformed('a page row outside its range');
        }
      }
      r.expectEnd('decomposed page');
      return { kind, page: { from, to, rows: c.store as ReadonlyMap<ByteString, Row>, context: c.context } };
    }
    case 'header':
    case 'localHeader': {
      const count = r.uvarint();
      const digest = r.u64();
      const c = readCrdt(r, schema, bounds);
      if (c.store.size > 0) malformed('a header that brings rows');
      let header: Header = { schema, context: c.context, count, digest };
      if (kind === 'localHeader') {
        const flags = r.u8();
        if (flags > 15) malformed(`header local flags ${flags}`);
        if ((flags & 1) !== 0) header = { ...header, own: readReplica(r) };
        if ((flags & 2) !== 0) header = { ...header, high: readBoundary(r) };
        if ((flags & 4) !== 0) header = { ...header, bytes: r.uvarint() };
        if ((flags & 8) !== 0) header = { ...header, low: readBoundary(r) };
      }
      r.expectEnd('decomposed header');
      return { kind: 'header', header };
    }
    case 'row':
      return malformed('a row where a delta, clear, page or header was expected');
  }
}

/** The schema a stored header names (to open a collection whose schema the caller does not know). */
export function headerSchema(bytes: Uint8Array, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Schema {
  const r = new ByteReader(bytes);
  if (!isHeader(readKind(r))) malformed('not a header');
  r.uvarint();
  r.u64();
  const c = decodeCrdt(r.bytesUvarint(), bounds);
  if (c instanceof ORSet) return ORSet.schema;
  if (c instanceof ORMap) return c.schema;
  throw new ProtocolError('crdt_unknown_type', 'a header of no collection type');
}

/** A stored header's count and digest, without decoding its context (what anti-entropy compares). */
export function headerSummary(bytes: Uint8Array): { count: number; digest: bigint } {
  const r = new ByteReader(bytes);
  if (!isHeader(readKind(r))) malformed('not a header');
  const count = r.uvarint();
  const digest = r.u64();
  return { count, digest };
}

/** Decodes a stored row of `element` in a collection of `schema`. */
export function decodeRow(
  bytes: Uint8Array,
  schema: Schema,
  element: ByteString,
  bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS,
): Row {
  const r = new ByteReader(bytes);
  if (readKind(r) !== 'row') malformed('not a row');
  const c = readCrdt(r, schema, bounds);
  r.expectEnd('decomposed row');
  const row = c.store.get(element);
  if (c.store.size !== 1 || row === undefined) malformed('a row holds exactly its own element');
  if (compareBytes(encodeRow(schema, element, row as Row, bounds), bytes) !== 0) {
    malformed('a row whose context is not exactly its own dots');
  }
  return row as Row;
}

/**
 * A row as this replica's store keeps it: decodeRow without the check of its one byte form (the
 * store holds only rows encodeRow wrote, under the engine's checksums; re-encoding every row read
 * was a sixth of a hot list's CPU). Bytes from anywhere else go through decodeRow.
 */
export function decodeStoredRow(
  bytes: Uint8Array,
  schema: Schema,
  element: ByteString,
  bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS,
): Row {
  const r = new ByteReader(bytes);
  if (readKind(r) !== 'row') malformed('not a row');
  const c = readCrdt(r, schema, bounds);
  r.expectEnd('decomposed row');
  const row = c.store.get(element);
  if (c.store.size !== 1 || row === undefined) malformed('a row holds exactly its own element');
  return row as Row;
}

/** A page's from or to: an element no longer than a row key may hold. */
function readBoundary(r: ByteReader): ByteString {
  const at = r.position;
  const n = r.uvarint();
  if (n > limits.lsmKeyBytesMax) malformed(`a page boundary of ${n} bytes at offset ${at}`);
  return byteStringOf(r.raw(n));
}

/** The elements a delta touches or a read named: N >= 1, at most the bounds' elementsCountMax, strictly ascending. */
function readElements(r: ByteReader, bounds: CrdtBounds): ByteString[] {
  const n = readCount(r, 1, 'element');
  if (n === 0) malformed('no element named');
  if (n > bounds.elementsCountMax) {
    throw new ProtocolError('crdt_too_large', `${n} elements named`, {
      limit: 'crdtElementsCountMax',
      value: n,
      max: bounds.elementsCountMax,
    });
  }
  const out: ByteString[] = [];
  for (let i = 0; i < n; i++) {
    const at = r.position;
    const e = readElement(r);
    checkAscending(out[i - 1], e, 'element', at);
    out.push(e);
  }
  return out;
}

/** Kind 4, a header as first written, or 7, one with its local records (the local section is then mandatory). */
function isHeader(kind: Kind): boolean {
  return kind === 'header' || kind === 'localHeader';
}

function readKind(r: ByteReader): Kind {
  const version = r.u8();
  if (version !== DECOMPOSED_FORMAT_VERSION) {
    throw new ProtocolError('crdt_unknown_version', `decomposed collection format ${version} (this build reads 1)`, {
      version,
    });
  }
  const tag = r.u8();
  const kind = (Object.keys(KIND) as Kind[]).find((k) => KIND[k] === tag);
  return kind ?? malformed(`decomposed collection kind ${tag}`);
}

function readCrdt(r: ByteReader, schema: Schema, bounds: CrdtBounds): CollectionCrdt {
  const c = decodeCrdt(r.bytesUvarint(), bounds);
  const ok =
    (schema.type === 'orset' && c instanceof ORSet) ||
    (schema.type === 'ormap' && c instanceof ORMap && schemaEqual(c.valueSchema, schema.value));
  if (!ok) throw new ProtocolError('crdt_unknown_type', 'a decomposed collection of another type or schema');
  return c as CollectionCrdt;
}

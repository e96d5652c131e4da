// A decomposed collection (src/crdt/decomposed.ts) kept in the replica's store (store.ts): its
// rows as the store's rows of the key (bytes of src/crdt/decomposed-codec.ts), its header as the
// key's header record. Crash safety, given that the engine recovers a PREFIX of the writes since
// the last sync (in write order), not whole steps:
//   change  = mark(key, schema)  row writes  header  unmark(key)
// Rows go before the header: a header written first could hold a received dot whose row a crash
// lost, which reads as "removed", and a later full join would remove the element from the peers
// too. With rows first, what a crash can leave is rows the header does not account for (dots
// outside the context, a stale count and digest), always under a mark, because the mark precedes
// them. repairMarked (at open) rebuilds each marked collection's header from its rows: every row's
// dots join the context, count and digest are recounted. The result is the collection before the
// change joined with some of the change's rows, each of which is itself a delta of the change
// (rule R1, row by row), so it lies between the last synced state and the state the change would
// have made; the rest of a peer's delta comes again (nothing was acknowledged before the sync), and
// a coordinator's own change was never shipped, so no dot is reused once its row is kept.
// Repair costs one scan of each marked collection's rows: only those changed since the last sync.

import { assert } from '../lib/assert.ts';
import { ProtocolError } from '../lib/errors.ts';
import type { Schema } from '../crdt/causal.ts';
import { type ByteString, byteStringOf, bytesOfByteString, compareStrings } from '../crdt/codec.ts';
import { decodeCrdt, ORMap, ORSet } from '../crdt/crdt.ts';
import {
  collectionOf,
  DecomposedCollection,
  type ElementRows,
  type Header,
  type Row,
  type RowPage,
} from '../crdt/decomposed.ts';
import { decodeDecomposed, decodeRow, encodeHeader, encodeRow, headerSchema } from '../crdt/decomposed-codec.ts';
import { CausalContext } from '../crdt/dots.ts';
import type { ReplicaStore } from './store.ts';

const SCAN_ROWS = 256;

/**
 * The rows of one key in the store, decoded and encoded on the way. It keeps a floor in memory: no
 * row lies below it, so a scan from the start begins there, not at the engine's delete tombstones
 * of rows removed from the front (a list popped from its head, a queue: the engine keeps those
 * tombstones until compaction, and every scan from the start would walk them all). The floor
 * rises to the first row a scan from it finds, just past a row deleted at it, and falls to any row
 * written below it.
 */
export class StoredRows implements ElementRows {
  private floor: ByteString = '';

  constructor(
    private readonly store: ReplicaStore,
    private readonly key: Uint8Array,
    private readonly schema: Schema,
  ) {}

  get(element: ByteString): Row | undefined {
    if (compareStrings(element, this.floor) < 0) return undefined;
    const bytes = this.store.getRow(this.key, bytesOfByteString(element));
    return bytes === undefined ? undefined : decodeRow(bytes, this.schema, element);
  }

  /** Row writes (puts and deletes) made through this object: change() tells whether a failed one wrote any. */
  writes = 0;

  put(element: ByteString, row: Row): void {
    this.writes++;
    this.store.putRow(this.key, bytesOfByteString(element), encodeRow(this.schema, element, row));
    if (compareStrings(element, this.floor) < 0) this.floor = element;
  }

  delete(element: ByteString): void {
    this.writes++;
    this.store.deleteRow(this.key, bytesOfByteString(element));
    if (element === this.floor) this.floor = `${element}\u0000`;
  }

  *range(from: ByteString, to: ByteString | undefined): Iterable<readonly [ByteString, Row]> {
    for (const { element, bytes } of this.stored(from)) {
      if (to !== undefined && compareStrings(element, to) >= 0) return;
      yield [element, decodeRow(bytes, this.schema, element)];
    }
  }

  /** The stored rows from `from` on, in element order, as their bytes. */
  *stored(from: ByteString): Iterable<{ readonly element: ByteString; readonly bytes: Uint8Array }> {
    const fromFloor = compareStrings(from, this.floor) <= 0;
    let at: Uint8Array | null = bytesOfByteString(fromFloor ? this.floor : from);
    let first = fromFloor;
    while (at !== null) {
      const page = this.store.scanRows(this.key, at, SCAN_ROWS);
      for (const r of page.entries) {
        const element = byteStringOf(r.element);
        if (first) {
          // Nothing lies below the floor, and nothing between it and this first row found.
          this.floor = element;
          first = false;
        }
        yield { element, bytes: r.row };
      }
      at = page.next;
    }
  }
}

/** The note a mark carries: the schema, as an empty collection's bytes (the CRDT codec's). */
function schemaNote(schema: Schema): Uint8Array {
  return collectionOf(schema, new Map(), CausalContext.empty).encode();
}

function schemaOfNote(note: Uint8Array): Schema {
  const c = decodeCrdt(note);
  if (c instanceof ORSet) return ORSet.schema;
  if (c instanceof ORMap) return c.schema;
  throw new ProtocolError('crdt_unknown_type', 'a collection mark whose note is not an OR-Set or an OR-Map');
}

/**
 * A collection of the store, open: change() is the only way to write it (see the header). One
 * handle per key at a time (it holds the header in memory; the replica keeps them), opened after
 * repairMarked has run.
 */
export class StoredCollection {
  private current: DecomposedCollection;
  /** Why a change's repair failed after the change did: the mark stays for the next open, and this handle is done. */
  private broken: unknown;

  private constructor(
    private readonly store: ReplicaStore,
    private readonly key: Uint8Array,
    dc: DecomposedCollection,
  ) {
    this.current = dc;
  }

  get dc(): DecomposedCollection {
    return this.current;
  }

  /** Opens `key`'s collection of `schema` (empty when it has no header). A stored header of another schema is crdt_unknown_type. */
  static open(store: ReplicaStore, key: Uint8Array, schema: Schema): StoredCollection {
    const header = readHeader(store, key, schema);
    const rows = new StoredRows(store, key, schema);
    return new StoredCollection(
      store,
      key,
      header === undefined ? DecomposedCollection.empty(schema, rows) : new DecomposedCollection(header, rows),
    );
  }

  /**
   * A page of the rows from `from`: rows until their stored bytes reach `bytesMax` (at least one)
   * or `countMax` rows, under the header's context; `to` is the first row left out (undefined: the
   * end). What a row read of every row, anti-entropy and a ring move send.
   */
  page(from: ByteString, bytesMax: number, countMax: number): RowPage {
    const { schema } = this.current.header;
    const rows = new Map<ByteString, Row>();
    let bytes = 0;
    let to: ByteString | undefined;
    for (const r of (this.current.rows as StoredRows).stored(from)) {
      if (rows.size > 0 && (bytes >= bytesMax || rows.size >= countMax)) {
        to = r.element;
        break;
      }
      rows.set(r.element, decodeRow(r.bytes, schema, r.element));
      bytes += r.element.length + r.bytes.length;
    }
    return { from, to, rows, context: this.current.context };
  }

  /**
   * Runs `f` on the collection: mark, f's row writes, the header, unmark. If `f` or the header's
   * write throws (a row key or header over the engine's bounds), some rows may be written already: the header is rebuilt from the rows as recovery would
   * (repairOne), the handle reloads it, and the error goes on. The rows written stay: each is a
   * delta of its own (R1), so the collection is its state before the change joined with part of
   * it, and a peer's change comes again (it was not acknowledged).
   */
  change<T>(f: (dc: DecomposedCollection) => T): T {
    assert(
      this.broken === undefined,
      `a collection handle whose change and repair both failed: ${String(this.broken)}`,
    );
    const { schema } = this.current.header;
    this.store.markCollection(this.key, schemaNote(schema));
    const rows = this.current.rows as StoredRows;
    const writesBefore = rows.writes;
    let out: T;
    try {
      out = f(this.current);
      this.store.putHeader(this.key, encodeHeader(this.current.header));
    } catch (error) {
      if (rows.writes === writesBefore) {
        // Refused before any row was written (a page out of order, a bound: the collection's own
        // checks come first), so the header in memory is unchanged too: nothing to repair, and the
        // handle and its joins in progress stay. (A repair rebuilds the header from every row and
        // ends every join: on a hot key under concurrent reads, it was most of the CPU.)
        this.store.unmarkCollection(this.key);
        throw error;
      }
      try {
        this.current = new DecomposedCollection(
          repairOne(this.store, this.key, schema),
          new StoredRows(this.store, this.key, schema),
        );
      } catch (repairError) {
        // The change's own error goes on to the caller; the repair's is kept for the next use of
        // this handle to name. The mark stays: the next open's repairMarked rebuilds the header.
        this.broken = repairError;
      }
      throw error;
    }
    this.store.unmarkCollection(this.key);
    return out;
  }
}

function readHeader(store: ReplicaStore, key: Uint8Array, schema: Schema): Header | undefined {
  const bytes = store.getHeader(key);
  if (bytes === undefined) return undefined;
  const m = decodeDecomposed(bytes, schema);
  if (m.kind !== 'header') throw new ProtocolError('crdt_malformed', 'a stored collection header that is not a header');
  return m.header;
}

/**
 * Rebuilds one collection's header from its rows (every row's dots into the context, count and
 * digest recounted; the replica id it writes under and its high-water element kept), writes it and clears the mark. A crash
 * before the first header write loses that id: the next change names a new one, and the rows'
 * dots under the lost one stay in the context (they were never shipped). Idempotent: a crash half way leaves the mark.
 */
function repairOne(store: ReplicaStore, key: Uint8Array, schema: Schema): Header {
  const before = readHeader(store, key, schema);
  const { header } = DecomposedCollection.fromRows(
    schema,
    before?.context ?? CausalContext.empty,
    new StoredRows(store, key, schema),
    before?.own,
    before?.high,
  );
  store.putHeader(key, encodeHeader(header));
  store.unmarkCollection(key);
  return header;
}

/**
 * Rebuilds the header of every marked collection from its rows (a crash between a change's rows
 * and its header; see the file header) and clears the marks. Run it when the store opens, before
 * any handle. Returns the keys repaired.
 */
export function repairMarked(store: ReplicaStore): Uint8Array[] {
  const repaired: Uint8Array[] = [];
  for (const { key, note } of store.markedCollections()) {
    repairOne(store, key, schemaOfNote(note));
    repaired.push(key);
  }
  return repaired;
}

/** The schema of `key`'s stored collection, if it has one. */
export function storedSchema(store: ReplicaStore, key: Uint8Array): Schema | undefined {
  const bytes = store.getHeader(key);
  return bytes === undefined ? undefined : headerSchema(bytes);
}

/**
 * Deletes `key`'s collection, every row and the header (its state no longer holds a marker: a DEL,
 * a SET of a string or garbage collection superseded it). Under a mark, so a crash half way leaves
 * a header rebuilt from the rows left, which the next write or merge on the key drops again.
 * Returns the rows deleted.
 */
export function dropCollection(store: ReplicaStore, key: Uint8Array): number {
  const schema = storedSchema(store, key);
  if (schema === undefined) return 0;
  store.markCollection(key, schemaNote(schema));
  let dropped = 0;
  for (;;) {
    const page = store.scanRows(key, new Uint8Array(0), SCAN_ROWS);
    for (const r of page.entries) store.deleteRow(key, r.element);
    dropped += page.entries.length;
    if (page.entries.length === 0 || page.next === null) break;
  }
  store.deleteHeader(key);
  store.unmarkCollection(key);
  return dropped;
}

// A decomposed collection (src/crdt/decomposed.ts) kept in the replica's store (store.ts): its
// rows as the store's rows of the key (bytes of src/crdt/decomposed-codec.ts), its header as the
// key's header record. Crash safety, given that the engine recovers a PREFIX of the writes since
// the last sync (in write order), not whole steps:
//   change  = mark(key, schema)  row writes  header  unmark(key)
// (the mark only before a change's first row write; a change that writes no row writes no mark,
// and one that changed nothing, no header either)
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
import { decodeDecomposed, decodeStoredRow, encodeHeader, encodeRow, headerSchema } from '../crdt/decomposed-codec.ts';
import { CausalContext } from '../crdt/dots.ts';
import { type ReplicaStore, STORED_VALUE_OVERHEAD_BYTES } from './store.ts';

/**
 * Rows one store scan reads: the first page of a walk SCAN_ROWS_FIRST, each next one twice the
 * last, up to SCAN_ROWS. Most walks stop after a few rows (a join of a peer's 16-row page, a
 * list's head): a first page of 256 had the engine merge and copy 256 rows for them, 3 times per
 * LPUSH at N = 3 (a cpuprofile put a third of the coordinator's CPU there, session 31).
 */
const SCAN_ROWS_FIRST = 16;
const SCAN_ROWS = 256;

/**
 * What one row takes as maxmemory prices it (src/redis/memory.ts entryBytes: key, stored bytes and
 * STORED_VALUE_OVERHEAD_BYTES, the engine's prefix left out as for values): the collection's key, the
 * element and the row's bytes.
 */
export function rowEntryBytes(key: Uint8Array, element: ByteString, row: Uint8Array): number {
  return key.length + element.length + row.length + STORED_VALUE_OVERHEAD_BYTES;
}

/** What a header takes as maxmemory prices it (its key and bytes, as a row). */
function headerEntryBytes(key: Uint8Array, header: Uint8Array): number {
  return key.length + header.length + STORED_VALUE_OVERHEAD_BYTES;
}

/**
 * The rows of one key in the store, decoded and encoded on the way. It keeps a floor in memory: no
 * row lies below it, so a scan from the start begins there, not at the engine's delete tombstones
 * of rows removed from the front (a list popped from its head, a queue: the engine keeps those
 * tombstones until compaction, and every scan from the start would walk them all). The floor
 * rises to the first row a scan from it finds, just past a row deleted at it, and falls to any row
 * written below it. A ceiling mirrors it for scans from the end (a list popped from its tail:
 * RPOP): no row lies at or above it once a scan from the end has found one (just past that row),
 * it falls to a row deleted just below it, and rises past any row written at or above it.
 */
export class StoredRows implements ElementRows {
  private floor: ByteString = '';
  /** Exclusive: no row lies at or above it; undefined until a scan from the end sets it. */
  private ceiling: ByteString | undefined;
  /** The rows' bytes as maxmemory prices them (rowEntryBytes, summed), kept through put and delete. */
  bytes = 0;
  /** The last row get() read (or found absent): a put or delete of it right after needs no read for its old size. */
  private lastGot: { element: ByteString; bytes: number } | undefined;

  constructor(
    private readonly store: ReplicaStore,
    private readonly key: Uint8Array,
    private readonly schema: Schema,
  ) {}

  get(element: ByteString): Row | undefined {
    if (compareStrings(element, this.floor) < 0) return undefined;
    const bytes = this.store.getRow(this.key, bytesOfByteString(element));
    this.lastGot = { element, bytes: bytes === undefined ? 0 : rowEntryBytes(this.key, element, bytes) };
    return bytes === undefined ? undefined : decodeStoredRow(bytes, this.schema, element);
  }

  /** Row writes (puts and deletes) made through this object: change() tells whether a failed one wrote any. */
  writes = 0;
  /**
   * The mark a change writes before its first row write (StoredCollection.change sets it): a
   * change that writes no row (a read's join of rows equal to these) writes no mark.
   */
  markBeforeWrite: Uint8Array | undefined;

  private beforeWrite(): void {
    if (this.markBeforeWrite === undefined) return;
    this.store.markCollection(this.key, this.markBeforeWrite);
    this.markBeforeWrite = undefined;
  }

  put(element: ByteString, row: Row): number {
    const encoded = encodeRow(this.schema, element, row);
    const old = this.heldBytes(element);
    this.beforeWrite();
    this.writes++;
    this.store.putRow(this.key, bytesOfByteString(element), encoded);
    this.bytes += rowEntryBytes(this.key, element, encoded) - old;
    this.lastGot = undefined;
    if (compareStrings(element, this.floor) < 0) this.floor = element;
    if (this.ceiling !== undefined && compareStrings(element, this.ceiling) >= 0) this.ceiling = `${element}\u0000`;
    return old;
  }

  delete(element: ByteString): number {
    const old = this.heldBytes(element);
    this.beforeWrite();
    this.writes++;
    this.store.deleteRow(this.key, bytesOfByteString(element));
    this.bytes -= old;
    this.lastGot = undefined;
    if (element === this.floor) this.floor = `${element}\u0000`;
    if (this.ceiling === `${element}\u0000`) this.ceiling = element;
    return old;
  }

  /** The priced bytes of `element`'s row as stored now (0: none). */
  private heldBytes(element: ByteString): number {
    if (this.lastGot?.element === element) return this.lastGot.bytes;
    if (compareStrings(element, this.floor) < 0) return 0;
    const held = this.store.getRow(this.key, bytesOfByteString(element));
    return held === undefined ? 0 : rowEntryBytes(this.key, element, held);
  }

  /** Every row's priced bytes, read from the store (a header that does not record them). */
  recount(): number {
    let bytes = 0;
    for (const r of this.stored('')) bytes += rowEntryBytes(this.key, r.element, r.bytes);
    this.bytes = bytes;
    return bytes;
  }

  *range(from: ByteString, to: ByteString | undefined): Iterable<readonly [ByteString, Row]> {
    for (const { element, bytes } of this.stored(from)) {
      if (to !== undefined && compareStrings(element, to) >= 0) return;
      yield [element, decodeStoredRow(bytes, this.schema, element)];
    }
  }

  /** The stored rows from `from` on, in element order, as their bytes. */
  *stored(from: ByteString): Iterable<{ readonly element: ByteString; readonly bytes: Uint8Array }> {
    const fromFloor = compareStrings(from, this.floor) <= 0;
    let at: Uint8Array | null = bytesOfByteString(fromFloor ? this.floor : from);
    let first = fromFloor;
    let count = SCAN_ROWS_FIRST;
    while (at !== null) {
      const page = this.store.scanRows(this.key, at, count);
      count = Math.min(count * 2, SCAN_ROWS);
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

  /** The stored rows below `before` (undefined: every row), last first, as their bytes. */
  *storedBack(before: ByteString | undefined): Iterable<{ readonly element: ByteString; readonly bytes: Uint8Array }> {
    const ceiling = this.ceiling;
    const underCeiling = ceiling !== undefined && (before === undefined || compareStrings(ceiling, before) < 0);
    const top = underCeiling ? ceiling : before;
    // A scan from the end (the ceiling included) sets the ceiling just past the first row it finds.
    let first = before === undefined || underCeiling;
    let at: Uint8Array | null = top === undefined ? null : bytesOfByteString(top);
    let count = SCAN_ROWS_FIRST;
    for (;;) {
      const page = this.store.scanRowsBack(this.key, at, count);
      count = Math.min(count * 2, SCAN_ROWS);
      for (const r of page.entries) {
        const element = byteStringOf(r.element);
        if (first) {
          this.ceiling = `${element}\u0000`;
          first = false;
        }
        yield { element, bytes: r.row };
      }
      if (page.next === null) break;
      at = page.next;
    }
    if (first) this.ceiling = ''; // no row at all
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
  /** What the stored header takes as maxmemory prices it (0: none stored). */
  private headerBytes: number;
  /**
   * Told each change's difference in what the collection takes, rows and header, as maxmemory
   * prices them (the replica's onStored: src/services/store/replicated-memory.ts).
   */
  onBytes: ((delta: number) => void) | undefined;

  private constructor(
    private readonly store: ReplicaStore,
    private readonly key: Uint8Array,
    dc: DecomposedCollection,
    headerBytes: number,
  ) {
    this.current = dc;
    this.headerBytes = headerBytes;
  }

  get dc(): DecomposedCollection {
    return this.current;
  }

  /** What the collection takes, rows and header, as maxmemory prices them. */
  get bytes(): number {
    return (this.current.rows as StoredRows).bytes + this.headerBytes;
  }

  /** Opens `key`'s collection of `schema` (empty when it has no header). A stored header of another schema is crdt_unknown_type. */
  static open(store: ReplicaStore, key: Uint8Array, schema: Schema): StoredCollection {
    const stored = store.getHeader(key);
    let header = stored === undefined ? undefined : readHeader(stored, schema);
    const rows = new StoredRows(store, key, schema);
    if (header !== undefined) rows.bytes = header.bytes ?? 0;
    if (header !== undefined && header.bytes === undefined) {
      // A header written before it recorded its rows' bytes (and maybe its high-water element,
      // kind 4): both from one walk of the rows (without `high` a list's tail read found no tail,
      // and its first write took whatever row it touched as the highest).
      let bytes = 0;
      let first: ByteString | undefined;
      let last: ByteString | undefined;
      for (const r of rows.stored('')) {
        bytes += rowEntryBytes(key, r.element, r.bytes);
        first ??= r.element;
        last = r.element;
      }
      rows.bytes = bytes;
      if (header.high === undefined && last !== undefined) header = { ...header, high: last };
      if (header.low === undefined && first !== undefined) header = { ...header, low: first };
    } else if (header !== undefined && header.count > 0) {
      // Only the high-water element missing: the last row, read from the end (one page of the
      // engine's reverse scan; a header a later write rewrites records it). The low-water element
      // (Header.low, recorded since 2026-12-06): the first row, one page of a forward scan.
      if (header.high === undefined) {
        for (const r of rows.storedBack(undefined)) {
          header = { ...header, high: r.element };
          break;
        }
      }
      if (header.low === undefined) {
        for (const r of rows.stored('')) {
          header = { ...header, low: r.element };
          break;
        }
      }
    }
    return new StoredCollection(
      store,
      key,
      header === undefined ? DecomposedCollection.empty(schema, rows) : new DecomposedCollection(header, rows),
      stored === undefined ? 0 : headerEntryBytes(key, stored),
    );
  }

  /**
   * A new collection of `schema` over a dropped one (a type change): empty, its context the dropped
   * one's, written at once. Forgetting that context let a replica that missed the old type's
   * removals keep their rows and spread them back (a member an acknowledged SREM removed came back
   * after SREM, HSET, HDEL, SADD on the key). A crash between the drop and this write loses the
   * context (both are writes of one step, each under its own mark).
   */
  static openOver(store: ReplicaStore, key: Uint8Array, schema: Schema, context: CausalContext): StoredCollection {
    const header: Header = { schema, context, count: 0, digest: 0n };
    const encoded = encodeHeader({ ...header, bytes: 0 });
    store.putHeader(key, encoded);
    return new StoredCollection(
      store,
      key,
      new DecomposedCollection(header, new StoredRows(store, key, schema)),
      headerEntryBytes(key, encoded),
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
      rows.set(r.element, decodeStoredRow(r.bytes, schema, r.element));
      bytes += r.element.length + r.bytes.length;
    }
    return { from, to, rows, context: this.current.context };
  }

  /**
   * The rows of `elements` (an element without a row: none), or undefined when their stored bytes
   * pass `bytesMax` (what a tail read's recent rows may bring: a page's bound).
   */
  namedRows(elements: readonly ByteString[], bytesMax: number): Map<ByteString, Row> | undefined {
    const { schema } = this.current.header;
    const rows = new Map<ByteString, Row>();
    let bytes = 0;
    for (const e of elements) {
      const stored = this.store.getRow(this.key, bytesOfByteString(e));
      if (stored === undefined) continue;
      bytes += e.length + stored.length;
      if (bytes > bytesMax) return undefined;
      rows.set(e, decodeStoredRow(stored, schema, e));
    }
    return rows;
  }

  /**
   * A page of the last rows below `before` (undefined: the end), the mirror of page(): rows until
   * their stored bytes reach `bytesMax` (at least one) or `countMax` rows, under the header's
   * context. Its range is [from, before): `from` is the first row in it, or '' when no row lies
   * below the rows it holds. What a read of a list's tail sends (RPOP).
   */
  pageBack(before: ByteString | undefined, bytesMax: number, countMax: number): RowPage {
    const { schema } = this.current.header;
    const back: Array<readonly [ByteString, Row]> = [];
    let bytes = 0;
    let from: ByteString = '';
    for (const r of (this.current.rows as StoredRows).storedBack(before)) {
      if (back.length > 0 && (bytes >= bytesMax || back.length >= countMax)) {
        from = back[back.length - 1]![0];
        break;
      }
      back.push([r.element, decodeStoredRow(r.bytes, schema, r.element)]);
      bytes += r.element.length + r.bytes.length;
    }
    return { from, to: before, rows: new Map(back.reverse()), context: this.current.context };
  }

  /**
   * Runs `f` on the collection: mark, f's row writes, the header, unmark. If `f` or the header's
   * write throws (a row key or header over the engine's bounds), some rows may be written already: the header is rebuilt from the rows as recovery would
   * (repairOne), the handle reloads it, and the error goes on. The rows written stay: each is a
   * delta of its own (R1), so the collection is its state before the change joined with part of
   * it, and a peer's change comes again (it was not acknowledged). onBytes is told the difference
   * either way.
   */
  change<T>(f: (dc: DecomposedCollection) => T): T {
    assert(
      this.broken === undefined,
      `a collection handle whose change and repair both failed: ${String(this.broken)}`,
    );
    const { schema } = this.current.header;
    const rows = this.current.rows as StoredRows;
    // The mark goes before the first row write (StoredRows.beforeWrite), so a change that writes
    // no row writes none; one whose header is unchanged too (the same object: a join that brought
    // nothing new) writes nothing at all.
    rows.markBeforeWrite = schemaNote(schema);
    const writesBefore = rows.writes;
    const headerBefore = this.current.header;
    const bytesBefore = this.bytes;
    let out: T;
    try {
      out = f(this.current);
      if (rows.writes !== writesBefore || this.current.header !== headerBefore) {
        const header = encodeHeader({ ...this.current.header, bytes: rows.bytes });
        this.store.putHeader(this.key, header);
        this.headerBytes = headerEntryBytes(this.key, header);
      }
    } catch (error) {
      rows.markBeforeWrite = undefined;
      if (rows.writes === writesBefore) {
        // Refused before any row was written (a page out of order, a bound: the collection's own
        // checks come first), so no mark was written and the header in memory is unchanged too:
        // nothing to repair, and the handle and its joins in progress stay. (A repair rebuilds the
        // header from every row and ends every join: on a hot key under concurrent reads, it was
        // most of the CPU.)
        throw error;
      }
      try {
        const repaired = repairOne(this.store, this.key, schema);
        const fresh = new StoredRows(this.store, this.key, schema);
        fresh.bytes = repaired.header.bytes ?? 0;
        this.current = new DecomposedCollection(repaired.header, fresh);
        this.headerBytes = repaired.headerBytes;
        this.onBytes?.(this.bytes - bytesBefore);
      } catch (repairError) {
        // The change's own error goes on to the caller; the repair's is kept for the next use of
        // this handle to name. The mark stays: the next open's repairMarked rebuilds the header.
        this.broken = repairError;
      }
      throw error;
    }
    rows.markBeforeWrite = undefined;
    if (rows.writes !== writesBefore) this.store.unmarkCollection(this.key); // a row written: marked before it
    if (this.bytes !== bytesBefore) this.onBytes?.(this.bytes - bytesBefore);
    return out;
  }
}

function readHeader(bytes: Uint8Array, schema: Schema): Header {
  const m = decodeDecomposed(bytes, schema);
  if (m.kind !== 'header') throw new ProtocolError('crdt_malformed', 'a stored collection header that is not a header');
  return m.header;
}

/**
 * Rebuilds one collection's header from its rows (every row's dots into the context, count,
 * digest and bytes recounted; the replica id it writes under and its high- and low-water elements kept), writes it and clears the mark. A crash
 * before the first header write loses that id: the next change names a new one, and the rows'
 * dots under the lost one stay in the context (they were never shipped). Idempotent: a crash half way leaves the mark.
 */
function repairOne(store: ReplicaStore, key: Uint8Array, schema: Schema): { header: Header; headerBytes: number } {
  const stored = store.getHeader(key);
  const before = stored === undefined ? undefined : readHeader(stored, schema);
  const rows = new StoredRows(store, key, schema);
  const { header } = DecomposedCollection.fromRows(
    schema,
    before?.context ?? CausalContext.empty,
    rows,
    before?.own,
    before?.high,
    before?.low,
  );
  const repaired = { ...header, bytes: rows.recount() };
  const bytes = encodeHeader(repaired);
  store.putHeader(key, bytes);
  store.unmarkCollection(key);
  return { header: repaired, headerBytes: headerEntryBytes(key, bytes) };
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

/** The count of rows `key`'s stored collection records in its header (undefined: no collection). */
export function storedCollectionCount(store: ReplicaStore, key: Uint8Array): number | undefined {
  const stored = store.getHeader(key);
  return stored === undefined ? undefined : readHeader(stored, headerSchema(stored)).count;
}

/**
 * What `key`'s stored collection takes, rows and header, as maxmemory prices them (0: none), from
 * its header alone when it records its rows' bytes (else from every row).
 */
export function storedCollectionBytes(store: ReplicaStore, key: Uint8Array): number {
  const stored = store.getHeader(key);
  if (stored === undefined) return 0;
  const header = readHeader(stored, headerSchema(stored));
  const rows = header.bytes ?? new StoredRows(store, key, header.schema).recount();
  return rows + headerEntryBytes(key, stored);
}

/**
 * Deletes `key`'s collection, every row and the header (its state no longer holds a marker: a DEL,
 * a SET of a string or garbage collection superseded it). Under a mark, so a crash half way leaves
 * a header rebuilt from the rows left, which the next write or merge on the key drops again.
 * Returns the rows deleted and what they and the header took as maxmemory prices them.
 */
export function dropCollection(store: ReplicaStore, key: Uint8Array): { rows: number; bytes: number } {
  const schema = storedSchema(store, key);
  if (schema === undefined) return { rows: 0, bytes: 0 };
  const bytes = storedCollectionBytes(store, key);
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
  return { rows: dropped, bytes };
}

// The rows layout of the replica (replica.ts, config `collections: 'rows'`): a set's or hash's
// elements kept decomposed (src/crdt/decomposed.ts) in the replica store's rows of the key
// (collection-store.ts), while the key's version state (versions.ts) holds a collection marker
// sibling (src/crdt/marker.ts) per write, as a whole-value write leaves its value. Helpers the
// replica's coordinator and receiver call; docs/ARCHITECTURE.md "Collections at N > 1" says why.
//
// Rules:
//   - A key's collection lives while its state holds a marker sibling with a value (of any
//     write's, expired or not). When a merge or write leaves none (DEL's tombstone or a SET of a
//     string superseded every marker), its rows are cleared (`settle`; the header and its context
//     stay until garbage collection drops the key). A delta whose marker arrives already
//     superseded is acknowledged and not applied.
//   - A collection write at a coordinator whose state shows no live marker (absent, a tombstone,
//     or every marker past its deadline at the write's time) first clears the rows it holds
//     (context-only: their dots stay known) and ships that clear with the change, so an expired
//     collection written again starts empty at every replica.
//   - The coordinator's change runs the OR-Set / OR-Map mutators on one-element views, one delta
//     per element changed, all in one StoredCollection.change (one mark, one header).

import { type Schema, schemaEqual } from '../crdt/causal.ts';
import { type ByteString, byteStringOf, compareStrings, crdtTypeOf, type Update } from '../crdt/codec.ts';
import { decodeCrdt, ORMap, ORSet } from '../crdt/crdt.ts';
import {
  type CollectionCrdt,
  collectionOf,
  type DecomposedCollection,
  type Header,
  type DecomposedDelta,
  type Row,
  rowBytes,
} from '../crdt/decomposed.ts';
import { CausalContext } from '../crdt/dots.ts';
import { type Mutations, noMutations } from '../lib/mutations.ts';
import { CollectionMarker } from '../crdt/marker.ts';
import { MVRegister } from '../crdt/registers.ts';
import type { HlcTimestamp } from '../lib/clocks/hlc.ts';
import { BaristaError, LimitError } from '../lib/errors.ts';
import { dropCollection, StoredCollection, storedCollectionBytes, storedSchema } from './collection-store.ts';
import type { CollectionView, RowSelection, RowsAnswer } from './messages.ts';
import { keyString, type ReplicaStore } from './store.ts';
import { limits } from '../lib/limits.ts';
import { utf8ByteLength } from '../lib/bytes.ts';
import { murmur3X64_128Into } from './partitioner.ts';
import { carryZsetEntries, type TypedOp, WRONGTYPE, writeScore, ZSET_SCHEMA } from './typed.ts';
import type { Versioned } from './versions.ts';

export const SET_SCHEMA: Schema = ORSet.schema;
export const HASH_SCHEMA: Schema = Object.freeze({ type: 'ormap', value: MVRegister.schema });
/** A list: element key (list-positions.ts, in list order) -> OR-Set of the element's value (typed.ts). */
export const LIST_ROWS_SCHEMA: Schema = Object.freeze({ type: 'ormap', value: ORSet.schema });
/** A sorted set: member -> its nested map holding the score's MV-Register (typed.ts ZSET_SCHEMA, writeScore). */
export const ZSET_ROWS_SCHEMA: Schema = Object.freeze({ type: 'ormap', value: ZSET_SCHEMA });

/**
 * The longest set member or hash field the rows layout keeps: a row's engine key is 'r', the key's
 * 8-byte token, the key escaped (each byte at most twice) and a 2-byte terminator, then the element,
 * within lsmKeyBytesMax (the N = 1 keyspace keeps an element under the same kind of key).
 */
export const ROW_ELEMENT_BYTES_MAX = limits.lsmKeyBytesMax - 11 - 2 * limits.kvKeyBytesMax;

/** A member or field of `op` over ROW_ELEMENT_BYTES_MAX, as the error the write answers; undefined: none. */
export function elementTooLarge(op: RowsOp): BaristaError | undefined {
  const step = op.type === 'hset' || op.type === 'list' || op.type === 'zset' ? 2 : 1;
  const what =
    op.type === 'zset'
      ? 'sorted set member'
      : op.type[0] === 's'
        ? 'set member'
        : op.type === 'list'
          ? 'list position'
          : 'hash field';
  for (let i = 0; i < op.members.length; i += step) {
    const n = op.members[i]!.length;
    if (n > ROW_ELEMENT_BYTES_MAX)
      return new BaristaError(
        'value_too_large',
        `a ${what} of ${n} bytes, max ${ROW_ELEMENT_BYTES_MAX} (lsmKeyBytesMax)`,
      );
  }
  return undefined;
}

export type RowsOp = Extract<TypedOp, { type: 'sadd' | 'srem' | 'hset' | 'hdel' | 'list' | 'zset' }>;

/** Whether the rows layout keeps `op`'s collection (sets, hashes, lists and sorted sets). */
export function isRowsOp(op: TypedOp | undefined): op is RowsOp {
  return (
    op !== undefined &&
    (op.type === 'sadd' ||
      op.type === 'srem' ||
      op.type === 'hset' ||
      op.type === 'hdel' ||
      op.type === 'list' ||
      op.type === 'zset')
  );
}

export function schemaOfOp(op: RowsOp): Schema {
  if (op.type === 'list') return LIST_ROWS_SCHEMA;
  if (op.type === 'zset') return ZSET_ROWS_SCHEMA;
  return op.type === 'sadd' || op.type === 'srem' ? SET_SCHEMA : HASH_SCHEMA;
}

/** The marker a sibling holds, if it holds one (its tag read first: another CRDT is not decoded). */
export function markerOf(value: Uint8Array | null, crdt: boolean | undefined): CollectionMarker | undefined {
  if (value === null || crdt !== true || crdtTypeOf(value) !== 'marker') return undefined;
  const c = decodeCrdt(value);
  return c instanceof CollectionMarker ? c : undefined;
}

/** Whether any sibling of `state` is a collection marker with a value. */
export function holdsMarker(state: Versioned): boolean {
  return state.siblings.some((s) => markerOf(s.value, s.crdt) !== undefined);
}

/**
 * The collections of one replica's store, through one open handle per key (a handle holds its
 * header and its joins in progress in memory, so every change of a key goes through the same one:
 * collection-store.ts). At most dynamoOpenCollectionsCountMax handles: past it the least recently
 * used one without a join in progress closes (reopened from the store when needed).
 */
/** A kept view's own cost against dynamoWholeViewsCachedBytesMax: its entry, key and header (an empty collection too). */
const WHOLE_VIEW_OVERHEAD_BYTES = 512;
/**
 * Rows changed since a kept view was made that it records to be patched with (a patch copies the
 * view's map once and applies them); past this many and a quarter of the view's rows, the view is
 * dropped and the next read decodes every row again.
 */
const WHOLE_VIEW_CHANGES_COUNT_MIN = 256;

interface WholeView {
  readonly dc: DecomposedCollection;
  /** The header the view is of: while it is the collection's, the view is every row as stored. */
  readonly header: Header;
  readonly view: CollectionCrdt;
  /** What it stands for against the bound: the collection's priced bytes and WHOLE_VIEW_OVERHEAD_BYTES. */
  readonly bytes: number;
  /** Every row written or deleted since the view was made, its last state (null: too many, drop it). */
  changed: Map<ByteString, Row | undefined> | null;
  /** What `changed` holds (changedRowBytes of each), counted against the bound with `bytes`. */
  changedBytes: number;
}

/** A changed row's cost in a kept view's map: the element, the map entry, and the row (rowBytes). */
function changedRowBytes(schema: Schema, element: ByteString, row: Row | undefined): number {
  return CHANGED_ROW_OVERHEAD_BYTES + element.length + (row === undefined ? 0 : rowBytes(schema, row));
}

/** A changed row's map entry and its element string, beyond the row itself. */
const CHANGED_ROW_OVERHEAD_BYTES = 64;

export class Collections {
  private readonly handles = new Map<string, StoredCollection>();
  /**
   * Every-row views of collections read whole, by key, least recently read first: valid while the
   * handle and its header are the ones they were made from (every change of a row or the context
   * replaces the DecomposedCollection's header object); a view whose header was replaced is patched
   * with the rows changed since (the collection tells each: DecomposedCollection.onRow). At most
   * wholeViewsBytesMax.
   */
  private readonly wholeViews = new Map<string, WholeView>();
  private wholeViewsBytes = 0;
  /** Every-row views answered from `wholeViews` as kept, patched with the rows changed since, and made afresh (the replica's stats). */
  wholeViewHits = 0;
  wholeViewPatches = 0;
  wholeViewMisses = 0;
  /**
   * Told each change's difference in what a key's collection takes (rows and header, as maxmemory
   * prices them), a drop's included: the replica's onStored.
   */
  onBytes: ((key: Uint8Array, delta: number) => void) | undefined;

  constructor(
    private readonly store: ReplicaStore,
    private readonly handlesMax = limits.dynamoOpenCollectionsCountMax,
    private readonly mutations: Mutations = noMutations,
    private readonly wholeViewsBytesMax = limits.dynamoWholeViewsCachedBytesMax,
  ) {}

  /**
   * Every row of `key`'s collection as a view (undefined: none held), kept decoded while nothing
   * changes it and patched with what changed since: the view is immutable (CRDT operations return
   * new values; a patch makes a new view over a copy of the map), so a read can share it.
   */
  whole(key: Uint8Array): CollectionCrdt | undefined {
    const h = this.held(key);
    if (h === undefined) return undefined;
    const k = keyString(key);
    const dc = h.dc;
    const kept = this.wholeViews.get(k);
    // PLANTED BUG (mutation 'store-whole-view-kept-stale'): any view kept is answered, changed since or not.
    if (
      kept !== undefined &&
      ((kept.dc === dc && kept.header === dc.header) || this.mutations.has('store-whole-view-kept-stale'))
    ) {
      this.wholeViews.delete(k);
      this.wholeViews.set(k, kept); // most recently read last
      this.wholeViewHits++;
      return kept.view;
    }
    if (kept !== undefined && kept.dc === dc && kept.changed !== null) {
      // PLANTED BUG (mutation 'store-whole-view-patch-unchanged'): the rows changed since are not applied.
      const changed = this.mutations.has('store-whole-view-patch-unchanged')
        ? new Map<ByteString, Row | undefined>()
        : kept.changed;
      const view = patchedView(kept.view, changed, dc);
      this.wholeViewPatches++;
      this.forgetWholeView(k);
      this.keepWholeView(k, dc, view, h.bytes);
      return view;
    }
    this.forgetWholeView(k);
    this.wholeViewMisses++;
    const view = dc.whole();
    this.keepWholeView(k, dc, view, h.bytes);
    return view;
  }

  /** Keeps `view`, every row of `dc` now, within the bound (least recently read dropped first), told each row changed from here on. */
  private keepWholeView(k: string, dc: DecomposedCollection, view: CollectionCrdt, collectionBytes: number): void {
    const bytes = collectionBytes + WHOLE_VIEW_OVERHEAD_BYTES;
    if (bytes > this.wholeViewsBytesMax) return;
    const entry: WholeView = { dc, header: dc.header, view, bytes, changed: new Map(), changedBytes: 0 };
    this.wholeViews.set(k, entry);
    this.wholeViewsBytes += bytes;
    const changesMax = Math.max(WHOLE_VIEW_CHANGES_COUNT_MIN, view.size >> 2);
    const schema = dc.header.schema;
    dc.onRow = (element, row) => {
      if (this.wholeViews.get(k) !== entry) {
        dc.onRow = undefined; // forgotten since (forgetWholeView clears it too)
        return;
      }
      const changed = entry.changed;
      if (changed === null) return;
      const before = changed.has(element) ? changedRowBytes(schema, element, changed.get(element)) : 0;
      changed.set(element, row);
      const delta = changedRowBytes(schema, element, row) - before;
      entry.changedBytes += delta;
      this.wholeViewsBytes += delta;
      if (changed.size > changesMax || entry.bytes + entry.changedBytes > this.wholeViewsBytesMax) {
        // Too many, or more than the bound alone: the next read decodes every row again.
        entry.changed = null;
        this.wholeViewsBytes -= entry.changedBytes;
        entry.changedBytes = 0;
        return;
      }
      this.evictWholeViews();
    };
    this.evictWholeViews();
  }

  /** Forgets the least recently read views until the kept ones are within the bound. */
  private evictWholeViews(): void {
    for (const old of this.wholeViews.keys()) {
      if (this.wholeViewsBytes <= this.wholeViewsBytesMax) break;
      this.forgetWholeView(old);
    }
  }

  /** Forgets `key`'s kept view (changed since, or its collection's rows cleared or dropped). */
  private forgetWholeView(k: string): void {
    const kept = this.wholeViews.get(k);
    if (kept === undefined) return;
    this.wholeViews.delete(k);
    this.wholeViewsBytes -= kept.bytes + kept.changedBytes;
    kept.dc.onRow = undefined;
  }

  /** Views kept and what they stand for (tests). */
  get wholeViewsKept(): { readonly count: number; readonly bytes: number } {
    return { count: this.wholeViews.size, bytes: this.wholeViewsBytes };
  }

  get openCount(): number {
    return this.handles.size;
  }

  /** The elements of `key`'s collection whose rows were written or deleted last (none: no collection). */
  recent(key: Uint8Array): ByteString[] {
    return this.held(key)?.dc.recent() ?? [];
  }

  /** `key`'s collection as stored (undefined: none). */
  held(key: Uint8Array): StoredCollection | undefined {
    const k = keyString(key);
    const h = this.handles.get(k);
    if (h !== undefined) return this.touch(k, h);
    const schema = storedSchema(this.store, key);
    return schema === undefined ? undefined : this.touch(k, StoredCollection.open(this.store, key, schema), key);
  }

  /**
   * `key`'s collection of `schema`, opened or made. A stored collection of another schema is
   * dropped when no marker of its schema is left in `state` (the key changed type; the new one
   * keeps its context), else wrong_type (writes of two types raced: the other one's collection stays).
   */
  open(key: Uint8Array, schema: Schema, state: Versioned): StoredCollection | BaristaError {
    const held = this.held(key);
    if (held !== undefined && schemaEqual(held.dc.header.schema, schema)) return held;
    if (held !== undefined) {
      // Only a marker still counting elements keeps the other schema's rows (an emptied one is no key).
      const live = state.siblings.some((s) => {
        const m = markerOf(s.value, s.crdt);
        return m !== undefined && m.count > 0 && schemaEqual(m.schema, held.dc.header.schema);
      });
      if (live) return new BaristaError('wrong_type', WRONGTYPE);
      // The new type's collection keeps the old one's context (StoredCollection.openOver says why).
      const context = this.mutations.has('dynamo-collection-drop-context') ? CausalContext.empty : held.dc.context;
      this.drop(key);
      const over = this.touch(keyString(key), StoredCollection.openOver(this.store, key, schema, context), key);
      this.onBytes?.(key, over.bytes);
      return over;
    }
    return this.touch(keyString(key), StoredCollection.open(this.store, key, schema), key);
  }

  /** What `key`'s collection takes (StoredCollection.bytes), without opening a handle for it. */
  bytesOf(key: Uint8Array): number {
    return this.handles.get(keyString(key))?.bytes ?? storedCollectionBytes(this.store, key);
  }

  /** Deletes `key`'s collection (rows and header) and closes its handle: joins in progress end. */
  drop(key: Uint8Array): number {
    this.handles.delete(keyString(key));
    this.forgetWholeView(keyString(key));
    const dropped = dropCollection(this.store, key);
    if (dropped.bytes !== 0) this.onBytes?.(key, -dropped.bytes);
    return dropped.rows;
  }

  /**
   * Clears `key`'s collection when `state` (just written or merged) holds no marker: its writes
   * were all superseded, so every row goes. The header stays (its context: the collection's dots
   * go on from there, in one unbroken run per replica, so peers' contexts stay a version vector;
   * garbage collection drops it with the key). Returns the rows cleared.
   */
  settle(key: Uint8Array, state: Versioned): number {
    // The header first: a get, before the marker test reads every sibling.
    if (!this.handles.has(keyString(key)) && this.store.getHeader(key) === undefined) return 0;
    if (holdsMarker(state)) return 0;
    const h = this.held(key);
    if (h === undefined || h.dc.header.count === 0) return 0;
    const count = h.dc.header.count;
    h.change((dc) => dc.clear());
    this.forgetWholeView(keyString(key));
    return count;
  }

  /**
   * This replica's answer to a row read of `key`: its schema and count, and the rows of `sel`
   * (named elements, or a page from an element on); null when it keeps no collection of the key.
   */
  answer(key: Uint8Array, sel: RowSelection): RowsAnswer | null {
    const h = this.held(key);
    if (h === undefined) return null;
    const { schema, count } = h.dc.header;
    /** No row: an empty page [from, to), with the count, context and digest. */
    const rowless = (from: ByteString, to: ByteString | undefined) =>
      ({
        schema,
        count,
        digest: h.dc.header.digest,
        rows: { kind: 'page', page: { from, to, rows: new Map<ByteString, Row>(), context: h.dc.context } },
      }) as const;
    if (sel.kind === 'fore') {
      // Up to the low-water element (no row lies below it). A set's member may be the empty
      // element, which bounds no page: no bound then (a list's never is).
      const low = h.dc.header.low;
      return rowless('', low === '' ? undefined : low);
    }
    if (sel.kind === 'tail') {
      // From the high-water element (no row lies above it).
      const plain = rowless(h.dc.header.high ?? '', undefined);
      if (sel.recent === undefined) return plain;
      // With the coordinator's elements changed last: this replica's rows of those and of its own,
      // within a page's bytes (past them none: the coordinator reads every row then).
      const elements = [...new Set([...sel.recent, ...h.dc.recent()])].sort(compareStrings);
      const rows = h.namedRows(elements, limits.dynamoRowsPageBytesMax);
      if (rows === undefined) return plain;
      return { ...plain, recent: { kind: 'rows', elements, rows, context: h.dc.context } };
    }
    if (sel.kind === 'page') {
      const page = h.page(sel.from, limits.dynamoRowsPageBytesMax, Math.min(sel.count, limits.dynamoRowsPageCountMax));
      return { schema, count, rows: { kind: 'page', page } };
    }
    if (sel.kind === 'last') {
      const page = h.pageBack(
        sel.before,
        limits.dynamoRowsPageBytesMax,
        Math.min(sel.count, limits.dynamoRowsPageCountMax),
      );
      return { schema, count, rows: { kind: 'page', page } };
    }
    const named = [...new Set(sel.elements.map(byteStringOf))].sort(compareStrings);
    const rows = h.dc.view(named).store as ReadonlyMap<ByteString, Row>;
    return { schema, count, rows: { kind: 'rows', elements: named, rows, context: h.dc.context } };
  }

  /**
   * The view a rows request answers: the named rows (all for null; the first `front`; the last
   * `last`; none for a head or tail read, `none`) under the whole context, and the count.
   */
  view(
    key: Uint8Array,
    elements: readonly Uint8Array[] | null,
    front?: number,
    none?: boolean,
    last?: number,
  ): CollectionView | undefined {
    const h = this.held(key);
    if (h === undefined) return undefined;
    let view: CollectionCrdt;
    if (none === true) view = collectionOf(h.dc.header.schema, new Map(), h.dc.context);
    else if (last !== undefined) {
      const { rows } = h.pageBack(undefined, Number.MAX_SAFE_INTEGER, last);
      view = collectionOf(h.dc.header.schema, rows, h.dc.context);
    } else if (elements !== null) view = h.dc.view(elements.map(byteStringOf));
    else if (front === undefined) view = this.whole(key)!;
    else {
      const { rows } = h.page('', Number.MAX_SAFE_INTEGER, front);
      view = collectionOf(h.dc.header.schema, rows, h.dc.context);
    }
    return { view, count: h.dc.header.count };
  }

  private touch(k: string, h: StoredCollection, key?: Uint8Array): StoredCollection {
    if (key !== undefined) {
      const held = key.slice();
      h.onBytes = (delta) => this.onBytes?.(held, delta);
    }
    this.handles.delete(k);
    this.handles.set(k, h);
    if (this.handles.size > this.handlesMax) {
      for (const [old, oh] of this.handles) {
        if (this.handles.size <= this.handlesMax) break;
        if (old !== k && oh.dc.joining === 0) this.handles.delete(old);
      }
    }
    return h;
  }
}

/**
 * `old` (a view of every row) with the rows `changed` since it was made, under `dc`'s context now:
 * a new map (the old one is shared with readers of the old view), and a sorted set's entries in
 * score order carried over (typed.ts carryZsetEntries) rather than made again from every member.
 */
function patchedView(
  old: CollectionCrdt,
  changed: ReadonlyMap<ByteString, Row | undefined>,
  dc: DecomposedCollection,
): CollectionCrdt {
  let rows = old.store as ReadonlyMap<ByteString, Row>;
  if (changed.size > 0) {
    const copy = new Map(rows);
    for (const [e, row] of changed) {
      if (row === undefined) copy.delete(e);
      else copy.set(e, row);
    }
    rows = copy;
  }
  const view = collectionOf(dc.header.schema, rows, dc.context);
  if (old instanceof ORMap && view instanceof ORMap && schemaEqual(view.valueSchema, ZSET_SCHEMA))
    carryZsetEntries(old, view, changed);
  return view;
}

/**
 * The replica id a replica writes one collection's dots under, from its first write into the
 * collection's header on (kept in the header: Header.own): `actor.epoch`, where epoch is a counter
 * of the node's own durable sequence (replica.ts counterFloor), taken for this header alone; hashed
 * when too long, as actorIdFor does.
 *
 * Why not the actor itself: a collection's dots count one unbroken run per writer (context.next),
 * so every context of it stays a version vector. A header dropped (the key's type changed, garbage
 * collection, cleanup after a ring move) forgets that run, and a run under the same id started
 * again from 1 would reuse dots that a replica which kept the old context (it cleared its rows on
 * the DEL and keeps the context, or missed the drop) takes for elements it saw removed: it drops
 * the new elements, and its joins remove them from the others too. A new id per header (its epoch
 * unused by this node before) never meets an old dot, and its run still starts at 1.
 */
export function collectionActor(actor: string, epoch: number): string {
  return `${collectionActorPrefix(actor)}${epoch.toString(36)}`;
}

/**
 * What every collectionActor of `actor` starts with. A header's own id of another prefix is a
 * former life's (under a sync policy that may lose writes each life is its own actor: a restart
 * may have lost dots that life shipped, so its runs must not go on): the next write takes a new one.
 */
export function collectionActorPrefix(actor: string): string {
  // 13 characters hold an epoch in base 36 (a safe integer).
  if (utf8ByteLength(actor) + 14 <= limits.nodeIdBytesMax) return `${actor}.`;
  const digest = new Uint8Array(16);
  murmur3X64_128Into(new TextEncoder().encode(actor), digest, 0);
  return `h${Buffer.from(digest.subarray(0, 8)).toString('hex')}.`;
}

/** The elements an operation names, as the decomposed layer's byte strings (distinct, ascending). */
function namedElements(op: RowsOp): ByteString[] {
  const step = op.type === 'hset' || op.type === 'list' || op.type === 'zset' ? 2 : 1;
  const out = new Set<ByteString>();
  for (let i = 0; i < op.members.length; i += step) out.add(byteStringOf(op.members[i]!));
  return [...out].sort(compareStrings);
}

/**
 * Whether `op` keeps the collection within crdtElementsCountMax at every step (DecomposedCollection
 * .update refuses the step past it, and a refusal half way would leave the steps before it written
 * here and never shipped): LimitError, before anything is written, if not. Returns whether each
 * element the op names is present now (what applyRowsOp reads anyway).
 */
function checkRowsOpFits(dc: DecomposedCollection, op: RowsOp): Map<ByteString, boolean> {
  const present = new Map<ByteString, boolean>();
  const has = (e: ByteString): boolean => {
    let p = present.get(e);
    if (p === undefined) present.set(e, (p = dc.view([e]).has(e)));
    return p;
  };
  const now = new Map<ByteString, boolean>();
  let count = dc.header.count;
  const add = (e: ByteString): void => {
    if (now.get(e) ?? has(e)) return;
    now.set(e, true);
    if (++count > limits.crdtElementsCountMax)
      throw new LimitError('crdtElementsCountMax', `the collection holds ${dc.header.count} elements`);
  };
  const remove = (e: ByteString): void => {
    if (!(now.get(e) ?? has(e))) return;
    now.set(e, false);
    count--;
  };
  if (op.type === 'list' || op.type === 'zset') {
    for (let i = 0; i + 1 < op.members.length; i += 2) {
      const key = byteStringOf(op.members[i]!);
      const change = op.members[i + 1]!;
      if (op.type === 'zset' ? change.length === 0 : change[0] === 0) remove(key);
      else add(key);
    }
  } else if (op.type === 'hset') {
    for (let i = 0; i + 1 < op.members.length; i += 2) add(byteStringOf(op.members[i]!));
  } else {
    for (const e of namedElements(op)) (op.type === 'sadd' ? add : remove)(e);
  }
  return present;
}

/** Runs `op` on the collection, one element at a time: the deltas made (none when nothing changed). */
export function applyRowsOp(dc: DecomposedCollection, actor: string, op: RowsOp, ts: HlcTimestamp): DecomposedDelta[] {
  const present = checkRowsOpFits(dc, op);
  const deltas: DecomposedDelta[] = [];
  if (op.type === 'list') {
    // Pairs of (element key, change): a remove (0) or an insert (1 + value), as typed.ts applies them.
    for (let i = 0; i + 1 < op.members.length; i += 2) {
      const key = byteStringOf(op.members[i]!);
      const change = op.members[i + 1]!;
      if (change[0] === 0) {
        if (dc.view([key]).has(key))
          deltas.push(dc.update([key], (view) => view.remove(key) as Update<CollectionCrdt>));
        continue;
      }
      const value = byteStringOf(change.subarray(1));
      deltas.push(dc.update([key], (view) => (view as ORMap).apply<ORSet>(key, (set) => set.add(actor, value))));
    }
    return deltas;
  }
  if (op.type === 'zset') {
    // Pairs of (member, score): an empty score removes the member, as typed.ts applies them.
    for (let i = 0; i + 1 < op.members.length; i += 2) {
      const member = byteStringOf(op.members[i]!);
      const score = op.members[i + 1]!;
      if (score.length === 0) {
        if (dc.view([member]).has(member))
          deltas.push(dc.update([member], (view) => view.remove(member) as Update<CollectionCrdt>));
        continue;
      }
      deltas.push(
        dc.update([member], (view) =>
          (view as ORMap).apply<ORMap>(member, (m) => writeScore(m, actor, score, ts)),
        ) as DecomposedDelta,
      );
    }
    return deltas;
  }
  if (op.type === 'hset') {
    // The last value named for a field wins, as HSET's own order does.
    const values = new Map<ByteString, Uint8Array>();
    for (let i = 0; i + 1 < op.members.length; i += 2) values.set(byteStringOf(op.members[i]!), op.members[i + 1]!);
    for (const [field, value] of [...values].sort(([a], [b]) => compareStrings(a, b))) {
      deltas.push(
        dc.update([field], (view) =>
          (view as ORMap).apply<MVRegister>(field, (r) => r.write(actor, value, ts)),
        ) as DecomposedDelta,
      );
    }
    return deltas;
  }
  for (const e of namedElements(op)) {
    const held = present.get(e)!;
    if (op.type === 'sadd' && !held) deltas.push(dc.update([e], (view) => (view as ORSet).add(actor, e)));
    else if ((op.type === 'srem' || op.type === 'hdel') && held)
      deltas.push(dc.update([e], (view) => view.remove(e) as Update<CollectionCrdt>));
  }
  return deltas;
}

/** A receiver's side of a change: the clear, then each delta, in one change. */
export function applyChange(
  sc: StoredCollection,
  clear: CausalContext | null,
  deltas: readonly DecomposedDelta[],
): void {
  sc.change((dc) => {
    if (clear !== null) dc.applyClear(clear);
    for (const d of deltas) dc.applyDelta(d);
  });
}

// A causal collection (an OR-Set, or an OR-Map of any value schema) kept decomposed: a header and
// one row per element, so an operation on a few elements reads, writes and ships only their rows
// (after Riak's "bigsets": Brown, Lebsack et al., "Big(ger) Sets: decomposed delta CRDT Sets in
// Riak", PaPoC 2016; the delta-state join of Almeida, Shoker and Baquero, JPDC 2018, section 7).
// docs/ARCHITECTURE.md, "Collections at N > 1", says why and how the store uses it.
//
//   header  schema (the whole collection's: orset, or ormap(value)), the causal context (every dot
//           this replica has seen, removed ones included: a version vector plus the current gaps),
//           the number of rows, and a digest: the sum mod 2^64 of rowDigest(element, row) over the
//           rows, kept in O(row) per change. It covers the rows, not the context, and is no
//           cryptographic hash: equal digests say two replicas' rows are very likely equal (what
//           anti-entropy may skip on), different digests that they differ.
//   row     one element's dot store: an OR-Set element's dots, an OR-Map key's nested store. A
//           removed element has no row; its dots stay in the context (no tombstones).
//
// Operations (update) run the existing mutators (orset.ts, ormap.ts) on a view: the named
// elements' rows under the whole context. What they return is a delta over those elements only,
// applied row by row and shipped as a DecomposedDelta. Rules:
//   R1 a delta lists (`touched`) every element whose dots its context holds; elements it does not
//      list keep their rows. The view's mutators keep it: their deltas hold the view's dots and
//      new ones. (Joining a delta that broke R1 leaves the unlisted rows as they were, where the
//      whole-value join would have removed them: the replica keeps an element its peers removed.)
//   R2 every dot of a row is in the header's context (a row never holds a dot the context does
//      not cover, or a later join would take it for new, or for removed).
//   clear   a context-only delta: every row loses the dots that context covers (O(rows)), which
//           equals a join with the empty collection under that context.
//   pages   a full-state join in element order (startJoin, then joinPage in order from ''): each
//           page carries the sender's rows of one element range [from, to) and its context at that
//           page. The receiver joins its rows of that range with the page and adds the dots it kept
//           from the page to its context (R2); only after the last page does it join the sender's
//           context of the FIRST page (every later page reflects at least that knowledge). Until
//           then a row in a range already joined is joined with the context plus that first-page
//           context (knownFor): a delta arriving between two pages must not re-add what the sender
//           had removed. A join given up on (abandonJoin) leaves less knowledge, never a wrong row.
//           Pages out of order are refused; the caller routes each sender's pages to its join.
// Untrusted input (a delta or page decoded from a peer) breaking the shape is a ProtocolError
// (crdt_malformed), never an assert.

import { assert, unreachable } from '../lib/assert.ts';
import { LimitError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { dotsOf, joinStore, type MapStore, type MvStore, type Schema, type Store } from './causal.ts';
import { type ByteString, compareStrings, type ReplicaId, type Update } from './codec.ts';
import { CausalContext, type Dot } from './dots.ts';
import { ORMap } from './ormap.ts';
import { ORSet } from './orset.ts';

/** One element's row: an OR-Set element's dots, or an OR-Map key's nested store. */
export type Row = Store | readonly Dot[];

/** The rows of one decomposed collection: the synchronous seam to where they are stored. */
export interface ElementRows {
  get(element: ByteString): Row | undefined;
  /** Returns what the row replaced took where it was stored, in bytes (0: none, or not known). */
  put(element: ByteString, row: Row): number;
  /** Returns what the row deleted took where it was stored, in bytes (0: none, or not known). */
  delete(element: ByteString): number;
  /** Rows in byte order of their elements, from `from` (inclusive) to `to` (exclusive; undefined: the end). */
  range(from: ByteString, to: ByteString | undefined): Iterable<readonly [ByteString, Row]>;
}

export interface Header {
  readonly schema: Schema;
  readonly context: CausalContext;
  readonly count: number;
  /** Sum mod 2^64 of rowDigest over the rows. */
  readonly digest: bigint;
  /**
   * The replica id this replica writes the collection's dots under, once it has written one (a
   * local record, never sent: src/dynamo/replica-rows.ts collectionActor says why it is per header).
   */
  readonly own?: ReplicaId;
  /**
   * No row this replica has held lies above it: the largest element ever written here (kept when
   * that row goes; a local record, like own). A list's tail: RPUSH places after the largest of the
   * replicas' (src/dynamo/replica.ts), without reading a row.
   */
  readonly high?: ByteString;
  /**
   * No row this replica has held lies below it: the smallest element ever written here (kept when
   * that row goes; a local record, like high). A list's head: LPUSH places before the smallest of
   * the replicas' (src/dynamo/replica.ts), without reading a row. Absent in a header written
   * before 2026-12-06 until the store backfills it (collection-store.ts).
   */
  readonly low?: ByteString;
  /**
   * What the rows take as maxmemory prices them (src/dynamo/collection-store.ts rowEntryBytes,
   * summed): a local record the store keeps with each change, so a recount reads one header
   * instead of every row. Absent in a header written before it was kept.
   */
  readonly bytes?: number;
}

export interface DecomposedDelta {
  /** Every element the delta changes (R1), ascending. */
  readonly touched: readonly ByteString[];
  /** The new rows it brings (a subset of touched; a touched element without one is removed where seen). */
  readonly rows: ReadonlyMap<ByteString, Row>;
  readonly context: CausalContext;
}

/** A page of a full-state join: the sender's rows of [from, to) and its context then. */
export interface RowPage {
  readonly from: ByteString;
  /** Exclusive; undefined: to the end of the element order (the last page). */
  readonly to: ByteString | undefined;
  readonly rows: ReadonlyMap<ByteString, Row>;
  readonly context: CausalContext;
}

export type CollectionCrdt = ORSet | ORMap;

const DIGEST_MASK = (1n << 64n) - 1n;
/** The longest element DecomposedCollection.recent remembers. */
const RECENT_ELEMENT_BYTES_MAX = 256;

/** The collection CRDT of `schema` holding `rows` under `context` (a view, a delta, a whole value). */
export function collectionOf(
  schema: Schema,
  rows: ReadonlyMap<ByteString, Row>,
  context: CausalContext,
): CollectionCrdt {
  if (schema.type === 'orset') return new ORSet(rows as ReadonlyMap<ByteString, readonly Dot[]>, context);
  if (schema.type === 'ormap') return new ORMap(schema.value, rows as MapStore, context);
  throw new ProtocolError('crdt_malformed', `a decomposed collection of schema ${schema.type}`);
}

/** A page from a peer: a range that is not empty, and every row it brings inside it (else crdt_malformed). */
function checkPageRange(p: RowPage): void {
  if (p.to !== undefined && compareStrings(p.from, p.to) >= 0) {
    throw new ProtocolError('crdt_malformed', 'a page of rows whose range is empty');
  }
  for (const e of p.rows.keys()) {
    if (compareStrings(e, p.from) < 0 || (p.to !== undefined && compareStrings(e, p.to) >= 0)) {
      throw new ProtocolError('crdt_malformed', 'a page brings a row outside its range');
    }
  }
}

/** In-memory rows (tests, and a scratch copy); sorted on demand. */
export class MemoryRows implements ElementRows {
  private readonly map = new Map<ByteString, Row>();

  get(element: ByteString): Row | undefined {
    return this.map.get(element);
  }
  put(element: ByteString, row: Row): number {
    this.map.set(element, row);
    return 0;
  }
  delete(element: ByteString): number {
    this.map.delete(element);
    return 0;
  }
  *range(from: ByteString, to: ByteString | undefined): Iterable<readonly [ByteString, Row]> {
    const keys = [...this.map.keys()]
      .filter((k) => compareStrings(k, from) >= 0 && (to === undefined || compareStrings(k, to) < 0))
      .sort(compareStrings);
    for (const k of keys) yield [k, this.map.get(k)!];
  }
  get size(): number {
    return this.map.size;
  }
}

/** A full-state join in progress from one sender (DecomposedCollection.startJoin). */
export class RowJoin {
  /** The sender's context of its first page (undefined until that page is joined). */
  first: CausalContext | undefined;
  /** Where the next page must start; undefined once the last page is joined. */
  next: ByteString | undefined = '';
  /**
   * A join from the end (startBackJoin: a list's last rows): pages come backwards, each ending
   * where the one before began, and `from` is where the rows joined so far begin (undefined until
   * the first page); every element at or above it is covered.
   */
  back = false;
  from: ByteString | undefined;
}

export class DecomposedCollection {
  private h: Header;
  /** Joins in progress (one per read and sender), at most dynamoCollectionJoinsCountMax. */
  private readonly joins = new Set<RowJoin>();
  /**
   * Told every row this collection writes or deletes, after the write (the replica keeps a view
   * of every row up to date with it: src/dynamo/replica-rows.ts Collections.whole).
   */
  onRow: ((element: ByteString, row: Row | undefined) => void) | undefined;
  /** The elements whose rows were written or deleted last, a ring of dynamoRecentRowsCountMax. */
  private readonly recentRing: ByteString[] = [];
  private recentAt = 0;
  /** Rows written or deleted so far (every setRow that changed one): a mark for changesSince. */
  private changes = 0;
  /** Readers tracking changes (track / untrack): the journal records while there is one. */
  private tracking = 0;
  /**
   * Changes since `journalBase`, each element with its row before and what that row took where it
   * was stored (at most dynamoRowJournalCountMax of them and dynamoRowJournalBytesMax of rows).
   */
  private journal: Array<{ readonly e: ByteString; readonly old: Row | undefined; readonly bytes: number }> = [];
  private journalBase = 0;
  private journalBytes = 0;

  constructor(
    header: Header,
    readonly rows: ElementRows,
  ) {
    assert(header.schema.type === 'orset' || header.schema.type === 'ormap', 'a collection is an OR-Set or an OR-Map');
    this.h = header;
  }

  static empty(schema: Schema, rows: ElementRows): DecomposedCollection {
    return new DecomposedCollection({ schema, context: CausalContext.empty, count: 0, digest: 0n }, rows);
  }

  /**
   * The collection whose header is rebuilt from its rows (O(rows)): `context` joined with every
   * row's dots, count and digest recounted. What a crash between rows and header leaves is
   * repaired with it (src/dynamo/collection-store.ts).
   */
  static fromRows(
    schema: Schema,
    context: CausalContext,
    rows: ElementRows,
    own?: ReplicaId,
    high?: ByteString,
    low?: ByteString,
  ): DecomposedCollection {
    const dots: Dot[] = [];
    let count = 0;
    let digest = 0n;
    let top = high;
    let bottom = low;
    for (const [e, row] of rows.range('', undefined)) {
      count++;
      digest = (digest + rowDigest(schema, e, row)) & DIGEST_MASK;
      dots.push(...rowDots(schema, row));
      if (top === undefined || compareStrings(e, top) > 0) top = e;
      if (bottom === undefined || compareStrings(e, bottom) < 0) bottom = e;
    }
    let header: Header = { schema, context: context.withDots(dots), count, digest };
    if (own !== undefined) header = { ...header, own };
    if (top !== undefined) header = { ...header, high: top };
    if (bottom !== undefined) header = { ...header, low: bottom };
    return new DecomposedCollection(header, rows);
  }

  get header(): Header {
    return this.h;
  }

  get context(): CausalContext {
    return this.h.context;
  }

  /**
   * How many rows hold a dot `seen` lacks: elements added concurrently with (unseen by) the write
   * whose coordinator had seen `seen`. O(1) when this replica has seen no dot beyond it, else O(rows).
   */
  rowsNotIn(seen: CausalContext): number {
    if (this.h.count === 0 || this.h.context.countNotIn(seen) === 0) return 0;
    let n = 0;
    for (const [, row] of this.rows.range('', undefined))
      if (rowDots(this.h.schema, row).some((d) => !seen.has(d))) n++;
    return n;
  }

  /** Names the replica id this replica writes the collection's dots under from now on (Header.own). */
  adopt(own: ReplicaId): void {
    this.h = { ...this.h, own };
  }

  /**
   * Starts recording the rows changed from now on (with the rows before) for a reader: returns the
   * mark to ask changesSince with. Every track needs an untrack.
   */
  track(): number {
    if (this.tracking === 0) {
      this.journal = [];
      this.journalBytes = 0;
      this.journalBase = this.changes;
    }
    this.tracking++;
    return this.changes;
  }

  untrack(): void {
    assert(this.tracking > 0, 'untrack without track');
    if (--this.tracking === 0) {
      this.journal = [];
      this.journalBytes = 0;
    }
  }

  /**
   * Each element whose row changed since `mark` (track's) with its row at the mark (undefined: it
   * had none); undefined when those changes are no longer all recorded.
   */
  changesSince(mark: number): Map<ByteString, Row | undefined> | undefined {
    if (this.tracking === 0 || mark < this.journalBase || mark > this.changes) return undefined;
    const out = new Map<ByteString, Row | undefined>();
    for (let i = mark - this.journalBase; i < this.journal.length; i++) {
      const { e, old } = this.journal[i]!;
      if (!out.has(e)) out.set(e, old);
    }
    return out;
  }

  /**
   * The distinct elements whose rows this collection wrote or deleted last (at most
   * dynamoRecentRowsCountMax; in memory only: a handle opened again remembers none).
   */
  recent(): ByteString[] {
    return [...new Set(this.recentRing)];
  }

  /** The collection as a whole CRDT over the named elements' rows and the whole context. */
  view(elements: Iterable<ByteString>): CollectionCrdt {
    const store = new Map<ByteString, Row>();
    for (const e of elements) {
      const row = this.rows.get(e);
      if (row !== undefined) store.set(e, row);
    }
    return collectionOf(this.h.schema, store, this.h.context);
  }

  /** The whole collection as one CRDT (O(rows): materializing, tests). */
  whole(): CollectionCrdt {
    const store = new Map<ByteString, Row>();
    for (const [e, row] of this.rows.range('', undefined)) store.set(e, row);
    return collectionOf(this.h.schema, store, this.h.context);
  }

  /**
   * Runs `op` (an OR-Set or OR-Map mutator) on the view of `elements`, applies its delta here and
   * returns it to ship. Every element the op names must be among `elements` (R1: the delta's rows
   * are checked; a remove of an element not named finds no row in the view and does nothing).
   */
  update(elements: readonly ByteString[], op: (view: CollectionCrdt) => Update<CollectionCrdt>): DecomposedDelta {
    const view = this.view(elements);
    const u = op(view);
    const named = new Set(elements);
    const rows = u.delta.store as ReadonlyMap<ByteString, Row>;
    for (const e of rows.keys()) assert(named.has(e), 'a decomposed update wrote an element it did not name');
    let added = 0;
    for (const e of rows.keys()) if (this.rows.get(e) === undefined) added++;
    if (added > 0 && this.h.count + added > limits.crdtElementsCountMax) {
      throw new LimitError('crdtElementsCountMax', `the collection holds ${this.h.count} elements`);
    }
    const delta: DecomposedDelta = { touched: [...named].sort(compareStrings), rows, context: u.delta.context };
    this.applyDelta(delta);
    return delta;
  }

  /** Joins a delta (from update here or at a peer) row by row. */
  applyDelta(d: DecomposedDelta): void {
    const touched = new Set(d.touched);
    for (const e of d.rows.keys()) {
      if (!touched.has(e))
        throw new ProtocolError('crdt_malformed', 'a decomposed delta brings a row it does not list');
    }
    const ctx = this.h.context;
    const { schema } = this.h;
    const known = this.knownOf();
    for (const e of touched) {
      const old = this.rows.get(e);
      const joined = joinRow(schema, e, old, known(e), d.rows.get(e), d.context);
      this.setRow(e, old, joined);
    }
    this.h = { ...this.h, context: ctx.merge(d.context) };
  }

  /** Removes every row this replica holds (Redis DEL): returns the context to ship as the clear. */
  clear(): CausalContext {
    const c = this.h.context;
    this.applyClear(c);
    return c;
  }

  /** A peer's clear: every row loses the dots `context` covers; O(rows). */
  applyClear(context: CausalContext): void {
    const ctx = this.h.context;
    const { schema } = this.h;
    const known = this.knownOf();
    for (const [e, row] of [...this.rows.range('', undefined)]) {
      this.setRow(e, row, joinRow(schema, e, row, known(e), undefined, context));
    }
    this.h = { ...this.h, context: ctx.merge(context) };
  }

  /** A page of this replica's full state: at most `countMax` rows from `from` on. */
  page(from: ByteString, countMax: number): RowPage {
    assert(countMax >= 1, 'a page holds at least one row');
    const rows = new Map<ByteString, Row>();
    let to: ByteString | undefined;
    for (const [e, row] of this.rows.range(from, undefined)) {
      if (rows.size === countMax) {
        to = e;
        break;
      }
      rows.set(e, row);
    }
    return { from, to, rows, context: this.h.context };
  }

  /**
   * Starts a full-state join from one sender: give it that sender's pages in order, from the
   * first, with joinPage; the last page (to undefined) ends it. A join given up on (its sender
   * gone, a page lost) must be dropped with abandonJoin.
   */
  startJoin(): RowJoin {
    if (this.joins.size >= limits.dynamoCollectionJoinsCountMax) {
      throw new LimitError('dynamoCollectionJoinsCountMax', `${this.joins.size} joins in progress`);
    }
    const j = new RowJoin();
    this.joins.add(j);
    return j;
  }

  /**
   * Starts a join from one sender's last rows, pages backwards (joinBackPage): what each page
   * covers counts as known from the sender's first-page context while the join is in progress
   * (knownFor), so its removals hold against another sender's rows joined after it; the context
   * joins whole once a page reaches the start. Abandon it (abandonJoin) when the read ends first.
   */
  startBackJoin(): RowJoin {
    const j = this.startJoin();
    j.back = true;
    j.next = undefined;
    return j;
  }

  /** Joins the next page of a backward join (its `to` where the last one began: crdt_malformed otherwise). */
  joinBackPage(j: RowJoin, p: RowPage): void {
    if (!this.joins.has(j) || !j.back || p.to !== j.from || (j.first !== undefined && j.from === undefined)) {
      throw new ProtocolError('crdt_malformed', "a page out of its join's order");
    }
    checkPageRange(p);
    j.first ??= p.context;
    this.joinRangeChecked(p);
    j.from = p.from;
    if (p.from === '') {
      this.joins.delete(j);
      this.h = { ...this.h, context: this.h.context.merge(j.first) };
    }
  }

  /** Joins in progress (a handle with some must stay open: they live in memory). */
  get joining(): number {
    return this.joins.size;
  }

  /** Whether `j` is still in progress here (started, not ended by its last page or abandoned). */
  isJoining(j: RowJoin): boolean {
    return this.joins.has(j);
  }

  /** Forgets a join cut short: what its pages brought stays, its sender's context is not joined. */
  abandonJoin(j: RowJoin): void {
    this.joins.delete(j);
  }

  /**
   * Joins the next page of `j`'s sender (pages out of order, or after the last: crdt_malformed).
   * The rows of the page's range join with the page; the dots kept from it join the context (R2);
   * the sender's first-page context joins the context after the last page.
   */
  joinPage(j: RowJoin, p: RowPage): void {
    if (!this.joins.has(j) || j.next === undefined || p.from !== j.next) {
      throw new ProtocolError('crdt_malformed', "a page out of its join's order");
    }
    checkPageRange(p);
    j.first ??= p.context;
    this.joinRangeChecked(p);
    j.next = p.to;
    if (p.to === undefined) {
      this.joins.delete(j);
      this.h = { ...this.h, context: this.h.context.merge(j.first) };
    }
  }

  /**
   * Joins one page of a peer's rows outside any full join (a read of a list's tail: its last pages,
   * asked for backwards): this replica's rows of the page's range join the page's under the page's
   * context, and the dots kept join the context (R2); the peer's context does not (it speaks of
   * elements outside the range too). Less knowledge than a full join, never a wrong row: the page
   * holds every row the peer had in its range.
   */
  joinRange(p: RowPage): void {
    checkPageRange(p);
    this.joinRangeChecked(p);
  }

  /** joinRange of a page whose range checkPageRange accepted. */
  private joinRangeChecked(p: RowPage): void {
    // This replica's rows of the page's range, read once (every element the page brings lies in it).
    const held = new Map<ByteString, Row>(this.rows.range(p.from, p.to));
    const elements = new Set<ByteString>(p.rows.keys());
    for (const e of held.keys()) elements.add(e);
    this.joinElements(elements, p.rows, p.context, held);
  }

  /**
   * Joins a peer's rows of the named elements (what a read of those elements brought back: an
   * element without a row was removed there, or never seen): each named row joins with the peer's
   * row under the peer's context, and the dots kept join the context (R2); the peer's context does
   * not (it speaks of other elements too). Less knowledge than a full join, never a wrong row.
   */
  joinRows(elements: readonly ByteString[], rows: ReadonlyMap<ByteString, Row>, context: CausalContext): void {
    const named = new Set(elements);
    for (const e of rows.keys()) {
      if (!named.has(e)) throw new ProtocolError('crdt_malformed', 'a row read brings a row it was not asked for');
    }
    this.joinElements(named, rows, context);
  }

  /**
   * Joins each of `elements` with the sender's row under the sender's context, and adds the dots
   * kept to the context (R2); the sender's context itself does not join here. `held`, when given,
   * holds every row this replica has of `elements` (none is read again).
   */
  private joinElements(
    elements: Iterable<ByteString>,
    rows: ReadonlyMap<ByteString, Row>,
    context: CausalContext,
    held?: ReadonlyMap<ByteString, Row>,
  ): void {
    const ctx = this.h.context;
    const { schema } = this.h;
    const kept: Dot[] = [];
    const known = this.knownOf();
    for (const e of elements) {
      // `held`: every row this replica holds of the elements, already read (a page's range).
      const old = held === undefined ? this.rows.get(e) : held.get(e);
      const joined = joinRow(schema, e, old, known(e), rows.get(e), context);
      if (joined !== undefined) for (const d of rowDots(schema, joined)) if (!ctx.has(d)) kept.push(d);
      this.setRow(e, old, joined);
    }
    if (kept.length > 0) this.h = { ...this.h, context: ctx.withDots(kept) };
  }

  /**
   * knownFor: what this replica knows of element `e`'s dots: the context, and the first-page
   * context of every join in progress whose pages have covered `e` (those rows already reflect
   * it). Joining a row with less lets a delta arriving between a join's pages re-add what the
   * sender had removed. As a function for one loop over elements, while the context and the joins
   * stay as they are: the contexts are merged once per set of joins covering an element, not once
   * per element. With many reads out at once (50 clients popping one list at ONE: a join per peer
   * per read) every element of a head page is covered by most joins, and merging each join's
   * context for each element took a quarter of the coordinator's CPU (session 31's profile).
   */
  private knownOf(): (e: ByteString) => CausalContext {
    const base = this.h.context;
    const joins = [...this.joins].filter((j) => j.first !== undefined);
    if (joins.length === 0) return () => base;
    const merged = new Map<string, CausalContext>();
    const covers = new Uint8Array(joins.length);
    return (e) => {
      let any = false;
      for (let i = 0; i < joins.length; i++) {
        const j = joins[i]!;
        const covered = j.back
          ? j.from !== undefined && compareStrings(e, j.from) >= 0
          : j.next === undefined || compareStrings(e, j.next) < 0;
        covers[i] = covered ? 49 : 48;
        any ||= covered;
      }
      if (!any) return base; // no join covers it: the context alone, no key made
      const covering = String.fromCharCode(...covers);
      let c = merged.get(covering);
      if (c === undefined) {
        c = base;
        for (let i = 0; i < joins.length; i++) if (covering.charCodeAt(i) === 49) c = c.merge(joins[i]!.first!);
        merged.set(covering, c);
      }
      return c;
    };
  }

  /**
   * Records change number `changes` (entry i of the journal is change journalBase + i + 1). Past a
   * bound the oldest half goes, as often as it takes: the reads that began before those read every
   * row. A row before too large for the journal alone is not kept, and every mark before it loses
   * its changes (the base moves past it).
   */
  private record(e: ByteString, old: Row | undefined, oldBytes: number): void {
    const bytes = e.length + oldBytes;
    if (bytes > limits.dynamoRowJournalBytesMax) {
      this.journal = [];
      this.journalBytes = 0;
      this.journalBase = this.changes;
      return;
    }
    while (
      this.journal.length > 0 &&
      (this.journal.length >= limits.dynamoRowJournalCountMax ||
        this.journalBytes + bytes > limits.dynamoRowJournalBytesMax)
    ) {
      const dropped = Math.max(1, this.journal.length >> 1);
      for (const x of this.journal.splice(0, dropped)) this.journalBytes -= x.e.length + x.bytes;
      this.journalBase += dropped;
    }
    this.journal.push({ e, old, bytes: oldBytes });
    this.journalBytes += bytes;
  }

  private setRow(e: ByteString, old: Row | undefined, row: Row | undefined): void {
    if (old === row || (old !== undefined && row !== undefined && sameDots(this.h.schema, old, row))) return;
    let { count, digest } = this.h;
    if (old !== undefined) {
      count--;
      digest = (digest - rowDigest(this.h.schema, e, old)) & DIGEST_MASK;
    }
    let oldBytes: number;
    if (row === undefined) oldBytes = this.rows.delete(e);
    else {
      oldBytes = this.rows.put(e, row);
      count++;
      digest = (digest + rowDigest(this.h.schema, e, row)) & DIGEST_MASK;
    }
    const { high, low } = this.h;
    this.h = { ...this.h, count, digest };
    if (row !== undefined && (high === undefined || compareStrings(e, high) > 0)) this.h = { ...this.h, high: e };
    if (row !== undefined && (low === undefined || compareStrings(e, low) < 0)) this.h = { ...this.h, low: e };
    // A long element is not remembered (the ring's memory stays small): a read whose replicas
    // differ there reads every row.
    if (e.length <= RECENT_ELEMENT_BYTES_MAX) {
      if (this.recentRing.length < limits.dynamoRecentRowsCountMax) this.recentRing.push(e);
      else this.recentRing[this.recentAt] = e;
      this.recentAt = (this.recentAt + 1) % limits.dynamoRecentRowsCountMax;
    }
    this.changes++;
    if (this.tracking > 0) this.record(e, old, oldBytes);
    this.onRow?.(e, row);
  }
}

/** The join of one element's rows (undefined: no row), or undefined when nothing is left. */
export function joinRow(
  schema: Schema,
  element: ByteString,
  a: Row | undefined,
  ca: CausalContext,
  b: Row | undefined,
  cb: CausalContext,
): Row | undefined {
  const one = (r: Row | undefined): MapStore =>
    r === undefined ? EMPTY : (new Map([[element, r]]) as unknown as MapStore);
  // joinStore drops an element left without dots (OR-Set) or with a bottom value (OR-Map).
  return (joinStore(schema, one(a), ca, one(b), cb) as MapStore).get(element);
}

const EMPTY: MapStore = new Map();

/** Whether two rows of one element are the same: the same dots (a dot names one write, its value included). */
export function sameRow(schema: Schema, a: Row, b: Row): boolean {
  return a === b || sameDots(schema, a, b);
}

/**
 * The join of several replicas' rows of the same `elements`, each part under its replica's whole
 * context: row by row, the contexts merged. What a read that heard several peers joins into its
 * own replica, at once: joined into it one after another (joinRows keeps a peer's dots, not its
 * context), a peer's removal (a dot in its context and not in its row) was lost whenever that peer
 * came before one still holding the dot, and the removed element was answered.
 */
export function joinAnswers(
  schema: Schema,
  elements: readonly ByteString[],
  parts: ReadonlyArray<{ readonly rows: ReadonlyMap<ByteString, Row>; readonly context: CausalContext }>,
): { rows: Map<ByteString, Row>; context: CausalContext } {
  assert(parts.length > 0, 'a join of no answer');
  const rows = new Map<ByteString, Row>();
  let context = parts[0]!.context;
  for (const e of elements) {
    const row = parts[0]!.rows.get(e);
    if (row !== undefined) rows.set(e, row);
  }
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    for (const e of elements) {
      const joined = joinRow(schema, e, rows.get(e), context, p.rows.get(e), p.context);
      if (joined === undefined) rows.delete(e);
      else rows.set(e, joined);
    }
    context = context.merge(p.context);
  }
  return { rows, context };
}

/**
 * Whether a join left a row as it was (then nothing is written): a dot names one write, so the
 * same dots are the same row (for states this protocol makes; a forged row reusing a dot for
 * another value keeps the value first stored).
 */
function sameDots(schema: Schema, a: Row, b: Row): boolean {
  const x = rowDots(schema, a);
  const y = rowDots(schema, b);
  if (x.length !== y.length) return false;
  const seen = new Set(x.map((d) => `${d.counter}@${d.replica}`));
  return y.every((d) => seen.has(`${d.counter}@${d.replica}`));
}

/** The dots of one row. */
export function rowDots(schema: Schema, row: Row): Dot[] {
  if (schema.type === 'orset') return [...(row as readonly Dot[])];
  assert(schema.type === 'ormap', 'a collection is an OR-Set or an OR-Map');
  return dotsOf(schema.value, row as Store);
}

/** A dot's cost in a row held in memory (an object of a replica id and a counter, in an array). */
const DOT_MEMORY_BYTES = 32;

/**
 * About what one row holds in memory: its values' and nested elements' bytes and DOT_MEMORY_BYTES
 * per dot (a kept view's changed rows are counted against their bound with it).
 */
export function rowBytes(schema: Schema, row: Row): number {
  if (schema.type === 'orset') return DOT_MEMORY_BYTES * (row as readonly Dot[]).length;
  assert(schema.type === 'ormap', 'a collection is an OR-Set or an OR-Map');
  return storeBytes(schema.value, row as Store);
}

function storeBytes(schema: Schema, store: Store): number {
  let bytes = 0;
  if (schema.type === 'mvreg') {
    for (const e of store as MvStore) bytes += DOT_MEMORY_BYTES + e.value.length;
  } else if (schema.type === 'orset') {
    for (const [element, dots] of store as ReadonlyMap<ByteString, readonly Dot[]>) {
      bytes += element.length + DOT_MEMORY_BYTES * dots.length;
    }
  } else {
    for (const [key, nested] of store as MapStore) bytes += key.length + storeBytes(schema.value, nested);
  }
  return bytes;
}

/**
 * A header's digest of every row (or a peer's) less the digests of `elements`' rows (`rowOf`: each
 * one's row, undefined for none): equal for two replicas when their rows outside `elements` are
 * the same (up to the digest's collisions).
 */
export function digestWithout(
  schema: Schema,
  digest: bigint,
  elements: Iterable<ByteString>,
  rowOf: (e: ByteString) => Row | undefined,
): bigint {
  let d = digest;
  for (const e of elements) {
    const row = rowOf(e);
    if (row !== undefined) d = (d - rowDigest(schema, e, row)) & DIGEST_MASK;
  }
  return d;
}

/**
 * A 64-bit hash of an element and its row, from a canonical walk (sorted keys, dots in their
 * stores' order, replica ids as text): two FNV-1a-style lanes of 32 bits with different offsets,
 * the second with an xorshift per byte. Not cryptographic.
 */
export function rowDigest(schema: Schema, element: ByteString, row: Row): bigint {
  const h = new Fnv2();
  h.text(element);
  if (schema.type === 'orset') for (const d of row as readonly Dot[]) h.dot(d);
  else hashStore(h, (schema as { value: Schema }).value, row as Store);
  return h.value();
}

function hashStore(h: Fnv2, schema: Schema, s: Store): void {
  switch (schema.type) {
    case 'mvreg':
      for (const e of s as MvStore) {
        h.dot(e.dot);
        h.num(e.ts.wallMs);
        h.num(e.ts.logical);
        h.bytes(e.value);
      }
      return;
    case 'orset': {
      const m = s as ReadonlyMap<ByteString, readonly Dot[]>;
      for (const k of [...m.keys()].sort(compareStrings)) {
        h.text(k);
        for (const d of m.get(k)!) h.dot(d);
        h.num(-1); // end of the element's dots
      }
      return;
    }
    case 'ormap': {
      const m = s as MapStore;
      for (const k of [...m.keys()].sort(compareStrings)) {
        h.text(k);
        hashStore(h, schema.value, m.get(k)!);
        h.num(-1); // end of the key's value
      }
      return;
    }
    default:
      return unreachable(schema);
  }
}

class Fnv2 {
  private a = 0x811c9dc5;
  private b = 0x050c5d1f;

  private byte(x: number): void {
    this.a = Math.imul(this.a ^ x, 0x01000193) >>> 0;
    this.b = Math.imul(this.b ^ x, 0x01000193) >>> 0;
    this.b = (this.b ^ (this.b >>> 15)) >>> 0;
  }
  num(n: number): void {
    let x = n < 0 ? -n * 2 + 1 : n * 2;
    for (let i = 0; i < 8; i++) {
      this.byte(x % 256);
      x = Math.floor(x / 256);
    }
  }
  text(s: string): void {
    this.num(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      this.byte(c & 0xff);
      this.byte(c >>> 8);
    }
  }
  bytes(b: Uint8Array): void {
    this.num(b.length);
    for (const x of b) this.byte(x);
  }
  dot(d: Dot): void {
    this.text(d.replica);
    this.num(d.counter);
  }
  value(): bigint {
    return (BigInt(this.a) << 32n) | BigInt(this.b);
  }
}

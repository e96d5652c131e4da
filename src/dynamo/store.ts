// The local store a Dynamo replica keeps its keys and hints in: a synchronous seam between the
// pure replica protocol (replica.ts) and the durable engine (src/dynamo/engine implements it
// later), with an in-memory twin here for tests and the simulator.
//
// Contract (what replica.ts relies on; the engine must keep it):
//   - Values are encoded Versioned states (versions.ts); hints are encoded Versioned states held
//     for another replica (`owner`) of the key. The store does not interpret them.
//   - Reads see every write made before them (also unsynced ones).
//   - sync() makes every earlier write durable. The replica's driver calls it after a step whose
//     output says `syncNeeded`, BEFORE sending that output's messages or replies (etcd's "persist
//     before sending"): a value acknowledged or shipped to a peer is never rolled back by a crash,
//     so a restarted replica never reuses a dot counter it has already shown to anyone.
//   - A crash loses at most the writes since the last sync, and keeps a prefix of them in write
//     order (LsmReplicaStore: the engine's recovery; MemoryReplicaStore.crash keeps the empty
//     prefix). collection-store.ts relies on the prefix for its write order.
//   - Values scan in token order: by their key's token (tokenBytesInto, the 8 big-endian bytes of
//     the Murmur3 token, read as an unsigned number, as the Redis keyspace's storage keys at N = 1),
//     then by key bytes. A SCAN cursor is then a token (tokenPage below), as at N = 1.
//   - A decomposed collection (src/crdt/decomposed.ts) keeps its header and its rows apart from the
//     key's value: getHeader/putHeader, and rows by (key, element) with scanRows in element byte
//     order. The store does not interpret them either, and one sync() covers them with the rest.
//     An element is a byte string; a row whose storage key would pass the engine's key bound is
//     refused with a LimitError (rowKeyBytes says how long it would be).

import { assert } from '../lib/assert.ts';
import { latin1String, readU32BE } from '../lib/bytes.ts';
import { LimitError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { lowerBound } from '../lib/sorted.ts';
import { tokenBytesInto } from './partitioner.ts';

/**
 * Per stored value, row or header, on top of its key and bytes, as maxmemory prices it (as the
 * N = 1 keyspace counts an entry: src/redis/memory.ts ENTRY_OVERHEAD_BYTES).
 */
export const STORED_VALUE_OVERHEAD_BYTES = 48;

export interface StoredHint {
  readonly owner: string;
  readonly key: Uint8Array;
  readonly state: Uint8Array;
}

/**
 * A page of values in token order and the position where the next page starts (null: no more):
 * opaque bytes that begin with a token's 8 bytes (valuePosition, or a place between two values).
 */
export interface ValuePage {
  readonly entries: ReadonlyArray<{ readonly key: Uint8Array; readonly state: Uint8Array }>;
  readonly next: Uint8Array | null;
}

/** One stored row of a decomposed collection: its element and its bytes (decomposed-codec.ts). */
export interface StoredRow {
  readonly element: Uint8Array;
  readonly row: Uint8Array;
}

/** Rows of one key in element order, and where the next page starts (scanRows says how). */
export interface StoredRowPage {
  readonly entries: readonly StoredRow[];
  readonly next: Uint8Array | null;
}

export interface ReplicaStore {
  get(key: Uint8Array): Uint8Array | undefined;
  /**
   * Values in token order (see the header) from `from` (null: the first; bytes: a position, an
   * earlier page's `next` or a key's valuePosition, inclusive; a number: the first value whose
   * token, as an unsigned 64-bit number, is >= it), at
   * most `countMax`, and none after the one whose state bytes reach `bytesMax` (default: no byte
   * bound) (fewer, even none, with a non-null `next` when the store bounds the work of one call).
   * Anti-entropy pages through every value with it; a write between pages may or may not be seen.
   */
  scanValues(from: Uint8Array | bigint | null, countMax: number, bytesMax?: number): ValuePage;
  put(key: Uint8Array, state: Uint8Array): void;
  /** Forgets a key's state (tombstone garbage collection: replica.ts). */
  delete(key: Uint8Array): void;
  /** A decomposed collection's header (bytes of decomposed-codec.ts), or undefined. */
  getHeader(key: Uint8Array): Uint8Array | undefined;
  putHeader(key: Uint8Array, header: Uint8Array): void;
  deleteHeader(key: Uint8Array): void;
  getRow(key: Uint8Array, element: Uint8Array): Uint8Array | undefined;
  putRow(key: Uint8Array, element: Uint8Array, row: Uint8Array): void;
  deleteRow(key: Uint8Array, element: Uint8Array): void;
  /**
   * At most `countMax` rows of `key` from element `from` (inclusive) on, in element byte order;
   * `next` is where a following page starts (inclusive: maybe a position between elements, not a
   * stored one), null once the rows are known to be done (a full page may still say non-null).
   */
  scanRows(key: Uint8Array, from: Uint8Array, countMax: number): StoredRowPage;
  /**
   * At most `countMax` rows of `key` whose element is below `before` (null: every row), last
   * first (descending element byte order); `next` is the `before` of the following page (the last
   * element returned), null once the rows are known to be done.
   */
  scanRowsBack(key: Uint8Array, before: Uint8Array | null, countMax: number): StoredRowPage;
  /**
   * Marks a collection as being changed (collection-store.ts: written before its first row of a
   * change, removed after its header), with a note (its schema) for recovery to repair it by.
   */
  markCollection(key: Uint8Array, note: Uint8Array): void;
  unmarkCollection(key: Uint8Array): void;
  /** Every marked collection (what a crash may have left half-written). */
  markedCollections(): Array<{ readonly key: Uint8Array; readonly note: Uint8Array }>;
  /** A small named record of the replica's own (the dot counter reservation: replica.ts). */
  getMeta(name: string): Uint8Array | undefined;
  putMeta(name: string, value: Uint8Array): void;
  getHint(owner: string, key: Uint8Array): Uint8Array | undefined;
  putHint(owner: string, key: Uint8Array, state: Uint8Array): void;
  deleteHint(owner: string, key: Uint8Array): void;
  /** Hints stored (the replica bounds it with dynamoHintsCountMax). */
  readonly hintCount: number;
  /** Every hint, in a deterministic order (by owner, then key). */
  hints(): StoredHint[];
  /**
   * The hints in hints()' order, read a page at a time as the caller goes on (a replay stops at its
   * bound without reading the rest); the hints of an owner `skip` says true of are passed over
   * together (a down owner's range is not read hint by hint).
   */
  hintsLazy(skip: (owner: string) => boolean): Iterable<StoredHint>;
  sync(): void;
}

/** Map key of a byte string: one UTF-16 code unit per byte (lossless, ordered like the bytes). */
export function keyString(key: Uint8Array): string {
  return latin1String(key);
}

/** The inverse of keyString. */
export function keyBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A value's place in scan order: its key's 8 token bytes, then the key. */
export function valuePosition(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + key.length);
  tokenBytesInto(key, out);
  out.set(key, 8);
  return out;
}

/** `prefix` then valuePosition(key), in one array (a store's engine key for the key). */
export function prefixedValuePosition(prefix: number, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + key.length);
  out[0] = prefix;
  tokenBytesInto(key, out, 1);
  out.set(key, 9);
  return out;
}

/** The token of a key as scan order reads it: the unsigned number of its 8 token bytes. */
export function scanToken(key: Uint8Array): bigint {
  const b = new Uint8Array(8);
  tokenBytesInto(key, b);
  return positionToken(b);
}

/** The token a position starts with (unsigned). */
export function positionToken(position: Uint8Array): bigint {
  assert(position.length >= 8, 'a scan position starts with 8 token bytes');
  return (BigInt(readU32BE(position, 0)) << 32n) | BigInt(readU32BE(position, 4));
}

/** The first position of token `token` (unsigned): 8 big-endian bytes. */
export function tokenPosition(token: bigint): Uint8Array {
  assert(token >= 0n && token < 1n << 64n, 'a scan token is an unsigned 64-bit number');
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, token, false);
  return out;
}

/** A page of values whose tokens are whole: no token's values are split between two pages. */
export interface TokenPage {
  readonly entries: ReadonlyArray<{ readonly key: Uint8Array; readonly state: Uint8Array }>;
  /** The token the next page starts at; null when the scan reached the end. Always > `from`. */
  readonly next: bigint | null;
}

/**
 * The values from token `from` on, about `countMax` of them, cut at a token boundary so a cursor
 * that is a token (Redis' SCAN: a number) loses nothing and repeats nothing: a page whose last
 * values share a token with the next value leaves them to the next page. The page goes on past
 * `countMax` (or `bytesMax` state bytes, passed to scanValues) only while every value it holds shares
 * one token (a 64-bit hash collision of more than `countMax` keys) or the store bounded a call's
 * work before reaching a new token.
 */
export function tokenPage(store: ReplicaStore, from: bigint, countMax: number, bytesMax?: number): TokenPage {
  assert(countMax >= 1, 'page count must be positive');
  const entries: Array<{ key: Uint8Array; state: Uint8Array; token: bigint }> = [];
  let at: Uint8Array | bigint = from;
  for (;;) {
    const page = store.scanValues(at, countMax, bytesMax);
    for (const e of page.entries) entries.push({ key: e.key, state: e.state, token: scanToken(e.key) });
    if (page.next === null) return { entries, next: null };
    const nextToken = positionToken(page.next);
    let keep = entries.length;
    while (keep > 0 && entries[keep - 1]!.token === nextToken) keep--;
    // Something whole to give, and a token past `from` to resume at: cut there.
    if (keep > 0 && nextToken > from) return { entries: entries.slice(0, keep), next: nextToken };
    if (entries.length === 0 && nextToken > from) return { entries, next: nextToken };
    at = page.next;
  }
}

/**
 * The length of a row's storage key in the engine (LsmReplicaStore: a prefix byte, the token, the
 * key escaped and terminated as src/storage/lsm/keys.ts lays a collection out, then the element):
 * at most limits.lsmKeyBytesMax, or putRow throws a LimitError.
 */
export function rowKeyBytes(key: Uint8Array, element: Uint8Array): number {
  let n = 1 + 8 + key.length + 2 + element.length;
  for (let i = 0; i < key.length; i++) if (key[i] === 0) n++;
  return n;
}

interface Tables {
  values: Map<string, Uint8Array>;
  meta: Map<string, Uint8Array>;
  /** owner + '\0' + key string. Node ids hold no NUL (they are UTF-8 names). */
  hints: Map<string, Uint8Array>;
  headers: Map<string, Uint8Array>;
  marks: Map<string, Uint8Array>;
  /** key string -> element string -> row. */
  rows: Map<string, Map<string, Uint8Array>>;
}

const emptyTables = (): Tables => ({
  values: new Map(),
  meta: new Map(),
  hints: new Map(),
  headers: new Map(),
  marks: new Map(),
  rows: new Map(),
});

const copy = (t: Tables): Tables => ({
  values: new Map(t.values),
  meta: new Map(t.meta),
  hints: new Map(t.hints),
  headers: new Map(t.headers),
  marks: new Map(t.marks),
  rows: new Map([...t.rows].map(([k, m]) => [k, new Map(m)])),
});
const hintId = (owner: string, key: Uint8Array): string => `${owner}\0${keyString(key)}`;

/**
 * An in-memory ReplicaStore whose crash() loses what was not synced (tests, simulator). Writes
 * apply to the live tables and go to a journal that sync() replays onto the durable ones, so a
 * sync costs the writes since the last one, not the store's size.
 */
export class MemoryReplicaStore implements ReplicaStore {
  private live: Tables = emptyTables();
  private durable: Tables = emptyTables();
  private journal: ((t: Tables) => void)[] = [];
  /** Whether a write happened since the last sync (a test checks the driver synced). */
  dirty = false;
  /** live.values' keys' positions (valuePosition as a key string) in order, rebuilt after a new key or a crash. */
  private sorted: string[] | undefined;
  /** Each key's row elements in order, rebuilt after a new or removed element or a crash. */
  private sortedRows = new Map<string, string[]>();

  /** Applies a write to the live tables and journals it for the durable ones. */
  private record(op: (t: Tables) => void): void {
    op(this.live);
    this.journal.push(op);
    this.dirty = true;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.live.values.get(keyString(key));
  }

  put(key: Uint8Array, state: Uint8Array): void {
    const k = keyString(key);
    if (!this.live.values.has(k)) this.sorted = undefined;
    this.record((t) => t.values.set(k, state));
  }

  delete(key: Uint8Array): void {
    const k = keyString(key);
    if (!this.live.values.has(k)) return;
    this.sorted = undefined;
    this.record((t) => t.values.delete(k));
  }

  getHeader(key: Uint8Array): Uint8Array | undefined {
    return this.live.headers.get(keyString(key));
  }

  putHeader(key: Uint8Array, header: Uint8Array): void {
    const k = keyString(key);
    this.record((t) => t.headers.set(k, header));
  }

  deleteHeader(key: Uint8Array): void {
    const k = keyString(key);
    if (this.live.headers.has(k)) this.record((t) => t.headers.delete(k));
  }

  getRow(key: Uint8Array, element: Uint8Array): Uint8Array | undefined {
    return this.live.rows.get(keyString(key))?.get(keyString(element));
  }

  putRow(key: Uint8Array, element: Uint8Array, row: Uint8Array): void {
    const bytes = rowKeyBytes(key, element);
    if (bytes > limits.lsmKeyBytesMax) throw new LimitError('lsmKeyBytesMax', `a row key of ${bytes} bytes`);
    const k = keyString(key);
    const e = keyString(element);
    if (this.live.rows.get(k)?.has(e) !== true) this.sortedRows.delete(k);
    this.record((t) => {
      let rows = t.rows.get(k);
      if (rows === undefined) t.rows.set(k, (rows = new Map()));
      rows.set(e, row);
    });
  }

  deleteRow(key: Uint8Array, element: Uint8Array): void {
    const k = keyString(key);
    const e = keyString(element);
    if (this.live.rows.get(k)?.has(e) !== true) return;
    this.sortedRows.delete(k);
    this.record((t) => {
      const rows = t.rows.get(k);
      if (rows?.delete(e) === true && rows.size === 0) t.rows.delete(k);
    });
  }

  scanRows(key: Uint8Array, from: Uint8Array, countMax: number): StoredRowPage {
    assert(countMax >= 1, 'scan count must be positive');
    const k = keyString(key);
    const rows = this.live.rows.get(k);
    if (rows === undefined) return { entries: [], next: null };
    const elements = this.sortedElements(k, rows);
    const i = lowerBound(elements, keyString(from));
    const end = Math.min(elements.length, i + countMax);
    const entries: StoredRow[] = [];
    for (let j = i; j < end; j++) entries.push({ element: keyBytes(elements[j]!), row: rows.get(elements[j]!)! });
    return { entries, next: end < elements.length ? keyBytes(elements[end]!) : null };
  }

  /** The elements of key `k`'s rows, sorted (kept until a row of the key is written). */
  private sortedElements(k: string, rows: ReadonlyMap<string, Uint8Array>): string[] {
    let elements = this.sortedRows.get(k);
    if (elements === undefined) this.sortedRows.set(k, (elements = [...rows.keys()].sort()));
    return elements;
  }

  scanRowsBack(key: Uint8Array, before: Uint8Array | null, countMax: number): StoredRowPage {
    assert(countMax >= 1, 'scan count must be positive');
    const k = keyString(key);
    const rows = this.live.rows.get(k);
    if (rows === undefined) return { entries: [], next: null };
    const elements = this.sortedElements(k, rows);
    const i = before === null ? elements.length : lowerBound(elements, keyString(before));
    const first = Math.max(0, i - countMax);
    const entries: StoredRow[] = [];
    for (let j = i - 1; j >= first; j--)
      entries.push({ element: keyBytes(elements[j]!), row: rows.get(elements[j]!)! });
    return { entries, next: first > 0 ? keyBytes(elements[first]!) : null };
  }

  markCollection(key: Uint8Array, note: Uint8Array): void {
    const k = keyString(key);
    this.record((t) => t.marks.set(k, note));
  }

  unmarkCollection(key: Uint8Array): void {
    const k = keyString(key);
    if (this.live.marks.has(k)) this.record((t) => t.marks.delete(k));
  }

  markedCollections(): Array<{ readonly key: Uint8Array; readonly note: Uint8Array }> {
    return [...this.live.marks]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, note]) => ({ key: keyBytes(k), note }));
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.live.meta.get(name);
  }

  putMeta(name: string, value: Uint8Array): void {
    this.record((t) => t.meta.set(name, value));
  }

  scanValues(from: Uint8Array | bigint | null, countMax: number, bytesMax = Number.POSITIVE_INFINITY): ValuePage {
    assert(countMax >= 1, 'scan count must be positive');
    this.sorted ??= [...this.live.values.keys()].map((k) => keyString(valuePosition(keyBytes(k)))).sort();
    const keys = this.sorted;
    let i = 0;
    if (from !== null) {
      const f = keyString(typeof from === 'bigint' ? tokenPosition(from) : from);
      let hi = keys.length;
      while (i < hi) {
        const mid = (i + hi) >>> 1;
        if (keys[mid]! < f) i = mid + 1;
        else hi = mid;
      }
    }
    const entries: Array<{ key: Uint8Array; state: Uint8Array }> = [];
    let bytes = 0;
    for (; i < keys.length && entries.length < countMax && bytes < bytesMax; i++) {
      const key = keys[i]!.slice(8);
      const state = this.live.values.get(key)!;
      entries.push({ key: keyBytes(key), state });
      bytes += state.length;
    }
    return { entries, next: i < keys.length ? keyBytes(keys[i]!) : null };
  }

  getHint(owner: string, key: Uint8Array): Uint8Array | undefined {
    return this.live.hints.get(hintId(owner, key));
  }

  putHint(owner: string, key: Uint8Array, state: Uint8Array): void {
    assert(!owner.includes('\0'), 'node ids hold no NUL');
    const id = hintId(owner, key);
    this.record((t) => t.hints.set(id, state));
  }

  deleteHint(owner: string, key: Uint8Array): void {
    const id = hintId(owner, key);
    if (this.live.hints.has(id)) this.record((t) => t.hints.delete(id));
  }

  get hintCount(): number {
    return this.live.hints.size;
  }

  *hintsLazy(skip: (owner: string) => boolean): Iterable<StoredHint> {
    for (const h of this.hints()) if (!skip(h.owner)) yield h;
  }

  hints(): StoredHint[] {
    return [...this.live.hints.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, state]) => {
        const cut = id.indexOf('\0');
        return { owner: id.slice(0, cut), key: keyBytes(id.slice(cut + 1)), state };
      });
  }

  /** Every key's value, by key string (tests compare replicas with it). */
  values(): ReadonlyMap<string, Uint8Array> {
    return this.live.values;
  }

  sync(): void {
    for (const op of this.journal) op(this.durable);
    this.journal = [];
    this.dirty = false;
  }

  /** The process died: everything written since the last sync is gone. */
  crash(): void {
    this.sorted = undefined;
    this.sortedRows.clear();
    this.journal = [];
    this.live = copy(this.durable);
    this.dirty = false;
  }
}

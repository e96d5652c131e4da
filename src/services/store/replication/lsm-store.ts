// The durable ReplicaStore (src/dynamo/store.ts) of the Dynamo replica: one LSM engine
// (src/storage/lsm/engine.ts) of its own, in its own directory on the node's Disk.
//
// Layout (engine keys; values are the encoded Versioned states, stored untouched):
//   value  = 't' token:8 key           ; a key's state as this replica holds it, in token order
//                                      ; (store.ts valuePosition: SCAN's cursor is a token)
//   old    = 'v' key                   ; the value layout before token order (bytewise key order):
//                                      ; moved to 't' at open (migrateKeyOrderedValues), then empty
//   hint   = 'h' owner 0x00 key        ; a state held for `owner` (UTF-8 node id, holds no NUL)
//   paxos  = 'p' key                   ; the key's Paxos acceptor state (SERIAL; src/dynamo/paxos.ts)
//   meta   = 'm' name                  ; "incarnation": the last life's number, decimal ASCII;
//                                      ; other names: the replica's own records (getMeta/putMeta)
//   header = 'c' token:8 key           ; a decomposed collection's header (src/crdt/decomposed.ts)
//   mark   = 'd' token:8 key           ; a collection being changed (collection-store.ts): its note
//   row    = 'r' token:8 escaped(key) 0x00 0x01 element
//                                      ; one of its rows: the key escaped and terminated as the
//                                      ; Redis keyspace lays a collection out (src/storage/lsm/
//                                      ; keys.ts collectionPrefix), so a key's rows are one range
//                                      ; in element order and no key's range holds another's
// A deleted value (tombstone garbage collection) is an engine tombstone too.
// Why one engine with two key ranges, not two engines: the replica's contract is "one sync()
// makes every earlier write durable", and one commit log gives that with one fdatasync per step
// whatever mix of value and hint writes the step made (a hint moved into a value by a replay is
// one group commit, not two that a crash could split). Why its own directory, not the Redis
// keyspace's engine (src/storage/lsm/keys.ts): a replicated key's state is a set of siblings with
// dots, not a Redis head record, and the two must not read each other's entries.
//
// Contract kept (store.ts): reads see unsynced writes (the memtable); sync() is the engine's
// group commit (policy 'periodic': apply buffers, sync makes durable); a crash loses at most the
// writes since the last sync, and recovery on reopen is the engine's (a prefix of the writes in
// apply order). hintCount is counted once at open by a scan of the hint range, then kept by each
// putHint / deleteHint (both look the hint up first, so a replace or a repeated delete counts
// nothing). A deleted hint is an engine tombstone; a value is deleted only by the replica's tombstone
// garbage collection (a Dynamo delete is a tombstone sibling inside the state until then).
// Failures: the engine throws a disk error (poisoned) or a LimitError (a state over the engine's
// value bound); both propagate: the node stops and restarts from what was synced.

import type { Clock, Disk, Logger, Metrics } from '../../../env/types.ts';
import { assert } from '../../../lib/assert.ts';
import { utf8ByteLength } from '../../../lib/bytes.ts';
import { CorruptionError } from '../../../lib/errors.ts';
import { limits } from '../../../lib/limits.ts';
import type { PaxosStore } from '../../../dynamo/paxos.ts';
import { DOT_COUNTER_META } from '../../../dynamo/replica.ts';
import {
  type ReplicaStore,
  type StoredHint,
  type StoredRowPage,
  scanToken,
  tokenPosition,
  type ValuePage,
  prefixedValuePosition,
} from '../../../dynamo/store.ts';
import { collectionPrefix } from '../../../storage/lsm/keys.ts';
import { LsmEngine, type LsmOptions } from '../../../storage/lsm/engine.ts';
import { Versioned } from '../../../dynamo/versions.ts';

const VALUE_PREFIX = 0x74; // 't'
const OLD_VALUE_PREFIX = 0x76; // 'v'
const HINT_PREFIX = 0x68; // 'h'
/** Hints hintsLazy reads per engine scan (a replay sends at most dynamoHintReplaysCountMax). */
const HINT_PAGE_COUNT = 64;
const PAXOS_PREFIX = 0x70; // 'p'
const INCARNATION_KEY = new TextEncoder().encode('mincarnation');
/** Meta name of the replica id recorded for every life of a store made after its node lost data (service.ts). */
const ACTOR_META = 'actor';
/** Present once this store lost its data: its Paxos acceptor learns each key before answering for it. */
const PAXOS_AMNESIAC_META = 'paxos-amnesiac';
/** Written at a first bootstrap into an empty store: a later start that finds the store empty lost it. */
const BORN_META = 'born';
const META_PREFIX = 0x6d; // 'm'
const HEADER_PREFIX = 0x63; // 'c'
const ROW_PREFIX = 0x72; // 'r'
const MARK_PREFIX = 0x64; // 'd'
const metaKey = (name: string): Uint8Array => prefixed(META_PREFIX, utf8.encode(name));
const utf8 = new TextEncoder();
const text = new TextDecoder('utf-8', { fatal: true });

export interface LsmReplicaStoreOptions {
  /** The engine's directory on the node's Disk (default `dynamo`). */
  readonly dir?: string;
  /** How long a deleted hint's tombstone is kept before compaction may drop it (default 60 s). */
  readonly tombstoneGraceMs?: number;
  /** Engine options for tests (small memtables, so flushes and compactions happen). */
  readonly engine?: Partial<Omit<LsmOptions, 'dir' | 'sync' | 'tombstoneGraceMs'>>;
}

export interface LsmReplicaStoreComponents {
  readonly disk: Disk;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
}

function prefixed(prefix: number, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = prefix;
  out.set(key, 1);
  return out;
}

const valueKey = (key: Uint8Array): Uint8Array => prefixedValuePosition(VALUE_PREFIX, key);
const markKey = (key: Uint8Array): Uint8Array => prefixedValuePosition(MARK_PREFIX, key);
/** The engine key range prefix of a key's rows ('r' token escaped(key) terminator). */
const rowsPrefix = (key: Uint8Array): Uint8Array => prefixed(ROW_PREFIX, collectionPrefix(scanToken(key), key));

function rowKey(key: Uint8Array, element: Uint8Array, prefix = rowsPrefix(key)): Uint8Array {
  const out = new Uint8Array(prefix.length + element.length);
  out.set(prefix);
  out.set(element, prefix.length);
  return out;
}

/** The first byte string after every one that starts with `prefix` (its first byte is below 0xff). */
function prefixEnd(prefix: Uint8Array): Uint8Array {
  const out = prefix.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]!++;
      return out.subarray(0, i + 1);
    }
  }
  assert(false, 'a rows prefix starts with a byte below 0xff');
}
/** Where a value's engine key ('t' token:8 key) holds the key's bytes. */
const VALUE_KEY_KEY_AT = 9;
/** The key of a value's engine key. */
const keyOfValueKey = (k: Uint8Array): Uint8Array => k.subarray(VALUE_KEY_KEY_AT);

function hintKey(owner: string, key: Uint8Array): Uint8Array {
  assert(!owner.includes('\0') && owner.length > 0, 'node ids are non-empty and hold no NUL');
  const id = utf8.encode(owner);
  const out = new Uint8Array(1 + id.length + 1 + key.length);
  out[0] = HINT_PREFIX;
  out.set(id, 1);
  out[1 + id.length] = 0;
  out.set(key, 2 + id.length);
  return out;
}

/** Splits an engine key of the hint range; undefined for bytes this store never wrote. */
function parseHintKey(k: Uint8Array): { owner: string; key: Uint8Array } | undefined {
  const cut = k.indexOf(0, 1);
  if (k[0] !== HINT_PREFIX || cut <= 1) return undefined;
  try {
    return { owner: text.decode(k.subarray(1, cut)), key: k.slice(cut + 1) };
  } catch {
    return undefined;
  }
}

/**
 * One key's engine keys (LsmReplicaStore.keysOf): the value's made at once (it holds the key's
 * bytes from VALUE_KEY_KEY_AT, so it is what the next key is compared with), the header's from it
 * on first use (the same bytes under another prefix: no second hash).
 */
class EngineKeys {
  value: Uint8Array | undefined;
  private header_: Uint8Array | undefined;

  reset(key: Uint8Array): void {
    this.value = valueKey(key);
    this.header_ = undefined;
  }

  /** Whether these are `key`'s engine keys. */
  holds(key: Uint8Array): boolean {
    const v = this.value;
    if (v === undefined || v.length !== VALUE_KEY_KEY_AT + key.length) return false;
    for (let i = 0; i < key.length; i++) if (v[VALUE_KEY_KEY_AT + i] !== key[i]) return false;
    return true;
  }

  get header(): Uint8Array {
    if (this.header_ === undefined) {
      this.header_ = this.value!.slice();
      this.header_[0] = HEADER_PREFIX;
    }
    return this.header_;
  }
}

export class LsmReplicaStore implements ReplicaStore {
  private hints_ = 0;
  /** The Paxos acceptor's states, in the same engine: one sync covers a step's writes of both. */
  readonly paxos: PaxosStore = {
    get: (key) => this.engine.get(prefixed(PAXOS_PREFIX, key))?.value,
    put: (key, state) => this.engine.put(prefixed(PAXOS_PREFIX, key), state),
    sync: () => this.engine.sync(),
  };

  private constructor(
    private readonly engine: LsmEngine,
    private readonly clock: Clock,
  ) {}

  /** Opens (or creates) the store and recovers it: the engine replays its log, hints are counted. */
  static open(components: LsmReplicaStoreComponents, options: LsmReplicaStoreOptions = {}): LsmReplicaStore {
    // Rows are keyed by their element, bounded only by the engine's own key bound (rowKeyBytes).
    const keyBytesMax = limits.lsmKeyBytesMax;
    assert(
      Math.max(2 + limits.nodeIdBytesMax, 9) + limits.kvKeyBytesMax <= keyBytesMax,
      'a hint key and a value key fit an engine key',
    );
    const engine = LsmEngine.open(components, {
      keyBytesMax,
      ...options.engine,
      dir: options.dir ?? 'dynamo',
      sync: 'periodic',
      tombstoneGraceMs: options.tombstoneGraceMs ?? 60_000,
    });
    const store = new LsmReplicaStore(engine, components.clock);
    const moved = store.migrateKeyOrderedValues();
    if (moved > 0) components.log.info({ values: moved }, 'replica store: values moved to token order');
    for (const _ of store.hintsLazy(() => false)) store.hints_++; // counted, not held
    return store;
  }

  /**
   * The engine keys of the key used last, made once: a write reads the key's value and header,
   * then puts its value (three keys of 9 + key bytes). The value key holds a copy of the key's
   * bytes, which the next key is compared with, so a caller reusing its bytes is never answered for
   * the old key; the engine keeps no key it is given (it copies into its log and memtable), so
   * handing the same array out is safe.
   */
  private readonly lastKeys = new EngineKeys();

  private keysOf(key: Uint8Array): EngineKeys & { readonly value: Uint8Array } {
    const k = this.lastKeys;
    if (!k.holds(key)) k.reset(key);
    return k as EngineKeys & { readonly value: Uint8Array };
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.engine.get(this.keysOf(key).value)?.value;
  }

  put(key: Uint8Array, state: Uint8Array): void {
    this.engine.put(this.keysOf(key).value, state);
  }

  delete(key: Uint8Array): void {
    this.deleteIfHeld(this.keysOf(key).value);
  }

  /** An engine tombstone for `k`, only if it holds a value (a delete of nothing writes nothing). */
  private deleteIfHeld(k: Uint8Array): void {
    if (this.engine.get(k) !== undefined) this.engine.delete(k, Math.floor(this.clock.wallMs()));
  }

  getHeader(key: Uint8Array): Uint8Array | undefined {
    return this.engine.get(this.keysOf(key).header)?.value;
  }

  putHeader(key: Uint8Array, header: Uint8Array): void {
    this.engine.put(this.keysOf(key).header, header);
  }

  deleteHeader(key: Uint8Array): void {
    this.deleteIfHeld(this.keysOf(key).header);
  }

  getRow(key: Uint8Array, element: Uint8Array): Uint8Array | undefined {
    return this.engine.get(rowKey(key, element))?.value;
  }

  /** A row key past the engine's key bound (rowKeyBytes) is the engine's LimitError, nothing written. */
  putRow(key: Uint8Array, element: Uint8Array, row: Uint8Array): void {
    this.engine.put(rowKey(key, element), row);
  }

  deleteRow(key: Uint8Array, element: Uint8Array): void {
    this.deleteIfHeld(rowKey(key, element));
  }

  scanRows(key: Uint8Array, from: Uint8Array, countMax: number): StoredRowPage {
    assert(countMax >= 1, 'scan count must be positive');
    const prefix = rowsPrefix(key);
    const end = prefixEnd(prefix);
    const entries: { element: Uint8Array; row: Uint8Array }[] = [];
    let start: Uint8Array | null = rowKey(key, from, prefix);
    // The engine bounds one scan's work: page on until countMax rows or the key's range ends.
    while (start !== null && entries.length < countMax) {
      const page = this.engine.scan({ start, end, limit: countMax - entries.length });
      for (const e of page.entries) entries.push({ element: e.key.slice(prefix.length), row: e.value });
      start = page.next;
    }
    return { entries, next: start === null ? null : start.slice(prefix.length) };
  }

  scanRowsBack(key: Uint8Array, before: Uint8Array | null, countMax: number): StoredRowPage {
    assert(countMax >= 1, 'scan count must be positive');
    const prefix = rowsPrefix(key);
    const entries: { element: Uint8Array; row: Uint8Array }[] = [];
    let end: Uint8Array | null = before === null ? prefixEnd(prefix) : rowKey(key, before, prefix);
    // Backwards from `before` (the engine's reverse scan: each page's next is its exclusive end).
    while (end !== null && entries.length < countMax) {
      const page = this.engine.scan({ start: prefix, end, limit: countMax - entries.length, reverse: true });
      for (const e of page.entries) entries.push({ element: e.key.slice(prefix.length), row: e.value });
      end = page.next;
    }
    return { entries, next: end === null ? null : end.slice(prefix.length) };
  }

  markCollection(key: Uint8Array, note: Uint8Array): void {
    this.engine.put(markKey(key), note);
  }

  unmarkCollection(key: Uint8Array): void {
    this.deleteIfHeld(markKey(key));
  }

  markedCollections(): Array<{ readonly key: Uint8Array; readonly note: Uint8Array }> {
    const out: Array<{ key: Uint8Array; note: Uint8Array }> = [];
    const end = Uint8Array.of(MARK_PREFIX + 1);
    let start: Uint8Array | null = Uint8Array.of(MARK_PREFIX);
    while (start !== null) {
      const page = this.engine.scan({ start, end });
      for (const e of page.entries) out.push({ key: e.key.slice(9), note: e.value });
      start = page.next;
    }
    return out;
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.engine.get(metaKey(name))?.value;
  }

  putMeta(name: string, value: Uint8Array): void {
    this.engine.put(metaKey(name), value);
  }

  scanValues(from: Uint8Array | bigint | null, countMax: number, bytesMax?: number): ValuePage {
    assert(countMax >= 1, 'scan count must be positive');
    const start =
      from === null
        ? Uint8Array.of(VALUE_PREFIX)
        : typeof from === 'bigint'
          ? prefixed(VALUE_PREFIX, tokenPosition(from))
          : prefixed(VALUE_PREFIX, from);
    const page = this.engine.scan({
      start,
      end: Uint8Array.of(VALUE_PREFIX + 1),
      limit: countMax,
      ...(bytesMax === undefined ? {} : { bytesMax }),
    });
    return {
      entries: page.entries.map((e) => ({ key: keyOfValueKey(e.key), state: e.value })),
      next: page.next === null ? null : page.next.subarray(1),
    };
  }

  /**
   * Moves values of the old layout ('v' key, bytewise key order) to token order, page by page, then
   * syncs: a store written before token order opens with every value it held (merged with a
   * token-order state of the same key, should one exist). A crash in between
   * leaves some values in each range; the next open moves the rest (a value is put at its new
   * place before its old entry is deleted, and nothing else writes during open). Returns how many
   * values moved.
   */
  private migrateKeyOrderedValues(): number {
    const end = Uint8Array.of(OLD_VALUE_PREFIX + 1);
    let start: Uint8Array | null = Uint8Array.of(OLD_VALUE_PREFIX);
    let moved = 0;
    const nowMs = Math.floor(this.clock.wallMs());
    while (start !== null) {
      const page = this.engine.scan({ start, end });
      for (const e of page.entries) {
        // A value already in token order (an older binary wrote 'v' again after a move, then this
        // one opened): the two states merge, as replicas merge, so neither side's writes are lost.
        const to = valueKey(e.key.subarray(1));
        const there = this.engine.get(to)?.value;
        const state = there === undefined ? e.value : Versioned.decode(e.value).merge(Versioned.decode(there)).encode();
        this.engine.put(to, state);
        this.engine.delete(e.key, nowMs);
        moved++;
      }
      start = page.next;
    }
    if (moved > 0) this.engine.sync();
    return moved;
  }

  getHint(owner: string, key: Uint8Array): Uint8Array | undefined {
    return this.engine.get(hintKey(owner, key))?.value;
  }

  putHint(owner: string, key: Uint8Array, state: Uint8Array): void {
    assert(utf8ByteLength(owner) <= limits.nodeIdBytesMax, 'node id over nodeIdBytesMax');
    const k = hintKey(owner, key);
    const held = this.engine.get(k) !== undefined;
    this.engine.put(k, state);
    if (!held) this.hints_++;
  }

  deleteHint(owner: string, key: Uint8Array): void {
    const k = hintKey(owner, key);
    if (this.engine.get(k) === undefined) return;
    this.engine.delete(k, Math.floor(this.clock.wallMs()));
    this.hints_--;
  }

  get hintCount(): number {
    return this.hints_;
  }

  hints(): StoredHint[] {
    return [...this.hintsLazy(() => false)];
  }

  /** Hints in engine key order: by owner's UTF-8 bytes, then key, a page of HINT_PAGE_COUNT at a time. */
  *hintsLazy(skip: (owner: string) => boolean): Iterable<StoredHint> {
    const end = Uint8Array.of(HINT_PREFIX + 1);
    let start: Uint8Array | null = Uint8Array.of(HINT_PREFIX);
    while (start !== null) {
      // Bounded in bytes too: 64 hint states of up to dynamoMergedStateBytesMax each (an audit).
      const page = this.engine.scan({ start, end, limit: HINT_PAGE_COUNT, bytesMax: limits.dynamoMovePageBytesMax });
      let next = page.next;
      for (const e of page.entries) {
        const parsed = parseHintKey(e.key);
        assert(parsed !== undefined, 'the hint range holds only hint keys');
        if (skip(parsed.owner)) {
          // Past every key of this owner: its id, then a byte above the 0 that ends it.
          const id = utf8.encode(parsed.owner);
          next = Uint8Array.of(HINT_PREFIX, ...id, 1);
          break;
        }
        yield { owner: parsed.owner, key: parsed.key, state: e.value };
      }
      start = next;
    }
  }

  sync(): void {
    this.engine.sync();
  }

  /**
   * This life's number: one more than the last one recorded, recorded and synced before it is
   * returned, so no two lives of this store ever get the same number (the driver's actor ids under
   * a sync policy that may lose acknowledged writes: driver.ts), and above `floor` (a store that
   * lost its data numbers from a random base: service.ts replicaActorId). A record that does not
   * parse is a corruption and throws.
   */
  bumpIncarnation(floor = 0): number {
    const held = this.engine.get(INCARNATION_KEY)?.value;
    let last = floor;
    if (held !== undefined) {
      const text = new TextDecoder().decode(held);
      if (!/^[0-9]{1,15}$/.test(text)) {
        throw new CorruptionError(`replica store: incarnation record ${JSON.stringify(text.slice(0, 20))} is corrupt`);
      }
      last = Math.max(floor, Number(text));
    }
    const next = last + 1;
    this.engine.put(INCARNATION_KEY, utf8.encode(String(next)));
    this.engine.sync();
    return next;
  }

  /**
   * Whether this store has never written under a replica id: no dot counter reserved, no life
   * numbered, no actor recorded (a new store, or one wiped with its node's data).
   */
  get fresh(): boolean {
    return !this.livesNumbered && this.getMeta(DOT_COUNTER_META) === undefined && this.recordedActor === undefined;
  }

  /** Whether this store numbers its lives (it ran under a sync policy that may lose writes). */
  get livesNumbered(): boolean {
    return this.engine.get(INCARNATION_KEY) !== undefined;
  }

  /** The replica id recorded for every life of this store (undefined: none recorded, the node id). */
  get recordedActor(): string | undefined {
    const held = this.getMeta(ACTOR_META);
    return held === undefined ? undefined : new TextDecoder().decode(held);
  }

  /** Records (and syncs) the replica id every life of this store writes under. */
  recordActor(actor: string): void {
    this.putMeta(ACTOR_META, utf8.encode(actor));
    this.engine.sync();
  }

  /** Whether the store holds nothing at all (no entry, dead ones included): a new store, or a wiped one. */
  get empty(): boolean {
    return this.engine.scan({ start: new Uint8Array(0), end: null, limit: 1, includeDead: true }).entries.length === 0;
  }

  /** Whether this store lost its data once (markPaxosAmnesiac): kept for every later life. */
  get paxosAmnesiac(): boolean {
    return this.getMeta(PAXOS_AMNESIAC_META) !== undefined;
  }

  /** Records (and syncs) that this store began at its node's first bootstrap. */
  markBorn(): void {
    this.putMeta(BORN_META, Uint8Array.of(1));
    this.engine.sync();
  }

  /** Records (and syncs) that this store lost its data: Paxos promises and accepts it held are forgotten. */
  markPaxosAmnesiac(): void {
    this.putMeta(PAXOS_AMNESIAC_META, Uint8Array.of(1));
    this.engine.sync();
  }

  /** Clean shutdown: syncs and closes the engine. */
  close(): void {
    this.engine.close();
  }
}

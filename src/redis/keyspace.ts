// The typed Redis keyspace over one LSM engine (src/storage/lsm/engine.ts), laid out as
// src/storage/lsm/keys.ts says: one head entry per key (meta = [version, type tag], value per
// type, expiry = the head's absolute expiresAtMs) and one entry per collection element. The
// token of a key is Murmur3 of its bytes (src/dynamo/partitioner.ts tokenOf); Redis hash tags
// ({...}) are not applied here.
//
// One command, one batch: every write a command makes is staged in `pending` and applied by
// `endCommand()` as ONE `engine.apply` call, so a crash keeps all of a command or none of it
// (the engine recovers a prefix of its batches). Reads inside the command see its staged writes
// first (getHead, getElement, scanElements and the key walks merge `pending` over the engine).
// The server calls `endCommand()` after every command and `sync()` for its group commit
// (src/redis/command.ts has the per-command contract). A command whose staged writes would pass
// `batchBytesMax` (limits.redisCommandBatchBytesMax, under the commit log's pending buffer) is
// refused with a KeyspaceLimitError before anything is applied: e.g. RENAME of a large collection,
// or (without lazyElementDeletes, below) DEL of a collection of ~500,000 small elements (a
// tombstone per element). Redis has no such bound.
//
// Expiry is lazy and judged at the command's `nowMs` (not the engine's clock): a head whose
// expiresAtMs <= nowMs reads as absent. Element entries carry no expiry; they are reached only
// through a live head. Stale elements (of an expired or deleted collection whose head the
// engine's compaction dropped, or left behind for any reason) are harmless while the head is
// absent or a string, and are removed whenever a head is created or changes type (`putHead`
// clears the key's element range when the old or the new type is a collection), so a new
// collection never sees an old one's elements. Creating a collection therefore costs one range
// scan; creating a string costs none unless the old head (live or dead) was a collection. Expired
// keys and stale elements take space until `reclaimExpired` (the server's active-expiry timer)
// or a write of the key removes them.
//
// Whole-key delete (`deleteKey`, also used by overwrite, RENAME, expire-in-the-past): a tombstone
// on the head and one per element (a scan of the key's collectionRange), all in the command's
// batch: O(elements) writes. With `lazyElementDeletes` (the node's keyspace at N = 1, since
// 2026-12-07), the delete examines at most EAGER_ENTRIES elements and stages at most a quarter of
// the batch: the head's tombstone hides the rest at once (the key is gone for every read), and the
// rest is left to `cleanupStep` (the sweep, Redis' lazyfree), which resumes each registered key
// where its last step stopped; keys not registered (a restart, the registry full) are found by
// `reclaimExpired`'s walk under a deleted or string head, one seek past their tombstones. A SET
// over a collection leaves its elements so too. A collection created over leftovers removes them
// in its own batch (a new collection never sees an old one's elements), so it is refused until
// they fit: before, a DEL or an expiry of a collection whose tombstones passed the batch
// (~500,000 small elements) was refused for good, and the expired collection stayed on disk.
//
// DBSIZE (`size`) and INFO's expires: the dataset account (memory.ts) counts heads and heads with
// a deadline per token bucket, fed by every write and corrected by the sweep's recount passes (the
// engine's compaction drops expired heads silently, so write deltas alone would drift). Once every
// bucket is counted and the keyspace holds more than limits.redisCountWalkKeysMax keys, DBSIZE is
// that count, O(buckets): expired keys included until the sweep reclaims them, as Redis counts
// them until its expiry cycle does (ours walks every key, so on a large keyspace that is later
// than Redis'). Below the bound, or before the first pass, a walk of the heads: O(keys) engine
// seeks, exact for the command's nowMs. Measured before the count: DBSIZE and INFO keyspace
// (which ioredis sends on every connect) of a million keys took 1.5 s each, the node stalled.
//
// SCAN cursors: Redis clients parse the cursor as an unsigned 64-bit decimal (redis-cli's
// strtoull), so a cursor is the storage token (u64, keys.ts' first 8 bytes) where the next page
// starts; 0 = the start, and a reply cursor of 0 = done. A page always ends at a token boundary
// (every key of a token is returned in the same page: keys share a token only on a 64-bit hash
// collision), so the pages' token ranges [0, c1), [c1, c2), ... cover the whole token space
// once: every key present for the whole scan is returned at least once (exactly once, unless it
// is deleted and re-created), and a key never present is never returned. COUNT bounds the live
// heads a page visits (MATCH and TYPE filter after, as in Redis); a page also returns after
// scanStepEntriesMax engine entries examined, possibly empty, with a non-zero cursor.

import { tokenBytesInto } from '../dynamo/partitioner.ts';
import { bytesEqual, concatBytes } from '../lib/bytes.ts';
import { lowerBoundWhere } from '../lib/sorted.ts';
import { LimitError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import type { LsmEngine, Write } from '../storage/lsm/engine.ts';
import { compareKeys, type Entry, EntryKind, keyString } from '../storage/lsm/entry.ts';
import {
  collectionPrefix,
  decodeStorageKey,
  headKey,
  prefixEnd,
  storageKeyOf,
  tokenStart,
} from '../storage/lsm/keys.ts';
import type { AccessSketch } from './eviction.ts';
import { BUCKET_COUNT, bucketOf, DatasetAccount, entryBytes, type Tally } from './memory.ts';

/** What the keyspace needs of the engine (LsmEngine satisfies it; tests may wrap one). */
export type KeyspaceEngine = Pick<
  LsmEngine,
  'apply' | 'getEntry' | 'scan' | 'sync' | 'truncate' | 'durableSeq' | 'lastAppliedSeq'
>;

/** Redis' type tags (server.h OBJ_STRING ... OBJ_HASH), the second byte of a head's meta. */
export const RedisTypeTag = { string: 0, list: 1, set: 2, zset: 3, hash: 4 } as const;
export type RedisType = keyof typeof RedisTypeTag;
const typeByTag: readonly RedisType[] = ['string', 'list', 'set', 'zset', 'hash'];

/** The first byte of a head's meta: the layout version of its value. */
export const HEAD_META_VERSION = 1;

/** A live key's head. */
export interface Head {
  readonly type: RedisType;
  /** string: the string; hash/set/zset: member count; list: (leftPos, rightPos) (keys.ts). */
  readonly value: Uint8Array;
  /** Absolute deadline in epoch ms; 0 = no expiry. */
  readonly expiresAtMs: number;
}

export interface Element {
  readonly sub: Uint8Array;
  readonly value: Uint8Array;
}

export interface KeyspaceOptions {
  /** Staged bytes of one command's batch at most (default limits.redisCommandBatchBytesMax). */
  readonly batchBytesMax?: number;
  /** Longest string value (APPEND, SETRANGE; default limits.redisStringBytesMax). */
  readonly stringBytesMax?: number;
  /** Longest storage key (default limits.lsmKeyBytesMax: the engine's bound). */
  readonly storageKeyBytesMax?: number;
  /** Keep the dataset account (memory.ts; default true): false for a scratch keyspace. */
  readonly countDataset?: boolean;
  /**
   * Whole-key deletes remove at most EAGER_ENTRIES elements (and a quarter of the batch) and leave
   * the rest to cleanupStep (see the header; default false: every element in the command's batch).
   */
  readonly lazyElementDeletes?: boolean;
}

/** A key whose elements a whole-key delete left, and where its cleanup resumes. */
interface Leftover {
  readonly key: Uint8Array;
  readonly from: Uint8Array;
}

/** Element entries a whole-key delete examines in its own command (the rest: cleanupStep). */
const EAGER_ENTRIES = 1024;

/** The storage key where `key`'s elements begin (just after its head). */
function elementsStart(key: Uint8Array): Uint8Array {
  return concatBytes([storageKey(key), Uint8Array.of(0)]);
}

export interface ScanKeysOptions {
  /** Live heads visited per page (Redis' COUNT; default 10). */
  readonly count: number;
  /** Keeps keys of this type only (SCAN TYPE); an unknown name keeps none, as Redis 7.0. */
  readonly type?: string;
  /** Keeps keys this predicate accepts (SCAN MATCH: glob.ts). */
  readonly match?: (key: Uint8Array) => boolean;
}

/** A write over one of the keyspace's bounds: nothing of the command is applied. */
/** The last two engine reads of a command, newest first (Keyspace.reads). */
class RecentReads {
  private a: { readonly storageKey: Uint8Array; readonly entry: Entry | undefined } | null = null;
  private b: { readonly storageKey: Uint8Array; readonly entry: Entry | undefined } | null = null;

  find(storageKey: Uint8Array): { readonly entry: Entry | undefined } | null {
    const { a, b } = this;
    if (a !== null && (a.storageKey === storageKey || bytesEqual(a.storageKey, storageKey))) return a;
    if (b !== null && (b.storageKey === storageKey || bytesEqual(b.storageKey, storageKey))) return b;
    return null;
  }

  add(storageKey: Uint8Array, entry: Entry | undefined): void {
    this.b = this.a;
    this.a = { storageKey, entry };
  }

  clear(): void {
    this.a = null;
    this.b = null;
  }
}

export class KeyspaceLimitError extends LimitError {
  constructor(
    readonly limitName: string,
    readonly what: string,
  ) {
    super(limitName, what);
  }
}

/** Per staged write: the entry header (25), the log record header (9) and a margin. */
const WRITE_OVERHEAD_BYTES = 64;
/** Engine entries one walk step reads (a page of SCAN, KEYS, DBSIZE, FLUSHALL). */
const WALK_PAGE_ENTRIES = 512;

/** A staged write as reads see it (the engine's Entry shape, seq 0). */
interface Staged {
  readonly entry: Entry;
  readonly bytes: number;
  /** The stored entry before this command (memory.ts counts the change), or null when not read yet. */
  readonly old: { readonly entry: Entry | undefined } | null;
}

/** A stored entry's part of the account (memory.ts): its bytes, and for a head 1 key (+1 with a deadline). */
function tallyInto(t: Tally, e: Entry | undefined, sign: number): void {
  const bytes = entryBytes(e);
  if (bytes === 0) return;
  t.bytes += sign * bytes;
  if (isHeadKey(e!.key)) {
    t.heads += sign;
    if (e!.timeMs > 0) t.expiring += sign;
  }
}

const EMPTY = new Uint8Array(0);

/** The storage key as a string of one char per byte (a Map key; sorts as the bytes do). */
const latin1 = keyString;

/** The storage key of `key`'s head (`sub` empty) or of one of its elements (keys.ts). */
function storageKey(key: Uint8Array, sub: Uint8Array = EMPTY): Uint8Array {
  return storageKeyOf(key, sub, tokenBytesInto);
}

function bytesOfLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function isLive(e: Entry | undefined, nowMs: number): e is Entry {
  return e !== undefined && e.kind === EntryKind.put && (e.timeMs === 0 || e.timeMs > nowMs);
}

/** The type tag in a head's meta, or undefined for a meta we did not write. */
function typeOfMeta(meta: Uint8Array): RedisType | undefined {
  if (meta.length !== 2 || meta[0] !== HEAD_META_VERSION) return undefined;
  return typeByTag[meta[1]!];
}

function headMeta(type: RedisType): Uint8Array {
  return Uint8Array.of(HEAD_META_VERSION, RedisTypeTag[type]);
}

/** Staged writes a command keeps in a list searched in place; past this many, a Map indexes them. */
const STAGED_LINEAR_MAX = 8;

/**
 * A command's staged writes, one per storage key (the newest), in staging order. Most commands
 * stage one to three writes: those are found by comparing bytes in a short list, with no key
 * string and no Map (a Map per command and a latin1 string per write were ~10 % of a SET's CPU).
 * Past STAGED_LINEAR_MAX keys (DEL of a collection, RENAME, MSET) a Map by latin1 key takes over.
 */
class StagedWrites {
  private list: Staged[] = [];
  private index: Map<string, number> | null = null;
  private sortedCache: Staged[] | null = null;

  get size(): number {
    return this.list.length;
  }

  private find(key: Uint8Array): number {
    if (this.index !== null) return this.index.get(latin1(key)) ?? -1;
    const list = this.list;
    for (let i = 0; i < list.length; i++) if (bytesEqual(list[i]!.entry.key, key)) return i;
    return -1;
  }

  get(key: Uint8Array): Staged | undefined {
    if (this.list.length === 0) return undefined;
    const i = this.find(key);
    return i < 0 ? undefined : this.list[i];
  }

  /** Stages `s` for its entry's key, replacing what was staged there (found by the caller: `old`). */
  set(s: Staged, old: Staged | undefined): void {
    if (old !== undefined) {
      this.list[this.find(s.entry.key)] = s;
      this.sortedCache = null;
      return;
    }
    this.list.push(s);
    this.sortedCache = null;
    if (this.index !== null) this.index.set(latin1(s.entry.key), this.list.length - 1);
    else if (this.list.length > STAGED_LINEAR_MAX) {
      this.index = new Map();
      for (let i = 0; i < this.list.length; i++) this.index.set(latin1(this.list[i]!.entry.key), i);
    }
  }

  values(): readonly Staged[] {
    return this.list;
  }

  /** The staged writes in key order (cached until the next set). */
  sorted(): readonly Staged[] {
    if (this.sortedCache === null)
      this.sortedCache = [...this.list].sort((a, b) => compareKeys(a.entry.key, b.entry.key));
    return this.sortedCache;
  }

  clear(): void {
    if (this.list.length === 0) return;
    this.list = [];
    this.index = null;
    this.sortedCache = null;
  }
}

export class Keyspace {
  private readonly engine: KeyspaceEngine;
  readonly batchBytesMax: number;
  readonly stringBytesMax: number;
  readonly storageKeyBytesMax: number;
  /** The command's staged writes, newest per storage key. */
  private readonly pending = new StagedWrites();
  private pendingBytes = 0;
  private lastHead: { readonly key: Uint8Array; readonly storageKey: Uint8Array } | null = null;
  /**
   * The last two entries read from the engine in this command, newest first, matched by bytes
   * (staging one next, or reading it again, needs no second engine read). Two: an LPOP reads the
   * head, then the element, then stages both; with one entry kept by identity it read each twice.
   */
  private readonly reads = new RecentReads();
  /** The data set's bytes (memory.ts): what INFO's used_memory shows and maxmemory bounds. */
  readonly account: DatasetAccount;
  /** endCommand's per-write deltas, reused. */
  private readonly deltas: number[] = [];
  /** Access history for LRU / LFU eviction (eviction.ts), touched by every command's key lookups. */
  access: AccessSketch | undefined;
  readonly lazyElementDeletes: boolean;
  /**
   * Keys whose elements a whole-key delete left (at most limits.redisLeftoverKeysCountMax; a key
   * not kept here is found by reclaimExpired's walk), by their latin1 form, for cleanupStep.
   */
  private readonly leftovers = new Map<string, Leftover>();
  /** Keys this command left elements of: registered at endCommand, forgotten by an abort. */
  private commandLeftovers: Leftover[] = [];
  /** The last command applied left elements for the cleanup (the evictor's wait). */
  lastCommandLeftElements = false;

  constructor(engine: KeyspaceEngine, options: KeyspaceOptions = {}) {
    this.engine = engine;
    this.lazyElementDeletes = options.lazyElementDeletes ?? false;
    this.batchBytesMax = options.batchBytesMax ?? limits.redisCommandBatchBytesMax;
    this.stringBytesMax = options.stringBytesMax ?? limits.redisStringBytesMax;
    this.storageKeyBytesMax = options.storageKeyBytesMax ?? limits.lsmKeyBytesMax;
    this.account = new DatasetAccount(options.countDataset ?? true);
  }

  // --- the command boundary -----------------------------------------------------------------------

  /**
   * Applies the command's staged writes as one engine batch and starts the next command. Returns
   * the batch's last seq (the engine's last seq when nothing was staged). Call after every command.
   */
  endCommand(): number {
    const left = this.commandLeftovers;
    this.lastCommandLeftElements = left.length > 0;
    if (this.pending.size === 0) {
      this.reads.clear();
      // A cleanup step that met only tombstones staged nothing, and still moved on.
      if (left.length > 0) {
        this.commandLeftovers = [];
        for (const l of left) this.register(l);
      }
      return this.engine.lastAppliedSeq;
    }
    const writes: Write[] = [];
    // Three numbers a write (bytes, heads, heads with a deadline): no object per write.
    const deltas = this.deltas;
    deltas.length = 0;
    for (const { entry: e, old } of this.pending.values()) {
      writes.push(
        e.kind === EntryKind.put
          ? { kind: 'put', key: e.key, value: e.value, meta: e.meta, expiresAtMs: e.timeMs }
          : { kind: 'delete', key: e.key, deletedAtMs: e.timeMs, meta: e.meta },
      );
      const o = old !== null ? old.entry : this.engine.getEntry(e.key);
      const now = entryBytes(e);
      const before = entryBytes(o);
      let heads = 0;
      let expiring = 0;
      if ((now > 0 || before > 0) && isHeadKey(e.key)) {
        heads = (now > 0 ? 1 : 0) - (before > 0 ? 1 : 0);
        expiring = (now > 0 && e.timeMs > 0 ? 1 : 0) - (before > 0 && o!.timeMs > 0 ? 1 : 0);
      }
      deltas.push(now - before, heads, expiring);
    }
    this.clearPending();
    const seq = this.engine.apply(writes);
    for (const l of left) this.register(l);
    for (let i = 0; i < writes.length; i++)
      this.account.add(writes[i]!.key, deltas[3 * i]!, deltas[3 * i + 1]!, deltas[3 * i + 2]!);
    return seq;
  }

  /** The data set's bytes (memory.ts; estimated until the first recount pass is complete). */
  get datasetBytes(): number {
    return this.account.bytes;
  }

  /**
   * One step of the dataset recount (memory.ts): walks up to `entriesMax` engine entries from where
   * the last step stopped. Call between commands (nothing staged). Returns the entries walked.
   */
  recountStep(entriesMax: number): number {
    if (this.pending.size > 0) throw new Error('recountStep inside a command');
    let walked = 0;
    while (walked < entriesMax) {
      const at = this.account.walkPosition;
      const page = this.engine.scan({
        start: at.from,
        end: at.end,
        limit: Math.max(1, Math.min(entriesMax - walked, WALK_PAGE_ENTRIES)),
        includeDead: true,
      });
      walked += Math.max(1, page.entries.length); // an empty bucket costs a seek
      if (page.entries.length === 0 && page.next === null) {
        // Nothing left in this bucket: one more seek finds the next key, and every bucket before
        // it is empty (a small or empty keyspace: a pass in a few seeks, not one per bucket).
        const probe = this.engine.scan({ start: at.from, end: null, limit: 1, includeDead: true });
        walked++;
        const first = probe.entries[0];
        if (this.account.skipEmptyBuckets(first === undefined ? BUCKET_COUNT : bucketOf(first.key))) break;
        continue;
      }
      const found: Tally = { bytes: 0, heads: 0, expiring: 0 };
      for (const e of page.entries) tallyInto(found, e, 1);
      this.account.walked(found, page.next);
      if (page.next === null && this.account.walkPosition.bucket === 0) break; // a pass ended
    }
    return walked;
  }

  /** Drops the command's staged writes (after a KeyspaceLimitError or an unexpected throw). */
  abortCommand(): void {
    this.clearPending();
  }

  /** Staged writes of the current command (0 between commands). */
  get stagedWrites(): number {
    return this.pending.size;
  }

  /** The engine's group commit (the server calls it once per event-loop turn under 'periodic'). */
  sync(): number {
    return this.engine.sync();
  }

  /** Writes up to this seq survive a crash. */
  get durableSeq(): number {
    return this.engine.durableSeq;
  }

  private batchFull(): KeyspaceLimitError {
    return new KeyspaceLimitError(
      'redisCommandBatchBytesMax',
      `command writes more than ${this.batchBytesMax} bytes in one batch`,
    );
  }

  private clearPending(): void {
    this.reads.clear();
    this.pending.clear();
    this.pendingBytes = 0;
    if (this.commandLeftovers.length > 0) this.commandLeftovers = [];
  }

  private stage(entry: Entry): void {
    if (entry.key.length > this.storageKeyBytesMax) {
      throw new KeyspaceLimitError('lsmKeyBytesMax', `key too large: ${entry.key.length} bytes stored`);
    }
    const bytes = WRITE_OVERHEAD_BYTES + entry.key.length + entry.meta.length + entry.value.length;
    const old = this.pending.get(entry.key);
    const total = this.pendingBytes - (old?.bytes ?? 0) + bytes;
    if (total > this.batchBytesMax) {
      throw this.batchFull();
    }
    const stored = old !== undefined ? old.old : this.reads.find(entry.key);
    this.pending.set({ entry, bytes, old: stored }, old);
    this.pendingBytes = total;
  }

  private stagePut(key: Uint8Array, value: Uint8Array, meta: Uint8Array, expiresAtMs: number): void {
    this.stage({ key, seq: 0, kind: EntryKind.put, timeMs: expiresAtMs, meta, value });
  }

  /** A tombstone; a head's carries its old meta, so walks and putHead still know its type. */
  private stageDelete(key: Uint8Array, nowMs: number, meta: Uint8Array = EMPTY): void {
    this.stage({ key, seq: 0, kind: EntryKind.tombstone, timeMs: nowMs, meta, value: EMPTY });
  }

  /** The newest version of a storage key as this command sees it (dead ones included). */
  private read(storageKey: Uint8Array): Entry | undefined {
    const staged = this.pending.get(storageKey);
    if (staged !== undefined) return staged.entry;
    // The engine does not change inside a command (its writes are staged): a key read again (a
    // SET reads the head to check it, then putHead reads it to replace it) is not looked up twice.
    const last = this.reads.find(storageKey);
    if (last !== null) return last.entry;
    const entry = this.engine.getEntry(storageKey);
    this.reads.add(storageKey, entry);
    return entry;
  }

  /**
   * Entries with start <= key < end in order, the engine's merged with the staged ones (staged
   * win), dead ones included; `next` continues the range (null: done).
   */
  private scanRange(
    start: Uint8Array,
    end: Uint8Array | null,
    limit: number,
  ): { entries: Entry[]; next: Uint8Array | null } {
    const page = this.engine.scan({ start, end, limit, includeDead: true });
    if (this.pending.size === 0) return page;
    const pageEnd = page.next ?? end;
    const sorted = this.pending.sorted();
    let i = lowerBoundWhere(0, sorted.length, (k) => compareKeys(sorted[k]!.entry.key, start) < 0);
    const merged: Entry[] = [];
    let j = 0;
    const engineEntries = page.entries;
    for (; i < sorted.length && (pageEnd === null || compareKeys(sorted[i]!.entry.key, pageEnd) < 0); i++) {
      const staged = sorted[i]!.entry;
      while (j < engineEntries.length && compareKeys(engineEntries[j]!.key, staged.key) < 0)
        merged.push(engineEntries[j++]!);
      if (j < engineEntries.length && compareKeys(engineEntries[j]!.key, staged.key) === 0) j++;
      merged.push(staged);
    }
    while (j < engineEntries.length) merged.push(engineEntries[j++]!);
    return { entries: merged, next: page.next };
  }

  // --- heads --------------------------------------------------------------------------------------

  /** The storage key of `key`'s head (the last one is remembered: a command reads then writes it). */
  headKeyOf(key: Uint8Array): Uint8Array {
    let sk: Uint8Array;
    if (this.lastHead !== null && bytesEqual(this.lastHead.key, key)) sk = this.lastHead.storageKey;
    else {
      sk = storageKey(key);
      this.lastHead = { key: key.slice(), storageKey: sk };
    }
    this.access?.touch(sk);
    return sk;
  }

  /** The storage key of `key`'s head, without counting it as an access (OBJECT IDLETIME / FREQ). */
  peekHeadKey(key: Uint8Array): Uint8Array {
    return storageKey(key);
  }

  /** `key`'s live head, without counting it as an access (the evictor's check). */
  peekHead(key: Uint8Array, nowMs: number): Head | undefined {
    const e = this.read(storageKey(key));
    if (!isLive(e, nowMs)) return undefined;
    const type = typeOfMeta(e.meta);
    return type === undefined ? undefined : { type, value: e.value, expiresAtMs: e.timeMs };
  }

  /** The live head of `key` at `nowMs` (undefined: absent or expired). */
  getHead(key: Uint8Array, nowMs: number): Head | undefined {
    const e = this.read(this.headKeyOf(key));
    if (!isLive(e, nowMs)) return undefined;
    const type = typeOfMeta(e.meta);
    if (type === undefined) return undefined; // not a head we wrote: treated as absent, never trusted
    return { type, value: e.value, expiresAtMs: e.timeMs };
  }

  /** `key`'s type at `nowMs`, or undefined when absent. */
  typeOf(key: Uint8Array, nowMs: number): RedisType | undefined {
    return this.getHead(key, nowMs)?.type;
  }

  /**
   * Writes `key`'s head. Same type as the live head: the head alone is replaced (a collection's
   * elements stay). A new key or a new type: the key's elements stored before this command are
   * deleted when the old head (live, expired or deleted) or the new one is a collection (see the
   * header); elements this command already wrote stay, so a family may write elements and the
   * head in either order. `expiresAtMs` 0 = no expiry.
   */
  putHead(key: Uint8Array, head: Head, nowMs: number): void {
    const hk = this.headKeyOf(key);
    const old = this.read(hk);
    const oldType = old !== undefined ? typeOfMeta(old.meta) : undefined;
    const sameLiveType = isLive(old, nowMs) && oldType === head.type;
    if (!sameLiveType && ((oldType !== undefined && oldType !== 'string') || head.type !== 'string')) {
      // A string has no elements: the old ones may go later. A collection must not see them.
      if (head.type === 'string' && this.lazyElementDeletes) {
        // A deleted collection's elements are being removed already (registered, or found by the
        // walk): a SET leaves them where the cleanup is (a review: it moved the cleanup back).
        if (old !== undefined && old.kind === EntryKind.tombstone) this.registerIfAbsent(key);
        else this.deleteElementsLazily(key, nowMs, true, EAGER_ENTRIES);
      } else this.deleteOldElements(key, nowMs);
    }
    this.stagePut(hk, head.value, headMeta(head.type), head.expiresAtMs);
  }

  /** putHead's removal of a new collection's old elements: all of them, in this batch, or refused. */
  private deleteOldElements(key: Uint8Array, nowMs: number): void {
    try {
      this.deleteElements(key, nowMs, true);
    } catch (error) {
      if (!(error instanceof KeyspaceLimitError) || error.limitName !== 'redisCommandBatchBytesMax') throw error;
      // Kept past this command's abort: the cleanup removes them (it leaves a collection alone).
      if (this.lazyElementDeletes) this.register({ key, from: elementsStart(key) });
      // The command is refused whole, so a collection the key held before it is still there, and
      // waiting does not help (RENAME or a *STORE onto it): say so (a review).
      const before = this.engine.getEntry(this.headKeyOf(key));
      const held = before !== undefined && isLive(before, nowMs) && typeOfMeta(before.meta) !== 'string';
      throw new KeyspaceLimitError(
        'redisCommandBatchBytesMax',
        held
          ? 'the key holds a collection too large to replace in one command: DEL it first, then retry once its elements are removed in the background'
          : "the key's old elements are too many to remove in one command: after a DEL, an expiry or a SET they are removed in the background, so retry shortly",
      );
    }
  }

  /**
   * Deletes `key` with every element (whole-key delete). Returns whether a live key was deleted.
   * An expired key's leftovers are deleted too (and false returned).
   */
  deleteKey(key: Uint8Array, nowMs: number): boolean {
    return this.deleteKeyWithin(key, nowMs, EAGER_ENTRIES).live;
  }

  /** deleteKey, its lazy element deletes examining at most `eagerEntriesMax` entries (counted). */
  private deleteKeyWithin(
    key: Uint8Array,
    nowMs: number,
    eagerEntriesMax: number,
  ): { live: boolean; examined: number } {
    const hk = this.headKeyOf(key);
    const old = this.read(hk);
    if (old === undefined || old.kind === EntryKind.tombstone) return { live: false, examined: 0 };
    const live = isLive(old, nowMs) && typeOfMeta(old.meta) !== undefined;
    let examined = 0;
    if (typeOfMeta(old.meta) !== 'string') {
      if (this.lazyElementDeletes) examined = this.deleteElementsLazily(key, nowMs, false, eagerEntriesMax).examined;
      else this.deleteElements(key, nowMs);
    }
    this.stageDelete(hk, nowMs, old.meta);
    return { live, examined };
  }

  /**
   * Sets (or with 0 removes) a live key's expiry, keeping its value. A deadline at or before
   * `nowMs` deletes the key (Redis' EXPIRE in the past). Returns whether the key was live.
   */
  setExpiry(key: Uint8Array, expiresAtMs: number, nowMs: number): boolean {
    const head = this.getHead(key, nowMs);
    if (head === undefined) return false;
    if (expiresAtMs !== 0 && expiresAtMs <= nowMs) return this.deleteKey(key, nowMs);
    this.stagePut(this.headKeyOf(key), head.value, headMeta(head.type), expiresAtMs);
    return true;
  }

  /**
   * RENAME: moves `from`'s head, expiry and elements to `to`, replacing whatever `to` was. The
   * caller checked that `from` is live and differs from `to`. A collection moves element by
   * element: O(elements) writes, all in the command's batch (with lazyElementDeletes the copies
   * only: `from`'s elements go as a DEL's do).
   */
  renameKey(from: Uint8Array, to: Uint8Array, nowMs: number): void {
    const head = this.getHead(from, nowMs);
    if (head === undefined) return;
    this.deleteKey(to, nowMs);
    this.putHead(to, head, nowMs);
    if (head.type !== 'string') {
      // Read all, then write: staging while paging would re-sort the staged keys for every page.
      // Each element is a put under `to` and, unless `from`'s elements go lazily (the delete below
      // then stages only what is left of a quarter batch), a tombstone under `from`.
      const perElement = (this.lazyElementDeletes ? 1 : 2) * WRITE_OVERHEAD_BYTES;
      const elements: Element[] = [];
      let bytes = this.pendingBytes;
      let next: Uint8Array | null = EMPTY;
      while (next !== null) {
        const page = this.scanElements(from, { from: next, limit: WALK_PAGE_ENTRIES });
        for (const e of page.elements) {
          bytes += perElement + e.sub.length + e.value.length;
          if (bytes > this.batchBytesMax) {
            throw this.batchFull();
          }
          elements.push(e);
        }
        next = page.next;
      }
      for (const e of elements) this.putElement(to, e.sub, e.value);
    }
    this.deleteKey(from, nowMs);
  }

  // --- elements (the collection families build on these) ------------------------------------------
  // Element calls do not look at the head: a family reads the head first (WRONGTYPE, absent =
  // empty collection), then reads and writes elements, then writes the head (its count) with
  // putHead. `sub` is the element's sub-key as keys.ts lays it out per type; values are opaque.

  /** The live value of one element, or undefined. */
  getElement(key: Uint8Array, sub: Uint8Array): Uint8Array | undefined {
    const e = this.read(storageKey(key, sub));
    return e !== undefined && e.kind === EntryKind.put ? e.value : undefined;
  }

  /** Writes one element (no expiry of its own: the head's applies). */
  putElement(key: Uint8Array, sub: Uint8Array, value: Uint8Array): void {
    if (sub.length === 0) throw new RangeError('an element needs a non-empty sub-key (empty is the head)');
    this.stagePut(storageKey(key, sub), value, EMPTY, 0);
  }

  /** Deletes one element (a tombstone whatever was there). */
  deleteElement(key: Uint8Array, sub: Uint8Array, nowMs: number): void {
    if (sub.length === 0) throw new RangeError('an element needs a non-empty sub-key (empty is the head)');
    this.stageDelete(storageKey(key, sub), nowMs);
  }

  /**
   * Live elements of `key` with from <= sub < to in sub-key order, at most `limit`, after at most
   * lsmScanEntriesMax entries examined (deleted elements count): fewer than `limit` with a
   * non-null `next` means "call again". `next` is the sub-key to pass as `from` to continue; null
   * when the range is exhausted. `from` defaults to the first element, `to` to
   * the end of the collection.
   */
  scanElements(
    key: Uint8Array,
    options: { readonly from?: Uint8Array; readonly to?: Uint8Array; readonly limit: number },
  ): { elements: Element[]; next: Uint8Array | null } {
    const prefix = storageKey(key);
    const from = options.from ?? Uint8Array.of(0);
    const start = concatBytes([prefix, from.length === 0 ? Uint8Array.of(0) : from]);
    const end = options.to !== undefined ? concatBytes([prefix, options.to]) : prefixEnd(prefix);
    const limit = Math.max(1, Math.min(options.limit, limits.lsmScanEntriesMax));
    const elements: Element[] = [];
    let cursor: Uint8Array | null = start;
    let examined = 0;
    while (cursor !== null && elements.length < limit && examined < limits.lsmScanEntriesMax) {
      const page = this.scanRange(cursor, end, Math.min(limit - elements.length, limits.lsmScanEntriesMax - examined));
      examined += page.entries.length;
      for (const e of page.entries) {
        if (e.kind === EntryKind.put) elements.push({ sub: e.key.subarray(prefix.length), value: e.value });
      }
      cursor = page.next;
    }
    return { elements, next: cursor === null ? null : cursor.subarray(prefix.length) };
  }

  /**
   * Deletes every element of `key` (not its head); with `keepStaged`, only those stored before
   * this command (the elements the command itself wrote stay: putHead's cleanup).
   */
  private deleteElements(key: Uint8Array, nowMs: number, keepStaged = false): void {
    const prefix = storageKey(key);
    const keys = this.collectLive(concatBytes([prefix, Uint8Array.of(0)]), prefixEnd(prefix), keepStaged);
    for (const k of keys) this.stageDelete(k, nowMs);
  }

  /**
   * Stages the tombstones of `key`'s elements from `from` (default the first), examining at most
   * `entriesMax` entries (tombstones too) and staging at most a quarter of the batch; when some
   * may be left, the key is registered for cleanupStep at this command's end, resuming where this
   * stopped (so no step walks the tombstones of the steps before it again).
   */
  private deleteElementsLazily(
    key: Uint8Array,
    nowMs: number,
    keepStaged: boolean,
    entriesMax: number,
    from: Uint8Array = elementsStart(key),
  ): { examined: number; complete: boolean } {
    const end = prefixEnd(storageKey(key));
    const budget = this.batchBytesMax >> 2;
    const keys: Uint8Array[] = [];
    let bytes = this.pendingBytes;
    let examined = 0;
    let resume: Uint8Array | null = null;
    let cursor: Uint8Array | null = from;
    walk: while (cursor !== null) {
      const page = this.scanRange(cursor, end, Math.max(1, Math.min(WALK_PAGE_ENTRIES, entriesMax - examined)));
      for (const e of page.entries) {
        const more = WRITE_OVERHEAD_BYTES + e.key.length;
        if (examined >= entriesMax || bytes + more > budget) {
          resume = e.key;
          break walk;
        }
        examined++;
        if (e.kind !== EntryKind.put || (keepStaged && e.seq === 0)) continue;
        bytes += more;
        keys.push(e.key);
      }
      cursor = page.next;
    }
    for (const k of keys) this.stageDelete(k, nowMs);
    if (resume !== null) this.commandLeftovers.push({ key, from: resume });
    return { examined, complete: resume === null };
  }

  /** Registers `key` from its first element unless it is registered already (keeping its position). */
  private registerIfAbsent(key: Uint8Array): void {
    if (!this.leftovers.has(latin1(key))) this.register({ key, from: elementsStart(key) });
  }

  /** Registers `l` for cleanupStep (its newest position replaces an older one); past the bound, not. */
  private register(l: Leftover): void {
    const id = latin1(l.key);
    if (!this.leftovers.has(id) && this.leftovers.size >= limits.redisLeftoverKeysCountMax) return;
    this.leftovers.set(id, l);
  }

  /** Keys whose elements wait for cleanupStep. */
  get leftoverKeys(): number {
    return this.leftovers.size;
  }

  /**
   * One step of removing the elements whole-key deletes left (Redis' lazyfree): examines at most
   * `entriesMax` entries, of the registered keys in order, each from where its last step stopped.
   * A key whose head is a collection again (live or expired: its creation removed them, and its
   * expiry removes it whole) or a head this build does not know is forgotten, untouched. Call
   * between commands, then endCommand. Returns the entries examined.
   */
  cleanupStep(nowMs: number, entriesMax: number): number {
    if (this.pending.size > 0) throw new Error('cleanupStep inside a command');
    let examined = 0;
    for (const [id, l] of this.leftovers) {
      if (examined >= entriesMax) break;
      this.leftovers.delete(id); // registered again, at its new position, when some may be left
      const head = this.read(this.headKeyOf(l.key));
      if (head !== undefined && head.kind === EntryKind.put && typeOfMeta(head.meta) !== 'string') continue;
      examined += this.deleteElementsLazily(l.key, nowMs, false, entriesMax - examined, l.from).examined;
    }
    return examined;
  }

  /**
   * The walk met `key`'s elements (from `from`) under a head that is gone or a string: registers
   * the key at its first live element, if any, for cleanupStep. One seek past the tombstones (the
   * engine skips them): the walk does not count them one by one.
   */
  private findLeftovers(key: Uint8Array, from: Uint8Array): void {
    const page = this.engine.scan({ start: from, end: prefixEnd(storageKey(key)), limit: 1 });
    const first = page.entries[0];
    if (first !== undefined) this.register({ key, from: first.key });
    // The engine stops after lsmScanEntriesMax tombstones: the cleanup goes on from there.
    else if (page.next !== null) this.register({ key, from: page.next });
  }

  /**
   * The storage keys of the live entries in [start, end) (`skipStaged`: not those this command
   * wrote), all read before any is staged: staging while paging would re-sort the staged keys
   * for every page. Refused with a KeyspaceLimitError once their tombstones could not fit.
   */
  private collectLive(start: Uint8Array, end: Uint8Array | null, skipStaged: boolean): Uint8Array[] {
    const out: Uint8Array[] = [];
    let bytes = this.pendingBytes;
    let cursor: Uint8Array | null = start;
    while (cursor !== null) {
      const page = this.scanRange(cursor, end, WALK_PAGE_ENTRIES);
      for (const e of page.entries) {
        if (e.kind !== EntryKind.put || (skipStaged && e.seq === 0)) continue;
        bytes += WRITE_OVERHEAD_BYTES + e.key.length;
        if (bytes > this.batchBytesMax) {
          throw this.batchFull();
        }
        out.push(e.key);
      }
      cursor = page.next;
    }
    return out;
  }

  // --- the whole keyspace -------------------------------------------------------------------------

  /**
   * Walks live heads from storage key `start` in storage order, calling `visit(key, head,
   * storageKey)`; stops when `visit` returns false (returning the storage key after that head),
   * at the end (null), or — only at a token boundary — once `entriesMax` engine entries were
   * examined (returning tokenStart of the next token). Collections' elements are skipped with one
   * seek each.
   */
  private walkHeads(
    start: Uint8Array,
    nowMs: number,
    entriesMax: number,
    visit: (key: Uint8Array, head: Head, storageKey: Uint8Array) => boolean,
    pageEntries: number = WALK_PAGE_ENTRIES,
  ): Uint8Array | null {
    let cursor: Uint8Array | null = start;
    let examined = 0;
    let lastToken: bigint | null = null;
    while (cursor !== null) {
      const page = this.scanRange(cursor, null, pageEntries);
      let next: Uint8Array | null = page.next;
      for (const e of page.entries) {
        const d = decodeStorageKey(e.key);
        if (typeof d === 'string') continue; // a key outside the layout: not a Redis key
        const token = BigInt.asUintN(64, d.token);
        if (examined >= entriesMax && token !== lastToken) return tokenStart(token);
        examined++;
        lastToken = token;
        if (d.sub.length > 0) {
          // An element of a head passed by a seek in an earlier page, or a stale one: skip the rest.
          next = prefixEnd(collectionPrefix(d.token, d.key));
          break;
        }
        const type = typeOfMeta(e.meta);
        if (type !== undefined && isLive(e, nowMs)) {
          const more = visit(d.key, { type, value: e.value, expiresAtMs: e.timeMs }, e.key);
          if (!more) return nextAfter(e.key);
        }
        if (type !== 'string') {
          // A collection, or a head that may have stale elements: seek past its elements.
          next = prefixEnd(collectionPrefix(d.token, d.key));
          break;
        }
      }
      cursor = next;
    }
    return null;
  }

  /**
   * One SCAN page from `cursor` (0 = start). Returns the keys and the next cursor (0 = done).
   * See the header for the guarantees.
   */
  scanKeys(cursor: bigint, options: ScanKeysOptions, nowMs: number): { cursor: bigint; keys: Uint8Array[] } {
    const keys: Uint8Array[] = [];
    let visited = 0;
    let stopToken: bigint | null = null;
    let resumeToken: bigint | null = null;
    const after = this.walkHeads(tokenStart(cursor), nowMs, limits.redisScanEntriesMax, (key, head, sk) => {
      const token = storageToken(sk);
      if (stopToken !== null && token !== stopToken) {
        resumeToken = token;
        return false;
      }
      if ((options.type === undefined || options.type.toLowerCase() === head.type) && (options.match?.(key) ?? true)) {
        keys.push(key);
      }
      visited++;
      if (visited >= options.count) stopToken = token;
      return true;
    });
    if (resumeToken !== null) return { cursor: resumeToken, keys };
    // Stopped by the entry bound, at a token boundary after at least one entry: a later token, so
    // never 0 and always past `cursor`.
    return { cursor: after === null ? 0n : storageToken(after), keys };
  }

  /** Every live key at `nowMs` that `match` accepts (KEYS), at most `countMax`; undefined past it. */
  keys(nowMs: number, match: (key: Uint8Array) => boolean, countMax: number): Uint8Array[] | undefined {
    const out: Uint8Array[] = [];
    let over = false;
    this.walkHeads(tokenStart(0n), nowMs, Number.MAX_SAFE_INTEGER, (key) => {
      if (!match(key)) return true;
      if (out.length >= countMax) {
        over = true;
        return false;
      }
      out.push(key);
      return true;
    });
    return over ? undefined : out;
  }

  /**
   * The live keys at `nowMs` that `match` accepts: how many, and the first `keep` of them in
   * storage order (CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT). A walk of every head: O(keys).
   */
  findKeys(nowMs: number, match: (key: Uint8Array) => boolean, keep: number): { count: number; keys: Uint8Array[] } {
    const keys: Uint8Array[] = [];
    let count = 0;
    this.walkHeads(tokenStart(0n), nowMs, Number.MAX_SAFE_INTEGER, (key) => {
      if (match(key)) {
        count++;
        if (keys.length < keep) keys.push(key);
      }
      return true;
    });
    return { count, keys };
  }

  /** Keys (DBSIZE): see the header. */
  size(nowMs: number): number {
    const counted = this.countedKeys();
    if (counted !== undefined) return counted.heads;
    let n = 0;
    this.walkHeads(tokenStart(0n), nowMs, Number.MAX_SAFE_INTEGER, () => {
      n++;
      return true;
    });
    return n;
  }

  /**
   * INFO keyspace's keys and expires (keys with a deadline), counted as `size`, except that before the first
   * recount pass a keyspace the counted buckets already show to be large answers the estimate
   * (memory.ts keysEstimate) instead of walking: ioredis sends INFO on every connect, and a start
   * is when many reconnect at once.
   */
  infoCounts(nowMs: number): { readonly keys: number; readonly expires: number } {
    const estimate = this.account.keysEstimate;
    if (estimate !== undefined && estimate.heads > limits.redisCountWalkKeysMax)
      return { keys: estimate.heads, expires: estimate.expiring };
    const counted = this.countedKeys();
    if (counted !== undefined) return { keys: counted.heads, expires: counted.expiring };
    let keys = 0;
    let expires = 0;
    this.walkHeads(tokenStart(0n), nowMs, Number.MAX_SAFE_INTEGER, (_key, head) => {
      keys++;
      if (head.expiresAtMs > 0) expires++;
      return true;
    });
    return { keys, expires };
  }

  /** The account's key counts when it has them and the keyspace is past a walk's bound; else undefined. */
  private countedKeys(): { readonly heads: number; readonly expiring: number } | undefined {
    const keys = this.account.keys;
    return keys !== undefined && keys.heads > limits.redisCountWalkKeysMax ? keys : undefined;
  }

  /**
   * A live key chosen at random (RANDOMKEY): the first live key at or after a random token,
   * wrapping around; undefined when none. Keys after wide token gaps are likelier (Redis' pick is
   * uniform over its hash table's buckets, also not over keys).
   */
  randomKey(nowMs: number, random8: Uint8Array): Uint8Array | undefined {
    const view = new DataView(random8.buffer, random8.byteOffset, 8);
    const start = tokenStart(view.getBigUint64(0, false));
    let found: Uint8Array | undefined;
    const take = (key: Uint8Array): boolean => {
      found = key;
      return false;
    };
    this.walkHeads(start, nowMs, Number.MAX_SAFE_INTEGER, take);
    if (found === undefined) this.walkHeads(tokenStart(0n), nowMs, Number.MAX_SAFE_INTEGER, take);
    return found;
  }

  /**
   * Up to `count` live heads (with an expiry only, when `volatileOnly`) in storage order from the
   * token in `random8`, wrapping around once; at most limits.redisEvictSampleEntriesMax engine
   * entries examined. The evictor's sample (Redis' dictGetSomeKeys: neighbours of a random spot,
   * which here are random keys, tokens being hashes). Not an access.
   */
  sampleHeads(
    random8: Uint8Array,
    count: number,
    volatileOnly: boolean,
    nowMs: number,
  ): Array<{ key: Uint8Array; head: Head; storageKey: Uint8Array }> {
    const out: Array<{ key: Uint8Array; head: Head; storageKey: Uint8Array }> = [];
    const view = new DataView(random8.buffer, random8.byteOffset, 8);
    const from = view.getBigUint64(0, false);
    const visit = (key: Uint8Array, head: Head, storageKey: Uint8Array): boolean => {
      if (!volatileOnly || head.expiresAtMs !== 0) out.push({ key, head, storageKey });
      return out.length < count;
    };
    const budget = limits.redisEvictSampleEntriesMax;
    // Pages about twice the keys wanted: a full WALK_PAGE_ENTRIES page read (and decoded) ~450
    // entries past the 64 an eviction walk uses (redis-benchmark SETs at maxmemory: ~40 per eviction).
    const pageEntries = Math.min(WALK_PAGE_ENTRIES, Math.max(16, count * 2));
    const stop = this.walkHeads(tokenStart(from), nowMs, budget, visit, pageEntries);
    if (stop === null && out.length < count && from !== 0n) {
      // Wrapped: the part before the start, ending where it began.
      const seen = new Set(out.map((s) => latin1(s.storageKey)));
      this.walkHeads(
        tokenStart(0n),
        nowMs,
        budget,
        (key, head, sk) => {
          if (storageToken(sk) >= from || seen.has(latin1(sk))) return false;
          return visit(key, head, sk);
        },
        pageEntries,
      );
    }
    return out;
  }

  /**
   * Active expiry, for the server's timer (Redis' activeExpireCycle): walks storage from token
   * `cursor` (0 = the start) and stages the deletion of each expired head with its elements, and
   * of elements left under no live head, until `entriesMax` engine entries were examined or the
   * batch is full. Staged like a command: call endCommand() after. Returns where to continue (0:
   * the walk reached the end) and the keys reclaimed. Idempotent: a call cut short by the batch
   * bound leaves only invisible stale elements, which a later call (or the key's re-creation) removes.
   */
  reclaimExpired(cursor: bigint, nowMs: number, entriesMax: number): { cursor: bigint; reclaimed: number } {
    let reclaimed = 0;
    let examined = 0;
    let at: Uint8Array | null = tokenStart(cursor);
    try {
      while (at !== null && examined < entriesMax) {
        const page = this.scanRange(at, null, Math.min(WALK_PAGE_ENTRIES, entriesMax - examined));
        let next: Uint8Array | null = page.next;
        for (const e of page.entries) {
          examined++;
          // The common case first, without decoding: a live string's head.
          if (e.kind === EntryKind.put && isLive(e, nowMs) && typeOfMeta(e.meta) === 'string' && isHeadKey(e.key))
            continue;
          const d = decodeStorageKey(e.key);
          if (typeof d === 'string') continue;
          const end = prefixEnd(collectionPrefix(d.token, d.key));
          if (d.sub.length === 0) {
            if (e.kind !== EntryKind.put) {
              if (!this.lazyElementDeletes) continue; // a deleted head: its elements, if any, come next
              // A deleted head: its elements, if any, go to the cleanup, found past their tombstones.
              this.findLeftovers(d.key, elementsStart(d.key));
              next = end;
              break;
            }
            if (isLive(e, nowMs) && typeOfMeta(e.meta) === 'string') continue; // elements left by a SET come next
            if (!isLive(e, nowMs)) {
              // Its elements within what is left of this walk's budget; the rest to the cleanup.
              const budget = Math.max(0, Math.min(EAGER_ENTRIES, entriesMax - examined));
              examined += this.deleteKeyWithin(d.key, nowMs, budget).examined;
              reclaimed++;
            }
            next = end; // past the (live or just deleted) collection's elements
            break;
          }
          if (!this.lazyElementDeletes) {
            if (e.kind !== EntryKind.put) continue;
            // An element met without its head: stale unless the head is live.
            if (!isLive(this.read(headKey(d.token, d.key)), nowMs)) this.deleteElements(d.key, nowMs);
            next = end;
            break;
          }
          // An element entry (live or a tombstone) met without a collection's head before it: the
          // head is gone or a string (a SET over a collection). Its elements go to the cleanup. A
          // head this build does not know keeps what is under it.
          const head = this.read(headKey(d.token, d.key));
          if (head === undefined || head.kind !== EntryKind.put || typeOfMeta(head.meta) === 'string') {
            this.findLeftovers(d.key, e.key);
          }
          next = end;
          break;
        }
        at = next;
      }
    } catch (error) {
      if (!(error instanceof KeyspaceLimitError)) throw error;
      // The batch is full: what was staged applies at endCommand; the rest waits for the next call.
    }
    if (at === null) return { cursor: 0n, reclaimed };
    // Always past `cursor`, so a token with more dead entries than entriesMax cannot stall the
    // walk (what is skipped of that token waits for the next round).
    const t = storageToken(at);
    return { cursor: t > cursor ? t : cursor + 1n, reclaimed };
  }

  /**
   * Deletes every key (FLUSHALL / FLUSHDB) at once, whatever the keyspace's size: the engine drops
   * every entry (engine.truncate: one manifest, O(runs), durable on return under every sync
   * policy), and the dataset account (now known empty), the leftovers registry and the keys'
   * access history (eviction's sketch: a key made again starts fresh, as a new Redis object) go
   * with them.
   * Before 2026-12-07 it staged a tombstone per live entry in the command's batch, so a keyspace
   * past ~300,000 keys could not be flushed (refused with redisCommandBatchBytesMax). A command
   * of its own: anything staged before it in the command would be superseded anyway.
   */
  flushAll(): void {
    this.clearPending();
    this.engine.truncate();
    this.leftovers.clear();
    this.lastHead = null;
    this.account.clear();
    this.access?.reset();
  }
}

/**
 * Whether a storage key is a head (keys.ts: the escaped key's bytes 0x00 come only as 0x00 0xff,
 * so the first 0x00 0x01 after the token is the terminator, and a head ends there).
 */
function isHeadKey(k: Uint8Array): boolean {
  for (let i = 8; i + 1 < k.length; i++) {
    if (k[i] === 0 && k[i + 1] === 1) return i + 2 === k.length;
  }
  return false;
}

/** The u64 token of a storage key (its first 8 bytes). */
function storageToken(storageKey: Uint8Array): bigint {
  return new DataView(storageKey.buffer, storageKey.byteOffset, 8).getBigUint64(0, false);
}

/** The smallest storage key after `key`. */
function nextAfter(key: Uint8Array): Uint8Array {
  return concatBytes([key, Uint8Array.of(0)]);
}

export { bytesOfLatin1 as latin1Bytes, latin1 as latin1String };

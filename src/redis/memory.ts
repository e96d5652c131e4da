// What `maxmemory` bounds on a Baristas node, and how the keyspace counts it.
//
// Redis bounds its allocator's memory. Our keyspace lives in an LSM engine whose memory is bounded
// anyway (memtable, bloom filters, block cache) while the data set may be far larger on disk, so
// the figure a cache user means ("keep my data set at 100 MB") is the data set itself. The
// keyspace counts it as **dataset bytes**: for every stored entry that is a value (a key's head or
// one element of a collection; expired ones included until they are reclaimed, as Redis counts
// expired keys until its expiry cycle frees them) its storage key, meta and value plus
// ENTRY_OVERHEAD_BYTES; tombstones count 0. INFO's used_memory is this figure, and maxmemory
// compares with it (docs/COMPAT-REDIS.md).
//
// How the count stays true without a persisted counter (a crash would tear it from the data, and
// the engine's compaction turns expired values into tombstones on its own, so a counter fed only
// by writes would drift):
// - The token space is cut into BUCKET_COUNT buckets (a storage key's bucket is the top bits of its
//   token). Each bucket has a total, unknown at start.
// - Every applied write adds its delta (new entry's bytes - old entry's bytes) to its bucket's
//   total, when that total is known.
// - A recount walks the buckets in order, a page at a time, forever (the store's sweep timer): a
//   bucket's walk sums what is stored from its start up to a cursor; a write in that bucket below
//   the cursor also adds to that partial sum, one at or past it is seen by the walk. At the
//   bucket's end the sum becomes its total. So each pass corrects any drift, and after a restart
//   the first pass makes every bucket known.
// - The estimate while some buckets are unknown scales the known ones (tokens are hashes, so
//   buckets hold alike): known + average(known) * unknown buckets; 0 while none is known.

import type { Entry } from '../storage/lsm/entry.ts';
import { EntryKind } from '../storage/lsm/entry.ts';

/** Per stored value entry, on top of its key, meta and value (Redis spends ~50 bytes per small key). */
export const ENTRY_OVERHEAD_BYTES = 48;

/** log2 of the buckets the token space is cut into for counting (16,384 buckets, 128 KiB of totals). */
export const BUCKET_BITS = 14;
export const BUCKET_COUNT = 1 << BUCKET_BITS;

/** An entry's dataset bytes: 0 for a tombstone. */
export function entryBytes(e: Pick<Entry, 'kind' | 'key' | 'meta' | 'value'> | undefined): number {
  if (e === undefined || e.kind !== EntryKind.put) return 0;
  return e.key.length + e.meta.length + e.value.length + ENTRY_OVERHEAD_BYTES;
}

/** The bucket of a storage key (its token's top BUCKET_BITS bits; keys shorter than 2 bytes: 0). */
export function bucketOf(storageKey: Uint8Array): number {
  if (storageKey.length < 2) return 0;
  return ((storageKey[0]! << 8) | storageKey[1]!) >>> (16 - BUCKET_BITS);
}

/** The first storage key of a bucket (8 bytes: its first token). */
export function bucketStart(bucket: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = bucket << (16 - BUCKET_BITS);
  out[0] = v >>> 8;
  out[1] = v & 0xff;
  return out;
}

/** The first storage key past a bucket (null after the last one). */
export function bucketEnd(bucket: number): Uint8Array | null {
  return bucket + 1 >= BUCKET_COUNT ? null : bucketStart(bucket + 1);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** What one write changed, or what a walk found: dataset bytes, key heads, heads with a deadline. */
export interface Tally {
  bytes: number;
  heads: number;
  expiring: number;
}

/**
 * The dataset bytes per bucket, kept by write deltas and a recount walk (see the header), and by
 * the same means the keys (heads, expired ones included until reclaimed: DBSIZE's count on a
 * large keyspace) and the keys with a deadline (INFO keyspace's expires).
 */
export class DatasetAccount {
  private readonly totals: Float64Array;
  private readonly heads: Int32Array;
  private readonly expiring: Int32Array;
  private readonly known: Uint8Array;
  private knownCount = 0;
  private knownSum = 0;
  private knownHeads = 0;
  private knownExpiring = 0;
  /** The bucket being recounted, where its walk is, and what it summed so far. */
  private walkBucket = 0;
  private walkCursor: Uint8Array = bucketStart(0);
  private readonly walkSum: Tally = { bytes: 0, heads: 0, expiring: 0 };
  /** Completed recount passes (tests, INFO). */
  passes = 0;

  /**
   * `counting` false: an account that counts nothing (a scratch keyspace of one command at N > 1,
   * src/redis/scratch.ts, which would otherwise allocate ~270 KiB of totals per command).
   */
  constructor(private readonly counting = true) {
    const n = counting ? BUCKET_COUNT : 0;
    this.totals = new Float64Array(n);
    this.heads = new Int32Array(n);
    this.expiring = new Int32Array(n);
    this.known = new Uint8Array(n);
  }

  /** An applied write's change at `storageKey`: bytes, key heads, heads with a deadline (numbers: the write path allocates nothing). */
  add(storageKey: Uint8Array, bytes: number, heads = 0, expiring = 0): void {
    if (!this.counting) return;
    if (bytes === 0 && heads === 0 && expiring === 0) return;
    const b = bucketOf(storageKey);
    if (this.known[b] === 1) {
      this.totals[b]! += bytes;
      this.heads[b]! += heads;
      this.expiring[b]! += expiring;
      this.knownSum += bytes;
      this.knownHeads += heads;
      this.knownExpiring += expiring;
    }
    if (b === this.walkBucket && compareBytes(storageKey, this.walkCursor) < 0) {
      this.walkSum.bytes += bytes;
      this.walkSum.heads += heads;
      this.walkSum.expiring += expiring;
    }
  }

  /** Where the recount continues: the bucket and the storage key its walk reached. */
  get walkPosition(): { readonly bucket: number; readonly from: Uint8Array; readonly end: Uint8Array | null } {
    return { bucket: this.walkBucket, from: this.walkCursor, end: bucketEnd(this.walkBucket) };
  }

  /**
   * The recount walked [from, next) of the current bucket and found `bytes` there; `next` null:
   * the bucket is done (its total becomes the sum) and the walk moves to the next bucket.
   */
  walked(found: Tally, next: Uint8Array | null): void {
    const w = this.walkSum;
    w.bytes += found.bytes;
    w.heads += found.heads;
    w.expiring += found.expiring;
    if (next !== null) {
      this.walkCursor = next;
      return;
    }
    const b = this.walkBucket;
    this.setBucket(b, w);
    this.walkBucket = (b + 1) % BUCKET_COUNT;
    if (this.walkBucket === 0) this.passes++;
    this.walkCursor = bucketStart(this.walkBucket);
    w.bytes = 0;
    w.heads = 0;
    w.expiring = 0;
  }

  /**
   * Every bucket in [from, to) counted as empty, in one tight pass over the typed arrays and fills
   * (a small keyspace's pass skips nearly all 16,384 buckets at once, every sweep: per bucket
   * through setBucket that was 15 % of a store simulation's CPU).
   */
  private setEmpty(from: number, to: number): void {
    const known = this.known;
    const totals = this.totals;
    const heads = this.heads;
    const expiring = this.expiring;
    let bytesWere = 0;
    let headsWere = 0;
    let expiringWere = 0;
    let newlyKnown = 0;
    for (let b = from; b < to; b++) {
      if (known[b] === 1) {
        bytesWere += totals[b]!;
        headsWere += heads[b]!;
        expiringWere += expiring[b]!;
      } else newlyKnown++;
    }
    this.knownSum -= bytesWere;
    this.knownHeads -= headsWere;
    this.knownExpiring -= expiringWere;
    this.knownCount += newlyKnown;
    known.fill(1, from, to);
    totals.fill(0, from, to);
    heads.fill(0, from, to);
    expiring.fill(0, from, to);
  }

  /** Bucket `b` counted as holding `t` (what it was known to hold before no longer counts). */
  private setBucket(b: number, t: Tally): void {
    if (this.known[b] === 1) {
      this.knownSum -= this.totals[b]!;
      this.knownHeads -= this.heads[b]!;
      this.knownExpiring -= this.expiring[b]!;
    } else {
      this.known[b] = 1;
      this.knownCount++;
    }
    this.totals[b] = t.bytes;
    this.heads[b] = t.heads;
    this.expiring[b] = t.expiring;
    this.knownSum += t.bytes;
    this.knownHeads += t.heads;
    this.knownExpiring += t.expiring;
  }

  /**
   * The walk found nothing from its cursor up to bucket `before` (exclusive; BUCKET_COUNT: to the
   * end): the current bucket ends with what it summed, every bucket after it and before `before`
   * is counted empty. True when a pass ended (the walk is back at bucket 0).
   */
  skipEmptyBuckets(before: number): boolean {
    // The current bucket ends with what its walk summed (a key at or below it: that alone).
    this.walked({ bytes: 0, heads: 0, expiring: 0 }, null);
    if (this.walkBucket === 0) return true;
    const to = Math.min(before, BUCKET_COUNT);
    if (this.walkBucket >= to) return false;
    this.setEmpty(this.walkBucket, to);
    this.walkBucket = to % BUCKET_COUNT;
    this.walkCursor = bucketStart(this.walkBucket);
    if (this.walkBucket !== 0) return false;
    this.passes++;
    return true;
  }

  /**
   * Keys stored (heads, expired ones included until reclaimed) and those with a deadline, once
   * every bucket is counted (up to drift since the last pass); undefined before.
   */
  get keys(): { readonly heads: number; readonly expiring: number } | undefined {
    if (this.knownCount !== BUCKET_COUNT) return undefined;
    return { heads: Math.max(0, this.knownHeads), expiring: Math.max(0, this.knownExpiring) };
  }

  /** `keys`, or before the first pass an estimate scaled from the buckets counted (undefined: none yet). */
  get keysEstimate(): { readonly heads: number; readonly expiring: number } | undefined {
    if (this.knownCount === BUCKET_COUNT) return this.keys;
    if (this.knownCount === 0) return undefined;
    const scale = BUCKET_COUNT / this.knownCount;
    return {
      heads: Math.max(0, Math.round(this.knownHeads * scale)),
      expiring: Math.max(0, Math.round(this.knownExpiring * scale)),
    };
  }

  /** The data set was emptied (FLUSHALL): every bucket known to hold nothing, the walk starts over. */
  clear(): void {
    if (!this.counting) return;
    this.totals.fill(0);
    this.heads.fill(0);
    this.expiring.fill(0);
    this.known.fill(1);
    this.knownCount = BUCKET_COUNT;
    this.knownSum = 0;
    this.knownHeads = 0;
    this.knownExpiring = 0;
    this.walkBucket = 0;
    this.walkCursor = bucketStart(0);
    this.walkSum.bytes = 0;
    this.walkSum.heads = 0;
    this.walkSum.expiring = 0;
  }

  /** Whether every bucket has been counted at least once since start. */
  get complete(): boolean {
    return this.knownCount === BUCKET_COUNT;
  }

  /** The dataset bytes: exact once complete (up to drift since the last pass), estimated before. */
  get bytes(): number {
    if (this.knownCount === BUCKET_COUNT) return Math.max(0, Math.round(this.knownSum));
    if (this.knownCount === 0) return 0;
    return Math.max(0, Math.round((this.knownSum / this.knownCount) * BUCKET_COUNT));
  }
}

/**
 * Redis' memtoll for CONFIG SET maxmemory: digits with an optional unit b, k (1000), kb (1024),
 * m, mb, g, gb, any case; no sign, no fraction. Undefined when not a memory value.
 */
export function parseMemoryValue(text: string): number | undefined {
  const m = /^([0-9]+)(b|k|kb|m|mb|g|gb)?$/i.exec(text);
  if (m === null) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase();
  const mul = { b: 1, k: 1000, kb: 1024, m: 1000 ** 2, mb: 1024 ** 2, g: 1000 ** 3, gb: 1024 ** 3 }[unit]!;
  const n = Number(m[1]) * mul;
  return Number.isSafeInteger(n) ? n : undefined;
}

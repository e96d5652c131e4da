// The LSM storage engine of one node: a commit log (commit-log.ts, on the generic segmented log), a
// memtable (memtable.ts), immutable sorted runs (run.ts) listed by a manifest (manifest.ts), point
// reads, range scans, tombstones with a grace period and size-tiered compaction. Synchronous and
// driven from outside like the Raft core: no timers, no async; the driver calls `sync()` on its
// timer (policy 'periodic'), `compact()` when it likes (or lets `apply` do it), and reads time only
// through the Clock it handed in. Built only on the Env's Disk, so the simulator crashes, tears and
// corrupts it like the WAL.
//
// Sync policy (Redis appendfsync always / everysec / no; Cassandra commitlog_sync batch / periodic):
//  - 'always':   `apply(writes)` returns after the commit log's fdatasync; the writes of one call
//                share it (group commit: a driver gathers a turn's writes into one apply).
//  - 'periodic': `apply` buffers; the driver calls `sync()` on a timer; a write is durable once a
//                later `sync()` returned (`durableSeq` covers it).
//  - 'none':     the engine never calls `sync()` for a write. Unlike Redis' `no` (which hands each
//                write to the OS page cache), the generic log keeps unsynced records in its own buffer
//                and writes them only as a fdatasync'd group commit (its recovery tells a tear from
//                corruption by synced SYNC marks, which unsynced writes would break). So 'none' loses
//                the buffered writes also on a process crash; the buffer is written, and synced, only
//                when the next write would pass commitLogPendingBytesMax, and a memtable flush makes
//                every write before it durable as a run.
// Under every policy the state a restart recovers is a prefix of the writes in apply order (the log
// recovers a prefix of its batches; runs hold a prefix below the manifest's flushedSeq).
//
// Recovery: runs listed by the manifest are opened (footer, index, bloom CRC-checked); unlisted run
// files and temp files (an interrupted flush or compaction) are removed; the commit log is replayed
// above flushedSeq (a torn tail is cut, corruption is a CorruptionError naming segment and offset);
// a memtable that fills during replay is flushed.
//
// Versions: every write gets the next seq (persistent, increasing); the newest seq of a key wins.
// Runs hold disjoint, increasing seq ranges because compaction merges only adjacent runs, so a
// point read goes memtable -> runs newest first and stops at the first hit (a bloom filter skips
// a run that cannot hold the key).
//
// Deletes and expiry: a delete writes a tombstone with the caller's deletion time; a put may carry
// an absolute expiry deadline. Reads treat both as absent. Compaction drops a tombstone (and an
// expired value) once deadline + tombstoneGraceMs has passed, and only when the merged window
// includes the oldest run (otherwise an older run could still hold a version the tombstone hides);
// an expired value it cannot drop yet becomes a tombstone with its deadline as deletion time.
//
// Failures: a disk error in a write, sync, flush or compaction poisons the engine (every later call
// throws it, as the segmented log does: after a failed fsync the data may be gone) — restart and
// recover. A LimitError (a key, meta or value over its bound) is definite: nothing was written.
//
// Memory: the memtable (memtableBytesMax plus one apply's writes), the commit log's pending buffer
// (commitLogPendingBytesMax), per scan or compaction one data block per run merged, and the block
// cache (blockCacheBytes) are bounded whatever the data set; per live run its index and bloom
// filter grow with the data set: the index one entry per block of at least blockBytes (at most
// indexKeyBytes, 256, of the block's last key + 17 bytes, however long the keys: with the default
// 4 KiB blocks at most ~7 % of the run's bytes, ~1 % for short keys), the bloom filter bloomBitsPerKey / 8 bytes per key (at
// most BLOOM_BITS_MAX bits). One run's index must fit one buffer (4 GiB, Node's bound): ~15
// million blocks, a run of 60 GB or more. Until 2026-12-07 the index kept whole keys, so with
// entries of 4 KiB or more it held every key (~70,000 keys of 60 KB passed 4 GiB; an audit).

import { mkdirpDurable } from '../../env/disk-io.ts';
import type { Clock, Counter, Disk, Gauge, Logger, Metrics } from '../../env/types.ts';
import { assert } from '../../lib/assert.ts';
import { ConfigError, CorruptionError, LimitError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { CommitLog, commitLogRecordBytesMax, isLimitError } from './commit-log.ts';
import { type Entry, type EntryBounds, EntryKind, isDead } from './entry.ts';
import { emptyManifest, type Manifest, readManifest, writeManifest } from './manifest.ts';
import { Memtable } from './memtable.ts';
import { type EntrySource, iteratorSource, MergeCursor } from './merge.ts';
import {
  BlockCache,
  parseRunFileName,
  RUN_TEMP_SUFFIX,
  type RunFormat,
  RunReader,
  RunWriter,
  runFileName,
  RUN_INDEX_KEY_BYTES,
} from './run.ts';
import { pickCompactionWindow } from './tiering.ts';

/** The meta and value of entries that have none (never written to: the memtable copies). */
const EMPTY_BYTES = new Uint8Array(0);

export type SyncPolicy = 'always' | 'periodic' | 'none';

export interface LsmOptions {
  /** Directory of the engine (runs, manifest, and the commit log in `<dir>/commitlog`). */
  readonly dir: string;
  readonly sync: SyncPolicy;
  /** Tombstones and expired values are kept at least this long past their time (Cassandra's gc_grace). */
  readonly tombstoneGraceMs: number;
  readonly memtableBytesMax?: number;
  /** Verified data blocks kept in memory for reads, least recently used evicted (0 = none; default lsmBlockCacheBytesMax). */
  readonly blockCacheBytes?: number;
  /** Target data block size of a run (default 4 KiB). */
  readonly blockBytes?: number;
  /** Bloom filter bits per key (default 10: ~1 % false positives, 1.25 bytes per key in memory). */
  readonly bloomBitsPerKey?: number;
  /** A run's index keeps at most this many bytes of each block's last key (default 256; run.ts). */
  readonly indexKeyBytes?: number;
  readonly commitLogSegmentBytesMax?: number;
  readonly commitLogPendingBytesMax?: number;
  readonly keyBytesMax?: number;
  readonly metaBytesMax?: number;
  readonly valueBytesMax?: number;
  /** Size-tiered compaction merges at least this many adjacent runs of similar size (default 4). */
  readonly compactionMinRuns?: number;
  /** Runs are "of similar size" when the largest is at most this many times the smallest (default 4). */
  readonly compactionSizeRatioMax?: number;
  readonly runsCountMax?: number;
  /** `apply` flushes a full memtable and then compacts while a tier is full (default true). */
  readonly autoCompact?: boolean;
  readonly bugs?: PlantedEngineBugs;
}

/**
 * Deliberate defects for negative controls: each switched on, a crash or model test must fail.
 * A real engine never sets any.
 */
export interface PlantedEngineBugs {
  /** Acknowledge writes without the commit log's fdatasync. */
  readonly skipCommitLogFsync?: boolean;
  /** Rename a run into place without fdatasync of its bytes. */
  readonly renameRunUnsynced?: boolean;
  /** Read data blocks without checking their CRC. */
  readonly trustBlocks?: boolean;
  /** Drop expired tombstones in any compaction, even when older runs may hold the key. */
  readonly dropTombstonesAnywhere?: boolean;
}

export interface LsmComponents {
  readonly disk: Disk;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
}

/** One write. Times are epoch milliseconds (the caller's clock: an HLC or the coordinator's). */
export type Write =
  | {
      readonly kind: 'put';
      readonly key: Uint8Array;
      readonly value: Uint8Array;
      readonly meta?: Uint8Array;
      /** Absolute deadline after which the value reads as absent; absent or 0 = never. */
      readonly expiresAtMs?: number;
    }
  | { readonly kind: 'delete'; readonly key: Uint8Array; readonly deletedAtMs: number; readonly meta?: Uint8Array };

export interface ScanRange {
  /** First key (inclusive). */
  readonly start: Uint8Array;
  /** End key (exclusive); null = to the last key. */
  readonly end: Uint8Array | null;
  /** Entries returned at most (default and ceiling: lsmScanEntriesMax). */
  readonly limit?: number;
  /** Stop after the entry that reaches this many value bytes (at least one entry is returned). */
  readonly bytesMax?: number;
  /** Return tombstones and expired values too (for repair and Merkle trees). Default false. */
  readonly includeDead?: boolean;
  /**
   * Descending key order from the last key below `end` down to `start`; `next` is then the end
   * (exclusive) to continue from. Default false.
   */
  readonly reverse?: boolean;
}

export interface ScanResult {
  readonly entries: Entry[];
  /** Where the next call starts (a reverse scan: ends, exclusive) to continue this scan; null when the range is exhausted. */
  readonly next: Uint8Array | null;
}

export interface LsmStats {
  readonly lastSeq: number;
  readonly durableSeq: number;
  readonly flushedSeq: number;
  readonly memtableBytes: number;
  readonly memtableEntries: number;
  readonly runs: readonly { readonly id: number; readonly entries: number; readonly fileBytes: number }[];
  /** Index and bloom bytes held in memory for the live runs. */
  readonly runMemoryBytes: number;
  readonly blockCacheBytes: number;
  readonly commitLogBytes: number;
}

interface Resolved {
  readonly dir: string;
  readonly sync: SyncPolicy;
  readonly tombstoneGraceMs: number;
  readonly memtableBytesMax: number;
  readonly blockCacheBytes: number;
  readonly format: RunFormat;
  readonly commitLogSegmentBytesMax: number;
  readonly commitLogPendingBytesMax: number;
  readonly compactionMinRuns: number;
  readonly compactionSizeRatioMax: number;
  readonly runsCountMax: number;
  readonly autoCompact: boolean;
  readonly bugs: PlantedEngineBugs;
}

function resolve(o: LsmOptions): Resolved {
  const bounds: EntryBounds = {
    keyBytesMax: o.keyBytesMax ?? limits.lsmKeyBytesMax,
    metaBytesMax: o.metaBytesMax ?? limits.lsmMetaBytesMax,
    valueBytesMax: o.valueBytesMax ?? limits.lsmValueBytesMax,
  };
  const r: Resolved = {
    dir: o.dir,
    sync: o.sync,
    tombstoneGraceMs: o.tombstoneGraceMs,
    memtableBytesMax: o.memtableBytesMax ?? limits.lsmMemtableBytesMax,
    blockCacheBytes: o.blockCacheBytes ?? limits.lsmBlockCacheBytesMax,
    format: {
      blockBytes: o.blockBytes ?? 4096,
      bloomBitsPerKey: o.bloomBitsPerKey ?? 10,
      bounds,
      indexKeyBytes: o.indexKeyBytes ?? RUN_INDEX_KEY_BYTES,
    },
    commitLogSegmentBytesMax: o.commitLogSegmentBytesMax ?? limits.lsmCommitLogSegmentBytesMax,
    commitLogPendingBytesMax: o.commitLogPendingBytesMax ?? limits.lsmCommitLogPendingBytesMax,
    compactionMinRuns: o.compactionMinRuns ?? 4,
    compactionSizeRatioMax: o.compactionSizeRatioMax ?? 4,
    runsCountMax: o.runsCountMax ?? limits.lsmRunsCountMax,
    autoCompact: o.autoCompact ?? true,
    bugs: o.bugs ?? {},
  };
  const positive = (field: string, v: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isSafeInteger(v) || v <= 0 || v > max)
      throw new ConfigError(`lsm.${field}`, `must be an integer in [1, ${max}]`);
  };
  if (!['always', 'periodic', 'none'].includes(r.sync))
    throw new ConfigError('lsm.sync', 'must be always, periodic or none');
  if (!Number.isSafeInteger(r.tombstoneGraceMs) || r.tombstoneGraceMs < 0) {
    throw new ConfigError('lsm.tombstoneGraceMs', 'must be a non-negative integer');
  }
  positive('memtableBytesMax', r.memtableBytesMax);
  if (
    !Number.isSafeInteger(r.blockCacheBytes) ||
    r.blockCacheBytes < 0 ||
    r.blockCacheBytes > limits.lsmBlockCacheBytesMax
  ) {
    throw new ConfigError('lsm.blockCacheBytes', `must be an integer in [0, ${limits.lsmBlockCacheBytesMax}]`);
  }
  positive('blockBytes', r.format.blockBytes, 1024 * 1024);
  positive('bloomBitsPerKey', r.format.bloomBitsPerKey, 32);
  positive('indexKeyBytes', r.format.indexKeyBytes ?? RUN_INDEX_KEY_BYTES, limits.lsmKeyBytesMax);
  positive('keyBytesMax', bounds.keyBytesMax, limits.lsmKeyBytesMax);
  positive('metaBytesMax', bounds.metaBytesMax, limits.lsmMetaBytesMax);
  positive('valueBytesMax', bounds.valueBytesMax, limits.lsmValueBytesMax);
  positive('compactionMinRuns', r.compactionMinRuns, limits.lsmCompactionRunsCountMax);
  if (r.compactionMinRuns < 2) throw new ConfigError('lsm.compactionMinRuns', 'must be at least 2');
  positive('compactionSizeRatioMax', r.compactionSizeRatioMax);
  positive('runsCountMax', r.runsCountMax, limits.lsmRunsCountMax);
  if (r.runsCountMax < r.compactionMinRuns)
    throw new ConfigError('lsm.runsCountMax', 'must be at least compactionMinRuns');
  // The segmented log checks the rest (a full-size entry fits in half a segment and in the buffer).
  const record = commitLogRecordBytesMax(bounds);
  if (r.commitLogPendingBytesMax < record + 64) {
    throw new ConfigError('lsm.commitLogPendingBytesMax', `must hold a full-size entry (${record} bytes)`);
  }
  return r;
}

interface EngineMetrics {
  readonly flushes: Counter;
  readonly compactions: Counter;
  readonly compactionBytes: Counter;
  readonly memtableBytes: Gauge;
  readonly runs: Gauge;
  readonly truncations: Counter;
}

export class LsmEngine {
  private readonly o: Resolved;
  private readonly disk: Disk;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: EngineMetrics;
  private readonly memtable = new Memtable();
  private readonly blockCache: BlockCache;
  /** Live runs, oldest first (the manifest's order). */
  private runs: RunReader[] = [];
  private manifest: Manifest = emptyManifest;
  private commitLog: CommitLog | null = null;
  private lastSeq = 0;
  private seqAtOpen = 0;
  private durable = 0;
  private failure: unknown = null;
  private closed = false;

  private constructor(components: LsmComponents, o: Resolved) {
    this.o = o;
    this.blockCache = new BlockCache(o.blockCacheBytes);
    this.disk = components.disk;
    this.clock = components.clock;
    this.logger = components.log.child({ component: 'lsm', dir: o.dir });
    const m = components.metrics;
    this.metrics = {
      flushes: m.counter('lsm_flushes_total', 'Memtables flushed to a run'),
      compactions: m.counter('lsm_compactions_total', 'Compactions (runs merged into one)'),
      compactionBytes: m.counter('lsm_compaction_written_bytes_total', 'Bytes of runs written by compaction'),
      memtableBytes: m.gauge('lsm_memtable_bytes', 'Bytes held by the memtable'),
      runs: m.gauge('lsm_runs', 'Live sorted runs'),
      truncations: m.counter('lsm_truncations_total', 'Every entry dropped at once (FLUSHALL)'),
    };
  }

  /** Opens (or creates) the engine in `options.dir` and recovers it (see the header). */
  static open(components: LsmComponents, options: LsmOptions): LsmEngine {
    const engine = new LsmEngine(components, resolve(options));
    try {
      engine.recover(components);
    } catch (error) {
      for (const r of engine.runs) r.close();
      throw error;
    }
    return engine;
  }

  private recover(components: LsmComponents): void {
    const { disk } = this;
    const dir = this.o.dir;
    mkdirpDurable(disk, dir);
    // First make the directory as this process sees it durable: a manifest renamed into place by a
    // process that died before (or at a failed) syncDir is the one we are about to trust, and the
    // runs it replaced must not be removed while a power loss could still bring it back.
    disk.syncDir(dir);
    this.manifest = readManifest(disk, dir);
    const live = new Set(this.manifest.runIds);
    let removed = 0;
    for (const name of disk.list(dir)) {
      const id = parseRunFileName(name);
      if (name.endsWith(RUN_TEMP_SUFFIX) || (id !== undefined && !live.has(id))) {
        disk.remove(`${dir}/${name}`);
        removed++;
      }
    }
    if (removed > 0) disk.syncDir(dir);
    for (const id of this.manifest.runIds) {
      const path = `${dir}/${runFileName(id)}`;
      if (!disk.exists(path)) {
        throw new CorruptionError(`lsm manifest lists run ${path}, which is missing`, { file: path, offset: 0 });
      }
      this.runs.push(this.openRun(id));
    }
    this.lastSeq = this.manifest.flushedSeq;
    this.commitLog = CommitLog.open(
      components,
      {
        dir: `${dir}/commitlog`,
        segmentBytesMax: this.o.commitLogSegmentBytesMax,
        pendingBytesMax: this.o.commitLogPendingBytesMax,
        bounds: this.o.format.bounds,
      },
      {
        replay: (e) => {
          if (e.seq <= this.manifest.flushedSeq) return;
          // The log refuses keys that do not increase; this restates it for the replay's own state.
          if (e.seq <= this.lastSeq) throw new CorruptionError(`lsm commit log seq ${e.seq} after ${this.lastSeq}`);
          this.lastSeq = e.seq;
          this.memtable.put(e);
          if (this.memtable.bytes >= this.o.memtableBytesMax) this.flushMemtable();
        },
        scanned: () => {
          this.seqAtOpen = this.lastSeq;
        },
        baseSeq: () => this.seqAtOpen,
        ...(this.o.bugs.skipCommitLogFsync === true ? { bugs: { skipFsync: true } } : {}),
      },
    );
    this.durable = this.lastSeq;
    this.commitLog.releaseThrough(this.manifest.flushedSeq);
    this.updateGauges();
    this.logger.info(
      { runs: this.runs.length, flushedSeq: this.manifest.flushedSeq, lastSeq: this.lastSeq },
      'lsm: recovered',
    );
  }

  private checkUsable(): void {
    if (this.failure !== null) throw this.failure;
    assert(!this.closed, 'lsm engine is closed');
  }

  /** Runs `fn`; any error but a LimitError poisons the engine (restart and recover). */
  private guarded<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      this.poison(error);
      throw error;
    }
  }

  /** `guarded`'s verdict on an error (apply inlines it: no closure per write). */
  private poison(error: unknown): void {
    if (!isLimitError(error)) {
      this.failure = error;
      this.logger.error({ err: error }, 'lsm: disk failure; unusable until restart');
    }
  }

  private checkWrite(w: Write): void {
    const b = this.o.format.bounds;
    if (w.key.byteLength > b.keyBytesMax) throw new LimitError('lsmKeyBytesMax', `key of ${w.key.byteLength} bytes`);
    const meta = w.meta?.byteLength ?? 0;
    if (meta > b.metaBytesMax) throw new LimitError('lsmMetaBytesMax', `meta of ${meta} bytes`);
    if (w.kind === 'put') {
      if (w.value.byteLength > b.valueBytesMax) {
        throw new LimitError('lsmValueBytesMax', `value of ${w.value.byteLength} bytes exceeds ${b.valueBytesMax}`);
      }
      const t = w.expiresAtMs ?? 0;
      assert(Number.isSafeInteger(t) && t >= 0, `expiresAtMs ${t} is not an epoch ms`);
    } else {
      assert(
        Number.isSafeInteger(w.deletedAtMs) && w.deletedAtMs >= 0,
        `deletedAtMs ${w.deletedAtMs} is not an epoch ms`,
      );
    }
  }

  /**
   * Applies writes in order, each with the next seq; returns the last one. Under 'always' they are
   * durable when this returns (one fdatasync for the call); otherwise once `durableSeq` covers them.
   * A LimitError (a bound) means none was applied. Reads see the writes once this returns. The
   * writes' arrays are not kept (the commit log encodes them and the memtable copies them into its
   * slabs), so the caller may reuse them; entries that reads return are shared with the engine and
   * must not be mutated.
   */
  apply(writes: readonly Write[]): number {
    this.checkUsable();
    for (const w of writes) this.checkWrite(w);
    if (writes.length === 0) return this.lastSeq;
    try {
      // Flush first, so an error here leaves this call's writes definitely not applied.
      if (this.memtable.bytes >= this.o.memtableBytesMax) this.flushAndMaybeCompact();
      let seq = this.lastSeq;
      // No copies here: the log encodes each entry into its batch buffer and Memtable.put packs it
      // into a slab (one copy in all, where slicing the arrays first cost three allocations a write).
      const entries: Entry[] = new Array(writes.length);
      for (let i = 0; i < writes.length; i++) {
        const w = writes[i]!;
        entries[i] =
          w.kind === 'put'
            ? {
                key: w.key,
                seq: ++seq,
                kind: EntryKind.put,
                timeMs: w.expiresAtMs ?? 0,
                meta: w.meta ?? EMPTY_BYTES,
                value: w.value,
              }
            : {
                key: w.key,
                seq: ++seq,
                kind: EntryKind.tombstone,
                timeMs: w.deletedAtMs,
                meta: w.meta ?? EMPTY_BYTES,
                value: EMPTY_BYTES,
              };
      }
      const log = this.commitLog!;
      try {
        log.append(entries);
      } catch (error) {
        if (!isLimitError(error) || log.pendingRecords === 0) throw error;
        this.syncLog(); // the pending buffer is full: write it out (group commit), then retry
        log.append(entries);
      }
      this.lastSeq = seq;
      if (this.o.sync === 'always') this.syncLog();
      for (const e of entries) this.memtable.put(e);
      this.metrics.memtableBytes.set(this.memtable.bytes);
      return seq;
    } catch (error) {
      this.poison(error);
      throw error;
    }
  }

  put(key: Uint8Array, value: Uint8Array, options: { meta?: Uint8Array; expiresAtMs?: number } = {}): number {
    return this.apply([{ kind: 'put', key, value, ...options }]);
  }

  delete(key: Uint8Array, deletedAtMs: number, meta?: Uint8Array): number {
    return this.apply([{ kind: 'delete', key, deletedAtMs, ...(meta === undefined ? {} : { meta }) }]);
  }

  /** Group commit of every write applied so far (the 'periodic' driver's timer calls it). */
  sync(): number {
    this.checkUsable();
    this.guarded(() => this.syncLog());
    return this.durable;
  }

  private syncLog(): void {
    this.commitLog!.sync();
    this.durable = this.lastSeq;
  }

  /** The newest live version of `key` (undefined when absent, deleted or expired). */
  get(key: Uint8Array): Entry | undefined {
    const e = this.getEntry(key);
    return e === undefined || isDead(e, this.clock.wallMs()) ? undefined : e;
  }

  /** The newest version of `key` as stored: tombstones and expired values included. */
  getEntry(key: Uint8Array): Entry | undefined {
    this.checkUsable();
    const m = this.memtable.get(key);
    if (m !== undefined) return m;
    for (let i = this.runs.length - 1; i >= 0; i--) {
      const e = this.runs[i]!.get(key);
      if (e !== undefined) return e;
    }
    return undefined;
  }

  /**
   * Entries with start <= key < end in key order, the newest version of each, merged across the
   * memtable and every run. Returns after `limit` entries, `bytesMax` value bytes or
   * lsmScanEntriesMax examined entries (dead ones count), with `next` to continue from.
   */
  scan(range: ScanRange): ScanResult {
    this.checkUsable();
    const limit = Math.min(range.limit ?? limits.lsmScanEntriesMax, limits.lsmScanEntriesMax);
    const bytesMax = range.bytesMax ?? Number.MAX_SAFE_INTEGER;
    assert(limit >= 1, 'scan limit must be positive');
    const nowMs = this.clock.wallMs();
    const reverse = range.reverse === true;
    const merge = this.mergeOf(this.runs.length, range.start, range.end, true, reverse);
    const entries: Entry[] = [];
    let bytes = 0;
    let examined = 0;
    for (;;) {
      const e = merge.next();
      if (e === undefined) return { entries, next: null };
      examined++;
      if (range.includeDead === true || !isDead(e, nowMs)) {
        entries.push(e);
        bytes += e.value.byteLength;
      }
      if (entries.length >= limit || bytes >= bytesMax || examined >= limits.lsmScanEntriesMax) {
        return { entries, next: reverse ? e.key.slice() : keySuccessor(e.key) };
      }
    }
  }

  /**
   * A merge over the memtable (when `withMemtable`) and runs [0, runCount), newest first; with
   * `reverse`, in descending key order.
   */
  private mergeOf(
    runCount: number,
    start: Uint8Array,
    end: Uint8Array | null,
    withMemtable: boolean,
    reverse = false,
  ): MergeCursor {
    const sources: EntrySource[] = [];
    if (withMemtable)
      sources.push(iteratorSource(reverse ? this.memtable.rangeReverse(start, end) : this.memtable.range(start, end)));
    for (let i = runCount - 1; i >= 0; i--)
      sources.push(reverse ? this.runs[i]!.reverseCursor(start, end) : this.runs[i]!.cursor(start, end));
    return new MergeCursor(sources, reverse);
  }

  /** Writes the memtable out as a run (no-op when empty); the commit log then drops what it covers. */
  flush(): void {
    this.checkUsable();
    this.guarded(() => this.flushMemtable());
  }

  /**
   * Drops every entry at once (Redis' FLUSHALL): one manifest that lists no run and whose
   * flushedSeq is the last write's, so recovery opens no run and replays nothing of the commit log
   * up to it; then the old runs' files go and the memtable empties. O(runs), not O(entries), and
   * durable when it returns under every sync policy (the manifest's fdatasync and directory sync):
   * a crash before the manifest is in place keeps the store as it was, one after it finds it empty.
   * Writes not yet synced are superseded, so durableSeq covers them. Returns the last seq.
   */
  truncate(): number {
    this.checkUsable();
    return this.guarded(() => {
      const next: Manifest = { flushedSeq: this.lastSeq, nextRunId: this.manifest.nextRunId, runIds: [] };
      this.installManifest(next);
      const old = this.runs;
      this.runs = [];
      this.memtable.clear();
      for (const r of old) {
        r.close();
        this.disk.remove(r.path);
      }
      if (old.length > 0) this.disk.syncDir(this.o.dir);
      this.commitLog?.releaseThrough(next.flushedSeq);
      this.metrics.truncations.inc();
      this.updateGauges();
      return this.lastSeq;
    });
  }

  private flushAndMaybeCompact(): void {
    this.flushMemtable();
    if (!this.o.autoCompact) return;
    for (let i = 0; i < limits.lsmRunsCountMax && this.compactOnce(false); i++);
  }

  private flushMemtable(): void {
    if (this.memtable.size === 0) return;
    const id = this.manifest.nextRunId;
    const writer = this.newWriter(id, this.memtable.size);
    for (const e of this.memtable.all()) writer.add(e);
    writer.finish();
    const reader = this.openRun(id);
    const next: Manifest = { flushedSeq: this.lastSeq, nextRunId: id + 1, runIds: [...this.manifest.runIds, id] };
    this.installManifest(next);
    this.runs.push(reader);
    this.memtable.clear();
    this.metrics.flushes.inc();
    this.commitLog?.releaseThrough(next.flushedSeq);
    this.updateGauges();
  }

  private openRun(id: number): RunReader {
    return RunReader.open(this.disk, this.o.dir, id, this.o.format.bounds, {
      verifyBlocks: this.o.bugs.trustBlocks !== true,
      cache: this.blockCache,
    });
  }

  private newWriter(id: number, expectedKeys: number): RunWriter {
    return new RunWriter(
      this.disk,
      this.o.dir,
      id,
      expectedKeys,
      this.o.format,
      this.o.bugs.renameRunUnsynced !== true,
    );
  }

  private installManifest(next: Manifest): void {
    writeManifest(this.disk, this.o.dir, next);
    this.manifest = next;
  }

  /**
   * One compaction: with `major`, all runs into one; otherwise the size tier tiering.ts picks (or
   * none). Returns whether it merged anything.
   */
  compact(options: { readonly major?: boolean } = {}): boolean {
    this.checkUsable();
    return this.guarded(() => this.compactOnce(options.major === true));
  }

  private compactOnce(major: boolean): boolean {
    const window = major
      ? this.runs.length === 0
        ? null
        : { start: 0, end: this.runs.length }
      : pickCompactionWindow(
          this.runs.map((r) => r.info.fileBytes),
          {
            minRuns: this.o.compactionMinRuns,
            sizeRatioMax: this.o.compactionSizeRatioMax,
            fanInMax: limits.lsmCompactionRunsCountMax,
            runsCountMax: this.o.runsCountMax,
          },
        );
    if (window === null) return false;
    const { start, end } = window;
    const inputs = this.runs.slice(start, end);
    // Tombstones may go only when no run older than the window can hold a version they hide.
    const dropDead = start === 0 || this.o.bugs.dropTombstonesAnywhere === true;
    const nowMs = this.clock.wallMs();
    const id = this.manifest.nextRunId;
    const writer = this.newWriter(
      id,
      inputs.reduce((n, r) => n + r.info.entries, 0),
    );
    const sources: EntrySource[] = [];
    for (let i = inputs.length - 1; i >= 0; i--) sources.push(inputs[i]!.cursor(new Uint8Array(0), null));
    const merge = new MergeCursor(sources);
    for (let e = merge.next(); e !== undefined; e = merge.next()) {
      if (isDead(e, nowMs)) {
        if (dropDead && e.timeMs + this.o.tombstoneGraceMs <= nowMs) continue;
        // Fields named, not spread: an entry may keep its bytes behind getters (the memtable's).
        if (e.kind === EntryKind.put)
          e = {
            key: e.key,
            seq: e.seq,
            kind: EntryKind.tombstone,
            timeMs: e.timeMs,
            meta: e.meta,
            value: new Uint8Array(0),
          };
      }
      writer.add(e);
    }
    let output: RunReader | null = null;
    if (writer.entryCount > 0) {
      const info = writer.finish();
      this.metrics.compactionBytes.inc(info.fileBytes);
      output = this.openRun(id);
    } else {
      writer.abort();
    }
    const ids = this.manifest.runIds;
    const runIds = [...ids.slice(0, start), ...(output === null ? [] : [id]), ...ids.slice(end)];
    this.installManifest({ flushedSeq: this.manifest.flushedSeq, nextRunId: id + 1, runIds });
    this.runs = [...this.runs.slice(0, start), ...(output === null ? [] : [output]), ...this.runs.slice(end)];
    for (const r of inputs) {
      r.close();
      this.disk.remove(r.path);
    }
    this.disk.syncDir(this.o.dir);
    this.metrics.compactions.inc();
    this.updateGauges();
    return true;
  }

  private updateGauges(): void {
    this.metrics.memtableBytes.set(this.memtable.bytes);
    this.metrics.runs.set(this.runs.length);
  }

  /** The seq of the last write applied. */
  get lastAppliedSeq(): number {
    return this.lastSeq;
  }

  /** Writes up to this seq survive a crash (synced to the commit log or flushed to a run). */
  get durableSeq(): number {
    return Math.max(this.durable, this.manifest.flushedSeq);
  }

  stats(): LsmStats {
    return {
      lastSeq: this.lastSeq,
      durableSeq: this.durableSeq,
      flushedSeq: this.manifest.flushedSeq,
      memtableBytes: this.memtable.bytes,
      memtableEntries: this.memtable.size,
      runs: this.runs.map((r) => ({ id: r.info.id, entries: r.info.entries, fileBytes: r.info.fileBytes })),
      runMemoryBytes: this.runs.reduce((n, r) => n + r.memoryBytes, 0),
      blockCacheBytes: this.blockCache.bytes,
      commitLogBytes: this.commitLog?.totalBytes ?? 0,
    };
  }

  /** Clean shutdown: syncs the commit log (unless the engine failed) and closes every file. */
  close(): void {
    if (this.closed) return;
    try {
      if (this.failure === null) this.guarded(() => this.commitLog?.sync());
    } finally {
      this.closed = true;
      this.commitLog?.close();
      for (const r of this.runs) r.close();
    }
  }
}

/** The smallest key after `key` in bytewise order (key + 0x00): a scan's continuation point. */
export function keySuccessor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.byteLength + 1);
  out.set(key);
  return out;
}

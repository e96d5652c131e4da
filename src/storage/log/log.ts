// A generic segmented log of CRC-checked records: append buffers, sync writes the batch and
// fdatasyncs once (group commit), segments roll at a size bound and are created atomically,
// recovery cuts only the never-synced tail, retention removes whole segments, and a reader seeks
// to a key through a sparse index. Record meaning (type bytes, payloads, replay rules) belongs to
// the client: the Raft WAL (src/storage/wal) today, Kafka partition logs next.
//
// Durability contract (binds every client):
//  - `append(records)` only buffers. Nothing appended is durable, and nothing may be acknowledged
//    to anyone, until a `sync()` returns a SyncMark whose `lsn` covers it. `sync()` is synchronous:
//    when it returns, every record appended before the call is on disk (fdatasync returned) and
//    will be recovered.
//  - If a write or fdatasync fails, the log is poisoned: every later call throws the same error.
//    After a failed fsync the kernel may have dropped the dirty pages, so retrying could report
//    success for data that is gone ("fsyncgate"); the process must restart and recover instead.
//    ENOSPC is no different (typed `disk_no_space`): a half-written batch is never acknowledged,
//    and recovery cuts it as an unsynced tail.
//
// After a failed fdatasync (the rule for the restart): the batch's bytes may still sit in the page
// cache, marked clean but never written, so a restarted process (same boot) reads them back and
// would trust a batch no device holds. Node has no O_DIRECT to read past the cache, and a second
// fdatasync of clean pages writes nothing. So `open` re-persists the final batch of the last
// segment — the only batch whose fdatasync can have failed, since the process exits at the first
// failure — by writing its bytes again at the same offset (which dirties the pages) and
// fdatasyncing, before anything recovered is used; it also syncs the directory on every open, for
// a segment whose rename's syncDir failed. If the device still fails, the open fails and the node
// stays down. Cost: one rewrite of at most one batch and two fsyncs per open.
//
// Sync markers: every batch written to a segment ends with a SYNC record (frame.ts), so recovery
// knows which bytes were synced and never cuts into them (segment.ts).
//
// On-disk invariants:
//  - every segment starts with SEGMENT(seq, base, headerRecords) then the client's header records
//    (the WAL restates its hard state and snapshot marker, so any suffix of segments carries them);
//  - a segment is created atomically (header written to a temp file, fdatasync, rename, syncDir),
//    so a named segment always has its complete header;
//  - a segment is sealed (fdatasync'd in full) before its successor is created;
//  - retention removes only whole sealed segments, oldest first, so the remaining segments start
//    at a seq without gaps.
//
// Preallocation (option preallocateBytesMax; off by default, the Raft WAL turns it on): an fdatasync after an append
// that grew the file must also journal the new size, which on ext4 is a second write and flush per
// sync (measured: docs/BENCHMARKS.md, raft). So the open segment is grown ahead of its writes with
// zeros (a truncate that extends it: a hole, no data written) by as much as it holds, 4 KiB to
// preallocateBytesMax at a time, and records are written at the segment's end of data, inside the
// file. The size then changes once per step. What this keeps of the rules above:
//  - the space after the end of data reads as zeros, as fresh space past the end of a file does, so
//    a sector of the final batch that did not land still reads as zeros;
//  - zeros after the last intact batch are unwritten space, never a repair (segment.ts judges the
//    final batch as if the file ended at its last non-zero byte: every batch ends in a non-zero
//    SYNC end mark); `open` cuts them off, so the file ends at its data until the next write;
//  - a segment is cut to its end of data before the fdatasync that seals it (fdatasync makes a
//    size change durable), so sealed segments hold no zeros.
//
// Keys: a client may give records a key (a partition offset; the WAL gives none). With
// `keys: 'increasing'` every keyed record's key is above the previous one, the sparse index maps
// keys to file positions, and `read(fromKey)` serves a range without scanning a segment.
//
// Bounds: segmentBytesMax (roll), recordPayloadBytesMax (one record), pendingBytesMax (appended
// but not yet synced; beyond it append throws LimitError: call sync()).
//
// Disk contract relied on: DiskFile.append/writeAt do not keep the array passed (FileDisk writes it
// at once, SimDisk copies it), so the batch buffer is reused across syncs.

import { mkdirpDurable } from '../../env/disk-io.ts';
import type { Clock, Counter, Disk, DiskFile, Histogram, Logger, Metrics } from '../../env/types.ts';
import { assert } from '../../lib/assert.ts';
import { ConfigError, LimitError } from '../../lib/errors.ts';
import {
  decodeFrameAt,
  encodeFrame,
  encodeSegmentHeader,
  type FrameCodec,
  isReservedType,
  RECORD_HEADER_BYTES,
  SYNC_RECORD_BYTES,
  SYNC_ZERO_PIECES_MAX,
  sealFrame,
  writeSyncRecord,
} from './frame.ts';
import { corruptSegment, type RecoveredLog, recoverSegments, type SegmentVisit, type TailRepair } from './recover.ts';
import { HEAD_ZERO_PIECE_BYTES_MIN, SEGMENT_TEMP_SUFFIX, segmentFileName, zeroPieces } from './segment.ts';
import { SparseIndex } from './sparse-index.ts';

export interface SegmentedLogOptions {
  /** Directory of the segments, relative to the Disk's root. */
  readonly dir: string;
  /** Segment file name suffix: '.wal' for the Raft WAL, '.log' for partition logs. */
  readonly suffix: string;
  /** A segment is rolled when the next record would take it past this size. */
  readonly segmentBytesMax: number;
  /** Largest payload of one record. */
  readonly recordPayloadBytesMax: number;
  /** Bytes appended but not yet synced; append beyond this throws LimitError. */
  readonly pendingBytesMax: number;
  /** 'increasing': keyed records have increasing keys, indexed for `read`. 'none': no keys, no reads by key. */
  readonly keys: 'increasing' | 'none';
  /** One sparse-index entry per this many bytes of a segment (keys 'increasing' only). */
  readonly indexIntervalBytes: number;
  /**
   * Grow the open segment ahead of its writes by up to this many bytes at a time (0 or absent:
   * no preallocation; see "Preallocation" in the header).
   */
  readonly preallocateBytesMax?: number;
}

/** Smallest preallocation step: a young segment grows by its own size, from this on. */
const minPreallocateBytes = 4096;

/** Smallest read a reader issues: a fetch of a few records still reads a useful chunk. */
const readChunkBytesMin = 64 * 1024;

export const segmentedLogDefaults = {
  segmentBytesMax: 64 * 1024 * 1024,
  recordPayloadBytesMax: 16 * 1024 * 1024,
  pendingBytesMax: 64 * 1024 * 1024,
  indexIntervalBytes: 4096,
} as const;

/** `name` is the config prefix errors report ('wal' -> 'wal.segmentBytesMax'). */
export function validateSegmentedLogOptions(o: SegmentedLogOptions, name: string): void {
  const positive = (field: string, v: number): void => {
    if (!Number.isSafeInteger(v) || v <= 0) throw new ConfigError(`${name}.${field}`, 'must be a positive integer');
  };
  positive('segmentBytesMax', o.segmentBytesMax);
  positive('recordPayloadBytesMax', o.recordPayloadBytesMax);
  positive('pendingBytesMax', o.pendingBytesMax);
  positive('indexIntervalBytes', o.indexIntervalBytes);
  const prealloc = o.preallocateBytesMax ?? 0;
  if (!Number.isSafeInteger(prealloc) || prealloc < 0) {
    throw new ConfigError(`${name}.preallocateBytesMax`, 'must be a non-negative integer');
  }
  if (o.recordPayloadBytesMax > 0xffff_ffff) throw new ConfigError(`${name}.recordPayloadBytesMax`, 'must fit in u32');
  // A full-size record must fit in a fresh segment after its header records, with room to spare.
  if (o.recordPayloadBytesMax + RECORD_HEADER_BYTES > o.segmentBytesMax / 2) {
    throw new ConfigError(`${name}.recordPayloadBytesMax`, 'must be at most half of segmentBytesMax (minus a header)');
  }
  if (o.pendingBytesMax < o.recordPayloadBytesMax + RECORD_HEADER_BYTES) {
    throw new ConfigError(`${name}.pendingBytesMax`, 'must hold at least one full-size record');
  }
}

/** What the log needs from the Env. */
export interface SegmentedLogComponents {
  readonly disk: Disk;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
}

/**
 * Deliberate defects a client switches on from its planted bugs (src/lib/mutations.ts), so the
 * simulator's swarm can show it catches them; a real node never sets any.
 */
export interface PlantedLogBugs {
  /** Acknowledge syncs without the fdatasync. */
  readonly skipFsync?: boolean;
  /** Recovery cuts at any bad record of the last segment, as if every defect were a tear. */
  readonly trustTornTail?: boolean;
  /** Recovery trusts the final batch as read, without re-persisting it. */
  readonly trustPageCache?: boolean;
  /** Recovery drops a torn tail from what it returns but leaves its bytes in the file ('wal-repair-skip-truncate'). */
  readonly keepTornTail?: boolean;
  /** Recovery reads a segment up to its first unreadable sector, as if the file ended there ('wal-read-error-as-eof'). */
  readonly readErrorAsEof?: boolean;
}

/** One record to append: a client type byte (not 0, 1 or 6), an opaque payload, an optional key. */
export interface LogRecord {
  readonly type: number;
  readonly payload: Uint8Array;
  readonly key?: number;
}

/** Where a new segment starts and what its header restates (client records). */
export interface SegmentStart {
  readonly base: number;
  readonly header: readonly LogRecord[];
}

export interface LogClient<T> extends FrameCodec<T> {
  /** Key of a decoded record (keys 'increasing'), for the index rebuilt at recovery; undefined = unkeyed. */
  readonly keyOf?: (type: number, record: T) => number | undefined;
  /**
   * The start of a segment created just before the record with lsn `lsn` (lsns count records
   * appended since open from 1; at open, lsn 1): called during `open` and `sync`, while that
   * record is still pending, so the client can answer with its state before that record.
   */
  readonly segmentStart: (lsn: number) => SegmentStart;
}

/** How `appendWith` encodes a client's records: type byte, payload size, payload bytes, key. */
export interface RecordWriter<R> {
  type(record: R): number;
  payloadBytes(record: R): number;
  /** Writes the payload at out[at, at + payloadBytes(record)); `view` views all of `out`. */
  write(record: R, out: Uint8Array, view: DataView, at: number): void;
  key?(record: R): number | undefined;
}

const rawRecords: RecordWriter<LogRecord> = {
  type: (r) => r.type,
  payloadBytes: (r) => r.payload.byteLength,
  write: (r, out, _view, at) => out.set(r.payload, at),
  key: (r) => r.key,
};

declare const syncMarkBrand: unique symbol;
/**
 * Proof that records are durable: only `sync()` makes one. Every record appended up to and
 * including lsn `lsn` (lsns count records appended since open, from 1) survives a crash.
 */
export interface SyncMark {
  readonly lsn: number;
  readonly [syncMarkBrand]: true;
}

/** A sealed or open segment, for retention decisions and status. */
export interface SegmentInfo {
  readonly name: string;
  readonly seq: number;
  readonly base: number;
  /** Bytes in the file (written; for the open segment, synced or not). */
  readonly bytes: number;
}

interface Segment {
  readonly seq: number;
  readonly base: number;
  readonly name: string;
  bytes: number;
  /** Where the header (SEGMENT and the client's header records) ends. */
  readonly headerBytes: number;
  readonly index: SparseIndex | null;
}

interface OpenSegment extends Segment {
  readonly file: DiskFile;
  /** Size of the file: `bytes` plus the zeros preallocated after them. */
  fileBytes: number;
  /** Records after the segment's header records (SYNC records not counted). */
  bodyRecords: number;
  /** SYNC batches written to this segment. */
  batches: number;
}

interface LogMetrics {
  readonly syncs: Counter;
  readonly syncLatencyMs: Histogram;
  readonly bytesWritten: Counter;
  readonly records: Counter;
  readonly segmentsCreated: Counter;
  readonly segmentsReleased: Counter;
}

/** A record read back by `read`. */
export interface ReadRecord<T> {
  readonly key: number | undefined;
  readonly type: number;
  readonly record: T;
}

export interface OpenedLog<T> {
  readonly log: SegmentedLog<T>;
  readonly recovered: RecoveredLog;
  readonly tailRepair: TailRepair | null;
}

export class SegmentedLog<T> {
  private readonly disk: Disk;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: LogMetrics;
  private readonly options: SegmentedLogOptions;
  private readonly client: LogClient<T>;
  private readonly name: string;
  private readonly bugs: PlantedLogBugs;

  /** Sealed segments, oldest first (the open one is `current`). */
  private readonly sealed: Segment[] = [];
  private current!: OpenSegment;

  /** Pending records, encoded back to back in `batch[0, pendingBytes)`; `ends[i]` is where record i ends. */
  private batch: Uint8Array;
  private batchView: DataView;
  private ends: number[] = [];
  private keys: number[] = [];
  private pendingBytes = 0;
  private lastKey = -1;
  private appendedLsn = 0;
  private syncedLsn = 0;
  private failure: unknown = null;
  private closed = false;

  private constructor(
    components: SegmentedLogComponents,
    options: SegmentedLogOptions,
    client: LogClient<T>,
    name: string,
    bugs: PlantedLogBugs,
  ) {
    this.disk = components.disk;
    this.clock = components.clock;
    this.logger = components.log.child({ component: name, dir: options.dir });
    this.options = options;
    this.client = client;
    this.name = name;
    this.bugs = bugs;
    this.batch = new Uint8Array(Math.min(64 * 1024, options.pendingBytesMax) + SYNC_RECORD_BYTES);
    this.batchView = new DataView(this.batch.buffer);
    const m = components.metrics;
    this.metrics = {
      syncs: m.counter(`${name}_syncs_total`, 'Group commits (one fdatasync of the open segment each)'),
      syncLatencyMs: m.histogram(`${name}_sync_latency_ms`, 'Time to write and fdatasync one batch'),
      bytesWritten: m.counter(`${name}_written_bytes_total`, 'Bytes written to segments'),
      records: m.counter(`${name}_records_total`, 'Records appended'),
      segmentsCreated: m.counter(`${name}_segments_created_total`, 'Segments created'),
      segmentsReleased: m.counter(`${name}_segments_released_total`, 'Segments removed by retention'),
    };
  }

  /**
   * Recovers the log in `options.dir` (creating it if absent), passing every segment's records to
   * `visit` oldest first; repairs an unsynced tail (truncate, logged and counted), re-persists the
   * final batch (see "After a failed fdatasync" above), syncs the directory, and opens the log for
   * appending. Throws CorruptionError, naming segment and offset, for any defect that truncation
   * cannot safely fix, and the disk's error if the device fails.
   */
  static open<T>(
    components: SegmentedLogComponents,
    options: SegmentedLogOptions,
    client: LogClient<T>,
    more: {
      /** Prefix of metrics, log lines and limit names ('wal' -> wal_syncs_total). */
      readonly name: string;
      readonly bugs?: PlantedLogBugs;
      /** Receives every recovered segment's records, oldest first; may throw CorruptionError. */
      readonly visit: (segment: SegmentVisit<T>) => void;
      /** Called after every segment was visited, before anything is repaired; may throw. */
      readonly scanned?: () => void;
    },
  ): OpenedLog<T> {
    validateSegmentedLogOptions(options, more.name);
    const { disk, metrics } = components;
    const bugs = more.bugs ?? {};
    const log = new SegmentedLog(components, options, client, more.name, bugs);
    mkdirpDurable(disk, options.dir);
    const recovered = recoverSegments(
      disk,
      options.dir,
      {
        suffix: options.suffix,
        payloadBytesMax: options.recordPayloadBytesMax,
        codec: client,
        trustTornTail: bugs.trustTornTail === true,
        readErrorAsEof: bugs.readErrorAsEof === true,
      },
      (v) => {
        log.indexRecovered(v);
        more.visit(v);
      },
    );
    more.scanned?.();
    const dir = options.dir;
    for (const name of recovered.foreignFiles) log.logger.warn({ dir, name }, `${log.name}: ignoring a foreign file`);
    for (const name of recovered.unfinishedFiles) {
      // A crash while creating a segment: never renamed into place, so nothing in it was acknowledged.
      disk.remove(`${dir}/${name}`);
      log.logger.warn({ dir, name }, `${log.name}: removed an unfinished segment`);
    }
    const repair = recovered.tailRepair;
    const final = bugs.trustPageCache === true ? null : recovered.finalBatch;
    // Zeros after the last batch (preallocated space) are cut too, so the file ends where its
    // bytes do and preallocation starts afresh; it is no repair, so it is neither logged nor counted.
    const last = recovered.segments.at(-1);
    const zeroTail = repair === null && last !== undefined && last.fileBytes > last.validBytes ? last : undefined;
    if (repair !== null || final !== null || zeroTail !== undefined) {
      const segment = repair?.segment ?? zeroTail?.name ?? final!.segment;
      const file = disk.open(`${dir}/${segment}`, { create: false });
      try {
        if (repair !== null && bugs.keepTornTail !== true) file.truncate(repair.offset);
        if (zeroTail !== undefined) file.truncate(zeroTail.validBytes);
        // Same bytes, same place: dirties pages a failed fdatasync may have left clean but unwritten.
        if (final !== null) file.writeAt(final.offset, final.bytes);
        file.sync();
      } finally {
        file.close();
      }
      if (repair !== null) {
        metrics.counter(`${log.name}_tail_repairs_total`, 'Unsynced tails truncated at recovery').inc();
        log.logger.warn({ ...repair }, `${log.name}: truncated an unsynced torn tail at recovery`);
      }
    }
    // Always: a crash between a segment's rename and its syncDir leaves a directory entry that a
    // power loss can still drop, and the batches acknowledged from now on go into that file. This
    // also makes the removal of unfinished files durable.
    disk.syncDir(dir);
    log.attach(recovered);
    return { log, recovered, tailRepair: repair };
  }

  /** Rebuilds the sparse index of a recovered segment (and the last key) from its records. */
  private readonly recoveredIndexes = new Map<number, SparseIndex>();
  private indexRecovered(v: SegmentVisit<T>): void {
    if (this.options.keys !== 'increasing' || this.client.keyOf === undefined) return;
    const index = new SparseIndex(this.options.indexIntervalBytes);
    v.records.forEach((r, i) => {
      if (i < v.headerRecords) return;
      const key = this.client.keyOf!(r.type, r.record);
      if (key === undefined) return;
      if (key <= this.lastKey) {
        throw corruptSegment(v.segment.name, r.offset, `key ${key} does not follow key ${this.lastKey}`);
      }
      this.lastKey = key;
      index.note(key, r.offset);
    });
    this.recoveredIndexes.set(v.segment.seq, index);
  }

  private attach(recovered: RecoveredLog): void {
    const segments = recovered.segments;
    const indexOf = (seq: number): SparseIndex | null =>
      this.options.keys === 'increasing'
        ? (this.recoveredIndexes.get(seq) ?? new SparseIndex(this.options.indexIntervalBytes))
        : null;
    for (const s of segments.slice(0, -1)) {
      this.sealed.push({
        seq: s.seq,
        base: s.base,
        name: s.name,
        bytes: s.validBytes,
        headerBytes: s.headerBytes,
        index: indexOf(s.seq),
      });
    }
    const tail = segments.at(-1);
    if (tail === undefined) {
      this.current = this.createSegment(0, 1);
    } else {
      const file = this.disk.open(`${this.options.dir}/${tail.name}`, { create: false });
      this.current = {
        seq: tail.seq,
        base: tail.base,
        name: tail.name,
        file,
        bytes: file.size(),
        fileBytes: file.size(),
        headerBytes: tail.headerBytes,
        bodyRecords: 1,
        batches: tail.batches,
        index: indexOf(tail.seq),
      };
    }
    this.recoveredIndexes.clear();
  }

  /** Lsn of the last record appended (durable or not). */
  get lastLsn(): number {
    return this.appendedLsn;
  }
  /** Lsn up to which records are durable. */
  get durableLsn(): number {
    return this.syncedLsn;
  }
  /** Key of the last keyed record appended (-1 = none). */
  get lastAppendedKey(): number {
    return this.lastKey;
  }
  get pendingRecordCount(): number {
    return this.ends.length;
  }
  /** Segments on disk, oldest first. */
  segments(): SegmentInfo[] {
    return [...this.sealed, this.current].map((s) => ({ name: s.name, seq: s.seq, base: s.base, bytes: s.bytes }));
  }
  segmentNames(): string[] {
    return [...this.sealed.map((s) => s.name), this.current.name];
  }
  /** Bytes of every segment on disk (retention by size compares against this). */
  get totalBytes(): number {
    return this.sealed.reduce((n, s) => n + s.bytes, this.current.bytes);
  }

  /**
   * Buffers records for the next sync (nothing is buffered if any is refused). Throws LimitError
   * when the unsynced bytes would exceed pendingBytesMax; a record over recordPayloadBytesMax, a
   * reserved type or (keys 'increasing') a key not above the last one is a programmer error.
   * Returns the lsn of the last record: durable once a SyncMark covers it.
   */
  append(records: readonly LogRecord[]): number {
    return this.appendWith(records, rawRecords);
  }

  /**
   * `append` for records a client encodes itself: each payload is written straight into the batch
   * buffer, so a record costs no allocation of its own (the Raft WAL's write path).
   */
  appendWith<R>(records: readonly R[], writer: RecordWriter<R>): number {
    this.checkUsable();
    let total = 0;
    let key = this.lastKey;
    const sizes: number[] = [];
    for (const r of records) {
      const type = writer.type(r);
      const size = writer.payloadBytes(r);
      assert(!isReservedType(type) && type <= 0xff, `log record type ${type} is reserved`);
      assert(size <= this.options.recordPayloadBytesMax, 'log record too large');
      const k = writer.key?.(r);
      if (k !== undefined) {
        assert(this.options.keys === 'increasing', 'keyed record in a log without keys');
        assert(Number.isSafeInteger(k) && k > key, `log key ${k} does not follow ${key}`);
        key = k;
      }
      sizes.push(size);
      total += RECORD_HEADER_BYTES + size;
    }
    if (this.pendingBytes + total > this.options.pendingBytesMax) {
      throw new LimitError(
        `${this.name}PendingBytesMax`,
        `${this.name}: ${this.pendingBytes + total} unsynced bytes; sync first`,
      );
    }
    this.reserve(total);
    const view = this.batchView;
    records.forEach((r, i) => {
      const at = this.pendingBytes;
      const size = sizes[i]!;
      writer.write(r, this.batch, view, at + RECORD_HEADER_BYTES);
      sealFrame(this.batch, at, writer.type(r), size, view);
      this.pendingBytes = at + RECORD_HEADER_BYTES + size;
      this.ends.push(this.pendingBytes);
      this.keys.push(writer.key?.(r) ?? -1);
    });
    this.lastKey = key;
    this.appendedLsn += records.length;
    this.metrics.records.inc(records.length);
    return this.appendedLsn;
  }

  /** Grows the batch buffer (doubling, up to the pending bound) to hold `more` bytes plus a SYNC record. */
  private reserve(more: number): void {
    const need = this.pendingBytes + more + SYNC_RECORD_BYTES;
    if (need <= this.batch.byteLength) return;
    let size = this.batch.byteLength;
    while (size < need) size *= 2;
    const grown = new Uint8Array(Math.min(size, this.options.pendingBytesMax + SYNC_RECORD_BYTES));
    grown.set(this.batch.subarray(0, this.pendingBytes));
    this.batch = grown;
    this.batchView = new DataView(grown.buffer);
  }

  /**
   * Writes every buffered record and fdatasyncs (once per segment touched; twice plus a syncDir
   * when the batch crosses a roll). Returns only after the data is durable.
   */
  sync(): SyncMark {
    this.checkUsable();
    const count = this.ends.length;
    if (count === 0) return this.mark();
    const startMs = this.clock.monotonicMs();
    const targetLsn = this.appendedLsn;
    try {
      let chunkStart = 0; // byte offset in `batch` of the chunk's first record
      let chunkFirst = 0; // its record number
      for (let i = 0; i < count; i++) {
        const start = i === 0 ? 0 : this.ends[i - 1]!;
        const chunkBytes = start - chunkStart;
        const need = this.current.bytes + chunkBytes + (this.ends[i]! - start) + SYNC_RECORD_BYTES;
        if (need > this.options.segmentBytesMax && (this.current.bodyRecords > 0 || i > chunkFirst)) {
          this.writeChunk(chunkFirst, i, chunkStart, start);
          this.trimPreallocated();
          this.fsyncCurrent(); // seal before the successor exists
          this.roll(this.syncedLsn + 1 + i);
          chunkStart = start;
          chunkFirst = i;
        }
      }
      this.writeChunk(chunkFirst, count, chunkStart, this.pendingBytes);
      this.fsyncCurrent();
    } catch (error) {
      this.failure = error;
      this.logger.error({ err: error }, `${this.name}: write or fdatasync failed; unusable until restart`);
      throw error;
    }
    this.ends = [];
    this.keys = [];
    this.pendingBytes = 0;
    this.syncedLsn = targetLsn;
    this.metrics.syncs.inc();
    this.metrics.syncLatencyMs.observe(this.clock.monotonicMs() - startMs);
    return this.mark();
  }

  /**
   * Removes sealed segments oldest first while `remove(segment)` says so, then syncs the directory.
   * The open segment is never removed. Returns how many were removed.
   */
  releaseWhile(remove: (segment: SegmentInfo, successor: SegmentInfo) => boolean): number {
    this.checkUsable();
    let removed = 0;
    while (this.sealed.length > 0) {
      const oldest = this.sealed[0]!;
      const successor = this.sealed[1] ?? this.current;
      if (!remove(oldest, successor)) break;
      this.sealed.shift();
      this.disk.remove(`${this.options.dir}/${oldest.name}`);
      removed++;
    }
    if (removed > 0) {
      this.disk.syncDir(this.options.dir);
      this.metrics.segmentsReleased.inc(removed);
      this.logger.info({ removed }, `${this.name}: released segments`);
    }
    return removed;
  }

  /** Removes sealed segments all of whose keys are below `key` (their successor starts at or below it). */
  releaseBelow(key: number): number {
    return this.releaseWhile((_, successor) => successor.base <= key);
  }

  /** Retention by size: removes the oldest sealed segments while the log holds more than `bytesMax`. */
  retainBytes(bytesMax: number): number {
    let total = this.totalBytes;
    return this.releaseWhile((s) => {
      if (total <= bytesMax) return false;
      total -= s.bytes;
      return true;
    });
  }

  /**
   * Reads synced records from the first keyed record whose key is >= `fromKey` (keys 'increasing'),
   * stopping after the record that reaches `bytesMax` (at least one record is returned when there
   * is one). Seeks through the sparse index: at most one index interval is read before `fromKey`.
   * A record that fails its CRC here is synced data that rotted: CorruptionError.
   */
  read(fromKey: number, bytesMax: number): ReadRecord<T>[] {
    this.checkUsable();
    assert(this.options.keys === 'increasing', 'read by key needs keys: increasing');
    const all = [...this.sealed, this.current];
    // The segment to start in: the last one whose base is <= fromKey (earlier ones end below it).
    let k = all.length - 1;
    while (k > 0 && all[k]!.base > fromKey) k--;
    const out: ReadRecord<T>[] = [];
    let bytes = 0;
    for (; k < all.length && bytes < bytesMax; k++) {
      const seg = all[k]!;
      const end = seg === this.current ? this.durableEnd() : seg.bytes;
      const position = seg.index?.floor(fromKey) ?? 0;
      bytes += this.readSegment(seg, position, end, fromKey, bytesMax - bytes, out);
    }
    return out;
  }

  /** Bytes of the open segment that are synced (pending records are not in the file yet). */
  private durableEnd(): number {
    return this.current.bytes;
  }

  private readSegment(
    seg: Segment,
    from: number,
    end: number,
    fromKey: number,
    bytesMax: number,
    out: ReadRecord<T>[],
  ): number {
    const path = `${this.options.dir}/${seg.name}`;
    const file = seg === this.current ? this.current.file : this.disk.open(path, { create: false });
    const chunkBytes = Math.max(bytesMax, readChunkBytesMin);
    let taken = 0;
    try {
      let position = from;
      let want = chunkBytes;
      while (position < end && taken < bytesMax) {
        const buf = file.read(position, Math.min(want, end - position));
        let at = 0;
        while (at < buf.byteLength && taken < bytesMax) {
          const r = decodeFrameAt(buf, at, this.options.recordPayloadBytesMax, this.client);
          if (r.kind === 'incomplete') break;
          if (r.kind !== 'ok') {
            throw corruptSegment(seg.name, position + at, `record in synced data is damaged (${r.reason})`);
          }
          const recordAt = position + at;
          at += r.bytes;
          if (r.frame.kind !== 'client' || recordAt < seg.headerBytes) continue;
          const key = this.client.keyOf?.(r.frame.type, r.frame.record);
          if (key === undefined ? out.length === 0 : key < fromKey) continue;
          out.push({ key, type: r.frame.type, record: r.frame.record });
          taken += r.bytes;
        }
        if (at === 0) {
          // The next record does not fit in the chunk: read it whole (its length is CRC-checked then).
          if (buf.byteLength >= end - position || buf.byteLength < RECORD_HEADER_BYTES) {
            throw corruptSegment(seg.name, position, 'record cut off inside synced data');
          }
          want = RECORD_HEADER_BYTES + new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0, true);
          continue;
        }
        want = chunkBytes;
        position += at;
      }
    } finally {
      if (seg !== this.current) file.close();
    }
    return taken;
  }

  /** Closes the open segment. Unsynced records are dropped (they were never acknowledged). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.current.file.close();
  }

  private mark(): SyncMark {
    return { lsn: this.syncedLsn } as SyncMark;
  }

  /** Throws the error that poisoned the log, or asserts it is open: for clients that check before they work. */
  checkUsable(): void {
    if (this.failure !== null) throw this.failure;
    assert(!this.closed, `${this.name} is closed`);
  }

  private fsyncCurrent(): void {
    if (this.bugs.skipFsync === true) return; // planted bug ('wal-skip-fsync' in the WAL)
    this.current.file.sync();
  }

  /**
   * Writes records [first, end) (bytes [from, to) of the batch buffer) and the SYNC record that
   * ends the batch, in one write.
   */
  private writeChunk(first: number, end: number, from: number, to: number): void {
    if (end === first) return;
    const cur = this.current;
    const chunkBytes = to - from;
    const body = this.batch.subarray(from, to);
    // The sectors this batch writes as zeros, so recovery never takes them for sectors that did not land.
    const zeros = zeroPieces(body, cur.bytes, cur.bytes + chunkBytes, cur.bytes, HEAD_ZERO_PIECE_BYTES_MIN).map(
      (p) => p - cur.bytes,
    );
    const sync = {
      batch: cur.batches + 1,
      batchStart: cur.bytes,
      batchBytes: chunkBytes,
      zeroPieces: zeros.length > SYNC_ZERO_PIECES_MAX ? ('many' as const) : zeros,
    };
    const total = chunkBytes + SYNC_RECORD_BYTES;
    let out: Uint8Array;
    if (to === this.pendingBytes) {
      // The batch's last chunk: the buffer keeps room for its SYNC right after it.
      writeSyncRecord(this.batch, to, sync);
      out = this.batch.subarray(from, to + SYNC_RECORD_BYTES);
    } else {
      out = new Uint8Array(total);
      out.set(body);
      writeSyncRecord(out, chunkBytes, sync);
    }
    this.preallocate(cur, total);
    cur.file.writeAt(cur.bytes, out);
    cur.fileBytes = Math.max(cur.fileBytes, cur.bytes + total);
    if (cur.index !== null) {
      for (let i = first; i < end; i++) {
        const key = this.keys[i]!;
        if (key >= 0) cur.index.note(key, cur.bytes + (i === 0 ? 0 : this.ends[i - 1]!) - from);
      }
    }
    cur.bytes += total;
    cur.bodyRecords += end - first;
    cur.batches++;
    this.metrics.bytesWritten.inc(total);
  }

  /**
   * Makes the open segment's file at least `bytes + more` long, growing it ahead of the writes
   * (zeros) by as much as it holds already, at least minPreallocateBytes, at most
   * preallocateBytesMax, never past segmentBytesMax unless one record needs it. The size changes
   * once per step, so most fdatasyncs have no file size to make durable.
   */
  private preallocate(cur: OpenSegment, more: number): void {
    const stepMax = this.options.preallocateBytesMax ?? 0;
    const need = cur.bytes + more;
    if (stepMax === 0 || need <= cur.fileBytes) return;
    const step = Math.min(stepMax, Math.max(cur.fileBytes, minPreallocateBytes));
    const size = Math.max(need, Math.min(this.options.segmentBytesMax, cur.fileBytes + step));
    cur.file.truncate(size);
    cur.fileBytes = size;
  }

  /** Cuts the unused preallocated zeros off the open segment (before it is sealed by a sync). */
  private trimPreallocated(): void {
    const cur = this.current;
    if (cur.fileBytes === cur.bytes) return;
    cur.file.truncate(cur.bytes);
    cur.fileBytes = cur.bytes;
  }

  /** Seals nothing itself: the caller synced the current segment. Opens seq+1 before record `lsn`. */
  private roll(lsn: number): void {
    const previous = this.current;
    previous.file.close();
    this.sealed.push({
      seq: previous.seq,
      base: previous.base,
      name: previous.name,
      bytes: previous.bytes,
      headerBytes: previous.headerBytes,
      index: previous.index,
    });
    this.current = this.createSegment(previous.seq + 1, lsn);
  }

  /**
   * Creates segment `seq` before record `lsn`, atomically: SEGMENT and the client's header records
   * are written to `<name>.tmp` and fdatasync'd, the file is renamed into place and the directory
   * synced. So a segment under its final name always has a durable, complete header, and recovery
   * can refuse to truncate into it.
   */
  private createSegment(seq: number, lsn: number): OpenSegment {
    const start = this.client.segmentStart(lsn);
    const name = segmentFileName(seq, start.base, this.options.suffix);
    const path = `${this.options.dir}/${name}`;
    const tempPath = `${path}${SEGMENT_TEMP_SUFFIX}`;
    assert(!this.disk.exists(path), `log segment ${name} already exists`);
    const parts = [
      encodeSegmentHeader({ seq, base: start.base, headerRecords: start.header.length }),
      ...start.header.map((r) => encodeFrame(r.type, r.payload)),
    ];
    const bytes = Buffer.concat(parts);
    const temp = this.disk.open(tempPath, { create: true });
    try {
      temp.append(bytes);
      temp.sync();
    } finally {
      temp.close();
    }
    this.disk.rename(tempPath, path);
    this.disk.syncDir(this.options.dir);
    this.metrics.segmentsCreated.inc();
    this.metrics.bytesWritten.inc(bytes.byteLength);
    this.logger.info({ segment: name }, `${this.name}: created segment`);
    const file = this.disk.open(path, { create: false });
    const index = this.options.keys === 'increasing' ? new SparseIndex(this.options.indexIntervalBytes) : null;
    const headerBytes = bytes.byteLength;
    return {
      seq,
      base: start.base,
      name,
      file,
      bytes: headerBytes,
      fileBytes: headerBytes,
      headerBytes,
      bodyRecords: 0,
      batches: 0,
      index,
    };
  }
}

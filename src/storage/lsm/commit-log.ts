// The engine's commit log: every write, as one entry per record, on the generic segmented log
// (src/storage/log), which brings the CRC records, group commit (one fdatasync per `sync`), atomic
// segment creation, the torn-tail cut at recovery and loud corruption (CorruptionError naming
// segment and offset). Records are keyed by the write's seq, so after a flush the segments whose
// writes are all in runs are released whole (`releaseThrough`).
//
// Record: type MUTATION (0x20), payload = one entry (entry.ts), key = the entry's seq.
// Segment header: none (the seq of a segment's first record is its base).

import { BaristaError } from '../../lib/errors.ts';
import {
  type PlantedLogBugs,
  type RecordWriter,
  type SegmentedLogComponents,
  SegmentedLog,
  type SyncMark,
} from '../log/log.ts';
import { decodeEntryAt, type Entry, type EntryBounds, ENTRY_HEADER_BYTES, entryBytes, writeEntry } from './entry.ts';

const MUTATION = 0x20;

export interface CommitLogOptions {
  readonly dir: string;
  readonly segmentBytesMax: number;
  /** Bytes appended and not yet synced; the engine syncs when the next write would pass it. */
  readonly pendingBytesMax: number;
  readonly bounds: EntryBounds;
}

/** Largest record payload: one entry at the bounds. */
export function commitLogRecordBytesMax(b: EntryBounds): number {
  return ENTRY_HEADER_BYTES + b.keyBytesMax + b.metaBytesMax + b.valueBytesMax;
}

/** Encodes entries straight into the log's batch buffer. */
const entryWriter: RecordWriter<Entry> = {
  type: () => MUTATION,
  payloadBytes: entryBytes,
  write: (e, out, view, at) => {
    writeEntry(e, out, view, at);
  },
  key: (e) => e.seq,
};

export class CommitLog {
  private constructor(private readonly log: SegmentedLog<Entry>) {}

  /**
   * Recovers the log in `options.dir`, handing every recovered entry to `replay` in write order;
   * `baseSeq()` is read whenever a segment is created and must return the seq before its first
   * record's lsn 1 (the engine's last seq at open).
   */
  static open(
    components: SegmentedLogComponents,
    options: CommitLogOptions,
    hooks: {
      readonly replay: (e: Entry) => void;
      readonly scanned: () => void;
      readonly baseSeq: () => number;
      readonly bugs?: PlantedLogBugs;
    },
  ): CommitLog {
    const bounds = options.bounds;
    const { log } = SegmentedLog.open<Entry>(
      components,
      {
        dir: options.dir,
        suffix: '.clog',
        segmentBytesMax: options.segmentBytesMax,
        recordPayloadBytesMax: commitLogRecordBytesMax(bounds),
        pendingBytesMax: options.pendingBytesMax,
        keys: 'increasing',
        indexIntervalBytes: 64 * 1024,
      },
      {
        isClientType: (t) => t === MUTATION,
        decode: (_t, payload) => {
          const d = decodeEntryAt(payload, 0, payload.byteLength, bounds);
          if (typeof d === 'string') return d;
          return d.end === payload.byteLength ? d.entry : 'trailing bytes after the entry';
        },
        keyOf: (_t, e) => e.seq,
        segmentStart: (lsn) => ({ base: hooks.baseSeq() + lsn, header: [] }),
      },
      {
        name: 'lsm_commitlog',
        ...(hooks.bugs === undefined ? {} : { bugs: hooks.bugs }),
        visit: (v) => {
          for (const r of v.records) hooks.replay(r.record);
        },
        scanned: hooks.scanned,
      },
    );
    return new CommitLog(log);
  }

  /** Buffers entries (seqs increasing); throws LimitError when the pending bound would be passed. */
  append(entries: readonly Entry[]): void {
    this.log.appendWith(entries, entryWriter);
  }

  /** Group commit: writes and fdatasyncs everything appended. */
  sync(): SyncMark {
    return this.log.sync();
  }

  get pendingRecords(): number {
    return this.log.pendingRecordCount;
  }

  /** Removes the sealed segments all of whose writes have seq <= `seq` (they are in runs). */
  releaseThrough(seq: number): number {
    return this.log.releaseBelow(seq + 1);
  }

  get totalBytes(): number {
    return this.log.totalBytes;
  }

  close(): void {
    this.log.close();
  }
}

export function isLimitError(e: unknown): boolean {
  return e instanceof BaristaError && e.code === 'limit_exceeded';
}

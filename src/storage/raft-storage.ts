// WalRaftStorage: the durable implementation of src/raft/storage.ts (RaftLogStorage) over the
// segmented WAL (src/storage/wal) and the snapshot store (src/storage/snapshot.ts).
//
// The in-memory view is a MemoryRaftStorage (so the durable and the in-memory twin cannot diverge
// in their read semantics); every write is mirrored into WAL records:
//   setHardState(hs)        -> HARD_STATE (skipped when unchanged)
//   append(entries)         -> TRUNCATE(first conflicting index) if it overwrites, then ENTRY...
//                              (a leading run that matches what is held is skipped: re-sent entries
//                              cost nothing)
//   createSnapshot(i, c, d) -> snapshot file written durably, then SNAPSHOT(i, term(i))
//                              (or in slices: createSnapshotInSlices, the marker at the last step)
//   applySnapshot(s)        -> snapshot file written durably, then TRUNCATE(all) + SNAPSHOT(i, t)
//                              (or in slices: applySnapshotInSlices, the records at the last step)
//   compact(i)              -> memory released; WAL segments released up to the durable marker
//
// Snapshot files are pruned only in sync(), after the WAL marker of the newest snapshot is durable,
// and the file that marker references is never pruned (snapshot.ts, prune).
//
// Durability contract: the writer methods STAGE (records buffered in the WAL; the view shows the
// staged state at once, since the driver runs synchronously and calls sync() before anything else
// reads; a WAL log-rule violation throws AssertionError at the call that caused it). Nothing staged may
// be acknowledged — no vote granted, no append answered, no message that depends on it sent —
// before `sync()` (or `persist(ready)`, which stages a whole Ready and syncs once) has returned a
// SyncMark, and core.advance() waits for that sync whenever the Ready says `mustSync`. Hard state
// is therefore durable before any vote or append it enables is acknowledged. The one exception is
// a hard state that only moves the commit index (Ready.mustSync false): the commit index is
// volatile (Raft Figure 2), so its record stays staged in the WAL buffer, advance() follows at
// once, and it becomes durable with the next batch's sync (a restart may find an older commit). A snapshot file is made durable (its own fdatasync + rename +
// syncDir) before the WAL marker that refers to it is even staged, so the marker never points to
// a file that might not exist after a crash.
//
// Recovery (open): the WAL is replayed; its latest SNAPSHOT marker names the snapshot file that
// must be loaded (exact index and term; missing or invalid = CorruptionError, because the WAL no
// longer holds the entries that snapshot covers). Newer snapshot files (saved, crash before the
// marker) are ignored. After a restart the log starts right after the latest snapshot (entries it
// covers are not reloaded; followers that need them get the snapshot).
//
// Bounds: logEntriesMax entries held in memory (append beyond: LimitError — the application must
// snapshot and compact); the WAL's and snapshot store's own bounds.

import type { Clock, Disk, Logger, Metrics } from '../env/types.ts';
import type { Mutations } from '../lib/mutations.ts';
import { assert } from '../lib/assert.ts';
import { CorruptionError, LimitError } from '../lib/errors.ts';
import { MemoryRaftStorage, type RaftLogStorage } from '../raft/storage.ts';
import { type ConfState, type Entry, EntryType, type HardState, type Snapshot } from '../raft/types.ts';
import { SnapshotStore, type SnapshotStoreOptions, snapshotDefaults } from './snapshot.ts';
import type { SnapshotSave } from '../raft/driver.ts';
import type { WalRecord } from './wal/record.ts';
import { type SyncMark, Wal, type WalHardState, type WalOptions, walDefaults } from './wal/wal.ts';
import { limits } from '../lib/limits.ts';

export interface RaftStorageOptions {
  /** Directory for this group's storage: `<dir>/wal` and `<dir>/snap`. */
  readonly dir: string;
  readonly wal: Omit<WalOptions, 'dir'>;
  readonly snapshots: Omit<SnapshotStoreOptions, 'dir'>;
  /** Entries held in memory (since the last compaction). */
  readonly logEntriesMax: number;
}

export function defaultRaftStorageOptions(dir: string): RaftStorageOptions {
  return {
    dir,
    wal: {
      segmentBytesMax: walDefaults.segmentBytesMax,
      recordPayloadBytesMax: walDefaults.recordPayloadBytesMax,
      pendingBytesMax: walDefaults.pendingBytesMax,
      preallocateBytesMax: walDefaults.preallocateBytesMax,
    },
    snapshots: {
      retainCount: snapshotDefaults.retainCount,
      dataBytesMax: snapshotDefaults.dataBytesMax,
      configBytesMax: snapshotDefaults.configBytesMax,
    },
    logEntriesMax: limits.raftLogEntriesMax,
  };
}

export interface RaftStorageComponents {
  readonly disk: Disk;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Planted bugs (src/lib/mutations.ts), from env.mutations; absent = none. */
  readonly mutations?: Mutations;
}

/** A Ready's persistence part, applied in the order the core requires: snapshot, entries, hard state. */
export interface ReadyToPersist {
  readonly snapshot?: Snapshot | undefined;
  readonly entries: readonly Entry[];
  readonly hardState?: HardState | undefined;
}

const entryTypes = new Set<number>(Object.values(EntryType));

function encodeEntryData(e: Entry): Uint8Array {
  const out = new Uint8Array(1 + e.data.byteLength);
  out[0] = e.type;
  out.set(e.data, 1);
  return out;
}

function encodeConf(conf: ConfState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ voters: conf.voters, learners: conf.learners }));
}

function decodeConf(bytes: Uint8Array, where: string): ConfState {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as { voters?: unknown; learners?: unknown };
    const ids = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');
    if (ids(v.voters) && ids(v.learners)) return { voters: v.voters, learners: v.learners };
  } catch {
    // fall through to the error below
  }
  throw new CorruptionError(`${where}: membership config is not valid`, { where });
}

function toWalHardState(hs: HardState): WalHardState {
  return { term: hs.term, vote: hs.vote ?? '', commit: hs.commit };
}

export class WalRaftStorage implements RaftLogStorage {
  private readonly mem = new MemoryRaftStorage();
  /** The durable snapshot marker snapshot files were last pruned against ('index/term'). */
  private prunedFor = '';
  /** The hard state as recovered, then as of each sync that returned: on disk for certain. */
  private synced: HardState = { term: 0, vote: undefined, commit: 0 };
  /** Our own snapshot being written in slices (createSnapshotInSlices), if any. */
  private saving: SnapshotSave | undefined;
  /** A received snapshot's file being written in slices (applySnapshotInSlices), if any. */
  private receiving: { step(): boolean } | undefined;

  private constructor(
    private readonly wal: Wal,
    private readonly snapshots: SnapshotStore,
    private readonly options: RaftStorageOptions,
    private readonly log: Logger,
  ) {}

  /** Recovers (or creates) the storage in `options.dir`. Throws CorruptionError on unrecoverable damage. */
  static open(components: RaftStorageComponents, options: RaftStorageOptions): WalRaftStorage {
    const log = components.log.child({ component: 'raft-storage', dir: options.dir });
    const snapshots = new SnapshotStore(components, { dir: `${options.dir}/snap`, ...options.snapshots });
    const { wal, recovery } = Wal.open(components, { dir: `${options.dir}/wal`, ...options.wal });
    const storage = new WalRaftStorage(wal, snapshots, options, log);
    if (recovery.snapshot !== null && recovery.snapshot.index > 0) {
      const stored = snapshots.load(recovery.snapshot.index, recovery.snapshot.term);
      const where = `snapshot ${recovery.snapshot.index}`;
      storage.mem.applySnapshot({
        meta: { index: stored.index, term: stored.term, confState: decodeConf(stored.config, where) },
        data: stored.data,
      });
    }
    assert(recovery.baseIndex === storage.mem.firstIndex() - 1, 'the WAL log starts right after the snapshot');
    const entries: Entry[] = recovery.entries.map((e) => {
      const type = e.data[0];
      if (type === undefined || !entryTypes.has(type)) {
        throw new CorruptionError(`wal entry ${e.index} has unknown entry type ${type}`, { index: e.index });
      }
      return { index: e.index, term: e.term, type: type as EntryType, data: e.data.subarray(1) };
    });
    if (entries.length > options.logEntriesMax) {
      throw new LimitError('logEntriesMax', `recovered ${entries.length} entries, more than logEntriesMax`);
    }
    storage.mem.append(entries);
    if (recovery.hardState !== null) {
      const hs = recovery.hardState;
      storage.mem.setHardState({ term: hs.term, vote: hs.vote === '' ? undefined : hs.vote, commit: hs.commit });
    }
    storage.synced = storage.mem.hardState();
    log.info(
      {
        firstIndex: storage.firstIndex(),
        lastIndex: storage.lastIndex(),
        snapshotIndex: storage.snapshot().meta.index,
        term: storage.hardState().term,
        tailRepaired: recovery.tailRepair !== null,
      },
      'raft storage recovered',
    );
    return storage;
  }

  // --- RaftLogStorageView ---

  hardState(): HardState {
    return this.mem.hardState();
  }
  firstIndex(): number {
    return this.mem.firstIndex();
  }
  lastIndex(): number {
    return this.mem.lastIndex();
  }
  term(index: number): number | undefined {
    return this.mem.term(index);
  }
  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    return this.mem.entries(lo, hi, bytesMax);
  }
  entryAt(index: number): Entry | undefined {
    return this.mem.entryAt(index);
  }
  snapshot(): Snapshot {
    return this.mem.snapshot();
  }

  // --- RaftLogStorageWriter (stage; durable at sync) ---

  applySnapshot(snapshot: Snapshot): void {
    assert(this.applySnapshotInSlices(snapshot, Number.MAX_SAFE_INTEGER).step(), 'a one-slice save ends in one step');
  }

  /**
   * applySnapshot in slices (a follower's received snapshot): each step() writes and syncs at most
   * `sliceBytes` of its file; the last one renames it into place, then stages the log's
   * replacement (truncate and the snapshot's marker, durable at the next sync) and returns true.
   * Until then the log and the state the core reads are unchanged, and nothing else may be
   * written (the driver holds the Ready, and its acknowledgement, until the last step). A crash
   * or a stop before the last step leaves only the temp file, removed at the next open.
   */
  applySnapshotInSlices(snapshot: Snapshot, sliceBytes: number): { step(): boolean } {
    // A received snapshot replaces the log: one of ours still being written is of an older state.
    this.saving?.abort();
    assert(this.receiving === undefined, 'a received snapshot is already being saved');
    const { index, term, confState } = snapshot.meta;
    assert(index >= this.wal.baseIndex, `snapshot ${index} is older than the log base ${this.wal.baseIndex}`);
    const file = this.snapshots.saveInSlices(
      { index, term, config: encodeConf(confState), data: snapshot.data },
      sliceBytes,
    );
    const receiving = {
      step: (): boolean => {
        assert(this.receiving === receiving, 'a received snapshot stepped after its save ended');
        try {
          if (file.step() === undefined) return false;
        } catch (err) {
          this.receiving = undefined; // a disk error: the node stops; the temp file goes at the next open
          throw err;
        }
        this.receiving = undefined;
        // Replace the whole log (the core's rule), even where it might match: truncate, then the marker.
        const records: WalRecord[] = [];
        if (this.wal.lastIndex > this.wal.baseIndex)
          records.push({ type: 'truncate', fromIndex: this.wal.baseIndex + 1 });
        records.push({ type: 'snapshot', index, term });
        this.wal.append(records);
        this.mem.applySnapshot(snapshot);
        return true;
      },
    };
    this.receiving = receiving;
    return receiving;
  }

  append(entries: readonly Entry[]): void {
    assert(this.receiving === undefined, 'log written while a received snapshot is being saved');
    // Skip a leading run the log already holds (same index and term): a re-send changes nothing.
    let skip = 0;
    while (skip < entries.length) {
      const e = entries[skip]!;
      if (e.index > this.mem.firstIndex() - 1 && this.mem.term(e.index) !== e.term) break;
      skip++;
    }
    const fresh = entries.slice(skip);
    const first = fresh[0];
    if (first === undefined) {
      // Every entry matches, but the contract still discards a longer tail after them (as the
      // in-memory twin does): the log ends at the last entry given.
      const last = entries.at(-1);
      if (last !== undefined && last.index >= this.mem.firstIndex() && last.index < this.mem.lastIndex()) {
        this.wal.append([{ type: 'truncate', fromIndex: last.index + 1 }]);
        this.mem.append(entries);
      }
      return;
    }
    const keptCount = first.index - this.mem.firstIndex();
    if (keptCount + fresh.length > this.options.logEntriesMax) {
      throw new LimitError('logEntriesMax', 'raft log holds logEntriesMax entries: snapshot and compact first');
    }
    const records: WalRecord[] = [];
    if (first.index <= this.mem.lastIndex()) records.push({ type: 'truncate', fromIndex: first.index });
    for (const e of fresh) records.push({ type: 'entry', index: e.index, term: e.term, data: encodeEntryData(e) });
    this.wal.append(records);
    this.mem.append(fresh);
  }

  setHardState(hardState: HardState): void {
    const current = this.mem.hardState();
    if (current.term === hardState.term && current.vote === hardState.vote && current.commit === hardState.commit)
      return;
    this.wal.append([{ type: 'hardState', state: toWalHardState(hardState) }]);
    this.mem.setHardState(hardState);
  }

  /**
   * createSnapshot in slices (SnapshotStore.saveInSlices: at most `sliceBytes` written and synced
   * per step); the last step stages the marker and returns the snapshot. Nothing changes in the
   * log until then; a received snapshot (applySnapshot) or abort() ends it, leaving no file.
   */
  createSnapshotInSlices(index: number, confState: ConfState, data: Uint8Array, sliceBytes: number): SnapshotSave {
    assert(this.receiving === undefined, 'a snapshot taken while a received one is being saved');
    this.saving?.abort();
    const term = this.mem.term(index);
    assert(term !== undefined, `no term for snapshot index ${index}`);
    const file = this.snapshots.saveInSlices({ index, term, config: encodeConf(confState), data }, sliceBytes);
    const save: SnapshotSave = {
      step: () => {
        assert(this.saving === save, 'a snapshot save stepped after it was ended');
        if (file.step() === undefined) return undefined;
        this.saving = undefined;
        const snap = this.mem.createSnapshot(index, confState, data);
        this.wal.append([{ type: 'snapshot', index, term }]);
        return snap;
      },
      abort: () => {
        if (this.saving === save) this.saving = undefined;
        file.abort();
      },
    };
    this.saving = save;
    return save;
  }

  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    return this.createSnapshotInSlices(index, confState, data, Number.MAX_SAFE_INTEGER).step()!;
  }

  compact(index: number): void {
    this.mem.compact(index);
    const releasable = Math.min(index, this.wal.durableSnapshotIndex);
    if (releasable > 0) this.wal.releaseTo(releasable);
  }

  // --- durability ---

  /** Writes everything staged with one WAL fdatasync; returns the proof that it is durable. */
  sync(): SyncMark {
    const mark = this.wal.sync();
    this.synced = this.mem.hardState();
    const durable = this.wal.durableSnapshotMarker;
    if (durable !== null && `${durable.index}/${durable.term}` !== this.prunedFor) {
      this.snapshots.prune(durable);
      this.prunedFor = `${durable.index}/${durable.term}`;
    }
    return mark;
  }

  /** Stages a Ready's snapshot, entries and hard state (in that order) and syncs once. */
  persist(ready: ReadyToPersist): SyncMark {
    if (ready.snapshot !== undefined) this.applySnapshot(ready.snapshot);
    this.append(ready.entries);
    if (ready.hardState !== undefined) this.setHardState(ready.hardState);
    return this.sync();
  }

  /** The hard state a restart must recover at least (RaftPersistence.durableHardState). */
  durableHardState(): HardState {
    return this.synced;
  }

  close(): void {
    this.wal.close();
    this.log.debug({}, 'raft storage closed');
  }
}

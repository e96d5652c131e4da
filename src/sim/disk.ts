// The simulated disk: files and directories in memory, with the durability contract of `Disk` and
// `DiskFile` in src/env/types.ts, and the faults a power loss can leave behind.
//
// One SimDiskStore per node holds what survives that node's crashes; each incarnation of the node
// gets a SimDisk view of it (handles from an earlier incarnation throw `disk_handle_stale`).
//
// Model:
//   - A file is an inode with two byte images: `visible` (every write so far; what reads see) and
//     `durable` (what the platter holds), plus the ordered list of writes and truncates made since the
//     last sync(). sync() replays that list onto `durable` and clears it.
//   - The namespace is kept twice, as a map from directory path to its entries: `visible` (every
//     create, rename, remove, mkdir) and `durable`. syncDir(d) copies d's visible entries to durable.
//     Each directory also logs its entry changes since its last syncDir (a rename within one
//     directory is one atomic change; across directories it is one change in each).
//   - crash() (power loss): each directory becomes its durable entries plus an in-order prefix of
//     its logged changes; the tree is rebuilt from the root (a directory whose own entry was lost is
//     gone with its contents); each surviving file becomes its durable image plus an in-order prefix
//     of its unsynced operations, the last kept write possibly torn at a sector boundary. With
//     `tornSectorsAnyOrder`, the sectors of the writes after that prefix (up to the first truncate)
//     then each land or not independently: a later sector may persist while an earlier one does
//     not, and a sector that did not land keeps its old content (zeros past the old end of file).
//     Which prefix and sectors is chosen by the store's seeded Rng; `DiskFaults` switches each kind
//     of loss on or off.
//   - restartProcess() (the process died, the machine did not): handles go stale, but the page
//     cache survives: every write stays visible and dirty pages may still be written back.
//   - A slow sync (slowSyncProbability) is an fsync still in progress: its operations move to the
//     inode's `inFlight` list instead of `durable`, and so does every sync (and syncDir) made while
//     one is in flight (the node's code after a slow fsync runs, in the simulator's time, only
//     once the fsync returned: src/sim/simulation.ts `stall`). completeSlowSyncs(), called when
//     the stall ends, makes them durable in order; a power loss before that treats them as never
//     synced (in-flight operations join the unsynced ones: some prefix survives). A process-only
//     restart completes them (the kernel finishes the write-back).
//   - Injected errors and rot (each with a probability in DiskFaults, counted in `faultCounts`):
//       EIO from sync(): the unsynced operations are NOT made durable and are dropped from the
//         dirty list (as Linux marks the pages clean after a failed writeback), but stay visible
//         until the next power loss: a restarted process reads bytes the platter does not hold;
//       EIO from a write, ENOSPC from a write past the bytes ever written (growing the file, or into a hole a
//         truncate grew it by, as a preallocating log writes): nothing of it is written;
//       persistent corruption: at a sync, a bit of a synced sector flips, on the platter and in
//         the cache (the page was evicted and re-read);
//       latent sector error: at a sync, a synced sector goes bad: every read touching it throws
//         EIO until a write covers it (the drive remaps the sector on write);
//       misdirected write: at a sync, one of the writes lands one or more sectors away on the
//         platter (the cache still shows it in place until the next power loss);
//       transient read corruption: one read returns a copy with a bit flipped.
//
// Invariants (checked by property tests in disk.test.ts):
//   - bytes that were synced, in a directory entry that was synced, always survive a crash;
//   - after a crash a file holds its durable image updated by some prefix of its unsynced operations
//     (the last write possibly cut short) — plus, with tornSectorsAnyOrder, some sectors of later
//     writes — never bytes that were never written (rot injection aside);
//   - an unsynced-writes list never exceeds `unsyncedWritesPerFileMax`: past it the oldest write is
//     written back (becomes durable), as an OS's dirty-page writeback would.

import {
  checkRelativePath,
  DiskErrorCode,
  type DiskErrorCode as DiskCode,
  diskErrorCodeFor,
} from '../env/disk-paths.ts';
import { assert } from '../lib/assert.ts';
import { BaristaError } from '../lib/errors.ts';
import type { SeededRng } from '../lib/rng.ts';
import type { Disk, DiskFile } from '../env/types.ts';
import { limits } from '../lib/limits.ts';

export interface DiskFaults {
  /** On crash, unsynced file writes are lost (an in-order prefix survives). Off = all survive. */
  lostUnsynced: boolean;
  /** On crash, the last surviving unsynced write may be torn (only a prefix of its sectors lands). */
  tornWrites: boolean;
  /**
   * On crash, sectors of the unsynced writes after the surviving prefix land in any order (each
   * independently), not only as a torn prefix. Needs lostUnsynced.
   */
  tornSectorsAnyOrder?: boolean;
  /** Sector size of the simulated device (torn writes, rot and bad sectors are per sector). Default 512. */
  sectorBytes?: number;
  /** Chance that one sync() fails with EIO (see the file header: the data stays visible until reboot). */
  syncErrorProbability?: number;
  /** Chance that one append/writeAt fails with EIO (nothing written). */
  writeErrorProbability?: number;
  /** Chance that one append/writeAt that grows a file fails with ENOSPC (nothing written). */
  noSpaceProbability?: number;
  /** Chance, per sync() of a non-empty file, that a bit of one synced sector flips for good. */
  corruptionProbability?: number;
  /** Chance, per sync() of a non-empty file, that one synced sector starts failing every read with EIO. */
  latentSectorErrorProbability?: number;
  /** Chance, per sync() with writes, that one of them lands one or more sectors off on the platter. */
  misdirectedWriteProbability?: number;
  /** On crash, directory changes not followed by syncDir are lost (an in-order prefix survives). */
  lostUnsyncedDirOps: boolean;
  /** Chance that one read returns a copy with one bit flipped (the stored bytes stay intact). */
  readCorruptionProbability: number;
  /**
   * Chance that one sync()/syncDir() is slow. The Disk API is synchronous, so a slow fsync blocks
   * the whole node: the simulator stalls it for up to `slowSyncMsMax`, and the sync is durable only
   * when the stall ends (see the file header).
   */
  slowSyncProbability?: number;
  slowSyncMsMax?: number;
}

export const defaultDiskFaults: DiskFaults = {
  lostUnsynced: true,
  tornWrites: true,
  tornSectorsAnyOrder: true,
  lostUnsyncedDirOps: true,
  readCorruptionProbability: 0,
};

export const defaultSectorBytes = 512;

/** Injected disk faults of each class, for the run's summary (the swarm reports every class). */
export interface DiskFaultCounts {
  /** Sectors of unsynced writes that did not land while a later part of the same crash did. */
  tornSectorsOutOfOrder: number;
  syncErrors: number;
  writeErrors: number;
  noSpaceErrors: number;
  /** Bits flipped for good in synced data. */
  corruptions: number;
  /** Sectors that went bad (reads throw EIO). */
  latentSectorErrors: number;
  /** Reads that hit a bad sector. */
  badSectorReads: number;
  misdirectedWrites: number;
  /** Reads that returned a copy with a bit flipped. */
  readCorruptions: number;
}

export function emptyDiskFaultCounts(): DiskFaultCounts {
  return {
    tornSectorsOutOfOrder: 0,
    syncErrors: 0,
    writeErrors: 0,
    noSpaceErrors: 0,
    corruptions: 0,
    latentSectorErrors: 0,
    badSectorReads: 0,
    misdirectedWrites: 0,
    readCorruptions: 0,
  };
}

export function addDiskFaultCounts(into: DiskFaultCounts, from: DiskFaultCounts): void {
  for (const k of Object.keys(into) as (keyof DiskFaultCounts)[]) into[k] += from[k];
}

/** Unsynced writes/truncates remembered per file; past this the oldest is written back. */
export const unsyncedWritesPerFileMax = limits.simUnsyncedWritesPerFileMax;
/** Largest file the simulated disk holds (a real disk would say ENOSPC/EFBIG). */
export const simFileBytesMax = limits.simFileBytesMax;

// Error codes are the real FileDisk's (src/env/disk-paths.ts DiskErrorCode): 'file_not_found',
// 'disk_path_invalid', 'disk_file_closed', and 'disk_io' with the errno FileDisk would report in
// `fields.errno`; 'disk_handle_stale' is simulator-only.

function ioError(op: string, errno: string, path: string): BaristaError {
  return new BaristaError(diskErrorCodeFor(errno), `${op} ${JSON.stringify(path)} failed: ${errno}`, {
    fields: { op, path, errno },
  });
}

function diskError(code: DiskCode, message: string, path: string): BaristaError {
  return new BaristaError(code, message, { fields: { path } });
}

/** A growable byte image: `buf` has capacity, `len` is the file size. Bytes past len are garbage. */
class Bytes {
  buf: Uint8Array;
  len = 0;
  /**
   * End of the bytes ever written (a truncate that grows the file adds a hole, not data): a write
   * past it needs fresh blocks, so it is the one that can fail with ENOSPC.
   */
  written = 0;

  constructor(capacity = 0) {
    this.buf = new Uint8Array(capacity);
  }

  private reserve(need: number, path: string): void {
    if (need > simFileBytesMax) {
      throw ioError(`write (past simFileBytesMax=${simFileBytesMax})`, 'EFBIG', path);
    }
    if (need <= this.buf.length) return;
    const next = new Uint8Array(Math.min(simFileBytesMax, Math.max(need, this.buf.length * 2, 64)));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  write(offset: number, data: Uint8Array, path: string): void {
    const end = offset + data.length;
    this.reserve(end, path);
    if (offset > this.len) this.buf.fill(0, this.len, offset); // a hole reads as zeros
    this.buf.set(data, offset);
    if (end > this.len) this.len = end;
    if (end > this.written) this.written = end;
  }

  truncate(length: number, path: string): void {
    if (length > this.len) {
      this.reserve(length, path);
      this.buf.fill(0, this.len, length);
    }
    this.len = length;
    this.written = Math.min(this.written, length);
  }

  copy(): Bytes {
    const out = new Bytes(this.len);
    out.buf.set(this.buf.subarray(0, this.len));
    out.len = this.len;
    out.written = this.written;
    return out;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** `seq`: the store's operation counter when it was made (a crash inside a slow sync's stall drops later ones). */
type FileOp =
  | { kind: 'write'; offset: number; data: Uint8Array; seq: number }
  | { kind: 'truncate'; length: number; seq: number };

class Inode {
  visible = new Bytes();
  durable = new Bytes();
  unsynced: FileOp[] = [];
  /** Operations of a slow sync still in progress (durable once it completes; lost with a crash before). */
  inFlight: FileOp[] = [];
  /** Sector numbers whose reads fail with EIO (latent sector errors), until a write covers them. */
  badSectors = new Set<number>();

  constructor(readonly id: number) {}

  record(op: FileOp, path: string, sectorBytes: number): void {
    apply(this.visible, op, path);
    if (op.kind === 'write' && this.badSectors.size > 0) {
      // The drive remaps a bad sector when it is written.
      const first = Math.floor(op.offset / sectorBytes);
      const last = Math.floor((op.offset + op.data.length - 1) / sectorBytes);
      for (const s of [...this.badSectors]) if (s >= first && s <= last) this.badSectors.delete(s);
    }
    this.unsynced.push(op);
    if (this.unsynced.length > unsyncedWritesPerFileMax) {
      this.completeInFlight(path); // written back in order: what was in flight first
      apply(this.durable, this.unsynced.shift()!, path);
    }
  }

  sync(path: string): void {
    for (const op of this.unsynced) apply(this.durable, op, path);
    this.unsynced = [];
  }

  /** A slow sync: the unsynced operations are in flight until completeInFlight(). */
  syncSlowly(): void {
    this.inFlight.push(...this.unsynced);
    this.unsynced = [];
  }

  /** The slow sync finished: its operations are durable. Returns them. */
  completeInFlight(path: string): FileOp[] {
    const ops = this.inFlight;
    for (const op of ops) apply(this.durable, op, path);
    this.inFlight = [];
    return ops;
  }
}

function apply(target: Bytes, op: FileOp, path: string): void {
  if (op.kind === 'write') target.write(op.offset, op.data, path);
  else target.truncate(op.length, path);
}

type Entry = { kind: 'file'; inode: Inode } | { kind: 'dir' };
/** One logged directory change; a rename within one directory is a single op of two changes (atomic). */
type DirChange = { name: string; entry: Entry | undefined };
type DirOp = readonly DirChange[];
type Namespace = Map<string, Map<string, Entry>>;

function applyDirOp(entries: Map<string, Entry>, changes: DirOp): void {
  for (const c of changes) {
    if (c.entry === undefined) entries.delete(c.name);
    else entries.set(c.name, c.entry);
  }
}

function normalize(path: string): string {
  return checkRelativePath(path).join('/');
}

function splitParent(path: string): { parent: string; name: string } {
  const parts = checkRelativePath(path);
  assert(parts.length > 0, 'the root directory has no parent');
  const name = parts.pop()!;
  return { parent: parts.join('/'), name };
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

export interface DiskCrashReport {
  /** Files whose content lost at least one unsynced operation. */
  filesRolledBack: number;
  /** Writes that landed torn (a prefix, or some of their sectors). */
  tornWrites: number;
  /** Directory changes lost. */
  dirOpsLost: number;
}

export class SimDiskStore {
  private visible: Namespace = new Map([['', new Map()]]);
  private durable: Namespace = new Map([['', new Map()]]);
  private dirLog = new Map<string, DirOp[]>();
  /** The operation counter of each logged directory change (parallel to dirLog). */
  private dirLogSeq = new Map<string, number[]>();
  private opSeq = 0;
  /**
   * The operation counter when the slow sync in progress began. The node's code after a slow fsync
   * runs only once the fsync returned, so what it did meanwhile (in the simulator it runs at once)
   * never happened if power is lost before then: crash() drops every file and directory operation
   * made since (found by swarm seed 1824: a segment renamed after its header's slow sync survived a
   * crash inside the stall, its header did not).
   */
  private stallStartSeq: number | undefined;
  private inodeNext = 0;
  /** Incremented by every crash; SimDisk views and handles from an older epoch are stale. */
  epoch = 0;
  /** Called with the stall length when a sync is slow (see DiskFaults.slowSyncProbability). */
  onSlowSync: ((stallMs: number) => void) | undefined;
  /** Files and directory syncs of slow syncs in progress (see the file header), in sync order. */
  private inFlightFiles: { inode: Inode; path: string }[] = [];
  private inFlightDirs: { dir: string; entries: Map<string, Entry>; logged: number }[] = [];
  private syncInFlight = false;
  /** Faults injected so far, per class. */
  readonly faultCounts: DiskFaultCounts = emptyDiskFaultCounts();
  readonly sectorBytes: number;

  constructor(
    private readonly rng: SeededRng,
    /** Replaced (never mutated here) by healFaults(); callers' tests may mutate their own object. */
    public faults: DiskFaults = defaultDiskFaults,
  ) {
    const probabilities: (keyof DiskFaults)[] = [
      'readCorruptionProbability',
      'slowSyncProbability',
      'syncErrorProbability',
      'writeErrorProbability',
      'noSpaceProbability',
      'corruptionProbability',
      'latentSectorErrorProbability',
      'misdirectedWriteProbability',
    ];
    for (const key of probabilities) {
      const p = (faults[key] as number | undefined) ?? 0;
      assert(p >= 0 && p <= 1, `${key} must be in [0, 1]`);
    }
    assert((faults.slowSyncMsMax ?? 0) >= 0, 'slowSyncMsMax must be >= 0');
    this.sectorBytes = faults.sectorBytes ?? defaultSectorBytes;
    assert(Number.isSafeInteger(this.sectorBytes) && this.sectorBytes >= 1, 'sectorBytes must be a positive integer');
  }

  /**
   * Stops injecting faults from now on: no more EIO/ENOSPC, latent sector errors, rot, read
   * bit-flips or slow syncs. Damage already done stays (rotted or bad sectors, lost writes), and a
   * crash still loses unsynced writes: that is how a disk behaves, not an injected fault. The
   * simulator's healAll() calls it, so a healed cluster's nodes stop exiting on disk errors and
   * the liveness phase checks convergence, not luck (docs/SWARM.md).
   */
  healFaults(): void {
    this.faults = {
      ...this.faults,
      syncErrorProbability: 0,
      writeErrorProbability: 0,
      noSpaceProbability: 0,
      corruptionProbability: 0,
      latentSectorErrorProbability: 0,
      misdirectedWriteProbability: 0,
      readCorruptionProbability: 0,
      slowSyncProbability: 0,
    };
  }

  /** Draws whether a fault with probability `p` strikes now (no Rng draw when it is off). */
  chance(p: number | undefined): boolean {
    return p !== undefined && p > 0 && this.rng.chance(p);
  }

  /**
   * A synced file may rot (DiskFaults: corruption, latent sector error, misdirected write). Called
   * by sync() with the operations it just made durable.
   */
  rotAfterSync(inode: Inode, synced: readonly FileOp[], path: string): void {
    const f = this.faults;
    const rng = this.rng;
    const sector = this.sectorBytes;
    const sectors = Math.ceil(inode.durable.len / sector);
    if (sectors > 0 && this.chance(f.corruptionProbability)) {
      const at = rng.int(sectors) * sector;
      const bit = rng.int(Math.min(sector, inode.durable.len - at) * 8);
      const offset = at + (bit >> 3);
      inode.durable.buf[offset]! ^= 1 << (bit & 7);
      if (offset < inode.visible.len) inode.visible.buf[offset]! ^= 1 << (bit & 7);
      this.faultCounts.corruptions++;
    }
    if (sectors > 0 && this.chance(f.latentSectorErrorProbability)) {
      inode.badSectors.add(rng.int(sectors));
      this.faultCounts.latentSectorErrors++;
    }
    const writes = synced.filter((op) => op.kind === 'write' && op.data.length > 0);
    if (writes.length > 0 && this.chance(f.misdirectedWriteProbability)) {
      const op = rng.pick(writes) as Extract<FileOp, { kind: 'write' }>;
      // The platter never got the data at its offset (modelled as zeros there) and got it
      // `shift` bytes (whole sectors) away instead.
      const shift = (1 + rng.int(8)) * sector * (rng.chance(0.5) && op.offset >= sector ? -1 : 1);
      const wrong = Math.max(0, op.offset + shift);
      const image = inode.durable;
      const old = new Uint8Array(op.data.length);
      image.write(op.offset, old, path);
      image.write(wrong, op.data, path);
      this.faultCounts.misdirectedWrites++;
    }
  }

  /**
   * An operator's `rm -rf` of the data directory (or a replaced drive), durable: every file and
   * directory is gone, with its rot and bad sectors. Handles of the old epoch go stale. Fault
   * counts stay (they count what was injected, not what is left).
   */
  wipe(): void {
    this.epoch++;
    this.visible = new Map([['', new Map()]]);
    this.durable = new Map([['', new Map()]]);
    this.dirLog = new Map();
    this.dirLogSeq = new Map();
  }

  /** The process died but the machine did not: handles go stale, the page cache stays. */
  restartProcess(): void {
    this.epoch++;
    this.completeSlowSyncs(); // the machine lives on: the kernel finishes the write-back
  }

  /** A view for one incarnation of the node. */
  view(): SimDisk {
    return new SimDisk(this, this.epoch);
  }

  // --- namespace operations (used by SimDisk) ---

  lookup(path: string): Entry | undefined {
    const p = normalize(path);
    if (p === '') return { kind: 'dir' };
    const { parent, name } = splitParent(p);
    return this.visible.get(parent)?.get(name);
  }

  isDir(path: string): boolean {
    return this.visible.has(normalize(path));
  }

  setEntry(dir: string, name: string, entry: Entry | undefined): void {
    this.changeDir(dir, [{ name, entry }]);
  }

  /** Applies `changes` to `dir` as one atomic, logged directory operation. */
  changeDir(dir: string, changes: DirOp): void {
    const entries = this.visible.get(dir);
    assert(entries !== undefined, `changeDir in a missing directory ${dir}`);
    applyDirOp(entries, changes);
    let log = this.dirLog.get(dir);
    if (log === undefined) this.dirLog.set(dir, (log = []));
    log.push(changes);
    let seqs = this.dirLogSeq.get(dir);
    if (seqs === undefined) this.dirLogSeq.set(dir, (seqs = []));
    seqs.push(this.nextOpSeq());
    if (log.length > unsyncedWritesPerFileMax) {
      // Written back by the OS: fold the oldest change into the durable directory.
      let durableEntries = this.durable.get(dir);
      if (durableEntries === undefined) this.durable.set(dir, (durableEntries = new Map()));
      applyDirOp(durableEntries, log.shift()!);
      seqs.shift();
    }
  }

  newInode(): Inode {
    return new Inode(this.inodeNext++);
  }

  visibleDir(dir: string): Map<string, Entry> | undefined {
    return this.visible.get(dir);
  }

  createDir(dir: string): void {
    this.visible.set(dir, new Map());
  }

  dropDir(dir: string): void {
    this.visible.delete(dir);
  }

  syncDir(dir: string): void {
    const entries = this.visible.get(dir);
    if (entries === undefined) throw ioError('syncDir', 'ENOENT', dir);
    const stallMs = this.drawStall();
    if (this.syncInFlight || stallMs !== undefined) {
      this.inFlightDirs.push({ dir, entries: new Map(entries), logged: this.dirLog.get(dir)?.length ?? 0 });
    } else {
      this.durable.set(dir, new Map(entries));
      this.dirLog.delete(dir);
      this.dirLogSeq.delete(dir);
    }
    if (stallMs !== undefined) this.beginStall(stallMs);
  }

  /** sync() of a file, after its EIO draw: durable now, or in flight (a slow sync, or one in progress). */
  syncFile(inode: Inode, path: string): void {
    const stallMs = this.drawStall();
    if (this.syncInFlight || stallMs !== undefined) {
      inode.syncSlowly();
      this.inFlightFiles.push({ inode, path });
    } else {
      const synced = inode.unsynced;
      inode.sync(path);
      this.rotAfterSync(inode, synced, path);
    }
    if (stallMs !== undefined) this.beginStall(stallMs);
  }

  /** Draws whether this sync is slow: its stall length, or undefined. */
  private drawStall(): number | undefined {
    const p = this.faults.slowSyncProbability ?? 0;
    if (p > 0 && this.onSlowSync !== undefined && this.rng.chance(p)) {
      return this.rng.float() * (this.faults.slowSyncMsMax ?? 0);
    }
    return undefined;
  }

  /** Every inode named in the visible or durable namespace (crash() filters their operations). */
  private allInodes(): Array<{ inode: Inode }> {
    const seen = new Map<number, Inode>();
    for (const ns of [this.visible, this.durable]) {
      for (const entries of ns.values())
        for (const e of entries.values()) if (e.kind === 'file') seen.set(e.inode.id, e.inode);
    }
    for (const log of this.dirLog.values())
      for (const op of log) for (const c of op) if (c.entry?.kind === 'file') seen.set(c.entry.inode.id, c.entry.inode);
    return [...seen.values()].map((inode) => ({ inode }));
  }

  /** The next operation's counter (file writes and truncates, directory changes). */
  nextOpSeq(): number {
    return this.opSeq++;
  }

  private beginStall(stallMs: number): void {
    if (!this.syncInFlight) this.stallStartSeq = this.opSeq;
    this.syncInFlight = true;
    this.onSlowSync?.(stallMs);
  }

  /** True while a slow sync is in progress (its stall has not ended). */
  get slowSyncInFlight(): boolean {
    return this.syncInFlight;
  }

  /** The stall ended: every sync in flight is durable now, in order (then rot may strike it). */
  completeSlowSyncs(): void {
    for (const { inode, path } of this.inFlightFiles) {
      const ops = inode.completeInFlight(path);
      if (ops.length > 0) this.rotAfterSync(inode, ops, path);
    }
    for (const { dir, entries, logged } of this.inFlightDirs) {
      this.durable.set(dir, entries);
      const log = this.dirLog.get(dir);
      if (log !== undefined) log.splice(0, Math.min(logged, log.length));
      this.dirLogSeq.get(dir)?.splice(0, Math.min(logged, log?.length ?? 0, this.dirLogSeq.get(dir)!.length));
    }
    this.inFlightFiles = [];
    this.inFlightDirs = [];
    this.syncInFlight = false;
    this.stallStartSeq = undefined;
  }

  rngForReads(): SeededRng {
    return this.rng;
  }

  /**
   * Power loss: every view and handle goes stale, and the store keeps only what the fault mix
   * lets survive (see the file header). Returns what was lost, for the run's summary.
   */
  crash(): DiskCrashReport {
    this.epoch++;
    const report: DiskCrashReport = { filesRolledBack: 0, tornWrites: 0, dirOpsLost: 0 };
    // Slow syncs in progress never completed: what they covered is unsynced (some prefix survives).
    for (const { inode } of this.inFlightFiles) {
      inode.unsynced = [...inode.inFlight, ...inode.unsynced];
      inode.inFlight = [];
    }
    // What the node did after the slow sync began never happened (see stallStartSeq).
    const cutSeq = this.stallStartSeq;
    if (cutSeq !== undefined) {
      for (const { inode } of this.allInodes()) inode.unsynced = inode.unsynced.filter((op) => op.seq < cutSeq);
      for (const [dir, seqs] of this.dirLogSeq) {
        const keep = seqs.findIndex((q) => q >= cutSeq);
        if (keep < 0) continue;
        seqs.length = keep;
        const log = this.dirLog.get(dir);
        if (log !== undefined) log.length = Math.min(log.length, keep);
      }
    }
    this.stallStartSeq = undefined;
    this.inFlightFiles = [];
    this.inFlightDirs = [];
    this.syncInFlight = false;
    const rng = this.rng;
    const faults = this.faults;

    // 1. Directories: durable entries plus an in-order prefix of the logged changes. Iterate in
    //    sorted order so the Rng draws do not depend on Map insertion history.
    const dirs = new Set<string>([...this.durable.keys(), ...this.dirLog.keys()]);
    const crashed: Namespace = new Map();
    for (const dir of [...dirs].sort()) {
      const entries = new Map(this.durable.get(dir) ?? []);
      const log = this.dirLog.get(dir) ?? [];
      const keep = faults.lostUnsyncedDirOps ? rng.int(log.length + 1) : log.length;
      report.dirOpsLost += log.length - keep;
      for (let i = 0; i < keep; i++) applyDirOp(entries, log[i]!);
      crashed.set(dir, entries);
    }

    // 2. Rebuild the tree from the root; collect the surviving inodes in a stable order.
    const tree: Namespace = new Map();
    const inodes = new Map<number, Inode>();
    const walk = (dir: string): void => {
      const entries = crashed.get(dir) ?? new Map<string, Entry>();
      tree.set(dir, entries);
      for (const name of [...entries.keys()].sort()) {
        const entry = entries.get(name)!;
        if (entry.kind === 'dir') walk(join(dir, name));
        else inodes.set(entry.inode.id, entry.inode);
      }
    };
    walk('');

    // 3. Files: durable image plus an in-order prefix of unsynced operations, the last write maybe
    //    torn at a sector boundary; then, out of order, some sectors of the later writes.
    const sector = this.sectorBytes;
    for (const id of [...inodes.keys()].sort((a, b) => a - b)) {
      const inode = inodes.get(id)!;
      const ops = inode.unsynced;
      const image = inode.durable.copy();
      const where = `inode ${id}`;
      const keep = faults.lostUnsynced ? rng.int(ops.length + 1) : ops.length;
      if (keep < ops.length) report.filesRolledBack++;
      for (let i = 0; i < keep; i++) {
        const op = ops[i]!;
        const isLastKept = i === keep - 1;
        if (op.kind === 'write' && isLastKept && faults.tornWrites && op.data.length > 1 && rng.chance(0.5)) {
          // A strict prefix lands, cut at a sector boundary of the file (possibly nothing).
          const cuts = sectorCuts(op.offset, op.data.length, sector);
          const landedBytes = cuts[rng.int(cuts.length)]!;
          report.tornWrites++;
          if (landedBytes > 0) image.write(op.offset, op.data.subarray(0, landedBytes), where);
          else if (op.offset > image.len) image.truncate(op.offset, where); // size grew, data did not land
        } else {
          apply(image, op, where);
        }
      }
      if (faults.tornSectorsAnyOrder === true && faults.lostUnsynced && keep < ops.length) {
        // Write-back in any order: each sector of a lost write lands with one per-file chance.
        const landChance = rng.float();
        let torn = false;
        for (let i = keep; i < ops.length; i++) {
          const op = ops[i]!;
          if (op.kind === 'truncate') break; // writes after a lost truncate are kept with it (simplification)
          const cuts = [...sectorCuts(op.offset, op.data.length, sector), op.data.length];
          for (let c = 0; c + 1 < cuts.length; c++) {
            if (rng.chance(landChance)) {
              image.write(op.offset + cuts[c]!, op.data.subarray(cuts[c]!, cuts[c + 1]!), where);
              torn = true;
            } else {
              this.faultCounts.tornSectorsOutOfOrder++;
            }
          }
        }
        if (torn) report.tornWrites++;
      }
      inode.durable = image;
      inode.visible = image.copy();
      inode.unsynced = [];
    }

    this.visible = tree;
    this.durable = new Map([...tree].map(([dir, entries]) => [dir, new Map(entries)]));
    this.dirLog = new Map();
    this.dirLogSeq = new Map();
    return report;
  }
}

/** Offsets inside a write of `length` bytes at `offset` where a sector ends (0 included, length excluded). */
function sectorCuts(offset: number, length: number, sectorBytes: number): number[] {
  const cuts = [0];
  for (let at = (Math.floor(offset / sectorBytes) + 1) * sectorBytes; at < offset + length; at += sectorBytes) {
    cuts.push(at - offset);
  }
  return cuts;
}

/** One incarnation's view of a node's disk. */
export class SimDisk implements Disk {
  constructor(
    private readonly store: SimDiskStore,
    private readonly epoch: number,
  ) {}

  private live(path: string): void {
    if (this.store.epoch !== this.epoch) {
      throw diskError(DiskErrorCode.stale, 'disk used after its node crashed', path);
    }
  }

  open(path: string, options: { create: boolean }): DiskFile {
    this.live(path);
    const p = normalize(path);
    const existing = this.store.lookup(p);
    if (existing?.kind === 'dir') throw ioError('open', 'EISDIR', p);
    let inode: Inode;
    if (existing !== undefined) {
      inode = existing.inode;
    } else {
      if (!options.create) throw diskError(DiskErrorCode.fileNotFound, `no such file ${JSON.stringify(p)}`, p);
      const { parent, name } = splitParent(p);
      if (!this.store.isDir(parent)) throw ioError('open', 'ENOENT', p);
      inode = this.store.newInode();
      this.store.setEntry(parent, name, { kind: 'file', inode });
    }
    return new SimDiskFile(p, inode, this.store, this.epoch);
  }

  exists(path: string): boolean {
    this.live(path);
    return this.store.lookup(path) !== undefined;
  }

  list(dir: string): string[] {
    this.live(dir);
    const entries = this.store.visibleDir(normalize(dir));
    return entries === undefined ? [] : [...entries.keys()].sort();
  }

  mkdirp(dir: string): void {
    this.live(dir);
    let current = '';
    for (const part of checkRelativePath(dir)) {
      const next = join(current, part);
      const entry = this.store.visibleDir(current)!.get(part);
      if (entry === undefined) {
        this.store.setEntry(current, part, { kind: 'dir' });
        this.store.createDir(next);
      } else if (entry.kind === 'file') {
        throw ioError('mkdirp', 'ENOTDIR', next);
      }
      current = next;
    }
  }

  rename(from: string, to: string): void {
    this.live(from);
    const src = splitParent(from);
    const dst = splitParent(to);
    const entry = this.store.visibleDir(src.parent)?.get(src.name);
    if (entry === undefined) throw ioError('rename', 'ENOENT', `${from} -> ${to}`);
    if (entry.kind === 'dir') throw ioError('rename (of a directory: unsupported)', 'EISDIR', from);
    const target = this.store.visibleDir(dst.parent);
    if (target === undefined) throw ioError('rename', 'ENOENT', `${from} -> ${to}`);
    if (target.get(dst.name)?.kind === 'dir') throw ioError('rename', 'EISDIR', `${from} -> ${to}`);
    if (src.parent === dst.parent) {
      if (src.name === dst.name) return;
      // Within one directory a rename is atomic, also across a crash.
      this.store.changeDir(src.parent, [
        { name: dst.name, entry },
        { name: src.name, entry: undefined },
      ]);
      return;
    }
    // Across directories each side is its own directory change: until both are synced, a crash may
    // leave the file under both names or under neither.
    this.store.changeDir(dst.parent, [{ name: dst.name, entry }]);
    this.store.changeDir(src.parent, [{ name: src.name, entry: undefined }]);
  }

  remove(path: string): void {
    this.live(path);
    const p = normalize(path);
    const { parent, name } = splitParent(p);
    const entry = this.store.visibleDir(parent)?.get(name);
    if (entry === undefined) throw ioError('remove', 'ENOENT', p);
    if (entry.kind === 'dir') {
      if ((this.store.visibleDir(p)?.size ?? 0) > 0) throw ioError('remove', 'ENOTEMPTY', p);
      this.store.dropDir(p);
    }
    this.store.setEntry(parent, name, undefined);
  }

  syncDir(dir: string): void {
    this.live(dir);
    this.store.syncDir(normalize(dir));
  }
}

class SimDiskFile implements DiskFile {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly inode: Inode,
    private readonly store: SimDiskStore,
    private readonly epoch: number,
  ) {}

  private live(): void {
    if (this.store.epoch !== this.epoch) {
      throw diskError(DiskErrorCode.stale, 'file handle used after its node crashed', this.path);
    }
    if (this.closed) throw diskError(DiskErrorCode.closed, `file ${JSON.stringify(this.path)} is closed`, this.path);
  }

  size(): number {
    this.live();
    return this.inode.visible.len;
  }

  read(offset: number, length: number): Uint8Array {
    this.live();
    assert(Number.isSafeInteger(offset) && offset >= 0, `read offset must be a non-negative integer: ${offset}`);
    assert(Number.isSafeInteger(length) && length >= 0, `read length must be a non-negative integer: ${length}`);
    const image = this.inode.visible;
    const end = Math.min(image.len, offset + length);
    if (this.inode.badSectors.size > 0 && offset < end) {
      const sector = this.store.sectorBytes;
      for (let s = Math.floor(offset / sector); s * sector < end; s++) {
        if (this.inode.badSectors.has(s)) {
          this.store.faultCounts.badSectorReads++;
          // Typed (`op`, `sector`) so that the simulated operator can tell a media error in the
          // node's data from an injected write or sync failure without reading the message.
          throw new BaristaError(DiskErrorCode.io, `read (sector ${s}) ${JSON.stringify(this.path)} failed: EIO`, {
            fields: { op: 'read', sector: s, path: this.path, errno: 'EIO' },
          });
        }
      }
    }
    const out = offset >= end ? new Uint8Array(0) : image.buf.slice(offset, end);
    const p = this.store.faults.readCorruptionProbability;
    if (p > 0 && out.length > 0) {
      const rng = this.store.rngForReads();
      if (rng.chance(p)) {
        out[rng.int(out.length)]! ^= 1 << rng.int(8);
        this.store.faultCounts.readCorruptions++;
      }
    }
    return out;
  }

  append(data: Uint8Array): void {
    this.live();
    this.write(this.inode.visible.len, data);
  }

  writeAt(offset: number, data: Uint8Array): void {
    this.live();
    assert(Number.isSafeInteger(offset) && offset >= 0, `write offset must be a non-negative integer: ${offset}`);
    this.write(offset, data);
  }

  private write(offset: number, data: Uint8Array): void {
    const store = this.store;
    if (store.chance(store.faults.writeErrorProbability)) {
      store.faultCounts.writeErrors++;
      throw ioError('write', 'EIO', this.path);
    }
    // Past the written bytes, not only past the end: a preallocated hole takes blocks when written.
    if (offset + data.length > this.inode.visible.written && store.chance(store.faults.noSpaceProbability)) {
      store.faultCounts.noSpaceErrors++;
      throw ioError('write', 'ENOSPC', this.path);
    }
    this.inode.record(
      { kind: 'write', offset, data: data.slice(), seq: store.nextOpSeq() },
      this.path,
      store.sectorBytes,
    );
  }

  truncate(length: number): void {
    this.live();
    assert(Number.isSafeInteger(length) && length >= 0, `truncate length must be a non-negative integer: ${length}`);
    this.inode.record({ kind: 'truncate', length, seq: this.store.nextOpSeq() }, this.path, this.store.sectorBytes);
  }

  sync(): void {
    this.live();
    const store = this.store;
    if (this.inode.unsynced.length > 0 && store.chance(store.faults.syncErrorProbability)) {
      // fsyncgate: the write-back failed, the kernel marks the pages clean. Nothing became
      // durable, a later sync will not retry it, and reads still see it until a power loss.
      this.inode.unsynced = [];
      store.faultCounts.syncErrors++;
      throw ioError('sync', 'EIO', this.path);
    }
    store.syncFile(this.inode, this.path);
  }

  close(): void {
    // Closing is allowed on a stale handle (a program's stop() may close files after a crash).
    this.closed = true;
  }
}

export { readWholeFile } from '../env/disk-io.ts';

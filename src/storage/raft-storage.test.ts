// Goal: WalRaftStorage reads exactly like the in-memory twin (MemoryRaftStorage, the oracle) for
// any sequence of persisted Readys — appends with conflicting suffixes, hard states, local
// snapshots with compaction, snapshots installed from a leader — and after every crash of the
// simulator's disk it recovers exactly the state of the last persist() that returned (one WAL
// sync per Ready). Also runs on FileDisk for a clean restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Disk } from '../env/types.ts';
import { CorruptionError } from '../lib/errors.ts';
import { mutationsFrom } from '../lib/mutations.ts';
import { SeededRng } from '../lib/rng.ts';
import { MemoryRaftStorage, type RaftLogStorageView } from '../raft/storage.ts';
import { type Entry, EntryType, type HardState } from '../raft/types.ts';
import { SimDiskStore } from '../sim/disk.ts';
import { FileDisk } from './file-disk.ts';
import { type RaftStorageOptions, WalRaftStorage } from './raft-storage.ts';
import { snapshotFileName } from './snapshot.ts';
import { recordingComponents } from './wal/test-components.ts';

const options: RaftStorageOptions = {
  dir: 'group1',
  wal: { segmentBytesMax: 2048, recordPayloadBytesMax: 512, pendingBytesMax: 1 << 20 },
  snapshots: { retainCount: 2, dataBytesMax: 1 << 20, configBytesMax: 4096 },
  logEntriesMax: 10_000,
};

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function openStorage(disk: Disk): WalRaftStorage {
  return WalRaftStorage.open({ disk, ...recordingComponents() }, options);
}

/** Everything the core can read, as one comparable value. */
function view(s: RaftLogStorageView) {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const snap = s.snapshot();
  return {
    hardState: { ...s.hardState() },
    first,
    last,
    baseTerm: s.term(first - 1),
    entries: last >= first ? s.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [],
    snapshot: { meta: snap.meta, data: [...snap.data] },
  };
}

function randomEntries(rng: SeededRng, from: number, term: number): Entry[] {
  return Array.from({ length: 1 + rng.int(5) }, (_, i) => ({
    index: from + i,
    term,
    type: rng.chance(0.1) ? EntryType.Noop : EntryType.Normal,
    data: rng.bytes(rng.int(60)),
  }));
}

/** Entries 1..count of term 1, entry i holding the byte i - 1. */
function termOneEntries(count: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: i + 1,
    term: 1,
    type: EntryType.Normal,
    data: new Uint8Array([i]),
  }));
}

/** One step of a plausible driver against both storages. Returns whether it persisted a Ready. */
function step(rng: SeededRng, real: WalRaftStorage, oracle: MemoryRaftStorage): void {
  const hs = oracle.hardState();
  const last = oracle.lastIndex();
  const lastTerm = oracle.term(last) ?? 0;
  const snapIndex = oracle.snapshot().meta.index;
  const roll = rng.int(100);
  if (roll < 70) {
    // A Ready: maybe a new term / vote, maybe a conflicting suffix, entries, commit.
    // Raft's rules hold: committed entries never conflict, and a conflicting entry has a new term.
    const floor = Math.max(snapIndex, hs.commit);
    const conflicting = rng.chance(0.2) && last > floor;
    const conflictFrom = conflicting ? floor + 1 + rng.int(last - floor) : last + 1;
    const term = Math.max(hs.term, lastTerm) + (conflicting || rng.chance(0.15) ? 1 : 0);
    const entries = randomEntries(rng, conflictFrom, Math.max(term, 1));
    const newLast = conflictFrom + entries.length - 1;
    const commit = Math.max(hs.commit, Math.min(newLast, hs.commit + rng.int(4)));
    const vote = term === hs.term ? hs.vote : rng.pick([undefined, 'n1', 'n2', 'n3']);
    const hardState: HardState = { term: Math.max(term, 1), vote, commit };
    real.persist({ entries, hardState });
    oracle.append(entries);
    oracle.setHardState(hardState);
  } else if (roll < 85 && Math.min(hs.commit, last) > snapIndex) {
    // The application snapshots at its applied index (<= commit) and compacts.
    const index = snapIndex + 1 + rng.int(Math.min(hs.commit, last) - snapIndex);
    const conf = { voters: ['n1', 'n2', 'n3'], learners: [] };
    const data = rng.bytes(100);
    real.createSnapshot(index, conf, data);
    real.sync();
    oracle.createSnapshot(index, conf, data);
    const compactTo = snapIndex + rng.int(index - snapIndex + 1);
    real.compact(compactTo);
    oracle.compact(compactTo);
  } else if (roll < 92) {
    // A snapshot installed from the leader, ahead of our log.
    const index = Math.max(last, hs.commit) + 1 + rng.int(10);
    const term = Math.max(hs.term, lastTerm, 1);
    const snapshot = {
      meta: { index, term, confState: { voters: ['n1', 'n2'], learners: ['n4'] } },
      data: rng.bytes(50),
    };
    const hardState: HardState = { term, vote: hs.term === term ? hs.vote : undefined, commit: index };
    real.persist({ snapshot, entries: [], hardState });
    oracle.applySnapshot(snapshot);
    oracle.setHardState(hardState);
  }
}

/**
 * After a restart the log starts right after the latest snapshot (compaction happens at restart),
 * so compare what the core can observe: hard state, snapshot, last index and every entry from the
 * snapshot on.
 */
function assertSameAfterRestart(got: WalRaftStorage, want: MemoryRaftStorage, where: string): void {
  const g = view(got);
  const w = view(want);
  assert.deepEqual(g.hardState, w.hardState, `${where}: hard state`);
  assert.deepEqual(g.snapshot, w.snapshot, `${where}: snapshot`);
  assert.equal(g.last, w.last, `${where}: last index`);
  assert.equal(g.first, w.snapshot.meta.index + 1, `${where}: log starts after the snapshot`);
  assert.equal(got.term(g.first - 1), want.term(g.first - 1) ?? w.snapshot.meta.term, `${where}: base term`);
  const fromWant = w.entries.filter((e) => e.index >= g.first);
  assert.deepEqual(g.entries, fromWant, `${where}: entries`);
}

test('reads match the in-memory twin while running (no restart)', () => {
  const rng = new SeededRng('raft-storage-live');
  const real = openStorage(new SimDiskStore(rng.fork('disk')).view());
  const oracle = new MemoryRaftStorage();
  for (let i = 0; i < 500; i++) {
    step(rng, real, oracle);
    assert.deepEqual(view(real), view(oracle), `step ${i}`);
  }
});

test('every persisted Ready survives crashes of the simulator disk, exactly', () => {
  for (let seed = 0; seed < 40; seed++) {
    const rng = new SeededRng(`raft-storage-crash-${seed}`);
    const store = new SimDiskStore(rng.fork('disk'));
    let real = openStorage(store.view());
    let oracle = new MemoryRaftStorage();
    for (let i = 0; i < 200; i++) {
      step(rng, real, oracle);
      if (rng.chance(0.1)) {
        store.crash();
        real = openStorage(store.view());
        assertSameAfterRestart(real, oracle, `seed ${seed} step ${i}`);
        // Continue from what the restarted node sees.
        const fresh = new MemoryRaftStorage();
        const snap = real.snapshot();
        if (snap.meta.index > 0) fresh.applySnapshot(snap);
        if (real.lastIndex() >= real.firstIndex()) {
          fresh.append(real.entries(real.firstIndex(), real.lastIndex() + 1, Number.MAX_SAFE_INTEGER));
        }
        fresh.setHardState(real.hardState());
        oracle = fresh;
      }
    }
  }
});

test('a clean restart on FileDisk recovers the same state', () => {
  const root = mkdtempSync(join(tmpdir(), 'baristas-raft-storage-'));
  roots.push(root);
  const rng = new SeededRng('raft-storage-file');
  const real = openStorage(new FileDisk({ root }));
  const oracle = new MemoryRaftStorage();
  for (let i = 0; i < 300; i++) step(rng, real, oracle);
  real.close();
  assertSameAfterRestart(openStorage(new FileDisk({ root })), oracle, 'file restart');
});

test('appending entries that all match still discards the longer tail, like the twin, across a restart', () => {
  const rng = new SeededRng('raft-storage-matching-prefix');
  const store = new SimDiskStore(rng.fork('disk'));
  const real = openStorage(store.view());
  const oracle = new MemoryRaftStorage();
  const entries: Entry[] = [1, 2, 3, 4, 5, 6, 7].map((index) => ({
    index,
    term: 2,
    type: EntryType.Normal,
    data: Uint8Array.of(index),
  }));
  for (const s of [real, oracle]) {
    s.append(entries);
    s.setHardState({ term: 2, vote: undefined, commit: 0 });
  }
  real.sync();
  const prefix = entries.slice(4, 6); // indexes 5 and 6, identical to what both hold
  real.append(prefix);
  oracle.append(prefix);
  real.sync();
  assert.equal(oracle.lastIndex(), 6, 'the twin discards index 7');
  assert.deepEqual(view(real), view(oracle));
  real.close();
  assertSameAfterRestart(openStorage(store.view()), oracle, 'after restart');
});

test('snapshot pruning never deletes the snapshot the durable WAL marker references, orphans or not', () => {
  // Issue 7 item 4. retainCount is 2. A snapshot saved before a crash, whose marker never became
  // durable, is an orphan newer than the durable one; pruning at the next save (before its marker
  // is synced) counted it among the newest two and removed the referenced file: the next crash
  // then found the marker pointing at nothing.
  const run = (mutations: string[]) => {
    const store = new SimDiskStore(new SeededRng('prune-orphans'));
    const open = () =>
      WalRaftStorage.open(
        { disk: store.view(), ...recordingComponents(), mutations: mutationsFrom(mutations) },
        options,
      );
    let s = open();
    const entries = termOneEntries(30);
    const conf = { voters: ['a'], learners: [] };
    s.persist({ entries, hardState: { term: 1, vote: undefined, commit: 30 } });
    s.createSnapshot(10, conf, new Uint8Array([10]));
    s.sync(); // the marker for 10 is durable
    s.createSnapshot(20, conf, new Uint8Array([20])); // file durable, marker never synced
    store.crash();
    s = open();
    assert.equal(s.snapshot().meta.index, 10);
    s.createSnapshot(25, conf, new Uint8Array([25])); // and the power fails before this marker is synced
    store.crash();
    return { open, store };
  };
  const { open, store } = run([]);
  const s = open();
  assert.equal(s.snapshot().meta.index, 10, 'the durable marker still finds its snapshot');
  s.createSnapshot(25, { voters: ['a'], learners: [] }, new Uint8Array([25]));
  s.sync();
  const names = store.view().list('group1/snap');
  // Pruned once 25's marker is durable: 25 and the newest older one stay.
  assert.deepEqual(names, [snapshotFileName(1, 20), snapshotFileName(1, 25)]);
  assert.throws(
    () => run(['snapshot-prune-early']).open(),
    (e: unknown) => e instanceof CorruptionError && /missing/.test(e.message),
  );
});

test('a received snapshot saved in slices: the log is untouched until the last slice; a crash before it keeps the old state', () => {
  const store = new SimDiskStore(new SeededRng('receive-in-slices'));
  const open = () => openStorage(store.view());
  let s = open();
  const entries = termOneEntries(5);
  s.persist({ entries, hardState: { term: 1, vote: undefined, commit: 5 } });
  const before = view(s);
  const data = new SeededRng('image').bytes(1000);
  const snapshot = { meta: { index: 40, term: 2, confState: { voters: ['n1', 'n2'], learners: [] } }, data };
  const temps = () =>
    store
      .view()
      .list('group1/snap')
      .filter((n) => n.endsWith('.tmp'));
  // 1000 bytes, 300 a step: three steps write, the fourth renames and replaces the log.
  let save = s.applySnapshotInSlices(snapshot, 300);
  for (let i = 0; i < 3; i++) {
    assert.equal(save.step(), false, `step ${i} is not the last`);
    assert.deepEqual(view(s), before, `step ${i}: the core still reads the old log`);
    assert.equal(temps().length, 1, 'the file is a temp file until the last step');
  }
  assert.throws(() => s.append([{ index: 6, term: 1, type: EntryType.Normal, data: new Uint8Array() }]), /being saved/);
  // A crash here: the old log and no snapshot; the temp file is removed at the next open.
  store.crash();
  s = open();
  assert.deepEqual(view(s), before, 'recovered the state before the received snapshot');
  assert.deepEqual(temps(), []);
  // Done again to the end: the snapshot and its marker, durable with the next sync.
  save = s.applySnapshotInSlices(snapshot, 300);
  let steps = 1;
  while (!save.step()) steps++;
  assert.equal(steps, 4);
  s.setHardState({ term: 2, vote: undefined, commit: 40 });
  s.sync();
  assert.equal(s.snapshot().meta.index, 40);
  assert.equal(s.lastIndex(), 40, 'the log was replaced');
  store.crash();
  s = open();
  assert.deepEqual([...s.snapshot().data], [...data], 'the received snapshot survives a crash after the sync');
  assert.equal(s.firstIndex(), 41);
});

// Goal: the storage seam behaves as its contract says (storage.ts): truncate-then-append on a
// conflicting suffix, compaction only behind a snapshot, term() defined exactly on
// [firstIndex-1, lastIndex], entries() bounded by bytes but never empty; and the core's log view
// (log.ts) keeps unstable entries apart from durable ones — including the stale durable suffix
// that a truncation has not yet overwritten — plus the in-flight window of progress.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftLog } from './log.ts';
import { Inflights } from './progress.ts';
import { MemoryRaftStorage } from './storage.ts';
import { type Entry, EntryType } from './types.ts';

const e = (index: number, term: number, bytes = 0): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new Uint8Array(bytes),
});
const conf = { voters: ['a'], learners: [] };

test('MemoryRaftStorage: append truncates a conflicting suffix, then appends', () => {
  const s = new MemoryRaftStorage();
  s.append([e(1, 1), e(2, 1), e(3, 1), e(4, 1)]);
  s.append([e(3, 2)]);
  assert.equal(s.lastIndex(), 3);
  assert.equal(s.term(3), 2);
  assert.equal(s.term(4), undefined);
  assert.throws(() => s.append([e(6, 2)]), /gap/);
});

test('MemoryRaftStorage: compaction stays behind the snapshot; term() covers firstIndex-1..lastIndex', () => {
  const s = new MemoryRaftStorage();
  s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2), e(5, 3)]);
  assert.throws(() => s.compact(3), /past snapshot/);
  s.createSnapshot(4, conf, new Uint8Array([7]));
  s.compact(3);
  assert.equal(s.firstIndex(), 4);
  assert.equal(s.term(3), 2);
  assert.equal(s.term(2), undefined);
  assert.deepEqual(
    s.entries(4, 6, 0).map((x) => x.index),
    [4],
    'bytesMax 0 still returns one entry',
  );
  assert.deepEqual(
    s.entries(4, 6, 1000).map((x) => x.index),
    [4, 5],
  );
  s.append([e(2, 1), e(3, 2), e(4, 2), e(5, 3), e(6, 3)]); // entries below firstIndex are skipped
  assert.equal(s.lastIndex(), 6);
  s.applySnapshot({ meta: { index: 10, term: 4, confState: conf }, data: new Uint8Array(0) });
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 10);
  assert.equal(s.term(10), 4);
});

test('RaftLog: unstable tail shadows a stale durable suffix until persisted', () => {
  const s = new MemoryRaftStorage();
  s.append([e(1, 1), e(2, 1), e(3, 1)]);
  const log = new RaftLog(s, 0);
  assert.equal(log.maybeAppend(1, 1, 0, [e(2, 2)]), 2); // conflict at 2: truncate 2..3
  assert.equal(log.lastIndex(), 2);
  assert.equal(log.term(2), 2);
  assert.equal(log.term(3), undefined);
  assert.equal(log.stableLastIndex(), 1, 'the durable entry 2 (term 1) is stale and does not count');
  s.append(log.unstableEntries);
  log.stableTo(2, 2);
  assert.equal(log.stableLastIndex(), 2);
  assert.equal(log.unstableEntries.length, 0);
});

test('RaftLog: stableTo ignores an acknowledgement for entries replaced meanwhile', () => {
  const s = new MemoryRaftStorage();
  const log = new RaftLog(s, 0);
  log.append([e(1, 1), e(2, 1)]);
  const handedOut = [...log.unstableEntries];
  log.maybeAppend(1, 1, 0, [e(2, 2)]); // replaced before the driver acknowledged
  s.append(handedOut);
  log.stableTo(2, 1);
  // Conservative: nothing is marked durable; entry 1 is persisted again with the new entry 2.
  assert.equal(log.stableLastIndex(), 0);
  assert.deepEqual(
    log.unstableEntries.map((x) => [x.index, x.term]),
    [
      [1, 1],
      [2, 2],
    ],
  );
});

test('RaftLog: a committed entry can never be truncated', () => {
  const s = new MemoryRaftStorage();
  s.append([e(1, 1), e(2, 1)]);
  const log = new RaftLog(s, 0);
  log.commitTo(2);
  assert.throws(() => log.maybeAppend(1, 1, 0, [e(2, 2)]), /conflicts with committed/);
});

test('RaftLog: findConflictByTerm skips whole terms (fast back-off hint)', () => {
  const s = new MemoryRaftStorage();
  s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2), e(5, 2), e(6, 4)]);
  const log = new RaftLog(s, 0);
  assert.deepEqual(log.findConflictByTerm(6, 3), { index: 5, term: 2 });
  assert.deepEqual(log.findConflictByTerm(5, 1), { index: 2, term: 1 });
  assert.deepEqual(log.findConflictByTerm(100, 9), { index: 6, term: 4 });
});

test('Inflights: bounded by count and bytes, freed cumulatively', () => {
  const f = new Inflights(3, 100);
  f.add(5, 10);
  f.add(7, 10);
  f.add(9, 10);
  assert.ok(f.full());
  assert.throws(() => f.add(10, 1), /full/);
  f.freeLE(7);
  assert.equal(f.count, 1);
  assert.equal(f.bytes, 10);
  f.add(12, 95);
  assert.ok(f.full(), 'byte bound');
  f.freeLE(100);
  assert.equal(f.count, 0);
});

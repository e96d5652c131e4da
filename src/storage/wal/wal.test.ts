// Goal: the WAL keeps every synced record across restarts, rebuilds the log exactly (truncations,
// snapshot markers, hard state), repairs only what a crash can produce (a torn or zero-filled tail
// of the last segment), and refuses loudly — CorruptionError naming segment and offset — anything
// else. The behavioural cases run against both Disks (FileDisk on a temp dir, the simulator's disk);
// the crash property runs on the simulator's disk, whose crashes lose unsynced writes and tear the
// last one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import type { Disk } from '../../env/types.ts';
import { AssertionError } from '../../lib/assert.ts';
import { BaristaError, CorruptionError, LimitError } from '../../lib/errors.ts';
import { mutationsFrom } from '../../lib/mutations.ts';
import { SeededRng } from '../../lib/rng.ts';
import { defaultDiskFaults, SimDiskStore } from '../../sim/disk.ts';
import { DiskErrorCode } from '../../env/disk-paths.ts';
import { FileDisk } from '../file-disk.ts';
import { encodeRecord, type WalRecord } from './record.ts';
import { scanSegment } from './segment.ts';
import { recordingComponents } from './test-components.ts';
import { Wal, type WalOptions, type WalRecovery } from './wal.ts';

const DIR = 'raft/wal';
const small: WalOptions = {
  dir: DIR,
  segmentBytesMax: 1024,
  recordPayloadBytesMax: 256,
  pendingBytesMax: 64 * 1024,
};

const tempRoots: string[] = [];
after(() => {
  for (const root of tempRoots) rmSync(root, { recursive: true, force: true });
});

const disks: ReadonlyArray<[string, () => Disk]> = [
  [
    'FileDisk',
    () => {
      const root = mkdtempSync(join(tmpdir(), 'baristas-wal-'));
      tempRoots.push(root);
      return new FileDisk({ root });
    },
  ],
  ['SimDisk', () => new SimDiskStore(new SeededRng('wal-test')).view()],
];

function open(disk: Disk, options: WalOptions = small) {
  const components = { disk, ...recordingComponents() };
  return { ...Wal.open(components, options), components };
}

function entry(index: number, term: number, text = `e${index}`): WalRecord {
  return { type: 'entry', index, term, data: new TextEncoder().encode(text) };
}

function entriesOf(r: WalRecovery): Array<[number, number, string]> {
  return r.entries.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)]);
}

function readAll(disk: Disk, path: string): Uint8Array {
  const f = disk.open(path, { create: false });
  try {
    return f.read(0, f.size());
  } finally {
    f.close();
  }
}

const SYNC_BYTES = encodeRecord({ type: 'sync', batch: 1, batchStart: 0, batchBytes: 0 }).byteLength;

function hs(term: number, vote: string): WalRecord {
  return { type: 'hardState', state: { term, vote, commit: 0 } };
}

/** Flips one bit of a file in place, durably (rot on the platter). */
function flipBit(disk: Disk, path: string, offset: number): void {
  const f = disk.open(path, { create: false });
  const b = f.read(offset, 1);
  f.writeAt(offset, new Uint8Array([b[0]! ^ 0x01]));
  f.sync();
  f.close();
}

function lastSegmentPath(disk: Disk): string {
  return `${DIR}/${disk.list(DIR).at(-1)}`;
}

for (const [diskName, makeDisk] of disks) {
  describe(`WAL on ${diskName}`, () => {
    test('an empty WAL opens empty, twice', () => {
      const disk = makeDisk();
      const first = open(disk);
      assert.deepEqual(entriesOf(first.recovery), []);
      assert.equal(first.recovery.hardState, null);
      assert.equal(first.recovery.snapshot, null);
      first.wal.close();
      const second = open(disk);
      assert.deepEqual(entriesOf(second.recovery), []);
      assert.equal(second.recovery.tailRepair, null);
      assert.deepEqual(disk.list(DIR), ['0000000000000000-00000000000000000001.wal']);
    });

    test('entries, hard state, truncation and snapshot marker survive a restart', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([{ type: 'hardState', state: { term: 1, vote: 'n1', commit: 0 } }]);
      wal.append([1, 2, 3, 4, 5].map((i) => entry(i, 1)));
      const mark = wal.sync();
      assert.equal(mark.lsn, 6);
      wal.append([{ type: 'truncate', fromIndex: 4 }, entry(4, 2, 'x4'), entry(5, 2, 'x5'), entry(6, 2, 'x6')]);
      wal.append([{ type: 'hardState', state: { term: 2, vote: 'n2', commit: 3 } }]);
      wal.sync();
      wal.close();
      const r = open(disk).recovery;
      assert.deepEqual(entriesOf(r), [
        [1, 1, 'e1'],
        [2, 1, 'e2'],
        [3, 1, 'e3'],
        [4, 2, 'x4'],
        [5, 2, 'x5'],
        [6, 2, 'x6'],
      ]);
      assert.deepEqual(r.hardState, { term: 2, vote: 'n2', commit: 3 });
      assert.equal(r.baseIndex, 0);
    });

    test('unsynced records are not recovered after close', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1)]);
      wal.sync();
      wal.append([entry(2, 1)]);
      wal.close();
      assert.deepEqual(entriesOf(open(disk).recovery), [[1, 1, 'e1']]);
    });

    test('segments rotate when full; a restart after rotation recovers all and keeps appending', () => {
      const disk = makeDisk();
      const { wal, components } = open(disk);
      wal.append([{ type: 'hardState', state: { term: 1, vote: '', commit: 0 } }]);
      for (let i = 1; i <= 60; i++) {
        wal.append([entry(i, 1, 'x'.repeat(50))]);
        if (i % 7 === 0) wal.sync();
      }
      wal.sync();
      const names = disk.list(DIR);
      assert.ok(names.length >= 4, `expected rotation, got ${names.join(',')}`);
      assert.deepEqual(names, [...names].sort());
      for (const name of names) assert.ok(readAll(disk, `${DIR}/${name}`).byteLength <= small.segmentBytesMax);
      assert.equal(components.metrics.value('wal_segments_created_total'), names.length);
      wal.close();

      const again = open(disk);
      assert.equal(again.recovery.entries.length, 60);
      assert.deepEqual(again.recovery.hardState, { term: 1, vote: '', commit: 0 });
      again.wal.append([entry(61, 2)]);
      again.wal.sync();
      again.wal.close();
      const third = open(disk).recovery;
      assert.deepEqual(
        third.entries.map((e) => e.index),
        Array.from({ length: 61 }, (_, i) => i + 1),
      );
      // Each segment file starts where the log left off.
      for (const name of disk.list(DIR)) assert.match(name, /^\d{16}-\d{20}\.wal$/);
    });

    test('releaseTo removes only segments covered by a synced snapshot marker; recovery starts there', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([{ type: 'hardState', state: { term: 3, vote: 'a', commit: 0 } }]);
      for (let i = 1; i <= 80; i++) wal.append([entry(i, 3, 'y'.repeat(40))]);
      wal.sync();
      const before = disk.list(DIR).length;
      assert.throws(() => wal.releaseTo(50), AssertionError, 'no snapshot marker yet');
      wal.append([{ type: 'snapshot', index: 50, term: 3 }]);
      assert.throws(() => wal.releaseTo(50), AssertionError, 'marker not synced yet');
      wal.sync();
      const removed = wal.releaseTo(50);
      assert.ok(removed > 0 && removed < before, `removed ${removed} of ${before}`);
      wal.append([{ type: 'hardState', state: { term: 3, vote: 'a', commit: 60 } }]);
      wal.sync();
      wal.close();
      const r = open(disk).recovery;
      assert.equal(r.baseIndex, 50);
      assert.equal(r.baseTerm, 3);
      assert.deepEqual(r.snapshot, { index: 50, term: 3 });
      assert.deepEqual(
        r.entries.map((e) => e.index),
        Array.from({ length: 30 }, (_, i) => i + 51),
      );
      assert.deepEqual(r.hardState, { term: 3, vote: 'a', commit: 60 });
    });

    test('a snapshot marker beyond the log (installed from a leader) replaces the log', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1), entry(2, 1), { type: 'snapshot', index: 10, term: 4 }, entry(11, 4)]);
      assert.equal(wal.lastIndex, 11);
      wal.sync();
      wal.close();
      const r = open(disk).recovery;
      assert.equal(r.baseIndex, 10);
      assert.deepEqual(entriesOf(r), [[11, 4, 'e11']]);
    });

    test('a snapshot marker matching a log entry keeps the suffix after it', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2), { type: 'snapshot', index: 3, term: 2 }]);
      wal.sync();
      wal.close();
      const r = open(disk).recovery;
      assert.equal(r.baseIndex, 3);
      assert.deepEqual(entriesOf(r), [[4, 2, 'e4']]);
    });

    test('a torn header at the tail is truncated away, logged and counted', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1), entry(2, 1)]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      const good = readAll(disk, path).byteLength;
      const f = disk.open(path, { create: false });
      f.append(encodeRecord(entry(3, 1)).subarray(0, 5));
      f.sync();
      f.close();
      const reopened = open(disk);
      assert.deepEqual(entriesOf(reopened.recovery), [
        [1, 1, 'e1'],
        [2, 1, 'e2'],
      ]);
      assert.equal(reopened.recovery.tailRepair?.kind, 'torn');
      assert.equal(reopened.recovery.tailRepair?.offset, good);
      assert.equal(readAll(disk, path).byteLength, good);
      assert.equal(reopened.components.metrics.value('wal_tail_repairs_total'), 1);
      assert.ok(reopened.components.log.lines().some((l) => l.level === 'warn' && /torn tail/.test(l.msg ?? '')));
      // The repaired WAL keeps working.
      reopened.wal.append([entry(3, 1)]);
      reopened.wal.sync();
      reopened.wal.close();
      assert.equal(open(disk).recovery.entries.length, 3);
    });

    test('a torn payload at the tail is truncated away', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1)]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      const f = disk.open(path, { create: false });
      const rec = encodeRecord(entry(2, 1, 'a longer payload that gets cut'));
      f.append(rec.subarray(0, rec.byteLength - 4));
      f.sync();
      f.close();
      const r = open(disk).recovery;
      assert.deepEqual(entriesOf(r), [[1, 1, 'e1']]);
      assert.equal(r.tailRepair?.kind, 'torn');
    });

    test('a bit flipped in a synced hard state in the final batch fails loudly, not back at term 0', () => {
      // Issue 7 item 1: the last record on disk, synced and acknowledged (a vote for b in term 5),
      // rots. Cutting it as a "torn tail" would let the node vote again in term 5.
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([{ type: 'hardState', state: { term: 5, vote: 'b', commit: 0 } }]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      const bytes = readAll(disk, path);
      const hardStateAt = bytes.byteLength - SYNC_BYTES - encodeRecord(hs(5, 'b')).byteLength;
      flipBit(disk, path, hardStateAt + 9 + 3); // in the term field's third byte
      const expectLoud = (e: unknown) =>
        e instanceof CorruptionError &&
        e.fields['segment'] === path.split('/').at(-1) &&
        e.fields['offset'] === hardStateAt &&
        /may have been synced/.test(e.message);
      assert.throws(() => open(disk), expectLoud);
      assert.equal(readAll(disk, path).byteLength, bytes.byteLength, 'nothing was cut');
      // The planted bug re-creates the defect: back at term 0, no vote, only a repair counted.
      const planted = Wal.open(
        { disk, ...recordingComponents(), mutations: mutationsFrom(['wal-trust-torn-tail']) },
        small,
      );
      assert.equal(planted.recovery.hardState, null);
      assert.notEqual(planted.recovery.tailRepair, null);
    });

    test('sectors of the final batch lost out of order (a later one landed) are cut as unsynced', () => {
      // Issue 7 item 2: a power loss during the final batch's fsync persisted its last sector (with
      // the SYNC record) but not an earlier one, which reads as zeros. That batch was never
      // acknowledged: cut it, count it, boot.
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1)]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      const synced = readAll(disk, path).byteLength;
      const batch = [2, 3, 4, 5, 6].map((i) => entry(i, 1, String(i).repeat(200)));
      const body = Buffer.concat(batch.map((r) => encodeRecord(r)));
      const marker = encodeRecord({ type: 'sync', batch: 2, batchStart: synced, batchBytes: body.byteLength });
      const torn = Buffer.concat([body, marker]);
      const sectorStart = Math.ceil(synced / 512) * 512;
      torn.fill(0, sectorStart - synced, sectorStart - synced + 512); // one whole sector did not land
      assert.ok(sectorStart + 512 < synced + body.byteLength, 'a later sector landed');
      const f = disk.open(path, { create: false });
      f.append(torn);
      f.sync();
      f.close();
      const reopened = open(disk);
      assert.deepEqual(entriesOf(reopened.recovery), [[1, 1, 'e1']]);
      assert.equal(reopened.recovery.tailRepair?.kind, 'torn');
      assert.equal(reopened.recovery.tailRepair?.offset, synced);
      assert.equal(reopened.components.metrics.value('wal_tail_repairs_total'), 1);
      assert.equal(readAll(disk, path).byteLength, synced);
    });

    test('a synced final batch written to the wrong place (misdirected) fails loudly, not cut as torn', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1)]);
      wal.sync();
      wal.append([hs(5, 'b'), entry(2, 5)]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      const bytes = readAll(disk, path);
      const batchStart =
        bytes.byteLength - SYNC_BYTES - encodeRecord(hs(5, 'b')).byteLength - encodeRecord(entry(2, 5)).byteLength;
      const batch = bytes.slice(batchStart);
      // The device put the batch 512 bytes further on; where it belongs reads as zeros.
      const f = disk.open(path, { create: false });
      f.writeAt(batchStart, new Uint8Array(batch.byteLength));
      f.writeAt(batchStart + 512, batch);
      f.sync();
      f.close();
      assert.throws(
        () => open(disk),
        (e: unknown) => e instanceof CorruptionError && /wrong place/.test(e.message),
      );
    });

    test('a bit flipped in an earlier synced batch fails loudly: the next SYNC record proves it synced', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1), entry(2, 1)]);
      wal.sync();
      wal.append([entry(3, 1)]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      const bytes = readAll(disk, path);
      const second = bytes.byteLength - SYNC_BYTES - encodeRecord(entry(3, 1)).byteLength;
      const offset2 = second - SYNC_BYTES - encodeRecord(entry(2, 1)).byteLength;
      flipBit(disk, path, offset2 + 12);
      assert.throws(
        () => open(disk),
        (e: unknown) =>
          e instanceof CorruptionError &&
          e.fields['segment'] === path.split('/').at(-1) &&
          e.fields['offset'] === offset2 &&
          /proves every byte before/.test(e.message),
      );
    });

    test('a transient read error during recovery is read again, never cut', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1), entry(2, 1, 'last')]);
      wal.sync();
      wal.close();
      // The first read of each file returns a copy with one bit flipped; later reads are right.
      const seen = new Set<string>();
      const flaky: Disk = {
        ...disk,
        open: (p, o) => {
          const f = disk.open(p, o);
          return {
            ...f,
            path: f.path,
            size: () => f.size(),
            read: (offset, length) => {
              const out = Uint8Array.from(f.read(offset, length));
              if (!seen.has(p) && out.byteLength > 0) out[out.byteLength - 30]! ^= 0x04;
              seen.add(p);
              return out;
            },
            append: (d) => f.append(d),
            writeAt: (at, d) => f.writeAt(at, d),
            truncate: (n) => f.truncate(n),
            sync: () => f.sync(),
            close: () => f.close(),
          };
        },
        exists: (p) => disk.exists(p),
        list: (d) => disk.list(d),
        mkdirp: (d) => disk.mkdirp(d),
        rename: (a, b) => disk.rename(a, b),
        remove: (p) => disk.remove(p),
        syncDir: (d) => disk.syncDir(d),
      };
      const r = Wal.open({ disk: flaky, ...recordingComponents() }, small).recovery;
      assert.deepEqual(entriesOf(r), [
        [1, 1, 'e1'],
        [2, 1, 'last'],
      ]);
      assert.equal(r.tailRepair, null);
    });

    test('zeros after the last batch are unwritten space, cut without a repair; zeros followed by data are corruption', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1)]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      const f = disk.open(path, { create: false });
      const written = f.size();
      f.append(new Uint8Array(512));
      f.sync();
      f.close();
      const reopened = open(disk);
      // Preallocated space, or a batch none of whose sectors landed: nothing there was acknowledged.
      assert.equal(reopened.recovery.tailRepair, null);
      assert.equal(reopened.components.metrics.value('wal_tail_repairs_total'), 0);
      assert.deepEqual(entriesOf(reopened.recovery), [[1, 1, 'e1']]);
      reopened.wal.close();
      const cut = disk.open(path, { create: false });
      assert.equal(cut.size(), written, 'the zeros are cut at open');
      cut.close();

      const g = disk.open(path, { create: false });
      g.append(new Uint8Array(100));
      g.append(encodeRecord(entry(2, 1)));
      g.sync();
      g.close();
      assert.throws(() => open(disk), CorruptionError);
    });

    test('a bad CRC in the middle of the last segment is a CorruptionError naming segment and offset', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      const bytes = readAll(disk, path);
      const record3 = encodeRecord(entry(3, 1)).byteLength;
      const record2 = encodeRecord(entry(2, 1)).byteLength;
      const offset2 = bytes.byteLength - SYNC_BYTES - record3 - record2;
      const f = disk.open(path, { create: false });
      f.writeAt(offset2 + 12, new Uint8Array([bytes[offset2 + 12]! ^ 0x01]));
      f.sync();
      f.close();
      assert.throws(
        () => open(disk),
        (e: unknown) =>
          e instanceof CorruptionError &&
          e.fields['segment'] === path.split('/').at(-1) &&
          e.fields['offset'] === offset2 &&
          /may have been synced/.test(e.message),
      );
    });

    test('any defect in a sealed (non-last) segment is a CorruptionError, even at its end', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      for (let i = 1; i <= 40; i++) wal.append([entry(i, 1, 'z'.repeat(60))]);
      wal.sync();
      wal.close();
      const names = disk.list(DIR);
      assert.ok(names.length >= 2);
      const path = `${DIR}/${names[0]}`;
      const size = readAll(disk, path).byteLength;
      const f = disk.open(path, { create: false });
      f.truncate(size - 3);
      f.sync();
      f.close();
      assert.throws(
        () => open(disk),
        (e: unknown) => e instanceof CorruptionError && e.fields['segment'] === names[0],
      );
    });

    test('a missing segment — in the middle or at the start — is a CorruptionError', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      for (let i = 1; i <= 60; i++) wal.append([entry(i, 1, 'w'.repeat(60))]);
      wal.sync();
      wal.close();
      const names = disk.list(DIR);
      assert.ok(names.length >= 3);
      disk.remove(`${DIR}/${names[1]}`);
      assert.throws(() => open(disk), /gap/);

      const disk2 = makeDisk();
      const w2 = open(disk2).wal;
      for (let i = 1; i <= 60; i++) w2.append([entry(i, 1, 'w'.repeat(60))]);
      w2.sync();
      w2.close();
      disk2.remove(`${DIR}/${disk2.list(DIR)[0]}`);
      assert.throws(() => open(disk2), /earlier segment is missing/);
    });

    test('a damaged header in the last segment is corruption (it was synced before the segment was named)', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([{ type: 'hardState', state: { term: 1, vote: 'a', commit: 0 } }]);
      for (let i = 1; i <= 30; i++) wal.append([entry(i, 1, 'v'.repeat(60))]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      assert.notEqual(path, `${DIR}/${disk.list(DIR)[0]}`, 'rotated: the last segment carries a hard state header');
      const f = disk.open(path, { create: false });
      f.truncate(30); // inside the HARD_STATE header record
      f.sync();
      f.close();
      assert.throws(() => open(disk), /segment header is damaged/);
    });

    test('a segment left unfinished by a crash during creation (temp name) is removed at open', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1)]);
      wal.sync();
      wal.close();
      const f = disk.open(`${DIR}/0000000000000001-00000000000000000002.wal.tmp`, { create: true });
      f.append(new Uint8Array([1, 2, 3]));
      f.close();
      const reopened = open(disk);
      assert.deepEqual(entriesOf(reopened.recovery), [[1, 1, 'e1']]);
      assert.deepEqual(disk.list(DIR), ['0000000000000000-00000000000000000001.wal']);
      assert.ok(reopened.components.log.lines().some((l) => /unfinished segment/.test(l.msg ?? '')));
    });

    test('a segment whose header disagrees with its name is a CorruptionError', () => {
      const disk = makeDisk();
      const { wal } = open(disk);
      wal.append([entry(1, 1)]);
      wal.sync();
      wal.close();
      const name = disk.list(DIR)[0]!;
      disk.rename(`${DIR}/${name}`, `${DIR}/0000000000000000-00000000000000000005.wal`);
      assert.throws(() => open(disk), /SEGMENT record matching the file name/);
    });
  });
}

describe('final-batch recovery tells rot from a tear', () => {
  // Review of the SYNC-record recovery: a synced batch that rots must be refused loudly, never cut
  // as torn, whatever legitimate zeros or rotted length fields it holds.
  const wide: WalOptions = {
    dir: DIR,
    segmentBytesMax: 64 * 1024,
    recordPayloadBytesMax: 4096,
    pendingBytesMax: 64 * 1024,
  };
  const HEADER_BYTES = encodeRecord({ type: 'segment', seq: 0, firstIndex: 1, headerRecords: 0 }).byteLength;
  const refused = (e: unknown) => e instanceof CorruptionError;

  for (const [diskName, makeDisk] of disks) {
    test(`${diskName}: a synced batch whose entry holds zero sectors is refused when a bit of its vote rots`, () => {
      const disk = makeDisk();
      const { wal } = open(disk, wide);
      wal.append([hs(5, 'b'), { type: 'entry', index: 1, term: 5, data: new Uint8Array(1500) }]);
      wal.sync();
      wal.close();
      flipBit(disk, lastSegmentPath(disk), HEADER_BYTES + 12); // in the HARD_STATE's term
      assert.throws(() => open(disk, wide), refused);
    });

    test(`${diskName}: a one-byte zero piece at the batch start is no sign of a tear`, () => {
      const disk = makeDisk();
      const { wal } = open(disk, wide);
      // Batch 1 fills the file up to offset 511, so batch 2 starts one byte before a sector end.
      const pad = 511 - HEADER_BYTES - SYNC_BYTES - 25;
      wal.append([{ type: 'entry', index: 1, term: 1, data: new Uint8Array(pad).fill(7) }]);
      wal.sync();
      // Batch 2's first record has payload length 256: its first (low) byte, at offset 511, is 0.
      wal.append([{ type: 'entry', index: 2, term: 1, data: new Uint8Array(240).fill(9) }]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      assert.equal(readAll(disk, path)[511], 0);
      flipBit(disk, path, 511 + 100);
      assert.throws(() => open(disk, wide), refused);
    });

    test(`${diskName}: a lost sector holding only the first 1..7 bytes of the final batch is a tear, cut`, () => {
      // Swarm seeds 713 and 1505: the final batch started 5 (6) bytes before a sector boundary; a
      // power loss lost that sector's write (those bytes read as the zeros past the old end of
      // file) while every later sector, SYNC included, landed. Too short for an 8-byte zero piece,
      // this was refused as possibly synced rot, and the node never booted again.
      for (let head = 1; head <= 7; head++) {
        const disk = makeDisk();
        const { wal } = open(disk, wide);
        // Batch 1 (a vote and an entry) ends `head` bytes before the first sector boundary.
        const pad = 512 - head - HEADER_BYTES - encodeRecord(hs(5, 'b')).byteLength - SYNC_BYTES - 25;
        wal.append([hs(5, 'b'), { type: 'entry', index: 1, term: 5, data: new Uint8Array(pad).fill(7) }]);
        wal.sync();
        wal.append([hs(6, 'c'), { type: 'entry', index: 2, term: 6, data: new Uint8Array(600).fill(9) }]);
        wal.sync();
        wal.close();
        const path = lastSegmentPath(disk);
        const f = disk.open(path, { create: false });
        assert.ok(
          f.read(512 - head, head).some((b) => b !== 0),
          `head ${head}: the batch's head was written non-zero`,
        );
        f.writeAt(512 - head, new Uint8Array(head)); // the head sector's write did not land
        f.sync();
        f.close();
        const { recovery } = open(disk, wide);
        assert.equal(recovery.tailRepair?.kind, 'torn', `head ${head}`);
        assert.deepEqual(recovery.hardState, { term: 5, vote: 'b', commit: 0 }, `head ${head}`);
      }
    });

    test(`${diskName}: a rotted length or CRC of a synced SYNC record is refused, not read as a tear`, () => {
      const hsBytes = encodeRecord(hs(5, 'b')).byteLength;
      for (const bit of [0, 5, 10, 20, 32]) {
        const disk = makeDisk();
        const { wal } = open(disk, wide);
        wal.append([hs(5, 'b')]);
        wal.sync();
        wal.close();
        const at = HEADER_BYTES + hsBytes + (bit >> 3); // bit 32 = the CRC's first byte
        const f = disk.open(lastSegmentPath(disk), { create: false });
        const b = f.read(at, 1);
        f.writeAt(at, new Uint8Array([b[0]! ^ (1 << (bit & 7))]));
        f.sync();
        f.close();
        assert.throws(() => open(disk, wide), refused, `bit ${bit}`);
      }
    });

    test(`${diskName}: a sector of a batch that did not land is still cut when the batch also holds zero sectors`, () => {
      const disk = makeDisk();
      const { wal } = open(disk, wide);
      wal.append([hs(5, 'b')]);
      wal.sync();
      const data = new Uint8Array(2048).fill(3);
      data.fill(0, 600, 1200); // a whole zero sector, written so
      wal.append([hs(6, 'c'), { type: 'entry', index: 1, term: 6, data }]);
      wal.sync();
      wal.close();
      const path = lastSegmentPath(disk);
      const f = disk.open(path, { create: false });
      f.writeAt(1536, new Uint8Array(512)); // this sector was not written as zeros: it did not land
      f.sync();
      f.close();
      const { recovery } = open(disk, wide);
      assert.equal(recovery.tailRepair?.kind, 'torn');
      assert.deepEqual(recovery.hardState, { term: 5, vote: 'b', commit: 0 });
    });
  }

  test('client data full of fake SYNC headers costs the scan no long CRCs', () => {
    const head = encodeRecord({ type: 'segment', seq: 0, firstIndex: 1, headerRecords: 0 });
    const data = new Uint8Array(48 * 1024).fill(1);
    const view = new DataView(data.buffer);
    for (let o = 0; o + 9 <= 9 * 1000; o += 9) {
      view.setUint32(o, 32 * 1024, true); // a length any record may have
      data[o + 8] = 6; // SYNC
    }
    const e = encodeRecord({ type: 'entry', index: 1, term: 1, data });
    e[20] = e[20]! ^ 1; // the entry rots, so the scan looks for SYNC records after it
    const file = new Uint8Array(head.byteLength + e.byteLength);
    file.set(head);
    file.set(e, head.byteLength);
    const stats = { crcBytes: 0 };
    assert.throws(() => {
      const r = scanSegment(file, { segment: 's', payloadBytesMax: 64 * 1024, stats });
      if (r.tail.kind === 'corrupt') throw new CorruptionError(r.tail.reason, {});
    }, refused);
    assert.ok(
      stats.crcBytes < 2 * file.byteLength,
      `hashed ${stats.crcBytes} bytes for a ${file.byteLength}-byte file`,
    );
  });

  test('a segment renamed into place but whose directory was never synced is made durable at open', () => {
    for (let seed = 0; seed < 20; seed++) {
      const faults = { ...defaultDiskFaults, lostUnsynced: true, lostUnsyncedDirOps: true };
      const store = new SimDiskStore(new SeededRng(`wal-dir-${seed}`), faults);
      const components = () => ({ disk: store.view(), ...recordingComponents() });
      const first = Wal.open(components(), small);
      first.wal.close();
      const disk = store.view();
      const name = disk.list(DIR)[0]!;
      disk.remove(`${DIR}/${name}`);
      disk.syncDir(DIR);
      // A crash between the rename and the syncDir of segment creation, replayed by hand.
      const temp = disk.open(`${DIR}/${name}.tmp`, { create: true });
      temp.append(encodeRecord({ type: 'segment', seq: 0, firstIndex: 1, headerRecords: 0 }));
      temp.sync();
      temp.close();
      disk.rename(`${DIR}/${name}.tmp`, `${DIR}/${name}`);
      const { wal } = Wal.open(components(), small);
      wal.append([hs(3, 'a'), entry(1, 3)]);
      wal.sync(); // acknowledged
      store.crash();
      const { recovery } = Wal.open(components(), small);
      assert.deepEqual(recovery.hardState, { term: 3, vote: 'a', commit: 0 }, `seed ${seed}`);
      assert.deepEqual(entriesOf(recovery), [[1, 3, 'e1']], `seed ${seed}`);
    }
  });
});

describe('WAL append contract', () => {
  const disk = () => new SimDiskStore(new SeededRng('contract')).view();

  test('a gap, a term going back, a second vote in a term, or a truncation into a snapshot is refused', () => {
    const { wal } = open(disk());
    wal.append([entry(1, 2), { type: 'hardState', state: { term: 2, vote: 'a', commit: 0 } }]);
    assert.throws(() => wal.append([entry(3, 2)]), AssertionError);
    assert.throws(() => wal.append([entry(2, 1)]), AssertionError);
    assert.throws(() => wal.append([{ type: 'hardState', state: { term: 2, vote: 'b', commit: 0 } }]), AssertionError);
    assert.throws(() => wal.append([{ type: 'hardState', state: { term: 1, vote: '', commit: 0 } }]), AssertionError);
    wal.append([{ type: 'snapshot', index: 1, term: 2 }]);
    assert.throws(() => wal.append([{ type: 'truncate', fromIndex: 1 }]), AssertionError);
    // A refused batch leaves no trace, not even its valid prefix.
    assert.throws(() => wal.append([entry(2, 2), entry(4, 2)]), AssertionError);
    assert.equal(wal.lastIndex, 1);
    assert.equal(wal.pendingRecordCount, 3);
  });

  test('append beyond walPendingBytesMax is backpressure (LimitError), not growth', () => {
    const { wal } = open(disk(), { ...small, pendingBytesMax: 300 });
    wal.append([entry(1, 1, 'x'.repeat(200))]);
    assert.throws(() => wal.append([entry(2, 1, 'x'.repeat(200))]), LimitError);
    wal.sync();
    wal.append([entry(2, 1, 'x'.repeat(200))]);
  });

  test('a failed fdatasync poisons the WAL: later calls rethrow instead of pretending', () => {
    const base = disk();
    let failNext = false;
    const failing: Disk = {
      ...base,
      open: (path, o) => {
        const f = base.open(path, o);
        return {
          ...f,
          path: f.path,
          size: () => f.size(),
          read: (off, len) => f.read(off, len),
          append: (d) => f.append(d),
          writeAt: (off, d) => f.writeAt(off, d),
          truncate: (n) => f.truncate(n),
          close: () => f.close(),
          sync: () => {
            if (failNext) throw new Error('EIO');
            f.sync();
          },
        };
      },
      exists: (p) => base.exists(p),
      list: (d) => base.list(d),
      mkdirp: (d) => base.mkdirp(d),
      rename: (a, b) => base.rename(a, b),
      remove: (p) => base.remove(p),
      syncDir: (d) => base.syncDir(d),
    };
    const { wal } = open(failing);
    wal.append([entry(1, 1)]);
    failNext = true;
    assert.throws(() => wal.sync(), /EIO/);
    failNext = false;
    assert.throws(() => wal.sync(), /EIO/);
    assert.throws(() => wal.append([entry(2, 1)]), /EIO/);
  });
});

describe('WAL after a failed fsync (SimDisk: the page cache outlives the process, not a reboot)', () => {
  // Issue 7 item 3. The fsync of (term 6, vote c) fails: Linux marks the pages clean, so they are
  // never written, yet a restarted process reads them back. Whatever recovery returns, the node acts
  // on (it voted c in term 6), so it must survive the next power loss too.
  function scenario(mutations: string[]) {
    const faults = { ...defaultDiskFaults, lostUnsynced: true, syncErrorProbability: 0 };
    const store = new SimDiskStore(new SeededRng('wal-fsync-failure'), faults);
    const components = () => ({ disk: store.view(), ...recordingComponents(), mutations: mutationsFrom(mutations) });
    const { wal } = Wal.open(components(), small);
    wal.append([hs(5, 'b')]);
    wal.sync();
    wal.append([hs(6, 'c')]);
    faults.syncErrorProbability = 1;
    let failure: unknown;
    assert.throws(
      () => wal.sync(),
      (e: unknown) => {
        failure = e;
        return e instanceof BaristaError && e.code === DiskErrorCode.io && e.fields['errno'] === 'EIO';
      },
    );
    assert.throws(
      () => wal.append([entry(1, 6)]),
      (e: unknown) => e === failure,
      'the WAL refuses every later call',
    );
    faults.syncErrorProbability = 0;
    store.restartProcess(); // the process exits and starts again; the machine did not reboot
    const afterExit = Wal.open(components(), small).recovery.hardState;
    store.crash(); // now the power fails
    const afterReboot = Wal.open(components(), small).recovery.hardState;
    return { afterExit, afterReboot };
  }

  test('what recovery returns after the failed fsync survives the next power loss', () => {
    const { afterExit, afterReboot } = scenario([]);
    assert.deepEqual(afterExit, { term: 6, vote: 'c', commit: 0 }, 'the page cache still shows the batch');
    assert.deepEqual(afterReboot, afterExit, 'recovery re-persisted it before trusting it');
  });

  test("the planted 'wal-trust-page-cache' forgets the vote it acted on", () => {
    const { afterExit, afterReboot } = scenario(['wal-trust-page-cache']);
    assert.deepEqual(afterExit, { term: 6, vote: 'c', commit: 0 });
    assert.deepEqual(afterReboot, { term: 5, vote: 'b', commit: 0 });
  });
});

test('a segment of the format before sync records (17-byte SEGMENT payload) is refused loudly, not cut', () => {
  const disk = new SimDiskStore(new SeededRng('legacy-format')).view();
  disk.mkdirp(DIR);
  const body = new Uint8Array(17); // seq 0, firstIndex 1, headerRecords 0
  body[8] = 1;
  const record = new Uint8Array(9 + 17);
  const view = new DataView(record.buffer);
  view.setUint32(0, 17, true);
  record[8] = 1; // SEGMENT
  record.set(body, 9);
  view.setUint32(4, crc32c(record.subarray(8)), true);
  const f = disk.open(`${DIR}/0000000000000000-00000000000000000001.wal`, { create: true });
  f.append(record);
  f.append(encodeRecord(entry(1, 1)));
  f.sync();
  f.close();
  assert.throws(
    () => open(disk),
    (e: unknown) => e instanceof CorruptionError && /format 1/.test(e.message),
  );
});

test('a segment of format 2 (CRC without the length field) is refused loudly, not cut', () => {
  const disk = new SimDiskStore(new SeededRng('format-2')).view();
  disk.mkdirp(DIR);
  const record = new Uint8Array(9 + 18);
  const view = new DataView(record.buffer);
  view.setUint32(0, 18, true);
  record[8] = 1; // SEGMENT: seq 0, firstIndex 1, headerRecords 0, format 2
  record[9 + 8] = 1;
  record[9 + 17] = 2;
  view.setUint32(4, crc32c(record.subarray(8)), true);
  const f = disk.open(`${DIR}/0000000000000000-00000000000000000001.wal`, { create: true });
  f.append(record);
  f.sync();
  f.close();
  assert.throws(
    () => open(disk),
    (e: unknown) => e instanceof CorruptionError && /format 2/.test(e.message),
  );
});

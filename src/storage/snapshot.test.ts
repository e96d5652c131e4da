// Goal: snapshot files are atomic (a crash mid-save leaves the old snapshot or the new one, never a
// partial file under a final name), validated on load (header CRC, name, length, content CRC), an
// invalid newest one falls back to the previous and is reported, and at most retainCount are kept.
// Runs against FileDisk on a temp dir and the simulator's disk.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Disk } from '../env/types.ts';
import { CorruptionError } from '../lib/errors.ts';
import { SeededRng } from '../lib/rng.ts';
import { flakyReads } from '../sim/flaky-disk.ts';
import { SimDiskStore } from '../sim/disk.ts';
import { FileDisk } from './file-disk.ts';
import { SnapshotStore, type SnapshotStoreOptions, snapshotFileName } from './snapshot.ts';
import { recordingComponents } from './wal/test-components.ts';

const options: SnapshotStoreOptions = { dir: 'g/snap', retainCount: 2, dataBytesMax: 1 << 20, configBytesMax: 1024 };
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const disks: ReadonlyArray<[string, () => Disk]> = [
  [
    'FileDisk',
    () => {
      const root = mkdtempSync(join(tmpdir(), 'baristas-snap-'));
      roots.push(root);
      return new FileDisk({ root });
    },
  ],
  ['SimDisk', () => new SimDiskStore(new SeededRng('snap')).view()],
];

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function store(disk: Disk) {
  const c = { disk, ...recordingComponents() };
  return { store: new SnapshotStore(c, options), ...c };
}

for (const [name, makeDisk] of disks) {
  describe(`snapshots on ${name}`, () => {
    test('save then load round-trips; the newest wins; pruning keeps retainCount', () => {
      const disk = makeDisk();
      const { store: s } = store(disk);
      assert.equal(s.loadNewest().snapshot, null);
      s.save({ index: 10, term: 1, config: bytes('c10'), data: bytes('d10') });
      s.save({ index: 20, term: 2, config: bytes('c20'), data: bytes('d20') });
      s.save({ index: 30, term: 2, config: bytes('c30'), data: bytes('x'.repeat(5000)) });
      assert.equal(s.names().length, 3, 'save removes nothing');
      assert.equal(s.prune({ index: 30, term: 2 }), 1);
      assert.deepEqual(s.names(), [snapshotFileName(2, 30), snapshotFileName(2, 20)]);
      const { snapshot, rejected } = store(disk).store.loadNewest();
      assert.deepEqual(rejected, []);
      assert.equal(snapshot?.index, 30);
      assert.equal(snapshot?.term, 2);
      assert.equal(text(snapshot!.config), 'c30');
      assert.equal(snapshot!.data.byteLength, 5000);
      assert.equal(text(s.load(20, 2).data), 'd20');
      assert.throws(() => s.load(10, 1), CorruptionError);
    });

    test('prune never removes the durable snapshot or anything newer (orphans, pending ones)', () => {
      const disk = makeDisk();
      const { store: s } = store(disk);
      for (const index of [10, 20, 30, 40]) s.save({ index, term: 1, config: bytes('c'), data: bytes(`d${index}`) });
      // The durable WAL marker references 20; 30 and 40 are orphans of crashes (or not yet durable).
      assert.equal(s.prune({ index: 20, term: 1 }), 0, 'retainCount 2: 20 and one older (10) stay');
      s.save({ index: 5, term: 1, config: bytes('c'), data: bytes('d5') });
      assert.equal(s.prune({ index: 20, term: 1 }), 1);
      assert.deepEqual(
        s.names(),
        [40, 30, 20, 10].map((i) => snapshotFileName(1, i)),
      );
      assert.equal(s.prune({ index: 99, term: 9 }), 0, 'a marker with no file anchors nothing');
    });

    test('an invalid newest snapshot falls back to the previous one and is reported', () => {
      const disk = makeDisk();
      const { store: s } = store(disk);
      s.save({ index: 5, term: 1, config: bytes('a'), data: bytes('old') });
      s.save({ index: 9, term: 1, config: bytes('b'), data: bytes('new data') });
      const f = disk.open(`g/snap/${snapshotFileName(1, 9)}`, { create: false });
      const size = f.size();
      f.writeAt(size - 6, new Uint8Array([0xff]));
      f.sync();
      f.close();
      const reopened = store(disk);
      const { snapshot, rejected } = reopened.store.loadNewest();
      assert.equal(text(snapshot!.data), 'old');
      assert.deepEqual(
        rejected.map((r) => [r.name, r.reason]),
        [[snapshotFileName(1, 9), 'content crc mismatch']],
      );
      assert.equal(reopened.metrics.value('snapshot_rejected_total'), 1);
      assert.ok(reopened.log.lines().some((l) => l.level === 'error'));
      assert.throws(() => reopened.store.load(9, 1), /content crc mismatch/);
    });

    test('truncated files, a header/name mismatch and a bad header CRC are each rejected', () => {
      const disk = makeDisk();
      const { store: s } = store(disk);
      s.save({ index: 3, term: 1, config: bytes(''), data: bytes('three') });
      const good = `g/snap/${snapshotFileName(1, 3)}`;
      const copy = (to: string, mutate: (b: Uint8Array) => Uint8Array) => {
        const src = disk.open(good, { create: false });
        const b = mutate(src.read(0, src.size()).slice());
        src.close();
        const dst = disk.open(`g/snap/${to}`, { create: true });
        dst.append(b);
        dst.sync();
        dst.close();
      };
      copy(snapshotFileName(1, 4), (b) => b); // name says 4, header says 3
      assert.match(store(disk).store.loadNewest().rejected[0]?.reason ?? '', /header says index 3/);
      disk.remove(`g/snap/${snapshotFileName(1, 4)}`);
      const mutateInPlace = (index: number, mutate: (f: ReturnType<Disk['open']>) => void) => {
        s.save({ index, term: 1, config: bytes('k'), data: bytes(`data ${index}`) });
        const f = disk.open(`g/snap/${snapshotFileName(1, index)}`, { create: false });
        mutate(f);
        f.sync();
        f.close();
      };
      mutateInPlace(5, (f) => f.truncate(f.size() - 2));
      assert.match(store(disk).store.loadNewest().rejected[0]?.reason ?? '', /bytes/);
      disk.remove(`g/snap/${snapshotFileName(1, 5)}`);
      mutateInPlace(6, (f) => f.writeAt(7, new Uint8Array([0xee])));
      assert.equal(store(disk).store.loadNewest().rejected[0]?.reason, 'header crc mismatch');
    });
  });
}

for (const [name, makeDisk] of disks) {
  test(`a save in slices on ${name}: the same file as one save, each slice synced, abort leaves nothing`, () => {
    const disk = makeDisk();
    const { store: s } = store(disk);
    const data = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 31) & 0xff);
    s.save({ index: 7, term: 1, config: bytes('conf'), data });
    const whole = readFile(disk, `g/snap/${snapshotFileName(1, 7)}`);
    disk.remove(`g/snap/${snapshotFileName(1, 7)}`);
    const save = s.saveInSlices({ index: 7, term: 1, config: bytes('conf'), data }, 4096);
    const steps: (string | undefined)[] = [];
    for (let i = 0; i < 10 && steps.at(-1) === undefined; i++) {
      steps.push(save.step());
      // Until the last step nothing is under the final name (a restart would find no snapshot).
      if (steps.at(-1) === undefined) assert.deepEqual(disk.list('g/snap'), [`${snapshotFileName(1, 7)}.tmp`]);
    }
    assert.deepEqual(steps, [undefined, undefined, snapshotFileName(1, 7)], '10,000 bytes in slices of 4,096');
    assert.deepEqual(readFile(disk, `g/snap/${snapshotFileName(1, 7)}`), whole, 'byte for byte as save() writes it');
    assert.deepEqual(store(disk).store.load(7, 1).data, data);
    const dropped = s.saveInSlices({ index: 8, term: 1, config: bytes('conf'), data }, 4096);
    assert.equal(dropped.step(), undefined);
    dropped.abort();
    assert.deepEqual(
      disk.list('g/snap'),
      [snapshotFileName(1, 7)],
      'an aborted save leaves no file, not even its temp',
    );
  });
}

function readFile(disk: Disk, path: string): Uint8Array {
  const f = disk.open(path, { create: false });
  try {
    return f.read(0, f.size()).slice();
  } finally {
    f.close();
  }
}

test('a crash between the slices of a save leaves the previous snapshot; the temp file is removed at open', () => {
  for (let seed = 0; seed < 50; seed++) {
    const diskStore = new SimDiskStore(new SeededRng(`snap-slices-crash-${seed}`));
    const c = { disk: diskStore.view(), ...recordingComponents() };
    const s = new SnapshotStore(c, options);
    s.save({ index: 1, term: 1, config: bytes('c'), data: bytes('first') });
    const save = s.saveInSlices({ index: 2, term: 1, config: bytes('c'), data: new Uint8Array(5000).fill(7) }, 1024);
    for (let i = 0; i < seed % 5; i++) assert.equal(save.step(), undefined);
    diskStore.crash();
    const reopened = new SnapshotStore({ ...c, disk: diskStore.view() }, options);
    assert.equal(text(reopened.loadNewest().snapshot!.data), 'first', `seed ${seed}`);
    assert.deepEqual(diskStore.view().list('g/snap'), [snapshotFileName(1, 1)], `seed ${seed}: the temp file went`);
  }
});

test('a crash at any point of a save leaves the previous snapshot or the new one, never a partial file', () => {
  for (let seed = 0; seed < 200; seed++) {
    const diskStore = new SimDiskStore(new SeededRng(`snap-crash-${seed}`));
    const c = { disk: diskStore.view(), ...recordingComponents() };
    const s = new SnapshotStore(c, options);
    s.save({ index: 1, term: 1, config: bytes('c'), data: bytes('first') });
    // Stage the second save's operations, then crash before it completes (its last syncDir).
    const disk = diskStore.view();
    const f = disk.open(`g/snap/${snapshotFileName(1, 2)}.tmp`, { create: true });
    f.append(bytes('partial'));
    if (seed % 2 === 0) disk.rename(`g/snap/${snapshotFileName(1, 2)}.tmp`, `g/snap/${snapshotFileName(1, 2)}`);
    diskStore.crash();
    const after = new SnapshotStore({ ...c, disk: diskStore.view() }, options).loadNewest();
    // An un-synced file renamed into place may survive partially: it must be rejected, not loaded.
    assert.equal(text(after.snapshot!.data), 'first', `seed ${seed}`);
  }
});

test('a transient read error (one flipped bit in one read) does not reject a good snapshot; damage that stays does', () => {
  const diskStore = new SimDiskStore(new SeededRng('snap-flip'));
  const c = { disk: diskStore.view(), ...recordingComponents() };
  new SnapshotStore(c, options).save({ index: 5, term: 1, config: bytes('c'), data: bytes('payload') });
  const flaky = (inner: Disk, flips: number): Disk => flakyReads(inner, flips, (b) => b ^ 0x10);
  const once = new SnapshotStore({ ...c, disk: flaky(diskStore.view(), 1) }, options);
  assert.equal(text(once.load(5, 1).data), 'payload', 'one bad read is read again');
  const always = new SnapshotStore({ ...c, disk: flaky(diskStore.view(), 1_000) }, options);
  assert.throws(() => always.load(5, 1), CorruptionError, 'damage seen by every read is believed');
});

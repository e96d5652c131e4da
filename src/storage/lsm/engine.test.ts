// Goal: the LSM engine's contract, piece by piece, on the simulator's disk without faults: writes
// visible at once and after flush and restart, point reads newest first, scans merged across the
// memtable and runs with paging, tombstones and expiry kept until their grace passed and dropped
// only when no older run can hold the key, bounded memtable and run count, limits that refuse
// without writing, loud corruption of the manifest, and the commit log released after a flush.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaristaError, CorruptionError, LimitError } from '../../lib/errors.ts';
import { SeededRng } from '../../lib/rng.ts';
import { SimDiskStore } from '../../sim/disk.ts';
import { keyString } from './entry.ts';
import { MANIFEST_NAME } from './manifest.ts';
import { runFileName } from './run.ts';
import { bytes, key, ManualClock, openEngine, scanAll, text } from './test-support.ts';

const noFaults = {
  lostUnsynced: false,
  tornWrites: false,
  tornSectorsAnyOrder: false,
  lostUnsyncedDirOps: false,
  readCorruptionProbability: 0,
};

function fresh() {
  const store = new SimDiskStore(new SeededRng('lsm-engine'), noFaults);
  return { store, clock: new ManualClock() };
}

test('put, overwrite and delete read back from the memtable, from runs and after a restart', () => {
  const { store, clock } = fresh();
  let engine = openEngine(store.view(), clock, { autoCompact: false });
  engine.put(key(1), bytes('a'));
  engine.put(key(2), bytes('b'));
  engine.put(key(1), bytes('a2'));
  engine.delete(key(2), clock.nowMs);
  assert.equal(text(engine.get(key(1))?.value), 'a2');
  assert.equal(engine.get(key(2)), undefined);
  assert.equal(engine.getEntry(key(2))?.kind, 2, 'the tombstone is kept');
  engine.flush();
  assert.equal(engine.stats().runs.length, 1);
  engine.put(key(3), bytes('c'));
  assert.equal(text(engine.get(key(1))?.value), 'a2');
  assert.equal(engine.get(key(2)), undefined);
  engine.close();
  engine = openEngine(store.view(), clock, { autoCompact: false });
  assert.deepEqual(
    [...scanAll(engine)].map(([k, v]) => [k, v]),
    [
      ['k0001', 'a2'],
      ['k0003', 'c'],
    ],
  );
  assert.equal(engine.stats().lastSeq, 5);
  engine.close();
});

test('a point read takes the newest run holding the key, and a newer tombstone hides older runs', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock, { autoCompact: false });
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 10; i++) engine.put(key(i), bytes(`v${round}-${i}`));
    engine.flush();
  }
  engine.delete(key(3), clock.nowMs);
  engine.flush();
  assert.equal(engine.stats().runs.length, 5);
  assert.equal(text(engine.get(key(5))?.value), 'v3-5');
  assert.equal(engine.get(key(3)), undefined);
  assert.equal(engine.get(key(99)), undefined);
  engine.close();
});

test('a scan merges memtable and runs in key order, pages through next, and can include the dead', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock, { autoCompact: false });
  for (let i = 0; i < 30; i += 2) engine.put(key(i), bytes(`even${i}`));
  engine.flush();
  for (let i = 1; i < 30; i += 2) engine.put(key(i), bytes(`odd${i}`));
  engine.flush();
  engine.delete(key(4), clock.nowMs);
  engine.put(key(6), bytes('new6'));
  const page = engine.scan({ start: key(3), end: key(9), limit: 3 });
  assert.deepEqual(
    page.entries.map((e) => text(e.value)),
    ['odd3', 'odd5', 'new6'],
  );
  assert.ok(page.next !== null);
  const rest = engine.scan({ start: page.next, end: key(9) });
  assert.deepEqual(
    rest.entries.map((e) => text(e.value)),
    ['odd7', 'even8'],
  );
  assert.equal(rest.next, null);
  const dead = engine.scan({ start: key(4), end: key(5), includeDead: true });
  assert.equal(dead.entries.length, 1);
  assert.equal(dead.entries[0]!.kind, 2);
  assert.equal(scanAll(engine, 4).size, 29);
  engine.close();
});

test('expired values read as absent; compaction turns them into tombstones, then drops them after the grace', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock, { autoCompact: false, tombstoneGraceMs: 1000 });
  engine.put(key(1), bytes('short'), { expiresAtMs: clock.nowMs + 100 });
  engine.put(key(2), bytes('long'), { expiresAtMs: clock.nowMs + 1_000_000 });
  engine.flush();
  assert.equal(text(engine.get(key(1))?.value), 'short');
  clock.nowMs += 100;
  assert.equal(engine.get(key(1)), undefined, 'expired at its deadline');
  assert.equal(text(engine.get(key(2))?.value), 'long');
  engine.compact({ major: true });
  const kept = engine.getEntry(key(1));
  assert.equal(kept?.kind, 2, 'within the grace an expired value stays, as a tombstone');
  assert.equal(kept?.value.byteLength, 0);
  clock.nowMs += 1000;
  engine.compact({ major: true });
  assert.equal(engine.getEntry(key(1)), undefined, 'past the grace it is gone');
  assert.equal(text(engine.get(key(2))?.value), 'long');
  engine.close();
});

test('a tombstone past its grace is not dropped while an older run outside the compaction holds the key', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock, {
    autoCompact: false,
    memtableBytesMax: 1 << 20,
    tombstoneGraceMs: 0,
    compactionMinRuns: 3,
    compactionSizeRatioMax: 2,
  });
  // The oldest run is large (no tier with the small ones), so the tier compaction leaves it out.
  for (let i = 0; i < 40; i++) engine.put(key(i), bytes(`old-value-${i}-${'x'.repeat(40)}`));
  engine.flush();
  engine.delete(key(7), clock.nowMs);
  engine.flush();
  engine.put(key(100), bytes('p'));
  engine.flush();
  engine.put(key(101), bytes('q'));
  engine.flush();
  clock.nowMs += 10;
  assert.equal(engine.compact(), true);
  assert.equal(engine.stats().runs.length, 2, 'the three small runs merged, the old one left');
  assert.equal(engine.get(key(7)), undefined, 'the deleted value did not come back');
  assert.equal(engine.getEntry(key(7))?.kind, 2, 'the tombstone was kept');
  engine.compact({ major: true });
  assert.equal(engine.getEntry(key(7)), undefined, 'a major compaction drops it');
  assert.equal(engine.get(key(8)) !== undefined, true);
  engine.close();
});

test('the memtable stays bounded, flushes itself, and compaction keeps the run count bounded', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock, { sync: 'none' });
  const rng = new SeededRng('bounded');
  let memtableMax = 0;
  let runsMax = 0;
  for (let i = 0; i < 3000; i++) {
    engine.put(key(rng.int(500)), bytes(`value-${i}`));
    const s = engine.stats();
    memtableMax = Math.max(memtableMax, s.memtableBytes);
    runsMax = Math.max(runsMax, s.runs.length);
  }
  assert.ok(memtableMax < 2048 + 256, `memtable reached ${memtableMax} bytes`);
  assert.ok(runsMax <= 7, `runs reached ${runsMax}`);
  assert.ok(engine.stats().runs.length >= 1);
  engine.close();
});

test('a flush releases the commit log segments it covers', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock, { memtableBytesMax: 1 << 20, autoCompact: false });
  for (let i = 0; i < 400; i++) engine.put(key(i), bytes('x'.repeat(40)));
  const before = engine.stats().commitLogBytes;
  assert.ok(before > 8192 * 2, `the log rolled (${before} bytes)`);
  engine.flush();
  const after = engine.stats().commitLogBytes;
  assert.ok(after <= 8192, `the log kept ${after} bytes after the flush`);
  engine.close();
});

test('over-limit writes are refused with a LimitError and write nothing; the engine stays usable', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock);
  engine.put(key(1), bytes('ok'));
  assert.throws(() => engine.put(key(2), new Uint8Array(1025)), LimitError);
  assert.throws(() => engine.put(new Uint8Array(65), bytes('v')), LimitError);
  assert.throws(
    () =>
      engine.apply([
        { kind: 'put', key: key(3), value: bytes('x') },
        { kind: 'put', key: key(4), value: new Uint8Array(2000) },
      ]),
    LimitError,
  );
  assert.equal(engine.get(key(3)), undefined, 'a refused batch writes none of its writes');
  assert.equal(engine.stats().lastSeq, 1);
  engine.put(key(5), bytes('after'));
  assert.equal(text(engine.get(key(5))?.value), 'after');
  engine.close();
});

test('a run left by an interrupted flush is removed at open, and a damaged manifest is loud', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock);
  engine.put(key(1), bytes('a'));
  engine.flush();
  engine.close();
  const disk = store.view();
  const orphan = disk.open(`lsm/${runFileName(77)}`, { create: true });
  orphan.append(bytes('half a run'));
  orphan.close();
  const reopened = openEngine(store.view(), clock);
  assert.equal(store.view().exists(`lsm/${runFileName(77)}`), false);
  assert.equal(text(reopened.get(key(1))?.value), 'a');
  reopened.close();
  const m = store.view().open(`lsm/${MANIFEST_NAME}`, { create: false });
  const b = m.read(10, 1);
  m.writeAt(10, Uint8Array.of(b[0]! ^ 0x04));
  m.close();
  assert.throws(
    () => openEngine(store.view(), clock),
    (e: unknown) => e instanceof CorruptionError && String(e.fields['file']).endsWith(MANIFEST_NAME),
  );
});

test('invalid options are refused with a ConfigError naming the field', () => {
  const { store, clock } = fresh();
  assert.throws(
    () => openEngine(store.view(), clock, { compactionMinRuns: 1 }),
    (e: unknown) => e instanceof BaristaError && e.code === 'config_invalid' && /compactionMinRuns/.test(e.message),
  );
  assert.throws(
    () => openEngine(store.view(), clock, { commitLogPendingBytesMax: 100 }),
    (e: unknown) => e instanceof BaristaError && /commitLogPendingBytesMax/.test(e.message),
  );
});

test('keys are opaque bytes ordered bytewise (0x00 and 0xff included)', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock, { autoCompact: false });
  const keys = [Uint8Array.of(0xff), Uint8Array.of(0), Uint8Array.of(0, 0), Uint8Array.of(1), new Uint8Array(0)];
  for (const [i, k] of keys.entries()) engine.put(k, bytes(`v${i}`));
  engine.flush();
  const order = engine.scan({ start: new Uint8Array(0), end: null }).entries.map((e) => [...e.key]);
  assert.deepEqual(order, [[], [0], [0, 0], [1], [0xff]]);
  assert.equal(keyString(Uint8Array.of(0x80, 0xff)), '\u0080\u00ff');
  engine.close();
});

test('a flipped bit in synced commit log data is a CorruptionError naming the segment and offset', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock, { memtableBytesMax: 1 << 20 });
  for (let i = 0; i < 20; i++) engine.put(key(i), bytes(`value-${i}`));
  engine.close();
  const disk = store.view();
  const [segment] = disk.list('lsm/commitlog');
  const f = disk.open(`lsm/commitlog/${segment}`, { create: false });
  const at = Math.floor(f.size() / 3);
  f.writeAt(at, Uint8Array.of(f.read(at, 1)[0]! ^ 0x10));
  f.sync();
  f.close();
  assert.throws(
    () => openEngine(store.view(), clock),
    (e: unknown) => e instanceof CorruptionError && /\.clog at offset \d+/.test(e.message),
  );
});

test('apply copies the caller buffers: reusing them afterwards changes nothing stored', () => {
  const { store, clock } = fresh();
  const engine = openEngine(store.view(), clock);
  const k = bytes('key1');
  const v = bytes('value');
  engine.put(k, v);
  k.fill(0x41);
  v.fill(0x42);
  assert.equal(text(engine.get(bytes('key1'))?.value), 'value');
  engine.close();
});

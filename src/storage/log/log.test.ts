// Goal: the generic segmented log keeps its contract on the real and the simulated disk alike:
// records come back in order with their types and payloads; segments roll at the size bound with
// the client's header records; a read by key seeks through the sparse index (it reads at most one
// index interval before the key, never the segment from its start), also after a reopen rebuilt
// the index; retention removes whole segments only (by key and by size) and the rest reopens; the
// never-synced tail is cut and counted while damage in synced data is a CorruptionError naming
// file and offset; reserved types, keys that do not increase and an over-full batch are refused.
// The durability rules themselves (SYNC records, zero pieces, final-batch doubt, re-persist) are
// proven under crashes in log-crash.test.ts and, through the Raft WAL, in src/storage/wal.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Disk, DiskFile } from '../../env/types.ts';
import { AssertionError } from '../../lib/assert.ts';
import { CorruptionError, LimitError } from '../../lib/errors.ts';
import { bothDisks } from '../test-disks.ts';
import { recordingComponents } from '../wal/test-components.ts';
import { encodeFrame, RECORD_HEADER_BYTES } from './frame.ts';
import { type LogClient, type LogRecord, SegmentedLog, type SegmentedLogOptions } from './log.ts';
import type { SegmentVisit } from './recover.ts';

const DIR = 'topics/t-0';
/** Client types of the test log: a keyed record, and a header record restating the last key. */
const DATA = 2;
const LAST_KEY = 3;

const disks = bothDisks('log-test');

const small: SegmentedLogOptions = {
  dir: DIR,
  suffix: '.log',
  segmentBytesMax: 2048,
  recordPayloadBytesMax: 256,
  pendingBytesMax: 64 * 1024,
  keys: 'increasing',
  indexIntervalBytes: 256,
};

interface TestRecord {
  readonly key: number;
  readonly text: string;
}

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

/** DATA payload: key u64 | text. The key travels in the payload, as a batch's base offset does in Kafka. */
function data(key: number, text = `r${key}`): LogRecord {
  const t = new TextEncoder().encode(text);
  const payload = new Uint8Array(8 + t.byteLength);
  payload.set(u64(key));
  payload.set(t, 8);
  return { type: DATA, payload, key };
}

type Decoded = { kind: 'data'; key: number; text: string } | { kind: 'lastKey'; key: number };

/** A test client: keyed DATA records; every segment restates the last key before it. */
function client(lastKeyBefore: (lsn: number) => number): LogClient<Decoded> {
  return {
    isClientType: (type) => type === DATA || type === LAST_KEY,
    decode: (type, payload) => {
      if (payload.byteLength < 8) return 'payload shorter than its key';
      const key = Number(new DataView(payload.buffer, payload.byteOffset, 8).getBigUint64(0, true));
      if (type === LAST_KEY) return { kind: 'lastKey', key };
      return { kind: 'data', key, text: new TextDecoder().decode(payload.subarray(8)) };
    },
    keyOf: (_type, r) => (r.kind === 'data' ? r.key : undefined),
    segmentStart: (lsn) => {
      const last = lastKeyBefore(lsn);
      return { base: last + 1, header: [{ type: LAST_KEY, payload: u64(last) }] };
    },
  };
}

/** Opens the log in `dir`; keys are 1, 2, 3, ... so the key before lsn L is the recovered last key + L - 1. */
function open(disk: Disk, options: SegmentedLogOptions = small) {
  const components = { disk, ...recordingComponents() };
  const visits: SegmentVisit<Decoded>[] = [];
  const state = { recoveredLast: 0 };
  const opened = SegmentedLog.open(
    components,
    options,
    client((lsn) => state.recoveredLast + lsn - 1),
    {
      name: 'log',
      visit: (v) => {
        visits.push(v);
        for (const r of v.records) if (r.record.kind === 'data') state.recoveredLast = r.record.key;
      },
    },
  );
  const records: TestRecord[] = visits.flatMap((v) =>
    v.records.flatMap((r) => (r.record.kind === 'data' ? [{ key: r.record.key, text: r.record.text }] : [])),
  );
  return { ...opened, components, visits, records };
}

/** Appends keys from..to (about 100 bytes each by default), syncing every `syncEvery` records. */
function appendKeys(
  log: SegmentedLog<Decoded>,
  from: number,
  to: number,
  text: (k: number) => string = (k) => `r${k}-${'p'.repeat(80)}`,
  syncEvery = 100,
): void {
  for (let k = from; k <= to; k++) {
    log.append([data(k, text(k))]);
    if ((k - from + 1) % syncEvery === 0) log.sync();
  }
}

function keysOf(records: ReadonlyArray<{ key: number | undefined }>): Array<number | undefined> {
  return records.map((r) => r.key);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Counts each read's offset: shows where a read by key starts. */
function countingDisk(disk: Disk): { disk: Disk; reads: Array<{ path: string; offset: number; length: number }> } {
  const reads: Array<{ path: string; offset: number; length: number }> = [];
  const wrap = (f: DiskFile): DiskFile =>
    new Proxy(f, {
      get(target, key, receiver) {
        if (key === 'read') {
          return (offset: number, length: number) => {
            reads.push({ path: target.path, offset, length });
            return target.read(offset, length);
          };
        }
        const v = Reflect.get(target, key, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  const counted = new Proxy(disk, {
    get(target, key, receiver) {
      if (key === 'open') return (path: string, o: { create: boolean }) => wrap(target.open(path, o));
      const v = Reflect.get(target, key, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { disk: counted, reads };
}

for (const [diskName, makeDisk] of disks) {
  describe(`segmented log on ${diskName}`, () => {
    test('records come back in order; segments roll at the bound and restate the header', () => {
      const disk = makeDisk();
      const first = open(disk);
      appendKeys(first.log, 1, 60);
      const mark = first.log.sync();
      assert.equal(mark.lsn, 60);
      first.log.close();
      const second = open(disk);
      assert.deepEqual(
        second.records.map((r) => r.key),
        range(1, 60),
      );
      assert.equal(second.records[41]?.text, `r42-${'p'.repeat(80)}`);
      assert.ok(second.visits.length >= 3, `rolled into ${second.visits.length} segments`);
      for (const v of second.visits) {
        assert.ok(v.segment.validBytes <= small.segmentBytesMax, `${v.segment.name} is ${v.segment.validBytes} bytes`);
        assert.equal(v.headerRecords, 1);
        const restated = v.records[0]!.record;
        const firstBody = v.records[1]?.record;
        assert.equal(restated.kind, 'lastKey');
        assert.equal(v.segment.base, restated.key + 1, 'the name holds the key the segment starts at');
        if (firstBody?.kind === 'data') assert.equal(firstBody.key, v.segment.base);
      }
      assert.match(second.visits[0]!.segment.name, /^0{16}-0{19}1\.log$/);
      assert.equal(second.components.metrics.value('log_tail_repairs_total'), 0);
    });

    test('a preallocating log grows its open segment ahead with zeros, seals segments at their data, and reopens without a repair', () => {
      const disk = makeDisk();
      const options = { ...small, preallocateBytesMax: 512 };
      const first = open(disk, options);
      const sizes = (): number[] =>
        disk.list(DIR).map((name) => {
          const f = disk.open(`${DIR}/${name}`, { create: false });
          const size = f.size();
          f.close();
          return size;
        });
      first.log.append([data(1)]);
      first.log.sync();
      const written = first.log.segments()[0]!.bytes;
      assert.ok(sizes()[0]! > written, `file of ${sizes()[0]} bytes holds ${written} written: grown ahead`);
      appendKeys(first.log, 2, 60, undefined, 3);
      first.log.sync();
      const segments = first.log.segments();
      assert.ok(segments.length >= 3, `rolled into ${segments.length} segments`);
      // Sealed segments end where their data does; only the open one carries zeros.
      assert.deepEqual(
        sizes().slice(0, -1),
        segments.slice(0, -1).map((x) => x.bytes),
      );
      assert.ok(sizes().at(-1)! > segments.at(-1)!.bytes);
      first.log.close();
      const second = open(disk, options);
      assert.deepEqual(keysOf(second.records), range(1, 60));
      assert.equal(second.tailRepair, null);
      assert.equal(second.components.metrics.value('log_tail_repairs_total'), 0);
      assert.equal(sizes().at(-1), second.log.segments().at(-1)!.bytes, 'the zeros are cut at open');
      appendKeys(second.log, 61, 70, undefined, 4);
      second.log.sync();
      second.log.close();
      assert.deepEqual(keysOf(open(disk, options).records), range(1, 70));
    });

    test('a read by key starts at the sparse index entry before it, not at the segment start', () => {
      const base = makeDisk();
      const wide = { ...small, segmentBytesMax: 1 << 20, recordPayloadBytesMax: 1024, pendingBytesMax: 1 << 20 };
      const first = open(base, wide);
      appendKeys(first.log, 1, 2000, (k) => `record ${k} ${'x'.repeat(k % 50)}`);
      first.log.sync();
      const expectedKeys = range(1234, 1240);
      const fresh = first.log.read(1234, 7 * 60);
      assert.deepEqual(keysOf(fresh).slice(0, 7), expectedKeys);
      assert.equal((fresh[0]!.record as { text: string }).text, `record 1234 ${'x'.repeat(1234 % 50)}`);
      first.log.close();
      // Reopen over a disk that records reads: recovery rebuilt the index.
      const counted = countingDisk(base);
      const second = open(counted.disk, wide);
      const target = second.visits[0]!.records.find((r) => r.record.kind === 'data' && r.record.key === 1234)!;
      counted.reads.length = 0;
      const got = second.log.read(1234, 1);
      assert.deepEqual(keysOf(got), [1234]);
      const firstRead = counted.reads[0]!;
      assert.ok(firstRead.offset > 0, 'the read did not start at the segment start');
      assert.ok(firstRead.offset <= target.offset, 'it starts before the record');
      assert.ok(
        target.offset - firstRead.offset < wide.indexIntervalBytes + target.bytes,
        `it starts ${target.offset - firstRead.offset} bytes before the record (interval ${wide.indexIntervalBytes})`,
      );
    });

    test('reads cross segments, honour bytesMax, skip header records and see only synced records', () => {
      const disk = makeDisk();
      const { log } = open(disk);
      appendKeys(log, 1, 40);
      log.sync();
      appendKeys(log, 41, 45); // pending: not readable
      const all = log.read(1, 1 << 20);
      assert.deepEqual(keysOf(all), range(1, 40), 'every synced record, once, no header records');
      assert.ok(log.segmentNames().length >= 2, 'the records span segments');
      const some = log.read(10, 50);
      assert.ok(some.length >= 1 && some.length < 10, `${some.length} records for 50 bytes`);
      assert.equal(some[0]!.key, 10);
      assert.deepEqual(keysOf(log.read(41, 1000)), []);
      assert.deepEqual(keysOf(log.read(0, 30)).slice(0, 1), [1], 'a key below the log starts at its first record');
    });

    test('a record larger than the read chunk is read whole', () => {
      const disk = makeDisk();
      const big = { ...small, segmentBytesMax: 1 << 20, recordPayloadBytesMax: 200 * 1024, pendingBytesMax: 1 << 20 };
      const { log } = open(disk, big);
      log.append([data(1), data(2, 'y'.repeat(150 * 1024)), data(3)]);
      log.sync();
      const got = log.read(2, 1);
      assert.deepEqual(keysOf(got), [2]);
      assert.equal((got[0]!.record as { text: string }).text.length, 150 * 1024);
      assert.deepEqual(keysOf(log.read(2, 1 << 20)), [2, 3]);
    });

    test('retention removes whole segments only: below a key, and down to a size', () => {
      const disk = makeDisk();
      const first = open(disk);
      appendKeys(first.log, 1, 120);
      first.log.sync();
      const segments = first.log.segments();
      assert.ok(segments.length >= 5, `${segments.length} segments`);
      // Below the third segment's base: exactly the first two go.
      const cut = segments[2]!.base;
      assert.equal(first.log.releaseBelow(cut - 1), 1, 'a segment holding key cut-1 stays');
      assert.equal(first.log.releaseBelow(cut), 1);
      assert.equal(first.log.segments()[0]!.base, cut);
      assert.deepEqual(keysOf(first.log.read(1, 1 << 20)).slice(0, 1), [cut], 'reads start at the oldest kept key');
      const bytesMax = small.segmentBytesMax * 2;
      const removed = first.log.retainBytes(bytesMax);
      assert.ok(removed > 0, 'retention by size removed segments');
      assert.ok(first.log.totalBytes <= bytesMax + small.segmentBytesMax, 'within one segment of the bound');
      const kept = first.log.segments();
      assert.ok(first.log.totalBytes - kept[0]!.bytes <= bytesMax, 'no segment more than needed was removed');
      first.log.close();
      const second = open(disk);
      assert.equal(second.visits[0]!.segment.base, kept[0]!.base);
      assert.deepEqual(
        second.records.map((r) => r.key),
        range(kept[0]!.base, 120),
      );
      assert.equal(second.components.metrics.value('log_segments_released_total'), 0);
      assert.ok(first.components.metrics.value('log_segments_released_total') >= 3, 'releases are counted');
    });

    test('the never-synced tail is cut and counted; the log goes on', () => {
      const disk = makeDisk();
      const first = open(disk);
      appendKeys(first.log, 1, 5);
      first.log.sync();
      first.log.close();
      const path = `${DIR}/${disk.list(DIR).at(-1)}`;
      const f = disk.open(path, { create: false });
      f.append(encodeFrame(DATA, data(6).payload).subarray(0, RECORD_HEADER_BYTES + 3)); // a torn append, no SYNC
      f.sync();
      f.close();
      const second = open(disk);
      assert.equal(second.tailRepair?.kind, 'torn');
      assert.equal(second.components.metrics.value('log_tail_repairs_total'), 1);
      assert.deepEqual(
        second.records.map((r) => r.key),
        range(1, 5),
      );
      second.log.append([data(6)]);
      second.log.sync();
      assert.deepEqual(keysOf(second.log.read(5, 1000)), [5, 6]);
    });

    test('damage in synced data is a CorruptionError naming the file and the offset', () => {
      const disk = makeDisk();
      const first = open(disk);
      appendKeys(first.log, 1, 3);
      first.log.sync();
      appendKeys(first.log, 4, 6);
      first.log.sync();
      const name = disk.list(DIR).at(-1)!;
      first.log.close();
      const scanned = open(disk);
      const record2 = scanned.visits[0]!.records.find((r) => r.record.kind === 'data' && r.record.key === 2)!;
      scanned.log.close();
      const at = record2.offset + RECORD_HEADER_BYTES + 9;
      const file = disk.open(`${DIR}/${name}`, { create: false });
      file.writeAt(
        at,
        file.read(at, 1).map((b) => b ^ 0x10),
      ); // rot, synced
      file.sync();
      file.close();
      let refused: unknown;
      try {
        open(disk);
      } catch (e) {
        refused = e;
      }
      assert.ok(refused instanceof CorruptionError, `refused with ${String(refused)}`);
      assert.deepEqual([refused.fields['segment'], refused.fields['offset']], [name, record2.offset]);
      assert.ok(refused.message.includes(name), refused.message);
    });

    test('an unfinished segment is removed, a foreign file is left alone', () => {
      const disk = makeDisk();
      open(disk).log.close();
      const temp = disk.open(`${DIR}/0000000000000001-00000000000000000001.log.tmp`, { create: true });
      temp.append(new Uint8Array([1, 2, 3]));
      temp.close();
      disk.open(`${DIR}/notes.txt`, { create: true }).close();
      const reopened = open(disk);
      assert.deepEqual(disk.list(DIR), ['0000000000000000-00000000000000000001.log', 'notes.txt']);
      assert.ok(
        reopened.components.log.lines().some((l) => /unfinished segment/.test(l.msg ?? '')),
        'removal logged',
      );
      assert.ok(
        reopened.components.log.lines().some((l) => /foreign file/.test(l.msg ?? '')),
        'foreign file logged',
      );
    });

    test('reserved types, keys that do not increase and an over-full batch are refused, nothing buffered', () => {
      const disk = makeDisk();
      const { log } = open(disk, { ...small, pendingBytesMax: 1024 });
      log.append([data(1)]);
      for (const type of [0, 1, 6]) {
        assert.throws(() => log.append([{ type, payload: new Uint8Array(8) }]), AssertionError);
      }
      assert.throws(() => log.append([data(3), data(2)]), AssertionError);
      assert.throws(() => log.append([data(1)]), AssertionError);
      assert.throws(
        () => log.append([data(2), data(3, 'z'.repeat(300))]),
        AssertionError,
        'over recordPayloadBytesMax',
      );
      assert.throws(
        () => log.append(range(2, 9).map((k) => data(k, 'z'.repeat(150)))),
        (e: unknown) => e instanceof LimitError && e.fields['limit'] === 'logPendingBytesMax',
      );
      assert.equal(log.pendingRecordCount, 1);
      log.append([data(2)]);
      log.sync();
      assert.deepEqual(keysOf(log.read(1, 1000)), [1, 2]);
    });
  });
}

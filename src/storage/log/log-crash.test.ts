// Goal: the generic segmented log keeps the WAL's durability rules for any client. Under random
// appends (some records full of zero sectors), syncs, retention and power losses on the simulator's
// disk (unsynced writes lost or torn, sectors landing in any order, unsynced directory changes
// lost, the power failing inside a sync), what a recovery returns is a contiguous run of the
// appended records that covers every record a returned sync() acknowledged and every record at or
// above the last retention key; nothing never appended appears; each segment's header restates
// the key before it; and a read by key (through the rebuilt sparse index) returns exactly the
// recovered records from that key on. With EIO/ENOSPC injected the process restarts on the same
// page cache, and whatever a recovery returns must survive later crashes. The oracle is an array.
// The planted defects a client can switch on (skipFsync, trustPageCache, trustTornTail) must be
// caught by the same seeds, which shows the property can fail. Odd seeds run a preallocating log
// (the open segment grown ahead of its writes with zeros, as the Raft WAL does).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Disk } from '../../env/types.ts';
import { DiskErrorCode } from '../../env/disk-paths.ts';
import { BaristaError, CorruptionError } from '../../lib/errors.ts';
import { SeededRng } from '../../lib/rng.ts';
import { type DiskFaults, defaultDiskFaults, SimDiskStore } from '../../sim/disk.ts';
import { recordingComponents } from '../wal/test-components.ts';
import { type LogRecord, type PlantedLogBugs, SegmentedLog, type SegmentedLogOptions } from './log.ts';
import type { SegmentVisit } from './recover.ts';

const DATA = 2;
const LAST_KEY = 3;

const options: SegmentedLogOptions = {
  dir: 'log',
  suffix: '.log',
  segmentBytesMax: 1400,
  recordPayloadBytesMax: 600,
  pendingBytesMax: 1 << 20,
  keys: 'increasing',
  indexIntervalBytes: 100,
};

class PowerLoss extends Error {}

const MUTATING = new Set(['append', 'writeAt', 'truncate', 'sync', 'rename', 'remove', 'syncDir']);

/**
 * The simulator's disk with a power loss armed to strike just before the n-th mutating call, so
 * crashes land inside sync() and inside a roll, not only between operations.
 */
function armedDisk(store: SimDiskStore, countdown: { ops: number }): Disk {
  const strike = (): void => {
    if (countdown.ops-- === 0) {
      store.crash();
      throw new PowerLoss('power loss');
    }
  };
  const arm = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, key, receiver) {
        const v = Reflect.get(t, key, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          const creates =
            key === 'open' && (args[1] as { create: boolean }).create && !(t as Disk).exists(args[0] as string);
          if (MUTATING.has(String(key)) || creates) strike();
          const out = v.apply(t, args);
          return key === 'open' ? arm(out as object) : out;
        };
      },
    });
  return arm(store.view());
}

interface Rec {
  readonly key: number;
  readonly fill: number;
  readonly bytes: number;
}

function payloadOf(r: Rec): Uint8Array {
  const p = new Uint8Array(8 + r.bytes).fill(r.fill);
  new DataView(p.buffer).setBigUint64(0, BigInt(r.key), true);
  return p;
}

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

type Decoded = { kind: 'data'; rec: Rec } | { kind: 'lastKey'; key: number };

function decode(type: number, payload: Uint8Array): Decoded | string {
  if (payload.byteLength < 8) return 'short payload';
  const key = Number(new DataView(payload.buffer, payload.byteOffset, 8).getBigUint64(0, true));
  if (type === LAST_KEY) return { kind: 'lastKey', key };
  const body = payload.subarray(8);
  const fill = body[0] ?? 0;
  if (!body.every((b) => b === fill)) return 'payload is not one repeated byte';
  return { kind: 'data', rec: { key, fill, bytes: body.byteLength } };
}

const same = (a: Rec, b: Rec): boolean => a.key === b.key && a.fill === b.fill && a.bytes === b.bytes;

export interface LogCrashOptions {
  readonly faults?: Partial<DiskFaults>;
  readonly bugs?: PlantedLogBugs;
  readonly steps?: number;
  /** The log's preallocateBytesMax (default: odd seeds preallocate, even ones do not). */
  readonly preallocateBytesMax?: number;
}

export function runLogSeed(seed: number, o: LogCrashOptions = {}) {
  const rng = new SeededRng(`log-crash-${seed}`);
  const store = new SimDiskStore(rng.fork('disk'), { ...defaultDiskFaults, tornSectorsAnyOrder: true, ...o.faults });
  const countdown = { ops: Number.POSITIVE_INFINITY };
  const out = {
    crashes: 0,
    processRestarts: 0,
    repairs: 0,
    released: 0,
    reads: 0,
    zeroRecords: 0,
    faults: store.faultCounts,
  };
  /** Every record in the log's history since the last recovery's first record, in order. */
  let appended: Rec[] = [];
  /** appended[0, acked) were covered by a returned sync. */
  let acked = 0;
  /** Retention promised to keep every record with a key >= this. */
  let keepFromKey = 0;
  /** Keys by lsn since the last open (keysByLsn[l - 1] = key of lsn l), and the last key recovered. */
  let keysByLsn: number[] = [];
  let recoveredLastKey = 0;
  const isDiskFailure = (e: unknown) =>
    e instanceof BaristaError && (e.code === DiskErrorCode.io || e.code === DiskErrorCode.noSpace);

  const openOnce = () => {
    const visits: SegmentVisit<Decoded>[] = [];
    keysByLsn = [];
    const opened = SegmentedLog.open(
      { disk: armedDisk(store, countdown), ...recordingComponents() },
      { ...options, preallocateBytesMax: o.preallocateBytesMax ?? (seed % 2 === 1 ? 300 : 0) },
      {
        isClientType: (type) => type === DATA || type === LAST_KEY,
        decode,
        keyOf: (_type, r) => (r.kind === 'data' ? r.rec.key : undefined),
        segmentStart: (lsn) => {
          const before = lsn > 1 ? keysByLsn[lsn - 2]! : recoveredLastKey;
          return { base: before + 1, header: [{ type: LAST_KEY, payload: u64(before) }] };
        },
      },
      { name: 'log', bugs: o.bugs ?? {}, visit: (v) => visits.push(v) },
    );
    return { ...opened, visits };
  };

  const recover = (step: number): SegmentedLog<Decoded> | undefined => {
    let opened: ReturnType<typeof openOnce>;
    for (;;) {
      try {
        opened = openOnce();
        break;
      } catch (e) {
        if (e instanceof CorruptionError)
          throw new assert.AssertionError({ message: `seed ${seed} step ${step}: refused: ${e.message}` });
        if (!isDiskFailure(e)) throw e;
        store.restartProcess(); // the device failed during recovery's own re-persist: exit, start again
        out.processRestarts++;
      }
    }
    if (opened.tailRepair !== null) out.repairs++;
    const got: Rec[] = [];
    for (const v of opened.visits) {
      const body = v.records.slice(v.headerRecords).map((r) => r.record);
      const header = v.records[0]?.record;
      assert.equal(header?.kind, 'lastKey', `seed ${seed}: every segment restates the last key`);
      const firstBody = body[0];
      if (firstBody?.kind === 'data') {
        const i = appended.findIndex((r) => r.key === firstBody.rec.key);
        const expectBefore = i > 0 ? appended[i - 1]!.key : undefined;
        if (expectBefore !== undefined) {
          assert.equal((header as { key: number }).key, expectBefore, `seed ${seed}: header of ${v.segment.name}`);
        }
        assert.ok(v.segment.base <= firstBody.rec.key, `seed ${seed}: ${v.segment.name} starts after its first key`);
      }
      for (const r of body) if (r.kind === 'data') got.push(r.rec);
    }
    // A contiguous run of what was appended, covering every acknowledged and every retained record.
    const j = got.length === 0 ? appended.length : appended.findIndex((r) => same(r, got[0]!));
    const where = `seed ${seed} step ${step}`;
    assert.ok(j >= 0, `${where}: first recovered record ${JSON.stringify(got[0])} was never appended`);
    got.forEach((r, i) => {
      assert.ok(same(r, appended[j + i] ?? r) && j + i < appended.length, `${where}: record ${i} differs`);
    });
    // Every acknowledged record at or above the retention key is there (retention only cuts a prefix).
    const firstKept = appended.findIndex((r, i) => i < acked && r.key >= keepFromKey);
    if (firstKept >= 0) {
      assert.ok(
        j <= firstKept && j + got.length >= acked,
        `${where}: recovered ${j}..${j + got.length} of ${appended.length} records, but ${firstKept}..${acked} were acknowledged and retained`,
      );
    }
    // Reads through the rebuilt index return exactly the recovered records from a key on.
    if (got.length > 0) {
      const from = got[rng.int(got.length)]!.key - rng.int(2);
      const read = opened.log.read(from, 1 << 20).map((r) => (r.record as { rec: Rec }).rec);
      const expected = got.filter((r) => r.key >= from);
      assert.ok(
        read.length === expected.length && read.every((r, i) => same(r, expected[i]!)),
        `${where}: read from ${from}`,
      );
      out.reads++;
    }
    appended = got;
    acked = got.length;
    recoveredLastKey = opened.log.lastAppendedKey;
    return opened.log;
  };

  let log = recover(-1)!;
  let nextKey = 1;
  for (let step = 0; step < (o.steps ?? 300); step++) {
    const action = rng.int(100);
    let crashed = false;
    if (action < 60) {
      const batch: Rec[] = [];
      for (let n = 1 + rng.int(4); n > 0; n--) {
        nextKey += 1 + rng.int(3);
        const zero = rng.chance(0.2);
        if (zero) out.zeroRecords++;
        batch.push({
          key: nextKey,
          fill: zero ? 0 : 1 + rng.int(255),
          bytes: zero ? 512 + rng.int(80) : 1 + rng.int(150),
        });
      }
      log.append(batch.map((r): LogRecord => ({ type: DATA, payload: payloadOf(r), key: r.key })));
      for (const r of batch) keysByLsn.push(r.key);
      appended.push(...batch);
    } else if (action < 85) {
      if (rng.chance(0.3)) countdown.ops = rng.int(6);
      try {
        const mark = log.sync();
        assert.equal(mark.lsn, log.lastLsn);
        acked = appended.length;
        if (rng.chance(0.3) && acked > 0) {
          const key = appended[rng.int(acked)]!.key;
          keepFromKey = Math.max(keepFromKey, key); // first: the power may fail inside the release
          out.released += log.releaseBelow(key);
        }
      } catch (e) {
        if (e instanceof PowerLoss) out.crashes++;
        else if (isDiskFailure(e)) {
          let again: unknown;
          try {
            log.sync();
          } catch (x) {
            again = x;
          }
          assert.equal(again, e, 'a failed log stays failed');
          store.restartProcess();
          out.processRestarts++;
        } else throw e;
        crashed = true;
      }
      countdown.ops = Number.POSITIVE_INFINITY;
    } else if (action < 95) {
      store.crash();
      out.crashes++;
      crashed = true;
    } else {
      log.close(); // a clean restart: unsynced records dropped, never acknowledged
      appended = appended.slice(0, acked);
      crashed = true;
    }
    if (crashed) log = recover(step)!;
  }
  return out;
}

/** The AssertionError message of `run`, or undefined when it passes (any other error propagates). */
function failureOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (e) {
    if (e instanceof assert.AssertionError) return e.message;
    throw e;
  }
}

/** The failure of the first of seeds 0..199 whose checks fail. */
function firstCatch(run: (seed: number) => unknown): string {
  const seedsMax = 200;
  for (let seed = 0; seed < seedsMax; seed++) {
    const failure = failureOf(() => run(seed));
    if (failure !== undefined) return failure;
  }
  return assert.fail(`no seed in 0..${seedsMax - 1} caught the planted defect`);
}

test('every synced record survives random power losses; recovery is a contiguous run of what was appended', () => {
  const total = { crashes: 0, repairs: 0, released: 0, reads: 0, zeroRecords: 0, outOfOrder: 0 };
  for (let seed = 0; seed < 40; seed++) {
    const r = runLogSeed(seed);
    total.crashes += r.crashes;
    total.repairs += r.repairs;
    total.released += r.released;
    total.reads += r.reads;
    total.zeroRecords += r.zeroRecords;
    total.outOfOrder += r.faults.tornSectorsOutOfOrder;
  }
  assert.ok(
    total.crashes > 500 &&
      total.repairs >= 5 &&
      total.outOfOrder > 0 &&
      total.released > 50 &&
      total.reads > 500 &&
      total.zeroRecords > 500,
    JSON.stringify(total),
  );
});

test('after a failed fsync, a restart without reboot never trusts what only the page cache held', () => {
  const faults = { syncErrorProbability: 0.05, writeErrorProbability: 0.01, noSpaceProbability: 0.01 };
  let restarts = 0;
  for (let seed = 0; seed < 30; seed++) restarts += runLogSeed(seed, { faults }).processRestarts;
  assert.ok(restarts > 20, `${restarts} process restarts`);
});

test('the same seeds catch a log that skips its fsync, or trusts the page cache after a failed one', () => {
  assert.match(
    firstCatch((seed) => runLogSeed(seed, { bugs: { skipFsync: true } })),
    /acknowledged/,
  );
  const faults = { syncErrorProbability: 0.05 };
  assert.match(
    firstCatch((seed) => runLogSeed(seed, { faults, bugs: { trustPageCache: true } })),
    /acknowledged|refused/,
  );
});

// Goal: the engine's durability on the simulator's disk, in the style of log-crash.test.ts: power
// losses armed before the n-th mutating disk call (so they strike inside group commits, flushes,
// compactions, manifest replacements and recovery itself), with unsynced writes lost or torn,
// sectors landing in any order and unsynced directory changes lost. After each crash the store
// recovered (also after a process death that keeps the page cache) must equal the writes' model after some prefix of the writes applied since the last
// recovery (no reordering, no invented or damaged data), and the prefix must cover every write
// the engine called durable (`durableSeq`: under 'always' every write whose apply returned; under
// 'periodic' up to the last sync(); under 'none' up to the last flush). Then: a crash at every
// step of one flush and of one compaction leaves a readable store equal to the model; and a
// flipped bit anywhere in a run is reported as a CorruptionError, never read as wrong data.
// Negative controls: planted bugs (acknowledging without fsync, renaming an unsynced run, trusting
// blocks without their CRC) must be caught by the same checks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Disk } from '../../env/types.ts';
import { DiskErrorCode } from '../../env/disk-paths.ts';
import { BaristaError, CorruptionError } from '../../lib/errors.ts';
import { RecordingMetrics } from '../wal/test-components.ts';
import { SeededRng } from '../../lib/rng.ts';
import { defaultDiskFaults, SimDiskStore } from '../../sim/disk.ts';
import type { LsmEngine, PlantedEngineBugs, SyncPolicy, Write } from './engine.ts';
import { keyString } from './entry.ts';
import { runFileName } from './run.ts';
import {
  applyToModel,
  armedDisk,
  bytes,
  key,
  ManualClock,
  type Model,
  openEngine,
  PowerLoss,
  scanAll,
} from './test-support.ts';

function sameModel(a: Model, b: Model): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function show(m: Model): string {
  return JSON.stringify([...m].sort());
}

export interface CrashRunOptions {
  readonly policy: SyncPolicy;
  readonly bugs?: PlantedEngineBugs;
  readonly steps?: number;
  /** Inject EIO and ENOSPC (writes, fdatasync): the engine stops, the process restarts on the same page cache. */
  readonly diskErrors?: boolean;
}

const isDiskError = (e: unknown) =>
  e instanceof BaristaError && (e.code === DiskErrorCode.io || e.code === DiskErrorCode.noSpace);

/** One seeded run of random writes, syncs, flushes, compactions and power losses; throws on a violation. */
export function runCrashSeed(seed: number, o: CrashRunOptions) {
  const rng = new SeededRng(`lsm-crash-${seed}`);
  const errors =
    o.diskErrors === true
      ? { syncErrorProbability: 0.01, writeErrorProbability: 0.005, noSpaceProbability: 0.005 }
      : {};
  const store = new SimDiskStore(rng.fork('disk'), { ...defaultDiskFaults, tornSectorsAnyOrder: true, ...errors });
  // Power losses, and (a third of the strikes) process deaths that leave the page cache.
  const clock = new ManualClock();
  const countdown = { ops: Number.POSITIVE_INFINITY, processOnly: false };
  const metrics = new RecordingMetrics();
  const out = { crashes: 0, writes: 0, flushes: 0, truncations: 0, diskErrors: 0, tailRepairs: 0 };
  /** The state verified at the last recovery, the writes since, and the seq the cycle started at. */
  let base: Model = new Map();
  /** Writes since the last recovery, and 'truncate' where the store was emptied (one seq, none). */
  let history: (Write | 'truncate')[] = [];
  let baseSeq = 0;
  let durableWrites = 0;
  const options = { sync: o.policy, tombstoneGraceMs: 50, ...(o.bugs === undefined ? {} : { bugs: o.bugs }) };

  const recover = (): LsmEngine => {
    for (let attempt = 0; ; attempt++) {
      assert.ok(attempt < 200, `seed ${seed}: recovery keeps failing`);
      // Sometimes the power fails during recovery itself (its truncation, replay flush, manifest).
      countdown.ops = rng.int(3) === 0 ? rng.int(12) : Number.POSITIVE_INFINITY;
      countdown.processOnly = rng.int(3) === 0;
      try {
        const engine = openEngine(armedDisk(store, countdown), clock, options, metrics);
        countdown.ops = Number.POSITIVE_INFINITY;
        return engine;
      } catch (error) {
        if (error instanceof PowerLoss) out.crashes++;
        else if (isDiskError(error)) {
          out.diskErrors++;
          store.restartProcess();
        } else throw error;
      }
    }
  };

  const verify = (engine: LsmEngine): void => {
    const recovered = scanAll(engine);
    const model = new Map(base);
    const candidates: number[] = [];
    for (let k = 0; k <= history.length; k++) {
      const h = history[k - 1];
      if (h === 'truncate') model.clear();
      else if (h !== undefined) applyToModel(model, [h], clock.nowMs);
      if (k >= durableWrites && sameModel(model, recovered)) candidates.push(k);
    }
    assert.ok(
      candidates.length > 0,
      `seed ${seed}: recovered state is no prefix of the writes covering the ${durableWrites} durable ones ` +
        `(of ${history.length}):\n${show(recovered)}\nfull model:\n${show(model)}`,
    );
    for (const [k, v] of recovered)
      assert.equal(engine.get(Uint8Array.from(k, (c) => c.charCodeAt(0)))?.value.byteLength, v.length);
    base = recovered;
    history = [];
    baseSeq = engine.lastAppliedSeq;
    durableWrites = 0;
  };

  let engine = recover();
  verify(engine);
  const steps = o.steps ?? 300;
  countdown.ops = 1 + rng.int(80);
  for (let step = 0; step < steps; step++) {
    try {
      const r = rng.int(100);
      if (r < 62) {
        const batch: Write[] = [];
        for (let i = 1 + rng.int(3); i > 0; i--) {
          const k = key(rng.int(40));
          batch.push(
            rng.int(5) === 0
              ? { kind: 'delete', key: k, deletedAtMs: clock.nowMs }
              : { kind: 'put', key: k, value: bytes(`${step}:${'v'.repeat(rng.int(120))}`) },
          );
        }
        history.push(...batch);
        engine.apply(batch);
        out.writes += batch.length;
        if (o.policy === 'always') assert.equal(engine.durableSeq, engine.lastAppliedSeq, 'always: durable on return');
      } else if (r < 70) {
        engine.sync();
      } else if (r < 72) {
        // FLUSHALL: durable on return under every policy, whatever was synced before.
        history.push('truncate');
        engine.truncate();
        assert.equal(engine.durableSeq, engine.lastAppliedSeq, 'truncate: durable on return');
        out.truncations++;
        base = new Map();
        history = [];
        baseSeq = engine.lastAppliedSeq;
        durableWrites = 0;
        continue;
      } else if (r < 80) {
        engine.flush();
        out.flushes++;
      } else if (r < 87) {
        engine.compact({ major: rng.int(3) === 0 });
      } else if (r < 93) {
        clock.nowMs += rng.int(100);
      } else {
        // A clean shutdown and restart: close syncs, so everything is durable.
        engine.close();
        durableWrites = history.length;
        engine = recover();
        verify(engine);
        countdown.ops = 1 + rng.int(80);
        countdown.processOnly = rng.int(3) === 0;
        continue;
      }
      durableWrites = Math.max(durableWrites, engine.durableSeq - baseSeq);
    } catch (error) {
      if (error instanceof PowerLoss) out.crashes++;
      else if (isDiskError(error)) {
        // The engine is poisoned (every call throws now); the process restarts on the same page cache.
        out.diskErrors++;
        assert.throws(
          () => engine.get(key(0)),
          (e: unknown) => e === error,
        );
        store.restartProcess();
      } else throw error;
      engine = recover();
      verify(engine);
      countdown.ops = 1 + rng.int(80);
      countdown.processOnly = rng.int(3) === 0;
    }
  }
  out.tailRepairs = metrics.value('lsm_commitlog_tail_repairs_total');
  return out;
}

const SEEDS = 12;
/** Seeds run at most, past SEEDS, until the coverage below is reached (fixed seeds: deterministic). */
const SEEDS_MAX = 48;

for (const policy of ['always', 'periodic', 'none'] as const) {
  test(`${policy}: after any power loss the store is a prefix of the writes covering every durable one`, () => {
    let crashes = 0;
    let flushes = 0;
    let truncations = 0;
    let tailRepairs = 0;
    // At least SEEDS seeds, then more until some crash tore a commit log tail: where the crashes
    // land moves with the engine's flush points (the memtable's per-key overhead changed them once,
    // and 12 seeds of `periodic` then tore no tail).
    for (let seed = 1; seed <= SEEDS_MAX; seed++) {
      const r = runCrashSeed(seed, { policy });
      crashes += r.crashes;
      flushes += r.flushes;
      truncations += r.truncations;
      tailRepairs += r.tailRepairs;
      if (seed >= SEEDS && (policy === 'none' || tailRepairs > 0)) break;
    }
    assert.ok(crashes >= SEEDS * 3, `only ${crashes} power losses`);
    assert.ok(flushes > 0);
    assert.ok(truncations > 0, 'no truncate ran');
    if (policy !== 'none') assert.ok(tailRepairs > 0, 'some crash tore a commit log tail');
  });
}

test('with EIO and ENOSPC injected, a failed engine stops, restarts and still recovers a durable prefix', () => {
  let diskErrors = 0;
  let crashes = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = runCrashSeed(seed, { policy: seed % 2 === 0 ? 'always' : 'periodic', diskErrors: true });
    diskErrors += r.diskErrors;
    crashes += r.crashes;
  }
  assert.ok(diskErrors >= SEEDS, `only ${diskErrors} disk errors`);
  assert.ok(crashes > 0);
});

test('negative control: acknowledging writes without the commit log fsync loses an acknowledged write', () => {
  const failures = [...Array(SEEDS).keys()].filter((i) => {
    try {
      runCrashSeed(i + 1, { policy: 'always', bugs: { skipCommitLogFsync: true } });
      return false;
    } catch (error) {
      // Lost writes fail the prefix check; a torn unsynced batch behind a SYNC mark is corruption.
      if (!(error instanceof assert.AssertionError) && !(error instanceof CorruptionError)) throw error;
      return true;
    }
  });
  assert.ok(failures.length > 0, 'the unsynced commit log went unnoticed');
});

test('negative control: renaming a run into place before it is synced loses or damages flushed data', () => {
  const failures = [...Array(SEEDS).keys()].filter((i) => {
    try {
      runCrashSeed(i + 1, { policy: 'none', bugs: { renameRunUnsynced: true } });
      return false;
    } catch (error) {
      if (!(error instanceof assert.AssertionError) && !(error instanceof CorruptionError)) throw error;
      return true;
    }
  });
  assert.ok(failures.length > 0, 'the unsynced run went unnoticed');
});

/** A store with several runs and a model of it, everything synced, built the same way every time. */
function buildSynced(store: SimDiskStore, clock: ManualClock): Model {
  const engine = openEngine(store.view(), clock, { sync: 'always', autoCompact: false, tombstoneGraceMs: 0 });
  const model: Model = new Map();
  const rng = new SeededRng('lsm-build');
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 25; i++) {
      const k = key(rng.int(60));
      const w: Write =
        rng.int(4) === 0
          ? { kind: 'delete', key: k, deletedAtMs: clock.nowMs }
          : { kind: 'put', key: k, value: bytes(`r${round}-${i}-${'x'.repeat(rng.int(50))}`) };
      engine.apply([w]);
      applyToModel(model, [w], clock.nowMs);
    }
    if (round < 3) engine.flush();
  }
  engine.close();
  clock.nowMs += 10;
  return model;
}

for (const step of ['flush', 'compaction', 'truncate'] as const) {
  test(`a power loss at every disk operation of a ${step} leaves a readable store equal to the model`, () => {
    let struck = 0;
    for (let n = 0; ; n++) {
      const store = new SimDiskStore(new SeededRng(`lsm-step-${n}`), {
        ...defaultDiskFaults,
        tornSectorsAnyOrder: true,
      });
      const clock = new ManualClock();
      const model = buildSynced(store, clock);
      const countdown = { ops: Number.POSITIVE_INFINITY };
      const engine = openEngine(armedDisk(store, countdown), clock, { autoCompact: false, tombstoneGraceMs: 0 });
      if (step === 'compaction') engine.flush();
      countdown.ops = n;
      let completed = true;
      try {
        if (step === 'flush') engine.flush();
        else if (step === 'truncate') engine.truncate();
        else assert.equal(engine.compact({ major: true }), true);
      } catch (error) {
        if (!(error instanceof PowerLoss)) throw error;
        completed = false;
        struck++;
      }
      const reopened = openEngine(store.view(), clock, { autoCompact: false, tombstoneGraceMs: 0 });
      const seen = show(scanAll(reopened));
      if (step === 'truncate') {
        // All or nothing: the store as it was, or empty (and empty once the truncate returned).
        const empty = show(new Map());
        assert.ok(seen === show(model) || seen === empty, `truncate crashed before disk operation ${n}: ${seen}`);
        if (completed) assert.equal(seen, empty);
        if (seen === empty) for (const k of model.keys()) assert.equal(reopened.get(bytes(k)), undefined);
        else for (const [k, v] of model) assert.equal(reopened.get(bytes(k))?.value.byteLength, v.length);
        reopened.close();
        if (completed) break;
        continue;
      }
      assert.equal(seen, show(model), `${step} crashed before disk operation ${n}`);
      for (const [k, v] of model) assert.equal(reopened.get(bytes(k))?.value.byteLength, v.length);
      reopened.close();
      if (completed) break;
    }
    assert.ok(struck >= 5, `only ${struck} crash points`);
  });
}

/** Flips bit `bit` of byte `at` of run file `path` (durably), runs `read`, and flips it back. */
function withFlippedBit(store: SimDiskStore, path: string, at: number, bit: number, read: () => void): void {
  const flip = () => {
    const f = store.view().open(path, { create: false });
    const b = f.read(at, 1);
    f.writeAt(at, Uint8Array.of(b[0]! ^ (1 << bit)));
    f.sync();
    f.close();
  };
  flip();
  try {
    read();
  } finally {
    flip();
  }
}

/** For every byte of one run (one bit each): 'detected', 'wrong data' or 'unnoticed' counts. */
function flipEveryByte(bugs: PlantedEngineBugs): { detected: number; wrong: number; unnoticed: number } {
  const store = new SimDiskStore(new SeededRng('lsm-flip'), { ...defaultDiskFaults, lostUnsynced: false });
  const clock = new ManualClock();
  const model = buildSynced(store, clock);
  const path = `lsm/${runFileName(1)}`;
  const size = store.view().open(path, { create: false }).size();
  const counts = { detected: 0, wrong: 0, unnoticed: 0 };
  for (let at = 0; at < size; at++) {
    withFlippedBit(store, path, at, at % 8, () => {
      try {
        const engine = openEngine(store.view(), clock, { autoCompact: false, tombstoneGraceMs: 0, bugs });
        const seen = scanAll(engine);
        const wrongGet = [...model].some(([k, v]) => {
          const e = engine.get(bytes(k));
          return e === undefined || new TextDecoder().decode(e.value) !== v;
        });
        engine.close();
        if (wrongGet || !sameModel(seen, model)) counts.wrong++;
        else counts.unnoticed++;
      } catch (error) {
        if (!(error instanceof CorruptionError)) throw error;
        assert.ok(String(error.fields['file']).includes('run-'), 'the error names the run file');
        assert.equal(typeof error.fields['offset'], 'number');
        counts.detected++;
      }
    });
  }
  return counts;
}

test('a flipped bit anywhere in a run is a CorruptionError naming file and offset, never wrong data', () => {
  const counts = flipEveryByte({});
  assert.equal(counts.wrong, 0);
  assert.equal(counts.unnoticed, 0, 'every byte of a run is under a CRC');
  assert.ok(counts.detected > 500);
});

test('negative control: reading blocks without their CRC returns wrong data for a flipped bit', () => {
  const counts = flipEveryByte({ trustBlocks: true });
  assert.ok(counts.wrong > 0);
});

test('the model check itself: a store missing a durable write is refused', () => {
  const recovered: Model = new Map([[keyString(key(1)), 'a']]);
  const full: Model = new Map([
    [keyString(key(1)), 'a'],
    [keyString(key(2)), 'b'],
  ]);
  assert.equal(sameModel(recovered, full), false);
});

test('a process death between the manifest rename and its syncDir, then a power loss, loses nothing', () => {
  const store = new SimDiskStore(new SeededRng('lsm-manifest-dir'), {
    ...defaultDiskFaults,
    tornSectorsAnyOrder: true,
  });
  const clock = new ManualClock();
  const engine = openEngine(store.view(), clock, { autoCompact: false, memtableBytesMax: 1 << 20 });
  const model: Model = new Map();
  for (let i = 0; i < 300; i++) {
    const w: Write = { kind: 'put', key: key(i % 50), value: bytes(`v${i}-${'x'.repeat(30)}`) };
    engine.apply([w]);
    applyToModel(model, [w], clock.nowMs);
  }
  engine.close();
  // The process dies at the syncDir that follows the manifest's rename (a kill -9, not a power loss).
  let renamed = false;
  const base = store.view();
  const dying: Disk = new Proxy(base, {
    get(t, k, receiver) {
      const v = Reflect.get(t, k, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (k === 'rename' && String(args[1]).endsWith('MANIFEST')) renamed = true;
        else if (k === 'syncDir' && renamed) {
          store.restartProcess();
          throw new PowerLoss('process killed');
        }
        return v.apply(t, args);
      };
    },
  });
  const during = openEngine(dying, clock, { autoCompact: false, memtableBytesMax: 1 << 20 });
  assert.throws(() => during.flush(), PowerLoss);
  // The restarted process trusts the new manifest and releases the commit log it covers; then the
  // power fails. (Two things make the rename durable first: the engine's syncDir at open, and the
  // commit log's mkdirpDurable of its directory's ancestors; either alone passes this test.)
  openEngine(store.view(), clock, { autoCompact: false }).close();
  store.crash();
  const after = openEngine(store.view(), clock, { autoCompact: false });
  assert.equal(show(scanAll(after)), show(model));
  after.close();
});

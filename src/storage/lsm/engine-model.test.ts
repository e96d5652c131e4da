// Goal: the engine behaves as a sorted map. fast-check generates random sequences of puts (some
// with expiry deadlines), deletes, flushes, compactions (tiered and major), clock steps, syncs and
// clean restarts, over a small key space so versions shadow each other across the memtable and many
// runs; after every command point reads and range scans, forward and reverse (random bounds and
// page sizes), must equal a Map model. Tombstones use a grace period of 0 so compaction drops them as early as it may: the
// planted bug that drops them when an older run outside the compaction still holds the key must be
// caught (a deleted value comes back).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SeededRng } from '../../lib/rng.ts';
import { SimDiskStore } from '../../sim/disk.ts';
import type { LsmEngine, PlantedEngineBugs, Write } from './engine.ts';
import { compareKeys, keyString } from './entry.ts';
import { bytes, key, ManualClock, openEngine, text } from './test-support.ts';

type Command =
  | { readonly kind: 'put'; readonly k: number; readonly v: string; readonly ttlMs: number }
  | { readonly kind: 'delete'; readonly k: number }
  | { readonly kind: 'flush' | 'compact' | 'major' | 'restart' | 'sync' | 'truncate' }
  | { readonly kind: 'tick'; readonly ms: number }
  | { readonly kind: 'scan'; readonly from: number; readonly to: number; readonly page: number };

const KEYS = 24;

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('put' as const),
      k: fc.nat(KEYS - 1),
      v: fc.string({ maxLength: 60 }),
      ttlMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('delete' as const), k: fc.nat(KEYS - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('flush' as const, 'compact' as const, 'sync' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constantFrom('major' as const, 'restart' as const, 'truncate' as const) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 200 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('scan' as const),
      from: fc.nat(KEYS),
      to: fc.nat(KEYS),
      page: fc.integer({ min: 1, max: 6 }),
    }),
  },
);

/** The model: value and deadline per key; reads at `nowMs` skip expired ones. */
type ModelEntry = { readonly v: string; readonly deadlineMs: number };

function live(model: Map<number, ModelEntry>, k: number, nowMs: number): string | undefined {
  const e = model.get(k);
  return e === undefined || (e.deadlineMs !== 0 && e.deadlineMs <= nowMs) ? undefined : e.v;
}

function checkScan(
  engine: LsmEngine,
  model: Map<number, ModelEntry>,
  nowMs: number,
  from: number,
  to: number,
  page: number,
) {
  const want: string[] = [];
  for (let k = from; k < to; k++) {
    const v = live(model, k, nowMs);
    if (v !== undefined) want.push(`${k}=${v}`);
  }
  const got: string[] = [];
  let start: Uint8Array | null = key(from);
  let previous: Uint8Array | null = null;
  while (start !== null) {
    const r = engine.scan({ start, end: key(to), limit: page });
    for (const e of r.entries) {
      if (previous !== null) assert.ok(compareKeys(previous, e.key) < 0, 'scan keys strictly increase');
      previous = e.key;
      got.push(`${Number(text(e.key)!.slice(1))}=${text(e.value)}`);
    }
    start = r.next;
  }
  assert.deepEqual(got, want, `scan [${from}, ${to}) page ${page}`);
  // The same range backwards, paged from its end.
  const back: string[] = [];
  let end: Uint8Array | null = key(to);
  previous = null;
  while (end !== null) {
    const r = engine.scan({ start: key(from), end, limit: page, reverse: true });
    for (const e of r.entries) {
      if (previous !== null) assert.ok(compareKeys(e.key, previous) < 0, 'reverse scan keys strictly decrease');
      previous = e.key;
      back.push(`${Number(text(e.key)!.slice(1))}=${text(e.value)}`);
    }
    end = r.next;
  }
  assert.deepEqual(back, [...want].reverse(), `reverse scan [${from}, ${to}) page ${page}`);
}

function runCommands(
  commands: readonly Command[],
  bugs: PlantedEngineBugs = {},
  index: { readonly indexKeyBytes: number; readonly blockBytes: number } = { indexKeyBytes: 256, blockBytes: 256 },
): void {
  const store = new SimDiskStore(new SeededRng('lsm-model'), {
    lostUnsynced: false,
    tornWrites: false,
    lostUnsyncedDirOps: false,
    readCorruptionProbability: 0,
  });
  const clock = new ManualClock();
  const options = {
    tombstoneGraceMs: 0,
    memtableBytesMax: 700,
    compactionMinRuns: 2,
    runsCountMax: 5,
    sync: 'periodic' as const,
    bugs,
    ...index,
  };
  let engine = openEngine(store.view(), clock, options);
  const model = new Map<number, ModelEntry>();
  for (const c of commands) {
    switch (c.kind) {
      case 'put': {
        const deadlineMs = c.ttlMs === 0 ? 0 : clock.nowMs + c.ttlMs;
        const w: Write = { kind: 'put', key: key(c.k), value: bytes(c.v), expiresAtMs: deadlineMs };
        engine.apply([w]);
        model.set(c.k, { v: c.v, deadlineMs });
        break;
      }
      case 'delete':
        engine.delete(key(c.k), clock.nowMs);
        model.delete(c.k);
        break;
      case 'flush':
        engine.flush();
        break;
      case 'compact':
        engine.compact();
        break;
      case 'major':
        engine.compact({ major: true });
        break;
      case 'sync':
        engine.sync();
        break;
      case 'truncate':
        engine.truncate();
        model.clear();
        break;
      case 'restart':
        engine.close();
        engine = openEngine(store.view(), clock, options);
        break;
      case 'tick':
        clock.nowMs += c.ms;
        break;
      case 'scan':
        checkScan(engine, model, clock.nowMs, Math.min(c.from, c.to), Math.max(c.from, c.to), c.page);
        break;
    }
    for (let k = 0; k < KEYS; k++) {
      assert.equal(text(engine.get(key(k))?.value), live(model, k, clock.nowMs), `get ${k} after ${c.kind}`);
    }
  }
  checkScan(engine, model, clock.nowMs, 0, KEYS, 7);
  engine.close();
}

test('random puts, deletes, expiries, flushes, compactions and restarts read like a Map', () => {
  fc.assert(
    fc.property(
      fc.array(command, { minLength: 1, maxLength: 120 }),
      // 3 bytes: the runs' indexes keep "k00" of keys like "k0042", and with blocks of 16 bytes
      // each entry is its own block, so most blocks' index keys tie.
      fc.constantFrom({ indexKeyBytes: 256, blockBytes: 256 }, { indexKeyBytes: 3, blockBytes: 16 }),
      (commands, index) => runCommands(commands, {}, index),
    ),
    { numRuns: 120 },
  );
});

test('negative control: dropping tombstones while an older run holds the key brings a deleted value back', () => {
  // A big old run, a delete flushed to its own small run, two more small runs: the tier of small
  // runs compacts without the old run, and the bug drops the tombstone there.
  const commands: Command[] = [];
  for (let k = 0; k < KEYS; k++) commands.push({ kind: 'put', k, v: 'old'.repeat(10), ttlMs: 0 });
  commands.push({ kind: 'flush' }, { kind: 'delete', k: 3 }, { kind: 'flush' });
  commands.push(
    { kind: 'put', k: 1, v: 'a', ttlMs: 0 },
    { kind: 'flush' },
    { kind: 'tick', ms: 5 },
    { kind: 'compact' },
  );
  runCommands(commands); // the engine keeps the tombstone
  assert.throws(() => runCommands(commands, { dropTombstonesAnywhere: true }), /get 3 after compact/);
});

test('keyString orders like compareKeys', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 }), (a, b) => {
      const byString = keyString(a) < keyString(b) ? -1 : keyString(a) === keyString(b) ? 0 : 1;
      assert.equal(byString, Math.sign(compareKeys(a, b)));
    }),
  );
});

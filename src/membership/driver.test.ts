// Goal: a node's incarnation grows on every start even when reads of the incarnation file are
// corrupted in transit (the simulator's read-bitflip fault) or the file itself is damaged: a
// flipped "2" must not be read as "0" and hand out an incarnation a previous life already used,
// not even when two consecutive reads are flipped the same way (swarm seed 344).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Disk, Env } from '../env/types.ts';
import { type Mutation, mutationsFrom } from '../lib/mutations.ts';
import { SeededRng } from '../lib/rng.ts';
import { flakyReads } from '../sim/flaky-disk.ts';
import { SimDiskStore } from '../sim/disk.ts';
import { SimLogSink } from '../sim/observe.ts';
import {
  bumpIncarnation,
  decodeIncarnation,
  encodeIncarnation,
  raiseIncarnationFloor,
  startIncarnation,
} from './driver.ts';

/** A Disk whose next `flips` non-empty reads come back with the first byte XORed with `mask`. */
// With 0x02: '2' (0x32) reads as '0' (0x30), '3' as '1'.
const flaky = (inner: Disk, flips: number, mask = 0x02): Disk => flakyReads(inner, flips, (b) => b ^ mask);

/**
 * A test Env. Its wall clock reads `wallMs` (0 by default: the epoch, as on a machine whose clock
 * was never set), so a first life, which has no file and takes the wall clock in seconds, is 1.
 */
function env(disk: Disk, mutations: Mutation[] = [], wallMs = 0): Env {
  const logs = new SimLogSink(() => 0, 100);
  return {
    disk,
    mutations: mutationsFrom(mutations),
    clock: { monotonicMs: () => 0, wallMs: () => wallMs },
    log: logs.logger('n1'),
  } as unknown as Env;
}

test('a transient bit flip in one read of the incarnation file does not lower the incarnation', () => {
  const store = new SimDiskStore(new SeededRng('inc'));
  assert.equal(bumpIncarnation(env(store.view())), 1);
  assert.equal(bumpIncarnation(env(store.view())), 2);
  assert.equal(bumpIncarnation(env(flaky(store.view(), 1))), 3, 'the file says 2: the next life is 3');
  assert.equal(bumpIncarnation(env(store.view())), 4);
});

test('two consecutive reads of the incarnation file flipped the same way do not lower the incarnation (swarm seed 344)', () => {
  // Seed 344: n5 ran with incarnation 3, lost power, and on restart read "3" once and then "1"
  // twice (a one-byte file, the same bit flipped in two reads in a row); two agreeing reads were
  // believed and the new life announced 2. The checksum rejects both flipped reads.
  const store = new SimDiskStore(new SeededRng('inc-344'));
  for (let n = 1; n <= 3; n++) assert.equal(bumpIncarnation(env(store.view())), n);
  store.crash();
  const flipped = flaky(store.view(), 3);
  assert.equal(bumpIncarnation(env(flipped)), 4, 'the file says 3: the next life is 4');
  assert.equal(bumpIncarnation(env(store.view())), 5);
});

test('the planted bug membership-incarnation-unverified believes two agreeing flipped reads', () => {
  const store = new SimDiskStore(new SeededRng('inc-344-mutant'));
  for (let n = 1; n <= 3; n++) assert.equal(bumpIncarnation(env(store.view())), n);
  assert.equal(bumpIncarnation(env(flaky(store.view(), 3), ['membership-incarnation-unverified'])), 2);
});

test('an incarnation file damaged for every read (or without a checksum) falls back above every earlier incarnation', () => {
  const store = new SimDiskStore(new SeededRng('inc-rot'));
  for (let n = 1; n <= 3; n++) assert.equal(bumpIncarnation(env(store.view())), n);
  const wallMs = 1_767_225_600_000;
  assert.equal(bumpIncarnation(env(flaky(store.view(), 1_000), [], wallMs)), wallMs, 'every read says 1: unverifiable');
  const disk = store.view();
  const f = disk.open('membership/incarnation', { create: false });
  f.truncate(0);
  f.append(new TextEncoder().encode('7')); // the pre-checksum format
  f.sync();
  f.close();
  assert.equal(bumpIncarnation(env(disk, [], wallMs + 5_000)), wallMs + 5_000);
  assert.equal(bumpIncarnation(env(store.view(), [], wallMs + 5_000)), wallMs + 5_001, 'a clock that did not move: +1');
});

test('one rotten copy of the incarnation file: the other keeps the next life above the last, whatever the clock says (swarm seed 467)', () => {
  // Seed 467: the one incarnation file rotted, the wall clock stood in, and a clock skewed 0.7 s
  // back gave n1 an incarnation below its previous life's. Two copies: either one suffices.
  const store = new SimDiskStore(new SeededRng('inc-467'));
  const wallMs = 1_767_731_909_685;
  assert.equal(bumpIncarnation(env(store.view(), [], wallMs)), wallMs);
  for (const rotten of ['membership/incarnation', 'membership/incarnation.2']) {
    const disk = store.view();
    const f = disk.open(rotten, { create: false });
    const bytes = f.read(0, f.size());
    bytes[0]! ^= 0x04; // a flipped bit the checksum rejects, on every read
    f.writeAt(0, bytes);
    f.sync();
    f.close();
    const before = bumpIncarnation(env(store.view(), [], wallMs - 10_000)); // the clock 10 s behind
    assert.ok(before > wallMs, `${rotten} rotten: ${before} > ${wallMs}`);
  }
});

test('a wiped data directory, rejoining or bootstrapping, starts above every incarnation of its earlier lives', () => {
  // Swarm seeds 5 and 7 (the operator wiped a node that refused its rotten WAL; it rejoined) and
  // seed 572 (wiped while its cluster was still being created, it started as a new member): each
  // came back with incarnation 1, a number its first life had used. Lives follow the wall clock,
  // so the life after a wipe is above every earlier one however many restarts came first.
  const store = new SimDiskStore(new SeededRng('inc-wipe'));
  const t0 = 1_767_225_600_000;
  let last = 0;
  for (let life = 0; life < 50; life++) {
    const next = bumpIncarnation(env(store.view(), [], t0 + life * 20)); // 50 restarts within a second
    assert.ok(next > last, `life ${life}: ${next} > ${last}`);
    last = next;
  }
  store.wipe();
  const afterWipe = bumpIncarnation(env(store.view(), [], t0 + 1_000)); // the operator, a second later
  assert.ok(afterWipe > last, `after the wipe ${afterWipe} > ${last}`);
});

test('the incarnation encoding round-trips and rejects any single flipped bit', () => {
  for (const n of [0, 1, 9, 1_767_225_601, Number.MAX_SAFE_INTEGER]) {
    const bytes = new TextEncoder().encode(encodeIncarnation(n));
    assert.equal(decodeIncarnation(new TextDecoder().decode(bytes)), n);
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = bytes.slice();
        copy[i]! ^= 1 << bit;
        assert.equal(decodeIncarnation(new TextDecoder().decode(copy)), undefined, `n=${n} byte ${i} bit ${bit}`);
      }
    }
  }
});

test('a floor learned from a peer puts the next life above it, and that life is marked as not remembering (swarm seeds 418, 523, 551)', () => {
  // A wiped node under a clock stepped back starts below its earlier lives; a peer's Stale notice
  // raises the floor (raiseIncarnationFloor) and the process exits. The next start is above the
  // floor whatever the clock says; it is still not "remembered" (one peer's knowledge is not every
  // earlier life's); the start after that is.
  const store = new SimDiskStore(new SeededRng('inc-floor'));
  const t0 = 1_767_225_600_000;
  const first = startIncarnation(env(store.view(), [], t0));
  assert.equal(first.remembered, false, 'a first life remembers nothing');
  store.wipe();
  const behind = startIncarnation(env(store.view(), [], t0 - 70_000)); // clock stepped back 70 s
  assert.ok(behind.incarnation < first.incarnation && !behind.remembered);
  raiseIncarnationFloor(env(store.view(), [], t0 - 70_000), first.incarnation);
  const next = startIncarnation(env(store.view(), [], t0 - 69_000));
  assert.ok(next.incarnation > first.incarnation, `${next.incarnation} > ${first.incarnation}`);
  assert.equal(next.remembered, false, 'learned from a peer: not every earlier life');
  const after = startIncarnation(env(store.view(), [], t0 - 68_000));
  assert.ok(after.incarnation > next.incarnation && after.remembered);
});

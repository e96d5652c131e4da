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
import { bumpIncarnation, decodeIncarnation, encodeIncarnation } from './driver.ts';

/** A Disk whose next `flips` non-empty reads come back with the first byte XORed with `mask`. */
// With 0x02: '2' (0x32) reads as '0' (0x30), '3' as '1'.
const flaky = (inner: Disk, flips: number, mask = 0x02): Disk => flakyReads(inner, flips, (b) => b ^ mask);

function env(disk: Disk, mutations: Mutation[] = []): Env {
  const logs = new SimLogSink(() => 0, 100);
  return {
    disk,
    mutations: mutationsFrom(mutations),
    clock: { monotonicMs: () => 0, wallMs: () => 1_767_225_600_000 },
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
  const wallSeconds = 1_767_225_600;
  assert.equal(bumpIncarnation(env(flaky(store.view(), 1_000))), wallSeconds + 1, 'every read says 1: unverifiable');
  const disk = store.view();
  const f = disk.open('membership/incarnation', { create: false });
  f.truncate(0);
  f.append(new TextEncoder().encode('7')); // the pre-checksum format
  f.sync();
  f.close();
  assert.equal(bumpIncarnation(env(disk)), wallSeconds + 1);
  assert.equal(bumpIncarnation(env(store.view())), wallSeconds + 2);
});

test('after a wipe, a rejoining node starts above every incarnation of its earlier lives', () => {
  // Swarm seeds 5 and 7 with the rot classes: the operator wiped a node that refused its rotten
  // WAL and it rejoined with incarnation 1, a number its first life had used.
  const store = new SimDiskStore(new SeededRng('inc-wipe'));
  for (let n = 1; n <= 3; n++) assert.equal(bumpIncarnation(env(store.view())), n);
  store.wipe();
  assert.equal(bumpIncarnation(env(store.view()), { dataWiped: true }), 1_767_225_600 + 1);
  assert.equal(bumpIncarnation(env(store.view()), { dataWiped: true }), 1_767_225_600 + 2, 'the file is read again');
  store.wipe();
  assert.equal(bumpIncarnation(env(store.view())), 1, 'without dataWiped an empty directory is a first life');
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

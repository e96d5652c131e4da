// Goal: SlicedSort (the snapshot walk's sort of a parent's children in bounded steps) gives exactly
// Array.prototype.sort's order for any names, run length and merge step, and bounds each step:
// sorting n names takes about n / run + log2(n / run) * n / moves steps, never one step for all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRng } from '../lib/rng.ts';
import { SlicedSort } from './sliced-sort.ts';

function name(rng: SeededRng): string {
  const length = rng.int(12);
  let s = '';
  // Letters, digits, and now and then a code unit past ASCII (a surrogate half too): `<` order.
  for (let i = 0; i < length; i++)
    s += rng.int(10) === 0 ? String.fromCharCode(0x80 + rng.int(0xff00)) : String.fromCharCode(0x2f + rng.int(75));
  return s;
}

test('SlicedSort equals Array.prototype.sort for random names, run lengths and merge steps', () => {
  const rng = new SeededRng('sliced-sort');
  for (let trial = 0; trial < 300; trial++) {
    const n = rng.int(trial < 20 ? 3 : 2_000);
    const names = [...new Set(Array.from({ length: n }, () => name(rng)))];
    const want = [...names].sort();
    const run = 1 + rng.int(64);
    const moves = 1 + rng.int(200);
    const s = new SlicedSort([...names], run, moves);
    let steps = 0;
    while (!s.done) {
      s.step();
      steps++;
      assert.ok(steps < 100_000, 'ends');
    }
    assert.deepEqual(s.result, want, `n=${names.length} run=${run} moves=${moves}`);
    const runs = Math.ceil(names.length / run);
    const passes = runs <= 1 ? 0 : Math.ceil(Math.log2(runs));
    assert.ok(steps <= runs + passes * (Math.ceil(names.length / moves) + 1) + 1, `steps ${steps}`);
  }
});

test('SlicedSort: a million names take many steps, none sorting them all (the snapshot slice bound)', () => {
  const names = Array.from({ length: 1_000_000 }, (_, i) => `/p/n${(i * 7919) % 1_000_000}`);
  const s = new SlicedSort([...names]);
  let steps = 0;
  while (!s.done) {
    s.step();
    steps++;
  }
  assert.ok(steps > 60, `${steps} steps`);
  const r = s.result;
  for (let i = 1; i < r.length; i++) assert.ok(r[i - 1]! < r[i]!, `sorted at ${i}`);
  assert.equal(r.length, names.length);
});

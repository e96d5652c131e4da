// Goal: size-tiered compaction picks maximal windows of adjacent runs of similar size, the cheapest
// first, never a window below minRuns, and forces one when the run count passes its bound.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pickCompactionWindow } from './tiering.ts';

const o = { minRuns: 3, sizeRatioMax: 4, fanInMax: 8, runsCountMax: 6 };

test('a tier of similar adjacent runs is picked whole', () => {
  assert.deepEqual(pickCompactionWindow([1000, 10, 12, 9, 11], o), { start: 1, end: 5 });
  assert.deepEqual(pickCompactionWindow([10, 12, 9], o), { start: 0, end: 3 });
});

test('too few similar runs: nothing, until the run count passes its bound', () => {
  assert.equal(pickCompactionWindow([1000, 100, 10, 1], o), null);
  assert.equal(pickCompactionWindow([], o), null);
  const many = [1e6, 1e5, 1e4, 1e3, 100, 10, 1];
  assert.deepEqual(pickCompactionWindow(many, o), { start: 4, end: 7 });
});

test('the cheapest of two tiers goes first; a window is at most fanInMax runs', () => {
  assert.deepEqual(pickCompactionWindow([1000, 900, 1100, 5, 6, 7], o), { start: 3, end: 6 });
  const w = pickCompactionWindow(Array(20).fill(10), o);
  assert.ok(w !== null && w.end - w.start <= 8);
});

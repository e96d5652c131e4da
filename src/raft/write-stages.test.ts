// Goal: the write-stage timing marks (write-stages.ts) observe each marked index once, when the
// tracked index first covers it, and stay within their bound (the oldest mark is dropped).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IndexMarks } from './write-stages.ts';

function recorder(): { observed: number[]; histogram: { observe(v: number): void } } {
  const observed: number[] = [];
  return { observed, histogram: { observe: (v) => observed.push(v) } };
}

test('a mark is observed once, when the tracked index first reaches it', () => {
  const r = recorder();
  const marks = new IndexMarks(r.histogram, 8);
  marks.mark(3, 10);
  marks.mark(5, 12);
  marks.reached(2, 13);
  assert.deepEqual(r.observed, [], 'index 2 covers no mark');
  marks.reached(3, 15);
  assert.deepEqual(r.observed, [5], 'reaching exactly index 3 ends mark 3: 15 - 10');
  marks.reached(9, 20);
  assert.deepEqual(r.observed, [5, 8], 'mark 5: 20 - 12');
  marks.reached(9, 30);
  assert.deepEqual(r.observed, [5, 8], 'nothing observed twice');
  assert.equal(marks.size, 0);
});

test('at the bound the oldest mark is dropped, never more memory; clear forgets all', () => {
  const r = recorder();
  const marks = new IndexMarks(r.histogram, 3);
  for (let i = 1; i <= 5; i++) marks.mark(i, i * 10);
  assert.equal(marks.size, 3);
  marks.reached(5, 100);
  assert.deepEqual(r.observed, [70, 60, 50], 'marks 3, 4, 5 kept; 1 and 2 dropped');
  marks.mark(6, 100);
  marks.clear();
  marks.reached(6, 200);
  assert.deepEqual(r.observed, [70, 60, 50]);
});

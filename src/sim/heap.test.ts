// Goal: the event queue pops in (time, insertion order) order for any interleaving of pushes and
// pops (oracle: a stable sort), and refuses to grow past its bound with an error naming it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LimitError } from '../lib/errors.ts';
import { EventQueue } from './heap.ts';

interface Ev {
  atMs: number;
  seq: number;
  id: number;
}

test('pops follow (time, insertion order) for any mix of pushes and pops', () => {
  fc.assert(
    fc.property(
      fc.array(fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }), { maxLength: 300 }),
      (steps) => {
        const q = new EventQueue<Ev>(1000, 'testMax');
        let pending: Ev[] = [];
        let id = 0;
        for (const step of steps) {
          if (step === undefined) {
            // Oracle: the earliest time, and among equals the first pushed.
            const want = pending.reduce<Ev | undefined>(
              (best, e) => (best === undefined || e.atMs < best.atMs ? e : best),
              undefined,
            );
            assert.equal(q.pop(), want);
            pending = pending.filter((e) => e !== want);
          } else {
            const ev = { atMs: step, seq: 0, id: id++ };
            q.push(ev);
            pending.push(ev);
          }
          assert.equal(q.size, pending.length);
        }
      },
    ),
    { numRuns: 300, seed: 3 },
  );
});

test('push past the bound throws a LimitError naming it', () => {
  const q = new EventQueue<Ev>(2, 'simEventsPendingMax');
  q.push({ atMs: 0, seq: 0, id: 0 });
  q.push({ atMs: 0, seq: 0, id: 1 });
  assert.throws(
    () => q.push({ atMs: 0, seq: 0, id: 2 }),
    (e) => e instanceof LimitError && e.fields['limit'] === 'simEventsPendingMax',
  );
});

test('pushFirst events come before ordinary ones at the same time, in their own order', () => {
  const q = new EventQueue<Ev>(100, 'testMax');
  q.push({ atMs: 5, seq: 0, id: 1 });
  q.push({ atMs: 4, seq: 0, id: 2 });
  q.pushFirst({ atMs: 5, seq: 0, id: 3 });
  q.pushFirst({ atMs: 5, seq: 0, id: 4 });
  q.push({ atMs: 5, seq: 0, id: 5 });
  assert.deepEqual(
    [q.pop(), q.pop(), q.pop(), q.pop(), q.pop()].map((e) => e?.id),
    [2, 3, 4, 1, 5],
  );
});

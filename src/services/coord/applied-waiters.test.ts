// Goal: a waiter runs exactly once, never before the applied index reaches its index, in index
// order (then arrival order), and at once when the index is already applied.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AppliedWaiters } from './applied-waiters.ts';

test('waiters run once, in index order, when the index is reached', () => {
  const w = new AppliedWaiters(5);
  const ran: string[] = [];
  w.wait(3, () => ran.push('past'));
  assert.deepEqual(ran, ['past']);
  w.wait(9, () => ran.push('9a'));
  w.wait(7, () => ran.push('7'));
  w.wait(9, () => ran.push('9b'));
  w.advance(6);
  assert.deepEqual(ran, ['past']);
  w.advance(9);
  assert.deepEqual(ran, ['past', '7', '9a', '9b']);
  w.advance(4);
  assert.equal(w.applied, 9, 'never moves back');
  assert.equal(w.size, 0);
});

test('property: every waiter runs exactly once, after its index, in (index, arrival) order', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ wait: fc.integer({ min: 0, max: 50 }) }),
          fc.record({ advance: fc.integer({ min: 0, max: 50 }) }),
        ),
      ),
      (ops) => {
        const w = new AppliedWaiters(0);
        const ran: { index: number; id: number; at: number }[] = [];
        let id = 0;
        for (const op of ops) {
          if ('wait' in op) {
            const me = { index: op.wait, id: id++ };
            w.wait(op.wait, () => ran.push({ ...me, at: w.applied }));
          } else w.advance(op.advance);
        }
        w.advance(50);
        assert.equal(ran.length, id);
        assert.equal(new Set(ran.map((r) => r.id)).size, id);
        for (const r of ran) assert.ok(r.at >= r.index);
      },
    ),
  );
});

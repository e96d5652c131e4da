// Goal: BoundedQueue behaves exactly like an array-backed FIFO capped at its capacity (checked
// against that oracle under random operation sequences), never exceeds the cap, counts rejections,
// and keeps its depth gauge and rejection counter in step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Counter, Gauge } from '../env/types.ts';
import { BoundedQueue } from './bounded-queue.ts';

type Op = { op: 'offer'; value: number } | { op: 'poll' } | { op: 'peek' } | { op: 'clear' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.integer().map((value) => ({ op: 'offer' as const, value })) },
  { weight: 4, arbitrary: fc.constant({ op: 'poll' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'peek' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

class FakeGauge implements Gauge {
  value = Number.NaN;
  set(v: number): void {
    this.value = v;
  }
  add(by: number): void {
    this.value += by;
  }
}
class FakeCounter implements Counter {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

test('matches an array oracle under random offer/poll/peek/clear', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.array(opArb, { maxLength: 200 }), (capacity, ops) => {
      const depthGauge = new FakeGauge();
      const rejectedCounter = new FakeCounter();
      const q = new BoundedQueue<number>({ capacity, depthGauge, rejectedCounter });
      const oracle: number[] = [];
      let rejected = 0;
      for (const o of ops) {
        switch (o.op) {
          case 'offer': {
            const accepted = q.offer(o.value);
            assert.equal(accepted, oracle.length < capacity);
            if (accepted) oracle.push(o.value);
            else rejected++;
            break;
          }
          case 'poll':
            assert.equal(q.poll(), oracle.shift());
            break;
          case 'peek':
            assert.equal(q.peek(), oracle[0]);
            break;
          case 'clear':
            q.clear();
            oracle.length = 0;
            break;
        }
        assert.equal(q.size, oracle.length);
        assert.ok(q.size <= q.capacity);
        assert.equal(q.isEmpty(), oracle.length === 0);
        assert.equal(q.isFull(), oracle.length === capacity);
        assert.deepEqual([...q], oracle);
        assert.equal(depthGauge.value, oracle.length);
        assert.equal(q.rejectedCount, rejected);
        assert.equal(rejectedCounter.value, rejected);
      }
    }),
    { numRuns: 300 },
  );
});

test('a zero or fractional capacity is a programmer error', () => {
  assert.throws(() => new BoundedQueue({ capacity: 0 }));
  assert.throws(() => new BoundedQueue({ capacity: 1.5 }));
});

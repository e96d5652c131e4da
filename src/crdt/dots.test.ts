// Goal: CausalContext.countNotIn counts exactly the dots one context has seen and another has not,
// whatever mix of version vector and cloud each holds (brute force over random dot sets).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CausalContext, type Dot } from './dots.ts';

const dots = fc.array(
  fc.record({ replica: fc.constantFrom('a', 'b', 'c'), counter: fc.integer({ min: 1, max: 12 }) }),
  { maxLength: 30 },
);

test('countNotIn equals the size of the set difference of the seen dots', () => {
  fc.assert(
    fc.property(dots, dots, (xs: Dot[], ys: Dot[]) => {
      const x = CausalContext.fromDots(xs);
      const y = CausalContext.fromDots(ys);
      const key = (d: Dot) => `${d.replica}:${d.counter}`;
      const inY = new Set(ys.map(key));
      const expected = new Set(xs.map(key).filter((k) => !inY.has(k))).size;
      assert.equal(x.countNotIn(y), expected);
      assert.equal(x.countNotIn(x.merge(y)), 0);
    }),
    { numRuns: 500 },
  );
});

// Goal: CausalContext.countNotIn counts exactly the dots one context has seen and another has not,
// whatever mix of version vector and cloud each holds (brute force over random dot sets); equals
// says whether two contexts have seen the same dots.
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

test('equals holds exactly when both contexts have seen the same dots, built in any order', () => {
  fc.assert(
    fc.property(dots, dots, (xs: Dot[], ys: Dot[]) => {
      const x = CausalContext.fromDots(xs);
      const key = (d: Dot) => `${d.replica}:${d.counter}`;
      const same = (a: Dot[], b: Dot[]) =>
        new Set(a.map(key)).size === new Set(b.map(key)).size && a.every((d) => new Set(b.map(key)).has(key(d)));
      assert.equal(x.equals(CausalContext.fromDots(ys)), same(xs, ys));
      // The same dots in another order, merged from two halves.
      const shuffled = [...xs].reverse();
      const half = shuffled.length >> 1;
      const rebuilt = CausalContext.fromDots(shuffled.slice(0, half)).merge(
        CausalContext.fromDots(shuffled.slice(half)),
      );
      assert.ok(x.equals(rebuilt) && rebuilt.equals(x));
    }),
    { numRuns: 500 },
  );
});

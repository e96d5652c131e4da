// Goal: the seeded Rng is deterministic per seed, forks are independent of draw order, and
// int() stays in range.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SeededRng } from './rng.ts';

test('same seed, same stream; different seed, different stream', () => {
  const a = new SeededRng(42);
  const b = new SeededRng(42);
  const c = new SeededRng(43);
  const sa = Array.from({ length: 20 }, () => a.next32());
  const sb = Array.from({ length: 20 }, () => b.next32());
  const sc = Array.from({ length: 20 }, () => c.next32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('fork depends on seed and label only, not on draws made before', () => {
  const a = new SeededRng('s');
  const b = new SeededRng('s');
  b.next32();
  b.next32();
  assert.equal(a.fork('net').next32(), b.fork('net').next32());
  assert.notEqual(a.fork('net').next32(), a.fork('disk').next32());
});

test('int(n) is in [0, n) and float() in [0, 1)', () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 1, max: 2 ** 40 }), (seed, n) => {
      const r = new SeededRng(seed);
      for (let i = 0; i < 20; i++) {
        const v = r.int(n);
        assert.ok(Number.isInteger(v) && v >= 0 && v < n);
        const f = r.float();
        assert.ok(f >= 0 && f < 1);
      }
    }),
  );
});

test('int is roughly uniform', () => {
  const r = new SeededRng(7);
  const counts = new Array(10).fill(0) as number[];
  for (let i = 0; i < 100_000; i++) counts[r.int(10)]!++;
  for (const c of counts) assert.ok(c > 9_000 && c < 11_000, `bucket count ${c}`);
});

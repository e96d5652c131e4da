// Goal: UuidV7Generator follows the RFC 9562 §5.7 layout (48-bit ms, version 7, variant 0b10),
// stays strictly increasing when the clock stalls or steps backwards (§6.2), and the string
// form round-trips: parse(format(id)) = id.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from './errors.ts';
import { compareUuid, formatUuid, parseUuid, UuidV7Generator, uuidTimestampMs, uuidVersion } from './ids.ts';
import { SeededRng } from './rng.ts';

test('layout: timestamp, version 7, variant 0b10', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer(), (ms, seed) => {
      const id = new UuidV7Generator(new SeededRng(seed)).next(ms);
      assert.equal(id.length, 16);
      assert.equal(uuidTimestampMs(id), ms);
      assert.equal(uuidVersion(id), 7);
      assert.equal(id[8]! >>> 6, 0b10);
      const s = formatUuid(id);
      assert.match(s, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(uuidTimestampMs(s), ms);
    }),
  );
});

test('a known timestamp lands in the first 48 bits (RFC 9562 appendix A.6 time)', () => {
  // 2022-02-22T19:22:22Z = 0x017F22E279B0 ms, the RFC's UUIDv7 example.
  const s = new UuidV7Generator(new SeededRng(1)).nextString(0x017f22e279b0);
  assert.ok(s.startsWith('017f22e2-79b0-7'), s);
});

test('strictly increasing under a clock that stalls, jumps, or steps backwards', () => {
  fc.assert(
    fc.property(
      fc.integer(),
      fc.integer({ min: 1_000_000, max: 2 ** 47 }),
      fc.array(fc.integer({ min: -5_000, max: 3 }), { minLength: 1, maxLength: 300 }),
      (seed, startMs, steps) => {
        const gen = new UuidV7Generator(new SeededRng(seed));
        let ms = startMs;
        let prev = gen.next(ms);
        let prevString = formatUuid(prev);
        for (const step of steps) {
          ms = Math.max(0, ms + step);
          const id = gen.next(ms);
          const s = formatUuid(id);
          assert.equal(compareUuid(prev, id), -1);
          assert.ok(prevString < s, `${prevString} !< ${s}`);
          // The embedded time never runs behind the previous id's time, nor ahead of the max clock seen.
          assert.ok(uuidTimestampMs(id) >= uuidTimestampMs(prev));
          prev = id;
          prevString = s;
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('counter overflow within one ms borrows the next millisecond', () => {
  // An Rng that seeds the counter at its maximum value (all ones).
  const rng = new SeededRng(1);
  rng.bytes = (n: number) => new Uint8Array(n).fill(0xff);
  const gen = new UuidV7Generator(rng);
  const a = gen.next(1000);
  assert.equal(formatUuid(a), '00000000-03e8-7fff-bfff-ffffffffffff');
  const b = gen.next(1000);
  assert.equal(formatUuid(b), '00000000-03e9-7000-8000-000000000000');
  assert.equal(compareUuid(a, b), -1);
});

test('parse ∘ format = id, and format ∘ parse normalizes case', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      assert.deepEqual(parseUuid(formatUuid(bytes)), bytes);
      assert.equal(formatUuid(parseUuid(formatUuid(bytes).toUpperCase())), formatUuid(bytes));
    }),
  );
});

test('malformed UUID text is a ProtocolError', () => {
  for (const bad of [
    '',
    'not-a-uuid',
    '017f22e2-79b0-7cc3-98c4-dc0c0c07398',
    '017f22e279b07cc398c4dc0c0c07398f',
    'g17f22e2-79b0-7cc3-98c4-dc0c0c07398f',
  ]) {
    assert.throws(
      () => parseUuid(bad),
      (e: unknown) => e instanceof ProtocolError && e.code === 'invalid_uuid',
    );
  }
});

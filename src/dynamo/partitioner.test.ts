// Goal: murmur3X64_128 is the published MurmurHash3_x64_128 (smhasher), and tokenOf is Cassandra's
// Murmur3Partitioner token, byte for byte.
// Reference vectors: digests computed with Guava 31.1's Hashing.murmur3_128(seed) (an independent
// implementation of the reference; the digest's bytes are h1 then h2, little-endian). Cassandra
// tokens: int keys 1 and 2 (4-byte big-endian) are -4069959284402364209 and -3248873570005575792 in
// Cassandra's own cqlsh and dtest suites; the high-bit keys (which exercise Cassandra's
// sign-extended tail) come from a published port's test table checked against Cassandra.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  murmur3X64_128,
  murmur3X64_128Into,
  TOKEN_MAX,
  TOKEN_MIN,
  tokenBytesInto,
  tokenOf,
  tokenOfString,
} from './partitioner.ts';
import { prefixedValuePosition, valuePosition } from './store.ts';

const utf8 = new TextEncoder();

/** The digest as Guava prints it: h1 then h2, each little-endian. */
function digestHex(h: { h1: bigint; h2: bigint }): string {
  let s = '';
  for (const half of [h.h1, h.h2]) {
    for (let i = 0n; i < 8n; i++) s += ((half >> (8n * i)) & 0xffn).toString(16).padStart(2, '0');
  }
  return s;
}

const referenceVectors: Array<[string | number[], number, string]> = [
  ['', 0, '00000000000000000000000000000000'],
  ['a', 0, '897859f6655555855a890e51483ab5e6'],
  ['ab', 0, '2e1bed16ea118b93add4529b01a75ee6'],
  ['abc', 0, '6778ad3f3f3f96b4522dca264174a23b'],
  ['hello', 0, '029bbd41b3a7d8cb191dae486a901e5b'],
  ['foo', 0, '6145f501578671e2877dba2be487af7e'],
  ['0123456789abcde', 0, '5123bfc0f6d52da6f04c547c0cf5cc4f'], // every tail position
  ['0123456789abcdef', 0, 'a7d14acf946de04bda08a7635c5bc387'], // one block, no tail
  ['this is a longer test key for murmur3 hashing', 0, 'd9a04fd573728292c765cb8677c2fcef'],
  ['The quick brown fox jumps over the lazy dog', 0, '6c1b07bc7bbc4be347939ac4a93c437a'],
  [[0x80], 0, '8a019563679a61612108509cf29bd404'],
  [[0xff], 0, 'ec90e2a47837da472ece803814172ffa'],
  [[0xff, 0xff, 0xff, 0xff], 0, '41466634eb45da436c8f8745485715c7'],
  [[0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89], 0, '5e86a7cc36a41fe81f7605bfbdeb26cf'],
  ['foo', 42, 'f2537063519d56f4a99ab0eed8b579a2'],
];

const bytesOf = (k: string | number[]): Uint8Array => (typeof k === 'string' ? utf8.encode(k) : Uint8Array.from(k));

test('murmur3X64_128 matches the reference MurmurHash3_x64_128 vectors', () => {
  for (const [key, seed, hex] of referenceVectors) {
    assert.equal(digestHex(murmur3X64_128(bytesOf(key), seed)), hex, `key ${JSON.stringify(key)} seed ${seed}`);
  }
});

const cassandraTokens: Array<[string | number[], bigint]> = [
  [[0, 0, 0, 1], -4069959284402364209n], // int 1
  [[0, 0, 0, 2], -3248873570005575792n], // int 2
  [[0, 0, 0, 3], 9010454139840013625n],
  ['a', -8839064797231613815n],
  ['hello', -3758069500696749310n],
  ['cassandra', 356242581507269238n],
  ['0123456789abcdef', 5467490433528156583n],
  // High bytes in the tail: Cassandra sign-extends them, the reference does not.
  [[0x80], -5284281814142962636n],
  [[0xff], -4442228696663692417n],
  [[0xff, 0xff, 0xff, 0xff], 7297452126230313552n], // int -1
  [[0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89], -7623170703309721106n],
];

test("tokenOf is Cassandra's Murmur3Partitioner token (its sign-extended tail included)", () => {
  for (const [key, token] of cassandraTokens) assert.equal(tokenOf(bytesOf(key)), token, JSON.stringify(key));
  assert.equal(tokenOfString('hello'), -3758069500696749310n);
  // The variant differs from the reference exactly when a tail byte has its high bit set.
  assert.notEqual(BigInt.asIntN(64, murmur3X64_128(Uint8Array.from([0xff])).h1), tokenOf(Uint8Array.from([0xff])));
});

test('the empty key has the minimum token; no other key does', () => {
  assert.equal(tokenOf(new Uint8Array(0)), TOKEN_MIN);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (key) => {
      const t = tokenOf(key);
      return t > TOKEN_MIN && t <= TOKEN_MAX;
    }),
  );
});

test('the Cassandra variant equals the reference when no tail byte has its high bit set', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 0x7f }), (body, fill) => {
      // Clear the high bit of every tail byte.
      const key = Uint8Array.from(body);
      for (let i = key.length - (key.length % 16); i < key.length; i++) key[i] = key[i]! & fill & 0x7f;
      const ref = murmur3X64_128(key);
      const cas = murmur3X64_128(key, 0, { cassandraTail: true });
      return ref.h1 === cas.h1 && ref.h2 === cas.h2;
    }),
  );
});

test('tokens spread evenly: 16 equal slices of the ring each get 1/16 of 64k keys within 5%', () => {
  const slices = new Array<number>(16).fill(0);
  const keys = 65536;
  for (let i = 0; i < keys; i++) {
    const t = tokenOfString(`key:${i}`);
    slices[Number((t - TOKEN_MIN) >> 60n)]!++;
  }
  for (const count of slices) assert.ok(Math.abs(count - keys / 16) < (keys / 16) * 0.05, `slice has ${count}`);
});

test('murmur3X64_128Into writes the same digest as murmur3X64_128, h1 then h2 big-endian', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 8 }), (data, at) => {
      const out = new Uint8Array(at + 16);
      murmur3X64_128Into(data, out, at);
      const { h1, h2 } = murmur3X64_128(data);
      const view = new DataView(out.buffer, at);
      assert.deepEqual([view.getBigUint64(0), view.getBigUint64(8)], [h1, h2]);
    }),
  );
});

test('tokenBytesInto writes tokenOf as 8 big-endian bytes of its two’s complement, the empty key included', () => {
  const check = (key: Uint8Array) => {
    const out = new Uint8Array(8).fill(0xaa);
    tokenBytesInto(key, out);
    assert.equal(new DataView(out.buffer).getBigUint64(0), BigInt.asUintN(64, tokenOf(key)));
  };
  check(new Uint8Array(0));
  for (const [key] of referenceVectors) check(typeof key === 'string' ? utf8.encode(key) : Uint8Array.from(key));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), check), { numRuns: 2000 });
});

test('the one-entry memo of the last hash never answers for other bytes: a buffer changed in place, other seeds and tails', () => {
  // The digest with the memo certainly holding another key (a different length clears it for `x`).
  const fresh = (x: Uint8Array, seed: number, cassandraTail: boolean) => {
    murmur3X64_128(new Uint8Array(x.length === 0 ? 1 : x.length - 1), 7);
    return murmur3X64_128(x.slice(), seed, { cassandraTail });
  };
  const step = fc.record({
    at: fc.nat({ max: 79 }),
    byte: fc.integer({ min: 0, max: 255 }),
    mutate: fc.boolean(),
    seed: fc.constantFrom(0, 1),
    tail: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.array(step, { maxLength: 30 }), (start, steps) => {
      const buffer = start.slice(); // one object throughout, as a caller reusing its bytes would
      for (const s of steps) {
        if (s.mutate) buffer[s.at % buffer.length] = s.byte;
        const got = murmur3X64_128(buffer, s.seed, { cassandraTail: s.tail });
        assert.deepEqual(got, fresh(buffer, s.seed, s.tail));
        assert.equal(tokenOf(buffer), tokenOf(buffer.slice()));
      }
    }),
    { numRuns: 500 },
  );
});

/** MurmurHash3_x64_128 written plainly in 64-bit BigInt arithmetic: the oracle for the 32-bit lanes. */
function murmurByBigint(data: Uint8Array, seed: number, cassandraTail: boolean): { h1: bigint; h2: bigint } {
  const M = (1n << 64n) - 1n;
  const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M;
  const fmix = (k: bigint) => {
    k ^= k >> 33n;
    k = (k * 0xff51afd7ed558ccdn) & M;
    k ^= k >> 33n;
    k = (k * 0xc4ceb9fe1a85ec53n) & M;
    return k ^ (k >> 33n);
  };
  const c1 = 0x87c37b91114253d5n;
  const c2 = 0x4cf5ad432745937fn;
  const lane = (from: number, count: number): bigint => {
    let k = 0n;
    for (let j = 0; j < count; j++) {
      const b = data[from + j]!;
      // Cassandra reads a tail byte as a signed Java byte, sign-extended to 64 bits.
      const v = cassandraTail && b >= 0x80 ? (BigInt(b) - 256n) & M : BigInt(b);
      k ^= (v << BigInt(8 * j)) & M;
    }
    return k;
  };
  let h1 = BigInt(seed >>> 0);
  let h2 = h1;
  const blocks = Math.floor(data.length / 16);
  for (let i = 0; i < blocks; i++) {
    const k1 = new DataView(data.buffer, data.byteOffset + i * 16, 16).getBigUint64(0, true);
    const k2 = new DataView(data.buffer, data.byteOffset + i * 16, 16).getBigUint64(8, true);
    h1 ^= (rotl((k1 * c1) & M, 31n) * c2) & M;
    h1 = (((rotl(h1, 27n) + h2) & M) * 5n + 0x52dce729n) & M;
    h2 ^= (rotl((k2 * c2) & M, 33n) * c1) & M;
    h2 = (((rotl(h2, 31n) + h1) & M) * 5n + 0x38495ab5n) & M;
  }
  const tail = blocks * 16;
  const rest = data.length & 15;
  if (rest > 8) h2 ^= (rotl((lane(tail + 8, rest - 8) * c2) & M, 33n) * c1) & M;
  if (rest > 0) h1 ^= (rotl((lane(tail, Math.min(rest, 8)) * c1) & M, 31n) * c2) & M;
  h1 ^= BigInt(data.length);
  h2 ^= BigInt(data.length);
  h1 = (h1 + h2) & M;
  h2 = (h2 + h1) & M;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = (h1 + h2) & M;
  h2 = (h2 + h1) & M;
  return { h1, h2 };
}

test('the 32-bit-lane hash equals a plain 64-bit BigInt MurmurHash3 on random keys, seeds and tails', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 100 }),
      fc.constantFrom(0, 1, 42, 0x7fffffff, 0x80000000, 0xffffffff),
      fc.boolean(),
      (key, seed, cassandraTail) => {
        assert.deepEqual(murmur3X64_128(key, seed, { cassandraTail }), murmurByBigint(key, seed, cassandraTail));
      },
    ),
    { numRuns: 3000 },
  );
  // The oracle itself agrees with the published vectors (so the property checks against the reference).
  for (const [key, seed, hex] of referenceVectors)
    assert.equal(digestHex(murmurByBigint(bytesOf(key), seed, false)), hex);
});

test('tokenBytesInto at an offset, and prefixedValuePosition, write the bytes of their one-array forms', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat({ max: 16 }), fc.nat({ max: 255 }), (key, at, prefix) => {
      const alone = new Uint8Array(8);
      tokenBytesInto(key, alone);
      const out = new Uint8Array(at + 8 + 3).fill(0xa5);
      tokenBytesInto(key, out, at);
      assert.deepEqual(out.subarray(at, at + 8), alone);
      assert.ok(
        out.subarray(0, at).every((b) => b === 0xa5) && out.subarray(at + 8).every((b) => b === 0xa5),
        'nothing outside the 8 bytes is written',
      );
      // The replica store's engine keys (existing data is keyed by these bytes): prefix, then valuePosition.
      assert.deepEqual(prefixedValuePosition(prefix, key), Uint8Array.of(prefix, ...valuePosition(key)));
    }),
    { numRuns: 1000 },
  );
});

// Goal: anti-entropy Merkle trees (merkle.ts) find exactly the leaf ranges where two replicas'
// key sets differ and nothing when they are equal (a naive oracle over the raw entries decides),
// one differing key costs one leaf range, leaves partition the token range (wrapping ranges and
// the whole ring included), and the exchange codec round-trips and never throws anything but a
// ProtocolError on truncated, corrupted or random bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import {
  decodeMerkleMessage,
  diffTrees,
  encodeMerkleMessage,
  leafOf,
  leafRange,
  MERKLE_MESSAGE_VERSION,
  type MerkleMessage,
  type MerkleTree,
  MerkleTreeBuilder,
  rangeContains,
  TokenRangeSet,
} from './merkle.ts';
import { TOKEN_MAX, TOKEN_MIN, type Token, tokenOfString } from './partitioner.ts';
import type { TokenRange } from './ring.ts';

interface Entry {
  readonly token: Token;
  readonly key: Uint8Array;
  readonly state: Uint8Array;
}

const utf8 = new TextEncoder();
const tokenArb = fc.bigInt({ min: TOKEN_MIN, max: TOKEN_MAX });
const rangeArb: fc.Arbitrary<TokenRange> = fc.oneof(
  fc.record({ start: tokenArb, end: tokenArb }),
  tokenArb.map((t) => ({ start: t, end: t })), // the whole ring
  fc.record({ start: tokenArb, width: fc.bigInt({ min: 1n, max: 1000n }) }).map(({ start, width }) => ({
    start,
    end: BigInt.asIntN(64, start + width),
  })), // narrower than its leaves
);

function offset(range: TokenRange, t: Token): bigint {
  return BigInt.asUintN(64, t - range.start - 1n);
}

/** Naive membership: (start, end], wrapping, start === end the whole ring. */
function naiveContains(range: TokenRange, t: Token): boolean {
  if (range.start === range.end) return true;
  if (range.start < range.end) return range.start < t && t <= range.end;
  return t > range.start || t <= range.end;
}

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Builds the tree from the entries in the order given. */
function build(range: TokenRange, depth: number, entries: readonly Entry[]): MerkleTree {
  const builder = new MerkleTreeBuilder(range, depth);
  for (const e of entries) builder.add(e.token, e.key, e.state);
  return builder.finish();
}

/** The same entries in scan order (by offset from the range start, then key). */
function scanOrder(range: TokenRange, entries: readonly Entry[]): Entry[] {
  return [...entries].sort((a, b) => {
    const oa = offset(range, a.token);
    const ob = offset(range, b.token);
    return oa < ob ? -1 : oa > ob ? 1 : compareKeys(a.key, b.key);
  });
}

const id = (e: Entry) => `${e.token}/${Buffer.from(e.key).toString('hex')}`;

/** Keys present on one side only or with different states. */
function differing(a: readonly Entry[], b: readonly Entry[]): Entry[] {
  const mb = new Map(b.map((e) => [id(e), e]));
  const ma = new Map(a.map((e) => [id(e), e]));
  const out = a.filter((e) => !Buffer.from(e.state).equals(Buffer.from(mb.get(id(e))?.state ?? [])) || !mb.has(id(e)));
  for (const e of b) if (!ma.has(id(e))) out.push(e);
  return out;
}

/** Two replicas: a shared key set, then each side's own changes. */
const replicasArb = fc
  .tuple(rangeArb, fc.integer({ min: 0, max: 8 }))
  .chain(([range, depth]) => {
    // Tokens drawn by offset into the range (a filter would starve on narrow ranges), half of
    // them near its start (leaf edges of narrow ranges).
    const width = range.start === range.end ? 1n << 64n : BigInt.asUintN(64, range.end - range.start);
    const at = (o: bigint) => BigInt.asIntN(64, range.start + 1n + (o % width));
    const entryArb = fc
      .record({
        o: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 2000n })),
        key: fc.uint8Array({ minLength: 1, maxLength: 3 }),
        state: fc.uint8Array({ maxLength: 4 }),
      })
      .map((e) => ({ token: at(e.o), key: e.key, state: e.state }));
    return fc.record({
      range: fc.constant(range),
      depth: fc.constant(depth),
      shared: fc.array(entryArb, { maxLength: 60 }),
      onlyA: fc.array(entryArb, { maxLength: 4 }),
      onlyB: fc.array(entryArb, { maxLength: 4 }),
      changed: fc.array(fc.nat(), { maxLength: 3 }),
    });
  })
  .map(({ range, depth, shared, onlyA, onlyB, changed }) => {
    const dedup = (es: Entry[]) => [...new Map(es.map((e) => [id(e), e])).values()];
    const base = dedup(shared);
    const a = dedup([...base, ...onlyA]);
    const changedIds = new Set(changed.filter(() => base.length > 0).map((n) => id(base[n % base.length]!)));
    const b = dedup([...base, ...onlyB]).map((e) =>
      changedIds.has(id(e)) ? { ...e, state: Uint8Array.from([...e.state, 0xee]) } : e,
    );
    return { range, depth, a, b };
  });

test('the diff names exactly the leaves where the key sets differ, and nothing when they are equal', () => {
  fc.assert(
    fc.property(replicasArb, ({ range, depth, a, b }) => {
      const diff = diffTrees(build(range, depth, a), build(range, depth, b));
      const diffs = differing(a, b);
      // Oracle: a leaf differs iff a naive filter of its tokens finds a differing key in it.
      const leaves = new Set<number>();
      for (let i = 0; i < 1 << depth; i++) {
        const r = leafRange(range, depth, i);
        if (r !== null && diffs.some((e) => naiveContains(r, e.token))) leaves.add(i);
      }
      assert.deepEqual(
        diff.leaves,
        [...leaves].sort((x, y) => x - y),
      );
      for (const e of diffs)
        assert.ok(
          diff.ranges.some((r) => naiveContains(r, e.token)),
          'a differing key is covered',
        );
      for (const e of [...a, ...b]) {
        const inDiff = diff.ranges.some((r) => naiveContains(r, e.token));
        assert.equal(inDiff, leaves.has(leafOf(range, depth, e.token)), 'ranges cover the differing leaves only');
      }
      const same = diffTrees(build(range, depth, a), build(range, depth, a));
      assert.deepEqual([same.leaves.length, same.ranges.length], [0, 0]);
    }),
    { numRuns: 300 },
  );
});

test('the tree does not depend on the order entries come in (a store laid out by key builds it in one pass)', () => {
  fc.assert(
    fc.property(replicasArb, fc.nat(), ({ range, depth, a }, seed) => {
      const shuffled = [...a];
      let x = seed;
      for (let i = shuffled.length - 1; i > 0; i--) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        const j = x % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const ordered = build(range, depth, scanOrder(range, a));
      const any = build(range, depth, shuffled);
      assert.deepEqual([...any.root()], [...ordered.root()]);
      assert.deepEqual([...any.counts], [...ordered.counts]);
    }),
    { numRuns: 200 },
  );
});

test('leaves partition the range: each token is in exactly the leaf leafOf names', () => {
  fc.assert(
    fc.property(rangeArb, fc.integer({ min: 0, max: limits.merkleTreeLevelsCountMax }), tokenArb, (range, depth, t) => {
      assert.equal(rangeContains(range, t), naiveContains(range, t));
      if (!naiveContains(range, t)) return;
      const i = leafOf(range, depth, t);
      assert.ok(i >= 0 && i < 1 << depth);
      const r = leafRange(range, depth, i);
      assert.ok(r !== null && naiveContains(r, t), `token ${t} in leaf ${i}`);
      for (const j of [i - 1, i + 1]) {
        const other = j >= 0 && j < 1 << depth ? leafRange(range, depth, j) : null;
        assert.ok(other === null || !naiveContains(other, t), `token ${t} also in leaf ${j}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('cost: one differing key among 20,000 is one leaf range, streaming about n / 2^depth entries', () => {
  const range: TokenRange = { start: TOKEN_MIN, end: TOKEN_MIN }; // the whole ring
  const depth = 10;
  const entries: Entry[] = [];
  for (let i = 0; i < 20_000; i++) {
    const key = utf8.encode(`key:${i}`);
    entries.push({ token: tokenOfString(`key:${i}`), key, state: utf8.encode(`v${i}`) });
  }
  const changed = entries.map((e, i) => (i === 777 ? { ...e, state: utf8.encode('changed') } : e));
  const started = performance.now();
  const local = build(range, depth, entries);
  const buildMs = performance.now() - started;
  const diff = diffTrees(local, build(range, depth, changed));
  assert.equal(diff.leaves.length, 1);
  assert.equal(diff.ranges.length, 1);
  assert.ok(naiveContains(diff.ranges[0]!, entries[777]!.token));
  assert.ok(diff.entriesLocal < 60, `streams ${diff.entriesLocal} entries, not 20,000`);
  const missing = diffTrees(local, build(range, depth, entries.slice(1)));
  assert.equal(missing.ranges.length, 1, 'a key missing on one side is one range too');
  // Two adjacent differing leaves coalesce into one range.
  const twoLeaves = entries.filter((e) => {
    const i = leafOf(range, depth, e.token);
    return i !== 5 && i !== 6;
  });
  const adjacent = diffTrees(local, build(range, depth, twoLeaves));
  assert.deepEqual([adjacent.leaves, adjacent.ranges.length], [[5, 6], 1]);
  console.log(`# merkle: 20,000 entries at depth ${depth} built in ${buildMs.toFixed(0)} ms`);
});

test('the builder refuses entries outside its range (a driver bug)', () => {
  const range: TokenRange = { start: 100n, end: -100n }; // wraps
  const b = new MerkleTreeBuilder(range, 3);
  b.add(101n, utf8.encode('a'), new Uint8Array());
  b.add(TOKEN_MAX, utf8.encode('a'), new Uint8Array());
  b.add(TOKEN_MIN, utf8.encode('a'), new Uint8Array());
  assert.throws(() => b.add(0n, utf8.encode('z'), new Uint8Array()), /outside/);
  assert.throws(() => new MerkleTreeBuilder(range, limits.merkleTreeLevelsCountMax + 1), /depth/);
});

// --- codec ------------------------------------------------------------------------------------

const treeArb = fc
  .tuple(rangeArb, fc.integer({ min: 0, max: 4 }), fc.array(fc.tuple(tokenArb, fc.uint8Array({ maxLength: 3 }))))
  .map(([range, depth, raw]) => {
    const entries = raw.filter(([t]) => naiveContains(range, t)).map(([token, key]) => ({ token, key, state: key }));
    return build(range, depth, [...new Map(entries.map((e) => [id(e), e])).values()]);
  });
const messageArb: fc.Arbitrary<MerkleMessage> = fc.oneof(
  treeArb.map((t) => ({ type: 'treeRequest' as const, op: 7, range: t.range, depth: t.depth, root: t.root() })),
  fc.tuple(treeArb, fc.nat()).map(([t, op]) => ({
    type: 'treeReply' as const,
    op,
    range: t.range,
    depth: t.depth,
    status: 'tree' as const,
    tree: t,
  })),
  fc
    .tuple(rangeArb, fc.constantFrom('same' as const, 'busy' as const))
    .map(([range, status]) => ({ type: 'treeReply' as const, op: 1, range, depth: 3, status })),
  fc
    .array(rangeArb, { minLength: 1, maxLength: 5 })
    .map((ranges) => ({ type: 'streamRequest' as const, op: 2, ranges })),
);

function decodeOrError(bytes: Uint8Array): MerkleMessage | ProtocolError {
  try {
    return decodeMerkleMessage(bytes);
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${String(e)}`);
    return e;
  }
}

test('exchange messages round-trip; every prefix, corruption and garbage is a ProtocolError or a message', () => {
  fc.assert(
    fc.property(messageArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, xor) => {
      const bytes = encodeMerkleMessage(m);
      const back = decodeMerkleMessage(bytes);
      assert.deepEqual(encodeMerkleMessage(back), bytes);
      if (m.type === 'treeReply' && m.tree !== undefined && back.type === 'treeReply') {
        assert.equal(diffTrees(m.tree, back.tree!).leaves.length, 0, 'the decoded tree equals the sent one');
      }
      for (let n = 0; n < bytes.length; n++) {
        assert.ok(decodeOrError(bytes.subarray(0, n)) instanceof ProtocolError, `a ${n}-byte prefix decoded`);
      }
      const bad = bytes.slice();
      bad[at % bad.length]! ^= xor;
      decodeOrError(bad);
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (garbage) => void decodeOrError(garbage)),
    { numRuns: 3000 },
  );
});

test('broken rules have stable codes, and a claimed tree larger than the payload is refused before allocating', () => {
  const code = (w: ByteWriter): string => {
    const r = decodeOrError(w.finish());
    assert.ok(r instanceof ProtocolError, 'expected an error');
    return r.code;
  };
  const v = () => new ByteWriter().u8(MERKLE_MESSAGE_VERSION);
  assert.equal(code(new ByteWriter().u8(9).u8(1)), 'dynamo_bad_version');
  assert.equal(code(v().u8(4)), 'dynamo_bad_type');
  assert.equal(
    code(
      v()
        .u8(1)
        .uvarint(1)
        .i64(0n)
        .i64(0n)
        .u8(limits.merkleTreeLevelsCountMax + 1),
    ),
    'dynamo_malformed',
  );
  assert.equal(code(v().u8(2).uvarint(1).i64(0n).i64(0n).u8(3).u8(3)), 'dynamo_malformed', 'status 3');
  assert.equal(code(v().u8(2).uvarint(1).i64(0n).i64(0n).u8(16).u8(0).raw(new Uint8Array(17))), 'dynamo_malformed');
  assert.equal(code(v().u8(3).uvarint(1).uvarint(0)), 'dynamo_malformed', 'no ranges');
  assert.equal(
    code(
      v()
        .u8(3)
        .uvarint(1)
        .uvarint(limits.merkleStreamRangesCountMax + 1),
    ),
    'dynamo_malformed',
  );
  assert.equal(code(v().u8(2).uvarint(1).i64(0n).i64(0n).u8(0).u8(1).u8(0)), 'trailing_bytes');
});

test('the root covers the counts: an entry added twice (its digests cancel in the XOR) still changes it', () => {
  const range: TokenRange = { start: TOKEN_MIN, end: TOKEN_MIN };
  const a = { token: 5n, key: utf8.encode('a'), state: utf8.encode('s') };
  const b = { token: 9n, key: utf8.encode('b'), state: utf8.encode('t') };
  const once = build(range, 3, [a]);
  const twice = build(range, 3, [a, b, b]);
  assert.deepEqual([...once.leafHashes], [...twice.leafHashes], 'the XORs are equal');
  assert.notDeepEqual([...once.root()], [...twice.root()], 'the roots are not');
  assert.equal(diffTrees(once, twice).leaves.length, 1);
});

test('TokenRangeSet answers exactly as the naive membership of its ranges (wrapping, whole ring, overlaps)', () => {
  fc.assert(
    fc.property(fc.array(rangeArb, { maxLength: 6 }), fc.array(tokenArb, { maxLength: 30 }), (ranges, tokens) => {
      const set = new TokenRangeSet(ranges);
      for (const t of [...tokens, TOKEN_MIN, TOKEN_MAX, ...ranges.flatMap((r) => [r.start, r.end])]) {
        assert.equal(
          set.has(t),
          ranges.some((r) => naiveContains(r, t)),
          `token ${t}`,
        );
      }
    }),
    { numRuns: 500 },
  );
});

// Goal: the ring's preference lists are Dynamo's (§4.2: the first N distinct physical nodes
// clockwise from the key's position, vnodes of one node counted once), pending replicas are
// Cassandra's (future replicas that are not current ones), and a move's plan keeps every range at
// min(N, nodes) replicas or more at every step (stream, then switch, then drop) and ends with the
// replicas a fresh ring computes. The oracle for preference lists is independent of the ring's
// table walk: each node's distance clockwise from the token to its nearest token, nearest first.
// The codec is fed every truncation and every single-byte corruption: it answers a Ring or a
// ProtocolError, never anything else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { NodeId } from '../env/types.ts';
import { ByteWriter } from '../lib/bytes.ts';
import { BaristaError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { SeededRng } from '../lib/rng.ts';
import { TOKEN_MAX, TOKEN_MIN, type Token, tokenOfString } from './partitioner.ts';
import {
  RING_FORMAT_SETTINGS,
  chooseTokens,
  planMove,
  RING_FORMAT_VERSION,
  Ring,
  RingChangeError,
  rangeContains,
  rangeWidth,
  type TokenRange,
} from './ring.ts';

const SPAN = 1n << 64n;

/** Oracle: nodes ordered by clockwise distance from `token` to their nearest token. */
function oracleReplicas(nodes: ReadonlyArray<{ id: NodeId; tokens: readonly Token[] }>, token: Token, n: number) {
  const dist = nodes.map((node) => {
    let best = SPAN;
    for (const t of node.tokens) {
      const d = (t - token + SPAN) % SPAN;
      if (d < best) best = d;
    }
    return { id: node.id, d: best };
  });
  dist.sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0));
  return dist.slice(0, Math.min(n, nodes.length)).map((x) => x.id);
}

function buildRing(seed: number, nodes: number, vnodes: number): Ring {
  const rng = new SeededRng(`ring-${seed}`);
  let ring = Ring.empty();
  for (let i = 0; i < nodes; i++) ring = ring.bootstrap(`n${i}`, chooseTokens(rng, vnodes, ring));
  return ring;
}

const t = (x: number): Token => BigInt(x);

test('preference lists walk clockwise, wrap past the top, and skip a node met twice', () => {
  let ring = Ring.empty();
  ring = ring.bootstrap('a', [t(100), t(400)]);
  ring = ring.bootstrap('b', [t(200)]);
  ring = ring.bootstrap('c', [t(300)]);
  assert.equal(ring.version, 3);
  assert.deepEqual(ring.replicas(t(150), 2), ['b', 'c']);
  assert.deepEqual(ring.replicas(t(200), 2), ['b', 'c']); // a range's end token belongs to it
  assert.deepEqual(ring.replicas(t(350), 3), ['a', 'b', 'c']); // a@400, then a@100 skipped
  assert.deepEqual(ring.replicas(t(401), 2), ['a', 'b']); // wraps to a@100
  assert.deepEqual(ring.replicas(TOKEN_MIN, 2), ['a', 'b']);
  assert.deepEqual(ring.replicas(TOKEN_MAX, 5), ['a', 'b', 'c']); // fewer nodes than N
  assert.deepEqual(ring.rangesOf('b', 1), [{ start: t(100), end: t(200) }]);
  assert.deepEqual(
    ring.rangesOf('a', 1).map((r) => [r.start, r.end]),
    [
      [t(400), t(100)],
      [t(300), t(400)],
    ],
  );
  const own = ring.ownership(2);
  const sum = [...own.values()].reduce((x, y) => x + y, 0);
  assert.ok(Math.abs(sum - 2) < 1e-9);
});

test('preference lists equal the nearest-token oracle on random rings', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer(),
      fc.array(fc.bigInt({ min: TOKEN_MIN, max: TOKEN_MAX }), { minLength: 1, maxLength: 20 }),
      (nodes, vnodes, n, seed, probes) => {
        const ring = buildRing(seed, nodes, vnodes);
        for (const token of probes) {
          assert.deepEqual(ring.replicas(token, n), oracleReplicas(ring.nodes, token, n));
          assert.deepEqual(ring.successors(token), oracleReplicas(ring.nodes, token, nodes));
        }
        const ranges = ring.rangeReplicas(n);
        for (let i = 0; i < ranges.length; i += Math.ceil(ranges.length / 40)) {
          assert.deepEqual(ranges[i]!.replicas, oracleReplicas(ring.nodes, ranges[i]!.range.end, n));
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('ring changes bump the version; refused ones throw RingChangeError and change nothing', () => {
  const ring = Ring.empty()
    .bootstrap('a', [t(1)])
    .bootstrap('b', [t(2)]);
  const reason = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      assert.ok(err instanceof RingChangeError);
      assert.equal(err.code, 'ring_change_rejected');
      return `${err.reason}/${err.retriable}`;
    }
    return 'accepted';
  };
  assert.equal(
    reason(() => ring.bootstrap('a', [t(5)])),
    'node_exists/false',
  );
  assert.equal(
    reason(() => ring.bootstrap('c', [t(2)])),
    'token_taken/false',
  );
  assert.equal(
    reason(() => ring.bootstrap('c', [t(3), t(3)])),
    'bad_tokens/false',
  );
  assert.equal(
    reason(() => ring.bootstrap('c', [TOKEN_MIN])),
    'bad_tokens/false',
  );
  assert.equal(
    reason(() => ring.bootstrap('c', [])),
    'bad_tokens/false',
  );
  assert.equal(
    reason(() => ring.bootstrap('', [t(9)])),
    'bad_node_id/false',
  );
  assert.equal(
    reason(() => ring.beginLeave('zz')),
    'node_unknown/false',
  );
  assert.equal(
    reason(() => ring.completeMove()),
    'no_move/false',
  );
  assert.equal(
    reason(() => Ring.empty().beginJoin('a', [t(1)])),
    'empty_ring/false',
  );
  assert.equal(
    reason(() =>
      Ring.empty()
        .bootstrap('a', [t(1)])
        .beginLeave('a'),
    ),
    'last_node/false',
  );
  const joining = ring.beginJoin('c', [t(3)]);
  assert.equal(joining.version, ring.version + 1);
  assert.equal(
    reason(() => joining.beginLeave('a')),
    'move_in_progress/true',
  );
  assert.equal(
    reason(() => joining.bootstrap('d', [t(4)])),
    'move_in_progress/true',
  );
  assert.equal(joining.abortMove().nodes.length, 2);
  assert.equal(joining.abortMove().version, ring.version + 2);
  assert.equal(ring.beginLeave('a').abortMove().node('a')?.state, 'normal');
  assert.equal(ring.version, 2);
});

test('during a join the joining node is a pending replica of exactly the keys it will own', () => {
  const ring = buildRing(7, 4, 8);
  const joining = ring.beginJoin('new', chooseTokens(new SeededRng('j'), 8, ring));
  const done = joining.completeMove();
  for (let i = 0; i < 2000; i++) {
    const token = tokenOfString(`k${i}`);
    assert.deepEqual(joining.replicas(token, 3), ring.replicas(token, 3)); // reads unchanged
    const writes = [...joining.replicas(token, 3), ...joining.pendingReplicas(token, 3)];
    for (const id of done.replicas(token, 3)) assert.ok(writes.includes(id), `future replica ${id} gets the write`);
    assert.equal(joining.pendingReplicas(token, 3).includes('new'), done.replicas(token, 3).includes('new'));
  }
  assert.deepEqual(ring.pendingReplicas(t(0), 3), []);
});

/** One range's holders while a plan runs: every replica that has the range's complete data. */
function runPlan(ring: Ring, n: number): void {
  const plan = planMove(ring, n);
  const after = ring.completeMove();
  const key = (r: TokenRange) => `${r.start}:${r.end}`;
  const transitions = ring.transitions(n);
  const holders = new Map(transitions.map((tr) => [key(tr.range), new Set(tr.from)]));
  // Never fewer replicas than the smaller of the two rings can hold.
  const floor = Math.min(n, ring.naturalNodes.length, after.naturalNodes.length);
  const checkRange = (owners: Ring, range: TokenRange, step: string) => {
    const held = holders.get(key(range))!;
    assert.ok(held.size >= floor, `${step}: range ${key(range)} held by ${held.size} < ${floor}`);
    for (const id of owners.replicas(range.end, n)) {
      assert.ok(held.has(id), `${step}: owner ${id} of ${key(range)} lacks its data`);
    }
  };
  const check = (owners: Ring, step: string) => {
    for (const tr of transitions) checkRange(owners, tr.range, step);
  };
  check(ring, 'before streams');
  // Writes during the move reach every future owner (pending replicas).
  for (const tr of transitions) {
    const writes = [...ring.replicas(tr.range.end, n), ...ring.pendingReplicas(tr.range.end, n)];
    for (const id of tr.to) assert.ok(writes.includes(id), `a write to ${key(tr.range)} misses ${id}`);
  }
  for (const s of plan.streams) {
    const held = holders.get(key(s.range));
    assert.ok(held !== undefined, 'a stream names a range of the move');
    assert.ok(held.has(s.from), `stream source ${s.from} holds ${key(s.range)}`);
    held.add(s.to); // streams only add holders: the floor cannot break while they run
  }
  check(ring, 'streams done');
  check(after, 'after the switch'); // completeMove: the new owners all hold their ranges
  for (const d of plan.drops) {
    holders.get(key(d.range))!.delete(d.node);
    checkRange(after, d.range, 'dropping');
  }
  // Final: each range held by exactly the preference list a fresh ring computes.
  // (The fresh ring's lists are checked against the oracle by the test above.)
  let fresh = Ring.empty();
  for (const node of after.nodes) fresh = fresh.bootstrap(node.id, node.tokens);
  for (const tr of transitions) {
    const expected = fresh.replicas(tr.range.end, n);
    assert.deepEqual([...holders.get(key(tr.range))!].sort(), [...expected].sort());
    assert.equal(expected.length, Math.min(n, after.naturalNodes.length));
  }
}

test('join and decommission plans keep every range at min(N, nodes) replicas and end at the fresh ring', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 3, max: 12 }),
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer(),
      fc.boolean(),
      fc.nat(),
      (nodes, vnodes, n, seed, join, victim) => {
        const ring = buildRing(seed, nodes, vnodes);
        const moving = join
          ? ring.beginJoin('joiner', chooseTokens(new SeededRng(`join-${seed}`), vnodes, ring))
          : ring.beginLeave(`n${victim % nodes}`);
        runPlan(moving, n);
      },
    ),
    { numRuns: 80 },
  );
});

test('a sequence of joins and decommissions keeps the guarantees at every move', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 3, max: 8 }),
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer(),
      fc.array(fc.oneof(fc.constant(-1), fc.nat()), { minLength: 1, maxLength: 5 }),
      (nodes, vnodes, n, seed, moves) => {
        let ring = buildRing(seed, nodes, vnodes);
        moves.forEach((m, i) => {
          const ids = ring.nodes.map((x) => x.id);
          const moving =
            m < 0 || ids.length === 1
              ? ring.beginJoin(`j${i}`, chooseTokens(new SeededRng(`${seed}/${i}`), vnodes, ring))
              : ring.beginLeave(ids[m % ids.length]!);
          runPlan(moving, n);
          ring = moving.completeMove();
        });
        assert.equal(ring.version, nodes + 2 * moves.length);
      },
    ),
    { numRuns: 40 },
  );
});

test('a plan moves only what changes hands: a join streams at most the ranges the new node takes', () => {
  const ring = buildRing(3, 6, 16);
  const joining = ring.beginJoin('x', chooseTokens(new SeededRng('x'), 16, ring));
  const plan = planMove(joining, 3);
  assert.equal(plan.kind, 'join');
  assert.equal(plan.ringVersion, joining.version);
  assert.ok(plan.streams.length > 0);
  for (const s of plan.streams) assert.equal(s.to, 'x');
  assert.equal(plan.drops.length, plan.streams.length); // each range x gains, someone loses
  const leaving = ring.beginLeave('n2');
  const out = planMove(leaving, 3);
  for (const s of out.streams) assert.equal(s.from, 'n2'); // the leaving node is the source
  for (const d of out.drops) assert.equal(d.node, 'n2');
});

test('with 64 vnodes per node, no node owns more than 1.5x (N=1) or 1.3x (N=3) its fair share', () => {
  let worst1 = 0;
  let worst3 = 0;
  for (let seed = 0; seed < 40; seed++) {
    const nodes = 3 + (seed % 10);
    const ring = buildRing(seed, nodes, 64);
    for (const share of ring.ownership(1).values()) worst1 = Math.max(worst1, share * nodes);
    for (const share of ring.ownership(3).values()) worst3 = Math.max(worst3, (share * nodes) / 3);
  }
  assert.ok(worst1 <= 1.5, `N=1: ${worst1}`);
  assert.ok(worst3 <= 1.3, `N=3: ${worst3}`);
});

test('chooseTokens is deterministic per seed and avoids taken tokens', () => {
  const ring = buildRing(1, 3, 4);
  const a = chooseTokens(new SeededRng('s'), 32, ring);
  assert.deepEqual(a, chooseTokens(new SeededRng('s'), 32, ring));
  const taken = new Set(ring.nodes.flatMap((n) => n.tokens));
  for (const x of a) assert.ok(!taken.has(x));
  assert.equal(new Set(a).size, 32);
});

test('ranges: width and membership, wrapping included', () => {
  assert.equal(rangeWidth({ start: t(5), end: t(5) }), SPAN);
  assert.equal(rangeWidth({ start: TOKEN_MAX, end: TOKEN_MIN }), 1n);
  assert.ok(rangeContains({ start: t(10), end: t(-10) }, TOKEN_MAX));
  assert.ok(!rangeContains({ start: t(10), end: t(-10) }, t(0)));
  assert.ok(rangeContains({ start: t(3), end: t(3) }, t(99)));
});

// --- codec -----------------------------------------------------------------------------------

const ringArb = fc
  .record({
    nodes: fc.integer({ min: 1, max: 8 }),
    vnodes: fc.integer({ min: 1, max: 8 }),
    seed: fc.integer(),
    move: fc.constantFrom('none', 'join', 'leave'),
    settings: fc.option(
      fc.record({
        replicas: fc.integer({ min: 1, max: limits.ringReplicasCountMax }),
        collections: fc.constantFrom('whole' as const, 'rows' as const),
      }),
      { nil: undefined },
    ),
  })
  .map(({ nodes, vnodes, seed, move, settings }) => {
    const built = buildRing(seed, nodes, vnodes);
    const ring = settings === undefined ? built : built.withSettings(settings);
    if (move === 'join') return ring.beginJoin('zz', chooseTokens(new SeededRng(seed), vnodes, ring));
    if (move === 'leave' && nodes > 1) return ring.beginLeave('n0');
    return ring;
  });

test('encode/decode round-trips every ring', () => {
  fc.assert(
    fc.property(ringArb, (ring) => {
      const back = Ring.decode(ring.encode());
      assert.ok(back.equals(ring));
      assert.equal(back.version, ring.version);
      assert.deepEqual(back.nodes, ring.nodes);
      assert.deepEqual(back.settings, ring.settings);
    }),
    { numRuns: 50 },
  );
});

test('decode answers every truncation and corruption with a Ring or a ProtocolError', () => {
  fc.assert(
    fc.property(ringArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (ring, at, xor) => {
      const bytes = ring.encode();
      for (let cut = 0; cut < bytes.length; cut++) {
        assert.throws(() => Ring.decode(bytes.subarray(0, cut)), ProtocolError);
      }
      const bad = Uint8Array.from(bytes);
      bad[at % bad.length]! ^= xor;
      try {
        Ring.decode(bad);
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `unexpected ${String(err)}`);
      }
    }),
    { numRuns: 100 },
  );
});

/** Hand-built encodings, each breaking one rule of the grammar. */
function encodeRaw(nodes: Array<{ id: string; state: number; tokens: bigint[] }>, format = RING_FORMAT_VERSION) {
  const w = new ByteWriter().u8(format).uvarint(1).uvarint(nodes.length);
  for (const node of nodes) {
    w.stringUvarint(node.id).u8(node.state).uvarint(node.tokens.length);
    for (const tok of node.tokens) w.i64(tok);
  }
  return w.finish();
}

test('decode names the broken rule with a stable code', () => {
  const code = (bytes: Uint8Array): string => {
    try {
      Ring.decode(bytes);
      return 'ok';
    } catch (err) {
      assert.ok(err instanceof BaristaError);
      return err.code;
    }
  };
  const a = { id: 'a', state: 0, tokens: [1n] };
  assert.equal(code(encodeRaw([a, { id: 'b', state: 0, tokens: [2n] }])), 'ok');
  assert.equal(code(encodeRaw([a], 3)), 'ring_bad_version');
  // Format 2: the keyspace settings follow the nodes.
  const withSettings = (replicas: number, layout: number) =>
    Uint8Array.from([
      ...encodeRaw([a], RING_FORMAT_SETTINGS),
      ...new ByteWriter().uvarint(replicas).u8(layout).finish(),
    ]);
  assert.equal(code(withSettings(3, 1)), 'ok');
  assert.deepEqual(Ring.decode(withSettings(3, 1)).settings, { replicas: 3, collections: 'rows' });
  assert.equal(Ring.decode(encodeRaw([a])).settings, undefined, 'format 1: no settings');
  assert.equal(code(encodeRaw([a], RING_FORMAT_SETTINGS)), 'truncated'); // settings missing
  assert.equal(code(withSettings(0, 0)), 'ring_malformed');
  assert.equal(code(withSettings(limits.ringReplicasCountMax + 1, 0)), 'ring_malformed');
  assert.equal(code(withSettings(3, 2)), 'ring_malformed');
  assert.equal(code(encodeRaw([{ id: 'b', state: 0, tokens: [2n] }, a])), 'ring_malformed'); // unsorted ids
  assert.equal(code(encodeRaw([a, { id: 'a', state: 0, tokens: [2n] }])), 'ring_malformed'); // duplicate id
  assert.equal(code(encodeRaw([a, { id: 'b', state: 0, tokens: [1n] }])), 'ring_malformed'); // token twice
  assert.equal(code(encodeRaw([{ id: 'a', state: 0, tokens: [3n, 2n] }])), 'ring_malformed'); // unsorted
  assert.equal(code(encodeRaw([{ id: 'a', state: 0, tokens: [TOKEN_MIN] }])), 'ring_malformed');
  assert.equal(code(encodeRaw([{ id: 'a', state: 0, tokens: [] }])), 'ring_malformed');
  assert.equal(code(encodeRaw([{ id: 'a', state: 3, tokens: [1n] }])), 'ring_malformed');
  assert.equal(code(encodeRaw([{ id: 'a', state: 1, tokens: [1n] }])), 'ring_malformed'); // joins nothing
  assert.equal(
    code(
      encodeRaw([
        { ...a, state: 1 },
        { id: 'b', state: 2, tokens: [2n] },
        { id: 'c', state: 0, tokens: [3n] },
      ]),
    ),
    'ring_malformed',
  ); // two moves
  assert.equal(
    code(encodeRaw([{ id: 'x'.repeat(limits.nodeIdBytesMax + 1), state: 0, tokens: [1n] }])),
    'ring_malformed',
  );
  const tooMany = new ByteWriter()
    .u8(1)
    .uvarint(1)
    .uvarint(limits.clusterNodesMax + 1)
    .finish();
  assert.equal(code(tooMany), 'ring_malformed');
  const manyTokens = new ByteWriter().u8(1).uvarint(1).uvarint(1).stringUvarint('a').u8(0);
  manyTokens.uvarint(limits.ringNodeTokensCountMax + 1);
  assert.equal(code(manyTokens.finish()), 'ring_malformed');
  assert.equal(code(Uint8Array.from([...encodeRaw([a]), 0])), 'trailing_bytes');
  assert.equal(code(new Uint8Array(0)), 'truncated');
});

test('decode of random bytes answers a Ring or a ProtocolError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (tail, formatFirst) => {
      const bytes = formatFirst ? Uint8Array.from([1, ...tail]) : tail;
      try {
        Ring.decode(bytes);
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `unexpected ${String(err)}`);
      }
    }),
    { numRuns: 2000 },
  );
});

// Goal: dotted version vectors keep exactly the writes no later write superseded (Preguiça et al.
// 2010, §4: a write supersedes what its client's context saw; concurrent writes stay siblings),
// whatever the order, duplication and interleaving of replica-to-replica deliveries.
// The oracle is exact and knows nothing of clocks: a client's write supersedes the writes whose
// values its last read returned, so at every step the union of all replicas' states must hold
// precisely the writes that no write has superseded ("no acknowledged write lost", and nothing
// superseded resurrected); after every message is delivered and one anti-entropy round, every
// replica holds that same state. Merge algebra (commutative, associative, idempotent) is checked on
// the states those executions reach, which are the states the protocol can produce.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter, bytesEqual } from '../lib/bytes.ts';
import type { HlcTimestamp } from '../lib/clocks/hlc.ts';
import { VectorClock } from '../lib/clocks/vector.ts';
import { BaristaError, LimitError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { DVV_FORMAT_VERSION, decodeContext, emptyContext, Versioned } from './versions.ts';
import { PNCounter } from '../crdt/counters.ts';

const utf8 = new TextEncoder();
const text = new TextDecoder();
const ts = (wallMs: number, logical = 0): HlcTimestamp => ({ wallMs, logical });
const bytes = (b: number): Uint8Array => new Uint8Array([b]);
const REPLICAS = ['r0', 'r1', 'r2'];

type Cmd =
  | { kind: 'read'; client: number; replica: number }
  | { kind: 'write'; client: number; replica: number; del: boolean; wallMs: number }
  | { kind: 'deliver'; pick: number; keep: boolean };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ kind: fc.constant('read' as const), client: fc.nat(2), replica: fc.nat(2) }),
  fc.record({
    kind: fc.constant('write' as const),
    client: fc.nat(2),
    replica: fc.nat(2),
    del: fc.boolean(),
    wallMs: fc.nat(5),
  }),
  fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), keep: fc.boolean() }),
);

interface Run {
  /** Every state any replica held. */
  states: Versioned[];
  final: Versioned[];
  expectedLive: string[];
}

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
const dotKey = (d: { replica: string; counter: number }): string => `${d.counter}@${d.replica}`;

/**
 * Replays `cmds` on three replicas and three clients, checking the oracle after every write and
 * delivery. Each coordinator sends its whole resulting state to the two other replicas; a delivery
 * may keep the message in flight to deliver it again later (duplicates).
 */
function simulate(cmds: readonly Cmd[]): Run {
  const replicas = REPLICAS.map(() => Versioned.empty());
  const inflight: Array<{ to: number; state: Versioned }> = [];
  const clients = [0, 1, 2].map(() => ({ ctx: emptyContext(), seen: new Set<string>() }));
  const writeOfDot = new Map<string, string>(); // dot -> write id
  const supersededBy = new Map<string, Set<string>>(); // write id -> what its client had seen
  const states: Versioned[] = [];
  let nextWrite = 0;
  let logical = 0;

  const idsOf = (v: Versioned): string[] => v.siblings.map((s) => writeOfDot.get(dotKey(s.dot))!);
  const expected = (): string[] => {
    const superseded = new Set<string>();
    for (const seen of supersededBy.values()) for (const w of seen) superseded.add(w);
    return sorted([...supersededBy.keys()].filter((w) => !superseded.has(w)));
  };
  const checkOracle = (step: string) => {
    const union = replicas.reduce((a, b) => a.merge(b), Versioned.empty());
    assert.deepEqual(sorted(idsOf(union)), expected(), `${step}: live writes`);
  };

  for (const cmd of cmds) {
    if (cmd.kind === 'read') {
      const state = replicas[cmd.replica]!;
      clients[cmd.client] = { ctx: state.context(), seen: new Set(idsOf(state)) };
    } else if (cmd.kind === 'write') {
      const client = clients[cmd.client]!;
      const before = replicas[cmd.replica]!;
      const id = `w${nextWrite++}`;
      const value = cmd.del ? null : utf8.encode(id);
      const after = before.update(client.ctx, REPLICAS[cmd.replica]!, value, ts(cmd.wallMs, logical++));
      const fresh = after.siblings.filter((s) => !before.siblings.some((b) => dotKey(b.dot) === dotKey(s.dot)));
      assert.equal(fresh.length, 1, 'a write adds exactly one sibling');
      assert.ok(!writeOfDot.has(dotKey(fresh[0]!.dot)), 'a dot names one write');
      writeOfDot.set(dotKey(fresh[0]!.dot), id);
      if (value !== null) assert.equal(text.decode(fresh[0]!.value!), id);
      supersededBy.set(id, new Set(client.seen));
      replicas[cmd.replica] = after;
      states.push(after);
      for (let to = 0; to < REPLICAS.length; to++) if (to !== cmd.replica) inflight.push({ to, state: after });
      checkOracle(`after ${id}`);
    } else if (inflight.length > 0) {
      const at = cmd.pick % inflight.length;
      const msg = inflight[at]!;
      if (!cmd.keep) inflight.splice(at, 1);
      replicas[msg.to] = replicas[msg.to]!.merge(msg.state);
      states.push(replicas[msg.to]!);
      checkOracle('after a delivery');
    }
  }
  // Heal: deliver everything left, then one anti-entropy round (each replica merges all others).
  for (const msg of inflight) replicas[msg.to] = replicas[msg.to]!.merge(msg.state);
  const all = replicas.reduce((a, b) => a.merge(b), Versioned.empty());
  const final = replicas.map((r) => r.merge(all));
  return { states, final, expectedLive: expected() };
}

test('no acknowledged write is lost and nothing superseded survives, under any delivery order', () => {
  fc.assert(
    fc.property(fc.array(cmdArb, { maxLength: 60 }), (cmds) => {
      const run = simulate(cmds);
      for (const r of run.final) assert.ok(r.equals(run.final[0]!), 'replicas converge');
    }),
    { numRuns: 300 },
  );
});

/** States the protocol reaches, for the algebra tests. */
const statesArb = fc.array(cmdArb, { minLength: 5, maxLength: 40 }).map((cmds) => {
  const run = simulate(cmds);
  return [Versioned.empty(), ...run.states, ...run.final];
});

test('merge is commutative, associative and idempotent on reachable states', () => {
  fc.assert(
    fc.property(statesArb, fc.nat(), fc.nat(), fc.nat(), (states, i, j, k) => {
      const a = states[i % states.length]!;
      const b = states[j % states.length]!;
      const c = states[k % states.length]!;
      assert.ok(a.merge(b).equals(b.merge(a)), 'commutative');
      assert.ok(
        a
          .merge(b)
          .merge(c)
          .equals(a.merge(b.merge(c))),
        'associative',
      );
      assert.ok(a.merge(a).equals(a), 'idempotent');
      assert.ok(a.merge(Versioned.empty()).equals(a), 'empty is the identity');
    }),
    { numRuns: 200 },
  );
});

test('equals is equality of encodings, and contextCounter an entry of the context, on reachable states', () => {
  fc.assert(
    fc.property(statesArb, fc.nat(), fc.nat(), fc.nat(2), (states, i, j, r) => {
      const a = states[i % states.length]!;
      const b = states[j % states.length]!;
      // Fresh decodes: equals must not lean on object identity or a cached encoding.
      const a2 = Versioned.decode(a.encode());
      const b2 = Versioned.decode(b.encode());
      assert.equal(a2.equals(b2), bytesEqual(a.encode(), b.encode()));
      assert.equal(a2.contextCounter(REPLICAS[r]!), a.context().get(REPLICAS[r]!));
    }),
    { numRuns: 300 },
  );
});

/** One sibling, as bytes: dot (replica, counter), past entries, value `v` (forged states too). */
function oneSibling(replica: string, counter: number, past: [string, number][], v: number): Versioned {
  const w = new ByteWriter();
  w.u8(DVV_FORMAT_VERSION).uvarint(1).stringUvarint(replica).uvarint(counter);
  VectorClock.from(past).encodeInto(w);
  w.u64(0n).u8(1).bytesUvarint(bytes(v));
  return Versioned.decode(w.finish());
}

test('contextCounter refuses what context refuses: siblings whose histories join past the bound', () => {
  // Two siblings of 200-entry pasts sharing no node (a peer's state: merges do not bound it).
  const w = new ByteWriter();
  w.u8(DVV_FORMAT_VERSION).uvarint(2);
  for (const side of ['a', 'b']) {
    w.stringUvarint(`${side}0`).uvarint(1);
    VectorClock.from(
      Array.from({ length: 200 }, (_, i) => [`${side}${String(i + 1).padStart(3, '0')}`, 1] as [string, number]),
      limits.dvvEntriesCountMax,
    ).encodeInto(w);
    w.u64(0n).u8(1).bytesUvarint(bytes(1));
  }
  const wide = Versioned.decode(w.finish());
  const refused = (e: unknown) => e instanceof LimitError;
  assert.throws(() => wide.context(), refused);
  assert.throws(() => Versioned.decode(wide.encode()).contextCounter('a0'), refused);
  assert.throws(() => wide.update(emptyContext(), 'a0', bytes(2), ts(1)), refused);
  // One sibling whose past is full: its dot would make one entry more.
  const full = new ByteWriter();
  full.u8(DVV_FORMAT_VERSION).uvarint(1).stringUvarint('zz').uvarint(1);
  VectorClock.from(
    Array.from({ length: limits.dvvEntriesCountMax }, (_, i) => [`n${i}`, 1] as [string, number]),
    limits.dvvEntriesCountMax,
  ).encodeInto(full);
  full.u64(0n).u8(1).bytesUvarint(bytes(1));
  const one = Versioned.decode(full.finish());
  assert.throws(() => one.contextCounter('zz'), refused);
  assert.equal(Versioned.empty().contextCounter('zz'), 0);
});

test('merge of two one-sibling states is the rule: union by dot, minus each dot in the other past', () => {
  // The write path's shortcut (versions.ts merge) against the rule, forged states included: each
  // sibling in the other's past (a cycle no protocol run makes) leaves none.
  const arb = fc.record({
    replica: fc.constantFrom('r0', 'r1'),
    counter: fc.integer({ min: 1, max: 3 }),
    past: fc.record({ r0: fc.nat(3), r1: fc.nat(3) }),
    v: fc.nat(1),
  });
  fc.assert(
    fc.property(arb, arb, (x, y) => {
      const pastOf = (s: typeof x): [string, number][] =>
        Object.entries(s.past).filter(([r, n]) => !(r === s.replica && n >= s.counter));
      const a = oneSibling(x.replica, x.counter, pastOf(x), x.v);
      const b = oneSibling(y.replica, y.counter, pastOf(y), y.v);
      const [sa, sb] = [a.siblings[0]!, b.siblings[0]!];
      let expected: Versioned[];
      if (sa.dot.replica === sb.dot.replica && sa.dot.counter === sb.dot.counter) {
        // One dot, two bodies: the greater encoding (a bug's case; the merge stays commutative).
        const [ea, eb] = [a.encode(), b.encode()];
        expected = [Buffer.compare(ea, eb) >= 0 ? a : b];
      } else {
        expected = [];
        if (sb.past.get(sa.dot.replica) < sa.dot.counter) expected.push(a);
        if (sa.past.get(sb.dot.replica) < sb.dot.counter) expected.push(b);
      }
      const want = expected.map((e) => dotKey(e.siblings[0]!.dot)).sort();
      for (const merged of [a.merge(b), b.merge(a)]) {
        assert.deepEqual(merged.siblings.map((s) => dotKey(s.dot)).sort(), want);
        if (want.length === 1) assert.ok(bytesEqual(merged.encode(), expected[0]!.encode()), 'the kept body');
      }
    }),
    { numRuns: 2000 },
  );
});

test('a write with the full context leaves one sibling', () => {
  fc.assert(
    fc.property(statesArb, fc.nat(), fc.nat(2), (states, i, r) => {
      const s = states[i % states.length]!;
      const next = s.update(s.context(), REPLICAS[r]!, utf8.encode('new'), ts(99));
      assert.equal(next.siblings.length, 1);
      assert.equal(text.decode(next.siblings[0]!.value!), 'new');
    }),
    { numRuns: 100 },
  );
});

test('two writes from the same context leave two siblings, on one coordinator or two', () => {
  fc.assert(
    fc.property(statesArb, fc.nat(), fc.nat(2), fc.nat(2), (states, i, r1, r2) => {
      const s = states[i % states.length]!;
      const ctx = s.context();
      const a = s.update(ctx, REPLICAS[r1]!, utf8.encode('x'), ts(7));
      const b = r1 === r2 ? a : s;
      const both = a.merge(b.update(ctx, REPLICAS[r2]!, utf8.encode('y'), ts(7)));
      assert.deepEqual(sorted(both.siblings.map((x) => text.decode(x.value!))), ['x', 'y']);
      // A client that read both and writes back resolves them to one.
      assert.equal(both.update(both.context(), 'r0', utf8.encode('z'), ts(8)).siblings.length, 1);
    }),
    { numRuns: 100 },
  );
});

test('chosen is the highest timestamp, then replica id, and the same for every merge order', () => {
  const base = Versioned.empty();
  const ctx = emptyContext();
  const a = base.update(ctx, 'r1', utf8.encode('a'), ts(5, 1));
  const b = base.update(ctx, 'r2', utf8.encode('b'), ts(5, 1));
  const c = base.update(ctx, 'r0', utf8.encode('c'), ts(5, 0));
  const all = a.merge(b).merge(c);
  assert.equal(all.siblings.length, 3);
  assert.equal(text.decode(all.chosen()!.value!), 'b'); // tie on ts: the greater replica id
  assert.equal(text.decode(c.merge(b).merge(a).chosen()!.value!), 'b');
  const later = all.update(emptyContext(), 'r0', null, ts(6)); // a blind delete, concurrent
  assert.equal(later.siblings.length, 4);
  assert.equal(later.chosen()!.value, null); // the tombstone is newest: GET answers nil
  assert.equal(Versioned.empty().chosen(), undefined);
});

test('writes beyond dvvSiblingsCountMax concurrent siblings are refused with LimitError', () => {
  let v = Versioned.empty();
  for (let i = 0; i < limits.dvvSiblingsCountMax; i++) v = v.update(emptyContext(), 'r0', utf8.encode(`${i}`), ts(i));
  assert.throws(() => v.update(emptyContext(), 'r0', null, ts(1000)), LimitError);
  assert.equal(v.update(v.context(), 'r0', null, ts(1000)).siblings.length, 1); // resolving is allowed
});

test('a forged context cannot crash a coordinator: an exhausted counter is a ProtocolError', () => {
  const forged = decodeContext(VectorClock.from([['r0', Number.MAX_SAFE_INTEGER]]).encode());
  assert.throws(() => Versioned.empty().update(forged, 'r0', null, ts(1)), ProtocolError);
  assert.equal(Versioned.empty().update(forged, 'r1', null, ts(1)).siblings.length, 1);
});

test('a last-write-wins write (over what its coordinator holds) leaves one sibling where a blind write leaves two', () => {
  // replica.ts: a request with overHeld writes with the client's context joined with the held state's.
  const held = Versioned.empty()
    .update(emptyContext(), 'r1', bytes(1), ts(10))
    .update(emptyContext(), 'r2', bytes(2), ts(11));
  assert.equal(held.siblings.length, 2);
  const over = held.update(emptyContext().merge(held.context()), 'r0', bytes(3), ts(5));
  assert.deepEqual(
    over.siblings.map((s) => s.value),
    [bytes(3)],
    'superseded even with an older timestamp',
  );
  assert.equal(held.update(emptyContext(), 'r0', bytes(3), ts(5)).siblings.length, 3, 'a blind write is a sibling');
  // A replica that held only r1's write keeps r2's as a sibling of the new one, and GET chooses r2's (ts 11).
  const partial = Versioned.empty().update(emptyContext(), 'r1', bytes(1), ts(10));
  const merged = partial.update(partial.context(), 'r0', bytes(3), ts(5)).merge(held);
  assert.deepEqual(
    merged.siblings.map((s) => s.value),
    [bytes(3), bytes(2)],
  );
  assert.deepEqual(merged.chosen()?.value, bytes(2));
});

// --- codec -----------------------------------------------------------------------------------

test('encode/decode round-trips reachable states; contexts round-trip too', () => {
  fc.assert(
    fc.property(statesArb, (states) => {
      for (const s of states) {
        const back = Versioned.decode(s.encode());
        assert.ok(back.equals(s));
        assert.deepEqual(decodeContext(s.context().encode()).entries(), s.context().entries());
      }
    }),
    { numRuns: 30 },
  );
});

test('decode answers every truncation and corruption with a Versioned or a ProtocolError', () => {
  fc.assert(
    fc.property(statesArb, fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (states, i, at, xor) => {
      const bytes = states[i % states.length]!.encode();
      for (let cut = 0; cut < bytes.length; cut++) {
        assert.throws(() => Versioned.decode(bytes.subarray(0, cut)), ProtocolError);
      }
      const bad = Uint8Array.from(bytes);
      bad[at % bad.length]! ^= xor;
      try {
        Versioned.decode(bad);
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `unexpected ${String(err)}`);
      }
    }),
    { numRuns: 100 },
  );
});

interface RawSibling {
  replica: string;
  counter: number;
  past: Array<[string, number]>;
  tag?: number;
}

function encodeRaw(siblings: RawSibling[], format = DVV_FORMAT_VERSION, count = siblings.length): Uint8Array {
  const w = new ByteWriter().u8(format).uvarint(count);
  for (const s of siblings) {
    w.stringUvarint(s.replica).uvarint(s.counter);
    VectorClock.from(s.past).encodeInto(w);
    w.u64(1n).u8(s.tag ?? 1);
    if ((s.tag ?? 1) === 1) w.bytesUvarint(utf8.encode('v'));
  }
  return w.finish();
}

test('decode names the broken rule with a stable code', () => {
  const code = (bytes: Uint8Array): string => {
    try {
      Versioned.decode(bytes);
      return 'ok';
    } catch (err) {
      assert.ok(err instanceof BaristaError);
      return err.code;
    }
  };
  const a: RawSibling = { replica: 'a', counter: 1, past: [] };
  const b: RawSibling = { replica: 'b', counter: 1, past: [['a', 0]] };
  assert.equal(code(encodeRaw([a, b])), 'ok');
  assert.equal(code(encodeRaw([a, { ...a, counter: 2, tag: 0 }])), 'ok');
  assert.equal(code(encodeRaw([a], 9)), 'dvv_bad_version');
  assert.equal(code(encodeRaw([b, a])), 'dvv_malformed'); // unsorted
  assert.equal(code(encodeRaw([a, a])), 'dvv_malformed'); // duplicate dot
  assert.equal(code(encodeRaw([{ ...a, counter: 0 }])), 'dvv_malformed');
  assert.equal(code(encodeRaw([{ ...a, past: [['a', 1]] }])), 'dvv_malformed'); // supersedes itself
  assert.equal(code(encodeRaw([a, { replica: 'b', counter: 1, past: [['a', 1]] }])), 'dvv_malformed'); // superseded
  assert.equal(code(encodeRaw([{ ...a, tag: 5 }])), 'dvv_malformed'); // 2 a CRDT value (counter.ts), 3 a value with a deadline, 4 a CRDT with one
  assert.equal(code(encodeRaw([{ ...a, replica: '' }])), 'dvv_malformed');
  assert.equal(code(encodeRaw([], 1, limits.dvvSiblingsCountMax + 1)), 'dvv_malformed');
  const manyEntries = new ByteWriter().u8(1).uvarint(1).stringUvarint('a').uvarint(1);
  manyEntries.uvarint(limits.dvvEntriesCountMax + 1);
  assert.equal(code(manyEntries.finish()), 'invalid_vector_clock');
  assert.equal(code(Uint8Array.from([...encodeRaw([a]), 0])), 'trailing_bytes');
  assert.equal(code(new Uint8Array(0)), 'truncated');
});

test('why a coordinator replicates its whole state: sending only the new sibling loses a write', () => {
  const blind = emptyContext();
  const r0 = Versioned.empty()
    .update(blind, 'r0', utf8.encode('w0'), ts(1)) // dot (r0,1)
    .update(blind, 'r0', utf8.encode('w1'), ts(2)); // dot (r0,2), concurrent with w0
  assert.equal(r0.siblings.length, 2);
  // Whole state shipped to r1: a client reading r1 sees w0 and w1, and its write supersedes both.
  const r1 = Versioned.empty().merge(r0);
  const viaFull = r1.update(r1.context(), 'r1', utf8.encode('w2'), ts(3));
  assert.deepEqual(
    r0.merge(viaFull).siblings.map((x) => text.decode(x.value!)),
    ['w2'],
  );
  // Only the new sibling (r0,2) shipped: the client sees one value (w1) but its context {r0:2}
  // covers (r0,1) too, so w0, which it never saw, disappears from r0 on the next merge.
  const onlyNew = Versioned.decode(encodeRaw([{ replica: 'r0', counter: 2, past: [] }]));
  const viaPartial = onlyNew.update(onlyNew.context(), 'r1', utf8.encode('w2'), ts(3));
  assert.equal(onlyNew.siblings.length, 1);
  assert.deepEqual(
    r0.merge(viaPartial).siblings.map((x) => text.decode(x.value!)),
    ['w2'],
    'w0 is lost: the reason for rule 1 at the top of versions.ts',
  );
});

test('decode of random bytes answers a Versioned or a ProtocolError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (tail, formatFirst) => {
      const bytes = formatFirst ? Uint8Array.from([1, ...tail]) : tail;
      try {
        Versioned.decode(bytes);
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `unexpected ${String(err)}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('a value with a deadline round-trips, reads as a tombstone from its deadline on, and a bad deadline is refused', () => {
  const ts = { wallMs: 1_000, logical: 0 };
  const v = Versioned.empty().update(emptyContext(), 'n1', new TextEncoder().encode('x'), ts, false, 5_000);
  const back = Versioned.decode(v.encode());
  assert.equal(back.siblings[0]!.expiresAtMs, 5_000);
  assert.ok(back.equals(v));
  assert.equal(back.expiredAsTombstones(4_999), back, 'before the deadline: the same state');
  const dead = back.expiredAsTombstones(5_000);
  assert.equal(dead.siblings[0]!.value, null, 'at the deadline: a tombstone');
  assert.deepEqual(dead.siblings[0]!.dot, back.siblings[0]!.dot, 'same dot: it still supersedes and is superseded');
  assert.deepEqual(dead.context().get('n1'), back.context().get('n1'));
  // The deadline field sits right after the tag byte 3: zero it.
  const bytes = v.encode().slice();
  const at = bytes.lastIndexOf(3, bytes.length - 11);
  bytes.fill(0, at + 1, at + 9);
  assert.throws(() => Versioned.decode(bytes), /expiry deadline 0/);
});

test('a CRDT with a deadline round-trips as value tag 4; corrupt CRDT bytes under tag 4 are refused', () => {
  const ts = { wallMs: 1_000, logical: 0 };
  const counter = PNCounter.empty.increment('n1', 7n).state.encode();
  const v = Versioned.empty().update(emptyContext(), 'n1', counter, ts, true, 9_000);
  const bytes = v.encode();
  const back = Versioned.decode(bytes);
  assert.ok(back.equals(v));
  assert.equal(back.siblings[0]!.crdt, true);
  assert.equal(back.siblings[0]!.expiresAtMs, 9_000);
  const bad = bytes.slice();
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
  assert.throws(() => Versioned.decode(bad), ProtocolError);
});

test('equals compares fields as the encoding would: past, timestamp, value, deadline, CRDT tag (fresh decodes, tags 0-4)', () => {
  // One sibling's fields, laid out as the grammar writes them; a tombstone (tag 0) carries no more.
  const spec = fc.record({
    past: fc.array(fc.tuple(fc.constantFrom('n1', 'n2', 'n3'), fc.integer({ min: 1, max: 3 })), { maxLength: 3 }),
    wallMs: fc.integer({ min: 0, max: 3 }),
    logical: fc.integer({ min: 0, max: 2 }),
    tag: fc.constantFrom(0, 1, 2, 3, 4),
    value: fc.integer({ min: 0, max: 2 }),
    deadline: fc.integer({ min: 1, max: 2 }),
  });
  type Spec = typeof spec extends fc.Arbitrary<infer T> ? T : never;
  const counter = (n: number): Uint8Array => PNCounter.empty.increment('n1', BigInt(n + 1)).state.encode();
  const encode = (s: Spec): Uint8Array => {
    const w = new ByteWriter();
    w.u8(DVV_FORMAT_VERSION).uvarint(1).stringUvarint('n9').uvarint(1);
    VectorClock.from(s.past).encodeInto(w);
    w.u64((BigInt(s.wallMs) << 16n) | BigInt(s.logical)).u8(s.tag);
    if (s.tag === 3 || s.tag === 4) w.u64(BigInt(s.deadline));
    // The same bytes under each tag (a plain value may be any bytes), so a tag alone can differ.
    if (s.tag !== 0) w.bytesUvarint(counter(s.value));
    return w.finish();
  };
  const mutate = fc.constantFrom('none', 'past', 'wallMs', 'logical', 'tag', 'value', 'deadline');
  fc.assert(
    fc.property(spec, spec, mutate, fc.boolean(), (a, other, field, copy) => {
      // Half the pairs differ in one field only, so near-equal states are common.
      const b = copy ? (field === 'none' ? { ...a } : { ...a, [field]: other[field as keyof Spec] }) : other;
      const ea = encode(a);
      const eb = encode(b);
      const va = Versioned.decode(ea);
      const vb = Versioned.decode(eb);
      assert.equal(va.equals(vb), bytesEqual(va.encode(), vb.encode()));
      assert.equal(Versioned.decode(ea).equals(Versioned.decode(eb)), bytesEqual(ea, eb));
    }),
    { numRuns: 2000 },
  );
});

// Goal: the three logical clocks keep their defining properties under random message exchanges
// among k processes (Lamport 1978 clock condition; Fidge/Mattern: VC(a) < VC(b) iff a → b;
// Kulkarni et al. 2014: HLC respects → and l stays within the largest physical clock seen), plus
// monotonicity, merge algebra (commutative, associative, idempotent) and codec round trips.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteReader, ByteWriter } from '../bytes.ts';
import { AssertionError } from '../assert.ts';
import { LimitError, ProtocolError } from '../errors.ts';
import {
  compareHlc,
  decodeHlc,
  encodeHlc,
  HLC_LOGICAL_MAX,
  type HlcTimestamp,
  HlcDriftError,
  HybridLogicalClock,
  readHlc,
  writeHlc,
} from './hlc.ts';
import { LamportClock } from './lamport.ts';
import { VectorClock } from './vector.ts';

// ---------------------------------------------------------------------------------------------
// Random distributed executions with an exact happened-before oracle.

type Step = { proc: number; kind: number; target: number; pick: number; advanceMs: number };

interface Event {
  proc: number;
  lamport: number;
  vc: VectorClock;
  hlc: HlcTimestamp;
  physicalMs: number;
  /** Indices of the events that immediately precede this one (process order, and the send for a receive). */
  preds: number[];
}

interface Message {
  to: number;
  sendEvent: number;
  lamport: number;
  vc: VectorClock;
  hlc: HlcTimestamp;
}

const SKEW_MS_MAX = 50;

function execute(k: number, skewsMs: number[], steps: Step[]): Event[] {
  const names = Array.from({ length: k }, (_, i) => `n${i}`);
  const lamport = names.map(() => new LamportClock());
  const vcs = names.map(() => VectorClock.empty());
  // maxDrift larger than any skew spread: no message is rejected in these runs.
  const hlcs = names.map(() => new HybridLogicalClock({ maxDriftMs: 10 * SKEW_MS_MAX }));
  const lastEvent: number[] = names.map(() => -1);
  const inflight: Message[] = [];
  const events: Event[] = [];
  let trueMs = 1_000_000;
  for (const s of steps) {
    trueMs += s.advanceMs;
    const p = s.proc % k;
    const pt = trueMs + skewsMs[p]!;
    const preds = lastEvent[p]! >= 0 ? [lastEvent[p]!] : [];
    const mine = inflight.map((m, i) => [m, i] as const).filter(([m]) => m.to === p);
    const kind = s.kind % 3 === 2 && mine.length === 0 ? 0 : s.kind % 3;
    let ev: Event;
    if (kind === 2) {
      const [m, idx] = mine[s.pick % mine.length]!;
      inflight.splice(idx, 1);
      preds.push(m.sendEvent);
      vcs[p] = vcs[p]!.merge(m.vc).increment(names[p]!);
      ev = {
        proc: p,
        lamport: lamport[p]!.receive(m.lamport),
        vc: vcs[p]!,
        hlc: hlcs[p]!.update(m.hlc, pt),
        physicalMs: pt,
        preds,
      };
    } else {
      vcs[p] = vcs[p]!.increment(names[p]!);
      ev = {
        proc: p,
        lamport: kind === 1 ? lamport[p]!.send() : lamport[p]!.tick(),
        vc: vcs[p]!,
        hlc: hlcs[p]!.now(pt),
        physicalMs: pt,
        preds,
      };
      if (kind === 1)
        inflight.push({ to: s.target % k, sendEvent: events.length, lamport: ev.lamport, vc: ev.vc, hlc: ev.hlc });
    }
    lastEvent[p] = events.length;
    events.push(ev);
  }
  return events;
}

/** hb[i][j] = event i happened before event j (transitive closure of the predecessor edges). */
function happenedBefore(events: Event[]): boolean[][] {
  const hb = events.map(() => events.map(() => false));
  events.forEach((ev, j) => {
    for (const p of ev.preds) {
      hb[p]![j] = true;
      for (let i = 0; i < j; i++) if (hb[i]![p]) hb[i]![j] = true;
    }
  });
  return hb;
}

const executionArb = fc.record({
  k: fc.integer({ min: 1, max: 5 }),
  skewsMs: fc.array(fc.integer({ min: -SKEW_MS_MAX, max: SKEW_MS_MAX }), { minLength: 5, maxLength: 5 }),
  steps: fc.array(
    fc.record({
      proc: fc.nat(),
      kind: fc.nat(),
      target: fc.nat(),
      pick: fc.nat(),
      // Mostly no time passing, so logical counters and ties get exercised.
      advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 20 })),
    }),
    { maxLength: 60 },
  ),
});

test('happened-before: Lamport and HLC preserve it; vector clocks characterise it exactly', () => {
  fc.assert(
    fc.property(executionArb, ({ k, skewsMs, steps }) => {
      const events = execute(k, skewsMs, steps);
      const hb = happenedBefore(events);
      for (let i = 0; i < events.length; i++) {
        for (let j = 0; j < events.length; j++) {
          if (i === j) continue;
          const a = events[i]!;
          const b = events[j]!;
          const order = a.vc.compare(b.vc);
          if (hb[i]![j]) {
            assert.ok(a.lamport < b.lamport, `Lamport ${a.lamport} !< ${b.lamport}`);
            assert.equal(compareHlc(a.hlc, b.hlc), -1);
            assert.equal(order, 'before');
          } else if (hb[j]![i]) {
            assert.equal(order, 'after');
          } else {
            assert.equal(order, 'concurrent', `events ${i} and ${j} are concurrent`);
          }
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('HLC stays within the largest physical clock seen anywhere (l ≤ max pt), paper Theorem 1', () => {
  fc.assert(
    fc.property(executionArb, ({ k, skewsMs, steps }) => {
      let maxPhysicalMs = 0;
      for (const ev of execute(k, skewsMs, steps)) {
        maxPhysicalMs = Math.max(maxPhysicalMs, ev.physicalMs);
        assert.ok(ev.hlc.wallMs <= maxPhysicalMs, `${ev.hlc.wallMs} > ${maxPhysicalMs}`);
        assert.ok(ev.hlc.wallMs >= ev.physicalMs);
      }
    }),
    { numRuns: 200 },
  );
});

// ---------------------------------------------------------------------------------------------
// Lamport

test('Lamport: every event is strictly later than the previous one and than a received time', () => {
  fc.assert(
    fc.property(fc.array(fc.option(fc.integer({ min: 0, max: 1e9 }))), (ops) => {
      const clock = new LamportClock();
      let prev = clock.time;
      for (const remote of ops) {
        const t = remote === null ? clock.tick() : clock.receive(remote);
        assert.ok(t > prev);
        if (remote !== null) assert.ok(t > remote);
        prev = t;
      }
    }),
  );
  assert.throws(() => new LamportClock().receive(-1), ProtocolError);
  assert.throws(() => new LamportClock().receive(Number.NaN), ProtocolError);
});

// ---------------------------------------------------------------------------------------------
// Vector clocks

const vcArb = fc
  .dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.integer({ min: 0, max: 4 }))
  .map((d) => VectorClock.from(Object.entries(d)));

test('vector clock merge is commutative, associative, idempotent, and an upper bound', () => {
  fc.assert(
    fc.property(vcArb, vcArb, vcArb, (a, b, c) => {
      assert.equal(a.merge(b).compare(b.merge(a)), 'equal');
      assert.equal(
        a
          .merge(b)
          .merge(c)
          .compare(a.merge(b.merge(c))),
        'equal',
      );
      assert.equal(a.merge(a).compare(a), 'equal');
      assert.ok(a.dominatedBy(a.merge(b)));
      assert.ok(b.dominatedBy(a.merge(b)));
    }),
  );
});

test('VectorClock.join equals folding merge over its clocks and points, and throws where the fold would', () => {
  const pointArb = fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), fc.integer({ min: 0, max: 5 }));
  fc.assert(
    fc.property(
      fc.array(vcArb, { maxLength: 4 }),
      fc.array(pointArb, { maxLength: 4 }),
      fc.integer({ min: 1, max: 6 }),
      (clocks, points, entriesMax) => {
        const fold = () => {
          let acc = VectorClock.empty(entriesMax);
          for (const c of clocks) acc = acc.merge(c);
          for (const p of points) acc = acc.merge(VectorClock.from([p]));
          return acc;
        };
        let expected: VectorClock | undefined;
        try {
          expected = fold();
        } catch (error) {
          assert.ok(error instanceof LimitError);
        }
        if (expected === undefined) {
          assert.throws(() => VectorClock.join(clocks, points, entriesMax), LimitError);
          return;
        }
        const joined = VectorClock.join(clocks, points, entriesMax);
        assert.deepEqual(joined.entries(), expected.entries());
        assert.equal(joined.entriesMax, entriesMax);
      },
    ),
    { numRuns: 1000 },
  );
});

test('vector clock compare is antisymmetric and agrees with entry-wise ≤', () => {
  const flip = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' } as const;
  fc.assert(
    fc.property(vcArb, vcArb, (a, b) => {
      const ab = a.compare(b);
      assert.equal(b.compare(a), flip[ab]);
      const nodes = ['a', 'b', 'c', 'd', 'e'];
      const le = nodes.every((n) => a.get(n) <= b.get(n));
      const ge = nodes.every((n) => a.get(n) >= b.get(n));
      assert.equal(ab, le && ge ? 'equal' : le ? 'before' : ge ? 'after' : 'concurrent');
      assert.equal(a.increment('c').compare(a), 'after');
    }),
  );
});

test('vector clocks of up to 40 nodes answer get, merge, increment and compare as a map of counters does', () => {
  // Past a dozen entries get searches instead of scanning: both against the model.
  const ids = Array.from({ length: 40 }, (_, i) => `n${String(i).padStart(2, '0')}`);
  const modelArb = fc.dictionary(fc.constantFrom(...ids), fc.integer({ min: 0, max: 3 }), { maxKeys: 40 });
  fc.assert(
    fc.property(modelArb, modelArb, fc.constantFrom(...ids, 'absent', ''), (ma, mb, node) => {
      const a = VectorClock.from(Object.entries(ma));
      const b = VectorClock.from(Object.entries(mb));
      const at = (m: Record<string, number>, n: string) => m[n] ?? 0;
      for (const n of [...ids, 'absent', '']) assert.equal(a.get(n), at(ma, n));
      const merged = a.merge(b);
      for (const n of ids) assert.equal(merged.get(n), Math.max(at(ma, n), at(mb, n)));
      assert.deepEqual(
        merged.entries().map(([n]) => n),
        ids.filter((n) => Math.max(at(ma, n), at(mb, n)) > 0),
      );
      assert.equal(a.increment(node).get(node), at(ma, node) + 1);
      const le = ids.every((n) => at(ma, n) <= at(mb, n));
      const ge = ids.every((n) => at(ma, n) >= at(mb, n));
      assert.equal(a.compare(b), le && ge ? 'equal' : le ? 'before' : ge ? 'after' : 'concurrent');
      assert.deepEqual(VectorClock.decode(merged.encode()).entries(), merged.entries());
    }),
    { numRuns: 500 },
  );
});

test('vector clock encoding is canonical and round-trips; non-canonical bytes are rejected', () => {
  fc.assert(
    fc.property(vcArb, (a) => {
      const bytes = a.encode();
      const back = VectorClock.decode(bytes);
      assert.equal(back.compare(a), 'equal');
      assert.deepEqual(back.encode(), bytes);
    }),
  );
  const encode = (entries: Array<[string, number]>) => {
    const w = new ByteWriter().uvarint(entries.length);
    for (const [n, c] of entries) w.stringUvarint(n).uvarint(c);
    return w.finish();
  };
  const rejects = (bytes: Uint8Array) =>
    assert.throws(
      () => VectorClock.decode(bytes),
      (e: unknown) => e instanceof ProtocolError,
    );
  rejects(
    encode([
      ['b', 1],
      ['a', 1],
    ]),
  );
  rejects(
    encode([
      ['a', 1],
      ['a', 2],
    ]),
  );
  rejects(encode([['a', 0]]));
  rejects(encode([['x'.repeat(65), 1]]));
  rejects(encode([['a', 1]]).subarray(0, 3));
  assert.throws(
    () =>
      VectorClock.decode(
        encode([
          ['a', 1],
          ['b', 1],
          ['c', 1],
        ]),
        2,
      ),
    ProtocolError,
  );
});

test('vector clocks refuse to grow past entriesMax with a LimitError', () => {
  const vc = VectorClock.empty(2).increment('a').increment('b');
  assert.throws(() => vc.increment('c'), LimitError);
  assert.throws(() => vc.merge(VectorClock.from([['z', 1]])), LimitError);
  assert.equal(vc.increment('a').get('a'), 2);
});

// ---------------------------------------------------------------------------------------------
// Hybrid logical clock

const hlcArb = fc.record({
  wallMs: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  logical: fc.integer({ min: 0, max: HLC_LOGICAL_MAX }),
});

test('HLC is strictly monotonic whatever the physical clock does', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          wallMs: fc.integer({ min: 0, max: 1000 }),
          remote: fc.option(
            fc.record({
              wallMs: fc.integer({ min: 0, max: 1100 }),
              logical: fc.integer({ min: 0, max: HLC_LOGICAL_MAX }),
            }),
          ),
        }),
        { maxLength: 200 },
      ),
      (ops) => {
        const clock = new HybridLogicalClock({ maxDriftMs: 100 });
        let prev = clock.last;
        for (const { wallMs, remote } of ops) {
          let ts: HlcTimestamp;
          if (remote === null) ts = clock.now(wallMs);
          else {
            try {
              ts = clock.update(remote, wallMs);
              assert.equal(compareHlc(remote, ts), -1);
            } catch (e) {
              assert.ok(e instanceof HlcDriftError);
              assert.ok(remote.wallMs - wallMs > 100);
              assert.deepEqual(clock.last, prev, 'a rejected update leaves the clock unchanged');
              continue;
            }
          }
          assert.equal(compareHlc(prev, ts), -1);
          assert.ok(ts.wallMs >= wallMs);
          prev = ts;
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('HLC drift bound: remote more than maxDriftMs ahead is rejected with a typed error', () => {
  const clock = new HybridLogicalClock({ maxDriftMs: 500 });
  clock.now(1000);
  assert.deepEqual(clock.update({ wallMs: 1500, logical: 3 }, 1000), { wallMs: 1500, logical: 4 });
  assert.throws(
    () => clock.update({ wallMs: 2001, logical: 0 }, 1500),
    (e: unknown) => e instanceof HlcDriftError && e.code === 'hlc_clock_drift' && e.retriable,
  );
  assert.throws(() => clock.update({ wallMs: -1, logical: 0 }, 1500), ProtocolError);
  assert.throws(() => clock.update({ wallMs: 10, logical: HLC_LOGICAL_MAX + 1 }, 1500), ProtocolError);
});

test('HLC logical overflow borrows a millisecond instead of wrapping', () => {
  const clock = new HybridLogicalClock({ maxDriftMs: 0, initial: { wallMs: 10, logical: HLC_LOGICAL_MAX - 1 } });
  assert.deepEqual(clock.now(5), { wallMs: 10, logical: HLC_LOGICAL_MAX });
  assert.deepEqual(clock.now(5), { wallMs: 11, logical: 0 });
});

test('HLC 64-bit encoding round-trips and preserves order', () => {
  fc.assert(
    fc.property(hlcArb, hlcArb, (a, b) => {
      assert.deepEqual(decodeHlc(encodeHlc(a)), { wallMs: a.wallMs, logical: a.logical });
      const ea = encodeHlc(a);
      const eb = encodeHlc(b);
      assert.equal(compareHlc(a, b), ea < eb ? -1 : ea > eb ? 1 : 0);
      assert.ok(ea >= 0n && ea < 1n << 64n);
    }),
  );
  assert.throws(() => decodeHlc(-1n), ProtocolError);
  assert.throws(() => decodeHlc(1n << 64n), ProtocolError);
});

test('writeHlc and readHlc (no bigint) give the bytes and values of u64(encodeHlc) and decodeHlc', () => {
  fc.assert(
    fc.property(hlcArb, (a) => {
      const byBigint = new ByteWriter().u64(encodeHlc(a)).finish();
      const w = new ByteWriter();
      writeHlc(w, a);
      assert.deepEqual(w.finish(), byBigint);
      assert.deepEqual(readHlc(new ByteReader(byBigint)), { wallMs: a.wallMs, logical: a.logical });
    }),
  );
  // Any 8 bytes decode as decodeHlc reads them (untrusted input), the extremes too.
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (bytes) => {
      assert.deepEqual(readHlc(new ByteReader(bytes)), decodeHlc(new ByteReader(bytes).u64()));
    }),
  );
  for (const fill of [0x00, 0xff, 0x80, 0x7f]) {
    const bytes = new Uint8Array(8).fill(fill);
    assert.deepEqual(readHlc(new ByteReader(bytes)), decodeHlc(new ByteReader(bytes).u64()), `bytes ${fill}`);
  }
  assert.throws(() => writeHlc(new ByteWriter(), { wallMs: -1, logical: 0 }), AssertionError);
  assert.throws(() => writeHlc(new ByteWriter(), { wallMs: 1, logical: HLC_LOGICAL_MAX + 1 }), AssertionError);
});

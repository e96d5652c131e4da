// Goal: each type means what its specification says, checked against naive oracles over random
// executions and on the classic concurrent scenarios (Shapiro et al., INRIA RR-7506, §3; Almeida
// et al., JPDC 2018, §7; Bieniusa et al., "An optimized conflict-free replicated set", 2012, for
// add-wins without tombstones).
//   counters   value = sum of increments − decrements, whatever the delivery
//   G-Set      value = every element added
//   LWW        value = the write with the highest (HLC timestamp, replica id, bytes)
//   OR-Set     e is present iff some add(e) is not in the causal past of a remove(e) or clear
//   MV         siblings = the writes in the causal past of no other write or clear
//   OR-Map     a field's siblings = its writes in the causal past of no other write to it, no
//              remove of the field and no clear (remove removes observed state only)
// The causal-history oracles track, per replica, the set of operations its state reflects; they
// exchange full states (a delta carries less history than its sender has).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compareHlc, type HlcTimestamp } from '../lib/clocks/hlc.ts';
import { BaristaError } from '../lib/errors.ts';
import {
  blob,
  elem,
  executionArb,
  execute,
  gcounter,
  gset,
  type Kind,
  keyOf,
  lww,
  mvreg,
  type OpArgs,
  orset,
  ormapOfRegisters,
  pnAmount,
  pncounter,
  type Step,
} from '../../test/support/crdt-kinds.ts';
import { GCounter, LWWRegister, MVRegister, ORMap, ORSet, PNCounter, type Stamped } from './crdt.ts';

const RUNS = 100;
const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const ts = (wallMs: number, logical = 0): HlcTimestamp => ({ wallMs, logical });

// ---------------------------------------------------------------------------------------------
// Oracles independent of history.

test('counters: the value is the sum of increments minus decrements, whatever the delivery', () => {
  fc.assert(
    fc.property(executionArb, (e) => {
      const pn = execute(pncounter, e.replicaCount, e.steps, { carry: 'both' });
      const pnTruth = pn.finals.reduce(PNCounter.merge, PNCounter.empty);
      assert.equal(
        pnTruth.value(),
        pn.ops.reduce((sum, o) => sum + pnAmount(o.args), 0n),
      );
      const g = execute(gcounter, e.replicaCount, e.steps, { carry: 'deltas' });
      const gTruth = g.deltas.reduce(GCounter.merge, GCounter.empty);
      assert.equal(
        gTruth.value(),
        g.ops.reduce((sum, o) => sum + BigInt((o.args.amount % 5) + 1), 0n),
      );
    }),
    { numRuns: RUNS },
  );
});

test('G-Set: the value is every element added', () => {
  fc.assert(
    fc.property(executionArb, (e) => {
      const ex = execute(gset, e.replicaCount, e.steps, { carry: 'deltas' });
      const all = ex.finals.reduce(gset.merge, gset.empty);
      assert.deepEqual(all.value(), [...new Set(ex.ops.map((o) => elem(o.args)))].sort());
    }),
    { numRuns: RUNS },
  );
});

test('LWW-Register: the write with the highest (timestamp, replica id, bytes) wins everywhere', () => {
  fc.assert(
    fc.property(executionArb, (e) => {
      const ex = execute(lww, e.replicaCount, e.steps, { carry: 'both' });
      const all = ex.finals.reduce(LWWRegister.merge, LWWRegister.empty);
      const writes = ex.ops.map((o) => ({ ts: o.args.ts, replica: ex.replicas[o.at]!, value: blob(o.args) }));
      writes.sort((a, b) => compareStamped(b, a));
      assert.deepEqual(all.value(), writes[0]?.value);
    }),
    { numRuns: RUNS },
  );
});

function compareStamped(a: Stamped, b: Stamped): number {
  return (
    compareHlc(a.ts, b.ts) ||
    (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0) ||
    Buffer.compare(Buffer.from(a.value), Buffer.from(b.value))
  );
}

// ---------------------------------------------------------------------------------------------
// Causal-history oracles.

interface Event {
  readonly id: number;
  readonly replica: string;
  readonly args: OpArgs;
  /** Events the operating replica's state reflected before this one. */
  readonly past: ReadonlySet<number>;
}

/** Runs `steps` exchanging full states only, tracking each state's causal history. */
function executeWithHistory<T>(kind: Kind<T>, replicaCount: number, steps: readonly Step[]) {
  const replicas = Array.from({ length: replicaCount }, (_, i) => `n${i}`);
  const states: T[] = replicas.map(() => kind.empty);
  const hist: Set<number>[] = replicas.map(() => new Set());
  const pool: { state: T; hist: ReadonlySet<number> }[] = [];
  const events: Event[] = [];
  for (const s of steps) {
    if (s.t === 'op') {
      const at = s.at % replicaCount;
      events.push({ id: events.length, replica: replicas[at]!, args: s.args, past: new Set(hist[at]) });
      hist[at]!.add(events.length - 1);
      states[at] = kind.op(states[at]!, replicas[at]!, s.args).state;
      pool.push({ state: states[at]!, hist: new Set(hist[at]) });
    } else if (pool.length > 0) {
      const to = s.to % replicaCount;
      const m = pool[s.msg % pool.length]!;
      states[to] = kind.merge(states[to]!, m.state);
      for (const id of m.hist) hist[to]!.add(id);
    }
  }
  return { all: states.reduce(kind.merge, kind.empty), events };
}

/** True when event `e` is in the causal past of some event that `cancels` it. */
function cancelled(e: Event, events: readonly Event[], cancels: (by: Event) => boolean): boolean {
  return events.some((c) => c.past.has(e.id) && cancels(c));
}

const setOpOf = (a: OpArgs): 'add' | 'remove' | 'clear' => {
  const p = a.pick % 6;
  return p < 3 ? 'add' : p < 5 ? 'remove' : 'clear';
};

test('OR-Set: an element is present iff some add of it was observed by no remove of it and no clear', () => {
  fc.assert(
    fc.property(executionArb, (e) => {
      const { all, events } = executeWithHistory(orset, e.replicaCount, e.steps);
      const expected = new Set<string>();
      for (const a of events) {
        if (setOpOf(a.args) !== 'add') continue;
        const x = elem(a.args);
        const gone = cancelled(a, events, (c) => {
          const op = setOpOf(c.args);
          return op === 'clear' || (op === 'remove' && elem(c.args) === x);
        });
        if (!gone) expected.add(x);
      }
      assert.deepEqual(all.value(), [...expected].sort());
    }),
    { numRuns: RUNS },
  );
});

const sortSiblings = (xs: Stamped[]): Stamped[] => [...xs].sort(compareStamped);

test('MV-Register: the siblings are exactly the writes no other write or clear has observed', () => {
  fc.assert(
    fc.property(executionArb, (e) => {
      const { all, events } = executeWithHistory(mvreg, e.replicaCount, e.steps);
      const isWrite = (ev: Event): boolean => ev.args.pick % 6 < 5;
      const expected = events
        .filter((w) => isWrite(w) && !cancelled(w, events, () => true))
        .map((w) => ({ ts: w.args.ts, replica: w.replica, value: blob(w.args) }));
      assert.deepEqual(sortSiblings(all.value()), sortSiblings(expected));
    }),
    { numRuns: RUNS },
  );
});

test('OR-Map of registers (a Redis hash): a field holds the writes to it that no later write, remove of the field or clear observed', () => {
  fc.assert(
    fc.property(executionArb, (e) => {
      const { all, events } = executeWithHistory(ormapOfRegisters, e.replicaCount, e.steps);
      const opOf = (a: OpArgs): 'write' | 'remove' | 'clear' => {
        const p = a.pick % 6;
        return p < 4 ? 'write' : p < 5 ? 'remove' : 'clear';
      };
      const expected = new Map<string, Stamped[]>();
      for (const w of events) {
        if (opOf(w.args) !== 'write') continue;
        const k = keyOf(w.args);
        const gone = cancelled(w, events, (c) => opOf(c.args) === 'clear' || keyOf(c.args) === k);
        if (gone) continue;
        expected.set(k, [...(expected.get(k) ?? []), { ts: w.args.ts, replica: w.replica, value: blob(w.args) }]);
      }
      const actual = all.value();
      assert.deepEqual([...actual.keys()], [...expected.keys()].sort());
      for (const [k, v] of actual) assert.deepEqual(sortSiblings(v as Stamped[]), sortSiblings(expected.get(k)!));
    }),
    { numRuns: RUNS },
  );
});

// ---------------------------------------------------------------------------------------------
// The classic scenarios, spelled out.

test('OR-Set: a concurrent add and remove of the same element keep it (add wins)', () => {
  const a0 = ORSet.empty.add('A', 'x').state;
  const b0 = ORSet.empty.merge(a0); // B has observed A's add
  const a1 = a0.add('A', 'x'); // A re-adds concurrently with B's remove
  const b1 = b0.remove('x');
  assert.equal(b1.state.has('x'), false);
  assert.deepEqual(a1.state.merge(b1.state).value(), ['x']);
  assert.deepEqual(b1.state.merge(a1.delta).value(), ['x'], 'the add delta alone brings it back');
  // A concurrent add of a never-seen element at another replica also survives a clear.
  const c = ORSet.empty.add('C', 'y').state;
  assert.deepEqual(b0.clear().state.merge(c).value(), ['y']);
});

test('OR-Set: a remove after observing the add removes it, at every replica', () => {
  const a = ORSet.empty.add('A', 'x');
  const b = ORSet.empty.merge(a.delta).remove('x');
  assert.deepEqual(a.state.merge(b.delta).value(), []);
  assert.deepEqual(b.state.merge(a.state).value(), [], 'the old add delivered again does not resurrect it');
  assert.deepEqual(b.state.merge(a.delta).value(), []);
});

test('OR-Set: no tombstones — after many add/remove cycles the context is one counter per replica', () => {
  let reps = ['A', 'B', 'C'].map(() => ORSet.empty);
  for (let round = 0; round < 200; round++) {
    const i = round % 3;
    const e = `e${round}`;
    reps[i] = reps[i]!.add(`n${i}`, e).state;
    reps = reps.map((s) => s.merge(reps[i]!));
    const j = (round + 1) % 3;
    reps[j] = reps[j]!.remove(e).state;
    reps = reps.map((s) => s.merge(reps[j]!));
  }
  for (const s of reps) {
    assert.deepEqual(s.value(), []);
    assert.equal(s.context.cloudDots, 0);
    assert.equal(s.context.replicaCount, 3);
    assert.ok(s.encode().length < 32, `200 removed elements cost ${s.encode().length} bytes`);
  }
  // Deltas overtaking each other leave gaps in the dot cloud until the missing ones arrive.
  const d1 = ORSet.empty.add('A', 'x');
  const d2 = d1.state.add('A', 'y');
  const early = ORSet.empty.merge(d2.delta);
  assert.equal(early.context.cloudDots, 1);
  assert.equal(early.merge(d1.delta).context.cloudDots, 0);
  assert.deepEqual(early.merge(d1.delta).value(), ['x', 'y']);
});

test('MV-Register: concurrent writes stay siblings; a write that saw them replaces both; resolve picks by HLC then replica', () => {
  const a = MVRegister.empty.write('A', bytes(1), ts(10));
  const b = MVRegister.empty.write('B', bytes(2), ts(10));
  const both = a.state.merge(b.delta);
  assert.deepEqual(
    both.value().map((s) => s.replica),
    ['A', 'B'],
  );
  assert.equal(both.resolve()?.replica, 'B', 'equal timestamps: the higher replica id wins');
  const c = both.write('A', bytes(3), ts(9)); // causally later, even with a lower clock
  assert.deepEqual(
    c.state.value().map((s) => s.value),
    [bytes(3)],
  );
  assert.deepEqual(a.state.merge(b.state).merge(c.delta).value(), c.state.value());
});

test('LWW-Register: the higher timestamp wins, a tie goes to the higher replica id, in either merge order', () => {
  const x = LWWRegister.empty.set('A', bytes(1), ts(5, 1)).state;
  const y = LWWRegister.empty.set('B', bytes(2), ts(5, 0)).state;
  const z = LWWRegister.empty.set('C', bytes(3), ts(5, 0)).state;
  assert.deepEqual(x.merge(y).value(), bytes(1));
  assert.deepEqual(y.merge(x).value(), bytes(1));
  assert.deepEqual(y.merge(z).value(), bytes(3));
  assert.deepEqual(z.merge(y).value(), bytes(3));
  // A write stamped behind the current value loses (LWW's documented cost).
  assert.deepEqual(x.set('B', bytes(9), ts(4)).state.value(), bytes(1));
});

test('OR-Map: a concurrent field write survives a remove of the field; the remove takes what it saw', () => {
  const hset = (m: ORMap, r: string, f: string, v: number, t: number) =>
    m.apply<MVRegister>(f, (reg) => reg.write(r, bytes(v), ts(t)));
  const a0 = hset(ORMap.empty(MVRegister.schema), 'A', 'f', 1, 1).state;
  const b0 = ORMap.empty(MVRegister.schema).merge(a0);
  const a1 = hset(a0, 'A', 'f', 2, 2); // HSET f 2 at A ...
  const b1 = b0.remove('f'); // ... concurrently with HDEL f at B
  const merged = a1.state.merge(b1.state);
  assert.deepEqual((merged.get('f') as MVRegister).resolve()?.value, bytes(2));
  assert.deepEqual(b1.state.merge(a1.delta).value(), merged.value());
  // HDEL after observing the HSET removes the field everywhere.
  const gone = merged.remove('f');
  assert.deepEqual(merged.merge(gone.delta).keys(), []);
  // Nested sets: the remove takes only the elements it saw; a concurrent SADD stays.
  const sadd = (m: ORMap, r: string, k: string, e: string) => m.apply<ORSet>(k, (s) => s.add(r, e));
  const s0 = sadd(ORMap.empty(ORSet.schema), 'A', 'k', 'x').state;
  const removed = ORMap.empty(ORSet.schema).merge(s0).remove('k');
  const added = sadd(s0, 'A', 'k', 'y');
  assert.deepEqual(added.state.merge(removed.delta).value(), new Map([['k', ['y']]]));
});

test('PN-Counter: increments and decrements at several replicas; a replica total past 2^64 - 1 is refused, typed', () => {
  let a = PNCounter.empty.increment('A', 5n).state;
  const b = PNCounter.empty.increment('B', -7n).state.increment('B', 1n).state;
  a = a.merge(b);
  assert.equal(a.value(), -1n);
  const big = GCounter.empty.increment('A', 2n ** 64n - 1n).state;
  assert.throws(
    () => big.increment('A', 1n),
    (e) => e instanceof BaristaError && e.code === 'bad_request',
  );
});

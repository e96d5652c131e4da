// Goal: every CRDT type of src/crdt is a join-semilattice with correct delta mutators, so replicas
// converge under any delivery order (Shapiro et al., SSS 2011, Theorem 2.1: a state-based object
// whose merge is a least upper bound converges; Almeida et al., JPDC 2018, §4: a delta merged
// where its origin's previous state already was gives the same as shipping the full state).
// States are compared by their canonical encodings (equal states, equal bytes), values by deepEqual.
// Random executions (test/support/crdt-kinds.ts): 3–5 replicas, random operations, deltas and full
// states delivered in any order and with duplicates.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SeededRng } from '../lib/rng.ts';
import { ALL_KINDS, type Execution, executionArb, execute, type Kind } from '../../test/support/crdt-kinds.ts';

const RUNS = 150;

function same<T>(kind: Kind<T>, a: T, b: T, what: string): void {
  assert.deepEqual(kind.encode(a), kind.encode(b), `${kind.name}: ${what} (state)`);
  assert.deepEqual(kind.value(a), kind.value(b), `${kind.name}: ${what} (value)`);
}

const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length]!;

for (const kind of ALL_KINDS) {
  test(`${kind.name}: merge is associative, commutative and idempotent`, () => {
    fc.assert(
      fc.property(executionArb, fc.nat(), fc.nat(), fc.nat(), (e, i, j, k) => {
        const ex = execute(kind, e.replicaCount, e.steps, { carry: 'both' });
        const [a, b, c] = [pick(ex.samples, i), pick(ex.samples, j), pick(ex.samples, k)];
        same(kind, kind.merge(kind.merge(a, b), c), kind.merge(a, kind.merge(b, c)), 'associative');
        same(kind, kind.merge(a, b), kind.merge(b, a), 'commutative');
        same(kind, kind.merge(a, a), a, 'idempotent');
        // The final states of different replicas too (the interesting, concurrent pairs).
        const [x, y] = [pick(ex.finals, i), pick(ex.finals, j + 1)];
        same(kind, kind.merge(x, y), kind.merge(y, x), 'commutative on replicas');
      }),
      { numRuns: RUNS },
    );
  });

  test(`${kind.name}: a delta merged into its origin state gives the new state, and into any later state the same as the full new state`, () => {
    fc.assert(
      fc.property(executionArb, (e) => {
        execute(kind, e.replicaCount, e.steps, {
          carry: 'both',
          onOp: (before, u, other) => {
            same(kind, kind.merge(before, u.delta), u.state, 'delta ⊔ state = op(state)');
            const later = kind.merge(before, other);
            same(kind, kind.merge(later, u.delta), kind.merge(later, u.state), 'delta vs full state');
          },
        });
      }),
      { numRuns: RUNS },
    );
  });

  test(`${kind.name}: replicas converge whatever the order and duplication of deliveries`, () => {
    fc.assert(
      fc.property(
        executionArb,
        fc.constantFrom<'deltas' | 'states' | 'both'>('deltas', 'states', 'both'),
        fc.nat(),
        (e, carry, seed) => {
          const ex = execute(kind, e.replicaCount, e.steps, { carry });
          const truth = ex.finals.reduce((acc, s) => kind.merge(acc, s), kind.empty);
          const rng = new SeededRng(seed);
          const ends = ex.finals.map((s) => deliverAllDeltas(kind, ex, s, rng));
          // A fresh replica that only ever receives deltas ends in the same state.
          ends.push(deliverAllDeltas(kind, ex, kind.empty, rng));
          for (const end of ends) same(kind, end, truth, 'converged on the join of all replicas');
        },
      ),
      { numRuns: RUNS },
    );
  });

  test(`${kind.name}: encode then decode gives the same state`, () => {
    fc.assert(
      fc.property(executionArb, (e) => {
        const ex = execute(kind, e.replicaCount, e.steps, { carry: 'both' });
        for (const s of ex.samples) same(kind, kind.decode(kind.encode(s)), s, 'round trip');
      }),
      { numRuns: RUNS },
    );
  });
}

/** Merges every delta of the execution into `start`, in a random order, a random third of them twice. */
function deliverAllDeltas<T>(kind: Kind<T>, ex: Execution<T>, start: T, rng: SeededRng): T {
  const msgs = [...ex.deltas, ...ex.deltas.filter(() => rng.chance(1 / 3))];
  for (let i = msgs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [msgs[i], msgs[j]] = [msgs[j]!, msgs[i]!];
  }
  return msgs.reduce((acc, m) => kind.merge(acc, m), start);
}

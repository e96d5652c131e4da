// Goal: each consistency check accepts what a correct store can produce and rejects each anomaly
// kind it names — hand-written histories for every kind (session guarantees after Terry et al.
// 1994; sequential consistency after Lamport 1979; Jepsen's set checker for lost writes), plus a
// property: histories from a real sequential object under random concurrency and crashes are
// valid under every check.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CONSISTENCY_CHECKS,
  checkConvergence,
  checkLostWrites,
  checkMonotonicReads,
  checkReadYourWrites,
  checkSequential,
} from './index.ts';
import { canonicalKey, pairOps } from './ops.ts';
import { hist, simulate } from './testing.ts';

const kinds = (r: { anomalies: ReadonlyArray<{ kind: string }> }) => r.anomalies.map((a) => a.kind);

describe('pairing and values', () => {
  it('pairs completions with the latest open invoke and leaves crashed invokes indeterminate', () => {
    const { ops, unpairedCompletions } = pairOps(
      hist([1, 'invoke', 'write', 1], [2, 'invoke', 'read', null], [1, 'ok', 'write', 1], [3, 'ok', 'read', 5]),
    );
    assert.equal(unpairedCompletions, 1);
    assert.deepEqual(
      ops.map((o) => [o.process, o.status, o.call]),
      [
        [1, 'ok', 0],
        [2, 'info', 1],
      ],
    );
  });
  it('splits [k v] tuples when asked', () => {
    const { ops } = pairOps(hist([1, 'invoke', 'write', ['x', 3]], [1, 'ok', 'write', ['x', 3]]), { tupleKeys: true });
    assert.equal(ops[0]?.key, '"x"');
    assert.equal(ops[0]?.input, 3);
  });
  it('canonical keys ignore object key order and bound depth', () => {
    assert.equal(canonicalKey({ a: 1, b: [2, 'x'] }), canonicalKey({ b: [2, 'x'], a: 1 }));
    assert.notEqual(canonicalKey([1, 2]), canonicalKey([2, 1]));
    let deep: unknown = 0;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    assert.ok(canonicalKey(deep).length < 1000);
  });
});

describe('read-your-writes', () => {
  it('accepts a read of the own write or of a concurrent/later one', () => {
    const h = hist(
      [1, 'invoke', 'write', 1],
      [1, 'ok', 'write', 1],
      [2, 'invoke', 'write', 2], // concurrent with p1's read: may or may not be seen
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 2],
      [2, 'ok', 'write', 2],
    );
    assert.equal(checkReadYourWrites(h).verdict, 'valid');
  });
  it('rejects a read of a value written before the own write', () => {
    const h = hist(
      [2, 'invoke', 'write', 1],
      [2, 'ok', 'write', 1],
      [1, 'invoke', 'write', 2],
      [1, 'ok', 'write', 2],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
    );
    const r = checkReadYourWrites(h);
    assert.equal(r.verdict, 'invalid');
    assert.deepEqual(kinds(r), ['read-your-writes']);
    assert.equal(r.anomalies[0]?.op.index, 5);
    assert.match(r.anomalies[0]!.detail, /own acknowledged write/);
  });
  it('rejects a read of the initial value after the own write', () => {
    const h = hist(
      [1, 'invoke', 'write', 7],
      [1, 'ok', 'write', 7],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', null],
    );
    assert.deepEqual(kinds(checkReadYourWrites(h)), ['read-your-writes']);
    assert.equal(checkReadYourWrites(h, { nilReadIsUnknown: true }).verdict, 'valid');
  });
  it('is per key, and ignores other processes', () => {
    const h = hist(
      [1, 'invoke', 'write', 1, 'x'],
      [1, 'ok', 'write', 1, 'x'],
      [1, 'invoke', 'read', null, 'y'],
      [1, 'ok', 'read', null, 'y'],
      [2, 'invoke', 'read', null, 'x'],
      [2, 'ok', 'read', null, 'x'],
    );
    assert.equal(checkReadYourWrites(h).verdict, 'valid');
  });
  it('uses versions when values carry them', () => {
    const v = (version: number) => ({ value: `v${version}`, version });
    const versionOf = (x: unknown) => (x as { version?: number } | null)?.version;
    // p2's write of version 5 completes after p1's write of 3 began, so real time cannot order
    // them — but versions can.
    const h = hist(
      [2, 'invoke', 'write', v(5)],
      [1, 'invoke', 'write', v(3)],
      [2, 'ok', 'write', v(5)],
      [1, 'ok', 'write', v(3)],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', v(2)],
      [3, 'invoke', 'write', v(2)],
      [3, 'info', 'write', v(2)],
    );
    assert.equal(checkReadYourWrites(h).verdict, 'valid');
    assert.deepEqual(kinds(checkReadYourWrites(h, { versionOf })), ['read-your-writes']);
  });
});

describe('monotonic reads', () => {
  const writes = [
    [9, 'invoke', 'write', 1],
    [9, 'ok', 'write', 1],
    [9, 'invoke', 'write', 2],
    [9, 'ok', 'write', 2],
  ] as const;
  it('accepts reads that only move forward', () => {
    const h = hist(
      ...writes,
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 2],
    );
    assert.equal(checkMonotonicReads(h).verdict, 'valid');
  });
  it('rejects a read that goes back to an older value', () => {
    const h = hist(
      ...writes,
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 2],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
    );
    const r = checkMonotonicReads(h);
    assert.deepEqual(kinds(r), ['monotonic-reads']);
    assert.equal(r.anomalies[0]?.op.index, 7);
    assert.equal(r.anomalies[0]?.related?.[0]?.index, 5);
  });
  it('does not flag values of concurrent writes in either order', () => {
    const h = hist(
      [8, 'invoke', 'write', 1],
      [9, 'invoke', 'write', 2],
      [8, 'ok', 'write', 1],
      [9, 'ok', 'write', 2],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 2],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
    );
    assert.equal(checkMonotonicReads(h).verdict, 'valid');
    // ...but sequential consistency sees nothing wrong either: 2 then 1 is one legal order.
    assert.equal(checkSequential(h).verdict, 'valid');
  });
  it('reports the read of a value older than any earlier read, not just the last one', () => {
    const h = hist(
      ...writes,
      [9, 'invoke', 'write', 3],
      [9, 'ok', 'write', 3],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 3],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 2],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
    );
    assert.deepEqual(kinds(checkMonotonicReads(h)), ['monotonic-reads', 'monotonic-reads']);
  });
});

describe('convergence', () => {
  const finalRead = (replica: string, value: unknown, key?: string) =>
    key === undefined
      ? ([
          [replica, 'invoke', 'final-read', null],
          [replica, 'ok', 'final-read', value],
        ] as const)
      : ([
          [replica, 'invoke', 'final-read', null, key],
          [replica, 'ok', 'final-read', value, key],
        ] as const);
  it('accepts replicas that agree (sets compared ignoring order)', () => {
    const h = hist(...finalRead('n1', [1, 2, 3]), ...finalRead('n2', [3, 1, 2]), ...finalRead('n3', [1, 2, 3]));
    const r = checkConvergence(h);
    assert.equal(r.verdict, 'valid');
    assert.equal(r.stats.replicas, 3);
  });
  it('names the replicas that differ from the majority', () => {
    const h = hist(
      ...finalRead('n1', [1, 2, 3]),
      ...finalRead('n2', [1, 2]),
      ...finalRead('n3', [1, 2, 3]),
      ...finalRead('n4', [1, 2, 4]),
    );
    const r = checkConvergence(h);
    assert.equal(r.verdict, 'invalid');
    assert.deepEqual(kinds(r), ['divergent-replica', 'divergent-replica']);
    const details = r.anomalies.map((a) => a.detail).join('\n');
    assert.match(details, /replica n2 read \[1 2\]/);
    assert.match(details, /replica n4 read \[1 2 4\]/);
    assert.match(details, /2 of 4 replicas \(n1, n3\)/);
  });
  it('is unknown without final reads, or when an expected replica is missing', () => {
    assert.equal(checkConvergence(hist([1, 'invoke', 'read', null], [1, 'ok', 'read', 1])).verdict, 'unknown');
    const r = checkConvergence(hist(...finalRead('n1', 1), ...finalRead('n2', 1)), {
      expectedReplicas: ['n1', 'n2', 'n3'],
    });
    assert.equal(r.verdict, 'unknown');
    assert.match(r.reason!, /n3/);
  });
  it('checks each key separately', () => {
    const h = hist(
      ...finalRead('n1', 1, 'x'),
      ...finalRead('n2', 1, 'x'),
      ...finalRead('n1', 5, 'y'),
      ...finalRead('n2', 6, 'y'),
    );
    const r = checkConvergence(h);
    assert.equal(r.anomalies.length, 1);
    assert.match(r.anomalies[0]!.detail, /for key y/);
  });
});

describe('lost writes', () => {
  it('distinguishes lost acknowledged adds from never-acknowledged ones', () => {
    const h = hist(
      [1, 'invoke', 'add', 1],
      [1, 'ok', 'add', 1],
      [2, 'invoke', 'add', 2],
      [2, 'ok', 'add', 2],
      [3, 'invoke', 'add', 3],
      [3, 'info', 'add', 3],
      [4, 'invoke', 'add', 4],
      [4, 'info', 'add', 4],
      [5, 'invoke', 'add', 5],
      [5, 'fail', 'add', 5],
      [9, 'invoke', 'read', null],
      [9, 'ok', 'read', [1, 4]],
    );
    const r = checkLostWrites(h);
    assert.deepEqual(kinds(r), ['lost-write']);
    assert.equal(r.anomalies[0]?.op.index, 3);
    assert.equal(r.stats.recovered, 1);
    assert.equal(r.stats.indeterminateAbsent, 1);
    assert.equal(r.stats.failedAbsent, 1);
    assert.equal(r.stats.finalReadsFallback, 1);
  });
  it('does not call an add lost when it was acknowledged after the final read began', () => {
    const h = hist(
      [1, 'invoke', 'add', 1],
      [9, 'invoke', 'final-read', null],
      [1, 'ok', 'add', 1],
      [9, 'ok', 'final-read', []],
    );
    const r = checkLostWrites(h);
    assert.equal(r.verdict, 'valid');
    assert.equal(r.stats.concurrentAbsent, 1);
  });
  it('flags failed adds that appear, elements nobody added, and duplicates', () => {
    const h = hist(
      [1, 'invoke', 'add', 1],
      [1, 'fail', 'add', 1],
      [2, 'invoke', 'add', 2],
      [2, 'ok', 'add', 2],
      [9, 'invoke', 'final-read', null],
      [9, 'ok', 'final-read', [1, 2, 2, 7]],
    );
    assert.deepEqual(kinds(checkLostWrites(h)).sort(), ['duplicate-value', 'failed-write-visible', 'unexpected-value']);
  });
  it('flags a register whose final value is older than an acknowledged write', () => {
    const h = hist(
      [1, 'invoke', 'write', 1],
      [1, 'ok', 'write', 1],
      [2, 'invoke', 'write', 2],
      [2, 'ok', 'write', 2],
      [9, 'invoke', 'final-read', null],
      [9, 'ok', 'final-read', 1],
    );
    const r = checkLostWrites(h);
    assert.deepEqual(kinds(r), ['lost-write']);
    assert.equal(r.anomalies[0]?.op.index, 3);
    // Overwritten values are not lost: the final 2 explains the earlier 1.
    const ok = hist(
      [1, 'invoke', 'write', 1],
      [1, 'ok', 'write', 1],
      [2, 'invoke', 'write', 2],
      [2, 'ok', 'write', 2],
      [9, 'invoke', 'final-read', null],
      [9, 'ok', 'final-read', 2],
    );
    assert.equal(checkLostWrites(ok).verdict, 'valid');
  });
  it('checks each replica final read', () => {
    const h = hist(
      [1, 'invoke', 'add', 1],
      [1, 'ok', 'add', 1],
      ['n1', 'invoke', 'final-read', null],
      ['n1', 'ok', 'final-read', [1]],
      ['n2', 'invoke', 'final-read', null],
      ['n2', 'ok', 'final-read', []],
    );
    const r = checkLostWrites(h);
    assert.equal(r.anomalies.length, 1);
    assert.match(r.anomalies[0]!.detail, /pn2 final-read/);
  });
  it('is unknown with no read at all', () => {
    assert.equal(checkLostWrites(hist([1, 'invoke', 'add', 1], [1, 'ok', 'add', 1])).verdict, 'unknown');
  });
});

describe('sequential consistency per key', () => {
  it('accepts stale but ordered views that linearizability would reject', () => {
    // p2 reads 1 after the write of 2 completed: not linearizable, but sequentially consistent.
    const h = hist(
      [1, 'invoke', 'write', 1],
      [1, 'ok', 'write', 1],
      [1, 'invoke', 'write', 2],
      [1, 'ok', 'write', 2],
      [2, 'invoke', 'read', null],
      [2, 'ok', 'read', 1],
      [2, 'invoke', 'read', null],
      [2, 'ok', 'read', 2],
    );
    assert.equal(checkSequential(h).verdict, 'valid');
  });
  it('rejects two processes that observe two writes in opposite orders (IRIW)', () => {
    const h = hist(
      [1, 'invoke', 'write', 1],
      [2, 'invoke', 'write', 2],
      [1, 'ok', 'write', 1],
      [2, 'ok', 'write', 2],
      [3, 'invoke', 'read', null],
      [3, 'ok', 'read', 1],
      [3, 'invoke', 'read', null],
      [3, 'ok', 'read', 2],
      [4, 'invoke', 'read', null],
      [4, 'ok', 'read', 2],
      [4, 'invoke', 'read', null],
      [4, 'ok', 'read', 1],
    );
    const r = checkSequential(h);
    assert.deepEqual(kinds(r), ['sequential-cycle']);
    assert.match(r.anomalies[0]!.detail, /incompatible orders: (1 → 2 → 1|2 → 1 → 2)/);
    assert.equal(r.anomalies[0]!.related?.length, 2);
  });
  it('rejects a process that overwrites and then reads a value from before its own write', () => {
    const h = hist(
      [2, 'invoke', 'write', 1],
      [2, 'ok', 'write', 1],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
      [1, 'invoke', 'write', 2],
      [1, 'ok', 'write', 2],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
    );
    assert.deepEqual(kinds(checkSequential(h)), ['sequential-cycle']);
  });
  it('rejects the initial value after a write was observed', () => {
    const h = hist(
      [1, 'invoke', 'write', 1],
      [1, 'ok', 'write', 1],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', null],
    );
    assert.deepEqual(kinds(checkSequential(h)), ['sequential-cycle']);
  });
  it('rejects reads of never-written and of failed values', () => {
    const h = hist(
      [1, 'invoke', 'write', 1],
      [1, 'fail', 'write', 1],
      [2, 'invoke', 'read', null],
      [2, 'ok', 'read', 1],
      [3, 'invoke', 'read', null],
      [3, 'ok', 'read', 42],
    );
    assert.deepEqual(kinds(checkSequential(h)), ['failed-write-visible', 'read-of-unwritten-value']);
  });
  it('uses cas as read-then-write and ignores values written twice', () => {
    const cycle = hist(
      [1, 'invoke', 'write', 1],
      [1, 'ok', 'write', 1],
      [2, 'invoke', 'cas', [1, 2]],
      [2, 'ok', 'cas', [1, 2]],
      [3, 'invoke', 'read', null],
      [3, 'ok', 'read', 2],
      [3, 'invoke', 'read', null],
      [3, 'ok', 'read', 1],
    );
    assert.deepEqual(kinds(checkSequential(cycle)), ['sequential-cycle']);
    const twice = hist(
      [1, 'invoke', 'write', 1],
      [1, 'ok', 'write', 1],
      [1, 'invoke', 'write', 2],
      [1, 'ok', 'write', 2],
      [1, 'invoke', 'write', 1],
      [1, 'ok', 'write', 1],
      [3, 'invoke', 'read', null],
      [3, 'ok', 'read', 2],
      [3, 'invoke', 'read', null],
      [3, 'ok', 'read', 1],
    );
    const r = checkSequential(twice);
    assert.equal(r.verdict, 'valid');
    assert.equal(r.stats.ambiguousValues, 1);
  });
  it('finds a long cycle without recursion', () => {
    // p0 writes 1..n in order; p1 then sees n and later 1.
    const n = 20_000;
    const rows: Array<[number, 'invoke' | 'ok', string, unknown]> = [];
    for (let v = 1; v <= n; v++) rows.push([0, 'invoke', 'write', v], [0, 'ok', 'write', v]);
    rows.push([1, 'invoke', 'read', null], [1, 'ok', 'read', n], [1, 'invoke', 'read', null], [1, 'ok', 'read', 1]);
    const r = checkSequential(hist(...rows));
    assert.deepEqual(kinds(r), ['sequential-cycle']);
  });
});

describe('property: histories of a real sequential object pass every check', () => {
  const options = (object: 'register' | 'set') =>
    fc.record({
      object: fc.constant(object),
      processes: fc.integer({ min: 1, max: 6 }),
      keys: fc.integer({ min: 1, max: 3 }),
      finalReplicas: fc.integer({ min: 1, max: 3 }),
      tape: fc.array(fc.nat({ max: 10_000 }), { maxLength: 200 }),
    });
  for (const object of ['register', 'set'] as const) {
    it(`${object}`, () => {
      fc.assert(
        fc.property(options(object), (sim) => {
          const history = simulate(sim);
          for (const [name, { check }] of Object.entries(CONSISTENCY_CHECKS)) {
            // Sequential consistency is a register check: a set's reads are not written values.
            if (object === 'set' && name === 'sequential') continue;
            const result = check(history);
            assert.notEqual(result.verdict, 'invalid', `${name}: ${result.anomalies.map((a) => a.detail).join('\n')}`);
          }
        }),
        { numRuns: 300 },
      );
    });
  }
  it('a random op removed from a final set read is reported lost (when acknowledged)', () => {
    fc.assert(
      fc.property(options('set'), fc.nat(), (sim, pick) => {
        const history = simulate({ ...sim, finalReplicas: 1 });
        const acked = history.filter((op) => op.type === 'ok' && op.f === 'add');
        if (acked.length === 0) return;
        const victim = acked[pick % acked.length]!;
        const mutated = history.map((op) =>
          op.f === 'final-read' && op.type === 'ok' && op.key === victim.key
            ? { ...op, value: (op.value as unknown[]).filter((e) => e !== victim.value) }
            : op,
        );
        const r = checkLostWrites(mutated);
        assert.equal(r.verdict, 'invalid');
        assert.ok(r.anomalies.some((a) => a.kind === 'lost-write' && a.op.index === victim.index));
      }),
      { numRuns: 200 },
    );
  });
});

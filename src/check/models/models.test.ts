// Goal: each model and bounds checker accepts the behaviour of its sequential object and rejects
// the anomalies it names: kv (per-key partitioning, append, txn across keys), set, queue,
// g/pn counters (read bounds), the kafka-style log (lost write, duplicate / non-monotonic /
// skipped offsets) and unique ids.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { History, Op, OpType } from '../history.ts';
import { checkLinearizable } from '../linearizability.ts';
import { queueModel, setModel } from './collections.ts';
import { checkCounter } from './counter.ts';
import { checkLog, checkUniqueIds } from './kafka.ts';
import { kvModel } from './kv.ts';
import { casIncrRegisterModel } from './register.ts';

type Row = readonly [process: number, type: OpType, f: string, value: unknown, key?: string | undefined];
function h(rows: readonly Row[]): History {
  return rows.map(
    ([process, type, f, value, key], index): Op =>
      key === undefined ? { process, type, f, value, index } : { process, type, f, value, index, key },
  );
}

test('cas-incr register: INCR answers must follow the register; an unknown INCR adds one', () => {
  const model = casIncrRegisterModel({ initial: null });
  const ok = h([
    [0, 'invoke', 'write', '5'],
    [0, 'ok', 'write', '5'],
    [1, 'invoke', 'incr', null],
    [2, 'invoke', 'incr', null],
    [1, 'ok', 'incr', 7],
    [2, 'info', 'incr', null], // applied before p1's: p1 saw 7
    [3, 'invoke', 'read', null],
    [3, 'ok', 'read', '7'],
    [4, 'invoke', 'cas', ['7', '1']],
    [4, 'ok', 'cas', ['7', '1']],
    [5, 'invoke', 'incr', null],
    [5, 'ok', 'incr', 2],
  ]);
  assert.equal(checkLinearizable(ok, model).verdict, 'valid');
  // Two INCRs that both answered 6 from 5: one update lost.
  const lost = h([
    [0, 'invoke', 'write', '5'],
    [0, 'ok', 'write', '5'],
    [1, 'invoke', 'incr', null],
    [2, 'invoke', 'incr', null],
    [1, 'ok', 'incr', 6],
    [2, 'ok', 'incr', 6],
  ]);
  assert.equal(checkLinearizable(lost, model).verdict, 'invalid');
  // An INCR of an absent register answers 1; of a non-integer it cannot answer at all.
  assert.equal(
    checkLinearizable(
      h([
        [0, 'invoke', 'incr', null],
        [0, 'ok', 'incr', 1],
      ]),
      model,
    ).verdict,
    'valid',
  );
  const word = h([
    [0, 'invoke', 'write', 'x'],
    [0, 'ok', 'write', 'x'],
    [1, 'invoke', 'incr', null],
    [1, 'ok', 'incr', 1],
  ]);
  assert.equal(checkLinearizable(word, model).verdict, 'invalid');
  // Redis parses no leading zeros and nothing past int64: an INCR of "007" or of INT64_MAX cannot answer.
  for (const held of ['007', '-0', '9223372036854775807']) {
    const bad = h([
      [0, 'invoke', 'write', held],
      [0, 'ok', 'write', held],
      [1, 'invoke', 'incr', null],
      [1, 'ok', 'incr', String(BigInt(held) + 1n)],
    ]);
    assert.equal(checkLinearizable(bad, model).verdict, 'invalid', held);
  }
  const big = h([
    [0, 'invoke', 'write', '9223372036854775806'],
    [0, 'ok', 'write', '9223372036854775806'],
    [1, 'invoke', 'incr', null],
    [1, 'ok', 'incr', '9223372036854775807'],
  ]);
  assert.equal(checkLinearizable(big, model).verdict, 'valid', 'answers past 2^53 compare as text');
});

test('kv: per-key check with append, and a txn spanning keys checked whole', () => {
  const ok = h([
    [0, 'invoke', 'append', 'a', 'x'],
    [1, 'invoke', 'append', 'b', 'x'],
    [0, 'ok', 'append', 'a', 'x'],
    [1, 'ok', 'append', 'b', 'x'],
    [2, 'invoke', 'get', null, 'x'],
    [2, 'ok', 'get', 'ba', 'x'],
    [3, 'invoke', 'put', '1', 'y'],
    [3, 'ok', 'put', '1', 'y'],
  ]);
  const r = checkLinearizable(ok, kvModel({ initial: '' }));
  assert.equal(r.verdict, 'valid');
  assert.equal(r.stats.partitions, 2);
  const bad = h([
    ...ok.map((o): Row => [o.process as number, o.type, o.f, o.value, o.key]).slice(0, 5),
    [2, 'ok', 'get', 'ab ', 'x'],
  ]);
  const rb = checkLinearizable(bad, kvModel({ initial: '' }));
  assert.equal(rb.verdict, 'invalid');
  assert.equal(rb.failingKey, 'x');
  const txn = h([
    [
      0,
      'invoke',
      'txn',
      [
        ['write', 'x', 1],
        ['write', 'y', 1],
      ],
    ],
    [
      0,
      'ok',
      'txn',
      [
        ['write', 'x', 1],
        ['write', 'y', 1],
      ],
    ],
    [
      1,
      'invoke',
      'txn',
      [
        ['read', 'x', null],
        ['read', 'y', null],
      ],
    ],
    [
      1,
      'ok',
      'txn',
      [
        ['read', 'x', 1],
        ['read', 'y', 0],
      ],
    ],
  ]);
  const rt = checkLinearizable(txn, kvModel({ initial: 0 }));
  assert.equal(rt.verdict, 'invalid');
  assert.equal(rt.stats.partitions, 1);
});

test('kv: [k v] tuples (Jepsen independent keys) partition by k', () => {
  const tuples = h([
    [0, 'invoke', 'write', [1, 5]],
    [0, 'ok', 'write', [1, 5]],
    [1, 'invoke', 'read', [2, null]],
    [1, 'ok', 'read', [2, 0]],
    [1, 'invoke', 'read', [1, null]],
    [1, 'ok', 'read', [1, 5]],
  ]);
  const r = checkLinearizable(tuples, kvModel({ initial: 0 }));
  assert.equal(r.verdict, 'valid');
  assert.deepEqual([...(r.perKey?.keys() ?? [])].sort(), ['1', '2']);
});

test('set and queue', () => {
  const set = h([
    [0, 'invoke', 'add', 1],
    [1, 'invoke', 'add', 2],
    [0, 'ok', 'add', 1],
    [2, 'invoke', 'read', null],
    [2, 'ok', 'read', [1]],
    [1, 'ok', 'add', 2],
    [2, 'invoke', 'read', null],
    [2, 'ok', 'read', [2, 1]],
  ]);
  assert.equal(checkLinearizable(set, setModel()).verdict, 'valid');
  const lostAdd = h([
    ...set.slice(0, 7).map((o): Row => [o.process as number, o.type, o.f, o.value]),
    [2, 'ok', 'read', [2]],
  ]);
  assert.equal(checkLinearizable(lostAdd, setModel()).verdict, 'invalid');
  // Members compare structurally: key order inside a member does not matter (found in review).
  const objects = h([
    [0, 'invoke', 'add', { a: 1, b: 2 }],
    [0, 'ok', 'add', { a: 1, b: 2 }],
    [0, 'invoke', 'read', null],
    [0, 'ok', 'read', [{ b: 2, a: 1 }]],
  ]);
  assert.equal(checkLinearizable(objects, setModel()).verdict, 'valid');
  const queue = h([
    [0, 'invoke', 'enqueue', 'a'],
    [0, 'ok', 'enqueue', 'a'],
    [0, 'invoke', 'enqueue', 'b'],
    [1, 'invoke', 'dequeue', null],
    [0, 'ok', 'enqueue', 'b'],
    [1, 'ok', 'dequeue', 'a'],
    [1, 'invoke', 'dequeue', null],
    [1, 'ok', 'dequeue', 'b'],
  ]);
  assert.equal(checkLinearizable(queue, queueModel()).verdict, 'valid');
  const reordered = h(
    queue.map((o): Row => [o.process as number, o.type, o.f, o.index === 5 ? 'b' : o.index === 7 ? 'a' : o.value]),
  );
  assert.equal(checkLinearizable(reordered, queueModel()).verdict, 'invalid');
});

test('counters: final reads within [known, possible] increments', () => {
  const base: Row[] = [
    [0, 'invoke', 'add', 2],
    [0, 'ok', 'add', 2],
    [1, 'invoke', 'add', 3],
    [1, 'info', 'add', null],
    [2, 'invoke', 'read', null],
  ];
  assert.equal(checkCounter(h([...base, [2, 'ok', 'read', 2]]), { kind: 'g' }).verdict, 'valid');
  assert.equal(checkCounter(h([...base, [2, 'ok', 'read', 5]]), { kind: 'g' }).verdict, 'valid');
  const low = checkCounter(h([...base, [2, 'ok', 'read', 1]]), { kind: 'g' });
  assert.equal(low.verdict, 'invalid');
  assert.equal(low.anomalies?.[0]?.kind, 'out-of-bounds');
  assert.equal(checkCounter(h([...base, [2, 'ok', 'read', 6]]), { kind: 'g' }).verdict, 'invalid');
  const pn: Row[] = [[3, 'invoke', 'add', -4], [3, 'info', 'add', null], ...base, [2, 'ok', 'read', -2]];
  assert.equal(checkCounter(h(pn), { kind: 'pn' }).verdict, 'valid');
  assert.equal(checkCounter(h(pn), { kind: 'g' }).anomalies?.[0]?.kind, 'negative-increment');
});

test('log: lost write, duplicate, non-monotonic and skipped offsets', () => {
  const clean: Row[] = [
    [0, 'invoke', 'send', ['k', 'a']],
    [0, 'ok', 'send', ['k', 0]],
    [0, 'invoke', 'send', ['k', 'b']],
    [0, 'ok', 'send', ['k', 1]],
    [1, 'invoke', 'poll', null],
    [
      1,
      'ok',
      'poll',
      {
        k: [
          [0, 'a'],
          [1, 'b'],
        ],
      },
    ],
  ];
  assert.equal(checkLog(h(clean)).verdict, 'valid');
  const kinds = (rows: Row[]) => (checkLog(h(rows)).anomalies ?? []).map((a) => a.kind).sort();
  const sendC: Row[] = [
    [0, 'invoke', 'send', ['k', 'c']],
    [0, 'ok', 'send', ['k', 2]],
  ];
  assert.deepEqual(kinds([...clean, ...sendC, [1, 'invoke', 'poll', null], [1, 'ok', 'poll', { k: [[3, 'd']] }]]), [
    'lost-write',
    'skipped-offset',
  ]);
  assert.deepEqual(kinds([...clean, [2, 'invoke', 'send', ['k', 'z']], [2, 'ok', 'send', ['k', 1]]]), [
    'duplicate-offset',
  ]);
  assert.deepEqual(kinds([...clean, [1, 'invoke', 'poll', null], [1, 'ok', 'poll', { k: [[1, 'b']] }]]), [
    'nonmonotonic-poll',
  ]);
  assert.deepEqual(kinds([...clean, [1, 'invoke', 'poll', null], [1, 'ok', 'poll', [['k', [[2, 'a']]]]]]), [
    'duplicate-message',
  ]);
});

test('unique ids', () => {
  const rows: Row[] = [
    [0, 'invoke', 'generate', null],
    [0, 'ok', 'generate', 'n1-1'],
    [1, 'invoke', 'generate', null],
    [1, 'ok', 'generate', 'n2-1'],
  ];
  assert.equal(checkUniqueIds(h(rows)).verdict, 'valid');
  const dup = checkUniqueIds(h([...rows, [0, 'invoke', 'generate', null], [0, 'ok', 'generate', 'n1-1']]));
  assert.equal(dup.verdict, 'invalid');
  assert.equal(dup.anomalies?.[0]?.kind, 'duplicate-id');
});

// Goal: the hash-consed string register (string-states.ts) is exact and cheap. Exact: equal
// strings reached by different appends or by a write share one state id (the memo relies on
// it), a read fits only its exact string even when length and hash agree, and on random small
// KV histories full of ambiguous appends ("a"+"b" = "ab", "") the search on it agrees with the
// kv model's own step (the generic path) and with a brute-force search over all orders. Cheap:
// appending builds no string (the cost it removes: ~1 µs a step on Porcupine's KV c50 files).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkOperations } from './linearizability.ts';
import { kvModel } from './models/kv.ts';
import { StringRegisterStates } from './string-states.ts';
import { stateSpace } from './transitions.ts';
import type { Model, Operation, StringRegisterOp } from './types.ts';
import { RETURN_NEVER } from './types.ts';

const FAILS = -1;

test('equal strings reached by different appends or a write share one state id', () => {
  const ops: StringRegisterOp[] = [
    { kind: 'append', value: 'a' },
    { kind: 'append', value: 'bc' },
    { kind: 'append', value: 'ab' },
    { kind: 'append', value: 'c' },
    { kind: 'write', value: 'abc' },
    { kind: 'append', value: '' },
  ];
  const states = new StringRegisterStates('', ops);
  const s0 = states.initial();
  const viaA = states.step(states.step(s0, 0), 1); // "a" + "bc"
  const viaAb = states.step(states.step(s0, 2), 3); // "ab" + "c"
  const written = states.step(viaA, 4);
  assert.equal(viaAb, viaA);
  assert.equal(written, viaA);
  assert.equal(states.step(viaA, 5), viaA, 'appending "" changes nothing');
  assert.equal(states.textOf(viaA), 'abc');
  assert.equal(states.count, 4, '"", "a", "ab", "abc"');
});

test('appending builds no string; a read confirms its exact string only', () => {
  const pieces = Array.from({ length: 2000 }, (_, i) => `x ${i} y`);
  const whole = pieces.join('');
  // Same length and a different last character: only the text compare can tell.
  const near = `${whole.slice(0, -1)}z`;
  const ops: StringRegisterOp[] = [
    ...pieces.map((value) => ({ kind: 'append' as const, value })),
    { kind: 'read', value: whole },
    { kind: 'read', value: near },
    { kind: 'read', value: '' },
  ];
  const states = new StringRegisterStates('', ops);
  let s = states.initial();
  for (let i = 0; i < pieces.length; i++) s = states.step(s, i);
  assert.equal(states.textsBuilt, 0, 'no string built while appending');
  assert.equal(states.count, pieces.length + 1);
  assert.equal(states.step(s, pieces.length), s);
  assert.equal(states.textsBuilt, 1, 'one string built to confirm the read');
  assert.equal(states.step(s, pieces.length + 1), FAILS);
  assert.equal(states.step(s, pieces.length + 2), FAILS, 'a read of a shorter string fails on length');
  assert.equal(states.step(states.initial(), pieces.length + 2), states.initial());
});

test('the kv model runs single-key string partitions on hash-consed states, other ops on its step', () => {
  const kv = kvModel({ initial: '' });
  const op = (f: string, input: unknown, output: unknown, key = 'k'): Operation => ({
    id: 0,
    process: 0,
    f,
    key,
    input,
    output,
    status: 'ok',
    call: 0,
    ret: 1,
    invoke: { type: 'invoke', process: 0, f, value: input, index: 0 },
  });
  assert.ok(stateSpace(kv, [op('append', 'a', 'a'), op('get', null, 'a')]) instanceof StringRegisterStates);
  assert.ok(!(stateSpace(kv, [op('append', 'a', 'a'), op('get', null, 'a', 'j')]) instanceof StringRegisterStates));
  assert.ok(!(stateSpace(kv, [op('cas', ['', 'a'], true)]) instanceof StringRegisterStates));
  assert.ok(!(stateSpace(kvModel({ initial: 0 }), [op('put', 1, 1)]) instanceof StringRegisterStates));
});

// ---- agreement on small histories ---------------------------------------------------------------

/** Linearizable iff some order of the ok ops (plus any subset of info ops) respects real time. */
function bruteForce<S>(ops: readonly Operation[], model: Model<S>): boolean {
  const done = new Array<boolean>(ops.length).fill(false);
  const dfs = (state: S, remainingOk: number): boolean => {
    if (remainingOk === 0) return true;
    for (const op of ops) {
      if (done[op.id]) continue;
      if (ops.some((o) => !done[o.id] && o.status === 'ok' && o.ret < op.call)) continue;
      const r = model.step(state, op);
      if (!r.ok) continue;
      done[op.id] = true;
      const found = dfs(r.state, remainingOk - (op.status === 'ok' ? 1 : 0));
      done[op.id] = false;
      if (found) return true;
    }
    return false;
  };
  return dfs(model.init(), ops.filter((o) => o.status === 'ok').length);
}

// Values chosen so that different append orders and a write can make the same string.
const VALUES = ['', 'a', 'b', 'ab', 'ba'];
const stringOp = fc.record({
  f: fc.constantFrom('get', 'append', 'append', 'put'),
  v: fc.integer({ min: 0, max: VALUES.length - 1 }),
  read: fc.constantFrom('', 'a', 'b', 'ab', 'ba', 'aab', 'abab', 'bab'),
  info: fc.boolean(),
});
const stringHistory = fc
  .integer({ min: 1, max: 8 })
  .chain((n) =>
    fc.tuple(
      fc.array(stringOp, { minLength: n, maxLength: n }),
      fc.shuffledSubarray([...Array(2 * n).keys()], { minLength: 2 * n }),
    ),
  );

function toOperations(
  specs: ReadonlyArray<{ f: string; v: number; read: string; info: boolean }>,
  times: readonly number[],
): Operation[] {
  const intervals = specs.map((_, i) => {
    const x = times[2 * i] as number;
    const y = times[2 * i + 1] as number;
    return [Math.min(x, y), Math.max(x, y)] as const;
  });
  const order = specs.map((_, i) => i).sort((i, j) => (intervals[i]?.[0] as number) - (intervals[j]?.[0] as number));
  return order.map((i, id) => {
    const s = specs[i] as (typeof specs)[number];
    const [call, ret] = intervals[i] as readonly [number, number];
    const info = s.info && s.f !== 'get';
    const input = s.f === 'get' ? null : VALUES[s.v];
    const output = info ? undefined : s.f === 'get' ? s.read : input;
    return {
      id,
      process: id,
      f: s.f,
      key: 'k',
      input,
      output,
      status: info ? ('info' as const) : ('ok' as const),
      call,
      ret: info ? RETURN_NEVER : ret,
      invoke: { type: 'invoke' as const, process: id, f: s.f, value: input, index: call },
    };
  });
}

test('string register states agree with the kv model step and with brute force on small histories', () => {
  const kv = kvModel({ initial: '' });
  const generic: Model<unknown> = { ...(kv as Model<unknown>), stringRegister: () => undefined };
  let valid = 0;
  let invalid = 0;
  fc.assert(
    fc.property(stringHistory, ([specs, times]) => {
      const ops = toOperations(specs, times);
      const expected = bruteForce(ops, kv) ? 'valid' : 'invalid';
      assert.equal(checkOperations(ops, kv).verdict, expected);
      assert.equal(checkOperations(ops, generic).verdict, expected);
      if (expected === 'valid') valid++;
      else invalid++;
    }),
    { numRuns: 3000, seed: 20261202 },
  );
  assert.ok(valid > 300 && invalid > 300, `both verdicts exercised (valid ${valid}, invalid ${invalid})`);
});

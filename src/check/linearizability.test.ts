// Goal: the WGL search (linearizability.ts) is right. (1) Histories produced by a real sequential
// register under random concurrency and crashes are always linearizable; (2) mutations no order
// can explain (a read of a never-written value; a stale read after a completed overwrite) are
// always invalid, and the failure names the op; (3) on every small history (≤ 8 ops) WGL agrees
// with a brute-force search over all orders written here (Herlihy & Wing's definition, §3), also
// on histories of up to 10 ops full of twins and read-only ops (where wgl.ts prunes); (4) budgets end a search with `unknown`, never a hang.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { generateRegisterHistory, withValue } from './generate.ts';
import type { History } from './history.ts';
import { checkLinearizable, checkOperations } from './linearizability.ts';
import { kvModel } from './models/kv.ts';
import { casRegisterModel } from './models/register.ts';
import { prepareOperations } from './prepare.ts';
import type { Model, Operation } from './types.ts';
import { RETURN_NEVER } from './types.ts';

const register = casRegisterModel({ initial: 0 });

test('generated histories of a real register are linearizable (with crashes)', () => {
  fc.assert(
    fc.property(
      fc.integer(),
      fc.integer({ min: 1, max: 8 }),
      fc.constantFrom(0, 0.1, 0.3),
      (seed, processCount, infoRate) => {
        const h = generateRegisterHistory({ seed, opCount: 60, processCount, keyCount: 1, infoRate });
        const r = checkLinearizable(h, register);
        assert.equal(r.verdict, 'valid', r.reason);
      },
    ),
    { numRuns: 150, seed: 20240601 },
  );
});

test('generated multi-key histories are linearizable, checked per key', () => {
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      const h = generateRegisterHistory({ seed, opCount: 200, processCount: 10, keyCount: 5, infoRate: 0.1 });
      const r = checkLinearizable(h, kvModel({ initial: 0 }));
      assert.equal(r.verdict, 'valid', r.reason);
      assert.ok(r.stats.partitions > 1 && r.perKey !== undefined);
    }),
    { numRuns: 40, seed: 20240601 },
  );
});

test('a read of a never-written value is always invalid', () => {
  fc.assert(
    fc.property(fc.integer(), fc.nat(), (seed, pick) => {
      const h = generateRegisterHistory({ seed, opCount: 60, processCount: 5, keyCount: 1, infoRate: 0.2 });
      const reads = h.filter((op) => op.type === 'ok' && op.f === 'read');
      fc.pre(reads.length > 0);
      const target = reads[pick % reads.length] as (typeof reads)[number];
      const r = checkLinearizable(withValue(h, target.index, -7), register);
      assert.equal(r.verdict, 'invalid');
      assert.ok(r.failingOp !== undefined && r.longestPrefix !== undefined && r.concurrentOps !== undefined);
    }),
    { numRuns: 150, seed: 20240601 },
  );
});

/** Finds (W, W2, R): ok write W completed before ok write W2 began, which completed before R began. */
function staleReadTarget(history: History): { readIndex: number; staleValue: unknown } | undefined {
  const ops = prepareOperations(history).operations;
  const writes = ops.filter((o) => o.status === 'ok' && o.f === 'write');
  const reads = ops.filter((o) => o.status === 'ok' && o.f === 'read');
  for (const w of writes)
    for (const w2 of writes) {
      if (!(w.ret < w2.call)) continue;
      const r = reads.find((x) => x.call > w2.ret);
      if (r?.completion !== undefined) return { readIndex: r.completion.index, staleValue: w.input };
    }
  return undefined;
}

test('a read that travels back in time past a completed overwrite is always invalid', () => {
  let tried = 0;
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      const h = generateRegisterHistory({ seed, opCount: 80, processCount: 4, keyCount: 1, infoRate: 0.1 });
      const target = staleReadTarget(h);
      fc.pre(target !== undefined);
      if (target === undefined) return;
      tried++;
      const r = checkLinearizable(withValue(h, target.readIndex, target.staleValue), register);
      assert.equal(r.verdict, 'invalid');
    }),
    { numRuns: 150, seed: 20240601 },
  );
  assert.ok(tried > 50, `only ${tried} histories had a stale-read target`);
});

// ---- brute-force oracle -------------------------------------------------------------------------

/** Linearizable iff some order of the ok ops (plus any subset of info ops) respects real time. */
function bruteForce<S>(ops: readonly Operation[], model: Model<S>): boolean {
  const done = new Array<boolean>(ops.length).fill(false);
  const dfs = (state: S, remainingOk: number): boolean => {
    if (remainingOk === 0) return true; // remaining info ops never happened
    for (const op of ops) {
      if (done[op.id]) continue;
      // op may go next only if no pending ok op returned before op was called.
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

const smallOp = fc.record({
  f: fc.constantFrom('read', 'write', 'cas'),
  a: fc.integer({ min: 0, max: 2 }),
  b: fc.integer({ min: 0, max: 2 }),
  info: fc.boolean(),
  casFalse: fc.boolean(),
});

const smallHistory = fc
  .integer({ min: 1, max: 8 })
  .chain((n) =>
    fc.tuple(
      fc.array(smallOp, { minLength: n, maxLength: n }),
      fc.shuffledSubarray([...Array(2 * n).keys()], { minLength: 2 * n }),
    ),
  );

interface SmallOp {
  readonly f: string;
  readonly a: number;
  readonly b: number;
  readonly info: boolean;
  readonly casFalse: boolean;
}

function toOperations(specs: readonly SmallOp[], times: readonly number[]): Operation[] {
  // Each op gets a call time and a later return time from the shuffled slots.
  const intervals = specs.map((_, i) => {
    const x = times[2 * i] as number;
    const y = times[2 * i + 1] as number;
    return [Math.min(x, y), Math.max(x, y)] as const;
  });
  const order = specs.map((_, i) => i).sort((i, j) => (intervals[i]?.[0] as number) - (intervals[j]?.[0] as number));
  return order.map((i, id) => {
    const s = specs[i] as (typeof specs)[number];
    const [call, ret] = intervals[i] as readonly [number, number];
    const info = s.info && s.f !== 'read';
    const input = s.f === 'read' ? null : s.f === 'write' ? s.a : [s.a, s.b];
    const output = info ? undefined : s.f === 'read' ? s.a : s.f === 'cas' && s.casFalse ? false : input;
    const invoke = { type: 'invoke' as const, process: id, f: s.f, value: input, index: call };
    return {
      id,
      process: id,
      f: s.f,
      input,
      output,
      status: info ? ('info' as const) : ('ok' as const),
      call,
      ret: info ? RETURN_NEVER : ret,
      invoke,
    };
  });
}

test('WGL agrees with a brute-force permutation search on every small history', () => {
  let valid = 0;
  let invalid = 0;
  fc.assert(
    fc.property(smallHistory, ([specs, times]) => {
      const ops = toOperations(specs, times);
      const expected = bruteForce(ops, register);
      const got = checkOperations(ops, register);
      assert.equal(got.verdict, expected ? 'valid' : 'invalid');
      if (expected) valid++;
      else invalid++;
    }),
    { numRuns: 3000, seed: 20240601 },
  );
  assert.ok(valid > 300 && invalid > 300, `both verdicts exercised (valid ${valid}, invalid ${invalid})`);
});

// Values 0..1 only: many ops are twins (same f, argument and result) and many reads and failed
// cas fit at once, which is where the search's two reductions (wgl.ts) prune; up to 10 ops.
const twinHeavyOp = fc.record({
  f: fc.constantFrom('read', 'write', 'cas'),
  a: fc.integer({ min: 0, max: 1 }),
  b: fc.integer({ min: 0, max: 1 }),
  info: fc.boolean(),
  casFalse: fc.boolean(),
});
const twinHeavyHistory = fc
  .integer({ min: 2, max: 10 })
  .chain((n) =>
    fc.tuple(
      fc.array(twinHeavyOp, { minLength: n, maxLength: n }),
      fc.shuffledSubarray([...Array(2 * n).keys()], { minLength: 2 * n }),
    ),
  );

test('the reductions (read-only ops placed first, twins in call order) agree with brute force', () => {
  let valid = 0;
  let invalid = 0;
  fc.assert(
    fc.property(twinHeavyHistory, ([specs, times]) => {
      const ops = toOperations(specs, times);
      const expected = bruteForce(ops, register);
      assert.equal(checkOperations(ops, register).verdict, expected ? 'valid' : 'invalid');
      if (expected) valid++;
      else invalid++;
    }),
    { numRuns: 3000, seed: 20261202 },
  );
  assert.ok(valid > 300 && invalid > 300, `both verdicts exercised (valid ${valid}, invalid ${invalid})`);
});

test('budgets end the search with unknown and a named reason', () => {
  const h = generateRegisterHistory({ seed: 7, opCount: 2000, processCount: 20, keyCount: 1, infoRate: 0.3 });
  const memory = checkLinearizable(h, register, { memoEntriesMax: 10 });
  assert.equal(memory.verdict, 'unknown');
  assert.equal(memory.reason, 'memory budget');
  let t = 0;
  const time = checkLinearizable(h, register, { now: () => (t += 1), timeBudgetMs: 5 });
  assert.equal(time.verdict, 'unknown');
  assert.equal(time.reason, 'time budget');
});

test('the budget is shared by all keys: many small partitions cannot add up to an unnoticed overrun', () => {
  // Each key alone needs far fewer steps than one budget check interval; together they exceed
  // both budgets. (Found in review: each partition used to restart its own step countdown.)
  const h = generateRegisterHistory({ seed: 3, opCount: 20_000, processCount: 10, keyCount: 2_000, infoRate: 0 });
  const states = checkLinearizable(h, kvModel({ initial: 0 }), { statesExploredMax: 5 });
  assert.equal(states.verdict, 'unknown');
  assert.equal(states.reason, 'memory budget');
  let t = 0;
  const time = checkLinearizable(h, kvModel({ initial: 0 }), { now: () => (t += 1), timeBudgetMs: 10 });
  assert.equal(time.verdict, 'unknown');
  assert.equal(time.reason, 'time budget');
  assert.ok((time.perKey?.size ?? 0) < 2_000, 'the remaining keys are not checked');
});

test('an invalid result names the failing op, its concurrent ops and the longest prefix', () => {
  const ops: Array<[number, 'invoke' | 'ok', string, unknown]> = [
    [0, 'invoke', 'write', 1],
    [0, 'ok', 'write', 1],
    [1, 'invoke', 'write', 2],
    [2, 'invoke', 'read', null],
    [2, 'ok', 'read', 3],
    [1, 'ok', 'write', 2],
  ];
  const h = ops.map(([process, type, f, value], index) => ({ process, type, f, value, index }));
  const r = checkLinearizable(h, register);
  assert.equal(r.verdict, 'invalid');
  assert.equal(r.failingOp?.f, 'read');
  assert.deepEqual(
    r.concurrentOps?.map((o) => o.input),
    [2],
  );
  assert.ok((r.longestPrefix?.length ?? 0) >= 1);
  assert.match(r.reason ?? '', /read → 3/);
});

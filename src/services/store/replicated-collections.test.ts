// Goal: list, sorted-set, set and hash commands at N > 1 (replicated-collections.ts) do what Redis'
// own implementation does on the value read, and concurrent ones merge instead of one winning.
//   - Model: random command sequences run two ways — on a Versioned state through materialize,
//     runOnValue (Redis' N = 1 code), diffOps and applyTyped, and on one plain scratch value — give
//     equal replies and equal values after every command.
//   - List element keys (list-positions.ts) sort in list order however inserts pile up in one
//     place, stay 8 + few bytes for pushes at either end, and two coordinators pushing at the same
//     end get distinct keys.
//   - Concurrency: RPUSHes on two replicas that never saw each other are both kept after a merge
//     (negative control: a whole-list write, what a plain SET of the list would be, loses one);
//     ZADDs of different members both kept, of one member the newer score shown; an LPOP on each
//     side of a partition may return the same element (documented), and a push concurrent with an
//     LREM survives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { applyTyped } from '../../dynamo/typed.ts';
import { emptyContext, Versioned } from '../../dynamo/versions.ts';
import { comparePositions, decodePosition, elementKeysBetween } from '../../dynamo/list-positions.ts';
import { BaristaError } from '../../lib/errors.ts';
import { SeededRng } from '../../lib/rng.ts';
import type { RespValue } from '../../wire/resp/index.ts';
import { type Materialized, runOnValue } from '../../redis/scratch.ts';
import { answerWhole, diffOps, materialize, zsetRankWindow } from './replicated-collections.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const argv = (line: string): Uint8Array[] => line.split(' ').map((w) => enc.encode(w));
let wall = 1_000;
const ts = () => ({ wallMs: wall++, logical: 0 });

/** One command at replica `r` on state `s` the N > 1 way: [reply, new state]. */
function runReplicated(s: Versioned, r: string, line: string, rng: SeededRng): [RespValue, Versioned] {
  const read = materialize(s);
  assert.ok(!(read instanceof BaristaError), 'materialized');
  const out = runOnValue(read.value, argv(line), 1_000_000, rng);
  const ops = diffOps(read, out.after, rng);
  assert.ok(!(ops instanceof BaristaError), `diff of ${line}: ${ops instanceof BaristaError ? ops.message : ''}`);
  let next = s;
  for (const op of ops) next = applyTyped(next, r, op, ts());
  return [out.reply, next];
}

const shown = (s: Versioned): Materialized | null => {
  const m = materialize(s);
  assert.ok(!(m instanceof BaristaError));
  return m.value;
};
const text = (v: Materialized | null): unknown =>
  v === null
    ? null
    : v.type === 'list'
      ? v.values.map((x) => dec.decode(x))
      : v.type === 'zset'
        ? v.entries.map(([m, sc]) => [dec.decode(m), sc])
        : v.type === 'set'
          ? v.members.map((x) => dec.decode(x))
          : v.type === 'hash'
            ? v.entries.map(([f, x]) => [dec.decode(f), dec.decode(x)])
            : dec.decode(v.value);

const word = fc.constantFrom('a', 'b', 'c', 'a', 'dd', '');
const idx = fc.integer({ min: -4, max: 4 });
const listCommand = fc.oneof(
  fc.array(word, { minLength: 1, maxLength: 4 }).map((w) => `LPUSH k ${w.join(' ')}`),
  fc.array(word, { minLength: 1, maxLength: 4 }).map((w) => `RPUSH k ${w.join(' ')}`),
  fc.constantFrom('LPOP k', 'RPOP k', 'LPOP k 2', 'RPOP k 3', 'LLEN k', 'LRANGE k 0 -1', 'LPUSHX k x'),
  fc.tuple(idx, idx).map(([a, b]) => `LTRIM k ${a} ${b}`),
  fc.tuple(idx, word).map(([i, w]) => `LSET k ${i} ${w}x`),
  fc.tuple(fc.integer({ min: -2, max: 2 }), word).map(([n, w]) => `LREM k ${n} ${w}`),
  fc.tuple(fc.constantFrom('BEFORE', 'AFTER'), word, word).map(([p, a, b]) => `LINSERT k ${p} ${a} ${b}y`),
  fc.tuple(word, fc.integer({ min: -2, max: 2 })).map(([w, r]) => `LPOS k ${w} RANK ${r === 0 ? 1 : r} COUNT 0`),
  fc.constantFrom('LMOVE k k LEFT RIGHT', 'LINDEX k 1', 'LINDEX k -1'),
);
const member = fc.constantFrom('m1', 'm2', 'm3', 'm4');
const zsetCommand = fc.oneof(
  fc
    .tuple(fc.integer({ min: -3, max: 3 }), member, fc.constantFrom('', 'NX ', 'XX ', 'GT ', 'LT CH '))
    .map(([s, m, f]) => `ZADD z ${f}${s} ${m}`),
  fc.tuple(fc.constantFrom('1.5', '-2', '0.25'), member).map(([d, m]) => `ZINCRBY z ${d} ${m}`),
  member.map((m) => `ZREM z ${m}`),
  fc.constantFrom(
    'ZPOPMIN z',
    'ZPOPMAX z 2',
    'ZRANGE z 0 -1 WITHSCORES',
    'ZRANGEBYSCORE z -1 2',
    'ZREVRANGE z 0 1',
    'ZCARD z',
    'ZREMRANGEBYRANK z 0 0',
    'ZREMRANGEBYSCORE z 2 3',
    'ZCOUNT z -inf +inf',
    'ZRANK z m2',
    'ZSCORE z m1',
    'ZMSCORE z m1 m9',
  ),
);
const setHashCommand = fc.oneof(
  member.map((m) => `SADD s ${m}`),
  fc.constantFrom('SPOP s', 'SPOP s 2', 'SMISMEMBER s m1 m2', 'SRANDMEMBER s', 'SREM s m1'),
  fc.tuple(member, fc.integer({ min: -2, max: 3 })).map(([f, n]) => `HINCRBY h ${f} ${n}`),
  fc.tuple(member, word).map(([f, v]) => `HSETNX h ${f} ${v}`),
  fc.constantFrom('HMGET h m1 m2', 'HKEYS h', 'HVALS h', 'HDEL h m3', 'HSTRLEN h m1', 'HINCRBYFLOAT h m2 0.5'),
);

test('model: every command at N > 1 answers and changes the value as Redis own code does', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(listCommand, zsetCommand, setHashCommand), { maxLength: 40 }),
      fc.integer(),
      (lines, seed) => {
        const states = new Map<string, Versioned>();
        const values = new Map<string, Materialized | null>();
        const rngA = new SeededRng(`a${seed}`);
        const rngB = new SeededRng(`a${seed}`);
        for (const line of lines) {
          const key = line.split(' ')[1]!;
          const [got, next] = runReplicated(states.get(key) ?? Versioned.empty(), 'n1', line, rngA);
          const want = runOnValue(values.get(key) ?? null, argv(line), 1_000_000, rngB);
          assert.deepEqual(got, want.reply, line);
          states.set(key, next);
          values.set(key, want.after);
          assert.deepEqual(text(shown(next)), text(want.after), `value after ${line}`);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('zsetRankWindow: ZRANGE and ZREVRANGE by rank answer from the window as Redis own code does from every entry', () => {
  const rng = new SeededRng('window');
  const entry = fc.tuple(fc.constantFrom('a', 'b', 'c', 'dd', 'e', ''), fc.constantFrom(-1, 0, 0.5, 2, 2, 3));
  fc.assert(
    fc.property(
      fc.uniqueArray(entry, { selector: (e) => e[0], maxLength: 8 }),
      fc.nat(7),
      fc.nat(7),
      fc.constantFrom('ZRANGE', 'ZREVRANGE'),
      fc.subarray(['REV', 'WITHSCORES', 'withscores', 'rEv']),
      (es, start, stop, name, options) => {
        // Redis' order, as zsetEntries gives it: by score, then by member's bytes.
        const entries = es
          .map(([m, sc]) => [enc.encode(m), sc] as const)
          .sort((x, y) => x[1] - y[1] || Buffer.compare(x[0], y[0]));
        const opts = name === 'ZREVRANGE' ? options.filter((o) => o.toLowerCase() === 'withscores') : options;
        const line = [name, 'z', String(start), String(stop), ...opts].join(' ');
        const window = zsetRankWindow(argv(line));
        assert.ok(window !== undefined, line);
        const full = runOnValue({ type: 'zset', entries }, argv(line), 1_000_000, rng).reply;
        const cut = runOnValue({ type: 'zset', entries: window(entries) }, argv(line), 1_000_000, rng).reply;
        assert.deepEqual(cut, full, line);
      },
    ),
    { numRuns: 300 },
  );
  // The forms it leaves to every entry.
  for (const line of [
    'ZRANGE z 0 -1',
    'ZRANGE z -2 -1',
    'ZRANGE z 0 1 BYSCORE',
    'ZRANGE z 0 1 LIMIT 0 1',
    'ZRANGE z 01 2',
  ]) {
    assert.equal(zsetRankWindow(argv(line)), undefined, line);
  }
  assert.equal(zsetRankWindow(argv('ZRANGEBYSCORE z 0 1')), undefined);
  assert.equal(zsetRankWindow(argv('ZREVRANGE z 0 1 REV')), undefined, 'ZREVRANGE takes no REV: its error is Redis');
});

test('answerWhole: ZRANK, ZREVRANK, SMEMBERS and LINDEX on a value read whole answer as Redis own code does on every element', () => {
  const rng = new SeededRng('answer-whole');
  const member = fc.constantFrom('a', 'b', 'c', 'dd', 'e', '');
  const entry = fc.tuple(member, fc.constantFrom(-Infinity, -1, -0, 0, 0.5, 2, 2, Infinity));
  const value: fc.Arbitrary<Materialized | null> = fc.oneof(
    fc.constant(null),
    fc.uniqueArray(entry, { selector: (e) => e[0], minLength: 1, maxLength: 8 }).map((es) => ({
      type: 'zset' as const,
      // Redis' order, as zsetEntries gives it: by score, then by member's bytes.
      entries: es
        .map(([m, sc]) => [enc.encode(m), sc] as const)
        .sort((x, y) => (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : Buffer.compare(x[0], y[0]))),
    })),
    fc
      .array(fc.constantFrom('x', 'y', 'zz', ''), { minLength: 1, maxLength: 8 })
      .map((vs) => ({ type: 'list' as const, values: vs.map((v) => enc.encode(v)) })),
    fc
      .uniqueArray(fc.constantFrom('a', 'b', 'c', 'dd', '', 'zz', 'B'), { minLength: 1, maxLength: 6 })
      // In byte order, as setMembers gives them.
      .map((ms) => ({ type: 'set' as const, members: ms.sort().map((m) => enc.encode(m)) })),
  );
  const command = fc.oneof(
    fc.tuple(fc.constantFrom('ZRANK', 'ZREVRANK', 'zrank'), member).map(([n, m]) => [n, 'k', m]),
    fc.constantFrom('0', '1', '3', '7', '12', '-1', '01', 'x', '9999999999').map((i) => ['LINDEX', 'k', i]),
    fc.constant(['ZRANK', 'k']),
    fc.constantFrom(['SMEMBERS', 'k'], ['smembers', 'k'], ['SMEMBERS', 'k', 'x']),
    fc.constant(['LINDEX', 'k', '0', 'extra']),
  );
  let answered = 0;
  fc.assert(
    fc.property(value, command, (v, words) => {
      const args = words.map((w) => enc.encode(w));
      const direct = answerWhole(args, v);
      if (direct === undefined) return;
      answered++;
      const full = runOnValue(v, args, 1_000_000, rng).reply;
      assert.deepEqual(direct, full, words.join(' '));
    }),
    { numRuns: 500 },
  );
  assert.ok(answered > 50, `answered directly: ${answered}`);
  // Left to Redis' code: another type (WRONGTYPE), a negative or malformed index, other arities.
  const set: Materialized = { type: 'set', members: [enc.encode('a')] };
  assert.equal(answerWhole(argv('ZRANK k a'), set), undefined);
  assert.equal(answerWhole(argv('LINDEX k -1'), { type: 'list', values: [enc.encode('x')] }), undefined);
  assert.equal(answerWhole(argv('ZRANK k'), null), undefined);
});

test('list element keys: in order however inserts pile up, short at the ends, distinct across coordinators', () => {
  const rng = new SeededRng('keys');
  // 300 inserts, each right after the first element: the worst case for one place.
  let keys = elementKeysBetween(null, null, 1, rng)!;
  for (let i = 0; i < 300; i++) {
    const [k] = elementKeysBetween(keys[0]!, keys[1] ?? null, 1, rng)!;
    keys = [keys[0]!, k!, ...keys.slice(1)];
  }
  for (let i = 1; i < keys.length; i++) assert.ok(Buffer.compare(keys[i - 1]!, keys[i]!) < 0, `key ${i} in order`);
  const longest = Math.max(...keys.map((k) => k.length));
  assert.ok(longest < 110, `one bit per insert at one place (zero digits escaped): ${longest} bytes`);
  // 1,000 pushes at each end: every key 8 bytes of position + terminator + tag.
  let ends = elementKeysBetween(null, null, 1, rng)!;
  for (let i = 0; i < 1000; i++) {
    ends = [
      ...elementKeysBetween(null, ends[0]!, 1, rng)!,
      ...ends,
      ...elementKeysBetween(ends.at(-1)!, null, 1, rng)!,
    ];
  }
  for (let i = 1; i < ends.length; i++) assert.ok(Buffer.compare(ends[i - 1]!, ends[i]!) < 0);
  assert.ok(
    ends.every((k) => k.length <= 8 + 2 + 8 + 4),
    'pushes at the ends stay short',
  );
  // Two coordinators pushing after the same last element: one position, two distinct keys.
  const [x] = elementKeysBetween(ends.at(-1)!, null, 1, new SeededRng('c1'))!;
  const [y] = elementKeysBetween(ends.at(-1)!, null, 1, new SeededRng('c2'))!;
  assert.equal(comparePositions(decodePosition(x!)!, decodePosition(y!)!), 0);
  assert.notDeepEqual(x, y);
  // Malformed neighbours from a peer are treated as absent, never asserted on.
  assert.equal(decodePosition(Uint8Array.of(1, 2, 3)), undefined);
  assert.ok(elementKeysBetween(Uint8Array.of(9), Uint8Array.of(0, 7), 2, rng)!.length === 2);
});

test('concurrent RPUSHes on two replicas are both kept (negative control: a whole-list write loses one)', () => {
  const rng = new SeededRng('push');
  const [, base] = runReplicated(Versioned.empty(), 'n1', 'RPUSH q a b', rng);
  const [, left] = runReplicated(base, 'n1', 'RPUSH q x', rng);
  const [, right] = runReplicated(base, 'n2', 'RPUSH q y', rng);
  const merged = left.merge(right);
  const list = text(shown(merged)) as string[];
  assert.deepEqual(list.slice(0, 2), ['a', 'b']);
  assert.deepEqual([...list.slice(2)].sort(), ['x', 'y'], 'both pushes kept');
  assert.ok(right.merge(left).equals(merged), 'merge order does not matter');
  // The same two pushes as whole-list writes: the newest wins, one push is lost.
  const whole = Versioned.empty().update(emptyContext(), 'n1', enc.encode('a,b'), ts());
  const l = whole.update(whole.context(), 'n1', enc.encode('a,b,x'), ts());
  const r = whole.update(whole.context(), 'n2', enc.encode('a,b,y'), ts());
  const winner = dec.decode(l.merge(r).chosen()!.value!);
  assert.ok(winner === 'a,b,x' || winner === 'a,b,y', 'one push lost');
});

test('ZADD on two replicas: different members both kept, one member shows the newer score', () => {
  const rng = new SeededRng('z');
  const [, base] = runReplicated(Versioned.empty(), 'n1', 'ZADD z 1 a', rng);
  const [, left] = runReplicated(base, 'n1', 'ZADD z 2 b 5 a', rng);
  const [, right] = runReplicated(base, 'n2', 'ZADD z 3 c 7 a', rng);
  assert.deepEqual(text(shown(left.merge(right))), [
    ['b', 2],
    ['c', 3],
    ['a', 7],
  ]);
  // A ZREM concurrent with a ZADD of the same member: the add survives.
  const [, removed] = runReplicated(base, 'n1', 'ZREM z a', rng);
  const [, readded] = runReplicated(base, 'n2', 'ZADD z 9 a', rng);
  assert.deepEqual(text(shown(removed.merge(readded))), [['a', 9]]);
});

test('LPOP on both sides of a partition may return the same element; a push concurrent with LREM survives', () => {
  const rng = new SeededRng('pop');
  const [, base] = runReplicated(Versioned.empty(), 'n1', 'RPUSH q j1 j2 j3', rng);
  const [r1, left] = runReplicated(base, 'n1', 'LPOP q', rng);
  const [r2, right] = runReplicated(base, 'n2', 'LPOP q', rng);
  assert.deepEqual(
    [r1, r2],
    [
      { type: 'bulk', value: enc.encode('j1') },
      { type: 'bulk', value: enc.encode('j1') },
    ],
  );
  assert.deepEqual(text(shown(left.merge(right))), ['j2', 'j3']);
  const [, cleared] = runReplicated(base, 'n1', 'LREM q 0 j2', rng);
  const [, pushed] = runReplicated(base, 'n2', 'LPUSH q j2', rng);
  assert.deepEqual(text(shown(cleared.merge(pushed))), ['j2', 'j1', 'j3']);
});

test('a list command on a set answers WRONGTYPE and changes nothing; a type change is refused', () => {
  const rng = new SeededRng('t');
  const [, set] = runReplicated(Versioned.empty(), 'n1', 'SADD s a', rng);
  const [reply, after] = runReplicated(set, 'n1', 'LPUSH s x', rng);
  assert.equal(reply.type, 'error');
  assert.ok(after.equals(set));
  const read = materialize(set);
  assert.ok(!(read instanceof BaristaError));
  assert.ok(diffOps(read, { type: 'list', values: [enc.encode('x')] }, rng) instanceof BaristaError);
});

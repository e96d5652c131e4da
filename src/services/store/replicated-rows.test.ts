// Goal: sets and hashes kept in rows (replication.collections 'rows': src/dynamo/replica-rows.ts)
// answer every command as the whole-value layout does, on 3 simulated nodes at N = 3 through RESP,
// while a command reads, writes and ships only the elements it names.
//   - Model: random set, hash, list and key commands (SADD ... HINCRBY, LPUSH ... LTRIM, DEL, EXISTS, TYPE, EXPIRE) sent
//     in turn to random nodes at QUORUM give the same replies in a rows cluster as in a whole-value
//     cluster (itself checked against Redis' own code: replicated-collections.test.ts).
//   - O(delta): after 300 SADDs onto one set, the key's state (what DEL, TYPE and SCAN read) is a
//     marker of a few hundred bytes, each replica holds 300 rows, and one more SADD ships a delta
//     message of under 1 KiB (negative control: the whole-value cluster's replicate grows with
//     the set).
//   - A replica that missed writes (partitioned at ONE) joins what a later QUORUM read brings, and
//     a DEL then a SADD through another node shows only the new member (the rows of the old set are
//     dropped where the tombstone lands).
//   - Review findings, each test failing on the code before its mend (tried by hand 2026-12-06): a
//     set dropped and made again reuses no dot a replica kept (an acknowledged SADD was lost);
//     an emptied header
//     stays out of the Merkle leaf; a marker without rows reads as an empty set, not WRONGTYPE;
//     collection commands on a string answer WRONGTYPE (both layouts).
// Lists' end reads and pushes: replicated-rows-lists.test.ts (the shared cluster: test/support/rows-cluster.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeMessage, type ReplicaMessage } from '../../dynamo/messages.ts';
import { mutationsFrom } from '../../lib/mutations.ts';
import type { NodeServices } from '../../node/services.ts';
import type { Simulation } from '../../sim/simulation.ts';
import {
  atLevel,
  cluster,
  heal,
  isolateN3,
  NO_HINT_REPLAY,
  NODES,
  sentBy,
} from '../../../test/support/rows-cluster.ts';
import { replicatedCluster } from '../../../test/support/replicated-cluster.ts';
import { storeOf } from './service.ts';
import { runCommands } from './sim-client.ts';

const WRONGTYPE_REPLY = '-WRONGTYPE Operation against a key holding the wrong kind of value';
const enc = new TextEncoder();

const member = fc.constantFrom('a', 'b', 'c', 'dd', '');
const members = fc.array(member, { minLength: 1, maxLength: 3 });
const field = fc.constantFrom('f', 'g', 'h');
const command = fc.oneof(
  members.map((m) => ['SADD', 's', ...m]),
  members.map((m) => ['SREM', 's', ...m]),
  member.map((m) => ['SISMEMBER', 's', m]),
  members.map((m) => ['SMISMEMBER', 's', ...m]),
  fc.constantFrom(['SCARD', 's'], ['SMEMBERS', 's'], ['TYPE', 's'], ['EXISTS', 's', 'h'], ['DEL', 's']),
  fc.tuple(field, member).map(([f, v]) => ['HSET', 'h', f, `${v}v`]),
  fc.tuple(field, member, field).map(([f, v, g]) => ['HSET', 'h', f, v, g, 'w']),
  field.map((f) => ['HGET', 'h', f]),
  field.map((f) => ['HDEL', 'h', f]),
  field.map((f) => ['HINCRBY', 'h', `${f}n`, '3']),
  fc.tuple(field, member).map(([f, v]) => ['HSETNX', 'h', f, v]),
  fc.constantFrom(['HLEN', 'h'], ['HGETALL', 'h'], ['HMGET', 'h', 'f', 'g'], ['HEXISTS', 'h', 'g'], ['TYPE', 'h']),
  fc.constantFrom(['DEL', 'h'], ['SET', 'h', 'str'], ['GET', 'h'], ['SADD', 'h', 'x'], ['HSET', 's', 'f', 'v']),
  fc.constantFrom(['SMOVE', 's', 't', 'a'], ['SMEMBERS', 't'], ['SUNION', 's', 't'], ['SINTERSTORE', 'u', 's', 't']),
  fc.constantFrom(['EXPIRE', 's', '100'], ['TTL', 's'], ['PERSIST', 's']),
  members.map((m) => ['LPUSH', 'l', ...m]),
  members.map((m) => ['RPUSH', 'l', ...m]),
  member.map((m) => ['LPUSHX', 'l', m]),
  fc.constantFrom(['LPOP', 'l'], ['LPOP', 'l', '2'], ['RPOP', 'l'], ['LLEN', 'l'], ['LRANGE', 'l', '0', '-1']),
  fc.constantFrom(['LINDEX', 'l', '1'], ['LREM', 'l', '0', 'a'], ['LSET', 'l', '0', 'z'], ['LTRIM', 'l', '1', '-1']),
  fc.constantFrom(['LRANGE', 'l', '0', '1'], ['LRANGE', 'l', '1', '2'], ['LINDEX', 'l', '0'], ['LPOP', 'l', '1e2']),
  fc.constantFrom(['RPOP', 'l', '2'], ['LINDEX', 'l', '-1'], ['LRANGE', 'l', '-2', '-1'], ['LRANGE', 'l', '-3', '-2']),
  fc.constantFrom(
    ['LSET', 'l', '1', 'y'],
    ['LSET', 'l', '-1', 'w'],
    ['LSET', 'l', '-2', 'v'],
    ['LSET', 'l', '4', 'q'],
    ['LSET', 'l', '-9', 'q'],
    ['LSET', 'l', '0', 'a'],
  ),
  fc.constantFrom(
    ['RPOPLPUSH', 'l', 'l2'],
    ['LMOVE', 'l', 'l2', 'RIGHT', 'RIGHT'],
    ['LMOVE', 'l2', 'l', 'LEFT', 'LEFT'],
    ['LMOVE', 'l', 'l', 'RIGHT', 'LEFT'],
    ['LRANGE', 'l2', '0', '-1'],
    ['LMOVE', 'l', 's', 'LEFT', 'RIGHT'],
    ['RPOPLPUSH', 'h', 'l'],
    ['LMOVE', 'l', 'l2', 'left', 'right'],
    ['RPUSH', 'l', ''],
  ),
  fc.constantFrom(
    ['RPOP', 'l', '5'],
    ['LINDEX', 'l', '-4'],
    ['LRANGE', 'l', '-1', '-3'],
    ['RPOP', 's'],
    ['LINDEX', 'h', '-1'],
  ),
  fc.constantFrom(['LPUSH', 's', 'x'], ['SADD', 'l', 'x'], ['DEL', 'l'], ['LMOVE', 'l', 'l2', 'LEFT', 'RIGHT']),
  fc.constantFrom(['RENAME', 's', 't'], ['RENAME', 'h', 's'], ['RENAMENX', 'l', 'l2'], ['RENAME', 'l2', 'h']),
  fc.tuple(member, fc.integer({ min: -3, max: 3 })).map(([m, n]) => ['ZADD', 'z', String(n), `${m}z`]),
  fc.tuple(member, member).map(([m, n]) => ['ZADD', 'z', 'GT', 'CH', '2', `${m}z`, '1.5', `${n}y`]),
  member.map((m) => ['ZADD', 'z', 'NX', 'INCR', '7', `${m}z`]),
  member.map((m) => ['ZREM', 'z', `${m}z`, 'nope']),
  member.map((m) => ['ZSCORE', 'z', `${m}z`]),
  member.map((m) => ['ZINCRBY', 'z', '2', `${m}y`]),
  fc.constantFrom(['ZCARD', 'z'], ['ZRANGE', 'z', '0', '-1', 'WITHSCORES'], ['ZMSCORE', 'z', 'az', 'bz', 'x']),
  fc.constantFrom(
    ['ZPOPMIN', 'z'],
    ['ZRANGEBYSCORE', 'z', '0', '2'],
    ['ZRANK', 'z', 'cz'],
    ['TYPE', 'z'],
    ['DEL', 'z'],
  ),
  fc.constantFrom(
    ['ZADD', 's', '1', 'x'],
    ['SADD', 'z', 'x'],
    ['ZCARD', 'h'],
    ['RENAME', 'z', 'z2'],
    ['ZUNIONSTORE', 'z3', '2', 'z', 's'],
  ),
  fc.constantFrom(
    ['ZADD', 'z'],
    ['ZADD', 'z', '1'],
    ['ZADD', 'z', 'XX', 'GT', 'LT', '1', 'a'],
    ['ZINCRBY', 'z', 'x', 'a'],
  ),
  // A list's head or tail read of a set, hash or sorted set: WRONGTYPE, as Redis answers.
  fc.constantFrom(
    ['RPUSHX', 's', 'x'],
    ['LPUSHX', 'h', 'x'],
    ['LPOP', 'z'],
    ['LRANGE', 's', '0', '1'],
    ['LINDEX', 'h', '0'],
  ),
  fc.constantFrom(['RPUSH', 'z', 'x'], ['RPUSHX', 'z', 'x'], ['LPOP', 'h', '2'], ['RPUSHX', 'h', 'x']),
  // Pushes onto a list past its deadline (Redis: the new elements alone).
  fc.constantFrom(['PEXPIRE', 'l', '1'], ['LPUSH', 'l', 'p'], ['RPUSH', 'l', 'q']),
);
const script = fc.array(fc.tuple(fc.constantFrom(...NODES), command), { minLength: 10, maxLength: 30 });

test('model: set, hash, list and sorted set commands in rows answer as the whole-value layout does', () => {
  fc.assert(
    fc.property(script, fc.integer({ min: 1, max: 1_000_000 }), (steps, seed) => {
      const rows = cluster(`rows-model-${seed}`, 'rows');
      const whole = cluster(`rows-model-${seed}`, 'whole');
      for (const [node, cmd] of steps) {
        const a = runCommands(rows, node, [cmd]);
        const b = runCommands(whole, node, [cmd]);
        assert.deepEqual(a, b, `${cmd.join(' ')} at ${node}`);
      }
    }),
    { numRuns: Number(process.env.ROWS_MODEL_RUNS ?? 40) },
  );
});

/** The bytes of every delta or replicate message a node sends, by type. */
function spy(sim: Simulation<NodeServices>, id: string, seen: { type: string; bytes: number }[]): void {
  const replica = storeOf(sim.instance(id)!).replica!.replica;
  const receive = replica.receive.bind(replica);
  const request = replica.request.bind(replica);
  const record = (out: ReturnType<typeof replica.request>) => {
    for (const m of out.messages as { message: ReplicaMessage }[])
      if (m.message.type === 'delta' || m.message.type === 'replicate')
        seen.push({ type: m.message.type, bytes: encodeMessage(m.message).length });
    return out;
  };
  replica.request = (id2, req) => record(request(id2, req));
  replica.receive = (from, m) => record(receive(from, m));
}

function fill(sim: Simulation<NodeServices>, n: number): void {
  for (let i = 0; i < n; i += 50) {
    const batch = Array.from({ length: Math.min(50, n - i) }, (_, j) => ['SADD', 'big', `member-${i + j}`]);
    assert.ok(runCommands(sim, NODES[(i / 50) % 3]!, batch).every((r) => r === ':1'));
  }
}

test('rows: one SADD onto a set of 300 ships a small delta and the key state stays a marker; whole ships the set', () => {
  const rows = cluster('rows-delta', 'rows');
  fill(rows, 300);
  for (const id of NODES) {
    const node = storeOf(rows.instance(id)!).replica!;
    assert.ok(node.peek(enc.encode('big')).encode().length < 300, 'the key state is a marker');
    assert.equal(node.replica['store'].scanRows(enc.encode('big'), new Uint8Array(0), 1000).entries.length, 300);
  }
  const seen: { type: string; bytes: number }[] = [];
  spy(rows, 'n1', seen);
  assert.deepEqual(runCommands(rows, 'n1', [['SADD', 'big', 'one-more']]), [':1']);
  const deltas = seen.filter((s) => s.type === 'delta');
  assert.equal(deltas.length, 2, 'one delta to each other replica');
  for (const d of deltas) assert.ok(d.bytes < 1024, `delta of ${d.bytes} bytes`);
  assert.deepEqual(runCommands(rows, 'n2', [['SCARD', 'big']]), [':301']);
  // Each replica's context of the set stays a version vector (every replica's dots of it one
  // unbroken run): no cloud of gaps for every join and delta to carry (once, each op's dots came
  // from the node-wide counter and every peer's cloud grew by one per op).
  for (const id of NODES) {
    const collections = storeOf(rows.instance(id)!).replica!.replica['collections'];
    assert.equal(collections.held(enc.encode('big'))!.dc.context.cloudDots, 0, `${id}'s context`);
  }

  // Negative control: the whole-value layout ships the set whole.
  const whole = cluster('rows-delta', 'whole');
  fill(whole, 300);
  const seenWhole: { type: string; bytes: number }[] = [];
  spy(whole, 'n1', seenWhole);
  assert.deepEqual(runCommands(whole, 'n1', [['SADD', 'big', 'one-more']]), [':1']);
  const replicates = seenWhole.filter((s) => s.type === 'replicate');
  assert.ok(replicates.length >= 2 && replicates.every((r) => r.bytes > 3000), JSON.stringify(replicates));
});

test('rows: a sorted set keeps a row per member: ZADD and ZINCRBY on 300 members read the member named and ship a small delta', () => {
  const sim = cluster('rows-zset', 'rows');
  for (let i = 0; i < 300; i += 50) {
    const batch = Array.from({ length: 50 }, (_, j) => ['ZADD', 'board', String(i + j), `player-${i + j}`]);
    assert.ok(runCommands(sim, NODES[(i / 50) % 3]!, batch).every((r) => r === ':1'));
  }
  for (const id of NODES) {
    const node = storeOf(sim.instance(id)!).replica!;
    assert.ok(node.peek(enc.encode('board')).encode().length < 300, 'the key state is a marker');
    assert.equal(node.replica['store'].scanRows(enc.encode('board'), new Uint8Array(0), 1000).entries.length, 300);
  }
  const seen: { type: string; bytes: number }[] = [];
  spy(sim, 'n1', seen);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['ZADD', 'board', 'GT', 'CH', '1000', 'player-7'],
      ['ZINCRBY', 'board', '0.5', 'player-7'],
    ]),
    [':1', '$1000.5'],
  );
  const deltas = seen.filter((x) => x.type === 'delta');
  assert.equal(deltas.length, 4, 'one delta to each other replica per command');
  for (const d of deltas) assert.ok(d.bytes < 1024, `delta of ${d.bytes} bytes`);
  assert.deepEqual(
    runCommands(sim, 'n3', [
      ['ZCARD', 'board'],
      ['ZSCORE', 'board', 'player-7'],
      ['ZREVRANGE', 'board', '0', '1'],
      ['TYPE', 'board'],
      ['ZRANK', 'board', 'player-7'],
    ]),
    [':300', '$1000.5', '*[$player-7,$player-299]', '+zset', ':299'],
  );
});

test('rows: a replica that missed writes joins what a QUORUM read brings; DEL then SADD shows only the new member', () => {
  const sim = cluster('rows-missed', 'rows');
  assert.deepEqual(runCommands(sim, 'n1', [['SADD', 's', 'a', 'b']]), [':2']);
  const cut = isolateN3(sim);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['SADD', 's', 'c'],
      ['SREM', 's', 'a'],
    ]),
    [':1', ':1'],
  );
  heal(sim, cut);
  // n3 missed both; its QUORUM read joins n1's or n2's rows.
  assert.deepEqual(runCommands(sim, 'n3', [['SMEMBERS', 's']]), ['*[$b,$c]']);
  assert.deepEqual(
    runCommands(sim, 'n3', [
      ['SISMEMBER', 's', 'a'],
      ['SCARD', 's'],
    ]),
    [':0', ':2'],
  );
  assert.deepEqual(
    runCommands(sim, 'n2', [
      ['DEL', 's'],
      ['SADD', 's', 'z'],
    ]),
    [':1', ':1'],
  );
  for (const id of NODES)
    assert.deepEqual(
      runCommands(sim, id, [
        ['SMEMBERS', 's'],
        ['TYPE', 's'],
      ]),
      ['*[$z]', '+set'],
    );
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['DEL', 's'],
      ['EXISTS', 's'],
      ['TYPE', 's'],
    ]),
    [':1', ':0', '+none'],
  );
});

test('rows: a read of every row pages through a set larger than one page, from a replica that missed it', () => {
  const sim = cluster('rows-pages', 'rows');
  const big = (i: number) => `${String(i).padStart(3, '0')}${'x'.repeat(60 * 1024)}`;
  const cut = isolateN3(sim);
  for (let i = 0; i < 40; i += 8) {
    const batch = Array.from({ length: 8 }, (_, j) => ['SADD', 'p', big(i + j)]);
    assert.ok(runCommands(sim, 'n1', batch).every((r) => r === ':1'));
  }
  heal(sim, cut);
  const before = NODES.map((id) => storeOf(sim.instance(id)!).replica!.replica.stats.mergesRefused);
  // n3 holds none of them: its read at ALL joins n1's and n2's pages (2.4 MiB each: three pages).
  const [card, members] = runCommands(sim, 'n3', [
    ['BARISTA', 'CONSISTENCY', 'ALL'],
    ['SCARD', 'p'],
    ['SMEMBERS', 'p'],
  ]).slice(1);
  assert.equal(card, ':40');
  assert.equal(members!.split(',').length, 40);
  const n3 = storeOf(sim.instance('n3')!).replica!;
  assert.equal(n3.replica['store'].scanRows(enc.encode('p'), new Uint8Array(0), 100).entries.length, 40);
  const after = NODES.map((id) => storeOf(sim.instance(id)!).replica!.replica.stats.mergesRefused);
  assert.deepEqual(after, before, 'no page refused');
  // A member past the rows' element bound is refused with a clear error, nothing written.
  const [tooBig] = runCommands(sim, 'n1', [['SADD', 'p', 'y'.repeat(70_000)]]);
  assert.match(tooBig!, /^-ERR value_too_large: a set member of 70000 bytes, max \d+ \(lsmKeyBytesMax\)$/);
  assert.deepEqual(runCommands(sim, 'n1', [['SCARD', 'p']]), [':40']);
});

/** Anti-entropy rounds from every node (BARISTA REPAIR: each with its next peer), until they go quiet. */
function repairAll(sim: Simulation<NodeServices>, rounds: number): void {
  for (let round = 0; round < rounds; round++) {
    for (const id of NODES)
      assert.deepEqual(runCommands(sim, id, [['BARISTA', 'REPAIR']]), ['+OK'], `repair from ${id}`);
    assert.ok(
      sim.runUntilCondition(() => NODES.every((id) => !storeOf(sim.instance(id)!).replica!.antiEntropyBusy), 30_000),
      'repair rounds finished',
    );
    sim.runFor(1_000); // the pulls the rounds offered
  }
}

/** EXISTS `key` at ALL through n1: a read of the state, whose repair sends every replica the state, not the rows. */
function repairByRead(sim: Simulation<NodeServices>, key: string): void {
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['BARISTA', 'CONSISTENCY', 'ALL'],
      ['EXISTS', key],
    ]),
    ['+OK', ':1'],
  );
  sim.runFor(1_000);
}

/** One more pass of repair rounds finds every pair's Merkle trees equal. */
function assertConverged(sim: Simulation<NodeServices>): void {
  const inSync = () =>
    NODES.reduce((n, id) => n + storeOf(sim.instance(id)!).replica!.replica.stats.antiEntropyInSync, 0);
  const before = inSync();
  repairAll(sim, 1);
  assert.equal(inSync() - before, 3, 'every round of the last pass in sync');
}

test('rows: anti-entropy brings a replica that missed writes every row (it pulls what the stream offers), then the trees agree', () => {
  const sim = cluster('rows-ae', 'rows', NO_HINT_REPLAY);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['SADD', 's', 'a', 'b', 'c'],
      ['HSET', 'h', 'f', '1'],
    ]),
    [':3', ':1'],
  );
  const cut = isolateN3(sim);
  const big = Array.from({ length: 30 }, (_, i) => `${String(i).padStart(2, '0')}${'y'.repeat(60 * 1024)}`);
  const written = runCommands(sim, 'n1', [
    ['SREM', 's', 'a'],
    ['SADD', 's', 'd'],
    ['HSET', 'h', 'g', '2'],
    ['HDEL', 'h', 'f'],
    ['SADD', 'p', ...big.slice(0, 15)],
    ['SADD', 'p', ...big.slice(15)],
  ]);
  assert.deepEqual(written, [':1', ':1', ':1', ':1', ':15', ':15']);
  heal(sim, cut);
  const one = (id: string) =>
    runCommands(sim, id, [
      ['BARISTA', 'CONSISTENCY', 'ONE'],
      ['SMEMBERS', 's'],
      ['HGETALL', 'h'],
      ['SCARD', 'p'],
    ]).slice(1);
  // n3 alone (reads at ONE ask no peer: read repair is off) still holds what it had before.
  assert.deepEqual(one('n3'), ['*[$a,$b,$c]', '*[$f,$1]', ':0']);
  // A read of the state at ALL repairs n3's state of s, not its rows: its state now equals the
  // others', its rows do not; the Merkle leaf must still tell (it mixes the rows' digest in).
  const state = (id: string) =>
    Buffer.from(storeOf(sim.instance(id)!).replica!.peek(enc.encode('s')).encode()).toString('hex');
  repairByRead(sim, 's');
  assert.equal(state('n3'), state('n1'), 'read repair brought the state');
  assert.deepEqual(one('n3'), ['*[$a,$b,$c]', '*[$f,$1]', ':0'], 'and no row');
  repairAll(sim, 2);
  for (const id of NODES) assert.deepEqual(one(id), ['*[$b,$c,$d]', '*[$g,$2]', ':30'], id);
  const pulls = NODES.reduce((n, id) => n + storeOf(sim.instance(id)!).replica!.replica.stats.rowPulls, 0);
  assert.ok(pulls >= 3, `${pulls} pulls`);
  // Converged: another round finds every pair's trees equal (the rows' digests agree, not only the states).
  assertConverged(sim);
});

test('rows: a collection dropped and made again never reuses a dot a replica still knows (it kept the old context when cleared)', () => {
  const sim = cluster('rows-reuse', 'rows');
  // All three hold the set, then its DEL: each clears its rows and keeps the set's context.
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['SADD', 's', 'a'],
      ['DEL', 's'],
    ]),
    [':1', ':1'],
  );
  sim.runFor(3_000);
  const cut = isolateN3(sim);
  // n1 and n2 change the key's type and back: each drops the set's header (context and all), then
  // makes a new set. n3 misses all of it and still knows the old set's dots.
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['HSET', 's', 'f', 'v'],
      ['DEL', 's'],
      ['SADD', 's', 'b'],
    ]),
    [':1', ':1', ':1'],
  );
  heal(sim, cut);
  // n3's read joins n2's rows into its own: b's dot must be one n3 has never seen, else n3 takes
  // b for an element it saw removed, and the acknowledged SADD is lost.
  for (const id of ['n3', 'n2', 'n1'])
    assert.deepEqual(
      runCommands(sim, id, [
        ['BARISTA', 'CONSISTENCY', 'ALL'],
        ['SMEMBERS', 's'],
      ]),
      ['+OK', '*[$b]'],
      id,
    );
  // The new set's dots are still one unbroken run per replica at every replica.
  for (const id of NODES) {
    const collections = storeOf(sim.instance(id)!).replica!.replica['collections'];
    assert.equal(collections.held(enc.encode('s'))!.dc.context.cloudDots, 0, `${id}'s context`);
  }
});

test('rows: a DEL leaves emptied headers (kept for their context) out of the Merkle leaves: a replica that never held the set agrees after one repair', () => {
  const sim = cluster('rows-emptied-leaf', 'rows');
  const cut = isolateN3(sim);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['SADD', 'e', 'a', 'b'],
      ['DEL', 'e'],
    ]),
    [':2', ':1'],
  );
  heal(sim, cut);
  // n1 and n2 hold the tombstone and an emptied header; n3 holds nothing. Repair brings n3 the
  // tombstone; then every pair's trees agree (once, the emptied header's count and digest entered
  // n1's and n2's leaves and never n3's: they differed for ever).
  repairAll(sim, 2);
  assertConverged(sim);
});

test('rows: a replica holding a set marker without its rows (read repair brought the state) answers an empty set, not WRONGTYPE', () => {
  const sim = cluster('rows-marker-only', 'rows', NO_HINT_REPLAY);
  const cut = isolateN3(sim);
  assert.deepEqual(runCommands(sim, 'n1', [['SADD', 'p', 'x', 'y']]), [':2']);
  heal(sim, cut);
  // A read of the state at ALL repairs n3's state of p (the marker), not its rows.
  repairByRead(sim, 'p');
  assert.ok(storeOf(sim.instance('n3')!).replica!.peek(enc.encode('p')).siblings.length > 0, 'n3 holds the marker');
  assert.deepEqual(
    runCommands(sim, 'n3', [
      ['BARISTA', 'CONSISTENCY', 'ONE'],
      ['TYPE', 'p'],
      ['SMEMBERS', 'p'],
      ['SISMEMBER', 'p', 'x'],
      ['HSET', 'p', 'f', 'v'],
    ]),
    ['+OK', '+set', '*[]', ':0', '-WRONGTYPE Operation against a key holding the wrong kind of value'],
  );
});

test('set, hash and list commands on a string answer WRONGTYPE in both layouts (once: "ERR the command changed the type")', () => {
  for (const layout of ['whole', 'rows'] as const) {
    const sim = cluster(`wrongtype-${layout}`, layout);
    const wrong = '-WRONGTYPE Operation against a key holding the wrong kind of value';
    assert.deepEqual(
      runCommands(sim, 'n1', [
        ['SET', 'k', 'str'],
        ['SADD', 'k', 'x'],
        ['SREM', 'k', 'x'],
        ['HSET', 'k', 'f', 'v'],
        ['LPUSH', 'k', 'x'],
        ['RPUSH', 'k', 'x'],
        ['LPOP', 'k'],
        ['GET', 'k'],
      ]),
      ['+OK', wrong, wrong, wrong, wrong, wrong, wrong, '$str'],
      layout,
    );
  }
});

test('rows: read repair brings the rows a read found missing: the named ones (SISMEMBER), or every row (SMEMBERS: a pull)', () => {
  const sim = cluster('rows-read-repair', 'rows', NO_HINT_REPLAY);
  const cut = isolateN3(sim);
  assert.deepEqual(runCommands(sim, 'n1', [['SADD', 'r', 'a', 'b', 'c']]), [':3']);
  heal(sim, cut);
  const rowsAt = (id: string) =>
    storeOf(sim.instance(id)!)
      .replica!.replica['store'].scanRows(enc.encode('r'), new Uint8Array(0), 100)
      .entries.map((e: { element: Uint8Array }) => Buffer.from(e.element).toString('latin1'));
  assert.deepEqual(rowsAt('n3'), []);
  // A named read at ALL: n3's row of b differs (it has none), so n3 gets b's row and only that.
  assert.deepEqual(atLevel(sim, 'n1', 'ALL', ['SISMEMBER', 'r', 'b']), ':1');
  sim.runFor(1_000);
  assert.deepEqual(rowsAt('n3'), ['b']);
  // A read of every row at ALL: n3's count differs, so it is offered the rows and pulls them all.
  assert.deepEqual(atLevel(sim, 'n1', 'ALL', ['SMEMBERS', 'r']), '*[$a,$b,$c]');
  sim.runFor(1_000);
  assert.deepEqual(rowsAt('n3'), ['a', 'b', 'c']);
  assert.deepEqual(atLevel(sim, 'n3', 'ONE', ['SMEMBERS', 'r']), '*[$a,$b,$c]');
});

/** One command at `node` on a connection at consistency `level`: its reply. */
/** Every message the nodes' replicas send for client requests from now on, in order. */
function sentByEveryNode(sim: Simulation<NodeServices>): ReplicaMessage[] {
  const sent: ReplicaMessage[] = [];
  for (const id of NODES) {
    const replica = storeOf(sim.instance(id)!).replica!.replica;
    const request = replica.request.bind(replica);
    replica.request = (rid, req) => {
      const out = request(rid, req);
      for (const m of out.messages) sent.push(m.message);
      return out;
    };
  }
  return sent;
}

test('rows: LLEN, SCARD, HLEN and ZCARD read no row while the replicas read hold the same rows (context, count and digest alike); otherwise every row, answering the count of the join', () => {
  const sim = cluster('rows-count', 'rows', NO_HINT_REPLAY);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['SADD', 's', 'a', 'b', 'c'],
      ['HSET', 'h', 'f', '1', 'g', '2'],
      ['RPUSH', 'l', 'x', 'y'],
    ]),
    [':3', ':2', ':2'],
  );
  sim.runFor(1_000);
  const sent = sentByEveryNode(sim);
  const selections = () => sent.flatMap((m) => (m.type === 'rowRead' ? [m.sel.kind] : []));
  assert.deepEqual(atLevel(sim, 'n2', 'ONE', ['SCARD', 's']), ':3');
  assert.deepEqual(atLevel(sim, 'n2', 'ONE', ['HLEN', 'h']), ':2');
  assert.deepEqual(atLevel(sim, 'n2', 'ONE', ['LLEN', 'l']), ':2');
  assert.deepEqual(selections(), [], 'at ONE no peer is asked');
  // Replicas with the same rows: at QUORUM and ALL a tail read of each answers (no row read).
  assert.deepEqual(atLevel(sim, 'n2', 'QUORUM', ['SCARD', 's']), ':3');
  assert.deepEqual(atLevel(sim, 'n3', 'ALL', ['HLEN', 'h']), ':2');
  assert.deepEqual(atLevel(sim, 'n1', 'ALL', ['LLEN', 'l']), ':2');
  // An absent key: the tail read shows no collection and no value anywhere read, so 0 at once.
  assert.deepEqual(atLevel(sim, 'n1', 'QUORUM', ['LLEN', 'nolist']), ':0');
  assert.ok(
    selections().length >= 5 && selections().every((k) => k === 'tail'),
    `tail reads alone: ${selections().join(' ')}`,
  );
  sent.length = 0;
  assert.deepEqual(
    runCommands(sim, 'n2', [
      ['LLEN', 's'],
      ['SCARD', 'none'],
    ]),
    ['-WRONGTYPE Operation against a key holding the wrong kind of value', ':0'],
  );
  // n3 misses an SADD: the read of every row at QUORUM joins the peer's.
  const cut = isolateN3(sim);
  assert.deepEqual(runCommands(sim, 'n1', [['SADD', 's', 'd']]), [':1']);
  heal(sim, cut);
  sent.length = 0;
  assert.deepEqual(atLevel(sim, 'n3', 'ONE', ['SCARD', 's']), ':3', 'at ONE: its own rows');
  assert.deepEqual(atLevel(sim, 'n3', 'QUORUM', ['SCARD', 's']), ':4');
  assert.ok(selections().includes('page'), `every row read after the tail read: ${selections().join(' ')}`);
});

/**
 * A sorted set of 300, a list of 300 and a set through n1, then ordered and whole reads and an
 * LINSERT in the list's middle at QUORUM through n2 (replicas alike), then through n3 after it
 * missed a ZADD of the lowest score and an SADD. Returns the replies and the row selections the
 * replicas were asked for in each part.
 */
function wholeReads(mutations: readonly string[]) {
  const sim = cluster('rows-whole-read', 'rows', NO_HINT_REPLAY, mutations);
  const zadd = ['ZADD', 'z'];
  for (let i = 0; i < 300; i++) zadd.push(String(i), `m${i}`);
  const rpush = ['RPUSH', 'l'];
  for (let i = 0; i < 300; i++) rpush.push(`e${i}`);
  assert.deepEqual(runCommands(sim, 'n1', [zadd, rpush, ['SADD', 's', 'a', 'b']]), [':300', ':300', ':2']);
  sim.runFor(1_000);
  const sent = sentByEveryNode(sim);
  const selections = () => sent.splice(0).flatMap((m) => (m.type === 'rowRead' ? [m.sel.kind] : []));
  const alike = [
    atLevel(sim, 'n2', 'QUORUM', ['ZRANGE', 'z', '0', '2', 'WITHSCORES']),
    atLevel(sim, 'n2', 'QUORUM', ['ZREVRANGE', 'z', '0', '1']),
    atLevel(sim, 'n2', 'QUORUM', ['ZRANK', 'z', 'm150']),
    atLevel(sim, 'n2', 'QUORUM', ['ZRANGEBYSCORE', 'z', '(297', '+inf']),
    atLevel(sim, 'n2', 'QUORUM', ['SMEMBERS', 's']),
    atLevel(sim, 'n2', 'QUORUM', ['LINSERT', 'l', 'BEFORE', 'e150', 'mid']),
    atLevel(sim, 'n2', 'QUORUM', ['LPOS', 'l', 'mid']),
  ];
  const alikeSelections = selections();
  // (A head read, as before: its rows alone.)
  alike.push(atLevel(sim, 'n1', 'QUORUM', ['LRANGE', 'l', '149', '151']));
  const cut = isolateN3(sim);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['ZADD', 'z', '-1', 'low'],
      ['SADD', 's', 'c'],
    ]),
    [':1', ':1'],
  );
  heal(sim, cut);
  selections();
  const behind = [
    atLevel(sim, 'n3', 'QUORUM', ['ZRANGE', 'z', '0', '1']),
    atLevel(sim, 'n3', 'QUORUM', ['SMEMBERS', 's']),
  ];
  const recentJoins = storeOf(sim.instance('n3')!).replica!.replica.stats.recentJoins;
  return { alike, alikeSelections, behind, behindSelections: selections(), recentJoins };
}

test("rows: a read of every row asks the replicas' tails first: alike, the coordinator's rows answer (ZRANGE, SMEMBERS, LINSERT ship no row); else every row is read and joined", () => {
  const r = wholeReads([]);
  assert.deepEqual(r.alike, [
    '*[$m0,$0,$m1,$1,$m2,$2]',
    '*[$m299,$m298]',
    ':150',
    '*[$m298,$m299]',
    '*[$a,$b]',
    ':301',
    ':150',
    '*[$e149,$mid,$e150]',
  ]);
  assert.ok(
    r.alikeSelections.length >= 7 && r.alikeSelections.every((k) => k === 'tail'),
    `tail reads alone: ${r.alikeSelections.join(' ')}`,
  );
  // n3 missed the lowest score and a member: its tail differs from n1's, but only in rows n1
  // changed last (n1's tail answer brings them): those are joined, and no row is read whole (a
  // peer differing elsewhere is read whole: src/dynamo/rows-read.test.ts).
  assert.deepEqual(r.behind, ['*[$low,$m0]', '*[$a,$b,$c]']);
  assert.deepEqual(r.behindSelections, ['tail', 'tail'], 'the tails alone');
  assert.equal(r.recentJoins, 2);
  // Negative control: the coordinator's rows taken unchecked answer what n3 alone holds.
  const bug = wholeReads(['store-whole-read-unchecked']);
  assert.deepEqual(bug.alike, r.alike);
  assert.deepEqual(bug.behind, ['*[$m0,$m1]', '*[$a,$b]']);
});

/**
 * A sorted set of 300 through n1, then ZRANGE z 0 1 at QUORUM through n2 twice, after a ZADD
 * through n1 (a peer's write to n2's replica), and after a ZREM through n2: the replies, and n2's
 * every-row views reused and decoded after the first two reads.
 */
function keptViewReads(mutations: readonly string[]) {
  const sim = cluster('rows-whole-view', 'rows', NO_HINT_REPLAY, mutations);
  const zadd = ['ZADD', 'z'];
  for (let i = 0; i < 300; i++) zadd.push(String(i), `m${i}`);
  assert.deepEqual(runCommands(sim, 'n1', [zadd]), [':300']);
  sim.runFor(1_000);
  const replica = storeOf(sim.instance('n2')!).replica!.replica;
  const range = () => atLevel(sim, 'n2', 'QUORUM', ['ZRANGE', 'z', '0', '1']);
  const replies = [range(), range()];
  const stats = replica.wholeViewStats;
  assert.deepEqual(runCommands(sim, 'n1', [['ZADD', 'z', '-1', 'low']]), [':1']);
  sim.runFor(1_000);
  replies.push(range());
  assert.deepEqual(runCommands(sim, 'n2', [['ZREM', 'z', 'low']]), [':1']);
  replies.push(range());
  return { replies, stats, after: replica.wholeViewStats };
}

test('rows: a collection read whole stays decoded while unchanged, and a change here or by a peer is read at once, the view patched with the rows changed (negative controls: a view kept stale, a patch without the rows)', () => {
  const ok = keptViewReads([]);
  assert.deepEqual(ok.replies, ['*[$m0,$m1]', '*[$m0,$m1]', '*[$low,$m0]', '*[$m0,$m1]']);
  assert.deepEqual(ok.stats, { reused: 1, patched: 0, decoded: 1 }, "the second read reused the first one's view");
  assert.deepEqual(ok.after, { reused: 1, patched: 2, decoded: 1 }, 'the reads after each change patched it');
  for (const planted of ['store-whole-view-kept-stale', 'store-whole-view-patch-unchanged']) {
    const bug = keptViewReads([planted]);
    assert.deepEqual(
      bug.replies.slice(0, 3),
      ['*[$m0,$m1]', '*[$m0,$m1]', '*[$m0,$m1]'],
      `${planted}: the peer's ZADD unseen`,
    );
  }
});

test('rows: SCARD at QUORUM of two replicas that each saw another acknowledged SREM (one element each, one context) answers their join, 0', () => {
  const sim = cluster('rows-count-removals', 'rows', NO_HINT_REPLAY);
  assert.deepEqual(runCommands(sim, 'n1', [['SADD', 's', 'x', 'y']]), [':2']);
  sim.runFor(1_000);
  const cutOff = (groups: string[][]) => {
    const c = sim.network.partition(groups);
    sim.runFor(3_000);
    return c;
  };
  // SREM y acknowledged by n1 and n3 (n2 cut off); SREM x by n2 and n3 (n1 cut off).
  let c = cutOff([['n1', 'n3'], ['n2']]);
  assert.deepEqual(runCommands(sim, 'n1', [['SREM', 's', 'y']]), [':1']);
  heal(sim, c);
  c = cutOff([['n2', 'n3'], ['n1']]);
  assert.deepEqual(runCommands(sim, 'n2', [['SREM', 's', 'x']]), [':1']);
  heal(sim, c);
  // n1 holds {x}, n2 {y}, under one context: a count trusted from equal contexts and counts said 1.
  c = cutOff([['n1', 'n2'], ['n3']]);
  assert.deepEqual(runCommands(sim, 'n1', [['SCARD', 's']]), [':0']);
  assert.deepEqual(runCommands(sim, 'n1', [['SMEMBERS', 's']]), ['*[]']);
});

test('rows: a count whose replicas keep a collection of another type than the key shows reads every row (a set header under a newer hash marker is not the hash count; review finding 2026-12-05, answered 3)', () => {
  const sim = cluster('rows-count-types', 'rows');
  let cut = isolateN3(sim);
  assert.deepEqual(runCommands(sim, 'n1', [['SADD', 'k', 'a', 'b', 'c']]), [':3']);
  // A concurrent HSET on the other side, later in time: its marker is the one the key shows.
  assert.deepEqual(atLevel(sim, 'n3', 'ONE', ['HSET', 'k', 'f', 'v']), ':1');
  heal(sim, cut);
  sim.runFor(10_000); // the HSET's hints replay at n1 and n2: its marker merges, its rows are refused there
  cut = isolateN3(sim);
  const type = atLevel(sim, 'n1', 'QUORUM', ['TYPE', 'k']);
  const all = atLevel(sim, 'n1', 'QUORUM', ['HGETALL', 'k']);
  const hlen = atLevel(sim, 'n1', 'QUORUM', ['HLEN', 'k']);
  heal(sim, cut);
  assert.deepEqual([type, all], ['+hash', '*[]'], 'the key shows the hash, whose rows every replica refused');
  assert.equal(hlen, ':0', "HLEN counts the hash's rows, not the set header's 3");
});

test("rows: SPOP, SRANDMEMBER and HRANDFIELD read a sample of the coordinator's rows by name, never every row; each member popped once; a set smaller than the count is read whole", () => {
  const sim = cluster('rows-random', 'rows');
  const members = Array.from({ length: 300 }, (_, i) => `m${String(i).padStart(3, '0')}`);
  assert.deepEqual(runCommands(sim, 'n2', [['SADD', 's', ...members]]), [':300']);
  assert.deepEqual(runCommands(sim, 'n2', [['HSET', 'h', 'a', '1', 'b', '2', 'c', '3', 'd', '4']]), [':4']);
  const sent = sentBy(sim, 'n1');
  const replies = runCommands(sim, 'n1', [
    ['SRANDMEMBER', 's'],
    ['SRANDMEMBER', 's', '5'],
    ['SRANDMEMBER', 's', '-7'],
    ['HRANDFIELD', 'h', '2', 'WITHVALUES'],
    ...Array.from({ length: 20 }, () => ['SPOP', 's']),
    ['SPOP', 's', '10'],
    ['SCARD', 's'],
  ]);
  const one = /^\$m\d{3}$/;
  assert.match(replies[0]!, one);
  const five = /^\*\[(\$m\d{3},?){5}\]$/;
  assert.match(replies[1]!, five);
  assert.equal(new Set(replies[1]!.slice(2, -1).split(',')).size, 5, 'distinct');
  assert.match(replies[2]!, /^\*\[(\$m\d{3},?){7}\]$/);
  assert.match(replies[3]!, /^\*\[(\$[abcd],\$[1234],?){2}\]$/);
  const popped = replies.slice(4, 24).map((r) => r.slice(1));
  const popped10 = replies[24]!
    .slice(2, -1)
    .split(',')
    .map((r) => r.slice(1));
  for (const p of [...popped, ...popped10]) assert.ok(members.includes(p), p);
  assert.equal(new Set([...popped, ...popped10]).size, 30, 'each member popped once');
  assert.equal(replies[25], ':270');
  // Every read of s named its rows (a sample of at most 2 x count + 2), none read every row.
  const ofS = sent.filter((m) => m.type === 'rowRead' && new TextDecoder().decode(m.key) === 's');
  assert.ok(ofS.length >= 24, `${ofS.length} reads of s`);
  assert.ok(
    ofS.every((m) => m.type === 'rowRead' && (m.sel.kind === 'named' || m.sel.kind === 'tail')),
    JSON.stringify(ofS.map((m) => m.type === 'rowRead' && m.sel.kind)),
  );
  // Another type answers as Redis does; a count past what the coordinator holds reads every row
  // (the reply is the whole set).
  assert.deepEqual(runCommands(sim, 'n1', [['SRANDMEMBER', 'h', '10']]), [
    '-WRONGTYPE Operation against a key holding the wrong kind of value',
  ]);
  // A negative count past 64: every row (each pick from all members, as Redis draws them).
  const many = runCommands(sim, 'n1', [['SRANDMEMBER', 's', '-200']])[0]!
    .slice(2, -1)
    .split(',');
  assert.equal(many.length, 200);
  assert.ok(new Set(many).size > 100, `${new Set(many).size} distinct of 200 picks from 270`);
  const small = runCommands(sim, 'n1', [
    ['SADD', 'small', 'x', 'y'],
    ['SRANDMEMBER', 'small', '5'],
    ['SPOP', 'small', '3'],
    ['EXISTS', 'small'],
  ]);
  assert.equal(small[0], ':2');
  assert.ok(small[1] === '*[$x,$y]' || small[1] === '*[$y,$x]', small[1]);
  assert.ok(small[2] === '*[$x,$y]' || small[2] === '*[$y,$x]', small[2]);
  assert.equal(small[3], ':0');
});

test('rows: a coordinator that lacks most of a set and removes the one member it holds leaves a key that exists, with its deadline (its read of the row named found a replica holding more: every row is read first; negative control: not read)', () => {
  const scenario = (mutations: readonly string[]) => {
    // n3 holds a alone (no hint replay, no anti-entropy); its SREM reads the row named, at QUORUM.
    const sim = lackingCoordinatorRemoves('rows-remove-count', mutations);
    return {
      sim,
      shown: NODES.map((id) =>
        runCommands(sim, id, [
          ['EXISTS', 's'],
          ['TYPE', 's'],
        ]).join(' '),
      ),
    };
  };
  const { sim, shown } = scenario([]);
  assert.deepEqual(shown, [':1 +set', ':1 +set', ':1 +set']);
  // Its next write keeps the deadline (an emptied key's would be dropped).
  const after = runCommands(sim, 'n3', [
    ['SADD', 's', 'e'],
    ['TTL', 's'],
    ['SCARD', 's'],
  ]);
  assert.equal(after[0], ':1');
  assert.ok(Number(after[1]!.slice(1)) > 900, `TTL ${after[1]}`);
  assert.equal(after[2], ':4');
  // Without the read of every row: n3's marker counts its own rows, 0, and the set reads as absent
  // on n3, which lacks them; n1 and n2 hold b, c and d, added unseen by that marker, so they show
  // the set (replica.ts shownWithRows; before 2026-12-06 every node read it as absent).
  assert.deepEqual(scenario(['store-rows-lacking-ignored']).shown, [':1 +set', ':1 +set', ':0 +none']);
});

test('rows: a coordinator that read a replica still holding elements removed elsewhere counts the collection emptied when it is (a set and a drained queue: EXISTS 0, RPUSH answers the length)', () => {
  // Found by the review of a first fix that floored the marker by the most a replica read held.
  const sim = cluster('rows-stale-peer-count', 'rows', NO_HINT_REPLAY);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['SADD', 's', 'a', 'b', 'c'],
      ['RPUSH', 'l', 'a', 'b', 'c'],
    ]),
    [':3', ':3'],
  );
  sim.runFor(3_000);
  const cut = isolateN3(sim);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['SREM', 's', 'a', 'b', 'c'],
      ['LPOP', 'l', '3'],
    ]),
    [':3', '*[$a,$b,$c]'],
  );
  heal(sim, cut);
  // n2 cut off: n1's reads are answered by n3, which still holds a, b and c of both.
  const cut2 = sim.network.partition([['n1', 'n3'], ['n2']]);
  sim.runFor(3_000);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['SADD', 's', 'x'],
      ['SREM', 's', 'x'],
      ['RPUSH', 'l', 'x'],
      ['LPOP', 'l'],
      ['EXISTS', 's', 'l'],
      ['SMEMBERS', 's'],
      ['LLEN', 'l'],
    ]),
    [':1', ':1', ':1', '$x', ':0', '*[]', ':0'],
  );
  heal(sim, cut2);
  for (const id of NODES) assert.deepEqual(runCommands(sim, id, [['EXISTS', 's', 'l']]), [':0'], `at ${id}`);
});

test('rows: a removal through a node that is no replica of the key (the read forwarded) is read again with every row too: the forwarded view says the coordinator may lack rows (review of 5f8ea63; negative control: store-rows-lacking-ignored)', () => {
  for (const [mutations, expected] of [
    [[], [':1', ':1', ':3']],
    [['store-rows-lacking-ignored'], [':1', ':0', ':3']],
  ] as const)
    assert.deepEqual(forwardedRemoval(mutations), expected, mutations.join());
});

function forwardedRemoval(mutations: readonly string[]): string[] {
  const nodes = ['n1', 'n2', 'n3', 'n4'];
  const sim = replicatedCluster(
    'rows-lacking-forwarded',
    nodes,
    3,
    {
      consistency: 'QUORUM',
      replication: { antiEntropyIntervalMs: 0, readRepairChance: 0, collections: 'rows', ...NO_HINT_REPLAY },
    },
    mutations.length === 0 ? undefined : mutationsFrom([...mutations]),
  );
  // Clocks alike, as cluster() makes them (EXPIRE's deadline means the same on every node).
  const wall = (id: string) => sim.instance(id)!.env.clock.wallMs();
  const base = wall('n1');
  for (const id of nodes) sim.setClock(id, { skewMs: base - (wall(id) - sim.clock(id).skewMs) });
  const key = 'lacking-fwd';
  const replicas = storeOf(sim.instance('n1')!).replica!.ring.locate(new TextEncoder().encode(key), 3).replicas;
  const outside = nodes.find((n) => !replicas.includes(n))!;
  const [first, second] = replicas as [string, string];
  assert.deepEqual(runCommands(sim, second, [['SADD', key, 'a']]), [':1']);
  sim.runFor(3_000);
  const cut = sim.network.partition([nodes.filter((n) => n !== first), [first]]);
  sim.runFor(3_000);
  assert.deepEqual(
    runCommands(sim, second, [
      ['SADD', key, 'b', 'c', 'd'],
      ['EXPIRE', key, '1000'],
    ]),
    [':3', ':1'],
  );
  cut.heal();
  sim.runFor(3_000);
  // Through `outside` the read is forwarded to the first replica, which lacks b, c and d.
  return runCommands(sim, outside, [
    ['SREM', key, 'a'],
    ['EXISTS', key],
    ['SCARD', key],
  ]);
}

test('an add concurrent with a removal of everything survives it, and every path shows it in the whole layout (the rows layout keeps the plain order, docs/COMPAT-REDIS.md): EXISTS 1, TYPE, the elements, TTL, INCR refused, and the next write keeps the deadline (before session 32: EXISTS 0 and TYPE none while SMEMBERS answered the element, and INCR made a counter of the key)', () => {
  for (const layout of ['whole'] as const)
    for (const [add, remove, read, type] of [
      [['SADD', 's', 'b'], ['SREM', 's', 'a'], ['SMEMBERS', 's'], '+set'],
      [['RPUSH', 's', 'b'], ['LPOP', 's'], ['LRANGE', 's', '0', '-1'], '+list'],
      [['HSET', 's', 'b', 'v'], ['HDEL', 's', 'a'], ['HKEYS', 's'], '+hash'],
      [['ZADD', 's', '2', 'b'], ['ZREM', 's', 'a'], ['ZRANGE', 's', '0', '-1'], '+zset'],
    ] as const) {
      const sim = cluster(`${layout}-add-wins-${add[0]}`, layout);
      const first: string[] =
        add[0] === 'SADD'
          ? ['SADD', 's', 'a']
          : add[0] === 'RPUSH'
            ? ['RPUSH', 's', 'a']
            : add[0] === 'HSET'
              ? ['HSET', 's', 'a', 'v']
              : ['ZADD', 's', '1', 'a'];
      assert.deepEqual(runCommands(sim, 'n1', [['BARISTA', 'CONSISTENCY', 'ONE'], first, ['EXPIRE', 's', '1000']]), [
        '+OK',
        ':1',
        ':1',
      ]);
      sim.runFor(3_000);
      const cut = isolateN3(sim);
      assert.match(runCommands(sim, 'n1', [['BARISTA', 'CONSISTENCY', 'ONE'], [...add]])[1]!, /^:[12]$/);
      sim.runFor(100);
      // n3 removes what it holds, later: its sibling is the newest, and emptied.
      assert.notEqual(runCommands(sim, 'n3', [['BARISTA', 'CONSISTENCY', 'ONE'], [...remove]])[1], ':0');
      assert.deepEqual(
        runCommands(sim, 'n3', [
          ['BARISTA', 'CONSISTENCY', 'ONE'],
          ['EXISTS', 's'],
        ]),
        ['+OK', ':0'],
      );
      heal(sim, cut);
      sim.runFor(10_000);
      for (const id of NODES) {
        const [exists, shown, elements, ttl, incr] = runCommands(sim, id, [
          ['EXISTS', 's'],
          ['TYPE', 's'],
          [...read],
          ['TTL', 's'],
          ['INCR', 's'],
        ]);
        assert.deepEqual([exists, shown, elements], [':1', type, '*[$b]'], `${layout} ${add[0]} at ${id}`);
        assert.ok(Number(ttl!.slice(1)) > 900, `${layout} ${add[0]} at ${id}: TTL ${ttl}`);
        assert.ok(incr!.startsWith('-WRONGTYPE'), `${layout} ${add[0]} at ${id}: INCR ${incr}`);
      }
      const next = add.map((x) => (x === 'b' ? 'c' : x));
      const [, ttl] = runCommands(sim, 'n2', [next, ['TTL', 's']]);
      assert.ok(Number(ttl!.slice(1)) > 900, `${layout} ${add[0]}: TTL ${ttl} after the next write`);
    }
});

test('known gap: concurrent removals that together empty a set, neither seeing the whole of it, leave the key shown as the newest side left it (EXISTS 1 while SMEMBERS answers nothing) until the next write; where one side emptied it the key is gone in both layouts', () => {
  // Known gap (docs/COMPAT-REDIS.md): asserted as it is, so a fix changes this test and the doc.
  for (const [n1Removes, n3Removes, existsRows, existsWhole] of [
    [['a'], ['a', 'b'], ':0', ':0'], // n3 empties the set: its emptied sibling is the newest
    [['a'], ['b'], ':1', ':1'], // each side removes one: neither sibling is emptied
  ] as const)
    for (const layout of ['rows', 'whole'] as const) {
      const sim = cluster(`${layout}-remove-remove-${n3Removes.length}`, layout);
      assert.deepEqual(
        runCommands(sim, 'n1', [
          ['BARISTA', 'CONSISTENCY', 'ONE'],
          ['SADD', 's', 'a', 'b'],
        ]),
        ['+OK', ':2'],
      );
      sim.runFor(3_000);
      const cut = isolateN3(sim);
      runCommands(sim, 'n1', [
        ['BARISTA', 'CONSISTENCY', 'ONE'],
        ['SREM', 's', ...n1Removes],
      ]);
      sim.runFor(100);
      runCommands(sim, 'n3', [
        ['BARISTA', 'CONSISTENCY', 'ONE'],
        ['SREM', 's', ...n3Removes],
      ]);
      heal(sim, cut);
      sim.runFor(10_000);
      const exists = layout === 'rows' ? existsRows : existsWhole;
      for (const id of NODES)
        assert.deepEqual(
          runCommands(sim, id, [
            ['EXISTS', 's'],
            ['SMEMBERS', 's'],
          ]),
          [exists, '*[]'],
          `${layout} ${n3Removes} at ${id}`,
        );
      // The next write counts what the rows hold.
      assert.deepEqual(
        runCommands(sim, 'n2', [
          ['SADD', 's', 'c'],
          ['SREM', 's', 'c'],
        ]),
        [':1', ':1'],
      );
      for (const id of NODES)
        assert.deepEqual(
          runCommands(sim, id, [
            ['EXISTS', 's'],
            ['SMEMBERS', 's'],
          ]),
          [':0', '*[]'],
          `${layout} ${n3Removes} at ${id}, after`,
        );
    }
});

test('whole layout: an emptying side that set an earlier deadline gives the shown key that deadline: EXISTS, TTL and the elements agree before it, and the key is gone at it', () => {
  for (const layout of ['whole'] as const) {
    const sim = cluster(`${layout}-emptied-earlier-deadline`, layout);
    assert.deepEqual(
      runCommands(sim, 'n1', [
        ['BARISTA', 'CONSISTENCY', 'ONE'],
        ['SADD', 's', 'a'],
        ['EXPIRE', 's', '1000'],
      ]),
      ['+OK', ':1', ':1'],
    );
    sim.runFor(3_000);
    const cut = isolateN3(sim);
    assert.deepEqual(
      runCommands(sim, 'n1', [
        ['BARISTA', 'CONSISTENCY', 'ONE'],
        ['SADD', 's', 'b'],
      ]),
      ['+OK', ':1'],
    );
    sim.runFor(100);
    assert.deepEqual(
      runCommands(sim, 'n3', [
        ['BARISTA', 'CONSISTENCY', 'ONE'],
        ['EXPIRE', 's', '100'],
        ['SREM', 's', 'a'],
      ]),
      ['+OK', ':1', ':1'],
    );
    heal(sim, cut);
    sim.runFor(10_000);
    for (const id of NODES) {
      const [exists, ttl, members, card] = runCommands(sim, id, [
        ['EXISTS', 's'],
        ['TTL', 's'],
        ['SMEMBERS', 's'],
        ['SCARD', 's'],
      ]);
      assert.deepEqual([exists, members, card], [':1', '*[$b]', ':1'], `${layout} at ${id}`);
      const left = Number(ttl!.slice(1));
      assert.ok(left > 0 && left <= 100, `${layout} at ${id}: TTL ${ttl}`);
    }
    // The shown sibling is a copy with the earlier deadline: a command of another type still
    // answers WRONGTYPE and leaves the set (a review found HSET taking the key over and HDEL
    // emptying it in the whole layout: the checks compared siblings by identity).
    assert.deepEqual(
      runCommands(sim, 'n2', [
        ['HSET', 's', 'f', 'v'],
        ['HDEL', 's', 'nope'],
        ['ZADD', 's', '1', 'z'],
        ['TYPE', 's'],
        ['SMEMBERS', 's'],
      ]),
      [WRONGTYPE_REPLY, WRONGTYPE_REPLY, WRONGTYPE_REPLY, '+set', '*[$b]'],
      layout,
    );
    sim.runFor(100_000);
    for (const id of NODES)
      assert.deepEqual(
        runCommands(sim, id, [
          ['EXISTS', 's'],
          ['TTL', 's'],
          ['SMEMBERS', 's'],
          ['SCARD', 's'],
        ]),
        [':0', ':-2', '*[]', ':0'],
        `${layout} at ${id}, past the deadline`,
      );
  }
});

/**
 * n1 adds a to a set, then b, c, d and a deadline while n3 is cut off; after the heal (no hint
 * replay, no anti-entropy: n3 still holds a alone) n3 removes a at QUORUM.
 */
function lackingCoordinatorRemoves(seed: string, mutations: readonly string[] = []): Simulation<NodeServices> {
  const sim = cluster(seed, 'rows', NO_HINT_REPLAY, mutations);
  assert.deepEqual(runCommands(sim, 'n1', [['SADD', 's', 'a']]), [':1']);
  sim.runFor(3_000);
  const cut = isolateN3(sim);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['SADD', 's', 'b', 'c', 'd'],
      ['EXPIRE', 's', '1000'],
    ]),
    [':3', ':1'],
  );
  heal(sim, cut);
  assert.deepEqual(
    runCommands(sim, 'n3', [
      ['BARISTA', 'CONSISTENCY', 'QUORUM'],
      ['SREM', 's', 'a'],
    ]),
    ['+OK', ':1'],
  );
  return sim;
}

test('an EXPIRE or PERSIST concurrent with the removal of everything leaves no key in both layouts, and the next add makes it anew without a deadline (a review found the rows layout showing the refreshed marker and the next add keeping its deadline: the element vanished at it)', () => {
  // Deadlines 30 s and 60 s ahead, still ahead when SADD c comes (~20 s in), passed when the last
  // reads come (the simulator steps every tick: 100 minutes of virtual time took 4 minutes of CPU).
  for (const refresh of [
    ['EXPIRE', 's', '30'],
    ['PERSIST', 's'],
  ])
    for (const layout of ['rows', 'whole'] as const) {
      const sim = cluster(`${layout}-refresh-vs-empty-${refresh[0]}`, layout);
      assert.deepEqual(
        runCommands(sim, 'n1', [
          ['BARISTA', 'CONSISTENCY', 'ONE'],
          ['SADD', 's', 'a'],
          ['EXPIRE', 's', '60'],
        ]),
        ['+OK', ':1', ':1'],
      );
      sim.runFor(3_000);
      const cut = isolateN3(sim);
      assert.deepEqual(runCommands(sim, 'n1', [['BARISTA', 'CONSISTENCY', 'ONE'], refresh]), ['+OK', ':1']);
      sim.runFor(100);
      assert.deepEqual(
        runCommands(sim, 'n3', [
          ['BARISTA', 'CONSISTENCY', 'ONE'],
          ['SREM', 's', 'a'],
        ]),
        ['+OK', ':1'],
      );
      heal(sim, cut);
      sim.runFor(10_000);
      for (const id of NODES)
        assert.deepEqual(
          runCommands(sim, id, [
            ['EXISTS', 's'],
            ['SMEMBERS', 's'],
          ]),
          [':0', '*[]'],
          `${layout} ${refresh[0]} at ${id}`,
        );
      assert.deepEqual(
        runCommands(sim, 'n2', [
          ['SADD', 's', 'c'],
          ['TTL', 's'],
        ]),
        [':1', ':-1'],
      );
      sim.runFor(60_000);
      for (const id of NODES)
        assert.deepEqual(
          runCommands(sim, id, [['SMEMBERS', 's']]),
          ['*[$c]'],
          `${layout} ${refresh[0]} at ${id}, after`,
        );
    }
});

test('whole layout, three siblings: a sibling past its deadline hides the older adds, as in the plain order, and the key vanishes when its TTL says; a SET newer than the add stays hidden behind the emptied set, as a DEL hides it; SMEMBERS still answers the hidden add and it joins the next write (known gap) (reviews of b624970 and 6325cf7)', () => {
  const reads = [
    ['EXISTS', 's'],
    ['SMEMBERS', 's'],
  ];
  for (const layout of ['whole'] as const) {
    // n2 sets a deadline on what it held ({a}), later than n1's add of b: at that deadline n2's
    // sibling is a tombstone newer than the add, which goes with it (as without n3's removal).
    const sim = threeWay(`${layout}-three-siblings-deadline`, layout, ['EXPIRE', 's', '100'], ':1');
    for (const id of NODES) {
      const [exists, members, ttl] = runCommands(sim, id, [...reads, ['TTL', 's']]);
      assert.deepEqual([exists, members], [':1', '*[$b]'], `${layout} at ${id}`);
      const left = Number(ttl!.slice(1));
      assert.ok(left > 0 && left <= 100, `${layout} at ${id}: TTL ${ttl}`);
    }
    sim.runFor(100_000);
    const hidden = '*[$b]';
    for (const id of NODES)
      assert.deepEqual(
        runCommands(sim, id, [...reads, ['TTL', 's']]),
        [':0', hidden, ':-2'],
        `${layout} at ${id}, past the deadline`,
      );
    // n2 writes a string, newer than n1's add: hidden behind n3's emptied set, as before.
    const other = threeWay(`${layout}-three-siblings-set`, layout, ['SET', 's', 'x'], '+OK');
    for (const id of NODES) assert.deepEqual(runCommands(other, id, reads), [':0', hidden], `${layout} at ${id}`);
    // The hidden add joins the key's next write (the known gap: the value joins every sibling).
    assert.deepEqual(runCommands(other, 'n2', [['SADD', 's', 'c']]), [':1']);
    for (const id of NODES)
      assert.deepEqual(runCommands(other, id, [['SMEMBERS', 's']]), ['*[$b,$c]'], `${layout} at ${id}, after`);
    // Also past the SET's own deadline: it is a tombstone then, still newer than the add (a review
    // found the add coming back, with no TTL, when an expired sibling took no part).
    const expiring = threeWay(`${layout}-three-siblings-set-px`, layout, ['SET', 's', 'x', 'PX', '30000'], '+OK');
    expiring.runFor(40_000);
    for (const id of NODES)
      assert.deepEqual(
        runCommands(expiring, id, [
          ['EXISTS', 's'],
          ['TYPE', 's'],
        ]),
        [':0', '+none'],
        `${layout} at ${id}`,
      );
  }
});

/**
 * A set {a}; each node cut off from both others: n1 adds b, then n2 runs `n2Command` (answering
 * `n2Reply`), then n3 removes a, each at ONE and later than the one before; healed.
 */
function threeWay(
  seed: string,
  layout: 'rows' | 'whole',
  n2Command: string[],
  n2Reply: string,
): Simulation<NodeServices> {
  const sim = cluster(seed, layout);
  const one = (id: string, command: string[]) => runCommands(sim, id, [['BARISTA', 'CONSISTENCY', 'ONE'], command])[1];
  assert.equal(one('n1', ['SADD', 's', 'a']), ':1');
  sim.runFor(3_000);
  const cut = sim.network.partition([['n1'], ['n2'], ['n3']]);
  sim.runFor(3_000);
  assert.equal(one('n1', ['SADD', 's', 'b']), ':1');
  sim.runFor(100);
  assert.equal(one('n2', n2Command), n2Reply);
  sim.runFor(100);
  assert.equal(one('n3', ['SREM', 's', 'a']), ':1');
  heal(sim, cut);
  sim.runFor(10_000);
  return sim;
}

test('whole layout: a write onto a key whose newest sibling is emptied joins every sibling of the type, so it never reuses a dot its coordinator wrote before: no acknowledged SADD lost (review of 5ad5b44, which joined only the siblings taking part: SMEMBERS lost d)', () => {
  const sim = cluster('whole-dot-reuse', 'whole');
  const at = (id: string, level: string, command: string[]) =>
    runCommands(sim, id, [['BARISTA', 'CONSISTENCY', level], command])[1];
  assert.equal(at('n1', 'ONE', ['SADD', 's', 'a']), ':1');
  sim.runFor(3_000);
  let cut = isolateN3(sim);
  assert.equal(at('n1', 'QUORUM', ['SADD', 's', 'b']), ':1');
  sim.runFor(1_000);
  cut.heal();
  cut = sim.network.partition([['n1'], ['n2'], ['n3']]);
  sim.runFor(3_000);
  assert.equal(at('n1', 'ONE', ['SREM', 's', 'a', 'b']), ':2');
  sim.runFor(100);
  assert.equal(at('n2', 'ONE', ['SADD', 's', 'c']), ':1');
  sim.runFor(100);
  assert.equal(at('n3', 'ONE', ['SREM', 's', 'a']), ':1');
  sim.runFor(100);
  cut.heal();
  cut = sim.network.partition([['n1', 'n3'], ['n2']]);
  sim.runFor(3_000);
  assert.equal(at('n1', 'QUORUM', ['SADD', 's', 'd']), ':1');
  heal(sim, cut);
  sim.runFor(10_000);
  for (const id of NODES) assert.deepEqual(runCommands(sim, id, [['SMEMBERS', 's']]), ['*[$c,$d]'], id);
});

test('rows: a read of every row through the replica holding a hash is not refused by an empty set header another replica keeps (made by an emptied set marker, concurrent with the hash): HGETALL answers (a review of b51e945: -TIMEOUT)', () => {
  const sim = cluster('rows-empty-other-schema', 'rows', NO_HINT_REPLAY);
  let cut = sim.network.partition([['n1'], ['n2'], ['n3']]);
  sim.runFor(3_000);
  assert.equal(atLevel(sim, 'n1', 'ONE', ['SADD', 'k', 'a']), ':1');
  assert.equal(atLevel(sim, 'n1', 'ONE', ['SPOP', 'k']), '$a');
  sim.runFor(1_000);
  assert.equal(atLevel(sim, 'n3', 'ONE', ['HSET', 'k', 'f', 'v']), ':1');
  cut.heal();
  cut = sim.network.partition([['n1', 'n2'], ['n3']]);
  sim.runFor(3_000);
  assert.equal(atLevel(sim, 'n2', 'QUORUM', ['EXISTS', 'k']), ':0'); // n1's emptied set marker reaches n2
  cut.heal();
  cut = sim.network.partition([['n2', 'n3'], ['n1']]);
  sim.runFor(3_000);
  assert.equal(atLevel(sim, 'n3', 'QUORUM', ['HGETALL', 'k']), '*[$f,$v]');
  assert.equal(atLevel(sim, 'n3', 'QUORUM', ['TYPE', 'k']), '+hash');
  heal(sim, cut);
});

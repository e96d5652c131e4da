// Goal: Redis 7.0's blocking pops (blocking.ts) on the store's RESP front end, over simulated client
// links and the simulator's virtual clock: a BLPOP / BRPOP / BZPOPMIN / BLMOVE / BRPOPLPUSH on empty
// keys waits, is woken by a push (a client's, one inside EXEC after the whole EXEC, one forwarded
// from another node), clients blocked on one key are served in the order they blocked, a timeout
// answers the null array (RESP2 `*-1`, RESP3 `_`) at its virtual time and not before, timeout
// texts are Redis', inside MULTI nothing blocks, a closed connection is forgotten, and requests
// pipelined behind a blocked one wait for it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeServices } from '../../node/services.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { simServices } from '../../../test/support/sim-services.ts';
import { parseTimeoutMs } from './blocking.ts';
import { placementKey } from './routing.ts';
import { storeOf, storeService } from './service.ts';
import { show, SimRespClient } from './sim-client.ts';

function node(seed: string): Simulation<NodeServices> {
  return simServices({
    seed,
    nodes: ['n1'],
    services: [storeService],
    clientLinks: { chunking: 'random', chunkBytesMax: 7 },
  });
}

function until(sim: Simulation<NodeServices>, c: SimRespClient, count: number, withinMs = 5_000): string[] {
  assert.ok(
    sim.runUntilCondition(() => c.replies.length >= count || c.closed !== undefined, withinMs),
    `${count} replies (have ${c.replies.length}: ${c.replies.map(show).join(' ')})`,
  );
  return c.replies.map(show);
}

test('BLPOP waits for a push; blocked clients are served FIFO; a timeout answers the null array at its time', () => {
  const sim = node('block-fifo');
  const a = new SimRespClient(sim, 'n1');
  const b = new SimRespClient(sim, 'n1');
  const c = new SimRespClient(sim, 'n1');
  a.send('BLPOP', 'q1', 'q2', '0');
  a.send('PING'); // held behind the blocked command
  sim.runFor(50);
  b.send('BLPOP', 'q2', '0');
  sim.runFor(50);
  c.send('HELLO', '3');
  c.send('BRPOP', 'q2', '2.5');
  until(sim, c, 1);
  sim.runFor(1_000);
  assert.equal(a.replies.length, 0, 'nothing to pop: still blocked (negative control for the wake-up)');
  const info = new SimRespClient(sim, 'n1');
  info.send('INFO', 'clients');
  assert.match(until(sim, info, 1)[0]!, /blocked_clients:3\r\n/, 'INFO counts the three blocked clients');
  const w = new SimRespClient(sim, 'n1');
  w.send('RPUSH', 'q2', 'x', 'y');
  assert.deepEqual(until(sim, w, 1), [':2']);
  assert.deepEqual(until(sim, a, 2), ['*[$q2,$x]', '+PONG']);
  assert.deepEqual(until(sim, b, 1), ['*[$q2,$y]']);
  assert.equal(c.replies.length, 1, 'the third waits: the list is empty again');
  // Its 2.5 s run from when it blocked (about 1.1 s ago).
  sim.runFor(1_000);
  assert.equal(c.replies.length, 1, 'not before its timeout');
  until(sim, c, 2, 1_000);
  assert.equal(show(c.replies[1]), '_', 'RESP3: the null');
  assert.equal(storeOf(sim.instance('n1')!).server.blocking.count, 0);
  w.send('LLEN', 'q2');
  assert.deepEqual(until(sim, w, 2)[1], ':0');
});

test('a push inside MULTI wakes the blocked client after the whole EXEC; nothing blocks inside MULTI', () => {
  const sim = node('block-multi');
  const a = new SimRespClient(sim, 'n1');
  a.send('BLPOP', 'k', '0');
  sim.runFor(50);
  const w = new SimRespClient(sim, 'n1');
  w.send('MULTI');
  w.send('LPUSH', 'k', 'v');
  w.send('LLEN', 'k');
  w.send('BLPOP', 'empty', '0');
  w.send('BLMOVE', 'empty', 'dst', 'LEFT', 'RIGHT', '0');
  w.send('EXEC');
  assert.deepEqual(until(sim, w, 6).slice(5), ['*[:1,:1,_,_]']);
  const exec = w.replies[5]!;
  assert.ok(exec.type === 'array');
  assert.equal(exec.items[2]!.type, 'nullArray', 'BLPOP in MULTI: the null array');
  assert.equal(exec.items[3]!.type, 'null', 'BLMOVE in MULTI: the null bulk');
  assert.deepEqual(until(sim, a, 1), ['*[$k,$v]']);
});

test('a woken client pops from the key that became ready, not the first of its keys (Redis serves the ready key)', () => {
  const sim = node('block-ready-key');
  const a = new SimRespClient(sim, 'n1');
  const m = new SimRespClient(sim, 'n1');
  a.send('BLPOP', 'ka', 'kb', '0');
  m.send('BLMPOP', '0', '2', 'ma', 'mb', 'LEFT', 'COUNT', '5');
  sim.runFor(50);
  const w = new SimRespClient(sim, 'n1');
  // Pushes to the second key first, then to the first, in one EXEC: both keys are ready when the
  // clients are served, in the order they were written.
  w.send('MULTI');
  w.send('RPUSH', 'kb', 'x');
  w.send('RPUSH', 'ka', 'y');
  w.send('RPUSH', 'mb', 'x1', 'x2');
  w.send('RPUSH', 'ma', 'y1');
  w.send('EXEC');
  until(sim, w, 6);
  assert.deepEqual(until(sim, a, 1), ['*[$kb,$x]'], 'served from kb, which became ready first');
  assert.deepEqual(until(sim, m, 1), ['*[$mb,*[$x1,$x2]]']);
  w.send('LRANGE', 'ka', '0', '-1');
  w.send('LRANGE', 'ma', '0', '-1');
  assert.deepEqual(until(sim, w, 8).slice(6), ['*[$y]', '*[$y1]'], 'the first keys were left alone');
});

test('a write that leaves a key of another type keeps its blocked clients blocked (no WRONGTYPE), as Redis', () => {
  const sim = node('block-wrong-type');
  const a = new SimRespClient(sim, 'n1');
  const m = new SimRespClient(sim, 'n1');
  a.send('BLPOP', 'ka', 'kb', '0');
  m.send('BLMPOP', '0', '2', 'ma', 'mb', 'LEFT');
  sim.runFor(50);
  const w = new SimRespClient(sim, 'n1');
  w.send('SET', 'ka', 'str');
  w.send('SET', 'ma', 'str');
  until(sim, w, 2);
  sim.runFor(200);
  assert.equal(a.replies.length, 0, 'still blocked after SET of one of its keys');
  assert.equal(m.replies.length, 0);
  w.send('RPUSH', 'kb', 'x');
  w.send('RPUSH', 'mb', 'y');
  assert.deepEqual(until(sim, a, 1), ['*[$kb,$x]']);
  assert.deepEqual(until(sim, m, 1), ['*[$mb,*[$y]]']);
  // The first try, before blocking, still answers WRONGTYPE at once, as Redis does.
  const c = new SimRespClient(sim, 'n1');
  c.send('BLPOP', 'ka', '0');
  assert.match(until(sim, c, 1)[0]!, /^-WRONGTYPE/);
});

test('BLMOVE and BRPOPLPUSH move when the source gets an element, waking a BLPOP on the destination; BZPOPMIN', () => {
  const sim = node('block-move');
  const mover = new SimRespClient(sim, 'n1');
  mover.send('BLMOVE', 'src', 'dst', 'RIGHT', 'LEFT', '0');
  sim.runFor(50);
  const legacy = new SimRespClient(sim, 'n1');
  legacy.send('BRPOPLPUSH', 'src', 'dst', '0');
  sim.runFor(50);
  const popper = new SimRespClient(sim, 'n1');
  popper.send('BLPOP', 'dst', '0');
  const z = new SimRespClient(sim, 'n1');
  z.send('BZPOPMIN', 'zs', '0');
  sim.runFor(100);
  const w = new SimRespClient(sim, 'n1');
  w.send('RPUSH', 'src', 'a', 'b');
  w.send('ZADD', 'zs', '2', 'two', '1', 'one');
  until(sim, w, 2);
  assert.deepEqual(until(sim, mover, 1), ['$b']);
  assert.deepEqual(until(sim, legacy, 1), ['$a']);
  // Redis serves the source's clients first, then the destination's (its ready-keys order):
  // dst is [a, b] when BLPOP pops.
  assert.deepEqual(until(sim, popper, 1), ['*[$dst,$a]']);
  assert.deepEqual(until(sim, z, 1), ['*[$zs,$one,$1]']);
  w.send('LRANGE', 'dst', '0', '-1');
  w.send('ZRANGE', 'zs', '0', '-1');
  assert.deepEqual(until(sim, w, 4).slice(2), ['*[$b]', '*[$two]']);
});

test('timeout errors, WRONGTYPE at once, a closed blocked client is forgotten', () => {
  const sim = node('block-errors');
  const c = new SimRespClient(sim, 'n1');
  c.send('BLPOP', 'k', 'abc');
  c.send('BLPOP', 'k', '-1');
  c.send('BLPOP', 'k', '');
  c.send('SET', 's', 'x');
  c.send('BLPOP', 's', '0');
  c.send('BLMOVE', 'a', 'b', 'UP', 'LEFT', '0');
  c.send('BLPOP', 'k', '0.01');
  assert.deepEqual(until(sim, c, 7), [
    '-ERR timeout is not a float or out of range',
    '-ERR timeout is negative',
    '-ERR timeout is not a float or out of range',
    '+OK',
    '-WRONGTYPE Operation against a key holding the wrong kind of value',
    '-ERR syntax error',
    '_',
  ]);
  assert.equal(c.replies[6]!.type, 'nullArray', 'RESP2: *-1');
  const gone = new SimRespClient(sim, 'n1');
  gone.send('BLPOP', 'k', '0');
  assert.ok(sim.runUntilCondition(() => storeOf(sim.instance('n1')!).server.blocking.count === 1, 1_000));
  gone.close();
  assert.ok(sim.runUntilCondition(() => storeOf(sim.instance('n1')!).server.blocking.count === 0, 1_000));
  c.send('LPUSH', 'k', 'kept');
  c.send('LLEN', 'k');
  assert.deepEqual(until(sim, c, 9).slice(7), [':1', ':1']);
});

test('parseTimeoutMs follows Redis: float seconds, 0 forever, errors', () => {
  const t = (s: string) => parseTimeoutMs(new TextEncoder().encode(s));
  assert.equal(t('0'), 0);
  assert.equal(t('1.5'), 1500);
  assert.equal(t('.25'), 250);
  assert.equal(t('1e1'), 10_000);
  assert.deepEqual(t('-0.1'), { type: 'error', message: 'ERR timeout is negative' });
  assert.deepEqual(t('1x'), { type: 'error', message: 'ERR timeout is not a float or out of range' });
  assert.deepEqual(t('inf'), { type: 'error', message: 'ERR timeout is out of range' });
});

test('on a cluster, a push forwarded from another node wakes a client blocked on the owner', () => {
  const NODES = ['n1', 'n2', 'n3'];
  const sim = simServices({
    seed: 'block-cluster',
    nodes: NODES,
    services: [storeService],
    clientLinks: { chunking: 'random', chunkBytesMax: 9 },
  });
  assert.ok(
    sim.runUntilCondition(() => NODES.every((id) => (storeOf(sim.instance(id)!).ring.ring.version ?? 0) > 0), 20_000),
  );
  const owner = storeOf(sim.instance('n1')!).ring.ring.locate(placementKey(new TextEncoder().encode('jobs')), 1)
    .replicas[0]!;
  const other = NODES.find((id) => id !== owner)!;
  const waiter = new SimRespClient(sim, owner);
  waiter.send('BLPOP', 'jobs', '0');
  const elsewhere = new SimRespClient(sim, other);
  elsewhere.send('BLPOP', 'jobs', '0');
  assert.match(until(sim, elsewhere, 1)[0]!, /^-CROSSSLOT .*connect there/, 'blocking needs the owner');
  sim.runFor(100);
  const pusher = new SimRespClient(sim, other);
  pusher.send('LPUSH', 'jobs', 'j1');
  assert.deepEqual(until(sim, pusher, 1), [':1']);
  assert.deepEqual(until(sim, waiter, 1), ['*[$jobs,$j1]']);
});

test('BLMPOP and BZMPOP wait, then pop up to COUNT from the first non-empty key; their argument errors come at once; TIME', () => {
  const sim = node('block-mpop');
  const a = new SimRespClient(sim, 'n1');
  const z = new SimRespClient(sim, 'n1');
  a.send('BLMPOP', '0', '2', 'l1', 'l2', 'RIGHT', 'COUNT', '2');
  z.send('BZMPOP', '0', '1', 'z1', 'MIN', 'COUNT', '5');
  sim.runFor(500);
  assert.equal(a.replies.length + z.replies.length, 0, 'both blocked on empty keys');
  const w = new SimRespClient(sim, 'n1');
  w.send('RPUSH', 'l2', 'a', 'b', 'c');
  w.send('ZADD', 'z1', '2', 'b', '1', 'a');
  until(sim, w, 2);
  assert.deepEqual(until(sim, a, 1), ['*[$l2,*[$c,$b]]'], 'two from the right of the list pushed');
  assert.deepEqual(until(sim, z, 1), ['*[$z1,*[*[$a,$1],*[$b,$2]]]'], 'every member, lowest first, pairs nested');
  w.send('LRANGE', 'l2', '0', '-1');
  assert.equal(until(sim, w, 3)[2], '*[$a]');
  // Bad arguments answer at once, numkeys before the timeout (as Redis checks them).
  const e = new SimRespClient(sim, 'n1');
  e.send('BLMPOP', 'x', '0', 'l1', 'LEFT');
  e.send('BLMPOP', 'x', '1', 'l1', 'LEFT');
  e.send('BZMPOP', '0', '1', 'z1', 'LEFT');
  e.send('TIME');
  const r = until(sim, e, 4);
  assert.deepEqual(r.slice(0, 3), [
    '-ERR numkeys should be greater than 0',
    '-ERR timeout is not a float or out of range',
    '-ERR syntax error',
  ]);
  const [seconds, micros] = (r[3]!.match(/^\*\[\$(\d+),\$(\d+)\]$/) ?? []).slice(1).map(Number);
  const wallMs = sim.instance('n1')!.env.clock.wallMs();
  assert.ok(
    Math.abs(seconds! * 1000 + micros! / 1000 - wallMs) < 1_000,
    `TIME ${r[3]} is the node's clock (${wallMs})`,
  );
});

test('CLIENT UNBLOCK answers a blocked connection now: TIMEOUT (the null array) or ERROR (-UNBLOCKED); 0 when not blocked', () => {
  const sim = node('block-unblock');
  const a = new SimRespClient(sim, 'n1');
  const b = new SimRespClient(sim, 'n1');
  a.send('CLIENT', 'ID');
  b.send('CLIENT', 'ID');
  const idA = until(sim, a, 1)[0]!.slice(1);
  const idB = until(sim, b, 1)[0]!.slice(1);
  a.send('BLPOP', 'nothing', '0');
  b.send('BLMPOP', '0', '1', 'nothing', 'LEFT');
  sim.runFor(200);
  const c = new SimRespClient(sim, 'n1');
  c.send('CLIENT', 'UNBLOCK', idA);
  c.send('CLIENT', 'UNBLOCK', idB, 'ERROR');
  c.send('CLIENT', 'UNBLOCK', idA);
  c.send('CLIENT', 'UNBLOCK', idA, 'BOGUS');
  assert.deepEqual(until(sim, c, 4), [':1', ':1', ':0', '-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR']);
  assert.deepEqual(until(sim, a, 2)[1], '_', 'TIMEOUT: the null array, as at its timeout');
  assert.deepEqual(until(sim, b, 2)[1], '-UNBLOCKED client unblocked via CLIENT UNBLOCK');
  assert.equal(storeOf(sim.instance('n1')!).server.blocking.count, 0);
});

test('WAIT at N = 1: 0 replicas acknowledged, at once for none or inside MULTI, else at its timeout', () => {
  const sim = node('wait-n1');
  const c = new SimRespClient(sim, 'n1');
  c.send('WAIT', '0', '0');
  assert.deepEqual(until(sim, c, 1), [':0']);
  c.send('WAIT', '2', '500');
  c.send('PING');
  sim.runFor(400);
  assert.equal(c.replies.length, 1, 'not before its timeout, and the PING behind it waits');
  assert.deepEqual(until(sim, c, 3, 300).slice(1), [':0', '+PONG']);
  c.send('MULTI');
  c.send('WAIT', '1', '0');
  c.send('EXEC');
  assert.deepEqual(until(sim, c, 6).slice(3), ['+OK', '+QUEUED', '*[:0]'], 'inside MULTI: at once');
});

test('LMPOP, ZMPOP and a waiting BLMPOP touch only their own keys: a WATCH of another key survives them', () => {
  const sim = node('mpop-watch');
  const a = new SimRespClient(sim, 'n1');
  const b = new SimRespClient(sim, 'n1');
  const waiter = new SimRespClient(sim, 'n1');
  waiter.send('BLMPOP', '0', '1', 'q', 'LEFT', 'COUNT', '9223372036854775807');
  a.send('WATCH', 'x');
  a.send('MULTI');
  a.send('SET', 'x', '1');
  until(sim, a, 3);
  b.send('LMPOP', '1', 'nothing', 'LEFT');
  b.send('ZMPOP', '1', 'nothing', 'MIN');
  b.send('RPUSH', 'q', 'v1', 'v2');
  until(sim, b, 3);
  assert.deepEqual(until(sim, waiter, 1), ['*[$q,*[$v1,$v2]]'], 'a COUNT of LONG_MAX takes everything');
  a.send('EXEC');
  assert.deepEqual(until(sim, a, 4)[3], '*[+OK]', 'the watched key was not touched: EXEC runs');
});

test('CLIENT UNBLOCK ends a WAIT: its count (0) with TIMEOUT, -UNBLOCKED with ERROR', () => {
  const sim = node('wait-unblock');
  const w = new SimRespClient(sim, 'n1');
  w.send('CLIENT', 'ID');
  const id = until(sim, w, 1)[0]!.slice(1);
  w.send('WAIT', '1', '0');
  sim.runFor(1_000);
  assert.equal(w.replies.length, 1, 'WAIT 1 0 waits (forever: no replica will come)');
  const c = new SimRespClient(sim, 'n1');
  c.send('CLIENT', 'UNBLOCK', id);
  assert.deepEqual(until(sim, c, 1), [':1']);
  assert.deepEqual(until(sim, w, 2)[1], ':0');
  w.send('WAIT', '1', '0');
  sim.runFor(100);
  c.send('CLIENT', 'UNBLOCK', id, 'ERROR');
  c.send('CLIENT', 'UNBLOCK', id);
  assert.deepEqual(until(sim, c, 3).slice(1), [':1', ':0']);
  assert.deepEqual(until(sim, w, 3)[2], '-UNBLOCKED client unblocked via CLIENT UNBLOCK');
});

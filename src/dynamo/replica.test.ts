// Goal: the coordinator and replica rules of the Dynamo-style store (Dynamo §4.5 "execution of get
// and put", §4.6 "hinted handoff", §4.7 read repair; Cassandra's consistency levels with pending
// replicas), one named scenario per rule, on the in-test network of testing.ts (5 nodes, N = 3)
// with its invariants checked after every step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeId } from '../env/types.ts';
import { BaristaError } from '../lib/errors.ts';
import { mutationsFrom } from '../lib/mutations.ts';
import { counterValue } from './counter.ts';
import { decodeMessage } from './messages.ts';
import { levelCount } from './replica.ts';
import { DynamoCluster } from './testing.ts';
import { emptyContext } from './versions.ts';

const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];
const utf8 = new TextEncoder();
const text = new TextDecoder();
const KEY = 'user:42';

function setup(config = {}): { c: DynamoCluster; a: NodeId; b: NodeId; r3: NodeId; others: NodeId[] } {
  const c = new DynamoCluster({ ids: IDS, seed: 7, config });
  const [a, b, r3] = c.replicasOf(KEY) as [NodeId, NodeId, NodeId];
  return { c, a, b, r3, others: IDS.filter((id) => ![a, b, r3].includes(id)) };
}

function values(c: DynamoCluster, id: number): string[] {
  const r = c.result(id);
  assert(r?.ok, `request ${id} did not succeed: ${r?.ok === false ? r.error.message : 'no answer'}`);
  return r.state.siblings.map((s) => (s.value === null ? '<deleted>' : text.decode(s.value))).sort();
}

function error(c: DynamoCluster, id: number): BaristaError {
  const r = c.result(id);
  assert(r !== undefined && !r.ok, `request ${id} did not fail`);
  assert(r.error instanceof BaristaError);
  return r.error;
}

/** Removes the queued messages matching `pred` (a targeted loss). */
function dropWhere(c: DynamoCluster, pred: (to: NodeId, type: string) => boolean): number {
  const before = c.queue.length;
  c.queue = c.queue.filter((m) => !pred(m.to, decodeMessage(m.bytes).type));
  return before - c.queue.length;
}

test('levels: ONE 1, QUORUM a majority, ALL every replica, explicit counts 1..N', () => {
  assert.equal(levelCount('ONE', 3), 1);
  assert.equal(levelCount('QUORUM', 3), 2);
  assert.equal(levelCount('QUORUM', 4), 3);
  assert.equal(levelCount('ALL', 3), 3);
  assert.equal(levelCount('ANY', 3), 1);
  assert.equal(levelCount(2, 3), 2);
  assert.equal(levelCount(0, 3), undefined);
  assert.equal(levelCount(1.5, 3), undefined);
});

test('put at QUORUM then a read at ONE on every replica sees the value', () => {
  const { c, a, b, r3 } = setup();
  const put = c.put(a, KEY, 'v1', 'QUORUM');
  c.settle();
  assert.deepEqual(values(c, put), ['v1']);
  for (const r of [a, b, r3]) assert.deepEqual(values(c, c.get(r, KEY, 'ONE')), ['v1']);
});

test('W: a put at ALL is acknowledged only after the last replica acks', () => {
  const { c, a } = setup();
  const put = c.put(a, KEY, 'v1', 'ALL');
  assert.equal(c.queue.length, 2, 'the whole state goes to both other replicas');
  c.deliver(0); // replicate to the first
  c.deliver(0); // replicate to the second
  assert.equal(c.result(put), undefined);
  c.deliver(0); // first ack
  assert.equal(c.result(put), undefined, 'two of three acks are not ALL');
  c.deliver(0);
  assert.deepEqual(values(c, put), ['v1']);
  assert.equal(c.node(a).replica.stats.writesAcked, 1);
});

test('W: a put at QUORUM is acknowledged by the coordinator and one replica', () => {
  const { c, a } = setup();
  const put = c.put(a, KEY, 'v1', 'QUORUM');
  c.deliver(0);
  c.deliver(0);
  assert.equal(c.result(put), undefined);
  c.deliver(0); // the first ack
  assert.deepEqual(values(c, put), ['v1']);
});

test('a write that gets no quorum times out, indefinite; too few live replicas is unavailable, definite, nothing written', () => {
  const { c, a, b, r3 } = setup();
  c.dropRate = 1; // the liveness view says up, the network loses everything
  const put = c.put(a, KEY, 'v1', 'ALL');
  for (let i = 0; i < 5; i++) {
    c.deliverAll();
    c.tick();
  }
  const e = error(c, put);
  assert.equal(e.code, 'timeout');
  assert.equal(e.definite, false, 'the coordinator wrote locally: the write may be there');
  assert.equal(c.node(a).replica.stats.writeTimeouts, 1);
  const get = c.get(a, KEY, 'ALL');
  for (let i = 0; i < 5; i++) c.tick();
  assert.equal(error(c, get).code, 'timeout');
  assert.equal(error(c, get).definite, true, 'a read that timed out changed nothing');

  const fresh = setup();
  fresh.c.down(fresh.b);
  fresh.c.down(fresh.r3);
  const refused = fresh.c.put(fresh.a, KEY, 'v1', 'QUORUM');
  const u = error(fresh.c, refused);
  assert.equal(u.code, 'replicas_unavailable');
  assert.equal(u.definite, true);
  assert.equal(fresh.c.stateOf(fresh.a, KEY).isEmpty, true, 'nothing written');
  assert.equal(fresh.c.queue.length, 0);
  void b;
  void r3;
});

test('read repair: replicas whose answer was stale get the merged state, and are counted', () => {
  const { c, a, b, r3 } = setup({ timeoutHints: false }); // else a's hint repairs r3 first
  const put = c.put(a, KEY, 'v1', 'ONE');
  assert.deepEqual(values(c, put), ['v1'], 'ONE: the coordinator alone acks');
  assert.equal(
    dropWhere(c, (to) => to === r3),
    1,
  );
  c.settle();
  assert.equal(c.stateOf(r3, KEY).isEmpty, true);
  const get = c.get(b, KEY, 'QUORUM');
  c.settle();
  assert.deepEqual(values(c, get), ['v1']);
  assert.equal(c.node(b).replica.stats.readRepairs, 1);
  assert.ok(c.stateOf(r3, KEY).equals(c.stateOf(a, KEY)), 'the stale replica was repaired');
  c.checkConverged([KEY]);
});

test('hinted handoff: a down replica is written to the next node as a hint, replayed on return, deleted on ack', () => {
  const { c, a, r3 } = setup();
  c.down(r3);
  const put = c.put(a, KEY, 'v1', 'QUORUM');
  const hints = c.queue.filter((m) => decodeMessage(m.bytes).type === 'hint');
  assert.equal(hints.length, 1);
  const holder = hints[0]!.to;
  assert.ok(!c.replicasOf(KEY).includes(holder), 'the hint goes beyond the preference list');
  c.deliverAll();
  assert.deepEqual(values(c, put), ['v1']);
  assert.equal(c.node(holder).store.hintCount, 1);
  assert.equal(c.node(holder).replica.stats.hintsStored, 1);

  c.tick();
  c.tick();
  assert.equal(c.queue.length, 0, 'no replay while the owner is down');
  c.up(r3);
  c.tick();
  c.tick();
  assert.equal(c.queue.length, 1, 'the replay');
  c.deliver(0); // r3 merges the hint
  assert.ok(c.stateOf(r3, KEY).equals(c.stateOf(a, KEY)));
  assert.equal(
    dropWhere(c, (to, type) => to === holder && type === 'replicateAck'),
    1,
  );
  assert.equal(c.node(holder).store.hintCount, 1, 'kept: the owner has not acked');
  c.settle();
  assert.equal(c.node(holder).store.hintCount, 0);
  assert.equal(c.node(holder).replica.stats.hintsDelivered, 1);
  assert.ok(c.node(holder).replica.stats.hintReplays >= 2);
  c.checkConverged([KEY]);
});

test("a replica sent a write that never acks it (a partition the detector has not seen) gets a hint at the coordinator at the write's deadline, replayed and deleted on its ack; an ack before the deadline leaves none; negative control: timeoutHints off, the replica stays behind", () => {
  for (const timeoutHints of [true, false]) {
    const { c, a, r3 } = setup({ timeoutHints });
    const put = c.put(a, KEY, 'v1', 'QUORUM');
    assert.equal(
      dropWhere(c, (to, type) => to === r3 && type === 'replicate'),
      1,
    );
    c.deliverAll();
    assert.deepEqual(values(c, put), ['v1'], 'answered by a and b');
    assert.equal(c.node(a).replica.unackedWrites, timeoutHints ? 1 : 0, 'kept for the missing ack');
    c.settle(); // ticks to the deadline: the hint, its replay, r3's ack
    const stats = c.node(a).replica.stats;
    if (!timeoutHints) {
      assert.throws(() => c.checkConverged([KEY]), /differ/, 'r3 never got v1');
      assert.equal(stats.hintsOnTimeout, 0);
      continue;
    }
    c.checkConverged([KEY]);
    assert.equal(stats.hintsOnTimeout, 1);
    assert.equal(stats.hintsDelivered, 1);
    assert.equal(c.node(a).store.hintCount, 0);
    assert.equal(c.node(a).replica.unackedWrites, 0);

    // A late ack (before the deadline) ends the wait with no hint.
    const late = c.put(a, KEY, 'v2', 'QUORUM', c.stateOf(a, KEY).context());
    const i = c.queue.findIndex((m) => m.to === r3);
    const [slow] = c.queue.splice(i, 1);
    c.deliverAll();
    assert.deepEqual(values(c, late), ['v2']);
    assert.equal(c.node(a).replica.unackedWrites, 1);
    c.tick();
    c.queue.push(slow!);
    c.deliverAll();
    assert.equal(c.node(a).replica.unackedWrites, 0, 'the ack came');
    c.settle();
    assert.equal(stats.hintsOnTimeout, 1, 'no second hint');
    c.checkConverged([KEY]);
  }
});

test('a replica that acks a write after its deadline (slow, not gone) has its timeout hint dropped, unless the hint was merged with a later write meanwhile', () => {
  const { c, a, r3 } = setup();
  const put = c.put(a, KEY, 'v1', 'QUORUM');
  const i = c.queue.findIndex((m) => m.to === r3);
  const [slow] = c.queue.splice(i, 1);
  c.deliverAll();
  assert.deepEqual(values(c, put), ['v1']);
  for (let t = 0; t < 100 && c.node(a).store.hintCount === 0; t++) c.tick();
  assert.equal(c.node(a).store.hintCount, 1, 'hinted at the deadline');
  c.queue.unshift(slow!); // r3 takes the write after all, and acks it
  c.deliver(0);
  c.deliver(0); // its ack
  assert.equal(c.node(a).replica.stats.hintsCancelled, 1);
  assert.equal(c.node(a).store.hintCount, 0, 'the hint is dropped: r3 has that state');
  c.settle();
  c.checkConverged([KEY]);

  // A hint merged with a later write to r3 holds more than the late ack's state: it stays.
  const p1 = c.put(a, KEY, 'v2', 'QUORUM', c.stateOf(a, KEY).context());
  const j = c.queue.findIndex((m) => m.to === r3);
  const [slow1] = c.queue.splice(j, 1);
  c.deliverAll();
  assert.deepEqual(values(c, p1), ['v2']);
  const p2 = c.put(a, KEY, 'v3', 'QUORUM', c.stateOf(a, KEY).context());
  assert.equal(
    dropWhere(c, (to, type) => to === r3 && type === 'replicate'),
    1,
  );
  c.deliverAll();
  assert.deepEqual(values(c, p2), ['v3']);
  for (let t = 0; t < 100 && c.node(a).replica.stats.hintsOnTimeout < 3; t++) {
    c.tick();
    c.queue = c.queue.filter((m) => !(m.to === r3 && decodeMessage(m.bytes).type === 'replicate')); // no replay yet
  }
  assert.equal(c.node(a).replica.stats.hintsOnTimeout, 3, 'both writes hinted, into one hint');
  c.queue.push(slow1!);
  c.deliverAll();
  assert.equal(c.node(a).replica.stats.hintsCancelled, 1, 'not dropped');
  assert.equal(c.node(a).store.hintCount, 1, 'the merged hint stays for its replay');
  c.settle();
  c.checkConverged([KEY]);
  assert.equal(c.node(a).store.hintCount, 0);
});

test('a hint handed to a fallback that never stores it (unreachable too) is kept at the coordinator at the deadline, and reaches its owner when it is back', () => {
  const { c, a, r3 } = setup();
  c.down(r3);
  const put = c.put(a, KEY, 'v1', 'QUORUM');
  assert.equal(
    dropWhere(c, (_, type) => type === 'hint'),
    1,
    'the hint to the fallback is lost',
  );
  c.deliverAll();
  assert.deepEqual(values(c, put), ['v1']);
  assert.equal(c.node(a).replica.unackedWrites, 1, 'waiting for the fallback');
  for (let i = 0; i < 60 && c.node(a).store.hintCount === 0; i++) c.tick();
  assert.equal(c.node(a).store.hintCount, 1, 'kept at the coordinator');
  c.up(r3);
  c.settle();
  c.checkConverged([KEY]);
  assert.equal(c.node(a).store.hintCount, 0);
});

test('hints beyond the bound are refused and counted; they do not count for the write', () => {
  const { c, a, r3 } = setup({ hintsCountMax: 0 });
  c.down(r3);
  const put = c.put(a, KEY, 'v1', 'ALL');
  assert.equal(error(c, put).code, 'replicas_unavailable', 'ALL needs the down replica itself');
  const put2 = c.put(a, KEY, 'v2', 'QUORUM');
  c.deliverAll();
  assert.deepEqual(values(c, put2), ['v2']);
  const refused = [...c.nodes.values()].reduce((s, n) => s + n.replica.stats.hintsRefused, 0);
  assert.equal(refused, 1);
  for (const n of c.nodes.values()) assert.equal(n.store.hintCount, 0);
});

test('ANY: a stored hint counts; with every other replica down the write is accepted', () => {
  const { c, a, b, r3 } = setup();
  c.down(b);
  c.down(r3);
  const put = c.put(a, KEY, 'v1', 'ANY');
  assert.deepEqual(values(c, put), ['v1']);
  c.deliverAll();
  assert.equal(
    [...c.nodes.values()].reduce((s, n) => s + n.store.hintCount, 0),
    2,
    'one hint per down replica',
  );
  c.heal();
  c.settle();
  c.checkConverged([KEY]);
});

test('a request at a node that is not a replica is forwarded to the first live replica', () => {
  const { c, a, others } = setup();
  const at = others[0]!;
  const put = c.put(at, KEY, 'v1', 'QUORUM');
  c.settle();
  assert.deepEqual(values(c, put), ['v1']);
  assert.equal(c.node(at).replica.stats.forwarded, 1);
  assert.equal(c.stateOf(at, KEY).isEmpty, true, 'the forwarder holds nothing');
  assert.equal(c.stateOf(a, KEY).siblings[0]!.dot.replica, a, 'the first replica coordinated');
  const get = c.get(at, KEY, 'ALL');
  c.settle();
  assert.deepEqual(values(c, get), ['v1']);
});

test('concurrent puts become siblings; a put with the read context supersedes both', () => {
  const { c, a, b } = setup();
  c.put(a, KEY, 'left', 'ONE');
  c.put(b, KEY, 'right', 'ONE');
  c.settle();
  const get = c.get(a, KEY, 'ALL');
  c.settle();
  assert.deepEqual(values(c, get), ['left', 'right']);
  const r = c.result(get);
  assert(r?.ok);
  const put = c.put(b, KEY, 'merged', 'ALL', r.state.context());
  c.settle();
  assert.deepEqual(values(c, put), ['merged']);
  assert.deepEqual(values(c, c.get(a, KEY, 'ONE')), ['merged']);
  const del = c.put(a, KEY, null, 'QUORUM', c.stateOf(a, KEY).context());
  c.settle();
  assert.deepEqual(values(c, del), ['<deleted>']);
});

/**
 * A checked write of `first` through the key's second replica b at QUORUM that reaches b and r3 only
 * (the first replica a is cut off; its hint stays where it was kept, never replayed: no tick).
 */
function firstMissedByA(c: DynamoCluster): { a: NodeId; b: NodeId; r3: NodeId } {
  const [a, b, r3] = c.replicasOf(KEY) as [NodeId, NodeId, NodeId];
  c.partition([
    [a, ...IDS.filter((id) => ![a, b, r3].includes(id))],
    [b, r3],
  ]);
  const first = c.put(b, KEY, 'first', 'QUORUM', 'checked');
  c.deliverAll();
  assert.deepEqual(values(c, first), ['first']);
  c.heal();
  return { a, b, r3 };
}

test('a checked write (a siblings SET) supersedes a QUORUM write its coordinator missed: a replica reports it and the write is made again over it; negative control: the report left out', () => {
  const run = (mutations: string[]) => {
    const c = new DynamoCluster({
      ids: IDS,
      seed: 7,
      ...(mutations.length > 0 ? { mutations: mutationsFrom(mutations) } : {}),
    });
    const { a, r3 } = firstMissedByA(c);
    assert.deepEqual(
      c.stateOf(a, KEY).siblings.map((s) => s.value),
      [],
      'the coordinator of the next write holds nothing',
    );
    const redone = () => [...c.nodes.values()].reduce((n, x) => n + x.replica.stats.checkedRedone, 0);
    const second = c.put(a, KEY, 'second', 'QUORUM', 'checked');
    c.deliverAll(); // the ack's check (testing.ts) runs here
    assert.deepEqual(values(c, second), ['second']);
    assert.equal(redone(), 1, 'made once more');
    const get = c.get(r3, KEY, 'ALL');
    c.deliverAll();
    assert.deepEqual(values(c, get), ['second']);
    // A checked write its replicas agree with is made once.
    const third = c.put(a, KEY, 'third', 'QUORUM', 'checked');
    c.deliverAll();
    assert.deepEqual(values(c, third), ['third']);
    assert.equal(redone(), 1, 'nothing reported, nothing made again');
  };
  run([]);
  assert.throws(() => run(['dynamo-checked-held-unreported']), /checked write second at QUORUM left first/);
});

test('a checked write whose second round cannot start (its replicas called down by then) answers timeout, indefinite: the first round is stored', () => {
  const { c } = setup();
  const { a, b, r3 } = firstMissedByA(c);
  const deliverType = (type: string): void => {
    const i = c.queue.findIndex((m) => decodeMessage(m.bytes).type === type);
    assert.ok(i >= 0, `a queued ${type}`);
    c.deliver(i);
  };
  const second = c.put(a, KEY, 'second', 'QUORUM', 'checked');
  deliverType('replicateChecked');
  deliverType('replicateChecked');
  // Both peers report `first`; by the time their acks arrive the coordinator calls them down.
  c.suspected.add(b);
  c.suspected.add(r3);
  deliverType('checkedAck');
  const e = error(c, second);
  assert.equal(e.code, 'timeout');
  assert.equal(e.definite, false, 'the first round was stored: the outcome is unknown, not refused');
  assert.ok(
    c.stateOf(a, KEY).siblings.some((s) => s.value !== null && text.decode(s.value) === 'second'),
    'the first round is held by its coordinator',
  );
});

test('ONE on both sides of a partition: both writes accepted; after healing every replica converges', () => {
  const { c, a, b, r3, others } = setup();
  c.partition([
    [a, others[0]!],
    [b, r3, others[1]!],
  ]);
  const left = c.put(a, KEY, 'left', 'ONE');
  const right = c.put(b, KEY, 'right', 'QUORUM');
  c.deliverAll();
  assert.deepEqual(values(c, left), ['left']);
  assert.deepEqual(values(c, right), ['right']);
  const q = c.put(a, KEY, 'x', 'QUORUM');
  assert.equal(error(c, q).code, 'replicas_unavailable', 'the minority side cannot reach a quorum');
  c.heal();
  c.settle();
  const get = c.get(r3, KEY, 'ALL');
  c.settle();
  assert.deepEqual(values(c, get), ['left', 'right']);
  c.checkConverged([KEY]);
});

test('a replica that crashes before syncing a write did not ack it; read repair brings it back', () => {
  const { c, a, b } = setup();
  const first = c.put(a, KEY, 'v1', 'QUORUM');
  c.settle();
  assert.deepEqual(values(c, first), ['v1']);
  // b gets a replicate of a second write from a, and crashes before syncing it.
  c.put(a, KEY, 'v2', 'ALL', c.stateOf(a, KEY).context());
  const toB = c.queue.findIndex((m) => m.to === b);
  c.deliverAndCrash(toB);
  c.up(b);
  c.settle();
  const get = c.get(b, KEY, 'ALL');
  c.settle();
  assert.deepEqual(values(c, get), ['v2']);
  c.checkConverged([KEY]);
});

test('bad requests are refused, definite: a read at ANY, a level over N, a key over its bound', () => {
  const { c, a } = setup();
  assert.equal(error(c, c.get(a, KEY, 'ANY')).code, 'bad_request');
  assert.equal(error(c, c.put(a, KEY, 'v', 17)).code, 'bad_request');
  const big = 'k'.repeat(2000);
  assert.equal(error(c, c.get(a, big, 'ONE')).code, 'key_too_large');
  assert.equal(error(c, c.put(a, KEY, 'v', 4)).code, 'replicas_unavailable', '4 of a 3-replica list');
  void utf8;
  void emptyContext;
});

test('during a move the pending replica gets the write and its ack is required on top of the level (Cassandra)', () => {
  const c = new DynamoCluster({ ids: IDS, seed: 7, joining: 'n6' });
  const key = Array.from({ length: 200 }, (_, i) => `k${i}`).find((k) => c.pendingOf(k).length > 0);
  assert(key !== undefined, 'some key has a pending replica');
  const [a, b, r3] = c.replicasOf(key) as [NodeId, NodeId, NodeId];
  assert.deepEqual(c.pendingOf(key), ['n6']);
  const put = c.put(a, key, 'v1', 'QUORUM');
  assert.deepEqual(c.queue.map((m) => m.to).sort(), [b, r3, 'n6'].sort(), 'the state goes to pending replicas too');
  const toN6 = c.queue.findIndex((m) => m.to === 'n6');
  const [n6msg] = c.queue.splice(toN6, 1);
  c.deliverAll(); // both natural replicas ack: with n6 silent that is 3 acks, QUORUM (2) + 1 pending
  assert.deepEqual(values(c, put), ['v1'], 'coordinator + two natural replicas meet 2 + 1');
  c.queue.push(n6msg!);
  c.deliverAll();
  const all = c.put(a, key, 'v2', 'ALL', c.stateOf(a, key).context());
  assert.equal(c.queue.length, 3);
  dropWhere(c, (to) => to === 'n6');
  c.deliverAll();
  assert.equal(c.result(all), undefined, 'ALL during a move needs the pending replica as well (3 + 1)');
  for (let i = 0; i < 5; i++) c.tick();
  assert.equal(error(c, all).code, 'timeout');
  c.down('n6');
  assert.equal(error(c, c.put(a, key, 'v3', 'ALL')).code, 'replicas_unavailable');
  assert.equal(c.stateOf('n6', key).siblings.length, 1, 'n6 took the first write');
});

test('requests in flight are bounded: past opsCountMax a request is refused with limit_exceeded, definite', () => {
  const { c, a } = setup({ opsCountMax: 1 });
  const first = c.put(a, KEY, 'v1', 'ALL');
  const second = c.get(a, KEY, 'ONE');
  const e = error(c, second);
  assert.equal(e.code, 'limit_exceeded');
  assert.equal(e.definite, true);
  assert.equal(e.fields['limit'], 'dynamoCoordinatorOpsMax');
  c.settle();
  assert.deepEqual(values(c, first), ['v1']);
  assert.deepEqual(values(c, c.get(a, KEY, 'ONE')), ['v1'], 'accepted again once the first finished');
});

function queuedReads(c: DynamoCluster): NodeId[] {
  return c.queue.filter((m) => decodeMessage(m.bytes).type === 'read').map((m) => m.to);
}

test('with readRepairChance 0 a read asks R - 1 peers in preference order: none at ONE, one at QUORUM', () => {
  const { c, a, b } = setup({ readRepairChance: 0 });
  c.put(a, KEY, 'v1', 'ALL');
  c.settle();
  const one = c.get(a, KEY, 'ONE');
  assert.deepEqual(queuedReads(c), [], 'a ONE read at a replica is local');
  assert.deepEqual(values(c, one), ['v1']);
  const quorum = c.get(a, KEY, 'QUORUM');
  assert.deepEqual(queuedReads(c), [b], 'a QUORUM read asks the next replica only');
  c.settle();
  assert.deepEqual(values(c, quorum), ['v1']);
  // Negative control: with the default chance (1) every live replica is asked.
  const all = setup();
  all.c.get(all.a, KEY, 'QUORUM');
  assert.equal(queuedReads(all.c).length, 2);
});

test('a read whose asked replica does not answer asks the others at speculateTicks, before its timeout', () => {
  const run = (speculateTicks: number) => {
    const { c, a, b } = setup({ readRepairChance: 0, speculateTicks, requestTimeoutTicks: 6 });
    c.put(a, KEY, 'v1', 'ALL');
    c.settle();
    const get = c.get(a, KEY, 'QUORUM');
    assert.equal(
      dropWhere(c, (to, type) => to === b && type === 'read'),
      1,
    );
    for (let i = 0; i < 7 && c.result(get) === undefined; i++) {
      c.tick();
      c.deliverAll();
    }
    return { c, get };
  };
  const { c, get } = run(2);
  assert.deepEqual(values(c, get), ['v1'], 'the speculative read to the third replica answered');
  assert.equal(c.node(c.replicasOf(KEY)[0]!).replica.stats.speculativeReads, 1);
  // Negative control: speculation later than the timeout, the read times out (definite).
  const late = run(10);
  assert.equal(error(late.c, late.get).code, 'timeout');
});

test('a forwarded request refused by a node that left the key replicas (rings disagree in a move) tries the next replica', () => {
  const { c, a, b, others } = setup();
  const at = others[0]!;
  // `a` has a newer ring on which it no longer replicates the key: it refuses the forward.
  const newer = c.ring.beginLeave(a).completeMove();
  c.node(a).replica.setRing(newer);
  const put = c.put(at, KEY, 'v1', 'QUORUM');
  c.checkInvariants = false; // the cluster's checks use one ring; here two disagree on purpose
  c.settle();
  assert.deepEqual(values(c, put), ['v1']);
  assert.equal(c.node(at).replica.stats.forwarded, 2, 'asked a, then the next replica');
  assert.equal(c.stateOf(b, KEY).siblings[0]!.dot.replica, b, 'the second replica coordinated');
});

test('a forwarded INCR whose frame arrives twice counts once; negative control: dynamo-forward-copies-run counts it twice', () => {
  const run = (mutations: string[]): bigint => {
    const c = new DynamoCluster({
      ids: IDS,
      seed: 7,
      ...(mutations.length > 0 ? { mutations: mutationsFrom(mutations) } : {}),
    });
    const outsider = IDS.find((id) => !c.replicasOf('hits').includes(id))!;
    const incr = c.typed(outsider, 'hits', { type: 'incr', by: 1n }, 'QUORUM');
    const i = c.queue.findIndex((m) => decodeMessage(m.bytes).type === 'forward');
    assert.ok(i >= 0, 'a node that is not a replica forwards the INCR');
    c.queue.splice(i + 1, 0, { ...c.queue[i]! }); // the network delivers the frame twice
    c.settle();
    assert.ok(c.result(incr)?.ok, 'the INCR is answered');
    const read = c.get(c.replicasOf('hits')[0]!, 'hits', 'ALL');
    c.settle();
    const r = c.result(read);
    assert.ok(r?.ok, 'read at ALL');
    return counterValue(r.state) as bigint;
  };
  assert.equal(run([]), 1n);
  assert.equal(run(['dynamo-forward-copies-run']), 2n, 'negative control: the copy ran');
});

test('an anti-entropy round whose tree request is lost asks again after a request timeout, not after antiEntropyTimeoutTicks; negative control: dynamo-tree-request-once waits it out', () => {
  const run = (mutations: string[]): number => {
    const c = new DynamoCluster({
      ids: IDS,
      seed: 7,
      config: { timeoutHints: false },
      ...(mutations.length > 0 ? { mutations: mutationsFrom(mutations) } : {}),
    });
    const [a, b] = c.replicasOf(KEY) as [NodeId, NodeId];
    c.put(a, KEY, 'v1', 'ONE');
    dropWhere(c, (to, type) => to !== a && type === 'replicate');
    c.settle();
    assert.ok(c.node(a).replica.repairNow(b), 'a round starts');
    let lost = 0;
    for (let ticks = 1; ticks <= 400; ticks++) {
      // The first tree request is lost on the way.
      if (lost === 0) lost = dropWhere(c, (to, type) => to === b && type === 'merkle');
      c.deliverAll();
      if (!c.node(a).replica.antiEntropyBusy && !c.node(b).replica.antiEntropyBusy && lost > 0)
        return c.stateOf(b, KEY).equals(c.stateOf(a, KEY)) ? ticks : Number.POSITIVE_INFINITY;
      c.tick();
    }
    return Number.POSITIVE_INFINITY;
  };
  const ticks = run([]);
  assert.ok(ticks <= 3 * 5, `repaired after ${ticks} ticks (request timeout 5)`);
  // The round waits out antiEntropyTimeoutTicks (30 x 5) and ends failed: b is not repaired.
  assert.equal(run(['dynamo-tree-request-once']), Number.POSITIVE_INFINITY, 'negative control');
});

// Goal (issue 10, Redis' blocking list pops, at N > 1): BLPOP, BRPOPLPUSH, BZPOPMIN and friends on
// a cluster whose keys live on 3 replicas (src/services/store/blocking-replicated.ts). A client
// blocked on one node is answered when a push through another node reaches it (its replica hears
// the peer's write; a node holding no replica polls); at its timeout with the null reply; at CLIENT
// UNBLOCK; and its connection's close forgets it. At SERIAL pops are Paxos compare-and-sets, so
// workers blocked on one queue on every node take each element exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Mutations, mutationsFrom } from '../../src/lib/mutations.ts';
import { PEER_WAKE_STEP_MS, POLL_MAX_MS } from '../../src/services/store/blocking-replicated.ts';
import { storeOf } from '../../src/services/store/service.ts';
import { show, SimRespClient } from '../../src/services/store/sim-client.ts';
import { replicatedCluster } from '../support/replicated-cluster.ts';
import { SERIAL_NODES, serialCluster } from '../support/serial-cluster.ts';

const THREE = ['n1', 'n2', 'n3'];

function settled(sim: ReturnType<typeof replicatedCluster>, c: SimRespClient, withinMs = 20_000): string[] {
  assert.ok(
    sim.runUntilCondition(() => c.settled, withinMs),
    `replies to ${c.sent} commands: ${c.replies.map(show)}`,
  );
  return c.replies.map(show);
}

test('N = 3: a client blocked on one node is answered by a push through another, at once; BRPOPLPUSH, BZPOPMIN, BLMPOP; FIFO on a node; the first try answers WRONGTYPE', () => {
  const sim = replicatedCluster('blocking-n3', THREE, 3, { consistency: 'QUORUM' });
  const a = new SimRespClient(sim, 'n1');
  const b = new SimRespClient(sim, 'n1');
  const producer = new SimRespClient(sim, 'n2');
  a.send('BLPOP', 'q', 'other', '0');
  sim.runFor(10);
  b.send('BLPOP', 'q', '0');
  sim.runFor(1_000);
  assert.equal(a.replies.length + b.replies.length, 0, 'both wait on the empty list');
  const info = new SimRespClient(sim, 'n1');
  info.send('INFO', 'clients');
  assert.match(settled(sim, info)[0]!, /blocked_clients:2/);
  const before = sim.nowMs;
  producer.send('RPUSH', 'q', 'x', 'y');
  assert.deepEqual(settled(sim, producer), [':2']);
  assert.deepEqual(settled(sim, a), ['*[$q,$x]'], 'the first to block gets the first element');
  assert.deepEqual(settled(sim, b), ['*[$q,$y]']);
  // n1 heard n2's write from a peer: it wakes a step per rank later (at most 3 x 10 ms).
  assert.ok(sim.nowMs - before < 150, `answered by the peer's write, not a poll: ${sim.nowMs - before} ms`);
  info.send('INFO', 'clients');
  assert.match(settled(sim, info)[1]!, /blocked_clients:0/);

  // The other commands: each blocks, then takes what a push through another node brings.
  const c = new SimRespClient(sim, 'n3');
  c.send('BRPOPLPUSH', 'src', 'dst', '0');
  c.send('BZPOPMIN', 'z', '0');
  c.send('BLMPOP', '0', '2', 'm1', 'm2', 'RIGHT', 'COUNT', '2');
  c.send('SET', 'str', 'v');
  c.send('BLPOP', 'str', '0');
  sim.runFor(500);
  assert.equal(c.replies.length, 0);
  producer.send('LPUSH', 'src', 'moved');
  producer.send('ZADD', 'z', '2', 'two', '1', 'one');
  producer.send('RPUSH', 'm2', 'a', 'b', 'c');
  assert.deepEqual(settled(sim, c), [
    '$moved',
    '*[$z,$one,$1]',
    '*[$m2,*[$c,$b]]',
    '+OK',
    '-WRONGTYPE Operation against a key holding the wrong kind of value',
  ]);
  producer.send('LRANGE', 'dst', '0', '-1');
  producer.send('LRANGE', 'm2', '0', '-1');
  assert.deepEqual(settled(sim, producer).slice(-2), ['*[$moved]', '*[$a]']);
});

test('N = 3: the timeout answers the null reply, CLIENT UNBLOCK answers it now (or -UNBLOCKED), a closed connection is forgotten; a key left holding another type keeps the client blocked', () => {
  const sim = replicatedCluster('blocking-n3-end', THREE, 3, { consistency: 'QUORUM' });
  const a = new SimRespClient(sim, 'n2');
  a.send('BLPOP', 'none', '0.5');
  a.send('BRPOPLPUSH', 'none', 'dst', '0.2');
  const start = sim.nowMs;
  assert.deepEqual(settled(sim, a), ['_', '_']);
  assert.ok(sim.nowMs - start >= 700, `after both timeouts: ${sim.nowMs - start} ms`);

  const blocked = new SimRespClient(sim, 'n1');
  blocked.send('CLIENT', 'ID');
  const id = settled(sim, blocked)[0]!.slice(1);
  blocked.send('BLPOP', 'k', '0');
  blocked.send('BLPOP', 'k', '0');
  sim.runFor(300);
  const admin = new SimRespClient(sim, 'n1');
  admin.send('CLIENT', 'UNBLOCK', id);
  assert.deepEqual(settled(sim, admin), [':1']);
  sim.runFor(300); // the second BLPOP's first try found nothing: it waits
  admin.send('CLIENT', 'UNBLOCK', id, 'ERROR');
  assert.deepEqual(settled(sim, admin), [':1', ':1']);
  assert.deepEqual(settled(sim, blocked).slice(1), ['_', '-UNBLOCKED client unblocked via CLIENT UNBLOCK']);

  const gone = new SimRespClient(sim, 'n1');
  gone.send('BLPOP', 'g', '0');
  sim.runFor(100);
  admin.send('INFO', 'clients');
  assert.match(settled(sim, admin).at(-1)!, /blocked_clients:1/);
  gone.close();
  sim.runFor(100);
  admin.send('INFO', 'clients');
  assert.match(settled(sim, admin).at(-1)!, /blocked_clients:0/, 'the closed connection no longer waits');
  admin.send('RPUSH', 'g', 'kept');
  admin.send('LRANGE', 'g', '0', '-1');
  assert.deepEqual(settled(sim, admin).slice(-2), [':1', '*[$kept]'], 'nothing popped for the closed connection');

  // A SET over the awaited key: the client stays blocked (Redis too); a later push wakes it.
  const w = new SimRespClient(sim, 'n3');
  w.send('BLPOP', 't', '0');
  sim.runFor(100);
  admin.send('SET', 't', 'string');
  admin.send('DEL', 't');
  admin.send('RPUSH', 't', 'late');
  assert.deepEqual(settled(sim, w), ['*[$t,$late]']);
});

test('5 nodes, N = 3: a client on a node holding no replica of the key is answered by its poll', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const sim = replicatedCluster('blocking-n5', nodes, 3, { consistency: 'QUORUM' });
  const where = new SimRespClient(sim, 'n1');
  const keys = [...Array(40).keys()].map((i) => `poll:${i}`);
  for (const k of keys) where.send('BARISTA', 'WHERE', k);
  const lists = settled(sim, where);
  const i = lists.findIndex((l) => !l.includes('$n5'));
  assert.ok(i >= 0, 'a key n5 holds no replica of');
  const key = keys[i]!;
  const waiter = new SimRespClient(sim, 'n5');
  waiter.send('BLPOP', key, '0');
  sim.runFor(3_000); // the poll backs off to its longest interval
  const producer = new SimRespClient(sim, 'n1');
  producer.send('RPUSH', key, 'far');
  const before = sim.nowMs;
  assert.deepEqual(settled(sim, waiter), [`*[$${key},$far]`]);
  assert.ok(sim.nowMs - before <= POLL_MAX_MS + 200, `within a poll: ${sim.nowMs - before} ms`);
  assert.equal(storeOf(sim.instance('n5')!).server.blocking.count, 0);
});

/** Workers blocked on "jobs" from every node at SERIAL, 25 jobs pushed one by one: what they took. */
function workers(): { popped: string[]; pushed: string[]; left: string } {
  const sim = serialCluster('blocking-serial');
  const workers = [...SERIAL_NODES, ...SERIAL_NODES].map((n) => new SimRespClient(sim, n));
  const popped: string[] = [];
  const wait = (w: SimRespClient) => w.send('BLPOP', 'jobs', '0');
  for (const w of workers) wait(w);
  const producer = new SimRespClient(sim, 'n3');
  const pushed = [...Array(25).keys()].map((i) => `job${i}`);
  const seen = new Map(workers.map((w) => [w, 0]));
  const collect = () => {
    for (const w of workers) {
      while (seen.get(w)! < w.replies.length) {
        const r = show(w.replies[seen.get(w)!]);
        seen.set(w, seen.get(w)! + 1);
        const m = /^\*\[\$jobs,\$(job\d+)\]$/.exec(r);
        assert.ok(m, `a worker's reply: ${r}`);
        popped.push(m[1]!);
        if (popped.length < pushed.length) wait(w);
      }
    }
  };
  for (const job of pushed) {
    producer.send('RPUSH', 'jobs', job);
    sim.runFor(40);
    collect();
  }
  sim.runUntilCondition(() => {
    collect();
    return popped.length >= pushed.length;
  }, 30_000);
  sim.runFor(1_000);
  collect();
  producer.send('LLEN', 'jobs');
  assert.ok(sim.runUntilCondition(() => producer.settled, 20_000));
  return { popped, pushed, left: show(producer.replies.at(-1)) };
}

test('at SERIAL, workers blocked on one queue from every node take each pushed element exactly once', () => {
  const { popped, pushed, left } = workers();
  assert.deepEqual([...popped].sort(), [...pushed].sort(), 'each job once');
  assert.equal(left, ':0');
  // The compare-and-set that makes this hold is tagUpdate's; its negative control (the register
  // written blind loses updates) is store-transaction-sim's. Here, with each node's operations on
  // one register in turn (replicated.ts inRegister), the blind write's races did not show in
  // this schedule, even with every node woken at once.
});

test('N = 3: a BLMOVE whose destination holds another type answers WRONGTYPE and the next waiter takes the element (the queue does not stall); BLMOVE times out with the null array in RESP2; a connection closed during its first try waits for nothing', () => {
  const sim = replicatedCluster('blocking-n3-more', THREE, 3, { consistency: 'QUORUM' });
  const admin = new SimRespClient(sim, 'n2');
  admin.send('SET', 'dst', 'string');
  settled(sim, admin);
  const w = new SimRespClient(sim, 'n1');
  const x = new SimRespClient(sim, 'n1');
  w.send('BLMOVE', 'src', 'dst', 'LEFT', 'RIGHT', '0');
  sim.runFor(10);
  x.send('BLPOP', 'src', '0');
  sim.runFor(300);
  admin.send('RPUSH', 'src', 'item');
  assert.deepEqual(settled(sim, w), ['-WRONGTYPE Operation against a key holding the wrong kind of value']);
  assert.deepEqual(settled(sim, x), ['*[$src,$item]']);

  const t = new SimRespClient(sim, 'n3');
  t.send('BLMOVE', 'none', 'dst2', 'LEFT', 'RIGHT', '0.1');
  t.send('BRPOPLPUSH', 'none', 'dst2', '0.1');
  settled(sim, t);
  assert.deepEqual(
    t.replies.map((r) => r.type),
    ['nullArray', 'nullArray'],
    'the null array (RESP2 *-1), as at N = 1 and Redis 7.0',
  );

  const gone = new SimRespClient(sim, 'n1');
  gone.send('BLPOP', 'c', '0');
  gone.close(); // during the first try (a QUORUM read in flight)
  sim.runFor(500);
  admin.send('INFO', 'clients');
  assert.match(settled(sim, admin).at(-1)!, /blocked_clients:0/);
  admin.send('RPUSH', 'c', 'kept');
  sim.runFor(1_000);
  admin.send('LRANGE', 'c', '0', '-1');
  assert.deepEqual(settled(sim, admin).slice(-2), [':1', '*[$kept]'], 'nothing popped for the closed connection');
});

test("N = 3 at SERIAL: a client blocked on one node is answered by a push through another at once (the commit of the key's register wakes it)", () => {
  const sim = replicatedCluster('blocking-serial-wake', THREE, 3, { consistency: 'SERIAL' });
  const a = new SimRespClient(sim, 'n1');
  a.send('BLPOP', 'sq', '0');
  sim.runFor(3_000); // the poll backs off to its longest interval
  const producer = new SimRespClient(sim, 'n2');
  producer.send('RPUSH', 'sq', 'x');
  assert.deepEqual(settled(sim, producer), [':1']);
  // From the push's reply (its own Paxos rounds may meet a ballot of n1's and back off first).
  const pushed = sim.nowMs;
  assert.deepEqual(settled(sim, a), ['*[$sq,$x]']);
  assert.ok(sim.nowMs - pushed < 150, `woken by the commit, not a poll: ${sim.nowMs - pushed} ms after the push`);
});

/** Two workers blocked on "jobs" on each of 3 nodes at `level`, `jobs` jobs pushed through n1 every `gapMs`: what they took. */
function quorumWorkers(level: string, mutations?: Mutations, jobs = 30, gapMs = 40, seed = ''): string[] {
  const sim = replicatedCluster(`blocking-dup-${level}${seed}`, THREE, 3, { consistency: level }, mutations);
  const workers = [...THREE, ...THREE].map((n) => new SimRespClient(sim, n));
  const popped: string[] = [];
  const wait = (w: SimRespClient) => w.send('BLPOP', 'jobs', '0');
  for (const w of workers) wait(w);
  const producer = new SimRespClient(sim, 'n1');
  const seen = new Map(workers.map((w) => [w, 0]));
  const collect = () => {
    for (const w of workers) {
      while (seen.get(w)! < w.replies.length) {
        popped.push(show(w.replies[seen.get(w)!]));
        seen.set(w, seen.get(w)! + 1);
        wait(w);
      }
    }
  };
  for (let i = 0; i < jobs; i++) {
    producer.send('RPUSH', 'jobs', `job${i}`);
    sim.runFor(gapMs);
    collect();
  }
  sim.runFor(3_000);
  collect();
  return popped;
}

test('below SERIAL, a push wakes the waiters of the node that coordinated it at once and a peer-told replica a step per rank later: workers on 3 nodes take each of 30 jobs, nearly all once (at-least-once); negative control: woken all at once, they take a third or more twice', () => {
  for (const level of ['QUORUM', 'ONE']) {
    const popped = quorumWorkers(level);
    assert.equal(new Set(popped).size, 30, `${level}: every job taken`);
    assert.ok(popped.length <= 33, `${level}: ${popped.length - 30} of 30 jobs taken twice`);
  }
  const all = quorumWorkers('QUORUM', mutationsFrom(['blocking-wake-all-at-once']));
  assert.ok(all.length >= 40, `woken at once: ${all.length} pops of ${new Set(all).size} jobs`);
});

test('N = 3: a BLPOP behind a BZPOPMIN on one key takes the list pushed there; a write during a first try is seen at once', () => {
  const sim = replicatedCluster('blocking-n3-review', THREE, 3, { consistency: 'QUORUM' });
  const z = new SimRespClient(sim, 'n1');
  const l = new SimRespClient(sim, 'n1');
  const producer = new SimRespClient(sim, 'n2');
  z.send('BZPOPMIN', 'k', '0');
  sim.runFor(10);
  l.send('BLPOP', 'k', '0');
  sim.runFor(300);
  producer.send('RPUSH', 'k', 'x');
  assert.deepEqual(settled(sim, l), ['*[$k,$x]'], 'the list waiter is not stuck behind the sorted-set one');
  assert.equal(z.replies.length, 0, 'BZPOPMIN still waits');

  // The push lands while the BLPOP's first try is reading: the element is taken at once, not at
  // the next poll (each offset below lands the push's write at a different point of that try).
  const local = new SimRespClient(sim, 'n3'); // its writes signal n3's waiters at once
  for (const offset of [2, 4, 5, 6, 7, 8, 9, 10, 11, 12]) {
    const key = `e${offset}`;
    const early = new SimRespClient(sim, 'n3');
    const start = sim.nowMs;
    local.send('RPUSH', key, 'now');
    sim.runFor(offset);
    early.send('BLPOP', key, '0');
    assert.deepEqual(settled(sim, early), [`*[$${key},$now]`]);
    assert.ok(sim.nowMs - start < 300, `offset ${offset}: not after a poll: ${sim.nowMs - start} ms`);
  }
});

test("below SERIAL, a replica's delayed wake moves past each write it hears: pushes every 20 ms to workers on 3 nodes are taken twice rarely (a wake fixed at the first write's deadline fired with the next push's own node: 36 duplicate pops of 216 over these seeds)", () => {
  let duplicates = 0;
  let pops = 0;
  for (const seed of ['a', 'b', 'c']) {
    const popped = quorumWorkers('QUORUM', undefined, 60, 20, seed);
    assert.equal(new Set(popped).size, 60, `seed ${seed}: every job taken`);
    duplicates += popped.length - 60;
    pops += popped.length;
  }
  assert.ok(duplicates <= 24, `${duplicates} duplicate pops of ${pops}`);
});

/**
 * A client blocked on n3 (a replica of the key, at ONE: its tries read n3 alone) while n3 missed a
 * push: how long after the push reached n3's store the client was answered, when it came (1) by a
 * hint's replay (n3 cut off long enough to be seen down: n1 keeps a hint) and (2) by anti-entropy
 * (n3 cut off too briefly to be seen down: no hint; BARISTA REPAIR streams the difference).
 */
function mergeWakes(mutations?: Mutations): { hint: number; repair: number } {
  // timeoutHints off: the brief cut of (2) must leave the push to anti-entropy.
  const sim = replicatedCluster(
    'blocking-merge-wake',
    THREE,
    3,
    { consistency: 'ONE', replication: { timeoutHints: false } },
    mutations,
  );
  const n3 = storeOf(sim.instance('n3')!).replica!;
  const producer = new SimRespClient(sim, 'n1');
  const missed = (key: string, cutMs: number, after: () => void): number => {
    const waiter = new SimRespClient(sim, 'n3');
    waiter.send('BLPOP', key, '0');
    sim.runFor(500);
    const cut = sim.network.isolate('n3');
    sim.runFor(cutMs);
    producer.send('RPUSH', key, 'x');
    settled(sim, producer);
    sim.runFor(100);
    cut.heal();
    after();
    const bytes = new TextEncoder().encode(key);
    assert.ok(
      sim.runUntilCondition(() => !n3.peek(bytes).isEmpty, 20_000),
      'the push reaches n3',
    );
    assert.equal(waiter.replies.length, 0, 'not answered before n3 held the push');
    const reached = sim.nowMs;
    assert.deepEqual(settled(sim, waiter), [`*[$${key},$x]`]);
    return sim.nowMs - reached;
  };
  const hint = missed('q1', 6_000, () => {});
  const repair = missed('q2', 0, () => {
    sim.runFor(3_000);
    producer.send('BARISTA', 'REPAIR');
    assert.equal(settled(sim, producer).at(-1), '+OK');
  });
  return { hint, repair };
}

test("below SERIAL, a replica that missed a push wakes its waiters when a hint's replay or anti-entropy brings it, not at its 2 s poll; negative control: without that wake, only the poll answers", () => {
  const woken = mergeWakes();
  assert.ok(woken.hint <= 150 && woken.repair <= 150, `answered a step after the merge: ${JSON.stringify(woken)}`);
  const polled = mergeWakes(mutationsFrom(['blocking-no-merge-wake']));
  assert.ok(polled.hint > 500 && polled.repair > 500, `answered by the poll: ${JSON.stringify(polled)}`);
});

test("N = 3 at SERIAL: EXEC of a transaction that pushes wakes the waiters of its own node at once, before its register's commit (a step per rank later) would", () => {
  const sim = replicatedCluster('blocking-exec-wake', THREE, 3, { consistency: 'SERIAL' });
  const where = new SimRespClient(sim, 'n1');
  const keys = [...Array(30).keys()].map((i) => `{t${i}}q`);
  for (const k of keys) where.send('BARISTA', 'WHERE', k);
  const lists = settled(sim, where);
  // A key n1 is the last replica of: its commit's wake comes 3 steps (30 ms) after the commit.
  const key = keys[lists.findIndex((l) => l.endsWith('$n1]'))]!;
  assert.ok(key !== undefined, 'a key whose preference list ends with n1');
  const waiter = new SimRespClient(sim, 'n1');
  waiter.send('BLPOP', key, '0');
  sim.runFor(3_000);
  const tx = new SimRespClient(sim, 'n1');
  tx.send('MULTI');
  tx.send('RPUSH', key, 'x');
  tx.send('EXEC');
  assert.deepEqual(settled(sim, tx), ['+OK', '+QUEUED', '*[:1]']);
  const executed = sim.nowMs;
  assert.deepEqual(settled(sim, waiter), [`*[$${key},$x]`]);
  // One SERIAL LPOP's rounds (~12 ms here); without EXEC's wake, 43 ms (the commit's, then the try).
  assert.ok(sim.nowMs - executed < 3 * PEER_WAKE_STEP_MS - 5, `woken by EXEC: ${sim.nowMs - executed} ms after it`);
});

test("N = 3 at QUORUM, rows layout: clients blocked on an emptied list and on a key turned into a set do not wake themselves with their own reads: a try per poll, not per step (a review found a read every 23 ms: a try that joined a peer's rows told itself)", () => {
  const sim = replicatedCluster('blocking-no-self-wake', THREE, 3, { consistency: 'QUORUM' });
  const producer = new SimRespClient(sim, 'n2');
  producer.send('RPUSH', 'k', 'a');
  producer.send('LPOP', 'k');
  assert.deepEqual(settled(sim, producer), [':1', '$a']);
  const replica = storeOf(sim.instance('n1')!).replica!.replica;
  const request = replica.request.bind(replica);
  let requests = 0;
  replica.request = (id, req) => {
    requests++;
    return request(id, req);
  };
  const emptied = new SimRespClient(sim, 'n1');
  emptied.send('BLPOP', 'k', '0');
  const turned = new SimRespClient(sim, 'n1');
  turned.send('BLPOP', 't', '0');
  sim.runFor(500);
  producer.send('SADD', 't', 'm');
  assert.deepEqual(settled(sim, producer).at(-1), ':1');
  sim.runFor(4_000);
  assert.equal(emptied.replies.length + turned.replies.length, 0, 'both still blocked');
  // Two first tries, the try the SADD woke, then a poll per 2 s on each key (n1 holds a replica of both).
  assert.ok(requests <= 10, `${requests} requests in 4.5 s`);
});

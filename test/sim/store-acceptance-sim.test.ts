// Goal (issue 10's acceptance, the part that stands today): 5 simulated nodes, N = 3, sync
// `always`, Redis clients over simulated client connections (RESP bytes in random chunks), under a
// partition, a crash and clock skew:
//   - ONE is available: every SET on either side of a partition is acknowledged when the key has a
//     replica on that side (Cassandra's ONE counts only the key's own replicas);
//   - QUORUM is consistent: on the minority side a key with one replica there is refused with
//     -UNAVAILABLE (nothing written), and a QUORUM GET after a QUORUM SET's +OK returns it;
//   - after healing, anti-entropy alone (BARISTA REPAIR from every node, no reads, no timer)
//     converges every replica of every key (their stored states equal), concurrent SETs of one key
//     on the two sides survive as siblings (BARISTA SIBLINGS shows both), and no acknowledged write
//     is lost (each key written once holds its value on all three replicas); INCR/INCRBY on both
//     sides of the partition all count (PN-Counter siblings, src/dynamo/counter.ts), SADDs on both
//     sides are all kept (OR-Set siblings, src/dynamo/typed.ts), RPUSHes and ZADDs on both sides
//     are all kept (list and sorted-set OR-Maps), and a QUORUM SREM through one
//     node takes a member a QUORUM SADD added through another.
// The same run with store.conflicts last-write-wins (SETs written without a read or a check): every
// claim above holds there too, since none of its keys is written twice in turn by coordinators of
// which the later had not seen the earlier (that loss is src/services/store/conflicts.test.ts').
// Negative control: without the repair rounds the replicas still differ after healing (checked
// before repairing, so the convergence is anti-entropy's doing, not read repair's or hints').
// The same run with store.replication.collections rows (what `barista dev --replicas N` makes):
// sets, hashes, lists and sorted sets one row per element, and convergence covers the rows too
// (negative control, by hand 2026-12-05: a rowsOffer that never pulls leaves a set's rows
// different on its replicas after the repair rounds).
// The siblings/rows run once more per test run on a fresh seed (named in its failure).
// Not yet here (issue 10): SERIAL / CAS through Paxos, a join and a decommission under load.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { test } from 'node:test';
import type { NodeServices } from '../../src/node/services.ts';
import { membershipService } from '../../src/services/membership/service.ts';
import { storeOf, storeService } from '../../src/services/store/service.ts';
import { runCommands, scanAll } from '../../src/services/store/sim-client.ts';
import type { Simulation } from '../../src/sim/simulation.ts';
import { simServices } from '../support/sim-services.ts';

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];
const MINORITY = ['n1', 'n2'];
const MAJORITY = ['n3', 'n4', 'n5'];
const enc = new TextEncoder();

function cluster(seed: string, conflicts: Conflicts, collections: Collections): Simulation<NodeServices> {
  const sim = simServices({
    seed,
    nodes: NODES,
    services: [membershipService, storeService],
    // Anti-entropy only when asked (BARISTA REPAIR), so the test can show the state before it.
    // timeoutHints off: the lossy spell below must leave replicas that only anti-entropy repairs
    // (timeout hints would repair them first: src/dynamo/replica.test.ts).
    store: {
      sync: 'always',
      conflicts,
      replication: { replicas: 3, antiEntropyIntervalMs: 0, collections, timeoutHints: false },
    },
    clientLinks: { chunking: 'random', chunkBytesMax: 11 },
  });
  assert.ok(
    sim.runUntilCondition(() => NODES.every((id) => (storeOf(sim.instance(id)!).ring.ring.version ?? 0) > 0), 20_000),
    'every node learned the ring',
  );
  settleViews(sim);
  return sim;
}

/** Waits until every live node's failure detector calls exactly the reachable nodes alive. */
function settleViews(sim: Simulation<NodeServices>): void {
  const ok = sim.runUntilCondition((s) => {
    for (const a of NODES) {
      const na = s.instance(a);
      if (na === undefined) continue;
      for (const v of na.membership.view()) {
        const reachable = s.instance(v.id) !== undefined && !s.network.linkBlocked(a, v.id);
        if (reachable !== (v.status === 'alive')) return false;
      }
    }
    return true;
  }, 15_000);
  assert.ok(ok, 'failure detectors did not settle');
}

function run(sim: Simulation<NodeServices>, at: string, ...commands: string[][]): string[] {
  return runCommands(sim, at, commands);
}

/** A key named `prefix:N` whose replicas are on both sides of the partition (the first such N). */
function keyOnBothSides(sim: Simulation<NodeServices>, prefix: string): { key: string; replicas: string[] } {
  for (let j = 0; j < 1_000; j++) {
    const key = `${prefix}:${j}`;
    const replicas = replicasOf(sim, key);
    if (replicas.some((r) => MINORITY.includes(r)) && replicas.some((r) => MAJORITY.includes(r)))
      return { key, replicas };
  }
  assert.fail(`no key ${prefix}:N on both sides`);
}

function replicasOf(sim: Simulation<NodeServices>, key: string): string[] {
  const r = run(sim, 'n3', ['BARISTA', 'WHERE', key])[0]!; // *[$n5,$n2,$n1]
  return r
    .slice(2, -1)
    .split(',')
    .map((x) => x.slice(1));
}

/** The stored state of `key` on each of its replicas (ReplicaNode.storedImage): equal = converged. */
function states(sim: Simulation<NodeServices>, key: string, replicas: readonly string[]): string[] {
  return replicas.map((r) => {
    const image = storeOf(sim.instance(r)!).replica!.storedImage(enc.encode(key));
    assert.ok(image !== undefined, `${key} at ${r}: more rows than one scan reads`);
    return image;
  });
}

type Conflicts = 'siblings' | 'last-write-wins';
type Collections = 'whole' | 'rows';

for (const [conflicts, collections] of [
  ['siblings', 'whole'],
  ['last-write-wins', 'whole'],
  ['siblings', 'rows'],
] as const)
  test(`5 nodes, N = 3, RESP, store.conflicts ${conflicts}, collections ${collections}: ONE available and QUORUM consistent under a partition; anti-entropy converges; nothing acknowledged is lost`, () =>
    acceptance(conflicts, collections));

// The same scenario on a fresh seed each run (the message timings, drops and anti-entropy's draws
// differ), for what the fixed seeds do not reach: a failure names its seed, replayed with
// STORE_ACCEPTANCE_SEED=<seed>. 24 seeds of each variant passed when this was added (session 43).
test('the same on a fresh seed (siblings, rows): the seed is in the failure', (t) => {
  const seed = process.env.STORE_ACCEPTANCE_SEED ?? `fresh-${randomInt(1_000_000, 2_000_000)}`;
  t.diagnostic(`seed ${seed}`);
  try {
    acceptance('siblings', 'rows', seed);
  } catch (error) {
    // A new error: an AssertionError's stack, which reporters print, was made with its first message.
    throw new Error(`seed ${seed} (replay: STORE_ACCEPTANCE_SEED=${seed}): ${String(error)}`, { cause: error });
  }
});

function acceptance(conflicts: Conflicts, collections: Collections, seedPrefix = ''): void {
  const seed = `${seedPrefix}store-acceptance${conflicts === 'siblings' ? '' : '-lww'}${collections === 'whole' ? '' : '-rows'}`;
  const sim = cluster(seed, conflicts, collections);
  sim.setClock('n2', { skewMs: -3_000 });
  sim.setClock('n4', { skewMs: 2_500 });
  const keys = Array.from({ length: 24 }, (_, i) => `k:${i}`);
  const where = new Map(keys.map((k) => [k, replicasOf(sim, k)]));

  // Before any fault: QUORUM SET then QUORUM GET through other nodes.
  for (const [i, key] of keys.slice(0, 6).entries()) {
    const [a, b] = where.get(key)!;
    assert.deepEqual(run(sim, a!, ['BARISTA', 'CONSISTENCY', 'QUORUM'], ['SET', key, `q${i}`]), ['+OK', '+OK']);
    assert.deepEqual(run(sim, b!, ['GET', key]), [`$q${i}`]);
  }

  const cut = sim.network.partition([MINORITY, MAJORITY]);
  settleViews(sim);

  // ONE on both sides: every SET acknowledged. Keys with replicas on both sides get one SET per side
  // (concurrent: siblings); every key also gets a write-once key of its own per side.
  const acked = new Map<string, string>(); // write-once key -> value
  const both: string[] = [];
  for (const key of keys) {
    const replicas = where.get(key)!;
    const sides = [MINORITY, MAJORITY].map((side) => replicas.filter((r) => side.includes(r)));
    for (const [s, atSide] of sides.entries()) {
      if (atSide.length === 0) continue;
      const at = atSide[0]!;
      // A write-once key with a replica on this side too (at ONE, as Cassandra's, a key whose
      // replicas are all on the other side is unavailable here: only ANY would take a hint).
      let once = '';
      for (let j = 0; once === ''; j++) {
        const candidate = `${key}:once:${s}:${j}`;
        const w = replicasOf(sim, candidate);
        if (w.includes(at)) {
          once = candidate;
          where.set(candidate, w);
        }
      }
      const replies = run(
        sim,
        at,
        ['BARISTA', 'CONSISTENCY', 'ONE'],
        ['SET', key, `${key}@${s}`],
        ['SET', once, `v-${once}`],
      );
      assert.deepEqual(replies, ['+OK', '+OK', '+OK'], `ONE writes of ${key} at ${at}`);
      acked.set(once, `v-${once}`);
    }
    if (sides.every((x) => x.length > 0)) both.push(key);
  }
  // Counters: INCRBY on both sides of the partition (PN-Counter siblings): every increment counts.
  const counterSums = new Map<string, number>();
  for (const [i, key] of both.entries()) {
    const { key: counter, replicas: w } = keyOnBothSides(sim, `${key}:count`);
    where.set(counter, w);
    let sum = 0;
    for (const side of [MINORITY, MAJORITY]) {
      const at = w.find((r) => side.includes(r));
      if (at === undefined) continue;
      const r = run(sim, at, ['BARISTA', 'CONSISTENCY', 'ONE'], ['INCRBY', counter, String(i + 1)], ['INCR', counter]);
      assert.equal(r[0], '+OK');
      assert.match(r[2]!, /^:\d+$/, `INCR of ${counter} at ${at}`);
      sum += i + 2;
    }
    counterSums.set(counter, sum);
  }
  // Sets: SADD of a different member on each side (OR-Set siblings): both members after healing.
  const setMembersWanted = new Map<string, string[]>();
  for (const key of both.slice(0, 4)) {
    const { key: setKey, replicas: w } = keyOnBothSides(sim, `${key}:set`);
    where.set(setKey, w);
    const wanted: string[] = [];
    for (const [s, side] of [MINORITY, MAJORITY].entries()) {
      const at = w.find((r) => side.includes(r));
      if (at === undefined) continue;
      const r = run(sim, at, ['BARISTA', 'CONSISTENCY', 'ONE'], ['SADD', setKey, `m${s}`, 'shared']);
      assert.match(r[1]!, /^:[12]$/, `SADD at ${at}`);
      wanted.push(`m${s}`);
    }
    assert.equal(wanted.length, 2);
    setMembersWanted.set(setKey, [...wanted, 'shared'].sort());
  }
  // Hashes: HSET of a different field on each side (OR-Map siblings): both fields after healing.
  const hashWanted = new Map<string, string[]>();
  for (const key of both.slice(0, 4)) {
    const { key: hashKey, replicas: w } = keyOnBothSides(sim, `${key}:hash`);
    where.set(hashKey, w);
    const wanted: string[] = [];
    for (const [s, side] of [MINORITY, MAJORITY].entries()) {
      const at = w.find((r) => side.includes(r));
      if (at === undefined) continue;
      const r = run(sim, at, ['BARISTA', 'CONSISTENCY', 'ONE'], ['HSET', hashKey, `f${s}`, `v${s}`]);
      assert.equal(r[1], ':1', `HSET at ${at}`);
      wanted.push(`$f${s},$v${s}`);
    }
    assert.equal(wanted.length, 2);
    hashWanted.set(hashKey, wanted);
  }
  // Lists and sorted sets: RPUSH and ZADD of a different element on each side (OR-Map siblings,
  // replicated-collections.ts): both elements after healing, the list's common head kept once.
  const listWanted = new Map<string, string[]>();
  for (const key of both.slice(0, 3)) {
    const { key: listKey, replicas: w } = keyOnBothSides(sim, `${key}:list`);
    where.set(listKey, w);
    const wanted: string[] = [];
    for (const [s, side] of [MINORITY, MAJORITY].entries()) {
      const at = w.find((r) => side.includes(r));
      if (at === undefined) continue;
      const r = run(
        sim,
        at,
        ['BARISTA', 'CONSISTENCY', 'ONE'],
        ['RPUSH', listKey, `e${s}`],
        ['ZADD', `${listKey}:z`, String(s), `z${s}`],
      );
      assert.deepEqual(r.slice(1), [':1', ':1'], `RPUSH and ZADD at ${at}`);
      wanted.push(`e${s}`);
    }
    assert.equal(wanted.length, 2);
    listWanted.set(listKey, wanted);
    where.set(`${listKey}:z`, replicasOf(sim, `${listKey}:z`));
  }
  assert.ok(both.length > 0, 'some keys have replicas on both sides');

  // QUORUM on the minority side: a key with exactly one replica there is refused, definite.
  let refused = 0;
  for (const key of keys) {
    const inMinority = where.get(key)!.filter((r) => MINORITY.includes(r));
    if (inMinority.length !== 1) continue;
    const r = run(sim, inMinority[0]!, ['BARISTA', 'CONSISTENCY', 'QUORUM'], ['SET', key, 'never']);
    assert.match(r[1]!, /^-UNAVAILABLE .*nothing was written/, `QUORUM SET of ${key} on the minority side`);
    refused++;
  }
  assert.ok(refused > 0, 'some key had one replica on the minority side');

  // A crash on the majority side, back before healing (its acknowledged writes were synced).
  sim.crash('n5');
  sim.runFor(1_000);
  sim.restart('n5');
  sim.runFor(3_000);

  cut.heal();
  settleViews(sim);
  // Let hints drain: they are one repair path; what they cannot reach (a write whose other replicas
  // were called alive but cut off) is anti-entropy's.
  sim.runFor(5_000);
  // A lossy spell: replicate messages lost while the detector still calls every node alive, so no
  // hint is stored for them; only a read (read repair) or anti-entropy can bring those replicas up.
  sim.network.setLossProbability(0.4);
  for (let i = 0; i < 16; i++) {
    const key = `lossy:${i}`;
    const w = replicasOf(sim, key);
    where.set(key, w);
    const r = run(sim, w[0]!, ['BARISTA', 'CONSISTENCY', 'ONE'], ['SET', key, `v-${key}`]);
    if (r[1] === '+OK') acked.set(key, `v-${key}`);
  }
  sim.network.setLossProbability(0);
  sim.runFor(3_000);
  const allKeys = [...keys, ...acked.keys(), ...counterSums.keys(), ...setMembersWanted.keys(), ...hashWanted.keys()];
  const whereAll = new Map(allKeys.map((k) => [k, where.get(k)!]));
  const differing = allKeys.filter((k) => new Set(states(sim, k, whereAll.get(k)!)).size > 1);
  assert.ok(differing.length > 0, 'negative control: replicas differ after healing, before anti-entropy');

  // Anti-entropy: every node repairs with every other, in turn (no reads, no timer).
  for (let pass = 0; pass < NODES.length - 1; pass++) {
    for (const id of NODES) assert.deepEqual(run(sim, id, ['BARISTA', 'REPAIR']), ['+OK'], `repair from ${id}`);
    assert.ok(
      sim.runUntilCondition(() => NODES.every((id) => !storeOf(sim.instance(id)!).replica!.antiEntropyBusy), 30_000),
      'repair rounds finished',
    );
    sim.runFor(500);
  }
  for (const k of allKeys) {
    const s = states(sim, k, whereAll.get(k)!);
    assert.equal(new Set(s).size, 1, `replicas of ${k} (${whereAll.get(k)}) converged`);
  }
  // Converged, SCAN over every node (each answers the slots it leads) lists every key once: the
  // replica stores' token order held through the partition, the crash and the repair.
  const scanned = NODES.flatMap((id) => scanAll(sim, id, ['COUNT', '13']));
  assert.equal(scanned.length, new Set(scanned).size, 'no key twice over the masters');
  const scannedSet = new Set(scanned);
  for (const k of allKeys) assert.ok(scannedSet.has(k), `${k} is scanned on one of the masters`);
  // Nothing acknowledged is lost, read at ALL through any node.
  for (const [once, value] of acked) {
    assert.deepEqual(run(sim, 'n1', ['BARISTA', 'CONSISTENCY', 'ALL'], ['GET', once]), ['+OK', `$${value}`], once);
  }
  for (const [counter, sum] of counterSums) {
    assert.deepEqual(
      run(sim, 'n2', ['BARISTA', 'CONSISTENCY', 'ALL'], ['GET', counter]),
      ['+OK', `$${sum}`],
      `${counter}: increments from both sides all count`,
    );
  }
  for (const [hashKey, wanted] of hashWanted) {
    const r = run(sim, 'n5', ['BARISTA', 'CONSISTENCY', 'ALL'], ['HGETALL', hashKey], ['HLEN', hashKey]);
    // A RESP2 client: the map comes as a flat array of field, value.
    assert.deepEqual(r.slice(1), [`*[${wanted.join(',')}]`, `:${wanted.length}`], `${hashKey}: both sides' HSETs`);
  }
  for (const [setKey, wanted] of setMembersWanted) {
    const r = run(sim, 'n4', ['BARISTA', 'CONSISTENCY', 'ALL'], ['SMEMBERS', setKey]);
    assert.equal(r[1], `*[${wanted.map((m) => `$${m}`).join(',')}]`, `${setKey}: both sides' SADDs`);
  }
  for (const [listKey, wanted] of listWanted) {
    const r = run(
      sim,
      'n3',
      ['BARISTA', 'CONSISTENCY', 'ALL'],
      ['LRANGE', listKey, '0', '-1'],
      ['ZRANGE', `${listKey}:z`, '0', '-1', 'WITHSCORES'],
    );
    const items = r[1]!
      .slice(2, -1)
      .split(',')
      .map((x) => x.slice(1));
    assert.deepEqual([...items].sort(), wanted, `${listKey}: both sides' RPUSHes`);
    assert.equal(r[2], '*[$z0,$0,$z1,$1]', `${listKey}:z: both sides' ZADDs`);
    // The list's end read from it (in rows: a read of its last rows, pages backwards) at QUORUM
    // through every node: the same last elements as the whole list's.
    for (const at of NODES) {
      const tail = run(sim, at, ['LRANGE', listKey, '-2', '-1'], ['LINDEX', listKey, '-1']);
      assert.deepEqual(
        tail,
        [
          `*[${items
            .slice(-2)
            .map((x) => `$${x}`)
            .join(',')}]`,
          `$${items[items.length - 1]}`,
        ],
        `${listKey}: its end read at ${at}`,
      );
    }
  }
  // Read-your-writes for a remove at QUORUM through another node that has not got the add: SREM
  // reads first (the read merges what it saw into the coordinator), so it takes the add.
  for (let i = 0; i < 3; i++) {
    const setKey = `rem:${i}`;
    const [a, , c] = replicasOf(sim, setKey) as [string, string, string];
    // c's messages to a are lost: a hears no acks from c and calls it down (the add goes to b and a
    // hint); c still hears a's pings, calls a up and asks it too, so c's QUORUM read answers with
    // b's reply before a's (never) arrives: read repair of c has not run when the SREM applies.
    const cut = sim.network.cut([[c, a]]);
    sim.runFor(8_000);
    assert.deepEqual(run(sim, a, ['BARISTA', 'CONSISTENCY', 'QUORUM'], ['SADD', setKey, 'x', 'y']), ['+OK', ':2']);
    assert.deepEqual(run(sim, c, ['BARISTA', 'CONSISTENCY', 'QUORUM'], ['SREM', setKey, 'x']), ['+OK', ':1']);
    cut.heal();
    settleViews(sim);
    sim.runFor(3_000); // hints (the add, held for c) replayed
    assert.deepEqual(
      run(
        sim,
        a,
        ['BARISTA', 'CONSISTENCY', 'ALL'],
        ['SMEMBERS', setKey],
        ['SCARD', setKey],
        ['SISMEMBER', setKey, 'x'],
      ),
      ['+OK', '*[$y]', ':1', ':0'],
      `${setKey}: the remove took the add it had not received`,
    );
  }
  for (const key of both) {
    const sib = run(sim, 'n3', ['BARISTA', 'CONSISTENCY', 'ALL'], ['BARISTA', 'SIBLINGS', key])[1]!;
    for (const s of [0, 1]) assert.ok(sib.includes(`${key}@${s}`), `${key}: both sides' SETs are siblings: ${sib}`);
  }
  const streamed = NODES.reduce((n, id) => n + sim.metrics(id).value('dynamo_anti_entropy_values_streamed_total'), 0);
  assert.ok(streamed > 0, 'anti-entropy streamed values');
}

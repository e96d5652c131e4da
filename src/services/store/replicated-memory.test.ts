// Goal: maxmemory at N > 1 (replicated-memory.ts) through the real RESP front end on 3 simulated
// nodes at N = 3:
//   - the count each node keeps (write deltas + the recount) equals a full walk of its replica
//     store after a mixed load of strings, counters, collections, deadlines and deletes from every
//     node; negative control: with the write deltas cut off the count drifts (the check fails),
//     and one recount pass makes it exact again;
//   - allkeys-random keeps every node's count under maxmemory, and near it (no evicting beyond
//     need), under a write load through every node, and the replicas follow each eviction (a key
//     is live on all three copies or on none once the cluster is quiet);
//   - allkeys-lru evicts the keys written longest ago (writes through any node reach the evicting
//     leader's access history); negative control: allkeys-random on the same run keeps hot keys
//     about as often as cold ones, so the check can fail;
//   - maxmemory set on a store already over it, one node taking every write during a first count
//     that spans many steps: every node ends between 80 % and 100 % of the bound (this end state
//     holds here even with eviction allowed during the first count: the guard is argued in
//     replicated-memory.ts, not shown by this test);
//   - a recount step on an empty store ends with its pass (it walked every bucket 64 times);
//   - volatile-ttl evicts keys with a deadline, nearest first, never one without, then answers
//     -OOM (negative control, run by hand: volatile-random fails the nearest-first check);
//   - noeviction answers -OOM to writes while reads and DEL run, and a DEL makes room again;
//   - INFO used_memory / maxmemory / evicted_keys, and CONFIG SET turning counting off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReplicaStore } from '../../dynamo/store.ts';
import { pricedWalk } from '../../dynamo/testing.ts';
import { SeededRng } from '../../lib/rng.ts';
import type { NodeServices } from '../../node/services.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { replicatedCluster } from '../../../test/support/replicated-cluster.ts';
import { ReplicaMemory } from './replicated-memory.ts';
import { storeOf } from './service.ts';
import { show, SimRespClient } from './sim-client.ts';

const NODES = ['n1', 'n2', 'n3'];

function cluster(seed: string, store: Record<string, unknown> = {}): Simulation<NodeServices> {
  return replicatedCluster(seed, NODES, 3, store);
}

function settle(sim: Simulation<NodeServices>, c: SimRespClient): string[] {
  assert.ok(
    sim.runUntilCondition(() => c.settled || c.closed !== undefined, 30_000),
    `replies to ${c.sent} commands`,
  );
  return c.replies.map(show);
}

function memoryOf(sim: Simulation<NodeServices>, id: string): ReplicaMemory {
  const space = storeOf(sim.instance(id)!).server.evictor?.space;
  assert.ok(space instanceof ReplicaMemory, 'the evictor works on the replica store at N > 1');
  return space;
}

/** Every value `id` stores, priced as the count prices them (a full walk, collections' rows row by row). */
function walked(sim: Simulation<NodeServices>, id: string): number {
  const node = storeOf(sim.instance(id)!).replica!;
  return pricedWalk((node as unknown as { store: ReplicaStore }).store);
}

/** Runs `commands` on every node (CONFIG SET is per node, as on each Redis Cluster master). */
function everyNode(sim: Simulation<NodeServices>, ...commands: string[][]): string[][] {
  return NODES.map((id) => {
    const c = new SimRespClient(sim, id);
    for (const cmd of commands) c.send(...cmd);
    return settle(sim, c);
  });
}

function info(sim: Simulation<NodeServices>, id: string): Map<string, string> {
  const c = new SimRespClient(sim, id);
  c.send('INFO', 'everything');
  const text = settle(sim, c)[0] as string;
  const out = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) out.set(line.slice(0, at).replace(/^[$=]/, ''), line.slice(at + 1));
  }
  return out;
}

/** Whether `key` holds a value on `id`'s own copy. */
function liveOn(sim: Simulation<NodeServices>, id: string, key: string): boolean {
  const state = storeOf(sim.instance(id)!).replica!.peek(new TextEncoder().encode(key));
  return state.siblings.some((s) => s.value !== null);
}

for (const collections of ['whole', 'rows'] as const)
  test(`N = 3, collections ${collections}: the dataset count follows every write and equals a walk; cut off, it drifts, and a recount pass corrects it`, () => {
    countFollowsWrites(collections);
  });

function countFollowsWrites(collections: 'whole' | 'rows'): void {
  const sim = cluster(`replica-memory-count-${collections}`, { replication: { collections } });
  everyNode(sim, ['CONFIG', 'SET', 'maxmemory', '100mb']);
  for (const id of NODES) assert.ok(memoryOf(sim, id).counting);
  // An empty store: a step ends with its pass (it walked all the buckets 64 times a step, ~40 ms).
  const passesOf = (id: string) => (memoryOf(sim, id) as unknown as { account: { passes: number } }).account.passes;
  const empty = passesOf('n1');
  for (let i = 0; i < 3; i++) memoryOf(sim, 'n1').recountStep();
  assert.ok(passesOf('n1') - empty <= 3, `${passesOf('n1') - empty} passes in 3 steps`);
  const rng = new SeededRng('replica-memory-load');
  const clients = NODES.map((id) => new SimRespClient(sim, id));
  for (let i = 0; i < 600; i++) {
    const c = clients[i % 3]!;
    const k = `k${rng.int(60)}`;
    switch (rng.int(9)) {
      case 0:
        c.send('SET', k, 'v'.repeat(rng.int(200)));
        break;
      case 1:
        c.send('SET', k, 'x', 'PX', String(1 + rng.int(3_000)));
        break;
      case 2:
        c.send('DEL', k);
        break;
      case 3:
        c.send('INCRBY', `n${rng.int(10)}`, String(rng.int(100)));
        break;
      case 4:
        c.send('RPUSH', `l${rng.int(10)}`, 'a'.repeat(rng.int(50)), 'b');
        break;
      case 5:
        c.send('LPOP', `l${rng.int(10)}`);
        break;
      case 6:
        c.send('SADD', `s${rng.int(10)}`, String(rng.int(40)));
        break;
      case 7:
        c.send('HSET', `h${rng.int(10)}`, `f${rng.int(20)}`, 'v'.repeat(rng.int(30)));
        break;
      default:
        c.send('EXPIRE', k, String(1 + rng.int(3)));
    }
  }
  for (const c of clients) settle(sim, c);
  sim.runFor(5_000); // replicas take every write; deadlines pass
  for (const id of NODES) {
    const m = memoryOf(sim, id);
    assert.ok(m.complete, `${id} counted every bucket`);
    assert.ok(walked(sim, id) > 10_000, 'a real data set');
    assert.equal(m.datasetBytes, walked(sim, id), `${id}: the count equals the walk`);
  }
  const used = Number(info(sim, 'n1').get('used_memory'));
  assert.equal(used, memoryOf(sim, 'n1').datasetBytes, 'INFO used_memory is the count');

  // Negative control: n1's replica stops telling its writes; the check above sees the drift.
  const n1 = storeOf(sim.instance('n1')!).replica!;
  const hook = n1.replica.onStored;
  n1.replica.onStored = undefined;
  const c = clients[1]!;
  for (let i = 0; i < 50; i++) c.send('SET', `drift${i}`, 'y'.repeat(100));
  settle(sim, c);
  sim.runFor(50); // less than a recount step of the whole store
  assert.notEqual(memoryOf(sim, 'n1').datasetBytes, walked(sim, 'n1'), 'without the deltas the count drifts');
  n1.replica.onStored = hook;
  const passes = () => (memoryOf(sim, 'n1') as unknown as { account: { passes: number } }).account.passes;
  // The pass under way may have walked some buckets before those writes: the next one is whole.
  const before = passes();
  assert.ok(
    sim.runUntilCondition(() => passes() > before + 1, 60_000),
    'a whole recount pass ends',
  );
  assert.equal(memoryOf(sim, 'n1').datasetBytes, walked(sim, 'n1'), 'the recount corrected it');

  everyNode(sim, ['CONFIG', 'SET', 'maxmemory', '0']);
  assert.ok(!memoryOf(sim, 'n1').counting, 'maxmemory 0: nothing is counted');
  assert.equal(n1.replica.onStored, undefined);
}

// allkeys-lru too (its picks go through the pool and the sample buffer). A real 3-node run saw
// -OOM under allkeys-lru; the failure mode found, a pick drawing only stale samples, is the unit
// test in src/redis/eviction.test.ts: this schedule (and 6 other seeds, and one shaped like the
// real run) did not produce it.
for (const policy of ['allkeys-random', 'allkeys-lru'] as const)
  test(`N = 3 ${policy}: every SET runs, every node stays under maxmemory and near it; the replicas follow each eviction`, () =>
    loadAtCapacity(policy));

function loadAtCapacity(policy: 'allkeys-random' | 'allkeys-lru'): void {
  const maxmemory = 60_000;
  const sim = cluster(`replica-memory-evict${policy === 'allkeys-lru' ? '-lru' : ''}`, {
    maxmemory,
    maxmemoryPolicy: policy,
  });
  const clients = NODES.map((id) => new SimRespClient(sim, id));
  const keys: string[] = [];
  for (let i = 0; i < 1500; i++) {
    const key = `key:${i}`;
    keys.push(key);
    clients[i % 3]!.send('SET', key, 'v'.repeat(100));
    if (i % 100 === 99) for (const c of clients) settle(sim, c);
  }
  for (const c of clients) {
    const bad = settle(sim, c).filter((r) => r !== '+OK');
    assert.deepEqual(bad, [], 'every SET ran');
  }
  sim.runFor(3_000); // the backstop steps finish what the last commands started
  let evicted = 0;
  for (const id of NODES) {
    const m = memoryOf(sim, id);
    assert.ok(m.datasetBytes <= maxmemory, `${id}: ${m.datasetBytes} bytes counted, max ${maxmemory}`);
    assert.equal(m.datasetBytes, walked(sim, id), `${id}: the count is the walk`);
    const fields = info(sim, id);
    assert.equal(fields.get('maxmemory'), String(maxmemory));
    assert.equal(fields.get('maxmemory_policy'), policy);
    evicted += Number(fields.get('evicted_keys'));
  }
  let live = 0;
  for (const key of keys) {
    const copies = NODES.filter((id) => liveOn(sim, id, key)).length;
    assert.ok(copies === 0 || copies === 3, `${key}: live on ${copies} of 3 copies`);
    if (copies === 3) live++;
  }
  assert.ok(live > 100, `${live} keys kept`);
  // Nothing evicted beyond need: two nodes deleting one key count it twice, and every node stays
  // near the bound rather than far under it (a first pass that evicted on an estimate emptied it).
  const gone = keys.length - live;
  assert.ok(evicted >= gone && evicted <= gone * 1.1, `${evicted} evictions for ${gone} keys gone`);
  for (const id of NODES) {
    const bytes = memoryOf(sim, id).datasetBytes;
    assert.ok(bytes >= 0.8 * maxmemory, `${id}: ${bytes} bytes kept of ${maxmemory}`);
  }
  const r = new SimRespClient(sim, 'n2');
  r.send('GET', keys.find((k) => liveOn(sim, 'n1', k))!);
  assert.equal(settle(sim, r)[0], `$${'v'.repeat(100)}`);
}

test('N = 3 maxmemory set on a full store while one node takes every write: the first count ends before any eviction, none beyond need', () => {
  const sim = cluster('replica-memory-first-pass');
  const c = new SimRespClient(sim, 'n1');
  for (let i = 0; i < 2_000; i++) c.send('SET', `key:${i}`, 'v'.repeat(100));
  settle(sim, c);
  sim.runFor(1_000);
  const maxmemory = 60_000;
  // A first count spanning many steps (64 values a step: ~30 steps of 10 ms), writes meanwhile.
  for (const id of NODES) memoryOf(sim, id).firstPassStepEntries = 64;
  for (const id of ['n2', 'n3']) {
    const o = new SimRespClient(sim, id);
    o.send('CONFIG', 'SET', 'maxmemory', String(maxmemory), 'maxmemory-policy', 'allkeys-random');
    assert.deepEqual(settle(sim, o), ['+OK']);
  }
  // On n1 the writes arrive with the setting, in one pipeline: they run during its first count.
  const writes = c.replies.length + 1;
  c.send('CONFIG', 'SET', 'maxmemory', String(maxmemory), 'maxmemory-policy', 'allkeys-random');
  for (let i = 0; i < 300; i++) c.send('SET', `more:${i}`, 'v'.repeat(100));
  assert.ok(
    settle(sim, c)
      .slice(writes)
      .every((r) => r === '+OK'),
    'writes run while the first pass counts',
  );
  sim.runFor(3_000);
  for (const id of NODES) {
    const bytes = memoryOf(sim, id).datasetBytes;
    assert.ok(memoryOf(sim, id).complete, `${id} counted`);
    assert.ok(bytes <= maxmemory && bytes >= 0.8 * maxmemory, `${id}: ${bytes} bytes kept of ${maxmemory}`);
  }
});

/**
 * Cold keys written, then (5 s later) hot ones, all through every node; then maxmemory lowered
 * on every node to about a third of the data: the share of each kept.
 */
function lruRun(policy: string): { hot: number; cold: number } {
  const sim = cluster(`replica-memory-${policy}`, { maxmemory: 1_000_000, maxmemoryPolicy: policy });
  const clients = NODES.map((id) => new SimRespClient(sim, id));
  const cold = Array.from({ length: 200 }, (_, i) => `cold:${i}`);
  const hot = Array.from({ length: 40 }, (_, i) => `hot:${i}`);
  for (const [i, key] of cold.entries()) clients[i % 3]!.send('SET', key, 'c'.repeat(100));
  for (const c of clients) settle(sim, c);
  sim.runFor(5_000);
  // Written through any node: a write reaches each replica, the evicting leader's history included.
  for (const [i, key] of hot.entries()) clients[i % 3]!.send('SET', key, 'h'.repeat(100));
  for (const c of clients) settle(sim, c);
  sim.runFor(2_000);
  const used = memoryOf(sim, 'n1').datasetBytes;
  everyNode(sim, ['CONFIG', 'SET', 'maxmemory', String(Math.floor(used / 3))]);
  sim.runFor(3_000); // the recount steps evict (64 keys a call)
  for (const id of NODES) assert.ok(memoryOf(sim, id).datasetBytes <= used / 3, `${id} under the new bound`);
  const kept = (keys: string[]) => keys.filter((k) => liveOn(sim, 'n1', k)).length / keys.length;
  return { hot: kept(hot), cold: kept(cold) };
}

test('N = 3 allkeys-lru evicts the keys written longest ago, through any node (negative control: allkeys-random does not)', () => {
  const lru = lruRun('allkeys-lru');
  assert.ok(lru.cold < 0.5, `cold keys kept ${lru.cold}: eviction happened`);
  // Sampled LRU (5 keys and the pool, as Redis): mostly, not exactly, the least recently written.
  assert.ok(
    lru.hot > 0.8 && lru.hot > lru.cold + 0.4,
    `hot keys kept ${lru.hot} under allkeys-lru (cold ${lru.cold.toFixed(2)})`,
  );
  const random = lruRun('allkeys-random');
  assert.ok(
    random.hot < 0.6,
    `hot keys kept ${random.hot} under allkeys-random (cold ${random.cold.toFixed(2)}): the check can fail`,
  );
});

test('N = 3 volatile-ttl evicts keys with a deadline, nearest first, never one without; then -OOM', () => {
  const sim = cluster('replica-memory-ttl', { maxmemory: 40_000, maxmemoryPolicy: 'volatile-ttl' });
  const c = new SimRespClient(sim, 'n1');
  // The keys with a deadline first, in shuffled order (under the bound: nothing is evicted) ...
  const order = Array.from({ length: 150 }, (_, i) => i);
  const rng = new SeededRng('replica-memory-ttl-order');
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (const i of order) c.send('SET', `ttl:${i}`, 'v'.repeat(100), 'EX', String(10_000 + i));
  settle(sim, c);
  sim.runFor(1_000);
  assert.ok(
    order.every((i) => liveOn(sim, 'n1', `ttl:${i}`)),
    'nothing evicted under the bound',
  );
  // ... then keys without one push the data set over it.
  for (let i = 0; i < 150; i++) c.send('SET', `keep:${i}`, 'v'.repeat(100));
  assert.ok(
    settle(sim, c).every((r) => r === '+OK'),
    'keys with a deadline made room for every write',
  );
  sim.runFor(1_000);
  for (let i = 0; i < 150; i++) assert.ok(liveOn(sim, 'n1', `keep:${i}`), `keep:${i} has no deadline: kept`);
  const gone = order.filter((i) => !liveOn(sim, 'n1', `ttl:${i}`));
  assert.ok(gone.length > 30, `${gone.length} keys with a deadline evicted`);
  // Nearest deadline first (sampled: mostly): the evicted lean to the low numbers.
  const mean = gone.reduce((a, b) => a + b, 0) / gone.length;
  const perfect = (gone.length - 1) / 2;
  assert.ok(
    mean < perfect + (74.5 - perfect) / 2,
    `mean index of the evicted ${mean.toFixed(1)} (${perfect} nearest first, 74.5 blind)`,
  );
  // Only keys without a deadline left over the bound: writes are refused.
  const w = new SimRespClient(sim, 'n2');
  for (let i = 0; i < 200; i++) w.send('SET', `more:${i}`, 'v'.repeat(100));
  assert.ok(
    settle(sim, w).includes("-OOM command not allowed when used memory > 'maxmemory'."),
    'OOM once nothing is volatile',
  );
  for (let i = 0; i < 150; i++) assert.ok(liveOn(sim, 'n1', `keep:${i}`), `keep:${i} still kept`);
});

test('N = 3 noeviction: -OOM for writes past maxmemory (BLMOVE too, as denyoom), reads and DEL run (BLPOP too: a pop frees), a DEL makes room', () => {
  const sim = cluster('replica-memory-noeviction', { maxmemory: 20_000 });
  const c = new SimRespClient(sim, 'n3');
  let i = 0;
  for (; i < 400; i++) {
    c.send('SET', `k${i}`, 'v'.repeat(100));
    const r = settle(sim, c).at(-1);
    if (r !== '+OK') {
      assert.equal(r, "-OOM command not allowed when used memory > 'maxmemory'.");
      break;
    }
  }
  assert.ok(i > 50 && i < 400, `refused after ${i} keys`);
  const before = c.replies.length;
  c.send('GET', 'k0');
  c.send('LPUSH', 'list', 'a');
  c.send('BLMOVE', 'k0', 'moved', 'LEFT', 'RIGHT', '0');
  c.send('BLPOP', 'k0', '0.1');
  c.send('DEL', 'k0', 'k1', 'k2');
  c.send('SET', 'again', 'v');
  assert.deepEqual(settle(sim, c).slice(before), [
    `$${'v'.repeat(100)}`,
    "-OOM command not allowed when used memory > 'maxmemory'.",
    "-OOM command not allowed when used memory > 'maxmemory'.",
    '-WRONGTYPE Operation against a key holding the wrong kind of value',
    ':3',
    '+OK',
  ]);
  assert.equal(info(sim, 'n3').get('evicted_keys'), '0');
  // The other nodes count the same replicas: under the bound after the DEL, one write passes
  // (as in Redis, a write is refused only when the data set is over before it), then they refuse.
  const other = new SimRespClient(sim, 'n1');
  other.send('SET', 'x', 'v'.repeat(500));
  other.send('SET', 'y', 'v'.repeat(500));
  assert.deepEqual(settle(sim, other), ['+OK', "-OOM command not allowed when used memory > 'maxmemory'."]);
});

test('N = 3 of 4 nodes: copies a ring move left behind are neither evicted nor deleted through their real replicas', () => {
  const ids = ['n1', 'n2', 'n3', 'n4'];
  const sim = replicatedCluster('replica-memory-left-behind', ids, 3);
  const c = new SimRespClient(sim, 'n1');
  for (let i = 0; i < 200; i++) c.send('SET', `k${i}`, 'v'.repeat(100));
  assert.ok(settle(sim, c).every((r) => r === '+OK'));
  sim.runFor(1_000);
  // Plant on n4 a copy of every key it does not replicate, as a move away from n4 leaves them.
  const n4 = storeOf(sim.instance('n4')!).replica!;
  const n1 = storeOf(sim.instance('n1')!).replica!;
  const foreign: string[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < 200; i++) {
    const key = enc.encode(`k${i}`);
    if (n4.ring.locate(key, 3).replicas.includes('n4')) continue;
    foreign.push(`k${i}`);
    (n4 as unknown as { store: { put(k: Uint8Array, s: Uint8Array): void } }).store.put(key, n1.peek(key).encode());
  }
  assert.ok(foreign.length > 20, `${foreign.length} keys n4 does not replicate`);
  // n4 alone gets a bound far under what it holds: it must evict, from its own keys only.
  const o = new SimRespClient(sim, 'n4');
  o.send('CONFIG', 'SET', 'maxmemory', '5000', 'maxmemory-policy', 'allkeys-random');
  assert.deepEqual(settle(sim, o), ['+OK']);
  sim.runFor(3_000);
  assert.ok(Number(info(sim, 'n4').get('evicted_keys')) > 50, 'n4 evicted its own keys');
  const r = new SimRespClient(sim, 'n1');
  for (const k of foreign) r.send('GET', k);
  assert.ok(
    settle(sim, r).every((v) => v === `$${'v'.repeat(100)}`),
    'no key n4 holds only as a left-behind copy was deleted',
  );
});

// Goal: cluster-aware clients get a slot map that agrees with where the ring places keys: CLUSTER
// SLOTS covers slots 0..16383 once, in order, and names each slot's ring owner (N = 1) with its
// announced endpoint; every node answers alike; KEYSLOT is Redis' slot; INFO and HELLO say
// cluster mode; a node alone answers as a standalone Redis (cluster support disabled). At N = 3
// the replicas follow the master, and a dead master hands its ranges to the first live replica.
// Simulated nodes (virtual time) and a pure view for the failover order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseTokens, Ring } from '../../dynamo/ring.ts';
import { keySlot, SLOT_COUNT, slotToken } from '../../dynamo/slots.ts';
import { SeededRng } from '../../lib/rng.ts';
import type { NodeServices } from '../../node/services.ts';
import type { Simulation } from '../../sim/simulation.ts';
import type { RespValue } from '../../wire/resp/index.ts';
import { simServices } from '../../../test/support/sim-services.ts';
import {
  type ClusterView,
  clusterInfo,
  clusterNodes,
  redisNodeId,
  SlotRangeCache,
  slotRanges,
} from './cluster-topology.ts';
import { membershipService } from '../membership/service.ts';
import { storeOf, storeService } from './service.ts';
import { SimRespClient, show } from './sim-client.ts';

const NODES = ['n1', 'n2', 'n3'];

function settle(sim: Simulation<NodeServices>, c: SimRespClient): RespValue[] {
  assert.ok(
    sim.runUntilCondition(() => c.settled || c.closed !== undefined, 10_000),
    `replies to ${c.sent}`,
  );
  return c.replies;
}

const int = (v: RespValue | undefined): number => {
  assert.equal(v?.type, 'integer');
  return Number((v as { value: bigint }).value);
};
const items = (v: RespValue | undefined): readonly RespValue[] => {
  assert.ok(v?.type === 'array', show(v));
  return v.items;
};

test('CLUSTER SLOTS on a 3-node ring: every slot once, owned by its ring owner, same on every node', () => {
  const sim = simServices({ seed: 'store-slots', nodes: NODES, services: [membershipService, storeService] });
  const ready = () =>
    NODES.every((id) => {
      const view = storeOf(sim.instance(id)!).server.cluster();
      return view !== undefined && view.ring.version > 0 && NODES.every((n) => view.endpoint(n) !== undefined);
    });
  assert.ok(sim.runUntilCondition(ready, 20_000), 'ring known and every endpoint announced');
  const ring = storeOf(sim.instance('n1')!).ring.ring;
  const answers = NODES.map((id) => {
    const c = new SimRespClient(sim, id);
    c.send('CLUSTER', 'SLOTS');
    return show(settle(sim, c)[0]);
  });
  assert.ok(
    answers.every((a) => a === answers[0]),
    'every node answers the same map',
  );
  const c = new SimRespClient(sim, 'n2');
  c.send('CLUSTER', 'SLOTS');
  c.send('CLUSTER', 'KEYSLOT', '{user1000}.following');
  c.send('CLUSTER', 'MYID');
  c.send('INFO', 'cluster');
  c.send('HELLO', '3');
  c.send('CLUSTER', 'NODES');
  c.send('READONLY');
  const [slots, keyslot, myid, info, hello, nodes, readonly] = settle(sim, c);
  let next = 0;
  const byId = new Map(NODES.map((id) => [redisNodeId(id), id]));
  for (const entry of items(slots)) {
    const [start, end, master, ...replicas] = items(entry);
    assert.equal(int(start), next, 'ranges are contiguous and in order');
    assert.ok(int(end) >= int(start));
    assert.equal(replicas.length, 0, 'N = 1: no replicas');
    const [host, port, id] = items(master);
    assert.equal(show(host), '$127.0.0.1');
    assert.equal(int(port), 6379);
    const owner = byId.get(show(id).slice(1));
    for (const s of [int(start), int(end)]) assert.equal(ring.replicas(slotToken(s), 1)[0], owner, `slot ${s}`);
    next = int(end) + 1;
  }
  assert.equal(next, SLOT_COUNT, 'every slot is covered');
  assert.ok(items(slots).length >= NODES.length);
  assert.equal(show(keyslot), ':3443');
  assert.equal(show(myid), `$${redisNodeId('n2')}`);
  assert.match(show(info), /cluster_enabled:1/);
  assert.match(show(hello), /\$mode=\$cluster/);
  const lines = show(nodes).slice(1).trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines.find((l) => l.startsWith(redisNodeId('n2')))!, / myself,master - 0 0 \d+ connected \d/);
  assert.equal(show(readonly), '+OK');
  // Keys are placed by the map: each key's ring owner is the master the map gives its slot.
  const masterOf = new Map<number, string>();
  for (const entry of items(slots)) {
    const [start, end, master] = items(entry);
    for (let s = int(start); s <= int(end); s++) masterOf.set(s, byId.get(show(items(master)[2]).slice(1))!);
  }
  for (let i = 0; i < 200; i++) {
    const key = new TextEncoder().encode(`k${i}`);
    assert.equal(ring.locate(key, 1).replicas[0], masterOf.get(keySlot(key)), `k${i}`);
  }
});

test('CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT count the keys a node owns in a slot; the argument errors as Redis', () => {
  const sim = simServices({ seed: 'store-countkeys', nodes: NODES, services: [membershipService, storeService] });
  assert.ok(
    sim.runUntilCondition(() => NODES.every((id) => storeOf(sim.instance(id)!).server.cluster()?.ring.version), 20_000),
    'ring known',
  );
  const w = new SimRespClient(sim, 'n1');
  // Keys sharing hash tags share slots; a few slots get several keys.
  const keys = Array.from({ length: 120 }, (_, i) => `{tag${i % 12}}:k${i}`);
  for (const k of keys) w.send('SET', k, 'v');
  assert.ok(settle(sim, w).every((r) => show(r) === '+OK'));
  const bySlot = new Map<number, string[]>();
  for (const k of keys) {
    const slot = keySlot(new TextEncoder().encode(k));
    bySlot.set(slot, [...(bySlot.get(slot) ?? []), k]);
  }
  const clients = new Map(NODES.map((id) => [id, new SimRespClient(sim, id)]));
  for (const [slot, inSlot] of bySlot) {
    const counts = NODES.map((id) => {
      const c = clients.get(id)!;
      c.send('CLUSTER', 'COUNTKEYSINSLOT', String(slot));
      c.send('CLUSTER', 'GETKEYSINSLOT', String(slot), '3');
      const [count, got] = settle(sim, c).slice(-2);
      const names = items(got).map((v) => show(v).slice(1));
      assert.equal(names.length, Math.min(3, int(count)));
      for (const n of names) assert.ok(inSlot.includes(n), `${n} in slot ${slot}`);
      return int(count);
    });
    // Only the slot's owner holds its keys (N = 1).
    assert.deepEqual(
      counts.filter((n) => n > 0),
      [inSlot.length],
      `slot ${slot}: ${counts}`,
    );
  }
  const c = clients.get('n2')!;
  c.send('CLUSTER', 'COUNTKEYSINSLOT', '16384');
  c.send('CLUSTER', 'COUNTKEYSINSLOT', '-1');
  c.send('CLUSTER', 'COUNTKEYSINSLOT', 'x');
  c.send('CLUSTER', 'GETKEYSINSLOT', '1', '-1');
  c.send('CLUSTER', 'GETKEYSINSLOT', '16384', '1');
  c.send('CLUSTER', 'GETKEYSINSLOT', '1', '01');
  c.send('CLUSTER', 'GETKEYSINSLOT', '1');
  assert.deepEqual(settle(sim, c).slice(-7).map(show), [
    '-ERR Invalid slot',
    '-ERR Invalid slot',
    '-ERR value is not an integer or out of range',
    '-ERR Invalid slot or number of keys',
    '-ERR Invalid slot or number of keys',
    '-ERR value is not an integer or out of range',
    "-ERR wrong number of arguments for 'cluster|getkeysinslot' command",
  ]);
});

test('a node alone answers as a standalone Redis (negative control)', () => {
  const sim = simServices({ seed: 'store-slots-alone', nodes: ['n1'], services: [storeService] });
  const c = new SimRespClient(sim, 'n1');
  const disabled = [
    ['CLUSTER', 'SLOTS'],
    ['CLUSTER', 'NODES'],
    ['CLUSTER', 'KEYSLOT', 'a'],
    ['CLUSTER', 'COUNTKEYSINSLOT', '1'],
    ['CLUSTER', 'GETKEYSINSLOT', '1', '1'],
    ['READONLY'],
    ['ASKING'],
  ];
  for (const cmd of disabled) c.send(...cmd);
  c.send('INFO', 'cluster');
  const replies = settle(sim, c).map(show);
  assert.deepEqual(
    replies.slice(0, disabled.length),
    Array(disabled.length).fill('-ERR This instance has cluster support disabled'),
  );
  assert.match(replies[disabled.length]!, /cluster_enabled:0/);
});

test('N = 3: replicas follow the master; a dead master yields its ranges to the first live replica', () => {
  let ring = Ring.empty();
  for (const id of ['a', 'b', 'c', 'd']) ring = ring.bootstrap(id, chooseTokens(new SeededRng(id), 4, ring));
  const dead = new Set<string>();
  const view: ClusterView = {
    self: 'a',
    ring,
    replicas: 3,
    endpoint: (id) => ({ host: '127.0.0.1', port: 7000 + id.charCodeAt(0) }),
    isUp: (id) => !dead.has(id),
  };
  const before = slotRanges(view);
  for (const r of before) assert.deepEqual(r.nodes, ring.replicas(slotToken(r.start), 3));
  assert.match(clusterInfo(view), /^cluster_state:ok\r\n/);
  dead.add('b');
  const after = slotRanges(view);
  for (let s = 0; s < SLOT_COUNT; s += 97) {
    const list = ring.replicas(slotToken(s), 3);
    const got = after.find((r) => r.start <= s && s <= r.end)!.nodes;
    assert.deepEqual([...got].sort(), [...list].sort(), 'the same replicas');
    assert.equal(
      got[0],
      list.find((id) => id !== 'b'),
      'the first live replica leads',
    );
  }
  assert.ok(!after.some((r) => r.nodes[0] === 'b'), 'no range led by the dead node');
  assert.match(clusterNodes(view), / master,fail - 0 0 \d+ disconnected\n/);
  // The cache recomputes when liveness changes, and only then.
  const cache = new SlotRangeCache();
  const first = cache.ranges(view);
  assert.equal(cache.ranges(view), first);
  assert.deepEqual(first, after);
  dead.delete('b');
  assert.deepEqual(cache.ranges(view), before);
});

test('N = 3 through RESP: a crashed node stops leading ranges in CLUSTER SLOTS; its keys read at QUORUM from the new master', () => {
  const ids = ['n1', 'n2', 'n3', 'n4'];
  const sim = simServices({
    seed: 'store-slots-n3',
    nodes: ids,
    services: [membershipService, storeService],
    store: { replication: { replicas: 3 } },
  });
  const known = () =>
    ids.every((id) => {
      const v = storeOf(sim.instance(id)!).server.cluster();
      return v !== undefined && v.ring.version > 0 && ids.every((n) => v.endpoint(n) !== undefined);
    });
  assert.ok(sim.runUntilCondition(known, 20_000), 'ring and endpoints');
  sim.runFor(2_000); // membership: every peer alive
  const w = new SimRespClient(sim, 'n1');
  for (let i = 0; i < 40; i++) w.send('SET', `k${i}`, `v${i}`);
  assert.ok(settle(sim, w).every((r) => show(r) === '+OK'));
  const mastersOf = (id: string): Map<string, number[]> => {
    const c = new SimRespClient(sim, id);
    c.send('CLUSTER', 'SLOTS');
    const out = new Map<string, number[]>();
    for (const entry of items(settle(sim, c)[0])) {
      const [start, , master, ...replicas] = items(entry);
      assert.equal(replicas.length, 2, 'N = 3: two replica entries');
      const id = show(items(master)[2]).slice(1);
      out.set(id, [...(out.get(id) ?? []), int(start)]);
    }
    return out;
  };
  const before = mastersOf('n2');
  assert.ok(before.has(redisNodeId('n4')), 'n4 leads some ranges');
  sim.crash('n4');
  sim.runFor(5_000); // the failure detectors call n4 dead
  const after = mastersOf('n2');
  assert.ok(!after.has(redisNodeId('n4')), 'no range led by the crashed node');
  // A client following the new map reads every key from its new master (QUORUM: 2 of 3 alive).
  const ring = storeOf(sim.instance('n1')!).ring.ring;
  for (let i = 0; i < 40; i++) {
    const key = new TextEncoder().encode(`k${i}`);
    const master = ring.locate(key, 3).replicas.find((id) => id !== 'n4')!;
    const r = new SimRespClient(sim, master);
    r.send('GET', `k${i}`);
    assert.equal(show(settle(sim, r)[0]), `$v${i}`);
  }
});

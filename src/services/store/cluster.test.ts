// Goal: on a cluster of several nodes with one owner per key (N = 1), a client sees one Redis
// whichever node it reached: the ring is bootstrapped once through the metadata group (every node
// holds the same one), each key is stored on its owner only, a command for another node's key is
// forwarded there and its reply comes back (to a RESP3 client as RESP3), keys on different owners
// in one command are CROSSSLOT while hash tags put keys together, and a transaction must own all
// its keys. Simulated nodes and client links, virtual time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeServices } from '../../node/services.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { simServices } from '../../../test/support/sim-services.ts';
import { storeOf, storeService } from './service.ts';
import { show, SimRespClient } from './sim-client.ts';

const NODES = ['n1', 'n2', 'n3'];

function cluster(seed: string): Simulation<NodeServices> {
  const sim = simServices({
    seed,
    nodes: NODES,
    services: [storeService],
    clientLinks: { chunking: 'random', chunkBytesMax: 9 },
  });
  assert.ok(
    sim.runUntilCondition(() => NODES.every((id) => (storeOf(sim.instance(id)!).ring.ring.version ?? 0) > 0), 20_000),
    'every node learned the ring',
  );
  return sim;
}

function settle(sim: Simulation<NodeServices>, c: SimRespClient): string[] {
  assert.ok(
    sim.runUntilCondition(() => c.settled || c.closed !== undefined, 10_000),
    `replies to ${c.sent} commands`,
  );
  return c.replies.map(show);
}

test('one ring on every node; keys stored on their owner only; any node answers for any key', () => {
  const sim = cluster('store-cluster');
  const rings = NODES.map((id) => storeOf(sim.instance(id)!).ring.ring);
  for (const r of rings) assert.ok(r.equals(rings[0]!), 'the same ring everywhere');
  assert.deepEqual(rings[0]!.naturalNodes, NODES);
  const writer = new SimRespClient(sim, 'n1');
  for (let i = 0; i < 30; i++) writer.send('SET', `key:${i}`, `v${i}`);
  writer.send('INCR', 'counter');
  assert.deepEqual(settle(sim, writer), [...Array.from({ length: 30 }, () => '+OK'), ':1']);
  const reader = new SimRespClient(sim, 'n2');
  for (let i = 0; i < 30; i++) reader.send('GET', `key:${i}`);
  reader.send('INCR', 'counter');
  assert.deepEqual(settle(sim, reader), [...Array.from({ length: 30 }, (_, i) => `$v${i}`), ':2']);
  // Each node holds only what it owns, and together all of it.
  const held = NODES.map((id) => {
    const c = new SimRespClient(sim, id);
    c.send('DBSIZE');
    return Number(settle(sim, c)[0]!.slice(1));
  });
  assert.equal(
    held.reduce((a, b) => a + b, 0),
    31,
    JSON.stringify(held),
  );
  assert.ok(
    held.every((n) => n < 31 && n > 0),
    `spread over the nodes: ${JSON.stringify(held)}`,
  );
  const forwarded = NODES.reduce(
    (n, id) => n + sim.metrics(id).value('store_forwarded_total', { outcome: 'served' }),
    0,
  );
  assert.ok(forwarded > 0, 'some commands ran on another node than the client reached');
});

test('keys on different owners are CROSSSLOT; hash tags keep keys together; RESP3 survives forwarding', () => {
  const sim = cluster('store-cluster-crossslot');
  const c = new SimRespClient(sim, 'n3');
  // Enough distinct keys that two of them have different owners.
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
  c.send('MSET', ...keys.flatMap((k) => [k, 'x']));
  c.send('MSET', '{user1}:a', '1', '{user1}:b', '2');
  c.send('MGET', '{user1}:a', '{user1}:b');
  c.send('HELLO', '3');
  c.send('HSET', '{user1}:h', 'f', '1.5');
  c.send('HINCRBYFLOAT', '{user1}:h', 'f', '1');
  c.send('HGETALL', '{user1}:h');
  c.send('MULTI');
  c.send('SET', keys[0]!, '1');
  c.send('SET', keys[1]!, '1');
  c.send('SET', keys[2]!, '1');
  c.send('EXEC');
  const r = settle(sim, c);
  assert.equal(r[0], "-CROSSSLOT Keys in request don't hash to the same slot");
  assert.deepEqual(r.slice(1, 3), ['+OK', '*[$1,$2]']);
  assert.equal(r[4], ':1');
  assert.equal(r[5], '$2.5');
  assert.match(r[6]!, /^%/, `a RESP3 map after forwarding: ${r[6]}`);
  assert.match(r.at(-1)!, /^-CROSSSLOT|^\*\[/, 'EXEC runs only when this node owns every key');
});

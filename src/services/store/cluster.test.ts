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
import { replicatedCluster } from '../../../test/support/replicated-cluster.ts';
import { membershipService } from '../membership/service.ts';
import { keySlot } from '../../dynamo/slots.ts';
import { storeOf, storeService } from './service.ts';
import { scanAll, show, SimRespClient } from './sim-client.ts';

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

/** The owner of `key` on the cluster's ring (every node holds the same one). */
function ownerOf(sim: Simulation<NodeServices>, key: string): string {
  return storeOf(sim.instance('n1')!).ring.ring.locate(new TextEncoder().encode(key), 1).replicas[0]!;
}

test('keys on different owners are CROSSSLOT; hash tags keep keys together; RESP3 survives forwarding', () => {
  const sim = cluster('store-cluster-crossslot');
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
  const mine = keys.filter((k) => ownerOf(sim, k) === 'n3').slice(0, 2);
  const other = keys.find((k) => ownerOf(sim, k) !== 'n3')!;
  assert.equal(mine.length, 2);
  // A hash tag owned by another node than n3, so the {tag} commands are forwarded.
  const tag = ['user1', 'user2', 'user3', 'user4', 'user5', 'user6'].find((t) => ownerOf(sim, t) !== 'n3')!;
  const c = new SimRespClient(sim, 'n3');
  c.send('MSET', mine[0]!, 'x', other, 'x');
  c.send('MSET', `{${tag}}:a`, '1', `{${tag}}:b`, '2');
  c.send('MGET', `{${tag}}:a`, `{${tag}}:b`);
  c.send('HELLO', '3');
  c.send('HSET', `{${tag}}:h`, 'f', '1.5');
  c.send('HINCRBYFLOAT', `{${tag}}:h`, 'f', '1');
  c.send('HGETALL', `{${tag}}:h`);
  c.send('MULTI');
  c.send('SET', mine[0]!, '1');
  c.send('SET', other, '1');
  c.send('EXEC');
  c.send('MULTI');
  c.send('SET', mine[0]!, '1');
  c.send('INCR', mine[1]!);
  c.send('EXEC');
  const before = sim.metrics(ownerOf(sim, tag)).value('store_forwarded_total', { outcome: 'served' });
  const r = settle(sim, c);
  assert.equal(r[0], "-CROSSSLOT Keys in request don't hash to the same slot");
  assert.deepEqual(r.slice(1, 3), ['+OK', '*[$1,$2]']);
  assert.equal(r[4], ':1');
  assert.equal(r[5], '$2.5');
  assert.match(r[6]!, /^%/, `a RESP3 map after forwarding: ${r[6]}`);
  assert.match(r[10]!, /^-CROSSSLOT .*a transaction runs on the node owning all its keys/);
  assert.equal(r[14], '*[+OK,:1]');
  assert.ok(
    sim.metrics(ownerOf(sim, tag)).value('store_forwarded_total', { outcome: 'served' }) - before >= 5,
    'the tagged commands ran on their owner',
  );
});

test('N = 3 through RESP: a write on either side of a partition at ONE, UNAVAILABLE at QUORUM on the minority, both values kept as siblings after healing', () => {
  const sim = replicatedCluster('store-replicated', ['n1', 'n2', 'n3'], 3);
  const a = new SimRespClient(sim, 'n1');
  a.send('SET', 'k', 'v0');
  a.send('BARISTA', 'WHERE', 'k');
  assert.deepEqual(settle(sim, a).slice(0, 1), ['+OK']);
  assert.equal(a.replies.length, 2);
  const cut = sim.network.partition([['n1', 'n2'], ['n3']]);
  sim.runFor(3_000); // the failure detectors call the other side down
  const minority = new SimRespClient(sim, 'n3');
  minority.send('SET', 'k', 'minority-quorum');
  minority.send('BARISTA', 'CONSISTENCY', 'ONE');
  minority.send('SET', 'k', 'minority');
  assert.deepEqual(settle(sim, minority).slice(1), ['+OK', '+OK']);
  assert.match(show(minority.replies[0]), /^-UNAVAILABLE /, show(minority.replies[0]));
  a.send('SET', 'k', 'majority');
  assert.equal(settle(sim, a).at(-1), '+OK');
  cut.heal();
  sim.runFor(5_000);
  const reader = new SimRespClient(sim, 'n2');
  reader.send('BARISTA', 'CONSISTENCY', 'ALL');
  reader.send('BARISTA', 'SIBLINGS', 'k');
  reader.send('GET', 'k');
  const got = settle(sim, reader);
  assert.equal(got[0], '+OK');
  // Concurrent writes on both sides: both kept (neither read the other), the older v0 superseded.
  assert.match(got[1]!, /^\*\[/);
  assert.deepEqual(got[1]!.slice(2, -1).split(',').sort(), ['$majority', '$minority']);
  assert.match(got[2]!, /^\$(majority|minority)$/);
  // A SET now supersedes both: one value again.
  reader.send('SET', 'k', 'resolved');
  reader.send('BARISTA', 'SIBLINGS', 'k');
  reader.send('GET', 'k');
  reader.send('BARISTA', 'SIBLINGS', 'k');
  assert.deepEqual(settle(sim, reader).slice(3), ['+OK', '*[$resolved]', '$resolved', '*[$resolved]']);
});

test('N = 1: a command for a key whose owner the failure detector calls dead answers -CLUSTERDOWN at once, not after the forward timeout', () => {
  const ids = ['n1', 'n2', 'n3'];
  const sim = simServices({ seed: 'store-owner-dead', nodes: ids, services: [membershipService, storeService] });
  assert.ok(
    sim.runUntilCondition(
      () =>
        ids.every((id) => storeOf(sim.instance(id)!).ring.ring.version > 0 && storeOf(sim.instance(id)!).ring.current),
      20_000,
    ),
    'ring',
  );
  sim.runFor(2_000); // membership: every peer alive
  let key = '';
  for (let i = 0; key === ''; i++) if (ownerOf(sim, `dead:${i}`) === 'n3') key = `dead:${i}`;
  const c = new SimRespClient(sim, 'n1');
  c.send('SET', key, 'v');
  assert.deepEqual(settle(sim, c), ['+OK']);
  sim.crash('n3');
  // Negative control: before the detector calls n3 dead, the command waits for its forward.
  c.send('GET', key);
  sim.runFor(500);
  assert.equal(c.replies.length, 1, 'still waiting while n3 is only silent');
  assert.ok(
    sim.runUntilCondition(
      () =>
        sim
          .instance('n1')!
          .membership.view()
          .find((p) => p.id === 'n3')?.status === 'dead',
      10_000,
    ),
    'n1 calls n3 dead',
  );
  settle(sim, c); // the first GET ends by its timeout or CLUSTERDOWN
  const startedMs = sim.nowMs;
  c.send('GET', key);
  const last = settle(sim, c).at(-1)!;
  assert.match(last, /^-CLUSTERDOWN the node owning the key \(n3\) is down/);
  assert.ok(sim.nowMs - startedMs < 100, `answered in ${sim.nowMs - startedMs} ms`);
  const other = (() => {
    for (let i = 0; ; i++) if (ownerOf(sim, `live:${i}`) !== 'n3') return `live:${i}`;
  })();
  c.send('SET', other, 'fine');
  assert.equal(settle(sim, c).at(-1), '+OK', 'keys on live nodes keep working');
});

test('N = 2 of 4 through RESP: MGET and MSET are per-key operations; an MSET that fails at its second key says the first was written', () => {
  const sim = replicatedCluster('store-multi-key', ['n1', 'n2', 'n3', 'n4'], 2);
  const c = new SimRespClient(sim, 'n1');
  const keys = Array.from({ length: 24 }, (_, i) => `mk:${i}`);
  for (const k of keys) c.send('BARISTA', 'WHERE', k);
  const where = settle(sim, c);
  const away = keys.find((_, i) => !where[i]!.includes('n4'))!; // its replicas stay reachable
  const cutOff = keys.find((_, i) => where[i]!.includes('n4'))!; // one of its two replicas is n4
  assert.ok(away !== undefined && cutOff !== undefined, where.join(' '));
  c.send('MSET', away, 'a1', cutOff, 'c1');
  c.send('MGET', away, 'mk:none', cutOff);
  c.send('SADD', 'mk:set', 'm');
  c.send('RENAME', 'mk:set', 'mk:other');
  c.send('SMEMBERS', 'mk:other');
  c.send('EXISTS', 'mk:set');
  assert.deepEqual(settle(sim, c).slice(keys.length), ['+OK', `*[$a1,_,$c1]`, ':1', '+OK', '*[$m]', ':0']);
  const cut = sim.network.partition([['n1', 'n2', 'n3'], ['n4']]);
  sim.runFor(3_000); // the failure detectors call n4 down
  c.send('MSET', away, 'a2', cutOff, 'c2');
  c.send('MSET', cutOff, 'c3', away, 'a3');
  c.send('BARISTA', 'CONSISTENCY', 'ONE');
  c.send('MGET', away, cutOff);
  const r = settle(sim, c).slice(keys.length + 6);
  assert.match(r[0]!, /^-UNAVAILABLE .*\(the 1 keys before it were written\)$/, r[0]);
  assert.match(r[1]!, /^-UNAVAILABLE .*\(nothing was written\)$/, r[1]);
  assert.deepEqual(r.slice(2), ['+OK', '*[$a2,$c1]'], 'the first key of the failed MSET stays written');
  cut.heal();
});

test('N = 3 at ONE: MGET, MSET, DEL and UNLINK of thousands of keys answer (each key answered at once by the local replica does not grow the stack)', () => {
  const sim = replicatedCluster('store-many-keys', ['n1', 'n2', 'n3'], 3);
  const c = new SimRespClient(sim, 'n1');
  const count = 3_000;
  const keys = Array.from({ length: count }, (_, i) => `many:${i}`);
  c.send('BARISTA', 'CONSISTENCY', 'ONE');
  c.send('MSET', ...keys.flatMap((k, i) => [k, `v${i}`]));
  c.send('MGET', ...keys);
  c.send('EXISTS', ...keys);
  c.send('DEL', ...keys.slice(0, count / 2));
  c.send('UNLINK', ...keys);
  c.send('MSET', 'a', '1', 'b', 'x'.repeat(1_048_577));
  c.send('EXISTS', 'a');
  const r = settle(sim, c);
  assert.deepEqual(r.slice(0, 2), ['+OK', '+OK']);
  assert.equal(r[2], `*[${keys.map((_, i) => `$v${i}`).join(',')}]`);
  assert.deepEqual(r.slice(3, 6), [`:${count}`, `:${count / 2}`, `:${count / 2}`]);
  // A pair over a bound refuses the whole MSET before its first write.
  assert.match(r[6]!, /^-ERR value_too_large: .*\(nothing was written\)$/);
  assert.equal(r[7], ':0');
});

test('N = 2 of 4 through RESP: SCAN, KEYS, DBSIZE and RANDOMKEY answer the keys of the slots each node leads; every live key once over the masters, also after one node is cut off', () => {
  const ids = ['n1', 'n2', 'n3', 'n4'];
  const sim = replicatedCluster('store-scan', ids, 2);
  const c = new SimRespClient(sim, 'n1');
  const live = new Set<string>();
  for (let i = 0; i < 240; i++) {
    c.send('SET', `s:${i}`, `v${i}`);
    live.add(`s:${i}`);
  }
  for (let i = 0; i < 20; i++) {
    c.send('RPUSH', `l:${i}`, 'a', 'b');
    live.add(`l:${i}`);
  }
  for (let i = 0; i < 20; i++) {
    c.send('SADD', `set:${i}`, 'm');
    live.add(`set:${i}`);
  }
  for (let i = 0; i < 10; i++) {
    c.send('HSET', `h:${i}`, 'f', 'v');
    live.add(`h:${i}`);
  }
  for (let i = 0; i < 10; i++) {
    c.send('INCR', `n:${i}`);
    live.add(`n:${i}`);
  }
  for (let i = 0; i < 20; i++) {
    c.send('DEL', `s:${i}`);
    live.delete(`s:${i}`);
  } // tombstones
  for (let i = 0; i < 5; i++) {
    c.send('LPOP', `l:${i}`, '2');
    live.delete(`l:${i}`);
  } // emptied lists
  // Past their deadline on every node's clock (the simulator skews the nodes' clocks by days, and
  // each node judges a deadline by its own).
  for (let i = 0; i < 10; i++) c.send('SET', `x:${i}`, 'gone', 'PXAT', '1000');
  for (let i = 0; i < 12; i++) {
    c.send('SET', `e:${i}`, 'later', 'EX', '100000');
    live.add(`e:${i}`);
  }
  const written = settle(sim, c);
  assert.ok(
    !written.some((r) => r.startsWith('-')),
    written.find((r) => r.startsWith('-')),
  );

  const byNode = new Map(ids.map((id) => [id, scanAll(sim, id, ['COUNT', '7'])]));
  const all = [...byNode.values()].flat();
  assert.equal(all.length, new Set(all).size, 'no key twice, within a node or across nodes');
  assert.deepEqual([...all].sort(), [...live].sort(), 'every live key once over the masters');
  for (const [id, keys] of byNode) {
    assert.ok(keys.length > 0, `${id} leads some keys`);
    const q = new SimRespClient(sim, id);
    q.send('KEYS', '*');
    q.send('DBSIZE');
    q.send('KEYS', 'l:*');
    q.send('RANDOMKEY');
    q.send('INFO', 'keyspace');
    const [k, size, lists, random, info] = settle(sim, q);
    const withTtl = keys.filter((x) => x.startsWith('e:')).length;
    assert.ok(
      info!.includes(`db0:keys=${keys.length},expires=${withTtl},avg_ttl=0`),
      `${id}: INFO keyspace counts what DBSIZE does: ${info}`,
    );
    const listed = /^\*\[(.*)\]$/
      .exec(k!)![1]!
      .split(',')
      .map((x) => x.slice(1));
    assert.deepEqual([...listed].sort(), [...keys].sort(), `${id}: KEYS * is what SCAN walked`);
    assert.equal(size, `:${keys.length}`, `${id}: DBSIZE`);
    const wantLists = keys.filter((x) => x.startsWith('l:')).sort();
    assert.deepEqual(
      lists === '*[]'
        ? []
        : /^\*\[(.*)\]$/
            .exec(lists!)![1]!
            .split(',')
            .map((x) => x.slice(1))
            .sort(),
      wantLists,
    );
    assert.ok(keys.includes(random!.slice(1)), `${id}: RANDOMKEY ${random} is one of its keys`);
    assert.deepEqual(scanAll(sim, id, ['TYPE', 'list', 'COUNT', '1000']).sort(), wantLists, `${id}: SCAN TYPE list`);
    assert.deepEqual(
      scanAll(sim, id, ['MATCH', 'h:*']).sort(),
      keys.filter((x) => x.startsWith('h:')).sort(),
      `${id}: SCAN MATCH`,
    );
  }

  // CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT: the keys a node stores as a replica of the slot
  // (QUORUM of N = 2 wrote both replicas).
  const slotOf = (k: string) => keySlot(new TextEncoder().encode(k));
  const slot = slotOf('s:100');
  const inSlot = [...live].filter((k) => slotOf(k) === slot).sort();
  const perNode = ids.map((id) => {
    const q = new SimRespClient(sim, id);
    q.send('CLUSTER', 'COUNTKEYSINSLOT', String(slot));
    q.send('CLUSTER', 'GETKEYSINSLOT', String(slot), '100');
    q.send('BARISTA', 'WHERE', 's:100');
    return settle(sim, q);
  });
  for (const [i, [count, got, where]] of perNode.entries()) {
    const replica = where!.includes(`$${ids[i]}`);
    assert.equal(count, `:${replica ? inSlot.length : 0}`, `${ids[i]} COUNTKEYSINSLOT (${where})`);
    const keys =
      got === '*[]'
        ? []
        : /^\*\[(.*)\]$/
            .exec(got!)![1]!
            .split(',')
            .map((x) => x.slice(1));
    assert.deepEqual(keys.sort(), replica ? inSlot : [], `${ids[i]} GETKEYSINSLOT`);
  }

  // n4 cut off: once the others call it down, its slots' next live replica leads them.
  const cut = sim.network.partition([['n1', 'n2', 'n3'], ['n4']]);
  sim.runFor(3_000);
  const after = ['n1', 'n2', 'n3'].flatMap((id) => scanAll(sim, id, ['COUNT', '50']));
  assert.equal(after.length, new Set(after).size, 'no key twice after the failover');
  assert.deepEqual([...after].sort(), [...live].sort(), 'every live key once over the live masters');
  cut.heal();
});

test('N = 3 at ANY: reads (GET, and the read before SET, APPEND, SETRANGE, DEL, INCR, SADD) run at ONE; writes count hints', () => {
  const sim = replicatedCluster('store-any', ['n1', 'n2', 'n3'], 3);
  const c = new SimRespClient(sim, 'n1');
  c.send('BARISTA', 'CONSISTENCY', 'ANY');
  c.send('SET', 'any:k', 'v');
  c.send('APPEND', 'any:k', 'w');
  c.send('SETRANGE', 'any:k', '0', 'V');
  c.send('GET', 'any:k');
  c.send('DEL', 'any:k');
  c.send('GET', 'any:k');
  c.send('INCR', 'any:n');
  c.send('SADD', 'any:s', 'm');
  c.send('RPUSH', 'any:l', 'a');
  // Two replicas cut off: ANY still takes the write (a hint), a read at ONE still answers here.
  const cut = sim.network.partition([['n1'], ['n2', 'n3']]);
  sim.runFor(3_000);
  c.send('SET', 'any:alone', 'x');
  c.send('GET', 'any:alone');
  assert.deepEqual(settle(sim, c), ['+OK', '+OK', ':2', ':2', '$Vw', ':1', '_', ':1', ':1', ':1', '+OK', '$x']);
  cut.heal();
});

test('N = 3: a transaction over one hash tag runs at SERIAL from every node; below SERIAL it is refused and runs nothing queued', () => {
  const sim = replicatedCluster('store-multi-n3', ['n1', 'n2', 'n3'], 3);
  const notSerial =
    '-ERR MULTI/EXEC and WATCH with store.replication.replicas > 1 run at SERIAL over one key or the keys of one hash tag: BARISTA CONSISTENCY SERIAL first';
  for (const id of ['n1', 'n2', 'n3']) {
    const c = new SimRespClient(sim, id);
    c.send('MULTI');
    c.send('SET', `{t}${id}`, '1');
    c.send('EXEC');
    c.send('GET', `{t}${id}`);
    c.send('WATCH', `{t}${id}`);
    c.send('BARISTA', 'CONSISTENCY', 'SERIAL');
    c.send('MULTI');
    c.send('INCR', '{t}n');
    c.send('SET', `{t}${id}`, '1');
    c.send('EXEC');
    assert.deepEqual(
      settle(sim, c),
      [
        '+OK',
        notSerial,
        '-EXECABORT Transaction discarded because of previous errors.',
        '_',
        notSerial,
        '+OK',
        '+OK',
        '+QUEUED',
        '+QUEUED',
        `*[:${id.slice(1)},+OK]`,
      ],
      id,
    );
  }
});

test("N = 3: GETEX and PERSIST of a counter keep it a counter (a deadline change is a CRDT operation); a string command over the size bound is refused; at SERIAL GETEX runs in its key's register (apart from the Dynamo state) and FLUSHALL is named as not offered", () => {
  const sim = replicatedCluster('store-getex-counter', ['n1', 'n2', 'n3'], 3);
  const c = new SimRespClient(sim, 'n1');
  c.send('INCR', 'gx:c');
  c.send('GETEX', 'gx:c', 'EX', '100');
  c.send('INCR', 'gx:c');
  c.send('TTL', 'gx:c');
  c.send('GETEX', 'gx:c', 'PERSIST');
  c.send('TTL', 'gx:c');
  c.send('SETRANGE', 'gx:s', '9007199254740000', 'x');
  c.send('EXISTS', 'gx:s');
  c.send('BARISTA', 'CONSISTENCY', 'SERIAL');
  c.send('GETEX', 'gx:c');
  c.send('SET', 'gx:t', 'v', 'EX', '100');
  c.send('GETEX', 'gx:t', 'PERSIST');
  c.send('TTL', 'gx:t');
  c.send('FLUSHALL');
  assert.deepEqual(settle(sim, c), [
    ':1',
    '$1',
    ':2',
    ':100',
    '$2',
    ':-1',
    '-ERR string exceeds maximum allowed size (proto-max-bulk-len)',
    ':0',
    '+OK',
    '_',
    '+OK',
    '$v',
    ':-1',
    "-ERR 'flushall' is not offered at SERIAL (it runs at ONE, QUORUM, ALL and ANY at N > 1)",
  ]);
  const chosen = storeOf(sim.instance('n1')!).replica!.peek(new TextEncoder().encode('gx:c')).chosen();
  assert.equal(chosen?.crdt, true, 'still a PN-counter after GETEX EX and GETEX PERSIST');
});

test('N = 3: FLUSHALL on every master deletes every key (each node its led slots, page by page, thousands at ONE without growing the stack)', () => {
  const sim = replicatedCluster('store-flushall', ['n1', 'n2', 'n3'], 3);
  const c = new SimRespClient(sim, 'n1');
  const keys = Array.from({ length: 3_000 }, (_, i) => `fl:${i}`);
  c.send('BARISTA', 'CONSISTENCY', 'ONE');
  c.send('MSET', ...keys.flatMap((k) => [k, 'v']));
  c.send('SADD', 'fl:set', 'a');
  c.send('FLUSHALL', 'NOW');
  c.send('DBSIZE');
  assert.deepEqual(settle(sim, c).slice(0, 4), ['+OK', '+OK', ':1', '-ERR syntax error']);
  const before = Number(settle(sim, c)[4]!.slice(1));
  assert.ok(before > 0 && before < keys.length, `n1 leads part of the keys: ${before}`);
  for (const id of ['n1', 'n2', 'n3']) {
    const f = new SimRespClient(sim, id);
    f.send('BARISTA', 'CONSISTENCY', 'ONE');
    f.send(id === 'n2' ? 'FLUSHDB' : 'FLUSHALL', ...(id === 'n3' ? ['ASYNC'] : []));
    f.send('DBSIZE');
    assert.deepEqual(settle(sim, f), ['+OK', '+OK', ':0'], id);
  }
  sim.runFor(500); // the tombstones reach every replica
  c.send('BARISTA', 'CONSISTENCY', 'ALL');
  c.send('EXISTS', ...keys, 'fl:set');
  assert.equal(settle(sim, c).at(-1), ':0', 'no key left, read at ALL');
});

test('N = 3: INFO used_memory is the replica store as the key census counts it, and follows writes within a pass', () => {
  const sim = replicatedCluster('store-used-memory', ['n1', 'n2', 'n3'], 3);
  const c = new SimRespClient(sim, 'n2');
  const used = (): number => {
    c.send('INFO', 'memory');
    const text = settle(sim, c).at(-1)!;
    const m = /used_memory:(\d+)/.exec(text);
    assert.ok(m !== null, text);
    return Number(m[1]);
  };
  assert.equal(used(), 0, 'nothing stored yet');
  c.send('MSET', ...Array.from({ length: 200 }, (_, i) => [`um:${i}`, 'x'.repeat(100)]).flat());
  settle(sim, c);
  sim.runFor(3_000); // a census pass after the ask above
  const after = used();
  assert.ok(after > 200 * 100 && after < 200 * 1_000, `${after} bytes for 200 keys of 100 B`);
});

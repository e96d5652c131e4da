// Expiry at N > 1 (issue 10: "expiry stored as an absolute deadline and expired values treated as
// tombstones, so repair never brings them back"). 3 simulated nodes, N = 3, RESP clients.
//   - SET EX / EXPIRE / PERSIST / TTL through any node; after the deadline GET is nil, EXISTS 0,
//     TTL -2 on every node, and INCR counts from 0 (an expired value is absent); counters, sets
//     and hashes (CRDTs) expire the same way, their updates keep the deadline, and once expired
//     an INCR or SADD starts empty, repair bringing nothing back;
//   - a replica cut off while a key with a deadline is written gets it later by anti-entropy, and
//     after the deadline the repaired copy is as dead as the others: no read anywhere shows it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeServices } from '../../src/node/services.ts';
import { membershipService } from '../../src/services/membership/service.ts';
import { storeOf, storeService } from '../../src/services/store/service.ts';
import { runCommands } from '../../src/services/store/sim-client.ts';
import type { Simulation } from '../../src/sim/simulation.ts';
import { waitRingCurrent } from '../support/replicated-cluster.ts';
import { simServices } from '../support/sim-services.ts';

const NODES = ['n1', 'n2', 'n3'];
const enc = new TextEncoder();

function run(sim: Simulation<NodeServices>, at: string, ...commands: string[][]): string[] {
  return runCommands(sim, at, commands);
}

function cluster(seed: string): Simulation<NodeServices> {
  const sim = simServices({
    seed,
    nodes: NODES,
    services: [membershipService, storeService],
    store: { sync: 'always', replication: { replicas: 3, antiEntropyIntervalMs: 0 } },
  });
  waitRingCurrent(sim, NODES);
  settle(sim);
  return sim;
}

function settle(sim: Simulation<NodeServices>): void {
  assert.ok(
    sim.runUntilCondition(
      (s) =>
        NODES.every((a) =>
          s
            .instance(a)!
            .membership.view()
            .every((v) => (v.status === 'alive') === !s.network.linkBlocked(a, v.id)),
        ),
      20_000,
    ),
    'failure detectors settled',
  );
}

test('N = 3: a deadline is absolute; past it the value is gone on every node, and INCR starts from 0', () => {
  const sim = cluster('store-expiry');
  assert.deepEqual(run(sim, 'n1', ['SET', 'e', '41', 'EX', '5'], ['TTL', 'e'], ['GET', 'e']), ['+OK', ':5', '$41']);
  assert.deepEqual(run(sim, 'n2', ['PTTL', 'e'])[0]!.startsWith(':'), true);
  assert.deepEqual(run(sim, 'n3', ['EXPIRE', 'e', '3'], ['TTL', 'e']), [':1', ':3']);
  assert.deepEqual(run(sim, 'n1', ['SET', 'p', 'v', 'PX', '2000'], ['PERSIST', 'p'], ['TTL', 'p']), [
    '+OK',
    ':1',
    ':-1',
  ]);
  sim.runFor(3_500);
  for (const at of NODES) {
    assert.deepEqual(
      run(sim, at, ['GET', 'e'], ['EXISTS', 'e'], ['TTL', 'e'], ['GET', 'p']),
      ['_', ':0', ':-2', '$v'],
      at,
    );
  }
  assert.deepEqual(run(sim, 'n2', ['INCR', 'e']), [':1'], 'an expired value is absent to INCR');
});

test('a replica that missed a write with a deadline gets it by anti-entropy, and past the deadline no node shows it', () => {
  const sim = cluster('store-expiry-repair');
  const where = run(sim, 'n1', ['BARISTA', 'WHERE', 'k'])[0]!;
  const replicas = where
    .slice(2, -1)
    .split(',')
    .map((x) => x.slice(1));
  const [first, , cut] = replicas as [string, string, string];
  const cutOff = sim.network.partition([[cut], NODES.filter((n) => n !== cut)]);
  settle(sim);
  assert.deepEqual(run(sim, first, ['BARISTA', 'CONSISTENCY', 'ONE'], ['SET', 'k', 'v', 'EX', '4']), ['+OK', '+OK']);
  cutOff.heal();
  settle(sim);
  sim.runFor(500);
  const missing = storeOf(sim.instance(cut)!).replica!.peek(enc.encode('k'));
  if (missing.isEmpty) {
    // Nothing but anti-entropy reaches it (no read, no hint once its owner is back and replayed).
    assert.equal(run(sim, first, ['BARISTA', 'REPAIR', cut])[0], '+OK');
    assert.ok(sim.runUntilCondition(() => !storeOf(sim.instance(first)!).replica!.antiEntropyBusy, 20_000));
    sim.runFor(500);
  }
  const held = storeOf(sim.instance(cut)!).replica!.peek(enc.encode('k'));
  assert.equal(held.siblings.length, 1, 'the cut-off replica holds the write now');
  assert.ok(held.siblings[0]!.expiresAtMs !== undefined, 'with its deadline');
  sim.runFor(4_000);
  for (const at of NODES) {
    assert.deepEqual(
      run(sim, at, ['BARISTA', 'CONSISTENCY', 'ALL'], ['GET', 'k'], ['TTL', 'k']),
      ['+OK', '_', ':-2'],
      at,
    );
  }
  // Another round of repair moves nothing back to life.
  assert.equal(run(sim, cut, ['BARISTA', 'REPAIR'])[0], '+OK');
  sim.runFor(2_000);
  assert.deepEqual(run(sim, cut, ['GET', 'k']), ['_']);
});

test('counters, sets and hashes expire on every node; past the deadline an INCR or SADD starts empty', () => {
  const sim = cluster('store-expiry-crdt');
  // The simulated nodes' wall clocks are far apart (each node's clock has its own origin); a
  // deadline set by the node whose clock is furthest behind has passed everywhere once it passed there.
  const [behind, ...others] = [...NODES].sort(
    (a, b) => storeOf(sim.instance(a)!).replica!.wallMs() - storeOf(sim.instance(b)!).replica!.wallMs(),
  ) as [string, ...string[]];
  assert.deepEqual(run(sim, behind, ['INCRBY', 'c', '5'], ['EXPIRE', 'c', '3'], ['TTL', 'c']), [':5', ':1', ':3']);
  // Updates coordinated where the deadline has not passed yet keep it (on a node whose clock is
  // past it the key is already gone: expiry is judged by the coordinator's clock).
  assert.deepEqual(run(sim, behind, ['INCR', 'c'], ['TTL', 'c']), [':6', ':3'], 'INCR kept the deadline');
  assert.deepEqual(run(sim, behind, ['SADD', 's', 'a', 'b'], ['PEXPIRE', 's', '3000'], ['SADD', 's', 'c']), [
    ':2',
    ':1',
    ':1',
  ]);
  assert.deepEqual(run(sim, behind, ['PTTL', 's'])[0]!.match(/^:(\d+)$/)?.[1]?.length, 4, 'SADD kept the deadline');
  assert.deepEqual(run(sim, behind, ['HSET', 'h', 'f', 'v'], ['EXPIRE', 'h', '3'], ['PERSIST', 'h'], ['TTL', 'h']), [
    ':1',
    ':1',
    ':1',
    ':-1',
  ]);
  sim.runFor(3_500);
  for (const at of NODES) {
    assert.deepEqual(
      run(sim, at, ['GET', 'c'], ['EXISTS', 'c', 's'], ['TTL', 's'], ['SCARD', 's'], ['HGET', 'h', 'f']),
      ['_', ':0', ':-2', ':0', '$v'],
      at,
    );
  }
  assert.deepEqual(run(sim, others[0]!, ['INCR', 'c'], ['SADD', 's', 'z'], ['SMEMBERS', 's']), [':1', ':1', '*[$z]']);
  // Anti-entropy from every node brings no expired count or member back.
  for (const at of NODES) {
    assert.equal(run(sim, at, ['BARISTA', 'REPAIR'])[0], '+OK');
    assert.ok(sim.runUntilCondition(() => !storeOf(sim.instance(at)!).replica!.antiEntropyBusy, 20_000));
  }
  for (const at of NODES) assert.deepEqual(run(sim, at, ['GET', 'c'], ['SCARD', 's']), ['$1', ':1'], at);
});

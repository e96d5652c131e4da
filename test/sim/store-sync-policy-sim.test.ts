// The Dynamo replica under store.sync `periodic`: a node's writes leave before they are durable, so
// a crash may lose writes it acknowledged (as Cassandra's periodic commit log may). What must not
// happen is worse than that loss: a restarted node handing out a dot counter a peer already holds
// for another write, which would make the two writes one and silently drop either. Each life
// therefore writes under its own actor id (node id # incarnation, driver.ts).
// Scenario: 3 nodes, N = 3, sync periodic with a long interval, level ONE. The key's first replica
// acknowledges SET v1 and ships it; it crashes before any sync (v1 is gone from its disk), restarts,
// and acknowledges SET v2 of the same key (its ONE read sees nothing: a blind write). Both writes
// were acknowledged, neither superseded the other: both must survive, as siblings, on the peers.
// Negative control: with the planted `dynamo-actor-per-node` (every life writes as the node id) v2
// reuses v1's dot and the peers keep only one of the two.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mutationsFrom } from '../../src/lib/mutations.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { membershipService } from '../../src/services/membership/service.ts';
import { storeOf, storeService } from '../../src/services/store/service.ts';
import { runCommands } from '../../src/services/store/sim-client.ts';
import type { Simulation } from '../../src/sim/simulation.ts';
import { waitRingCurrent } from '../support/replicated-cluster.ts';
import { simServices } from '../support/sim-services.ts';

const NODES = ['n1', 'n2', 'n3'];
const enc = new TextEncoder();
const dec = new TextDecoder();

function run(sim: Simulation<NodeServices>, at: string, ...commands: string[][]): string[] {
  return runCommands(sim, at, commands);
}

function scenario(mutations: string[]): { peers: string[][]; actors: string[] } {
  const sim = simServices({
    seed: 'store-sync-periodic',
    nodes: NODES,
    services: [membershipService, storeService],
    store: { sync: 'periodic', syncIntervalMs: 60_000, replication: { replicas: 3, antiEntropyIntervalMs: 0 } },
    ...(mutations.length > 0 ? { mutations: mutationsFrom(mutations) } : {}),
  });
  waitRingCurrent(sim, NODES);
  assert.ok(
    sim.runUntilCondition(
      () =>
        NODES.every((a) =>
          sim
            .instance(a)!
            .membership.view()
            .every((v) => v.status === 'alive'),
        ),
      15_000,
    ),
  );
  const key = 'k';
  const where = run(sim, 'n1', ['BARISTA', 'WHERE', key])[0]!;
  const first = /^\*\[\$(n\d)/.exec(where)![1]!;
  const peers = NODES.filter((n) => n !== first);
  assert.deepEqual(run(sim, first, ['BARISTA', 'CONSISTENCY', 'ONE'], ['SET', key, 'v1']), ['+OK', '+OK']);
  assert.ok(
    sim.runUntilCondition(
      () => peers.every((p) => storeOf(sim.instance(p)!).replica!.peek(enc.encode(key)).siblings.length === 1),
      5_000,
    ),
    'v1 reached the peers',
  );
  sim.crash(first); // power loss: nothing was synced since start (interval 60 s)
  sim.restart(first);
  waitRingCurrent(sim, [first]);
  assert.ok(storeOf(sim.instance(first)!).replica!.peek(enc.encode(key)).isEmpty, 'the crash lost v1 locally');
  assert.deepEqual(run(sim, first, ['BARISTA', 'CONSISTENCY', 'ONE'], ['SET', key, 'v2']), ['+OK', '+OK']);
  // Counters (PN-Counter entries named by the actor id) and sets work under the life's actor id too.
  assert.deepEqual(
    run(
      sim,
      first,
      ['BARISTA', 'CONSISTENCY', 'QUORUM'],
      ['INCR', 'c'],
      ['INCRBY', 'c', '4'],
      ['SADD', 's', 'm'],
      ['GET', 'c'],
    ),
    ['+OK', ':1', ':5', ':1', '$5'],
  );
  sim.runFor(3_000);
  const states = peers.map((p) => storeOf(sim.instance(p)!).replica!.peek(enc.encode(key)));
  return {
    peers: states.map((s) => s.siblings.map((x) => (x.value === null ? '' : dec.decode(x.value))).sort()),
    actors: states.flatMap((s) => s.siblings.map((x) => x.dot.replica)),
  };
}

test('sync periodic: a node that lost acknowledged writes in a crash writes under a new actor id, and no write is merged away', () => {
  const { peers, actors } = scenario([]);
  for (const values of peers) assert.deepEqual(values, ['v1', 'v2'], 'both acknowledged writes kept as siblings');
  assert.equal(new Set(actors).size, 2, `two lives, two actor ids: ${[...new Set(actors)].join(', ')}`);
  assert.ok(
    actors.every((a) => /#\d+$/.test(a)),
    'actor ids are node#incarnation',
  );
});

test('negative control: every life writing as the node id reuses a dot counter, and one acknowledged write is lost', () => {
  const { peers } = scenario(['dynamo-actor-per-node']);
  assert.ok(
    peers.some((values) => values.length < 2),
    `one of the writes is gone on some peer: ${JSON.stringify(peers)}`,
  );
});

// Goal: every node of the store's keyspace serves with the same N and layout of collections, the
// keyspace's settings recorded on the ring (keyspace-settings.ts, ring.ts). Simulated nodes, RESP
// clients over simulated links, virtual time:
//   - a node started later with another N refuses every data command with -CLUSTERDOWN naming
//     both settings, never answers a value it does not hold, and the others go on serving; with
//     the check planted away (`store-settings-unchecked`) the same node answers reads wrongly;
//   - a node started later with the other layout of collections acknowledges no write (a write
//     at ALL fails while QUORUM goes on) and answers -CLUSTERDOWN;
//   - a ring bootstrapped without settings (a build before them: `store-ring-without-settings`)
//     is given them, and every node then serves; nodes whose layout is configured give theirs
//     before a node whose layout is only a default, which takes the keyspace's;
//   - a fresh node refused for another layout is not stamped with it: started again with the
//     keyspace's, it serves (review 2026-12-05);
//   - a node whose store has checked its settings refuses at its next start a config changed since.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mutationsFrom } from '../../lib/mutations.ts';
import type { NodeServices } from '../../node/services.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { simServices } from '../../../test/support/sim-services.ts';
import { membershipService } from '../membership/service.ts';
import { runningLayout } from './keyspace-settings.ts';
import { storeOf, storeService } from './service.ts';
import { show, SimRespClient } from './sim-client.ts';

const NODES = ['n1', 'n2', 'n3'];

/** n1 and n2 at N = 3 with the default layout; n3, started later by the test, with `late`'s settings. */
function cluster(seed: string, late: Record<string, unknown>, mutations: string[] = []): Simulation<NodeServices> {
  const sim = simServices({
    seed,
    nodes: NODES,
    initiallyDown: ['n3'],
    services: [membershipService, storeService],
    store: (id) => ({
      sync: 'always',
      replication: { antiEntropyIntervalMs: 0, ...(id === 'n3' ? late : { replicas: 3 }) },
    }),
    ...(mutations.length > 0 ? { mutations: mutationsFrom(mutations) } : {}),
  });
  sim.expectWithin(
    'n1 and n2 hold a ring with settings',
    () => ['n1', 'n2'].every((id) => storeOf(sim.instance(id)!).ring.ring.settings !== undefined),
    20_000,
  );
  sim.runFor(2_000); // membership
  return sim;
}

function run(sim: Simulation<NodeServices>, node: string, ...commands: string[][]): string[] {
  const c = new SimRespClient(sim, node);
  for (const argv of commands) c.send(...argv);
  sim.expectWithin(`replies from ${node}`, () => c.settled || c.closed !== undefined, 20_000);
  return c.replies.map(show);
}

function startLate(sim: Simulation<NodeServices>): void {
  sim.restart('n3');
  sim.expectWithin('n3 learned the ring', () => storeOf(sim.instance('n3')!).ring.ring.settings !== undefined, 20_000);
  sim.runFor(2_000);
}

/** GETs of `keys` through n3: how many answered a value other than the one written (errors aside). */
function wrongReads(sim: Simulation<NodeServices>, keys: number): { wrong: number; refused: number; first: string } {
  const replies = run(sim, 'n3', ...Array.from({ length: keys }, (_, i) => ['GET', `key:${i}`]));
  let wrong = 0;
  let refused = 0;
  replies.forEach((r, i) => {
    if (r.startsWith('-')) refused++;
    else if (r !== `$v${i}`) wrong++;
  });
  return { wrong, refused, first: replies[0]! };
}

function writeKeys(sim: Simulation<NodeServices>, keys: number): void {
  const replies = run(sim, 'n1', ...Array.from({ length: keys }, (_, i) => ['SET', `key:${i}`, `v${i}`]));
  assert.deepEqual(replies, Array(keys).fill('+OK'));
}

test('a node started with another N serves no data: -CLUSTERDOWN names both settings, never a value it does not hold', () => {
  const sim = cluster('settings-replicas', { replicas: 1 });
  assert.deepEqual(storeOf(sim.instance('n1')!).ring.ring.settings, { replicas: 3, collections: 'rows' });
  writeKeys(sim, 20);
  startLate(sim);
  const n3 = storeOf(sim.instance('n3')!);
  const reads = wrongReads(sim, 20);
  assert.deepEqual({ wrong: reads.wrong, refused: reads.refused }, { wrong: 0, refused: 20 });
  assert.match(
    reads.first,
    /^-CLUSTERDOWN this node's keyspace settings \(replicas 1\) differ from the cluster's \(replicas 3, collections rows\)/,
  );
  assert.deepEqual(
    run(sim, 'n3', ['PING'], ['SET', 'k', 'v']).map((r) => r.slice(0, 12)),
    ['+PONG', '-CLUSTERDOWN'],
  );
  assert.deepEqual(n3.settings.status(), {
    state: 'differs',
    mine: 'replicas 1',
    keyspace: 'replicas 3, collections rows',
  });
  assert.equal(sim.metrics('n3').value('store_settings_mismatch'), 1);
  assert.equal(sim.metrics('n1').value('store_settings_mismatch'), 0);
  // The others serve, at QUORUM (n1 and n2 are two of the three replicas).
  assert.deepEqual(run(sim, 'n2', ['GET', 'key:7'], ['SET', 'key:7', 'w']), ['$v7', '+OK']);
});

test('negative control: with the check planted away, the node with another N answers reads wrongly', () => {
  const sim = cluster('settings-replicas', { replicas: 1 }, ['store-settings-unchecked']);
  writeKeys(sim, 20);
  startLate(sim);
  const reads = wrongReads(sim, 20);
  assert.ok(reads.wrong > 0, `n3 at N = 1 answered what it holds: ${JSON.stringify(reads)}`);
});

test('a node started with the other layout of collections acknowledges no write and answers -CLUSTERDOWN', () => {
  const sim = cluster('settings-layout', { replicas: 3, collections: 'whole' });
  startLate(sim);
  const n3 = storeOf(sim.instance('n3')!);
  assert.equal(n3.settings.status().state, 'differs');
  assert.equal(n3.replica?.collections, 'whole');
  const refused = run(sim, 'n3', ['SADD', 's', 'a'], ['BARISTA', 'CONSISTENCY', 'ALL']);
  assert.match(
    refused[0]!,
    /^-CLUSTERDOWN .*\(replicas 3, collections whole\) differ from the cluster's \(replicas 3, collections rows\)/,
  );
  // Through n1: QUORUM is met by n1 and n2; ALL is not, since n3 acknowledges nothing.
  const replies = run(
    sim,
    'n1',
    ['SADD', 's', 'a', 'b'],
    ['BARISTA', 'CONSISTENCY', 'ALL'],
    ['SADD', 's', 'c'],
    ['BARISTA', 'CONSISTENCY', 'QUORUM'],
    ['SMEMBERS', 's'],
  );
  assert.equal(replies[0], ':2');
  assert.match(replies[2]!, /^-(UNAVAILABLE|TIMEOUT)/, replies[2]);
  assert.ok(replies[4]!.includes('a') && replies[4]!.includes('b'), replies[4]);
});

test("a node that names no layout takes the keyspace's (its store new); one refused for another layout starts again once its config says the keyspace's", () => {
  // The keyspace keeps collections whole (n1 and n2 name it); n3 names no layout.
  let late: Record<string, unknown> = { replicas: 3 };
  const sim = simServices({
    seed: 'settings-adopt',
    nodes: NODES,
    initiallyDown: ['n3'],
    services: [membershipService, storeService],
    store: (id) => ({
      sync: 'always',
      replication: { antiEntropyIntervalMs: 0, ...(id === 'n3' ? late : { replicas: 3, collections: 'whole' }) },
    }),
  });
  sim.expectWithin(
    'n1 holds a ring with settings',
    () => storeOf(sim.instance('n1')!).ring.ring.settings !== undefined,
    20_000,
  );
  sim.runFor(2_000);
  startLate(sim);
  const n3 = storeOf(sim.instance('n3')!);
  assert.deepEqual(n3.settings.status(), {
    state: 'matched',
    mine: 'replicas 3, collections whole',
    keyspace: 'replicas 3, collections whole',
  });
  assert.equal(n3.replica?.collections, 'whole');
  assert.deepEqual(run(sim, 'n3', ['BARISTA', 'CONSISTENCY', 'ALL'], ['SADD', 's', 'a'], ['SMEMBERS', 's']), [
    '+OK',
    ':1',
    '*[$a]',
  ]);
  // Its store recorded whole when it opened: a restart naming no layout keeps it.
  (sim.instance('n3') as { stop(): void }).stop();
  sim.crash('n3', { processOnly: true });
  startLate(sim);
  assert.equal(storeOf(sim.instance('n3')!).settings.state, 'matched');
  assert.equal(storeOf(sim.instance('n3')!).replica?.collections, 'whole');
  // A fresh node naming the other layout is refused, and its store is not stamped with it: cleanly
  // stopped (every write synced) and started with the keyspace's layout, it serves.
  sim.crash('n3', { processOnly: true });
  sim.diskStore('n3').wipe();
  late = { replicas: 3, collections: 'rows' };
  startLate(sim);
  assert.equal(storeOf(sim.instance('n3')!).settings.state, 'differs');
  (sim.instance('n3') as { stop(): void }).stop();
  sim.crash('n3', { processOnly: true });
  late = { replicas: 3, collections: 'whole' };
  startLate(sim);
  assert.equal(storeOf(sim.instance('n3')!).settings.state, 'matched');
  assert.deepEqual(run(sim, 'n3', ['SMEMBERS', 's']), ['*[$a]']);
});

test('a ring a build before settings bootstrapped is given them; every node then serves', () => {
  const sim = cluster('settings-upgrade', { replicas: 3 }, ['store-ring-without-settings']);
  startLate(sim);
  for (const id of NODES) {
    const store = storeOf(sim.instance(id)!);
    assert.deepEqual(store.ring.ring.settings, { replicas: 3, collections: 'rows' }, id);
    assert.equal(store.settings.status().state, 'matched', id);
    assert.equal(store.replica?.closed, undefined, id);
  }
  assert.deepEqual(
    run(sim, 'n3', ['SET', 'k', 'v'], ['BARISTA', 'CONSISTENCY', 'ALL'], ['SET', 'k', 'w'], ['GET', 'k']),
    ['+OK', '+OK', '+OK', '$w'],
  );
});

test('on a ring without settings, nodes whose layout is configured give theirs first; a node whose layout is only a default takes it', () => {
  const sim = simServices({
    // A seed where, without the deference (TENTATIVE_ATTEMPTS 0, tried by hand), n3's rows win the
    // race and n1 and n2 refuse to serve.
    seed: 'settings-defer-d',
    nodes: NODES,
    services: [membershipService, storeService],
    mutations: mutationsFrom(['store-ring-without-settings']),
    store: (id) => ({
      sync: 'always',
      replication: { antiEntropyIntervalMs: 0, replicas: 3, ...(id === 'n3' ? {} : { collections: 'whole' }) },
    }),
  });
  sim.expectWithin(
    'every node checked',
    () => NODES.every((id) => storeOf(sim.instance(id)!).settings.state !== 'unchecked'),
    30_000,
  );
  for (const id of NODES) {
    const store = storeOf(sim.instance(id)!);
    assert.deepEqual(store.ring.ring.settings, { replicas: 3, collections: 'whole' }, id);
    assert.equal(store.settings.state, 'matched', id);
    assert.equal(store.replica?.collections, 'whole', id);
  }
});

test('a node whose store checked its settings refuses at its next start a config changed since, naming the field', () => {
  let replicas = 3;
  const sim = simServices({
    seed: 'settings-restart',
    nodes: NODES,
    services: [membershipService, storeService],
    store: () => ({ sync: 'always', replication: { replicas, antiEntropyIntervalMs: 0 } }),
  });
  sim.expectWithin(
    'settings checked',
    () => NODES.every((id) => storeOf(sim.instance(id)!).settings.status().state === 'matched'),
    20_000,
  );
  sim.runFor(1_000); // the record rides the replica's next sync
  sim.crash('n3', { processOnly: true });
  replicas = 2;
  assert.throws(
    () => sim.restart('n3'),
    /store\.replication\.replicas: is 2, but this node's keyspace keeps replicas 3, collections rows/,
  );
});

test("the layout a node runs with: configured, else its store's, else the one its store checked against the ring, else rows (a default only)", () => {
  const checked = { replicas: 3, collections: 'whole' } as const;
  assert.deepEqual(runningLayout('rows', undefined, undefined), { collections: 'rows', tentative: false });
  assert.deepEqual(runningLayout(undefined, 'whole', undefined), { collections: 'whole', tentative: false });
  // The store's checked settings say whole but its layout record is gone (a crash between the two
  // writes of one sync): whole, not a default of rows the checked record would then refuse.
  assert.deepEqual(runningLayout(undefined, undefined, checked), { collections: 'whole', tentative: false });
  assert.deepEqual(runningLayout(undefined, undefined, undefined), { collections: 'rows', tentative: true });
});

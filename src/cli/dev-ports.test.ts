// Goal (issue 8 item 8): `barista dev` gives every node a port for each protocol, by name: peer
// at base+10i, admin at +1, then each protocol the registered services declare, in registry
// order; more than fit in a node's block of 10 is a ConfigError, not an overlap with the next node.
// `--conflicts` reaches every node's store config and cluster.json.
// `--collections` reaches every node's store.replication config and cluster.json, fixed at creation
// (a new cluster at N > 1 without it: rows; a cluster file that recorded none: whole).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../lib/errors.ts';
import { writeClusterFile } from './cluster-file.ts';
import { nodeConfig, planCluster, portsFor, restartBudget } from './dev.ts';

test('ports by protocol name: platform first, then each declared protocol, per node block', () => {
  assert.deepEqual(portsFor(7000, 0, []), { peer: 7000, admin: 7001 });
  assert.deepEqual(portsFor(7000, 2, ['resp', 'zookeeper']), { peer: 7020, admin: 7021, resp: 7022, zookeeper: 7023 });
  const many = Array.from({ length: 9 }, (_, i) => `p${i}`);
  assert.throws(() => portsFor(7000, 0, many), ConfigError);
  // The registry's protocols follow the platform's two (the coord service's zookeeper port, the
  // store service's resp port).
  assert.deepEqual(portsFor(7000, 1), { peer: 7010, admin: 7011, zookeeper: 7012, resp: 7013 });
});

test('the dev supervisor restarts a node that exits 75 at most 5 times in any minute, per node', () => {
  const may = restartBudget(5, 60_000);
  for (let i = 0; i < 5; i++) assert.equal(may('n1', 1_000 + i), true, `restart ${i + 1}`);
  assert.equal(may('n1', 2_000), false, 'a sixth restart within the minute is a crash loop');
  assert.equal(may('n2', 2_000), true, 'budgets are per node');
  assert.equal(may('n1', 61_000), true, 'the first restart left the window');
  assert.equal(may('n1', 61_000), false, 'the other four and this one are still in it');
});

/** `barista dev`'s options for a 3-node cluster in `dir`, no flags. */
function planOptions(dir: string) {
  return { nodes: 3, dataDir: dir, basePort: 7100, host: '127.0.0.1', exitWhenHealthy: false, healthTimeoutMs: 1 };
}

test('barista dev --collections rows: every node config gets it beside N, cluster.json keeps it, a later run may not change it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baristas-dev-plan-'));
  try {
    const base = planOptions(dir);
    const fresh = planCluster({ ...base, replicas: 3, collections: 'rows' });
    for (const node of fresh.nodes) {
      const store = nodeConfig(fresh, node, true).store as Record<string, unknown>;
      assert.deepEqual(store['replication'], { replicas: 3, collections: 'rows' }, node.id);
    }
    writeClusterFile(dir, fresh);
    assert.equal(planCluster(base).collections, 'rows', 'kept');
    assert.throws(() => planCluster({ ...base, collections: 'whole' }), /--collections/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('barista dev at N > 1 without --collections: a new cluster keeps rows, one made before rows were the default (nothing recorded) stays whole', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baristas-dev-plan-'));
  try {
    const base = planOptions(dir);
    const fresh = planCluster({ ...base, replicas: 3 });
    assert.equal(fresh.collections, 'rows');
    const replication = (nodeConfig(fresh, fresh.nodes[0]!, true).store as Record<string, unknown>)['replication'];
    assert.deepEqual(replication, { replicas: 3, collections: 'rows' });
    // N = 1 has no replica layout: nothing recorded, nothing configured.
    assert.equal(planCluster({ ...base, dataDir: join(dir, 'one') }).collections, undefined);
    // A cluster file written before: N = 3 and no layout, so whole; a run without the flag keeps it.
    const { collections: _, ...older } = fresh;
    writeClusterFile(dir, older);
    const again = planCluster(base);
    assert.equal(again.collections, undefined);
    const store = nodeConfig(again, again.nodes[0]!, false).store as Record<string, unknown>;
    // Said in each node config: the store's own default is now "what the store keeps, else rows",
    // so a wiped node of this cluster would otherwise start a new store in rows.
    assert.deepEqual(store['replication'], { replicas: 3, collections: 'whole' });
    assert.throws(() => planCluster({ ...base, collections: 'rows' }), /keeping collections whole/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('barista dev --conflicts: every node config gets store.conflicts, cluster.json keeps it, a later run may change it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baristas-dev-plan-'));
  try {
    const base = planOptions(dir);
    const fresh = planCluster({ ...base, replicas: 3, conflicts: 'last-write-wins' });
    assert.equal(fresh.conflicts, 'last-write-wins');
    for (const node of fresh.nodes) {
      const store = nodeConfig(fresh, node, true).store as Record<string, unknown>;
      assert.equal(store['conflicts'], 'last-write-wins', node.id);
      assert.deepEqual(store['replication'], { replicas: 3, collections: 'rows' });
    }
    writeClusterFile(dir, fresh);
    // A later run without the flag keeps the recorded mode; with it, switches (unlike --replicas).
    assert.equal(planCluster(base).conflicts, 'last-write-wins');
    const switched = planCluster({ ...base, conflicts: 'siblings' });
    assert.equal(
      (nodeConfig(switched, switched.nodes[0]!, false).store as Record<string, unknown>)['conflicts'],
      'siblings',
    );
    // Without the flag on a new cluster the node config says nothing (the store's default).
    const plain = planCluster({ ...base, dataDir: join(dir, 'other') });
    assert.equal('conflicts' in (nodeConfig(plain, plain.nodes[0]!, true).store as object), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

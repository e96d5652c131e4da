// Goal (issue 7 item 5, real processes): a `barista dev` cluster loses one follower's data
// directory (kill -9, then `rm -rf` of its data). Restarted as before, the node refuses to start
// (exit 2, one line naming --rejoin) instead of voting with a blank memory. Restarted with
// `--rejoin`, the leader removes it, re-adds it as a learner, and promotes it once caught up;
// `barista member list` shows it a voter, its state machine holds the writes it missed, and writes
// continue. Then the operator's path: `barista member remove|add|promote|replace` with their
// output and exit codes. Every wait is a bounded poll.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ClusterFile } from '../../src/cli/cluster-file.ts';
import { httpPostJson } from '../../src/cli/common.ts';
import { freePortRange, getJson, type Spawned, spawnCli, stopProcess, tempDir, until } from './helpers.ts';

type Node = ClusterFile['nodes'][number];
interface MembersView {
  nodeId: string;
  leader: string | null;
  role: string;
  voters: string[];
  learners: string[];
  rejoining: boolean;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

async function kv(node: Node, body: unknown): Promise<{ ok: boolean; value?: string | null; code?: string }> {
  const r = await httpPostJson(node.host, node.ports['admin']!, '/v1/kv', body, 3_000, agent);
  return JSON.parse(r.body) as { ok: boolean; value?: string | null; code?: string };
}

async function leaderOf(nodes: readonly Node[]): Promise<Node | undefined> {
  for (const n of nodes) {
    try {
      const s = await getJson<MembersView>(n.host, n.ports['admin']!, '/v1/members');
      if (s.role === 'leader') return n;
    } catch {
      // down
    }
  }
  return undefined;
}

describe('a follower whose data directory was lost', () => {
  const dir = tempDir('baristas-rejoin-');
  let dev: Spawned;
  let cluster: Cluster;
  let rejoined: Spawned | undefined;
  type Cluster = ClusterFile;
  let victim: Node;
  let endpoints: string[];

  const member = async (...args: string[]): Promise<{ code: number | null; out: string }> => {
    const p = spawnCli(['member', ...args, ...endpoints]);
    return { code: await p.exited(), out: p.output() };
  };

  before(async () => {
    const base = await freePortRange(30);
    dev = spawnCli(['dev', '--data-dir', dir.path, '--base-port', String(base), '--health-timeout-ms', '110000']);
    // Generous: on a loaded 2-core machine three nodes compiled from src take 30-60 s to start.
    await until('cluster healthy', 120_000, () => dev.output().includes('live view')).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${dev.output()}`);
    });
    cluster = JSON.parse(readFileSync(join(dir.path, 'cluster.json'), 'utf8')) as ClusterFile;
    endpoints = cluster.nodes.flatMap((n) => ['--endpoint', `${n.host}:${n.ports['admin']}`]);
    const leader = await until('a leader', 20_000, () => leaderOf(cluster.nodes));
    victim = cluster.nodes.find((n) => n.id !== leader.id)!;
    for (let i = 0; i < 20; i++) {
      await until(`put k${i}`, 10_000, async () => (await kv(leader, { op: 'put', key: `k${i}`, value: `v${i}` })).ok);
    }
  });

  after(async () => {
    agent.destroy();
    if (rejoined) await stopProcess(rejoined.child);
    if (dev) await stopProcess(dev.child, 10_000);
    dir.remove();
  });

  test('barista dev marks the cluster as existing once every node holds its identity', () => {
    for (const n of cluster.nodes) {
      const config = JSON.parse(readFileSync(n.config, 'utf8')) as { initialClusterState: string };
      assert.equal(config.initialClusterState, 'existing', n.id);
      assert.ok(readdirSync(n.dataDir).includes('identity.json'), `${n.id} has identity.json`);
    }
  });

  test('wiped, it refuses to start; with --rejoin it becomes a learner, then a voter, and writes continue', async () => {
    process.kill(victim.pid!, 'SIGKILL');
    await until(`dev notices ${victim.id} exit`, 10_000, () => dev.output().includes(`${victim.id} exited`));
    // The operator's reaction to a broken disk: remove the data (the config file stays).
    for (const name of readdirSync(victim.dataDir)) {
      if (name !== 'node.json' && name !== 'node.log') rmSync(join(victim.dataDir, name), { recursive: true });
    }
    // Writes the wiped node has never seen.
    const leader = (await leaderOf(cluster.nodes))!;
    for (let i = 20; i < 30; i++) {
      await until(`put k${i}`, 10_000, async () => (await kv(leader, { op: 'put', key: `k${i}`, value: `v${i}` })).ok);
    }

    const refused = spawnCli(['node', '--config', victim.config]);
    const code = await Promise.race([
      refused.exited(),
      new Promise<'hang'>((r) => setTimeout(() => r('hang'), 30_000)),
    ]);
    if (code === 'hang') refused.child.kill('SIGKILL');
    assert.equal(code, 2, refused.output());
    assert.match(refused.output(), /error \(node_data_missing\): data directory .* is empty.*--rejoin/);
    assert.doesNotMatch(refused.output(), /\n\s+at /, 'one clear line, not a stack trace');

    rejoined = spawnCli(['node', '--config', victim.config, '--rejoin']);
    const promoted = await until(`${victim.id} a voter again`, 30_000, async () => {
      const view = await getJson<MembersView>(leader.host, leader.ports['admin']!, '/v1/members');
      const own = await getJson<MembersView>(victim.host, victim.ports['admin']!, '/v1/members');
      return view.voters.includes(victim.id) && !own.rejoining && own.voters.includes(victim.id) ? view : undefined;
    });
    assert.equal(promoted.learners.length, 0);
    // The leaders' logs tell the order in each Raft group (metadata and kv, each with its own
    // leader): removed, re-added as a learner, promoted.
    // Each group promotes on its own (the view above is one group's), so wait, bounded, until
    // every group's leader has logged its promotion before judging the order.
    const changesByGroup = (): Map<string, string[]> => {
      const byGroup = new Map<string, string[]>();
      for (const n of cluster.nodes) {
        if (n.id === victim.id) continue;
        for (const l of readFileSync(join(n.dataDir, 'node.log'), 'utf8').split('\n')) {
          if (!l.includes('members: change proposed') || !l.includes(`"nodeId":"${victim.id}"`)) continue;
          const { group, change } = JSON.parse(l) as { group: string; change: string };
          byGroup.set(group, [...(byGroup.get(group) ?? []), change]);
        }
      }
      return byGroup;
    };
    const byGroup = await until('every group promoted it', 30_000, async () => {
      const seen = changesByGroup();
      return seen.size === 3 && [...seen.values()].every((c) => c.includes('addVoter')) ? seen : undefined;
    }).catch(() => changesByGroup());
    assert.deepEqual([...byGroup.keys()].sort(), ['coord', 'kv', 'metadata']);
    for (const [group, changes] of byGroup) assert.deepEqual(changes, ['remove', 'addLearner', 'addVoter'], group);

    const list = await member('list');
    assert.equal(list.code, 0, list.out);
    assert.match(list.out, new RegExp(`${victim.id}\\s+voter`));
    assert.match(list.out, new RegExp(`leader ${leader.id}`));

    // It holds what it missed, and writes through it continue.
    await until(`${victim.id} has k29`, 10_000, async () => {
      const r = await kv(victim, { op: 'get', key: 'k29', consistency: 'serializable' });
      return r.ok && r.value === 'v29';
    });
    await until('a put through the rejoined node', 10_000, async () => {
      return (await kv(victim, { op: 'put', key: 'after', value: 'rejoin' })).ok;
    });
    for (const n of cluster.nodes) {
      const r = await kv(n, { op: 'get', key: 'after' });
      assert.equal(r.value, 'rejoin', `${n.id} reads the write made after the rejoin`);
    }
  });

  test('barista member remove, add (learner), promote, replace: output and exit codes', async () => {
    const id = victim.id;
    const removed = await member('remove', id);
    assert.equal(removed.code, 0, removed.out);
    assert.match(removed.out, new RegExp(`OK: remove ${id}`));
    assert.doesNotMatch(removed.out, new RegExp(`\\n\\s+${id}\\s`));

    const added = await member('add', id);
    assert.equal(added.code, 0, added.out);
    assert.match(added.out, new RegExp(`${id}\\s+learner`));

    const promoted = await member('promote', id);
    assert.equal(promoted.code, 0, promoted.out);
    assert.match(promoted.out, new RegExp(`${id}\\s+voter`));

    const again = await member('add', id);
    assert.equal(again.code, 2, again.out);
    assert.match(again.out, new RegExp(`error \\(already_member\\): ${id} is already a voter`));

    const replaced = await member('replace', id);
    assert.equal(replaced.code, 0, replaced.out);
    assert.match(replaced.out, new RegExp(`${id}\\s+voter`));

    const usage = await member('promote');
    assert.equal(usage.code, 2);
    assert.match(usage.out, /ID: promote needs the node id/);
    await until('a put after the membership changes', 10_000, async () => {
      return (await kv(victim, { op: 'put', key: 'after2', value: 'x' })).ok;
    });
  });
});

// Goal: the write path's stage histograms (src/raft/write-stages.ts) are fed on the node where each
// stage runs, in the simulator with the real NodeServices: puts submitted one at a time on a
// follower are timed by the follower (`forward`), by the leader (`propose_wait`, `wal_sync`,
// `replication`, `commit_to_apply`, `apply`, `leader`) and by the other replicas
// (`follower_append`), and the local durations nest as the path does: the follower's `forward`
// covers the leader's `leader` plus the two network hops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KvOutcome } from '../../src/metadata/kv-service.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { platformNode } from '../support/platform-node.ts';
import { WRITE_STAGE_METRIC } from '../../src/raft/write-stages.ts';
import { Simulation } from '../../src/sim/simulation.ts';
import { kvOf } from '../../src/services/kv/running.ts';
import { kvRaftOf } from '../../src/services/kv/running.ts';

const ids = ['n1', 'n2', 'n3'];
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('stages of puts forwarded by a follower are timed on the node where each runs', () => {
  const sim = new Simulation<NodeServices>({
    seed: 'write-stages',
    nodes: ids,
    program: platformNode(ids),
  });
  const leaderId = (): string | undefined => ids.find((id) => kvRaftOf(sim.instance(id))?.core.role === 'leader');
  assert.ok(
    sim.runUntilCondition(() => leaderId() !== undefined, 10_000),
    'a leader is elected',
  );
  sim.runFor(500);
  const leader = leaderId()!;
  const follower = ids.find((id) => id !== leader && kvRaftOf(sim.instance(id))!.core.leader === leader)!;
  const other = ids.find((id) => id !== leader && id !== follower)!;
  // Summed over the node's Raft groups (each series also carries group="..."; KV writes use one).
  const stage = (id: string, name: string) => {
    const total = { count: 0, sum: 0 };
    for (const s of sim.metrics(id).snapshot()) {
      if (s.name !== WRITE_STAGE_METRIC || s.labels['stage'] !== name) continue;
      total.count += s.count;
      total.sum += s.sum;
    }
    return total;
  };
  const before = Object.fromEntries(ids.map((id) => [id, stage(id, 'follower_append').count]));
  const puts = 20;
  for (let i = 0; i < puts; i++) {
    let outcome: KvOutcome | undefined;
    kvOf(sim.instance(follower)!).client.write({ op: 'put', key: enc(`k${i}`), value: enc('v') }, undefined, (o) => {
      outcome = o;
    });
    assert.ok(
      sim.runUntilCondition(() => outcome !== undefined, 5_000),
      `put ${i} answered`,
    );
    assert.ok(outcome?.ok, `put ${i} succeeded`);
  }
  assert.equal(stage(follower, 'forward').count, puts, 'the contacted follower times each forward');
  assert.equal(stage(leader, 'propose_wait').count, puts, 'the leader times each proposal');
  assert.ok(stage(leader, 'leader').count >= puts);
  for (const name of ['wal_sync', 'replication', 'commit_to_apply', 'apply'])
    assert.ok(stage(leader, name).count >= puts, `leader ${name}`);
  for (const id of [follower, other])
    assert.ok(stage(id, 'follower_append').count - before[id]! >= puts, `${id} acknowledges each append`);
  const mean = (id: string, name: string): number => stage(id, name).sum / stage(id, name).count;
  assert.ok(mean(leader, 'leader') > 0, 'the leader waits for a follower round trip');
  assert.ok(mean(follower, 'forward') > mean(leader, 'leader'), 'the forward covers the leader and the two hops');
  assert.ok(stage(leader, 'forward').count === 0, 'the leader forwards nothing');
});

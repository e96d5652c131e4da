// Goal: every client proposal gets an answer, even across leadership changes that truncate it.
// Scenario (scripted, in the simulator): leader X is isolated and accepts three proposals it can
// never commit; the others elect a new leader whose shorter log truncates them on X after the
// heal; then leadership moves back to X, and X's next proposals reuse those log indexes. Each
// original proposal must be answered `proposal_dropped` (definite) well before any timeout; none
// may be forgotten when its index is reused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limits } from '../../src/lib/limits.ts';
import { defaultMembershipTiming } from '../../src/membership/membership.ts';
import { encodeCommand } from '../../src/metadata/command.ts';
import { defaultRaftTiming, type Outcome } from '../../src/metadata/raft-driver.ts';
import { NodeServices } from '../../src/node/services.ts';
import { Simulation } from '../../src/sim/simulation.ts';

const ids = ['n1', 'n2', 'n3'];

function put(key: string): Uint8Array {
  return encodeCommand({
    kind: 'request',
    proposedAtMs: 0,
    sessionId: 0,
    seq: 0,
    request: { op: 'put', key: new TextEncoder().encode(key), value: new Uint8Array([1]) },
  });
}

test('proposals truncated by a new leader are answered, even when their indexes are reused', () => {
  const sim = new Simulation<NodeServices>({
    seed: 'reuse',
    nodes: ids,
    program: (env) =>
      new NodeServices(env, {
        clusterId: 'sim',
        peers: ids.filter((p) => p !== env.nodeId),
        membership: defaultMembershipTiming,
        raft: { ...defaultRaftTiming },
      }),
  });
  const leader = (among: readonly string[] = ids): string | undefined =>
    among.find((id) => sim.instance(id)?.raft.core.role === 'leader');
  assert.ok(
    sim.runUntilCondition(() => leader() !== undefined, 10_000),
    'a first leader',
  );
  const x = leader()!;
  const others = ids.filter((id) => id !== x);
  sim.runFor(500); // let the first entries commit everywhere

  const cut = sim.network.isolate(x);
  const outcomes: Array<Outcome | undefined> = [undefined, undefined, undefined];
  const proposedAt = sim.nowMs;
  for (let i = 0; i < 3; i++) sim.instance(x)!.raft.submit(put(`lost${i}`), (o) => (outcomes[i] = o));
  assert.ok(
    sim.runUntilCondition(() => leader(others) !== undefined, 5_000),
    'the majority elects a new leader',
  );
  cut.heal();
  // X rejoins as a follower and its uncommitted suffix is replaced by the new leader's log.
  assert.ok(
    sim.runUntilCondition(
      () => sim.instance(x)!.raft.core.role === 'follower' && sim.instance(x)!.raft.core.leader !== undefined,
      3_000,
    ),
  );
  const y = leader(others)!;
  sim.runFor(200);
  assert.equal(sim.instance(y)!.raft.transferLeadership(x), undefined, 'transfer accepted');
  assert.ok(
    sim.runUntilCondition(() => leader() === x, 3_000),
    'leadership moves back to X',
  );
  // X's new proposals take the indexes its lost ones had.
  const fresh: Array<Outcome | undefined> = [];
  for (let i = 0; i < 3; i++) sim.instance(x)!.raft.submit(put(`fresh${i}`), (o) => (fresh[i] = o));
  assert.ok(
    sim.runUntilCondition(
      () => outcomes.every((o) => o !== undefined) && fresh.length === 3 && fresh.every((o) => o !== undefined),
      2_000,
    ),
    `all answered: lost ${JSON.stringify(outcomes.map((o) => (o ? (o.ok ? 'ok' : o.error.code) : 'pending')))}`,
  );
  assert.ok(
    sim.nowMs - proposedAt < defaultRaftTiming.requestTimeoutMs,
    'answered before any timeout could have fired',
  );
  for (const o of outcomes) {
    assert.ok(o !== undefined && !o.ok, 'a truncated proposal never succeeds');
    assert.equal(o.error.code, 'proposal_dropped');
    assert.equal(o.error.definite, true);
  }
  for (const o of fresh) assert.ok(o?.ok, 'the new proposals commit');
});

test('a command over raftEntryBytesMax is refused definitely, before it reaches the log', () => {
  const sim = new Simulation<NodeServices>({
    seed: 'big',
    nodes: ids,
    program: (env) =>
      new NodeServices(env, {
        clusterId: 'sim',
        peers: ids.filter((p) => p !== env.nodeId),
        membership: defaultMembershipTiming,
        raft: { ...defaultRaftTiming },
      }),
  });
  let outcome: Outcome | undefined;
  sim.instance('n1')!.raft.submit(new Uint8Array(limits.raftEntryBytesMax + 1), (o) => (outcome = o));
  assert.ok(outcome !== undefined && !outcome.ok);
  assert.equal(outcome.error.code, 'limit_exceeded');
  assert.equal(outcome.error.definite, true);
});

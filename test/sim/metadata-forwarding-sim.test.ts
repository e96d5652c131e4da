// Goal: a client command submitted on a follower is forwarded to the leader exactly once and gets
// a prompt, typed answer (issue 7 items 10 and 11).
//   - Duplication: the network delivers every message twice; each session-less put forwarded
//     from a follower must be proposed, and applied, once (the leader's duplicate filter).
//   - Size: whatever the leader accepts (up to raftEntryBytesMax) a follower can forward; what
//     cannot be forwarded is refused at once, definitely, with nothing left waiting. A KV write
//     the state machine would refuse for its size is refused before it takes a log entry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limits } from '../../src/lib/limits.ts';
import { type Mutation, mutationsFrom } from '../../src/lib/mutations.ts';
import { encodeKvOp } from '../../src/metadata/command.ts';
import { kvRequestOf } from '../../src/metadata/kv.ts';
import { encodeEnvelope } from '../../src/rsm/envelope.ts';
import type { KvOutcome } from '../../src/metadata/kv-service.ts';
import { defaultRaftTiming, type Outcome } from '../../src/raft/driver.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { platformNode } from '../support/platform-node.ts';
import { defaultKvWorkload, KvWorkload } from '../../src/services/kv/sim-workload.ts';
import { SimulationFailure } from '../../src/sim/failure.ts';
import type { NetworkConfig } from '../../src/sim/network.ts';
import { Simulation } from '../../src/sim/simulation.ts';
import { EntryType } from '../../src/raft/types.ts';
import { kvOf } from '../../src/services/kv/running.ts';
import { kvRaftOf } from '../../src/services/kv/running.ts';

const ids = ['n1', 'n2', 'n3'];
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function cluster(seed: string, network: Partial<NetworkConfig> = {}, mutations: readonly Mutation[] = []) {
  const sim = new Simulation<NodeServices>({
    seed,
    nodes: ids,
    network,
    mutations: mutationsFrom(mutations),
    program: platformNode(ids),
  });
  const leader = (): string | undefined => ids.find((id) => kvRaftOf(sim.instance(id))?.core.role === 'leader');
  assert.ok(
    sim.runUntilCondition(() => leader() !== undefined, 10_000),
    'a leader is elected',
  );
  sim.runFor(500); // followers learn who leads
  const l = leader()!;
  const follower = ids.find((id) => id !== l && kvRaftOf(sim.instance(id))!.core.leader === l)!;
  assert.ok(follower !== undefined, 'a follower knows the leader');
  return { sim, leader: l, follower };
}

/** Session-less puts forwarded from a follower while every message is duplicated: applies per key. */
function duplicatedPuts(mutations: readonly Mutation[] = []) {
  const { sim, leader, follower } = cluster('dup', { duplicateProbability: 1 }, mutations);
  const applied = new Map<string, number>();
  kvRaftOf(sim.instance(leader))!.observer = {
    applied: (e) => {
      if (e.type !== EntryType.Normal) return;
      const c = kvRequestOf(e.data);
      if (c === undefined) return;
      const key = new TextDecoder().decode(c.op.key);
      applied.set(key, (applied.get(key) ?? 0) + 1);
    },
    restored: () => {},
  };
  const outcomes: KvOutcome[] = [];
  const n = 20;
  for (let i = 0; i < n; i++) {
    kvOf(sim.instance(follower)!).client.write({ op: 'put', key: enc(`dup${i}`), value: enc('v') }, undefined, (o) =>
      outcomes.push(o),
    );
  }
  assert.ok(
    sim.runUntilCondition(() => outcomes.length === n, 3_000),
    'every put is answered',
  );
  sim.runFor(1_000); // let any duplicate copy arrive and (wrongly) commit
  assert.ok(sim.stats().messagesDuplicated > 0, 'the network did duplicate messages');
  assert.ok(
    outcomes.every((o) => o.ok && o.result.ok),
    'every put succeeded',
  );
  return Array.from({ length: n }, (_, i) => applied.get(`dup${i}`) ?? 0);
}

test('a forwarded request duplicated by the network is applied once', () => {
  const counts = duplicatedPuts();
  assert.deepEqual(
    counts,
    counts.map(() => 1),
    'each put applied once',
  );
});

test('the planted bug raft-forward-no-dedup is caught: copies apply twice', () => {
  const counts = duplicatedPuts(['raft-forward-no-dedup']);
  assert.ok(
    counts.some((c) => c > 1),
    `some put applied more than once (${counts.join(',')})`,
  );
});

test('a 3 MiB command submitted on a follower is forwarded, and answered promptly', () => {
  const { sim, follower } = cluster('big');
  const node = sim.instance(follower)!;
  const command = new Uint8Array(3 * 1024 * 1024);
  let outcome: Outcome | undefined;
  kvRaftOf(node)!.submit(command, (o) => (outcome = o));
  assert.ok(
    sim.runUntilCondition(() => outcome !== undefined, 2_000),
    'answered well before the request timeout',
  );
  // The bytes are not a KV command: the state machine answers malformed_command, which proves
  // the command crossed to the leader and through the log.
  assert.ok(outcome!.ok, outcome!.ok ? '' : outcome!.error.message);
  assert.equal(kvRaftOf(node)!.pendingRequests, 0, 'nothing left waiting');
});

test('a command that cannot be forwarded is refused at once, definitely, and nothing waits on it', () => {
  const { sim, follower } = cluster('huge');
  const node = sim.instance(follower)!;
  let outcome: Outcome | undefined;
  kvRaftOf(node)!.submit(new Uint8Array(limits.raftEntryBytesMax + 1), (o) => (outcome = o));
  assert.ok(outcome !== undefined && !outcome.ok, 'refused synchronously');
  assert.equal(outcome.error.code, 'limit_exceeded');
  assert.equal(outcome.error.definite, true);
  assert.equal(kvRaftOf(node)!.pendingRequests, 0);
});

test('a 3 MiB KV value on a follower is value_too_large at once, before it takes a log entry', () => {
  const { sim, follower } = cluster('bigvalue');
  const node = sim.instance(follower)!;
  const lastIndex = kvRaftOf(node)!.core.lastIndex;
  let outcome: KvOutcome | undefined;
  kvOf(node).client.write({ op: 'put', key: enc('k'), value: new Uint8Array(3 * 1024 * 1024) }, undefined, (o) => {
    outcome = o;
  });
  assert.ok(outcome !== undefined, 'answered synchronously');
  assert.ok(outcome.ok && !outcome.result.ok && outcome.result.code === 'value_too_large');
  assert.equal(kvRaftOf(node)!.pendingRequests, 0);
  sim.runFor(500);
  assert.equal(kvRaftOf(node)!.core.lastIndex, lastIndex, 'no log entry was taken');
  // A full-size cas (expected and new value both at the bound) fits in one command.
  const full = new Uint8Array(limits.kvValueBytesMax);
  const cas = { op: 'cas' as const, key: new Uint8Array(limits.kvKeyBytesMax), expected: full, value: full };
  const envelope = { stampMs: 0, term: 2 ** 40, namespace: 1, sessionId: 2 ** 50, seq: 2 ** 50 };
  assert.ok(encodeEnvelope({ ...envelope, payload: encodeKvOp(cas) }).length <= limits.kvCommandBytesMax);
});

// The raft-kv workload's applied-once invariant (each session-less write carries a unique value,
// so it may sit at one log index only) finds the planted bug in an ordinary run once the network
// duplicates some messages: the linearizability check alone does not (a copy applied right after
// the original changes nothing a read can see).
test('the raft-kv workload catches raft-forward-no-dedup under 5% duplication; clean without it', () => {
  const run = (mutations: readonly Mutation[]) => {
    const sim = new Simulation<NodeServices>({
      seed: 'applied-once',
      nodes: ids,
      network: { duplicateProbability: 0.05 },
      mutations: mutationsFrom(mutations),
      program: platformNode(ids, {
        raft: { ...defaultRaftTiming, snapshotEveryEntries: 200, snapshotRetainEntries: 50 },
      }),
    });
    const workload = new KvWorkload(sim, sim.forkRng('workload'), { ...defaultKvWorkload, stopAtMs: 3_000 });
    try {
      sim.runUntil(3_500);
    } catch (err) {
      if (!(err instanceof SimulationFailure)) throw err;
    }
    return { failure: sim.failed, ok: workload.opsOk };
  };
  const clean = run([]);
  assert.equal(clean.failure, undefined, clean.failure?.message);
  assert.ok(clean.ok > 100, `the run did work (${clean.ok} ops ok)`);
  const planted = run(['raft-forward-no-dedup']);
  assert.equal(planted.failure?.invariant, 'applied-once');
});

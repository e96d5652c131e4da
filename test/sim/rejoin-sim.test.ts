// Goal (issue 7 item 5): a node that lost its data never rejoins silently as a voter. Runs the
// real node program (NodeServices) in the simulator and wipes one follower's disk:
//   - without the rules (the node bootstraps again on an empty directory, as before identities),
//     it votes a second time in a term it had already voted in — the hazard;
//   - with initialClusterState 'existing' it refuses to start (node_data_missing);
//   - told to rejoin, it withholds its vote, is removed and re-added as a learner by the leader,
//     catches up, is promoted, and the cluster's Raft invariants and the clients' linearizable
//     history hold throughout, with writes continuing.
// Raft dissertation §4.1 (membership changes), §4.2.1 (catching up new servers); etcd's
// initial-cluster-state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Disk } from '../../src/env/types.ts';
import { MessageType } from '../../src/lib/message-types.ts';
import { defaultRaftTiming } from '../../src/raft/driver.ts';
import { NodeIdentityError, readIdentity } from '../../src/node/identity.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { platformNode } from '../support/platform-node.ts';
import { defaultKvWorkload, KvWorkload } from '../../src/services/kv/sim-workload.ts';
import { encodeMessage } from '../../src/raft/codec.ts';
import { decodeGroupFrame, encodeGroupFrame } from '../../src/raft/group-router.ts';
import { MsgType } from '../../src/raft/types.ts';
import { Simulation } from '../../src/sim/simulation.ts';
import { kvRaftOf } from '../../src/services/kv/running.ts';

const ids = ['n1', 'n2', 'n3'];

interface StartFlags {
  initialClusterState: 'new' | 'existing';
  rejoin: boolean;
}

function cluster(seed: string): { sim: Simulation<NodeServices>; flags: Map<string, StartFlags> } {
  const flags = new Map(ids.map((id) => [id, { initialClusterState: 'new', rejoin: false } as StartFlags]));
  const sim = new Simulation<NodeServices>({
    seed,
    nodes: ids,
    program: (env) =>
      platformNode(ids, {
        raft: { ...defaultRaftTiming, snapshotEveryEntries: 200, snapshotRetainEntries: 50 },
        ...flags.get(env.nodeId)!,
      })(env),
  });
  return { sim, flags };
}

/** Removes every file and directory: an operator's `rm -rf data/*`, made durable. */
function wipe(disk: Disk, dir = ''): void {
  for (const name of disk.list(dir)) {
    const path = dir === '' ? name : `${dir}/${name}`;
    if (isDir(disk, path)) wipe(disk, path);
    disk.remove(path);
  }
  disk.syncDir(dir);
}

function isDir(disk: Disk, path: string): boolean {
  try {
    disk.open(path, { create: false }).close();
    return false;
  } catch {
    return true;
  }
}

const leaderOf = (sim: Simulation<NodeServices>): string | undefined =>
  ids.find((id) => kvRaftOf(sim.instance(id))?.core.role === 'leader');

/** Elects a leader, then returns a follower with its durable (term, vote). */
function settle(sim: Simulation<NodeServices>): { leader: string; follower: string; term: number; vote: string } {
  assert.ok(
    sim.runUntilCondition(() => leaderOf(sim) !== undefined, 10_000),
    'a leader',
  );
  sim.runFor(1_000);
  const leader = leaderOf(sim)!;
  const follower = ids.find((id) => id !== leader && kvRaftOf(sim.instance(id))!.core.votedFor !== undefined);
  assert.ok(follower !== undefined, 'a follower that voted');
  const core = kvRaftOf(sim.instance(follower))!.core;
  return { leader, follower, term: core.currentTerm, vote: core.votedFor! };
}

/** A vote request of the KV group in `term` from `from` to `to`, with a log far ahead (any voter would grant it). */
function sendVote(sim: Simulation<NodeServices>, from: string, to: string, term: number): void {
  sim
    .env(from)!
    .transport.send(
      to,
      MessageType.Raft,
      encodeGroupFrame(
        'kv',
        encodeMessage({ type: MsgType.Vote, from, to, term, lastIndex: 1_000_000, lastTerm: term, transfer: false }),
      ),
    );
}

test('without the identity rules, a wiped voter that restarts votes twice in one term', () => {
  const { sim } = cluster('wiped-votes-twice');
  const { leader, follower, term, vote } = settle(sim);
  sim.crash(follower);
  wipe(sim.diskStore(follower).view());
  sim.restart(follower); // initialClusterState 'new': the old behaviour, a silent fresh bootstrap
  assert.equal(sim.instance(follower)!.start.kind, 'bootstrap');
  const other = ids.find((id) => id !== follower && id !== vote)!;
  assert.notEqual(other, vote);
  // Keep the leader from re-asserting itself first, so only the stale vote request reaches it.
  sim.network.isolate(leader);
  sendVote(sim, other, follower, term);
  sim.runFor(20);
  const core = kvRaftOf(sim.instance(follower))!.core;
  assert.equal(core.currentTerm, term);
  assert.equal(core.votedFor, other, `voted for ${vote} in term ${term} before the wipe, now for ${other}`);
});

test('a wiped node with initialClusterState existing refuses to start', () => {
  const { sim, flags } = cluster('wiped-refuses');
  const { follower } = settle(sim);
  for (const f of flags.values()) f.initialClusterState = 'existing';
  sim.crash(follower);
  wipe(sim.diskStore(follower).view());
  assert.throws(
    () => sim.restart(follower),
    (err: unknown) => err instanceof NodeIdentityError && err.code === 'node_data_missing',
  );
  sim.crash(follower); // the failed start left no instance behind
  // Its data untouched, the same config restarts normally.
  const other = ids.find((id) => id !== follower && kvRaftOf(sim.instance(id))?.core.role !== 'leader')!;
  sim.crash(other);
  sim.restart(other);
  assert.equal(sim.instance(other)!.start.kind, 'restart');
});

test('a wiped node told to rejoin withholds its vote, rejoins as a learner, catches up and is promoted', () => {
  const { sim, flags } = cluster('wiped-rejoins');
  const workload = new KvWorkload(sim, sim.forkRng('workload'), {
    ...defaultKvWorkload,
    control: false,
    stopAtMs: 16_000,
  });
  const { leader, follower, term, vote } = settle(sim);
  for (const f of flags.values()) f.initialClusterState = 'existing';
  sim.runFor(2_000); // some writes, so the wiped node has a log to catch up on
  sim.crash(follower);
  wipe(sim.diskStore(follower).view());
  flags.get(follower)!.rejoin = true;

  // The vote request that a bootstrapped node granted (previous test) is withheld now. Holding the
  // leader's traffic back keeps the rejoin from completing before the request arrives.
  const cut = sim.network.isolate(leader);
  sim.restart(follower);
  assert.equal(sim.instance(follower)!.start.kind, 'rejoin');
  const other = ids.find((id) => id !== follower && id !== vote)!;
  sendVote(sim, other, follower, term);
  sim.runFor(20);
  assert.equal(kvRaftOf(sim.instance(follower))!.core.votedFor, undefined, 'no vote while rejoining');
  assert.ok(sim.metrics(follower).value('raft_votes_withheld_total') >= 1);
  cut.heal();

  // Learner first, then voter, as the leader's log has it; clients keep writing meanwhile.
  const seen: string[] = [];
  sim.addInvariant('rejoin-order', (s) => {
    const l = ids.map((id) => s.instance(id)).find((n) => kvRaftOf(n)?.core.role === 'leader');
    if (l === undefined) return undefined;
    const conf = kvRaftOf(l)!.core.config;
    const role = conf.voters.includes(follower) ? 'voter' : conf.learners.includes(follower) ? 'learner' : 'none';
    if (seen[seen.length - 1] !== role) seen.push(role);
    return undefined;
  });
  const rejoined = (): boolean => {
    const l = leaderOf(sim);
    const f = sim.instance(follower);
    if (l === undefined || f === undefined) return false;
    const core = kvRaftOf(sim.instance(l))!.core;
    // Since the leader repairs a regressed follower's progress, the wiped node catches up even
    // before it is removed: the rejoin is done only when it knows a committed re-add.
    return (
      !kvRaftOf(f)!.membersView().rejoining &&
      core.config.voters.includes(follower) &&
      kvRaftOf(f)!.appliedIndex >= core.commitIndex - 5
    );
  };
  assert.ok(sim.runUntilCondition(rejoined, 10_000), `rejoined and caught up (roles seen: ${seen.join(' > ')})`);
  // Removed (its old votes and acknowledgements stop counting), re-added as a learner, promoted.
  assert.deepEqual(seen, ['voter', 'none', 'learner', 'voter'], `roles seen: ${seen.join(' > ')}`);
  assert.equal(sim.instance(follower)!.status().start, 'rejoin');

  // Its identity is a member's again: a later restart is an ordinary one, votes included.
  sim.runUntil(16_000);
  sim.crash(follower);
  flags.get(follower)!.rejoin = false;
  sim.restart(follower);
  assert.equal(sim.instance(follower)!.start.kind, 'restart');
  assert.equal(sim.instance(follower)!.start.identity.state, 'member');
  sim.healAll();
  assert.ok(
    sim.runUntilCondition(() => workload.inflightOps === 0, defaultKvWorkload.clientTimeoutMs + 1_000),
    'clients finish',
  );
  assert.equal(sim.failed, undefined, sim.failed?.message);
  assert.ok(workload.opsOk > 50, `writes continued: ${workload.opsOk} ok`);
  const verdict = workload.check();
  assert.equal(verdict.verdict, 'valid', verdict.reason);
});

test("an operator's membership operation made on a follower runs on the leader; its errors come back typed", () => {
  const { sim } = cluster('member-ops-forwarded');
  const { leader, follower } = settle(sim);
  const other = ids.find((id) => id !== leader && id !== follower)!;
  const f = kvRaftOf(sim.instance(follower))!;
  const results: Array<string | undefined> = [];
  const run = (op: 'add' | 'remove' | 'promote' | 'replace', id: string): void => {
    let done = false;
    f.memberOp(op, id, (err) => {
      results.push(err?.code);
      done = true;
    });
    assert.ok(
      sim.runUntilCondition(() => done, 10_000),
      `${op} ${id} answered`,
    );
  };
  run('add', other);
  assert.equal(results.pop(), 'already_member');
  run('remove', other);
  assert.equal(results.pop(), undefined);
  assert.deepEqual(kvRaftOf(sim.instance(leader))!.core.config.voters, [leader, follower].sort());
  run('promote', other);
  assert.equal(results.pop(), 'not_a_learner');
  run('add', other);
  assert.equal(results.pop(), undefined);
  assert.deepEqual(kvRaftOf(sim.instance(leader))!.core.config.learners, [other]);
  run('promote', other);
  assert.equal(results.pop(), undefined);
  run('replace', leader);
  assert.equal(results.pop(), 'bad_request');
  run('replace', other);
  assert.equal(results.pop(), undefined);
  const conf = kvRaftOf(sim.instance(leader))!.core.config;
  assert.deepEqual([conf.voters, conf.learners], [[...ids].sort(), []]);
  assert.equal(sim.failed, undefined);
});

/** Wipes `follower` and restarts it with --rejoin while its KV group's rejoin requests are dropped. */
function rejoinMetadataOnly(seed: string) {
  const { sim, flags } = cluster(seed);
  const { follower } = settle(sim);
  for (const f of flags.values()) f.initialClusterState = 'existing';
  sim.crash(follower);
  wipe(sim.diskStore(follower).view());
  flags.get(follower)!.rejoin = true;
  const unblockKv = sim.network.addFilter((from, _to, type, payload) => {
    if (from !== follower || type !== MessageType.RaftMemberRequest) return 'pass';
    const frame = decodeGroupFrame(payload);
    return !(frame instanceof Error) && frame.group === 'kv' ? 'drop' : 'pass';
  });
  sim.restart(follower);
  const rejoining = (group: string): boolean => sim.instance(follower)!.groups.get(group)!.membersView().rejoining;
  return { sim, flags, follower, unblockKv, rejoining };
}

test('a restart mid-rejoin reopens in rejoin mode only the groups that have not rejoined yet', () => {
  const { sim, flags, follower, unblockKv, rejoining } = rejoinMetadataOnly('rejoin-per-group');
  assert.ok(
    sim.runUntilCondition(() => !rejoining('metadata'), 10_000),
    'the metadata group rejoins',
  );
  sim.runFor(200);
  assert.equal(rejoining('kv'), true, 'the KV group cannot (its requests are dropped)');
  const disk = (): Disk => sim.diskStore(follower).view();
  assert.deepEqual(readIdentity(disk(), 'd')?.rejoined, ['metadata']);
  sim.crash(follower);
  flags.get(follower)!.rejoin = false;
  sim.restart(follower);
  assert.equal(sim.instance(follower)!.start.kind, 'restart');
  // The metadata group votes again at once; asking again could make a leader that forgot the
  // rejoin id remove and re-add a healthy voter.
  assert.equal(rejoining('metadata'), false, 'metadata reopens as a member');
  assert.equal(rejoining('kv'), true, 'kv still rejoins');
  unblockKv();
  assert.ok(
    sim.runUntilCondition(() => !rejoining('kv'), 10_000),
    'the KV group rejoins',
  );
  const done = readIdentity(disk(), 'd');
  assert.deepEqual([done?.state, done?.rejoined], ['member', undefined]);
  assert.equal(sim.failed, undefined, sim.failed?.message);
});

test('a crash during a rejoin after one group WAL was created: the restart rejoins the group without one', () => {
  const { sim, flags, follower, unblockKv, rejoining } = rejoinMetadataOnly('rejoin-wal-missing');
  unblockKv();
  sim.crash(follower);
  // As if the crash came between creating the metadata WAL and the KV WAL (identity written first).
  const disk = sim.diskStore(follower).view();
  wipe(disk, 'raft/kv');
  assert.equal(readIdentity(disk, 'd')?.state, 'rejoining');
  assert.ok(disk.list('raft/metadata/wal').length > 0);
  flags.get(follower)!.rejoin = false;
  sim.restart(follower);
  assert.equal(sim.instance(follower)!.start.kind, 'restart');
  assert.ok(
    sim.runUntilCondition(() => !rejoining('metadata') && !rejoining('kv'), 10_000),
    'both groups rejoin',
  );
  assert.equal(readIdentity(sim.diskStore(follower).view(), 'd')?.state, 'member');
  assert.equal(sim.failed, undefined, sim.failed?.message);
});

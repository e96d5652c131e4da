// Goal (issue 8 item 3): several Raft groups per node. The real node program (NodeServices) runs
// two groups — 'metadata' (cluster-level state) and 'kv' (the KV keyspace) — side by side over
// one peer transport: every Raft message carries its group id (src/raft/group-router.ts), each
// group has its own WAL under raft/<group>/, its own metrics label, and Raft's safety invariants
// (election safety, log matching, leader completeness, state machine safety) run on each group
// after every event of every simulator run, whatever the workload (src/node/sim-raft-invariants.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Disk } from '../../src/env/types.ts';
import { MessageType } from '../../src/lib/message-types.ts';
import { encodeMessage } from '../../src/raft/codec.ts';
import { encodeGroupFrame } from '../../src/raft/group-router.ts';
import { EntryType, MsgType } from '../../src/raft/types.ts';
import { NodeIdentityError } from '../../src/node/identity.ts';
import { type NodeServices, RAFT_GROUPS } from '../../src/node/services.ts';
import { platformNode } from '../support/platform-node.ts';
import { allNemesisKinds, runClusterSimulation } from '../../src/node/sim-cluster.ts';
import { attachRaftInvariants } from '../../src/node/sim-raft-invariants.ts';
import { SimulationFailure } from '../../src/sim/failure.ts';
import { TripwireError } from '../../src/sim/observe.ts';
import { Simulation } from '../../src/sim/simulation.ts';

const ids = ['n1', 'n2', 'n3'];

/** `hostile`: the test sends peers messages they must refuse (no tripwire on refusals). */
function cluster(seed: string, hostile = false): Simulation<NodeServices> {
  return new Simulation<NodeServices>({
    seed,
    nodes: ids,
    program: platformNode(ids),
    ...(hostile ? { tripwireCounters: [] } : {}),
  });
}

const leaderOf = (sim: Simulation<NodeServices>, group: string): string | undefined =>
  ids.find((id) => sim.instance(id)?.groups.get(group)?.core.role === 'leader');

test('two Raft groups run side by side under every fault, with the safety invariants on both', () => {
  const r = runClusterSimulation({
    seed: 'two-groups',
    nodes: 3,
    nemesis: allNemesisKinds,
    durationMs: 15_000,
    livenessBoundMs: 20_000,
    workload: 'raft-kv',
  });
  assert.ok(r.ok, r.failure?.message);
  assert.equal(r.clients?.verdict, 'valid');
  assert.deepEqual([...r.raftGroupsChecked].sort(), [...RAFT_GROUPS].sort());
});

test('the membership workload checks Raft safety on every group too', () => {
  const r = runClusterSimulation({
    seed: 'groups-membership',
    nodes: 3,
    nemesis: ['partition', 'crash'],
    durationMs: 8_000,
    livenessBoundMs: 20_000,
    workload: 'membership',
  });
  assert.ok(r.ok, r.failure?.message);
  assert.deepEqual([...r.raftGroupsChecked].sort(), [...RAFT_GROUPS].sort());
});

test('each group elects its own leader; metrics carry the group label', () => {
  const sim = cluster('groups-leaders');
  attachRaftInvariants(sim);
  assert.ok(
    sim.runUntilCondition(() => RAFT_GROUPS.every((g) => leaderOf(sim, g) !== undefined), 10_000),
    'a leader in every group',
  );
  sim.runFor(500);
  for (const group of RAFT_GROUPS) {
    const leader = leaderOf(sim, group)!;
    assert.ok(sim.metrics(leader).value('raft_term', { group }) >= 1, `raft_term{group="${group}"}`);
    assert.equal(sim.metrics(leader).value('raft_role', { group }), 3, `${leader} leads ${group}`);
  }
  assert.equal(sim.failed, undefined);
});

test('a forged Append that splits the metadata group is caught by that group’s invariants', () => {
  // Raft is not Byzantine-tolerant: a third node claiming leadership of the current term makes a
  // follower hold an entry the real leader never wrote at the same (index, term). The checker of
  // the metadata group must see it (a check bound to the KV group only would not).
  const sim = cluster('groups-forged');
  attachRaftInvariants(sim);
  const group = 'metadata';
  assert.ok(
    sim.runUntilCondition(() => leaderOf(sim, group) !== undefined, 10_000),
    'a metadata leader',
  );
  sim.runFor(500);
  const leader = leaderOf(sim, group)!;
  const [follower, forger] = ids.filter((id) => id !== leader) as [string, string];
  const core = sim.instance(follower)!.groups.get(group)!.core;
  const index = core.lastIndex + 1;
  const forged = encodeMessage({
    type: MsgType.Append,
    from: forger,
    to: follower,
    term: core.currentTerm,
    prevIndex: core.lastIndex,
    prevTerm: core.termAt(core.lastIndex)!,
    commit: index,
    entries: [{ index, term: core.currentTerm, type: EntryType.Normal, data: Uint8Array.of(0xde, 0xad) }],
  });
  sim.network.send(sim.network.indexOf(forger)!, follower, MessageType.Raft, encodeGroupFrame(group, forged));
  // The real leader writes its own entry at that index in the same term.
  sim
    .instance(leader)!
    .groups.get(group)!
    .submit(Uint8Array.of(1), () => {});
  assert.throws(
    () => sim.runFor(2_000),
    (err: unknown) => err instanceof SimulationFailure && /raft-safety: group metadata: /.test(err.message),
  );
});

test('a Raft message for a group this node does not host is counted and dropped', () => {
  const sim = cluster('groups-unknown', true);
  assert.ok(
    sim.runUntilCondition(() => leaderOf(sim, 'kv') !== undefined, 10_000),
    'a leader',
  );
  const heartbeat = encodeMessage({ type: MsgType.Heartbeat, from: 'n1', to: 'n2', term: 99, commit: 0, readSeq: 0 });
  sim.network.send(sim.network.indexOf('n1')!, 'n2', MessageType.Raft, encodeGroupFrame('nope', heartbeat));
  // A payload from before groups (a bare Raft message) is refused by version, not misread.
  sim.network.send(sim.network.indexOf('n1')!, 'n2', MessageType.Raft, heartbeat);
  sim.runFor(200);
  const rejected = (code: string): number =>
    sim.metrics('n2').value('peer_messages_rejected_total', { type: String(MessageType.Raft), code });
  assert.equal(rejected('raft_group_unknown'), 1);
  assert.equal(rejected('raft_group_bad_version'), 1);
  assert.equal(sim.state('n2'), 'up');
  assert.ok(sim.instance('n2')!.groups.get('kv')!.core.currentTerm < 99, 'no group stepped the message');
  assert.equal(sim.failed, undefined);
});

test('by default a refused peer message fails the simulation (the tripwire on peer_messages_rejected_total)', () => {
  const sim = cluster('groups-tripwire');
  assert.ok(
    sim.runUntilCondition(() => leaderOf(sim, 'kv') !== undefined, 10_000),
    'a leader',
  );
  const heartbeat = encodeMessage({ type: MsgType.Heartbeat, from: 'n1', to: 'n2', term: 99, commit: 0, readSeq: 0 });
  sim.network.send(sim.network.indexOf('n1')!, 'n2', MessageType.Raft, encodeGroupFrame('nope', heartbeat));
  assert.throws(
    () => sim.runFor(200),
    (e: unknown) => {
      const cause = sim.failed?.cause;
      assert.equal(sim.failed?.invariant, 'exception');
      assert.ok(cause instanceof TripwireError, String(e));
      assert.equal(cause.counter, 'peer_messages_rejected_total');
      assert.equal(cause.labels['code'], 'raft_group_unknown');
      return true;
    },
  );
});

/** Removes `dir` and everything under it, durably. */
function removeTree(disk: Disk, dir: string): void {
  for (const name of disk.list(dir)) {
    const path = `${dir}/${name}`;
    if (disk.list(path).length > 0) removeTree(disk, path);
    else {
      try {
        disk.remove(path);
      } catch {
        removeTree(disk, path); // an empty directory
      }
    }
  }
  disk.remove(dir);
  disk.syncDir(dir.includes('/') ? dir.slice(0, dir.lastIndexOf('/')) : '');
}

test('per-group data: raft/<group>/wal; a lost group log or the pre-groups layout refuses to start', () => {
  const sim = cluster('groups-layout');
  assert.ok(
    sim.runUntilCondition(() => leaderOf(sim, 'kv') !== undefined, 10_000),
    'a leader',
  );
  const disk = sim.diskStore('n3').view();
  for (const group of RAFT_GROUPS) assert.ok(disk.list(`raft/${group}/wal`).length > 0, `raft/${group}/wal`);
  // One group's log gone, the other intact: its votes in that group are gone, so no start as a voter.
  sim.crash('n3');
  removeTree(sim.diskStore('n3').view(), 'raft/kv');
  assert.throws(
    () => sim.restart('n3'),
    (err: unknown) => err instanceof NodeIdentityError && err.code === 'node_data_missing' && /kv/.test(err.message),
  );
  sim.crash('n3');
  // A data directory in the layout before groups: refused with its own code, nothing created.
  const old = sim.diskStore('n3').view();
  removeTree(old, 'raft');
  old.mkdirp('metadata/wal');
  const f = old.open('metadata/wal/0000000000000000-00000000000000000001.wal', { create: true });
  f.append(Uint8Array.of(1, 2, 3));
  f.sync();
  f.close();
  assert.throws(
    () => sim.restart('n3'),
    (err: unknown) => err instanceof NodeIdentityError && err.code === 'node_layout_old',
  );
  assert.deepEqual(sim.diskStore('n3').view().list('raft'), []);
});

test('identity.json and one group log both lost (a partial restore): refused, naming the group, not adopted', () => {
  const sim = cluster('groups-partial-restore');
  assert.ok(
    sim.runUntilCondition(() => leaderOf(sim, 'kv') !== undefined && leaderOf(sim, 'metadata') !== undefined, 10_000),
    'leaders',
  );
  sim.runFor(500);
  sim.crash('n3');
  const disk = sim.diskStore('n3').view();
  disk.remove('identity.json');
  disk.syncDir('');
  removeTree(disk, 'raft/kv');
  // Adopting would start n3 as an empty voter of kv, whose votes and acknowledgements are gone.
  assert.throws(
    () => sim.restart('n3'),
    (err: unknown) =>
      err instanceof NodeIdentityError &&
      err.code === 'node_data_missing' &&
      /group\(s\) kv/.test(err.message) &&
      /metadata/.test(err.message),
  );
  assert.equal(sim.diskStore('n3').view().exists('identity.json'), false, 'nothing adopted');
  // A crash at bootstrap, between one group's WAL and the next, before any driver ran: the WAL
  // present is untouched (term 0, no vote, no entries), so the start is adopted and kv bootstraps.
  sim.crash('n3'); // (the refused start left it half up)
  removeTree(sim.diskStore('n3').view(), 'raft');
  sim.restart('n3'); // bootstraps (an empty directory, initialClusterState 'new')
  assert.equal(sim.instance('n3')!.start.kind, 'bootstrap');
  sim.crash('n3');
  const again = sim.diskStore('n3').view();
  removeTree(again, 'raft/kv');
  again.remove('identity.json');
  again.syncDir('');
  sim.restart('n3');
  assert.equal(sim.instance('n3')!.start.kind, 'adopt');
});

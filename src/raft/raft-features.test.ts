// Goal: check the Raft extensions beyond the paper's core — pre-vote and check-quorum (dissertation
// §9.6), InstallSnapshot in chunks (§7), learners and one-server membership changes (dissertation
// §4), leadership transfer (§3.10), ReadIndex and lease reads (§6.4), flow control (bounded
// in-flight window), and the Ready contract — each on the in-test network with every safety
// invariant asserted after every step.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LimitError } from '../lib/errors.ts';
import { ConfChangeRejectedError, NotLeaderError, ProposalDroppedError } from './errors.ts';
import { cmd, TestCluster } from './testing.ts';
import { MsgType } from './types.ts';

const ctx = (s: string): Uint8Array => new TextEncoder().encode(s);
const ctxText = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('pre-vote and check-quorum (dissertation §9.6)', () => {
  test('pre-vote: a partitioned node does not inflate its term and does not disrupt the leader on rejoin', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    const term = c.raft('a').currentTerm;
    c.isolate('c');
    c.tickAll(100); // ten election timeouts
    assert.equal(c.raft('c').currentTerm, term, 'pre-vote never bumps the term without a majority');
    c.heal();
    c.tickAll(5);
    assert.equal(c.raft('a').role, 'leader');
    assert.equal(c.raft('a').currentTerm, term);
    assert.equal(c.raft('c').leader, 'a');
  });

  test('without pre-vote the same partition inflates the term and deposes the leader (why pre-vote exists)', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: { preVote: false, checkQuorum: false } });
    c.elect('a');
    const term = c.raft('a').currentTerm;
    c.isolate('c');
    c.tickAll(100);
    assert.ok(c.raft('c').currentTerm > term + 3);
    c.heal();
    c.tickAll(30);
    assert.ok(c.raft(c.leader()!).currentTerm > term);
  });

  test('check-quorum: a leader cut off from the majority steps down within an election timeout', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.isolate('a');
    c.tickAll(10); // electionTimeoutTicks (may need two checks: the first resets activity)
    c.tickAll(10);
    assert.equal(c.raft('a').role, 'follower');
  });

  test('leader lease: followers with a live leader ignore a disruptive vote request', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], recordMessages: true });
    c.elect('a');
    const term = c.raft('a').currentTerm;
    c.raft('b').step({
      type: MsgType.Vote,
      from: 'c',
      to: 'b',
      term: term + 5,
      lastIndex: 100,
      lastTerm: term + 4,
      transfer: false,
    });
    c.stabilize();
    assert.equal(c.raft('b').currentTerm, term);
    assert.equal(c.raft('b').leader, 'a');
  });
});

describe('snapshots and log compaction (§7)', () => {
  test('a follower too far behind catches up from a chunked snapshot, then by appends', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: { snapshotChunkBytes: 16 }, recordMessages: true });
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 30; i++) c.propose('a', `v${i}`);
    c.snapshotAndCompact('a');
    assert.ok(c.raft('a').firstIndex > c.raft('c').lastIndex + 1);
    c.heal();
    c.tickAll(3);
    c.propose('a', 'after');
    const chunks = c.node('a').sentMessages.filter((m) => m.type === MsgType.Snapshot && m.to === 'c');
    assert.ok(chunks.length > 3, `snapshot sent in ${chunks.length} chunks`);
    for (const m of chunks) if (m.type === MsgType.Snapshot) assert.ok(m.chunk.length <= 16);
    assert.deepEqual(c.node('c').appliedCommands, c.node('a').appliedCommands);
    assert.equal(c.node('c').appliedCommands.at(-1), 'after');
    assert.equal(c.node('c').storage.snapshot().meta.index, c.node('a').storage.snapshot().meta.index);
  });

  test('snapshot install racing with appends and lost chunks still converges', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: { snapshotChunkBytes: 8 }, seed: 'race' });
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 20; i++) c.propose('a', `v${i}`);
    c.snapshotAndCompact('a');
    c.heal();
    // Interleave: new proposals and heartbeats between single delivery rounds; drop some chunks.
    let dropped = 0;
    c.filter = (m) => !(m.type === MsgType.Snapshot && m.offset > 0 && dropped++ % 5 === 0);
    for (let i = 0; i < 60; i++) {
      if (i % 3 === 0) c.raft('a').propose(cmd(`w${i}`));
      if (i % 4 === 0) c.raft('a').tick();
      c.round();
    }
    c.filter = undefined;
    c.tickAll(20);
    assert.ok(dropped > 0);
    assert.deepEqual(c.node('c').appliedCommands, c.node('a').appliedCommands);
  });

  test('a snapshot older than the follower commit is ignored; a matching one only moves the commit', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    for (let i = 0; i < 5; i++) c.propose('a', `v${i}`);
    const before = c.raft('b').lastIndex;
    c.raft('b').step({
      type: MsgType.Snapshot,
      from: 'a',
      to: 'b',
      term: c.raft('a').currentTerm,
      meta: { index: 2, term: 1, confState: { voters: ['a', 'b', 'c'], learners: [] } },
      totalBytes: 2,
      offset: 0,
      chunk: ctx('[]'),
      done: true,
    });
    c.stabilize();
    assert.equal(c.raft('b').lastIndex, before);
    assert.deepEqual(c.node('b').appliedCommands, c.node('a').appliedCommands);
  });

  test('compaction keeps a restarted node consistent: state machine from snapshot, rest from the log', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    for (let i = 0; i < 10; i++) c.propose('a', `v${i}`);
    c.snapshotAndCompact('b', 5);
    c.crash('b');
    c.propose('a', 'more');
    c.restart('b');
    c.tickAll(3);
    assert.deepEqual(c.node('b').appliedCommands, c.node('a').appliedCommands);
  });
});

describe('learners and membership changes (dissertation §4, one server at a time)', () => {
  test('learners receive the log but never campaign, are never asked to vote, and their votes never count', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'l'], learners: ['l'], recordMessages: true });
    c.elect('a');
    c.propose('a', 'x');
    assert.deepEqual(c.node('l').appliedCommands, ['x']);
    assert.equal(c.raft('l').role, 'learner');
    c.isolate('l');
    c.tickAll(100);
    assert.equal(c.raft('l').role, 'learner');
    assert.equal(c.raft('l').currentTerm, c.raft('a').currentTerm, 'a learner never campaigns');
    c.heal();
    c.crash('a');
    for (let i = 0; i < 50; i++) c.tickAll();
    // b alone is not a majority of the voters {a, b}: the learner's vote does not count.
    assert.equal(c.leaders().length, 0);
    const asked = c
      .node('b')
      .sentMessages.filter((m) => (m.type === MsgType.Vote || m.type === MsgType.PreVote) && m.to === 'l');
    assert.equal(asked.length, 0);
  });

  test('add a learner, promote it after catch-up, remove a follower; quorum follows the config', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c', 'd'], outsiders: ['d'] });
    c.elect('a');
    c.propose('a', 'x');
    const a = c.raft('a');
    assert.ok(!a.proposeConfChange({ type: 'addVoter', nodeId: 'd' }).ok, 'a new node must join as a learner first');
    assert.ok(a.proposeConfChange({ type: 'addLearner', nodeId: 'd' }).ok);
    const second = a.proposeConfChange({ type: 'remove', nodeId: 'b' });
    assert.ok(
      !second.ok && second.error instanceof ConfChangeRejectedError && second.error.reason === 'change_pending',
    );
    c.stabilize();
    assert.deepEqual(c.raft('d').config, { voters: ['a', 'b', 'c'], learners: ['d'] });
    assert.deepEqual(c.node('d').appliedCommands, ['x']);
    assert.ok(a.proposeConfChange({ type: 'addVoter', nodeId: 'd' }).ok);
    c.stabilize();
    assert.deepEqual(c.raft('c').config.voters, ['a', 'b', 'c', 'd']);
    assert.ok(a.proposeConfChange({ type: 'remove', nodeId: 'b' }).ok);
    c.stabilize();
    assert.deepEqual(c.raft('a').config.voters, ['a', 'c', 'd']);
    // With b gone and c down, a and d are a majority of {a, c, d}.
    c.crash('b');
    c.crash('c');
    c.propose('a', 'y');
    assert.deepEqual(c.node('d').appliedCommands, ['x', 'y']);
  });

  test('removing the leader: it steps down once the change commits and the rest elect a leader', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.propose('a', 'x');
    assert.ok(c.raft('a').proposeConfChange({ type: 'remove', nodeId: 'a' }).ok);
    c.stabilize();
    assert.notEqual(c.raft('a').role, 'leader');
    c.tickAll(40);
    const leader = c.leader();
    assert.ok(leader === 'b' || leader === 'c');
    c.propose(leader, 'y');
    assert.deepEqual(c.node('b').appliedCommands, ['x', 'y']);
    assert.deepEqual(c.raft(leader).config.voters, ['b', 'c']);
    c.tickAll(40);
    assert.equal(c.raft('a').role, 'follower', 'a removed node never campaigns');
  });

  test('a config entry truncated from a follower log is undone there (config takes effect on append)', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c', 'd', 'e'], options: { preVote: false, checkQuorum: false } });
    c.elect('a');
    c.propose('a', 'x');
    c.cut('a', 'c');
    c.cut('a', 'd');
    c.cut('a', 'e');
    assert.ok(c.raft('a').proposeConfChange({ type: 'remove', nodeId: 'e' }).ok);
    c.stabilize();
    assert.deepEqual(c.raft('b').config.voters, ['a', 'b', 'c', 'd'], 'in force on b as soon as appended');
    c.heal();
    c.isolate('a');
    c.cut('b', 'c');
    c.cut('b', 'd');
    c.cut('b', 'e');
    c.elect('c');
    c.propose('c', 'y');
    c.heal();
    c.isolate('a');
    c.tickAll(3);
    assert.deepEqual(c.raft('b').config.voters, ['a', 'b', 'c', 'd', 'e'], 'reverted with the truncated entry');
  });
});

describe('leadership transfer (dissertation §3.10)', () => {
  test('transfer succeeds: target catches up, gets TimeoutNow, wins; proposals are refused meanwhile', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.isolate('b');
    c.propose('a', 'x');
    c.heal();
    assert.ok(c.raft('a').transferLeadership('b').ok);
    const r = c.raft('a').propose(cmd('during'));
    assert.ok(!r.ok && r.error instanceof ProposalDroppedError && r.error.reason === 'leadership_transfer');
    c.stabilize();
    assert.equal(c.raft('b').role, 'leader');
    assert.equal(c.raft('a').leader, 'b');
    c.propose('b', 'y');
    assert.deepEqual(c.node('a').appliedCommands, ['x', 'y']);
  });

  test('transfer to a follower that catches up by a snapshot ending at the leader last index', () => {
    // The snapshot's end is the whole log, so the Append after it is a quiet commit notice: the
    // transfer must not wait for an answer to it (a review found it aborting after a timeout).
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 30; i++) c.propose('a', `v${i}`);
    c.snapshotAndCompact('a');
    c.heal();
    assert.ok(c.raft('a').transferLeadership('c').ok);
    for (let t = 0; t < 3 && c.raft('c').role !== 'leader'; t++) c.tickAll(1);
    assert.equal(c.raft('c').role, 'leader');
  });

  test('transfer aborts after an election timeout if the target does not take over', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.isolate('b');
    assert.ok(c.raft('a').transferLeadership('b').ok);
    assert.equal(c.raft('a').transferee, 'b');
    c.tickAll(10);
    assert.equal(c.raft('a').transferee, undefined);
    assert.equal(c.raft('a').role, 'leader');
    assert.ok(c.raft('a').propose(cmd('ok-again')).ok);
  });
});

describe('linearizable reads (§6.4)', () => {
  test('ReadIndex returns only after a heartbeat quorum confirms leadership', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.propose('a', 'x');
    c.cutOneWay('b', 'a');
    c.cutOneWay('c', 'a');
    assert.ok(c.raft('a').readIndex(ctx('r1')).ok);
    c.stabilize();
    assert.equal(c.node('a').readStates.length, 0, 'no quorum heard: no answer');
    c.heal();
    c.tickAll(1);
    assert.equal(c.node('a').readStates.length, 1);
    const rs = c.node('a').readStates[0]!;
    assert.equal(ctxText(rs.requestCtx), 'r1');
    assert.equal(rs.index, c.raft('a').commitIndex);
  });

  test('a deposed leader never answers a read it could not confirm', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.isolate('a');
    assert.ok(c.raft('a').readIndex(ctx('stale')).ok);
    c.stabilize();
    for (let i = 0; i < 40 && c.leaders().length < 2; i++) c.tickAll();
    const leader = c.leaders().find((id) => id !== 'a');
    assert.ok(leader);
    c.propose(leader, 'newer');
    c.heal();
    c.tickAll(5);
    assert.equal(c.raft('a').role, 'follower');
    assert.equal(c.node('a').readStates.length, 0);
  });

  test('a new leader answers reads only after committing an entry of its term', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: { preVote: false, checkQuorum: false } });
    c.elect('a');
    c.propose('a', 'x');
    c.filter = (m) => !(m.from === 'b' && m.type === MsgType.Append); // b's no-op cannot replicate
    c.elect('b');
    const noopIndex = c.raft('b').lastIndex;
    assert.ok(c.raft('b').commitIndex < noopIndex);
    assert.ok(c.raft('b').readIndex(ctx('early')).ok);
    c.tickAll(3); // heartbeats do reach a quorum
    assert.equal(c.node('b').readStates.length, 0, 'commit index of an older term may be stale');
    c.filter = undefined;
    c.tickAll(2);
    assert.equal(c.node('b').readStates.length, 1);
    assert.ok(c.node('b').readStates[0]!.index >= noopIndex);
  });

  test('follower read: forwarded to the leader, answered once the follower applied the read index', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.propose('a', 'x');
    assert.ok(c.raft('b').readIndex(ctx('fr')).ok);
    c.stabilize();
    c.tickAll(1);
    const states = c.node('b').readStates;
    assert.equal(states.length, 1);
    assert.ok(c.node('b').appliedIndex >= states[0]!.index);
    assert.ok(states[0]!.index >= 2);
  });

  test('lease reads answer without a round trip (clock-dependent, requires check-quorum)', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: { readOnly: 'lease' } });
    c.tickAll(10); // a fresh lease-mode node refuses votes for an election timeout
    c.elect('a');
    c.tickAll(1); // a quorum acknowledges a heartbeat round: the lease starts at its send
    c.isolate('a');
    assert.ok(c.raft('a').readIndex(ctx('lease')).ok);
    c.stabilize();
    assert.equal(c.node('a').readStates.length, 1);
    assert.throws(
      () => new TestCluster({ ids: ['x'], options: { readOnly: 'lease', checkQuorum: false } }),
      /checkQuorum/,
    );
  });

  test('commands off the leader fail with NotLeaderError carrying the leader hint', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    const r = c.raft('b').propose(cmd('x'));
    assert.ok(!r.ok && r.error instanceof NotLeaderError && r.error.leaderHint === 'a' && r.error.retriable);
  });
});

describe('flow control and the Ready contract', () => {
  test('in-flight window: at most inflightCountMax unacknowledged Appends per follower', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: { inflightCountMax: 2 }, recordMessages: true });
    c.elect('a');
    c.propose('a', 'warm'); // b and c in replicate state
    c.cutOneWay('c', 'a'); // c's acknowledgements are lost
    const before = c.node('a').sentMessages.length;
    for (let i = 0; i < 10; i++) c.propose('a', `p${i}`);
    const toC = c
      .node('a')
      .sentMessages.slice(before)
      .filter((m) => m.type === MsgType.Append && m.to === 'c' && m.entries.length > 0);
    assert.equal(toC.length, 2);
    assert.equal(c.raft('a').progress('c')?.inflights.count, 2);
    c.heal();
    c.tickAll(3);
    assert.deepEqual(c.node('c').appliedCommands, c.node('a').appliedCommands);
  });

  test('proposals made between two Readies go out batched in one Append per follower', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], recordMessages: true });
    c.elect('a');
    c.propose('a', 'warm');
    const before = c.node('a').sentMessages.length;
    for (let i = 0; i < 10; i++) assert.ok(c.raft('a').propose(cmd(`p${i}`)).ok);
    c.stabilize();
    const appends = c
      .node('a')
      .sentMessages.slice(before)
      .filter((m) => m.type === MsgType.Append && m.entries.length > 0);
    assert.equal(appends.length, 2);
    assert.equal(appends[0]!.type === MsgType.Append && appends[0]!.entries.length, 10);
  });

  test('maxUncommittedBytes bounds what a leader accepts that it cannot commit', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: { maxUncommittedBytes: 100 } });
    c.elect('a');
    c.isolate('a');
    let refused: unknown;
    for (let i = 0; i < 20 && !refused; i++) {
      const r = c.raft('a').propose(new Uint8Array(30));
      if (!r.ok) refused = r.error;
    }
    assert.ok(refused instanceof LimitError);
  });

  test('persist before send: vote grants and append acks leave only after the Ready that persisted them', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.raft('a').propose(cmd('x'));
    // Deliver a's Append to b by hand.
    const rdA = c.raft('a').ready();
    assert.ok(rdA);
    const app = rdA.messages.find((m) => m.type === MsgType.Append && m.to === 'b');
    assert.ok(app);
    c.raft('b').step(app);
    const rd1 = c.raft('b').ready();
    assert.ok(rd1 && rd1.entries.length === 1 && rd1.mustSync);
    assert.ok(!rd1.messages.some((m) => m.type === MsgType.AppendResponse), 'ack withheld until persisted');
    assert.throws(() => c.raft('b').ready(), /advance/);
    c.node('b').storage.append(rd1.entries);
    c.raft('b').advance(rd1);
    const rd2 = c.raft('b').ready();
    assert.ok(rd2?.messages.some((m) => m.type === MsgType.AppendResponse && !m.reject));
  });
});

describe('snapshot limits', () => {
  test('a follower refuses a snapshot above its snapshotBytesMax; the leader keeps serving the others', () => {
    const c = new TestCluster({
      ids: ['a', 'b', 'c'],
      perNode: { c: { snapshotBytesMax: 8 } },
      recordMessages: true,
    });
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 10; i++) c.propose('a', `value-${i}`);
    c.snapshotAndCompact('a');
    c.heal();
    c.tickAll(5);
    const refusals = c.node('c').sentMessages.filter((m) => m.type === MsgType.SnapshotResponse && m.reject);
    assert.ok(refusals.length >= 1);
    assert.ok(refusals.length <= 5, `paced retries, got ${refusals.length}`);
    assert.equal(c.node('c').appliedCommands.length, 0);
    c.propose('a', 'still-available');
    assert.equal(c.node('b').appliedCommands.at(-1), 'still-available');
  });
});

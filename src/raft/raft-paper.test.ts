// Goal: check the Raft core against the rules of the Raft paper (Ongaro & Ousterhout, "In Search
// of an Understandable Consensus Algorithm", 2014), one test per section or property, on the
// synchronous in-test network (testing.ts) which asserts Election Safety, Log Matching, Leader
// Completeness, State Machine Safety and Leader Append-Only after every single step.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cmd, TestCluster } from './testing.ts';
import { type Message, MsgType } from './types.ts';

const noPreVote = { preVote: false, checkQuorum: false } as const;

function allApplied(c: TestCluster, ids: readonly string[]): string[][] {
  return ids.map((id) => c.node(id).appliedCommands);
}

describe('§5.2 leader election', () => {
  for (const size of [3, 5]) {
    test(`${size} nodes: election timeouts elect exactly one leader, and everyone follows it`, () => {
      const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
      const c = new TestCluster({ ids, seed: `elect-${size}` });
      for (let i = 0; i < 40 && c.leaders().length === 0; i++) c.tickAll();
      const leaders = c.leaders();
      assert.equal(leaders.length, 1);
      const term = c.raft(leaders[0]!).currentTerm;
      for (const id of ids) {
        assert.equal(c.raft(id).leader, leaders[0]);
        assert.equal(c.raft(id).currentTerm, term);
      }
    });
  }

  test('split votes resolve: two simultaneous candidates, randomized timeouts pick one later', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c', 'd'], seed: 'split', options: noPreVote });
    // a and b both become candidates in term 1 before any vote request is delivered.
    c.raft('a').campaign();
    c.raft('b').campaign();
    c.stabilize();
    // With 4 voters and 2 self-votes, c and d split or side with one: at most one leader.
    assert.ok(c.leaders().length <= 1);
    for (let i = 0; i < 60 && c.leaders().length === 0; i++) c.tickAll();
    assert.equal(c.leaders().length, 1);
  });

  test('a node votes at most once per term (first come, first served)', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: noPreVote, recordMessages: true });
    c.isolate('a');
    c.campaign('b'); // term 1: c grants, b leads
    assert.equal(c.raft('b').role, 'leader');
    c.heal();
    c.cut('a', 'b');
    c.campaign('a'); // a never heard of term 1 and campaigns in term 1 as well: c must refuse
    assert.equal(c.raft('c').votedFor, 'b');
    const cVotes = c.node('c').sentMessages.filter((m) => m.type === MsgType.VoteResponse && m.to === 'a');
    assert.equal(cVotes.length, 1);
    assert.equal((cVotes[0] as { reject: boolean }).reject, true);
  });

  test('stale terms are rejected: a message from an older term changes nothing and reveals the newer term', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    assert.ok(c.raft('a').transferLeadership('b').ok);
    c.stabilize();
    assert.equal(c.raft('b').role, 'leader');
    const term = c.raft('b').currentTerm;
    const stale: Message = {
      type: MsgType.Append,
      from: 'a',
      to: 'c',
      term: term - 1,
      prevIndex: 0,
      prevTerm: 0,
      entries: [],
      commit: 0,
    };
    c.raft('c').step(stale);
    assert.equal(c.raft('c').currentTerm, term);
    assert.equal(c.raft('c').leader, 'b');
    const rd = c.raft('c').ready();
    assert.ok(rd);
    const reply = rd.messages.find((m) => m.to === 'a');
    assert.ok(reply && reply.type === MsgType.AppendResponse && reply.term === term);
    c.raft('c').advance(rd);
  });

  test('a candidate that hears from a leader of its own term steps down', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: noPreVote });
    c.isolate('b');
    c.campaign('b'); // term 1, cannot win
    assert.equal(c.raft('b').role, 'candidate');
    c.campaign('a'); // term 1 as well, wins with c
    assert.equal(c.raft('a').role, 'leader');
    assert.equal(c.raft('a').currentTerm, c.raft('b').currentTerm);
    c.heal();
    c.tickAll(); // a's heartbeat
    assert.equal(c.raft('b').role, 'follower');
    assert.equal(c.raft('b').leader, 'a');
  });
});

describe('§5.3 log replication', () => {
  test('log matching: proposals reach every log and state machine, in the same order', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const c = new TestCluster({ ids });
    c.elect('a');
    for (let i = 0; i < 20; i++) c.propose('a', `cmd-${i}`);
    const expected = Array.from({ length: 20 }, (_, i) => `cmd-${i}`);
    for (const applied of allApplied(c, ids)) assert.deepEqual(applied, expected);
  });

  test('Figure 7: followers with missing and extra entries are brought to the leader log', () => {
    const ids = ['leader', 'a', 'b', 'c', 'd', 'e', 'f'];
    const c = new TestCluster({ ids, options: noPreVote, recordMessages: true });
    c.preloadLog('leader', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6], 8);
    c.preloadLog('a', [1, 1, 1, 4, 4, 5, 5, 6, 6], 6);
    c.preloadLog('b', [1, 1, 1, 4], 4);
    c.preloadLog('c', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], 6);
    c.preloadLog('d', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], 7);
    c.preloadLog('e', [1, 1, 1, 4, 4, 4, 4], 4);
    c.preloadLog('f', [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], 3);
    c.elect('leader');
    c.propose('leader', 'new');
    const leader = c.raft('leader');
    for (const id of ids) {
      const r = c.raft(id);
      assert.equal(r.lastIndex, leader.lastIndex, `${id} last index`);
      for (let i = 1; i <= leader.lastIndex; i++) assert.equal(r.termAt(i), leader.termAt(i), `${id} term at ${i}`);
    }
    // Fast back-off: f (conflicting terms 2 and 3) needs few rejections, not one per entry.
    const rejectsFromF = c.node('f').sentMessages.filter((m) => m.type === MsgType.AppendResponse && m.reject);
    assert.ok(rejectsFromF.length <= 3, `f rejected ${rejectsFromF.length} times`);
  });

  test('fast back-off: a 200-entry conflicting suffix is resolved in a few round trips', () => {
    const ids = ['a', 'b', 'c'];
    const c = new TestCluster({ ids, options: noPreVote, recordMessages: true });
    const common = [1, 1, 1];
    c.preloadLog('a', [...common, ...Array(200).fill(3)], 3);
    c.preloadLog('b', [...common, ...Array(200).fill(2)], 2);
    c.preloadLog('c', [...common, ...Array(200).fill(3)], 3);
    c.elect('a');
    c.propose('a', 'x');
    assert.equal(c.raft('b').termAt(100), 3);
    const rejects = c.node('b').sentMessages.filter((m) => m.type === MsgType.AppendResponse && m.reject);
    assert.ok(rejects.length <= 2, `b rejected ${rejects.length} times`);
  });

  test('a leader never overwrites its own log; followers conflicting entries are truncated then replaced', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: noPreVote });
    c.preloadLog('a', [1, 1, 2], 2);
    c.preloadLog('b', [1, 1, 2], 2);
    c.preloadLog('c', [1, 1, 1, 1, 1], 1);
    c.elect('a');
    c.propose('a', 'y');
    assert.equal(c.raft('c').lastIndex, c.raft('a').lastIndex);
    assert.equal(c.raft('c').termAt(3), 2);
    // The durable log was truncated and rewritten, not merely shadowed in memory.
    assert.equal(c.node('c').storage.term(3), 2);
    assert.equal(c.node('c').storage.lastIndex(), c.raft('a').lastIndex);
  });
});

describe('§5.4 safety', () => {
  test('§5.4.1 election restriction: a candidate with a stale log loses', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: noPreVote });
    c.elect('a');
    c.isolate('c');
    c.propose('a', 'committed-without-c');
    c.heal();
    c.isolate('a');
    c.campaign('c');
    assert.notEqual(c.raft('c').role, 'leader');
    assert.notEqual(c.raft('b').votedFor, 'c', 'b refused a candidate whose log lacks a committed entry');
    c.elect('b');
    assert.deepEqual(c.node('b').appliedCommands, ['committed-without-c']);
  });

  test('§5.4.2 Figure 8: an old-term entry replicated on a majority is not committed and may be overwritten', () => {
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    // One entry per Append, so the network can let an old entry through and stop the new no-op.
    const c = new TestCluster({ ids, options: { ...noPreVote, appendBatchBytesMax: 1 } });
    c.elect('s1');
    // (a) s1 replicates X only to s2.
    c.cut('s1', 's3');
    c.cut('s1', 's4');
    c.cut('s1', 's5');
    const x = c.propose('s1', 'X');
    assert.equal(c.raft('s2').termAt(x.index), x.term);
    assert.ok(c.raft('s1').commitIndex < x.index);
    // (b) s1 crashes; s5 wins with s3 and s4 and appends its own no-op at X's index, which goes nowhere.
    c.crash('s1');
    c.heal();
    c.filter = (m) => !(m.from === 's5' && m.type === MsgType.Append);
    c.isolate('s2');
    c.elect('s5');
    assert.equal(c.raft('s5').termAt(x.index), c.raft('s5').currentTerm);
    c.crash('s5');
    // (c) s1 restarts, wins (s2, s3), and replicates X to s3 — but not its no-op of the new term.
    c.heal();
    c.restart('s1');
    const noopIndex = x.index + 1;
    c.rewrite = (m) =>
      m.type === MsgType.Append ? { ...m, entries: m.entries.filter((e) => e.index < noopIndex) } : m;
    c.cut('s1', 's4');
    c.elect('s1');
    assert.equal(c.raft('s3').termAt(x.index), x.term, 'X is on s1, s2, s3: a majority');
    assert.ok(c.raft('s1').commitIndex < x.index, 'an entry of an older term is not committed by counting replicas');
    // (d) s1 crashes; s5 restarts and can win (its last term is newer), overwriting X everywhere.
    c.crash('s1');
    c.heal();
    c.restart('s5');
    c.elect('s5');
    c.propose('s5', 'after');
    for (const id of ['s2', 's3', 's4', 's5']) {
      assert.notEqual(c.raft(id).termAt(x.index), x.term, `${id} no longer holds X`);
      assert.ok(!c.node(id).appliedCommands.includes('X'));
      assert.ok(c.node(id).appliedCommands.includes('after'));
    }
  });

  test('§5.4.2 Figure 8 (e): once an entry of the current term is on a majority, X commits and survives', () => {
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    const c = new TestCluster({ ids, options: noPreVote });
    c.elect('s1');
    c.cut('s1', 's3');
    c.cut('s1', 's4');
    c.cut('s1', 's5');
    const x = c.propose('s1', 'X');
    c.crash('s1');
    c.heal();
    c.filter = (m) => !(m.from === 's5' && m.type === MsgType.Append);
    c.isolate('s2');
    c.elect('s5');
    c.crash('s5');
    c.heal();
    c.restart('s1');
    c.cut('s1', 's4');
    c.elect('s1'); // its no-op reaches s2 and s3 now
    assert.ok(c.raft('s1').commitIndex >= x.index + 1);
    c.crash('s1');
    c.heal();
    c.restart('s5');
    for (let i = 0; i < 5; i++) c.campaign('s5');
    assert.notEqual(c.raft('s5').role, 'leader', 's5 cannot win: a majority holds a newer log');
    c.tickAll(50);
    const leader = c.leader();
    assert.ok(leader);
    c.propose(leader, 'later');
    for (const id of ['s2', 's3', 's4', 's5']) assert.deepEqual(c.node(id).appliedCommands, ['X', 'later']);
  });

  test('a partitioned old leader keeps accepting proposals that never commit and are overwritten after heal', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const c = new TestCluster({ ids, options: noPreVote });
    c.elect('a');
    c.propose('a', 'before');
    c.isolate('a');
    c.cut('b', 'c');
    c.cut('b', 'd');
    c.cut('b', 'e');
    // a (with b in the minority) keeps its leadership without check-quorum and accepts writes.
    for (let i = 0; i < 5; i++) {
      const r = c.raft('a').propose(cmd(`lost-${i}`));
      assert.ok(r.ok);
      c.stabilize();
    }
    c.elect('c');
    c.propose('c', 'majority');
    assert.equal(c.raft('a').role, 'leader', 'the old leader does not know yet');
    assert.ok(c.raft('a').commitIndex < c.raft('a').lastIndex);
    c.heal();
    c.tickAll(5);
    for (const id of ids) {
      assert.deepEqual(c.node(id).appliedCommands, ['before', 'majority'], id);
      assert.equal(c.raft(id).leader, 'c');
    }
  });
});

describe('persistence', () => {
  test('restart between persisting a vote and sending it: the restarted node keeps its vote', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: noPreVote });
    c.cut('b', 'c');
    c.raft('b').campaign(); // term 1
    c.round(); // b persists its vote; Vote requests leave only after that
    c.round(); // Vote delivered to a
    const rd = c.persistThenCrash('a');
    assert.ok(rd?.hardState);
    assert.equal(rd.hardState.vote, 'b');
    assert.ok(!rd.messages.some((m) => m.type === MsgType.VoteResponse), 'the grant waits for the vote to be durable');
    c.restart('a');
    assert.equal(c.raft('a').votedFor, 'b');
    assert.equal(c.raft('a').currentTerm, 1);
    c.heal();
    c.cut('b', 'a');
    c.cut('b', 'c');
    c.raft('c').campaign(); // also term 1: a must refuse
    c.stabilize();
    assert.notEqual(c.raft('c').role, 'leader');
  });

  test('a restarted node recovers term, vote, log and commit from storage and rejoins', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.propose('a', 'one');
    c.crash('b');
    c.propose('a', 'two');
    c.restart('b');
    c.tickAll(3);
    assert.deepEqual(c.node('b').appliedCommands, ['one', 'two']);
  });
});

// Goal: regression tests for the Raft-core defects of issue 7, each on the in-test network with
// every safety invariant asserted after every step:
//   item 6  a forwarded ReadIndex answered for an EARLIER incarnation of the follower (same request
//           ctx, delayed in the network) must not satisfy a read made after the restart (§6.4:
//           the read index must be taken after the read began);
//   item 8  persist before send also for the messages of a Ready that changes term or vote
//           (Figure 2: currentTerm and votedFor are updated on stable storage before responding);
//   item 5  a follower that lost entries it acknowledged is brought back without a busy loop, is
//           no longer counted for indexes it does not hold, and the regression is reported.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Progress } from './progress.ts';
import { mutationsFrom } from '../lib/mutations.ts';
import { leaseTicks } from './raft.ts';
import { cmd, TestCluster } from './testing.ts';
import { type Message, MsgType, type ReadIndexMsg, type ReadIndexResponseMsg } from './types.ts';

const ctx = (s: string): Uint8Array => new TextEncoder().encode(s);
const ctxText = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('forwarded reads across a follower restart (issue 7, item 6)', () => {
  /**
   * b forwards read "1" (a driver numbers its reads from 1 in every process); the answer is held
   * in the network. b is cut off while the leader commits more, restarts, and reads "1" again.
   * The old answer then arrives. Returns b's read states right after, and the commit index at the
   * time of the second read (any answer below it is stale).
   */
  function replayOldAnswerAfterRestart(options: { mutationReuseReadIds: boolean }): {
    states: readonly { index: number; ctx: string }[];
    commitAtSecondRead: number;
    c: TestCluster;
    fresh: ReadIndexResponseMsg;
  } {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options });
    c.elect('a');
    c.propose('a', 'v1');
    let held: ReadIndexResponseMsg | undefined;
    let fresh: ReadIndexResponseMsg | undefined;
    c.filter = (m) => {
      if (m.type !== MsgType.ReadIndexResponse || m.to !== 'b') return true;
      held = m;
      return false;
    };
    assert.ok(c.raft('b').readIndex(ctx('1')).ok);
    c.tickAll(1); // the heartbeat round that confirms it
    assert.ok(held, 'the leader answered the first read');
    c.isolate('b'); // b loses heartbeats while the leader commits more
    c.propose('a', 'v2');
    c.propose('a', 'v3');
    c.crash('b');
    c.restart('b');
    c.heal();
    // b hears heartbeats again but its log is held back, and the answer to its new read is held.
    c.filter = (m) => {
      if (m.type === MsgType.ReadIndexResponse && m.to === 'b') fresh = m;
      return !(m.to === 'b' && (m.type === MsgType.Append || m.type === MsgType.ReadIndexResponse));
    };
    c.tickAll(1);
    assert.equal(c.raft('b').leader, 'a');
    const commitAtSecondRead = c.raft('a').commitIndex;
    assert.ok(held.index < commitAtSecondRead, 'the held answer is older than the new writes');
    assert.ok(c.raft('b').readIndex(ctx('1')).ok);
    c.stabilize();
    c.tickAll(1); // the heartbeat round that confirms the new read
    assert.ok(fresh, 'the leader answered the new read');
    c.raft('b').step(held); // the pre-restart answer arrives first
    c.stabilize();
    const states = c.node('b').readStates.map((r) => ({ index: r.index, ctx: ctxText(r.requestCtx) }));
    return { states, commitAtSecondRead, c, fresh };
  }

  test('an answer to a read sent before the restart does not answer the new read', () => {
    const { states, commitAtSecondRead, c, fresh } = replayOldAnswerAfterRestart({ mutationReuseReadIds: false });
    assert.deepEqual(states, [], 'the stale answer was dropped');
    c.raft('b').step(fresh);
    c.heal();
    c.tickAll(2);
    const after = c.node('b').readStates;
    assert.equal(after.length, 1, 'the new read is answered by its own answer');
    assert.ok(after[0]!.index >= commitAtSecondRead, `read index ${after[0]!.index} < ${commitAtSecondRead}`);
  });

  test("the planted mutation 'raft-reuse-read-ids' re-opens it: the stale answer is taken", () => {
    const { states, commitAtSecondRead } = replayOldAnswerAfterRestart({ mutationReuseReadIds: true });
    assert.equal(states.length, 1);
    assert.ok(states[0]!.index < commitAtSecondRead, 'a stale read index: the swarm has something to catch');
  });

  test('a read answer from a node other than the leader it was sent to is dropped', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.propose('a', 'v1');
    let sent: ReadIndexMsg | undefined;
    c.filter = (m) => {
      if (m.type === MsgType.ReadIndex) sent = m;
      return m.type !== MsgType.ReadIndex;
    };
    assert.ok(c.raft('b').readIndex(ctx('r')).ok);
    c.stabilize();
    assert.ok(sent);
    const forged: Message = {
      type: MsgType.ReadIndexResponse,
      from: 'c',
      to: 'b',
      term: c.raft('b').currentTerm,
      index: 0,
      requestCtx: sent.requestCtx,
    };
    c.raft('b').step(forged);
    c.stabilize();
    assert.equal(c.node('b').readStates.length, 0);
    c.raft('b').step({ ...forged, from: 'a', index: c.raft('a').commitIndex });
    c.stabilize();
    assert.equal(c.node('b').readStates.length, 1, 'the leader asked does answer it');
    c.raft('b').step({ ...forged, from: 'a', index: c.raft('a').commitIndex });
    c.stabilize();
    assert.equal(c.node('b').readStates.length, 1, 'a duplicated answer answers nothing more');
  });
});

describe('persist before send when the term or vote changes (issue 7, item 8)', () => {
  test('a single-voter leader sends its first Appends only after its new term is durable', () => {
    const c = new TestCluster({ ids: ['a', 'l'], learners: ['l'] });
    const a = c.raft('a');
    a.campaign();
    assert.ok(a.propose(cmd('first')).ok);
    const rd = a.ready();
    assert.ok(rd?.hardState && rd.hardState.term === 1 && rd.entries.length === 2);
    // Send what the Ready allows in parallel with persisting, then crash before persisting: the
    // leader restarts in term 0, wins term 1 again and writes 'second' at index 2. Had the Append
    // left, the learner would hold 'first' at the same (index 2, term 1): the invariant checks
    // (Log Matching, State Machine Safety) fail the test at once.
    for (const m of rd.messages) c.raft('l').step(m);
    c.filter = (m) => m.from !== 'l'; // the learner's answers (carrying term 1) are lost
    c.crash('a');
    c.restart('a');
    c.stabilize();
    c.campaign('a'); // the same term again (the old one was never durable)
    c.filter = undefined;
    c.propose('a', 'second');
    c.tickAll(2);
    assert.deepEqual(c.node('l').appliedCommands, c.node('a').appliedCommands);
    assert.deepEqual(c.node('a').appliedCommands, ['second']);
  });

  test('a follower that learns a new term from a heartbeat answers only after persisting it', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    const b = c.raft('b');
    b.step({ type: MsgType.Heartbeat, from: 'c', to: 'b', term: b.currentTerm + 1, commit: 0, readSeq: 0 });
    const rd1 = b.ready();
    assert.ok(rd1?.hardState && rd1.hardState.term === b.currentTerm);
    assert.equal(rd1.messages.length, 0, 'the response carries the new term: held');
    c.node('b').storage.setHardState(rd1.hardState);
    b.advance(rd1);
    const rd2 = b.ready();
    assert.ok(rd2?.messages.some((m) => m.type === MsgType.HeartbeatResponse));
  });
});

describe('a follower that lost acknowledged entries (issue 7, item 5)', () => {
  test('Progress: a probe rejected at match is a regression; match and next fall to the hint', () => {
    const pr = new Progress({ next: 11, isLearner: false, inflightCountMax: 4, inflightBytesMax: 1024 });
    pr.maybeUpdate(10); // acknowledged up to 10; probe state, next = 11
    assert.equal(pr.maybeDecrTo(10, 0), 'regressed');
    assert.equal(pr.match, 0, 'nothing the follower holds is known any more: not counted for commit');
    assert.equal(pr.next, 1);
    assert.equal(pr.probeSent, false, 'next dropped: probe again at once');
    assert.equal(pr.maybeDecrTo(10, 0), 'stale', 'a duplicate of the same rejection changes nothing');
    pr.sentEntries(0, 0, 0);
    assert.equal(pr.paused(), true);
    assert.equal(pr.maybeDecrTo(0, 0), 'stale', 'no progress possible: the next probe waits for a heartbeat');
    assert.equal(pr.paused(), true);
  });

  test('Progress: an ordinary rejection above match backs off without touching match', () => {
    const pr = new Progress({ next: 21, isLearner: false, inflightCountMax: 4, inflightBytesMax: 1024 });
    pr.maybeUpdate(5);
    pr.next = 21;
    assert.equal(pr.maybeDecrTo(20, 12), 'backoff');
    assert.equal(pr.match, 5);
    assert.equal(pr.next, 13);
    assert.equal(pr.maybeDecrTo(12, 2), 'backoff');
    assert.equal(pr.next, 6, 'never below match + 1 while the follower holds match');
  });

  test('a wiped follower catches up from the leader without a busy loop, and the leader reports it', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], recordMessages: true });
    c.elect('a');
    for (let i = 0; i < 10; i++) c.propose('a', `v${i}`);
    const acked = c.raft('a').progress('c')!.match;
    assert.equal(acked, c.raft('a').lastIndex);
    c.wipe('c');
    const sentBefore = c.node('a').sentMessages.length + c.node('c').sentMessages.length;
    const ticks = 20;
    c.propose('a', 'after-wipe'); // the Append that finds the hole (old code: stabilize livelocks here)
    c.tickAll(ticks);
    const frames = c.node('a').sentMessages.length + c.node('c').sentMessages.length - sentBefore;
    // Per tick (heartbeatTicks = 1) a sends a heartbeat to b and to c and c answers: 3 frames.
    // Recovery adds a few probes, rejections, the catch-up Append and acknowledgements (about 10
    // here); the old code sent probes and rejections without bound and never went quiet.
    assert.ok(frames <= 3 * ticks + 20, `${frames} frames from a and c in ${ticks} ticks`);
    assert.deepEqual(c.node('c').appliedCommands, c.node('a').appliedCommands);
    assert.equal(c.raft('a').progress('c')!.match, c.raft('a').lastIndex);
    const reported = c.node('a').followerRegressions;
    assert.equal(reported.length, 1, JSON.stringify(reported));
    assert.equal(reported[0]!.follower, 'c');
    assert.equal(reported[0]!.matchIndexBefore, acked);
  });

  test('a wiped follower behind a compacted log gets a snapshot', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    for (let i = 0; i < 10; i++) c.propose('a', `v${i}`);
    c.snapshotAndCompact('a');
    c.wipe('c');
    c.propose('a', 'after-wipe');
    c.tickAll(10);
    assert.deepEqual(c.node('c').appliedCommands, c.node('a').appliedCommands);
    assert.equal(c.node('a').followerRegressions.length, 1);
  });
});

describe('lease reads (issue 7, item 7)', () => {
  const leaseOptions = { readOnly: 'lease' as const };

  /** A lease-mode cluster past the boot guard (a fresh node refuses votes for an election timeout). */
  function leaseCluster(mutations: string[] = []): TestCluster {
    const c = new TestCluster({
      ids: ['a', 'b', 'c'],
      options: { ...leaseOptions, mutations: mutationsFrom(mutations) },
      recordMessages: true,
    });
    for (let i = 0; i < 10; i++) for (const id of ['a', 'b', 'c']) c.tick(id);
    c.elect('a');
    c.propose('a', 'x');
    c.tickAll(1); // a heartbeat round acknowledged by a quorum: the lease starts
    return c;
  }

  /**
   * Asks `id` for a read and reports whether its very next Ready answers it: with no message
   * delivered in between, only a lease (or a single-voter config) can answer that fast.
   */
  function answersAtOnce(c: TestCluster, id: string, tag: string): boolean {
    const before = c.node(id).readStates.length;
    if (!c.raft(id).readIndex(ctx(tag)).ok) return false;
    const rd = c.raft(id).ready();
    if (rd) {
      c.node(id).storage.append(rd.entries);
      if (rd.hardState) c.node(id).storage.setHardState(rd.hardState);
      c.node(id).readStates.push(...rd.readStates);
      c.raft(id).advance(rd);
    }
    return c.node(id).readStates.length > before;
  }

  test('leaseTicks: the lease shrinks with the drift bound, and config that leaves none is refused', () => {
    assert.equal(leaseTicks(10, 0), 9);
    assert.equal(leaseTicks(10, 0.05), 8);
    assert.equal(leaseTicks(10, 0.2), 6);
    assert.throws(
      () => new TestCluster({ ids: ['a'], options: { readOnly: 'lease', heartbeatTicks: 8 } }),
      /must outlast heartbeatTicks/,
    );
    assert.throws(() => new TestCluster({ ids: ['a'], options: { leaseClockDriftRateMax: 0.5 } }), /\[0, 0\.5\)/);
    assert.throws(
      () => new TestCluster({ ids: ['a'], options: { readOnly: 'lease', checkQuorum: false } }),
      /checkQuorum/,
    );
  });

  test('while the lease holds a read is answered with no round trip; an isolated leader loses it', () => {
    const c = leaseCluster();
    assert.ok(answersAtOnce(c, 'a', 'r1'), 'lease read');
    c.isolate('a');
    let at = 0;
    for (let tick = 1; tick <= 10; tick++) {
      c.tick('a');
      if (answersAtOnce(c, 'a', `r${tick}`)) at = tick;
    }
    assert.ok(at > 0 && at < leaseTicks(10, 0.05), `lease reads stopped after tick ${at}`);
  });

  test('an isolated leader serves no lease read once the majority can elect a new leader (perfect clocks)', () => {
    // The old lease was the check-quorum window: the leader served until it noticed the lost
    // quorum (up to two election timeouts), while the others elected a leader after one.
    const c = leaseCluster();
    c.isolate('a');
    for (let tick = 1; tick <= 30; tick++) {
      for (const id of ['a', 'b', 'c']) c.tick(id);
      c.stabilize();
      const other = c.leaders().find((id) => id !== 'a');
      if (other !== undefined) c.propose(other, `w${tick}`);
      const served = c.raft('a').role === 'leader' && answersAtOnce(c, 'a', `t${tick}`);
      assert.ok(!(served && other !== undefined), `tick ${tick}: a served a lease read while ${other} leads`);
    }
    assert.ok(
      c.leaders().some((id) => id !== 'a'),
      'the majority did elect a leader',
    );
  });

  for (const mutation of [undefined, 'raft-lease-kept-on-transfer'] as const) {
    test(`a leader that sent TimeoutNow serves no more lease reads in its term${mutation === undefined ? '' : ` — negative control: ${mutation} serves one`}`, () => {
      const c = leaseCluster(mutation === undefined ? [] : [mutation]);
      c.filter = (m) => m.to !== 'a' || m.type === MsgType.AppendResponse; // a never hears of the new term
      assert.ok(c.raft('a').transferLeadership('b').ok);
      c.stabilize();
      assert.equal(c.raft('b').role, 'leader', 'the transfer campaign passed the followers leases');
      c.propose('b', 'newer');
      assert.equal(c.raft('a').role, 'leader', 'a still believes it leads');
      assert.equal(answersAtOnce(c, 'a', 'stale?'), mutation !== undefined);
    });
  }

  for (const mutation of [undefined, 'raft-lease-from-ack-arrival'] as const) {
    test(`the lease runs from when its heartbeat round was SENT, not from when the acks arrived${mutation === undefined ? '' : ` — negative control: ${mutation} outlives a new leader`}`, () => {
      const c = leaseCluster(mutation === undefined ? [] : [mutation]);
      // One heartbeat round R reaches b and c at t0; their acks are held back. a is then cut off.
      const held: Message[] = [];
      c.filter = (m) => {
        if (m.to === 'a' && m.type === MsgType.HeartbeatResponse) {
          held.push(m);
          return false;
        }
        return true;
      };
      c.tick('a'); // heartbeatTicks = 1: round R
      c.stabilize();
      assert.equal(held.length, 2, 'R reached both followers');
      c.isolate('a');
      // Six ticks later (within the 8-tick lease, so R is still a useful round) the acks reach a.
      for (let i = 0; i < 6; i++) for (const id of ['a', 'b', 'c']) c.tick(id);
      for (const m of held) c.raft('a').step(m);
      // An election timeout (10 ticks) after R, b may win: c's vote guard from R has run out. A
      // lease counted from R's send ended at t0 + 8; one counted from the acks' arrival runs to t0 + 14.
      for (let i = 0; i < 4; i++) for (const id of ['a', 'b', 'c']) c.tick(id);
      c.raft('b').campaign();
      c.stabilize();
      assert.equal(c.raft('b').role, 'leader', 'b leads');
      c.propose('b', 'newer');
      assert.equal(c.raft('a').role, 'leader', 'a still believes it leads');
      assert.equal(answersAtOnce(c, 'a', 'stale?'), mutation !== undefined);
    });
  }

  test('a restarted node refuses (pre-)votes for its first election timeout', () => {
    const c = leaseCluster();
    const term = c.raft('b').currentTerm;
    c.crash('b');
    c.restart('b');
    const vote = (type: typeof MsgType.PreVote | typeof MsgType.Vote) =>
      c.raft('b').step({
        type,
        from: 'c',
        to: 'b',
        term: c.raft('c').currentTerm + 1,
        lastIndex: 100,
        lastTerm: 100,
        transfer: false,
      });
    c.isolate('b');
    vote(MsgType.PreVote);
    vote(MsgType.Vote);
    c.stabilize();
    assert.ok(
      !c
        .node('b')
        .sentMessages.slice(-2)
        .some((m) => m.type === MsgType.VoteResponse || m.type === MsgType.PreVoteResponse),
    );
    assert.equal(c.raft('b').currentTerm, term, 'the requests were ignored');
    c.tick('b', 10);
    vote(MsgType.Vote);
    c.stabilize();
    assert.equal(c.raft('b').votedFor, 'c', 'after an election timeout it votes again');
  });
});

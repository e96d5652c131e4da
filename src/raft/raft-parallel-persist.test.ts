// Goal: the two rules the write path's latency rests on (issue 8, the c=1 gap to etcd), on the
// in-test network with every safety invariant checked after every step:
//   - Raft thesis §10.2.1: a leader may send its new entries to followers BEFORE they are durable
//     on its own disk (the driver sends, then fsyncs), because it counts itself toward commit only
//     once its own write is durable. Followers alone may still form a majority and commit.
//   - Figure 2 (commitIndex is volatile state): a Ready whose hard state only moves the commit
//     index need not be synced; a new term or vote must be.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Ready } from './raft.ts';
import { cmd, TestCluster, type TestNode } from './testing.ts';
import { EntryType, type Message, MsgType } from './types.ts';

/** Persists a Ready into the node's storage (what the driver's fsync makes durable). */
function persist(n: TestNode, rd: Ready): void {
  if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
  if (rd.entries.length > 0) n.storage.append(rd.entries);
  if (rd.hardState) n.storage.setHardState(rd.hardState);
}

/**
 * Runs a node's Readies to quiescence as TestCluster does (persist, apply, advance) but hands its
 * messages back instead of queueing them, so a test can hold one node's Ready outstanding.
 */
function drain(c: TestCluster, id: string): Message[] {
  const out: Message[] = [];
  const n = c.node(id);
  for (let rd = n.raft.ready(); rd !== undefined; rd = n.raft.ready()) {
    persist(n, rd);
    out.push(...rd.messages);
    for (const e of rd.committedEntries) {
      c.invariants.recordApplied(id, e);
      if (e.type === EntryType.Normal) n.appliedCommands.push(new TextDecoder().decode(e.data));
      n.appliedIndex = e.index;
    }
    n.raft.advance(rd);
    c.observe();
  }
  return out;
}

/** Delivers `m` to its target and checks every invariant. */
function deliver(c: TestCluster, m: Message): void {
  c.raft(m.to).step(m);
  c.observe();
}

describe('the leader sends its entries before they are durable on its own disk (§10.2.1)', () => {
  test('it does not count itself toward commit until its own write is durable', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    const a = c.raft('a');
    assert.ok(a.propose(cmd('x')).ok);
    const index = a.lastIndex;
    const rd = a.ready();
    assert.ok(rd?.mustSync && rd.entries.some((e) => e.index === index));
    const toB = rd.messages.find((m) => m.type === MsgType.Append && m.to === 'b');
    assert.ok(toB, "the leader's Append may leave in the Ready that persists the entry");
    // b persists and acknowledges while a's own fsync is still running; c hears nothing.
    deliver(c, toB);
    for (const m of drain(c, 'b')) if (m.to === 'a') deliver(c, m);
    assert.ok(a.commitIndex < index, 'leader (not durable) + b = 1 of 3 durable copies: not committed');
    persist(c.node('a'), rd);
    a.advance(rd);
    c.observe();
    assert.ok(a.commitIndex >= index, 'a durable on a and b: committed');
  });

  test('two followers commit an entry the leader never persisted; it survives the leader crashing', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    const a = c.raft('a');
    assert.ok(a.propose(cmd('x')).ok);
    const index = a.lastIndex;
    const rd = a.ready();
    assert.ok(rd);
    for (const m of rd.messages) if (m.type === MsgType.Append) deliver(c, m);
    for (const id of ['b', 'c']) for (const m of drain(c, id)) if (m.to === 'a') deliver(c, m);
    assert.ok(a.commitIndex >= index, 'b and c hold it durably: a majority');
    // a crashes before its own write of the entry is durable: its restarted log lacks it.
    c.crash('a');
    c.restart('a');
    assert.ok(c.raft('a').lastIndex < index);
    c.elect('b');
    c.propose('b', 'y');
    for (const id of ['a', 'b', 'c']) assert.deepEqual(c.node(id).appliedCommands, ['x', 'y'], id);
  });
});

describe('only a new term or vote makes a hard state need a sync (Figure 2: commitIndex is volatile)', () => {
  test('a follower learning a higher commit index writes it without a sync', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'] });
    c.elect('a');
    c.propose('a', 'x');
    const b = c.raft('b');
    const commit = b.commitIndex;
    // A heartbeat carries the leader's commit only up to what b holds; move b's commit by hand
    // through the next Append: a's next entry, then the commit that covers it.
    assert.ok(c.raft('a').propose(cmd('y')).ok);
    const rd = c.raft('a').ready();
    assert.ok(rd);
    persist(c.node('a'), rd);
    c.raft('a').advance(rd);
    for (const m of rd.messages) if (m.type === MsgType.Append && m.to === 'b') deliver(c, m);
    drain(c, 'b');
    const beat: Message = {
      type: MsgType.Heartbeat,
      from: 'a',
      to: 'b',
      term: b.currentTerm,
      commit: b.lastIndex,
      readSeq: 0,
    };
    assert.ok(b.lastIndex > commit);
    deliver(c, beat);
    const commitOnly = b.ready();
    assert.ok(commitOnly?.hardState && commitOnly.hardState.commit === b.lastIndex);
    assert.equal(commitOnly.entries.length, 0);
    assert.equal(commitOnly.mustSync, false, 'only the commit index moved: no fsync');
    b.advance(commitOnly);
  });

  test('a vote must be synced', () => {
    const c = new TestCluster({ ids: ['a', 'b', 'c'], options: { preVote: false, checkQuorum: false } });
    c.elect('a');
    const b = c.raft('b');
    const term = b.currentTerm + 1;
    const lastTerm = b.termAt(b.lastIndex) ?? 0;
    b.step({ type: MsgType.Vote, from: 'c', to: 'b', term, lastIndex: b.lastIndex, lastTerm, transfer: false });
    const rd = b.ready();
    assert.ok(rd?.hardState && rd.hardState.term === term);
    assert.equal(rd.mustSync, true);
  });
});

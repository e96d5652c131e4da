// Goal: the per-key Paxos (paxos.ts) is linearizable — the project's checker (src/check, the
// cas-register model) says `valid` on histories of concurrent proposers on one key under random
// delivery order, drops, duplicates, acceptor crashes that lose unsynced state, and proposer crashes;
// and the checker catches the planted bugs (a promise not synced before its reply; a proposer that
// ignores accepted-but-uncommitted values) as `invalid`. Example tests pin the rules one by one:
// promise/accept ordering, finishing a proposal in progress, quorum with pending replicas,
// definite vs indefinite outcomes, ballots unique and increasing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLinearizable } from '../check/linearizability.ts';
import { casRegisterModel } from '../check/models/register.ts';
import { mutationsFrom } from '../lib/mutations.ts';
import { SeededRng } from '../lib/rng.ts';
import {
  BALLOT_ZERO,
  BallotGenerator,
  compareBallots,
  isUnknownHere,
  type PaxosOperation,
  type PaxosOutgoing,
  PaxosAcceptor,
  PaxosProposer,
  PaxosRecovery,
  type PaxosReply,
  paxosQuorum,
} from './paxos.ts';
import { type PaxosNetOptions, type PaxosNetResult, runPaxosNet } from './paxos-testing.ts';
import { MemoryReplicaStore } from './store.ts';

const utf8 = new TextEncoder();
const text = new TextDecoder();
const KEY = utf8.encode('k');
const model = casRegisterModel({ initial: null, nilReadUnknown: false });

function verdictOf(options: PaxosNetOptions): {
  verdict: string;
  reason: string | undefined;
  stats: PaxosNetResult['stats'];
} {
  const run = runPaxosNet(options);
  const result = checkLinearizable(run.history, model, { timeBudgetMs: 5_000, now: () => performance.now() });
  return { verdict: result.verdict, reason: result.reason, stats: run.stats };
}

const faulty: Omit<PaxosNetOptions, 'seed'> = {
  nodes: 3,
  clients: 5,
  opsCount: 50,
  valuesCount: 2,
  dropRate: 0.1,
  duplicateRate: 0.1,
  crashRate: 0.02,
  midStepCrashRate: 0.05,
  crashAfterReplyRate: 0.05,
  proposerCrashRate: 0.0003,
};

test('histories are linearizable (valid, not unknown) on many seeds, under drops, duplicates and crashes', () => {
  let okOps = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = verdictOf({ ...faulty, seed, nodes: seed % 2 === 0 ? 5 : 3 });
    assert.equal(r.verdict, 'valid', `seed ${seed}: ${r.verdict} ${r.reason ?? ''} ${JSON.stringify(r.stats)}`);
    okOps += r.stats.ok;
  }
  assert.ok(okOps > 60 * 30, `most operations completed (${okOps} of ${60 * 50})`);
});

test('liveness: without faults every operation of concurrent proposers completes (retries end contention)', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const r = verdictOf({ seed, nodes: 5, clients: 5, opsCount: 50 });
    assert.equal(r.verdict, 'valid');
    assert.deepEqual([r.stats.ok, r.stats.fail, r.stats.info], [50, 0, 0], `seed ${seed}`);
  }
});

test('with pending replicas (a ring move) histories stay linearizable', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const r = verdictOf({ ...faulty, seed, nodes: 4, pending: 1 });
    assert.equal(r.verdict, 'valid', `seed ${seed}: ${r.reason ?? ''}`);
  }
});

function firstInvalidSeed(options: Omit<PaxosNetOptions, 'seed'>, seedsMax: number): number | undefined {
  for (let seed = 1; seed <= seedsMax; seed++) {
    if (verdictOf({ ...options, seed }).verdict === 'invalid') return seed;
  }
  return undefined;
}

test('negative control: a promise not synced before its reply is caught as invalid', () => {
  const seed = firstInvalidSeed(
    { ...faulty, crashAfterReplyRate: 0.3, mutations: mutationsFrom(['paxos-promise-unsynced']) },
    200,
  );
  assert.ok(seed !== undefined, 'no seed caught the unsynced promise');
});

test('negative control: a proposer that ignores accepted values is caught as invalid', () => {
  const seed = firstInvalidSeed({ ...faulty, mutations: mutationsFrom(['paxos-ignore-accepted']) }, 200);
  assert.ok(seed !== undefined, 'no seed caught the ignored accepted value');
});

// A node the operator wiped rejoins with nothing: its acceptor forgot the promises and accepted
// values its peers counted on (the store's swarm found it: docs/SWARM.md). It answers for a key
// only after a PaxosRecovery learned the key's state from the other replicas.
const wiping: Omit<PaxosNetOptions, 'seed'> = { ...faulty, wipeRate: 0.0005 };

test('after wipes (a node loses everything and rejoins amnesiac) histories stay linearizable', () => {
  let wipes = 0;
  let recovered = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = verdictOf({ ...wiping, seed, nodes: seed % 2 === 0 ? 5 : 3 });
    assert.equal(r.verdict, 'valid', `seed ${seed}: ${r.verdict} ${r.reason ?? ''} ${JSON.stringify(r.stats)}`);
    wipes += r.stats.wipes;
    recovered += r.stats.recovered;
  }
  assert.ok(wipes > 100 && recovered > 100, `wipes happened and were recovered from (${wipes}, ${recovered})`);
});

test('negative control: a wiped acceptor that answers at once (no recovery) is caught as invalid', () => {
  const seed = firstInvalidSeed({ ...wiping, mutations: mutationsFrom(['paxos-amnesia-trusted']) }, 100);
  assert.ok(seed !== undefined, 'no seed caught the amnesiac acceptor');
});

// --- examples ---------------------------------------------------------------------------------

/** A hand-driven cluster: messages are delivered only when a test says so. */
class Hand {
  readonly stores = new Map<string, MemoryReplicaStore>();
  readonly acceptors = new Map<string, PaxosAcceptor>();
  readonly rng = new SeededRng('hand');
  readonly ballots = new Map<string, BallotGenerator>();
  nowMs = 100;
  constructor(readonly ids: readonly string[]) {
    for (const id of ids) {
      const store = new MemoryReplicaStore();
      this.stores.set(id, store);
      this.acceptors.set(id, new PaxosAcceptor(store));
      this.ballots.set(id, new BallotGenerator(id));
    }
  }
  proposer(node: string, op: number, operation: PaxosOperation, replicas = this.ids, pending: string[] = []) {
    return new PaxosProposer(
      { node, op, key: KEY, operation, replicas, pending, timeoutTicks: 10, backoffTicksMax: 2 },
      { rng: this.rng, nowMs: () => this.nowMs, ballots: this.ballots.get(node)! },
    );
  }
  /** Delivers `out` to the acceptors in `to` only, and returns their replies. */
  deliver(out: readonly PaxosOutgoing[], to: readonly string[]): Array<{ from: string; reply: PaxosReply }> {
    const replies: Array<{ from: string; reply: PaxosReply }> = [];
    for (const o of out) {
      if (!to.includes(o.to)) continue;
      const r = this.acceptors.get(o.to)!.receive(o.message);
      if (r.syncNeeded) this.stores.get(o.to)!.sync();
      if (r.reply !== null) replies.push({ from: o.to, reply: r.reply });
    }
    return replies;
  }
  /** Node `id` loses its data and restarts: its acceptor is amnesiac (a fresh generator, as a new process has). */
  wipe(id: string, options: { amnesiac: boolean } = { amnesiac: true }): void {
    const store = new MemoryReplicaStore();
    this.stores.set(id, store);
    this.acceptors.set(id, new PaxosAcceptor(store, undefined, options));
    this.ballots.set(id, new BallotGenerator(id));
  }
  /** Runs node `id`'s recovery of the key with every message delivered to `to`; learns and syncs its outcome. */
  recover(id: string, op: number, to: readonly string[], marginMs?: number, pending: string[] = []) {
    const r = new PaxosRecovery(
      {
        node: id,
        op,
        key: KEY,
        replicas: this.ids,
        pending,
        timeoutTicks: 10,
        backoffTicksMax: 2,
        ...(marginMs === undefined ? {} : { marginMs }),
      },
      { rng: this.rng, nowMs: () => this.nowMs },
    );
    let out = r.start();
    for (let i = 0; i < 100 && !r.done; i++) {
      const next: PaxosOutgoing[] = [];
      for (const { from, reply } of this.deliver(out, to)) next.push(...r.receive(from, reply));
      next.push(...r.tick());
      out = next;
    }
    if (r.outcome?.ok) {
      this.acceptors.get(id)!.learn(KEY, r.outcome.state);
      this.stores.get(id)!.sync();
    }
    return r;
  }
  /** Runs `p` with every message delivered to `to` at once; returns its outcome. */
  run(p: PaxosProposer, to: readonly string[]) {
    let out = p.start();
    for (let i = 0; i < 100 && !p.done; i++) {
      const next: PaxosOutgoing[] = [];
      for (const { from, reply } of this.deliver(out, to)) next.push(...p.receive(from, reply));
      next.push(...p.tick());
      out = next;
    }
    return p.outcome;
  }
}

const v = (s: string) => utf8.encode(s);
const current = (o: ReturnType<Hand['run']>) => (o?.ok ? (o.current === null ? null : text.decode(o.current)) : o);

test('insert-if-not-exists applies once; update-if-equal compares; a read sees the result', () => {
  const h = new Hand(['a', 'b', 'c']);
  const all = ['a', 'b', 'c'];
  const first = h.run(h.proposer('a', 1, { kind: 'cas', expected: null, value: v('x') }), all);
  assert.deepEqual(first?.ok && [first.applied, current(first)], [true, 'x']);
  const second = h.run(h.proposer('b', 2, { kind: 'cas', expected: null, value: v('y') }), all);
  assert.deepEqual(
    second?.ok && [second.applied, current(second)],
    [false, 'x'],
    'not applied, with the current value',
  );
  const update = h.run(h.proposer('c', 3, { kind: 'cas', expected: v('x'), value: v('z') }), ['b', 'c']);
  assert.deepEqual(update?.ok && [update.applied, current(update)], [true, 'z'], 'a quorum of 2 of 3 suffices');
  assert.equal(current(h.run(h.proposer('a', 4, { kind: 'read' }), ['a', 'b'])), 'z');
});

test('a read finishes a proposal accepted by a minority only (it is never lost afterwards)', () => {
  const h = new Hand(['a', 'b', 'c']);
  const w = h.proposer('a', 1, { kind: 'write', value: v('w') });
  const proposes: PaxosOutgoing[] = [];
  for (const { from, reply } of h.deliver(w.start(), ['a', 'b', 'c'])) proposes.push(...w.receive(from, reply));
  assert.equal(proposes.length, 3);
  h.deliver(proposes, ['a']); // accepted by a alone; b and c never see the propose
  assert.equal(w.done, false);
  const read = h.run(h.proposer('b', 2, { kind: 'read' }), ['a', 'b']);
  assert.equal(current(read), 'w', 'the in-progress value is the current value once seen');
  const later = h.run(h.proposer('c', 3, { kind: 'read' }), ['b', 'c']);
  assert.equal(current(later), 'w', 'a quorum without a still returns it: the read re-accepted it');
  // Another write lands on top: the chain now lists the first write's origin under the new one.
  const over = h.run(h.proposer('b', 4, { kind: 'write', value: v('o') }), ['b', 'c']);
  assert.ok(over?.ok && over.applied);
  // The writer's late proposes are refused (b and c promised the reads' ballots); its retry
  // finds its origin in the current version's chain and reports it applied (once: the value stays o).
  for (const { from, reply } of h.deliver(proposes, ['b', 'c'])) assert.deepEqual(w.receive(from, reply), []);
  for (let i = 0; i < 30 && !w.done; i++) {
    let out = w.tick();
    while (out.length > 0) {
      const next: PaxosOutgoing[] = [];
      for (const { from, reply } of h.deliver(out, ['a', 'b', 'c'])) next.push(...w.receive(from, reply));
      out = next;
    }
  }
  assert.ok(w.outcome?.ok && w.outcome.applied, JSON.stringify(w.outcome));
  assert.equal(current(h.run(h.proposer('c', 5, { kind: 'read' }), ['a', 'c'])), 'o');
});

test('a wiped acceptor answers nothing for a key until it learned it from the others (its lost accept is kept)', () => {
  const h = new Hand(['a', 'b', 'c']);
  const w = h.run(h.proposer('a', 1, { kind: 'write', value: v('w') }), ['a', 'b']);
  assert.ok(w?.ok && w.applied, 'chosen by a and b; c never heard of it');
  h.wipe('a');
  const silent = h.acceptors
    .get('a')!
    .receive({ type: 'prepare', op: 9, key: KEY, ballot: { ms: 1e6, rand: 0, node: 'c' } });
  assert.ok(silent.reply !== null && isUnknownHere(silent.reply), 'answered: unknown here, not a promise');
  assert.deepEqual([silent.recover, silent.syncNeeded], [true, false], 'recover, nothing to sync');
  assert.equal(h.stores.get('a')!.dirty, false, 'nothing written for an unknown key');
  // Without b, the recovery cannot finish: c alone could have missed what a's lost vote chose.
  const stuck = h.recover('a', 10, ['c']);
  assert.equal(stuck.neededCount, 2);
  assert.ok(stuck.outcome !== undefined && !stuck.outcome.ok, 'times out');
  assert.equal(h.acceptors.get('a')!.knows(KEY), false);
  const done = h.recover('a', 11, ['b', 'c']);
  assert.ok(done.outcome?.ok, 'learned from b and c');
  assert.equal(
    current(h.run(h.proposer('c', 12, { kind: 'read' }), ['a', 'c'])),
    'w',
    'a quorum of a and c still has w',
  );
});

test('negative control: a wiped acceptor trusted at once loses the value its lost vote chose', () => {
  const h = new Hand(['a', 'b', 'c']);
  assert.ok(h.run(h.proposer('a', 1, { kind: 'write', value: v('w') }), ['a', 'b'])?.ok);
  h.wipe('a', { amnesiac: false });
  assert.equal(current(h.run(h.proposer('c', 2, { kind: 'read' }), ['a', 'c'])), null, 'the write is lost');
});

test('two wiped replicas of a key learn it from what is left: each answers the other unknown (no deadlock)', () => {
  const h = new Hand(['a', 'b', 'c']);
  assert.ok(h.run(h.proposer('c', 1, { kind: 'write', value: v('w') }), ['a', 'c'])?.ok);
  h.wipe('a');
  h.wipe('b');
  // a asks b and c: b forgot too (unknown here), c knows; every other replica answered.
  const first = h.recover('a', 2, ['b', 'c']);
  assert.ok(first.outcome?.ok, 'a learned from c, b having answered unknown');
  const second = h.recover('b', 3, ['a', 'c']);
  assert.ok(second.outcome?.ok, 'b learned from a and c');
  assert.equal(current(h.run(h.proposer('a', 4, { kind: 'read' }), ['a', 'b'])), 'w', 'c kept it; both learned it');
  // Without c's answer neither may finish: c could hold what both forgot.
  const h2 = new Hand(['a', 'b', 'c']);
  h2.wipe('a');
  h2.wipe('b');
  assert.ok(!h2.recover('a', 5, ['b']).outcome?.ok, 'b alone (unknown) is not every other replica');
});

test('a recovery counts natural replicas only: a pending one does not stand in for a natural one', () => {
  // v is chosen by a and b under a view without d; a's view has d pending when a is wiped.
  const h = new Hand(['a', 'b', 'c', 'd']);
  const ids = ['a', 'b', 'c'];
  assert.ok(h.run(h.proposer('a', 1, { kind: 'write', value: v('v') }, ids), ['a', 'b'])?.ok);
  h.wipe('a');
  const q = new Hand(['a', 'b', 'c']);
  const r = new PaxosRecovery(
    { node: 'a', op: 2, key: KEY, replicas: ids, pending: ['d'], timeoutTicks: 10, backoffTicksMax: 2 },
    { rng: q.rng, nowMs: () => h.nowMs },
  );
  assert.equal(r.neededCount, 2, 'N - floor(N / 2) natural replicas besides a: b and c');
  let out = r.start();
  assert.deepEqual(out.map((o) => o.to).sort(), ['b', 'c', 'd'], 'asks every other participant');
  for (let i = 0; i < 20 && !r.done; i++) {
    const next: PaxosOutgoing[] = [];
    for (const { from, reply } of h.deliver(out, ['c', 'd'])) next.push(...r.receive(from, reply));
    next.push(...r.tick());
    out = next;
  }
  assert.ok(r.outcome !== undefined && !r.outcome.ok, 'c and d (pending) are not enough: b may hold what a lost');
});

test('a proposer that meets a learning acceptor goes on without it, or retries once it cannot win (N = 2)', () => {
  const h = new Hand(['a', 'b']);
  assert.ok(h.run(h.proposer('a', 1, { kind: 'write', value: v('w') }), ['a', 'b'])?.ok);
  h.wipe('a');
  const p = h.proposer('b', 2, { kind: 'read' });
  let out = p.start();
  const answers = h.deliver(out, ['a', 'b']);
  out = answers.flatMap(({ from, reply }) => p.receive(from, reply));
  assert.deepEqual(out, [], 'the round is lost at once (a cannot answer, b alone is no quorum): no timeout');
  assert.ok(h.recover('a', 3, ['b']).outcome?.ok, 'a learns from b');
  for (let i = 0; i < 30 && !p.done; i++) {
    let wave = p.tick();
    while (wave.length > 0) {
      const replies = h.deliver(wave, ['a', 'b']);
      wave = replies.flatMap(({ from, reply }) => p.receive(from, reply));
    }
  }
  assert.equal(current(p.outcome), 'w', 'the retry, above the recovery ballot, reads the write');
});

test('a recovered acceptor keeps the promises it lost: its ballot is above them (clock + margin, refusals)', () => {
  const h = new Hand(['a', 'b', 'c']);
  // p prepares at a and b, then a is wiped; p's proposal must not be accepted after a lower ballot chose.
  const p = h.proposer('c', 1, { kind: 'write', value: v('p') });
  const promises = h.deliver(p.start(), ['a', 'b']);
  h.wipe('a');
  const r = h.recover('a', 2, ['b', 'c'], 0);
  assert.ok(r.outcome?.ok);
  // b promised p's ballot (at the same clock reading): the recovery's ballot is above it.
  assert.ok(compareBallots(r.outcome.state.promised, p.currentBallot) > 0, 'above the promise b reported');
  const proposes: PaxosOutgoing[] = [];
  for (const { from, reply } of promises) proposes.push(...p.receive(from, reply));
  assert.equal(proposes.length, 3, 'p has its quorum of promises (a before the wipe, b)');
  const answers = h.deliver(proposes, ['a', 'b', 'c']);
  assert.ok(
    answers.every(({ reply }) => reply.type === 'accept' && !reply.ok),
    'every acceptor refuses p now (a, b and c promised the recovery ballot)',
  );
  // The margin: with nothing to learn from refusals, the ballot is this node's clock + margin.
  const q = new Hand(['a', 'b', 'c']);
  q.wipe('a');
  const m = q.recover('a', 3, ['b', 'c'], 5_000);
  assert.ok(m.outcome?.ok && m.outcome.state.promised.ms >= q.nowMs + 5_000, 'clock + margin');
});

test('an acceptor refuses ballots below its promise, grants a duplicate of the same ballot, persists before replying', () => {
  const store = new MemoryReplicaStore();
  const acc = new PaxosAcceptor(store);
  const b1 = { ms: 5, rand: 1, node: 'a' };
  const b2 = { ms: 6, rand: 0, node: 'b' };
  const p2 = acc.receive({ type: 'prepare', op: 1, key: KEY, ballot: b2 });
  assert.ok(p2.reply?.type === 'promise' && p2.reply.ok && p2.syncNeeded);
  assert.ok(store.dirty, 'the promise is written before the driver syncs');
  store.sync();
  const again = acc.receive({ type: 'prepare', op: 1, key: KEY, ballot: b2 });
  assert.ok(again.reply?.type === 'promise' && again.reply.ok && !again.syncNeeded, 'a duplicate changes nothing');
  const low = acc.receive({ type: 'propose', op: 2, key: KEY, ballot: b1, origin: b1, recent: [], value: v('x') });
  assert.ok(low.reply?.type === 'accept' && !low.reply.ok && compareBallots(low.reply.promised, b2) === 0);
  store.crash();
  const after = new PaxosAcceptor(store).receive({ type: 'prepare', op: 3, key: KEY, ballot: b1 });
  assert.ok(after.reply?.type === 'promise' && !after.reply.ok, 'a synced promise survives a crash');
  // A commit raises the most recent commit once and says so (the driver applies it to the data).
  const c = acc.receive({ type: 'commit', op: 4, key: KEY, ballot: b2, origin: b2, recent: [], value: v('y') });
  assert.ok(c.committed !== undefined && c.syncNeeded);
  assert.equal(
    acc.receive({ type: 'commit', op: 4, key: KEY, ballot: b1, origin: b1, recent: [], value: v('z') }).committed,
    undefined,
  );
});

test('quorum counts a majority of natural replicas plus every pending replica', () => {
  assert.deepEqual(paxosQuorum(['a', 'b', 'c'], []).required, 2);
  assert.deepEqual(paxosQuorum(['a', 'b', 'c'], ['d']).required, 3);
  assert.deepEqual(paxosQuorum(['a', 'b', 'c', 'd'], ['e', 'f']).required, 5);
  assert.deepEqual(paxosQuorum(['a', 'b', 'c'], ['c']).participants, ['a', 'b', 'c'], 'a node counts once');
  // With a pending replica, 2 of the 3 natural ones are not enough.
  const h = new Hand(['a', 'b', 'c', 'd']);
  const p = h.proposer('a', 1, { kind: 'write', value: v('x') }, ['a', 'b', 'c'], ['d']);
  const o = h.run(p, ['a', 'b']);
  assert.ok(o !== undefined && !o.ok && o.error.code === 'timeout' && o.error.definite, String(o));
  assert.ok(h.run(h.proposer('b', 2, { kind: 'write', value: v('x') }, ['a', 'b', 'c'], ['d']), ['a', 'b', 'd'])?.ok);
});

test('outcomes: definite before a changing proposal was sent, indefinite after; unavailable at once', () => {
  const h = new Hand(['a', 'b', 'c']);
  const noQuorum = h.run(h.proposer('a', 1, { kind: 'write', value: v('x') }), ['a']);
  assert.ok(noQuorum !== undefined && !noQuorum.ok && noQuorum.error.definite, 'only prepares were sent');
  const w = h.proposer('a', 2, { kind: 'write', value: v('y') });
  const proposes: PaxosOutgoing[] = [];
  for (const { from, reply } of h.deliver(w.start(), ['a', 'b'])) proposes.push(...w.receive(from, reply));
  h.deliver(proposes, ['a']);
  for (let i = 0; i < 20 && !w.done; i++) w.tick();
  assert.ok(w.outcome !== undefined && !w.outcome.ok && w.outcome.error.code === 'timeout');
  assert.equal(w.outcome.error.definite, false, 'a proposal of y reached an acceptor');
  const down = new PaxosProposer(
    {
      node: 'a',
      op: 3,
      key: KEY,
      operation: { kind: 'read' },
      replicas: ['a', 'b', 'c'],
      pending: [],
      timeoutTicks: 5,
      backoffTicksMax: 1,
    },
    { rng: h.rng, nowMs: () => 0, ballots: new BallotGenerator('a'), isUp: (n) => n === 'a' },
  );
  assert.deepEqual(down.start(), []);
  assert.ok(down.outcome !== undefined && !down.outcome.ok && down.outcome.error.code === 'replicas_unavailable');
});

test('ballots are unique and increasing per node, and above any ballot a rejection named', () => {
  const rng = new SeededRng(7);
  const g = new BallotGenerator('n1');
  let last = BALLOT_ZERO;
  for (let i = 0; i < 1000; i++) {
    const b = g.next(i % 3 === 0 ? 50 : 10, rng); // the clock stalls and steps back
    assert.ok(compareBallots(b, last) > 0);
    last = b;
  }
  const above = { ms: 10_000, rand: 2 ** 32 - 1, node: 'zz' };
  assert.ok(compareBallots(g.next(0, rng, above), above) > 0);
  assert.ok(compareBallots(new BallotGenerator('n2').next(5, rng), new BallotGenerator('n1').next(5, rng)) !== 0);
});

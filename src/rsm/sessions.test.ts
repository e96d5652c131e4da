// Goal: the one session table every namespace shares is exactly-once (Raft dissertation §6.3):
// a retry of the last (session, seq) returns the cached result without executing again, older
// seqs are stale, unknown or expired sessions are refused and never executed; expiry follows log
// time only; one address cannot evict other clients' sessions; and a new leader (a higher term in
// the stamp) grants every live session a full timeout before any expires (ZooKeeper's rule).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Namespace } from './namespace.ts';
import type { SessionOptions } from './sessions.ts';
import { ReplicatedStateMachine } from './state-machine.ts';
import { COUNTER_ID, CounterNamespace, type Stamp, TestLog } from './testing.ts';

const opts = (o: Partial<SessionOptions> = {}): SessionOptions => ({
  sessionsMax: 10,
  sessionsPerClientMax: 1e9,
  sessionTimeoutMs: 1e9,
  bytesMax: 1e9,
  ...o,
});

function setup(o: Partial<SessionOptions> = {}, extra: Namespace[] = []) {
  const sm = new ReplicatedStateMachine({ sessions: opts(o) });
  const counter = new CounterNamespace();
  sm.register(counter);
  for (const ns of extra) sm.register(ns);
  const log = new TestLog(sm);
  const add = (sessionId: number, seq: number, n: number, stamp: Stamp = {}, ns = counter) =>
    CounterNamespace.totalOf(log.submit({ namespace: ns.id, sessionId, seq, payload: CounterNamespace.add(n) }, stamp));
  const register = (stamp: Stamp = {}, address = ''): number => {
    const id = log.register(stamp, address);
    assert.equal(typeof id, 'number', `registered (${id})`);
    return id as number;
  };
  return { sm, log, counter, add, register };
}

test('a retried request is not executed twice and returns the first result; older seqs are stale', () => {
  const { counter, add, register } = setup();
  const s = register();
  assert.equal(add(s, 1, 5), 5);
  assert.equal(add(0, 0, 100), 105, 'another client moves the counter');
  assert.equal(add(s, 1, 5), 5, 'the retry answers the cached result');
  assert.equal(counter.total, 105, 'and did not execute again');
  assert.equal(add(s, 2, 1), 106);
  assert.equal(add(s, 1, 5), 'stale_sequence');
  assert.equal(add(12345, 1, 1), 'session_expired', 'an unknown session is refused, not executed');
  assert.equal(counter.total, 106);
});

test('one session is shared by every namespace: seq orders requests across namespaces', () => {
  const other = new CounterNamespace('other', 91);
  const { counter, add, register } = setup({}, [other]);
  const s = register();
  assert.equal(add(s, 1, 1, {}, counter), 1);
  assert.equal(add(s, 2, 7, {}, other), 7);
  assert.equal(add(s, 1, 1, {}, counter), 'stale_sequence', 'seq 1 is older than the session last seq 2');
  assert.equal(add(s, 2, 7, {}, other), 7, 'the retry is answered from the shared table');
  assert.equal(other.total, 7);
});

test('session 0 executes every time (no deduplication); gaps in indexes are allowed', () => {
  const { sm, log, add } = setup();
  assert.equal(add(0, 1, 1), 1);
  assert.equal(add(0, 1, 1), 2, 'the same (session 0, seq 1) executed twice');
  log.index += 5; // Raft no-ops and config changes the state machine never sees
  assert.equal(add(0, 1, 1), 3);
  assert.throws(() => sm.apply(log.index, new Uint8Array(0)), /in order/);
});

test('sessions expire by log time only, and an expired session is refused', () => {
  const { counter, add, register } = setup({ sessionTimeoutMs: 1_000 });
  const s = register({ atMs: 0 });
  assert.equal(add(s, 1, 1, { atMs: 500 }), 1);
  const other = register({ atMs: 1_400 }); // s idle 900 ms: alive
  assert.equal(add(s, 2, 1, { atMs: 1_450 }), 2);
  add(other, 1, 0, { atMs: 2_500 }); // log time moves: s idle 1050 ms
  assert.equal(add(s, 3, 1, { atMs: 2_500 }), 'session_expired');
  assert.equal(counter.total, 2);
});

test('a used session moves behind the others: expiry goes by last use, not by registration', () => {
  const { counter, add, register } = setup({ sessionTimeoutMs: 1_000 });
  const a = register({ atMs: 0 });
  const b = register({ atMs: 100 });
  add(a, 1, 1, { atMs: 500 }); // a is now the most recently used
  add(0, 0, 0, { atMs: 1_150 }); // b idle 1_050: expires; a idle 650: stays
  assert.deepEqual(
    counter.closed.map((c) => c.sessionId),
    [b],
  );
  assert.equal(add(a, 2, 1, { atMs: 1_200 }), 2);
  add(0, 0, 0, { atMs: 2_250 }); // a idle 1_050
  assert.deepEqual(
    counter.closed.map((c) => c.sessionId),
    [b, a],
  );
});

test('log time is the largest stamp applied, never backwards', () => {
  const { sm, add } = setup();
  add(0, 0, 0, { atMs: 5_000 });
  assert.equal(sm.logTimeMs, 5_000);
  add(0, 0, 0, { atMs: 4_000 });
  assert.equal(sm.logTimeMs, 5_000);
});

test('beyond sessionsMax the least recently used session is evicted, and namespaces are told', () => {
  const { sm, counter, add, register } = setup({ sessionsMax: 2 });
  const a = register();
  const b = register();
  add(a, 1, 1);
  register(); // evicts b, the least recently used
  assert.equal(sm.sessionCount, 2);
  assert.equal(add(a, 2, 1), 2);
  assert.equal(add(b, 1, 1), 'session_expired');
  assert.deepEqual(counter.closed, [{ sessionId: b, index: 4 }]);
});

test('expiry and unregister reach every namespace in log order', () => {
  const { log, counter, add, register } = setup({ sessionTimeoutMs: 1_000 });
  const a = register({ atMs: 0 });
  const b = register({ atMs: 0 });
  log.unregister(b, { atMs: 10 });
  add(0, 0, 0, { atMs: 2_000 }); // a expires here, at index 4
  assert.deepEqual(counter.closed, [
    { sessionId: b, index: 3 },
    { sessionId: a, index: 4 },
  ]);
});

// Issue 7 item 9: one client flooding registrations used to evict every other client's session
// (least recently used first). Now one address holds at most sessionsPerClientMax sessions.
test('a registration flood from one address is refused and evicts nobody else; the count survives a snapshot', () => {
  const { sm, log, add, register } = setup({ sessionsMax: 4, sessionsPerClientMax: 2 });
  const mine = register({}, '10.0.0.1');
  const answers = Array.from({ length: 10 }, () => log.register({}, '10.6.6.6'));
  const refusals = answers.filter((a) => typeof a === 'string');
  assert.equal(refusals.length, 8, 'two sessions granted, the rest refused');
  assert.ok(refusals.every((c) => c === 'too_many_sessions'));
  assert.equal(add(mine, 1, 1), 1, 'the other client keeps its session');
  const copy = new ReplicatedStateMachine({ sessions: opts({ sessionsMax: 4, sessionsPerClientMax: 2 }) });
  copy.register(new CounterNamespace());
  copy.restore(log.index, sm.snapshot());
  const copyLog = new TestLog(copy);
  copyLog.index = log.index;
  assert.equal(copyLog.register({}, '10.6.6.6'), 'too_many_sessions', 'the per-address count was rebuilt');
  for (const id of answers.filter((a) => typeof a === 'number')) copyLog.unregister(id);
  assert.equal(typeof copyLog.register({}, '10.6.6.6'), 'number', 'unregistering frees the address');
});

test('planted bug kv-skip-session-dedup: the shared table re-executes a retry', () => {
  const { counter, add, register } = setup({ skipSessionDedup: true });
  const s = register();
  add(s, 1, 5);
  add(s, 1, 5);
  assert.equal(counter.total, 10, 'with the bug the retry ran twice (without it: 5, the first test)');
});

test('stamps count from the log time at which their term first appeared in the log', () => {
  const { sm, add } = setup();
  add(0, 0, 0, { atMs: 5_000, term: 1 });
  assert.equal(sm.logTimeMs, 5_000);
  add(0, 0, 0, { atMs: 0, term: 2 }); // a new leader's first stamp: it has measured nothing yet
  assert.equal(sm.logTimeMs, 5_000, 'not 0: the leader need not know the log time');
  add(0, 0, 0, { atMs: 300, term: 2 });
  assert.equal(sm.logTimeMs, 5_300);
  add(0, 0, 0, { atMs: 100, term: 0 }); // unstamped: absolute, and log time never runs backwards
  assert.equal(sm.logTimeMs, 5_300);
});

// Issue 8 item 4: a new leader grants every live session a full timeout before expiring any.
// Session s was last active at log time 0 with a 1 s timeout; the old leader stamped up to 900.
// The new leader's first command (term 2) is at log time 900 and other clients' commands move log
// time on: without the grant s would expire past 1_000; with it, it lives until 900 + 1_000. The
// control stamps the same log times under the old leader (term 1).
test("a new term in the stamp grants every live session a full timeout from the term's first log time", () => {
  const run = (newTerm: number) => {
    const { sm, add, register } = setup({ sessionTimeoutMs: 1_000 });
    const s = register({ atMs: 0, term: 1 });
    const other = register({ atMs: 900, term: 1 });
    const base = newTerm === 1 ? 900 : 0; // term 1's stamps count from 0, term 2's from 900
    add(other, 1, 0, { atMs: base, term: newTerm }); // log time 900: the new leader's first command
    add(other, 2, 0, { atMs: base + 900, term: newTerm }); // log time 1_800
    return { first: add(s, 1, 1, { atMs: base + 950, term: newTerm }), sm };
  };
  const granted = run(2);
  assert.equal(granted.first, 1, 'the session survived the leader change');
  assert.equal(granted.sm.logTimeMs, 1_850);
  const control = run(1);
  assert.equal(control.first, 'session_expired', 'control: under the same leader it expires');
  assert.equal(control.sm.logTimeMs, 1_850, 'at the same log time');
});

test('the grant is a full timeout, not forever; an unstamped (term 0) command grants nothing', () => {
  const { add, register } = setup({ sessionTimeoutMs: 1_000 });
  const s = register({ atMs: 0, term: 1 });
  const t = register({ atMs: 0, term: 1 });
  add(0, 0, 0, { atMs: 900, term: 1 });
  add(0, 0, 0, { atMs: 0, term: 2 }); // grant: both last active at 900
  add(0, 0, 0, { atMs: 1_950, term: 0 }); // a term-0 stamp: absolute, no grant; idle 1_050
  assert.equal(add(s, 1, 1, { atMs: 1_050, term: 2 }), 'session_expired');
  assert.equal(add(t, 1, 1, { atMs: 1_050, term: 2 }), 'session_expired');
});

test('a restored replica keeps the term and its start, so it times the same entries the same way', () => {
  const { sm, log, add, register } = setup({ sessionTimeoutMs: 1_000 });
  const s = register({ atMs: 0, term: 2 });
  add(0, 0, 0, { atMs: 700, term: 2 });
  add(0, 0, 0, { atMs: 0, term: 3 }); // term 3 starts at log time 700; s granted from 700
  const copy = new ReplicatedStateMachine({ sessions: opts({ sessionTimeoutMs: 1_000 }) });
  copy.register(new CounterNamespace());
  copy.restore(log.index, sm.snapshot());
  assert.equal(copy.sessions.term, 3);
  const copyLog = new TestLog(copy);
  copyLog.index = log.index;
  const next = { namespace: COUNTER_ID, sessionId: 0, seq: 0, payload: CounterNamespace.add(0) };
  add(0, 0, 0, { atMs: 1_200, term: 3 }); // log time 1_900 on both: s idle 1_200
  copyLog.submit(next, { atMs: 1_200, term: 3 });
  assert.deepEqual(copy.snapshot(), sm.snapshot());
  assert.equal(copy.logTimeMs, 1_900);
  assert.equal(add(s, 1, 1, { atMs: 1_200, term: 3 }), 'session_expired');
});

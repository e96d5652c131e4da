// Goal (issue 8 item 4, in the simulator with the real node program): a new leader grants every
// live session a full timeout before expiring any (ZooKeeper's rule). Client A opens a session
// and goes quiet for most of the 5-minute session timeout (log time: src/rsm/sessions.ts). Then
// the leader is cut off; the others elect a new one, whose first command (client B's retried
// write) starts a new term in the log. B writes again 40 s later, moving log time past A's
// original deadline; A comes back 60 s after the election. A's session must still be there: its
// idle time counts from the new term's first log time, not from A's last request under the old
// leader. Seen failing: with the grant removed from SessionTable.advance, A's write is
// `session_expired`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultKvOptions } from '../../src/metadata/kv.ts';
import type { KvOutcome } from '../../src/metadata/kv-service.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { platformNode } from '../support/platform-node.ts';
import { Simulation } from '../../src/sim/simulation.ts';
import { kvOf } from '../../src/services/kv/running.ts';
import { kvRaftOf } from '../../src/services/kv/running.ts';

const ids = ['n1', 'n2', 'n3'];
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('a session idle across a leader change gets a full timeout from the new term', () => {
  const sim = new Simulation<NodeServices>({
    seed: 'grant',
    nodes: ids,
    program: platformNode(ids),
  });
  const timeoutMs = defaultKvOptions.sessionTimeoutMs;
  const leader = (among: readonly string[] = ids) =>
    among.find((id) => kvRaftOf(sim.instance(id))?.core.role === 'leader');
  assert.ok(
    sim.runUntilCondition(() => leader() !== undefined, 10_000),
    'a first leader',
  );
  const first = leader()!;
  const others = ids.filter((id) => id !== first);

  /** Runs one KV call against `node` until it is answered (bounded). */
  const call = (start: (done: (o: KvOutcome) => void) => void): KvOutcome => {
    let outcome: KvOutcome | undefined;
    start((o) => (outcome = o));
    assert.ok(
      sim.runUntilCondition(() => outcome !== undefined, 10_000),
      'answered',
    );
    return outcome!;
  };
  const openSession = (node: string): number => {
    let id: number | undefined;
    kvOf(sim.instance(node)!).client.openSession(`client-${node}`, (o) => (id = o.ok ? o.value : -1));
    assert.ok(sim.runUntilCondition(() => id !== undefined, 10_000) && id! > 0, 'session opened');
    return id!;
  };
  const put = (node: string, session: { id: number; seq: number } | undefined, value: string) =>
    call((done) =>
      kvOf(sim.instance(node)!).client.write({ op: 'put', key: enc('k'), value: enc(value) }, session, done),
    );
  const okResult = (o: KvOutcome) => (o.ok ? (o.result.ok ? 'ok' : o.result.code) : o.error.code);

  const a = openSession(first);
  assert.equal(okResult(put(first, { id: a, seq: 1 }, 'a1')), 'ok');
  const b = openSession(first);
  // A goes quiet; B writes once, shortly before A's deadline, under the first leader.
  sim.runFor(timeoutMs - 30_000);
  assert.equal(okResult(put(first, { id: b, seq: 1 }, 'b1')), 'ok');
  const termBefore = kvRaftOf(sim.instance(first))!.core.currentTerm;

  sim.network.isolate(first);
  assert.ok(
    sim.runUntilCondition(() => leader(others) !== undefined, 10_000),
    'the others elect a new leader',
  );
  const second = leader(others)!;
  // B's next write (retried until a leader takes it) is the new term's first command.
  let bSeq = 1;
  const bWrite = () => {
    bSeq++;
    for (let attempt = 0; attempt < 20; attempt++) {
      const r = okResult(put(second, { id: b, seq: bSeq }, `b${bSeq}`));
      if (r === 'ok') return;
      assert.ok(r !== 'session_expired', 'B is active: never expired');
    }
    assert.fail('B could not write');
  };
  bWrite();
  assert.ok(kvRaftOf(sim.instance(second))!.core.currentTerm > termBefore);
  sim.runFor(40_000);
  bWrite(); // log time now beyond A's last request + timeout
  sim.runFor(500); // followers apply what the leader answered
  const logTimeMs = Math.max(...others.map((id) => kvOf(sim.instance(id)!).state.logTimeMs));
  assert.ok(logTimeMs > timeoutMs + 5_000, `log time ${logTimeMs} moved past A's original deadline`);
  sim.runFor(20_000);
  assert.equal(okResult(put(second, { id: a, seq: 2 }, 'a2')), 'ok', 'A still holds its session');
});

// Goal: a node whose token ring is not known current (just restarted: src/services/store/
// ring-keeper.ts) coordinates nothing — client requests and SERIAL operations answer
// replicas_unavailable (definite, nothing written) — while its replica duties go on: a write
// another node coordinates still reaches it. Released, it coordinates again. On the simulated
// ReplicaNodes of test-support.ts (5 nodes, N = 3). The swarm case it closes (a restarted node
// reading with the ring from before a join) is store-swarm-sim.test.ts' store-ring-stale-after-restart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PaxosOutcome } from '../../../dynamo/paxos.ts';
import { Harness } from './test-support.ts';

const enc = new TextEncoder();

test('a held node refuses to coordinate, keeps its replica duties, and coordinates once released', () => {
  const h = new Harness('coordination-hold');
  h.settleViews();
  const key = 'held';
  const [held, other] = h.replicasOf(key) as [string, string, string];
  h.node(held).holdCoordination('the ring is not known current (test)');
  const refused = h.await(h.op(held, 'put', key, 'QUORUM', 'v1'));
  assert.ok(!refused.ok && refused.error.code === 'replicas_unavailable', JSON.stringify(refused));
  assert.match(refused.error.message, /not known current/);
  assert.equal(refused.error.definite, true, 'nothing written');
  const serial: { outcome?: PaxosOutcome } = h.serial(held, key, { kind: 'write', value: enc.encode('s') });
  assert.ok(
    serial.outcome !== undefined && !serial.outcome.ok && serial.outcome.error.code === 'replicas_unavailable',
    'SERIAL refused at once',
  );
  // Its replica duties go on: a write another replica coordinates at ALL needs its acknowledgement.
  const all = h.await(h.op(other, 'put', key, 'ALL', 'v2'));
  assert.ok(all.ok, `a write at ALL through ${other} is acknowledged by the held replica: ${JSON.stringify(all)}`);
  h.node(held).holdCoordination(undefined);
  const served = h.await(h.op(held, 'get', key, 'QUORUM'));
  assert.ok(served.ok, 'released: it coordinates again');
});

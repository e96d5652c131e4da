// Goal: a node the operator wiped keeps SERIAL linearizable (issue 10 item 6; found by the store's
// swarm workload, docs/SWARM.md). On the simulated ReplicaNodes of test-support.ts (5 nodes, N =
// 3), one scenario pins the case the swarm found: a register written by a quorum of two replicas
// while the third was cut off; the writer's acceptor is wiped and restarts; then the replica that
// kept the write is cut off. A quorum of the wiped node and the one that missed the write must not
// answer nil: the wiped node answers nothing for the key until it has learned the key's Paxos state
// from both other replicas (PaxosRecovery), so the read waits (times out), and once the partition
// heals it reads the write. Negative control: `paxos-amnesia-trusted` (the wiped acceptor answers
// at once) reads nil, the write lost.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PaxosOutcome } from '../../../dynamo/paxos.ts';
import { Harness } from './test-support.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

function answered(h: Harness, box: { outcome?: PaxosOutcome }, withinMs = 5_000): PaxosOutcome {
  assert.ok(
    h.sim.runUntilCondition(() => box.outcome !== undefined, withinMs),
    'no SERIAL answer',
  );
  return box.outcome!;
}

const shown = (o: PaxosOutcome): string | null | { error: string } =>
  o.ok ? (o.current === null ? null : dec.decode(o.current)) : { error: o.error.code };

/** Writes 'w' with `kept` and `wiped` only, wipes `wiped`, cuts `kept` off, reads through `missed`. */
function scenario(mutations: string[] = []) {
  const h = new Harness('serial-wipe', { mutations });
  h.settleViews();
  const key = 'x';
  const [wiped, kept, missed] = h.replicasOf(key) as [string, string, string];
  const off = h.sim.network.isolate(missed);
  const w = answered(h, h.serial(wiped, key, { kind: 'write', value: enc.encode('w') }));
  assert.deepEqual(w.ok && [w.applied, shown(w)], [true, 'w'], 'chosen by the two replicas that could hear');
  off.heal();
  h.wipe(wiped);
  h.settleViews();
  const cut = h.sim.network.isolate(kept);
  h.settleViews();
  const during = shown(answered(h, h.serial(missed, key, { kind: 'read' })));
  cut.heal();
  h.settleViews();
  const after = shown(answered(h, h.serial(missed, key, { kind: 'read' })));
  return { during, after };
}

test('a wiped acceptor answers for a key only after learning it: no quorum without it reads the write as lost', () => {
  const { during, after } = scenario();
  assert.notEqual(during, null, 'the read through the wiped node and the one that missed the write returned nil');
  assert.deepEqual(
    during,
    { error: 'timeout' },
    'it waits: the wiped node cannot learn the key without the cut-off one',
  );
  assert.equal(after, 'w', 'healed: the wiped node learned the key and the write is read');
});

test('negative control: the wiped acceptor trusted at once loses the write (paxos-amnesia-trusted)', () => {
  const { during } = scenario(['paxos-amnesia-trusted']);
  assert.equal(during, null, 'the planted bug reads nil after an acknowledged SERIAL write');
});

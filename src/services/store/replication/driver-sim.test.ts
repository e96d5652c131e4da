// Goal: the Dynamo replica driven by ReplicaNode on simulated nodes (src/sim: virtual time, the
// simulated network, disk and clocks) keeps what Dynamo promises (DeCandia et al. 2007 §4.4-4.6;
// Cassandra's consistency levels) under partitions, crashes of the disk's unsynced writes and
// clock skew. Each node runs what a real node runs for this: a MessageRouter on its transport, the
// membership driver (the failure detector whose view is isUp), an LsmReplicaStore on its disk and
// a ReplicaNode; 5 nodes, N = 3.
//   - ONE: every write on either side of a partition is acknowledged (sloppy availability); after
//     heal, hint replay and a read of every key at ALL (read repair), every replica of a key holds
//     the same state and no acknowledged write is lost (it is a sibling with its value, or a
//     sibling's past covers its dot: superseded by a write whose context covered it).
//   - QUORUM on the minority side: a key with one replica there is refused with
//     replicas_unavailable, definite; a QUORUM read after a QUORUM write's ack returns it.
//   - Hints: a write while a replica is down (the failure detector calls it dead) reaches it after
//     it returns, and the hint count goes to 0.
//   - Durability: an acknowledged ONE write survives its coordinator's crash right after the ack;
//     negative control: the mutation 'dynamo-send-before-sync' (answer first, sync at the next
//     tick) loses it, and the restarted node reuses its dot for a new write.
//   - Random: seeded runs of random ops (ONE / QUORUM / ALL, at replicas and at strangers that
//     forward) under a random nemesis (partitions, crashes also inside disk I/O, pauses, clock
//     skew and steps, clogging, loss); every read with R + W > N is checked as it answers against
//     the writes acknowledged before it began; after healAll, the convergence check above.
//   - Replay: the same seed gives the same trace hash (time and randomness come only from the Env).
// A key with two replicas on the minority side still takes QUORUM writes there: that is the
// preference list's quorum, not a bug. Every op is recorded in a History (src/check/recorder.ts).
// Negative controls seen failing by hand: replica.ts replayHints returning at once fails the
// hint, partition and quorum tests (hints never drain); readRepair returning at once fails the
// partition tests (replicas differ).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeId } from '../../../env/types.ts';
import type { Dot } from '../../../dynamo/versions.ts';
import type { ReplicaOutcome } from './driver.ts';
import { randomNemesis } from '../../../sim/nemesis.ts';
import { Harness, keysFor, NODES } from './test-support.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('ReplicaNode in the simulator: 5 nodes, N = 3', () => {
  for (const seed of ['p1', 'p2', 'p3']) {
    test(`seed ${seed}: ONE writes on both sides of a partition, with a crash and clock skew, converge after heal`, () => {
      const h = new Harness(seed, { loss: 0.01 });
      const { sim } = h;
      sim.setClock('n2', { skewMs: -4_000 });
      sim.setClock('n4', { skewMs: 3_000 });
      h.settleViews();
      const minority: NodeId[] = ['n1', 'n2'];
      const majority: NodeId[] = ['n3', 'n4', 'n5'];
      const cut = sim.network.partition([minority, majority]);
      h.settleViews();
      const keys = keysFor(16, seed);
      const boxes: { outcome?: ReplicaOutcome }[] = [];
      let crashed = false;
      for (let round = 0; round < 6; round++) {
        for (const key of keys) {
          for (const side of [minority, majority]) {
            const replicas = h.replicasOf(key).filter((r) => side.includes(r) && sim.instance(r) !== undefined);
            if (replicas.length === 0) continue; // no coordinator for the key on this side
            const at = replicas[(round + key.length) % replicas.length]!;
            if (round % 2 === 1) {
              // A read-modify-write: the new value supersedes what the read saw.
              const read = h.await(h.op(at, 'get', key, 'ONE'));
              assert.ok(read.ok, `ONE read of ${key} at ${at} failed`);
              boxes.push(h.op(at, 'put', key, 'ONE', `${at}-r${round}-${key}`, read.state.context));
            } else boxes.push(h.op(at, 'put', key, 'ONE', `${at}-r${round}-${key}`));
          }
        }
        sim.runFor(200);
        if (round === 2 && !crashed) {
          sim.crash('n5');
          crashed = true;
        }
        if (round === 4) sim.restart('n5');
      }
      sim.runFor(2_000);
      const answered = boxes.filter((b) => b.outcome !== undefined);
      assert.equal(answered.length, boxes.length, 'every ONE write is answered');
      for (const b of boxes) {
        assert.ok(
          b.outcome?.ok === true,
          `a ONE write failed: ${b.outcome?.ok === false ? `${b.outcome.error.code} ${b.outcome.error.message}` : ''}`,
        );
      }
      assert.ok(h.hintsHeld() > 0, 'writes across the partition left hints');
      cut.heal();
      sim.network.setLossProbability(0);
      h.settleViews();
      h.convergeAndCheck(keys);
      assert.ok(h.acked.length >= boxes.length, 'every write acknowledged');
      assert.ok(h.history.history().length >= 2 * boxes.length);
    });
  }

  test('QUORUM on the minority side is refused, replicas_unavailable and definite; a QUORUM read after a QUORUM ack returns it', () => {
    const h = new Harness('quorum');
    const { sim } = h;
    h.settleViews();
    // Before any fault: a QUORUM write acked at one replica is seen by a QUORUM read at another.
    for (const key of keysFor(8)) {
      const [a, b] = h.replicasOf(key);
      const w = h.await(h.op(a!, 'put', key, 'QUORUM', `q-${key}`));
      assert.ok(w.ok);
      const r = h.await(h.op(b!, 'get', key, 'QUORUM'));
      assert.ok(r.ok && r.state.siblings.some((s) => s.value !== null && dec.decode(s.value) === `q-${key}`));
    }
    const minority: NodeId[] = ['n1', 'n2'];
    const majority: NodeId[] = ['n3', 'n4', 'n5'];
    sim.network.partition([minority, majority]);
    h.settleViews();
    let refused = 0;
    let majorityChecked = 0;
    for (const key of keysFor(40)) {
      const replicas = h.replicasOf(key);
      const inMinority = replicas.filter((r) => minority.includes(r));
      if (inMinority.length === 1) {
        const o = h.await(h.op(inMinority[0]!, 'put', key, 'QUORUM', `m-${key}`));
        assert.ok(!o.ok, `QUORUM write of ${key} on the minority side succeeded`);
        assert.equal(o.error.code, 'replicas_unavailable');
        assert.equal(o.error.definite, true);
        refused++;
      }
      const inMajority = replicas.filter((r) => majority.includes(r));
      if (inMajority.length >= 2) {
        // The majority side still has a quorum of this key: write at one, read at another.
        const w = h.await(h.op(inMajority[0]!, 'put', key, 'QUORUM', `M-${key}`));
        assert.ok(w.ok, `QUORUM write of ${key} on the majority side failed`);
        const r = h.await(h.op(inMajority[1]!, 'get', key, 'QUORUM'));
        assert.ok(r.ok && r.state.siblings.some((s) => s.value !== null && dec.decode(s.value) === `M-${key}`));
        majorityChecked++;
      }
    }
    assert.ok(refused >= 5 && majorityChecked >= 5, `refused ${refused}, majority checked ${majorityChecked}`);
    // Nothing was written by the refused writes: after heal no replica holds an m- value.
    sim.network.heal();
    h.settleViews();
    h.convergeAndCheck(keysFor(40));
    for (const key of keysFor(40)) {
      for (const r of h.replicasOf(key)) {
        const values = h
          .node(r)
          .peek(enc.encode(key))
          .siblings.map((s) => (s.value === null ? '' : dec.decode(s.value)));
        assert.ok(!values.some((v) => v.startsWith('m-')), `a refused write of ${key} is at ${r}`);
      }
    }
  });

  test('hinted handoff: a write while a replica is down reaches it after it returns; hints go to 0', () => {
    const h = new Harness('hints');
    const { sim } = h;
    h.settleViews();
    const down: NodeId = 'n3';
    const keys = keysFor(30).filter((k) => h.replicasOf(k).includes(down));
    assert.ok(keys.length >= 5);
    sim.crash(down);
    h.settleViews();
    const written: { key: string; dot: Dot }[] = [];
    for (const key of keys) {
      const at = h.replicasOf(key).find((r) => r !== down)!;
      const o = h.await(h.op(at, 'put', key, 'QUORUM', `h-${key}`));
      assert.ok(o.ok, `QUORUM write of ${key} with one replica down failed`);
      written.push({ key, dot: h.acked.at(-1)!.dot });
    }
    assert.ok(h.hintsHeld() >= keys.length, `hints held ${h.hintsHeld()} for ${keys.length} writes`);
    sim.restart(down);
    h.settleViews();
    assert.ok(
      sim.runUntilCondition(() => h.hintsHeld() === 0, 10_000),
      `hints were not delivered: ${h.hintsHeld()} left`,
    );
    for (const w of written) {
      const held = h.node(down).peek(enc.encode(w.key)).context();
      assert.ok(held.get(w.dot.replica) >= w.dot.counter, `${down} did not get ${w.key} by hint`);
    }
  });

  for (const mutation of [undefined, 'dynamo-send-before-sync'] as const) {
    test(`an acknowledged ONE write survives its coordinator's crash right after the ack${mutation === undefined ? '' : ` — negative control: ${mutation} loses it`}`, () => {
      const h = new Harness(`durable-${mutation ?? 'ok'}`, mutation === undefined ? {} : { mutations: [mutation] });
      const { sim } = h;
      h.settleViews();
      const key = keysFor(20).find((k) => h.replicasOf(k)[0] === 'n1')!;
      const box = h.op('n1', 'put', key, 'ONE', 'first');
      // Acknowledged at the end of its event-loop turn (group commit: one sync for the turn).
      assert.ok(
        sim.runUntilCondition(() => box.outcome !== undefined, 1_000) && box.outcome?.ok,
        'a ONE write at a replica is acknowledged within its turn',
      );
      sim.crash('n1'); // right after the ack: no tick has run
      sim.runFor(100);
      sim.restart('n1');
      h.settleViews();
      const heldFirst = h.node('n1').peek(enc.encode(key));
      const second = h.await(h.op('n1', 'put', key, 'ONE', 'second'));
      assert.ok(second.ok);
      const failures: string[] = [];
      if (!heldFirst.siblings.some((s) => s.value !== null && dec.decode(s.value) === 'first')) {
        failures.push('the acknowledged write is gone from its coordinator after the crash');
      }
      try {
        h.convergeAndCheck([key]);
      } catch (error) {
        failures.push((error as Error).message);
      }
      if (mutation === undefined) assert.deepEqual(failures, []);
      else {
        assert.ok(
          failures.some((f) => f.includes('acknowledged write first of') && f.endsWith('is lost')),
          `the planted send-before-sync was not caught: ${failures.join('; ')}`,
        );
      }
    });
  }

  for (const seed of ['r1', 'r2', 'r3', 'r4']) {
    test(`seed ${seed}: random ops under a random nemesis (partitions, crashes in I/O, pauses, clock steps, loss); then heal, converge, nothing acknowledged lost`, () => {
      const h = new Harness(seed);
      const { sim } = h;
      h.settleViews();
      const rng = sim.forkRng('workload');
      const keys = keysFor(12, seed);
      const safetyEndMs = sim.nowMs + 20_000;
      sim.schedule(
        randomNemesis(sim.forkRng('nemesis'), NODES, {
          kinds: ['partition', 'crash', 'crash-in-io', 'pause', 'clock', 'clock-step', 'clog', 'loss'],
          startMs: sim.nowMs,
          endMs: safetyEndMs,
          clockStepMsMax: 60_000,
        }),
      );
      const ones: { outcome?: ReplicaOutcome }[] = [];
      let n = 0;
      // Each op runs as a simulation action, so a power loss inside its disk I/O (crash-in-io)
      // ends that node's event as the simulator models it.
      const issue = (): void => {
        const key = rng.pick(keys);
        const level = rng.pick(['ONE', 'QUORUM', 'QUORUM', 'ALL'] as const);
        const candidates = rng.float() < 0.8 ? h.replicasOf(key) : NODES; // a stranger forwards
        const up = candidates.filter((id) => sim.state(id) === 'up');
        if (up.length === 0) return;
        const at = rng.pick(up);
        if (rng.float() < 0.4) h.op(at, 'get', key, level);
        else {
          const box = h.op(at, 'put', key, level === 'ALL' ? 'ONE' : level, `${seed}-${n++}`);
          if (level !== 'QUORUM' && h.replicasOf(key).includes(at)) ones.push(box);
        }
      };
      while (sim.nowMs < safetyEndMs) {
        sim.after(0, issue, 'workload');
        sim.runFor(20);
      }
      // A ONE write at a replica is acknowledged by its own durable write, whatever the faults.
      // A coordinator that crashes before its turn's sync answers nothing or an indefinite timeout
      // (the process stopped with the write in flight); any other answer is a success.
      const indefinite = (o: ReplicaOutcome | undefined) =>
        o === undefined || (!o.ok && o.error.code === 'timeout' && !o.error.definite);
      for (const b of ones)
        assert.ok(
          indefinite(b.outcome) || b.outcome?.ok === true,
          `a ONE write at a replica failed: ${b.outcome?.ok === false ? `${b.outcome.error.code} ${b.outcome.error.message}` : ''}`,
        );
      const answered = ones.filter((b) => b.outcome?.ok === true).length;
      assert.ok(answered >= ones.length * 0.8, `${answered} of ${ones.length} ONE writes answered`);
      sim.healAll();
      h.settleViews();
      h.convergeAndCheck(keys);
      assert.ok(sim.stats().faultsInjected >= 5, `faults ${sim.stats().faultsInjected}`);
      assert.ok(h.acked.length >= 100, `acked ${h.acked.length}`);
    });
  }

  test('the same seed replays the same run (the driver draws time and randomness only from its Env)', () => {
    const run = (seed: string) => {
      const h = new Harness(seed, { loss: 0.02 });
      h.settleViews();
      h.sim.network.partition([
        ['n1', 'n2'],
        ['n3', 'n4', 'n5'],
      ]);
      for (const key of keysFor(10, 'replay')) h.op(h.replicasOf(key)[0]!, 'put', key, 'ONE', key);
      h.sim.runFor(3_000);
      h.sim.healAll();
      h.sim.runFor(3_000);
      return h.sim.traceHash();
    };
    assert.equal(run('replay'), run('replay'));
    assert.notEqual(run('replay'), run('other'));
  });
});

// Goal (issue 10's acceptance under issue 7's swarm): the store's simulator workload
// (src/services/store/sim-workload.ts: Redis clients through the RESP front end of 5 nodes at
// N = 3, sync always; SET/GET, INCR, SADD/SMEMBERS at ONE and QUORUM; GET, SET and BARISTA CAS at
// SERIAL) passes swarm seeds, each drawing its own fault mix (disk faults, rot and the operator's
// wipes included): QUORUM reads see the QUORUM writes acknowledged before them, the SERIAL
// registers' history is linearizable (src/check, per key), nothing refused or never written is
// read, anti-entropy converges every replica after healing, and nothing acknowledged is lost.
// And it bites: each planted bug below fails a seed that passes without it. The workload found
// seven defects (2026-12-07 and 08), fixed in src/dynamo/replica.ts, src/services/store/ and
// src/dynamo/paxos.ts; five are planted back below (the wipe ones are too rare on a fixed seed:
// their own tests catch them, as said at the list):
//   - a duplicated forward frame ran its command twice (an INCR counted twice: store-phantom);
//   - a pull of a peer's rows waited a minute on one lost page, every later offer of the key
//     queued behind it (replicas of a set stayed apart: liveness);
//   - an anti-entropy round waited a minute on one lost tree request or reply, and BARISTA REPAIR
//     answered BUSY meanwhile (liveness);
//   - a node the operator wiped and rejoined counted dots from 1 again under its old replica id,
//     so its new writes read as old ones (an acknowledged SADD lost: store-lost-write);
//   - a wiped node's Paxos acceptor took part at once, its promises and accepted values forgotten
//     (a SERIAL read two writes old: linearizability);
//   - a ring move's page or fetch, once lost, was sent again only after a minute (a decommission
//     the operator began under the load did not complete: liveness);
//   - a node back from a crash coordinated with the ring its metadata replica held before learning
//     the last commits (a QUORUM read after a join asked the old replicas: store-stale-read).
// The others show that each check fires: a replica that hides a sibling from a checked SET leaves
// an older value readable at QUORUM after a newer one was acknowledged (store-stale-read); a
// replica that acknowledges before its sync loses an acknowledged SADD in a crash
// (store-lost-write); a Paxos proposer that ignores accepted values makes the SERIAL history not
// linearizable. A failing seed replays with the printed `barista sim` command.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Mutation } from '../../src/lib/mutations.ts';
import { catches, runSwarmSeed, type SwarmSeedReport } from '../../src/node/sim-swarm.ts';

const WORKLOAD = { workload: 'store' } as const;
/** The operator's ring moves in every run (sim-workload.ts ringMoveShare, 0 by default: docs/SWARM.md). */
const MOVES = { workload: 'store', workloadOptions: { ringMoveShare: 1 } } as const;

function assertPassed(r: SwarmSeedReport): void {
  assert.ok(
    r.ok,
    `seed ${r.seed} failed: ${r.failure?.invariant}: ${r.failure?.detail}\n  replay: ${r.failure?.replay}`,
  );
  assert.ok(r.virtualMs >= 20_000, 'ran at least 20 simulated seconds');
  assert.ok(r.clientOpsOk >= 30, `seed ${r.seed}: only ${r.clientOpsOk} operations answered`);
}

describe('store workload: swarm seeds', () => {
  // Rot, a bad sector and a misdirected write on one disk, the operator wiping and rejoining that
  // node, with most other classes on (the seeds below run without their bugs too).
  test('seed 116', () => {
    const r = runSwarmSeed('116', WORKLOAD);
    assertPassed(r);
    assert.ok(r.operatorRejoins >= 1, 'the operator wiped a node');
  });
  test('a fresh seed (named in its failure)', (t) => {
    const seed = String(randomInt(1_000_000, 2_000_000_000));
    t.diagnostic(`seed ${seed}`);
    assertPassed(runSwarmSeed(seed, WORKLOAD));
  });
});

const CAUGHT: ReadonlyArray<{ mutation: Mutation; seed: string; invariant: RegExp; moves?: true }> = [
  { mutation: 'dynamo-forward-copies-run', seed: '23', invariant: /^store-phantom$/ },
  { mutation: 'dynamo-pull-whole-deadline', seed: '31', invariant: /^liveness$/, moves: true },
  { mutation: 'dynamo-tree-request-once', seed: '5043', invariant: /^liveness$/, moves: true },
  // The operator decommissions a node under the load; a page it pushed is lost and waited for a
  // minute: the move does not complete within the run's bound.
  { mutation: 'dynamo-move-page-long-deadline', seed: '7', invariant: /^liveness$/, moves: true },
  // n1 comes back from a crash holding the ring from before n4's join (its metadata replica learns
  // the last commits from the leader a moment later) and coordinates a forwarded QUORUM SMEMBERS
  // with it: the replicas of then miss a member the new ones acknowledged.
  { mutation: 'store-ring-stale-after-restart', seed: '5293', invariant: /^store-stale-read$/, moves: true },
  // store-actor-reused-after-wipe is not here either: it needs a wipe after a QUORUM SADD whose
  // rows a new collection context then covers; seeds 10 and 5 caught it before the schedules moved,
  // none of 1-150 and 5000-5185 does on the final workload. src/services/store/replica-actor.test.ts
  // catches it (a rejoined node given its old id back).
  { mutation: 'dynamo-checked-held-unreported', seed: '1', invariant: /^store-stale-read$/ },
  { mutation: 'dynamo-send-before-sync', seed: '13', invariant: /^store-lost-write$/ },
  { mutation: 'paxos-ignore-accepted', seed: '8', invariant: /^linearizability$/ },
  // paxos-amnesia-trusted (a wiped acceptor answering at once) is not here: it needs a wipe, SERIAL
  // traffic on a register the wiped node held, and a quorum without the write's other acceptor;
  // 3 of 400 seeds (5085, 5234, 5263) did before the ring moves and the ring barrier moved the
  // schedules; a fixed catching seed is rare and moves with every change. Caught by
  // src/services/store/replication/serial-wipe-sim.test.ts (the swarm's case, scripted) and
  // src/dynamo/paxos.test.ts (wipes in the random network).
];

describe('store workload: planted bugs are caught by a seed that passes without them', () => {
  const baselines = new Map<string, SwarmSeedReport>();
  for (const { mutation, seed, invariant, moves } of CAUGHT) {
    test(`${mutation}: seed ${seed}${moves ? ' with ring moves' : ''}`, () => {
      const r = catches(seed, [mutation], moves ? MOVES : WORKLOAD, baselines);
      assert.equal(r.planted.ok, false, `${mutation} went unnoticed by seed ${seed}`);
      assert.match(r.planted.failure!.invariant, invariant, r.planted.failure!.detail);
      assert.equal(r.baseline?.ok, true, `seed ${seed} fails without the mutation: ${r.baseline?.failure?.detail}`);
      assert.equal(
        r.planted.failure!.replay,
        `barista sim --seed ${seed} --nodes 5 --workload store --swarm --duration 20000ms --liveness-bound 20000ms --mutation ${mutation}`,
      );
    });
  }
});

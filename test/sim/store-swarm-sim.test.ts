// Goal (issue 10's acceptance under issue 7's swarm): the store's simulator workload
// (src/services/store/sim-workload.ts: Redis clients through the RESP front end of 5 nodes at
// N = 3, sync always; SET/GET, INCR, SADD/SMEMBERS at ONE and QUORUM; GET, SET and BARISTA CAS at
// SERIAL) passes swarm seeds, each drawing its own fault mix (disk faults, rot and the operator's
// wipes included): QUORUM reads see the QUORUM writes acknowledged before them, the SERIAL
// registers' history is linearizable (src/check, per key), nothing refused or never written is
// read, anti-entropy converges every replica after healing, and nothing acknowledged is lost.
// And it bites: each planted bug below fails a seed that passes without it. Five of them are the
// defects this workload found on its first runs (2026-12-07), fixed in src/dynamo/replica.ts,
// src/services/store/service.ts and (the last) src/dynamo/paxos.ts:
//   - a duplicated forward frame ran its command twice (an INCR counted twice: store-phantom);
//   - a pull of a peer's rows waited a minute on one lost page, every later offer of the key
//     queued behind it (replicas of a set stayed apart: liveness);
//   - an anti-entropy round waited a minute on one lost tree request or reply, and BARISTA REPAIR
//     answered BUSY meanwhile (liveness);
//   - a node the operator wiped and rejoined counted dots from 1 again under its old replica id,
//     so its new writes read as old ones (an acknowledged SADD lost: store-lost-write);
//   - a wiped node's Paxos acceptor took part at once, its promises and accepted values forgotten
//     (a SERIAL read two writes old: linearizability).
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

const CAUGHT: ReadonlyArray<{ mutation: Mutation; seed: string; invariant: RegExp }> = [
  { mutation: 'dynamo-forward-copies-run', seed: '17', invariant: /^store-phantom$/ },
  { mutation: 'dynamo-pull-whole-deadline', seed: '40', invariant: /^liveness$/ },
  { mutation: 'dynamo-tree-request-once', seed: '35', invariant: /^liveness$/ },
  // A bad sector on one node's disk, the operator's wipe: the node's new life counted dots under
  // its old replica id, and a SADD acknowledged at QUORUM before the wipe was lost.
  { mutation: 'store-actor-reused-after-wipe', seed: '10', invariant: /^store-lost-write$/ },
  { mutation: 'dynamo-checked-held-unreported', seed: '2', invariant: /^store-stale-read$/ },
  { mutation: 'dynamo-send-before-sync', seed: '67', invariant: /^store-lost-write$/ },
  { mutation: 'paxos-ignore-accepted', seed: '54', invariant: /^linearizability$/ },
  // Rot on one node, the operator's wipe: the node's acceptor, answering before it learned the
  // register, let a quorum without the write's other acceptor read nil after it.
  { mutation: 'paxos-amnesia-trusted', seed: '5263', invariant: /^linearizability$/ },
];

describe('store workload: planted bugs are caught by a seed that passes without them', () => {
  const baselines = new Map<string, SwarmSeedReport>();
  for (const { mutation, seed, invariant } of CAUGHT) {
    test(`${mutation}: seed ${seed}`, () => {
      const r = catches(seed, [mutation], WORKLOAD, baselines);
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

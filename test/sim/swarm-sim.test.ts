// Goal (issue 7, "the simulator must be able to find these"): the swarm — each seed drawing its
// fault mix and intensities (src/sim/swarm.ts) for a 5-node raft-kv cluster run of 20 simulated
// seconds — passes a fixed set of seeds and a few fresh random ones (safety after every event,
// liveness after healing, a linearizable history); the fixed set injects every fault class of the
// registry (counted from the simulator's counters, not from being switched on); and the swarm
// bites: a planted bug (src/lib/mutations.ts) fails a seed that passes without it, and the failure
// prints a replay command carrying --swarm and --mutation. `npm run swarm` runs the big swarm
// (docs/SWARM.md); a failing seed here replays with the printed `barista sim` command.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Mutation } from '../../src/lib/mutations.ts';
import { catches, runSwarmSeed, type SwarmSeedReport } from '../../src/node/sim-swarm.ts';
import { defaultRaftTiming } from '../../src/raft/driver.ts';
import { faultClassNames, leaseClockDriftRateMax, SwarmTally } from '../../src/sim/swarm.ts';

/**
 * Chosen so that together they inject every fault class (the coverage test checks it): 2, 7, 39
 * and 115 cover the registry but for read bit-flips, which 138 adds (it once failed: the WAL gave
 * up after four disagreeing reads when flips hit 3 reads in 10); 5 and 13 add partitions and
 * pauses; 116 (rot and a latent bad sector on one disk: the operator wipes and rejoins that node)
 * and 162 (rot and a misdirected write) add the persistent-damage classes.
 */
const FIXED_SEEDS = ['2', '5', '7', '13', '39', '115', '138', '116', '162'];
/** The classes added after these seeds were recorded; leaving them out replays the recorded runs. */
const ROT_CLASSES = ['rot', 'latent-sector-error', 'misdirected-write'];
const RANDOM_SEEDS = Number(process.env.SWARM_RANDOM_SEEDS ?? 2);

function assertPassed(r: SwarmSeedReport): void {
  assert.ok(
    r.ok,
    `seed ${r.seed} failed: ${r.failure?.invariant}: ${r.failure?.detail}\n  replay: ${r.failure?.replay}`,
  );
  assert.ok(r.virtualMs >= 20_000, 'ran at least 20 simulated seconds');
}

describe('swarm: fixed seeds of a 5-node raft-kv run, each drawing its fault mix', () => {
  const tally = new SwarmTally(faultClassNames);
  let ran = 0;
  for (const seed of FIXED_SEEDS) {
    test(`seed ${seed}`, () => {
      const r = runSwarmSeed(seed);
      tally.add(r.injected);
      ran++;
      assertPassed(r);
      for (const { name } of r.on) assert.ok(faultClassNames.includes(name), name);
    });
  }
  after(() => {
    // Reported here as well as asserted below, so a reader of the test log sees the coverage.
    if (ran === FIXED_SEEDS.length) console.log(`swarm fixed seeds injected: ${JSON.stringify(tally.totals)}`);
  });
  test('together the fixed seeds injected every fault class', (t) => {
    if (ran < FIXED_SEEDS.length) return t.skip('a fixed seed did not run to the end (reported above)');
    assert.deepEqual(tally.neverInjected(), [], `totals: ${JSON.stringify(tally.totals)}`);
  });
});

/**
 * Seeds of the 2,000-seed swarm that once made a correct node refuse to boot in WAL recovery:
 * 713 and 1505 lost the sector holding a batch's first 5 / 6 bytes (it started just before a
 * sector boundary) while the rest of the batch, SYNC included, landed; 667 had transient read
 * flips disagree on 4 reads in a row. Run without the rot classes, which 713 and 667 now draw
 * (every other class draws as before, so these are the recorded runs).
 */
const WAL_RECOVERY_SEEDS = [
  { seed: '713', what: 'a lost 5-byte head sector piece of the final batch is a tear' },
  { seed: '1505', what: 'a lost 6-byte head sector piece of the final batch is a tear' },
  { seed: '667', what: 'transient read flips in up to 10 % of reads do not stop a boot' },
];

describe('swarm: seeds that once failed in WAL recovery', () => {
  for (const { seed, what } of WAL_RECOVERY_SEEDS)
    test(`seed ${seed}: ${what}`, () => assertPassed(runSwarmSeed(seed, { without: ROT_CLASSES })));
});

describe('swarm: fresh random seeds', () => {
  for (let i = 0; i < RANDOM_SEEDS; i++) {
    const seed = String(randomInt(1_000_000, 2 ** 40));
    test(`seed ${seed}`, () => assertPassed(runSwarmSeed(seed)));
  }
});

/**
 * Planted bugs (src/lib/mutations.ts) and the first swarm seed that catches each (docs/SWARM.md).
 * With two Raft groups per node (metadata and kv) the schedules moved: the first catching seeds
 * of kv-skip-session-dedup, raft-forward-no-dedup and snapshot-read-once went from 2 to 3, from 13
 * to 19 and from 1 to 10.
 * `exposedBy`: the fault class that exposes the bug; the same seed with that class left out of
 * its mix (the other classes draw the same) passes with the bug planted.
 */
const CAUGHT: ReadonlyArray<{ mutation: Mutation; seed: string; invariant: RegExp; exposedBy?: string }> = [
  { mutation: 'kv-skip-session-dedup', seed: '10', invariant: /^linearizability$/ },
  { mutation: 'raft-forward-no-dedup', seed: '19', invariant: /^applied-once$/ },
  { mutation: 'wal-skip-fsync', seed: '3', invariant: /^exception$/ },
  { mutation: 'raft-vote-skip-log-check', seed: '3', invariant: /^raft-safety$/, exposedBy: 'partition' },
  { mutation: 'snapshot-read-once', seed: '1', invariant: /^exception$/ },
  { mutation: 'kv-time-from-contacted-node', seed: '2', invariant: /^session-expiry$/ },
  { mutation: 'raft-timeout-definite', seed: '18', invariant: /^linearizability$/ },
  { mutation: 'kv-log-clock-wall-delta', seed: '39', invariant: /^session-expiry$/ },
  { mutation: 'wal-repair-skip-truncate', seed: '15', invariant: /^exception$/ },
  // Rot on one disk: the mutated recovery cuts a rotten synced record as a torn tail instead of
  // refusing (which would have had the operator wipe and rejoin the node); raft-safety's
  // durability check sees the restarted node below the hard state it had synced.
  { mutation: 'wal-trust-torn-tail', seed: '50', invariant: /^raft-safety$/, exposedBy: 'rot' },
  // The same bug, by a write that landed sectors away: its sectors read as zeros after the crash.
  { mutation: 'wal-trust-torn-tail', seed: '10', invariant: /^raft-safety$/, exposedBy: 'misdirected-write' },
  // A bad sector in a synced segment: the mutated recovery reads up to it and cuts the rest as torn.
  { mutation: 'wal-read-error-as-eof', seed: '6', invariant: /^raft-safety$/, exposedBy: 'latent-sector-error' },
  // A reordered (stale) Append truncates entries the follower had acknowledged to its leader.
  { mutation: 'raft-append-truncates-suffix', seed: '11', invariant: /^raft-safety$/, exposedBy: 'reorder' },
  // A learner exists only while the membership workload re-adds a removed voter.
  {
    mutation: 'raft-commit-counts-learners',
    seed: '8',
    invariant: /^raft-safety$/,
    exposedBy: 'membership-change',
  },
];

describe('swarm: planted bugs are caught by a seed that passes without them', () => {
  for (const { mutation, seed, invariant, exposedBy } of CAUGHT) {
    test(`${mutation}: seed ${seed}${exposedBy !== undefined ? `, exposed by ${exposedBy}` : ''}`, () => {
      const r = catches(seed, [mutation]);
      assert.equal(r.planted.ok, false, `${mutation} went unnoticed by seed ${seed}`);
      assert.match(r.planted.failure!.invariant, invariant, r.planted.failure!.detail);
      assert.equal(r.baseline?.ok, true, `seed ${seed} fails without the mutation: ${r.baseline?.failure?.detail}`);
      assert.equal(r.caught, true);
      assert.equal(
        r.planted.failure!.replay,
        `barista sim --seed ${seed} --nodes 5 --workload raft-kv --swarm --duration 20000ms --liveness-bound 20000ms --mutation ${mutation}`,
      );
      if (exposedBy !== undefined) {
        const without = runSwarmSeed(seed, { mutations: [mutation], without: [exposedBy] });
        assert.ok(without.ok, `without ${exposedBy}: ${without.failure?.invariant}: ${without.failure?.detail}`);
      }
    });
  }
});

test('the swarm keeps clock drift within the lease bound the Raft driver assumes', () => {
  assert.equal(leaseClockDriftRateMax, defaultRaftTiming.leaseClockDriftRateMax);
});

// Goal (issue 7, "the simulator must be able to find these"): the swarm — each seed drawing its
// fault mix and intensities (src/sim/swarm.ts) for a 5-node raft-kv cluster run of 20 simulated
// seconds — passes a fixed set of seeds and a few fresh random ones (safety after every event,
// liveness after healing, a linearizable history); the fixed set injects every fault class of the
// registry (counted from the simulator's counters, not from being switched on); and the swarm
// bites: test/sim/swarm-bites.test.ts (a file of its own, for the per-file time budget). `npm run
// swarm` runs the big swarm (docs/SWARM.md); a failing seed here replays with the printed
// `barista sim` command.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { runClusterSimulation } from '../../src/node/sim-cluster.ts';
import { reportOf, runSwarmSeed, type SwarmSeedReport, swarmClusterOptions } from '../../src/node/sim-swarm.ts';
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

/**
 * 572: a misdirected write made n3 refuse its data 8.8 s in, while the cluster was still being
 * created; the operator wiped it and it started again as a new member with incarnation 1, the
 * number of its first life (incarnations-increase), because only a rejoin let the wall clock
 * stand in for a missing incarnation file. Fixed in bumpIncarnation (src/membership/driver.ts).
 */
describe('swarm: a node wiped while its cluster is being created', () => {
  test('seed 572: its next life has a higher incarnation', () => assertPassed(runSwarmSeed('572')));
});

/**
 * 467: rot in n1's one incarnation file made every read fail its checksum; the wall clock stood
 * in, skewed 0.7 s back by the clock nemesis, and n1's new life was below its last
 * (incarnations-increase). Fixed with two verified copies (src/membership/driver.ts).
 */
describe('swarm: a rotten incarnation file under clock skew', () => {
  test('seed 467: its next life has a higher incarnation', () => assertPassed(runSwarmSeed('467')));
});

/**
 * 283: the committed-on-a-majority check judged a commit index n4 had learned as a follower of
 * term 3 (counted under a configuration that still held n3) as a move made while leading term 4,
 * because its last look at n4 dated from n4's leadership of term 1. A false alarm of the check,
 * not of Raft: the check now keys what it saw by term (src/node/sim-raft-invariants.ts).
 */
describe('swarm: a commit index inherited at election under a changed configuration', () => {
  test('seed 283: not judged as a commit of the new leader', () => assertPassed(runSwarmSeed('283')));
});

/**
 * 418, 523 and 551: the operator wiped a node (rot, misdirected writes)
 * while the clock nemesis had stepped its clock back 70-830 s; the wall clock stood in for the
 * lost incarnation files, below the node's earlier life, and every peer dropped its pings as
 * stale. Peers now answer a stale ping with what they know; the node records it as a floor and
 * exits, and its supervisor starts it above (src/membership/membership.ts, driver.ts). Slow
 * syncs as time passing inside the fsync (session 7) moved 523's schedule; 699 (re-hunted with
 * clock-step on and slow-sync off) is the scenario now, and swarm-bites.test.ts' seed for the
 * planted membership-ignore-stale-notice.
 */
describe('swarm: a wiped node under a clock stepped back', () => {
  // 418 no longer steps the clock back across its wipe since the raft driver's schedule changed
  // (session 6: forwarded requests fail at once on a new leader); 523 did until session 7.
  for (const seed of ['699']) {
    test(`seed ${seed}: heard again after one exit`, () => {
      const r = runClusterSimulation(swarmClusterOptions(seed));
      assertPassed(reportOf(r));
      assert.equal(r.stats.incarnationExits, 1, 'the life below its earlier one exited once');
    });
  }
});

describe('swarm: fresh random seeds', () => {
  for (let i = 0; i < RANDOM_SEEDS; i++) {
    const seed = String(randomInt(1_000_000, 2 ** 40));
    test(`seed ${seed}`, () => assertPassed(runSwarmSeed(seed)));
  }
});

test('the swarm keeps clock drift within the lease bound the Raft driver assumes', () => {
  assert.equal(leaseClockDriftRateMax, defaultRaftTiming.leaseClockDriftRateMax);
});

/**
 * 279166134362: a crash point inside a snapshot file's save crashed a node from inside the
 * disk call; the node's stop() then aborted the save, which touched the crashed disk ("disk used
 * after its node crashed"). stop() now leaves the temp file to the next start (src/raft/driver.ts).
 */
describe('swarm: a crash inside a snapshot save', () => {
  test('seed 279166134362: stop() does not touch the crashed disk', () => assertPassed(runSwarmSeed('279166134362')));
});

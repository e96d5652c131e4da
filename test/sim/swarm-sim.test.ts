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
import { catches, runSwarmSeed, type SwarmSeedReport } from '../../src/node/sim-swarm.ts';
import { defaultRaftTiming } from '../../src/metadata/raft-driver.ts';
import { faultClassNames, leaseClockDriftRateMax, SwarmTally } from '../../src/sim/swarm.ts';

/**
 * Chosen so that together they inject every fault class (the coverage test checks it); seed 7 is
 * also the one that catches kv-skip-session-dedup below.
 */
const FIXED_SEEDS = ['4', '5', '7', '8', '13', '16'];
/**
 * Seeds that fail on this branch because of a defect another change repairs, run as `todo` (they
 * run and report, and their injected faults count for coverage, but do not fail the suite). Remove
 * an entry once it passes.
 */
const KNOWN_FAILING: Readonly<Record<string, string>> = {
  '4':
    'issue 7 #1: a transient read bit-flip during WAL recovery makes the node refuse to start ' +
    '(CorruptionError "bad record ... a valid record follows"); recovery must re-read before it refuses or truncates',
};
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
    const todo = KNOWN_FAILING[seed];
    test(`seed ${seed}`, todo !== undefined ? { todo } : {}, () => {
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

describe('swarm: fresh random seeds', () => {
  for (let i = 0; i < RANDOM_SEEDS; i++) {
    const seed = String(randomInt(1_000_000, 2 ** 40));
    test(`seed ${seed}`, () => assertPassed(runSwarmSeed(seed)));
  }
});

describe('swarm: planted bugs are caught', () => {
  test('kv-skip-session-dedup (retries re-execute) fails seed 7, which passes without it', () => {
    const r = catches('7', ['kv-skip-session-dedup']);
    assert.equal(r.planted.ok, false, 'the planted bug went unnoticed');
    assert.equal(r.planted.failure?.invariant, 'linearizability');
    assert.equal(r.baseline?.ok, true, `seed 7 fails without the mutation: ${r.baseline?.failure?.detail}`);
    assert.equal(r.caught, true);
    assert.match(
      r.planted.failure!.replay,
      /^barista sim --seed 7 --nodes 5 --workload raft-kv --swarm --duration 20000ms --liveness-bound 20000ms --mutation kv-skip-session-dedup$/,
    );
  });
});

test('the swarm keeps clock drift within the lease bound the Raft driver assumes', () => {
  assert.equal(leaseClockDriftRateMax, defaultRaftTiming.leaseClockDriftRateMax);
});

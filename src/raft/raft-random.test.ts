// Goal: Raft's safety properties (Figure 3: Election Safety, Leader Append-Only, Log Matching,
// Leader Completeness, State Machine Safety) hold under random schedules — 3- and 5-node
// clusters, random partitions (symmetric and one-way), message loss, duplication and reordering,
// crashes and restarts from durable storage, compaction with snapshot catch-up, leadership
// transfers and reads — checked after EVERY step by RaftInvariants. Then a liveness phase: once
// healed, the cluster must elect a leader and commit within a bound. A failure prints its seed;
// rerun one with RAFT_SEED=<seed> (read by the test through the test runner's argv is not
// possible in a pure core, so the seed list below is the replay mechanism: add failing seeds).
// Each seed is its own test (a failing seed does not hide the others), and each asserts that its
// schedule was not vacuous: reads were served, nodes crashed and restarted, snapshots were taken,
// entries committed. Over a whole size, followers also installed snapshots from their leader.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRng } from '../lib/rng.ts';
import { cmd, TestCluster } from './testing.ts';

/** Seeds that once failed are kept here as regressions; the size is the digit before '-'. */
const REGRESSION_SEEDS: string[] = ['m5-67', 'q3-21'];
const RANDOM_SEEDS_PER_SIZE = Number(process.env.RAFT_RANDOM_SEEDS ?? 30);
const SEED_PREFIX = process.env.RAFT_RANDOM_PREFIX ?? 's';
const STEPS_PER_RUN = 1500;
const LIVENESS_ROUNDS_MAX = Number(process.env.RAFT_LIVENESS_ROUNDS ?? 300);

/** What a schedule actually exercised (a run that never crashed proves nothing about crashes). */
interface Exercised {
  /** ReadIndex reads served during the faulty phases (the reads after healing are asserted apart). */
  readsServed: number;
  finalReadsServed: number;
  crashes: number;
  restarts: number;
  snapshotsTaken: number;
  /** A node's snapshot moved without a local compaction: it installed its leader's snapshot. */
  snapshotsInstalled: number;
  applied: number;
}

function runSeed(seed: string, size: number): Exercised {
  const rng = new SeededRng(seed);
  // n1..nN start as voters; `x` starts outside the config and may be added, promoted, removed.
  const ids = [...Array.from({ length: size }, (_, i) => `n${i + 1}`), 'x'];
  const c = new TestCluster({
    ids,
    outsiders: ['x'],
    seed,
    options: {
      preVote: rng.float() < 0.7,
      checkQuorum: rng.float() < 0.7,
      inflightCountMax: 1 + rng.int(4),
      appendBatchBytesMax: 64 + rng.int(256),
      snapshotChunkBytes: 16 + rng.int(64),
    },
  });
  let proposals = 0;
  let maxCommitSeen = 0;
  let readsServed = 0;
  let crashes = 0;
  let restarts = 0;
  let snapshotsTaken = 0;
  let snapshotsInstalled = 0;
  const snapshotIndex = new Map(ids.map((id) => [id, c.node(id).storage.snapshot().meta.index]));
  const readsIssued = new Map<string, number>();
  const up = (): string[] => ids.filter((id) => c.node(id).up);
  // ReadIndex linearizability: a read reflects every entry committed before it was issued.
  const observe = (): void => {
    for (const id of ids) {
      const n = c.node(id);
      const snap = n.storage.snapshot().meta.index;
      if (snap !== snapshotIndex.get(id)) {
        snapshotIndex.set(id, snap);
        snapshotsInstalled++;
      }
      if (n.up) maxCommitSeen = Math.max(maxCommitSeen, n.raft.commitIndex);
      for (const rs of n.readStates.splice(0)) {
        const ctx = new TextDecoder().decode(rs.requestCtx);
        const floor = readsIssued.get(ctx);
        assert.ok(floor !== undefined, `seed ${seed}: unknown read ${ctx}`);
        assert.ok(rs.index >= floor, `seed ${seed}: read ${ctx} at index ${rs.index} misses commit ${floor}`);
        assert.ok(n.appliedIndex >= rs.index, `seed ${seed}: read ${ctx} released before apply`);
        readsIssued.delete(ctx);
        const reader = /^final-read-(\w+)-/.exec(ctx)?.[1];
        if (reader !== undefined) finalReaders.add(reader);
        else if (!healing) readsServed++;
      }
    }
  };
  /** After the faults: reads still served are checked, and not counted as served under faults. */
  let healing = false;
  const finalReaders = new Set<string>();
  for (let step = 0; step < STEPS_PER_RUN; step++) {
    // Alternate calm and faulty phases so that work gets done between faults.
    const calm = Math.floor(step / 150) % 2 === 0;
    if (calm && step % 150 === 0) c.heal();
    let roll = rng.int(100);
    if (calm && roll >= 78 && roll < 93) roll = 30;
    if (roll < 35) {
      for (const id of up()) if (rng.float() < 0.8) c.tick(id);
    } else if (roll < 65) {
      c.round();
    } else if (roll < 78) {
      const target = c.leader() ?? rng.pick(ids);
      if (c.node(target).up) c.raft(target).propose(cmd(`${seed}:${proposals++}`));
    } else if (roll < 84) {
      c.heal();
      const kind = rng.int(4);
      if (kind === 1) c.isolate(rng.pick(ids));
      else if (kind === 2) {
        for (let k = 0; k < size; k++) c.cutOneWay(rng.pick(ids), rng.pick(ids));
      } else if (kind === 3) {
        // Split into two random groups.
        const side = new Map(ids.map((id) => [id, rng.float() < 0.5]));
        for (const a of ids) for (const b of ids) if (a < b && side.get(a) !== side.get(b)) c.cut(a, b);
      }
      c.dropRate = rng.float() < 0.5 ? rng.float() * 0.2 : 0;
      c.duplicateRate = rng.float() < 0.3 ? 0.1 : 0;
      c.reorder = rng.float() < 0.5;
    } else if (roll < 88) {
      const victim = rng.pick(ids);
      if (c.node(victim).up && up().length > 1) {
        c.crash(victim);
        crashes++;
      }
    } else if (roll < 93) {
      const down = ids.filter((id) => !c.node(id).up);
      if (down.length > 0) {
        c.restart(rng.pick(down));
        restarts++;
      }
    } else if (roll < 94) {
      const id = rng.pick(up());
      const n = c.node(id);
      if (n.appliedIndex > n.storage.snapshot().meta.index + 3) {
        c.snapshotAndCompact(id, n.appliedIndex - rng.int(3));
        snapshotIndex.set(id, n.storage.snapshot().meta.index);
        snapshotsTaken++;
      }
    } else if (roll < 95) {
      const leader = c.leader();
      if (leader) c.raft(leader).transferLeadership(rng.pick(ids));
    } else if (roll < 96) {
      const leader = c.leader();
      if (leader) {
        const conf = c.raft(leader).config;
        const target = rng.pick(ids);
        const change = conf.learners.includes(target)
          ? { type: 'addVoter' as const, nodeId: target }
          : conf.voters.includes(target)
            ? conf.voters.length > 2
              ? { type: 'remove' as const, nodeId: target }
              : undefined
            : { type: 'addLearner' as const, nodeId: target };
        if (change) c.raft(leader).proposeConfChange(change);
      }
    } else {
      const id = rng.pick(up());
      if (c.raft(id).readIndex(cmd(`read-${step}`)).ok) readsIssued.set(`read-${step}`, maxCommitSeen);
    }
    observe();
  }

  // Liveness: heal everything, restart everyone, and require progress within a bound.
  healing = true;
  c.heal();
  for (const id of ids) if (!c.node(id).up) c.restart(id);
  let committed = false;
  let marker = -1;
  for (let r = 0; r < LIVENESS_ROUNDS_MAX && !committed; r++) {
    c.tickAll();
    const leader = c.leader();
    if (leader && marker < 0) {
      const res = c.raft(leader).propose(cmd(`${seed}:final`));
      if (res.ok) marker = res.value.index;
    }
    if (marker > 0 && leader) {
      const conf = c.raft(leader).config;
      const members = [...conf.voters, ...conf.learners];
      committed = members.every((id) => c.node(id).appliedCommands.at(-1) === `${seed}:final`);
    }
    if (leader && marker > 0 && !committed && c.raft(leader).lastIndex < marker) marker = -1; // lost; retry
  }
  if (!committed) {
    const state = ids.map((id) => {
      const r = c.raft(id);
      const pr = c.leader() ? c.raft(c.leader()!).progress(id) : undefined;
      return `${id}:${r.role} t${r.currentTerm} lead=${r.leader} commit=${r.commitIndex} last=${r.lastIndex} first=${r.firstIndex} applied=${c.node(id).appliedIndex} pr=${pr ? `${pr.state}/m${pr.match}/n${pr.next}/if${pr.inflights.count}/ps${pr.probeSent}` : '-'} conf=${r.config.voters.join(',')}`;
    });
    assert.fail(`seed ${seed}: no progress after healing\n${state.join('\n')}`);
  }
  const finalConf = c.raft(c.leader()!).config;
  const members = [...finalConf.voters, ...finalConf.learners];
  // Reads after healing: a ReadIndex at every voter is served within the bound, and reflects
  // every commit seen before it was asked (the marker's included). Every seed serves reads here,
  // whatever its faulty phases allowed.
  observe();
  // A read asked again every few rounds until served: one the leader dropped (its pending bound,
  // a forwarded read expired) is asked anew, as a client would.
  const READ_RETRY_ROUNDS = 10;
  for (let r = 0; r < LIVENESS_ROUNDS_MAX && finalReaders.size < finalConf.voters.length; r++) {
    if (r % READ_RETRY_ROUNDS === 0) {
      for (const id of finalConf.voters) {
        const ctx = `final-read-${id}-${r}`;
        if (!finalReaders.has(id) && c.raft(id).readIndex(cmd(ctx)).ok) readsIssued.set(ctx, maxCommitSeen);
      }
    }
    c.tickAll();
    observe();
  }
  assert.equal(finalReaders.size, finalConf.voters.length, `seed ${seed}: reads after healing not all served`);
  const reference = c.node(members[0]!).appliedCommands;
  if (process.env.RAFT_RANDOM_VERBOSE)
    console.log(
      seed,
      JSON.stringify({
        proposals,
        readsServed,
        applied: reference.length,
        term: c.raft(c.leader()!).currentTerm,
        observations: c.invariants.observations,
        snap: ids.map((id) => c.node(id).storage.snapshot().meta.index),
      }),
    );
  for (const id of members)
    assert.deepEqual(c.node(id).appliedCommands, reference, `seed ${seed}: ${id} state machine`);
  const exercised = {
    readsServed,
    finalReadsServed: finalReaders.size,
    crashes,
    restarts,
    snapshotsTaken,
    snapshotsInstalled,
    applied: reference.length,
  };
  // Not vacuous: the schedule did what this test claims to check.
  assert.ok(crashes > 0 && restarts > 0, `seed ${seed}: no crash and restart ${JSON.stringify(exercised)}`);
  assert.ok(snapshotsTaken > 0, `seed ${seed}: no snapshot was taken ${JSON.stringify(exercised)}`);
  assert.ok(reference.length > 1, `seed ${seed}: nothing but the final marker committed ${JSON.stringify(exercised)}`);
  return exercised;
}

for (const size of [3, 5]) {
  const only = process.env.RAFT_SEED;
  const seeds = only
    ? [only].filter((x) => x.includes(`${size}-`))
    : [
        ...REGRESSION_SEEDS.filter((x) => x.includes(`${size}-`)),
        ...Array.from({ length: RANDOM_SEEDS_PER_SIZE }, (_, i) => `${SEED_PREFIX}${size}-${i}`),
      ];
  describe(`random schedules, ${size} nodes: safety after every step, liveness after healing`, () => {
    let installs = 0;
    let passed = 0;
    let withReads = 0;
    for (const seed of seeds) {
      test(`seed ${seed}`, () => {
        try {
          const exercised = runSeed(seed, size);
          installs += exercised.snapshotsInstalled;
          if (exercised.readsServed > 0) withReads++;
          passed++;
        } catch (e) {
          throw new Error(`failing seed: ${seed} (size ${size}): ${(e as Error).message}`, { cause: e });
        }
      });
    }
    // Snapshot installs depend on a follower lagging past a compaction, so not every seed has one;
    // across the seeds of a size they must happen, or InstallSnapshot went untested.
    test('followers installed snapshots from their leader in some seeds', (t) => {
      if (passed < 5) return t.skip(`only ${passed} seeds passed (RAFT_SEED or failures): too few to judge`);
      assert.ok(installs > 0, `no snapshot was installed over ${passed} seeds`);
    });
    // Every seed serves reads after healing; during the faults a schedule can leave no leader able
    // to confirm one for long (1 seed of 300 did, s5-22), but nearly every seed must serve some.
    test('reads were served during the faults in nearly every seed', (t) => {
      if (passed < 5) return t.skip(`only ${passed} seeds passed (RAFT_SEED or failures): too few to judge`);
      assert.ok(withReads >= Math.ceil(passed * 0.9), `reads under faults in only ${withReads} of ${passed} seeds`);
    });
  });
}

// Goal: the engine holds its own invariants under every fault at once, over many seeds (a small
// VOPR-style swarm): each node's monotonic clock never decreases across events, nothing runs on a
// crashed node, every run is reproducible from its seed, and after healAll() the heartbeat cluster
// converges within a bound (safety phase, then liveness phase).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heartbeatConverged, heartbeatProgram, localTimes } from './echo-program.ts';
import { randomNemesis } from './nemesis.ts';
import { Simulation } from './simulation.ts';

const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
const seedCount = 50;

function swarmRun(seed: number): string {
  const sim = new Simulation({
    seed,
    nodes,
    program: heartbeatProgram(nodes, { periodMs: 40, paddingBytes: 8, syncEvery: 3 }),
    network: { lossProbability: 0.02, duplicateProbability: 0.02, reorderProbability: 0.02, latencyJitterMs: 5 },
    replay: { args: { workload: 'heartbeat', nemesis: 'all' } },
  });
  const lastMonotonic = new Map(nodes.map((id) => [id, sim.clock(id).monotonicMs()]));
  sim.addInvariant('monotonic clocks never decrease', (s) => {
    for (const id of nodes) {
      const now = s.clock(id).monotonicMs();
      if (now < lastMonotonic.get(id)!) return `${id}: ${lastMonotonic.get(id)} -> ${now}`;
      lastMonotonic.set(id, now);
    }
    return undefined;
  });
  sim.addInvariant('crashed nodes have no instance', (s) => {
    for (const id of nodes) if ((s.state(id) === 'crashed') !== (s.instance(id) === undefined)) return id;
    return undefined;
  });
  sim.schedule(
    randomNemesis(sim.forkRng('nemesis'), nodes, {
      kinds: ['partition', 'crash', 'pause', 'clock', 'clog', 'loss'],
      startMs: 0,
      endMs: 8_000,
      intervalMs: { min: 50, max: 500 },
      driftRateMax: 0.2,
    }),
  );
  sim.runUntil(8_000);
  sim.healAll();
  const healedLocalMs = localTimes(sim);
  sim.expectWithin(
    'every node hears from every peer after the heal',
    (s) => heartbeatConverged(s, healedLocalMs),
    3_000,
  );
  return sim.traceHash();
}

test(`swarm: ${seedCount} seeds of all faults at once keep the engine's invariants and converge`, () => {
  const hashes = new Set<string>();
  for (let seed = 1; seed <= seedCount; seed++) hashes.add(swarmRun(seed));
  assert.equal(hashes.size, seedCount, 'every seed is a different run');
  assert.equal(swarmRun(7), swarmRun(7), 'a seed replays bit for bit');
});

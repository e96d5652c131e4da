// Runs a whole Baristas cluster — the real NodeServices program — inside the deterministic
// simulator: a safety phase with a seeded nemesis (partitions, crashes with disk faults, pauses,
// clock skew/drift, clogged links, message loss) while invariants are checked after every event,
// then a liveness phase (everything healed and restarted) in which the cluster must converge
// within a bound. The same (seed, options) replays the same run and trace hash.
//
// This file is deterministic: it uses only the simulator's virtual time and seeded randomness.

import type { NemesisKind, ScheduledFault } from '../sim/nemesis.ts';
import { randomNemesis } from '../sim/nemesis.ts';
import { type Simulation, Simulation as Sim, type SimulationStats } from '../sim/simulation.ts';
import { SimulationFailure } from '../sim/failure.ts';
import { defaultMembershipTiming } from '../membership/membership.ts';
import { defaultRaftTiming } from '../metadata/raft-driver.ts';
import { NodeServices } from './services.ts';

export const allNemesisKinds: readonly NemesisKind[] = ['partition', 'crash', 'pause', 'clock', 'clog', 'loss'];

export interface ClusterSimOptions {
  readonly seed: string;
  readonly nodes: number;
  readonly nemesis: readonly NemesisKind[];
  /** Virtual length of the safety phase (faults on). */
  readonly durationMs: number;
  /** Virtual time allowed for convergence after healing. */
  readonly livenessBoundMs: number;
  readonly workload: 'membership';
  /** Scripted faults added to the random schedule (tests use them to force a scenario). */
  readonly script?: readonly ScheduledFault[];
}

export interface ClusterSimResult {
  readonly seed: string;
  readonly ok: boolean;
  readonly failure: SimulationFailure | undefined;
  readonly traceHash: string;
  readonly stats: SimulationStats;
  /** Virtual ms from healing to convergence (undefined if it did not converge). */
  readonly convergedAfterMs: number | undefined;
}

export function replayArgs(o: ClusterSimOptions): Record<string, string | number> {
  return {
    workload: o.workload,
    nemesis: o.nemesis.length === 0 ? 'none' : o.nemesis.join(','),
    duration: `${o.durationMs}ms`,
    'liveness-bound': `${o.livenessBoundMs}ms`,
  };
}

function nodeIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `n${i + 1}`);
}

/** Membership invariants checked after every event. */
function addMembershipInvariants(sim: Simulation<NodeServices>): void {
  // A node's own incarnation grows on every start, even when crashes lose unsynced writes.
  const lastOwn = new Map<string, number>();
  const lastInstance = new Map<string, NodeServices>();
  // Within one life of a viewer, the incarnation it has seen for a peer never decreases.
  const seen = new Map<string, number>();
  sim.addInvariant('incarnations-increase', (s) => {
    for (const id of s.nodeIds) {
      const node = s.instance(id);
      if (node === undefined) continue;
      const own = node.membership.incarnation;
      const prev = lastOwn.get(id);
      const restarted = lastInstance.has(id) && lastInstance.get(id) !== node;
      if (prev !== undefined && (own < prev || (restarted && own === prev))) {
        return `${id} restarted with incarnation ${own}, not above its previous ${prev}`;
      }
      lastOwn.set(id, own);
      lastInstance.set(id, node);
      for (const peer of node.membership.core.view(0)) {
        const key = `${id}@${own}>${peer.id}`;
        const before = seen.get(key) ?? 0;
        if (peer.incarnation < before)
          return `${id} saw ${peer.id}'s incarnation go back from ${before} to ${peer.incarnation}`;
        seen.set(key, peer.incarnation);
      }
    }
    return undefined;
  });
}

function converged(sim: Simulation<NodeServices>): boolean {
  for (const id of sim.nodeIds) {
    const node = sim.instance(id);
    if (node === undefined || sim.state(id) !== 'up') return false;
    for (const p of node.membership.view()) {
      if (p.status !== 'alive') return false;
      // ...and it knows the peer's current life, not a previous one.
      if (p.incarnation !== sim.instance(p.id)?.membership.incarnation) return false;
    }
  }
  return true;
}

export function runClusterSimulation(o: ClusterSimOptions): ClusterSimResult {
  const ids = nodeIds(o.nodes);
  const sim = new Sim<NodeServices>({
    seed: o.seed,
    nodes: ids,
    program: (env) =>
      new NodeServices(env, {
        clusterId: 'sim',
        peers: ids.filter((p) => p !== env.nodeId),
        membership: defaultMembershipTiming,
        raft: { ...defaultRaftTiming },
      }),
    replay: { args: replayArgs(o) },
  });
  addMembershipInvariants(sim);
  let convergedAfterMs: number | undefined;
  let failure: SimulationFailure | undefined;
  try {
    if (o.nemesis.length > 0) {
      sim.schedule(
        randomNemesis(sim.forkRng('schedule'), ids, { kinds: o.nemesis, startMs: 1_000, endMs: o.durationMs }),
      );
    }
    if (o.script !== undefined) sim.schedule(o.script);
    sim.runUntil(o.durationMs);
    sim.healAll();
    const healedAt = sim.nowMs;
    if (sim.runUntilCondition(converged, o.livenessBoundMs)) convergedAfterMs = sim.nowMs - healedAt;
    else throw sim.fail('liveness', `membership did not converge within ${o.livenessBoundMs} ms after healing`);
  } catch (err) {
    if (!(err instanceof SimulationFailure)) throw err;
    failure = err;
  }
  failure ??= sim.failed;
  return {
    seed: o.seed,
    ok: failure === undefined,
    failure,
    traceHash: sim.traceHash(),
    stats: sim.stats(),
    convergedAfterMs,
  };
}

// The swarm over the real cluster program: one seed = one 5-node raft-kv run of at least 20
// simulated seconds whose fault mix and intensities the seed draws (src/sim/swarm.ts), reduced to
// a small JSON-able report (so worker processes can send it to the runner, scripts/swarm.mjs).
// findCatchingSeed() runs seeds in order with planted bugs (src/lib/mutations.ts) until one fails:
// the evidence that the swarm bites, recorded in docs/SWARM.md.
//
// Deterministic per seed; the wall time in a report is measured outside the simulation and does
// not influence it.

import type { Mutation } from '../lib/mutations.ts';
import { type ClusterSimOptions, type ClusterSimResult, runClusterSimulation } from './sim-cluster.ts';

/** The issue-7 swarm run: 5 nodes, raft-kv, 20 s of faults, 20 s to converge. */
export const swarmRunDefaults = {
  nodes: 5,
  durationMs: 20_000,
  livenessBoundMs: 20_000,
  workload: 'raft-kv',
} as const satisfies Partial<ClusterSimOptions>;

export interface SwarmRunOptions {
  readonly mutations?: readonly Mutation[];
  readonly nodes?: number;
  readonly durationMs?: number;
  readonly livenessBoundMs?: number;
  /** Fault classes left out of each seed's mix (src/sim/swarm.ts swarmClassesWithout). */
  readonly without?: readonly string[];
  /** A registered workload, or `mix`: each seed also draws its workloads and their intensities. */
  readonly workload?: string;
  /** Overrides of the workload's own options (ClusterSimOptions.workloadOptions). */
  readonly workloadOptions?: Readonly<Record<string, unknown>>;
}

export function swarmClusterOptions(seed: string, o: SwarmRunOptions = {}): ClusterSimOptions {
  return {
    seed,
    nodes: o.nodes ?? swarmRunDefaults.nodes,
    nemesis: [],
    durationMs: o.durationMs ?? swarmRunDefaults.durationMs,
    livenessBoundMs: o.livenessBoundMs ?? swarmRunDefaults.livenessBoundMs,
    workload: o.workload ?? swarmRunDefaults.workload,
    swarm: true,
    ...(o.without !== undefined && o.without.length > 0 ? { swarmWithout: o.without } : {}),
    ...(o.mutations !== undefined && o.mutations.length > 0 ? { mutations: o.mutations } : {}),
    ...(o.workloadOptions !== undefined ? { workloadOptions: o.workloadOptions } : {}),
  };
}

export interface SwarmSeedReport {
  readonly seed: string;
  readonly ok: boolean;
  /** Classes the seed switched on, with their knob values. */
  readonly on: readonly { readonly name: string; readonly intensity: string }[];
  /** Faults injected per class of the registry (zeros included). */
  readonly injected: Readonly<Record<string, number>>;
  readonly virtualMs: number;
  readonly events: number;
  readonly clientOpsOk: number;
  /** Nodes the simulated operator wiped and rejoined after they stopped on damaged data. */
  readonly operatorRejoins: number;
  readonly failure?: { readonly invariant: string; readonly detail: string; readonly replay: string };
}

export function reportOf(r: ClusterSimResult): SwarmSeedReport {
  return {
    seed: r.seed,
    ok: r.ok,
    on: r.mix?.on ?? [],
    injected: r.injected,
    virtualMs: r.stats.nowMs,
    events: r.stats.events,
    clientOpsOk: r.clients?.ok ?? 0,
    operatorRejoins: r.operatorRejoins,
    ...(r.failure !== undefined
      ? {
          failure: {
            invariant: r.failure.invariant,
            detail: r.failure.detail.slice(0, 2_000),
            replay: r.failure.replayCommand,
          },
        }
      : {}),
  };
}

export function runSwarmSeed(seed: string, o: SwarmRunOptions = {}): SwarmSeedReport {
  return reportOf(runClusterSimulation(swarmClusterOptions(seed, o)));
}

export interface CatchResult {
  /** The first seed that failed with the mutations and passed without them; undefined if none within the budget. */
  readonly seed: string | undefined;
  readonly seedsTried: number;
  /** The catching run's report (with the mutations). */
  readonly report: SwarmSeedReport | undefined;
  /** Seeds that failed without the mutations too: a defect of their own, not a catch. */
  readonly baselineFailures: readonly string[];
}

/**
 * Whether `seed` catches `mutations`: it fails with them planted and passes without them.
 * `baselines` keeps each seed's run without mutations (same options) for callers that judge
 * several mutations on one seed: a seed replays exactly, so its baseline is run once.
 */
export function catches(
  seed: string,
  mutations: readonly Mutation[],
  o: SwarmRunOptions = {},
  baselines?: Map<string, SwarmSeedReport>,
): {
  readonly caught: boolean;
  readonly planted: SwarmSeedReport;
  readonly baseline: SwarmSeedReport | undefined;
} {
  const planted = runSwarmSeed(seed, { ...o, mutations });
  if (planted.ok) return { caught: false, planted, baseline: undefined };
  const baseline = baselines?.get(seed) ?? runSwarmSeed(seed, { ...o, mutations: [] });
  baselines?.set(seed, baseline);
  return { caught: baseline.ok, planted, baseline };
}

/**
 * Runs seeds firstSeed, firstSeed+1, ... with `mutations` planted until one catches them (fails
 * with them, passes without: a seed that fails either way found some other defect) or the budget
 * is spent.
 */
export function findCatchingSeed(
  mutations: Mutation | readonly Mutation[],
  seedBudget: number,
  o: SwarmRunOptions & { readonly firstSeed?: number } = {},
): CatchResult {
  const planted = typeof mutations === 'string' ? [mutations] : mutations;
  const first = o.firstSeed ?? 1;
  const baselineFailures: string[] = [];
  for (let i = 0; i < seedBudget; i++) {
    const seed = String(first + i);
    const r = catches(seed, planted, o);
    if (r.caught) return { seed, seedsTried: i + 1, report: r.planted, baselineFailures };
    if (r.baseline !== undefined) baselineFailures.push(seed);
  }
  return { seed: undefined, seedsTried: seedBudget, report: undefined, baselineFailures };
}

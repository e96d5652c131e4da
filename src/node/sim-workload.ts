// The simulator's side of the service seam: each service registers the invariants the simulator
// checks after every event of every run, the condition its liveness phase waits for, and named
// workloads (a client generator over the simulated cluster, its checker model, its own liveness
// condition). `barista sim --workload NAME` runs one of them; `--workload list` lists them;
// `--workload mix` lets each seed draw which workloads run and how hard (swarm's workload mix).
//
// Deterministic: a workload uses only the simulation's virtual time and the Rng it is given.

import type { History } from '../check/history.ts';
import type { SeededRng } from '../lib/rng.ts';
import type { Simulation } from '../sim/simulation.ts';
import type { NodeServices } from './services.ts';

export type ClusterSim = Simulation<NodeServices>;

export interface SimServiceHooks {
  /** Adds the service's invariants (sim.addInvariant); called once per run, before it starts. */
  addInvariants?(sim: ClusterSim): void;
  /** After healing, the run waits (within its liveness bound) until this holds for every service. */
  converged?(sim: ClusterSim): boolean;
  readonly workloads?: readonly SimWorkload[];
}

export interface SimWorkloadContext {
  readonly sim: ClusterSim;
  readonly rng: SeededRng;
  /** Issue no new operation at or after this virtual time (the end of the safety phase). */
  readonly stopAtMs: number;
  /** Overrides of the workload's own options (tests and CLI flags); the workload validates them. */
  readonly options: Readonly<Record<string, unknown>>;
  /** In swarm mode: the intensity the seed drew for this workload, in [0, 1). */
  readonly intensity?: number;
}

/** A client history and the checker's verdict on it. */
export interface ClientSummary {
  readonly ops: number;
  readonly ok: number;
  readonly verdict: string;
  readonly reason?: string;
  readonly checkMs: number;
  readonly controlActions: number;
  readonly history: History;
}

export interface RunningWorkload {
  /** Operations issued and not yet answered or given up. */
  readonly inflightOps: number;
  /** Leadership transfers, membership changes and the like the workload made (swarm counts them). */
  readonly controlActions: number;
  /** How long the run may wait for in-flight operations to settle after liveness. */
  readonly settleMs: number;
  /** The workload's own liveness after healing, before `deadlineMs`; throws sim.fail otherwise. */
  liveness(deadlineMs: number): void;
  /** The checker's verdict on the history (undefined: the workload records none). */
  check(): ClientSummary | undefined;
}

export interface SimWorkload {
  /** Unique across services: `barista sim --workload NAME`. */
  readonly name: string;
  readonly description: string;
  /** Whether swarm's workload mix may draw it (it records a history the checker can judge). */
  readonly inMix: boolean;
  start(ctx: SimWorkloadContext): RunningWorkload;
}

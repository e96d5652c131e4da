// Runs a whole Baristas cluster — the real NodeServices program — inside the deterministic
// simulator: a safety phase with a seeded nemesis (partitions, crashes with disk faults, pauses,
// clock skew/drift, clogged links, message loss) while invariants are checked after every event,
// then a liveness phase (everything healed and restarted) in which the cluster must converge
// within a bound. The same (seed, options) replays the same run and trace hash.
//
// In swarm mode (`swarm: true`, `barista sim --swarm`) the seed also draws which fault classes are
// on and how hard each hits (src/sim/swarm.ts): network duplication/reordering/loss, disk crash
// semantics, slow syncs, read bit-flips, the nemesis mix and the workload's membership changes.
// Every result counts what each fault class actually injected. `mutations` plants bugs
// (src/lib/mutations.ts) to show that a seed catches them.
//
// This file is deterministic: it uses only the simulator's virtual time and seeded randomness.

import { type Mutation, type Mutations, mutationsFrom } from '../lib/mutations.ts';
import type { DiskFaults } from '../sim/disk.ts';
import type { NemesisKind, ScheduledFault } from '../sim/nemesis.ts';
import { drawSwarmMix, injectedByClass, type SwarmMix, swarmClassesWithout } from '../sim/swarm.ts';
import { randomNemesis } from '../sim/nemesis.ts';
import { type Simulation, Simulation as Sim, type SimulationStats } from '../sim/simulation.ts';
import { SimulationFailure } from '../sim/failure.ts';
import { defaultMembershipTiming } from '../membership/membership.ts';
import { defaultRaftTiming } from '../raft/driver.ts';
import { defaultKvOptions } from '../metadata/kv.ts';
import type { History } from '../check/history.ts';
import { bytesEqual } from '../lib/bytes.ts';
import { defaultKvWorkload, KvWorkload, type KvWorkloadOptions } from './sim-kv-workload.ts';
import { NodeServices, RAFT_GROUPS, type RaftTiming } from './services.ts';
import { attachRaftInvariants } from './sim-raft-invariants.ts';

/** The tests' default nemesis (their fixed seeds depend on this list: append, never reorder). */
export const allNemesisKinds: readonly NemesisKind[] = ['partition', 'crash', 'pause', 'clock', 'clog', 'loss'];
/** Every nemesis kind, for `barista sim --nemesis all` (adds crashes inside disk I/O). */
export const nemesisKindNames: readonly NemesisKind[] = [...allNemesisKinds, 'crash-in-io'];

function mutationList(m: ClusterSimOptions['mutations']): readonly Mutation[] {
  if (m === undefined) return [];
  return 'has' in m ? m.list() : m;
}

export interface ClusterSimOptions {
  readonly seed: string;
  readonly nodes: number;
  readonly nemesis: readonly NemesisKind[];
  /** Virtual length of the safety phase (faults on). */
  readonly durationMs: number;
  /** Virtual time allowed for convergence after healing. */
  readonly livenessBoundMs: number;
  readonly workload: 'membership' | 'raft-kv';
  /** raft-kv: overrides of the client workload (tests use them to force a scenario). */
  readonly kvWorkload?: Partial<Omit<KvWorkloadOptions, 'stopAtMs'>>;
  /** Scripted faults added to the random schedule (tests use them to force a scenario). */
  readonly script?: readonly ScheduledFault[];
  /** Swarm mode: the seed draws the fault mix and intensities; `nemesis` is then ignored. */
  readonly swarm?: boolean;
  /** Swarm mode: classes left out of the draw (the others draw as before: one Rng stream per class). */
  readonly swarmWithout?: readonly string[];
  /** Disk faults on top of the simulator's defaults (src/sim/disk.ts). */
  readonly diskFaults?: Partial<DiskFaults>;
  /** Raft driver overrides (e.g. `readOnly: 'lease'`). */
  readonly raft?: Partial<RaftTiming>;
  /** Largest |clock drift rate| the random nemesis draws (default: the nemesis's own, 0.05). */
  readonly driftRateMax?: number;
  /** Planted bugs (src/lib/mutations.ts) every node runs with: names, or a validated set. */
  readonly mutations?: readonly Mutation[] | Mutations;
}

export interface ClusterSimResult {
  readonly seed: string;
  readonly ok: boolean;
  readonly failure: SimulationFailure | undefined;
  readonly traceHash: string;
  readonly stats: SimulationStats;
  /** Virtual ms from healing to convergence (undefined if it did not converge). */
  readonly convergedAfterMs: number | undefined;
  /** raft-kv only: client ops completed / ok, the linearizability verdict and its time. */
  readonly kv?: { ops: number; ok: number; verdict: string; checkMs: number; controlActions: number; history: History };
  /** Swarm mode: the fault classes the seed switched on, and their knob values. */
  readonly mix?: SwarmMix;
  /** Faults each class of the swarm registry injected in this run (counted, zeros included). */
  readonly injected: Record<string, number>;
  /** The Raft groups whose safety invariants ran after every event (sim-raft-invariants.ts). */
  readonly raftGroupsChecked: readonly string[];
}

export function replayArgs(o: ClusterSimOptions): Record<string, string | number | boolean> {
  return {
    workload: o.workload,
    ...(o.swarm === true ? { swarm: true } : { nemesis: o.nemesis.length === 0 ? 'none' : o.nemesis.join(',') }),
    ...(o.swarm === true && (o.swarmWithout?.length ?? 0) > 0 ? { 'swarm-without': o.swarmWithout!.join(',') } : {}),
    duration: `${o.durationMs}ms`,
    'liveness-bound': `${o.livenessBoundMs}ms`,
    ...(o.kvWorkload?.readConsistency !== undefined ? { 'read-consistency': o.kvWorkload.readConsistency } : {}),
    ...(o.kvWorkload?.sessions === true ? { sessions: true } : {}),
    // `--mutation a,b` is accepted by the CLI like `--mutation a --mutation b`.
    ...(mutationList(o.mutations).length > 0
      ? { mutation: [...new Set(mutationList(o.mutations))].sort().join(',') }
      : {}),
  };
}

function readsOk(history: History): number {
  let n = 0;
  for (const op of history) if (op.type === 'ok' && op.f === 'read') n++;
  return n;
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
      for (const peer of s.nodeIds) {
        const incarnation = node.membership.core.peerIncarnation(peer);
        if (incarnation === undefined) continue;
        const key = `${id}@${own}>${peer}`;
        const before = seen.get(key) ?? 0;
        if (incarnation < before) return `${id} saw ${peer}'s incarnation go back from ${before} to ${incarnation}`;
        seen.set(key, incarnation);
      }
    }
    return undefined;
  });
}

function converged(sim: Simulation<NodeServices>): boolean {
  for (const id of sim.nodeIds) {
    const node = sim.instance(id);
    if (node === undefined || sim.state(id) !== 'up') return false;
    for (const peer of sim.nodeIds) {
      if (peer === id) continue;
      if (node.membership.core.status(peer) !== 'alive') return false;
      // ...and it knows the peer's current life, not a previous one.
      if (node.membership.core.peerIncarnation(peer) !== sim.instance(peer)?.membership.incarnation) return false;
    }
  }
  return true;
}

export function runClusterSimulation(o: ClusterSimOptions): ClusterSimResult {
  const ids = nodeIds(o.nodes);
  const mix = o.swarm === true ? drawSwarmMix(o.seed, swarmClassesWithout(o.swarmWithout ?? [])) : undefined;
  const sim = new Sim<NodeServices>({
    seed: o.seed,
    nodes: ids,
    ...(mix !== undefined ? { network: mix.knobs.network } : {}),
    ...(mix !== undefined || o.diskFaults !== undefined
      ? { diskFaults: { ...mix?.knobs.diskFaults, ...o.diskFaults } }
      : {}),
    mutations: mutationsFrom(mutationList(o.mutations)),
    program: (env) =>
      new NodeServices(env, {
        clusterId: 'sim',
        peers: ids.filter((p) => p !== env.nodeId),
        membership: defaultMembershipTiming,
        // Small snapshot interval in the simulator, so snapshots, compaction and InstallSnapshot
        // to lagging or restarted nodes happen in every run.
        raft: {
          ...defaultRaftTiming,
          snapshotEveryEntries: 200,
          snapshotRetainEntries: 50,
          ...mix?.knobs.raft,
          ...o.raft,
        },
      }),
    replay: { args: replayArgs(o) },
  });
  addMembershipInvariants(sim);
  // Raft safety on every group, whatever the workload (sim-raft-invariants.ts).
  const raftChecks = attachRaftInvariants(sim);
  const kv =
    o.workload === 'raft-kv'
      ? new KvWorkload(sim, sim.forkRng('workload'), {
          ...defaultKvWorkload,
          ...mix?.knobs.workload,
          ...o.kvWorkload,
          stopAtMs: o.durationMs,
        })
      : undefined;
  let convergedAfterMs: number | undefined;
  let failure: SimulationFailure | undefined;
  let kvSummary: ClusterSimResult['kv'];
  try {
    if (mix !== undefined) {
      const { kinds, ...rest } = mix.knobs.nemesis;
      if (kinds.length > 0) {
        sim.schedule(
          randomNemesis(sim.forkRng('schedule'), ids, { kinds, ...rest, startMs: 1_000, endMs: o.durationMs }),
        );
      }
    } else if (o.nemesis.length > 0) {
      sim.schedule(
        randomNemesis(sim.forkRng('schedule'), ids, {
          kinds: o.nemesis,
          startMs: 1_000,
          endMs: o.durationMs,
          ...(o.driftRateMax === undefined ? {} : { driftRateMax: o.driftRateMax }),
        }),
      );
    }
    if (o.script !== undefined) sim.schedule(o.script);
    sim.runUntil(o.durationMs);
    sim.healAll();
    const healedAt = sim.nowMs;
    if (sim.runUntilCondition(converged, o.livenessBoundMs)) convergedAfterMs = sim.nowMs - healedAt;
    else throw sim.fail('liveness', `membership did not converge within ${o.livenessBoundMs} ms after healing`);
    if (kv !== undefined) {
      raftLiveness(sim, ids, healedAt + o.livenessBoundMs);
      convergedAfterMs = sim.nowMs - healedAt;
      // Let the clients' last ops finish (each is bounded by the client timeout).
      sim.runUntilCondition(() => kv.inflightOps === 0, defaultKvWorkload.clientTimeoutMs + 1_000);
      const verdict = kv.check();
      kvSummary = {
        ops: kv.opsCompleted,
        ok: kv.opsOk,
        verdict: verdict.verdict,
        checkMs: verdict.stats.elapsedMs,
        controlActions: kv.controlActions,
        history: kv.history(),
      };
      if (verdict.verdict !== 'valid') {
        throw sim.fail(
          'linearizability',
          `client history is ${verdict.verdict}: ${verdict.reason ?? ''} (${kv.opsCompleted} ops)`,
        );
      }
      // A session expires after sessionTimeoutMs (5 min) of log time without a request; a run is
      // far shorter, so an expiry means log time ran ahead (issue 7 item 9: a wall clock in it).
      const expired = kvSummary.history.filter((op) => op.error === 'session_expired').length;
      if (expired > 0 && sim.nowMs < defaultKvOptions.sessionTimeoutMs) {
        throw sim.fail('session-expiry', `${expired} ops found their session expired in a ${sim.nowMs} ms run`);
      }
    }
  } catch (err) {
    if (!(err instanceof SimulationFailure)) throw err;
    failure = err;
  }
  failure ??= sim.failed;
  const stats = sim.stats();
  const leaseMode = (o.raft?.readOnly ?? mix?.knobs.raft.readOnly) === 'lease';
  return {
    seed: o.seed,
    ok: failure === undefined,
    failure,
    traceHash: sim.traceHash(),
    stats,
    convergedAfterMs,
    ...(kvSummary !== undefined ? { kv: kvSummary } : {}),
    ...(mix !== undefined ? { mix } : {}),
    raftGroupsChecked: raftChecks.groups,
    injected: injectedByClass({
      stats,
      controlActions: kv?.controlActions ?? 0,
      leaseReads: leaseMode && kvSummary !== undefined ? readsOk(kvSummary.history) : 0,
    }),
  };
}

/**
 * Raft's liveness phase: with everything healed, every Raft group elects a leader, every node is a
 * voter again in every group (membership changes made during the safety phase are repaired), a
 * fresh KV write commits, and every replica of every group applies the same entries (the KV
 * replicas hold the same state), all before `deadlineMs`.
 */
function raftLiveness(sim: Simulation<NodeServices>, ids: readonly string[], deadlineMs: number): void {
  const groups = RAFT_GROUPS;
  const driverOf = (n: NodeServices | undefined, group: string) => n?.groups.get(group);
  const leaderOf = (group: string): NodeServices | undefined => {
    for (const id of ids) {
      const n = sim.instance(id);
      if (driverOf(n, group)?.core.role === 'leader') return n;
    }
    return undefined;
  };
  const leader = (): NodeServices | undefined => leaderOf('kv');
  const remaining = (): number => Math.max(0, deadlineMs - sim.nowMs);
  // Predicates passed to runUntilCondition run after every event, so they must not act: the
  // repair is a periodic action of its own.
  const fullConfigOf = (group: string): boolean => {
    const conf = driverOf(leaderOf(group), group)?.core.config;
    return conf !== undefined && conf.voters.length === ids.length && conf.learners.length === 0;
  };
  const fullConfig = (): boolean => groups.length > 0 && groups.every(fullConfigOf);
  const repair = (): void => {
    for (const group of groups) {
      const l = driverOf(leaderOf(group), group);
      if (l === undefined || fullConfigOf(group)) continue;
      const conf = l.core.config;
      const learner = conf.learners[0];
      const missing = ids.find((id) => !conf.voters.includes(id) && !conf.learners.includes(id));
      if (learner !== undefined) l.changeMembership({ type: 'addVoter', nodeId: learner });
      else if (missing !== undefined) l.changeMembership({ type: 'addLearner', nodeId: missing });
    }
    if (!fullConfig() && sim.nowMs < deadlineMs) sim.after(200, repair, 'liveness-repair');
  };
  repair();
  if (!sim.runUntilCondition(fullConfig, remaining()))
    throw sim.fail('liveness', 'not every Raft group has a leader with the full configuration after healing');
  let committed = false;
  let attempts = 0;
  const tryWrite = (): void => {
    const l = leader();
    attempts++;
    if (l === undefined) {
      if (attempts < 1_000) sim.after(100, tryWrite, 'liveness-write');
      return;
    }
    l.kv.write({ op: 'put', key: new TextEncoder().encode('liveness'), value: new Uint8Array([1]) }, undefined, (o) => {
      if (o.ok && o.result.ok) committed = true;
      else if (attempts < 1_000) sim.after(100, tryWrite, 'liveness-write');
    });
  };
  tryWrite();
  if (!sim.runUntilCondition(() => committed, remaining()))
    throw sim.fail('liveness', 'no write committed after healing');
  const agreed = (): boolean => {
    const nodes = ids.map((id) => sim.instance(id));
    if (nodes.some((n) => n === undefined)) return false;
    for (const group of groups) {
      const commit = driverOf(leaderOf(group), group)?.core.commitIndex;
      if (commit === undefined || nodes.some((n) => driverOf(n, group)?.appliedIndex !== commit)) return false;
    }
    const image = nodes[0]!.kvState.snapshot();
    return nodes.every((n) => bytesEqual(n!.kvState.snapshot(), image));
  };
  if (!sim.runUntilCondition(agreed, remaining()))
    throw sim.fail('liveness', 'replicas did not converge to the same applied state');
}

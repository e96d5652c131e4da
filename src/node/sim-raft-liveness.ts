// Raft's liveness phase for every group of a simulated cluster, for the workloads that need it
// (the KV workload calls it after healing): every group elects a leader and every node is a voter
// again in every group (membership changes made during the safety phase are repaired, one step
// at a time, on each group's leader), and later every replica of every group has applied what its
// leader committed. Deterministic: only the simulation's virtual time.

import type { RaftDriver } from '../raft/driver.ts';
import type { Simulation } from '../sim/simulation.ts';
import type { ServiceHost } from './service.ts';

function groupNames<S extends ServiceHost>(sim: Simulation<S>): string[] {
  const names: string[] = [];
  for (const id of sim.nodeIds)
    for (const { group } of sim.instance(id)?.groups.all() ?? []) if (!names.includes(group)) names.push(group);
  return names;
}

/** The driver of `group` on its current leader, if any node leads it. */
export function groupLeader<S extends ServiceHost>(sim: Simulation<S>, group: string): RaftDriver | undefined {
  for (const id of sim.nodeIds) {
    const d = sim.instance(id)?.groups.get(group);
    if (d?.core.role === 'leader') return d;
  }
  return undefined;
}

/** Repairs every group's configuration to all nodes as voters; throws sim.fail past `deadlineMs`. */
export function awaitFullConfiguration<S extends ServiceHost>(sim: Simulation<S>, deadlineMs: number): void {
  const ids = sim.nodeIds;
  const groups = groupNames(sim);
  const full = (group: string): boolean => {
    const conf = groupLeader(sim, group)?.core.config;
    return conf !== undefined && conf.voters.length === ids.length && conf.learners.length === 0;
  };
  const fullEverywhere = (): boolean => groups.length > 0 && groups.every(full);
  // Predicates passed to runUntilCondition run after every event, so they must not act: the
  // repair is a periodic action of its own.
  const repair = (): void => {
    for (const group of groups) {
      const l = groupLeader(sim, group);
      if (l === undefined || full(group)) continue;
      const conf = l.core.config;
      const learner = conf.learners[0];
      const missing = ids.find((id) => !conf.voters.includes(id) && !conf.learners.includes(id));
      if (learner !== undefined) l.changeMembership({ type: 'addVoter', nodeId: learner });
      else if (missing !== undefined) l.changeMembership({ type: 'addLearner', nodeId: missing });
    }
    if (!fullEverywhere() && sim.nowMs < deadlineMs) sim.after(200, repair, 'liveness-repair');
  };
  repair();
  if (!sim.runUntilCondition(fullEverywhere, Math.max(0, deadlineMs - sim.nowMs)))
    throw sim.fail('liveness', 'not every Raft group has a leader with the full configuration after healing');
}

/** Whether every node is up and has applied, in every group, what that group's leader committed. */
export function groupsApplied<S extends ServiceHost>(sim: Simulation<S>): boolean {
  const nodes = sim.nodeIds.map((id) => sim.instance(id));
  if (nodes.some((n) => n === undefined)) return false;
  for (const group of groupNames(sim)) {
    const commit = groupLeader(sim, group)?.core.commitIndex;
    if (commit === undefined || nodes.some((n) => n!.groups.get(group)?.appliedIndex !== commit)) return false;
  }
  return true;
}

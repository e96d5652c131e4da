// Raft's safety properties (src/raft/invariants.ts) for every Raft group of every node in a
// simulated cluster, checked after every event: one checker per group (each group is its own Raft
// cluster: its own terms, logs and state machine), fed with each node's core and every entry its
// driver applies. Attached once per simulation (`attachRaftInvariants` is idempotent), by every
// cluster run (sim-cluster.ts) whatever the workload, and by the KV workload for tests that build
// their own simulation. A workload may listen to one group's applies (the KV workload's
// applied-once check) through `onApplied`.
//
// Deterministic: it only observes.

import { RaftInvariants } from '../raft/invariants.ts';
import { observation } from '../raft/testing.ts';
import type { Entry, NodeId } from '../raft/types.ts';
import type { Simulation } from '../sim/simulation.ts';
import type { ServiceHost } from './service.ts';

type ApplyListener = (node: NodeId, entry: Entry) => void;

export class GroupInvariants {
  private readonly checkers = new Map<string, RaftInvariants>();
  private readonly listeners = new Map<string, ApplyListener[]>();

  /** The checker of one group (created on first sight of the group). */
  checker(group: string): RaftInvariants {
    let c = this.checkers.get(group);
    if (c === undefined) {
      c = new RaftInvariants();
      this.checkers.set(group, c);
    }
    return c;
  }

  /** Groups seen so far. */
  get groups(): readonly string[] {
    return [...this.checkers.keys()];
  }

  onApplied(group: string, listener: ApplyListener): void {
    const list = this.listeners.get(group) ?? [];
    list.push(listener);
    this.listeners.set(group, list);
  }

  /** One check over the cluster; returns the first violation, naming its group. */
  check<S extends ServiceHost>(sim: Simulation<S>): string | undefined {
    const byGroup = new Map<string, ReturnType<typeof observation>[]>();
    for (const id of sim.nodeIds) {
      const node = sim.instance(id);
      if (node === undefined) continue;
      for (const { group, driver } of node.groups.all()) {
        const checker = this.checker(group);
        if (driver.observer === undefined) {
          // A new instance (start or restart) begins at the index its snapshot restored.
          checker.recordRestored(id, driver.appliedIndex);
          driver.observer = {
            applied: (e) => {
              checker.recordApplied(id, e);
              for (const l of this.listeners.get(group) ?? []) l(id, e);
            },
            restored: (index) => checker.recordRestored(id, index),
          };
        }
        const list = byGroup.get(group) ?? [];
        list.push(observation(driver.core));
        byGroup.set(group, list);
      }
    }
    for (const [group, obs] of byGroup) {
      const checker = this.checker(group);
      try {
        checker.observe(obs);
        // History below every live node's first index is compacted everywhere: keep memory bounded.
        checker.forgetBelow(Math.min(...obs.map((o) => o.log.firstIndex)));
      } catch (err) {
        return `group ${group}: ${(err as Error).message}`;
      }
    }
    return undefined;
  }
}

const attached = new WeakMap<object, GroupInvariants>();

/** Adds the `raft-safety` invariant over every group to `sim` (once) and returns its checkers. */
export function attachRaftInvariants<S extends ServiceHost>(sim: Simulation<S>): GroupInvariants {
  const existing = attached.get(sim);
  if (existing !== undefined) return existing;
  const invariants = new GroupInvariants();
  attached.set(sim, invariants);
  sim.addInvariant('raft-safety', () => invariants.check(sim));
  return invariants;
}

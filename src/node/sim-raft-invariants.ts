// Raft's safety properties (src/raft/invariants.ts) for every Raft group of every node in a
// simulated cluster, checked after every event: one checker per group (each group is its own Raft
// cluster: its own terms, logs and state machine), fed with each node's core and every entry its
// driver applies. Attached once per simulation (`attachRaftInvariants` is idempotent), by every
// cluster run (sim-cluster.ts) whatever the workload, and by the KV workload for tests that build
// their own simulation. A workload may listen to one group's applies (the KV workload's
// applied-once check) through `onApplied`.
//
// Durability (`durability: ...`, raft-safety's companion): when a node's group comes back in a new
// process, its term and vote must be at least what its previous life had synced, and its log must
// reach the commit index it had synced
// (the storage's durableHardState at its last returned fsync). Raft's safety rests on exactly
// this: a vote or an acknowledgement is a promise because it is on disk. A recovery that cuts
// synced records (the planted 'wal-trust-torn-tail' after rot) breaks it silently, long before a
// second leader shows it. A wiped node is exempt (rejoining, or `forgetNode` from the operator):
// it rejoins as a learner under a new identity, and the identity rules keep it from voting.
//
// Acknowledged entries stay (`acknowledged entries lost: ...`): while a leader of term T holds
// a follower's match index m (the follower acknowledged entries up to m in term T), the
// follower, still in term T, must hold a log reaching m. Within one term nothing may cut them:
// the only leader's entries never conflict with themselves, and a snapshot replaces a log only
// from an index at or above m. A follower that cuts them on a stale Append (the planted
// 'raft-append-truncates-suffix'; a stale Append is what reordering delivers) has broken a
// quorum the leader may already have counted, before any leader change makes it visible. A
// rejoining node (wiped) is exempt: the leader's old match for it is what item 5 is about.
//
// Committed on a majority (`committed without a majority: ...`): when a leader's commit index
// moves to c under an unchanged configuration, a majority of its voters must hold entry c (same term), judged
// from the followers' own logs, not from the leader's bookkeeping. A voter that is down or
// rejoining cannot be inspected and is given the benefit of the doubt (so the check never
// accuses a correct run; it sees a commit by a quorum that counted a learner, the planted
// 'raft-commit-counts-learners', when voters that lack the entry are up, e.g. partitioned away).
//
// A node inside a slow-sync stall (Simulation.isLagged) is not observed: its code ran ahead to the
// stall's end, and a power loss before then undoes the sync it believes done and everything after
// it. Its applies reach listeners at the stall's end (Simulation.fromNode), and the synced state a
// restart is judged against is the one seen at the node's last observation.
//
// Replicas agree (`replicas-agree`, a second invariant): every few hundred virtual milliseconds,
// each live node's image of each group's state machine (its snapshot()) is kept by the state
// machine's own applied index (not the driver's: Raft-internal entries never reach it, and a
// snapshot restored at such an entry's index puts that index in its image's header while a node
// that applied the log is at the last command before it); two nodes at the same index must hold
// the same bytes (a state machine is deterministic and its
// image canonical). Raft's checks above see logs only: a snapshot that does not describe its index
// (taken in slices while applies go on: src/coord/store.ts's frozen view) or an apply that
// depends on the replica passes them all and leaves the replicas' states apart.
//
// Deterministic: it only observes.

import { bytesEqual } from '../lib/bytes.ts';
import { RaftInvariants } from '../raft/invariants.ts';
import { observation } from '../raft/testing.ts';
import type { RaftDriver } from '../raft/driver.ts';
import type { Entry, NodeId } from '../raft/types.ts';
import type { Simulation } from '../sim/simulation.ts';
import type { ServiceHost } from './service.ts';

type ApplyListener = (node: NodeId, entry: Entry) => void;

export class GroupInvariants {
  private readonly checkers = new Map<string, RaftInvariants>();
  private readonly listeners = new Map<string, ApplyListener[]>();
  /**
   * The driver last seen per node and group, and its synced hard state then: a new driver is a new
   * process, checked against what the old one had synced when last observed.
   */
  private readonly lastDriver = new Map<
    NodeId,
    Map<string, { driver: RaftDriver; synced: ReturnType<RaftDriver['durableHardState']> }>
  >();
  /** Per leader driver: the commit index and voters seen at the last check. */
  private readonly checkedCommit = new WeakMap<
    RaftDriver,
    { commit: number; voters: readonly NodeId[]; term: number }
  >();
  private readonly images = new Map<string, Map<number, { node: NodeId; image: Uint8Array }>>();
  /** Per group, the live nodes' drivers and observations of the current check (emptied at its start). */
  private readonly live = new Map<
    string,
    { drivers: { id: NodeId; driver: RaftDriver }[]; observations: ReturnType<typeof observation>[] }
  >();
  private nextImagesAtMs = 0;

  /** Forgets `node`'s earlier lives: the operator wiped its data (it rejoins as a new member). */
  forgetNode(node: NodeId): void {
    this.lastDriver.delete(node);
  }

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
    // Runs after every event of every simulation: the per-group lists are reused, not rebuilt.
    for (const g of this.live.values()) {
      g.drivers.length = 0;
      g.observations.length = 0;
    }
    for (const id of sim.nodeIds) {
      const node = sim.instance(id);
      if (node === undefined || sim.isLagged(id)) continue;
      let lastOfNode = this.lastDriver.get(id);
      if (lastOfNode === undefined) {
        lastOfNode = new Map();
        this.lastDriver.set(id, lastOfNode);
      }
      for (const { group, driver } of node.groups.all()) {
        let live = this.live.get(group);
        if (live === undefined) {
          live = { drivers: [], observations: [] };
          this.live.set(group, live);
        }
        live.drivers.push({ id, driver });
        const checker = this.checker(group);
        if (driver.observer === undefined) {
          // A new instance (start or restart): judged once against its previous life, then it
          // begins at the index its snapshot restored.
          const lost = this.durabilityLost(id, group, driver);
          if (lost !== undefined) return lost;
          checker.recordRestored(id, driver.appliedIndex);
          driver.observer = {
            applied: sim.fromNode(id, (e: Entry) => {
              checker.recordApplied(id, e);
              for (const l of this.listeners.get(group) ?? []) l(id, e);
            }),
            restored: sim.fromNode(id, (index: number) => checker.recordRestored(id, index)),
          };
        }
        const last = lastOfNode.get(group);
        if (last?.driver === driver) last.synced = driver.durableHardState();
        else lastOfNode.set(group, { driver, synced: driver.durableHardState() });
        live.observations.push(observation(driver.core));
      }
    }
    for (const [group, live] of this.live) {
      if (live.drivers.length === 0) continue;
      const lost = acknowledgedLost(group, live.drivers) ?? this.committedWithoutMajority(group, live.drivers);
      if (lost !== undefined) return lost;
    }
    for (const [group, { observations: obs }] of this.live) {
      if (obs.length === 0) continue;
      const checker = this.checker(group);
      try {
        checker.observe(obs);
        // History below every live node's first index is compacted everywhere: keep memory bounded.
        let firstIndex = Number.POSITIVE_INFINITY;
        for (const o of obs) firstIndex = Math.min(firstIndex, o.log.firstIndex);
        checker.forgetBelow(firstIndex);
      } catch (err) {
        return `group ${group}: ${(err as Error).message}`;
      }
    }
    return undefined;
  }

  /**
   * Each live node's state machine image per group, kept by the state machine's applied index (the
   * first seen; at most IMAGES_KEPT indexes per group): another node at a kept index must match it.
   */
  agreement<S extends ServiceHost>(sim: Simulation<S>): string | undefined {
    if (sim.nowMs < this.nextImagesAtMs) return undefined;
    this.nextImagesAtMs = sim.nowMs + IMAGES_EVERY_MS;
    for (const id of sim.nodeIds) {
      const node = sim.instance(id);
      if (node === undefined || sim.isLagged(id)) continue;
      for (const { group, driver } of node.groups.all()) {
        const at = driver.stateMachine.appliedIndex;
        if (driver.restoringSnapshot || at === 0) continue;
        let kept = this.images.get(group);
        if (kept === undefined) {
          kept = new Map();
          this.images.set(group, kept);
        }
        const image = driver.stateMachine.snapshot();
        const first = kept.get(at);
        if (first === undefined) {
          kept.set(at, { node: id, image });
          if (kept.size > IMAGES_KEPT) kept.delete(Math.min(...kept.keys()));
        } else if (!bytesEqual(first.image, image)) {
          return `replicas disagree: group ${group}: ${first.node} and ${id} at applied index ${at} hold different states (images of ${first.image.length} and ${image.length} bytes)`;
        }
      }
    }
    return undefined;
  }

  /** A leader whose commit index moved to an entry that a majority of its voters does not hold. */
  private committedWithoutMajority(
    group: string,
    live: readonly { id: NodeId; driver: RaftDriver }[],
  ): string | undefined {
    for (const leader of live) {
      const l = leader.driver.core;
      if (l.role !== 'leader') continue;
      const c = l.commitIndex;
      const voters = l.config.voters;
      // Keyed by the term too: what this driver saw while leading an earlier term says nothing of
      // how its commit index moved since (swarm seed 283: n4 led term 1 at commit 139, followed
      // n2's term 3 to commit 145, counted by a majority of a configuration that still held n3,
      // then won term 4 — judged as a move from 139 to 145 while leading, against the new voters).
      const seen = this.checkedCommit.get(leader.driver);
      const before = seen !== undefined && seen.term === l.currentTerm ? seen : undefined;
      this.checkedCommit.set(leader.driver, { commit: c, voters, term: l.currentTerm });
      // Judged only when the commit moved under an unchanged configuration while this driver led:
      // a commit index inherited at election, or one that moved in the event that also changed
      // the voters (a config entry appended after the commit, e.g. the rejoin protocol's next
      // step), was counted under another configuration, whose majorities need not be majorities
      // of this one (single-server changes only promise that they intersect: seed 15).
      if (before === undefined || c <= before.commit || !sameMembers(before.voters, voters)) continue;
      const term = l.termAt(c);
      const lacking: NodeId[] = [];
      for (const v of voters) {
        if (v === leader.id) continue;
        const f = live.find((n) => n.id === v);
        if (f === undefined || f.driver.rejoining) continue; // down or wiped: cannot be inspected
        const fc = f.driver.core;
        if (c < fc.firstIndex || fc.termAt(c) === term) continue;
        lacking.push(v);
      }
      if (voters.length - lacking.length < Math.floor(voters.length / 2) + 1) {
        return `committed without a majority: group ${group}: leader ${leader.id} of term ${l.currentTerm} committed index ${c}, which voters ${lacking.join(', ')} of [${voters.join(', ')}] do not hold`;
      }
    }
    return undefined;
  }

  /** A new process of `id` in `group` recovered less than its previous life had synced? */
  private durabilityLost(id: NodeId, group: string, driver: RaftDriver): string | undefined {
    const before = this.lastDriver.get(id)?.get(group);
    if (before?.driver === driver) return undefined;
    const synced = before?.synced;
    // A rejoining node was wiped on purpose (by the operator, or a test): it never votes with the lost data.
    if (synced === undefined || driver.rejoining) return undefined;
    const core = driver.core;
    const lost =
      core.currentTerm < synced.term
        ? `term ${core.currentTerm}`
        : core.currentTerm === synced.term && synced.vote !== undefined && core.votedFor !== synced.vote
          ? `vote ${core.votedFor ?? 'none'} in term ${synced.term}`
          : core.lastIndex < synced.commit // committed entries are never cut, only compacted into a snapshot
            ? `a log ending at ${core.lastIndex}`
            : undefined;
    if (lost === undefined) return undefined;
    return `durability: group ${group}: ${id} restarted with ${lost}, below what it had synced (term ${synced.term}, vote ${synced.vote ?? 'none'}, commit ${synced.commit})`;
  }
}

/** A follower in its leader's term whose log ends below the match index the leader holds for it. */
function acknowledgedLost(group: string, live: readonly { id: NodeId; driver: RaftDriver }[]): string | undefined {
  for (const leader of live) {
    const l = leader.driver.core;
    if (l.role !== 'leader') continue;
    for (const { id, driver } of live) {
      const f = driver.core;
      if (id === leader.id || f.currentTerm !== l.currentTerm || driver.rejoining) continue;
      const match = l.progress(id)?.match ?? 0;
      if (f.lastIndex < match) {
        return `acknowledged entries lost: group ${group}: ${id} acknowledged entries up to ${match} to leader ${leader.id} in term ${l.currentTerm}, but its log ends at ${f.lastIndex}`;
      }
    }
  }
  return undefined;
}

/** How often the replicas-agree check takes images (virtual time), and how many indexes it keeps per group. */
const IMAGES_EVERY_MS = 250;
const IMAGES_KEPT = 64;

const attached = new WeakMap<object, GroupInvariants>();

/** Adds the `raft-safety` invariant over every group to `sim` (once) and returns its checkers. */
export function attachRaftInvariants<S extends ServiceHost>(sim: Simulation<S>): GroupInvariants {
  const existing = attached.get(sim);
  if (existing !== undefined) return existing;
  const invariants = new GroupInvariants();
  attached.set(sim, invariants);
  sim.addInvariant('raft-safety', () => invariants.check(sim));
  sim.addInvariant('replicas-agree', () => invariants.agreement(sim));
  return invariants;
}

/** The same voters in the same order (compared only when a commit index moved, not per event). */
function sameMembers(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a === b || (a.length === b.length && a.every((v, i) => v === b[i]));
}

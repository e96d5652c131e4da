// The simulated operator of a cluster run: what a person on call does when a node stops because
// its own data is damaged (Simulation's onDataRefusal: data_corrupt, an identity that no longer
// matches, EIO reading a bad sector). As README "Replacing a node" and issue 7 item 5 say: wipe the
// node's data directory and start it with `--rejoin`, so it rejoins every Raft group as a learner
// under a new rejoin id, catches up from the leader and is promoted — never voting with lost data.
//
// The operator is also a judge: a refusal is expected only if the node's disk was really damaged
// since it was last wiped (the rot classes: persistent bit flips, bad sectors, misdirected writes).
// A correct node that refuses an undamaged disk is a defect (a planted one such as wal-skip-fsync,
// or a real one), so then the operator declines and the refusal fails the run as before.
//
// Deterministic: acts through the simulator's virtual time only.

import type { NodeId } from '../env/types.ts';
import type { DiskFaultCounts } from '../sim/disk.ts';
import type { DataRefusal, Simulation } from '../sim/simulation.ts';

/** How long after a node stops the operator has wiped it and started it again with --rejoin. */
export const operatorReactionMs = 1_000;

/** Persistent damage injected into a disk so far (transient read flips excluded: they heal). */
function persistentDamage(c: DiskFaultCounts): number {
  return c.corruptions + c.latentSectorErrors + c.misdirectedWrites;
}

/** What the operator does to a simulation (whatever its node program). */
type Operated = Pick<Simulation, 'diskStore' | 'after' | 'state' | 'crash' | 'restart'>;

export class SimOperator {
  /** Nodes started with --rejoin from now on (wiped at least once). */
  private readonly rejoining = new Set<NodeId>();
  /** Per node: persistent damage counted when it was last wiped (0 before any wipe). */
  private readonly damageAtWipe = new Map<NodeId, number>();
  /** Nodes the operator is about to wipe (a second stop before then is the same incident). */
  private readonly pending = new Set<NodeId>();
  /** Wipe-and-rejoin repairs done, by what the node refused with. */
  readonly rejoins: Record<DataRefusal, number> = { data_corrupt: 0, identity: 0, unreadable_sector: 0 };

  private sim: Operated | undefined;
  private onWipe: ((id: NodeId) => void) | undefined;

  /**
   * Wires the operator to its simulation (created after the options that name `onDataRefusal`);
   * `onWipe` tells the checkers that the node's earlier lives are gone (sim-raft-invariants.ts).
   */
  attach(sim: Operated, onWipe?: (id: NodeId) => void): void {
    this.sim = sim;
    this.onWipe = onWipe;
  }

  /** Whether `id` starts with --rejoin (the program's config reads it). */
  rejoin(id: NodeId): boolean {
    return this.rejoining.has(id);
  }

  get rejoinsTotal(): number {
    return this.rejoins.data_corrupt + this.rejoins.identity + this.rejoins.unreadable_sector;
  }

  /** Simulation's onDataRefusal: takes the node over if its disk really was damaged. */
  readonly onDataRefusal = (id: NodeId, refusal: DataRefusal): boolean => {
    const sim = this.sim;
    if (sim === undefined) return false;
    const damage = persistentDamage(sim.diskStore(id).faultCounts);
    if (damage <= (this.damageAtWipe.get(id) ?? 0)) return false; // nothing rotted: a defect
    if (this.pending.has(id)) return true;
    this.pending.add(id);
    sim.after(operatorReactionMs, () => this.wipeAndRejoin(id, refusal), `operator wipes ${id} and rejoins it`);
    return true;
  };

  private wipeAndRejoin(id: NodeId, refusal: DataRefusal): void {
    const sim = this.sim!;
    this.pending.delete(id);
    // Stopped already, unless something restarted it meanwhile: the operator stops it first.
    if (sim.state(id) !== 'crashed') sim.crash(id, { processOnly: true });
    const disk = sim.diskStore(id);
    disk.wipe();
    this.onWipe?.(id);
    this.damageAtWipe.set(id, persistentDamage(disk.faultCounts));
    this.rejoining.add(id);
    this.rejoins[refusal]++;
    sim.restart(id);
  }
}

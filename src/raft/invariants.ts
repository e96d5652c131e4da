// Raft's safety properties (Figure 3 of the paper) as executable checks over observations of a
// whole cluster, for the in-test network and the simulator swarm alike. Feed it `observe(nodes)`
// after every event and `recordApplied` for every entry a state machine applies; any violation
// throws InvariantViolation (an AssertionError: in the simulator, a failing seed).
//
//   Election Safety       at most one leader per term.
//   Leader Append-Only    a leader never overwrites or deletes entries in its log (while leader).
//   Log Matching          two logs with an entry of the same index and term are identical up to it.
//   Leader Completeness   an entry committed in term T is in the log of every leader of term > T.
//   State Machine Safety  no two nodes apply different entries at the same index; and a
//                         committed entry never changes.
//
// The checker keeps history across observations (leaders per term, committed entries), bounded
// by the log length; `forgetBelow(index)` drops history below a compaction point.

import { AssertionError } from '../lib/assert.ts';
import type { Entry, NodeId, Role } from './types.ts';

export class InvariantViolation extends AssertionError {
  readonly property: string;
  constructor(property: string, message: string) {
    super(`${property}: ${message}`);
    this.property = property;
  }
}

/** A read-only view of one node's log, unpersisted tail included. */
export interface LogView {
  readonly firstIndex: number;
  readonly lastIndex: number;
  term(index: number): number | undefined;
  entry(index: number): Entry | undefined;
}

export interface NodeObservation {
  readonly id: NodeId;
  readonly term: number;
  readonly role: Role;
  readonly commit: number;
  readonly log: LogView;
}

interface CommittedRecord {
  readonly entry: Entry;
  /** Smallest current term of a node seen holding it committed (>= the term it committed in). */
  knownInTerm: number;
}

function sameEntry(a: Entry, b: Entry): boolean {
  if (a.index !== b.index || a.term !== b.term || a.type !== b.type || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

function describe(e: Entry): string {
  return `(index ${e.index}, term ${e.term}, type ${e.type}, ${e.data.length} bytes)`;
}

export class RaftInvariants {
  private readonly leaderByTerm = new Map<number, NodeId>();
  /** Per term, the log (index -> term) its leader held at the last observation. */
  private readonly leaderLogs = new Map<number, { id: NodeId; terms: Map<number, number> }>();
  private readonly committed = new Map<number, CommittedRecord>();
  private readonly applied = new Map<number, Entry>();
  private readonly lastAppliedByNode = new Map<NodeId, number>();
  /** Observations checked so far (for reports). */
  observations = 0;

  observe(nodes: readonly NodeObservation[]): void {
    this.observations++;
    for (const n of nodes) this.checkNode(n);
    for (let a = 0; a < nodes.length; a++) {
      for (let b = a + 1; b < nodes.length; b++) this.checkLogMatching(nodes[a]!, nodes[b]!);
    }
  }

  private checkNode(n: NodeObservation): void {
    if (n.commit > n.log.lastIndex) {
      throw new InvariantViolation('commit', `${n.id} commit ${n.commit} beyond its last index ${n.log.lastIndex}`);
    }
    // Committed entries: record new ones, and check that none ever changes.
    for (let i = Math.max(n.log.firstIndex, 1); i <= n.commit; i++) {
      const e = n.log.entry(i);
      if (!e) continue;
      const rec = this.committed.get(i);
      if (!rec) this.committed.set(i, { entry: e, knownInTerm: n.term });
      else if (!sameEntry(rec.entry, e)) {
        throw new InvariantViolation(
          'State Machine Safety',
          `${n.id} holds committed index ${i} as ${describe(e)} but ${describe(rec.entry)} was committed`,
        );
      } else if (n.term < rec.knownInTerm) rec.knownInTerm = n.term;
    }
    if (n.role !== 'leader') return;
    const holder = this.leaderByTerm.get(n.term);
    if (holder !== undefined && holder !== n.id) {
      throw new InvariantViolation('Election Safety', `two leaders in term ${n.term}: ${holder} and ${n.id}`);
    }
    this.leaderByTerm.set(n.term, n.id);
    // Leader Append-Only: everything the leader held before is still there, unchanged.
    const prev = this.leaderLogs.get(n.term);
    const terms = new Map<number, number>();
    for (let i = n.log.firstIndex; i <= n.log.lastIndex; i++) {
      const t = n.log.term(i);
      if (t !== undefined) terms.set(i, t);
    }
    if (prev) {
      for (const [i, t] of prev.terms) {
        if (i < n.log.firstIndex) continue; // compacted into a snapshot: not a deletion
        if (terms.get(i) !== t) {
          throw new InvariantViolation(
            'Leader Append-Only',
            `leader ${n.id} of term ${n.term} changed index ${i} from term ${t} to ${terms.get(i)}`,
          );
        }
      }
    }
    this.leaderLogs.set(n.term, { id: n.id, terms });
    // Leader Completeness.
    for (const [i, rec] of this.committed) {
      if (rec.knownInTerm >= n.term || i < n.log.firstIndex) continue;
      const e = n.log.entry(i);
      if (!e || !sameEntry(e, rec.entry)) {
        throw new InvariantViolation(
          'Leader Completeness',
          `leader ${n.id} of term ${n.term} lacks ${describe(rec.entry)}, committed by term ${rec.knownInTerm}`,
        );
      }
    }
  }

  private checkLogMatching(a: NodeObservation, b: NodeObservation): void {
    const lo = Math.max(a.log.firstIndex, b.log.firstIndex, 1);
    const hi = Math.min(a.log.lastIndex, b.log.lastIndex);
    let top = 0;
    for (let i = hi; i >= lo; i--) {
      if (a.log.term(i) === b.log.term(i)) {
        top = i;
        break;
      }
    }
    for (let i = lo; i <= top; i++) {
      const ea = a.log.entry(i);
      const eb = b.log.entry(i);
      if (!ea || !eb || !sameEntry(ea, eb)) {
        throw new InvariantViolation(
          'Log Matching',
          `${a.id} and ${b.id} agree at index ${top} (term ${a.log.term(top)}) but differ at ${i}`,
        );
      }
    }
  }

  /** A state machine applied `entry`. Entries must come in index order per node. */
  recordApplied(node: NodeId, entry: Entry): void {
    const last = this.lastAppliedByNode.get(node) ?? 0;
    if (entry.index !== last + 1) {
      throw new InvariantViolation('apply order', `${node} applied index ${entry.index} after ${last}`);
    }
    this.lastAppliedByNode.set(node, entry.index);
    const prev = this.applied.get(entry.index);
    if (!prev) this.applied.set(entry.index, entry);
    else if (!sameEntry(prev, entry)) {
      throw new InvariantViolation(
        'State Machine Safety',
        `${node} applied ${describe(entry)} where another node applied ${describe(prev)}`,
      );
    }
  }

  /** A node's state machine was restored from a snapshot at `index` (restart or InstallSnapshot). */
  recordRestored(node: NodeId, index: number): void {
    this.lastAppliedByNode.set(node, index);
  }

  /** Entries the checker knows were committed (index -> entry). */
  committedEntry(index: number): Entry | undefined {
    return this.committed.get(index)?.entry;
  }

  appliedEntry(index: number): Entry | undefined {
    return this.applied.get(index);
  }

  /** Drops history below `index` (all nodes compacted there). */
  forgetBelow(index: number): void {
    for (const i of this.committed.keys()) if (i < index) this.committed.delete(i);
    for (const i of this.applied.keys()) if (i < index) this.applied.delete(i);
  }
}

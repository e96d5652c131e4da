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
import { bytesEqual } from '../lib/bytes.ts';
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
  if (a === b) return true;
  return a.index === b.index && a.term === b.term && a.type === b.type && bytesEqual(a.data, b.data);
}

function describe(e: Entry): string {
  return `(index ${e.index}, term ${e.term}, type ${e.type}, ${e.data.length} bytes)`;
}

/** How far a check has verified: the entry objects then at `index` (one node's, or a pair's). */
interface Verified {
  /** The leader's term this record is for (leader completeness; 0 elsewhere). */
  readonly term: number;
  index: number;
  a: Entry | undefined;
  b: Entry | undefined;
  epoch: number;
}

/** The record under `key`, new (nothing verified) when absent or kept for another term. */
function slot(map: Map<NodeId, Verified>, key: NodeId, term: number): Verified {
  let v = map.get(key);
  if (v === undefined || v.term !== term) {
    v = { term, index: 0, a: undefined, b: undefined, epoch: 0 };
    map.set(key, v);
  }
  return v;
}

export class RaftInvariants {
  private readonly leaderByTerm = new Map<number, NodeId>();
  /** Per term, the log (index -> term) its leader held at the last observation. */
  private readonly leaderLogs = new Map<number, { id: NodeId; lastIndex: number; lastEntry: Entry | undefined }>();
  private readonly committed = new Map<number, CommittedRecord>();
  private readonly applied = new Map<number, Entry>();
  private readonly lastAppliedByNode = new Map<NodeId, number>();
  private committedMax = 0;
  /** Observations checked so far (for reports). */
  observations = 0;

  /**
   * Incremental checking. A log's prefix changes only by truncation, and truncation replaces the
   * entry object at every index above its point; so when the entry object at a verified index is
   * still the same object, everything below it is unchanged and only the suffix needs checking.
   * One record per node for its committed prefix, per node for leader completeness (reset when
   * its term changes), and per pair for log matching; no string keys or arrays per check, as this
   * runs after every event of every simulation.
   * `epoch` bumps whenever a committed record changes in a way that could make an old check stale.
   */
  private readonly verifiedCommitted = new Map<NodeId, Verified>();
  private readonly verifiedLeader = new Map<NodeId, Verified>();
  private readonly verifiedPairs = new Map<NodeId, Map<NodeId, Verified>>();
  private epoch = 0;

  private verifiedFrom(v: Verified, a: NodeObservation, b: NodeObservation | undefined, lo: number): number {
    if (v.index === 0 || v.epoch !== this.epoch || v.index < lo) return lo;
    if (a.log.entry(v.index) !== v.a || (b !== undefined && b.log.entry(v.index) !== v.b)) return lo;
    return v.index + 1;
  }

  private markVerified(v: Verified, a: NodeObservation, b: NodeObservation | undefined, index: number): void {
    if (index <= 0) return;
    v.index = index;
    v.a = a.log.entry(index);
    v.b = b?.log.entry(index);
    v.epoch = this.epoch;
  }

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
    const committed = slot(this.verifiedCommitted, n.id, 0);
    const from = this.verifiedFrom(committed, n, undefined, Math.max(n.log.firstIndex, 1));
    for (let i = from; i <= n.commit; i++) {
      const e = n.log.entry(i);
      if (!e) continue;
      const rec = this.committed.get(i);
      if (!rec) {
        this.committed.set(i, { entry: e, knownInTerm: n.term });
        if (i > this.committedMax) this.committedMax = i;
      } else if (!sameEntry(rec.entry, e)) {
        throw new InvariantViolation(
          'State Machine Safety',
          `${n.id} holds committed index ${i} as ${describe(e)} but ${describe(rec.entry)} was committed`,
        );
      } else if (n.term < rec.knownInTerm) {
        rec.knownInTerm = n.term;
        this.epoch++;
      }
    }
    this.markVerified(committed, n, undefined, n.commit);
    if (n.role !== 'leader') return;
    const holder = this.leaderByTerm.get(n.term);
    if (holder !== undefined && holder !== n.id) {
      throw new InvariantViolation('Election Safety', `two leaders in term ${n.term}: ${holder} and ${n.id}`);
    }
    this.leaderByTerm.set(n.term, n.id);
    // Leader Append-Only: the last entry the leader held at its previous observation is still
    // there, unchanged. Deleting or overwriting any earlier entry means truncating the log at or
    // before it, which replaces that last entry too, so checking it covers the whole prefix.
    const prev = this.leaderLogs.get(n.term);
    const first = n.log.firstIndex;
    if (prev !== undefined && prev.lastIndex >= first && prev.lastEntry !== undefined) {
      const now = n.log.entry(prev.lastIndex);
      if (now === undefined || (now !== prev.lastEntry && !sameEntry(now, prev.lastEntry))) {
        throw new InvariantViolation(
          'Leader Append-Only',
          `leader ${n.id} of term ${n.term} lost or changed index ${prev.lastIndex} (was ${describe(prev.lastEntry)})`,
        );
      }
    }
    this.leaderLogs.set(n.term, { id: n.id, lastIndex: n.log.lastIndex, lastEntry: n.log.entry(n.log.lastIndex) });
    // Leader Completeness: every committed entry the leader still holds (not compacted) is there.
    const led = slot(this.verifiedLeader, n.id, n.term);
    const lcFrom = this.verifiedFrom(led, n, undefined, Math.max(first, 1));
    const lcTo = Math.min(this.committedMax, n.log.lastIndex);
    for (let i = lcFrom; i <= this.committedMax; i++) {
      const rec = this.committed.get(i);
      if (rec === undefined || rec.knownInTerm >= n.term) continue;
      const e = n.log.entry(i);
      if (!e || !sameEntry(e, rec.entry)) {
        throw new InvariantViolation(
          'Leader Completeness',
          `leader ${n.id} of term ${n.term} lacks ${describe(rec.entry)}, committed by term ${rec.knownInTerm}`,
        );
      }
    }
    this.markVerified(led, n, undefined, lcTo);
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
    let pairs = this.verifiedPairs.get(a.id);
    if (pairs === undefined) {
      pairs = new Map();
      this.verifiedPairs.set(a.id, pairs);
    }
    const pair = slot(pairs, b.id, 0);
    const from = this.verifiedFrom(pair, a, b, lo);
    for (let i = from; i <= top; i++) {
      const ea = a.log.entry(i);
      const eb = b.log.entry(i);
      if (!ea || !eb || !sameEntry(ea, eb)) {
        throw new InvariantViolation(
          'Log Matching',
          `${a.id} and ${b.id} agree at index ${top} (term ${a.log.term(top)}) but differ at ${i}`,
        );
      }
    }
    this.markVerified(pair, a, b, top);
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
    if (index <= this.forgottenBelow) return;
    for (let i = this.forgottenBelow; i < index; i++) {
      this.committed.delete(i);
      this.applied.delete(i);
    }
    this.forgottenBelow = index;
    for (const [term, rec] of this.leaderLogs) if (rec.lastIndex < index) this.leaderLogs.delete(term);
  }

  private forgottenBelow = 0;
}

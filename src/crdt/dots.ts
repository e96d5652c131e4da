// Dots and the causal context of the causal CRDTs (OR-Set, MV-Register, OR-Map), after Almeida,
// Shoker and Baquero, "Delta State Replicated Data Types" (JPDC 2018), section 7.
//
// A dot (replica, counter) names one write event: replica r's counter-th. A causal context is the
// set of dots a state has seen, kept compact as
//   a version vector  vv[r] = n   : every dot (r, 1..n) is seen, and
//   a dot cloud       cloud[r]    : seen dots of r above vv[r] + 1 (gaps: a later delta arrived
//                                   before an earlier one).
// Invariants (a CausalContext is an immutable value):
// - compact: every cloud dot of r is > vv[r] + 1, so a dot is either covered by vv or listed once,
//   and equal contexts have equal representations (and equal encodings);
// - vv entries are > 0, cloud sets are non-empty.
// Why this keeps the OR-Set free of tombstones: a removed element's dots simply stay in the
// context, and in the common case (deltas delivered in order, or full states exchanged) they sit
// below vv[r] and cost nothing; the cloud only holds dots of deltas that overtook earlier ones, and
// drains back into vv when the missing deltas arrive. So the context costs one counter per replica
// plus the current gaps, not one entry per removed element.
//
// Encoding (inside a causal CRDT's body):
//   context = n:uvarint { replica vv:uvarint cloudN:uvarint { counter:uvarint } }
// replicas strictly sorted; an entry has vv > 0 or cloudN > 0; cloud counters strictly ascending and
// each > vv + 1. Stores refer to a dot's replica by its index in this list (every dot in a store is
// in the context), so dot = replicaIndex:uvarint counter:uvarint.

import { assert } from '../lib/assert.ts';
import { ProtocolError } from '../lib/errors.ts';
import type { ByteReader, ByteWriter } from '../lib/bytes.ts';
import {
  type Budget,
  checkAscending,
  compareStrings,
  malformed,
  type ReplicaId,
  readCount,
  readReplica,
  writeReplica,
} from './codec.ts';

export interface Dot {
  readonly replica: ReplicaId;
  readonly counter: number;
}

export function compareDots(a: Dot, b: Dot): number {
  return compareStrings(a.replica, b.replica) || a.counter - b.counter;
}

export function sortDots(dots: readonly Dot[]): Dot[] {
  return [...dots].sort(compareDots);
}

export class CausalContext {
  static readonly empty = new CausalContext(new Map(), new Map());

  private constructor(
    private readonly vv: ReadonlyMap<ReplicaId, number>,
    private readonly cloud: ReadonlyMap<ReplicaId, ReadonlySet<number>>,
  ) {}

  static fromDots(dots: Iterable<Dot>): CausalContext {
    return CausalContext.empty.withDots(dots);
  }

  has(dot: Dot): boolean {
    return dot.counter <= (this.vv.get(dot.replica) ?? 0) || (this.cloud.get(dot.replica)?.has(dot.counter) ?? false);
  }

  /** Highest counter of `replica` this context has seen. */
  max(replica: ReplicaId): number {
    let n = this.vv.get(replica) ?? 0;
    for (const c of this.cloud.get(replica) ?? []) if (c > n) n = c;
    return n;
  }

  /**
   * The dot of `replica`'s next write. A context whose counter for `replica` is the largest safe
   * integer (only a forged one: a replica's own counters grow by one per write) is a ProtocolError,
   * not an assert: contexts arrive from peers.
   */
  next(replica: ReplicaId): Dot {
    const counter = this.max(replica) + 1;
    if (!Number.isSafeInteger(counter)) {
      throw new ProtocolError('crdt_malformed', `the context exhausts ${replica}'s dot counter`);
    }
    return { replica, counter };
  }

  /** Number of dots held in the cloud (what compaction has not absorbed). */
  get cloudDots(): number {
    let n = 0;
    for (const s of this.cloud.values()) n += s.size;
    return n;
  }

  get replicaCount(): number {
    return new Set([...this.vv.keys(), ...this.cloud.keys()]).size;
  }

  withDots(dots: Iterable<Dot>): CausalContext {
    const vv = new Map(this.vv);
    const cloud = new Map<ReplicaId, Set<number>>();
    const touched = new Set<ReplicaId>();
    for (const d of dots) {
      assert(Number.isSafeInteger(d.counter) && d.counter > 0, `dot counter must be positive: ${d.counter}`);
      let s = cloud.get(d.replica);
      if (s === undefined) {
        s = new Set(this.cloud.get(d.replica));
        cloud.set(d.replica, s);
      }
      s.add(d.counter);
      touched.add(d.replica);
    }
    return CausalContext.compacted(vv, this.cloud, cloud, touched);
  }

  /** Union of the seen dots (least upper bound). */
  merge(other: CausalContext): CausalContext {
    if (other === this || other.isEmpty()) return this;
    if (this.isEmpty()) return other;
    const vv = new Map(this.vv);
    for (const [r, n] of other.vv) if (n > (vv.get(r) ?? 0)) vv.set(r, n);
    const cloud = new Map<ReplicaId, Set<number>>();
    for (const [r, s] of other.cloud) cloud.set(r, new Set([...(this.cloud.get(r) ?? []), ...s]));
    const touched = new Set<ReplicaId>([...other.vv.keys(), ...other.cloud.keys()]);
    return CausalContext.compacted(vv, this.cloud, cloud, touched);
  }

  isEmpty(): boolean {
    return this.vv.size === 0 && this.cloud.size === 0;
  }

  /** Whether both contexts have seen exactly the same dots. */
  equals(other: CausalContext): boolean {
    return other === this || (this.countNotIn(other) === 0 && other.countNotIn(this) === 0);
  }

  /** How many dots this context has seen that `other` has not (O(replicas + cloud dots)). */
  countNotIn(other: CausalContext): number {
    let n = 0;
    for (const [r, top] of this.vv) {
      const base = other.vv.get(r) ?? 0;
      if (top <= base) continue;
      n += top - base;
      for (const c of other.cloud.get(r) ?? []) if (c <= top) n--;
    }
    for (const [r, s] of this.cloud) for (const c of s) if (!other.has({ replica: r, counter: c })) n++;
    return n;
  }

  /**
   * Compacts the replicas in `touched`: cloud dots at vv + 1 move into vv, covered ones are
   * dropped. `changed` holds the new cloud of touched replicas; `base` the rest.
   */
  private static compacted(
    vv: Map<ReplicaId, number>,
    base: ReadonlyMap<ReplicaId, ReadonlySet<number>>,
    changed: Map<ReplicaId, Set<number>>,
    touched: ReadonlySet<ReplicaId>,
  ): CausalContext {
    const cloud = new Map<ReplicaId, ReadonlySet<number>>(base);
    for (const r of touched) {
      const s = changed.get(r) ?? new Set(base.get(r));
      let n = vv.get(r) ?? 0;
      while (s.has(n + 1)) n++;
      if (n > 0) vv.set(r, n);
      for (const c of s) if (c <= n) s.delete(c);
      if (s.size > 0) cloud.set(r, s);
      else cloud.delete(r);
    }
    return new CausalContext(vv, cloud);
  }

  /** Replica ids in encoding order (the index table stores use for their dots). */
  replicas(): ReplicaId[] {
    return [...new Set([...this.vv.keys(), ...this.cloud.keys()])].sort(compareStrings);
  }

  /** Writes the context and returns the replica index table for the store that follows. */
  encodeInto(w: ByteWriter, budget: Budget): Map<ReplicaId, number> {
    const replicas = this.replicas();
    budget.takeElements(replicas.length);
    budget.takeDots(this.cloudDots);
    w.uvarint(replicas.length);
    const index = new Map<ReplicaId, number>();
    for (const r of replicas) {
      index.set(r, index.size);
      const cloud = [...(this.cloud.get(r) ?? [])].sort((a, b) => a - b);
      writeReplica(w, r);
      w.uvarint(this.vv.get(r) ?? 0).uvarint(cloud.length);
      for (const c of cloud) w.uvarint(c);
    }
    return index;
  }

  /** Reads a context (untrusted) and returns it with its replica index table. */
  static decodeFrom(r: ByteReader, budget: Budget): { context: CausalContext; replicas: ReplicaId[] } {
    const n = readCount(r, 4, 'context replica');
    budget.takeElements(n);
    const vv = new Map<ReplicaId, number>();
    const cloud = new Map<ReplicaId, ReadonlySet<number>>();
    const replicas: ReplicaId[] = [];
    for (let i = 0; i < n; i++) {
      const at = r.position;
      const replica = readReplica(r);
      checkAscending(replicas[i - 1], replica, 'context replica', at);
      replicas.push(replica);
      const base = r.uvarint();
      const cloudN = readCount(r, 1, 'cloud dot');
      budget.takeDots(cloudN);
      if (base === 0 && cloudN === 0) throw malformed(`context entry for ${replica} is empty`, { offset: at });
      if (base > 0) vv.set(replica, base);
      const s = new Set<number>();
      let prev = base + 1;
      for (let j = 0; j < cloudN; j++) {
        const c = r.uvarint();
        if (c <= prev) throw malformed(`cloud dot ${c} of ${replica} not above ${prev} (not compact or unsorted)`);
        s.add(c);
        prev = c;
      }
      if (s.size > 0) cloud.set(replica, s);
    }
    return { context: new CausalContext(vv, cloud), replicas };
  }
}

export function writeDot(w: ByteWriter, index: ReadonlyMap<ReplicaId, number>, d: Dot): void {
  const i = index.get(d.replica);
  assert(i !== undefined, `dot ${d.replica}:${d.counter} not in its context`);
  w.uvarint(i).uvarint(d.counter);
}

/** Reads a dot of a store; it must lie in the store's context (the causal-CRDT invariant). */
export function readDot(r: ByteReader, replicas: readonly ReplicaId[], context: CausalContext): Dot {
  const at = r.position;
  const i = r.uvarint();
  const counter = r.uvarint();
  const replica = replicas[i];
  if (replica === undefined) throw malformed(`dot replica index ${i} out of range`, { offset: at });
  const dot = { replica, counter };
  if (counter === 0 || !context.has(dot)) {
    throw malformed(`dot ${replica}:${counter} at offset ${at} is not in the context`, { offset: at });
  }
  return dot;
}

// G-Counter and PN-Counter (Shapiro, Preguiça, Baquero, Zawirski, "A comprehensive study of
// Convergent and Commutative Replicated Data Types", INRIA RR-7506, 2011, §3.1.1–3.1.2), in their
// delta-state form (Almeida et al. 2018, Fig. 1): each replica only ever raises its own entry, the
// join takes the entry-wise maximum, and the delta of an increment is the one raised entry.
// Redis INCR/DECR/INCRBY/DECRBY on a replicated key map to PN-Counter increments; the coordinator
// keeps Redis' int64 range check on the value (the per-replica totals only ever grow).
//
// Invariants: immutable values; entries are > 0 (absent = 0) and at most 2^64 − 1, so equal
// counters have equal encodings.
// Encoding (body after the header, src/crdt/codec.ts):
//   gcounter  = counts
//   pncounter = counts(increments) counts(decrements)
//   counts    = n:uvarint { replica count:u64 }     ; replicas strictly sorted, count > 0

import { assert } from '../lib/assert.ts';
import type { ByteReader, ByteWriter } from '../lib/bytes.ts';
import { BaristaError } from '../lib/errors.ts';
import {
  type Budget,
  type CrdtBounds,
  checkAscending,
  compareStrings,
  DEFAULT_CRDT_BOUNDS,
  decodeValue,
  encodeValue,
  malformed,
  type ReplicaId,
  readCount,
  readReplica,
  type Update,
  writeReplica,
} from './codec.ts';

const U64_MAX = 0xffff_ffff_ffff_ffffn;

export class GCounter {
  static readonly empty = new GCounter(new Map());

  private constructor(private readonly counts: ReadonlyMap<ReplicaId, bigint>) {}

  /** Counts `replica` has contributed. */
  get(replica: ReplicaId): bigint {
    return this.counts.get(replica) ?? 0n;
  }

  value(): bigint {
    let sum = 0n;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  /** Adds `by` (> 0) at `replica`; the delta is that replica's new total alone. */
  increment(replica: ReplicaId, by = 1n): Update<GCounter> {
    assert(by > 0n, `G-Counter increments are positive: ${by}`);
    const n = this.get(replica) + by;
    if (n > U64_MAX) {
      // A client can push one replica's total this far (INCRBY/DECRBY pairs), so not an assert.
      throw new BaristaError('bad_request', `counter total of ${replica} would pass 2^64 - 1`, {
        fields: { replica, reason: 'counter_overflow' },
      });
    }
    const next = new Map(this.counts);
    next.set(replica, n);
    return { state: new GCounter(next), delta: new GCounter(new Map([[replica, n]])) };
  }

  merge(other: GCounter): GCounter {
    const next = new Map(this.counts);
    for (const [r, n] of other.counts) if (n > (next.get(r) ?? 0n)) next.set(r, n);
    return new GCounter(next);
  }

  static merge(a: GCounter, b: GCounter): GCounter {
    return a.merge(b);
  }

  encode(bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
    return encodeValue('gcounter', (w, budget) => this.encodeBody(w, budget), bounds);
  }

  static decode(bytes: Uint8Array, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): GCounter {
    return decodeValue(bytes, 'gcounter', (r, budget) => GCounter.decodeBody(r, budget), bounds);
  }

  /** @internal the `counts` production (shared with PN-Counter). */
  encodeBody(w: ByteWriter, budget: Budget): void {
    const replicas = [...this.counts.keys()].sort(compareStrings);
    budget.takeElements(replicas.length);
    w.uvarint(replicas.length);
    for (const r of replicas) {
      writeReplica(w, r);
      w.u64(this.counts.get(r)!);
    }
  }

  /** @internal */
  static decodeBody(r: ByteReader, budget: Budget): GCounter {
    const n = readCount(r, 10, 'counter entry');
    budget.takeElements(n);
    const counts = new Map<ReplicaId, bigint>();
    let prev: ReplicaId | undefined;
    for (let i = 0; i < n; i++) {
      const at = r.position;
      const replica = readReplica(r);
      checkAscending(prev, replica, 'counter replica', at);
      prev = replica;
      const count = r.u64();
      if (count === 0n) throw malformed(`zero counter entry for ${replica}`, { offset: at });
      counts.set(replica, count);
    }
    return new GCounter(counts);
  }
}

/** Two G-Counters: increments and decrements; value = their difference. */
export class PNCounter {
  static readonly empty = new PNCounter(GCounter.empty, GCounter.empty);

  private constructor(
    private readonly inc: GCounter,
    private readonly dec: GCounter,
  ) {}

  value(): bigint {
    return this.inc.value() - this.dec.value();
  }

  /** Adds `by` (≠ 0; negative decrements) at `replica`; the delta holds the one changed entry. */
  increment(replica: ReplicaId, by: bigint): Update<PNCounter> {
    assert(by !== 0n, 'PN-Counter increment of zero');
    if (by > 0n) {
      const u = this.inc.increment(replica, by);
      return { state: new PNCounter(u.state, this.dec), delta: new PNCounter(u.delta, GCounter.empty) };
    }
    const u = this.dec.increment(replica, -by);
    return { state: new PNCounter(this.inc, u.state), delta: new PNCounter(GCounter.empty, u.delta) };
  }

  merge(other: PNCounter): PNCounter {
    return new PNCounter(this.inc.merge(other.inc), this.dec.merge(other.dec));
  }

  static merge(a: PNCounter, b: PNCounter): PNCounter {
    return a.merge(b);
  }

  encode(bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
    return encodeValue(
      'pncounter',
      (w, budget) => {
        this.inc.encodeBody(w, budget);
        this.dec.encodeBody(w, budget);
      },
      bounds,
    );
  }

  static decode(bytes: Uint8Array, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): PNCounter {
    return decodeValue(
      bytes,
      'pncounter',
      (r, budget) => new PNCounter(GCounter.decodeBody(r, budget), GCounter.decodeBody(r, budget)),
      bounds,
    );
  }
}

// OR-Set, add-wins (the "AWORSet" of Almeida, Shoker and Baquero, "Delta State Replicated Data
// Types", JPDC 2018, Fig. 5; observed-remove semantics of Shapiro et al., INRIA RR-7506, §3.3.5):
// a DotMap<element, DotSet> under a causal context (src/crdt/causal.ts, src/crdt/dots.ts).
//   add(e) at r:  a fresh dot d = (r, max_r + 1); delta = ({e ↦ {d}}, {d} ∪ dots(e))
//                 — replaces the element's old dots everywhere the delta lands;
//   remove(e):    delta = ({}, dots(e)) — removes only the adds this state has observed, so an add
//                 concurrent with the remove (a dot the remover never saw) survives: add wins.
// No tombstones: a removed element leaves nothing in the store; its dots stay in the context, which
// the version vector compacts to one counter per replica (see dots.ts). Redis SADD/SREM/DEL on a
// replicated set key map to add/remove/clear.
//
// Invariants: an immutable value; store dots ⊆ context; at most crdtElementsCountMax elements
// through add (LimitError). Elements are byte strings (src/crdt/codec.ts).
// Encoding (body after the header): orset = context orsetStore (src/crdt/causal.ts).

import { assert } from '../lib/assert.ts';
import { LimitError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import {
  type Causal,
  decodeCausalBody,
  dotsOf,
  encodeCausalBody,
  joinCausal,
  type Schema,
  type SetStore,
} from './causal.ts';
import {
  type ByteString,
  type CrdtBounds,
  compareStrings,
  DEFAULT_CRDT_BOUNDS,
  decodeValue,
  encodeValue,
  isByteString,
  type ReplicaId,
  type Update,
} from './codec.ts';
import { CausalContext, type Dot } from './dots.ts';

const OR_SET_SCHEMA: Schema = Object.freeze({ type: 'orset' });

export class ORSet implements Causal {
  static readonly schema = OR_SET_SCHEMA;
  static readonly empty = new ORSet(new Map(), CausalContext.empty);

  /** @internal: an OR-Map builds its values' views over its own context. */
  constructor(
    readonly store: SetStore,
    readonly context: CausalContext,
  ) {}

  has(e: ByteString): boolean {
    return this.store.has(e);
  }

  get size(): number {
    return this.store.size;
  }

  /** The elements in byte order. */
  value(): ByteString[] {
    return [...this.store.keys()].sort(compareStrings);
  }

  add(replica: ReplicaId, e: ByteString): Update<ORSet> {
    assert(isByteString(e), 'OR-Set elements are byte strings (byteStringOf)');
    const old = this.store.get(e);
    if (old === undefined && this.store.size >= limits.crdtElementsCountMax) {
      throw new LimitError('crdtElementsCountMax', `OR-Set holds ${this.store.size} elements`);
    }
    const dot = this.context.next(replica);
    const store = new Map(this.store);
    store.set(e, [dot]);
    return {
      state: new ORSet(store, this.context.withDots([dot])),
      delta: new ORSet(new Map([[e, [dot]]]), CausalContext.fromDots([dot, ...(old ?? [])])),
    };
  }

  remove(e: ByteString): Update<ORSet> {
    const old = this.store.get(e);
    if (old === undefined) return { state: this, delta: ORSet.empty };
    const store = new Map(this.store);
    store.delete(e);
    return { state: new ORSet(store, this.context), delta: new ORSet(new Map(), CausalContext.fromDots(old)) };
  }

  /** Removes every element this state holds (Redis DEL of the key); concurrent adds survive. */
  clear(): Update<ORSet> {
    const dots: Dot[] = dotsOf(OR_SET_SCHEMA, this.store);
    return {
      state: new ORSet(new Map(), this.context),
      delta: new ORSet(new Map(), CausalContext.fromDots(dots)),
    };
  }

  merge(other: ORSet): ORSet {
    const j = joinCausal(OR_SET_SCHEMA, this, other);
    return new ORSet(j.store as SetStore, j.context);
  }

  static merge(a: ORSet, b: ORSet): ORSet {
    return a.merge(b);
  }

  encode(bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
    return encodeValue('orset', (w, budget) => encodeCausalBody(w, budget, OR_SET_SCHEMA, this), bounds);
  }

  static decode(bytes: Uint8Array, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): ORSet {
    return decodeValue(
      bytes,
      'orset',
      (r, budget) => {
        const c = decodeCausalBody(r, budget, OR_SET_SCHEMA);
        return new ORSet(c.store as SetStore, c.context);
      },
      bounds,
    );
  }
}

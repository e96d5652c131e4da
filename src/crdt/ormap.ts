// OR-Map: keys mapped to nested causal CRDTs, add-wins keys, removal of observed state (the
// "ORMap" of Almeida, Shoker and Baquero, "Delta State Replicated Data Types", JPDC 2018, §7.3):
// a DotMap<key, store> whose nested stores all share the map's one causal context.
//   apply(k, op): runs the nested operation on the view (store(k), context) and ships its delta
//                 under key k — the nested delta's context becomes the map delta's context;
//   remove(k):    delta = ({}, dots(store(k))) — removes exactly the nested state this replica has
//                 seen: a concurrent update of k keeps k, holding only what the remover did not see.
// The map is homogeneous: one value schema (OR-Set, MV-Register or OR-Map, recursively) fixed at
// creation and carried in the encoding. Only causal CRDTs nest, because removing observed state
// needs dots; a Redis hash field is an MV-Register read through its LWW view (resolve()), so HSET
// supersedes what it saw, HDEL removes what it saw, and a concurrent HSET survives an HDEL.
//
// Invariants: an immutable value; no key maps to an empty store; store dots ⊆ context; nesting at
// most crdtMapLevelsCountMax (assert on creation, ProtocolError on decode); at most
// crdtElementsCountMax keys through apply (LimitError).
// Encoding (body after the header): ormap = schema(value) context ormapStore (src/crdt/causal.ts).

import { assert, unreachable } from '../lib/assert.ts';
import { LimitError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import {
  bottomStore,
  type Causal,
  decodeCausalBody,
  dotsOf,
  encodeCausalBody,
  isBottom,
  joinCausal,
  type MapStore,
  type MvStore,
  readSchema,
  type Schema,
  type SetStore,
  type Store,
  schemaDepth,
  schemaEqual,
  writeSchema,
} from './causal.ts';
import {
  type ByteString,
  type CrdtBounds,
  compareStrings,
  DEFAULT_CRDT_BOUNDS,
  decodeValue,
  encodeValue,
  isByteString,
  type Update,
} from './codec.ts';
import { CausalContext } from './dots.ts';
import { ORSet } from './orset.ts';
import { MVRegister, type Stamped } from './registers.ts';

export type NestedCrdt = ORSet | MVRegister | ORMap;
/** value() of a nested CRDT: elements, siblings, or a map of nested values. */
export type NestedValue = ByteString[] | Stamped[] | Map<ByteString, NestedValue>;

export class ORMap implements Causal {
  /** @internal: use ORMap.empty; a parent OR-Map builds views over its own context. */
  constructor(
    readonly valueSchema: Schema,
    readonly store: MapStore,
    readonly context: CausalContext,
  ) {}

  static empty(valueSchema: Schema): ORMap {
    const depth = schemaDepth(valueSchema);
    assert(depth <= limits.crdtMapLevelsCountMax, `OR-Map nesting ${depth} over crdtMapLevelsCountMax`);
    return new ORMap(valueSchema, new Map(), CausalContext.empty);
  }

  get schema(): Schema {
    return { type: 'ormap', value: this.valueSchema };
  }

  has(key: ByteString): boolean {
    return this.store.has(key);
  }

  get size(): number {
    return this.store.size;
  }

  /** Keys in byte order. */
  keys(): ByteString[] {
    return [...this.store.keys()].sort(compareStrings);
  }

  /** The nested CRDT at `key` (a view sharing this map's context), or undefined when absent. */
  get(key: ByteString): NestedCrdt | undefined {
    const s = this.store.get(key);
    return s === undefined ? undefined : viewOf(this.valueSchema, s, this.context);
  }

  value(): Map<ByteString, NestedValue> {
    const out = new Map<ByteString, NestedValue>();
    for (const k of this.keys()) out.set(k, this.get(k)!.value());
    return out;
  }

  /**
   * Runs `op` on the nested CRDT at `key` (its empty value when absent) and returns the map's new
   * state and delta. `op` must return an update of the view it was given (e.g. `(r) => r.write(...)`).
   */
  apply<T extends NestedCrdt>(key: ByteString, op: (nested: T) => Update<T>): Update<ORMap> {
    assert(isByteString(key), 'OR-Map keys are byte strings (byteStringOf)');
    const old = this.store.get(key);
    if (old === undefined && this.store.size >= limits.crdtElementsCountMax) {
      throw new LimitError('crdtElementsCountMax', `OR-Map holds ${this.store.size} keys`);
    }
    const view = viewOf(this.valueSchema, old ?? bottomStore(this.valueSchema), this.context) as T;
    const u = op(view);
    assert(
      u.state.constructor === view.constructor && u.delta.constructor === view.constructor,
      'OR-Map apply: op returned another CRDT type',
    );
    const store = new Map(this.store);
    if (isBottom(this.valueSchema, u.state.store)) store.delete(key);
    else store.set(key, u.state.store);
    const deltaStore: MapStore = isBottom(this.valueSchema, u.delta.store)
      ? new Map()
      : new Map([[key, u.delta.store]]);
    return {
      state: new ORMap(this.valueSchema, store, u.state.context),
      delta: new ORMap(this.valueSchema, deltaStore, u.delta.context),
    };
  }

  /** Removes the key's observed state (Redis HDEL); a concurrent update of it survives. */
  remove(key: ByteString): Update<ORMap> {
    const old = this.store.get(key);
    if (old === undefined) return { state: this, delta: ORMap.empty(this.valueSchema) };
    const store = new Map(this.store);
    store.delete(key);
    return {
      state: new ORMap(this.valueSchema, store, this.context),
      delta: new ORMap(this.valueSchema, new Map(), CausalContext.fromDots(dotsOf(this.valueSchema, old))),
    };
  }

  /** Removes every key's observed state (Redis DEL of the whole hash). */
  clear(): Update<ORMap> {
    return {
      state: new ORMap(this.valueSchema, new Map(), this.context),
      delta: new ORMap(this.valueSchema, new Map(), CausalContext.fromDots(dotsOf(this.schema, this.store))),
    };
  }

  merge(other: ORMap): ORMap {
    assert(schemaEqual(this.valueSchema, other.valueSchema), 'merging OR-Maps of different value schemas');
    const j = joinCausal(this.schema, this, other);
    return new ORMap(this.valueSchema, j.store as MapStore, j.context);
  }

  static merge(a: ORMap, b: ORMap): ORMap {
    return a.merge(b);
  }

  encode(bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
    return encodeValue(
      'ormap',
      (w, budget) => {
        budget.checkDepth(schemaDepth(this.valueSchema));
        writeSchema(w, this.valueSchema);
        encodeCausalBody(w, budget, this.schema, this);
      },
      bounds,
    );
  }

  /**
   * Decodes an OR-Map; with `valueSchema` given, a map of another value schema is refused
   * (`crdt_unknown_type`), so the caller can merge the result with its own.
   */
  static decode(bytes: Uint8Array, valueSchema?: Schema, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): ORMap {
    return decodeValue(
      bytes,
      'ormap',
      (r, budget) => {
        const schema = readSchema(r, budget, 1);
        if (valueSchema !== undefined && !schemaEqual(schema, valueSchema)) {
          throw new ProtocolError('crdt_unknown_type', 'OR-Map of another value schema than expected');
        }
        const c = decodeCausalBody(r, budget, { type: 'ormap', value: schema });
        return new ORMap(schema, c.store as MapStore, c.context);
      },
      bounds,
    );
  }
}

function viewOf(schema: Schema, store: Store, context: CausalContext): NestedCrdt {
  switch (schema.type) {
    case 'orset':
      return new ORSet(store as SetStore, context);
    case 'mvreg':
      return new MVRegister(store as MvStore, context);
    case 'ormap':
      return new ORMap(schema.value, store as MapStore, context);
    default:
      return unreachable(schema);
  }
}

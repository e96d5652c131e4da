// The CRDT value types of issue 10 item 5 as one union, for the store: decode any encoded value by
// its tag, merge two values of the same type (read repair, anti-entropy, merge on read), and the
// public API in one import. Every type is an immutable state-based CRDT with delta mutators:
// an operation returns { state, delta }, and merging the delta into any replica that already holds
// what the operating replica held gives the same state as shipping the full new state.
//
// How Redis types map onto them when N > 1 (the coordinator's choice, documented in
// docs/ARCHITECTURE.md "CRDT values"):
//   INCR/DECR/INCRBY/DECRBY     → PNCounter.increment(coordinator, ±by)
//   SADD/SREM (DEL)             → ORSet.add / remove (clear): add-wins, no tombstones
//   HSET/HDEL (DEL)             → ORMap of MV-Registers: apply(field, r => r.write(...)) / remove
//                                 (clear); HGET reads the field's resolve() — the LWW view
//   plain strings (SET/GET)     → LWWRegister (keyspace in LWW mode: concurrent writes lost by design)
//                                 or MVRegister (siblings mode: GET = resolve(), BARISTA SIBLINGS =
//                                 value())
// The one contract the caller must keep: an operation with replica id r runs on a state that holds
// every earlier operation of r (r's durable local copy of the key). A counter increment computed on
// a stale state writes a lower total for r, and a stale causal state hands out a dot r already used
// for another write; either way a write is silently lost. So operations run at a replica of the key
// under its own id (as Riak's vnodes do), and a node that lost acknowledged local state (a crash
// with sync `none`) comes back under a new replica id (e.g. node id + incarnation).
// Element and key arguments are byte strings (one char per byte; byteStringOf converts RESP bulk
// strings); replica ids are node ids; timestamps are HLC values of the coordinator's clock.

import { assert } from '../lib/assert.ts';
import { ProtocolError } from '../lib/errors.ts';
import { schemaEqual } from './causal.ts';
import { type CrdtBounds, type CrdtType, DEFAULT_CRDT_BOUNDS, readHeader } from './codec.ts';
import { GCounter, PNCounter } from './counters.ts';
import { GSet } from './gset.ts';
import { ORMap } from './ormap.ts';
import { ORSet } from './orset.ts';
import { CollectionMarker } from './marker.ts';
import { LWWRegister, MVRegister } from './registers.ts';

export type { Schema } from './causal.ts';
export {
  type ByteString,
  byteStringOf,
  bytesOfByteString,
  type CrdtBounds,
  type CrdtType,
  DEFAULT_CRDT_BOUNDS,
  type ReplicaId,
  type Update,
} from './codec.ts';
export { GCounter, PNCounter } from './counters.ts';
export { GSet } from './gset.ts';
export { type NestedCrdt, type NestedValue, ORMap } from './ormap.ts';
export { CollectionMarker } from './marker.ts';
export { ORSet } from './orset.ts';
export { LWWRegister, MVRegister, type Stamped } from './registers.ts';

export type Crdt = GCounter | PNCounter | GSet | ORSet | LWWRegister | MVRegister | ORMap | CollectionMarker;

export function crdtType(c: Crdt): CrdtType {
  if (c instanceof GCounter) return 'gcounter';
  if (c instanceof PNCounter) return 'pncounter';
  if (c instanceof GSet) return 'gset';
  if (c instanceof ORSet) return 'orset';
  if (c instanceof LWWRegister) return 'lww';
  if (c instanceof MVRegister) return 'mvreg';
  if (c instanceof CollectionMarker) return 'marker';
  assert(c instanceof ORMap, 'not a CRDT value');
  return 'ormap';
}

/** Decodes any CRDT value (untrusted bytes: ProtocolError on anything malformed or over a bound). */
export function decodeCrdt(bytes: Uint8Array, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Crdt {
  const { type } = readHeader(bytes, bounds);
  switch (type) {
    case 'gcounter':
      return GCounter.decode(bytes, bounds);
    case 'pncounter':
      return PNCounter.decode(bytes, bounds);
    case 'gset':
      return GSet.decode(bytes, bounds);
    case 'orset':
      return ORSet.decode(bytes, bounds);
    case 'lww':
      return LWWRegister.decode(bytes, bounds);
    case 'mvreg':
      return MVRegister.decode(bytes, bounds);
    case 'ormap':
      return ORMap.decode(bytes, undefined, bounds);
    case 'marker':
      return CollectionMarker.decode(bytes, bounds);
  }
}

/**
 * Merges two values of the same type. Two replicas disagreeing on a key's type (or an OR-Map's
 * value schema) is foreign data, not a bug here: ProtocolError `crdt_unknown_type`.
 */
export function mergeCrdt(a: Crdt, b: Crdt): Crdt {
  const ta = crdtType(a);
  const tb = crdtType(b);
  const sameSchema =
    ta === tb &&
    (!(a instanceof ORMap) || schemaEqual(a.valueSchema, (b as ORMap).valueSchema)) &&
    (!(a instanceof CollectionMarker) || schemaEqual(a.schema, (b as CollectionMarker).schema));
  if (!sameSchema) throw new ProtocolError('crdt_unknown_type', `cannot merge a ${ta} with a ${tb}`);
  // The casts are safe: both sides have the type checked above.
  return (a.merge as (o: Crdt) => Crdt)(b);
}

/** merge over encodings: what read repair and anti-entropy do with two replicas' stored bytes. */
export function mergeEncoded(a: Uint8Array, b: Uint8Array, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
  return mergeCrdt(decodeCrdt(a, bounds), decodeCrdt(b, bounds)).encode(bounds);
}

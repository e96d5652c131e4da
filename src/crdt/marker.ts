// A collection marker: the sibling a key's version state (src/dynamo/versions.ts) holds for a
// collection kept decomposed (decomposed.ts: a header and one row per element, in the replica
// store beside the key's value). The marker says what the rows are (their schema) and how many
// elements the write that made it left (so EXISTS, TYPE, SCAN and DBSIZE read the key's state, not
// its rows); the rows themselves never travel inside a version state. Each collection write makes a
// new marker sibling superseding what its replica held, exactly as a whole-value write does, so
// DEL, SET over the key, EXPIRE and concurrent writes of another type keep their meaning
// (docs/ARCHITECTURE.md, "Collections at N > 1").
//
//   marker = tag:u8 (8) version:u8 (1) schema count
//   schema = the collection's schema (causal.ts writeSchema): 4 orset | 7 ormap schema
//   count  = uvarint (0..crdtElementsCountMax)
//
// Joining two markers (EXPIRE joins a key's CRDT siblings of one type) keeps the larger count; a
// schema mismatch is crdt_unknown_type, as mergeCrdt says for any two types.

import { ProtocolError } from '../lib/errors.ts';
import { type Schema, readSchema, schemaEqual, writeSchema } from './causal.ts';
import { type CrdtBounds, DEFAULT_CRDT_BOUNDS, decodeValue, encodeValue } from './codec.ts';

export class CollectionMarker {
  constructor(
    readonly schema: Schema,
    /** Elements after the write that made this marker. */
    readonly count: number,
  ) {}

  merge(other: CollectionMarker): CollectionMarker {
    if (!schemaEqual(this.schema, other.schema))
      throw new ProtocolError('crdt_unknown_type', 'two collection markers of different schemas');
    return other.count > this.count ? other : this;
  }

  encode(bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
    return encodeValue(
      'marker',
      (w) => {
        writeSchema(w, this.schema);
        w.uvarint(this.count);
      },
      bounds,
    );
  }

  static decode(bytes: Uint8Array, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): CollectionMarker {
    return decodeValue(
      bytes,
      'marker',
      (r, budget) => {
        const at = r.position;
        const schema = readSchema(r, budget, 0);
        if (schema.type !== 'orset' && schema.type !== 'ormap')
          throw new ProtocolError('crdt_malformed', `a collection marker's schema at offset ${at} is no collection`, {
            offset: at,
          });
        const count = r.uvarint();
        if (count > bounds.elementsCountMax)
          throw new ProtocolError('crdt_too_large', `a collection marker counts ${count} elements`, {
            limit: 'crdtElementsCountMax',
            value: count,
            max: bounds.elementsCountMax,
          });
        return new CollectionMarker(schema, count);
      },
      bounds,
    );
  }
}

// A collection marker: the sibling a key's version state (src/dynamo/versions.ts) holds for a
// collection kept decomposed (decomposed.ts: a header and one row per element, in the replica
// store beside the key's value). The marker says what the rows are (their schema) and how many
// elements the write that made it left (so EXISTS, TYPE, SCAN and DBSIZE read the key's state, not
// its rows); the rows themselves never travel inside a version state. Each collection write makes a
// new marker sibling superseding what its replica held, exactly as a whole-value write does, so
// DEL, SET over the key, EXPIRE and concurrent writes of another type keep their meaning
// (docs/ARCHITECTURE.md, "Collections at N > 1").
//
//   marker = tag:u8 (8) version:u8 (1) schema count [seen]
//   schema = the collection's schema (causal.ts writeSchema): 4 orset | 7 ormap schema
//   count  = uvarint (0..crdtElementsCountMax)
//   seen   = a causal context (dots.ts encodeInto), only when count is 0 and only to the end: the
//            dots of the collection its write's coordinator had seen when its change left none
//            (since 2026-12-06; a build before refuses the trailing bytes as crdt_malformed)
//
// An emptied marker's `seen` tells an add concurrent with the removal of everything from a row
// that removal took: a replica holding a row with a dot outside it holds an element the emptying
// coordinator never saw (add wins), so the key shows that collection (src/dynamo/replica.ts
// shownWithRows); without it (an older write) the marker's count alone decides, as before.
//
// Joining two markers (EXPIRE joins a key's CRDT siblings of one type, and writes the join over
// them) keeps the larger count; two emptied ones keep what both had seen (the join of their
// contexts) when both say, and one that says wins over one that does not. (EXPIRE of a key whose
// shown marker is emptied joins only the emptied ones: src/dynamo/typed.ts.) A schema mismatch is
// crdt_unknown_type, as mergeCrdt says for any two types.

import { ProtocolError } from '../lib/errors.ts';
import { type Schema, readSchema, schemaEqual, writeSchema } from './causal.ts';
import { type CrdtBounds, DEFAULT_CRDT_BOUNDS, decodeValue, encodeValue } from './codec.ts';
import { CausalContext } from './dots.ts';

export class CollectionMarker {
  constructor(
    readonly schema: Schema,
    /** Elements after the write that made this marker. */
    readonly count: number,
    /** Count 0 only: the collection's dots its write's coordinator had seen (undefined: not said). */
    readonly seen?: CausalContext,
  ) {}

  merge(other: CollectionMarker): CollectionMarker {
    if (!schemaEqual(this.schema, other.schema))
      throw new ProtocolError('crdt_unknown_type', 'two collection markers of different schemas');
    if (this.count === 0 && other.count === 0 && this.seen !== undefined && other.seen !== undefined)
      return new CollectionMarker(this.schema, 0, this.seen.merge(other.seen));
    if (this.count === 0 && other.count === 0) return this.seen === undefined ? other : this;
    return other.count > this.count ? other : this;
  }

  encode(bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
    return encodeValue(
      'marker',
      (w, budget) => {
        writeSchema(w, this.schema);
        w.uvarint(this.count);
        if (this.count === 0 && this.seen !== undefined) this.seen.encodeInto(w, budget);
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
        if (r.remaining === 0) return new CollectionMarker(schema, count);
        if (count !== 0)
          throw new ProtocolError(
            'crdt_malformed',
            `a collection marker counting ${count} elements names what it saw`,
            {
              offset: r.position,
            },
          );
        return new CollectionMarker(schema, 0, CausalContext.decodeFrom(r, budget).context);
      },
      bounds,
    );
  }
}

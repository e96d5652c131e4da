// Goal: a collection marker (grammar in marker.ts) says, when it counts 0, the dots its write's
// coordinator had seen (`seen`), and round-trips with and without it; a marker counting elements
// that names a context, and every strict prefix of one that does, are refused with a typed
// ProtocolError; joining two emptied markers keeps what both had seen.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from '../lib/errors.ts';
import { ByteWriter } from '../lib/bytes.ts';
import { writeSchema } from './causal.ts';
import { CrdtTag } from './codec.ts';
import { CollectionMarker, decodeCrdt, ORSet } from './crdt.ts';
import { CausalContext } from './dots.ts';

const SEEN = CausalContext.fromDots([
  { replica: 'n1', counter: 1 },
  { replica: 'n1', counter: 2 },
  { replica: 'n2', counter: 5 },
]);

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ProtocolError, String(e));
    return e.code;
  }
  return 'decoded';
};

test('an emptied marker round-trips with what it had seen, and one without it as before (golden bytes: no trailing byte)', () => {
  const plain = new CollectionMarker(ORSet.schema, 0).encode();
  const w = new ByteWriter();
  w.u8(CrdtTag.marker).u8(1);
  writeSchema(w, ORSet.schema);
  w.uvarint(0);
  assert.deepEqual(plain, w.finish());
  const back = decodeCrdt(plain) as CollectionMarker;
  assert.equal(back.seen, undefined);
  const withSeen = decodeCrdt(new CollectionMarker(ORSet.schema, 0, SEEN).encode()) as CollectionMarker;
  assert.equal(withSeen.count, 0);
  const seen = withSeen.seen;
  assert.ok(seen !== undefined && seen.equals(SEEN));
  assert.ok(seen.has({ replica: 'n2', counter: 5 }) && !seen.has({ replica: 'n2', counter: 4 }));
  // A marker counting elements never writes one.
  assert.equal((decodeCrdt(new CollectionMarker(ORSet.schema, 3, SEEN).encode()) as CollectionMarker).seen, undefined);
});

test('a marker counting elements that names a context is crdt_malformed; every strict prefix of an emptied one with its context is a typed error or the marker without it', () => {
  const w = new ByteWriter();
  w.u8(CrdtTag.marker).u8(1);
  writeSchema(w, ORSet.schema);
  w.uvarint(2);
  const counted = w.finish();
  const context = new CollectionMarker(ORSet.schema, 0, SEEN).encode().slice(counted.length);
  assert.equal(
    codeOf(() => decodeCrdt(new Uint8Array([...counted, ...context]))),
    'crdt_malformed',
  );
  const full = new CollectionMarker(ORSet.schema, 0, SEEN).encode();
  const bare = new CollectionMarker(ORSet.schema, 0).encode().length;
  for (let n = 0; n < full.length; n++) {
    const code = codeOf(() => decodeCrdt(full.slice(0, n)));
    if (n === bare) assert.equal(code, 'decoded');
    else assert.notEqual(code, 'decoded', `prefix of ${n} bytes`);
  }
});

test('joining markers: the larger count; two emptied ones keep what both had seen, one that says nothing yields to one that does (commutative and associative: checked over every pair and triple)', () => {
  const other = CausalContext.fromDots([{ replica: 'n3', counter: 1 }]);
  const a = new CollectionMarker(ORSet.schema, 0, SEEN);
  const b = new CollectionMarker(ORSet.schema, 0, other);
  const joined = a.merge(b);
  assert.equal(joined.count, 0);
  assert.ok(joined.seen?.has({ replica: 'n3', counter: 1 }) && joined.seen.has({ replica: 'n1', counter: 2 }));
  assert.ok(joined.seen !== undefined && b.merge(a).seen?.equals(joined.seen));
  const bare = new CollectionMarker(ORSet.schema, 0);
  assert.equal(bare.merge(a), a);
  assert.equal(a.merge(bare), a);
  const counted = new CollectionMarker(ORSet.schema, 2);
  assert.equal(a.merge(counted), counted);
  assert.equal(counted.merge(a), counted);
  assert.equal(counted.merge(new CollectionMarker(ORSet.schema, 5)).count, 5);
  // Commutative and associative (seen compared by equality), over every pair and triple.
  const all = [a, b, bare, counted, new CollectionMarker(ORSet.schema, 5)];
  const same = (x: CollectionMarker, y: CollectionMarker) =>
    x.count === y.count &&
    (x.seen === undefined ? y.seen === undefined : y.seen !== undefined && x.seen.equals(y.seen));
  for (const x of all)
    for (const y of all) {
      assert.ok(same(x.merge(y), y.merge(x)));
      for (const z of all) assert.ok(same(x.merge(y).merge(z), x.merge(y.merge(z))));
    }
});

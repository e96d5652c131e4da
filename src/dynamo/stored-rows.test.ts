// StoredRows' floor (collection-store.ts): a scan from the start begins at a floor below which no
// row lies, so rows deleted from the front (a list popped from its head) are not walked again; its
// ceiling the same for scans from the end (RPOP). Both are only hints: random puts, deletes, gets,
// ranges from random places and scans from the end (left early, as a page) give exactly what a
// plain sorted map gives, and a second handle over the same store (no floor yet) agrees.
// And what the floor is for: popping a list's head again and again starts each scan at the row
// popped last, never at the start (where an engine keeps the popped rows' tombstones).
// Negative controls (tried by hand): a put below the floor that does not lower it fails the
// comparison; a delete that leaves the floor where it was fails the second test; a put above the
// ceiling that does not raise it, and a delete below the ceiling that lowers it to that element
// (review 2026-12-05), fail the comparison.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ORSet } from '../crdt/crdt.ts';
import { compareStrings } from '../crdt/codec.ts';
import { decodeDecomposed, encodeHeader } from '../crdt/decomposed-codec.ts';
import { StoredCollection, StoredRows } from './collection-store.ts';
import { MemoryReplicaStore } from './store.ts';

const KEY = new TextEncoder().encode('k');
const element = fc.constantFrom('', '\u0000', 'a', 'a\u0000', 'b', 'bb', 'c', 'z');
const op = fc.oneof(
  element.map((e) => ({ kind: 'put' as const, e })),
  element.map((e) => ({ kind: 'delete' as const, e })),
  element.map((e) => ({ kind: 'get' as const, e })),
  fc.tuple(element, fc.option(element)).map(([from, to]) => ({ kind: 'range' as const, from, to })),
  // A scan from the end (below `before`, null: the end), stopped after `take` rows (a page).
  fc
    .tuple(fc.option(element), fc.integer({ min: 1, max: 4 }))
    .map(([before, take]) => ({ kind: 'back' as const, before, take })),
);

test('the floor and the ceiling never hide a row: StoredRows equals a sorted map under random puts, deletes, gets, ranges and scans from the end', () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 20, maxLength: 80 }), (ops) => {
      const store = new MemoryReplicaStore();
      const rows = new StoredRows(store, KEY, ORSet.schema);
      const model = new Map<string, number>();
      let counter = 0;
      for (const o of ops) {
        if (o.kind === 'put') {
          counter++;
          model.set(o.e, counter);
          rows.put(o.e, [{ replica: 'r', counter }]);
        } else if (o.kind === 'delete') {
          model.delete(o.e);
          rows.delete(o.e);
        } else if (o.kind === 'get') {
          const got = rows.get(o.e) as readonly { counter: number }[] | undefined;
          assert.equal(got?.[0]?.counter, model.get(o.e), `get ${JSON.stringify(o.e)}`);
        } else if (o.kind === 'range') {
          const want = [...model.keys()]
            .sort(compareStrings)
            .filter((e) => compareStrings(e, o.from) >= 0 && (o.to === null || compareStrings(e, o.to) < 0));
          const got = [...rows.range(o.from, o.to ?? undefined)].map(([e]) => e);
          assert.deepEqual(got, want, `range ${JSON.stringify(o.from)}..${JSON.stringify(o.to)}`);
        }
        if (o.kind === 'back') {
          const want = [...model.keys()]
            .sort(compareStrings)
            .filter((e) => o.before === null || compareStrings(e, o.before) < 0)
            .reverse()
            .slice(0, o.take);
          const got: string[] = [];
          for (const r of rows.storedBack(o.before ?? undefined)) {
            got.push(r.element);
            if (got.length === o.take) break; // the generator left early, as a page does
          }
          assert.deepEqual(got, want, `back from ${JSON.stringify(o.before)}, ${o.take}`);
        }
      }
      const fresh = [...new StoredRows(store, KEY, ORSet.schema).range('', undefined)].map(([e]) => e);
      assert.deepEqual(fresh, [...model.keys()].sort(compareStrings));
    }),
    { numRuns: 300 },
  );
});

test('popping the head again and again: each scan starts past the rows popped, not at the start', () => {
  const store = new MemoryReplicaStore();
  const starts: string[] = [];
  const scanRows = store.scanRows.bind(store);
  store.scanRows = (key, from, countMax) => {
    starts.push(Buffer.from(from).toString('latin1'));
    return scanRows(key, from, countMax);
  };
  const rows = new StoredRows(store, KEY, ORSet.schema);
  const names = Array.from({ length: 20 }, (_, i) => `e${String(i).padStart(2, '0')}`);
  for (const [i, e] of names.entries()) rows.put(e, [{ replica: 'r', counter: i + 1 }]);
  for (const [i, e] of names.entries()) {
    starts.length = 0;
    const [first] = rows.range('', undefined);
    assert.equal(first?.[0], e);
    rows.delete(e);
    if (i > 0) assert.deepEqual(starts, [`${names[i - 1]}\u0000`], `pop ${i} scanned from ${JSON.stringify(starts)}`);
  }
});

test("a header that records its rows' bytes but no high-water element gets it from the last row, read from the end (no walk of every row)", () => {
  const store = new MemoryReplicaStore();
  const set = StoredCollection.open(store, KEY, ORSet.schema);
  const names = Array.from({ length: 50 }, (_, i) => `m${String(i).padStart(2, '0')}`);
  set.change((dc) => {
    for (const m of names) dc.update([m], (s) => (s as ORSet).add('r', m));
  });
  const stored = decodeDecomposed(store.getHeader(KEY)!, ORSet.schema);
  assert.ok(stored.kind === 'header');
  const written = stored.header;
  assert.equal(written.high, 'm49');
  assert.ok(written.bytes !== undefined, "the header records its rows' bytes");
  const { high: _, ...withoutHigh } = written;
  store.putHeader(KEY, encodeHeader(withoutHigh));
  let forward = 0;
  const scanRows = store.scanRows.bind(store);
  store.scanRows = (key, from, countMax) => {
    forward++;
    return scanRows(key, from, countMax);
  };
  const opened = StoredCollection.open(store, KEY, ORSet.schema);
  assert.equal(opened.dc.header.high, 'm49');
  assert.equal(forward, 0, 'no forward walk of the rows');
});

test('a change writes its mark before its first row only: a join that brings nothing new writes nothing, one row joined writes mark, row, header, unmark', () => {
  const store = new MemoryReplicaStore();
  const writes: string[] = [];
  const spy = <K extends 'putHeader' | 'putRow' | 'deleteRow' | 'markCollection' | 'unmarkCollection'>(name: K) => {
    const f = (store[name] as (...a: unknown[]) => void).bind(store);
    (store as unknown as Record<K, (...a: unknown[]) => void>)[name] = (...a: unknown[]) => {
      writes.push(name);
      f(...a);
    };
  };
  for (const name of ['putHeader', 'putRow', 'deleteRow', 'markCollection', 'unmarkCollection'] as const) spy(name);
  const set = StoredCollection.open(store, KEY, ORSet.schema);
  set.change((dc) => {
    dc.update(['a'], (s) => (s as ORSet).add('r', 'a'));
    dc.update(['b'], (s) => (s as ORSet).add('r', 'b'));
  });
  assert.deepEqual(writes, ['markCollection', 'putRow', 'putRow', 'putHeader', 'unmarkCollection']);
  // What a read's answer from a replica holding the same rows brings: its rows of a and b, its context.
  const peer = set.dc.view(['a', 'b']) as ORSet;
  const peerRows = new Map([...set.dc.view(['a', 'b']).store].map(([e, r]) => [e, r] as const));
  writes.length = 0;
  set.change((dc) => dc.joinRows(['a', 'b'], peerRows, peer.context));
  assert.deepEqual(writes, [], 'a join of equal rows writes nothing');
  const before = set.dc.header;
  // A peer's row of c, under its context: one row and a header.
  const other = ORSet.empty.add('p', 'c').delta as ORSet;
  set.change((dc) => dc.joinRows(['c'], new Map([...other.store]), other.context));
  assert.deepEqual(writes, ['markCollection', 'putRow', 'putHeader', 'unmarkCollection']);
  assert.notEqual(set.dc.header, before);
  assert.deepEqual(store.markedCollections(), [], 'no mark is left');
});

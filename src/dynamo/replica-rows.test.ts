// Goal: a rows operation that would take a collection past crdtElementsCountMax is refused whole,
// before it writes anything (applyRowsOp checks the whole op first): once, a multi-element SADD
// wrote its first elements' rows, then failed on the one past the bound, and the client's error
// left those rows here, never shipped. Also: the op's steps see each element's presence as the
// op changes it (a list op removing then inserting stays within the bound).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CausalContext } from '../crdt/dots.ts';
import { DecomposedCollection, MemoryRows } from '../crdt/decomposed.ts';
import { LimitError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { applyRowsOp, LIST_ROWS_SCHEMA, SET_SCHEMA } from './replica-rows.ts';

const enc = new TextEncoder();
const ts = { wallMs: 1_000, logical: 0 };

/** A collection whose header counts `count` elements (the rows themselves: only those written here). */
function nearFull(schema: typeof SET_SCHEMA, count: number): DecomposedCollection {
  return new DecomposedCollection({ schema, context: CausalContext.empty, count, digest: 0n }, new MemoryRows());
}

test('a SADD of two members onto a set one short of crdtElementsCountMax is refused with nothing written', () => {
  const dc = nearFull(SET_SCHEMA, limits.crdtElementsCountMax - 1);
  assert.throws(
    () => applyRowsOp(dc, 'n1#1.1', { type: 'sadd', members: [enc.encode('a'), enc.encode('b')] }, ts),
    LimitError,
  );
  assert.equal([...dc.rows.range('', undefined)].length, 0, 'no row written');
  assert.equal(dc.header.count, limits.crdtElementsCountMax - 1);
  assert.ok(dc.context.isEmpty(), 'no dot taken');
  // One member fits.
  assert.equal(applyRowsOp(dc, 'n1#1.1', { type: 'sadd', members: [enc.encode('a')] }, ts).length, 1);
  assert.equal(dc.header.count, limits.crdtElementsCountMax);
});

test('a list op that removes before it inserts stays within the bound at a full list', () => {
  const dc = nearFull(LIST_ROWS_SCHEMA, limits.crdtElementsCountMax - 1);
  const insert = (v: string) => new Uint8Array([1, ...enc.encode(v)]);
  applyRowsOp(dc, 'n1#1.1', { type: 'list', members: [enc.encode('k1'), insert('x')] }, ts);
  assert.equal(dc.header.count, limits.crdtElementsCountMax);
  // k1 out, k2 in: never past the bound.
  applyRowsOp(
    dc,
    'n1#1.1',
    { type: 'list', members: [enc.encode('k1'), new Uint8Array([0]), enc.encode('k2'), insert('y')] },
    ts,
  );
  assert.equal(dc.header.count, limits.crdtElementsCountMax);
  // k3 in first, k2 out after: past it at the first step, refused whole.
  assert.throws(
    () =>
      applyRowsOp(
        dc,
        'n1#1.1',
        { type: 'list', members: [enc.encode('k3'), insert('z'), enc.encode('k2'), new Uint8Array([0])] },
        ts,
      ),
    LimitError,
  );
  assert.deepEqual(
    [...dc.rows.range('', undefined)].map(([e]) => e),
    ['k2'],
  );
});

// Goal: every delta, clear, page, header and row of a decomposed collection survives its bytes
// unchanged, and untrusted bytes only ever give a value or a ProtocolError with a stable code:
// every truncation, every single-byte change, and each shape rule broken on purpose (each of
// those would decode without its check: the rule tests are the negative controls).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';
import type { Schema } from './causal.ts';
import type { ByteString } from './codec.ts';
import { compareStrings, DEFAULT_CRDT_BOUNDS, writeElement } from './codec.ts';
import {
  DECOMPOSED_FORMAT_VERSION,
  decodeDecomposed,
  decodeRow,
  encodeClear,
  encodeDelta,
  encodeHeader,
  encodePage,
  encodeRow,
  encodeRows,
} from './decomposed-codec.ts';
import { type CollectionCrdt, collectionOf, DecomposedCollection, MemoryRows, type Row } from './decomposed.ts';
import { CausalContext } from './dots.ts';
import type { ORMap } from './ormap.ts';
import type { ORSet } from './orset.ts';
import type { MVRegister } from './registers.ts';

const HASH: Schema = { type: 'ormap', value: { type: 'mvreg' } };
const SET: Schema = { type: 'orset' };
const LIST: Schema = { type: 'ormap', value: { type: 'orset' } };

/** A hash built by random writes and removes at three replicas, with every delta it made. */
function built(ops: readonly { r: number; e: number; del: boolean }[]): {
  dc: DecomposedCollection;
  deltas: ReturnType<DecomposedCollection['update']>[];
} {
  const dc = DecomposedCollection.empty(HASH, new MemoryRows());
  const deltas = ops.map(({ r, e, del }, i) => {
    const el = `f${e}\u00fe`;
    return dc.update([el], (m: CollectionCrdt) =>
      del
        ? (m as ORMap).remove(el)
        : (m as ORMap).apply(el, (reg: MVRegister) =>
            reg.write(`n${r}`, new Uint8Array([i & 0xff, 0]), { wallMs: 1_000 + i, logical: 0 }),
          ),
    );
  });
  return { dc, deltas };
}

const opsArb = fc.array(fc.record({ r: fc.nat(2), e: fc.nat(7), del: fc.boolean() }), { minLength: 1, maxLength: 40 });

/** Every encoding the collection can produce, with what it must decode to. */
function samples(dc: DecomposedCollection, deltas: ReturnType<DecomposedCollection['update']>[]): Uint8Array[] {
  const out = deltas.filter((d) => d.touched.length > 0).map((d) => encodeDelta(HASH, d));
  out.push(encodeClear(HASH, dc.context), encodeHeader(dc.header));
  for (let at: ByteString | undefined = ''; at !== undefined; ) {
    const p = dc.page(at, 3);
    out.push(encodePage(HASH, p));
    at = p.to;
  }
  for (const [e, row] of dc.rows.range('', undefined)) out.push(encodeRow(HASH, e, row));
  return out;
}

test('decomposed codec: deltas, clears, pages, headers and rows round-trip', () => {
  fc.assert(
    fc.property(opsArb, (ops) => {
      const { dc, deltas } = built(ops);
      for (const d of deltas) {
        const back = decodeDecomposed(encodeDelta(HASH, d), HASH);
        assert.equal(back.kind, 'delta');
        if (back.kind !== 'delta') return;
        assert.deepEqual(back.delta.touched, d.touched);
        assert.deepEqual(
          collectionOf(HASH, back.delta.rows, back.delta.context).encode(),
          collectionOf(HASH, d.rows, d.context).encode(),
        );
      }
      const clear = decodeDecomposed(encodeClear(HASH, dc.context), HASH);
      assert.ok(clear.kind === 'clear');
      if (clear.kind === 'clear') {
        assert.deepEqual(
          collectionOf(HASH, new Map(), clear.context).encode(),
          collectionOf(HASH, new Map(), dc.context).encode(),
        );
      }
      const header = decodeDecomposed(encodeHeader(dc.header), HASH);
      assert.ok(header.kind === 'header');
      if (header.kind === 'header') {
        assert.equal(header.header.count, dc.header.count);
        assert.equal(header.header.digest, dc.header.digest);
        assert.equal(header.header.own, undefined);
      }
      // The replica id it writes under, once adopted, is kept with it (a local record).
      const owned = DecomposedCollection.empty(HASH, new MemoryRows());
      owned.adopt('n1#1.2s');
      const back = decodeDecomposed(encodeHeader(owned.header), HASH);
      assert.ok(back.kind === 'header' && back.header.own === 'n1#1.2s');
      // The high-water element (the largest ever written) is kept too, with or without own.
      const withHigh = decodeDecomposed(encodeHeader(dc.header), HASH);
      assert.ok(withHigh.kind === 'header');
      if (withHigh.kind === 'header') {
        assert.equal(withHigh.header.high, dc.header.high);
        const written = deltas.flatMap((d) => [...d.rows.keys()]).sort(compareStrings);
        assert.equal(dc.header.high, written.at(-1));
      }
      // A replica rebuilt from the pages' bytes and the rows' bytes is the same collection.
      const fromPages = DecomposedCollection.empty(HASH, new MemoryRows());
      const join = fromPages.startJoin();
      for (let at: ByteString | undefined = ''; at !== undefined; ) {
        const m = decodeDecomposed(encodePage(HASH, dc.page(at, 3)), HASH);
        assert.ok(m.kind === 'page');
        if (m.kind !== 'page') return;
        fromPages.joinPage(join, m.page);
        at = m.page.to;
      }
      assert.deepEqual(fromPages.whole().encode(), dc.whole().encode());
      // A read's answer: the rows held of some elements (present or not) under the whole context.
      const asked = ['f1\u00fe', 'f3\u00fe', 'none'];
      const view = dc.view(asked);
      const answer = decodeDecomposed(
        encodeRows(HASH, asked, view.store as ReadonlyMap<ByteString, Row>, view.context),
        HASH,
      );
      assert.ok(answer.kind === 'rows');
      if (answer.kind === 'rows') {
        assert.deepEqual(answer.elements, asked);
        assert.deepEqual(collectionOf(HASH, answer.rows, answer.context).encode(), view.encode());
      }
      for (const [e, row] of dc.rows.range('', undefined)) {
        const back = decodeRow(encodeRow(HASH, e, row), HASH, e);
        assert.deepEqual(encodeRow(HASH, e, back), encodeRow(HASH, e, row));
      }
    }),
    { numRuns: 100 },
  );
});

test('a header as first written (kind 4, no local records) still decodes; the local section of kind 7 is mandatory', () => {
  const { dc } = built([{ r: 0, e: 1, del: false }]);
  const current = encodeHeader(dc.header);
  assert.equal(current[1], 7);
  // Kind 4: the same bytes without the local section (flags, high and low).
  const local = 1 + 2 * (1 + dc.header.high!.length);
  assert.equal(dc.header.low, dc.header.high);
  const legacy = current.slice(0, current.length - local);
  legacy[1] = 4;
  const back = decodeDecomposed(legacy, HASH);
  assert.ok(
    back.kind === 'header' &&
      back.header.count === 1 &&
      back.header.high === undefined &&
      back.header.low === undefined,
  );
  const cut = current.slice(0, current.length - local);
  assert.throws(() => decodeDecomposed(cut, HASH), ProtocolError);
});

test("a header's bytes record (bit 2 of its local flags) and low-water element (bit 3) round-trip with own and high; an unknown flag is malformed", () => {
  const { dc } = built([
    { r: 0, e: 1, del: false },
    { r: 1, e: 2, del: false },
  ]);
  for (const bytes of [0, 1, 127, 128, 2 ** 40 + 3]) {
    const back = decodeDecomposed(encodeHeader({ ...dc.header, own: 'n1#1.2', bytes }), HASH);
    assert.ok(back.kind === 'header');
    if (back.kind === 'header') {
      assert.equal(back.header.bytes, bytes);
      assert.equal(back.header.own, 'n1#1.2');
      assert.equal(back.header.high, dc.header.high);
      assert.equal(back.header.low, dc.header.low);
    }
  }
  assert.ok(dc.header.low !== undefined && dc.header.high !== undefined && dc.header.low < dc.header.high);
  const without = decodeDecomposed(encodeHeader(dc.header), HASH);
  assert.ok(without.kind === 'header' && without.header.bytes === undefined);
  // Flags with bit 4 set: the same header bytes otherwise.
  const current = encodeHeader(dc.header);
  const local = 1 + 1 + dc.header.high!.length + 1 + dc.header.low!.length;
  const flagged = current.slice();
  assert.equal(flagged[current.length - local], 2 | 8);
  flagged[current.length - local] = flagged[current.length - local]! | 16;
  assert.throws(() => decodeDecomposed(flagged, HASH), /header local flags/);
});

function protocolErrorOrValue(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${String(e)}`);
  }
}

test('decomposed codec: every truncation and every single-byte change is a value or a ProtocolError', () => {
  const { dc, deltas } = built([
    { r: 0, e: 1, del: false },
    { r: 1, e: 2, del: false },
    { r: 2, e: 1, del: false },
    { r: 0, e: 2, del: true },
    { r: 1, e: 3, del: false },
  ]);
  const all = samples(dc, deltas);
  assert.ok(all.length >= 8);
  for (const bytes of all) {
    for (let n = 0; n < bytes.length; n++) {
      assert.throws(() => decodeDecomposed(bytes.subarray(0, n), HASH), ProtocolError);
      assert.throws(() => decodeRow(bytes.subarray(0, n), HASH, 'f1\u00fe'), ProtocolError);
    }
    for (let i = 0; i < bytes.length; i++) {
      for (const x of [0x00, 0x01, 0x7f, 0x80, 0xff, bytes[i]! ^ 0x10]) {
        const bad = bytes.slice();
        bad[i] = x;
        protocolErrorOrValue(() => decodeDecomposed(bad, HASH));
        protocolErrorOrValue(() => decodeRow(bad, HASH, 'f1\u00fe'));
      }
    }
  }
});

/** A message of `kind` with a hand-written body: how each shape rule is broken on purpose. */
function raw(kind: number, body: (w: ByteWriter) => void, version = DECOMPOSED_FORMAT_VERSION): Uint8Array {
  const w = new ByteWriter().u8(version).u8(kind);
  body(w);
  return w.finish();
}

const dot = { replica: 'n1', counter: 1 };
const ctx = CausalContext.fromDots([dot]);
const oneRow = (e: ByteString): CollectionCrdt => collectionOf(SET, new Map<ByteString, Row>([[e, [dot]]]), ctx);

test('decomposed codec: each shape rule broken gives its code', () => {
  const small = { ...DEFAULT_CRDT_BOUNDS, elementsCountMax: 4 };
  const code = (bytes: Uint8Array, c: string, schema: Schema = SET): void =>
    assert.throws(() => decodeDecomposed(bytes, schema, small), { code: c });
  // A well-formed delta first, so each case below differs from it by the one rule it breaks.
  const good = raw(1, (w) => {
    writeElement(w.uvarint(1), 'x');
    w.bytesUvarint(oneRow('x').encode());
  });
  assert.equal(decodeDecomposed(good, SET).kind, 'delta');
  code(
    raw(1, (w) => {
      writeElement(w.uvarint(1), 'y');
      w.bytesUvarint(oneRow('x').encode());
    }),
    'crdt_malformed', // a row it does not list
  );
  code(
    raw(1, (w) => {
      writeElement(writeElement2(w.uvarint(2), 'y'), 'x');
      w.bytesUvarint(oneRow('x').encode());
    }),
    'crdt_malformed', // touched not ascending
  );
  code(
    raw(1, (w) => w.uvarint(0).bytesUvarint(oneRow('x').encode())),
    'crdt_malformed', // touches nothing
  );
  code(
    raw(2, (w) => w.bytesUvarint(oneRow('x').encode())),
    'crdt_malformed',
  ); // a clear with rows
  code(
    raw(4, (w) => w.uvarint(1).u64(0n).bytesUvarint(oneRow('x').encode())),
    'crdt_malformed',
  ); // a header with rows
  code(
    raw(3, (w) => {
      writeElement(w, 'b');
      writeElement(w.u8(1), 'a');
      w.bytesUvarint(collectionOf(SET, new Map(), ctx).encode());
    }),
    'crdt_malformed', // from >= to
  );
  code(
    raw(3, (w) => {
      writeElement(w, 'y');
      w.u8(0).bytesUvarint(oneRow('x').encode());
    }),
    'crdt_malformed', // a row before the page's range
  );
  code(
    raw(3, (w) => {
      writeElement(w, 'a');
      w.u8(2).bytesUvarint(oneRow('x').encode());
    }),
    'crdt_malformed', // hasTo 2
  );
  code(
    raw(3, (w) => {
      writeElement(w, 'a');
      writeElement(w.u8(1), 'x');
      w.bytesUvarint(oneRow('x').encode());
    }),
    'crdt_malformed', // a row at the page's end (to is exclusive)
  );
  code(
    raw(3, (w) => {
      w.uvarint(70_000).raw(new Uint8Array(70_000));
      w.u8(0).bytesUvarint(oneRow('x').encode());
    }),
    'crdt_malformed', // a page boundary longer than any row key
  );
  code(
    raw(1, (w) => {
      w.uvarint(5);
      for (const e of ['a', 'b', 'c', 'd', 'x']) writeElement(w, e);
      w.bytesUvarint(oneRow('x').encode());
    }),
    'crdt_too_large', // more touched elements than the bounds allow (elementsCountMax 4 below)
  );
  code(
    raw(9, () => {}),
    'crdt_malformed',
  ); // an unknown kind
  code(
    raw(6, (w) => {
      writeElement(w.uvarint(1), 'y');
      w.bytesUvarint(oneRow('x').encode());
    }),
    'crdt_malformed', // a read's answer with a row it was not asked for
  );
  code(
    raw(6, (w) => w.uvarint(0).bytesUvarint(oneRow('x').encode())),
    'crdt_malformed',
  ); // names nothing
  code(
    raw(5, (w) => w.bytesUvarint(oneRow('x').encode())),
    'crdt_malformed',
  ); // a row where a message belongs
  code(good, 'crdt_unknown_type', HASH); // another type than the collection's
  code(good, 'crdt_unknown_type', LIST);
  code(
    raw(1, () => {}, 2),
    'crdt_unknown_version',
  );
  code(new Uint8Array([...good, 0]), 'trailing_bytes');
  // Rows: exactly their own element.
  const row = raw(5, (w) => w.bytesUvarint(oneRow('x').encode()));
  assert.deepEqual(decodeRow(row, SET, 'x'), [dot]);
  assert.throws(() => decodeRow(row, SET, 'y'), { code: 'crdt_malformed' });
  const two = collectionOf(
    SET,
    new Map<ByteString, Row>([
      ['x', [dot]],
      ['y', [{ replica: 'n1', counter: 2 }]],
    ]),
    CausalContext.fromDots([dot, { replica: 'n1', counter: 2 }]),
  );
  assert.throws(
    () =>
      decodeRow(
        raw(5, (w) => w.bytesUvarint(two.encode())),
        SET,
        'x',
      ),
    { code: 'crdt_malformed' },
  );
  assert.throws(() => decodeRow(good, SET, 'x'), { code: 'crdt_malformed' }); // a delta is not a row
  const wide = collectionOf(
    SET,
    new Map<ByteString, Row>([['x', [dot]]]),
    CausalContext.fromDots([dot, { replica: 'n2', counter: 1 }]),
  );
  assert.throws(
    () =>
      decodeRow(
        raw(5, (w) => w.bytesUvarint(wide.encode())),
        SET,
        'x',
      ),
    {
      code: 'crdt_malformed', // a context beyond the row's own dots: a second byte form
    },
  );
  // A row's dot outside the CRDT's own context never decodes (the CRDT codec's R2).
  assert.equal((oneRow('x') as ORSet).size, 1);
});

function writeElement2(w: ByteWriter, e: ByteString): ByteWriter {
  writeElement(w, e);
  return w;
}

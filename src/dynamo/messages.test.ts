// Goal: the Dynamo peer message codec (messages.ts grammar) round-trips every message, and bytes
// from the network never crash it: every truncation, every single-byte corruption and random
// garbage either decode to a message or throw a ProtocolError with a stable code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter } from '../lib/bytes.ts';
import { VectorClock } from '../lib/clocks/vector.ts';
import { BaristaError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import {
  type ClientRequest,
  DYNAMO_MESSAGE_VERSION,
  decodeMessage,
  encodeMessage,
  type Level,
  type ReplicaMessage,
} from './messages.ts';
import { emptyContext, Versioned } from './versions.ts';
import { DecomposedCollection, MemoryRows } from '../crdt/decomposed.ts';
import { type ORMap, ORSet } from '../crdt/crdt.ts';
import { MVRegister } from '../crdt/registers.ts';
import { CollectionMarker } from '../crdt/marker.ts';
import type { Schema } from '../crdt/causal.ts';
import { encodeDelta, encodePage, encodeRows } from '../crdt/decomposed-codec.ts';
import { writeElement } from '../crdt/codec.ts';

/** Real decomposed pieces (a set's and a hash's deltas, clears, pages and named rows) for the row messages. */
const HASH: Schema = { type: 'ormap', value: MVRegister.schema };
function samples(schema: Schema) {
  const dc = DecomposedCollection.empty(schema, new MemoryRows());
  const deltas = ['a', 'b', 'c', 'b'].map((e, i) =>
    schema.type === 'orset'
      ? dc.update([e], (v) => (v as ORSet).add('n1', e))
      : dc.update([e], (v) =>
          (v as ORMap).apply<MVRegister>(e, (r) =>
            r.write('n2', new TextEncoder().encode(`v${i}`), { wallMs: i, logical: 0 }),
          ),
        ),
  );
  const removal = dc.update(['a'], (v) => v.remove('a') as never);
  const named = dc.view(['b', 'zz']);
  return {
    schema,
    deltas: [...deltas, removal],
    clear: dc.context,
    pages: [dc.page('', 2), dc.page('b', 10), dc.page('', 10)],
    named: { elements: ['b', 'zz'], rows: named.store as never, context: dc.context },
    view: named,
  };
}
const SAMPLES = [samples(ORSet.schema), samples(HASH)];
const sampleArb = fc.constantFrom(...SAMPLES);

const utf8 = new TextEncoder();

const bytesArb = (max: number) => fc.uint8Array({ maxLength: max });
const nodeArb = fc.constantFrom('n1', 'n2', 'node-é');
const opArb = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const levelArb: fc.Arbitrary<Level> = fc.oneof(
  fc.constantFrom<Level>('ONE', 'QUORUM', 'ALL', 'ANY'),
  fc.integer({ min: 1, max: limits.ringReplicasCountMax }),
);
const tokenArb = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const stateArb: fc.Arbitrary<Versioned> = fc
  .array(fc.tuple(nodeArb, fc.option(bytesArb(8)), fc.integer({ min: 0, max: 2 ** 40 })), { maxLength: 4 })
  .map((writes) =>
    writes.reduce((s, [r, v, wallMs]) => s.update(emptyContext(), r, v, { wallMs, logical: 0 }), Versioned.empty()),
  );
const requestArb: fc.Arbitrary<ClientRequest> = fc.oneof(
  fc.record({ kind: fc.constant('get' as const), key: bytesArb(16), level: levelArb }),
  fc.record({
    kind: fc.constant('rows' as const),
    key: bytesArb(16),
    level: levelArb,
    elements: fc.option(fc.array(bytesArb(8), { minLength: 1, maxLength: 3 })),
  }),
  fc.record({
    kind: fc.constant('rows' as const),
    key: bytesArb(16),
    level: levelArb,
    elements: fc.constant(null),
    front: fc.integer({ min: 1, max: limits.storeCollectionChangesCountMax }),
  }),
  fc.record({
    kind: fc.constant('rows' as const),
    key: bytesArb(16),
    level: levelArb,
    elements: fc.constant(null),
    back: fc.constant(true as const),
  }),
  fc.record({
    kind: fc.constant('rows' as const),
    key: bytesArb(16),
    level: levelArb,
    elements: fc.constant(null),
    fore: fc.constant(true as const),
  }),
  fc
    .tuple(
      fc.record({
        kind: fc.constant('put' as const),
        key: bytesArb(16),
        value: fc.option(bytesArb(16)),
        context: fc
          .array(fc.tuple(nodeArb, fc.integer({ min: 1, max: 1000 })))
          .map((e) => VectorClock.from(e, limits.dvvEntriesCountMax)),
        level: levelArb,
        ts: fc.record({ wallMs: fc.integer({ min: 0, max: 2 ** 40 }), logical: fc.integer({ min: 0, max: 0xffff }) }),
      }),
      fc.constantFrom('plain', 'overHeld', 'checked'),
    )
    // A last-write-wins write (request kind 2) carries overHeld, a checked one (kind 4) both; others
    // leave them out.
    .map(
      ([r, over]): ClientRequest =>
        over === 'checked'
          ? { ...r, overHeld: true, checked: true }
          : over === 'overHeld'
            ? { ...r, overHeld: true }
            : r,
    ),
);
const errorArb = fc.constantFrom(
  new BaristaError('timeout', 'w', { definite: false }),
  new BaristaError('timeout', 'r', { definite: true }),
  new BaristaError('replicas_unavailable', '1 live replica, needs 2'),
  new BaristaError('bad_request', 'é'.repeat(3000)),
);
const messageArb: fc.Arbitrary<ReplicaMessage> = fc.oneof(
  fc.record({ type: fc.constant('replicate' as const), op: opArb, key: bytesArb(16), state: stateArb }),
  fc.record({ type: fc.constant('replicateAck' as const), op: opArb }),
  fc.record({ type: fc.constant('replicateChecked' as const), op: opArb, key: bytesArb(16), state: stateArb }),
  fc.record({ type: fc.constant('checkedAck' as const), op: opArb, held: fc.option(stateArb, { nil: undefined }) }),
  fc.record({ type: fc.constant('hint' as const), op: opArb, owner: nodeArb, key: bytesArb(16), state: stateArb }),
  fc.record({ type: fc.constant('hintAck' as const), op: opArb, stored: fc.boolean() }),
  fc.record({ type: fc.constant('read' as const), op: opArb, key: bytesArb(16) }),
  fc.record({ type: fc.constant('readReply' as const), op: opArb, state: stateArb }),
  fc.record({ type: fc.constant('forward' as const), op: opArb, request: requestArb }),
  fc.record({
    type: fc.constant('forwardReply' as const),
    op: opArb,
    result: fc.oneof(
      stateArb.map((state) => ({ ok: true as const, state })),
      // An emptied marker chosen, shown with a count of rows (tag 18).
      fc.tuple(stateArb, nodeArb, fc.integer({ min: 1, max: 1000 })).map(([state, r, count]) => {
        const emptied = state.update(
          state.context(),
          r,
          new CollectionMarker(ORSet.schema, 0).encode(),
          { wallMs: 2 ** 41, logical: 0 },
          true,
        );
        const top = emptied.chosen()!;
        return {
          ok: true as const,
          state: emptied.withShown({ ...top, value: new CollectionMarker(ORSet.schema, count).encode() }),
        };
      }),
      // A view, with a tail's high-water element, a head's low-water one or neither, its count
      // exact or not, the coordinator lacking rows or not (tags 2 to 9, 11, 13, 15, 17).
      fc
        .tuple(
          stateArb,
          sampleArb,
          fc.nat(100),
          fc.option(bytesArb(8), { nil: undefined }),
          fc.boolean(),
          fc.boolean(),
          fc.boolean(),
        )
        .map(([state, x, count, edge, fore, exact, lacking]) => ({
          ok: true as const,
          state,
          collection: {
            view: x.view,
            count,
            ...(edge === undefined ? {} : fore ? { before: edge } : { after: edge }),
            ...(exact ? { exact: true as const } : {}),
            ...(lacking ? { lacking: true as const } : {}),
          },
        })),
      errorArb.map((error) => ({ ok: false as const, error })),
    ),
  }),
  fc.tuple(opArb, fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n })).map(([op, start]) => ({
    type: 'merkle' as const,
    op,
    merkle: { type: 'streamRequest' as const, op, ranges: [{ start, end: start }] },
  })),
  opArb.map((op) => ({
    type: 'merkle' as const,
    op,
    merkle: { type: 'treeRequest' as const, op, range: { start: 0n, end: 0n }, depth: 3, root: new Uint8Array(16) },
  })),
  fc.record({
    type: fc.constant('moveFetch' as const),
    op: opArb,
    cursor: fc.option(bytesArb(16)),
    ranges: fc.array(
      fc.tuple(tokenArb, tokenArb).map(([start, end]) => ({ start, end })),
      { minLength: 1, maxLength: 4 },
    ),
  }),
  fc.record({
    type: fc.constant('movePage' as const),
    op: opArb,
    push: fc.boolean(),
    next: fc.option(bytesArb(16)),
    entries: fc.array(fc.record({ key: bytesArb(16), state: stateArb.map((s) => s.encode()) }), { maxLength: 3 }),
  }),
  fc.record({ type: fc.constant('movePageAck' as const), op: opArb }),
  fc.record({
    type: fc.constant('rowRead' as const),
    op: opArb,
    key: bytesArb(16),
    sel: fc.oneof(
      fc.array(bytesArb(8), { minLength: 1, maxLength: 3 }).map((elements) => ({ kind: 'named' as const, elements })),
      fc
        .tuple(fc.constantFrom('', 'b', 'zz'), fc.integer({ min: 1, max: limits.dynamoRowsPageCountMax }))
        .map(([from, count]) => ({ kind: 'page' as const, from, count })),
      fc.constant({ kind: 'tail' as const }),
      fc.constant({ kind: 'fore' as const }),
      fc
        .array(fc.constantFrom('', 'a', 'b\u0000', 'zz'), { maxLength: 4 })
        .map((recent) => ({ kind: 'tail' as const, recent })),
      fc
        .tuple(fc.constantFrom(undefined, 'b', 'zz'), fc.integer({ min: 1, max: limits.dynamoRowsPageCountMax }))
        .map(([before, count]) => ({ kind: 'last' as const, before, count })),
    ),
  }),
  fc
    .tuple(
      opArb,
      stateArb,
      fc.option(
        fc.tuple(
          sampleArb,
          fc.nat(3),
          fc.nat(100),
          fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
          fc.boolean(),
        ),
      ),
    )
    .map(([op, state, x]) => ({
      type: 'rowReadReply' as const,
      op,
      state,
      rows:
        x === null
          ? null
          : {
              schema: x[0].schema,
              count: x[2],
              ...(x[3] === null ? {} : { digest: x[3] }),
              // Recent rows go with a digest (a tail read's answer).
              ...(x[3] !== null && x[4] ? { recent: { kind: 'rows' as const, ...x[0].named } } : {}),
              rows:
                x[1] === 3
                  ? { kind: 'rows' as const, ...x[0].named }
                  : { kind: 'page' as const, page: x[0].pages[x[1]]! },
            },
    })),
  fc.tuple(opArb, bytesArb(16), stateArb, sampleArb, fc.nat(100)).map(([op, key, state, x, count]) => ({
    type: 'rowsRepair' as const,
    op,
    key,
    state,
    rows: { schema: x.schema, count, rows: { kind: 'rows' as const, ...x.named } },
  })),
  fc
    .tuple(opArb, bytesArb(16), stateArb, sampleArb, fc.boolean(), fc.subarray([0, 1, 2, 3, 4]))
    .map(([op, key, state, x, clear, which]) => ({
      type: 'delta' as const,
      op,
      key,
      state,
      schema: x.schema,
      clear: clear ? x.clear : null,
      deltas: which.map((i) => x.deltas[i]!),
    })),
);

/** Decodes or throws a ProtocolError; anything else fails the test. */
function decodeOrProtocolError(bytes: Uint8Array): ReplicaMessage | ProtocolError {
  try {
    return decodeMessage(bytes);
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${String(e)}`);
    return e;
  }
}

test('one reusable writer encodes message after message as a fresh one would, a message past the kept size included', () => {
  const into = ByteWriter.reusable();
  const big: ReplicaMessage = { type: 'read', op: 1, key: new Uint8Array(100_000).fill(7) };
  fc.assert(
    fc.property(fc.array(fc.oneof(messageArb, fc.constant(big)), { minLength: 1, maxLength: 8 }), (ms) => {
      for (const m of ms) assert.deepEqual(encodeMessage(m, into), encodeMessage(m));
    }),
  );
  // After the large one the writer starts small again (reset lets a grown buffer go) and still agrees.
  const small: ReplicaMessage = { type: 'replicateAck', op: 3 };
  encodeMessage(big, into);
  assert.deepEqual(encodeMessage(small, into), encodeMessage(small));
});

test('every message round-trips, byte for byte', () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      const bytes = encodeMessage(m);
      const back = decodeMessage(bytes);
      assert.deepEqual(encodeMessage(back), bytes);
      assert.equal(back.type, m.type);
      if (m.type === 'forwardReply' && !m.result.ok && back.type === 'forwardReply' && !back.result.ok) {
        assert.equal(back.result.error.code, m.result.error.code);
        assert.equal(back.result.error.definite, m.result.error.definite, 'a write timeout stays indefinite');
        assert.ok(utf8.encode(back.result.error.message).length <= limits.forwardedErrorMessageBytesMax);
      }
    }),
    { numRuns: 500 },
  );
});

test('a merkle message whose op differs from the envelope op is refused', () => {
  const m = encodeMessage({
    type: 'merkle',
    op: 5,
    merkle: { type: 'streamRequest', op: 5, ranges: [{ start: 1n, end: 2n }] },
  });
  assert.equal(decodeMessage(m).type, 'merkle');
  const bad = encodeMessage({
    type: 'merkle',
    op: 5,
    merkle: { type: 'streamRequest', op: 6, ranges: [{ start: 1n, end: 2n }] },
  });
  assert.throws(
    () => decodeMessage(bad),
    (e) => e instanceof ProtocolError && e.code === 'dynamo_malformed',
  );
});

test('every truncation and every single-byte corruption is a ProtocolError or a message, never a crash', () => {
  fc.assert(
    fc.property(messageArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, xor) => {
      const bytes = encodeMessage(m);
      for (let n = 0; n < bytes.length; n++) {
        const r = decodeOrProtocolError(bytes.subarray(0, n));
        assert.ok(r instanceof ProtocolError, `a ${n}-byte prefix of ${bytes.length} decoded`);
      }
      const bad = bytes.slice();
      bad[at % bad.length]! ^= xor;
      decodeOrProtocolError(bad);
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(bytesArb(64), (garbage) => void decodeOrProtocolError(garbage)),
    { numRuns: 2000 },
  );
});

test('broken rules have stable codes', () => {
  const code = (bytes: Uint8Array): string => {
    const r = decodeOrProtocolError(bytes);
    assert.ok(r instanceof ProtocolError, 'expected an error');
    return r.code;
  };
  const w = () => new ByteWriter().u8(DYNAMO_MESSAGE_VERSION);
  assert.equal(code(new ByteWriter().u8(9).u8(2).uvarint(1).finish()), 'dynamo_bad_version');
  assert.equal(code(w().u8(99).uvarint(1).finish()), 'dynamo_bad_type');
  // The move messages of the key-ordered store (cursors were keys) are retired, not misread.
  assert.equal(code(w().u8(10).uvarint(1).u8(0).uvarint(1).i64(0n).i64(1n).finish()), 'dynamo_bad_type');
  assert.equal(code(w().u8(11).uvarint(1).u8(0).u8(0).uvarint(0).finish()), 'dynamo_bad_type');
  // A move cursor is a position: a token's 8 bytes, a key, a successor byte at most.
  const fetch = (cursorBytes: number) =>
    w().u8(13).uvarint(1).u8(1).bytesUvarint(new Uint8Array(cursorBytes)).uvarint(1).i64(0n).i64(1n).finish();
  const longest = decodeOrProtocolError(fetch(limits.kvKeyBytesMax + 9));
  assert.ok(!(longest instanceof ProtocolError) && longest.type === 'moveFetch', 'the longest position is read');
  assert.equal(code(fetch(limits.kvKeyBytesMax + 10)), 'dynamo_malformed');
  assert.equal(code(w().u8(2).uvarint(1).u8(0).finish()), 'trailing_bytes');
  assert.equal(code(w().u8(4).uvarint(1).u8(2).finish()), 'dynamo_malformed', 'a flag byte of 2');
  assert.equal(
    code(
      w()
        .u8(5)
        .uvarint(1)
        .bytesUvarint(new Uint8Array(limits.kvKeyBytesMax + 1))
        .finish(),
    ),
    'dynamo_malformed',
  );
  assert.equal(code(w().u8(7).uvarint(1).u8(0).bytesUvarint(new Uint8Array(1)).u8(5).finish()), 'dynamo_malformed');
  // Request kind 5 does not exist; kinds 2 and 4 (a write over what is held, checked) are for plain values only.
  assert.equal(code(w().u8(7).uvarint(1).u8(5).bytesUvarint(new Uint8Array(1)).u8(1).finish()), 'dynamo_malformed');
  // A checked ack's flag is 0 or 1.
  assert.equal(code(w().u8(21).uvarint(1).u8(2).finish()), 'dynamo_malformed');
  // Row reads: no elements named, a delta where the clear goes, a marker that is another CRDT.
  assert.equal(
    code(w().u8(15).uvarint(1).bytesUvarint(new Uint8Array(1)).u8(0).uvarint(0).finish()),
    'dynamo_malformed',
  );
  // A tail page (sel 3): a bound byte of 0 or 1, a bound that is not empty, a count of 1.. rows.
  const lastRead = () => w().u8(15).uvarint(1).bytesUvarint(new Uint8Array(1)).u8(3);
  const lastOk = decodeOrProtocolError(lastRead().u8(1).bytesUvarint(Uint8Array.of(7)).uvarint(2).finish());
  assert.ok(!(lastOk instanceof ProtocolError) && lastOk.type === 'rowRead');
  assert.deepEqual(lastOk.sel, { kind: 'last', before: '\u0007', count: 2 });
  assert.equal(code(lastRead().u8(2).uvarint(2).finish()), 'dynamo_malformed', 'a bound byte of 2');
  assert.equal(code(lastRead().u8(1).bytesUvarint(new Uint8Array(0)).uvarint(2).finish()), 'dynamo_malformed');
  assert.equal(code(lastRead().u8(0).uvarint(0).finish()), 'dynamo_malformed', 'no row asked for');
  assert.equal(code(w().u8(15).uvarint(1).bytesUvarint(new Uint8Array(1)).u8(6).finish()), 'dynamo_malformed');
  // A head read (sel 5): nothing follows.
  const foreOk = decodeOrProtocolError(w().u8(15).uvarint(1).bytesUvarint(new Uint8Array(1)).u8(5).finish());
  assert.ok(!(foreOk instanceof ProtocolError) && foreOk.type === 'rowRead');
  assert.deepEqual(foreOk.sel, { kind: 'fore' });
  assert.equal(code(w().u8(15).uvarint(1).bytesUvarint(new Uint8Array(1)).u8(5).u8(0).finish()), 'trailing_bytes');
  // A tail read naming recent elements (sel 4): at most dynamoRecentRowsCountMax of them.
  const tailRead = () => w().u8(15).uvarint(1).bytesUvarint(new Uint8Array(1)).u8(4);
  const tooMany = tailRead().uvarint(limits.dynamoRecentRowsCountMax + 1);
  for (let i = 0; i <= limits.dynamoRecentRowsCountMax; i++) writeElement(tooMany, 'e');
  assert.equal(code(tooMany.finish()), 'dynamo_malformed', 'too many recent elements');
  const one = tailRead().uvarint(1);
  writeElement(one, 'e');
  const tailOk = decodeOrProtocolError(one.finish());
  assert.ok(!(tailOk instanceof ProtocolError) && tailOk.type === 'rowRead');
  assert.deepEqual(tailOk.sel, { kind: 'tail', recent: ['e'] });
  const x = SAMPLES[0]!;
  const marker = new CollectionMarker(x.schema, 0).encode();
  const state = Versioned.empty().encode();
  const deltaBody = encodeDelta(x.schema, x.deltas[0]!);
  // A row read's answer: hasRows 4 does not exist; hasRows 2 must end with its digest, 3 with its
  // digest and recent rows that are named rows (not a page).
  const reply = (hasRows: number) => w().u8(16).uvarint(1).bytesUvarint(state).u8(hasRows).bytesUvarint(marker);
  assert.equal(code(reply(4).finish()), 'dynamo_malformed', 'hasRows 4');
  const page = encodePage(x.schema, x.pages[0]!);
  assert.equal(code(reply(2).bytesUvarint(page).finish()), 'truncated', 'hasRows 2 without its digest');
  const withDigest = decodeOrProtocolError(reply(2).bytesUvarint(page).u64(7n).finish());
  assert.ok(!(withDigest instanceof ProtocolError) && withDigest.type === 'rowReadReply');
  assert.equal(withDigest.rows?.digest, 7n);
  // hasRows 3: the digest, a count of recent rows (at most twice dynamoRecentRowsCountMax) and,
  // when not 0, those rows: named rows of exactly that many elements.
  const withRecent = () => reply(3).bytesUvarint(page).u64(7n);
  assert.equal(code(withRecent().finish()), 'truncated', 'hasRows 3 without its recent count');
  assert.equal(code(withRecent().uvarint(1).finish()), 'truncated', 'a count of 1 without its rows');
  assert.equal(
    code(withRecent().uvarint(1).bytesUvarint(page).finish()),
    'dynamo_malformed',
    'recent rows that are a page',
  );
  assert.equal(
    code(
      withRecent()
        .uvarint(2 * limits.dynamoRecentRowsCountMax + 1)
        .finish(),
    ),
    'dynamo_malformed',
    'too many recent rows',
  );
  const rowsOfOne = encodeRows(x.schema, ['a'], new Map(), x.pages[0]!.context);
  assert.equal(
    code(withRecent().uvarint(2).bytesUvarint(rowsOfOne).finish()),
    'dynamo_malformed',
    'a count that is not the rows',
  );
  const none = decodeOrProtocolError(withRecent().uvarint(0).finish());
  assert.ok(!(none instanceof ProtocolError) && none.type === 'rowReadReply');
  assert.deepEqual(none.rows?.recent?.elements, [], 'no recent rows: an empty list, still an answer to use');
  const asClear = w().u8(17).uvarint(1).bytesUvarint(new Uint8Array(1)).bytesUvarint(state).bytesUvarint(marker).u8(1);
  assert.equal(
    code(asClear.bytesUvarint(deltaBody).uvarint(0).finish()),
    'dynamo_malformed',
    'a delta where the clear goes',
  );
  const notMarker = w().u8(17).uvarint(1).bytesUvarint(new Uint8Array(1)).bytesUvarint(state);
  assert.equal(code(notMarker.bytesUvarint(ORSet.empty.encode()).u8(0).uvarint(0).finish()), 'dynamo_malformed');
  // A hash's delta under a set's marker: the CRDT codec's own code.
  const hashDelta = encodeMessage({
    type: 'delta',
    op: 1,
    key: new Uint8Array(1),
    state: Versioned.empty(),
    schema: SAMPLES[1]!.schema,
    clear: null,
    deltas: [SAMPLES[1]!.deltas[0]!],
  });
  const hashMarker = new CollectionMarker(SAMPLES[1]!.schema, 0).encode();
  const prefixed = (b: Uint8Array) => Buffer.from([b.length, ...b]).toString('hex');
  const swapped = Buffer.from(hashDelta).toString('hex').replace(prefixed(hashMarker), prefixed(marker));
  assert.equal(code(Uint8Array.from(Buffer.from(swapped, 'hex'))), 'crdt_unknown_type');
  const overHeld = (kind: number, tag: number) =>
    w().u8(7).uvarint(1).u8(kind).bytesUvarint(new Uint8Array(1)).u8(1).u8(tag).i64(1n).u8(0).u64(0n).finish();
  assert.equal(code(overHeld(2, 2)), 'dynamo_malformed', 'an INCRBY sent as a write over what is held');
  assert.equal(code(overHeld(4, 2)), 'dynamo_malformed', 'an INCRBY sent as a checked write over what is held');
  const incr = decodeMessage(overHeld(1, 2));
  assert.ok(incr.type === 'forward' && incr.request.kind === 'put' && incr.request.op?.type === 'incr');
  assert.equal(
    code(w().u8(7).uvarint(1).u8(0).bytesUvarint(new Uint8Array(1)).u8(0).uvarint(17).finish()),
    'dynamo_malformed',
  );
  assert.equal(code(w().u8(3).uvarint(1).stringUvarint('').finish()), 'dynamo_malformed', 'an empty owner id');
  const unknownCode = w().u8(8).uvarint(1).u8(0).stringUvarint('no_such_code').u8(1).u8(0).stringUvarint('x');
  assert.equal(code(unknownCode.finish()), 'dynamo_malformed');
  assert.equal(
    code(
      w()
        .u8(6)
        .uvarint(1)
        .bytesUvarint(new Uint8Array([7, 0]))
        .finish(),
    ),
    'dvv_bad_version',
  );
  // The catalogue's flags win over the wire's where the catalogue fixes them.
  const forged = w().u8(8).uvarint(1).u8(0).stringUvarint('replicas_unavailable').u8(0).u8(0).stringUvarint('x');
  const m = decodeMessage(forged.finish());
  assert.ok(m.type === 'forwardReply' && !m.result.ok && m.result.error.definite && m.result.error.retriable);
  // A result's flag byte: 11, 13, 15 and 17 (a head's low-water element) and 18 (a shown count)
  // read on; the even ones between and past them are no flag byte.
  for (const flag of [10, 12, 14, 16, 19, 20])
    assert.equal(code(w().u8(8).uvarint(1).u8(flag).finish()), 'dynamo_malformed', `flag byte ${flag}`);
  for (const flag of [11, 17, 18]) assert.equal(code(w().u8(8).uvarint(1).u8(flag).finish()), 'truncated');
  // A shown count needs an emptied marker chosen, and a count of at least 1.
  const markerState = (count: number) =>
    Versioned.empty().update(
      emptyContext(),
      'n1',
      new CollectionMarker(ORSet.schema, count).encode(),
      { wallMs: 1, logical: 0 },
      true,
    );
  const counted = markerState(2);
  const emptied = markerState(0);
  const shown = (state: Versioned, count: number) =>
    code(w().u8(8).uvarint(1).u8(18).uvarint(count).u8(1).bytesUvarint(state.encode()).finish());
  assert.equal(shown(counted, 3), 'dynamo_malformed');
  assert.equal(shown(Versioned.empty(), 3), 'dynamo_malformed');
  assert.equal(shown(emptied, 0), 'dynamo_malformed');
  // Before another shown count, or an error: no result.
  assert.equal(code(w().u8(8).uvarint(1).u8(18).uvarint(3).u8(18).uvarint(3).finish()), 'dynamo_malformed');
  const error = w().u8(8).uvarint(1).u8(18).uvarint(3).u8(0).stringUvarint('replicas_unavailable');
  assert.equal(code(error.u8(0).u8(0).stringUvarint('x').finish()), 'dynamo_malformed');
  const ok = decodeMessage(w().u8(8).uvarint(1).u8(18).uvarint(3).u8(1).bytesUvarint(emptied.encode()).finish());
  assert.ok(ok.type === 'forwardReply' && ok.result.ok && ok.result.state.shownCopy() !== undefined);
  // Before a collection result too (a row read forwarded: a review of b51e945), round trip.
  const top = emptied.chosen()!;
  const viewed: ReplicaMessage = {
    type: 'forwardReply',
    op: 1,
    result: {
      ok: true,
      state: emptied.withShown({ ...top, value: new CollectionMarker(ORSet.schema, 2).encode() }),
      collection: { view: ORSet.empty, count: 2 },
    },
  };
  const bytes = encodeMessage(viewed);
  const back = decodeMessage(bytes);
  assert.deepEqual(encodeMessage(back), bytes);
  assert.ok(back.type === 'forwardReply' && back.result.ok && back.result.collection?.count === 2);
  assert.ok(back.result.state.shownCopy() !== undefined);
});

test('a change message carries a delta for each element one command may change, and no more', () => {
  // One command changes up to storeCollectionChangesCountMax / 2 list or sorted-set elements, a
  // delta each to every peer; a peer's decoder took at most storeSetMembersCountMax (1,024) until
  // 2026-12-07 and refused an RPUSH or ZADD of more as malformed (the write then timed out at QUORUM).
  const max = Math.max(limits.storeCollectionChangesCountMax / 2, limits.storeSetMembersCountMax);
  assert.ok(max > limits.storeSetMembersCountMax);
  const dc = DecomposedCollection.empty(ORSet.schema, new MemoryRows());
  const deltas = Array.from({ length: max + 1 }, (_, i) =>
    dc.update([`e${i}`], (v) => (v as ORSet).add('n1', `e${i}`)),
  );
  const message = (n: number): ReplicaMessage => ({
    type: 'delta',
    op: 1,
    key: new Uint8Array(1),
    state: Versioned.empty(),
    schema: ORSet.schema,
    clear: null,
    deltas: deltas.slice(0, n),
  });
  const back = decodeMessage(encodeMessage(message(max)));
  assert.ok(back.type === 'delta' && back.deltas.length === max);
  // More is refused by the sender (a LimitError: the driver drops it, counted), and by the decoder.
  assert.throws(
    () => encodeMessage(message(max + 1)),
    (e: unknown) => e instanceof BaristaError && e.code === 'limit_exceeded',
  );
  const w = new ByteWriter()
    .u8(DYNAMO_MESSAGE_VERSION)
    .u8(17)
    .uvarint(1)
    .bytesUvarint(new Uint8Array(1))
    .bytesUvarint(Versioned.empty().encode())
    .bytesUvarint(new CollectionMarker(ORSet.schema, 0).encode())
    .u8(0)
    .uvarint(max + 1);
  for (const d of deltas) w.bytesUvarint(encodeDelta(ORSet.schema, d));
  const refused = decodeOrProtocolError(w.finish());
  assert.ok(refused instanceof ProtocolError && refused.code === 'dynamo_malformed');
});

// Goal: the CRDT encoding (grammar in src/crdt/codec.ts, causal.ts, dots.ts) is pinned by golden
// bytes, canonical (every rule of the grammar is enforced on decode), bounded (element count, dots,
// OR-Map nesting, size: ProtocolError on decode, LimitError on encode), and untrusted bytes never
// produce anything but a typed ProtocolError: every strict prefix of a valid value, random edits of
// valid values and random bodies behind a valid header. What does decode is a value in canonical
// form that merges and re-encodes without error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LimitError, ProtocolError } from '../lib/errors.ts';
import { ALL_KINDS, executionArb, execute } from '../../test/support/crdt-kinds.ts';
import {
  type CrdtBounds,
  DEFAULT_CRDT_BOUNDS,
  decodeCrdt,
  GCounter,
  GSet,
  LWWRegister,
  MVRegister,
  mergeCrdt,
  mergeEncoded,
  ORMap,
  ORSet,
  PNCounter,
  type Schema,
} from './crdt.ts';
import { CausalContext } from './dots.ts';

const ALLOWED_CODES = new Set([
  'crdt_unknown_type',
  'crdt_unknown_version',
  'crdt_malformed',
  'crdt_too_large',
  'truncated',
  'trailing_bytes',
  'varint_overflow',
  'invalid_utf8',
]);

const N1 = [2, 0x6e, 0x31]; // replica id "n1"
const hlc = (wallMs: number, logical: number) => ({ wallMs, logical });

function rejects(bytes: number[] | Uint8Array, code: string, bounds?: CrdtBounds): void {
  assert.throws(
    () => decodeCrdt(Uint8Array.from(bytes), bounds),
    (e) => e instanceof ProtocolError && e.code === code,
    `expected ${code} for [${[...bytes].join(',')}]`,
  );
}

test('golden bytes: one value of each layout', () => {
  assert.deepEqual([...GCounter.empty.increment('n1', 3n).state.encode()], [1, 1, 1, ...N1, 0, 0, 0, 0, 0, 0, 0, 3]);
  assert.deepEqual(
    [...PNCounter.empty.increment('n1', -2n).state.encode()],
    [2, 1, 0, 1, ...N1, 0, 0, 0, 0, 0, 0, 0, 2],
  );
  assert.deepEqual([...GSet.empty.add('b').state.add('a').state.encode()], [3, 1, 2, 1, 0x61, 1, 0x62]);
  assert.deepEqual(
    [...LWWRegister.empty.set('n1', Uint8Array.of(9), hlc(1, 2)).state.encode()],
    [5, 1, 1, 0, 0, 0, 0, 0, 1, 0, 2, ...N1, 1, 9],
  );
  //                          tag ver ctx: 1 replica, vv 1, no cloud | store: 1 element "a", 1 dot (#0, 1)
  assert.deepEqual([...ORSet.empty.add('n1', 'a').state.encode()], [4, 1, 1, ...N1, 1, 0, 1, 1, 0x61, 1, 0, 1]);
  assert.deepEqual(
    [...MVRegister.empty.write('n1', Uint8Array.of(7), hlc(0, 1)).state.encode()],
    [6, 1, 1, ...N1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 7],
  );
  const map = ORMap.empty(ORSet.schema).apply<ORSet>('k', (s) => s.add('n1', 'a')).state;
  assert.deepEqual([...map.encode()], [7, 1, 4, 1, ...N1, 1, 0, 1, 1, 0x6b, 1, 1, 0x61, 1, 0, 1]);
  // A gap: dot 3 seen before 2 sits in the cloud.
  const gap = ORSet.empty.merge(ORSet.empty.add('n1', 'a').state.add('n1', 'b').state.add('n1', 'c').delta);
  assert.deepEqual([...gap.encode()], [4, 1, 1, ...N1, 0, 1, 3, 1, 1, 0x63, 1, 0, 3]);
});

test('the header: unknown tag, unexpected type, unknown version, empty input', () => {
  rejects([9, 1, 0], 'crdt_unknown_type');
  rejects([0, 1, 0], 'crdt_unknown_type');
  assert.throws(
    () => ORSet.decode(GSet.empty.encode()),
    (e) => e instanceof ProtocolError && e.code === 'crdt_unknown_type',
  );
  rejects([3, 2, 0], 'crdt_unknown_version');
  rejects([], 'truncated');
  rejects([3, 1, 0, 0], 'trailing_bytes');
});

test('every rule of the grammar is enforced (non-canonical or inconsistent values are refused)', () => {
  const ctx1 = [1, ...N1, 1, 0]; // context {n1: 1}
  const ctx2 = [1, ...N1, 2, 0]; // context {n1: 2}
  // counters: zero entry, unsorted/duplicate replicas, empty replica id
  rejects([1, 1, 1, ...N1, 0, 0, 0, 0, 0, 0, 0, 0], 'crdt_malformed');
  rejects([1, 1, 2, ...N1, 0, 0, 0, 0, 0, 0, 0, 1, ...N1, 0, 0, 0, 0, 0, 0, 0, 1], 'crdt_malformed');
  rejects([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1], 'crdt_malformed');
  // G-Set: unsorted, duplicate
  rejects([3, 1, 2, 1, 0x62, 1, 0x61], 'crdt_malformed');
  rejects([3, 1, 2, 1, 0x61, 1, 0x61], 'crdt_malformed');
  // LWW: presence byte
  rejects([5, 1, 2], 'crdt_malformed');
  // context: empty entry, cloud dot not above vv + 1 (not compact), unsorted cloud
  rejects([4, 1, 1, ...N1, 0, 0, 0], 'crdt_malformed');
  rejects([4, 1, 1, ...N1, 1, 1, 2, 0], 'crdt_malformed');
  rejects([4, 1, 1, ...N1, 0, 2, 5, 3, 0], 'crdt_malformed');
  // OR-Set: dot outside the context, replica index out of range, zero counter, element without
  // dots, unsorted elements, unsorted dots
  rejects([4, 1, ...ctx1, 1, 1, 0x61, 1, 0, 2], 'crdt_malformed');
  rejects([4, 1, ...ctx1, 1, 1, 0x61, 1, 1, 1], 'crdt_malformed');
  rejects([4, 1, ...ctx1, 1, 1, 0x61, 1, 0, 0], 'crdt_malformed');
  rejects([4, 1, ...ctx1, 1, 1, 0x61, 0], 'crdt_malformed');
  rejects([4, 1, ...ctx2, 2, 1, 0x62, 1, 0, 1, 1, 0x61, 1, 0, 2], 'crdt_malformed');
  rejects([4, 1, ...ctx2, 1, 1, 0x61, 2, 0, 2, 0, 1], 'crdt_malformed');
  // MV-Register: entries not sorted by dot
  const entry = (c: number) => [0, c, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  rejects([6, 1, ...ctx2, 2, ...entry(2), ...entry(1)], 'crdt_malformed');
  // OR-Map: a key with an empty value, a value schema that is not a causal CRDT
  rejects([7, 1, 4, ...ctx1, 1, 1, 0x6b, 0], 'crdt_malformed');
  rejects([7, 1, 1, 0, 0], 'crdt_unknown_type');
  // A forged count larger than the bytes left is refused before any loop runs.
  rejects([3, 1, 0xff, 0xff, 0xff, 0x7f], 'crdt_malformed');
});

const small = (o: Partial<CrdtBounds>): CrdtBounds => ({ ...DEFAULT_CRDT_BOUNDS, ...o });

test('bounds: elements, dots, nesting and size over their limits are refused on decode and on encode', () => {
  const three = GSet.empty.add('a').state.add('b').state.add('c').state;
  rejects(three.encode(), 'crdt_too_large', small({ elementsCountMax: 2 }));
  assert.throws(() => three.encode(small({ elementsCountMax: 2 })), LimitError);
  assert.equal(GSet.decode(three.encode(), small({ elementsCountMax: 3 })).size, 3);

  const set = ORSet.empty.add('n1', 'a').state.add('n2', 'b').state;
  rejects(set.encode(), 'crdt_too_large', small({ dotsCountMax: 1 }));
  assert.throws(() => set.encode(small({ dotsCountMax: 1 })), LimitError);
  // Cloud dots count too.
  const gap = ORSet.empty.merge(ORSet.empty.add('n1', 'a').state.add('n1', 'b').delta);
  rejects(gap.encode(), 'crdt_too_large', small({ dotsCountMax: 1 }));

  const deep: Schema = { type: 'ormap', value: { type: 'ormap', value: ORSet.schema } };
  const map = ORMap.empty(deep); // depth 3
  rejects(map.encode(), 'crdt_too_large', small({ depthMax: 2 }));
  assert.throws(() => map.encode(small({ depthMax: 2 })), LimitError);
  assert.equal(ORMap.decode(map.encode(), deep, small({ depthMax: 3 })).size, 0);
  // A forged schema nested far past the bound stops at the bound, not at the end of the input.
  rejects([7, 1, ...new Array(10_000).fill(7), 4, 0, 0], 'crdt_too_large');

  rejects(three.encode(), 'crdt_too_large', small({ bytesMax: 6 }));
  assert.throws(() => three.encode(small({ bytesMax: 6 })), LimitError);
});

test('merging values of different types or OR-Map schemas is a typed error', () => {
  assert.throws(
    () => mergeCrdt(GSet.empty, ORSet.empty),
    (e) => e instanceof ProtocolError && e.code === 'crdt_unknown_type',
  );
  assert.throws(
    () => mergeEncoded(ORMap.empty(ORSet.schema).encode(), ORMap.empty(MVRegister.schema).encode()),
    (e) => e instanceof ProtocolError && e.code === 'crdt_unknown_type',
  );
  const a = ORSet.empty.add('n1', 'a').state;
  const b = ORSet.empty.add('n2', 'b').state;
  assert.deepEqual(mergeEncoded(a.encode(), b.encode()), a.merge(b).encode());
});

/** Decodes untrusted bytes: a typed ProtocolError, or a canonical value that merges and re-encodes. */
function decodeUntrusted(bytes: Uint8Array): void {
  let value: ReturnType<typeof decodeCrdt>;
  try {
    value = decodeCrdt(bytes);
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${e}`);
    assert.ok(ALLOWED_CODES.has(e.code), `unexpected code ${e.code}`);
    return;
  }
  const again = value.encode();
  assert.deepEqual(decodeCrdt(again).encode(), again, 'decoded values re-encode to a fixpoint');
  assert.deepEqual(mergeCrdt(value, value).encode(), again, 'and merge with themselves');
}

const validEncodings = fc.tuple(fc.nat(ALL_KINDS.length - 1), executionArb, fc.nat()).map(([k, e, i]) => {
  const kind = ALL_KINDS[k]!;
  const ex = execute(kind, e.replicaCount, e.steps, { carry: 'both' });
  return kind.encode(ex.samples[i % ex.samples.length]!);
});

test('every strict prefix of a valid value is refused with a typed error', () => {
  fc.assert(
    fc.property(validEncodings, (bytes) => {
      for (let n = 0; n < bytes.length; n++) {
        assert.throws(() => decodeCrdt(bytes.subarray(0, n)), ProtocolError);
      }
    }),
    { numRuns: 100 },
  );
});

const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('set', 'insert', 'delete'), byte: fc.nat(255) });

test('random edits of valid values decode to a typed error or a canonical value, never anything else', () => {
  fc.assert(
    fc.property(validEncodings, fc.array(edit, { minLength: 1, maxLength: 4 }), (bytes, edits) => {
      const b = [...bytes];
      for (const e of edits) {
        const i = e.at % (b.length + 1);
        if (e.kind === 'set' && i < b.length) b[i] = e.byte;
        else if (e.kind === 'insert') b.splice(i, 0, e.byte);
        else b.splice(i, 1);
      }
      decodeUntrusted(Uint8Array.from(b));
    }),
    { numRuns: 1000 },
  );
});

test('random bytes behind a valid header decode to a typed error or a canonical value', () => {
  // Small byte values, so counts, indices and counters are often plausible.
  const body = fc.array(fc.oneof(fc.nat(4), fc.nat(255)), { maxLength: 48 });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 7 }), body, (tag, rest) => {
      decodeUntrusted(Uint8Array.from([tag, 1, ...rest]));
    }),
    { numRuns: 2000 },
  );
});

test('a decoded context at the largest dot counter makes the next write a ProtocolError, never an assert', () => {
  // Only a forged state carries it (a replica's own counters grow by one per write), and states
  // come from peers: the coordinator answers its client with the error instead of stopping.
  const forged = new ORSet(new Map(), CausalContext.fromDots([{ replica: 'n1', counter: Number.MAX_SAFE_INTEGER }]));
  const decoded = ORSet.decode(forged.encode());
  assert.throws(() => decoded.add('n1', 'x'), { name: 'ProtocolError', code: 'crdt_malformed' });
  assert.equal(decoded.add('n2', 'x').state.size, 1, 'another replica still writes');
});

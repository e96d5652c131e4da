// Goal: the Paxos message and acceptor-state codecs (paxos-messages.ts grammar) round-trip, and
// bytes from the network never crash them: every truncation, every single-byte corruption and
// random garbage either decode or throw a ProtocolError with a stable code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import {
  type AcceptorState,
  type Ballot,
  compareBallots,
  formatBallot,
  decodeAcceptorState,
  decodePaxosMessage,
  encodeAcceptorState,
  encodePaxosMessage,
  PAXOS_MESSAGE_VERSION,
  type PaxosMessage,
  type PaxosVersion,
} from './paxos-messages.ts';

const bytesArb = (max: number) => fc.uint8Array({ maxLength: max });
const ballotArb: fc.Arbitrary<Ballot> = fc.record({
  ms: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  rand: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  node: fc.constantFrom('n1', 'n2', 'nœud-é'),
});
const valueArb = fc.option(bytesArb(12), { nil: null });
/** A version whose origin is at or below its ballot, with recent origins descending below it (the codec refuses the rest). */
const versionArb: fc.Arbitrary<PaxosVersion> = fc
  .tuple(fc.array(ballotArb, { minLength: 2, maxLength: 2 + limits.paxosRecentOriginsCountMax }), valueArb)
  .map(([ballots, value]) => {
    const sorted = [...new Map(ballots.map((b) => [formatBallot(b), b])).values()].sort((a, b) => compareBallots(b, a));
    const [ballot, origin = ballot, ...recent] = sorted as [Ballot, ...Ballot[]];
    return { ballot, origin, recent, value };
  });
const optVersion = fc.option(versionArb, { nil: null });
const header = fc.record({ op: fc.nat(), key: bytesArb(8), ballot: ballotArb });
const messageArb: fc.Arbitrary<PaxosMessage> = fc.oneof(
  header.map((h) => ({ type: 'prepare' as const, ...h })),
  fc.tuple(header, fc.boolean(), ballotArb, optVersion, optVersion).map(([h, ok, promised, accepted, committed]) => ({
    type: 'promise' as const,
    ...h,
    ok,
    promised,
    accepted,
    committed,
  })),
  fc.tuple(header, versionArb).map(([h, v]) => ({
    type: 'propose' as const,
    ...h,
    ballot: v.ballot,
    origin: v.origin,
    recent: v.recent,
    value: v.value,
  })),
  fc
    .tuple(header, fc.boolean(), ballotArb)
    .map(([h, ok, promised]) => ({ type: 'accept' as const, ...h, ok, promised })),
  fc.tuple(header, versionArb).map(([h, v]) => ({
    type: 'commit' as const,
    ...h,
    ballot: v.ballot,
    origin: v.origin,
    recent: v.recent,
    value: v.value,
  })),
  header.map((h) => ({ type: 'commitAck' as const, ...h })),
);
const stateArb: fc.Arbitrary<AcceptorState> = fc.record({
  promised: ballotArb,
  accepted: optVersion,
  committed: optVersion,
});

function orProtocolError<T>(decode: () => T): T | ProtocolError {
  try {
    return decode();
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${String(e)}`);
    return e;
  }
}

test('every message and every acceptor state round-trips, byte for byte', () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      const bytes = encodePaxosMessage(m);
      const back = decodePaxosMessage(bytes);
      assert.deepEqual(back, structuredClone(m), 'fast-check records have no prototype: compare a plain copy');
      assert.deepEqual(encodePaxosMessage(back), bytes);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(stateArb, (s) => assert.deepEqual(decodeAcceptorState(encodeAcceptorState(s)), structuredClone(s))),
    { numRuns: 300 },
  );
});

test('every truncation and every single-byte corruption is a ProtocolError or a value, never a crash', () => {
  fc.assert(
    fc.property(messageArb, stateArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, s, at, xor) => {
      for (const [bytes, decode] of [
        [encodePaxosMessage(m), decodePaxosMessage],
        [encodeAcceptorState(s), decodeAcceptorState],
      ] as const) {
        for (let n = 0; n < bytes.length; n++) {
          const r = orProtocolError(() => decode(bytes.subarray(0, n)));
          assert.ok(r instanceof ProtocolError, `a ${n}-byte prefix of ${bytes.length} decoded`);
        }
        const bad = bytes.slice();
        bad[at % bad.length]! ^= xor;
        orProtocolError(() => decode(bad));
      }
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(bytesArb(64), (garbage) => {
      orProtocolError(() => decodePaxosMessage(garbage));
      orProtocolError(() => decodeAcceptorState(garbage));
    }),
    { numRuns: 2000 },
  );
});

test('broken rules have stable codes', () => {
  const code = (bytes: Uint8Array): string => {
    const r = orProtocolError(() => decodePaxosMessage(bytes));
    assert.ok(r instanceof ProtocolError, 'expected an error');
    return r.code;
  };
  const ballot = (w: ByteWriter, ms: number, rand: number, node: string) => w.uvarint(ms).u32(rand).stringUvarint(node);
  const head = (type: number) =>
    ballot(new ByteWriter().u8(PAXOS_MESSAGE_VERSION).u8(type).uvarint(1).bytesUvarint(new Uint8Array(1)), 5, 1, 'a');
  assert.equal(code(new ByteWriter().u8(2).u8(1).finish()), 'dynamo_bad_version');
  assert.equal(code(new ByteWriter().u8(PAXOS_MESSAGE_VERSION).u8(7).finish()), 'dynamo_bad_type');
  assert.equal(code(head(1).u8(0).finish()), 'trailing_bytes');
  assert.equal(code(head(4).u8(2).finish()), 'dynamo_malformed', 'a flag byte of 2');
  const longKey = new ByteWriter().u8(PAXOS_MESSAGE_VERSION).u8(1).uvarint(1);
  assert.equal(code(longKey.bytesUvarint(new Uint8Array(limits.kvKeyBytesMax + 1)).finish()), 'dynamo_malformed');
  assert.equal(
    code(ballot(head(3), 6, 0, 'a').uvarint(0).u8(0).finish()),
    'dynamo_malformed',
    'origin above the ballot',
  );
  assert.equal(
    code(
      ballot(ballot(head(3), 4, 0, 'a').uvarint(1), 4, 0, 'a')
        .u8(0)
        .finish(),
    ),
    'dynamo_malformed',
    'a recent origin not below the origin',
  );
  assert.equal(
    code(ballot(head(3), 0, 7, '').uvarint(0).u8(0).finish()),
    'dynamo_malformed',
    'a ballot without a node',
  );
  assert.equal(
    code(
      head(3)
        .raw(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 2]))
        .finish(),
    ),
    'dynamo_malformed',
    'value tag 2',
  );
  const r = orProtocolError(() => decodeAcceptorState(new Uint8Array([9])));
  assert.ok(r instanceof ProtocolError && r.code === 'dynamo_bad_version');
});

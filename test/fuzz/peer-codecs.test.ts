// Goal: every codec that decodes bytes from a peer treats them as untrusted (issue 7 item 12).
// Structure-aware fuzzing: take valid encodings of every message type, mutate them the ways a
// broken sender, a flipped bit or an attacker would (truncate, flip bits, overwrite bytes with
// boundary values, splice in, delete or duplicate ranges, grow a length or varint byte, append), and
// decode. Every outcome must be either a typed ProtocolError or a message that re-encodes and
// decodes to itself (round-trip); anything thrown (RangeError, AssertionError, TypeError) fails.
// Codecs: Raft messages (src/raft/codec.ts) bare and in their group envelope (src/raft/group-router.ts), forwarded client requests and responses
// (src/raft/client-codec.ts), the read context (src/raft/read-ctx.ts), membership ping and
// ack (src/membership/codec.ts), the router's TransportError (src/lib/router.ts), and the peer
// frame envelope itself (src/net/frame.ts) over streams of several frames.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { errorCodes } from '../../src/lib/error-codes.ts';
import { BaristaError, ProtocolError } from '../../src/lib/errors.ts';
import { decodeTransportError, encodeTransportError } from '../../src/lib/router.ts';
import { type Ack, decodeAck, decodePing, encodeAck, encodePing, type Ping } from '../../src/membership/codec.ts';
import {
  decodeForwardedRequest,
  decodeForwardedResponse,
  encodeForwardedRequest,
  encodeForwardedResponse,
  type ForwardedRequest,
  type ForwardedResponse,
} from '../../src/raft/client-codec.ts';
import { decodeReadCtx, encodeReadCtx } from '../../src/raft/read-ctx.ts';
import { FrameDecoder, FrameEncoder } from '../../src/net/frame.ts';
import { decodeMessage, encodeMessage } from '../../src/raft/codec.ts';
import { decodeGroupFrame, encodeGroupFrame } from '../../src/raft/group-router.ts';
import { encodeConfChangeEntry } from '../../src/raft/conf.ts';
import { type ConfState, type Entry, EntryType, type Message, MsgType } from '../../src/raft/types.ts';

// ---------------------------------------------------------------------------------------------
// Mutations

type Mutation =
  | { op: 'truncate'; at: number }
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'grow'; at: number; by: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'duplicate'; at: number; count: number }
  | { op: 'append'; bytes: Uint8Array };

const position = fc.nat({ max: 1 << 16 });
const boundary = fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), at: position }),
  fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: position, value: fc.oneof(boundary, fc.nat({ max: 255 })) }),
  // A length or a one-byte varint made larger: the decoder must not read or allocate past its input.
  fc.record({ op: fc.constant('grow' as const), at: position, by: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    at: position,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
  }),
  fc.record({ op: fc.constant('delete' as const), at: position, count: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: position, count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
);

function applyMutation(input: Uint8Array, m: Mutation): Uint8Array {
  const n = input.length;
  const at = n === 0 ? 0 : (m as { at?: number }).at === undefined ? 0 : (m as { at: number }).at % n;
  const out = Array.from(input);
  switch (m.op) {
    case 'truncate':
      return Uint8Array.from(out.slice(0, at));
    case 'flip':
      if (n > 0) out[at]! ^= 1 << m.bit;
      break;
    case 'set':
      if (n > 0) out[at] = m.value;
      break;
    case 'grow':
      if (n > 0) out[at] = (out[at]! + m.by) & 0xff;
      break;
    case 'insert':
      out.splice(at, 0, ...m.bytes);
      break;
    case 'delete':
      out.splice(at, m.count);
      break;
    case 'duplicate':
      out.splice(at, 0, ...out.slice(at, at + m.count));
      break;
    case 'append':
      out.push(...m.bytes);
      break;
  }
  return Uint8Array.from(out);
}

const mutations = fc.array(mutation, { minLength: 1, maxLength: 3 });

// ---------------------------------------------------------------------------------------------
// The codecs under test: valid values, encode, and a decode that returns a ProtocolError.

interface Codec<T> {
  readonly name: string;
  readonly valid: fc.Arbitrary<T>;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T | ProtocolError;
}

const codec = <T>(c: Codec<T>): Codec<unknown> => c as Codec<unknown>;

const nodeId = fc.string({ minLength: 1, maxLength: 8 });
const nat = fc.nat({ max: 2 ** 40 });
const small = fc.nat({ max: 300 });
const bytes = fc.uint8Array({ maxLength: 40 });
const conf: fc.Arbitrary<ConfState> = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 })
  .chain((ids) =>
    fc.nat({ max: ids.length }).map((k) => ({ voters: ids.slice(0, k).sort(), learners: ids.slice(k).sort() })),
  );

const raftMessage: fc.Arbitrary<Message> = fc.oneof(
  fc
    .record({ from: nodeId, to: nodeId, term: fc.integer({ min: 5, max: 300 }), prevIndex: small, commit: small })
    .chain((b) =>
      fc
        .array(
          fc.oneof(
            bytes.map((data) => ({ type: EntryType.Normal, data })),
            fc.constant({ type: EntryType.Noop, data: new Uint8Array(0) }),
            conf.map((c) => ({
              type: EntryType.ConfChange,
              data: encodeConfChangeEntry({ type: 'addLearner', nodeId: 'z' }, c),
            })),
          ),
          { maxLength: 4 },
        )
        .map((es): Message => {
          const entries: Entry[] = es.map((e, i) => ({ index: b.prevIndex + 1 + i, term: 3 + i, ...e }));
          return { type: MsgType.Append, ...b, prevTerm: 3, entries };
        }),
    ),
  fc
    .record({ from: nodeId, to: nodeId, term: nat, reject: fc.boolean(), index: nat, hintIndex: nat, hintTerm: nat })
    .map((m): Message => ({ ...m, type: MsgType.AppendResponse })),
  fc
    .record({ from: nodeId, to: nodeId, term: nat, commit: nat, readSeq: nat })
    .map((m): Message => ({ ...m, type: MsgType.Heartbeat })),
  fc
    .record({ from: nodeId, to: nodeId, term: nat, readSeq: nat })
    .map((m): Message => ({ ...m, type: MsgType.HeartbeatResponse })),
  fc
    .record({ from: nodeId, to: nodeId, term: nat, lastIndex: nat, lastTerm: nat, transfer: fc.boolean() })
    .chain((m) => fc.constantFrom(MsgType.Vote, MsgType.PreVote).map((type): Message => ({ ...m, type }))),
  fc
    .record({ from: nodeId, to: nodeId, term: nat, reject: fc.boolean() })
    .chain((m) =>
      fc.constantFrom(MsgType.VoteResponse, MsgType.PreVoteResponse).map((type): Message => ({ ...m, type })),
    ),
  fc
    .record({
      from: nodeId,
      to: nodeId,
      term: fc.integer({ min: 1, max: 2 ** 40 }),
      index: fc.integer({ min: 1, max: 2 ** 40 }),
      c: conf,
      chunk: bytes,
      offset: small,
      extra: small,
    })
    .map(
      ({ from, to, term, index, c, chunk, offset, extra }): Message => ({
        type: MsgType.Snapshot,
        from,
        to,
        term,
        meta: { index, term, confState: c },
        totalBytes: offset + chunk.length + extra,
        offset,
        chunk,
        done: extra === 0,
      }),
    ),
  fc
    .record({
      from: nodeId,
      to: nodeId,
      term: nat,
      snapshotIndex: nat,
      nextOffset: nat,
      done: fc.boolean(),
      matchIndex: nat,
      reject: fc.boolean(),
    })
    .map((m): Message => ({ ...m, type: MsgType.SnapshotResponse })),
  fc.record({ from: nodeId, to: nodeId, term: nat }).map((m): Message => ({ ...m, type: MsgType.TimeoutNow })),
  fc
    .record({ from: nodeId, to: nodeId, term: nat, requestCtx: bytes })
    .map((m): Message => ({ ...m, type: MsgType.ReadIndex })),
  fc
    .record({ from: nodeId, to: nodeId, term: nat, index: nat, requestCtx: bytes })
    .map((m): Message => ({ ...m, type: MsgType.ReadIndexResponse })),
);

// Codes a peer of this build sends: the catalogue's (unknown ones are tested below).
const errorCode = fc.constantFrom(...errorCodes);
const groupId = fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/);

const codecs: readonly Codec<unknown>[] = [
  codec<Message>({ name: 'raft message', valid: raftMessage, encode: encodeMessage, decode: decodeMessage }),
  codec<{ group: string; message: Message }>({
    // The group envelope every Raft-family message carries (src/raft/group-router.ts), around a
    // Raft message: a mutation may hit the version, the group id's length or bytes, or the inner.
    name: 'raft group frame',
    valid: fc.record({ group: groupId, message: raftMessage }),
    encode: (g) => encodeGroupFrame(g.group, encodeMessage(g.message)),
    decode: (b) => {
      const frame = decodeGroupFrame(b);
      if (frame instanceof ProtocolError) return frame;
      const message = decodeMessage(frame.inner);
      return message instanceof ProtocolError ? message : { group: frame.group, message };
    },
  }),
  codec<ForwardedRequest>({
    name: 'forwarded request',
    valid: fc.record({ incarnation: nat, requestId: nat, command: bytes }),
    encode: encodeForwardedRequest,
    decode: decodeForwardedRequest,
  }),
  codec<ForwardedResponse>({
    name: 'forwarded response',
    valid: fc.oneof(
      fc.record({ requestId: nat, ok: fc.constant(true as const), result: bytes }),
      fc
        .record({
          requestId: nat,
          code: errorCode,
          message: fc.string({ maxLength: 30 }),
          definite: fc.boolean(),
          retriable: fc.boolean(),
        })
        .map(({ requestId, code, message, definite, retriable }) => ({
          requestId,
          ok: false as const,
          error: new BaristaError(code, message, { definite, retriable }),
        })),
    ),
    encode: encodeForwardedResponse,
    decode: decodeForwardedResponse,
  }),
  codec<number>({
    name: 'read context',
    valid: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    encode: encodeReadCtx,
    decode: decodeReadCtx,
  }),
  codec<Ping>({
    name: 'membership ping',
    valid: fc.record({ seq: fc.nat({ max: 0xffff_ffff }), incarnation: nat, t0WallMs: nat }),
    encode: encodePing,
    decode: decodePing,
  }),
  codec<Ack>({
    name: 'membership ack',
    valid: fc.record({
      seq: fc.nat({ max: 0xffff_ffff }),
      incarnation: nat,
      t0WallMs: nat,
      t1WallMs: nat,
      t2WallMs: nat,
    }),
    encode: encodeAck,
    decode: decodeAck,
  }),
  codec<{ kind: number; messageType: number }>({
    name: 'transport error',
    valid: fc.record({ kind: fc.nat({ max: 0xffff }), messageType: fc.nat({ max: 0xffff }) }),
    encode: (e) => encodeTransportError(e.kind, e.messageType),
    decode: (b) => decodeTransportError(b) ?? new ProtocolError('malformed', 'malformed TransportError'),
  }),
];

/** decode never throws; a value it accepts re-encodes and decodes to itself. */
function checkDecode(c: Codec<unknown>, input: Uint8Array): 'rejected' | 'accepted' {
  let decoded: unknown;
  try {
    decoded = c.decode(input);
  } catch (err) {
    assert.fail(`${c.name}: decode threw ${String(err)} on [${[...input].join(',')}]`);
  }
  if (decoded instanceof ProtocolError) return 'rejected';
  const again = c.decode(c.encode(decoded));
  assert.ok(!(again instanceof ProtocolError), `${c.name}: a decoded value must re-encode validly`);
  assert.deepEqual(again, decoded, `${c.name}: accepted input must round-trip`);
  return 'accepted';
}

for (const c of codecs) {
  test(`fuzz ${c.name}: valid encodings round-trip; mutated ones round-trip or are a ProtocolError`, () => {
    const outcomes = { rejected: 0, accepted: 0 };
    fc.assert(
      fc.property(c.valid, mutations, (value, muts) => {
        const encoded = c.encode(value);
        // fc.record builds null-prototype objects; decoders build plain ones.
        const expected = typeof value === 'object' && value !== null ? { ...value } : value;
        assert.deepEqual(c.decode(encoded), expected, `${c.name}: a valid encoding decodes to its value`);
        let mutated = encoded;
        for (const m of muts) mutated = applyMutation(mutated, m);
        outcomes[checkDecode(c, mutated)]++;
      }),
      { numRuns: 1500 },
    );
    // The fuzzer must actually reach the error paths (a codec that accepted everything would be suspect).
    assert.ok(outcomes.rejected > 100, `${c.name}: ${JSON.stringify(outcomes)}`);
  });
}

test('fuzz peer frames: mutated streams of frames yield frames or one ProtocolError, never a throw', () => {
  const encoder = new FrameEncoder({ clusterId: 'fuzz', senderId: 'n1', bounds: { frameBytesMax: 4096 } });
  fc.assert(
    fc.property(
      fc.array(fc.record({ type: fc.nat({ max: 0xffff }), payload: bytes }), { minLength: 1, maxLength: 4 }),
      mutations,
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
      (frames, muts, chunkBytes) => {
        const parts = frames.map((f) => encoder.encode(f.type, f.payload));
        let stream: Uint8Array = Uint8Array.from(Buffer.concat(parts));
        for (const m of muts) stream = applyMutation(stream, m);
        const decoder = new FrameDecoder({ frameBytesMax: 4096 });
        const events = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = chunkBytes[i % chunkBytes.length]!;
          events.push(...decoder.push(stream.subarray(at, at + n)));
          at += n;
        }
        const errors = events.filter((e) => e.kind === 'error');
        assert.ok(errors.length <= 1, 'at most one error, and it is the last event');
        if (errors.length === 1) assert.equal(events.at(-1)!.kind, 'error');
        for (const e of events) {
          if (e.kind === 'error') assert.ok(e.error instanceof ProtocolError);
          else assert.ok(e.frame.payload.length <= 4096);
        }
      },
    ),
    { numRuns: 1500 },
  );
});

test('forwarded responses are decoded strictly: error codes, flags and trailing bytes are checked', () => {
  const ok = encodeForwardedResponse({ requestId: 7, ok: true, result: Uint8Array.of(1) });
  const err = encodeForwardedResponse({
    requestId: 7,
    ok: false,
    error: new BaristaError('not_leader', 'not the leader'),
  });
  const code = (b: Uint8Array): string | undefined => {
    const r = decodeForwardedResponse(b);
    return r instanceof ProtocolError ? r.code : undefined;
  };
  assert.equal(code(ok), undefined);
  assert.equal(code(err), undefined);
  assert.equal(code(Uint8Array.from([...ok, 0])), 'trailing_bytes');
  const okFlag = ok.slice();
  okFlag[2] = 7; // neither ok (1) nor error (0)
  assert.equal(code(okFlag), 'invalid_boolean');
  // An error code reaches clients and metric labels: a peer cannot choose its shape.
  // (The typed constructor refuses a code outside the catalogue, so a foreign peer's answer is forged.)
  const foreign = (c: string): BaristaError =>
    ({ code: c, message: 'x', definite: false, retriable: true }) as unknown as BaristaError;
  const badCode = encodeForwardedResponse({ requestId: 7, ok: false, error: foreign('Not Leader!') });
  assert.equal(code(badCode), 'client_bad_error_code');
  // A well-formed code outside the catalogue, or a known code with flags that disagree with it.
  assert.equal(
    code(encodeForwardedResponse({ requestId: 7, ok: false, error: foreign('shiny_new') })),
    'client_bad_error_code',
  );
  assert.equal(
    code(encodeForwardedResponse({ requestId: 7, ok: false, error: foreign('not_leader') })),
    'client_bad_error_code',
  );
  const timeoutFlags = foreign('timeout'); // definite depends on the call: the peer's flag is kept
  const decodedTimeout = decodeForwardedResponse(
    encodeForwardedResponse({ requestId: 7, ok: false, error: timeoutFlags }),
  );
  assert.ok(
    !(decodedTimeout instanceof ProtocolError) && !decodedTimeout.ok && decodedTimeout.error.definite === false,
  );
  const huge = encodeForwardedResponse({
    requestId: 7,
    ok: false,
    error: new BaristaError('not_leader', 'y'.repeat(5000)),
  });
  assert.equal(code(huge), 'client_error_message_too_large');
  const request = encodeForwardedRequest({ incarnation: 1, requestId: 1, command: Uint8Array.of(1) });
  const trailing = decodeForwardedRequest(Uint8Array.from([...request, 9]));
  assert.ok(trailing instanceof ProtocolError && trailing.code === 'trailing_bytes');
});

// Goal: the Raft message codec round-trips every message type exactly (property test over
// generated messages), and treats untrusted bytes as untrusted: random bytes, truncations and
// single-byte corruptions of valid encodings decode to a Message or a ProtocolError — never a
// throw — and semantic violations the core would assert on are refused at the edge.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../lib/errors.ts';
import { decodeMessage, encodeMessage } from './codec.ts';
import { encodeConfChangeEntry } from './conf.ts';
import { type ConfState, type Entry, EntryType, type Message, MsgType } from './types.ts';

const id = fc.string({ minLength: 1, maxLength: 12 });
const nat = fc.nat({ max: 2 ** 40 });
const small = fc.nat({ max: 1000 });
const bytes = fc.uint8Array({ maxLength: 64 });
const conf: fc.Arbitrary<ConfState> = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 6 })
  .chain((ids) =>
    fc.nat({ max: ids.length }).map((k) => ({ voters: ids.slice(0, k).sort(), learners: ids.slice(k).sort() })),
  );

const append = fc
  .record({
    from: id,
    to: id,
    term: fc.integer({ min: 5, max: 1000 }),
    prevIndex: small,
    commit: small,
    n: fc.nat({ max: 5 }),
    data: fc.array(bytes, { maxLength: 5 }),
    c: conf,
  })
  .map(({ from, to, term, prevIndex, commit, n, data, c }): Message => {
    const entries: Entry[] = Array.from({ length: n }, (_, i) => {
      const type = i === 1 ? EntryType.ConfChange : i === 2 ? EntryType.Noop : EntryType.Normal;
      const d =
        type === EntryType.ConfChange
          ? encodeConfChangeEntry({ type: 'addLearner', nodeId: 'z' }, c)
          : type === EntryType.Noop
            ? new Uint8Array(0)
            : (data[i] ?? new Uint8Array(0));
      return { index: prevIndex + 1 + i, term: Math.min(term, 3 + i), type, data: d };
    });
    return { type: MsgType.Append, from, to, term, prevIndex, prevTerm: 3, commit, entries };
  });

const message: fc.Arbitrary<Message> = fc.oneof(
  append,
  fc
    .record({ from: id, to: id, term: nat, reject: fc.boolean(), index: nat, hintIndex: nat, hintTerm: nat })
    .map((m) => ({ ...m, type: MsgType.AppendResponse }) as Message),
  fc
    .record({ from: id, to: id, term: nat, commit: nat, readSeq: nat })
    .map((m) => ({ ...m, type: MsgType.Heartbeat }) as Message),
  fc
    .record({ from: id, to: id, term: nat, readSeq: nat })
    .map((m) => ({ ...m, type: MsgType.HeartbeatResponse }) as Message),
  fc
    .record({ from: id, to: id, term: nat, lastIndex: nat, lastTerm: nat, transfer: fc.boolean(), pre: fc.boolean() })
    .map(({ pre, ...m }) => ({ ...m, type: pre ? MsgType.PreVote : MsgType.Vote }) as Message),
  fc
    .record({ from: id, to: id, term: nat, reject: fc.boolean(), pre: fc.boolean() })
    .map(({ pre, ...m }) => ({ ...m, type: pre ? MsgType.PreVoteResponse : MsgType.VoteResponse }) as Message),
  fc
    .record({
      from: id,
      to: id,
      term: fc.integer({ min: 1, max: 2 ** 40 }),
      index: fc.integer({ min: 1, max: 2 ** 40 }),
      c: conf,
      chunk: bytes,
      offset: small,
      extra: small,
    })
    .map(
      ({ from, to, term, index, c, chunk, offset, extra }) =>
        ({
          type: MsgType.Snapshot,
          from,
          to,
          term,
          meta: { index, term, confState: c },
          totalBytes: offset + chunk.length + extra,
          offset,
          chunk,
          done: extra === 0,
        }) as Message,
    ),
  fc
    .record({
      from: id,
      to: id,
      term: nat,
      snapshotIndex: nat,
      nextOffset: nat,
      done: fc.boolean(),
      matchIndex: nat,
      reject: fc.boolean(),
    })
    .map((m) => ({ ...m, type: MsgType.SnapshotResponse }) as Message),
  fc.record({ from: id, to: id, term: nat }).map((m) => ({ ...m, type: MsgType.TimeoutNow }) as Message),
  fc
    .record({ from: id, to: id, term: nat, requestCtx: bytes })
    .map((m) => ({ ...m, type: MsgType.ReadIndex }) as Message),
  fc
    .record({ from: id, to: id, term: nat, index: nat, requestCtx: bytes })
    .map((m) => ({ ...m, type: MsgType.ReadIndexResponse }) as Message),
);

test('every message type round-trips', () => {
  fc.assert(
    fc.property(message, (m) => {
      const decoded = decodeMessage(encodeMessage(m));
      assert.ok(!(decoded instanceof ProtocolError), decoded instanceof ProtocolError ? decoded.message : '');
      assert.deepEqual(decoded, m);
    }),
    { numRuns: 2000 },
  );
});

test('random bytes, truncations and corruptions never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      const r = decodeMessage(b);
      assert.ok(r instanceof ProtocolError || typeof r.type === 'number');
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(message, fc.nat(), fc.nat({ max: 255 }), (m, at, value) => {
      const enc = encodeMessage(m);
      const cut = enc.subarray(0, at % enc.length);
      assert.ok(decodeMessage(cut) instanceof ProtocolError, 'a strict prefix is truncated');
      const corrupt = enc.slice();
      corrupt[at % enc.length] = value;
      const r = decodeMessage(corrupt);
      assert.ok(r instanceof ProtocolError || typeof r.type === 'number');
    }),
    { numRuns: 2000 },
  );
});

test('semantic checks: gaps in entry indexes, unknown versions and types are protocol errors', () => {
  const m: Message = {
    type: MsgType.Append,
    from: 'a',
    to: 'b',
    term: 2,
    prevIndex: 4,
    prevTerm: 1,
    commit: 0,
    entries: [{ index: 6, term: 2, type: EntryType.Normal, data: new Uint8Array(0) }],
  };
  const gap = decodeMessage(encodeMessage(m));
  assert.ok(gap instanceof ProtocolError && gap.code === 'raft_bad_append');
  const ok = encodeMessage({ type: MsgType.TimeoutNow, from: 'a', to: 'b', term: 1 });
  const v2 = ok.slice();
  v2[0] = 2;
  assert.equal((decodeMessage(v2) as ProtocolError).code, 'raft_bad_version');
  const t99 = ok.slice();
  t99[1] = 99;
  assert.equal((decodeMessage(t99) as ProtocolError).code, 'raft_bad_type');
  const trailing = new Uint8Array([...ok, 0]);
  assert.equal((decodeMessage(trailing) as ProtocolError).code, 'trailing_bytes');
});

test('a byte fixture pins the wire format of a Heartbeat', () => {
  const enc = encodeMessage({ type: MsgType.Heartbeat, from: 'a', to: 'b', term: 300, commit: 5, readSeq: 0 });
  assert.deepEqual([...enc], [1, MsgType.Heartbeat, 1, 0x61, 1, 0x62, 0xac, 0x02, 5, 0]);
});

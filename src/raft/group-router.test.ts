// Goal: the Raft group envelope (group-router.ts) — its grammar byte by byte, every truncation and
// malformed id a ProtocolError (never a throw), and the router's dispatch by group: a message
// reaches only its own group's handler; an unknown group is a counted ProtocolError, not a crash.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PeerMessage, Transport } from '../env/types.ts';
import { ProtocolError } from '../lib/errors.ts';
import { MessageType } from '../lib/message-types.ts';
import { MessageRouter } from '../lib/router.ts';
import { SimMetrics } from '../sim/observe.ts';
import {
  decodeGroupFrame,
  encodeGroupFrame,
  GROUP_FRAME_VERSION,
  isValidGroupId,
  RaftGroupRouter,
} from './group-router.ts';

test('group frame grammar: version 16, one-byte id length, the id, then the inner payload', () => {
  const bytes = encodeGroupFrame('kv', Uint8Array.of(1, 2, 3));
  assert.deepEqual([...bytes], [GROUP_FRAME_VERSION, 2, 0x6b, 0x76, 1, 2, 3]);
  const d = decodeGroupFrame(bytes);
  assert.ok(!(d instanceof ProtocolError));
  assert.equal(d.group, 'kv');
  assert.deepEqual([...d.inner], [1, 2, 3]);
});

test('every truncation of a frame before its inner payload is a ProtocolError', () => {
  const bytes = encodeGroupFrame('metadata', Uint8Array.of(9));
  for (let n = 0; n < 2 + 'metadata'.length; n++) {
    const d = decodeGroupFrame(bytes.subarray(0, n));
    assert.ok(d instanceof ProtocolError, `prefix of ${n} bytes`);
  }
});

test('bad versions and ids are refused with stable codes', () => {
  const code = (b: number[]): string => {
    const d = decodeGroupFrame(Uint8Array.from(b));
    assert.ok(d instanceof ProtocolError);
    return d.code;
  };
  assert.equal(code([1, 2, 0x6b, 0x76]), 'raft_group_bad_version'); // a pre-groups Raft payload
  assert.equal(code([16, 0]), 'raft_group_bad_id');
  assert.equal(code([16, 33, ...new Array(33).fill(0x61)]), 'raft_group_bad_id');
  assert.equal(code([16, 2, 0x4b, 0x56]), 'raft_group_bad_id'); // "KV": upper case
  assert.equal(code([16, 2, 0x6b, 0x2f]), 'raft_group_bad_id'); // "k/": not a path component
  assert.equal(code([16, 1, 0x31]), 'raft_group_bad_id'); // starts with a digit
  assert.ok(isValidGroupId('kv') && isValidGroupId('metadata') && isValidGroupId('range-12'));
  assert.ok(!isValidGroupId('') && !isValidGroupId('a'.repeat(33)) && !isValidGroupId('../x'));
});

test('the router hands each message to its own group only; an unknown group is counted and dropped', () => {
  const sent: { to: string; type: number; payload: Uint8Array }[] = [];
  const transport = {
    send: (to: string, type: number, payload: Uint8Array) => {
      sent.push({ to, type, payload });
      return true;
    },
  } as unknown as Transport;
  const metrics = new SimMetrics();
  const log = { debug() {}, info() {}, warn() {}, error() {}, child: () => log };
  const messages = new MessageRouter(metrics, transport, log, { monotonicMs: () => 0, wallMs: () => 0 });
  const groups = new RaftGroupRouter(messages, transport);
  const seen: string[] = [];
  for (const g of ['metadata', 'kv']) {
    const link = groups.attach(g);
    link.on(MessageType.Raft, (m: PeerMessage) => seen.push(`${g}:${[...m.payload].join(',')}`));
    if (g === 'kv') link.send('n2', MessageType.Raft, Uint8Array.of(7));
  }
  assert.deepEqual([...sent[0]!.payload], [...encodeGroupFrame('kv', Uint8Array.of(7))]);
  const deliver = (payload: Uint8Array): void => messages.dispatch({ from: 'n2', type: MessageType.Raft, payload });
  deliver(encodeGroupFrame('kv', Uint8Array.of(1)));
  deliver(encodeGroupFrame('metadata', Uint8Array.of(2)));
  deliver(encodeGroupFrame('other', Uint8Array.of(3)));
  deliver(Uint8Array.of(16));
  assert.deepEqual(seen, ['kv:1', 'metadata:2']);
  const rejected = (code: string): number =>
    metrics.value('peer_messages_rejected_total', { type: String(MessageType.Raft), code });
  assert.equal(rejected('raft_group_unknown'), 1);
  assert.equal(rejected('truncated'), 1);
  // A group with no handler for a type is the same as an unknown group.
  messages.dispatch({
    from: 'n2',
    type: MessageType.RaftClientRequest,
    payload: encodeGroupFrame('kv', Uint8Array.of(5)),
  });
  assert.equal(rejected('raft_group_unknown'), 1);
  assert.equal(
    metrics.value('peer_messages_rejected_total', {
      type: String(MessageType.RaftClientRequest),
      code: 'raft_group_unknown',
    }),
    1,
  );
  assert.throws(() => groups.attach('kv'), /attached twice/);
});

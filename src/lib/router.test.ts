// Goal: messages reach the protocol that registered their type; an unknown type is counted and
// answered with a TransportError naming it; a TransportError is counted and never answered; a
// handler whose decoder throws a ProtocolError has the message counted and dropped (the node goes
// on), while any other exception propagates; log lines peers can cause are rate-limited.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PeerMessage, Transport } from '../env/types.ts';
import { memoryLogger } from '../env/log.ts';
import { MetricsRegistry } from '../metrics/registry.ts';
import { AssertionError } from './assert.ts';
import { ByteReader } from './bytes.ts';
import { MessageType } from './message-types.ts';
import { decodeTransportError, encodeTransportError, MessageRouter, TransportErrorKind } from './router.ts';

function setup() {
  const sent: Array<{ to: string; type: number; payload: Uint8Array }> = [];
  const transport: Transport = {
    self: 'n1',
    send: (to, type, payload) => {
      sent.push({ to, type, payload });
      return true;
    },
    onMessage: () => {},
    close: async () => {},
  };
  const metrics = new MetricsRegistry();
  const log = memoryLogger(10_000);
  const clock = { monotonicMs: () => 0, wallMs: () => 0 };
  const router = new MessageRouter(metrics, transport, log, clock);
  return { sent, metrics, router, log };
}

const msg = (type: number, payload: Uint8Array = new Uint8Array(0)): PeerMessage => ({ from: 'n2', type, payload });

test('dispatches by type', () => {
  const { router } = setup();
  const got: number[] = [];
  router.register([MessageType.MembershipPing], (m) => got.push(m.type));
  router.dispatch(msg(MessageType.MembershipPing));
  assert.deepEqual(got, [MessageType.MembershipPing]);
  assert.throws(() => router.register([MessageType.MembershipPing], () => {}), /twice/);
});

test('an unknown type is counted and answered with a TransportError', () => {
  const { router, sent, metrics } = setup();
  router.dispatch(msg(0x7777));
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.to, 'n2');
  assert.equal(sent[0]!.type, MessageType.TransportError);
  assert.deepEqual(decodeTransportError(sent[0]!.payload), {
    kind: TransportErrorKind.UnknownMessageType,
    messageType: 0x7777,
  });
  assert.equal((metrics.find('peer_messages_unknown_type_total') as { value: number }).value, 1);
});

test('a TransportError (well-formed or not) is counted and never answered', () => {
  const { router, sent } = setup();
  router.dispatch(msg(MessageType.TransportError, encodeTransportError(TransportErrorKind.UnknownMessageType, 9)));
  router.dispatch(msg(MessageType.TransportError, new Uint8Array([9, 9])));
  assert.equal(sent.length, 0);
});

test('TransportError kinds from peers cannot mint metric series (untrusted input)', () => {
  const { router, metrics } = setup();
  const before = metrics.seriesCount;
  for (let kind = 0; kind < 2_000; kind++)
    router.dispatch(msg(MessageType.TransportError, encodeTransportError(kind, 1)));
  assert.equal(metrics.seriesCount, before);
  assert.equal(
    (metrics.find('peer_transport_errors_received_total', { kind: 'other' }) as { value: number }).value,
    1_999,
  );
});

test('a handler whose decoder throws a ProtocolError has the message counted and dropped (issue 7 item 12)', () => {
  const { router, metrics, log } = setup();
  const got: number[] = [];
  // A protocol that decodes with ByteReader and lets it throw: a u32 then nothing else.
  router.register([MessageType.MembershipPing], (m) => {
    const r = new ByteReader(m.payload);
    const v = r.u32();
    r.expectEnd();
    got.push(v);
  });
  router.dispatch(msg(MessageType.MembershipPing, Uint8Array.of(0, 0, 0, 7)));
  for (let i = 0; i < 1_000; i++) router.dispatch(msg(MessageType.MembershipPing, Uint8Array.of(1, 2)));
  router.dispatch(msg(MessageType.MembershipPing, Uint8Array.of(0, 0, 0, 7, 9)));
  assert.deepEqual(got, [7]);
  const rejected = (code: string): number =>
    (
      metrics.find('peer_messages_rejected_total', { type: String(MessageType.MembershipPing), code }) as {
        value: number;
      }
    ).value;
  assert.equal(rejected('truncated'), 1_000);
  assert.equal(rejected('trailing_bytes'), 1);
  // 1,001 bad messages at one instant: a burst of log lines per kind, not one line per message.
  assert.ok(log.lines().length <= 20, `${log.lines().length} log lines`);
  assert.ok((metrics.find('log_lines_suppressed_total', { component: 'router' }) as { value: number }).value >= 990);
});

test('a handler that throws anything but a ProtocolError is a bug: the exception propagates', () => {
  const { router } = setup();
  router.register([MessageType.MembershipPing], () => {
    throw new AssertionError('invariant broken');
  });
  assert.throws(() => router.dispatch(msg(MessageType.MembershipPing)), AssertionError);
});

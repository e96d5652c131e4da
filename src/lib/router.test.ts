// Goal: messages reach the protocol that registered their type; an unknown type is counted and
// answered with a TransportError naming it; a TransportError is counted and never answered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PeerMessage, Transport } from '../env/types.ts';
import { memoryLogger } from '../env/log.ts';
import { MetricsRegistry } from '../metrics/registry.ts';
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
  const router = new MessageRouter(metrics, transport, memoryLogger(100));
  return { sent, metrics, router };
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

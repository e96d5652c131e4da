// Routes peer messages to the protocol that owns their type. A Transport has exactly one receiver;
// the node installs a router there and each protocol driver registers its message types.
//
// A message of a type no protocol here handles (a newer peer speaking a protocol we do not, or a
// bug) is counted and answered with a TransportError frame naming the type, so the sender can see
// and count it too:   TransportError = u8 version(1) | u16 code(1 = unknown type) | u16 messageType
// A TransportError is itself never answered (no ping-pong between two confused peers); receiving
// one is counted by code and logged.

import type { Counter, Logger, Metrics, PeerMessage, Transport } from '../env/types.ts';
import { assert } from './assert.ts';
import { MessageType } from './message-types.ts';

export type MessageHandler = (message: PeerMessage) => void;

export const TransportErrorKind = { UnknownMessageType: 1 } as const;

export function encodeTransportError(kind: number, messageType: number): Uint8Array {
  const out = new Uint8Array(5);
  const v = new DataView(out.buffer);
  v.setUint8(0, 1);
  v.setUint16(1, kind);
  v.setUint16(3, messageType);
  return out;
}

export function decodeTransportError(payload: Uint8Array): { kind: number; messageType: number } | undefined {
  if (payload.length !== 5 || payload[0] !== 1) return undefined;
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return { kind: v.getUint16(1), messageType: v.getUint16(3) };
}

export class MessageRouter {
  private readonly handlers = new Map<number, MessageHandler>();
  private readonly unknownType: Counter;
  /** By kind, from a fixed set: the kind a peer sends is untrusted and must not mint metric series. */
  private readonly errorsReceived: Record<'unknown_message_type' | 'malformed' | 'other', Counter>;

  constructor(
    metrics: Metrics,
    private readonly transport: Transport,
    private readonly log: Logger,
  ) {
    this.unknownType = metrics.counter(
      'peer_messages_unknown_type_total',
      'Peer messages of a type no protocol handles',
    );
    const received = (kind: string): Counter =>
      metrics.counter('peer_transport_errors_received_total', 'TransportError frames received from peers', { kind });
    this.errorsReceived = {
      unknown_message_type: received('unknown_message_type'),
      malformed: received('malformed'),
      other: received('other'),
    };
    this.handlers.set(MessageType.TransportError, (m) => this.onTransportError(m));
  }

  register(types: readonly number[], handler: MessageHandler): void {
    for (const type of types) {
      assert(!this.handlers.has(type), `message type ${type} registered twice`);
      this.handlers.set(type, handler);
    }
  }

  unregister(types: readonly number[]): void {
    for (const type of types) this.handlers.delete(type);
  }

  readonly dispatch = (message: PeerMessage): void => {
    const handler = this.handlers.get(message.type);
    if (handler !== undefined) return handler(message);
    this.unknownType.inc();
    this.transport.send(
      message.from,
      MessageType.TransportError,
      encodeTransportError(TransportErrorKind.UnknownMessageType, message.type),
    );
  };

  private onTransportError(m: PeerMessage): void {
    const e = decodeTransportError(m.payload);
    const kind =
      e === undefined
        ? 'malformed'
        : e.kind === TransportErrorKind.UnknownMessageType
          ? 'unknown_message_type'
          : 'other';
    this.errorsReceived[kind].inc();
    this.log.warn(
      { peer: m.from, kind, code: e?.kind, messageType: e?.messageType },
      'peer rejected a message we sent',
    );
  }
}

// Routes peer messages to the protocol that owns their type. A Transport has exactly one receiver;
// the node installs a router there and each protocol driver registers its message types.
//
// A message of a type no protocol here handles (a newer peer speaking a protocol we do not, or a
// bug) is counted and answered with a TransportError frame naming the type, so the sender can see
// and count it too:   TransportError = u8 version(1) | u16 code(1 = unknown type) | u16 messageType
// A TransportError is itself never answered (no ping-pong between two confused peers); receiving
// one is counted by code and logged.
//
// Untrusted payloads: a handler decodes its payload and must turn any malformation into a
// ProtocolError (never an assert or a RangeError). A handler that throws a ProtocolError has the
// message counted (peer_messages_rejected_total{type, code}) and dropped here, so a protocol can
// simply let its decoder throw; any other exception is a bug and propagates (it crashes the node,
// and the simulator turns it into a failing seed). Log lines caused by peers are rate-limited
// (LogLimiter) so a flood of bad messages cannot fill the disk.

import type { Clock, Counter, Logger, Metrics, PeerMessage, Transport } from '../env/types.ts';
import { assert } from './assert.ts';
import { ProtocolError } from './errors.ts';
import { LogLimiter } from './log-limit.ts';
import { MessageType } from './message-types.ts';
import { limits } from './limits.ts';

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

/** Distinct (type, code) series of peer_messages_rejected_total; further ones count as code `other`. */
export const routerRejectSeriesMax = limits.routerRejectSeriesMax;

export class MessageRouter {
  private readonly handlers = new Map<number, MessageHandler>();
  private readonly unknownType: Counter;
  private readonly rejected = new Map<string, Counter>();
  private readonly logLimited: LogLimiter;
  /** By kind, from a fixed set: the kind a peer sends is untrusted and must not mint metric series. */
  private readonly errorsReceived: Record<'unknown_message_type' | 'malformed' | 'other', Counter>;

  constructor(
    private readonly metrics: Metrics,
    private readonly transport: Transport,
    log: Logger,
    clock: Clock,
  ) {
    this.logLimited = new LogLimiter(log, clock, metrics, 'router');
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
    if (handler !== undefined) {
      try {
        handler(message);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        this.reject(message, err);
      }
      return;
    }
    this.unknownType.inc();
    this.logLimited.warn(
      `unknown_type:${message.from}`,
      { peer: message.from, messageType: message.type },
      'peer message of a type no protocol handles',
    );
    this.transport.send(
      message.from,
      MessageType.TransportError,
      encodeTransportError(TransportErrorKind.UnknownMessageType, message.type),
    );
  };

  /** Counts and drops a message whose payload failed to decode. */
  private reject(m: PeerMessage, err: ProtocolError): void {
    // Only registered types reach here and codes are our own constants, but the series stay bounded anyway.
    let key = `${m.type}/${err.code}`;
    let counter = this.rejected.get(key);
    if (counter === undefined) {
      if (this.rejected.size >= routerRejectSeriesMax - 1) key = `${m.type}/other`;
      counter = this.rejected.get(key);
      if (counter === undefined) {
        counter = this.metrics.counter(
          'peer_messages_rejected_total',
          'Peer messages dropped: payload failed to decode',
          {
            type: String(m.type),
            code: key.slice(key.indexOf('/') + 1),
          },
        );
        this.rejected.set(key, counter);
      }
    }
    counter.inc();
    this.logLimited.warn(
      `reject:${m.type}/${err.code}`,
      { peer: m.from, messageType: m.type, code: err.code, err: err.message },
      'dropped a peer message that failed to decode',
    );
  }

  private onTransportError(m: PeerMessage): void {
    const e = decodeTransportError(m.payload);
    const kind =
      e === undefined
        ? 'malformed'
        : e.kind === TransportErrorKind.UnknownMessageType
          ? 'unknown_message_type'
          : 'other';
    this.errorsReceived[kind].inc();
    this.logLimited.warn(
      `transport_error:${kind}`,
      { peer: m.from, kind, code: e?.kind, messageType: e?.messageType },
      'peer rejected a message we sent',
    );
  }
}

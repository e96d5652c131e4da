// Routes peer messages to the protocol that owns their type. A Transport has exactly one receiver;
// the node installs a router there and each protocol driver registers its message types. Messages
// of an unregistered type are counted and dropped (a newer peer may speak a protocol we do not).

import type { Counter, Metrics, PeerMessage } from '../env/types.ts';
import { assert } from './assert.ts';

export type MessageHandler = (message: PeerMessage) => void;

export class MessageRouter {
  private readonly handlers = new Map<number, MessageHandler>();
  private readonly unknownType: Counter;

  constructor(metrics: Metrics) {
    this.unknownType = metrics.counter(
      'peer_messages_unknown_type_total',
      'Peer messages of a type no protocol handles',
    );
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
    if (handler === undefined) this.unknownType.inc();
    else handler(message);
  };
}

// Each node's RESP endpoint, told to its peers so that any node can answer CLUSTER SLOTS / SHARDS /
// NODES with every node's host and port (a node's config knows its peers' peer-transport address,
// not their client ports). Redis Cluster carries the same in its gossip header (ip, port,
// cluster-announce-*); ours is one small message.
//
// Message (big-endian; uvarint as src/lib/bytes.ts):
//   Announce = u8 version(1) | u8 flags | uvarint hostLength | host (UTF-8, 1..storeAnnounceHostBytesMax) | u16 port
//   flags: bit 0 = "answer with yours" (the sender does not know the receiver's endpoint yet).
// Protocol: at start and every intervalMs, a node sends its endpoint with the answer flag to every
// peer whose endpoint it does not know; a node receiving an announce records it (the latest wins:
// a restarted peer may have a new port) and answers with its own when asked. Per-link FIFO
// delivery is not needed: an announce is idempotent. A restarted node learns everything again
// from the answers. Untrusted bytes: an announce that does not decode is dropped and counted.

import type { Logger, Metrics, NodeId, PeerMessage, Timers } from '../../env/types.ts';
import { ByteReader, ByteWriter, utf8ByteLength } from '../../lib/bytes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { MessageType } from '../../lib/message-types.ts';
import type { RespEndpoint } from './cluster-topology.ts';

const VERSION = 1;
const FLAG_ANSWER = 1;

export function encodeAnnounce(endpoint: RespEndpoint, answer: boolean): Uint8Array {
  const hostBytes = utf8ByteLength(endpoint.host);
  return new ByteWriter({ bytesMax: 2 + 10 + hostBytes + 2 })
    .u8(VERSION)
    .u8(answer ? FLAG_ANSWER : 0)
    .stringUvarint(endpoint.host)
    .u16(endpoint.port)
    .finish();
}

export function decodeAnnounce(payload: Uint8Array): { endpoint: RespEndpoint; answer: boolean } | ProtocolError {
  try {
    const r = new ByteReader(payload);
    if (r.u8() !== VERSION) return new ProtocolError('malformed', 'store announce: unknown version');
    const flags = r.u8();
    const host = r.stringUvarint();
    const port = r.u16();
    r.expectEnd('store announce');
    if (host.length === 0 || utf8ByteLength(host) > limits.storeAnnounceHostBytesMax)
      return new ProtocolError('malformed', 'store announce: bad host length');
    if (port === 0) return new ProtocolError('malformed', 'store announce: port 0');
    return { endpoint: { host, port }, answer: (flags & FLAG_ANSWER) !== 0 };
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
}

export interface AnnouncerDeps {
  readonly self: NodeId;
  readonly peers: readonly NodeId[];
  /** This node's endpoint (store.announceHost and the resp port). */
  readonly endpoint: RespEndpoint;
  send(to: NodeId, type: number, payload: Uint8Array): boolean;
  readonly timers: Timers;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'counter'>;
  readonly intervalMs: number;
}

export class Announcer {
  private readonly known = new Map<NodeId, RespEndpoint>();
  private timer: { cancel(): void } | undefined;
  private stopped = false;

  constructor(private readonly deps: AnnouncerDeps) {
    this.known.set(deps.self, deps.endpoint);
  }

  start(): void {
    this.tick();
    this.timer = this.deps.timers.every(this.deps.intervalMs, () => this.tick());
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** A node's RESP endpoint, this node's included; undefined until the node announced it. */
  endpoint(id: NodeId): RespEndpoint | undefined {
    return this.known.get(id);
  }

  receive(message: PeerMessage): void {
    const a = decodeAnnounce(message.payload);
    if (a instanceof ProtocolError) {
      this.deps.metrics
        .counter('store_announce_malformed_total', 'Peer endpoint announcements that did not decode')
        .inc();
      this.deps.log.warn({ from: message.from, err: a.message }, 'store: malformed announce dropped');
      return;
    }
    // Only peers of the seed list: an unknown sender cannot add itself to the slot map.
    if (message.from === this.deps.self || !this.deps.peers.includes(message.from)) return;
    this.known.set(message.from, a.endpoint);
    if (a.answer) this.send(message.from, false);
  }

  private tick(): void {
    if (this.stopped) return;
    for (const peer of this.deps.peers) if (!this.known.has(peer)) this.send(peer, true);
  }

  private send(to: NodeId, answer: boolean): void {
    this.deps.send(to, MessageType.StoreAnnounce, encodeAnnounce(this.deps.endpoint, answer));
  }
}

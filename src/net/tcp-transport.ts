// TcpTransport: the real Env's Transport (src/env/types.ts) — peer frames (frame.ts) over TCP.
//
// This is an I/O layer, not a core: it uses node:net, node:crypto (to seed the jitter Rng when none
// is injected) and real timers (reconnect backoff, connect timeout), on purpose. Nothing here is
// replayed by the simulator; the simulator has its own network that passes the same compliance
// suite (test/compliance/transport-suite.ts).
//
// Shape. Each node dials ONE outbound connection to every peer and sends only on it; frames from a
// peer arrive on the inbound connection the peer dialled. Per-link FIFO therefore holds while a
// connection lives: one queue, one socket, in order. Across a reconnect, frames already handed to
// the dead socket are lost (best effort, as the Transport contract says); frames still queued go
// out on the next connection, in order.
//
// Invariants and bounds:
//   - send() encodes (and so copies) the payload at once: the caller may reuse its buffer. Frames
//     of at most a quarter slab are encoded straight into the peer's open slab (a sendSlabBytes
//     buffer); a frame that does not fit retires the slab and opens another. Larger frames get a
//     buffer of their own. At every flush the open slab's filled part is sealed into the queue.
//   - bytes handed to a socket are never written again while the socket may still read them: a
//     sealed part is immutable, later frames go after it, and a retired slab is reused (through a
//     free list shared by all peers, at most slabPoolMax slabs) only after the socket has completed
//     the write of every part sealed from it. Reuse keeps the working set small and warm: without
//     it a deep queue of large frames spends more CPU in page faults than in copying. A slab with a
//     part whose write failed or that was dropped unwritten (close) is never reused: it is left to
//     the garbage collector.
//   - per peer, queued frames <= sendQueueFramesMax and queued bytes <= sendQueueBytesMax (frame
//     bytes, open slab included); at the bound send() returns false and counts a drop (reason
//     queue_full). Memory held per peer stays within 4/3 of the queued bytes (a slab is retired
//     only when the next frame, at most a quarter slab, does not fit, so it is > 3/4 full), plus
//     the open slab, the oldest slab whose earlier parts are written, and what the socket holds
//     (one write batch); the shared free list adds at most slabPoolMax slabs per transport.
//     Nothing grows unbounded.
//   - writes are batched per event-loop iteration (one flush in the check phase, setImmediate:
//     every I/O callback of the poll phase queues first, so a burst of client requests that each
//     send to the same peer costs one writev, not one per request; the open slab is sealed and the
//     queued buffers are corked into one writev) and respect backpressure: after
//     socket.write() returns false nothing more is written until 'drain'.
//   - metrics are counted per batch, not per frame: sent counters per flushed batch, received
//     counters per socket read, queue gauges once per turn in which the queue changed and at every
//     drop (so they lag a burst of send() calls by at most one loop iteration).
//   - untrusted input never crashes the node: a frame that fails decoding (its checksum included),
//     carries a foreign cluster id, names a sender that is not a configured peer, or changes sender
//     mid-connection is counted (peer_frames_rejected_total{reason}), logged at a bounded rate
//     (LogLimiter: a flood of bad connections must not fill the disk), and its connection destroyed.
//   - inbound resources are bounded (issue 7 item 13: 20 connections each holding a forged 16 MiB
//     partial frame grew a node by 290 MB). A connection identifies itself by its first frame, which
//     must be small (identifyFrameBytesMax; every outbound connection opens with a TransportHello
//     frame, consumed here, so a peer's first real frame may be any size) and arrive within
//     connectTimeoutMs. An identified connection is closed after inboundIdleTimeoutMs without a byte
//     (peers heartbeat far more often), and a newer connection from the same peer id closes the
//     older one (a peer dials one connection to us; an older one is dead or an impostor), so at most
//     one connection per configured peer holds a large partial frame. Memory held for partial
//     frames across all inbound connections is at most inboundHeldBytesMax (checked after each read,
//     so it may be exceeded by one read's worth): the connection whose read crosses it is closed
//     (reason inbound_buffer_full) and its peer redials.
//   - reconnect delay is full jitter: uniform in [0, min(backoffMsMax, backoffMsMin * 2^attempt)].
//   - after close() resolves no handler call happens and no socket or timer remains.

import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { realClock } from '../env/real-time.ts';
import type { Clock, Counter, Gauge, Logger, Metrics, NodeId, PeerMessage, Rng, Transport } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import type { ErrorCode } from '../lib/error-codes.ts';
import { BaristaError, ConfigError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { LogLimiter } from '../lib/log-limit.ts';
import { MessageType } from '../lib/message-types.ts';
import { SeededRng } from '../lib/rng.ts';
import type { ProtocolError } from '../lib/errors.ts';
import { type FrameBounds, FrameDecoder, FrameEncoder, type FrameSink } from './frame.ts';

export interface PeerAddress {
  readonly host: string;
  /** 0 = not known yet: the peer is not dialled until setPeerAddress gives a real port. */
  readonly port: number;
}

export interface TcpTransportOptions {
  readonly self: NodeId;
  readonly clusterId: string;
  /** port 0 binds an ephemeral port; read it back with address() after start(). */
  readonly listen: PeerAddress;
  /** Every other cluster member (self excluded). Frames from ids not listed here are rejected. */
  readonly peers: Readonly<Record<NodeId, PeerAddress>>;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Jitter for reconnect backoff; default: a SeededRng seeded from node:crypto. */
  readonly rng?: Rng;
  readonly frameBytesMax?: number;
  readonly sendQueueFramesMax?: number;
  readonly sendQueueBytesMax?: number;
  readonly reconnectBackoffMsMin?: number;
  readonly reconnectBackoffMsMax?: number;
  readonly connectTimeoutMs?: number;
  readonly inboundConnectionsMax?: number;
  /** An identified inbound connection that sends nothing for this long is closed. */
  readonly inboundIdleTimeoutMs?: number;
  /** Largest first frame of a connection (it identifies the sender; see the header). */
  readonly identifyFrameBytesMax?: number;
  /** Memory held for partial frames across all inbound connections. */
  readonly inboundHeldBytesMax?: number;
  /** For rate-limiting log lines; default the real clock. */
  readonly clock?: Clock;
  /** Size of the per-peer buffers small frames are encoded into (tuning; tests shrink it). */
  readonly sendSlabBytes?: number;
}

export type OutboundState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

export interface PeerStatus {
  readonly peer: NodeId;
  readonly address: PeerAddress;
  readonly outbound: OutboundState;
  /** Inbound connections currently identified as coming from this peer. */
  readonly inboundConnections: number;
  readonly queuedFrames: number;
  readonly queuedBytes: number;
  readonly reconnectAttempt: number;
}

/** Module defaults; the bounds among them come from src/lib/limits.ts. */
export const tcpTransportDefaults = {
  reconnectBackoffMsMin: 50,
  connectTimeoutMs: 5_000,
  /** Peers heartbeat every 200 ms (membership) and Raft every tick: 30 s of silence is a dead connection. */
  inboundIdleTimeoutMs: 30_000,
  /** Room for a TransportHello (or any small first frame) with the longest ids. */
  identifyFrameBytesMax: limits.peerIdentifyFrameBytesMax,
  /** Default sendSlabBytes. Frames up to a quarter of it are coalesced into slabs. */
  sendSlabBytes: 1024 * 1024,
  sendSlabBytesMin: 256,
  sendSlabBytesMax: limits.peerSendSlabBytesMax,
  /** Written slabs kept for reuse, shared by all peers of a transport (16 MiB at the default slab size). */
  slabPoolMax: limits.peerSlabPoolSlabsMax,
  /** One flush hands at most this many bytes to the socket before yielding to backpressure checks. */
  writeBatchBytesMax: limits.peerWriteBatchBytesMax,
} as const;

export const TransportErrorCode = {
  addressInUse: 'listen_address_in_use',
  listenFailed: 'listen_failed',
} as const satisfies Record<string, ErrorCode>;

/** Reasons in peer_frames_rejected_total besides the decoder's own ProtocolError codes. */
export const RejectReason = {
  clusterMismatch: 'cluster_mismatch',
  unknownSender: 'unknown_sender',
  senderChanged: 'sender_changed',
  unexpectedData: 'unexpected_data',
  /** No valid frame within connectTimeoutMs: the connection would otherwise hold an inbound slot forever. */
  identifyTimeout: 'identify_timeout',
  /** Partial frames across all inbound connections reached inboundHeldBytesMax. */
  inboundBufferFull: 'inbound_buffer_full',
} as const;

interface LinkMetrics {
  framesSent: Counter;
  bytesSent: Counter;
  framesReceived: Counter;
  bytesReceived: Counter;
  dropsQueueFull: Counter;
  dropsTooLarge: Counter;
  dropsClosed: Counter;
  connects: Counter;
  disconnects: Counter;
  queueFrames: Gauge;
  queueBytes: Gauge;
}

/** Slab buffers whose every part has been written, ready for reuse; shared by a transport's links. */
class SlabPool {
  private free: Buffer[] = [];
  private closed = false;

  constructor(
    readonly slabBytes: number,
    private readonly slabsMax: number,
    private readonly allocated: Counter,
    private readonly reused: Counter,
  ) {}

  take(): Buffer {
    const free = this.free.pop();
    if (free !== undefined) {
      this.reused.inc();
      return free;
    }
    this.allocated.inc();
    return Buffer.allocUnsafe(this.slabBytes); // bytes past slabUsed are never sent
  }

  give(bytes: Buffer): void {
    if (!this.closed && this.free.length < this.slabsMax) this.free.push(bytes);
  }

  close(): void {
    this.closed = true;
    this.free = [];
  }
}

/** A buffer frames are encoded into, reused once every part sealed from it has been written. */
class Slab {
  readonly bytes: Buffer;
  /** Sealed parts not yet written (queued, or handed to the socket and not yet completed). */
  partsPending = 0;
  /** A newer slab is open: nothing more is encoded into this one. */
  retired = false;
  /** Some part was dropped or failed to write: this slab is never reused. */
  abandoned = false;
  /** The write callback of every part of this slab; created once per slab. */
  readonly written: (err?: Error | null) => void;

  constructor(bytes: Buffer, release: (slab: Slab) => void) {
    this.bytes = bytes;
    this.written = (err) => {
      this.partsPending--;
      if (err) this.abandoned = true;
      if (this.partsPending === 0 && this.retired && !this.abandoned) release(this);
    };
  }
}

/**
 * One peer: its outbound connection and the encoded frames waiting for it: sealed buffers in
 * `queue[head..]` (each a slab part or one large frame; `queueFrames[i]` frames in `queue[i]`, cut
 * from `queueSlabs[i]` or null), then the open slab's `[slabStart, slabUsed)` (`slabFrames` frames).
 */
class PeerLink {
  readonly id: NodeId;
  address: PeerAddress;
  readonly m: LinkMetrics;
  queue: Buffer[] = [];
  queueFrames: number[] = [];
  queueSlabs: (Slab | null)[] = [];
  head = 0;
  slab: Slab | null = null;
  slabStart = 0;
  slabUsed = 0;
  slabFrames = 0;
  private readonly pool: SlabPool;
  private readonly releaseSlab: (slab: Slab) => void;
  /** Frames and bytes in the sealed queue and the open slab together. */
  queuedFrames = 0;
  queuedBytes = 0;
  socket: Socket | null = null;
  state: OutboundState = 'idle';
  /** False between a write() that returned false and the next 'drain'. */
  writable = false;
  attempt = 0;
  timer: NodeJS.Timeout | null = null;
  /** The inbound connection this peer identified most recently (an older one is closed). */
  inbound: InboundConnection | null = null;
  turnScheduled = false;
  /** Runs once per turn in which something was queued; created once, so scheduling allocates nothing. */
  readonly onTurn: () => void;
  inboundConnections = 0;

  constructor(id: NodeId, address: PeerAddress, m: LinkMetrics, pool: SlabPool, onTurn: (link: PeerLink) => void) {
    this.id = id;
    this.address = address;
    this.m = m;
    this.pool = pool;
    this.onTurn = () => onTurn(this);
    this.releaseSlab = (slab) => pool.give(slab.bytes);
  }

  /** Encodes one frame of `frameBytes` (the caller checked the bounds) at the tail of the queue. */
  append(encoder: FrameEncoder, type: number, payload: Uint8Array, frameBytes: number): void {
    if (frameBytes > this.pool.slabBytes >>> 2) {
      this.seal();
      const frame = Buffer.allocUnsafe(frameBytes); // every byte is written by encodeInto
      encoder.encodeInto(frame, 0, type, payload);
      this.queue.push(frame);
      this.queueFrames.push(1);
      this.queueSlabs.push(null);
    } else {
      let slab = this.slab;
      if (slab === null || slab.bytes.length - this.slabUsed < frameBytes) slab = this.openSlab();
      this.slabUsed += encoder.encodeInto(slab.bytes, this.slabUsed, type, payload);
      this.slabFrames++;
    }
    this.queuedFrames++;
    this.queuedBytes += frameBytes;
  }

  /** Seals and retires the open slab, and opens another (reused when one is free). */
  private openSlab(): Slab {
    this.seal();
    const old = this.slab;
    if (old !== null) {
      old.retired = true;
      if (old.partsPending === 0 && !old.abandoned) this.releaseSlab(old);
    }
    const slab = new Slab(this.pool.take(), this.releaseSlab);
    this.slab = slab;
    this.slabStart = 0;
    this.slabUsed = 0;
    return slab;
  }

  /** Moves the open slab's filled part to the queue; later frames go after it in the same slab. */
  seal(): void {
    if (this.slabFrames === 0) return;
    const slab = this.slab!;
    this.queue.push(slab.bytes.subarray(this.slabStart, this.slabUsed));
    this.queueFrames.push(this.slabFrames);
    this.queueSlabs.push(slab);
    slab.partsPending++;
    this.slabStart = this.slabUsed;
    this.slabFrames = 0;
  }

  get sealedCount(): number {
    return this.queue.length - this.head;
  }

  /** Frames in the first sealed buffer. */
  peekFrames(): number {
    return this.queueFrames[this.head]!;
  }

  /** The slab the first sealed buffer was cut from (its write callback), or null for a large frame. */
  peekSlab(): Slab | null {
    return this.queueSlabs[this.head]!;
  }

  /** Removes the first sealed buffer and returns it. */
  shift(): Buffer {
    const buffer = this.queue[this.head]!;
    this.queuedFrames -= this.queueFrames[this.head]!;
    this.queuedBytes -= buffer.length;
    this.queue[this.head] = undefined as unknown as Buffer; // release the references now
    this.queueSlabs[this.head] = null;
    this.head++;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.queueFrames = [];
      this.queueSlabs = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.queueFrames = this.queueFrames.slice(this.head);
      this.queueSlabs = this.queueSlabs.slice(this.head);
      this.head = 0;
    }
    return buffer;
  }

  /** Drops every queued frame (close). Slabs with parts in flight are abandoned, never reused. */
  clear(): void {
    for (let i = this.head; i < this.queue.length; i++) {
      const slab = this.queueSlabs[i];
      if (slab) slab.abandoned = true;
    }
    if (this.slab !== null) this.slab.abandoned = true;
    this.queue = [];
    this.queueFrames = [];
    this.queueSlabs = [];
    this.head = 0;
    this.slab = null;
    this.slabStart = 0;
    this.slabUsed = 0;
    this.slabFrames = 0;
    this.queuedFrames = 0;
    this.queuedBytes = 0;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

export class TcpTransport implements Transport {
  /** send() encodes the payload into a slab or a frame of its own before it returns. */
  readonly copiesPayload = true;
  readonly self: NodeId;
  readonly clusterId: string;
  private readonly listenAddress: PeerAddress;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly rng: Rng;
  private readonly encoder: FrameEncoder;
  private readonly bounds: FrameBounds;
  private readonly sendQueueFramesMax: number;
  private readonly sendQueueBytesMax: number;
  private readonly backoffMsMin: number;
  private readonly backoffMsMax: number;
  private readonly connectTimeoutMs: number;
  private readonly inboundConnectionsMax: number;
  private readonly inboundIdleTimeoutMs: number;
  private readonly identifyFrameBytesMax: number;
  private readonly inboundHeldBytesMax: number;
  /** Partial-frame memory held by all inbound connections now (each adds its decoder's heldBytes). */
  private inboundHeldBytes = 0;
  private readonly inboundHeldGauge: Gauge;
  private readonly logLimited: LogLimiter;
  private readonly helloFrame: Buffer;
  private readonly sendSlabBytes: number;
  private readonly slabPool: SlabPool;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Set<Socket>();
  private handler: ((message: PeerMessage) => void) | null = null;
  private server: Server | null = null;
  private bound: PeerAddress | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly rejectedCounters = new Map<string, Counter>();
  private readonly dropsUnknownPeer: Counter;
  private readonly dropsNoHandler: Counter;
  private readonly inboundAccepted: Counter;
  private readonly inboundRefused: Counter;
  private readonly inboundClosed: { idle: Counter; superseded: Counter };
  /** What an InboundConnection may see of this transport (created once, shared by connections). */
  private readonly inboundHost: InboundHost;

  constructor(options: TcpTransportOptions) {
    this.self = options.self;
    this.clusterId = options.clusterId;
    this.listenAddress = options.listen;
    this.metrics = options.metrics;
    this.log = options.log.child({ component: 'tcp-transport', self: options.self });
    this.rng = options.rng ?? new SeededRng(randomBytes(16).toString('hex'));
    this.bounds = {
      frameBytesMax: options.frameBytesMax ?? limits.peerFrameBytesMax,
      clusterIdBytesMax: limits.clusterIdBytesMax,
      nodeIdBytesMax: limits.nodeIdBytesMax,
    };
    this.encoder = new FrameEncoder({ clusterId: options.clusterId, senderId: options.self, bounds: this.bounds });
    this.sendQueueFramesMax = options.sendQueueFramesMax ?? limits.peerSendQueueFramesMax;
    this.sendQueueBytesMax = options.sendQueueBytesMax ?? limits.peerSendQueueBytesMax;
    this.backoffMsMin = options.reconnectBackoffMsMin ?? tcpTransportDefaults.reconnectBackoffMsMin;
    this.backoffMsMax = options.reconnectBackoffMsMax ?? limits.peerReconnectBackoffMsMax;
    this.connectTimeoutMs = options.connectTimeoutMs ?? tcpTransportDefaults.connectTimeoutMs;
    this.inboundConnectionsMax = options.inboundConnectionsMax ?? limits.peerInboundConnectionsMax;
    this.inboundIdleTimeoutMs = options.inboundIdleTimeoutMs ?? tcpTransportDefaults.inboundIdleTimeoutMs;
    this.identifyFrameBytesMax = Math.min(
      options.identifyFrameBytesMax ?? tcpTransportDefaults.identifyFrameBytesMax,
      this.bounds.frameBytesMax,
    );
    this.inboundHeldBytesMax = options.inboundHeldBytesMax ?? limits.peerInboundHeldBytesMax;
    this.sendSlabBytes = options.sendSlabBytes ?? tcpTransportDefaults.sendSlabBytes;
    this.validate(options);
    this.helloFrame = this.encoder.encode(MessageType.TransportHello, new Uint8Array(0));
    this.logLimited = new LogLimiter(this.log, options.clock ?? realClock, this.metrics, 'tcp-transport');
    this.inboundHeldGauge = this.metrics.gauge(
      'peer_inbound_held_bytes',
      'Memory held for partial frames across inbound connections',
    );
    const slabs = (result: string): Counter =>
      this.metrics.counter('peer_send_slabs_total', 'Send slabs opened, newly allocated or reused', { result });
    this.slabPool = new SlabPool(
      this.sendSlabBytes,
      tcpTransportDefaults.slabPoolMax,
      slabs('allocated'),
      slabs('reused'),
    );

    this.dropsUnknownPeer = this.metrics.counter('peer_send_dropped_total', 'Messages not queued, by peer and reason', {
      peer: 'unknown',
      reason: 'unknown_peer',
    });
    this.dropsNoHandler = this.metrics.counter(
      'peer_messages_dropped_total',
      'Received messages dropped before delivery',
      { reason: 'no_handler' },
    );
    this.inboundAccepted = this.metrics.counter('peer_inbound_connections_total', 'Inbound connections', {
      result: 'accepted',
    });
    this.inboundRefused = this.metrics.counter('peer_inbound_connections_total', 'Inbound connections', {
      result: 'refused_at_bound',
    });
    const closed = (reason: string): Counter =>
      this.metrics.counter('peer_inbound_closed_total', 'Identified inbound connections closed by us, by reason', {
        reason,
      });
    this.inboundClosed = { idle: closed('idle_timeout'), superseded: closed('superseded') };
    this.inboundHost = {
      clusterId: this.clusterId,
      link: (id) => this.links.get(id),
      handler: () => this.handler,
      closed: () => this.closed,
      noHandler: this.dropsNoHandler,
      reject: (socket, remote, reason, detail) => {
        this.countRejected(reason);
        this.logLimited.warn(
          `reject:${reason}`,
          { reason, remote, ...detail },
          'rejected inbound peer frame; closing the connection',
        );
        socket.destroy();
      },
      identified: (connection, link) => this.identified(connection, link),
      addHeld: (bytes) => {
        this.inboundHeldBytes += bytes;
        this.inboundHeldGauge.set(this.inboundHeldBytes);
        return this.inboundHeldBytes <= this.inboundHeldBytesMax;
      },
    };
    for (const [id, address] of Object.entries(options.peers)) {
      this.links.set(id, new PeerLink(id, address, this.linkMetrics(id), this.slabPool, (link) => this.turn(link)));
    }
  }

  private validate(options: TcpTransportOptions): void {
    const positive = (field: string, v: number): void => {
      if (!Number.isSafeInteger(v) || v <= 0) throw new ConfigError(field, `must be a positive integer, got ${v}`);
    };
    positive('sendQueueFramesMax', this.sendQueueFramesMax);
    positive('sendQueueBytesMax', this.sendQueueBytesMax);
    positive('reconnectBackoffMsMin', this.backoffMsMin);
    positive('reconnectBackoffMsMax', this.backoffMsMax);
    positive('connectTimeoutMs', this.connectTimeoutMs);
    positive('inboundConnectionsMax', this.inboundConnectionsMax);
    positive('inboundIdleTimeoutMs', this.inboundIdleTimeoutMs);
    positive('identifyFrameBytesMax', this.identifyFrameBytesMax);
    if (this.inboundHeldBytesMax < this.bounds.frameBytesMax) {
      throw new ConfigError('inboundHeldBytesMax', 'a full-size frame must fit in the inbound bound');
    }
    const { sendSlabBytesMin, sendSlabBytesMax } = tcpTransportDefaults;
    if (
      !Number.isSafeInteger(this.sendSlabBytes) ||
      this.sendSlabBytes < sendSlabBytesMin ||
      this.sendSlabBytes > sendSlabBytesMax
    ) {
      throw new ConfigError(
        'sendSlabBytes',
        `must be an integer in ${sendSlabBytesMin}..${sendSlabBytesMax}, got ${this.sendSlabBytes}`,
      );
    }
    if (this.backoffMsMin > this.backoffMsMax) {
      throw new ConfigError('reconnectBackoffMsMin', 'must not exceed reconnectBackoffMsMax');
    }
    if (this.sendQueueBytesMax < this.bounds.frameBytesMax) {
      throw new ConfigError('sendQueueBytesMax', 'a full-size frame must fit in a peer send queue');
    }
    const peerIds = Object.keys(options.peers);
    if (peerIds.includes(options.self)) throw new ConfigError('peers', `must not include self (${options.self})`);
    if (peerIds.length + 1 > limits.clusterNodesMax) {
      throw new ConfigError('peers', `a cluster has at most ${limits.clusterNodesMax} nodes`);
    }
    if (this.inboundConnectionsMax < peerIds.length) {
      throw new ConfigError('inboundConnectionsMax', 'every peer must be able to connect');
    }
    for (const id of peerIds) {
      // Reuses the encoder's id checks: a peer id must fit in an envelope.
      new FrameEncoder({ clusterId: options.clusterId, senderId: id, bounds: this.bounds });
      checkAddress(`peers.${id}`, options.peers[id]!);
    }
    checkAddress('listen', options.listen);
  }

  private linkMetrics(peer: NodeId): LinkMetrics {
    const m = this.metrics;
    const drop = (reason: string): Counter =>
      m.counter('peer_send_dropped_total', 'Messages not queued, by peer and reason', { peer, reason });
    return {
      framesSent: m.counter('peer_frames_sent_total', 'Frames handed to the socket', { peer }),
      bytesSent: m.counter('peer_bytes_sent_total', 'Frame bytes handed to the socket', { peer }),
      framesReceived: m.counter('peer_frames_received_total', 'Frames received and accepted', { peer }),
      bytesReceived: m.counter('peer_bytes_received_total', 'Frame bytes received and accepted', { peer }),
      dropsQueueFull: drop('queue_full'),
      dropsTooLarge: drop('frame_too_large'),
      dropsClosed: drop('closed'),
      connects: m.counter('peer_connects_total', 'Outbound connections established', { peer }),
      disconnects: m.counter('peer_disconnects_total', 'Outbound connections lost', { peer }),
      queueFrames: m.gauge('peer_send_queue_frames', 'Frames queued for a peer', { peer }),
      queueBytes: m.gauge('peer_send_queue_bytes', 'Bytes queued for a peer', { peer }),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /** Binds the listen address, then dials every peer whose address is known. */
  async start(): Promise<void> {
    assert(this.server === null && !this.closed, 'TcpTransport.start called twice or after close');
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    server.maxConnections = this.inboundConnectionsMax;
    server.on('drop', () => this.inboundRefused.inc());
    this.server = server;
    const { host, port } = this.listenAddress;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: unknown): void => {
        server.off('listening', onListening);
        const code = isErrno(err, 'EADDRINUSE') ? TransportErrorCode.addressInUse : TransportErrorCode.listenFailed;
        const what = code === TransportErrorCode.addressInUse ? 'is already in use' : 'cannot be bound';
        reject(
          new BaristaError(code, `peer listen address ${host}:${port} ${what}`, {
            cause: err,
            fields: { host, port },
          }),
        );
      };
      const onListening = (): void => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen({ host, port });
    }).catch((err: unknown) => {
      this.server = null;
      throw err;
    });
    server.on('error', (err) => this.log.error({ err }, 'peer listener error'));
    const addr = server.address();
    assert(addr !== null && typeof addr === 'object', 'a TCP server has an address object');
    this.bound = { host: addr.address, port: addr.port };
    this.log.info({ host: addr.address, port: addr.port }, 'peer transport listening');
    for (const link of this.links.values()) this.dial(link);
  }

  /** The bound listen address (the real port when `listen.port` was 0). */
  address(): PeerAddress {
    assert(this.bound !== null, 'address() before start()');
    return this.bound;
  }

  /** Sets or changes a configured peer's address; a change drops the current connection and redials. */
  setPeerAddress(peer: NodeId, address: PeerAddress): void {
    const link = this.links.get(peer);
    if (link === undefined) throw new ConfigError('peer', `unknown peer ${peer}`);
    checkAddress(`peers.${peer}`, address);
    if (link.address.host === address.host && link.address.port === address.port) return;
    link.address = address;
    if (this.closed || this.server === null) return;
    this.cancelTimer(link);
    link.attempt = 0;
    if (link.socket !== null)
      link.socket.destroy(); // its 'close' schedules a redial to the new address
    else this.dial(link);
  }

  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    this.handler = null;
    this.slabPool.close();
    for (const link of this.links.values()) {
      this.cancelTimer(link);
      link.state = 'closed';
      link.socket?.destroy();
      link.socket = null;
      link.clear();
      link.m.queueFrames.set(0);
      link.m.queueBytes.set(0);
    }
    for (const socket of this.inbound) socket.destroy();
    this.inbound.clear();
    const server = this.server;
    this.closing =
      server === null
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            server.close(() => resolve());
          });
    return this.closing;
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  send(to: NodeId, type: number, payload: Uint8Array): boolean {
    const link = this.links.get(to);
    if (link === undefined) {
      this.dropsUnknownPeer.inc();
      return false;
    }
    if (this.closed) {
      link.m.dropsClosed.inc();
      return false;
    }
    const frameBytes = this.encoder.frameBytes(payload.length);
    if (frameBytes > this.bounds.frameBytesMax) {
      link.m.dropsTooLarge.inc();
      return false;
    }
    if (link.queuedFrames + 1 > this.sendQueueFramesMax || link.queuedBytes + frameBytes > this.sendQueueBytesMax) {
      link.m.dropsQueueFull.inc();
      this.refreshGauges(link);
      return false;
    }
    link.append(this.encoder, type, payload, frameBytes);
    if (!link.turnScheduled) {
      link.turnScheduled = true;
      setImmediate(link.onTurn);
    }
    return true;
  }

  /** Flushes now every link with frames queued this turn (its end-of-turn flush then finds none). */
  flushNow(): void {
    for (const link of this.links.values()) {
      if (link.turnScheduled && link.state === 'connected' && link.writable) this.flush(link);
    }
  }

  /** Once per turn in which frames were queued: flush if the socket can take them; refresh gauges. */
  private turn(link: PeerLink): void {
    link.turnScheduled = false;
    if (link.state === 'connected' && link.writable) this.flush(link);
    else this.refreshGauges(link);
  }

  private refreshGauges(link: PeerLink): void {
    link.m.queueFrames.set(link.queuedFrames);
    link.m.queueBytes.set(link.queuedBytes);
  }

  /** Hands queued frames to the socket until the queue is empty or the socket pushes back. */
  private flush(link: PeerLink): void {
    const socket = link.socket;
    if (socket === null || link.state !== 'connected') return;
    link.seal();
    const { writeBatchBytesMax } = tcpTransportDefaults;
    while (link.writable && link.sealedCount > 0) {
      socket.cork();
      let batchBytes = 0;
      let batchFrames = 0;
      let ok = true;
      while (ok && batchBytes < writeBatchBytesMax && link.sealedCount > 0) {
        batchFrames += link.peekFrames();
        const slab = link.peekSlab();
        const buffer = link.shift();
        batchBytes += buffer.length;
        ok = slab === null ? socket.write(buffer) : socket.write(buffer, slab.written);
      }
      socket.uncork();
      link.m.framesSent.inc(batchFrames);
      link.m.bytesSent.inc(batchBytes);
      if (!ok) link.writable = false; // resume on 'drain'
    }
    this.refreshGauges(link);
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound connections

  private dial(link: PeerLink): void {
    if (this.closed || link.socket !== null || link.address.port === 0) return;
    link.state = 'connecting';
    const socket = createConnection({ host: link.address.host, port: link.address.port, noDelay: true });
    link.socket = socket;
    socket.setTimeout(this.connectTimeoutMs, () => {
      if (link.state === 'connecting') socket.destroy(new BaristaError('connect_timeout', 'connect timed out'));
    });
    socket.once('connect', () => {
      if (link.socket !== socket) return;
      socket.setTimeout(0);
      link.state = 'connected';
      link.writable = true;
      link.attempt = 0;
      link.m.connects.inc();
      this.log.debug({ peer: link.id }, 'peer connected');
      // The first frame identifies us to the peer and must be small (see the header); queued
      // frames of any size follow it.
      link.writable = socket.write(this.helloFrame);
      this.flush(link);
    });
    socket.on('drain', () => {
      if (link.socket !== socket) return;
      link.writable = true;
      this.flush(link);
    });
    socket.on('data', () => {
      // The peer sends to us on its own connection; bytes here break the protocol.
      this.countRejected(RejectReason.unexpectedData);
      this.logLimited.warn(
        `unexpected_data:${link.id}`,
        { peer: link.id },
        'unexpected data on an outbound peer connection; closing it',
      );
      socket.destroy();
    });
    socket.on('error', (err) => {
      this.log.debug({ peer: link.id, err: String(err) }, 'peer connection error');
    });
    socket.once('close', () => {
      if (link.socket !== socket) return;
      link.socket = null;
      link.writable = false;
      if (link.state === 'connected') link.m.disconnects.inc();
      if (this.closed) return;
      link.state = 'backoff';
      this.scheduleReconnect(link);
    });
  }

  private scheduleReconnect(link: PeerLink): void {
    this.cancelTimer(link);
    const ceilingMs = Math.min(this.backoffMsMax, this.backoffMsMin * 2 ** Math.min(link.attempt, 30));
    link.attempt++;
    const delayMs = this.rng.int(ceilingMs + 1); // full jitter
    link.timer = setTimeout(() => {
      link.timer = null;
      this.dial(link);
    }, delayMs);
  }

  private cancelTimer(link: PeerLink): void {
    if (link.timer !== null) clearTimeout(link.timer);
    link.timer = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Inbound connections

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.inboundAccepted.inc();
    this.inbound.add(socket);
    // Until it identifies itself, a connection may send only a small frame.
    const decoder = new FrameDecoder({ ...this.bounds, frameBytesMax: this.identifyFrameBytesMax });
    const connection = new InboundConnection(this.inboundHost, socket, decoder);
    // A connection must identify itself (one valid frame from a known peer) in connectTimeoutMs;
    // then it may stay idle for at most inboundIdleTimeoutMs (identified() re-arms the timer).
    // Idle foreign or dead sockets cannot fill the inbound slots.
    socket.setTimeout(this.connectTimeoutMs);
    socket.on('timeout', () => {
      if (socket.destroyed) return;
      if (connection.sender === null) {
        this.inboundHost.reject(socket, connection.remote, RejectReason.identifyTimeout, {});
      } else {
        this.inboundClosed.idle.inc();
        this.log.debug(
          { peer: connection.sender.id, remote: connection.remote },
          'inbound peer connection idle; closing it',
        );
        socket.destroy();
      }
    });
    socket.on('data', (chunk: Buffer) => connection.receive(chunk));
    socket.on('error', (err) =>
      this.log.debug({ remote: connection.remote, err: String(err) }, 'inbound peer connection error'),
    );
    socket.once('close', () => {
      this.inbound.delete(socket);
      connection.closed();
      const link = connection.sender;
      if (link !== null) {
        link.inboundConnections--;
        if (link.inbound === connection) link.inbound = null;
      }
    });
  }

  /** A connection just proved it speaks for `link`: full frame bound, idle timer, newest wins. */
  private identified(connection: InboundConnection, link: PeerLink): void {
    connection.decoder.raiseFrameBytesMax(this.bounds.frameBytesMax);
    connection.socket.setTimeout(this.inboundIdleTimeoutMs);
    const older = link.inbound;
    link.inbound = connection;
    if (older !== null && !older.socket.destroyed) {
      this.inboundClosed.superseded.inc();
      this.log.debug({ peer: link.id, remote: older.remote }, 'a newer connection from the peer replaces this one');
      older.socket.destroy();
    }
  }

  private countRejected(reason: string): void {
    let counter = this.rejectedCounters.get(reason);
    if (counter === undefined) {
      counter = this.metrics.counter('peer_frames_rejected_total', 'Inbound frames rejected, by reason', { reason });
      this.rejectedCounters.set(reason, counter);
    }
    counter.inc();
  }

  onMessage(handler: (message: PeerMessage) => void): void {
    if (this.closed) return;
    this.handler = handler;
  }

  // ---------------------------------------------------------------------------------------------
  // Status

  /** Peers whose outbound connection is up now (what a status page shows as "connected"). */
  connectedPeers(): NodeId[] {
    return [...this.links.values()].filter((l) => l.state === 'connected').map((l) => l.id);
  }

  peerStatus(): PeerStatus[] {
    return [...this.links.values()].map((l) => ({
      peer: l.id,
      address: l.address,
      outbound: l.state,
      inboundConnections: l.inboundConnections,
      queuedFrames: l.queuedFrames,
      queuedBytes: l.queuedBytes,
      reconnectAttempt: l.attempt,
    }));
  }
}

interface InboundHost {
  readonly clusterId: string;
  /** The link of a configured peer, or undefined. */
  link(id: NodeId): PeerLink | undefined;
  /** The current handler, or null (closed, or none set yet). */
  handler(): ((message: PeerMessage) => void) | null;
  closed(): boolean;
  /** Counts a message that arrived before a handler was set. */
  readonly noHandler: Counter;
  /** Counts, logs and closes a connection that broke the protocol. */
  reject(socket: Socket, remote: string, reason: string, detail: Record<string, unknown>): void;
  /** The connection's first frame came from `link`. */
  identified(connection: InboundConnection, link: PeerLink): void;
  /** Adds (or with a negative count, releases) partial-frame memory; false when over the total bound. */
  addHeld(bytes: number): boolean;
}

/**
 * One inbound connection: decodes its bytes and delivers each frame from the one configured peer
 * that dialled it. It is the decoder's FrameSink, so a frame costs one method call here and one
 * handler call, and no closure or event object. Received-frame counters are added once per read.
 */
class InboundConnection implements FrameSink {
  readonly remote: string;
  /** The peer this connection speaks for, fixed by its first accepted frame. */
  sender: PeerLink | null = null;
  // The id strings last accepted. The decoder hands out the same string objects while the id bytes
  // repeat, so the common case is two identity comparisons.
  private acceptedClusterId: string | null = null;
  private acceptedSenderId: string | null = null;
  private framesReceived = 0;
  private bytesReceived = 0;
  /** This connection's share of the transport's inboundHeldBytes. */
  private heldCounted = 0;

  constructor(
    private readonly host: InboundHost,
    readonly socket: Socket,
    readonly decoder: FrameDecoder,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
  }

  /** The socket closed: release what the decoder held. */
  closed(): void {
    this.decoder.stop();
    if (this.heldCounted !== 0) this.host.addHeld(-this.heldCounted);
    this.heldCounted = 0;
  }

  /** Brings this connection's share of the held-bytes total up to date; closes it past the bound. */
  private accountHeld(): void {
    const held = this.socket.destroyed ? 0 : this.decoder.heldBytes;
    const delta = held - this.heldCounted;
    if (delta === 0) return;
    this.heldCounted = held;
    if (!this.host.addHeld(delta) && delta > 0) {
      this.reject(RejectReason.inboundBufferFull, { heldBytes: held });
    }
  }

  receive(chunk: Buffer): void {
    try {
      this.decoder.decode(chunk, this);
    } catch (err) {
      // The handler threw: the decoder has lost its place in the stream, so the connection goes
      // (the peer redials) and the error propagates to the caller as any handler error would.
      this.socket.destroy();
      throw err;
    } finally {
      if (this.framesReceived > 0) {
        // framesReceived counts only frames accepted from `sender`, so it is set.
        this.sender!.m.framesReceived.inc(this.framesReceived);
        this.sender!.m.bytesReceived.inc(this.bytesReceived);
        this.framesReceived = 0;
        this.bytesReceived = 0;
      }
      if (this.heldCounted !== 0 || this.decoder.buffered !== 0) this.accountHeld();
    }
  }

  frame(type: number, clusterId: string, senderId: string, payload: Uint8Array, wireBytes: number): boolean {
    if (clusterId !== this.acceptedClusterId || senderId !== this.acceptedSenderId) {
      if (!this.admit(clusterId, senderId)) return false;
    }
    // Identification only, not a message: neither delivered nor counted (the sender does not count it).
    if (type === MessageType.TransportHello) return true;
    const link = this.sender!;
    this.framesReceived++;
    this.bytesReceived += wireBytes;
    const handler = this.host.handler();
    if (handler === null) {
      this.host.noHandler.inc();
      return true;
    }
    handler({ from: link.id, type, payload });
    // The handler may have closed the transport; nothing more is delivered then.
    return !this.host.closed() && !this.socket.destroyed;
  }

  /** Checks ids that differ from the last accepted ones; rejects (and returns false) on a mismatch. */
  private admit(clusterId: string, senderId: string): boolean {
    if (clusterId !== this.host.clusterId) {
      this.reject(RejectReason.clusterMismatch, { clusterId });
      return false;
    }
    const link = this.host.link(senderId);
    if (link === undefined) {
      this.reject(RejectReason.unknownSender, { senderId });
      return false;
    }
    if (this.sender === null) {
      this.sender = link;
      link.inboundConnections++;
      this.host.identified(this, link);
    } else if (this.sender !== link) {
      this.reject(RejectReason.senderChanged, { was: this.sender.id, now: link.id });
      return false;
    }
    this.acceptedClusterId = clusterId;
    this.acceptedSenderId = senderId;
    return true;
  }

  error(error: ProtocolError): void {
    this.reject(error.code, error.fields);
  }

  private reject(reason: string, detail: Record<string, unknown>): void {
    if (this.host.closed() || this.socket.destroyed) return;
    this.host.reject(this.socket, this.remote, reason, detail);
  }
}

function checkAddress(field: string, address: PeerAddress): void {
  if (typeof address.host !== 'string' || address.host === '') throw new ConfigError(field, 'host is required');
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 65535) {
    throw new ConfigError(field, `port must be 0..65535, got ${address.port}`);
  }
}

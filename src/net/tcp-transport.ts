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
//   - send() encodes (and so copies) the payload at once: the caller may reuse its buffer.
//   - per peer, queued frames <= sendQueueFramesMax and queued bytes <= sendQueueBytesMax; at the
//     bound send() returns false and counts a drop (reason queue_full). Nothing grows unbounded.
//   - writes are batched per event-loop turn (one flush per microtask checkpoint, small frames
//     coalesced into one buffer, the batch corked into one writev) and respect backpressure: after
//     socket.write() returns false nothing more is written until 'drain'.
//   - untrusted input never crashes the node: a frame that fails decoding, carries a foreign cluster
//     id, names a sender that is not a configured peer, or changes sender mid-connection is counted
//     (peer_frames_rejected_total{reason}), logged, and its connection destroyed.
//   - reconnect delay is full jitter: uniform in [0, min(backoffMsMax, backoffMsMin * 2^attempt)].
//   - after close() resolves no handler call happens and no socket or timer remains.

import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Counter, Gauge, Logger, Metrics, NodeId, PeerMessage, Rng, Transport } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { BaristaError, ConfigError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { SeededRng } from '../lib/rng.ts';
import { FrameDecoder, FrameEncoder, type FrameBounds } from './frame.ts';

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

/** Module defaults for bounds not in src/lib/limits.ts. */
export const tcpTransportDefaults = {
  reconnectBackoffMsMin: 50,
  connectTimeoutMs: 5_000,
  /** Consecutive frames below this size are copied into one buffer; larger ones go out as-is (writev). */
  coalesceFrameBytesMax: 16 * 1024,
  /** One flush hands at most this many bytes to the socket before yielding to backpressure checks. */
  writeBatchBytesMax: 1024 * 1024,
} as const;

export const TransportErrorCode = {
  addressInUse: 'listen_address_in_use',
  listenFailed: 'listen_failed',
} as const;

/** Reasons in peer_frames_rejected_total besides the decoder's own ProtocolError codes. */
export const RejectReason = {
  clusterMismatch: 'cluster_mismatch',
  unknownSender: 'unknown_sender',
  senderChanged: 'sender_changed',
  unexpectedData: 'unexpected_data',
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

/** One peer: its outbound connection and the queue of encoded frames waiting for it. */
class PeerLink {
  readonly id: NodeId;
  address: PeerAddress;
  readonly m: LinkMetrics;
  // Queue of encoded frames: `queue[head..]` are pending; compacted when the consumed prefix dominates.
  queue: Buffer[] = [];
  head = 0;
  queuedBytes = 0;
  socket: Socket | null = null;
  state: OutboundState = 'idle';
  /** False between a write() that returned false and the next 'drain'. */
  writable = false;
  attempt = 0;
  timer: NodeJS.Timeout | null = null;
  flushScheduled = false;
  inboundConnections = 0;

  constructor(id: NodeId, address: PeerAddress, m: LinkMetrics) {
    this.id = id;
    this.address = address;
    this.m = m;
  }

  get queuedFrames(): number {
    return this.queue.length - this.head;
  }

  push(frame: Buffer): void {
    this.queue.push(frame);
    this.queuedBytes += frame.byteLength;
  }

  shift(): Buffer {
    const frame = this.queue[this.head]!;
    this.queue[this.head] = undefined as unknown as Buffer; // release the reference now
    this.head++;
    this.queuedBytes -= frame.byteLength;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return frame;
  }

  peek(): Buffer | undefined {
    return this.queue[this.head];
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

export class TcpTransport implements Transport {
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
    this.validate(options);

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
    for (const [id, address] of Object.entries(options.peers)) {
      this.links.set(id, new PeerLink(id, address, this.linkMetrics(id)));
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
            retriable: code === TransportErrorCode.addressInUse,
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
    for (const link of this.links.values()) {
      this.cancelTimer(link);
      link.state = 'closed';
      link.socket?.destroy();
      link.socket = null;
      link.queue = [];
      link.head = 0;
      link.queuedBytes = 0;
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
    if (!this.encoder.fits(payload.byteLength)) {
      link.m.dropsTooLarge.inc();
      return false;
    }
    const frameBytes = this.encoder.frameBytes(payload.byteLength);
    if (link.queuedFrames + 1 > this.sendQueueFramesMax || link.queuedBytes + frameBytes > this.sendQueueBytesMax) {
      link.m.dropsQueueFull.inc();
      return false;
    }
    link.push(this.encoder.encode(type, payload));
    link.m.queueFrames.set(link.queuedFrames);
    link.m.queueBytes.set(link.queuedBytes);
    this.scheduleFlush(link);
    return true;
  }

  private scheduleFlush(link: PeerLink): void {
    if (link.flushScheduled || link.state !== 'connected' || !link.writable) return;
    link.flushScheduled = true;
    queueMicrotask(() => {
      link.flushScheduled = false;
      this.flush(link);
    });
  }

  /** Hands queued frames to the socket until the queue is empty or the socket pushes back. */
  private flush(link: PeerLink): void {
    const socket = link.socket;
    if (socket === null || link.state !== 'connected') return;
    const { coalesceFrameBytesMax, writeBatchBytesMax } = tcpTransportDefaults;
    while (link.writable && link.queuedFrames > 0) {
      socket.cork();
      let batchBytes = 0;
      let batchFrames = 0;
      let ok = true;
      while (ok && batchBytes < writeBatchBytesMax && link.queuedFrames > 0) {
        const first = link.peek()!;
        if (first.byteLength >= coalesceFrameBytesMax) {
          link.shift();
          batchBytes += first.byteLength;
          batchFrames++;
          ok = socket.write(first);
          continue;
        }
        // A run of small frames becomes one buffer: one write request instead of hundreds.
        const run: Buffer[] = [];
        let runBytes = 0;
        for (;;) {
          const next = link.peek();
          if (next === undefined || next.byteLength >= coalesceFrameBytesMax) break;
          if (runBytes + next.byteLength > writeBatchBytesMax && run.length > 0) break;
          run.push(link.shift());
          runBytes += next.byteLength;
        }
        batchBytes += runBytes;
        batchFrames += run.length;
        ok = socket.write(run.length === 1 ? run[0]! : Buffer.concat(run, runBytes));
      }
      socket.uncork();
      link.m.framesSent.inc(batchFrames);
      link.m.bytesSent.inc(batchBytes);
      if (!ok) link.writable = false; // resume on 'drain'
    }
    link.m.queueFrames.set(link.queuedFrames);
    link.m.queueBytes.set(link.queuedBytes);
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
      this.log.warn({ peer: link.id }, 'unexpected data on an outbound peer connection; closing it');
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
    const decoder = new FrameDecoder(this.bounds);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    let sender: PeerLink | null = null;
    const reject = (reason: string, detail: Record<string, unknown>): void => {
      this.countRejected(reason);
      this.log.warn({ reason, remote, ...detail }, 'rejected inbound peer frame; closing the connection');
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      for (const event of decoder.push(chunk)) {
        if (this.closed || socket.destroyed) return;
        if (event.kind === 'error') {
          reject(event.error.code, event.error.fields);
          return;
        }
        const frame = event.frame;
        if (frame.clusterId !== this.clusterId) {
          reject(RejectReason.clusterMismatch, { clusterId: frame.clusterId });
          return;
        }
        const link = this.links.get(frame.senderId);
        if (link === undefined) {
          reject(RejectReason.unknownSender, { senderId: frame.senderId });
          return;
        }
        if (sender === null) {
          sender = link;
          link.inboundConnections++;
        } else if (sender !== link) {
          reject(RejectReason.senderChanged, { was: sender.id, now: link.id });
          return;
        }
        link.m.framesReceived.inc();
        link.m.bytesReceived.inc(frame.wireBytes);
        const handler = this.handler;
        if (handler === null) {
          this.dropsNoHandler.inc();
          continue;
        }
        handler({ from: link.id, type: frame.type, payload: frame.payload });
      }
    });
    socket.on('error', (err) => this.log.debug({ remote, err: String(err) }, 'inbound peer connection error'));
    socket.once('close', () => {
      this.inbound.delete(socket);
      if (sender !== null) sender.inboundConnections--;
    });
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

function checkAddress(field: string, address: PeerAddress): void {
  if (typeof address.host !== 'string' || address.host === '') throw new ConfigError(field, 'host is required');
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 65535) {
    throw new ConfigError(field, `port must be 0..65535, got ${address.port}`);
  }
}

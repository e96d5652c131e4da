// Simulated client connections: the simulator's twin of src/net/tcp-listener.ts. Nodes accept
// connections through `env.listen` (the shared listener behaviour, src/env/listener-core.ts, on a
// simulated byte pipe); workloads and tests open them with `sim.clients.connect(node, protocol)`.
// test/compliance/listener-suite.ts runs against both worlds.
//
// The pipe models what a front end must survive on TCP, deterministically (one forked Rng, draws in
// a fixed order per segment; a knob at 0 draws nothing):
//   - latency: base + uniform jitter per segment, FIFO per direction (TCP never reorders bytes);
//   - chunking: each write is cut into segments at seeded boundaries (`chunking: 'random'`, sizes
//     1..chunkBytesMax), one byte per segment (`'bytes'`: every boundary), or not at all (`'whole'`);
//   - flow control: per direction at most `windowBytes` are in flight or unread at the receiver
//     (the kernels' buffers); a receiver that stops reading stops the sender, whose unsent bytes
//     are the server side's `bufferedBytes`, as a socket's writableLength is;
//   - acks: a segment frees window when the receiver has read it and the ack has travelled back;
//   - resets: `resetProbability` per segment, or `reset(connection)`; both ends see `reset`;
//   - partitions between a client host and a node (`partition(host, node)`): nothing is sent while
//     cut (bytes wait at the sender as TCP's retransmission queue would; segments already in
//     flight still arrive) and a connect is refused; healing resumes the flow. Idle timeouts keep
//     running meanwhile, so a long cut ends in an idle close, as on TCP;
//   - a node crash drops its end silently (its process is gone) and the client sees a reset.
// Node-side code (admission, the handler, onData, acks to the server) runs as events of that node's
// incarnation (its Env timers), so a paused node runs none of it and a crashed one never again;
// client-side code runs as simulator actions.

import type {
  ClientConnection,
  Clock,
  Listener,
  ListenOptions,
  Logger,
  Metrics,
  NodeId,
  Timers,
} from '../env/types.ts';
import { type ConnectionIo, type CoreConnection, ListenerCore } from '../env/listener-core.ts';
import { assert } from '../lib/assert.ts';
import { ConfigError } from '../lib/errors.ts';
import type { SeededRng } from '../lib/rng.ts';

export interface ClientLinkConfig {
  /** One-way latency of a segment, fixed part. */
  latencyBaseMs: number;
  /** Random extra latency, uniform in [0, latencyJitterMs). */
  latencyJitterMs: number;
  chunking: 'whole' | 'random' | 'bytes';
  /** Largest segment under 'random' chunking. */
  chunkBytesMax: number;
  /** Bytes in flight or unread per direction (the kernel buffers of both ends). */
  windowBytes: number;
  /** Chance a segment resets its connection instead of arriving. */
  resetProbability: number;
}

export const defaultClientLinkConfig: ClientLinkConfig = {
  latencyBaseMs: 0.5,
  latencyJitterMs: 0.5,
  chunking: 'random',
  chunkBytesMax: 1460,
  windowBytes: 256 * 1024,
  resetProbability: 0,
};

/** Bytes a simulated client may have written and not yet sent (a workload bug beyond). */
export const simClientQueuedBytesMax = 256 * 1024 * 1024;

export function validateClientLinkConfig(c: ClientLinkConfig): void {
  const num = (field: keyof ClientLinkConfig, v: number, min: number, max: number): void => {
    if (!(Number.isFinite(v) && v >= min && v <= max)) {
      throw new ConfigError(`clientLinks.${field}`, `must be in [${min}, ${max}], got ${v}`);
    }
  };
  num('latencyBaseMs', c.latencyBaseMs, 0, 60_000);
  num('latencyJitterMs', c.latencyJitterMs, 0, 60_000);
  num('chunkBytesMax', c.chunkBytesMax, 1, 16 * 1024 * 1024);
  num('windowBytes', c.windowBytes, 1, 1024 * 1024 * 1024);
  num('resetProbability', c.resetProbability, 0, 1);
  if (c.chunking !== 'whole' && c.chunking !== 'random' && c.chunking !== 'bytes') {
    throw new ConfigError('clientLinks.chunking', `must be whole, random or bytes, got ${String(c.chunking)}`);
  }
}

/** Why a simulated client's connection ended, as the client sees it. */
export type SimClientCloseReason = 'local' | 'remote' | 'reset' | 'refused';

/** A client's end of a simulated connection (what a workload holds). */
export interface SimClientConnection {
  readonly id: number;
  readonly node: NodeId;
  readonly protocol: string;
  /** `host:port` as the node sees it. */
  readonly localAddress: string;
  readonly state: 'connecting' | 'open' | 'closed';
  readonly closeReason: SimClientCloseReason | undefined;
  onOpen(handler: () => void): void;
  onData(handler: (chunk: Uint8Array) => void): void;
  onClose(handler: (reason: SimClientCloseReason) => void): void;
  /** Queues bytes (copied); sent once open, as the window allows. Ignored once closed. */
  write(bytes: Uint8Array): void;
  /** Bytes written and not yet sent. */
  readonly queuedBytes: number;
  /** Stops reading: the node's replies pile up in the window, then in its buffer. */
  pauseReading(): void;
  resumeReading(): void;
  /** FIN after what was written. */
  close(): void;
  /** RST now: unsent and unread bytes are lost on both ends. */
  reset(): void;
}

export interface ClientLinkCounters {
  connects: number;
  refused: number;
  resets: number;
  segments: number;
  bytes: number;
}

/** What the links need from the engine. */
export interface ClientLinksHost {
  nowMs(): number;
  /** Runs `fn` as a simulator action at virtual time `atMs`. */
  at(atMs: number, fn: () => void, label: string): void;
}

/** The node-side context of one listener: its incarnation's Env pieces. */
export interface NodeListenContext {
  readonly clock: Clock;
  readonly timers: Timers;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** False once the incarnation is gone: a stale Env's listen registers nothing. */
  readonly alive: () => boolean;
}

/** One segment: bytes, or the end of the stream (FIN). */
type Segment = Uint8Array | null;

/** One direction of a connection. */
class Flow {
  /** Written, not yet sent: bytes, and FIN (null) as the last entry once closed. */
  readonly queue: Segment[] = [];
  queuedBytes = 0;
  /** Sent and not yet acknowledged (in flight, or unread at the receiver). */
  windowUsed = 0;
  /** Arrived while the receiver was not reading, in order. */
  readonly unread: Segment[] = [];
  lastArrivalMs = 0;
}

class SimListener implements Listener {
  constructor(
    readonly core: ListenerCore,
    readonly ctx: NodeListenContext,
    readonly port: number,
    private readonly onClose: () => void,
  ) {}
  get protocol(): string {
    return this.core.protocol;
  }
  get connections(): number {
    return this.core.connections;
  }
  ready(): Promise<number> {
    return Promise.resolve(this.port);
  }
  close(): Promise<void> {
    this.onClose();
    this.core.close();
    return Promise.resolve();
  }
}

export class SimClientLinks {
  readonly config: ClientLinkConfig;
  readonly counters: ClientLinkCounters = { connects: 0, refused: 0, resets: 0, segments: 0, bytes: 0 };
  private readonly listeners = new Map<NodeId, Map<string, SimListener>>();
  private readonly linksByNode = new Map<NodeId, Set<Link>>();
  /** Blocked (client host, node) pairs, counted so overlapping cuts compose. */
  private readonly cuts = new Map<string, number>();
  private nextConnectionId = 1;
  private nextPort = 40_000;

  constructor(
    private readonly host: ClientLinksHost,
    private readonly rng: SeededRng,
    config: Partial<ClientLinkConfig> = {},
  ) {
    this.config = { ...defaultClientLinkConfig, ...config };
    validateClientLinkConfig(this.config);
  }

  // --- the node side (Env.listen) ---

  listen(
    node: NodeId,
    ctx: NodeListenContext,
    protocol: string,
    options: ListenOptions,
    handler: (connection: ClientConnection) => void,
  ): Listener {
    const core = new ListenerCore({
      protocol,
      bounds: options.bounds,
      ...ctx,
      log: ctx.log.child({ protocol }),
      handler,
    });
    if (!ctx.alive()) {
      core.close(); // a crashed incarnation's code: it accepts nothing
      return new SimListener(core, ctx, options.port, () => undefined);
    }
    let byProtocol = this.listeners.get(node);
    if (byProtocol === undefined) {
      byProtocol = new Map();
      this.listeners.set(node, byProtocol);
    }
    assert(!byProtocol.has(protocol), `a listener for '${protocol}' exists already on ${node}`);
    const port = options.port !== 0 ? options.port : 10_000 + byProtocol.size;
    const listener = new SimListener(core, ctx, port, () => {
      if (this.listeners.get(node)?.get(protocol) === listener) this.listeners.get(node)!.delete(protocol);
    });
    byProtocol.set(protocol, listener);
    return listener;
  }

  /** The node crashed: its listeners are gone, its ends vanish, its clients see resets. */
  nodeDown(node: NodeId): void {
    this.listeners.delete(node);
    const links = this.linksByNode.get(node);
    if (links === undefined) return;
    for (const link of [...links]) link.abort({ notifyServer: false });
  }

  // --- the client side ---

  /** Opens a connection from `host` (default: a host of its own) to `node`'s `protocol` listener. */
  connect(node: NodeId, protocol: string, options: { host?: string } = {}): SimClientConnection {
    const id = this.nextConnectionId++;
    const clientHost = options.host ?? `client-${id}`;
    const port = this.nextPort;
    this.nextPort = this.nextPort >= 65_535 ? 40_000 : this.nextPort + 1;
    const link = new Link(this, id, node, protocol, clientHost, `${clientHost}:${port}`);
    let links = this.linksByNode.get(node);
    if (links === undefined) {
      links = new Set();
      this.linksByNode.set(node, links);
    }
    links.add(link);
    this.counters.connects++;
    const listener = this.listeners.get(node)?.get(protocol);
    if (listener === undefined || this.isCut(clientHost, node)) {
      link.refuse(this.arrivalMs(null));
    } else {
      link.listener = listener;
      listener.ctx.timers.after(this.latencyMs(), () => link.syn());
    }
    return link.client;
  }

  /** Cuts `host` (a client host) off from `node`, both directions, until the returned heal. */
  partition(host: string, node: NodeId): { heal(): void } {
    const key = `${host}\u0000${node}`;
    this.cuts.set(key, (this.cuts.get(key) ?? 0) + 1);
    let healed = false;
    return {
      heal: () => {
        if (healed) return;
        healed = true;
        const n = (this.cuts.get(key) ?? 1) - 1;
        if (n > 0) this.cuts.set(key, n);
        else this.cuts.delete(key);
        if (n === 0) for (const link of this.linksByNode.get(node) ?? []) if (link.clientHost === host) link.pumpBoth();
      },
    };
  }

  /** Heals every client partition (the liveness phase). */
  healAll(): void {
    this.cuts.clear();
    for (const links of this.linksByNode.values()) for (const link of links) link.pumpBoth();
  }

  isCut(host: string, node: NodeId): boolean {
    return this.cuts.has(`${host}\u0000${node}`);
  }

  /** Resets `connection` now (a middlebox dropped it): both ends see `reset`. */
  reset(connection: SimClientConnection): void {
    const link = this.linksByNode.get(connection.node);
    for (const l of link ?? []) if (l.client === connection) l.abort({ notifyServer: true });
  }

  // --- for Link ---

  forget(link: Link): void {
    this.linksByNode.get(link.node)?.delete(link);
  }

  latencyMs(): number {
    const c = this.config;
    return c.latencyBaseMs + (c.latencyJitterMs > 0 ? this.rng.float() * c.latencyJitterMs : 0);
  }

  /** Arrival time of a segment on `flow` (FIFO per direction); a new latency draw. */
  arrivalMs(flow: Flow | null): number {
    let at = this.host.nowMs() + this.latencyMs();
    if (flow !== null) {
      if (at < flow.lastArrivalMs) at = flow.lastArrivalMs;
      flow.lastArrivalMs = at;
    }
    return at;
  }

  segmentBytes(available: number): number {
    const c = this.config;
    if (c.chunking === 'whole') return available;
    if (c.chunking === 'bytes') return 1;
    return Math.min(available, 1 + this.rng.int(c.chunkBytesMax));
  }

  resetDrawn(): boolean {
    const p = this.config.resetProbability;
    return p > 0 && this.rng.chance(p);
  }

  atClient(atMs: number, fn: () => void, label: string): void {
    this.host.at(Math.max(atMs, this.host.nowMs()), fn, label);
  }

  get now(): number {
    return this.host.nowMs();
  }
}

/** One connection: both flows, the server's CoreConnection and the client's handle. */
class Link {
  readonly toServer = new Flow();
  readonly toClient = new Flow();
  listener: SimListener | null = null;
  server: CoreConnection | null = null;
  serverReading = false;
  clientReading = true;
  /** The client has learnt the connection is up: it may send. */
  established = false;
  /** Both ends are gone: nothing more is sent, delivered or reported. */
  dead = false;
  /** The server end has closed (FIN sent or connection destroyed). */
  serverClosed = false;
  readonly client: ClientEnd;

  constructor(
    readonly links: SimClientLinks,
    readonly id: number,
    readonly node: NodeId,
    readonly protocol: string,
    readonly clientHost: string,
    readonly clientAddress: string,
  ) {
    this.client = new ClientEnd(this);
  }

  private get timers(): Timers {
    return this.listener!.ctx.timers;
  }

  /** Node side: the connection request arrives. */
  syn(): void {
    if (this.dead) return;
    const listener = this.listener!;
    if (this.links.isCut(this.clientHost, this.node) || listener.core.admit(this.clientAddress) !== undefined) {
      this.refuse(this.links.arrivalMs(null));
      return;
    }
    const io: ConnectionIo = {
      write: (bytes) => this.serverWrite(bytes),
      bufferedBytes: () => this.toClient.queuedBytes,
      setReading: (reading) => this.setServerReading(reading),
      end: () => this.serverEnd(),
      destroy: () => this.serverDestroy(),
    };
    // Established on both ends; the client learns it one latency later.
    this.links.atClient(this.links.arrivalMs(this.toClient), () => this.client.opened(), `client ${this.id} open`);
    this.server = listener.core.accept(io, this.clientAddress);
  }

  refuse(atMs: number): void {
    this.dead = true;
    this.links.counters.refused++;
    this.links.forget(this);
    this.links.atClient(atMs, () => this.client.closed('refused'), `client ${this.id} refused`);
  }

  // --- server end (runs in node events) ---

  private serverWrite(bytes: Uint8Array): void {
    if (this.dead || this.serverClosed || bytes.length === 0) return;
    // Kept, not copied, as the real listener does (ClientConnection.write: the caller hands the
    // bytes over): a server that changed a reply after writing it would show here too.
    this.toClient.queue.push(bytes);
    this.toClient.queuedBytes += bytes.length;
    this.pump(this.toClient, 'client');
  }

  private setServerReading(reading: boolean): void {
    this.serverReading = reading;
    if (reading && this.toServer.unread.length > 0) this.timers.after(0, () => this.deliverUnread('server'));
  }

  private serverEnd(): void {
    if (this.dead || this.serverClosed) return;
    this.serverClosed = true;
    this.toClient.queue.push(null);
    this.pump(this.toClient, 'client');
  }

  private serverDestroy(): void {
    if (this.dead) return;
    this.serverClosed = true;
    this.abort({ notifyServer: false });
  }

  // --- both ends ---

  /** Kills the connection: the client sees a reset one latency later (unless it closed already). */
  abort(options: { notifyServer: boolean }): void {
    if (this.dead) return;
    this.dead = true;
    this.links.counters.resets++;
    this.links.forget(this);
    const at = this.links.arrivalMs(null);
    this.links.atClient(at, () => this.client.closed('reset'), `client ${this.id} reset`);
    // Also after the server closed its side: a connection lingering with replies to send learns
    // that its pipe is gone (the core ignores a reset it no longer needs).
    if (options.notifyServer && this.server !== null) {
      const server = this.server;
      this.timers.after(Math.max(0, at - this.links.now), () => server.ended('reset'));
    }
  }

  pumpBoth(): void {
    this.pump(this.toServer, 'server');
    this.pump(this.toClient, 'client');
  }

  /** Sends what the window admits from `flow` toward `to`. */
  pump(flow: Flow, to: 'server' | 'client'): void {
    const links = this.links;
    if (this.dead || links.isCut(this.clientHost, this.node)) return;
    if (to === 'server' && !this.established) return;
    const windowBytes = links.config.windowBytes;
    while (flow.queue.length > 0 && !this.dead) {
      const head = flow.queue[0]!;
      let segment: Segment;
      if (head === null) {
        flow.queue.shift();
        segment = null;
      } else {
        const room = windowBytes - flow.windowUsed;
        if (room <= 0) return;
        const size = links.segmentBytes(Math.min(room, head.length));
        segment = head.subarray(0, size);
        if (size === head.length) flow.queue.shift();
        else flow.queue[0] = head.subarray(size);
        flow.queuedBytes -= size;
        flow.windowUsed += size;
        links.counters.segments++;
        links.counters.bytes += size;
        if (links.resetDrawn()) {
          this.abort({ notifyServer: true });
          return;
        }
      }
      const at = links.arrivalMs(flow);
      if (to === 'client') links.atClient(at, () => this.arrive(flow, segment, 'client'), `client ${this.id} data`);
      else this.timers.after(Math.max(0, at - links.now), () => this.arrive(flow, segment, 'server'));
    }
  }

  private arrive(flow: Flow, segment: Segment, at: 'server' | 'client'): void {
    if (this.dead) return;
    const reading = at === 'server' ? this.serverReading : this.clientReading;
    if (!reading || flow.unread.length > 0) {
      flow.unread.push(segment);
      return;
    }
    this.consume(flow, segment, at);
  }

  deliverUnread(at: 'server' | 'client'): void {
    const flow = at === 'server' ? this.toServer : this.toClient;
    while (!this.dead && flow.unread.length > 0 && (at === 'server' ? this.serverReading : this.clientReading)) {
      this.consume(flow, flow.unread.shift()!, at);
    }
  }

  /** The receiver reads one segment; its ack frees window at the sender one latency later. */
  private consume(flow: Flow, segment: Segment, at: 'server' | 'client'): void {
    const links = this.links;
    if (segment === null) {
      // End of stream.
      if (at === 'server') {
        this.server?.ended('remote'); // the core destroys the io: the link dies
      } else {
        this.dead = true;
        links.forget(this);
        this.client.closed('remote');
      }
      return;
    }
    const size = segment.length;
    const ackAt = links.arrivalMs(null);
    if (at === 'server') {
      this.links.atClient(
        ackAt,
        () => {
          flow.windowUsed -= size;
          this.pump(flow, 'server');
        },
        `client ${this.id} ack`,
      );
      this.server!.received(segment);
    } else {
      const timers = this.timers;
      timers.after(Math.max(0, ackAt - links.now), () => {
        flow.windowUsed -= size;
        this.pump(flow, 'client');
        if (flow.queuedBytes === 0) this.server?.drained();
      });
      this.client.deliver(segment);
    }
  }
}

/** The client's handle on a Link. */
class ClientEnd implements SimClientConnection {
  state: 'connecting' | 'open' | 'closed' = 'connecting';
  closeReason: SimClientCloseReason | undefined;
  private openHandler: (() => void) | null = null;
  private dataHandler: ((chunk: Uint8Array) => void) | null = null;
  private closeHandler: ((reason: SimClientCloseReason) => void) | null = null;
  private finQueued = false;

  constructor(private readonly link: Link) {}

  get id(): number {
    return this.link.id;
  }
  get node(): NodeId {
    return this.link.node;
  }
  get protocol(): string {
    return this.link.protocol;
  }
  get localAddress(): string {
    return this.link.clientAddress;
  }
  get queuedBytes(): number {
    return this.link.toServer.queuedBytes;
  }

  onOpen(handler: () => void): void {
    this.openHandler = handler;
  }
  onData(handler: (chunk: Uint8Array) => void): void {
    this.dataHandler = handler;
  }
  onClose(handler: (reason: SimClientCloseReason) => void): void {
    this.closeHandler = handler;
  }

  write(bytes: Uint8Array): void {
    if (this.state === 'closed' || this.finQueued || bytes.length === 0) return;
    const flow = this.link.toServer;
    assert(flow.queuedBytes + bytes.length <= simClientQueuedBytesMax, 'a simulated client queued too much');
    flow.queue.push(bytes.slice());
    flow.queuedBytes += bytes.length;
    this.link.pump(flow, 'server');
  }

  pauseReading(): void {
    this.link.clientReading = false;
  }

  resumeReading(): void {
    this.link.clientReading = true;
    if (this.link.toClient.unread.length > 0) {
      this.link.links.atClient(this.link.links.now, () => this.link.deliverUnread('client'), `client ${this.id} read`);
    }
  }

  close(): void {
    if (this.state === 'closed') return;
    this.finQueued = true;
    this.link.toServer.queue.push(null);
    this.link.pump(this.link.toServer, 'server');
    this.closed('local');
  }

  reset(): void {
    if (this.state === 'closed') return;
    this.closed('local');
    this.link.abort({ notifyServer: true });
  }

  // --- from the link ---

  opened(): void {
    this.link.established = true;
    this.link.pump(this.link.toServer, 'server'); // also a FIN queued by a close() while connecting
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.openHandler?.();
  }

  deliver(chunk: Uint8Array): void {
    if (this.state === 'closed') return;
    this.dataHandler?.(chunk);
  }

  closed(reason: SimClientCloseReason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    const handler = this.closeHandler;
    this.openHandler = this.dataHandler = this.closeHandler = null;
    handler?.(reason);
  }
}

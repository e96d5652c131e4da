// The behaviour of a client listener that the real TCP listener (src/net/tcp-listener.ts) and the
// simulator's client links (src/sim/client-links.ts) share: admission (connections per port and
// per client host), the reading holds (in-flight bound, reply backpressure, the handler's own
// pause), slow-reader eviction, the idle timeout, metrics and rate-limited logs. Each side supplies
// only a byte pipe (ConnectionIo) per connection; so the bounds the compliance suite checks are
// enforced by one piece of code in both worlds. Contract: src/env/types.ts (ClientConnection).
//
// Pure: time and timers come from the Env's Clock and Timers, so the simulator replays it.
//
// Invariants:
//   - open connections <= bounds.connectionsMax, and per client host <= connectionsPerAddressMax
//     (a connection lingering after a graceful close, with replies still to send, counts in both
//     until its pipe has sent them or is gone: a client's FIN alone does not end that);
//     the per-host map holds only hosts with an open or lingering connection, so it is bounded by
//     the former.
//   - io.bufferedBytes() <= bounds.bufferedBytesMax after every write: a write that would pass it
//     evicts the connection (slow_reader) without queueing.
//   - memoryBytes = the sum over open connections of their reported held bytes and their buffered
//     reply bytes as last seen (after each write and each drain), plus the buffered bytes of
//     connections closed gracefully (close, or the client's FIN) until their pipe has sent them or
//     is gone. A report or write that takes it past bounds.memoryBytesMax schedules an eviction
//     pass for the end of the turn (Redis evicts between commands, never inside the running
//     one): the connections holding the most are evicted (client_memory), unless protected by
//     setEvictable(false), until it is within the bound again.
//   - the pipe reads iff the connection is open and no hold applies (types.ts lists the holds);
//     io.setReading is called only on a change.
//   - onClose runs exactly once, after which no handler of the connection runs again; its slots
//     are released at that moment, before onClose, or for a lingering one when its pipe is done.

import { assert } from '../lib/assert.ts';
import { ConfigError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { LogLimiter } from '../lib/log-limit.ts';
import type {
  ClientCloseReason,
  ClientConnection,
  ClientRefuseReason,
  Clock,
  Counter,
  Gauge,
  ListenerBounds,
  Logger,
  Metrics,
  Timer,
  Timers,
} from './types.ts';

/** The byte pipe under one connection: a socket, or a simulated client link. */
export interface ConnectionIo {
  /** Hands bytes to the pipe, which owns (a copy of) them after the call. */
  write(bytes: Uint8Array): void;
  /** Bytes handed to write() and not yet taken by the client's side. */
  bufferedBytes(): number;
  setReading(reading: boolean): void;
  /** Graceful close: what was written is still delivered, then the client sees end of stream. */
  end(): void;
  /** Abort: unsent bytes are dropped, the client sees a reset. */
  destroy(): void;
}

export interface ListenerCoreOptions {
  readonly protocol: string;
  readonly bounds: ListenerBounds;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly handler: (connection: ClientConnection) => void;
}

/** Checks a protocol's bounds against the ceilings in limits.ts; a ConfigError names the field. */
export function validateListenerBounds(protocol: string, b: ListenerBounds): void {
  const field = (name: string): string => `listen.${protocol}.${name}`;
  const within = (name: keyof ListenerBounds, value: number, max: number): void => {
    if (!(Number.isSafeInteger(value) && value >= 1 && value <= max)) {
      throw new ConfigError(field(name), `must be an integer in [1, ${max}], got ${value}`);
    }
  };
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(protocol)) {
    throw new ConfigError('listen.protocol', `must be a short lower-case name, got '${protocol}'`);
  }
  within('connectionsMax', b.connectionsMax, limits.clientPortConnectionsMax);
  within('connectionsPerAddressMax', b.connectionsPerAddressMax, limits.clientHostConnectionsMax);
  within('bufferedBytesMax', b.bufferedBytesMax, limits.clientBufferedBytesMax);
  within('inflightRequestsMax', b.inflightRequestsMax, limits.clientInflightRequestsMax);
  within('memoryBytesMax', b.memoryBytesMax, limits.clientPortMemoryBytesMax);
  if (b.idleTimeoutMs !== 'none') within('idleTimeoutMs', b.idleTimeoutMs, limits.clientIdleTimeoutMsMax);
}

/** The host part of `host:port` / `[v6]:port`, the key of the per-address bound. */
export function hostOf(remoteAddress: string): string {
  const i = remoteAddress.lastIndexOf(':');
  const host = i < 0 ? remoteAddress : remoteAddress.slice(0, i);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

interface ListenerMetrics {
  open: Gauge;
  accepted: Counter;
  bytesReceived: Counter;
  bytesSent: Counter;
  refused: Map<ClientRefuseReason, Counter>;
  closed: Map<ClientCloseReason, Counter>;
  pauses: Map<'inflight' | 'backpressure', Counter>;
  memory: Gauge;
}

export class ListenerCore {
  readonly protocol: string;
  readonly bounds: ListenerBounds;
  private readonly open = new Set<CoreConnection>();
  private readonly perHost = new Map<string, number>();
  private nextId = 1;
  private closedFlag = false;
  /** Held and buffered bytes of the open connections (see the invariants). */
  private memoryBytes = 0;
  /** An eviction pass is scheduled for the end of this turn. */
  private evictionScheduled = false;
  /** Closed gracefully with reply bytes still in their pipe (counted in memoryBytes). */
  readonly lingering = new Set<CoreConnection>();
  readonly m: ListenerMetrics;
  readonly logLimited: LogLimiter;

  constructor(readonly options: ListenerCoreOptions) {
    validateListenerBounds(options.protocol, options.bounds);
    this.protocol = options.protocol;
    this.bounds = { ...options.bounds };
    const { metrics } = options;
    const labels = { protocol: this.protocol };
    const byReason = <R extends string>(name: string, help: string, reasons: readonly R[]): Map<R, Counter> =>
      new Map(reasons.map((reason) => [reason, metrics.counter(name, help, { ...labels, reason })]));
    this.m = {
      open: metrics.gauge(
        'client_connections_open',
        'Client connections open (not those closed and still sending replies, which hold their slots too)',
        labels,
      ),
      accepted: metrics.counter('client_connections_accepted_total', 'Client connections accepted', labels),
      bytesReceived: metrics.counter('client_bytes_received_total', 'Bytes read from clients', labels),
      bytesSent: metrics.counter('client_bytes_sent_total', 'Bytes written to clients', labels),
      refused: byReason('client_connections_refused_total', 'Client connections refused at a bound, by reason', [
        'port_full',
        'address_full',
        'listener_closed',
      ]),
      closed: byReason('client_connections_closed_total', 'Client connections closed, by reason (evictions too)', [
        'local',
        'remote',
        'reset',
        'idle_timeout',
        'slow_reader',
        'client_memory',
        'listener_closed',
      ]),
      pauses: byReason('client_read_pauses_total', 'Times reading stopped at a bound, by bound', [
        'inflight',
        'backpressure',
      ]),
      memory: metrics.gauge(
        'client_memory_bytes',
        "Bytes the listener's connections hold: reported by their protocols, plus buffered replies",
        labels,
      ),
    };
    this.logLimited = new LogLimiter(options.log, options.clock, metrics, `listener-${this.protocol}`);
  }

  get connections(): number {
    return this.open.size;
  }

  /** Held and buffered bytes of the open connections together. */
  get heldMemoryBytes(): number {
    return this.memoryBytes;
  }

  /** A connection's memory changed by `delta`; past the bound, an eviction pass is scheduled. */
  account(delta: number): void {
    this.memoryBytes += delta;
    assert(this.memoryBytes >= 0, 'listener memory count below 0');
    this.m.memory.set(this.memoryBytes);
    if (delta > 0 && this.memoryBytes > this.bounds.memoryBytesMax && !this.evictionScheduled) {
      this.evictionScheduled = true;
      this.options.timers.after(0, () => {
        this.evictionScheduled = false;
        this.evictForMemory();
      });
    }
  }

  /** Evicts the connections holding the most until the sum is within memoryBytesMax. */
  private evictForMemory(): void {
    while (this.memoryBytes > this.bounds.memoryBytesMax) {
      let top: CoreConnection | undefined;
      for (const set of [this.open, this.lingering]) {
        for (const c of set) if (c.evictable && (top === undefined || c.memoryBytes > top.memoryBytes)) top = c;
      }
      if (top === undefined || top.memoryBytes === 0) break;
      this.logLimited.warn(
        'evict:client_memory',
        {
          protocol: this.protocol,
          remote: top.remoteAddress,
          connectionBytes: top.memoryBytes,
          listenerBytes: this.memoryBytes,
          memoryBytesMax: this.bounds.memoryBytesMax,
        },
        "client connections hold more memory than the listener's bound; evicting the largest",
      );
      top.evictForMemory();
    }
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Whether a connection from `remoteAddress` may open now; a refusal is counted and logged. */
  admit(remoteAddress: string): ClientRefuseReason | undefined {
    let reason: ClientRefuseReason | undefined;
    if (this.closedFlag) reason = 'listener_closed';
    // A lingering connection still holds its socket (up to LINGER_MS): it keeps its slots, or a
    // client closing with unread replies could open sockets past connectionsMax.
    else if (this.open.size + this.lingering.size >= this.bounds.connectionsMax) reason = 'port_full';
    else if ((this.perHost.get(hostOf(remoteAddress)) ?? 0) >= this.bounds.connectionsPerAddressMax) {
      reason = 'address_full';
    }
    if (reason !== undefined) {
      this.m.refused.get(reason)!.inc();
      this.logLimited.warn(
        `refuse:${reason}`,
        { protocol: this.protocol, remote: remoteAddress, reason },
        'client connection refused at a bound',
      );
    }
    return reason;
  }

  /** Opens an admitted connection over `io` and hands it to the handler. */
  accept(io: ConnectionIo, remoteAddress: string): CoreConnection {
    assert(!this.closedFlag, 'accept on a closed listener');
    const host = hostOf(remoteAddress);
    const conn = new CoreConnection(this, this.nextId++, io, remoteAddress, host);
    this.open.add(conn);
    this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1);
    this.m.accepted.inc();
    this.m.open.set(this.open.size);
    this.options.handler(conn);
    return conn;
  }

  /** Called by a connection as it closes: frees its slots, but a lingering one keeps them (releaseHost). */
  release(conn: CoreConnection, lingering: boolean): void {
    if (!this.open.delete(conn)) return;
    if (!lingering) this.releaseHost(conn);
    this.m.open.set(this.open.size);
  }

  /** A connection's per-host slot is free: it closed, or its lingering pipe is gone. */
  releaseHost(conn: CoreConnection): void {
    const held = this.perHost.get(conn.host);
    assert(held !== undefined && held > 0, 'a host slot released twice');
    const left = held - 1;
    if (left === 0) this.perHost.delete(conn.host);
    else this.perHost.set(conn.host, left);
  }

  /** Refuses new connections and closes every open one with `listener_closed`. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const conn of [...this.open]) conn.terminate('listener_closed');
    for (const conn of [...this.lingering]) conn.evictForMemory();
  }
}

/** How long a connection closed gracefully keeps its unsent replies (then its pipe is destroyed). */
export const LINGER_MS = 5_000;

/** One connection's state above its pipe. */
export class CoreConnection implements ClientConnection {
  readonly protocol: string;
  readonly bounds: ListenerBounds;
  private dataHandler: ((chunk: Uint8Array) => void) | null = null;
  private drainHandler: (() => void) | null = null;
  private closeHandler: ((reason: ClientCloseReason) => void) | null = null;
  private inflight = 0;
  private held = false;
  /** The protocol's last reportHeldBytes. */
  private reportedBytes = 0;
  /** io.bufferedBytes() when last seen (after a write or a drain), as counted in the core. */
  private countedBufferedBytes = 0;
  /** Closed gracefully with bytes still in the pipe: counted until they are sent or the pipe is gone. */
  private lingering = false;
  /** Drops a lingering pipe after LINGER_MS (cancelled once it has sent its bytes). */
  private lingerTimer: Timer | null = null;
  /** setEvictable(false) (Redis' CLIENT NO-EVICT on): never chosen for a memory eviction. */
  evictable = true;
  /** write() returned false: reading is held and onDrain owed until the pipe is empty. */
  private awaitingDrain = false;
  private reading = false;
  private closedFlag = false;
  private lastActivityMs: number;
  private idleTimer: Timer | null = null;

  constructor(
    private readonly core: ListenerCore,
    readonly id: number,
    private readonly io: ConnectionIo,
    readonly remoteAddress: string,
    readonly host: string,
  ) {
    this.protocol = core.protocol;
    this.bounds = core.bounds;
    this.lastActivityMs = core.options.clock.monotonicMs();
    this.armIdle(this.bounds.idleTimeoutMs);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get inflightRequests(): number {
    return this.inflight;
  }

  get bufferedBytes(): number {
    return this.closedFlag ? 0 : this.io.bufferedBytes();
  }

  get heldBytes(): number {
    return this.reportedBytes;
  }

  /** This connection's share of the listener's memory (reported and buffered, as counted). */
  get memoryBytes(): number {
    return this.reportedBytes + this.countedBufferedBytes;
  }

  reportHeldBytes(bytes: number): void {
    assert(Number.isSafeInteger(bytes) && bytes >= 0, 'held bytes must be a non-negative integer');
    if (this.closedFlag) return;
    const delta = bytes - this.reportedBytes;
    if (delta === 0) return;
    this.reportedBytes = bytes;
    this.core.account(delta);
  }

  setEvictable(evictable: boolean): void {
    this.evictable = evictable;
  }

  /** Counts the pipe's buffered bytes as they are now (while open, or closed and lingering). */
  private recountBuffered(): void {
    if (this.closedFlag && !this.lingering) return;
    const now = this.io.bufferedBytes();
    const delta = now - this.countedBufferedBytes;
    if (delta !== 0) {
      this.countedBufferedBytes = now;
      this.core.account(delta);
    }
    if (this.lingering && now === 0) this.stopLingering();
  }

  /** The lingering bytes were sent, or the pipe is gone: they leave the count. */
  private stopLingering(): void {
    this.lingering = false;
    this.lingerTimer?.cancel();
    this.lingerTimer = null;
    if (this.core.lingering.delete(this)) this.core.releaseHost(this);
    this.core.account(-this.countedBufferedBytes);
    this.countedBufferedBytes = 0;
  }

  /** Chosen by the listener's memory bound: closed at once, or, lingering, its pipe dropped. */
  evictForMemory(): void {
    if (!this.closedFlag) {
      this.terminate('client_memory');
      return;
    }
    if (!this.lingering) return;
    this.stopLingering();
    this.io.destroy();
  }

  onData(handler: (chunk: Uint8Array) => void): void {
    this.dataHandler = handler;
    this.updateReading();
  }

  onDrain(handler: () => void): void {
    this.drainHandler = handler;
  }

  onClose(handler: (reason: ClientCloseReason) => void): void {
    this.closeHandler = handler;
  }

  write(bytes: Uint8Array): boolean {
    if (this.closedFlag) return false;
    const { bufferedBytesMax } = this.bounds;
    if (this.io.bufferedBytes() + bytes.length > bufferedBytesMax) {
      this.core.logLimited.warn(
        'evict:slow_reader',
        { protocol: this.protocol, remote: this.remoteAddress, bufferedBytes: this.io.bufferedBytes() },
        'client does not read its replies; evicting it',
      );
      this.terminate('slow_reader');
      return false;
    }
    if (bytes.length > 0) {
      this.io.write(bytes);
      this.core.m.bytesSent.inc(bytes.length);
      this.lastActivityMs = this.core.options.clock.monotonicMs();
      this.recountBuffered();
    }
    if (this.closedFlag) return false; // the pipe failed under the write, or was evicted
    if (this.io.bufferedBytes() * 2 >= bufferedBytesMax) {
      if (!this.awaitingDrain) {
        this.awaitingDrain = true;
        this.core.m.pauses.get('backpressure')!.inc();
        this.updateReading();
      }
      return false;
    }
    return true;
  }

  requestStarted(): void {
    this.inflight++;
    if (this.inflight === this.bounds.inflightRequestsMax) this.core.m.pauses.get('inflight')!.inc();
    this.updateReading();
  }

  requestFinished(): void {
    assert(this.inflight > 0, 'requestFinished without a request in flight');
    this.inflight--;
    if (this.inflight === 0) this.lastActivityMs = this.core.options.clock.monotonicMs();
    this.updateReading();
  }

  pause(): void {
    this.held = true;
    this.updateReading();
  }

  resume(): void {
    this.held = false;
    this.updateReading();
  }

  close(): void {
    if (this.closedFlag) return;
    this.finish('local');
    this.io.end();
  }

  // --- from the pipe ---

  /** Bytes from the client (only while reading, by the pipe's contract). */
  received(chunk: Uint8Array): void {
    if (this.closedFlag || chunk.length === 0) return;
    this.core.m.bytesReceived.inc(chunk.length);
    this.lastActivityMs = this.core.options.clock.monotonicMs();
    const handler = this.dataHandler;
    assert(handler !== null, 'the pipe delivered bytes before onData was set');
    handler(chunk);
  }

  /** The pipe has taken some buffered bytes; if all, the drain owed is delivered. */
  drained(): void {
    this.recountBuffered();
    if (this.closedFlag || !this.awaitingDrain || this.io.bufferedBytes() > 0) return;
    this.awaitingDrain = false;
    this.updateReading();
    this.drainHandler?.();
  }

  /**
   * The client closed its side (`remote`, a FIN: our side ends too, gracefully), the connection
   * broke (`reset`), or the pipe closed for good (`closed`: both sides done).
   */
  ended(reason: 'remote' | 'reset' | 'closed'): void {
    if (this.closedFlag) {
      // A FIN while our replies are still going out (a client that half-closes and never reads)
      // leaves them, and the slots, held: only a pipe that is gone frees them (a review).
      if (this.lingering && reason !== 'remote') this.stopLingering();
      return;
    }
    this.finish(reason === 'reset' ? 'reset' : 'remote', reason === 'closed');
    if (reason === 'remote') this.io.end();
    else this.io.destroy();
  }

  /** Closes from this side without a flush: eviction, idle timeout, listener closing. */
  terminate(reason: 'idle_timeout' | 'slow_reader' | 'client_memory' | 'listener_closed'): void {
    if (this.closedFlag) return;
    this.finish(reason);
    this.io.destroy();
  }

  private finish(reason: ClientCloseReason, pipeGone = false): void {
    const graceful = reason === 'local' || reason === 'remote';
    if (graceful && !pipeGone) this.recountBuffered(); // the pipe may have emptied since the last drain
    this.closedFlag = true;
    this.idleTimer?.cancel();
    this.idleTimer = null;
    // What the protocol held is freed now; reply bytes in the pipe of a graceful close are still
    // held by it until they are sent (the real socket lingers up to closeLingerMs), and so are its
    // slots (connectionsMax, connectionsPerAddressMax).
    const linger = graceful && !pipeGone && this.countedBufferedBytes > 0;
    this.core.release(this, linger);
    this.core.account(-this.reportedBytes);
    this.reportedBytes = 0;
    if (linger) {
      this.lingering = true;
      this.core.lingering.add(this);
      // As the real socket lingers at most this long before it is destroyed (tcp-listener.ts),
      // so does every pipe: a client that never reads cannot keep the bytes counted for good.
      this.lingerTimer = this.core.options.timers.after(LINGER_MS, () => this.evictForMemory());
    } else if (this.countedBufferedBytes > 0) {
      this.core.account(-this.countedBufferedBytes);
      this.countedBufferedBytes = 0;
    }
    this.core.m.closed.get(reason)!.inc();
    this.dataHandler = null;
    this.drainHandler = null;
    const handler = this.closeHandler;
    this.closeHandler = null;
    handler?.(reason);
  }

  private updateReading(): void {
    if (this.closedFlag) return;
    const reading =
      this.dataHandler !== null && !this.held && !this.awaitingDrain && this.inflight < this.bounds.inflightRequestsMax;
    if (reading === this.reading) return;
    this.reading = reading;
    this.io.setReading(reading);
  }

  private armIdle(delayMs: number | 'none'): void {
    if (delayMs === 'none') return;
    this.idleTimer = this.core.options.timers.after(delayMs, () => this.checkIdle());
  }

  /** One timer per connection, re-armed only when it fires (activity just moves lastActivityMs). */
  private checkIdle(): void {
    this.idleTimer = null;
    const idleMs = this.bounds.idleTimeoutMs;
    if (this.closedFlag || idleMs === 'none') return;
    const now = this.core.options.clock.monotonicMs();
    if (this.inflight > 0) {
      this.armIdle(idleMs); // a request being served is not idleness
      return;
    }
    const quietMs = now - this.lastActivityMs;
    if (quietMs >= idleMs) {
      this.core.logLimited.debug(
        'evict:idle',
        { protocol: this.protocol, remote: this.remoteAddress, idleMs },
        'client connection idle; closing it',
      );
      this.terminate('idle_timeout');
      return;
    }
    this.armIdle(idleMs - quietMs);
  }
}

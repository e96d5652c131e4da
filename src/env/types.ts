// The Env boundary: everything a protocol driver may touch of the outside world.
//
// Protocol *cores* (src/raft, src/membership, ...) see none of this: they are synchronous state
// machines fed messages, ticks and commands, with time passed in as numbers and randomness passed
// in as an Rng. *Drivers* take an Env and do the I/O. Two implementations exist:
//   real: src/node/main.ts  (wall clock, node timers, TCP transport and client listener from src/net,
//                            files from src/storage)
//   sim:  src/sim           (virtual time, seeded network and disk faults, crash/restart, skew)
// One compliance suite (test/compliance) runs against both, so code proven in the simulator is
// the code that runs in production.

import type { Mutations } from '../lib/mutations.ts';

export type NodeId = string;

/** Time as one node sees it. In the simulator each node has its own skew and drift. */
export interface Clock {
  /** Milliseconds from an arbitrary origin; never decreases on one node (use for timeouts, latency). */
  monotonicMs(): number;
  /** Milliseconds since the Unix epoch; may be skewed, drift, or step (use for HLC, NTP, display). */
  wallMs(): number;
}

export interface Timer {
  cancel(): void;
}

/**
 * The drivers' source of ticks. Cores count time in ticks (electionTimeoutTicks); a driver calls
 * core.tick() from `every(tickMs, ...)`. Delays are in this node's monotonic milliseconds.
 * Callbacks never run re-entrantly inside the call that scheduled them.
 */
export interface Timers {
  after(delayMs: number, fn: () => void): Timer;
  every(periodMs: number, fn: () => void): Timer;
}

/** Seeded randomness. Every random choice in Baristas goes through one of these. */
export interface Rng {
  /** Uniform integer in [0, n); n must be a positive safe integer. */
  int(n: number): number;
  /** Uniform float in [0, 1). */
  float(): number;
  /** n uniformly random bytes. */
  bytes(n: number): Uint8Array;
  /** A deterministic, independent stream for a sub-component (same parent seed + label = same stream). */
  fork(label: string): Rng;
}

export interface PeerMessage {
  readonly from: NodeId;
  /** Message type from src/lib/message-types.ts. */
  readonly type: number;
  readonly payload: Uint8Array;
}

/**
 * Best-effort, per-link FIFO delivery between cluster nodes (what TCP gives while a connection
 * lives; across reconnects messages may be lost). Protocols above must tolerate loss, duplication
 * (the simulator injects it) and reordering across links.
 */
export interface Transport {
  readonly self: NodeId;
  /**
   * Queue `payload` for `to`. Returns false when the message was dropped at a bound (the peer's
   * send queue is full) or the peer is unknown; the drop is counted in metrics. Never throws for a
   * down peer. The payload must not be mutated after the call, unless `copiesPayload`.
   */
  send(to: NodeId, type: number, payload: Uint8Array): boolean;
  /**
   * True when `send` has copied what it keeps of the payload by the time it returns, so the caller
   * may reuse those bytes at once (one encode buffer for every message: the Dynamo driver). A
   * wrapper states its own (a `{ ...transport, send }` that queues the payload must not inherit it).
   */
  readonly copiesPayload?: boolean;
  /**
   * Hands every queued frame to the network now, instead of at the end of the current turn. A
   * driver about to block on a synchronous fsync calls it so its frames travel meanwhile.
   * Transports that do not batch need not implement it.
   */
  flushNow?(): void;
  /** Sets the single receiver. Messages arriving before a handler is set are dropped and counted. */
  onMessage(handler: (message: PeerMessage) => void): void;
  close(): Promise<void>;
}

/**
 * A file with explicit durability. Bytes written are visible to reads at once but survive a
 * power loss only after `sync()` returns. After a power loss, unsynced writes may be lost, kept,
 * or kept in part: any subset of their sectors, in any order (a later sector may persist while an
 * earlier one does not); a sector that did not persist reads back as its old content (zeros past
 * the old end of the file). Calls are synchronous: drivers batch writes and sync once per batch
 * (group commit).
 *
 * Failures (BaristaError, codes in src/env/disk-paths.ts): `disk_io` (EIO and others) and
 * `disk_no_space` (ENOSPC) from writes; `disk_io` from reads of a bad sector (every time, not
 * once). A failed `sync()` means the bytes written since the last good sync may be gone from the
 * device and will NOT be written by a later sync (Linux marks the pages clean: "fsyncgate"), yet
 * they stay visible to reads, also to a restarted process, until the machine reboots. Callers
 * must stop using the file and restart (src/storage/wal/wal.ts says how the WAL then recovers).
 * Synced bytes may still rot (a bit flips, a sector goes bad, a write landed elsewhere): readers
 * check their own CRCs.
 */
export interface DiskFile {
  readonly path: string;
  size(): number;
  /** Reads up to `length` bytes at `offset`; returns fewer at end of file. */
  read(offset: number, length: number): Uint8Array;
  append(data: Uint8Array): void;
  writeAt(offset: number, data: Uint8Array): void;
  truncate(length: number): void;
  /** fdatasync: every byte written to this file so far becomes durable. */
  sync(): void;
  close(): void;
}

/**
 * Paths are '/'-separated and relative to the node's data directory. Directory entries (a file
 * created, renamed or removed) are durable only after `syncDir` of the parent directory.
 * Atomic replace = write temp, sync, rename, syncDir.
 */
export interface Disk {
  open(path: string, options: { create: boolean }): DiskFile;
  exists(path: string): boolean;
  /** Names (not paths) of the entries in `dir`, sorted; [] if `dir` does not exist. */
  list(dir: string): string[];
  mkdirp(dir: string): void;
  rename(from: string, to: string): void;
  remove(path: string): void;
  syncDir(dir: string): void;
}

/**
 * Why a client connection ended, as `onClose` reports it (and `client_connections_closed_total`
 * counts it, label `reason`):
 *   - `local`: this side called `close()`;
 *   - `remote`: the client closed its side (FIN); this side then ends too, after what it queued;
 *   - `reset`: the connection broke (RST, a network error, a simulated reset);
 *   - `idle_timeout`: no byte either way for `idleTimeoutMs` while nothing was in flight;
 *   - `slow_reader`: the client left more than `bufferedBytesMax` reply bytes unread (evicted);
 *   - `client_memory`: the listener's connections together held more than `memoryBytesMax`, and
 *     this one held the most (evicted, as Redis 7 evicts clients past maxmemory-clients);
 *   - `listener_closed`: the listener was closed under it (node stopping).
 * Evictions (`idle_timeout`, `slow_reader`, `client_memory`) and `listener_closed` reset the connection (the client
 * sees RST; unsent bytes are dropped). A node that crashes runs no onClose at all: its process is
 * gone (the simulator resets its clients' connections).
 */
export type ClientCloseReason =
  | 'local'
  | 'remote'
  | 'reset'
  | 'idle_timeout'
  | 'slow_reader'
  | 'client_memory'
  | 'listener_closed';

/** Why a listener refused a connection (`client_connections_refused_total{reason}`). */
export type ClientRefuseReason = 'port_full' | 'address_full' | 'listener_closed';

/**
 * The bounds of one client listener, chosen per protocol (src/lib/limits.ts holds the ceilings and
 * the defaults). Every bound is finite; "no idle timeout" is said with 'none', never Infinity.
 */
export interface ListenerBounds {
  /** Connections open at once on this listener (port); the next one is refused (`port_full`). */
  readonly connectionsMax: number;
  /** Connections open at once from one client host (IP, port ignored); then `address_full`. */
  readonly connectionsPerAddressMax: number;
  /**
   * Reply bytes written and not yet taken by the client's TCP stack. At half of it reading stops
   * (a client that does not read its replies gets no new ones); past it the connection is evicted
   * (`slow_reader`), which only output the client did not ask for one request at a time can cause
   * (pushes, watches, a huge reply).
   */
  readonly bufferedBytesMax: number;
  /**
   * Requests taken from this connection and not yet answered (`requestStarted`/`requestFinished`).
   * At the bound the listener stops reading: TCP pushes back on a pipelining client, which sees no
   * error, only waiting.
   */
  readonly inflightRequestsMax: number;
  /**
   * The memory of all this listener's connections together: what each one's protocol reports it
   * holds (`reportHeldBytes`: partial input, requests in flight, replies waiting their turn, state
   * such as a MULTI queue) plus its reply bytes buffered. Past it the connection holding the most
   * is evicted (`client_memory`), then the next, until the sum is within it (Redis 7's
   * maxmemory-clients). Each connection's own bounds cap what it can hold; this caps the port, so
   * ten thousand connections at their bounds cannot take the node's memory.
   */
  readonly memoryBytesMax: number;
  /**
   * A connection with nothing in flight and no byte in either direction for this long is closed
   * (`idle_timeout`). 'none' = never (Redis' `timeout 0`). ZooKeeper needs at least the largest
   * session timeout it negotiates.
   */
  readonly idleTimeoutMs: number | 'none';
}

export interface ListenOptions {
  /** Real: the TCP port to bind (0 = ephemeral; read `Listener.ready()`). Simulated: reported only. */
  readonly port: number;
  /** Real: the address to bind; default the node's host (127.0.0.1). Ignored by the simulator. */
  readonly host?: string;
  readonly bounds: ListenerBounds;
}

/**
 * One client connection, server side, handed once to the listener's handler. Reading starts when
 * `onData` is set (so no byte is lost to a handler that sets it late).
 *
 * Ordering and ownership: chunks arrive in stream order, with arbitrary boundaries (a request may
 * come one byte at a time, or many in one chunk: decoders accept any chunking). A chunk is valid
 * only during the call (the real side may reuse the buffer): copy what must outlive it. `write`
 * copies or takes ownership at once: the caller may reuse its buffer after the call. After close
 * (either side) no `onData` or `onDrain` call happens, `write` returns false and writes nothing,
 * and `onClose` has been called exactly once.
 *
 * Reading stops (the socket is paused, so TCP's window closes on the client) while any of these
 * holds, and resumes when none does: `inflightRequests >= inflightRequestsMax`;
 * `bufferedBytes >= bufferedBytesMax / 2` (until the client has read what was written); `pause()`
 * was called and not yet `resume()`d; `onData` is not set yet. A chunk being delivered is delivered whole: a session
 * handler whose decoder still holds complete requests when the in-flight bound is reached keeps
 * them (at most one chunk) and dispatches them as requests finish.
 */
export interface ClientConnection {
  /** Unique among this listener's connections (for logs and maps), not across restarts. */
  readonly id: number;
  readonly protocol: string;
  /** The client's `host:port` (IPv6 hosts in brackets). */
  readonly remoteAddress: string;
  readonly bounds: ListenerBounds;
  onData(handler: (chunk: Uint8Array) => void): void;
  /** Called once `bufferedBytes` has fallen back to 0 after `write` returned false. */
  onDrain(handler: () => void): void;
  onClose(handler: (reason: ClientCloseReason) => void): void;
  /**
   * Queues bytes for the client. Returns false when the caller should stop producing until
   * `onDrain` (buffered bytes are at half the bound or more) or when the connection is closed; a
   * write that takes the buffered bytes past `bufferedBytesMax` evicts the connection
   * (`slow_reader`) instead of queueing. The bytes are handed over, not copied: the caller must
   * not change them afterwards (every encoder returns a fresh array per reply).
   */
  write(bytes: Uint8Array): boolean;
  /** Bytes written and not yet taken by the client's side. */
  readonly bufferedBytes: number;
  /** A request was taken from the stream (counts toward `inflightRequestsMax`). */
  requestStarted(): void;
  /** A request taken was answered (or abandoned); may resume reading. */
  requestFinished(): void;
  readonly inflightRequests: number;
  /**
   * The memory the protocol holds for this connection now, beyond its buffered reply bytes (which
   * the listener counts itself): replaces the last report. If the listener's connections then hold
   * more than `memoryBytesMax`, the largest are evicted (`client_memory`) before this returns,
   * perhaps this one.
   */
  reportHeldBytes(bytes: number): void;
  /** What the last reportHeldBytes said (0 before any, and once closed). */
  readonly heldBytes: number;
  /** false: never chosen by the memory bound (Redis' CLIENT NO-EVICT on); true by default. */
  setEvictable(evictable: boolean): void;
  /** Holds reading (a hold of the handler's own, beside the two bounds above); idempotent. */
  pause(): void;
  resume(): void;
  readonly closed: boolean;
  /** Flushes what was written, then closes; `onClose('local')` runs before this returns. */
  close(): void;
}

export interface Listener {
  readonly protocol: string;
  /** Resolves with the bound port once listening (the simulator: at once); rejects if binding fails. */
  ready(): Promise<number>;
  /** Connections open now. */
  readonly connections: number;
  /** Refuses new connections and closes every open one (`listener_closed`); idempotent. */
  close(): Promise<void>;
}

export type Labels = Readonly<Record<string, string>>;

export interface Counter {
  inc(by?: number): void;
}
export interface Gauge {
  set(value: number): void;
  add(by: number): void;
}
export interface Histogram {
  /** Records one observation (latencies in milliseconds unless the name says otherwise). */
  observe(value: number): void;
}

/** Metric names are Prometheus-style snake_case with units last: `raft_append_latency_ms`. */
export interface Metrics {
  counter(name: string, help: string, labels?: Labels): Counter;
  gauge(name: string, help: string, labels?: Labels): Gauge;
  histogram(name: string, help: string, labels?: Labels): Histogram;
}

/** A pino-compatible subset, so the real env can hand in a pino logger directly. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface Env {
  readonly nodeId: NodeId;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly rng: Rng;
  readonly transport: Transport;
  readonly disk: Disk;
  readonly metrics: Metrics;
  readonly log: Logger;
  /**
   * Accepts client connections for `protocol` (one listener per protocol per node; a second call
   * for the same protocol is a programmer error). Counted per protocol: client_connections_open,
   * _accepted_total, _refused_total{reason}, _closed_total{reason} (evictions are the
   * `slow_reader` and `idle_timeout` reasons), client_bytes_received_total, client_bytes_sent_total,
   * client_read_pauses_total{reason}. Real: a TCP server (src/net/tcp-listener.ts). Simulated:
   * client links on the simulator's network (src/sim/client-links.ts).
   */
  listen(protocol: string, options: ListenOptions, handler: (connection: ClientConnection) => void): Listener;
  /** Planted bugs for mutation testing (src/lib/mutations.ts); always empty in a real node. */
  readonly mutations: Mutations;
}

// The Env boundary: everything a protocol driver may touch of the outside world.
//
// Protocol *cores* (src/raft, src/membership, ...) see none of this: they are synchronous state
// machines fed messages, ticks and commands, with time passed in as numbers and randomness passed
// in as an Rng. *Drivers* take an Env and do the I/O. Two implementations exist:
//   real: src/env/real.ts   (wall clock, node timers, TCP transport from src/net, files from src/storage)
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
   * down peer. The payload must not be mutated after the call.
   */
  send(to: NodeId, type: number, payload: Uint8Array): boolean;
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
  /** Planted bugs for mutation testing (src/lib/mutations.ts); always empty in a real node. */
  readonly mutations: Mutations;
}

// What the store's RESP connections share on one node: the command table, the keyspace the data
// commands run on (src/redis/keyspace.ts over the node's LsmEngine), group commit, the clients
// (CLIENT LIST, connected_clients), WATCH's key -> watchers index, and the counters behind INFO,
// /status and the metrics. Sessions (session.ts) call in here to run a command.
//
// WATCH: after a data command flagged `write` runs, every session watching one of its keys (by
// the command's key specification, routing.ts: positions or counted keys) is marked dirty, and a
// keyless write (FLUSHALL/FLUSHDB) marks every watcher, as Redis' signalModifiedKey /
// touchAllWatchedKeysInDb do; EXEC of a dirty session answers the null array.
// A write command that changed nothing (SET NX on an existing key) still marks its keys: a spurious
// abort, never a missed one (Redis marks only keys it changed).

import { Continuations } from '../../lib/continuation.ts';
import type { Counter, Env, Histogram, Logger, Metrics, NodeId } from '../../env/types.ts';
import { BaristaError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import type { CommandContext } from '../../redis/command.ts';
import type { Evictor } from '../../redis/eviction.ts';
import type { Keyspace } from '../../redis/keyspace.ts';
import { type RespProtocol, type RespText, type RespValue, reply } from '../../wire/resp/index.ts';
import { type CommandEntry, type CommandTable, type Later, latin1 } from './command-entry.ts';
import type { StoreConfig } from './config.ts';
import type { GroupCommit } from './group-commit.ts';
import type { BlockedClients } from './blocking.ts';
import type { PubSubHub } from './pubsub.ts';
import { commandKeys } from './routing.ts';
import type { ConsistencyLevel, ReplicatedCommands } from './replicated.ts';
import type { ClusterView } from './cluster-topology.ts';
import type { KeySpec, Route } from './routing.ts';
import type { RespSession } from './session.ts';

/** The keyspace operations the server itself needs beyond running commands. */
export interface KeyspaceOps {
  readonly keyspace: Keyspace;
  /** Applies the command's writes as one batch (A's endCommand). */
  endCommand(): void;
  /** Drops the command's writes (run threw). */
  abortCommand(): void;
  /** INFO's keyspace line: keys and keys with an expiry (Keyspace.infoCounts). */
  counts(nowMs: number): { readonly keys: number; readonly expires: number };
}

export interface StoreServerOptions {
  readonly env: Env;
  readonly nodeId: NodeId;
  readonly config: StoreConfig;
  readonly table: CommandTable;
  readonly keyspace: KeyspaceOps;
  readonly groupCommit: GroupCommit;
  readonly metrics: Metrics;
  /** The resp port, for INFO and CLIENT LIST. */
  port(): number;
  /** Where a command runs on a cluster (absent: always here). */
  route?(spec: KeySpec, argv: readonly Uint8Array[]): Route;
  /** Runs a command on another node (absent: never asked, since route says local). */
  forward?(to: NodeId, argv: readonly Uint8Array[], protocol: RespProtocol, done: (value: RespValue) => void): void;
  /** Commands over N > 1 replicas (replicated.ts); absent at N = 1. */
  readonly replicated?: ReplicatedCommands;
  /** The default consistency level of a new connection (store.consistency). */
  readonly consistency?: ConsistencyLevel;
  /**
   * Why this node serves no data (its keyspace settings differ: keyspace-settings.ts), answered
   * as -CLUSTERDOWN to every command that reads or writes keys; undefined while it serves.
   */
  refusal?(): string | undefined;
  /** The key's preference list and pending replicas (BARISTA WHERE). */
  where?(key: Uint8Array): { replicas: readonly string[]; pending: readonly string[] } | undefined;
  /**
   * The slot map's inputs when this node is part of a multi-node ring (CLUSTER SLOTS ...; INFO
   * cluster_enabled:1); undefined when standalone (no peers) or before the ring is known.
   */
  cluster?(): ClusterView | undefined;
  /** Pub/Sub's channel and pattern indexes and its cluster fan-out (pubsub.ts). */
  readonly pubsub: PubSubHub;
  /** Connections blocked in BLPOP and friends (blocking.ts): told of every keyed write. */
  readonly blocking: BlockedClients;
  /** Where a refused command is logged (at a bounded rate). */
  readonly log?: Logger;
  /** maxmemory and its eviction at N = 1 (src/redis/eviction.ts); absent at N > 1. */
  readonly evictor?: Evictor;
  /** Keys the active expiry sweep deleted (INFO expired_keys). */
  expiredKeys?(): number;
  /** Engine stats for INFO memory/persistence and /status. */
  engineStats(): { readonly lastSeq: number; readonly durableSeq: number; readonly memoryBytes: number };
}

/** Redis' shared.oomerr. */
export const OOM_MESSAGE = "OOM command not allowed when used memory > 'maxmemory'.";
const OOM = reply.error(OOM_MESSAGE);
const OOM_LOG_INTERVAL_MS = 10_000;

export class StoreServer {
  readonly env: Env;
  readonly config: StoreConfig;
  readonly table: CommandTable;
  readonly groupCommit: GroupCommit;
  readonly sessions = new Map<number, RespSession>();
  readonly startedMs: number;
  /** Run id for INFO (40 hex chars, per start), as Redis' run_id. */
  readonly runId: string;
  private nextClientId = 1;
  private readonly watchers = new Map<string, Set<RespSession>>();
  readonly stats = {
    connectionsReceived: 0,
    commandsProcessed: 0,
    protocolErrors: 0,
    errorReplies: 0,
    /** Connections evicted past the listener's memory bound (INFO evicted_clients). */
    evictedClients: 0,
    /** Error replies by their first word (ERR, WRONGTYPE, NOAUTH, ...), bounded. */
    errorsByKind: new Map<string, number>(),
  };
  private readonly m: {
    readonly commands: Map<string, Counter>;
    readonly errors: Map<string, Counter>;
    readonly latency: Histogram;
    readonly protocolErrors: Counter;
    readonly secondAnswers: Counter;
  };
  /** A command that throws a ProtocolError is answered as internal (src/lib/continuation.ts). */
  readonly continuations: Continuations;

  constructor(private readonly o: StoreServerOptions) {
    this.env = o.env;
    this.config = o.config;
    this.table = o.table;
    this.groupCommit = o.groupCommit;
    this.startedMs = o.env.clock.monotonicMs();
    this.continuations = new Continuations(o.metrics, o.env.log, o.env.clock, 'store');
    let hex = '';
    for (const b of o.env.rng.fork('store-run-id').bytes(20)) hex += b.toString(16).padStart(2, '0');
    this.runId = hex;
    this.m = {
      commands: new Map(),
      errors: new Map(),
      latency: o.metrics.histogram('store_command_latency_ms', 'Time to run one RESP command (sync wait excluded)'),
      protocolErrors: o.metrics.counter(
        'store_protocol_errors_total',
        'RESP connections closed on a protocol error (answered as Redis does, then closed)',
      ),
      secondAnswers: o.metrics.counter(
        'store_second_answers_total',
        'Second answers to one command, dropped (a bug: a continuation answered, then threw; continuation.ts)',
      ),
    };
  }

  get blocking(): BlockedClients {
    return this.o.blocking;
  }

  get pubsub(): PubSubHub {
    return this.o.pubsub;
  }

  get nodeId(): NodeId {
    return this.o.nodeId;
  }

  get port(): number {
    return this.o.port();
  }

  get keyspaceOps(): KeyspaceOps {
    return this.o.keyspace;
  }

  engineStats(): { readonly lastSeq: number; readonly durableSeq: number; readonly memoryBytes: number } {
    return this.o.engineStats();
  }

  get evictor(): Evictor | undefined {
    return this.o.evictor;
  }

  get expiredKeys(): number {
    return this.o.expiredKeys?.() ?? 0;
  }

  /**
   * Redis' maxmemory step of processCommand, before a command runs here: when the data set is
   * over maxmemory, evict (eviction.ts); when that fails, a command flagged `denyoom` (an EXEC
   * whose queue holds one; any command queued inside MULTI) is refused with -OOM. Undefined: run it.
   */
  oomReply(name: string, flags: readonly string[], session?: RespSession): RespValue | undefined {
    const evictor = this.o.evictor;
    if (evictor === undefined || evictor.settings.maxmemory === 0) return undefined;
    if (evictor.performEvictions(Math.floor(this.env.clock.wallMs())) !== 'fail') return undefined;
    const multi = session?.multi;
    const denyoom =
      flags.includes('denyoom') ||
      (name === 'exec' &&
        multi !== null &&
        multi !== undefined &&
        multi.queue.some((q) => q.entry.spec.flags.includes('denyoom'))) ||
      (multi !== null && multi !== undefined && !['exec', 'discard', 'quit', 'reset'].includes(name));
    if (!denyoom) return undefined;
    this.logOom();
    return OOM;
  }

  private lastOomLogMs = -Infinity;

  /** At most one log line per OOM_LOG_INTERVAL_MS (the replies are counted as errors). */
  private logOom(): void {
    const now = this.env.clock.monotonicMs();
    if (now - this.lastOomLogMs < OOM_LOG_INTERVAL_MS) return;
    this.lastOomLogMs = now;
    const ev = this.o.evictor!;
    this.o.log?.warn(
      { datasetBytes: ev.datasetBytes, maxmemory: ev.settings.maxmemory, policy: ev.settings.policy },
      'store: a command was refused with -OOM (the data set is over maxmemory and nothing could be evicted)',
    );
  }

  newClientId(): number {
    this.stats.connectionsReceived++;
    return this.nextClientId++;
  }

  /** Runs a command that passed lookup, arity and auth (also each command of an EXEC). */
  run(session: RespSession, entry: CommandEntry, argv: readonly Uint8Array[]): RespValue | Later {
    this.stats.commandsProcessed++;
    if (entry.kind === 'server') return entry.spec.run(session, argv);
    return this.runData(entry, argv);
  }

  get replicated(): ReplicatedCommands | undefined {
    return this.o.replicated;
  }

  /** Why this node serves no data, if it does not (StoreServerOptions.refusal). */
  get refusal(): string | undefined {
    return this.o.refusal?.();
  }

  get defaultConsistency(): ConsistencyLevel {
    return this.o.consistency ?? 'QUORUM';
  }

  /** The cluster view (cluster-topology.ts), or undefined when this node is a standalone Redis. */
  cluster(): ClusterView | undefined {
    return this.o.cluster?.();
  }

  where(key: Uint8Array): { replicas: readonly string[]; pending: readonly string[] } | undefined {
    return this.o.where?.(key);
  }

  /** Where a command runs (routing.ts): here, on its keys' owner, or nowhere (CROSSSLOT). */
  route(entry: CommandEntry, argv: readonly Uint8Array[]): Route {
    return this.o.route?.(entry.spec, argv) ?? { kind: 'local' };
  }

  /**
   * Sends a command to its keys' owner (forward.ts); `done` gets the reply the owner encoded for a
   * client of `protocol` (the shapes differ beyond encoding: ZRANGE WITHSCORES' pairs).
   */
  forward(to: NodeId, argv: readonly Uint8Array[], protocol: RespProtocol, done: (value: RespValue) => void): void {
    const forward = this.o.forward;
    if (forward === undefined) return done(reply.error('ERR forwarding is not configured'));
    forward(to, argv, protocol, done);
  }

  /** A data command (src/redis) on this node's keyspace, for a client here or a forwarding peer. */
  runData(entry: CommandEntry & { kind: 'data' }, argv: readonly Uint8Array[]): RespValue {
    const ops = this.o.keyspace;
    const ctx: CommandContext = {
      keyspace: ops.keyspace,
      nowMs: Math.floor(this.env.clock.wallMs()),
      rng: this.env.rng,
    };
    const access = ops.keyspace.access;
    if (access !== undefined) access.nowMs = ctx.nowMs;
    let value: RespValue;
    try {
      value = entry.spec.run(ctx, argv);
      ops.endCommand();
    } catch (error) {
      ops.abortCommand();
      // A bound (definite: nothing applied) or a failed engine (poisoned: every later write fails
      // too, and the node's disk failure handling takes over). A bug is not ours to hide.
      if (!(error instanceof BaristaError)) throw error;
      return reply.error(`ERR ${error.code}: ${error.message}`);
    }
    if (entry.spec.flags.includes('write')) {
      // A keyless write (FLUSHALL, FLUSHDB) may change any key; LMPOP / ZMPOP count their keys.
      if (entry.spec.firstKey <= 0 && !entry.spec.flags.includes('movablekeys')) this.touchAll();
      else {
        const keys = commandKeys(entry.spec, argv);
        this.touchKeys(keys);
        this.o.blocking.signal(keys);
      }
    }
    return value;
  }

  // ---- WATCH ----

  watch(session: RespSession, key: Uint8Array): boolean {
    // A key longer than the engine stores never exists, so no write can touch it: nothing to keep.
    if (key.length > limits.lsmKeyBytesMax) return true;
    const k = latin1(key);
    if (session.watched.has(k)) return true;
    if (session.watched.size >= limits.storeWatchedKeysCountMax) return false;
    if (session.watchedBytes + key.length > limits.storeWatchedKeysBytesMax) return false;
    session.watched.add(k);
    session.watchedBytes += key.length;
    let set = this.watchers.get(k);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(k, set);
    }
    set.add(session);
    return true;
  }

  unwatchAll(session: RespSession): void {
    for (const k of session.watched) {
      const set = this.watchers.get(k);
      set?.delete(session);
      if (set?.size === 0) this.watchers.delete(k);
    }
    session.watched.clear();
    session.watchedBytes = 0;
    session.watchDirty = false;
    session.watchedRegister = undefined;
  }

  touchKeys(keys: readonly Uint8Array[]): void {
    if (this.watchers.size === 0) return;
    for (const key of keys) {
      const set = this.watchers.get(latin1(key));
      if (set !== undefined) for (const s of set) s.watchDirty = true;
    }
  }

  touchAll(): void {
    for (const set of this.watchers.values()) for (const s of set) s.watchDirty = true;
  }

  /** Redis' isWatchedKeyExpired: not tracked here (expiry is lazy in the keyspace); see the header. */
  watchedKeyExpired(_session: RespSession): boolean {
    return false;
  }

  /** Whether a MULTI queue of this size stays within its bounds. */
  admitsQueued(count: number, bytes: number): boolean {
    return count <= limits.storeMultiQueuedCountMax && bytes <= limits.storeMultiQueuedBytesMax;
  }

  // ---- counters ----

  countCommand(name: string | undefined): void {
    const label = name ?? 'unknown';
    let c = this.m.commands.get(label);
    if (c === undefined) {
      c = this.o.metrics.counter('store_commands_total', 'RESP commands received, by name (unknown: not offered)', {
        command: label,
      });
      this.m.commands.set(label, c);
    }
    c.inc();
  }

  countError(message: RespText): void {
    this.stats.errorReplies++;
    const text = typeof message === 'string' ? message : latin1(message);
    const space = text.indexOf(' ');
    let kind = space < 0 ? text : text.slice(0, space);
    const known = this.stats.errorsByKind;
    if (!known.has(kind) && known.size >= limits.storeErrorKindsCountMax) kind = 'other';
    known.set(kind, (known.get(kind) ?? 0) + 1);
    let c = this.m.errors.get(kind);
    if (c === undefined) {
      c = this.o.metrics.counter('store_error_replies_total', 'Error replies sent, by kind (first word)', { kind });
      this.m.errors.set(kind, c);
    }
    c.inc();
  }

  /** A command answered twice: the second answer is dropped (session.ts serve). */
  countSecondAnswer(): void {
    this.m.secondAnswers.inc();
  }

  countProtocolError(): void {
    this.stats.protocolErrors++;
    this.m.protocolErrors.inc();
  }

  observeLatency(ms: number): void {
    this.m.latency.observe(ms);
  }
}

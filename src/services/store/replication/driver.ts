// ReplicaNode: runs the pure Dynamo replica (src/dynamo/replica.ts) on a real node — its peer
// messages over the node's transport, its ticks from the Env's timers, its liveness view from the
// membership service's failure detector, its ring from config, its write timestamps from a hybrid
// logical clock — and gives the RESP layer an async API: get / put / delete of one key at a
// consistency level, answered with the key's siblings and causal context.
//
// The driver contract of replica.ts, kept in `process` (ORDER MATTERS): when a step's Output says
// `syncNeeded`, store.sync() runs BEFORE any of its messages is handed to the transport and before
// any of its replies resolves a caller. So a write acknowledged to a client or shipped to a peer is
// durable here first, and a restarted node never reuses a dot counter it has shown to anyone.
// Group commit: such an output (and every output after it in the same event-loop turn) is held
// until the turn ends, then one sync covers them all and they leave in order.
// That is sync `always` (the default). Under `periodic` (store.sync: a timer syncs every interval)
// and `none` outputs leave at once and a crash may lose writes this node acknowledged or shipped,
// as Cassandra's periodic commit log does. What keeps that safe for the versions is the actor id:
// each life writes its dots under its own replica id (actorIdFor: node id # incarnation, the
// incarnation bumped and synced at every start), so a restarted node never hands out a dot counter
// a peer already holds for a different write (which would silently merge two writes into one).
// A ring move's page is still acknowledged only after its sync. Paxos (SERIAL) syncs its own
// promises and accepts whatever the policy.
// (The mutation 'dynamo-send-before-sync' plants the opposite order: it sends and answers at once
// and syncs at the next tick; driver-sim.test.ts shows a crash then loses an acknowledged write.)
//
// Ring: the one given (the store's RingKeeper: the ring namespace of the metadata group), kept
// current by setRing on each change the node applies; without one, built from config exactly as
// RingKeeper bootstraps it (initialRing: every node of the cluster, this one and ctx.peers, with
// `tokensPerNode` tokens each from a generator seeded by its id, in id order), so every node
// computes the same ring without talking. An empty ring (version 0, not bootstrapped yet) answers
// every request replicas_unavailable. A ring move (join, decommission) reaches the replica through
// setRing like any change: its moving node streams (src/dynamo/move.ts) after `ringDelayMs`, and
// the store's RingMover (ring-mover.ts) proposes completeMove once moveProgress() says done.
//
// Liveness: a peer is up while the failure detector calls it `alive` (suspect, dead and never
// heard of are down: the replica stores a hint for it instead of waiting). The view is read once
// per step (request, message, tick) so one step sees one consistent view.
//
// Timestamps: the coordinator's HLC stamps each write (siblings' order for `chosen`). A write
// orders after every sibling of the key this node holds, whatever the clocks say: before stamping,
// the siblings' timestamps are taken into the HLC (HLC receive), and a sibling more than
// hlcMaxDriftMs ahead of our clock (not taken in, so one runaway clock does not drag ours:
// dynamo_hlc_drift_total) is passed by the write's timestamp alone (its successor). So a SET after
// a GET of a value at a node whose clock is behind still shows as the newer value.
//
// Bounds: requests in flight at most the replica's opsCountMax (more: limit_exceeded, definite);
// a put whose value would bring the key's local state over dynamoStateBytesMax is refused
// (limit_exceeded, definite); an outgoing message over dynamoMessageBytesMax is dropped and counted
// (its op then times out: indefinite for writes); an incoming one over it is rejected by the router
// as a ProtocolError (dynamo_malformed), as is a hint for an owner that is not a ring node.
//
// Errors the API rejects with (BaristaError, stable codes of src/lib/error-codes.ts):
//   replicas_unavailable  definite: fewer live replicas than the level needs; nothing written
//   timeout               writes indefinite (the local write happened, maybe others), reads definite
//   limit_exceeded        definite: a bound above
//   key_too_large, value_too_large, bad_request  definite: the request itself
//   stopped               definite for requests refused after stop(); requests in flight at stop()
//                         are rejected with `timeout` (writes indefinite)

import type { Mutations } from '../../../lib/mutations.ts';
import type { Counter, Env, Gauge, Histogram, Logger, Metrics, NodeId, Rng, Timer } from '../../../env/types.ts';
import { assert } from '../../../lib/assert.ts';
import {
  compareHlc,
  HLC_LOGICAL_MAX,
  HLC_WALL_MS_MAX,
  HlcDriftError,
  type HlcTimestamp,
  HybridLogicalClock,
} from '../../../lib/clocks/hlc.ts';
import type { VectorClock } from '../../../lib/clocks/vector.ts';
import { BaristaError, LimitError, ProtocolError } from '../../../lib/errors.ts';
import { limits } from '../../../lib/limits.ts';
import { ByteWriter, utf8ByteLength } from '../../../lib/bytes.ts';
import { murmur3X64_128Into } from '../../../dynamo/partitioner.ts';
import { MessageType } from '../../../lib/message-types.ts';
import type { MessageHandler } from '../../../lib/router.ts';
import type { MembershipView } from '../../../node/service.ts';
import {
  type ClientRequest,
  type ClientResult,
  type CollectionView,
  decodeMessage,
  encodeMessage,
  type Level,
} from '../../../dynamo/messages.ts';
import type { MoveProgress, MoveStats } from '../../../dynamo/move.ts';
import { repairMarked, storedCollectionCount } from '../../../dynamo/collection-store.ts';
import {
  DynamoReplica,
  levelCount,
  type Output,
  type ReplicaStats,
  type StoredState,
} from '../../../dynamo/replica.ts';
import type { Ring } from '../../../dynamo/ring.ts';
import type { PaxosOperation, PaxosOutcome, PaxosStore } from '../../../dynamo/paxos.ts';
import { type ReplicaStore, type TokenPage, tokenPage, type ValuePage } from '../../../dynamo/store.ts';
import type { TypedOp } from '../../../dynamo/typed.ts';
import { SerialCoordinator } from './serial.ts';
import { initialRing } from '../ring-keeper.ts';
import { emptyContext, type Sibling, Versioned } from '../../../dynamo/versions.ts';
import { Continuations } from '../../../lib/continuation.ts';

/**
 * Keys one replica step may tell onKeyWritten of after merging peers' writes (a ring move's page
 * merges many): past it the step's other keys wake nobody, and their waiters find the push at
 * their poll (blocking-replicated.ts POLL_REPLICA_MS).
 */
const MERGED_KEYS_TOLD_COUNT_MAX = 4096;
export interface ReplicaNodeConfig {
  /** N: replicas of each key. */
  readonly replicas: number;
  /** Virtual nodes per node on the ring. */
  readonly tokensPerNode: number;
  /** The replica's tick (timeouts and hint replay are counted in ticks of this length). */
  readonly tickMs: number;
  /** A request fails after this long without its answers (rounded up to whole ticks). */
  readonly requestTimeoutMs: number;
  /** Stored hints whose owner is up are replayed this often (rounded up to whole ticks). */
  readonly hintReplayIntervalMs: number;
  /**
   * A replica sent a write that has not acknowledged it by the request timeout gets a hint kept at
   * the coordinator, as Cassandra hints a replica that timed out (true); false: only replicas the
   * failure detector calls down get hints, and a write lost on a partition not yet detected waits
   * for read repair or anti-entropy.
   */
  readonly timeoutHints: boolean;
  /** A sibling's HLC further ahead of our clock than this is not taken into ours. */
  readonly hlcMaxDriftMs: number;
  /** Client requests (and forwarded ones) in flight at this node; more are refused (limit_exceeded). */
  readonly inflightRequestsMax: number;
  /** This node starts an anti-entropy round with the next peer this often (0: only BARISTA REPAIR). */
  readonly antiEntropyIntervalMs: number;
  /** Depth of the anti-entropy Merkle trees: 2^depth leaves over the ring. */
  readonly antiEntropyDepth: number;
  /** The share of the event loop anti-entropy's walks may take (ReplicaConfig.antiEntropyLoopShare). */
  readonly antiEntropyLoopShare: number;
  /**
   * A ring move's streams start this long after the moving node sees it begin (Cassandra's
   * RING_DELAY): writes coordinated on the ring from before the move finish first (move.ts).
   */
  readonly ringDelayMs: number;
  /**
   * The share of reads (0..1) that ask every live replica, so read repair reaches all of them
   * (Cassandra's read_repair_chance); the others ask only R - 1 peers, and the rest after half the
   * request timeout if still short. Anti-entropy repairs what reads do not.
   */
  readonly readRepairChance: number;
  /**
   * A key whose every sibling is a tombstone (or past its deadline) for longer than this is deleted
   * (Cassandra's gc_grace_seconds, 10 days by default there); 0: never. It must outlast anti-entropy
   * rounds and any outage: a replica that missed a delete and returns after it brings the value back.
   */
  readonly tombstoneGraceMs: number;
  /**
   * How sets and hashes are kept (src/dynamo/replica-rows.ts): 'whole' (one CRDT value per key,
   * read and shipped whole by every command) or 'rows' (one row per element; a command touches
   * only the elements it names). Alike on every node; not switched on a store holding collections.
   */
  readonly collections: 'whole' | 'rows';
}

export const defaultReplicaNodeConfig: ReplicaNodeConfig = {
  replicas: 3,
  tokensPerNode: 16,
  tickMs: 50,
  requestTimeoutMs: 2_000,
  hintReplayIntervalMs: 1_000,
  timeoutHints: true,
  hlcMaxDriftMs: 10_000,
  inflightRequestsMax: limits.dynamoCoordinatorOpsMax,
  antiEntropyIntervalMs: 60_000,
  antiEntropyDepth: 10,
  antiEntropyLoopShare: 0.05,
  ringDelayMs: 5_000,
  readRepairChance: 0.1,
  tombstoneGraceMs: 864_000_000,
  collections: 'whole',
};

/** What the driver needs of its node: a ServiceContext provides each piece (see docs/ARCHITECTURE.md). */
export interface ReplicaNodeComponents {
  /** clock, timers, rng, transport, disk are used; metrics and log default to the Env's. */
  readonly env: Env;
  /** Registers the DynamoReplica message type (ctx.router). */
  readonly router: { register(types: readonly number[], handler: MessageHandler): void };
  /** The other nodes of the cluster (ctx.peers): with this node, the ring's nodes. */
  readonly peers: readonly NodeId[];
  /** The failure detector's view (ctx.membership()). */
  readonly membership: Pick<MembershipView, 'view' | 'statusVersion'>;
  readonly store: ReplicaStore;
  /** The Paxos acceptor's store (LsmReplicaStore.paxos): SERIAL operations run only when given. */
  readonly paxos?: PaxosStore;
  /** The store lost its data once: the acceptor learns each key before answering for it (serial.ts). */
  readonly paxosAmnesiac?: boolean;
  /** The ring to start with (RingKeeper.ring); default: initialRing of self + peers. */
  readonly ring?: Ring;
  readonly metrics?: Metrics;
  readonly log?: Logger;
  /**
   * When the replica's writes reach disk (store.sync): `always` (default) before any message or
   * reply of the step that made them leaves (group commit per turn); `periodic` every intervalMs;
   * `none` when the engine's buffers fill. Under the last two an acknowledged write can be lost in
   * a crash, so `actorId` must be this life's own (see the header).
   */
  readonly sync?: { readonly policy: 'always' | 'periodic' | 'none'; readonly intervalMs: number };
  /** The replica id of this life's writes (required unless sync is `always`). */
  readonly actorId?: string;
  /**
   * Starts closed, for this reason, until open(): the node has not yet checked its settings
   * against the keyspace's (src/services/store/keyspace-settings.ts). A closed replica answers
   * nothing and starts nothing: peers' messages are dropped (counted), ticks do no work, and
   * client requests answer replicas_unavailable, so no write is acknowledged by a node that
   * may keep it in another layout or under another N.
   */
  readonly closed?: string;
}

/** The replica id of one life of a node: `id#incarnation` ('#' is not allowed in node ids), hashed when too long. */
export function actorIdFor(nodeId: NodeId, incarnation: number): string {
  assert(Number.isSafeInteger(incarnation) && incarnation >= 1, 'incarnation');
  const suffix = `#${incarnation.toString(36)}`;
  if (utf8ByteLength(nodeId) + suffix.length <= limits.nodeIdBytesMax) return `${nodeId}${suffix}`;
  const digest = new Uint8Array(16);
  murmur3X64_128Into(new TextEncoder().encode(nodeId), digest, 0);
  return `h${Buffer.from(digest.subarray(0, 8)).toString('hex')}${suffix}`;
}

/** A key's state as the API returns it. */
export interface KeyState {
  /** Concurrent writes, tombstones (value null) included; empty when the key was never written. */
  readonly siblings: readonly Sibling[];
  /** The causal context to write back with (covers every sibling). */
  readonly context: VectorClock;
  /** The sibling a single-valued read shows (Versioned.chosen: the newest, unless an emptied collection hides a concurrent add), if any. */
  readonly chosen: Sibling | undefined;
  /** The whole state (counters read it: src/dynamo/counter.ts). */
  readonly versioned: Versioned;
  /** A rows request's view of the collection (the rows layout), when the key keeps one. */
  readonly collection?: CollectionView;
}

export type ReplicaOpKind = 'get' | 'rows' | 'put' | 'delete' | 'typed';

/** A request for the callback API (the simulator's workloads use it: no promise turns). */
export type ReplicaRequest =
  | { readonly kind: 'get'; readonly key: Uint8Array; readonly level: Level }
  /** The key's state and, in the rows layout, its collection's rows (messages.ts ClientRequest 'rows'). */
  | Extract<ClientRequest, { kind: 'rows' }>
  /** A typed operation (src/dynamo/typed.ts: INCRBY, SADD, SREM), coordinated at a replica. */
  | { readonly kind: 'typed'; readonly key: Uint8Array; readonly op: TypedOp; readonly level: Level }
  | {
      readonly kind: 'put' | 'delete';
      readonly key: Uint8Array;
      /** Ignored for a delete. */
      readonly value?: Uint8Array;
      readonly level: Level;
      readonly context?: VectorClock;
      /**
       * A last-write-wins write: it supersedes what its coordinating replica holds, so no read
       * precedes it (messages.ts ClientRequest.overHeld).
       */
      readonly overHeld?: boolean;
      /**
       * With overHeld: a siblings keyspace's SET, checked at the replicas that count for its level
       * instead of read first (messages.ts ClientRequest.checked).
       */
      readonly checked?: boolean;
      /** A put's absolute deadline (wall ms) from which its value reads as deleted. */
      readonly expiresAtMs?: number;
    };

export type ReplicaOutcome =
  | { readonly ok: true; readonly state: KeyState }
  | { readonly ok: false; readonly error: BaristaError };

interface Pending {
  readonly kind: ReplicaOpKind;
  readonly level: Level;
  readonly startedMs: number;
  readonly done: (outcome: ReplicaOutcome) => void;
}

/** The ring every node builds alike from the cluster's node ids (RingKeeper's bootstrap ring). */
export function configuredRing(nodes: readonly NodeId[], tokensPerNode: number): Ring {
  return initialRing([...new Set(nodes)], tokensPerNode);
}

const STAT_HELP: Record<keyof ReplicaStats, string> = {
  writesAcked: 'Writes this node coordinated that reached their level',
  readsAnswered: 'Reads this node coordinated that reached their level',
  writeTimeouts: 'Writes (and forwarded writes) that timed out',
  readTimeouts: 'Reads (and forwarded reads) that timed out',
  unavailable: 'Requests refused: fewer live replicas than the level needs',
  forwarded: 'Requests forwarded to a replica of the key',
  readRepairs: 'Replicas sent the merged state after a read (read repair)',
  recentJoins:
    'Reads of every row answered after joining the rows the replicas read changed last (their rows the same elsewhere), none read whole',
  hintsSent: 'Hints sent to a fallback node for a down replica',
  hintsStored: 'Hints stored here (merged into a held one or new)',
  hintsRefused: 'Hints refused at dynamoHintsCountMax',
  hintReplays: 'Hint replays sent to their owner',
  hintsDelivered: 'Hints deleted after their owner acknowledged the replay',
  hintsOnTimeout: 'Hints kept for a replica that did not acknowledge a write it was sent by its deadline',
  hintsCancelled: 'Hints kept at a deadline and dropped when the replica acknowledged the write after all',
  unackedUntracked:
    'Answered writes not kept for their late acknowledgements (dynamoUnackedWritesCountMax or dynamoUnackedStateBytesMax)',
  staleMessages: 'Peer messages for ops no longer tracked',
  mergesRefused: 'Replicated states refused at a bound (not acknowledged)',
  checkedRedone:
    'Checked writes (a siblings keyspace SET) made once more: a replica held a sibling the first did not supersede',
  forwardsDuplicated: 'Forwarded requests dropped as copies of one taken in already (a duplicated frame)',
  emptiedUnseen:
    'Emptied collection markers written without the dots their coordinator had seen (past the CRDT bounds): an add concurrent with the emptying reads as absent',
  antiEntropyRounds: 'Anti-entropy rounds this node started (tree built and sent to a peer)',
  antiEntropyInSync: 'Anti-entropy rounds whose peer held the same data',
  antiEntropyLeavesDiffered: 'Merkle leaves found differing by rounds this node started',
  antiEntropyValuesStreamed: 'Values this node streamed to a peer for anti-entropy',
  antiEntropyRoundsFailed: 'Anti-entropy rounds that ended without an answer (peer busy, down, or lost)',
  antiEntropyRequestsResent: "Anti-entropy tree requests sent again after a request timeout without the peer's answer",
  antiEntropyRefused: 'Anti-entropy requests from peers refused at dynamoAntiEntropyJobsCountMax',
  speculativeReads: 'Reads sent to a replica a read first left out (it was still short of R answers)',
  endReadRounds:
    "Rounds a list's head or tail read read on past rows removed here meanwhile (each asks twice as many rows)",
  tombstonesCollected: 'Keys deleted by tombstone garbage collection (every sibling dead past tombstoneGraceMs)',
  cleanupDropped: 'Keys a cleanup pass deleted (this node no longer replicates them)',
  cleanupPasses: 'Cleanup passes completed (BARISTA CLEANUP)',
  cleanupAborted: 'Cleanup passes stopped because the ring changed under them',
  rowPulls: "Pulls of a peer's collection rows started after anti-entropy offered them (the rows layout)",
  rowPullsSkipped: 'Row offers not pulled: a pull from that peer in progress, or dynamoRowPullsCountMax reached',
};

const MOVE_STAT_HELP: { readonly [K in keyof MoveStats]: string } = {
  pagesServed: 'Ring move pages this node read for a peer (served or pushed)',
  entriesServed: 'Stored values this node put in ring move pages',
  pagesMerged: 'Ring move pages this node received and merged',
  entriesMerged: 'Values merged from ring move pages',
  entriesSkipped: 'Values in ring move pages for keys this node does not replicate (not merged)',
  entriesRefused: 'Values in ring move pages a bound refused',
  retries: 'Ring move fetches and pages sent again after a timeout',
  ignored: 'Ring move messages from nodes off the ring or for nothing in flight',
};

/** The stat names, listed once (mirrorStats runs at every tick and at stop). */
const STAT_KEYS = Object.keys(STAT_HELP) as (keyof ReplicaStats)[];
const MOVE_STAT_KEYS = Object.keys(MOVE_STAT_HELP) as (keyof MoveStats)[];

const carriesMove = (out: Output): boolean =>
  out.messages.some(
    (m) => m.message.type === 'movePage' || m.message.type === 'movePageAck' || m.message.type === 'moveFetch',
  );

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Rows sampleRows reads from the store at a time. */
const SAMPLE_PAGE_ROWS = 256;

export class ReplicaNode {
  readonly replica: DynamoReplica;
  /**
   * Told the key of every write a peer sends this replica, `coordinated` when this node coordinates
   * it (a forwarded write) (blocking-replicated.ts wakes its waiters).
   */
  onKeyWritten: ((key: Uint8Array, coordinated: boolean) => void) | undefined;
  /** Keys the replica's current step merged a peer's write into (replica.onMerged), told after it. */
  private mergedKeys: Uint8Array[] = [];
  /** Told the register of every SERIAL commit this node's acceptor takes (blocking-replicated.ts). */
  onRegisterCommitted: ((register: Uint8Array) => void) | undefined;
  private ring_: Ring;
  private readonly env: Env;
  private readonly store: ReplicaStore;
  private readonly membership: Pick<MembershipView, 'view' | 'statusVersion'>;
  /** The membership statusVersion `up` was built at (-1: not built yet). */
  private upVersion = -1;
  private readonly hlc: HybridLogicalClock;
  private ringNodes: ReadonlySet<NodeId>;
  private readonly pending = new Map<number, Pending>();
  /** emit's encode buffer, reused message after message (Transport.copiesPayload). */
  private readonly encodeBuffer = ByteWriter.reusable();
  private nextRequest = 1;
  private up = new Set<NodeId>();
  private stopped = false;
  private readonly timer;
  /** store.sync's policy (components.sync) and its timer under `periodic`. */
  private readonly syncPolicy: 'always' | 'periodic' | 'none';
  private readonly syncTimer: Timer | undefined;
  /** 'dynamo-send-before-sync': the sync owed by outputs already sent. */
  private syncOwed = false;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  /** Calls each request's `done`: a ProtocolError it throws is answered as internal (continuation.ts). */
  private readonly continuations: Continuations;
  private readonly opCounters = new Map<string, Counter>();
  private readonly latency: Record<ReplicaOpKind, Histogram>;
  private readonly statCounters: { readonly [K in keyof ReplicaStats]: Counter };
  private readonly statsSeen: ReplicaStats;
  private readonly moveCounters: { readonly [K in keyof MoveStats]: Counter };
  private readonly wholeViewCounters: {
    readonly reused: Counter;
    readonly patched: Counter;
    readonly decoded: Counter;
  };
  private wholeViewsSeen = { reused: 0, patched: 0, decoded: 0 };
  private readonly moveSeen: MoveStats;
  private readonly hintsHeld: Gauge;
  private readonly unackedHeld: Gauge;
  private readonly inflight: Gauge;
  private readonly oversize: Counter;
  private readonly strayHints: Counter;
  private readonly sendRefused: Counter;
  private readonly hlcDrift: Counter;
  private readonly serial_: SerialCoordinator | undefined;
  /** Outputs waiting for the end of the turn's sync (group commit), in order. */
  private readonly held: Output[] = [];
  private flushTimer: Timer | undefined;
  private readonly groupSize: Histogram;
  private closedReason: string | undefined;
  private readonly closedDrops: Counter;

  constructor(components: ReplicaNodeComponents, config: ReplicaNodeConfig = defaultReplicaNodeConfig) {
    const { env } = components;
    for (const [name, v] of Object.entries(config)) {
      if (name === 'collections') {
        assert(v === 'whole' || v === 'rows', `replication.collections must be whole or rows: ${v}`);
        continue;
      }
      if (name === 'timeoutHints') {
        assert(typeof v === 'boolean', `replication.timeoutHints must be a boolean: ${v}`);
        continue;
      }
      if (name === 'readRepairChance') {
        assert(typeof v === 'number' && v >= 0 && v <= 1, `replication.readRepairChance must be 0..1: ${v}`);
        continue;
      }
      if (name === 'antiEntropyLoopShare') {
        assert(typeof v === 'number' && v > 0 && v <= 1, `replication.antiEntropyLoopShare must be in (0, 1]: ${v}`);
        continue;
      }
      const min =
        name === 'antiEntropyIntervalMs' ||
        name === 'antiEntropyDepth' ||
        name === 'ringDelayMs' ||
        name === 'tombstoneGraceMs'
          ? 0
          : 1;
      assert(Number.isSafeInteger(v) && v >= min, `replication.${name} must be an integer >= ${min}: ${v}`);
    }
    this.env = env;
    this.store = components.store;
    // A crash between a collection change's rows and its header (collection-store.ts): rebuilt
    // from the rows before the replica serves; durable at the next sync (a crash first repairs again).
    const repaired = repairMarked(this.store);
    this.membership = components.membership;
    this.metrics = components.metrics ?? env.metrics;
    this.log = (components.log ?? env.log).child({ component: 'dynamo' });
    this.continuations = new Continuations(this.metrics, this.log, env.clock, 'dynamo');
    if (repaired.length > 0) this.log.info({ count: repaired.length }, 'dynamo: collections repaired after a crash');
    this.ring_ = components.ring ?? configuredRing([env.nodeId, ...components.peers], config.tokensPerNode);
    this.ringNodes = new Set(this.ring_.nodes.map((n) => n.id));
    this.hlc = new HybridLogicalClock({ maxDriftMs: config.hlcMaxDriftMs });
    const ticks = (ms: number) => Math.max(1, Math.ceil(ms / config.tickMs));
    this.replica = new DynamoReplica(
      {
        id: env.nodeId,
        replicas: config.replicas,
        requestTimeoutTicks: ticks(config.requestTimeoutMs),
        hintReplayIntervalTicks: ticks(config.hintReplayIntervalMs),
        timeoutHints: config.timeoutHints,
        opsCountMax: config.inflightRequestsMax,
        antiEntropyIntervalTicks: config.antiEntropyIntervalMs === 0 ? 0 : ticks(config.antiEntropyIntervalMs),
        antiEntropyDepth: config.antiEntropyDepth,
        antiEntropyLoopShare: config.antiEntropyLoopShare,
        moveDelayTicks: config.ringDelayMs === 0 ? 0 : ticks(config.ringDelayMs),
        readRepairChance: config.readRepairChance,
        tombstoneGraceMs: config.tombstoneGraceMs,
        gcIntervalTicks: ticks(60_000),
        actorId: components.actorId ?? env.nodeId,
        collections: config.collections,
        layoutDeferred: components.closed !== undefined,
      },
      {
        store: this.store,
        rng: env.rng.fork('dynamo'),
        ring: this.ring_,
        isUp: (n) => this.up.has(n),
        mutations: env.mutations,
        monotonicMs: () => env.clock.monotonicMs(),
      },
    );
    // A peer's write merged here, by any path (a hint's replay, anti-entropy and a ring move's
    // pages too): waiters on the key (blocking pops) try again, a step per rank later.
    // Told after the step's output is processed (process): a wake that runs a try at once must not
    // re-enter the replica in the middle of its step.
    if (!env.mutations.has('blocking-no-merge-wake'))
      this.replica.onMerged = (key) => {
        if (this.onKeyWritten !== undefined && this.mergedKeys.length < MERGED_KEYS_TOLD_COUNT_MAX)
          this.mergedKeys.push(key);
      };
    const m = this.metrics;
    const latency = (kind: ReplicaOpKind) =>
      m.histogram('dynamo_op_latency_ms', 'Client requests from submit to answer', { kind });
    this.latency = {
      get: latency('get'),
      rows: latency('rows'),
      put: latency('put'),
      delete: latency('delete'),
      typed: latency('typed'),
    };
    this.statCounters = Object.fromEntries(
      (Object.keys(STAT_HELP) as (keyof ReplicaStats)[]).map((k) => [
        k,
        m.counter(`dynamo_${snake(k)}_total`, STAT_HELP[k]),
      ]),
    ) as { [K in keyof ReplicaStats]: Counter };
    this.statsSeen = { ...this.replica.stats };
    this.moveCounters = Object.fromEntries(
      (Object.keys(MOVE_STAT_HELP) as (keyof MoveStats)[]).map((k) => [
        k,
        m.counter(`dynamo_move_${snake(k)}_total`, MOVE_STAT_HELP[k]),
      ]),
    ) as { [K in keyof MoveStats]: Counter };
    this.moveSeen = { ...this.replica.moveStats };
    this.wholeViewCounters = {
      reused: m.counter(
        'dynamo_whole_views_reused_total',
        'Reads of every row of a collection answered from its view kept decoded (unchanged since)',
      ),
      patched: m.counter(
        'dynamo_whole_views_patched_total',
        'Reads of every row of a collection answered from its view kept decoded, patched with the rows changed since',
      ),
      decoded: m.counter(
        'dynamo_whole_views_decoded_total',
        'Reads of every row of a collection that decoded its rows',
      ),
    };
    this.hintsHeld = m.gauge('dynamo_hints', 'Hints this node holds for down replicas');
    this.unackedHeld = m.gauge(
      'dynamo_unacked_writes',
      "Answered writes waiting for a replica's acknowledgement (a hint at their deadline if none comes)",
    );
    this.inflight = m.gauge('dynamo_requests_inflight', 'Client requests this node has in flight');
    this.oversize = m.counter(
      'dynamo_messages_oversize_total',
      'Outgoing messages over dynamoMessageBytesMax, dropped',
    );
    this.sendRefused = m.counter('dynamo_messages_send_refused_total', 'Outgoing messages the transport refused');
    this.strayHints = m.counter(
      'dynamo_hints_stray_total',
      "Hints for an owner not on this node's ring (a ring change not yet applied on both sides), dropped",
    );
    this.hlcDrift = m.counter('dynamo_hlc_drift_total', 'Sibling timestamps too far ahead to take into our HLC');
    this.groupSize = m.histogram('dynamo_group_commit_outputs', 'Replica steps released by one sync (group commit)');
    this.closedReason = components.closed;
    this.closedDrops = m.counter(
      'dynamo_messages_dropped_closed_total',
      "Peers' messages dropped while this replica was closed (its settings not yet checked)",
    );
    this.hintsHeld.set(this.store.hintCount);
    this.unackedHeld.set(this.replica.unackedWrites);
    components.router.register([MessageType.DynamoReplica], (msg) => {
      if (this.closedReason !== undefined && !this.stopped) return this.closedDrops.inc();
      this.onMessage(msg.from, msg.payload);
    });
    if (components.paxos !== undefined) {
      const serial = new SerialCoordinator(
        {
          env,
          store: components.paxos,
          locate: (key) => this.ring_.locate(key, config.replicas),
          isUp: (n) => this.up.has(n),
          isRingNode: (n) => this.ringNodes.has(n),
          metrics: this.metrics,
          log: this.log,
          amnesiac: components.paxosAmnesiac === true,
        },
        { timeoutTicks: ticks(config.requestTimeoutMs), backoffTicksMax: 4, opsMax: config.inflightRequestsMax },
      );
      this.serial_ = serial;
      serial.onCommit = (register) => this.onRegisterCommitted?.(register);
      components.router.register([MessageType.DynamoPaxos], (msg) => {
        if (this.stopped) return;
        if (this.closedReason !== undefined) return this.closedDrops.inc();
        this.refreshView();
        serial.receive(msg.from, msg.payload);
      });
    }
    this.timer = env.timers.every(config.tickMs, () => this.onTick());
    const sync = components.sync ?? { policy: 'always' as const, intervalMs: 1_000 };
    this.syncPolicy = sync.policy;
    assert(
      sync.policy === 'always' ||
        (components.actorId !== undefined && components.actorId !== env.nodeId) ||
        env.mutations.has('dynamo-actor-per-node'),
      'a replica that may lose acknowledged writes needs an actor id of its own life',
    );
    if (sync.policy === 'periodic') {
      assert(Number.isSafeInteger(sync.intervalMs) && sync.intervalMs >= 1, 'sync interval');
      this.syncTimer = env.timers.every(sync.intervalMs, () => {
        if (!this.stopped) this.store.sync();
      });
    }
    this.log.info(
      { replicas: config.replicas, nodes: this.ring_.nodes.length, ringVersion: this.ring_.version },
      'dynamo: replica started',
    );
  }

  // --- the API the RESP layer calls --------------------------------------------------------------

  get(key: Uint8Array, level: Level): Promise<KeyState> {
    return this.promise({ kind: 'get', key, level });
  }

  /** Writes `value` superseding what `context` covers (absent: a blind write, kept beside every sibling). */
  put(key: Uint8Array, value: Uint8Array, level: Level, context?: VectorClock): Promise<KeyState> {
    return this.promise({ kind: 'put', key, value, level, ...(context === undefined ? {} : { context }) });
  }

  /** A delete is a tombstone sibling superseding what `context` covers. */
  delete(key: Uint8Array, level: Level, context?: VectorClock): Promise<KeyState> {
    return this.promise({ kind: 'delete', key, level, ...(context === undefined ? {} : { context }) });
  }

  private promise(req: ReplicaRequest): Promise<KeyState> {
    return new Promise((resolve, reject) =>
      this.submit(req, (o) => {
        if (o.ok) resolve(o.state);
        else reject(o.error);
      }),
    );
  }

  /**
   * Holds coordination (client and forwarded requests, SERIAL operations answer
   * replicas_unavailable with `reason`) until released (undefined): the store holds it while its
   * ring is not known current (ring-keeper.ts). Replica duties (writes, reads, moves, repair) go on.
   */
  holdCoordination(reason: string | undefined): void {
    this.replica.coordinationHeld = reason;
  }

  /** The callback form: `done` is called exactly once, possibly before submit returns. */
  submit(req: ReplicaRequest, done: (outcome: ReplicaOutcome) => void): void {
    const refuse = (error: BaristaError) =>
      this.answer({ kind: req.kind, level: req.level, startedMs: this.nowMs(), done }, { ok: false, error });
    if (this.stopped) return refuse(new BaristaError('stopped', 'the replica is stopping'));
    if (this.closedReason !== undefined)
      return refuse(new BaristaError('replicas_unavailable', `this node's replica is closed: ${this.closedReason}`));
    if (this.pending.size >= this.replica.config.opsCountMax) {
      return refuse(
        new BaristaError('limit_exceeded', `${this.pending.size} requests in flight`, {
          fields: { limit: 'inflightRequestsMax' },
        }),
      );
    }
    let request: ClientRequest;
    let held: StoredState | undefined;
    if (req.kind === 'get') request = { kind: 'get', key: req.key, level: req.level };
    else if (req.kind === 'rows') request = req;
    else if (req.kind === 'typed') {
      const keyOk = req.key.length <= limits.kvKeyBytesMax;
      request = {
        kind: 'put',
        key: req.key,
        value: null,
        op: req.op,
        context: emptyContext(),
        level: req.level,
        ts: keyOk ? this.stamp(this.replica.peek(req.key)) : this.hlc.now(this.env.clock.wallMs()),
      };
    } else {
      const value = req.kind === 'delete' ? null : (req.value ?? new Uint8Array(0));
      // An oversized key or value is the replica's to refuse (key_too_large, value_too_large).
      const keyOk = req.key.length <= limits.kvKeyBytesMax;
      // One read of the held state serves the size check, the timestamp and the coordination.
      held = keyOk ? this.replica.storedState(req.key) : undefined;
      const heldBytes = held?.length ?? 0;
      if (
        value !== null &&
        value.length <= limits.kvValueBytesMax &&
        heldBytes + value.length > limits.dynamoStateBytesMax
      ) {
        return refuse(
          new BaristaError('limit_exceeded', `the key's state would pass ${limits.dynamoStateBytesMax} bytes`, {
            fields: { limit: 'dynamoStateBytesMax' },
          }),
        );
      }
      request = {
        kind: 'put',
        key: req.key,
        value,
        context: req.context ?? emptyContext(),
        level: req.level,
        ts: keyOk
          ? this.stamp(held === undefined ? Versioned.empty() : held.state)
          : this.hlc.now(this.env.clock.wallMs()),
        ...(req.overHeld === true ? { overHeld: true } : {}),
        ...(req.checked === true ? { checked: true } : {}),
        ...(value !== null && req.expiresAtMs !== undefined ? { expiresAtMs: req.expiresAtMs } : {}),
      };
    }
    const id = this.nextRequest++;
    this.pending.set(id, { kind: req.kind, level: req.level, startedMs: this.nowMs(), done });
    this.refreshView();
    try {
      this.process(this.replica.request(id, request, held));
    } catch (error) {
      // A disk error (the engine is poisoned): the node stops; this request is not left pending.
      this.pending.delete(id);
      throw error;
    }
  }

  get ring(): Ring {
    return this.ring_;
  }

  /** Why the replica is closed (ReplicaNodeComponents.closed), or undefined once open. */
  get closed(): string | undefined {
    return this.closedReason;
  }

  /**
   * Takes the keyspace's layout of collections instead of the one it started with (a node that
   * named none, its store keeping none), while closed: before anything is written in either.
   */
  adoptCollections(layout: 'whole' | 'rows'): void {
    assert(this.closedReason !== undefined, 'a layout is adopted only while closed');
    this.replica.adoptLayout(layout);
  }

  /** Opens a replica started closed: from now on it answers and works as any other. */
  open(): void {
    if (this.closedReason === undefined) return;
    // The store's record of its layout, deferred while closed (replica.ts layoutDeferred).
    if (this.replica.recordLayout()) this.syncOwed = true;
    this.closedReason = undefined;
    this.log.info({}, 'dynamo: replica open (its settings match the keyspace)');
  }

  /** How this keyspace keeps sets and hashes (ReplicaNodeConfig.collections). */
  get collections(): 'whole' | 'rows' {
    return this.replica.config.collections;
  }

  /** A newer ring (RingKeeper.onChange): later requests locate keys on it. */
  setRing(ring: Ring): void {
    this.ring_ = ring;
    this.ringNodes = new Set(ring.nodes.map((n) => n.id));
    this.replica.setRing(ring);
  }

  /**
   * Starts an anti-entropy round now (BARISTA REPAIR): with `peer`, or the next live ring node.
   * False when one is running already or no peer is up.
   */
  repairNow(peer?: NodeId): boolean {
    if (this.stopped || this.closedReason !== undefined) return false;
    this.refreshView();
    return this.replica.repairNow(peer);
  }

  /**
   * A SERIAL operation (Paxos among the key's replicas): a linearizable read, write, or
   * compare-and-set (expected null: insert if absent). `done` is called once.
   */
  serial(key: Uint8Array, operation: PaxosOperation, done: (outcome: PaxosOutcome) => void): void {
    if (this.serial_ === undefined) {
      return done({ ok: false, error: new BaristaError('bad_request', 'SERIAL needs the Paxos store (not given)') });
    }
    const held = this.replica.coordinationHeld;
    if (held !== undefined) return done({ ok: false, error: new BaristaError('replicas_unavailable', held) });
    if (this.closedReason !== undefined) {
      const message = `this node's replica is closed: ${this.closedReason}`;
      return done({ ok: false, error: new BaristaError('replicas_unavailable', message) });
    }
    this.refreshView();
    this.serial_.submit(key, operation, done);
  }

  /** Planted bugs (the simulator's; a real node has none). */
  get mutations(): Mutations {
    return this.env.mutations;
  }

  /** This node's monotonic clock (ms). */
  monotonicMs(): number {
    return this.env.clock.monotonicMs();
  }

  /** This node's wall clock (expiry deadlines are absolute wall-clock ms). */
  wallMs(): number {
    return Math.floor(this.env.clock.wallMs());
  }

  /**
   * The ring move this node streams for (it is the joining or leaving node), if any. Once it says
   * done the store is synced first under `periodic` / `none`: a join's last page carries no further
   * fetch to hold for its sync, and the move must not complete on merges a crash could still lose.
   */
  moveProgress(): MoveProgress | undefined {
    const p = this.replica.moveProgress();
    if (p?.done === true && this.syncPolicy !== 'always' && !this.stopped) this.store.sync();
    return p;
  }

  /** Starts a cleanup pass (BARISTA CLEANUP; replica.ts startCleanup): undefined, or why not. */
  cleanupNow(): string | undefined {
    if (this.stopped) return 'the node is stopping';
    return this.replica.startCleanup();
  }

  /** The cleanup pass running here, if any. */
  cleanupProgress(): { readonly ringVersion: number; readonly scanned: number; readonly dropped: number } | undefined {
    return this.replica.cleanupProgress();
  }

  /** Whether an anti-entropy round or job is running here. */
  get antiEntropyBusy(): boolean {
    return this.replica.antiEntropyBusy;
  }

  /**
   * This node's stored values (encoded states) from token `from` (unsigned) on: about `countMax`
   * of them and at most about dynamoMovePageBytesMax state bytes, cut at a token boundary
   * (store.ts tokenPage): SCAN, KEYS, DBSIZE and RANDOMKEY at N > 1 walk them. No quorum, no
   * repair. `next`: where the next page starts, null at the end.
   */
  localPage(from: bigint, countMax: number): TokenPage {
    return tokenPage(this.store, from, countMax, limits.dynamoMovePageBytesMax);
  }

  /**
   * This node's stored values in token order from a position (store.ts scanValues), every one (not
   * only the slots it leads), in pages of at most dynamoMovePageBytesMax of states: the recount of
   * maxmemory's dataset bytes at N > 1 walks them (replicated-memory.ts).
   */
  scanStored(from: Uint8Array | bigint | null, countMax: number): ValuePage {
    return this.store.scanValues(from, countMax, limits.dynamoMovePageBytesMax);
  }

  /** This node's place in the key's preference list (0: first); a pending replica or any other node comes after every natural one. */
  replicaRank(key: Uint8Array): number {
    const replicas = this.ring_.locate(key, this.replica.config.replicas).replicas;
    const i = replicas.indexOf(this.env.nodeId);
    return i < 0 ? replicas.length : i;
  }

  /** Whether this node is one of the key's replicas (natural or pending) on its current ring. */
  holdsReplica(key: Uint8Array): boolean {
    const at = this.ring_.locate(key, this.replica.config.replicas);
    const self = this.env.nodeId;
    return at.replicas.includes(self) || at.pending.includes(self);
  }

  /**
   * `state` (a key's, stored here) as this replica shows it: an emptied list, set, sorted set or
   * hash whose rows here were added concurrently with its emptying is that collection (replica.ts
   * shownWithRows). SCAN, KEYS, DBSIZE and RANDOMKEY's walk asks it of every collection they meet.
   */
  shownHere(key: Uint8Array, state: Versioned): Versioned {
    return this.replica.shownWithRows(key, state, true);
  }

  /**
   * A uniform sample of up to `count` of the elements this node's replica keeps rows of for `key`
   * (one pass over them, reservoir sampling with `rng`): what SPOP, SRANDMEMBER and HRANDFIELD
   * read at N > 1 instead of every row (replicated.ts). Undefined when this node holds no replica
   * of the key, or more than `rowsMax` rows (the pass would hold the event loop: the caller reads
   * every row instead). No quorum, no repair.
   */
  sampleRows(key: Uint8Array, count: number, rowsMax: number, rng: Rng): Uint8Array[] | undefined {
    if (!this.holdsReplica(key)) return undefined;
    // The header's count first: a collection past the bound is not walked at all.
    if ((storedCollectionCount(this.store, key) ?? 0) > rowsMax) return undefined;
    const sample: Uint8Array[] = [];
    let seen = 0;
    let from: Uint8Array | null = new Uint8Array(0);
    while (from !== null) {
      const page = this.store.scanRows(key, from, SAMPLE_PAGE_ROWS);
      for (const r of page.entries) {
        if (++seen > rowsMax) return undefined;
        if (sample.length < count) sample.push(r.element);
        else {
          const j = rng.int(seen);
          if (j < count) sample[j] = r.element;
        }
      }
      from = page.next;
    }
    return sample;
  }

  /** This node's stored state of a key, without quorum or repair (tests, debugging). */
  peek(key: Uint8Array): Versioned {
    return this.replica.peek(key);
  }

  /**
   * The key's stored state and its collection's rows (element and row bytes; the header's local
   * records aside), as hex: equal on two replicas when they converged (simulator checks). Reads at
   * most `rowsMax` rows; undefined past them.
   */
  storedImage(key: Uint8Array, rowsMax = 10_000): string | undefined {
    const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
    const rows = this.store.scanRows(key, new Uint8Array(0), rowsMax);
    if (rows.next !== null) return undefined;
    return [hex(this.replica.peek(key).encode()), ...rows.entries.map((e) => `${hex(e.element)}=${hex(e.row)}`)].join(
      ' ',
    );
  }

  get requestsInFlight(): number {
    return this.pending.size;
  }

  /** Stops ticking and answers every request in flight with `timeout` (writes indefinite). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.timer.cancel();
    this.syncTimer?.cancel();
    this.flushTimer?.cancel();
    this.flushTimer = undefined;
    this.held.length = 0;
    this.serial_?.stop();
    const left = [...this.pending.values()];
    this.pending.clear();
    for (const p of left) {
      const error = new BaristaError('timeout', 'the replica stopped with the request in flight', {
        definite: p.kind === 'get',
      });
      this.answer(p, { ok: false, error });
    }
    this.mirrorStats(); // what happened since the last tick
  }

  // --- the replica's inputs ----------------------------------------------------------------------

  private onMessage(from: NodeId, payload: Uint8Array): void {
    if (this.stopped) return;
    if (payload.length > limits.dynamoMessageBytesMax) {
      throw new ProtocolError(
        'dynamo_malformed',
        `message of ${payload.length} bytes, max ${limits.dynamoMessageBytesMax}`,
      );
    }
    const m = decodeMessage(payload);
    // Hints are stored under their owner's id: only a ring node may be one (never a stray id). A
    // hint for a node on the sender's ring and not on ours is honest while a ring change reaches
    // nodes at different times (a review: not a malformed message, which fails a simulation):
    // dropped unacknowledged, so the sender keeps it and replays it where its ring sends it.
    if (m.type === 'hint' && !this.ringNodes.has(m.owner)) {
      this.strayHints.inc();
      return;
    }
    this.refreshView();
    this.process(this.replica.receive(from, m));
    // A delta's rows are applied after its header's merge (replica.onMerged told that one): the
    // waiters on its key try once both are in.
    if (m.type === 'delta') this.onKeyWritten?.(m.key, false);
    // A write forwarded here (this node coordinates it as the first live replica).
    else if (m.type === 'forward' && m.request.kind !== 'get' && m.request.kind !== 'rows')
      this.onKeyWritten?.(m.request.key, true);
  }

  private onTick(): void {
    if (this.stopped) return;
    if (this.syncOwed) {
      this.store.sync();
      this.syncOwed = false;
    }
    if (this.closedReason !== undefined) return; // nothing pending, nothing to start
    this.refreshView();
    this.process(this.replica.tick(this.env.clock.wallMs()));
    this.serial_?.tick();
    // The replica's counters reach the metrics once per tick, not after every step (a request
    // and each message took ~2 % of a coordinator's CPU mirroring ~30 counters).
    this.mirrorStats();
  }

  /**
   * The driver contract: sync, THEN send and answer — by group commit. An output that needs a sync
   * is held, and so is every later output while any is held (a read reply could otherwise ship a
   * state that is not durable yet); at the end of the event-loop turn ONE sync covers them all and
   * they go out in order. So a burst of writes costs one fdatasync per turn, not one per step.
   */
  private process(out: Output): void {
    this.processOutput(out);
    if (this.mergedKeys.length === 0) return;
    const merged = this.mergedKeys;
    this.mergedKeys = [];
    for (const key of merged) this.onKeyWritten?.(key, false);
  }

  private processOutput(out: Output): void {
    // Under `periodic` / `none` a step's writes ride the next timed sync, except a ring move's
    // page: its acknowledgement is what lets the move complete (move.ts), so it waits for its sync.
    if (this.syncPolicy !== 'always' && this.held.length === 0 && !(out.syncNeeded && carriesMove(out))) {
      return this.emit(out);
    }
    if (out.syncNeeded && this.env.mutations.has('dynamo-send-before-sync')) {
      this.syncOwed = true;
      return this.emit(out);
    }
    if (!out.syncNeeded && this.held.length === 0) return this.emit(out);
    this.held.push(out);
    this.flushTimer ??= this.env.timers.after(0, () => this.flushHeld());
  }

  private flushHeld(): void {
    this.flushTimer = undefined;
    if (this.stopped) return;
    const held = this.held.splice(0);
    if (held.length === 0) return;
    this.store.sync(); // a failed sync throws: the node stops; nothing held is sent
    this.groupSize.observe(held.length);
    for (const out of held) this.emit(out);
  }

  private emit(out: Output): void {
    // One encode buffer for every message when the transport copies what it sends.
    const into = this.env.transport.copiesPayload === true ? this.encodeBuffer : undefined;
    for (const { to, message } of out.messages) {
      let bytes: Uint8Array;
      try {
        bytes = encodeMessage(message, into);
      } catch (error) {
        // A value over the CRDT codec's bounds (a collection view too big to ship): as oversized.
        if (!(error instanceof LimitError)) throw error;
        this.oversize.inc();
        continue;
      }
      if (bytes.length > limits.dynamoMessageBytesMax) {
        this.oversize.inc();
        continue;
      }
      if (!this.env.transport.send(to, MessageType.DynamoReplica, bytes)) this.sendRefused.inc();
    }
    for (const { requestId, result } of out.replies) {
      const p = this.pending.get(requestId);
      if (p === undefined && this.stopped) continue; // stop() answered it already
      assert(p !== undefined, `a reply to request ${requestId}, which is not pending`);
      this.pending.delete(requestId);
      this.answer(p, toOutcome(result, this.env.clock.wallMs()));
    }
  }

  private answer(p: Pending, outcome: ReplicaOutcome): void {
    // A label per valid level only: a client's arbitrary level must not mint metric series.
    const level = levelCount(p.level, limits.ringReplicasCountMax) === undefined ? 'invalid' : String(p.level);
    const outcomeLabel = outcome.ok ? 'ok' : outcome.error.code;
    const id = `${p.kind}/${level}/${outcomeLabel}`;
    let c = this.opCounters.get(id);
    if (c === undefined) {
      // Bounded: 3 kinds x (4 names + ringReplicasCountMax counts) x the error catalogue.
      c = this.metrics.counter('dynamo_ops_total', 'Client requests by kind, level and outcome', {
        kind: p.kind,
        level,
        outcome: outcomeLabel,
      });
      this.opCounters.set(id, c);
    }
    c.inc();
    this.latency[p.kind].observe(Math.max(0, this.nowMs() - p.startedMs));
    this.inflight.set(this.pending.size);
    this.continuations.call(p.done, outcome, (error): ReplicaOutcome => ({ ok: false, error }));
  }

  // --- helpers -----------------------------------------------------------------------------------

  private refreshView(): void {
    // Per request and per message: rebuilt only when a peer's status changed since.
    const version = this.membership.statusVersion;
    if (version === this.upVersion) return;
    this.upVersion = version;
    const up = new Set<NodeId>([this.env.nodeId]);
    for (const v of this.membership.view()) if (v.status === 'alive') up.add(v.id);
    this.up = up;
  }

  /** An HLC timestamp for a write of a key that orders after every sibling we hold of it (`held`). */
  private stamp(held: Versioned): HlcTimestamp {
    const wallMs = this.env.clock.wallMs();
    let newest: HlcTimestamp | undefined;
    for (const s of held.siblings) if (newest === undefined || compareHlc(s.ts, newest) > 0) newest = s.ts;
    if (newest !== undefined && compareHlc(newest, this.hlc.last) > 0) {
      try {
        this.hlc.update(newest, wallMs);
      } catch (error) {
        if (!(error instanceof HlcDriftError)) throw error;
        this.hlcDrift.inc();
      }
    }
    const ts = this.hlc.now(wallMs);
    if (newest === undefined || compareHlc(ts, newest) > 0) return ts;
    // A peer's sibling at the very end of HLC time (untrusted bytes) is tied, not passed.
    if (newest.wallMs >= HLC_WALL_MS_MAX && newest.logical >= HLC_LOGICAL_MAX) return newest;
    return newest.logical < HLC_LOGICAL_MAX
      ? { wallMs: newest.wallMs, logical: newest.logical + 1 }
      : { wallMs: newest.wallMs + 1, logical: 0 };
  }

  private mirrorStats(): void {
    const now = this.replica.stats;
    for (const k of STAT_KEYS) {
      const delta = now[k] - this.statsSeen[k];
      if (delta > 0) {
        this.statCounters[k].inc(delta);
        this.statsSeen[k] = now[k];
      }
    }
    const whole = this.replica.wholeViewStats;
    for (const k of ['reused', 'patched', 'decoded'] as const) {
      const delta = whole[k] - this.wholeViewsSeen[k];
      if (delta > 0) this.wholeViewCounters[k].inc(delta);
    }
    this.wholeViewsSeen = { ...whole };
    const move = this.replica.moveStats;
    for (const k of MOVE_STAT_KEYS) {
      const delta = move[k] - this.moveSeen[k];
      if (delta > 0) {
        this.moveCounters[k].inc(delta);
        this.moveSeen[k] = move[k];
      }
    }
    this.hintsHeld.set(this.store.hintCount);
    this.unackedHeld.set(this.replica.unackedWrites);
  }

  private nowMs(): number {
    return this.env.clock.monotonicMs();
  }
}

/** A replica's result as the API answers it: values past their deadline (at `nowMs`) read as tombstones. */
function toOutcome(result: ClientResult, nowMs: number): ReplicaOutcome {
  if (!result.ok) return result;
  const state = result.state.expiredAsTombstones(nowMs);
  return { ok: true, state: new OutcomeState(state, result.collection) };
}

/** A KeyState whose context is made when asked (a read-modify-write writes back with it; a SET's reply never asks). */
class OutcomeState implements KeyState {
  readonly siblings: readonly Sibling[];
  readonly chosen: Sibling | undefined;
  readonly collection?: CollectionView;

  constructor(
    readonly versioned: Versioned,
    collection: CollectionView | undefined,
  ) {
    this.siblings = versioned.siblings;
    this.chosen = versioned.chosen();
    if (collection !== undefined) this.collection = collection;
  }

  get context(): VectorClock {
    return this.versioned.context();
  }
}
